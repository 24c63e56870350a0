/* Unit tests: NET_* settings, pool syntax and the checks that run before anything is built
 * (overlapping pools, missing host NIC, settings that cannot be honoured together). */
#include "netns/netns-internal.h"

#include <criterion/criterion.h>

static void
expect_error (int rc, berth_err *err, const char *needle)
{
  cr_assert_lt (rc, 0);
  cr_assert_not_null (strstr (berth_err_msg (err), needle), "message `%s` lacks `%s`",
                      berth_err_msg (err), needle);
  berth_err_free (err);
}

Test (config, ip_parse_is_strict)
{
  struct in_addr a;
  char b[INET_ADDRSTRLEN];
  cr_assert_eq (netns_ip_parse ("10.88.0.1", &a), 0);
  cr_assert_str_eq (netns_ip_str (a, b), "10.88.0.1");
  cr_assert_eq (netns_ip_parse ("010.1.1.1", &a), -EINVAL);
  cr_assert_eq (netns_ip_parse ("1.1.1", &a), -EINVAL);
  cr_assert_eq (netns_ip_parse ("1.1.1.256", &a), -EINVAL);
  cr_assert_eq (netns_ip_parse ("1.1.1.1 ", &a), -EINVAL);
  cr_assert_eq (netns_ip_parse ("1.1.1.1.1", &a), -EINVAL);
  cr_assert_eq (netns_ip_parse ("", &a), -EINVAL);
  cr_assert_eq (netns_ip_parse ("0x1.1.1.1", &a), -EINVAL);
}

Test (config, pool_defaults)
{
  struct netns_pool *p;
  size_t n;
  berth_err err = NULL;
  char b[INET_ADDRSTRLEN];

  cr_assert_eq (netns_pools_parse ("10.88.0.0/16", &p, &n, &err), 0);
  cr_assert_eq (n, 1);
  cr_assert_eq (p[0].prefix_len, 16);
  cr_assert_str_eq (netns_ip_str (p[0].gateway, b), "10.88.0.1");
  cr_assert_str_eq (netns_ip_str (p[0].first, b), "10.88.0.1");
  cr_assert_str_eq (netns_ip_str (p[0].last, b), "10.88.255.254");
  cr_assert (!netns_pool_usable (&p[0], p[0].gateway));
  cr_assert (netns_pool_usable (&p[0], netns_ip_n (netns_ip_h (p[0].gateway) + 1)));
  free (p);
}

Test (config, pool_options)
{
  struct netns_pool *p;
  size_t n;
  berth_err err = NULL;
  char b[INET_ADDRSTRLEN];

  cr_assert_eq (netns_pools_parse ("192.168.7.0/24,gateway=192.168.7.254,"
                                   "range=192.168.7.100-192.168.7.109 10.89.0.0/30",
                                   &p, &n, &err),
                0, "%s", berth_err_msg (&err));
  cr_assert_eq (n, 2);
  cr_assert_str_eq (netns_ip_str (p[0].gateway, b), "192.168.7.254");
  cr_assert_str_eq (netns_ip_str (p[0].first, b), "192.168.7.100");
  cr_assert_str_eq (netns_ip_str (p[0].last, b), "192.168.7.109");
  cr_assert_eq (p[1].prefix_len, 30);
  free (p);
}

Test (config, pool_errors)
{
  struct netns_pool *p;
  size_t n;
  berth_err err = NULL;

  expect_error (netns_pools_parse ("10.88.0.5/16", &p, &n, &err), &err,
                "did you mean 10.88.0.0/16");
  expect_error (netns_pools_parse ("fd00::/64", &p, &n, &err), &err,
                "IPv6 pools are not supported");
  expect_error (netns_pools_parse ("10.0.0.0/31", &p, &n, &err), &err, "1..30");
  expect_error (netns_pools_parse ("10.0.0.0/24,gateway=10.0.1.1", &p, &n, &err), &err,
                "not a host address");
  expect_error (netns_pools_parse ("10.0.0.0/24,gateway=10.0.0.255", &p, &n, &err), &err,
                "not a host address");
  expect_error (netns_pools_parse ("10.0.0.0/24,range=10.0.0.9-10.0.0.2", &p, &n, &err), &err,
                "starts after it ends");
  expect_error (netns_pools_parse ("10.0.0.0/24,range=10.0.0.9-10.0.1.2", &p, &n, &err), &err,
                "not inside the subnet");
  expect_error (netns_pools_parse ("10.0.0.0/24,range=10.0.0.1-10.0.0.1", &p, &n, &err), &err,
                "no address left");
  expect_error (netns_pools_parse ("10.0.0.0/24,colour=red", &p, &n, &err), &err,
                "unknown pool option");
  expect_error (netns_pools_parse ("   ", &p, &n, &err), &err, "no pool given");
  expect_error (netns_pools_parse ("banana", &p, &n, &err), &err, "expected an IPv4 subnet");
}

Test (config, set_and_defaults)
{
  struct netns_config cfg;
  berth_err err = NULL;

  netns_config_init (&cfg);
  cr_assert_str_eq (cfg.bridge, "berth0");
  cr_assert_str_eq (cfg.netns_dir, "/run/berth/netns");
  cr_assert_eq (cfg.nat, NETNS_AUTO);
  cr_assert (cfg.isolate);
  cr_assert_eq (netns_config_set (&cfg, "NET_MODE", "ptp", &err), 0);
  cr_assert_eq (cfg.topology, NETNS_TOPOLOGY_PTP);
  cr_assert_eq (netns_config_set (&cfg, "NET_ISOLATE", "off", &err), 0);
  cr_assert (!cfg.isolate);
  cr_assert_eq (netns_config_set (&cfg, "NET_ISOLATE", "", &err), 0);
  cr_assert (cfg.isolate);
  cr_assert_eq (netns_config_set (&cfg, "NET_NAT", "auto", &err), 0);
  cr_assert_eq (cfg.nat, NETNS_AUTO);
  cr_assert_eq (netns_config_set (&cfg, "NET_MTU", "9000", &err), 0);
  cr_assert_eq (cfg.mtu, 9000);
  cr_assert_eq (netns_config_set (&cfg, "NET_STATE_DIR", "/tmp/x", &err), 0);
  cr_assert_str_eq (cfg.state_dir, "/tmp/x");
  cr_assert_eq (netns_config_set (&cfg, "NET_STATE_DIR", "", &err), 0);
  cr_assert_str_eq (cfg.state_dir, "/var/lib/berth/ipam");

  expect_error (netns_config_set (&cfg, "NET_MODE", "vxlan", &err), &err, "NET_MODE: `vxlan`");
  expect_error (netns_config_set (&cfg, "NET_POOLS", "10.0.0.1/8", &err), &err, "NET_POOLS");
  expect_error (netns_config_set (&cfg, "NET_MTU", "40", &err), &err, "NET_MTU");
  expect_error (netns_config_set (&cfg, "NET_NAT", "maybe", &err), &err, "NET_NAT");
  expect_error (netns_config_set (&cfg, "NET_FILES_DIR", "relative", &err), &err,
                "not an absolute path");
  expect_error (netns_config_set (&cfg, "NET_BRIDGE", "a/b", &err), &err, "NET_BRIDGE");
  expect_error (netns_config_set (&cfg, "NET_BRIDGE", "sixteen-chars-xx", &err), &err,
                "NET_BRIDGE");
  expect_error (netns_config_set (&cfg, "NET_NFT_TABLE", "1abc", &err), &err, "NET_NFT_TABLE");
  expect_error (netns_config_set (&cfg, "NET_COLOUR", "red", &err), &err,
                "unknown setting `NET_COLOUR`");
  netns_config_free (&cfg);
}

Test (config, every_key_is_settable)
{
  struct netns_config cfg;
  berth_err err = NULL;
  netns_config_init (&cfg);
  for (const char *const *k = netns_config_keys (); *k; k++)
    cr_assert_eq (netns_config_set (&cfg, *k, "", &err), 0, "%s: %s", *k, berth_err_msg (&err));
  netns_config_free (&cfg);
}

static void
check_fails (const char *const *kv, const char *needle)
{
  struct netns_config cfg;
  berth_err err = NULL;
  netns_config_init (&cfg);
  for (; *kv; kv += 2)
    cr_assert_eq (netns_config_set (&cfg, kv[0], kv[1], &err), 0, "%s", berth_err_msg (&err));
  expect_error (netns_config_check (&cfg, &err), &err, needle);
  netns_config_free (&cfg);
}

Test (config, check_overlapping_pools)
{
  check_fails ((const char *const[]){ "NET_POOLS", "10.88.0.0/16 10.88.4.0/24", NULL },
               "pools 10.88.0.0/16 and 10.88.4.0/24 overlap");
  check_fails ((const char *const[]){ "NET_POOLS", "10.0.0.0/8 10.200.0.0/16", NULL }, "overlap");
}

Test (config, check_vlan_needs_nic)
{
  check_fails ((const char *const[]){ "NET_MODE", "macvlan", NULL },
               "NET_HOST_NIC: required with NET_MODE=macvlan");
  check_fails ((const char *const[]){ "NET_MODE", "ipvlan", NULL },
               "NET_HOST_NIC: required with NET_MODE=ipvlan");
  check_fails (
      (const char *const[]){ "NET_MODE", "macvlan", "NET_HOST_NIC", "eth9", "NET_NAT", "on", NULL },
      "NET_NAT: not available with NET_MODE=macvlan");
  check_fails ((const char *const[]){ "NET_MODE", "ipvlan", "NET_HOST_NIC", "eth9",
                                      "NET_TASK_ENDPOINT", "on", NULL },
               "NET_TASK_ENDPOINT: not available");
  check_fails ((const char *const[]){ "NET_HOST_NIC", "eth9", NULL },
               "NET_HOST_NIC: only used with NET_MODE=ipvlan or macvlan");
}

Test (config, check_reserved_addresses)
{
  check_fails ((const char *const[]){ "NET_POOLS", "169.254.0.0/16", NULL }, "169.254.170.2");
  check_fails ((const char *const[]){ "NET_POOLS", "169.254.169.0/24", NULL }, "169.254.169.254");
  check_fails ((const char *const[]){ "NET_POOLS", "127.0.0.0/8", NULL }, "loopback");
  check_fails ((const char *const[]){ "NET_POOLS", "224.0.0.0/8", NULL }, "multicast");
  check_fails ((const char *const[]){ "NET_BRIDGE", "bthx", NULL }, "prefix of task links");
}

Test (config, check_accepts_defaults)
{
  struct netns_config cfg;
  berth_err err = NULL;
  netns_config_init (&cfg);
  cr_assert_eq (netns_config_check (&cfg, &err), 0, "%s", berth_err_msg (&err));
  /* The endpoint range is fine once the endpoint is off. */
  cr_assert_eq (netns_config_set (&cfg, "NET_POOLS", "169.254.170.0/24", &err), 0);
  cr_assert_eq (netns_config_set (&cfg, "NET_TASK_ENDPOINT", "off", &err), 0);
  cr_assert_eq (netns_config_check (&cfg, &err), 0, "%s", berth_err_msg (&err));
  netns_config_free (&cfg);
}

Test (config, load_file)
{
  char path[] = "/tmp/berth-test-netns-cfg.XXXXXX";
  int fd = mkstemp (path);
  struct netns_config cfg;
  berth_err err = NULL;
  const char *text = "# berthd.conf\n"
                     "DATA_DIR=/var/lib/berth\n"
                     "  NET_MODE = ptp  \n"
                     "NET_POOLS=\"10.90.0.0/24 10.91.0.0/24\"\n"
                     "\n"
                     "NET_ISOLATE=false\n";

  cr_assert_geq (fd, 0);
  cr_assert_eq (write (fd, text, strlen (text)), (ssize_t)strlen (text));
  close (fd);
  netns_config_init (&cfg);
  cr_assert_eq (netns_config_load_file (&cfg, path, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (cfg.topology, NETNS_TOPOLOGY_PTP);
  cr_assert_eq (cfg.n_pools, 2);
  cr_assert (!cfg.isolate);

  fd = open (path, O_WRONLY | O_TRUNC);
  cr_assert_eq (write (fd, "NET_MODE=ptp\nNET_MDOE=bridge\n", 29), 29);
  close (fd);
  expect_error (netns_config_load_file (&cfg, path, &err), &err, ":2: unknown setting `NET_MDOE`");
  fd = open (path, O_WRONLY | O_TRUNC);
  cr_assert_eq (write (fd, "NET_MODE\n", 9), 9);
  close (fd);
  expect_error (netns_config_load_file (&cfg, path, &err), &err, ":1: expected KEY=VALUE");
  unlink (path);
  netns_config_free (&cfg);
}

Test (config, names)
{
  cr_assert (netns_task_id_valid ("a"));
  cr_assert (netns_task_id_valid ("6f1c2b9e-1d2c-4a8b-9a38-0e3b1c2d4e5f"));
  cr_assert (!netns_task_id_valid (""));
  cr_assert (!netns_task_id_valid (".hidden"));
  cr_assert (!netns_task_id_valid ("-x"));
  cr_assert (!netns_task_id_valid ("a/b"));
  cr_assert (!netns_task_id_valid ("x.json"));
  cr_assert (!netns_task_id_valid ("x.tmp"));
  char long_id[NETNS_TASK_ID_MAX + 2];
  memset (long_id, 'a', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  cr_assert (!netns_task_id_valid (long_id));
  long_id[NETNS_TASK_ID_MAX] = '\0';
  cr_assert (netns_task_id_valid (long_id));

  cr_assert (netns_hostname_valid ("web"));
  cr_assert (netns_hostname_valid ("a.b-c.d"));
  cr_assert (!netns_hostname_valid ("-a"));
  cr_assert (!netns_hostname_valid ("a-"));
  cr_assert (!netns_hostname_valid ("a..b"));
  cr_assert (!netns_hostname_valid ("a_b"));
  cr_assert (!netns_hostname_valid (""));

  char name[IFNAMSIZ];
  netns_host_ifname ("berth", "task-1", name);
  cr_assert_eq (strlen (name), 15);
  cr_assert (str_has_prefix (name, NETNS_HOST_IF_PREFIX));
  char other[IFNAMSIZ];
  netns_host_ifname ("berth", "task-2", other);
  cr_assert_str_neq (name, other);
  netns_host_ifname ("other", "task-1", other);
  cr_assert_str_neq (name, other);
}
