/* Per-task DNS files: resolv.conf (the task's servers and search domains, or the host's with
 * loopback stub resolvers dropped, as Docker does: 127.0.0.53 in the host's namespace is not
 * reachable from the task's), /etc/hosts (localhost, the task's address and hostname,
 * extraHosts) and the hostname file. Parsing here reads host files: outside input, fuzzed. */
#include "netns-internal.h"

#include <arpa/inet.h>
#include <ctype.h>

#define RESOLV_MAX_ITEMS 64

void
netns_resolv_clear (struct netns_resolv *r)
{
  strv_free (r->nameservers);
  strv_free (r->search);
  strv_free (r->options);
  memset (r, 0, sizeof *r);
}

static bool
addr_valid (const char *s)
{
  unsigned char buf[sizeof (struct in6_addr)];
  return inet_pton (AF_INET, s, buf) == 1 || inet_pton (AF_INET6, s, buf) == 1;
}

bool
netns_addr_is_loopback (const char *addr)
{
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton (AF_INET, addr, &a4) == 1)
    return (netns_ip_h (a4) >> 24) == 127;
  if (inet_pton (AF_INET6, addr, &a6) == 1)
    {
      if (IN6_IS_ADDR_LOOPBACK (&a6))
        return true;
      if (IN6_IS_ADDR_V4MAPPED (&a6))
        return a6.s6_addr[12] == 127;
    }
  return false;
}

static size_t
count (char **v)
{
  return v ? strv_len (v) : 0;
}

int
netns_resolv_parse (const char *text, size_t len, struct netns_resolv *ret, berth_err *err)
{
  struct netns_resolv r = { 0 };
  size_t pos = 0;

  if (len > 1 << 20)
    return berth_err_set (err, EFBIG, "resolv.conf larger than 1 MiB");
  while (pos < len)
    {
      size_t end = pos;
      cleanup_free char *line = NULL;
      char *save = NULL, *word;

      while (end < len && text[end] != '\n')
        end++;
      line = xstrndup (text + pos, end - pos);
      pos = end + 1;
      /* A NUL inside a line ends it, as it would for glibc's fgets-based reader. */
      word = strtok_r (line, " \t\r", &save);
      if (word == NULL || word[0] == '#' || word[0] == ';')
        continue;
      if (strcmp (word, "nameserver") == 0)
        {
          char *a = strtok_r (NULL, " \t\r", &save);
          /* Zone-scoped addresses (fe80::1%eth0) name a host interface: inet_pton refuses
           * them, and so do we. */
          if (a && addr_valid (a) && count (r.nameservers) < RESOLV_MAX_ITEMS)
            strv_append (&r.nameservers, a);
        }
      else if (strcmp (word, "search") == 0 || strcmp (word, "domain") == 0)
        {
          /* The last search or domain line wins, as in glibc. */
          strv_free (r.search);
          r.search = NULL;
          for (char *d = strtok_r (NULL, " \t\r", &save); d; d = strtok_r (NULL, " \t\r", &save))
            {
              if (d[0] == '#' || d[0] == ';')
                break;
              if (count (r.search) < RESOLV_MAX_ITEMS && strlen (d) <= 253)
                strv_append (&r.search, d);
              if (word[0] == 'd')
                break;
            }
        }
      else if (strcmp (word, "options") == 0)
        {
          for (char *o = strtok_r (NULL, " \t\r", &save); o; o = strtok_r (NULL, " \t\r", &save))
            if (count (r.options) < RESOLV_MAX_ITEMS && strlen (o) <= 64)
              strv_append (&r.options, o);
        }
    }
  *ret = r;
  return 0;
}

static void append (char **buf, size_t *len, const char *fmt, ...) BERTH_PRINTF (3, 4);

static void
append (char **buf, size_t *len, const char *fmt, ...)
{
  va_list ap;
  cleanup_free char *s = NULL;
  size_t n;

  va_start (ap, fmt);
  if (vasprintf (&s, fmt, ap) < 0)
    abort ();
  va_end (ap);
  n = strlen (s);
  *buf = xrealloc (*buf, *len + n + 1);
  memcpy (*buf + *len, s, n + 1);
  *len += n;
}

/* Only characters a resolver could use; anything else in host input is not copied. */
static bool
token_printable (const char *s)
{
  for (; *s; s++)
    if (!isgraph ((unsigned char)*s))
      return false;
  return true;
}

char *
netns_resolv_render (const struct netns_resolv *host, char *const *servers, char *const *search,
                     bool keep_loopback)
{
  char *out = xstrdup ("");
  size_t len = 0;
  char *const *s = (search && *search) ? search : (host ? host->search : NULL);

  if (s && *s)
    {
      append (&out, &len, "search");
      for (; *s; s++)
        if (token_printable (*s))
          append (&out, &len, " %s", *s);
      append (&out, &len, "\n");
    }
  if (servers && *servers)
    for (char *const *n = servers; *n; n++)
      append (&out, &len, "nameserver %s\n", *n);
  else if (host)
    for (char *const *n = host->nameservers; n && *n; n++)
      if (keep_loopback || !netns_addr_is_loopback (*n))
        append (&out, &len, "nameserver %s\n", *n);
  if (host && host->options && *host->options)
    {
      append (&out, &len, "options");
      for (char *const *o = host->options; *o; o++)
        if (token_printable (*o))
          append (&out, &len, " %s", *o);
      append (&out, &len, "\n");
    }
  return out;
}

int
netns_dns_spec_check (const struct netns_task_spec *spec, berth_err *err)
{
  size_t i = 0;

  if (spec->hostname && !netns_hostname_valid (spec->hostname))
    return berth_err_set (err, 0, "hostname: `%s` is not a valid host name (RFC 1123)",
                          spec->hostname);
  for (char *const *s = spec->dns_servers; s && *s; s++, i++)
    {
      if (i >= RESOLV_MAX_ITEMS)
        return berth_err_set (err, 0, "dnsServers: more than %d", RESOLV_MAX_ITEMS);
      if (!addr_valid (*s))
        return berth_err_set (err, 0, "dnsServers[%zu]: `%s` is not an IP address", i, *s);
    }
  i = 0;
  for (char *const *s = spec->dns_search; s && *s; s++, i++)
    {
      if (i >= RESOLV_MAX_ITEMS)
        return berth_err_set (err, 0, "dnsSearchDomains: more than %d", RESOLV_MAX_ITEMS);
      if (!netns_hostname_valid (*s))
        return berth_err_set (err, 0, "dnsSearchDomains[%zu]: `%s` is not a domain name", i, *s);
    }
  if (spec->n_extra_hosts > 1024)
    return berth_err_set (err, 0, "extraHosts: more than 1024 entries");
  for (i = 0; i < spec->n_extra_hosts; i++)
    {
      const struct netns_extra_host *e = &spec->extra_hosts[i];
      if (e->hostname == NULL || !netns_hostname_valid (e->hostname))
        return berth_err_set (err, 0, "extraHosts[%zu].hostname: `%s` is not a valid host name", i,
                              e->hostname ? e->hostname : "");
      if (e->address == NULL || !addr_valid (e->address))
        return berth_err_set (err, 0, "extraHosts[%zu].ipAddress: `%s` is not an IP address", i,
                              e->address ? e->address : "");
    }
  return 0;
}

char *
netns_hosts_render (const char *base, const char *hostname, const struct in_addr *addr,
                    const struct netns_extra_host *extra, size_t n_extra)
{
  char *out = xstrdup ("");
  size_t len = 0;
  char b[INET_ADDRSTRLEN];

  if (base)
    {
      append (&out, &len, "%s", base);
      if (len > 0 && out[len - 1] != '\n')
        append (&out, &len, "\n");
    }
  else
    append (&out, &len, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  if (addr && hostname)
    append (&out, &len, "%s\t%s\n", netns_ip_str (*addr, b), hostname);
  for (size_t i = 0; i < n_extra; i++)
    append (&out, &len, "%s\t%s\n", extra[i].address, extra[i].hostname);
  return out;
}
