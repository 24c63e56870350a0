/* Unit tests: the text of berth's nftables tables for each configuration (the kernel side is
 * in the integration tests). */
#include "netns/netns-internal.h"

#include <criterion/criterion.h>

static char *
ruleset (const char *const *kv, char *const *addrs, char *const *ports)
{
  struct netns_config cfg;
  berth_err err = NULL;
  char *s;

  netns_config_init (&cfg);
  for (; kv && *kv; kv += 2)
    cr_assert_eq (netns_config_set (&cfg, kv[0], kv[1], &err), 0, "%s", berth_err_msg (&err));
  if (cfg.nat == NETNS_AUTO)
    cfg.nat = 1;
  if (cfg.task_endpoint == NETNS_AUTO)
    cfg.task_endpoint = 1;
  s = netns_nft_ruleset (&cfg, netns_nft_config_hash (&cfg), addrs, ports);
  netns_config_free (&cfg);
  return s;
}

#define HAS(s, x)   cr_assert_not_null (strstr ((s), (x)), "missing `%s` in:\n%s", (x), (s))
#define LACKS(s, x) cr_assert_null (strstr ((s), (x)), "unexpected `%s` in:\n%s", (x), (s))

Test (nft, bridge_defaults)
{
  char *addrs[] = { (char *)"10.88.0.7", NULL };
  char *ports[] = { (char *)"bth000000000001", NULL };
  cleanup_free char *s = ruleset (NULL, addrs, ports);

  /* Replaced atomically whether or not it exists; only berth's own tables. */
  HAS (s, "table inet berth {}\ndelete table inet berth\ntable inet berth {");
  HAS (s, "table bridge berth {}\ndelete table bridge berth\ntable bridge berth {");
  LACKS (s, "flush ruleset");
  HAS (s, "ip saddr { 10.88.0.0/16 } ip daddr != { 10.88.0.0/16 } masquerade");
  HAS (s, "ip saddr { 10.88.0.0/16 } ip daddr { 10.88.0.0/16 } ip saddr @open_addrs ip daddr "
          "@open_addrs accept");
  HAS (s, "ip saddr { 10.88.0.0/16 } ip daddr { 10.88.0.0/16 } drop");
  HAS (s, "ip daddr 169.254.169.254 drop");
  HAS (s, "ip daddr 169.254.170.2 drop");
  HAS (s, "iifname @open_ports oifname @open_ports accept");
  HAS (s, "iifname \"bth*\" oifname \"bth*\" drop");
  HAS (s, "elements = { 10.88.0.7 }");
  HAS (s, "elements = { \"bth000000000001\" }");
  LACKS (s, "fib saddr");
}

Test (nft, switches_off)
{
  cleanup_free char *s = ruleset ((const char *const[]){ "NET_NAT", "off", "NET_ISOLATE", "off",
                                                         "NET_BLOCK_METADATA", "off",
                                                         "NET_TASK_ENDPOINT", "off", NULL },
                                  NULL, NULL);
  LACKS (s, "masquerade");
  LACKS (s, " drop\n");
  LACKS (s, "accept\n\t\t");
  LACKS (s, "elements");
}

Test (nft, ptp_and_pools)
{
  cleanup_free char *s
      = ruleset ((const char *const[]){ "NET_MODE", "ptp", "NET_POOLS", "10.1.0.0/24 10.2.0.0/24",
                                        "NET_NFT_TABLE", "bt", NULL },
                 NULL, NULL);
  HAS (s, "iifname \"bth*\" fib saddr . iif oif missing drop");
  HAS (s, "{ 10.1.0.0/24, 10.2.0.0/24 }");
  HAS (s, "table inet bt {");
  /* A bridge table of an earlier configuration goes. */
  HAS (s, "table bridge bt {}\ndelete table bridge bt\n");
  LACKS (s, "table bridge bt {\n");
}

Test (nft, hash_follows_what_the_rules_depend_on)
{
  struct netns_config a, b;
  berth_err err = NULL;
  netns_config_init (&a);
  netns_config_init (&b);
  cr_assert_eq (netns_nft_config_hash (&a), netns_nft_config_hash (&b));
  cr_assert_eq (netns_config_set (&b, "NET_STATE_DIR", "/elsewhere", &err), 0);
  cr_assert_eq (netns_nft_config_hash (&a), netns_nft_config_hash (&b));
  cr_assert_eq (netns_config_set (&b, "NET_POOLS", "10.77.0.0/16", &err), 0);
  cr_assert_neq (netns_nft_config_hash (&a), netns_nft_config_hash (&b));
  netns_config_free (&b);
  netns_config_init (&b);
  cr_assert_eq (netns_config_set (&b, "NET_ISOLATE", "off", &err), 0);
  cr_assert_neq (netns_nft_config_hash (&a), netns_nft_config_hash (&b));
  netns_config_free (&a);
  netns_config_free (&b);
}
