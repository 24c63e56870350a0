/* libFuzzer target: berth-endpoint's handling of request bodies from agents and operators
 * (register, state changes, heartbeat, assignment ack, submit with placement amounts), on an
 * in-memory store, then the manifests and listings built from whatever was accepted. */
#include "agent/endpoint/endpoint.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct endpoint_store_options o = { .poll = HTTP_POLL_HINT_DEFAULT, .liveness_ms = 90000 };
  struct endpoint_store *st = NULL;
  struct endpoint_reply r = { 0 };
  json_object *doc = NULL, *v;
  berth_err err = NULL;
  const char *node = "n1";

  if (bjson_parse ((const char *)data, size, "fuzz", &doc, &err) < 0
      || !json_object_is_type (doc, json_type_object))
    goto out;
  if (endpoint_store_open (NULL, &o, &st, &err) < 0)
    __builtin_trap ();

  endpoint_store_register (st, doc, &r);
  if (r.status == 200 && json_object_object_get_ex (doc, "node_id", &v))
    node = json_object_get_string (v);
  endpoint_reply_clear (&r);
  endpoint_store_heartbeat (st, node, doc, &r);
  endpoint_reply_clear (&r);
  endpoint_store_state_changes (st, node, doc, &r);
  endpoint_reply_clear (&r);
  endpoint_store_submit (st, doc, &r);
  endpoint_reply_clear (&r);
  endpoint_store_assignment_ack (st, node, doc, &r);
  endpoint_reply_clear (&r);
  endpoint_store_assignments (st, node, 0, 0, &r);
  endpoint_reply_clear (&r);
  endpoint_store_list_tasks (st, NULL, &r);
  endpoint_reply_clear (&r);
  endpoint_store_list_nodes (st, &r);
  endpoint_reply_clear (&r);
  endpoint_store_events (st, 0, NULL, NULL, 10, 0, &r);
  endpoint_reply_clear (&r);
out:
  endpoint_store_close (st);
  json_object_put (doc);
  berth_err_free (&err);
  return 0;
}
