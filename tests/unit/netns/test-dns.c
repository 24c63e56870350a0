/* Unit tests: resolv.conf parsing as glibc reads it, the per-task resolv.conf (loopback stub
 * resolvers dropped, task settings first), /etc/hosts and the task's DNS settings checks. */
#include "netns/netns-internal.h"

#include <criterion/criterion.h>

static struct netns_resolv
parse (const char *text)
{
  struct netns_resolv r;
  berth_err err = NULL;
  cr_assert_eq (netns_resolv_parse (text, strlen (text), &r, &err), 0);
  return r;
}

Test (dns, parse_resolv)
{
  struct netns_resolv r = parse ("# comment\n"
                                 "; another\n"
                                 "nameserver 127.0.0.53\n"
                                 "nameserver   192.0.2.1  # trailing\n"
                                 "nameserver fe80::1%eth0\n"
                                 "nameserver 2001:db8::53\n"
                                 "nameserver not-an-address\n"
                                 "search a.example b.example\n"
                                 "domain only.example\n"
                                 "options ndots:2 timeout:1\n"
                                 "options rotate\n"
                                 "sortlist 130.155.160.0/255.255.240.0\n");
  cr_assert_eq (strv_len (r.nameservers), 3);
  cr_assert_str_eq (r.nameservers[0], "127.0.0.53");
  cr_assert_str_eq (r.nameservers[1], "192.0.2.1");
  cr_assert_str_eq (r.nameservers[2], "2001:db8::53");
  /* The last of search/domain wins. */
  cr_assert_eq (strv_len (r.search), 1);
  cr_assert_str_eq (r.search[0], "only.example");
  cr_assert_eq (strv_len (r.options), 3);
  netns_resolv_clear (&r);
}

Test (dns, parse_odd_input)
{
  struct netns_resolv r = parse ("");
  cr_assert_null (r.nameservers);
  netns_resolv_clear (&r);
  r = parse ("nameserver");
  cr_assert_null (r.nameservers);
  netns_resolv_clear (&r);
  r = parse ("nameserver 10.0.0.1\r\nsearch x\r\n");
  cr_assert_str_eq (r.nameservers[0], "10.0.0.1");
  cr_assert_str_eq (r.search[0], "x");
  netns_resolv_clear (&r);
  const char with_nul[] = "nameserver 10.0.0.1\n\0nameserver 10.0.0.2\n";
  berth_err err = NULL;
  /* A NUL ends its line, as it does for glibc's reader: the rest of that line is not read. */
  cr_assert_eq (netns_resolv_parse (with_nul, sizeof with_nul - 1, &r, &err), 0);
  cr_assert_eq (strv_len (r.nameservers), 1);
  netns_resolv_clear (&r);
}

Test (dns, loopback)
{
  cr_assert (netns_addr_is_loopback ("127.0.0.53"));
  cr_assert (netns_addr_is_loopback ("127.1.2.3"));
  cr_assert (netns_addr_is_loopback ("::1"));
  cr_assert (netns_addr_is_loopback ("::ffff:127.0.0.1"));
  cr_assert (!netns_addr_is_loopback ("10.0.0.1"));
  cr_assert (!netns_addr_is_loopback ("2001:db8::1"));
}

Test (dns, render_drops_loopback_like_docker)
{
  struct netns_resolv host = parse ("nameserver 127.0.0.53\nnameserver ::1\n"
                                    "nameserver 192.0.2.1\nsearch corp.example\n"
                                    "options edns0\n");
  cleanup_free char *out = netns_resolv_render (&host, NULL, NULL, false);
  cr_assert_str_eq (out, "search corp.example\nnameserver 192.0.2.1\noptions edns0\n");
  cleanup_free char *host_mode = netns_resolv_render (&host, NULL, NULL, true);
  cr_assert_str_eq (host_mode, "search corp.example\nnameserver 127.0.0.53\nnameserver ::1\n"
                               "nameserver 192.0.2.1\noptions edns0\n");
  char *servers[] = { (char *)"10.0.0.2", (char *)"127.0.0.1", NULL };
  char *search[] = { (char *)"task.example", NULL };
  cleanup_free char *task = netns_resolv_render (&host, servers, search, false);
  /* The task's own servers are kept as given, loopback included (its own resolver). */
  cr_assert_str_eq (task, "search task.example\nnameserver 10.0.0.2\nnameserver 127.0.0.1\n"
                          "options edns0\n");
  netns_resolv_clear (&host);
}

Test (dns, hosts)
{
  struct in_addr a;
  struct netns_extra_host extra[] = { { "db", "10.1.2.3" }, { "v6", "2001:db8::1" } };
  cr_assert_eq (netns_ip_parse ("10.88.0.5", &a), 0);
  cleanup_free char *h = netns_hosts_render (NULL, "web", &a, extra, 2);
  cr_assert_str_eq (h, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                       "10.88.0.5\tweb\n10.1.2.3\tdb\n2001:db8::1\tv6\n");
  cleanup_free char *host = netns_hosts_render ("127.0.0.1 localhost", "x", NULL, NULL, 0);
  cr_assert_str_eq (host, "127.0.0.1 localhost\n");
}

static void
spec_fails (const struct netns_task_spec *s, const char *needle)
{
  berth_err err = NULL;
  cr_assert_lt (netns_dns_spec_check (s, &err), 0);
  cr_assert_not_null (strstr (berth_err_msg (&err), needle), "`%s` lacks `%s`",
                      berth_err_msg (&err), needle);
  berth_err_free (&err);
}

Test (dns, spec_checks_name_the_field)
{
  char *bad_server[] = { (char *)"10.0.0.1", (char *)"dns.example", NULL };
  char *bad_search[] = { (char *)"ok.example", (char *)"bad_domain", NULL };
  struct netns_extra_host bad_host[] = { { "ok", "10.0.0.1" }, { "also-ok", "300.1.1.1" } };
  struct netns_extra_host bad_name[] = { { "-no", "10.0.0.1" } };
  struct netns_task_spec s = { .task_id = "t" };
  berth_err err = NULL;

  cr_assert_eq (netns_dns_spec_check (&s, &err), 0);
  s.dns_servers = bad_server;
  spec_fails (&s, "dnsServers[1]: `dns.example`");
  s.dns_servers = NULL;
  s.dns_search = bad_search;
  spec_fails (&s, "dnsSearchDomains[1]");
  s.dns_search = NULL;
  s.extra_hosts = bad_host;
  s.n_extra_hosts = 2;
  spec_fails (&s, "extraHosts[1].ipAddress");
  s.extra_hosts = bad_name;
  s.n_extra_hosts = 1;
  spec_fails (&s, "extraHosts[0].hostname");
  s.n_extra_hosts = 0;
  s.hostname = "under_score";
  spec_fails (&s, "hostname");
}
