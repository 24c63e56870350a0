/* libFuzzer target: the host's resolv.conf and hosts as read for a task's DNS files, and the
 * files rendered from them. */
#include "netns/netns-internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct netns_resolv r;
  berth_err err = NULL;
  char *const servers[] = { (char *)"10.0.0.2", NULL };

  if (netns_resolv_parse ((const char *)data, size, &r, &err) == 0)
    {
      free (netns_resolv_render (&r, NULL, NULL, false));
      free (netns_resolv_render (&r, servers, NULL, true));
      for (char **n = r.nameservers; n && *n; n++)
        (void)netns_addr_is_loopback (*n);
      netns_resolv_clear (&r);
    }
  berth_err_free (&err);
  {
    char *base = strndup ((const char *)data, size);
    free (netns_hosts_render (base, "web", NULL, NULL, 0));
    free (base);
  }
  return 0;
}
