/* Host network configuration: defaults, the NET_* KEY=VALUE settings, pool syntax, and the
 * checks that run before anything is built (pool shapes and overlaps, names, combinations
 * berth cannot honour, and against the host: NIC present, kernel support, address clashes). */
#include "netns-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

/* ------------------------------------------------------------------ small parsers */

const char *
netns_ip_str (struct in_addr a, char *buf)
{
  return inet_ntop (AF_INET, &a, buf, INET_ADDRSTRLEN);
}

int
netns_ip_parse (const char *s, struct in_addr *ret)
{
  uint32_t v = 0;
  const char *p = s;

  for (int i = 0; i < 4; i++)
    {
      unsigned octet = 0;
      int digits = 0;
      if (i > 0)
        {
          if (*p != '.')
            return -EINVAL;
          p++;
        }
      if (!isdigit ((unsigned char)*p))
        return -EINVAL;
      if (p[0] == '0' && isdigit ((unsigned char)p[1]))
        return -EINVAL; /* "010" is octal to inet_aton: refuse the ambiguity */
      while (isdigit ((unsigned char)*p))
        {
          octet = octet * 10 + (unsigned)(*p++ - '0');
          if (++digits > 3 || octet > 255)
            return -EINVAL;
        }
      v = (v << 8) | octet;
    }
  if (*p != '\0')
    return -EINVAL;
  *ret = netns_ip_n (v);
  return 0;
}

int
netns_cidr_parse (const char *s, struct in_addr *ret_addr, unsigned *ret_len)
{
  cleanup_free char *copy = xstrdup (s);
  char *slash = strchr (copy, '/');
  struct in_addr a;
  uint32_t len;

  if (slash == NULL)
    return -EINVAL;
  *slash = '\0';
  if (netns_ip_parse (copy, &a) < 0)
    return -EINVAL;
  if (slash[1] == '0' && slash[2] != '\0')
    return -EINVAL;
  if (berth_parse_uint32 (slash + 1, &len) < 0 || len > 32)
    return -EINVAL;
  *ret_addr = a;
  *ret_len = len;
  return 0;
}

bool
netns_pool_contains (const struct netns_pool *p, struct in_addr a)
{
  uint32_t mask = netns_prefix_mask (p->prefix_len);
  return (netns_ip_h (a) & mask) == netns_ip_h (p->subnet);
}

static uint32_t
pool_broadcast (const struct netns_pool *p)
{
  return netns_ip_h (p->subnet) | ~netns_prefix_mask (p->prefix_len);
}

bool
netns_pool_usable (const struct netns_pool *p, struct in_addr a)
{
  uint32_t v = netns_ip_h (a);
  return v >= netns_ip_h (p->first) && v <= netns_ip_h (p->last) && v != netns_ip_h (p->subnet)
         && v != pool_broadcast (p) && v != netns_ip_h (p->gateway);
}

static int
pool_parse_one (const char *spec, struct netns_pool *ret, berth_err *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *save = NULL;
  char *tok = strtok_r (copy, ",", &save);
  struct netns_pool p = { 0 };
  bool has_gw = false, has_range = false;
  struct in_addr a;
  char buf[INET_ADDRSTRLEN];

  if (tok == NULL)
    return berth_err_set (err, 0, "empty pool");
  if (strchr (tok, ':') != NULL)
    return berth_err_set (err, 0, "`%s`: IPv6 pools are not supported", tok);
  if (netns_cidr_parse (tok, &a, &p.prefix_len) < 0)
    return berth_err_set (err, 0, "`%s`: expected an IPv4 subnet such as 10.88.0.0/16", tok);
  if (p.prefix_len < 1 || p.prefix_len > 30)
    return berth_err_set (err, 0,
                          "`%s`: prefix length must be 1..30 (a pool needs a gateway "
                          "and at least one task address)",
                          tok);
  if ((netns_ip_h (a) & ~netns_prefix_mask (p.prefix_len)) != 0)
    {
      p.subnet = netns_ip_n (netns_ip_h (a) & netns_prefix_mask (p.prefix_len));
      return berth_err_set (err, 0, "`%s`: host bits set (did you mean %s/%u?)", tok,
                            netns_ip_str (p.subnet, buf), p.prefix_len);
    }
  p.subnet = a;
  p.gateway = netns_ip_n (netns_ip_h (a) + 1);
  p.first = netns_ip_n (netns_ip_h (a) + 1);
  p.last = netns_ip_n (pool_broadcast (&p) - 1);

  while ((tok = strtok_r (NULL, ",", &save)) != NULL)
    {
      if (str_has_prefix (tok, "gateway="))
        {
          if (has_gw)
            return berth_err_set (err, 0, "`%s`: gateway given twice", spec);
          if (netns_ip_parse (tok + 8, &p.gateway) < 0)
            return berth_err_set (err, 0, "`%s`: bad gateway address", tok);
          has_gw = true;
        }
      else if (str_has_prefix (tok, "range="))
        {
          cleanup_free char *r = xstrdup (tok + 6);
          char *dash = strchr (r, '-');
          if (has_range)
            return berth_err_set (err, 0, "`%s`: range given twice", spec);
          if (dash == NULL)
            return berth_err_set (err, 0, "`%s`: expected range=FIRST-LAST", tok);
          *dash = '\0';
          if (netns_ip_parse (r, &p.first) < 0 || netns_ip_parse (dash + 1, &p.last) < 0)
            return berth_err_set (err, 0, "`%s`: expected range=FIRST-LAST", tok);
          has_range = true;
        }
      else
        return berth_err_set (err, 0, "`%s`: unknown pool option (gateway=IP, range=A-B)", tok);
    }

  if (!netns_pool_contains (&p, p.gateway) || netns_ip_h (p.gateway) == netns_ip_h (p.subnet)
      || netns_ip_h (p.gateway) == pool_broadcast (&p))
    return berth_err_set (err, 0, "`%s`: gateway %s is not a host address of the subnet", spec,
                          netns_ip_str (p.gateway, buf));
  if (has_range)
    {
      if (!netns_pool_contains (&p, p.first) || !netns_pool_contains (&p, p.last))
        return berth_err_set (err, 0, "`%s`: range is not inside the subnet", spec);
      if (netns_ip_h (p.first) > netns_ip_h (p.last))
        return berth_err_set (err, 0, "`%s`: range starts after it ends", spec);
    }
  /* A range must leave at least one address that is not the gateway. */
  {
    bool any = false;
    for (uint64_t v = netns_ip_h (p.first); v <= netns_ip_h (p.last) && !any; v++)
      any = netns_pool_usable (&p, netns_ip_n ((uint32_t)v));
    if (!any)
      return berth_err_set (err, 0, "`%s`: no address left for tasks", spec);
  }
  *ret = p;
  return 0;
}

int
netns_pools_parse (const char *value, struct netns_pool **ret, size_t *ret_n, berth_err *err)
{
  cleanup_free char *copy = xstrdup (value);
  cleanup_free struct netns_pool *pools = NULL;
  size_t n = 0;
  char *save = NULL;

  for (char *tok = strtok_r (copy, " \t", &save); tok; tok = strtok_r (NULL, " \t", &save))
    {
      struct netns_pool p;
      if (n >= 64)
        return berth_err_set (err, 0, "more than 64 pools");
      if (pool_parse_one (tok, &p, err) < 0)
        return berth_err_ret (err);
      pools = xrealloc (pools, (n + 1) * sizeof *pools);
      pools[n++] = p;
    }
  if (n == 0)
    return berth_err_set (err, 0, "no pool given");
  *ret = steal_pointer (&pools);
  *ret_n = n;
  return 0;
}

bool
netns_task_id_valid (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > NETNS_TASK_ID_MAX || !isalnum ((unsigned char)id[0]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)id[i]) && id[i] != '-' && id[i] != '_' && id[i] != '.')
      return false;
  /* ".json" records and ".tmp" scratch files share the directory. */
  return !str_has_suffix (id, ".json") && !str_has_suffix (id, ".tmp");
}

/* RFC 1123 host names: labels of letters, digits and inner hyphens, at most 63 bytes each;
 * at most 253 in all. */
bool
netns_hostname_valid (const char *name)
{
  size_t n = strlen (name), label = 0;
  if (n == 0 || n > 253)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = name[i];
      if (c == '.')
        {
          if (label == 0 || name[i - 1] == '-')
            return false;
          label = 0;
          continue;
        }
      if (!isalnum ((unsigned char)c) && c != '-')
        return false;
      if (c == '-' && label == 0)
        return false;
      if (++label > 63)
        return false;
    }
  return label > 0 && name[n - 1] != '-';
}

bool
netns_ifname_valid (const char *name)
{
  size_t n = strlen (name);
  if (n == 0 || n >= IFNAMSIZ || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (name[i] == '/' || name[i] == ':' || isspace ((unsigned char)name[i])
        || !isprint ((unsigned char)name[i]))
      return false;
  return true;
}

uint64_t
netns_hash (const char *a, const char *b)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char *p = a; *p; p++)
    h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
  h = (h ^ 0xff) * 0x100000001b3ull;
  for (const char *p = b; *p; p++)
    h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
  return h;
}

void
netns_host_ifname (const char *network, const char *task_id, char *buf)
{
  snprintf (buf, IFNAMSIZ, NETNS_HOST_IF_PREFIX "%012" PRIx64,
            (uint64_t)(netns_hash (network, task_id) & 0xffffffffffffull));
}

void
netns_mac_from_ip (struct in_addr a, unsigned char mac[6])
{
  uint32_t v = netns_ip_h (a);
  mac[0] = 0x02; /* locally administered, unicast */
  mac[1] = 0x62;
  mac[2] = (unsigned char)(v >> 24);
  mac[3] = (unsigned char)(v >> 16);
  mac[4] = (unsigned char)(v >> 8);
  mac[5] = (unsigned char)v;
}

int
netns_unsigned_mtu (const char *s, unsigned *ret)
{
  uint32_t v;
  if (berth_parse_uint32 (s, &v) < 0 || v < 68 || v > 65535)
    return -EINVAL;
  *ret = v;
  return 0;
}

/* ------------------------------------------------------------------ the config struct */

#define DEFAULT_NAME      "berth"
#define DEFAULT_BRIDGE    "berth0"
#define DEFAULT_POOLS     "10.88.0.0/16"
#define DEFAULT_NETNS_DIR "/run/berth/netns"
#define DEFAULT_FILES_DIR "/run/berth/network"
#define DEFAULT_STATE_DIR "/var/lib/berth/ipam"
#define DEFAULT_RESOLV    "/etc/resolv.conf"
#define DEFAULT_HOSTS     "/etc/hosts"
#define DEFAULT_TABLE     "berth"

static const char *const config_keys[] = {
  "NET_NAME",
  "NET_MODE",
  "NET_BRIDGE",
  "NET_HOST_NIC",
  "NET_POOLS",
  "NET_MTU",
  "NET_NAT",
  "NET_ISOLATE",
  "NET_BLOCK_METADATA",
  "NET_TASK_ENDPOINT",
  "NET_NETNS_DIR",
  "NET_FILES_DIR",
  "NET_STATE_DIR",
  "NET_HOST_RESOLV_CONF",
  "NET_HOST_HOSTS",
  "NET_NFT_TABLE",
  NULL,
};

const char *const *
netns_config_keys (void)
{
  return config_keys;
}

void
netns_config_init (struct netns_config *cfg)
{
  berth_err err = NULL;
  memset (cfg, 0, sizeof *cfg);
  cfg->name = xstrdup (DEFAULT_NAME);
  cfg->topology = NETNS_TOPOLOGY_BRIDGE;
  cfg->bridge = xstrdup (DEFAULT_BRIDGE);
  if (netns_pools_parse (DEFAULT_POOLS, &cfg->pools, &cfg->n_pools, &err) < 0)
    abort (); /* the built-in default is valid */
  cfg->nat = NETNS_AUTO;
  cfg->isolate = true;
  cfg->block_metadata = true;
  cfg->task_endpoint = NETNS_AUTO;
  cfg->netns_dir = xstrdup (DEFAULT_NETNS_DIR);
  cfg->files_dir = xstrdup (DEFAULT_FILES_DIR);
  cfg->state_dir = xstrdup (DEFAULT_STATE_DIR);
  cfg->host_resolv_conf = xstrdup (DEFAULT_RESOLV);
  cfg->host_hosts = xstrdup (DEFAULT_HOSTS);
  cfg->nft_table = xstrdup (DEFAULT_TABLE);
}

void
netns_config_free (struct netns_config *cfg)
{
  free (cfg->name);
  free (cfg->bridge);
  free (cfg->host_nic);
  free (cfg->pools);
  free (cfg->netns_dir);
  free (cfg->files_dir);
  free (cfg->state_dir);
  free (cfg->host_resolv_conf);
  free (cfg->host_hosts);
  free (cfg->nft_table);
  memset (cfg, 0, sizeof *cfg);
}

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

void
netns_config_copy (struct netns_config *dst, const struct netns_config *src)
{
  *dst = *src;
  dst->name = dup_or_null (src->name);
  dst->bridge = dup_or_null (src->bridge);
  dst->host_nic = dup_or_null (src->host_nic);
  dst->pools = src->n_pools ? xmemdup (src->pools, src->n_pools * sizeof *src->pools) : NULL;
  dst->netns_dir = dup_or_null (src->netns_dir);
  dst->files_dir = dup_or_null (src->files_dir);
  dst->state_dir = dup_or_null (src->state_dir);
  dst->host_resolv_conf = dup_or_null (src->host_resolv_conf);
  dst->host_hosts = dup_or_null (src->host_hosts);
  dst->nft_table = dup_or_null (src->nft_table);
}

const char *
netns_topology_name (enum netns_topology t)
{
  switch (t)
    {
    case NETNS_TOPOLOGY_BRIDGE:
      return "bridge";
    case NETNS_TOPOLOGY_PTP:
      return "ptp";
    case NETNS_TOPOLOGY_IPVLAN:
      return "ipvlan";
    case NETNS_TOPOLOGY_MACVLAN:
      return "macvlan";
    }
  return "?";
}

const char *
netns_mode_name (enum netns_task_mode m)
{
  switch (m)
    {
    case NETNS_MODE_AWSVPC:
      return "awsvpc";
    case NETNS_MODE_HOST:
      return "host";
    case NETNS_MODE_NONE:
      return "none";
    }
  return "?";
}

int
netns_mode_parse (const char *s, enum netns_task_mode *ret)
{
  if (strcmp (s, "awsvpc") == 0)
    *ret = NETNS_MODE_AWSVPC;
  else if (strcmp (s, "host") == 0)
    *ret = NETNS_MODE_HOST;
  else if (strcmp (s, "none") == 0)
    *ret = NETNS_MODE_NONE;
  else
    return -EINVAL;
  return 0;
}

static int
set_string (char **field, const char *value, const char *def)
{
  free (*field);
  *field = (value[0] || def == NULL) ? (value[0] ? xstrdup (value) : NULL) : xstrdup (def);
  return 0;
}

static int
set_path (char **field, const char *key, const char *value, const char *def, berth_err *err)
{
  if (value[0] && value[0] != '/')
    return berth_err_set (err, 0, "%s: `%s` is not an absolute path", key, value);
  return set_string (field, value, def);
}

static int
set_switch (int *field, const char *key, const char *value, bool auto_ok, int def, berth_err *err)
{
  bool b;
  if (value[0] == '\0')
    {
      *field = def;
      return 0;
    }
  if (auto_ok && strcmp (value, "auto") == 0)
    {
      *field = NETNS_AUTO;
      return 0;
    }
  if (berth_parse_bool (value, &b) < 0)
    return berth_err_set (err, 0, "%s: `%s` is not a boolean (on/off, true/false, 1/0%s)", key,
                          value, auto_ok ? ", auto" : "");
  *field = b;
  return 0;
}

int
netns_config_set (struct netns_config *cfg, const char *key, const char *value, berth_err *err)
{
  if (strcmp (key, "NET_NAME") == 0)
    {
      if (value[0] && !netns_task_id_valid (value))
        return berth_err_set (err, 0,
                              "NET_NAME: `%s` is not a valid name "
                              "(letters, digits, '-', '_', '.')",
                              value);
      return set_string (&cfg->name, value, DEFAULT_NAME);
    }
  if (strcmp (key, "NET_MODE") == 0)
    {
      if (value[0] == '\0' || strcmp (value, "bridge") == 0)
        cfg->topology = NETNS_TOPOLOGY_BRIDGE;
      else if (strcmp (value, "ptp") == 0)
        cfg->topology = NETNS_TOPOLOGY_PTP;
      else if (strcmp (value, "ipvlan") == 0)
        cfg->topology = NETNS_TOPOLOGY_IPVLAN;
      else if (strcmp (value, "macvlan") == 0)
        cfg->topology = NETNS_TOPOLOGY_MACVLAN;
      else
        return berth_err_set (err, 0,
                              "NET_MODE: `%s` is not one of bridge, ptp, ipvlan, "
                              "macvlan",
                              value);
      return 0;
    }
  if (strcmp (key, "NET_BRIDGE") == 0)
    {
      if (value[0] && !netns_ifname_valid (value))
        return berth_err_set (err, 0, "NET_BRIDGE: `%s` is not a valid interface name", value);
      return set_string (&cfg->bridge, value, DEFAULT_BRIDGE);
    }
  if (strcmp (key, "NET_HOST_NIC") == 0)
    {
      if (value[0] && !netns_ifname_valid (value))
        return berth_err_set (err, 0, "NET_HOST_NIC: `%s` is not a valid interface name", value);
      return set_string (&cfg->host_nic, value, NULL);
    }
  if (strcmp (key, "NET_POOLS") == 0)
    {
      struct netns_pool *pools;
      size_t n;
      if (netns_pools_parse (value[0] ? value : DEFAULT_POOLS, &pools, &n, err) < 0)
        return berth_err_wrap (err, "NET_POOLS");
      free (cfg->pools);
      cfg->pools = pools;
      cfg->n_pools = n;
      return 0;
    }
  if (strcmp (key, "NET_MTU") == 0)
    {
      if (value[0] == '\0')
        cfg->mtu = 0;
      else if (netns_unsigned_mtu (value, &cfg->mtu) < 0)
        return berth_err_set (err, 0, "NET_MTU: `%s` is not an MTU (68..65535)", value);
      return 0;
    }
  if (strcmp (key, "NET_NAT") == 0)
    return set_switch (&cfg->nat, key, value, true, NETNS_AUTO, err);
  if (strcmp (key, "NET_TASK_ENDPOINT") == 0)
    return set_switch (&cfg->task_endpoint, key, value, true, NETNS_AUTO, err);
  if (strcmp (key, "NET_ISOLATE") == 0 || strcmp (key, "NET_BLOCK_METADATA") == 0)
    {
      bool *field = strcmp (key, "NET_ISOLATE") == 0 ? &cfg->isolate : &cfg->block_metadata;
      int v;
      if (set_switch (&v, key, value, false, 1, err) < 0)
        return berth_err_ret (err);
      *field = v;
      return 0;
    }
  if (strcmp (key, "NET_NETNS_DIR") == 0)
    return set_path (&cfg->netns_dir, key, value, DEFAULT_NETNS_DIR, err);
  if (strcmp (key, "NET_FILES_DIR") == 0)
    return set_path (&cfg->files_dir, key, value, DEFAULT_FILES_DIR, err);
  if (strcmp (key, "NET_STATE_DIR") == 0)
    return set_path (&cfg->state_dir, key, value, DEFAULT_STATE_DIR, err);
  if (strcmp (key, "NET_HOST_RESOLV_CONF") == 0)
    return set_path (&cfg->host_resolv_conf, key, value, DEFAULT_RESOLV, err);
  if (strcmp (key, "NET_HOST_HOSTS") == 0)
    return set_path (&cfg->host_hosts, key, value, DEFAULT_HOSTS, err);
  if (strcmp (key, "NET_NFT_TABLE") == 0)
    {
      size_t n = strlen (value);
      if (n > 0 && (n > 32 || !isalpha ((unsigned char)value[0])))
        return berth_err_set (err, 0, "NET_NFT_TABLE: `%s` is not a table name", value);
      for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char)value[i]) && value[i] != '_')
          return berth_err_set (err, 0,
                                "NET_NFT_TABLE: `%s` is not a table name "
                                "(letters, digits, '_')",
                                value);
      return set_string (&cfg->nft_table, value, DEFAULT_TABLE);
    }
  return berth_err_set (err, 0,
                        "unknown setting `%s` (known: NET_NAME, NET_MODE, NET_BRIDGE, "
                        "NET_HOST_NIC, NET_POOLS, NET_MTU, NET_NAT, NET_ISOLATE, "
                        "NET_BLOCK_METADATA, NET_TASK_ENDPOINT, NET_NETNS_DIR, NET_FILES_DIR, "
                        "NET_STATE_DIR, NET_HOST_RESOLV_CONF, NET_HOST_HOSTS, NET_NFT_TABLE)",
                        key);
}

int
netns_config_parse_text (struct netns_config *cfg, const char *text, size_t len, const char *what,
                         berth_err *err)
{
  cleanup_free char *copy = NULL;
  size_t lineno = 0;
  char *save = NULL;

  if (memchr (text, '\0', len) != NULL)
    return berth_err_set (err, 0, "%s: NUL byte in configuration", what);
  copy = xstrndup (text, len);
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *eq, *key = line, *value, *end;
      lineno++;
      while (isspace ((unsigned char)*key))
        key++;
      if (*key == '\0' || *key == '#')
        continue;
      eq = strchr (key, '=');
      if (eq == NULL)
        return berth_err_set (err, 0, "%s:%zu: expected KEY=VALUE", what, lineno);
      *eq = '\0';
      value = eq + 1;
      for (end = eq; end > key && isspace ((unsigned char)end[-1]); end--)
        end[-1] = '\0';
      end = value + strlen (value);
      while (end > value && isspace ((unsigned char)end[-1]))
        *--end = '\0';
      while (isspace ((unsigned char)*value))
        value++;
      /* One level of quotes, as systemd EnvironmentFile= allows. */
      if (end - value >= 2 && (value[0] == '"' || value[0] == '\'') && end[-1] == value[0])
        {
          end[-1] = '\0';
          value++;
        }
      if (!str_has_prefix (key, "NET_"))
        continue;
      if (netns_config_set (cfg, key, value, err) < 0)
        return berth_err_wrap (err, "%s:%zu", what, lineno);
    }
  return 0;
}

int
netns_config_load_file (struct netns_config *cfg, const char *path, berth_err *err)
{
  cleanup_free char *text = NULL;
  size_t len;

  if (berth_read_file_at (AT_FDCWD, path, 1 << 20, &text, &len, err) < 0)
    return berth_err_ret (err);
  return netns_config_parse_text (cfg, text, len, path, err);
}

/* ------------------------------------------------------------------ validation */

static bool
ranges_overlap (uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1)
{
  return a0 <= b1 && b0 <= a1;
}

int
netns_config_check (const struct netns_config *cfg, berth_err *err)
{
  char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
  bool vlan = cfg->topology == NETNS_TOPOLOGY_IPVLAN || cfg->topology == NETNS_TOPOLOGY_MACVLAN;
  struct in_addr endpoint, metadata;

  if (cfg->name == NULL || !netns_task_id_valid (cfg->name))
    return berth_err_set (err, 0, "NET_NAME: missing or invalid");
  if (cfg->n_pools == 0)
    return berth_err_set (err, 0, "NET_POOLS: no pool configured");
  if (cfg->nft_table == NULL || cfg->nft_table[0] == '\0')
    return berth_err_set (err, 0, "NET_NFT_TABLE: missing");
  for (const char *const *p
       = (const char *const[]){ cfg->netns_dir, cfg->files_dir, cfg->state_dir, NULL };
       *p; p++)
    if ((*p)[0] != '/')
      return berth_err_set (err, 0, "`%s` is not an absolute path", *p);
  if (cfg->netns_dir == NULL || cfg->files_dir == NULL || cfg->state_dir == NULL)
    return berth_err_set (err, 0, "NET_NETNS_DIR, NET_FILES_DIR, NET_STATE_DIR are required");
  if (strcmp (cfg->netns_dir, cfg->files_dir) == 0)
    return berth_err_set (err, 0, "NET_NETNS_DIR and NET_FILES_DIR must differ");
  if (cfg->mtu != 0 && (cfg->mtu < 68 || cfg->mtu > 65535))
    return berth_err_set (err, 0, "NET_MTU: %u is not an MTU (68..65535)", cfg->mtu);

  if (vlan)
    {
      if (cfg->host_nic == NULL || cfg->host_nic[0] == '\0')
        return berth_err_set (err, 0, "NET_HOST_NIC: required with NET_MODE=%s",
                              netns_topology_name (cfg->topology));
      if (cfg->nat == 1)
        return berth_err_set (err, 0,
                              "NET_NAT: not available with NET_MODE=%s (tasks have "
                              "addresses on the host NIC's network; nothing to translate)",
                              netns_topology_name (cfg->topology));
      if (cfg->task_endpoint == 1)
        return berth_err_set (err, 0,
                              "NET_TASK_ENDPOINT: not available with NET_MODE=%s "
                              "(the host cannot reach its own %s children)",
                              netns_topology_name (cfg->topology),
                              netns_topology_name (cfg->topology));
    }
  else
    {
      if (cfg->host_nic != NULL && cfg->host_nic[0])
        return berth_err_set (err, 0,
                              "NET_HOST_NIC: only used with NET_MODE=ipvlan or "
                              "macvlan, not %s",
                              netns_topology_name (cfg->topology));
      if (cfg->bridge == NULL || !netns_ifname_valid (cfg->bridge))
        return berth_err_set (err, 0, "NET_BRIDGE: missing or invalid");
      if (str_has_prefix (cfg->bridge, NETNS_HOST_IF_PREFIX))
        return berth_err_set (err, 0,
                              "NET_BRIDGE: `%s` starts with `%s`, the prefix of task "
                              "links",
                              cfg->bridge, NETNS_HOST_IF_PREFIX);
    }

  (void)netns_ip_parse (NETNS_TASK_ENDPOINT_ADDR, &endpoint);
  (void)netns_ip_parse (NETNS_METADATA_ADDR, &metadata);
  for (size_t i = 0; i < cfg->n_pools; i++)
    {
      const struct netns_pool *p = &cfg->pools[i];
      uint32_t s = netns_ip_h (p->subnet), e = s | ~netns_prefix_mask (p->prefix_len);
      if (p->prefix_len < 1 || p->prefix_len > 30 || (s & ~netns_prefix_mask (p->prefix_len)) != 0
          || !netns_pool_contains (p, p->gateway) || !netns_pool_contains (p, p->first)
          || !netns_pool_contains (p, p->last) || netns_ip_h (p->first) > netns_ip_h (p->last))
        return berth_err_set (err, 0, "NET_POOLS: pool %s/%u is malformed",
                              netns_ip_str (p->subnet, b1), p->prefix_len);
      if ((s >> 24) == 127 || (s >> 24) == 0 || (s >> 28) >= 14)
        return berth_err_set (err, 0,
                              "NET_POOLS: %s/%u is loopback, multicast or reserved "
                              "space",
                              netns_ip_str (p->subnet, b1), p->prefix_len);
      if (netns_pool_contains (p, endpoint) && cfg->task_endpoint != 0 && !vlan)
        return berth_err_set (err, 0,
                              "NET_POOLS: %s/%u contains %s, the task endpoint "
                              "address (NET_TASK_ENDPOINT)",
                              netns_ip_str (p->subnet, b1), p->prefix_len,
                              NETNS_TASK_ENDPOINT_ADDR);
      if (netns_pool_contains (p, metadata) && cfg->block_metadata)
        return berth_err_set (err, 0,
                              "NET_POOLS: %s/%u contains %s, the blocked metadata "
                              "address (NET_BLOCK_METADATA)",
                              netns_ip_str (p->subnet, b1), p->prefix_len, NETNS_METADATA_ADDR);
      for (size_t j = 0; j < i; j++)
        {
          const struct netns_pool *q = &cfg->pools[j];
          uint32_t qs = netns_ip_h (q->subnet), qe = qs | ~netns_prefix_mask (q->prefix_len);
          if (ranges_overlap (s, e, qs, qe))
            return berth_err_set (err, 0, "NET_POOLS: pools %s/%u and %s/%u overlap",
                                  netns_ip_str (q->subnet, b1), q->prefix_len,
                                  netns_ip_str (p->subnet, b2), p->prefix_len);
        }
    }
  return 0;
}

/* ------------------------------------------------------------------ checks against the host */

struct addr_scan
{
  const struct netns_config *cfg;
  int own_ifindex; /* berth's bridge: its gateway addresses are expected */
  int nic_ifindex;
  berth_err *err;
  int ret;
};

static int
addr_scan_cb (const struct nlmsghdr *nlh, void *data)
{
  struct addr_scan *s = data;
  struct rtnl_addr a;
  char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN], ifname[IF_NAMESIZE] = "?";

  if (s->ret < 0 || nlh->nlmsg_type != RTM_NEWADDR)
    return 0;
  if (rtnl_parse_addr (nlh, &a) < 0 || a.prefix_len > 32)
    return 0; /* IPv6 or unparsable: nothing to compare */
  if (a.ifindex == s->own_ifindex)
    return 0;
  for (size_t i = 0; i < s->cfg->n_pools; i++)
    {
      const struct netns_pool *p = &s->cfg->pools[i];
      uint32_t mask
          = netns_prefix_mask (a.prefix_len < p->prefix_len ? a.prefix_len : p->prefix_len);
      if ((netns_ip_h (a.addr) & mask) != (netns_ip_h (p->subnet) & mask))
        continue;
      if_indextoname ((unsigned)a.ifindex, ifname);
      /* ptp: the host ends of task links carry the gateway address. */
      if (str_has_prefix (ifname, NETNS_HOST_IF_PREFIX))
        continue;
      if (a.ifindex == s->nic_ifindex)
        {
          /* ipvlan/macvlan: the NIC sits on the lab subnet; only its own address must stay
           * out of the range handed to tasks. */
          if (netns_pool_usable (p, a.addr))
            {
              s->ret = berth_err_set (s->err, 0,
                                      "NET_POOLS: the range of %s/%u includes %s, "
                                      "the address of host NIC `%s`",
                                      netns_ip_str (p->subnet, b1), p->prefix_len,
                                      netns_ip_str (a.addr, b2), ifname);
              return 0;
            }
          continue;
        }
      s->ret = berth_err_set (s->err, 0,
                              "NET_POOLS: %s/%u overlaps %s/%u on host interface "
                              "`%s`",
                              netns_ip_str (p->subnet, b1), p->prefix_len,
                              netns_ip_str (a.addr, b2), a.prefix_len, ifname);
      return 0;
    }
  return 0;
}

static int
probe_kind (struct rtnl *r, const char *kind, const char *key, berth_err *err)
{
  struct rtnl_batch b;
  cleanup_err berth_err e = NULL;
  int ret;

  rtnl_batch_init (&b);
  if (rtnl_req_kind_probe (&b, kind) < 0)
    return berth_err_set (err, ENOSPC, "netlink batch");
  ret = rtnl_talk (r, &b, NULL, NULL, &e);
  if (ret == -EOPNOTSUPP)
    return berth_err_set (err, 0, "%s: this kernel has no %s support (CONFIG_%s)", key, kind,
                          strcmp (kind, "ipvlan") == 0 ? "IPVLAN" : "MACVLAN");
  /* Anything else (EINVAL: no parent given) means the kind is known. */
  return 0;
}

int
netns_config_validate (const struct netns_config *cfg, berth_err *err)
{
  struct rtnl r = { 0 };
  struct addr_scan scan = { .cfg = cfg, .err = err };
  bool vlan = cfg->topology == NETNS_TOPOLOGY_IPVLAN || cfg->topology == NETNS_TOPOLOGY_MACVLAN;
  int ret;

  if (netns_config_check (cfg, err) < 0)
    return berth_err_ret (err);

  if (vlan)
    {
      unsigned idx = if_nametoindex (cfg->host_nic);
      if (idx == 0)
        return berth_err_set (err, 0, "NET_HOST_NIC: no interface `%s` on this host",
                              cfg->host_nic);
      scan.nic_ifindex = (int)idx;
    }
  else
    {
      unsigned idx = if_nametoindex (cfg->bridge);
      scan.own_ifindex = idx ? (int)idx : -1;
    }

  if (rtnl_open (&r, err) < 0)
    return berth_err_ret (err);
  if (vlan)
    {
      ret = probe_kind (&r, netns_topology_name (cfg->topology), "NET_MODE", err);
      if (ret < 0)
        goto out;
    }
  else if (scan.own_ifindex > 0)
    {
      struct rtnl_link l;
      ret = rtnl_link_lookup (&r, cfg->bridge, &l, err);
      if (ret == 0 && strcmp (l.kind, "bridge") != 0)
        ret = berth_err_set (err, 0, "NET_BRIDGE: `%s` exists and is not a bridge (%s)",
                             cfg->bridge, l.kind[0] ? l.kind : "no kind");
      if (ret == -ENODEV)
        ret = 0; /* gone since: it will be created */
      if (ret < 0)
        goto out;
    }

  ret = rtnl_dump (&r, RTM_GETADDR, AF_INET, addr_scan_cb, &scan, err);
  if (ret >= 0 && scan.ret < 0)
    ret = scan.ret;
out:
  rtnl_close (&r);
  return ret;
}
