/* Reads berthd.conf and BERTH_* overrides into struct berth_config. The file is read like
 * /etc/ecs/ecs.config: KEY=VALUE lines, '#' comments, blank lines; no shell expansion, no
 * escapes; a value may be wrapped in one pair of matching quotes. */
#include "config.h"
#include "imagecache/imagecache.h"

#include <ctype.h>
#include <strings.h>
#include <sys/capability.h>

extern char **environ;

#define BERTH_CONFIG_ENTRY(key, type, field, def, arg, doc)                                        \
  { #key, BERTH_CONFIG_##type, offsetof (struct berth_config, field), def, arg, doc },

static const struct berth_config_key keys[] = { BERTH_CONFIG_KEYS (BERTH_CONFIG_ENTRY) };

const struct berth_config_key *
berth_config_keys (size_t *ret_n)
{
  *ret_n = ARRAY_SIZE (keys);
  return keys;
}

static void *
slot (struct berth_config *cfg, size_t i)
{
  return (char *)cfg + keys[i].offset;
}

static const void *
cslot (const struct berth_config *cfg, size_t i)
{
  return (const char *)cfg + keys[i].offset;
}

static void
clear_value (struct berth_config *cfg, size_t i)
{
  switch (keys[i].type)
    {
    case BERTH_CONFIG_PATH:
    case BERTH_CONFIG_OPTPATH:
    case BERTH_CONFIG_STRING:
    case BERTH_CONFIG_ENUM:
      {
        char **p = slot (cfg, i);
        free (*p);
        *p = NULL;
        break;
      }
    case BERTH_CONFIG_LIST:
      {
        char ***p = slot (cfg, i);
        strv_free (*p);
        *p = NULL;
        break;
      }
    case BERTH_CONFIG_BOOL:
    case BERTH_CONFIG_UINT:
    case BERTH_CONFIG_SIZE:
    case BERTH_CONFIG_DURATION:
      break;
    }
}

void
berth_config_free (struct berth_config *cfg)
{
  if (cfg == NULL)
    return;
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    clear_value (cfg, i);
  strv_free (cfg->origins);
  strv_free (cfg->unknown_env);
  strv_free (cfg->delegated);
  strv_free (cfg->delegated_origins);
  free (cfg);
}

void
cleanup_berth_configp (struct berth_config **cfg)
{
  berth_config_free (*cfg);
}

static bool
is_abs_path (const char *s)
{
  return s[0] == '/' && strlen (s) < 4096;
}

static char *
trim (char *s)
{
  char *e;
  while (isspace ((unsigned char)*s))
    s++;
  e = s + strlen (s);
  while (e > s && isspace ((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

static char **
split_list (const char *s)
{
  cleanup_free char *copy = xstrdup (s);
  char **v = xzalloc (sizeof (char *));
  char *save = NULL;
  for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
    {
      char *t = trim (tok);
      if (*t)
        strv_append (&v, t);
    }
  return v;
}

static bool
enum_has (const char *choices, const char *s)
{
  size_t n = strlen (s);
  for (const char *p = choices; *p;)
    {
      size_t len = strcspn (p, "|");
      if (len == n && n > 0 && strncmp (p, s, n) == 0)
        return true;
      p += len;
      if (*p == '|')
        p++;
    }
  return false;
}

/* Checks that hold for one key beyond its type. */
static int
check_key (size_t i, const char *value, const char *where, berth_err *err)
{
  const char *name = keys[i].name;
  if (strcmp (name, "TASK_SOURCES") == 0)
    {
      cleanup_strv char **v = split_list (value);
      if (v[0] == NULL)
        return berth_err_set (err, 0, "%s: TASK_SOURCES: needs at least one source", where);
      for (size_t j = 0; v[j]; j++)
        if (!(str_has_prefix (v[j], "dir:") && is_abs_path (v[j] + 4))
            && !str_has_prefix (v[j], "http://") && !str_has_prefix (v[j], "https://"))
          return berth_err_set (err, 0,
                                "%s: TASK_SOURCES: `%s` is not dir:/ABSOLUTE/PATH or "
                                "http(s)://URL",
                                where, v[j]);
    }
  else if (strcmp (name, "ALLOWED_HOST_PATHS") == 0 || strcmp (name, "ALLOWED_DEVICES") == 0)
    {
      cleanup_strv char **v = split_list (value);
      for (size_t j = 0; v[j]; j++)
        if (!is_abs_path (v[j]) || strstr (v[j], "/../") || str_has_suffix (v[j], "/.."))
          return berth_err_set (err, 0, "%s: %s: `%s` is not an absolute path", where, name, v[j]);
    }
  else if (strcmp (name, "ALLOWED_CAPABILITIES") == 0)
    {
      cleanup_strv char **v = split_list (value);
      for (size_t j = 0; v[j]; j++)
        {
          cleanup_free char *lower = NULL;
          cap_value_t cap;
          if (strcasecmp (v[j], "ALL") == 0)
            continue;
          lower = strncasecmp (v[j], "CAP_", 4) == 0 ? xstrdup (v[j]) : xasprintf ("cap_%s", v[j]);
          for (char *q = lower; *q; q++)
            *q = (char)tolower ((unsigned char)*q);
          /* libcap also takes numbers: only names are accepted here. */
          if (isdigit ((unsigned char)v[j][0]) || cap_from_name (lower, &cap) < 0)
            return berth_err_set (err, 0,
                                  "%s: ALLOWED_CAPABILITIES: `%s` is not a capability "
                                  "name",
                                  where, v[j]);
        }
    }
  return 0;
}

static int
set_value (struct berth_config *cfg, size_t i, const char *value, const char *where, berth_err *err)
{
  const struct berth_config_key *k = &keys[i];
  uint64_t u;
  bool b;
  int r;

  switch (k->type)
    {
    case BERTH_CONFIG_PATH:
    case BERTH_CONFIG_OPTPATH:
      if (k->type == BERTH_CONFIG_OPTPATH && *value == '\0')
        {
          clear_value (cfg, i);
          break;
        }
      if (!is_abs_path (value))
        return berth_err_set (err, 0, "%s: %s: `%s` is not an absolute path", where, k->name,
                              value);
      /* fallthrough */
    case BERTH_CONFIG_STRING:
      clear_value (cfg, i);
      *(char **)slot (cfg, i) = xstrdup (value);
      break;
    case BERTH_CONFIG_ENUM:
      if (!enum_has (k->arg, value))
        {
          cleanup_free char *choices = xstrdup (k->arg);
          for (char *p = choices; *p; p++)
            if (*p == '|')
              *p = ',';
          return berth_err_set (err, 0, "%s: %s: `%s` is not one of %s", where, k->name, value,
                                choices);
        }
      clear_value (cfg, i);
      *(char **)slot (cfg, i) = xstrdup (value);
      break;
    case BERTH_CONFIG_BOOL:
      if (berth_parse_bool (value, &b) < 0)
        return berth_err_set (err, 0, "%s: %s: `%s` is not a boolean (true or false)", where,
                              k->name, value);
      *(bool *)slot (cfg, i) = b;
      break;
    case BERTH_CONFIG_UINT:
      {
        uint64_t min = 0, max = UINT64_MAX;
        const char *dash = strchr (k->arg, '-');
        cleanup_free char *lo = xstrndup (k->arg, (size_t)(dash - k->arg));
        if (berth_parse_uint64 (lo, &min) < 0 || berth_parse_uint64 (dash + 1, &max) < 0)
          abort (); /* the key table is wrong */
        r = berth_parse_uint64 (value, &u);
        if (r < 0 || u < min || u > max)
          return berth_err_set (err, 0,
                                "%s: %s: `%s` is not a whole number from %" PRIu64 " to %" PRIu64,
                                where, k->name, value, min, max);
        *(uint64_t *)slot (cfg, i) = u;
        break;
      }
    case BERTH_CONFIG_SIZE:
      if (berth_parse_size (value, &u) < 0)
        return berth_err_set (err, 0, "%s: %s: `%s` is not a size (4096, 64k, 512m, 2G)", where,
                              k->name, value);
      *(uint64_t *)slot (cfg, i) = u;
      break;
    case BERTH_CONFIG_DURATION:
      if (berth_parse_duration_ns (value, &u) < 0)
        return berth_err_set (err, 0, "%s: %s: `%s` is not a duration (30s, 250ms, 2m, 1h)", where,
                              k->name, value);
      *(uint64_t *)slot (cfg, i) = u;
      break;
    case BERTH_CONFIG_LIST:
      clear_value (cfg, i);
      *(char ***)slot (cfg, i) = split_list (value);
      break;
    }
  r = check_key (i, value, where, err);
  if (r < 0)
    return r;
  free (cfg->origins[i]);
  cfg->origins[i] = xstrdup (where);
  return 0;
}

static struct berth_config *
config_new (void)
{
  struct berth_config *cfg = xzalloc (sizeof *cfg);
  cfg->origins = xzalloc ((ARRAY_SIZE (keys) + 1) * sizeof (char *));
  cfg->unknown_env = xzalloc (sizeof (char *));
  cfg->delegated = xzalloc (sizeof (char *));
  cfg->delegated_origins = xzalloc (sizeof (char *));
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    {
      cleanup_err berth_err err = NULL;
      if (set_value (cfg, i, keys[i].default_value, "default", &err) < 0)
        abort (); /* a default the key's own type refuses: the table is wrong */
    }
  return cfg;
}

static ssize_t
key_index (const char *name, size_t len)
{
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    if (strlen (keys[i].name) == len && strncmp (keys[i].name, name, len) == 0)
      return (ssize_t)i;
  return -1;
}

static bool
delegated_key (const char *name)
{
  static const char *const prefixes[] = BERTH_CONFIG_DELEGATED_PREFIXES;
  for (size_t i = 0; prefixes[i]; i++)
    if (str_has_prefix (name, prefixes[i]))
      return true;
  return false;
}

static void
delegate (struct berth_config *cfg, const char *key, size_t key_len, const char *value,
          const char *where)
{
  cleanup_free char *kv = xasprintf ("%.*s=%s", (int)key_len, key, value);
  strv_append (&cfg->delegated, kv);
  strv_append (&cfg->delegated_origins, where);
}

static int
parse_text (struct berth_config *cfg, const char *text, size_t len, const char *what,
            berth_err *err)
{
  cleanup_free bool *seen = xzalloc (ARRAY_SIZE (keys));
  size_t lineno = 0;
  const char *p = text, *end = text + len;

  if (memchr (text, '\0', len) != NULL)
    return berth_err_set (err, 0, "%s: contains a NUL byte", what);
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t)(end - p));
      size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
      cleanup_free char *line = xstrndup (p, n);
      cleanup_free char *where = NULL;
      char *l, *eq, *key, *value;
      ssize_t k;
      int r;

      lineno++;
      p += n + (nl ? 1 : 0);
      l = trim (line);
      if (*l == '\0' || *l == '#')
        continue;
      where = xasprintf ("%s:%zu", what, lineno);
      eq = strchr (l, '=');
      if (eq == NULL)
        return berth_err_set (err, 0, "%s: expected KEY=VALUE", where);
      *eq = '\0';
      key = trim (l);
      value = trim (eq + 1);
      if (*key == '\0')
        return berth_err_set (err, 0, "%s: expected KEY=VALUE", where);
      k = key_index (key, strlen (key));
      if (k < 0 && delegated_key (key))
        {
          n = strlen (value);
          if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0])
            {
              value[n - 1] = '\0';
              value++;
            }
          delegate (cfg, key, strlen (key), value, where);
          continue;
        }
      if (k < 0)
        {
          if (str_has_prefix (key, BERTH_CONFIG_ENV_PREFIX)
              && key_index (key + strlen (BERTH_CONFIG_ENV_PREFIX),
                            strlen (key) - strlen (BERTH_CONFIG_ENV_PREFIX))
                     >= 0)
            return berth_err_set (err, 0,
                                  "%s: unknown key `%s` (write keys without the "
                                  "BERTH_ prefix in the file)",
                                  where, key);
          return berth_err_set (err, 0, "%s: unknown key `%s`", where, key);
        }
      if (seen[k])
        return berth_err_set (err, 0, "%s: %s is set twice", where, key);
      seen[k] = true;
      n = strlen (value);
      if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0])
        {
          value[n - 1] = '\0';
          value++;
        }
      r = set_value (cfg, (size_t)k, value, where, err);
      if (r < 0)
        return r;
    }
  return 0;
}

static int
apply_env (struct berth_config *cfg, char *const *envp, berth_err *err)
{
  const size_t plen = strlen (BERTH_CONFIG_ENV_PREFIX);
  for (char *const *e = envp ? envp : environ; e && *e; e++)
    {
      const char *eq = strchr (*e, '=');
      ssize_t k;
      if (eq == NULL || !str_has_prefix (*e, BERTH_CONFIG_ENV_PREFIX))
        continue;
      k = key_index (*e + plen, (size_t)(eq - *e) - plen);
      if (k < 0 && delegated_key (*e + plen))
        {
          cleanup_free char *where = xasprintf ("%.*s (environment)", (int)(eq - *e), *e);
          delegate (cfg, *e + plen, (size_t)(eq - *e) - plen, eq + 1, where);
          continue;
        }
      if (k < 0)
        {
          cleanup_free char *name = xstrndup (*e, (size_t)(eq - *e));
          strv_append (&cfg->unknown_env, name);
          continue;
        }
      {
        cleanup_free char *where
            = xasprintf (BERTH_CONFIG_ENV_PREFIX "%s (environment)", keys[k].name);
        int r = set_value (cfg, (size_t)k, eq + 1, where, err);
        if (r < 0)
          return r;
      }
    }
  return 0;
}

int
berth_config_parse (const char *text, size_t len, const char *what, char *const *envp,
                    struct berth_config **ret, berth_err *err)
{
  struct berth_config *cfg = config_new ();
  int r = parse_text (cfg, text, len, what, err);
  if (r == 0)
    r = apply_env (cfg, envp, err);
  if (r < 0)
    {
      berth_config_free (cfg);
      return r;
    }
  *ret = cfg;
  return 0;
}

int
berth_config_load (const char *path, bool must_exist, char *const *envp, struct berth_config **ret,
                   berth_err *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  int r;

  if (path == NULL)
    path = BERTH_CONFIG_DEFAULT_PATH;
  r = berth_read_file_at (AT_FDCWD, path, BERTH_CONFIG_MAX_FILE, &text, &len, err);
  if (r < 0)
    {
      if (berth_err_code (err) != ENOENT || must_exist)
        return berth_err_wrap (err, "read configuration");
      berth_err_free (err);
      len = 0;
    }
  return berth_config_parse (text ? text : "", len, path, envp, ret, err);
}

static char *
format_duration (uint64_t ns)
{
  static const struct
  {
    const char *unit;
    uint64_t ns;
  } units[] = { { "h", 3600000000000ull },
                { "m", 60000000000ull },
                { "s", 1000000000ull },
                { "ms", 1000000ull },
                { "us", 1000ull } };
  for (size_t i = 0; i < ARRAY_SIZE (units); i++)
    if (ns != 0 && ns % units[i].ns == 0)
      return xasprintf ("%" PRIu64 "%s", ns / units[i].ns, units[i].unit);
  return xasprintf ("%" PRIu64 "%s", ns, ns ? "ns" : "s");
}

static char *
format_size (uint64_t b)
{
  static const char *const units[] = { "TiB", "GiB", "MiB", "KiB" };
  for (size_t i = 0; i < ARRAY_SIZE (units); i++)
    {
      unsigned shift = (unsigned)(40 - 10 * i);
      if (b != 0 && b % (1ull << shift) == 0)
        return xasprintf ("%" PRIu64 "%s", b >> shift, units[i]);
    }
  return xasprintf ("%" PRIu64, b);
}

char *
berth_config_format (const struct berth_config *cfg, size_t i)
{
  switch (keys[i].type)
    {
    case BERTH_CONFIG_PATH:
    case BERTH_CONFIG_OPTPATH:
    case BERTH_CONFIG_STRING:
    case BERTH_CONFIG_ENUM:
      {
        const char *s = *(char *const *)cslot (cfg, i);
        return xstrdup (s ? s : "");
      }
    case BERTH_CONFIG_BOOL:
      return xstrdup (*(const bool *)cslot (cfg, i) ? "true" : "false");
    case BERTH_CONFIG_UINT:
      return xasprintf ("%" PRIu64, *(const uint64_t *)cslot (cfg, i));
    case BERTH_CONFIG_SIZE:
      return format_size (*(const uint64_t *)cslot (cfg, i));
    case BERTH_CONFIG_DURATION:
      return format_duration (*(const uint64_t *)cslot (cfg, i));
    case BERTH_CONFIG_LIST:
      {
        char *const *v = *(char **const *)cslot (cfg, i);
        size_t n = 1;
        char *s, *q;
        for (size_t j = 0; v[j]; j++)
          n += strlen (v[j]) + 1;
        s = q = xzalloc (n);
        for (size_t j = 0; v[j]; j++)
          q += sprintf (q, "%s%s", j ? "," : "", v[j]);
        return s;
      }
    }
  abort ();
}

char *
berth_config_dump (const struct berth_config *cfg)
{
  char *out = xstrdup ("");
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    {
      cleanup_free char *v = berth_config_format (cfg, i);
      char *n = xasprintf ("%s# %s\n%s=%s\n", out, cfg->origins[i], keys[i].name, v);
      free (out);
      out = n;
    }
  return out;
}

void
berth_config_imagecache (const struct berth_config *cfg, struct imagecache_config *ret)
{
  strv_free (ret->insecure_registries);
  ret->insecure_registries = strv_dup (cfg->image_insecure_registries);
  free (ret->ca_file);
  ret->ca_file = cfg->image_ca_file ? xstrdup (cfg->image_ca_file) : NULL;
  free (ret->credentials_file);
  ret->credentials_file
      = cfg->image_credentials_file ? xstrdup (cfg->image_credentials_file) : NULL;
  ret->max_downloads_per_pull = (unsigned)cfg->image_max_downloads_per_pull;
  ret->max_downloads = (unsigned)cfg->image_max_downloads;
  ret->max_unpacks = (unsigned)cfg->image_max_unpacks;
  ret->retries = (unsigned)cfg->image_pull_retries;
  ret->stall_timeout_ns = cfg->image_stall_timeout;
  ret->connect_timeout_ns = cfg->image_connect_timeout;
  ret->max_layer_size = cfg->image_max_layer_size;
  ret->max_image_size = cfg->image_max_image_size;
  ret->max_layer_entries = (unsigned)cfg->image_max_layer_entries;
  ret->allow_devices = cfg->image_allow_devices;
  ret->gc.high_watermark = (unsigned)cfg->image_gc_high_watermark;
  ret->gc.low_watermark = (unsigned)cfg->image_gc_low_watermark;
  ret->gc.min_age_ns = cfg->image_gc_min_age;
  free (ret->platform);
  ret->platform = *cfg->image_platform ? xstrdup (cfg->image_platform) : NULL;
}
