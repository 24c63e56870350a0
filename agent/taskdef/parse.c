/* Parses and validates an ECS RegisterTaskDefinition document into struct taskdef.
 * Every key of every object is either handled, kept (AWS-only, changes nothing on a node),
 * or refused with its JSON path and what to use instead: nothing is silently ignored. */
#include "taskdef.h"
#include "taskdef-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <sys/resource.h>

/* ------------------------------------------------------------------ field rules */

struct rule
{
  const char *key;
  const char *refusal; /* NULL: handled or kept; else why berth refuses it and what to use */
};

static int
check_rules (json_object *obj, const char *path, const struct rule *rules, berth_err *err)
{
  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "%s: expected an object, got %s", *path ? path : "(document)",
                          bjson_type_name (json_object_get_type (obj)));
  json_object_object_foreach (obj, k, val)
    {
      const struct rule *r;
      (void)val;
      for (r = rules; r->key; r++)
        if (strcmp (r->key, k) == 0)
          break;
      if (r->key == NULL)
        {
          cleanup_free char *p = bjson_path_key (path, k);
          return berth_err_set (err, 0, "%s: unknown field", p);
        }
      if (r->refusal)
        {
          cleanup_free char *p = bjson_path_key (path, k);
          return berth_err_set (err, 0, "%s: not supported by berth: %s", p, r->refusal);
        }
    }
  return 0;
}

/* JSON null is taken as absent: tools that print task definitions write "x": null. */
static json_object *
field (json_object *obj, const char *key)
{
  json_object *v = NULL;
  if (!json_object_object_get_ex (obj, key, &v))
    return NULL;
  return v;
}

static int
missing (const char *path, const char *key, berth_err *err)
{
  cleanup_free char *p = bjson_path_key (path, key);
  return berth_err_set (err, 0, "%s: required but missing", p);
}

static int
opt_string (json_object *obj, const char *path, const char *key, bool required, const char **ret,
            berth_err *err)
{
  if (field (obj, key) == NULL)
    return required ? missing (path, key, err) : 0;
  return bjson_get_string (obj, path, key, 0, ret, err);
}

static int
opt_bool (json_object *obj, const char *path, const char *key, bool *ret, berth_err *err)
{
  if (field (obj, key) == NULL)
    return 0;
  return bjson_get_bool (obj, path, key, 0, ret, err);
}

static int
opt_int (json_object *obj, const char *path, const char *key, bool required, int64_t min,
         int64_t max, int64_t *ret, berth_err *err)
{
  if (field (obj, key) == NULL)
    return required ? missing (path, key, err) : 0;
  return bjson_get_int64 (obj, path, key, 0, min, max, ret, err);
}

static int
opt_strv (json_object *obj, const char *path, const char *key, char ***ret, berth_err *err)
{
  if (field (obj, key) == NULL)
    return 0;
  return bjson_get_strv (obj, path, key, 0, ret, err);
}

static int
opt_array (json_object *obj, const char *path, const char *key, json_object **ret, berth_err *err)
{
  if (field (obj, key) == NULL)
    return 0;
  return bjson_get (obj, path, key, json_type_array, 0, ret, err);
}

static int
opt_object (json_object *obj, const char *path, const char *key, json_object **ret, berth_err *err)
{
  if (field (obj, key) == NULL)
    return 0;
  return bjson_get (obj, path, key, json_type_object, 0, ret, err);
}

static int BERTH_PRINTF (4, 5)
    bad (berth_err *err, const char *path, const char *key, const char *fmt, ...)
{
  cleanup_free char *p = key ? bjson_path_key (path, key) : xstrdup (path);
  cleanup_free char *msg = NULL;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return berth_err_set (err, 0, "%s: %s", p, msg);
}

/* ------------------------------------------------------------------ value checks */

/* ECS names (family, container, volume): up to 255 letters, digits, '_' and '-'. */
static int
check_name (const char *s, const char *path, const char *key, berth_err *err)
{
  size_t n = strlen (s);
  if (n == 0 || n > TASKDEF_MAX_NAME)
    return bad (err, path, key, "must be 1 to %d characters", TASKDEF_MAX_NAME);
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
      return bad (err, path, key, "`%s`: only letters, digits, '_' and '-' are allowed", s);
  return 0;
}

/* An absolute path without "." or ".." components: mount targets and paths inside the
 * container are resolved beneath its root, but a path that climbs is a mistake to report. */
static int
check_abs_path (const char *s, const char *path, const char *key, berth_err *err)
{
  if (s[0] != '/')
    return bad (err, path, key, "`%s` is not an absolute path", s);
  if (strlen (s) > 4096)
    return bad (err, path, key, "path longer than 4096 bytes");
  for (const char *c = s; *c;)
    {
      size_t len;
      while (*c == '/')
        c++;
      len = strcspn (c, "/");
      if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
        return bad (err, path, key, "`%s` contains a `.` or `..` component", s);
      c += len;
    }
  return 0;
}

static bool
is_ip_address (const char *s)
{
  unsigned char buf[sizeof (struct in6_addr)];
  return inet_pton (AF_INET, s, buf) == 1 || inet_pton (AF_INET6, s, buf) == 1;
}

/* RFC 1123 host name, at most 64 bytes (the kernel's UTS limit). */
static bool
is_hostname (const char *s)
{
  size_t n = strlen (s), label = 0;
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (c == '.')
        {
          if (label == 0 || s[i - 1] == '-')
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
  return label > 0 && s[n - 1] != '-';
}

static bool
has_space_or_control (const char *s)
{
  for (; *s; s++)
    if (isspace ((unsigned char)*s) || iscntrl ((unsigned char)*s))
      return true;
  return false;
}

/* Decimal "12", "0.25", ".5" times mult, exactly; -EINVAL when not a number, -ERANGE when
 * too big, -EDOM when the result is not a whole number. */
static int
decimal_times (const char *s, size_t len, uint64_t mult, uint64_t *ret)
{
  uint64_t num = 0, den = 1;
  bool dot = false, digits = false;
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] == '.' && !dot)
        {
          dot = true;
          continue;
        }
      if (!isdigit ((unsigned char)s[i]))
        return -EINVAL;
      digits = true;
      if (num > UINT32_MAX || den > 1000000000ull)
        return -ERANGE;
      num = num * 10 + (uint64_t)(s[i] - '0');
      if (dot)
        den *= 10;
    }
  if (!digits)
    return -EINVAL;
  if (num > UINT64_MAX / mult)
    return -ERANGE;
  if ((num * mult) % den != 0)
    return -EDOM;
  *ret = num * mult / den;
  return 0;
}

/* Task cpu: 1024, "1024", "1 vCPU", "0.25 vcpu"; task memory: 2048, "2048", "2 GB", "0.5GB".
 * ECS converts the string forms when it registers the definition; so does berth. */
static int
task_quantity (json_object *obj, const char *key, const char *unit, uint64_t unit_mult,
               uint64_t *ret, berth_err *err)
{
  json_object *v = field (obj, key);
  const char *s;
  size_t n;
  uint64_t val;
  int r;

  if (v == NULL)
    return 0;
  if (json_object_get_type (v) == json_type_int)
    {
      int64_t i;
      r = bjson_value_int64 (v, key, 0, INT64_MAX, &i, err);
      if (r < 0)
        return r;
      *ret = (uint64_t)i;
      return 1;
    }
  if (json_object_get_type (v) != json_type_string)
    return bad (err, key, NULL, "expected an integer or a string, got %s",
                bjson_type_name (json_object_get_type (v)));
  s = json_object_get_string (v);
  n = strlen (s);
  while (n > 0 && s[n - 1] == ' ')
    n--;
  if (n > strlen (unit) && strncasecmp (s + n - strlen (unit), unit, strlen (unit)) == 0)
    {
      size_t m = n - strlen (unit);
      while (m > 0 && s[m - 1] == ' ')
        m--;
      r = decimal_times (s, m, unit_mult, &val);
    }
  else
    r = decimal_times (s, n, 1, &val);
  if (r == -EDOM)
    return bad (err, key, NULL, "`%s` is not a whole number of %s", s,
                unit_mult == 1024 && strcmp (key, "cpu") == 0 ? "CPU units" : "MiB");
  if (r < 0)
    return bad (err, key, NULL, "`%s` is not a valid value (write %s)", s,
                strcmp (key, "cpu") == 0 ? "CPU units such as 1024, or \"1 vCPU\""
                                         : "MiB such as 2048, or \"2 GB\"");
  *ret = val;
  return 1;
}

/* ------------------------------------------------------------------ containers */

static const char *const ulimit_names[]
    = { "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
        "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",    NULL };
static const int ulimit_resources[] = {
  RLIMIT_CORE,    RLIMIT_CPU,      RLIMIT_DATA,   RLIMIT_FSIZE,      RLIMIT_LOCKS,
  RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NICE,   RLIMIT_NOFILE,     RLIMIT_NPROC,
  RLIMIT_RSS,     RLIMIT_RTPRIO,   RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK,
};

/* Mount options ECS lists for tmpfs. bind, rbind and remount mean nothing on a fresh tmpfs. */
static const char *const tmpfs_flag_options[]
    = { "defaults",   "ro",          "rw",       "suid",       "nosuid",      "dev",
        "nodev",      "exec",        "noexec",   "sync",       "async",       "dirsync",
        "mand",       "nomand",      "atime",    "noatime",    "diratime",    "nodiratime",
        "unbindable", "runbindable", "private",  "rprivate",   "shared",      "rshared",
        "slave",      "rslave",      "relatime", "norelatime", "strictatime", "nostrictatime",
        NULL };
static const char *const tmpfs_value_options[]
    = { "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", NULL };

static bool
in_list (const char *const *list, const char *s)
{
  for (; *list; list++)
    if (strcmp (*list, s) == 0)
      return true;
  return false;
}

static int
parse_env (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[] = { { "name", NULL }, { "value", NULL }, { NULL, NULL } };
  json_object *arr;
  int r = opt_array (obj, path, "environment", &arr, err);
  if (r <= 0)
    return r;
  c->n_env = json_object_array_length (arr);
  c->env = xzalloc ((c->n_env + 1) * sizeof *c->env);
  for (size_t i = 0; i < c->n_env; i++)
    {
      cleanup_free char *kp = bjson_path_key (path, "environment");
      cleanup_free char *ep = bjson_path_index (kp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *name = NULL, *value = "";
      r = check_rules (e, ep, rules, err);
      if (r < 0)
        return r;
      r = opt_string (e, ep, "name", true, &name, err);
      if (r < 0)
        return r;
      if (*name == '\0' || strchr (name, '=') != NULL)
        return bad (err, ep, "name", "`%s` is not a valid variable name (empty or has '=')", name);
      r = opt_string (e, ep, "value", false, &value, err);
      if (r < 0)
        return r;
      c->env[i].name = xstrdup (name);
      c->env[i].value = xstrdup (value);
    }
  return 0;
}

static int
parse_health (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "command", NULL }, { "interval", NULL },    { "timeout", NULL },
          { "retries", NULL }, { "startPeriod", NULL }, { NULL, NULL } };
  struct taskdef_healthcheck *h = &c->health;
  cleanup_free char *hp = bjson_path_key (path, "healthCheck");
  cleanup_strv char **cmd = NULL;
  json_object *o;
  int64_t v;
  int r = opt_object (obj, path, "healthCheck", &o, err);
  if (r <= 0)
    return r;
  r = check_rules (o, hp, rules, err);
  if (r < 0)
    return r;
  if (field (o, "command") == NULL)
    return missing (hp, "command", err);
  r = bjson_get_strv (o, hp, "command", 0, &cmd, err);
  if (r < 0)
    return r;
  if (cmd[0] == NULL)
    return bad (err, hp, "command", "must start with CMD or CMD-SHELL");
  if (strcmp (cmd[0], "CMD") == 0)
    {
      if (cmd[1] == NULL)
        return bad (err, hp, "command", "CMD needs the command to run after it");
      h->shell = false;
    }
  else if (strcmp (cmd[0], "CMD-SHELL") == 0)
    {
      if (cmd[1] == NULL || cmd[2] != NULL)
        return bad (err, hp, "command", "CMD-SHELL takes exactly one shell command line");
      h->shell = true;
    }
  else
    return bad (err, hp, "command", "must start with CMD or CMD-SHELL, not `%s`", cmd[0]);
  h->argv = strv_dup (cmd + 1);
  h->present = true;
  h->interval_s = 30;
  h->timeout_s = 5;
  h->retries = 3;
  h->start_period_s = 0;
  if ((r = opt_int (o, hp, "interval", false, 5, 300, &v, err)) < 0)
    return r;
  if (r)
    h->interval_s = (uint32_t)v;
  if ((r = opt_int (o, hp, "timeout", false, 2, 60, &v, err)) < 0)
    return r;
  if (r)
    h->timeout_s = (uint32_t)v;
  if ((r = opt_int (o, hp, "retries", false, 1, 10, &v, err)) < 0)
    return r;
  if (r)
    h->retries = (uint32_t)v;
  if ((r = opt_int (o, hp, "startPeriod", false, 0, 300, &v, err)) < 0)
    return r;
  if (r)
    h->start_period_s = (uint32_t)v;
  return 0;
}

static int
parse_capability_list (json_object *o, const char *path, const char *key, char ***ret,
                       berth_err *err)
{
  cleanup_strv char **v = NULL;
  int r = opt_strv (o, path, key, &v, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; v[i]; i++)
    {
      int cap;
      if (strcasecmp (v[i], "ALL") == 0)
        {
          free (v[i]);
          v[i] = xstrdup ("ALL");
          continue;
        }
      if (taskdef_parse_capability (v[i], &cap) < 0)
        {
          cleanup_free char *kp = bjson_path_key (path, key);
          return berth_err_set (err, 0, "%s[%zu]: `%s` is not a Linux capability", kp, i, v[i]);
        }
      free (v[i]);
      v[i] = taskdef_capability_name (cap);
    }
  *ret = steal_pointer (&v);
  return 1;
}

static int
parse_devices (struct taskdef_container *c, json_object *lp, const char *path, berth_err *err)
{
  static const struct rule rules[] = {
    { "hostPath", NULL }, { "containerPath", NULL }, { "permissions", NULL }, { NULL, NULL }
  };
  cleanup_free char *dp = bjson_path_key (path, "devices");
  json_object *arr;
  int r = opt_array (lp, path, "devices", &arr, err);
  if (r <= 0)
    return r;
  c->n_devices = json_object_array_length (arr);
  c->devices = xzalloc (c->n_devices * sizeof *c->devices + 1);
  for (size_t i = 0; i < c->n_devices; i++)
    {
      struct taskdef_device *d = &c->devices[i];
      cleanup_free char *ep = bjson_path_index (dp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *host = NULL, *cont = NULL;
      cleanup_strv char **perms = NULL;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "hostPath", true, &host, err)) < 0)
        return r;
      if ((r = check_abs_path (host, ep, "hostPath", err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "containerPath", false, &cont, err)) < 0)
        return r;
      if (cont && (r = check_abs_path (cont, ep, "containerPath", err)) < 0)
        return r;
      d->host_path = xstrdup (host);
      d->container_path = xstrdup (cont ? cont : host);
      if ((r = opt_strv (e, ep, "permissions", &perms, err)) < 0)
        return r;
      if (perms == NULL)
        d->read = d->write = d->mknod = true;
      else
        for (size_t j = 0; perms[j]; j++)
          {
            if (strcmp (perms[j], "read") == 0)
              d->read = true;
            else if (strcmp (perms[j], "write") == 0)
              d->write = true;
            else if (strcmp (perms[j], "mknod") == 0)
              d->mknod = true;
            else
              {
                cleanup_free char *pp = bjson_path_key (ep, "permissions");
                return berth_err_set (err, 0, "%s[%zu]: `%s` is not one of read, write, mknod", pp,
                                      j, perms[j]);
              }
          }
    }
  return 0;
}

static int
parse_tmpfs (struct taskdef_container *c, json_object *lp, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "containerPath", NULL }, { "size", NULL }, { "mountOptions", NULL }, { NULL, NULL } };
  cleanup_free char *tp = bjson_path_key (path, "tmpfs");
  json_object *arr;
  int r = opt_array (lp, path, "tmpfs", &arr, err);
  if (r <= 0)
    return r;
  c->n_tmpfs = json_object_array_length (arr);
  c->tmpfs = xzalloc (c->n_tmpfs * sizeof *c->tmpfs + 1);
  for (size_t i = 0; i < c->n_tmpfs; i++)
    {
      struct taskdef_tmpfs *t = &c->tmpfs[i];
      cleanup_free char *ep = bjson_path_index (tp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *cont = NULL;
      int64_t size;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "containerPath", true, &cont, err)) < 0)
        return r;
      if ((r = check_abs_path (cont, ep, "containerPath", err)) < 0)
        return r;
      t->container_path = xstrdup (cont);
      if ((r = opt_int (e, ep, "size", true, 1, INT32_MAX, &size, err)) < 0)
        return r;
      t->size_mib = (uint64_t)size;
      if ((r = opt_strv (e, ep, "mountOptions", &t->options, err)) < 0)
        return r;
      for (size_t j = 0; t->options && t->options[j]; j++)
        {
          const char *o = t->options[j];
          const char *eq = strchr (o, '=');
          cleanup_free char *op = bjson_path_key (ep, "mountOptions");
          if (eq == NULL && in_list (tmpfs_flag_options, o))
            continue;
          if (eq != NULL && eq[1] != '\0')
            {
              cleanup_free char *k = xstrndup (o, (size_t)(eq - o));
              /* A ',' in a value would smuggle in another mount option. */
              if (in_list (tmpfs_value_options, k) && strchr (eq + 1, ',') == NULL
                  && !has_space_or_control (eq + 1))
                continue;
              if (strcmp (k, "size") == 0)
                return berth_err_set (err, 0,
                                      "%s[%zu]: set the size with `size` (MiB), not "
                                      "a mount option",
                                      op, j);
            }
          return berth_err_set (err, 0,
                                "%s[%zu]: `%s` is not a tmpfs mount option berth "
                                "accepts",
                                op, j, o);
        }
    }
  return 0;
}

static int
parse_linux (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "capabilities", NULL },     { "devices", NULL }, { "initProcessEnabled", NULL },
          { "sharedMemorySize", NULL }, { "tmpfs", NULL },   { "maxSwap", NULL },
          { "swappiness", NULL },       { NULL, NULL } };
  static const struct rule cap_rules[] = { { "add", NULL }, { "drop", NULL }, { NULL, NULL } };
  cleanup_free char *lp = bjson_path_key (path, "linuxParameters");
  json_object *o, *caps;
  int64_t v;
  int r = opt_object (obj, path, "linuxParameters", &o, err);
  if (r <= 0)
    return r;
  if ((r = check_rules (o, lp, rules, err)) < 0)
    return r;
  if ((r = opt_object (o, lp, "capabilities", &caps, err)) < 0)
    return r;
  if (r > 0)
    {
      cleanup_free char *cp = bjson_path_key (lp, "capabilities");
      if ((r = check_rules (caps, cp, cap_rules, err)) < 0)
        return r;
      if ((r = parse_capability_list (caps, cp, "add", &c->cap_add, err)) < 0)
        return r;
      if ((r = parse_capability_list (caps, cp, "drop", &c->cap_drop, err)) < 0)
        return r;
    }
  if ((r = parse_devices (c, o, lp, err)) < 0)
    return r;
  if ((r = opt_bool (o, lp, "initProcessEnabled", &c->init_process, err)) < 0)
    return r;
  if ((r = opt_int (o, lp, "sharedMemorySize", false, 1, INT32_MAX, &v, err)) < 0)
    return r;
  if (r)
    {
      c->has_shm_size = true;
      c->shm_size_mib = (uint64_t)v;
    }
  if ((r = parse_tmpfs (c, o, lp, err)) < 0)
    return r;
  /* ECS documents maxSwap as "0 or any positive integer". */
  if ((r = opt_int (o, lp, "maxSwap", false, 0, INT32_MAX, &v, err)) < 0)
    return r;
  if (r)
    {
      c->has_max_swap = true;
      c->max_swap_mib = (uint64_t)v;
    }
  if ((r = opt_int (o, lp, "swappiness", false, 0, 100, &v, err)) < 0)
    return r;
  if (r)
    {
      /* ECS ignores swappiness without maxSwap; berth refuses rather than ignore it. */
      if (!c->has_max_swap)
        return bad (err, lp, "swappiness", "needs maxSwap (ECS ignores swappiness without it)");
      c->has_swappiness = true;
      c->swappiness = (uint32_t)v;
    }
  return 0;
}

static int
parse_ulimits (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "name", NULL }, { "softLimit", NULL }, { "hardLimit", NULL }, { NULL, NULL } };
  cleanup_free char *up = bjson_path_key (path, "ulimits");
  json_object *arr;
  int r = opt_array (obj, path, "ulimits", &arr, err);
  if (r <= 0)
    return r;
  c->n_ulimits = json_object_array_length (arr);
  c->ulimits = xzalloc (c->n_ulimits * sizeof *c->ulimits + 1);
  for (size_t i = 0; i < c->n_ulimits; i++)
    {
      struct taskdef_ulimit *u = &c->ulimits[i];
      cleanup_free char *ep = bjson_path_index (up, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *name = NULL;
      int64_t soft, hard;
      size_t k;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "name", true, &name, err)) < 0)
        return r;
      for (k = 0; ulimit_names[k]; k++)
        if (strcmp (ulimit_names[k], name) == 0)
          break;
      if (ulimit_names[k] == NULL)
        return bad (err, ep, "name",
                    "`%s` is not a ulimit name (core, cpu, data, fsize, "
                    "locks, memlock, msgqueue, nice, nofile, nproc, rss, "
                    "rtprio, rttime, sigpending, stack)",
                    name);
      for (size_t j = 0; j < i; j++)
        if (strcmp (c->ulimits[j].name, name) == 0)
          return bad (err, ep, "name", "`%s` is set twice", name);
      /* Docker and ECS write -1 for unlimited. */
      if ((r = opt_int (e, ep, "softLimit", true, -1, INT64_MAX, &soft, err)) < 0)
        return r;
      if ((r = opt_int (e, ep, "hardLimit", true, -1, INT64_MAX, &hard, err)) < 0)
        return r;
      u->name = xstrdup (name);
      u->resource = ulimit_resources[k];
      u->soft = soft < 0 ? UINT64_MAX : (uint64_t)soft;
      u->hard = hard < 0 ? UINT64_MAX : (uint64_t)hard;
      if (u->soft > u->hard)
        return bad (err, ep, "softLimit", "is above hardLimit");
    }
  return 0;
}

static int
parse_mount_points (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[] = {
    { "sourceVolume", NULL }, { "containerPath", NULL }, { "readOnly", NULL }, { NULL, NULL }
  };
  cleanup_free char *mp = bjson_path_key (path, "mountPoints");
  json_object *arr;
  int r = opt_array (obj, path, "mountPoints", &arr, err);
  if (r <= 0)
    return r;
  c->n_mount_points = json_object_array_length (arr);
  c->mount_points = xzalloc (c->n_mount_points * sizeof *c->mount_points + 1);
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      struct taskdef_mount_point *m = &c->mount_points[i];
      cleanup_free char *ep = bjson_path_index (mp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *src = NULL, *dst = NULL;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "sourceVolume", true, &src, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "containerPath", true, &dst, err)) < 0)
        return r;
      if ((r = check_abs_path (dst, ep, "containerPath", err)) < 0)
        return r;
      if (strcmp (dst, "/") == 0)
        return bad (err, ep, "containerPath", "cannot mount over the container's root");
      m->source_volume = xstrdup (src);
      m->container_path = xstrdup (dst);
      if ((r = opt_bool (e, ep, "readOnly", &m->read_only, err)) < 0)
        return r;
    }
  return 0;
}

static int
parse_volumes_from (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "sourceContainer", NULL }, { "readOnly", NULL }, { NULL, NULL } };
  cleanup_free char *vp = bjson_path_key (path, "volumesFrom");
  json_object *arr;
  int r = opt_array (obj, path, "volumesFrom", &arr, err);
  if (r <= 0)
    return r;
  c->n_volumes_from = json_object_array_length (arr);
  c->volumes_from = xzalloc (c->n_volumes_from * sizeof *c->volumes_from + 1);
  for (size_t i = 0; i < c->n_volumes_from; i++)
    {
      cleanup_free char *ep = bjson_path_index (vp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *src = NULL;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "sourceContainer", true, &src, err)) < 0)
        return r;
      c->volumes_from[i].source_container = xstrdup (src);
      if ((r = opt_bool (e, ep, "readOnly", &c->volumes_from[i].read_only, err)) < 0)
        return r;
    }
  return 0;
}

static int
parse_depends_on (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "containerName", NULL }, { "condition", NULL }, { NULL, NULL } };
  cleanup_free char *dp = bjson_path_key (path, "dependsOn");
  json_object *arr;
  int r = opt_array (obj, path, "dependsOn", &arr, err);
  if (r <= 0)
    return r;
  c->n_depends_on = json_object_array_length (arr);
  c->depends_on = xzalloc (c->n_depends_on * sizeof *c->depends_on + 1);
  for (size_t i = 0; i < c->n_depends_on; i++)
    {
      struct taskdef_dependency *d = &c->depends_on[i];
      cleanup_free char *ep = bjson_path_index (dp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *name = NULL, *cond = NULL;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "containerName", true, &name, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "condition", true, &cond, err)) < 0)
        return r;
      d->container = xstrdup (name);
      if (strcmp (cond, "START") == 0)
        d->condition = TASKDEF_DEP_START;
      else if (strcmp (cond, "COMPLETE") == 0)
        d->condition = TASKDEF_DEP_COMPLETE;
      else if (strcmp (cond, "SUCCESS") == 0)
        d->condition = TASKDEF_DEP_SUCCESS;
      else if (strcmp (cond, "HEALTHY") == 0)
        d->condition = TASKDEF_DEP_HEALTHY;
      else
        return bad (err, ep, "condition", "`%s` is not one of START, COMPLETE, SUCCESS, HEALTHY",
                    cond);
    }
  return 0;
}

static int
parse_sysctls (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[] = { { "namespace", NULL }, { "value", NULL }, { NULL, NULL } };
  cleanup_free char *sp = bjson_path_key (path, "systemControls");
  json_object *arr;
  int r = opt_array (obj, path, "systemControls", &arr, err);
  if (r <= 0)
    return r;
  c->n_sysctls = json_object_array_length (arr);
  c->sysctls = xzalloc (c->n_sysctls * sizeof *c->sysctls + 1);
  for (size_t i = 0; i < c->n_sysctls; i++)
    {
      cleanup_free char *ep = bjson_path_index (sp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *name = NULL, *value = NULL;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "namespace", true, &name, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "value", true, &value, err)) < 0)
        return r;
      if (taskdef_sysctl_kind (name) == TASKDEF_SYSCTL_REFUSED)
        return bad (err, ep, "namespace",
                    "`%s` is not a namespaced kernel parameter berth can set per task (allowed: "
                    "net.*, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, "
                    "kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, "
                    "fs.mqueue.*)",
                    name);
      if (strchr (value, '\n') != NULL)
        return bad (err, ep, "value", "contains a newline");
      c->sysctls[i].name = xstrdup (name);
      c->sysctls[i].value = xstrdup (value);
    }
  return 0;
}

static int
parse_port_mappings (struct taskdef_container *c, json_object *obj, const char *path,
                     berth_err *err)
{
  static const struct rule rules[]
      = { { "containerPort", NULL }, { "hostPort", NULL },    { "protocol", NULL },
          { "name", NULL },          { "appProtocol", NULL }, { "containerPortRange", NULL },
          { "hostPortRange", NULL }, { NULL, NULL } };
  cleanup_free char *pp = bjson_path_key (path, "portMappings");
  json_object *arr;
  int r = opt_array (obj, path, "portMappings", &arr, err);
  if (r <= 0)
    return r;
  c->n_ports = json_object_array_length (arr);
  c->ports = xzalloc (c->n_ports * sizeof *c->ports + 1);
  for (size_t i = 0; i < c->n_ports; i++)
    {
      struct taskdef_port_mapping *p = &c->ports[i];
      cleanup_free char *ep = bjson_path_index (pp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *proto = NULL, *range = NULL, *name = NULL, *app = NULL;
      int64_t port = 0, host = 0;
      int rh;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "containerPortRange", false, &range, err)) < 0)
        return r;
      if (range)
        {
          uint32_t a, b;
          const char *dash = strchr (range, '-');
          cleanup_free char *first = dash ? xstrndup (range, (size_t)(dash - range)) : NULL;
          if (field (e, "containerPort") != NULL)
            return bad (err, ep, "containerPortRange",
                        "set containerPort or "
                        "containerPortRange, not both");
          if (dash == NULL || berth_parse_uint32 (first, &a) < 0
              || berth_parse_uint32 (dash + 1, &b) < 0 || a < 1 || b > 65535 || a >= b)
            return bad (err, ep, "containerPortRange",
                        "`%s` is not a range FIRST-LAST of ports 1-65535 with FIRST < LAST", range);
          if (field (e, "hostPort") != NULL || field (e, "hostPortRange") != NULL)
            return bad (err, ep, "hostPort", "cannot be set with containerPortRange");
          p->container_port = (uint16_t)a;
          p->last_port = (uint16_t)b;
        }
      else
        {
          if ((r = opt_int (e, ep, "containerPort", true, 1, 65535, &port, err)) < 0)
            return r;
          p->container_port = p->last_port = (uint16_t)port;
          if (field (e, "hostPortRange") != NULL)
            return bad (err, ep, "hostPortRange", "is set by ECS, not in a task definition");
          if ((rh = opt_int (e, ep, "hostPort", false, 0, 65535, &host, err)) < 0)
            return rh;
          /* awsvpc and host: hostPort is absent or equal to containerPort, as ECS wants. */
          if (rh > 0 && host != port && !(host == 0))
            return bad (err, ep, "hostPort",
                        "%" PRId64 " differs from containerPort %" PRId64
                        ": in awsvpc and host mode the container port is the port (leave "
                        "hostPort out)",
                        host, port);
        }
      if ((r = opt_string (e, ep, "protocol", false, &proto, err)) < 0)
        return r;
      if (proto == NULL || strcmp (proto, "tcp") == 0)
        p->protocol = TASKDEF_PROTO_TCP;
      else if (strcmp (proto, "udp") == 0)
        p->protocol = TASKDEF_PROTO_UDP;
      else
        return bad (err, ep, "protocol", "`%s` is not tcp or udp", proto);
      if ((r = opt_string (e, ep, "name", false, &name, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "appProtocol", false, &app, err)) < 0)
        return r;
      if (app && strcmp (app, "http") != 0 && strcmp (app, "http2") != 0
          && strcmp (app, "grpc") != 0)
        return bad (err, ep, "appProtocol", "`%s` is not http, http2 or grpc", app);
      p->name = name ? xstrdup (name) : NULL;
      p->app_protocol = app ? xstrdup (app) : NULL;
    }
  return 0;
}

static int
parse_log (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "logDriver", NULL },
          { "options", NULL },
          { "secretOptions", "berth does not fetch secrets; log options are plain values" },
          { NULL, NULL } };
  cleanup_free char *lp = bjson_path_key (path, "logConfiguration");
  cleanup_free char *op = bjson_path_key (lp, "options");
  json_object *o, *opts;
  const char *driver = NULL;
  int r = opt_object (obj, path, "logConfiguration", &o, err);
  if (r <= 0)
    return r;
  if ((r = check_rules (o, lp, rules, err)) < 0)
    return r;
  if ((r = opt_string (o, lp, "logDriver", true, &driver, err)) < 0)
    return r;
  if (strcmp (driver, "json-file") != 0)
    return bad (err, lp, "logDriver",
                "`%s` is not supported by berth: use json-file (berth writes each container's "
                "output as JSON lines under LOG_DIR, read with `berth logs`; ship them from "
                "there)",
                driver);
  if ((r = opt_object (o, lp, "options", &opts, err)) < 0)
    return r;
  if (r == 0)
    return 0;
  json_object_object_foreach (opts, k, v)
    {
      const char *s;
      cleanup_free char *kp = bjson_path_key (op, k);
      if (json_object_get_type (v) != json_type_string)
        return berth_err_set (err, 0, "%s: expected a string, got %s", kp,
                              bjson_type_name (json_object_get_type (v)));
      s = json_object_get_string (v);
      if (strcmp (k, "max-size") == 0)
        {
          if (berth_parse_size (s, &c->log.max_size) < 0 || c->log.max_size < 4096)
            return berth_err_set (err, 0,
                                  "%s: `%s` is not a size of at least 4k (such as "
                                  "\"10m\")",
                                  kp, s);
        }
      else if (strcmp (k, "max-file") == 0)
        {
          if (berth_parse_uint32 (s, &c->log.max_files) < 0 || c->log.max_files < 1
              || c->log.max_files > 1000)
            return berth_err_set (err, 0, "%s: `%s` is not a number of files from 1 to 1000", kp,
                                  s);
        }
      else
        return berth_err_set (err, 0,
                              "%s: not supported by berth: the json-file driver "
                              "takes max-size and max-file",
                              kp);
    }
  return 0;
}

static int
parse_restart (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[] = { { "enabled", NULL },
                                       { "ignoredExitCodes", NULL },
                                       { "restartAttemptPeriod", NULL },
                                       { NULL, NULL } };
  struct taskdef_restart_policy *rp = &c->restart;
  cleanup_free char *rpp = bjson_path_key (path, "restartPolicy");
  json_object *o, *codes;
  int64_t v;
  int r = opt_object (obj, path, "restartPolicy", &o, err);
  if (r <= 0)
    return r;
  if ((r = check_rules (o, rpp, rules, err)) < 0)
    return r;
  if (field (o, "enabled") == NULL)
    return missing (rpp, "enabled", err);
  if ((r = opt_bool (o, rpp, "enabled", &rp->enabled, err)) < 0)
    return r;
  rp->present = true;
  rp->attempt_period_s = 300;
  if ((r = opt_array (o, rpp, "ignoredExitCodes", &codes, err)) < 0)
    return r;
  if (r > 0)
    {
      cleanup_free char *ip = bjson_path_key (rpp, "ignoredExitCodes");
      size_t n = json_object_array_length (codes);
      if (n > 50)
        return bad (err, ip, NULL, "at most 50 exit codes");
      rp->ignored_exit_codes = xzalloc (n * sizeof (int32_t) + 1);
      for (size_t i = 0; i < n; i++)
        {
          cleanup_free char *ep = bjson_path_index (ip, i);
          int64_t code;
          if ((r = bjson_value_int64 (json_object_array_get_idx (codes, i), ep, 0, 255, &code, err))
              < 0)
            return r;
          rp->ignored_exit_codes[i] = (int32_t)code;
        }
      rp->n_ignored_exit_codes = n;
    }
  if ((r = opt_int (o, rpp, "restartAttemptPeriod", false, 60, 1800, &v, err)) < 0)
    return r;
  if (r)
    rp->attempt_period_s = (uint32_t)v;
  return 0;
}

static int
parse_extra_hosts (struct taskdef_container *c, json_object *obj, const char *path, berth_err *err)
{
  static const struct rule rules[]
      = { { "hostname", NULL }, { "ipAddress", NULL }, { NULL, NULL } };
  cleanup_free char *hp = bjson_path_key (path, "extraHosts");
  json_object *arr;
  int r = opt_array (obj, path, "extraHosts", &arr, err);
  if (r <= 0)
    return r;
  c->n_extra_hosts = json_object_array_length (arr);
  c->extra_hosts = xzalloc (c->n_extra_hosts * sizeof *c->extra_hosts + 1);
  for (size_t i = 0; i < c->n_extra_hosts; i++)
    {
      cleanup_free char *ep = bjson_path_index (hp, i);
      json_object *e = json_object_array_get_idx (arr, i);
      const char *name = NULL, *addr = NULL;
      if ((r = check_rules (e, ep, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "hostname", true, &name, err)) < 0)
        return r;
      if ((r = opt_string (e, ep, "ipAddress", true, &addr, err)) < 0)
        return r;
      if (*name == '\0' || strlen (name) > 253 || has_space_or_control (name))
        return bad (err, ep, "hostname", "`%s` is not a host name", name);
      if (!is_ip_address (addr))
        return bad (err, ep, "ipAddress", "`%s` is not an IPv4 or IPv6 address", addr);
      c->extra_hosts[i].hostname = xstrdup (name);
      c->extra_hosts[i].address = xstrdup (addr);
    }
  return 0;
}

static const struct rule container_rules[] = {
  { "name", NULL },
  { "image", NULL },
  { "cpu", NULL },
  { "memory", NULL },
  { "memoryReservation", NULL },
  { "portMappings", NULL },
  { "essential", NULL },
  { "restartPolicy", NULL },
  { "entryPoint", NULL },
  { "command", NULL },
  { "environment", NULL },
  { "mountPoints", NULL },
  { "volumesFrom", NULL },
  { "linuxParameters", NULL },
  { "dependsOn", NULL },
  { "startTimeout", NULL },
  { "stopTimeout", NULL },
  { "hostname", NULL },
  { "user", NULL },
  { "workingDirectory", NULL },
  { "disableNetworking", NULL },
  { "privileged", NULL },
  { "readonlyRootFilesystem", NULL },
  { "dnsServers", NULL },
  { "dnsSearchDomains", NULL },
  { "extraHosts", NULL },
  { "dockerSecurityOptions", NULL },
  { "interactive", NULL },
  { "pseudoTerminal", NULL },
  { "dockerLabels", NULL },
  { "ulimits", NULL },
  { "logConfiguration", NULL },
  { "healthCheck", NULL },
  { "systemControls", NULL },
  { "versionConsistency", NULL },
  { "repositoryCredentials",
    "berth reads registry credentials from the host (the image cache's auth file, a docker "
    "config.json); remove repositoryCredentials and log in on the host" },
  { "links", "links need bridge mode; in awsvpc mode the task's containers share one network "
             "namespace and reach each other on localhost" },
  { "environmentFiles", "berth does not fetch environment files from S3; put the variables in "
                        "environment" },
  { "secrets", "berth does not fetch from Secrets Manager or SSM; mount the secret from a host "
               "volume (volumes[].host.sourcePath with readOnly) or use environment" },
  { "resourceRequirements", "berth does not assign GPUs or accelerators; pass a device with "
                            "linuxParameters.devices (allowed by ALLOWED_DEVICES)" },
  { "firelensConfiguration", "berth has no FireLens log router; use the json-file log driver "
                             "and ship the files under LOG_DIR" },
  { "credentialSpecs", "Active Directory credential specs (gMSA) are not supported" },
  { NULL, NULL },
};

static int
parse_container (struct taskdef *td, struct taskdef_container *c, json_object *obj,
                 const char *path, berth_err *err)
{
  const char *s;
  int64_t v;
  int r;

  if ((r = check_rules (obj, path, container_rules, err)) < 0)
    return r;
  if ((r = opt_string (obj, path, "name", true, &s, err)) < 0)
    return r;
  if ((r = check_name (s, path, "name", err)) < 0)
    return r;
  c->name = xstrdup (s);
  if ((r = opt_string (obj, path, "image", true, &s, err)) < 0)
    return r;
  if (*s == '\0' || strlen (s) > 4096 || has_space_or_control (s))
    return bad (err, path, "image", "`%s` is not an image reference", s);
  c->image = xstrdup (s);

  if ((r = opt_int (obj, path, "cpu", false, 0, TASKDEF_MAX_TASK_CPU, &v, err)) < 0)
    return r;
  c->cpu = (uint32_t)(r ? v : 0);
  if ((r = opt_int (obj, path, "memory", false, TASKDEF_MIN_MEMORY_MIB, INT32_MAX, &v, err)) < 0)
    return r;
  c->memory_mib = (uint32_t)(r ? v : 0);
  if ((r = opt_int (obj, path, "memoryReservation", false, TASKDEF_MIN_MEMORY_MIB, INT32_MAX, &v,
                    err))
      < 0)
    return r;
  c->memory_reservation_mib = (uint32_t)(r ? v : 0);
  if (c->memory_mib && c->memory_reservation_mib > c->memory_mib)
    return bad (err, path, "memoryReservation", "%" PRIu32 " MiB is above memory (%" PRIu32 " MiB)",
                c->memory_reservation_mib, c->memory_mib);

  if ((r = parse_port_mappings (c, obj, path, err)) < 0)
    return r;
  c->essential = true;
  if ((r = opt_bool (obj, path, "essential", &c->essential, err)) < 0)
    return r;
  if ((r = parse_restart (c, obj, path, err)) < 0)
    return r;
  if ((r = opt_strv (obj, path, "entryPoint", &c->entry_point, err)) < 0)
    return r;
  if ((r = opt_strv (obj, path, "command", &c->command, err)) < 0)
    return r;
  if ((r = parse_env (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_mount_points (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_volumes_from (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_linux (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_depends_on (c, obj, path, err)) < 0)
    return r;
  if ((r = opt_int (obj, path, "startTimeout", false, 0, TASKDEF_MAX_TIMEOUT_S, &v, err)) < 0)
    return r;
  if (r)
    {
      c->has_start_timeout = true;
      c->start_timeout_s = (uint32_t)v;
    }
  if ((r = opt_int (obj, path, "stopTimeout", false, 0, TASKDEF_MAX_TIMEOUT_S, &v, err)) < 0)
    return r;
  c->has_stop_timeout = r > 0;
  c->stop_timeout_s = r ? (uint32_t)v : TASKDEF_DEFAULT_STOP_TIMEOUT_S;
  if ((r = opt_string (obj, path, "hostname", false, &s, err)) < 0)
    return r;
  if (r)
    {
      if (!is_hostname (s))
        return bad (err, path, "hostname",
                    "`%s` is not a valid host name (RFC 1123, at most "
                    "64 bytes)",
                    s);
      c->hostname = xstrdup (s);
    }
  if ((r = opt_string (obj, path, "user", false, &s, err)) < 0)
    return r;
  if (r)
    {
      const char *colon = strchr (s, ':');
      if (*s == '\0' || colon == s || (colon && (colon[1] == '\0' || strchr (colon + 1, ':')))
          || has_space_or_control (s))
        return bad (err, path, "user", "`%s` is not user, user:group, uid or uid:gid", s);
      c->user = xstrdup (s);
    }
  if ((r = opt_string (obj, path, "workingDirectory", false, &s, err)) < 0)
    return r;
  if (r)
    {
      if ((r = check_abs_path (s, path, "workingDirectory", err)) < 0)
        return r;
      c->working_dir = xstrdup (s);
    }
  if ((r = opt_bool (obj, path, "disableNetworking", &c->disable_networking, err)) < 0)
    return r;
  if ((r = opt_bool (obj, path, "privileged", &c->privileged, err)) < 0)
    return r;
  if ((r = opt_bool (obj, path, "readonlyRootFilesystem", &c->readonly_rootfs, err)) < 0)
    return r;
  if ((r = opt_strv (obj, path, "dnsServers", &c->dns_servers, err)) < 0)
    return r;
  for (size_t i = 0; c->dns_servers && c->dns_servers[i]; i++)
    if (!is_ip_address (c->dns_servers[i]))
      {
        cleanup_free char *kp = bjson_path_key (path, "dnsServers");
        return berth_err_set (err, 0, "%s[%zu]: `%s` is not an IPv4 or IPv6 address", kp, i,
                              c->dns_servers[i]);
      }
  if ((r = opt_strv (obj, path, "dnsSearchDomains", &c->dns_search_domains, err)) < 0)
    return r;
  for (size_t i = 0; c->dns_search_domains && c->dns_search_domains[i]; i++)
    {
      const char *d = c->dns_search_domains[i];
      if (*d == '\0' || strlen (d) > 253 || has_space_or_control (d))
        {
          cleanup_free char *kp = bjson_path_key (path, "dnsSearchDomains");
          return berth_err_set (err, 0, "%s[%zu]: `%s` is not a domain name", kp, i, d);
        }
    }
  if ((r = parse_extra_hosts (c, obj, path, err)) < 0)
    return r;
  {
    cleanup_strv char **opts = NULL;
    if ((r = opt_strv (obj, path, "dockerSecurityOptions", &opts, err)) < 0)
      return r;
    for (size_t i = 0; opts && opts[i]; i++)
      /* berth always sets no_new_privs: asking for it changes nothing. */
      if (strcmp (opts[i], "no-new-privileges") != 0
          && strcmp (opts[i], "no-new-privileges:true") != 0)
        {
          cleanup_free char *kp = bjson_path_key (path, "dockerSecurityOptions");
          return berth_err_set (err, 0,
                                "%s[%zu]: `%s` is not supported by berth: only "
                                "no-new-privileges (always on); SELinux/AppArmor labels and "
                                "credential specs are not applied",
                                kp, i, opts[i]);
        }
  }
  if ((r = opt_bool (obj, path, "interactive", &c->interactive, err)) < 0)
    return r;
  if ((r = opt_bool (obj, path, "pseudoTerminal", &c->pseudo_terminal, err)) < 0)
    return r;
  if (field (obj, "dockerLabels") != NULL
      && (r = bjson_get_string_map (obj, path, "dockerLabels", 0, &c->labels, err)) < 0)
    return r;
  for (size_t i = 0; c->labels && c->labels[i]; i++)
    {
      /* Stored as "key=value": a key with '=' (or an empty one) would be split wrongly. */
      size_t klen = strcspn (c->labels[i], "=");
      const char *value = c->labels[i] + klen + 1;
      cleanup_free char *key = xstrndup (c->labels[i], klen);
      json_object *jl = json_object_object_get (obj, "dockerLabels"), *jv = NULL;
      if (klen == 0 || !json_object_object_get_ex (jl, key, &jv)
          || strcmp (json_object_get_string (jv), value) != 0
          || strlen (json_object_get_string (jv)) != (size_t)json_object_get_string_len (jv))
        {
          cleanup_free char *kp = bjson_path_key (path, "dockerLabels");
          return berth_err_set (err, 0,
                                "%s: label `%s` has an empty key, a '=' in its key or "
                                "a NUL in its value",
                                kp, c->labels[i]);
        }
    }
  if ((r = parse_ulimits (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_log (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_health (c, obj, path, err)) < 0)
    return r;
  if ((r = parse_sysctls (c, obj, path, err)) < 0)
    return r;
  if ((r = opt_string (obj, path, "versionConsistency", false, &s, err)) < 0)
    return r;
  if (r && strcmp (s, "enabled") != 0 && strcmp (s, "disabled") != 0)
    return bad (err, path, "versionConsistency", "`%s` is not enabled or disabled", s);
  (void)td;
  return 0;
}

/* ------------------------------------------------------------------ task level */

static const struct rule task_rules[] = {
  { "family", NULL },
  { "containerDefinitions", NULL },
  { "networkMode", NULL },
  { "cpu", NULL },
  { "memory", NULL },
  { "pidMode", NULL },
  { "ipcMode", NULL },
  { "volumes", NULL },
  { TASKDEF_BERTH_KEY, NULL },
  /* AWS-only, kept: they change nothing on a node. */
  { "taskRoleArn", NULL },
  { "executionRoleArn", NULL },
  { "requiresCompatibilities", NULL },
  { "tags", NULL },
  { "placementConstraints", NULL },
  { "runtimePlatform", NULL },
  { "ephemeralStorage", NULL },
  { "enableFaultInjection", NULL },
  /* Output of DescribeTaskDefinition, so its taskDefinition object can be used as is. */
  { "taskDefinitionArn", NULL },
  { "revision", NULL },
  { "status", NULL },
  { "requiresAttributes", NULL },
  { "compatibilities", NULL },
  { "registeredAt", NULL },
  { "registeredBy", NULL },
  { "deregisteredAt", NULL },
  { "proxyConfiguration", "App Mesh proxies are not supported by berth" },
  { "inferenceAccelerators", "Elastic Inference accelerators are not supported by berth" },
  { NULL, NULL },
};

static int
parse_volumes (struct taskdef *td, json_object *doc, berth_err *err)
{
  static const struct rule rules[] = {
    { "name", NULL },
    { "host", NULL },
    { "configuredAtLaunch", NULL },
    { "dockerVolumeConfiguration",
      "Docker volume drivers are not supported; use a volume with no configuration (a "
      "task-scoped empty directory) or host.sourcePath (allowed by ALLOWED_HOST_PATHS)" },
    { "efsVolumeConfiguration", "mount the file system on the host and use host.sourcePath" },
    { "fsxWindowsFileServerVolumeConfiguration", "Windows file servers are not supported" },
    { "s3filesVolumeConfiguration", "mount the file system on the host and use host.sourcePath" },
    { NULL, NULL },
  };
  static const struct rule host_rules[] = { { "sourcePath", NULL }, { NULL, NULL } };
  json_object *arr;
  int r = opt_array (doc, "", "volumes", &arr, err);
  if (r <= 0)
    return r;
  td->n_volumes = json_object_array_length (arr);
  td->volumes = xzalloc (td->n_volumes * sizeof *td->volumes + 1);
  for (size_t i = 0; i < td->n_volumes; i++)
    {
      struct taskdef_volume *v = &td->volumes[i];
      cleanup_free char *vp = bjson_path_index ("volumes", i);
      json_object *e = json_object_array_get_idx (arr, i), *host;
      const char *name = NULL, *src = NULL;
      bool at_launch = false;
      if ((r = check_rules (e, vp, rules, err)) < 0)
        return r;
      if ((r = opt_string (e, vp, "name", true, &name, err)) < 0)
        return r;
      if ((r = check_name (name, vp, "name", err)) < 0)
        return r;
      for (size_t j = 0; j < i; j++)
        if (strcmp (td->volumes[j].name, name) == 0)
          return bad (err, vp, "name", "`%s` is used by volumes[%zu] too", name, j);
      v->name = xstrdup (name);
      if ((r = opt_bool (e, vp, "configuredAtLaunch", &at_launch, err)) < 0)
        return r;
      if (at_launch)
        return bad (err, vp, "configuredAtLaunch",
                    "not supported by berth: EBS volumes attached at launch need AWS");
      if ((r = opt_object (e, vp, "host", &host, err)) < 0)
        return r;
      if (r > 0)
        {
          cleanup_free char *hp = bjson_path_key (vp, "host");
          if ((r = check_rules (host, hp, host_rules, err)) < 0)
            return r;
          if ((r = opt_string (host, hp, "sourcePath", false, &src, err)) < 0)
            return r;
          /* An empty sourcePath is how ECS writes "let the agent pick a path". */
          if (src && *src)
            {
              if ((r = check_abs_path (src, hp, "sourcePath", err)) < 0)
                return r;
              v->host_source_path = xstrdup (src);
            }
        }
    }
  return 0;
}

static int
parse_pull_policy (json_object *o, const char *path, enum taskdef_pull_policy *ret, berth_err *err)
{
  const char *s = NULL;
  int r = opt_string (o, path, "pullPolicy", false, &s, err);
  if (r <= 0)
    return r;
  if (strcmp (s, "always") == 0)
    *ret = TASKDEF_PULL_ALWAYS;
  else if (strcmp (s, "if-not-present") == 0)
    *ret = TASKDEF_PULL_IF_NOT_PRESENT;
  else if (strcmp (s, "never") == 0)
    *ret = TASKDEF_PULL_NEVER;
  else
    return bad (err, path, "pullPolicy", "`%s` is not always, if-not-present or never", s);
  return 1;
}

static int
parse_berth (struct taskdef *td, json_object *doc, berth_err *err)
{
  static const struct rule rules[] = { { "hostname", NULL },
                                       { "pullPolicy", NULL },
                                       { "reachTasks", NULL },
                                       { "containers", NULL },
                                       { NULL, NULL } };
  static const struct rule crules[]
      = { { "stopSignal", NULL }, { "ebpfSidecar", NULL }, { "pullPolicy", NULL }, { NULL, NULL } };
  json_object *o, *cs;
  const char *s;
  int r = opt_object (doc, "", TASKDEF_BERTH_KEY, &o, err);
  if (r <= 0)
    return r;
  if ((r = check_rules (o, TASKDEF_BERTH_KEY, rules, err)) < 0)
    return r;
  if ((r = opt_string (o, TASKDEF_BERTH_KEY, "hostname", false, &s, err)) < 0)
    return r;
  if (r)
    {
      if (!is_hostname (s))
        return bad (err, TASKDEF_BERTH_KEY, "hostname",
                    "`%s` is not a valid host name (RFC 1123, at most 64 bytes)", s);
      td->hostname = xstrdup (s);
    }
  if ((r = parse_pull_policy (o, TASKDEF_BERTH_KEY, &td->pull_policy, err)) < 0)
    return r;
  if ((r = opt_bool (o, TASKDEF_BERTH_KEY, "reachTasks", &td->reach_tasks, err)) < 0)
    return r;
  if (td->reach_tasks && td->network_mode != TASKDEF_NETWORK_AWSVPC)
    return bad (
        err, TASKDEF_BERTH_KEY, "reachTasks",
        "only for networkMode awsvpc: a task in networkMode %s has no address of its own to "
        "reach other tasks from",
        td->network_mode == TASKDEF_NETWORK_HOST ? "host" : "none");
  if ((r = opt_object (o, TASKDEF_BERTH_KEY, "containers", &cs, err)) < 0)
    return r;
  if (r == 0)
    return 0;
  json_object_object_foreach (cs, name, co)
    {
      cleanup_free char *cp = xasprintf (TASKDEF_BERTH_KEY ".containers.%s", name);
      size_t idx;
      struct taskdef_container *c;
      if (taskdef_container_find (td, name, &idx) == NULL)
        return berth_err_set (err, 0, "%s: no container `%s` in containerDefinitions", cp, name);
      c = &td->containers[idx];
      if ((r = check_rules (co, cp, crules, err)) < 0)
        return r;
      if ((r = opt_string (co, cp, "stopSignal", false, &s, err)) < 0)
        return r;
      if (r)
        {
          int sig;
          if (taskdef_parse_signal (s, &sig) < 0)
            return bad (err, cp, "stopSignal", "`%s` is not a signal (SIGTERM, TERM or 15)", s);
          c->stop_signal = xstrdup (s);
        }
      if ((r = opt_bool (co, cp, "ebpfSidecar", &c->ebpf_sidecar, err)) < 0)
        return r;
      if ((r = parse_pull_policy (co, cp, &c->pull_policy, err)) < 0)
        return r;
    }
  return 0;
}

static int
parse_aws_kept (json_object *doc, berth_err *err)
{
  static const char *const compat[] = { "EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES", NULL };
  static const struct rule tag_rules[] = { { "key", NULL }, { "value", NULL }, { NULL, NULL } };
  static const struct rule pc_rules[]
      = { { "type", NULL }, { "expression", NULL }, { NULL, NULL } };
  static const struct rule rp_rules[]
      = { { "cpuArchitecture", NULL }, { "operatingSystemFamily", NULL }, { NULL, NULL } };
  static const struct rule es_rules[] = { { "sizeInGiB", NULL }, { NULL, NULL } };
  cleanup_strv char **v = NULL;
  json_object *arr, *o;
  const char *s;
  bool b = false;
  int64_t n;
  int r;

  if ((r = opt_string (doc, "", "taskRoleArn", false, &s, err)) < 0)
    return r;
  if ((r = opt_string (doc, "", "executionRoleArn", false, &s, err)) < 0)
    return r;
  if ((r = opt_strv (doc, "", "requiresCompatibilities", &v, err)) < 0)
    return r;
  for (size_t i = 0; v && v[i]; i++)
    if (!in_list (compat, v[i]))
      return berth_err_set (err, 0,
                            "requiresCompatibilities[%zu]: `%s` is not EC2, FARGATE, "
                            "EXTERNAL or MANAGED_INSTANCES",
                            i, v[i]);
  if ((r = opt_array (doc, "", "tags", &arr, err)) < 0)
    return r;
  for (size_t i = 0; r > 0 && i < json_object_array_length (arr); i++)
    {
      cleanup_free char *p = bjson_path_index ("tags", i);
      json_object *t = json_object_array_get_idx (arr, i);
      int q;
      if ((q = check_rules (t, p, tag_rules, err)) < 0)
        return q;
      if ((q = opt_string (t, p, "key", false, &s, err)) < 0
          || (q = opt_string (t, p, "value", false, &s, err)) < 0)
        return q;
    }
  if ((r = opt_array (doc, "", "placementConstraints", &arr, err)) < 0)
    return r;
  for (size_t i = 0; r > 0 && i < json_object_array_length (arr); i++)
    {
      cleanup_free char *p = bjson_path_index ("placementConstraints", i);
      json_object *t = json_object_array_get_idx (arr, i);
      int q;
      if ((q = check_rules (t, p, pc_rules, err)) < 0)
        return q;
      if ((q = opt_string (t, p, "type", false, &s, err)) < 0
          || (q = opt_string (t, p, "expression", false, &s, err)) < 0)
        return q;
    }
  if ((r = opt_object (doc, "", "runtimePlatform", &o, err)) < 0)
    return r;
  if (r > 0)
    {
      if ((r = check_rules (o, "runtimePlatform", rp_rules, err)) < 0)
        return r;
      if ((r = opt_string (o, "runtimePlatform", "cpuArchitecture", false, &s, err)) < 0)
        return r;
      if (r && strcmp (s, TASKDEF_HOST_ARCH) != 0)
        return berth_err_set (err, 0,
                              "runtimePlatform.cpuArchitecture: `%s` does not match "
                              "this host (%s)",
                              s, TASKDEF_HOST_ARCH);
      if ((r = opt_string (o, "runtimePlatform", "operatingSystemFamily", false, &s, err)) < 0)
        return r;
      if (r && strcmp (s, "LINUX") != 0)
        return berth_err_set (err, 0,
                              "runtimePlatform.operatingSystemFamily: `%s` does not "
                              "match this host (LINUX)",
                              s);
    }
  if ((r = opt_object (doc, "", "ephemeralStorage", &o, err)) < 0)
    return r;
  if (r > 0)
    {
      if ((r = check_rules (o, "ephemeralStorage", es_rules, err)) < 0)
        return r;
      if ((r = opt_int (o, "ephemeralStorage", "sizeInGiB", true, 21, 200, &n, err)) < 0)
        return r;
    }
  if ((r = opt_bool (doc, "", "enableFaultInjection", &b, err)) < 0)
    return r;
  if (b)
    return berth_err_set (err, 0,
                          "enableFaultInjection: not supported by berth: there are no "
                          "fault injection endpoints (set it to false)");
  return 0;
}

static int
parse_ns_mode (json_object *doc, const char *key, bool allow_none, enum taskdef_ns_mode *ret,
               berth_err *err)
{
  const char *s = NULL;
  int r = opt_string (doc, "", key, false, &s, err);
  if (r <= 0)
    return r;
  if (strcmp (s, "task") == 0)
    *ret = TASKDEF_NS_TASK;
  else if (strcmp (s, "host") == 0)
    *ret = TASKDEF_NS_HOST;
  else if (allow_none && strcmp (s, "none") == 0)
    *ret = TASKDEF_NS_NONE;
  else
    return berth_err_set (err, 0, "%s: `%s` is not %s", key, s,
                          allow_none ? "host, task or none" : "host or task");
  return 1;
}

/* ------------------------------------------------------------------ cross-checks */

static int
check_dependencies (struct taskdef *td, berth_err *err)
{
  for (size_t i = 0; i < td->n_containers; i++)
    {
      struct taskdef_container *c = &td->containers[i];
      for (size_t j = 0; j < c->n_depends_on; j++)
        {
          struct taskdef_dependency *d = &c->depends_on[j];
          cleanup_free char *p = xasprintf ("containerDefinitions[%zu].dependsOn[%zu]", i, j);
          const struct taskdef_container *t = taskdef_container_find (td, d->container, &d->index);
          if (t == NULL)
            return bad (err, p, "containerName", "no container `%s` in the task", d->container);
          if (d->index == i)
            return bad (err, p, "containerName", "a container cannot depend on itself");
          for (size_t k = 0; k < j; k++)
            if (c->depends_on[k].index == d->index)
              return bad (err, p, "containerName", "`%s` is listed twice", d->container);
          if ((d->condition == TASKDEF_DEP_COMPLETE || d->condition == TASKDEF_DEP_SUCCESS)
              && t->essential)
            return bad (err, p, "condition",
                        "%s cannot be used on `%s`: it is essential (its exit stops the task)",
                        taskdef_dep_condition_name (d->condition), t->name);
          if (d->condition == TASKDEF_DEP_HEALTHY && !t->health.present)
            return bad (err, p, "condition", "HEALTHY needs a healthCheck on `%s`", t->name);
        }
      for (size_t j = 0; j < c->n_volumes_from; j++)
        {
          struct taskdef_volume_from *vf = &c->volumes_from[j];
          cleanup_free char *p = xasprintf ("containerDefinitions[%zu].volumesFrom[%zu]", i, j);
          if (taskdef_container_find (td, vf->source_container, &vf->index) == NULL)
            return bad (err, p, "sourceContainer", "no container `%s` in the task",
                        vf->source_container);
          if (vf->index == i)
            return bad (err, p, "sourceContainer", "a container cannot take its own volumes");
        }
    }
  /* A cycle leaves containers that never become ready to start. */
  {
    cleanup_free size_t *order = xzalloc ((td->n_containers + 1) * sizeof (size_t));
    size_t n = taskdef_start_order_partial (td, order);
    if (n < td->n_containers)
      {
        cleanup_free bool *placed = xzalloc (td->n_containers + 1);
        for (size_t k = 0; k < n; k++)
          placed[order[k]] = true;
        for (size_t k = 0; k < td->n_containers; k++)
          if (!placed[k])
            return berth_err_set (err, 0,
                                  "containerDefinitions[%zu].dependsOn: `%s` is in a dependency "
                                  "cycle",
                                  k, td->containers[k].name);
      }
  }
  return 0;
}

static bool
ns_shared_for (const struct taskdef *td, const struct taskdef_container *c,
               enum taskdef_sysctl_kind kind)
{
  if (kind == TASKDEF_SYSCTL_NET)
    return td->network_mode != TASKDEF_NETWORK_HOST && !c->disable_networking;
  return td->ipc_mode == TASKDEF_NS_TASK;
}

static int
check_containers (struct taskdef *td, berth_err *err)
{
  uint64_t cpu = 0, mem = 0;
  bool essential = false;

  for (size_t i = 0; i < td->n_containers; i++)
    {
      struct taskdef_container *c = &td->containers[i];
      cleanup_free char *p = bjson_path_index ("containerDefinitions", i);
      for (size_t j = 0; j < i; j++)
        if (strcmp (td->containers[j].name, c->name) == 0)
          return bad (err, p, "name", "`%s` is used by containerDefinitions[%zu] too", c->name, j);
      essential |= c->essential;
      cpu += c->cpu;
      mem += c->memory_reservation_mib ? c->memory_reservation_mib : c->memory_mib;
      if (td->memory_mib == 0 && c->memory_mib == 0 && c->memory_reservation_mib == 0)
        return bad (err, p, NULL, "set memory or memoryReservation (the task has no memory)");
      if (td->memory_mib && c->memory_mib > td->memory_mib)
        return bad (err, p, "memory",
                    "%" PRIu32 " MiB is above the task's memory (%" PRIu32 " MiB)", c->memory_mib,
                    td->memory_mib);
      if (c->has_max_swap && c->memory_mib == 0)
        return bad (err, p, "linuxParameters.maxSwap",
                    "needs memory: the swap limit is memory plus maxSwap");

      for (size_t j = 0; j < c->n_mount_points; j++)
        {
          struct taskdef_mount_point *m = &c->mount_points[j];
          cleanup_free char *mp = xasprintf ("%s.mountPoints[%zu]", p, j);
          size_t k;
          for (k = 0; k < td->n_volumes; k++)
            if (strcmp (td->volumes[k].name, m->source_volume) == 0)
              break;
          if (k == td->n_volumes)
            return bad (err, mp, "sourceVolume", "no volume `%s` in volumes", m->source_volume);
          m->volume = k;
        }
      /* Two mounts at one path: the later would hide the earlier. */
      for (size_t j = 0; j < c->n_mount_points + c->n_tmpfs; j++)
        for (size_t k = 0; k < j; k++)
          {
            const char *a = j < c->n_mount_points ? c->mount_points[j].container_path
                                                  : c->tmpfs[j - c->n_mount_points].container_path;
            const char *b = k < c->n_mount_points ? c->mount_points[k].container_path
                                                  : c->tmpfs[k - c->n_mount_points].container_path;
            if (strcmp (a, b) == 0)
              return bad (err, p, NULL, "two mounts at `%s` (mountPoints or linuxParameters.tmpfs)",
                          a);
          }

      if (td->network_mode == TASKDEF_NETWORK_NONE && c->n_ports > 0)
        return bad (err, p, "portMappings", "networkMode none has no ports to map");
      /* The task's containers share one network namespace: a port is one container's. */
      for (size_t j = 0; j < c->n_ports && td->network_mode != TASKDEF_NETWORK_NONE; j++)
        for (size_t k = 0; k <= i; k++)
          {
            const struct taskdef_container *o = &td->containers[k];
            for (size_t l = 0; l < (k == i ? j : o->n_ports); l++)
              {
                const struct taskdef_port_mapping *a = &c->ports[j], *b = &o->ports[l];
                if (a->protocol == b->protocol && a->container_port <= b->last_port
                    && b->container_port <= a->last_port && !c->disable_networking
                    && !o->disable_networking)
                  return berth_err_set (err, 0,
                                        "%s.portMappings[%zu]: port %u/%s is also "
                                        "mapped by containerDefinitions[%zu]"
                                        ".portMappings[%zu]",
                                        p, j, a->container_port,
                                        a->protocol == TASKDEF_PROTO_TCP ? "tcp" : "udp", k, l);
              }
          }

      for (size_t j = 0; j < c->n_sysctls; j++)
        {
          struct taskdef_sysctl *s = &c->sysctls[j];
          enum taskdef_sysctl_kind kind = taskdef_sysctl_kind (s->name);
          cleanup_free char *sp = xasprintf ("%s.systemControls[%zu]", p, j);
          if (kind == TASKDEF_SYSCTL_NET
              && (td->network_mode == TASKDEF_NETWORK_HOST && !c->disable_networking))
            return bad (err, sp, "namespace",
                        "`%s` would change the host's network stack (networkMode host)", s->name);
          if (kind == TASKDEF_SYSCTL_IPC && td->ipc_mode == TASKDEF_NS_HOST)
            return bad (err, sp, "namespace",
                        "`%s` would change the host's IPC namespace "
                        "(ipcMode host)",
                        s->name);
          for (size_t k = 0; k < j; k++)
            if (strcmp (c->sysctls[k].name, s->name) == 0)
              return bad (err, sp, "namespace", "`%s` is set twice", s->name);
          if (!ns_shared_for (td, c, kind))
            continue;
          /* A namespace shared by the task's containers holds one value. */
          for (size_t k = 0; k < i; k++)
            {
              const struct taskdef_container *o = &td->containers[k];
              if (!ns_shared_for (td, o, kind))
                continue;
              for (size_t l = 0; l < o->n_sysctls; l++)
                if (strcmp (o->sysctls[l].name, s->name) == 0
                    && strcmp (o->sysctls[l].value, s->value) != 0)
                  return bad (err, sp, "value",
                              "`%s` conflicts with containerDefinitions[%zu].systemControls[%zu]"
                              " (`%s`): the containers share one namespace",
                              s->value, k, l, o->sysctls[l].value);
            }
        }
    }
  if (!essential)
    return berth_err_set (err, 0,
                          "containerDefinitions: at least one container must be "
                          "essential");
  if (td->cpu && cpu > td->cpu)
    return berth_err_set (err, 0,
                          "containerDefinitions: the containers' cpu (%" PRIu64
                          " units) is above the task's cpu (%" PRIu32 ")",
                          cpu, td->cpu);
  if (td->memory_mib && mem > td->memory_mib)
    return berth_err_set (err, 0,
                          "containerDefinitions: the containers' memory (%" PRIu64
                          " MiB) is above the task's memory (%" PRIu32 " MiB)",
                          mem, td->memory_mib);
  return 0;
}

/* ------------------------------------------------------------------ entry points */

int
taskdef_parse_json (json_object *doc, struct taskdef **ret, berth_err *err)
{
  cleanup_taskdef struct taskdef *td = xzalloc (sizeof *td);
  json_object *arr;
  const char *s;
  uint64_t q;
  size_t n;
  int r;

  td->json = json_object_get (doc);
  if ((r = check_rules (doc, "", task_rules, err)) < 0)
    return r;
  if ((r = opt_string (doc, "", "family", true, &s, err)) < 0)
    return r;
  if ((r = check_name (s, "family", NULL, err)) < 0)
    return r;
  td->family = xstrdup (s);

  if ((r = opt_string (doc, "", "networkMode", false, &s, err)) < 0)
    return r;
  td->network_mode = TASKDEF_NETWORK_AWSVPC;
  if (r)
    {
      if (strcmp (s, "awsvpc") == 0)
        td->network_mode = TASKDEF_NETWORK_AWSVPC;
      else if (strcmp (s, "host") == 0)
        td->network_mode = TASKDEF_NETWORK_HOST;
      else if (strcmp (s, "none") == 0)
        td->network_mode = TASKDEF_NETWORK_NONE;
      else if (strcmp (s, "bridge") == 0)
        return berth_err_set (err, 0,
                              "networkMode: bridge is not supported by berth: use "
                              "awsvpc (the default), which gives the task its own IP "
                              "address; containers reach each other on localhost");
      else
        return berth_err_set (err, 0, "networkMode: `%s` is not awsvpc, host or none", s);
    }
  if ((r = parse_ns_mode (doc, "pidMode", false, &td->pid_mode, err)) < 0)
    return r;
  if ((r = parse_ns_mode (doc, "ipcMode", true, &td->ipc_mode, err)) < 0)
    return r;

  if ((r = task_quantity (doc, "cpu", "vcpu", 1024, &q, err)) < 0)
    return r;
  if (r)
    {
      if (q < TASKDEF_MIN_TASK_CPU || q > TASKDEF_MAX_TASK_CPU)
        return berth_err_set (err, 0, "cpu: %" PRIu64 " CPU units is out of range [%d, %d]", q,
                              TASKDEF_MIN_TASK_CPU, TASKDEF_MAX_TASK_CPU);
      td->cpu = (uint32_t)q;
    }
  if ((r = task_quantity (doc, "memory", "gb", 1024, &q, err)) < 0)
    return r;
  if (r)
    {
      if (q < TASKDEF_MIN_MEMORY_MIB || q > INT32_MAX)
        return berth_err_set (err, 0, "memory: %" PRIu64 " MiB is out of range [%d, %d]", q,
                              TASKDEF_MIN_MEMORY_MIB, INT32_MAX);
      td->memory_mib = (uint32_t)q;
    }

  if ((r = parse_aws_kept (doc, err)) < 0)
    return r;
  if ((r = parse_volumes (td, doc, err)) < 0)
    return r;

  if (field (doc, "containerDefinitions") == NULL)
    return missing ("", "containerDefinitions", err);
  if ((r = bjson_get (doc, "", "containerDefinitions", json_type_array, 0, &arr, err)) < 0)
    return r;
  n = json_object_array_length (arr);
  if (n == 0)
    return berth_err_set (err, 0, "containerDefinitions: needs at least one container");
  if (n > TASKDEF_MAX_CONTAINERS)
    return berth_err_set (err, 0, "containerDefinitions: %zu containers, at most %d", n,
                          TASKDEF_MAX_CONTAINERS);
  td->n_containers = n;
  td->containers = xzalloc (td->n_containers * sizeof *td->containers);
  for (size_t i = 0; i < td->n_containers; i++)
    {
      cleanup_free char *p = bjson_path_index ("containerDefinitions", i);
      if ((r = parse_container (td, &td->containers[i], json_object_array_get_idx (arr, i), p, err))
          < 0)
        return r;
    }
  if ((r = check_containers (td, err)) < 0)
    return r;
  if ((r = check_dependencies (td, err)) < 0)
    return r;
  if ((r = parse_berth (td, doc, err)) < 0)
    return r;
  *ret = steal_pointer (&td);
  return 0;
}

int
taskdef_parse (const char *text, size_t len, struct taskdef **ret, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  int r;

  if (len > TASKDEF_MAX_DOCUMENT)
    return berth_err_set (err, EFBIG, "task definition: larger than %d bytes",
                          TASKDEF_MAX_DOCUMENT);
  r = bjson_parse (text, len, "task definition", &doc, err);
  if (r < 0)
    return r;
  if (json_object_get_type (doc) != json_type_object)
    return berth_err_set (err, 0, "task definition: expected an object, got %s",
                          bjson_type_name (json_object_get_type (doc)));
  return taskdef_parse_json (doc, ret, err);
}
