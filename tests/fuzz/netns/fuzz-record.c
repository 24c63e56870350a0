/* libFuzzer target: task network records read back from disk (a crash or a hand edit may
 * leave anything there); what parses must serialise and parse again to the same record. */
#include "netns/netns-internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct netns_record r, again;
  berth_err err = NULL;

  if (netns_record_parse ((const char *)data, size, &r, &err) == 0)
    {
      json_object *o = netns_record_to_json (&r);
      const char *text = json_object_to_json_string (o);
      if (netns_record_parse (text, strlen (text), &again, &err) != 0)
        abort ();
      if (strcmp (again.task_id, r.task_id) != 0 || again.address.s_addr != r.address.s_addr
          || again.has_address != r.has_address || again.complete != r.complete)
        abort ();
      netns_record_clear (&again);
      json_object_put (o);
      netns_record_clear (&r);
    }
  berth_err_free (&err);
  return 0;
}
