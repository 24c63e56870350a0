/* libFuzzer target: berthd.conf NET_* settings (KEY=VALUE text, every value parser, pool
 * syntax) and the host-independent checks on whatever configuration results. */
#include "netns/netns-internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct netns_config cfg;
  berth_err err = NULL;

  netns_config_init (&cfg);
  if (netns_config_parse_text (&cfg, (const char *)data, size, "fuzz", &err) == 0)
    {
      (void)netns_config_check (&cfg, &err);
      if (cfg.nat == NETNS_AUTO)
        cfg.nat = 1;
      if (cfg.task_endpoint == NETNS_AUTO)
        cfg.task_endpoint = 1;
      free (netns_nft_ruleset (&cfg, netns_nft_config_hash (&cfg), NULL, NULL));
    }
  berth_err_free (&err);
  netns_config_free (&cfg);
  return 0;
}
