/* config.json: parses and validates a whole OCI runtime-spec 1.x document into struct
 * rt_config. Every error names the JSON path of the value at fault. Unknown properties are
 * ignored (the spec requires it); known values berth cannot honour are errors. */
#include "runtime/internal.h"

#include <linux/ioprio.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <time.h>

/* A config.json larger than this is refused rather than parsed (runc has no bound; 4 MiB is
 * far above any real one, annotations included). */
#define CONFIG_MAX_LEN (4u << 20)

const char *const rt_hook_names[RT_HOOK_NKINDS] = {
  "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

const struct rt_ns_info rt_ns_info[RT_NS_NKINDS] = {
  [RT_NS_USER] = { "user", "user", CLONE_NEWUSER },
  [RT_NS_PID] = { "pid", "pid", CLONE_NEWPID },
  [RT_NS_NET] = { "network", "net", CLONE_NEWNET },
  [RT_NS_IPC] = { "ipc", "ipc", CLONE_NEWIPC },
  [RT_NS_UTS] = { "uts", "uts", CLONE_NEWUTS },
  [RT_NS_CGROUP] = { "cgroup", "cgroup", CLONE_NEWCGROUP },
  [RT_NS_MOUNT] = { "mount", "mnt", CLONE_NEWNS },
  [RT_NS_TIME] = { "time", "time", CLONE_NEWTIME },
};

static const struct
{
  const char *name;
  int resource;
} rlimit_names[] = {
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_STACK", RLIMIT_STACK },
};

/* ------------------------------------------------------------------ small helpers */

static int path_error (berth_err *err, const char *parent, const char *key, const char *fmt, ...)
    BERTH_PRINTF (4, 5);

static int
path_error (berth_err *err, const char *parent, const char *key, const char *fmt, ...)
{
  cleanup_free char *p = key ? bjson_path_key (parent, key) : xstrdup (parent);
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return berth_err_set (err, 0, "%s: %s", p, msg);
}

static char *
xstrdup_opt (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

/* SELinux labels can only be applied by an SELinux-aware runtime; berth is not one. On a
 * host without SELinux there is no policy that a label could take part in, so the label
 * has no meaning and is accepted (as runc and crun do); on an SELinux host it is refused. */
static int
check_selinux_label (const char *label, const char *path, const char *key, berth_err *err)
{
  struct stat st;
  if (label == NULL || *label == '\0')
    return 0;
  if (stat ("/sys/fs/selinux/enforce", &st) == 0)
    return path_error (err, path, key,
                       "SELinux labels are not supported by berth, and SELinux is enabled on "
                       "this host");
  return 0;
}

/* ------------------------------------------------------------------ process */

int
rt_cap_from_name (const char *name, const char *path, int *ret, berth_err *err)
{
  cap_value_t v;

  /* libcap also takes numbers and lower case; OCI names are "CAP_" + upper case. */
  if (!str_has_prefix (name, "CAP_") || name[4] == '\0')
    return berth_err_set (err, 0, "%s: `%s` is not a capability name", path, name);
  for (const char *p = name + 4; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || *p == '_'))
      return berth_err_set (err, 0, "%s: `%s` is not a capability name", path, name);
  if (cap_from_name (name, &v) < 0 || v < 0 || v > 63)
    return berth_err_set (err, 0, "%s: unknown capability `%s`", path, name);
  *ret = (int)v;
  return 0;
}

static int
parse_cap_set (json_object *caps, const char *path, const char *key, uint64_t *ret, berth_err *err)
{
  cleanup_strv char **names = NULL;
  cleanup_free char *kp = bjson_path_key (path, key);
  uint64_t set = 0;
  int r;

  r = bjson_get_strv (caps, path, key, 0, &names, err);
  if (r <= 0)
    {
      *ret = 0;
      return r;
    }
  for (size_t i = 0; names[i]; i++)
    {
      cleanup_free char *ip = bjson_path_index (kp, i);
      int cap;
      r = rt_cap_from_name (names[i], ip, &cap, err);
      if (r < 0)
        return r;
      set |= UINT64_C (1) << cap;
    }
  *ret = set;
  return 0;
}

static int
parse_rlimits (json_object *process, const char *path, struct rt_process *p, berth_err *err)
{
  json_object *arr;
  cleanup_free char *ap = bjson_path_key (path, "rlimits");
  int r = bjson_get (process, path, "rlimits", json_type_array, 0, &arr, err);
  if (r <= 0)
    return r;
  p->n_rlimits = json_object_array_length (arr);
  p->rlimits = xzalloc ((p->n_rlimits + 1) * sizeof (struct rt_rlimit));
  for (size_t i = 0; i < p->n_rlimits; i++)
    {
      json_object *o = json_object_array_get_idx (arr, i);
      cleanup_free char *ip = bjson_path_index (ap, i);
      struct rt_rlimit *rl = &p->rlimits[i];
      const char *type;
      bool found = false;

      r = bjson_expect (o, ip, json_type_object, err);
      if (r < 0)
        return r;
      r = bjson_get_string (o, ip, "type", BJSON_REQUIRED, &type, err);
      if (r < 0)
        return r;
      for (size_t k = 0; k < ARRAY_SIZE (rlimit_names); k++)
        if (strcmp (rlimit_names[k].name, type) == 0)
          {
            rl->name = rlimit_names[k].name;
            rl->resource = rlimit_names[k].resource;
            found = true;
          }
      if (!found)
        return path_error (err, ip, "type", "unknown rlimit `%s`", type);
      for (size_t k = 0; k < i; k++)
        if (p->rlimits[k].resource == rl->resource)
          return path_error (err, ip, "type", "%s is set twice", type);
      r = bjson_get_uint64 (o, ip, "soft", BJSON_REQUIRED, UINT64_MAX, &rl->soft, err);
      if (r < 0)
        return r;
      r = bjson_get_uint64 (o, ip, "hard", BJSON_REQUIRED, UINT64_MAX, &rl->hard, err);
      if (r < 0)
        return r;
      if (rl->soft > rl->hard)
        return path_error (err, ip, "soft", "%" PRIu64 " is above the hard limit %" PRIu64,
                           rl->soft, rl->hard);
    }
  return 0;
}

static int
parse_user (json_object *process, const char *path, struct rt_user *u, berth_err *err)
{
  json_object *user, *gids;
  cleanup_free char *up = bjson_path_key (path, "user");
  cleanup_free char *gp = NULL;
  uint32_t v;
  int r;

  r = bjson_get (process, path, "user", json_type_object, BJSON_REQUIRED, &user, err);
  if (r < 0)
    return r;
  r = bjson_get_uint32 (user, up, "uid", BJSON_REQUIRED, &v, err);
  if (r < 0)
    return r;
  u->uid = v;
  r = bjson_get_uint32 (user, up, "gid", BJSON_REQUIRED, &v, err);
  if (r < 0)
    return r;
  u->gid = v;
  r = bjson_get_uint32 (user, up, "umask", 0, &v, err);
  if (r < 0)
    return r;
  if (r > 0)
    {
      if (v > 0777)
        return path_error (err, up, "umask", "%" PRIu32 " is not a file mode mask", v);
      u->has_umask = true;
      u->umask = v;
    }
  r = bjson_get (user, up, "additionalGids", json_type_array, 0, &gids, err);
  if (r <= 0)
    return r;
  gp = bjson_path_key (up, "additionalGids");
  u->n_gids = json_object_array_length (gids);
  if (u->n_gids > 65536)
    return path_error (err, gp, NULL, "more than 65536 groups");
  u->gids = xzalloc ((u->n_gids + 1) * sizeof (gid_t));
  for (size_t i = 0; i < u->n_gids; i++)
    {
      cleanup_free char *ip = bjson_path_index (gp, i);
      uint64_t g;
      r = bjson_value_uint64 (json_object_array_get_idx (gids, i), ip, UINT32_MAX, &g, err);
      if (r < 0)
        return r;
      u->gids[i] = (gid_t)g;
    }
  return 0;
}

static int
parse_scheduler (json_object *process, const char *path, struct rt_process *p, berth_err *err)
{
  static const struct
  {
    const char *name;
    uint32_t policy;
  } policies[] = {
    { "SCHED_OTHER", SCHED_OTHER }, { "SCHED_FIFO", SCHED_FIFO }, { "SCHED_RR", SCHED_RR },
    { "SCHED_BATCH", SCHED_BATCH }, { "SCHED_IDLE", SCHED_IDLE }, { "SCHED_DEADLINE", 6 },
  };
  static const struct
  {
    const char *name;
    uint64_t flag;
  } flags[] = {
    { "SCHED_FLAG_RESET_ON_FORK", 0x01 },  { "SCHED_FLAG_RECLAIM", 0x02 },
    { "SCHED_FLAG_DL_OVERRUN", 0x04 },     { "SCHED_FLAG_KEEP_POLICY", 0x08 },
    { "SCHED_FLAG_KEEP_PARAMS", 0x10 },    { "SCHED_FLAG_UTIL_CLAMP_MIN", 0x20 },
    { "SCHED_FLAG_UTIL_CLAMP_MAX", 0x40 },
  };
  json_object *s;
  cleanup_free char *sp = bjson_path_key (path, "scheduler");
  cleanup_strv char **fl = NULL;
  const char *policy;
  bool found = false;
  int32_t nice = 0, prio = 0;
  int r;

  r = bjson_get (process, path, "scheduler", json_type_object, 0, &s, err);
  if (r <= 0)
    return r;
  r = bjson_get_string (s, sp, "policy", BJSON_REQUIRED, &policy, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < ARRAY_SIZE (policies); i++)
    if (strcmp (policies[i].name, policy) == 0)
      {
        p->sched.policy = policies[i].policy;
        found = true;
      }
  if (!found)
    return path_error (err, sp, "policy", "unknown or unsupported policy `%s`", policy);
  r = bjson_get_int32 (s, sp, "nice", 0, &nice, err);
  if (r < 0)
    return r;
  if (nice < -20 || nice > 19)
    return path_error (err, sp, "nice", "%" PRId32 " is out of range [-20, 19]", nice);
  r = bjson_get_int32 (s, sp, "priority", 0, &prio, err);
  if (r < 0)
    return r;
  if (prio < 0 || prio > 99)
    return path_error (err, sp, "priority", "%" PRId32 " is out of range [0, 99]", prio);
  p->sched.nice = nice;
  p->sched.priority = (uint32_t)prio;
  r = bjson_get_strv (s, sp, "flags", 0, &fl, err);
  if (r < 0)
    return r;
  for (size_t i = 0; fl && fl[i]; i++)
    {
      found = false;
      for (size_t k = 0; k < ARRAY_SIZE (flags); k++)
        if (strcmp (flags[k].name, fl[i]) == 0)
          {
            p->sched.flags |= flags[k].flag;
            found = true;
          }
      if (!found)
        {
          cleanup_free char *fp = bjson_path_key (sp, "flags");
          cleanup_free char *ip = bjson_path_index (fp, i);
          return path_error (err, ip, NULL, "unknown scheduler flag `%s`", fl[i]);
        }
    }
  if (bjson_get_uint64 (s, sp, "runtime", 0, UINT64_MAX, &p->sched.runtime, err) < 0
      || bjson_get_uint64 (s, sp, "deadline", 0, UINT64_MAX, &p->sched.deadline, err) < 0
      || bjson_get_uint64 (s, sp, "period", 0, UINT64_MAX, &p->sched.period, err) < 0)
    return berth_err_ret (err);
  p->has_scheduler = true;
  return 0;
}

static int
parse_ioprio (json_object *process, const char *path, struct rt_process *p, berth_err *err)
{
  static const struct
  {
    const char *name;
    int klass;
  } classes[] = {
    { "IOPRIO_CLASS_RT", IOPRIO_CLASS_RT },
    { "IOPRIO_CLASS_BE", IOPRIO_CLASS_BE },
    { "IOPRIO_CLASS_IDLE", IOPRIO_CLASS_IDLE },
  };
  json_object *o;
  cleanup_free char *op = bjson_path_key (path, "ioPriority");
  const char *klass;
  int64_t prio;
  int k = -1, r;

  r = bjson_get (process, path, "ioPriority", json_type_object, 0, &o, err);
  if (r <= 0)
    return r;
  r = bjson_get_string (o, op, "class", BJSON_REQUIRED, &klass, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < ARRAY_SIZE (classes); i++)
    if (strcmp (classes[i].name, klass) == 0)
      k = classes[i].klass;
  if (k < 0)
    return path_error (err, op, "class", "unknown I/O priority class `%s`", klass);
  r = bjson_get_int64 (o, op, "priority", BJSON_REQUIRED, 0, 7, &prio, err);
  if (r < 0)
    return r;
  p->has_ioprio = true;
  p->ioprio = IOPRIO_PRIO_VALUE (k, (int)prio);
  return 0;
}

int
rt_process_parse (json_object *obj, const char *path, struct rt_process **ret, berth_err *err)
{
  struct rt_process *p = xzalloc (sizeof *p);
  json_object *caps, *cs;
  const char *s;
  int64_t oom;
  int r;

  r = bjson_expect (obj, path, json_type_object, err);
  if (r < 0)
    goto fail;
  r = bjson_get_bool (obj, path, "terminal", 0, &p->terminal, err);
  if (r < 0)
    goto fail;
  r = bjson_get (obj, path, "consoleSize", json_type_object, 0, &cs, err);
  if (r < 0)
    goto fail;
  if (r > 0)
    {
      cleanup_free char *cp = bjson_path_key (path, "consoleSize");
      uint64_t h, w;
      if ((r = bjson_get_uint64 (cs, cp, "height", BJSON_REQUIRED, 65535, &h, err)) < 0
          || (r = bjson_get_uint64 (cs, cp, "width", BJSON_REQUIRED, 65535, &w, err)) < 0)
        goto fail;
      p->has_console_size = true;
      p->console_height = (unsigned short)h;
      p->console_width = (unsigned short)w;
    }
  r = parse_user (obj, path, &p->user, err);
  if (r < 0)
    goto fail;
  r = bjson_get_strv (obj, path, "args", BJSON_REQUIRED, &p->args, err);
  if (r < 0)
    goto fail;
  if (p->args[0] == NULL || p->args[0][0] == '\0')
    {
      r = path_error (err, path, "args", "must name the program to run");
      goto fail;
    }
  r = bjson_get_strv (obj, path, "env", 0, &p->env, err);
  if (r < 0)
    goto fail;
  if (p->env == NULL)
    p->env = xzalloc (sizeof (char *));
  for (size_t i = 0; p->env[i]; i++)
    if (strchr (p->env[i], '=') == NULL || p->env[i][0] == '=')
      {
        cleanup_free char *ep = bjson_path_key (path, "env");
        cleanup_free char *ip = bjson_path_index (ep, i);
        r = path_error (err, ip, NULL, "`%s` is not NAME=VALUE", p->env[i]);
        goto fail;
      }
  r = bjson_get_string (obj, path, "cwd", BJSON_REQUIRED, &s, err);
  if (r < 0)
    goto fail;
  if (s[0] != '/')
    {
      r = path_error (err, path, "cwd", "`%s` is not an absolute path", s);
      goto fail;
    }
  p->cwd = xstrdup (s);

  r = bjson_get (obj, path, "capabilities", json_type_object, 0, &caps, err);
  if (r < 0)
    goto fail;
  if (r > 0)
    {
      static const char *const keys[RT_CAP_NSETS]
          = { "bounding", "effective", "inheritable", "permitted", "ambient" };
      cleanup_free char *cp = bjson_path_key (path, "capabilities");
      p->has_caps = true;
      for (int i = 0; i < RT_CAP_NSETS; i++)
        if ((r = parse_cap_set (caps, cp, keys[i], &p->caps[i], err)) < 0)
          goto fail;
    }
  r = parse_rlimits (obj, path, p, err);
  if (r < 0)
    goto fail;
  r = bjson_get_bool (obj, path, "noNewPrivileges", 0, &p->no_new_privs, err);
  if (r < 0)
    goto fail;
  r = bjson_get_int64 (obj, path, "oomScoreAdj", 0, -1000, 1000, &oom, err);
  if (r < 0)
    goto fail;
  if (r > 0)
    {
      p->has_oom_score_adj = true;
      p->oom_score_adj = (int)oom;
    }
  r = bjson_get_string (obj, path, "apparmorProfile", 0, &s, err);
  if (r < 0)
    goto fail;
  if (r > 0 && *s)
    {
      r = path_error (err, path, "apparmorProfile", "AppArmor profiles are not supported by berth");
      goto fail;
    }
  r = bjson_get_string (obj, path, "selinuxLabel", 0, &s, err);
  if (r < 0 || (r > 0 && (r = check_selinux_label (s, path, "selinuxLabel", err)) < 0))
    goto fail;
  if ((r = parse_scheduler (obj, path, p, err)) < 0 || (r = parse_ioprio (obj, path, p, err)) < 0)
    goto fail;
  *ret = p;
  return 0;
fail:
  rt_process_free (p);
  return r;
}

void
rt_process_free (struct rt_process *p)
{
  if (p == NULL)
    return;
  free (p->user.gids);
  strv_free (p->args);
  strv_free (p->env);
  free (p->cwd);
  free (p->rlimits);
  free (p);
}

/* ------------------------------------------------------------------ mounts */

static char *
absolute_in_container (const char *dest)
{
  /* runtime-spec 1.1: a relative destination is deprecated and relative to "/". */
  if (dest[0] == '/')
    return xstrdup (dest);
  return xasprintf ("/%s", dest);
}

static bool
path_has_dotdot (const char *p)
{
  const char *c = p;
  while ((c = strstr (c, "..")) != NULL)
    {
      bool starts = c == p || c[-1] == '/';
      bool ends = c[2] == '\0' || c[2] == '/';
      if (starts && ends)
        return true;
      c += 2;
    }
  return false;
}

static int
parse_mounts (json_object *doc, struct rt_config *c, berth_err *err)
{
  json_object *arr;
  int r = bjson_get (doc, "", "mounts", json_type_array, 0, &arr, err);
  if (r <= 0)
    return r;
  c->n_mounts = json_object_array_length (arr);
  c->mounts = xzalloc ((c->n_mounts + 1) * sizeof (struct rt_mount));
  for (size_t i = 0; i < c->n_mounts; i++)
    {
      json_object *o = json_object_array_get_idx (arr, i), *maps;
      cleanup_free char *mp = bjson_path_index ("mounts", i);
      cleanup_free char *op = bjson_path_key (mp, "options");
      cleanup_strv char **options = NULL;
      struct rt_mount *m = &c->mounts[i];
      const char *dest, *type = NULL, *source = NULL;

      if ((r = bjson_expect (o, mp, json_type_object, err)) < 0)
        return r;
      if ((r = bjson_get_string (o, mp, "destination", BJSON_REQUIRED, &dest, err)) < 0)
        return r;
      if (*dest == '\0')
        return path_error (err, mp, "destination", "empty path");
      if (path_has_dotdot (dest))
        return path_error (err, mp, "destination", "`%s` contains `..`", dest);
      m->destination = absolute_in_container (dest);
      if ((r = bjson_get_string (o, mp, "type", 0, &type, err)) < 0
          || (r = bjson_get_string (o, mp, "source", 0, &source, err)) < 0
          || (r = bjson_get_strv (o, mp, "options", 0, &options, err)) < 0)
        return r;
      if (json_object_object_get_ex (o, "uidMappings", &maps)
          || json_object_object_get_ex (o, "gidMappings", &maps))
        return path_error (err, mp,
                           json_object_object_get_ex (o, "uidMappings", NULL) ? "uidMappings"
                                                                              : "gidMappings",
                           "idmapped mounts are not supported by berth");
      m->type = xstrdup_opt (type);
      r = rt_mount_options_parse (m, options, op, err);
      if (r < 0)
        return r;
      if (m->kind == RT_MOUNT_FS && (type == NULL || *type == '\0'))
        return path_error (err, mp, "type", "required for a mount that is not a bind mount");
      if (m->kind == RT_MOUNT_BIND)
        {
          if (source == NULL || *source == '\0')
            return path_error (err, mp, "source", "required for a bind mount");
          m->source = xstrdup (source);
        }
      else
        m->source = xstrdup (source && *source ? source : (type ? type : "none"));
    }
  return 0;
}

/* ------------------------------------------------------------------ hooks */

static int
parse_hooks (json_object *doc, struct rt_config *c, berth_err *err)
{
  json_object *hooks;
  int r = bjson_get (doc, "", "hooks", json_type_object, 0, &hooks, err);
  if (r <= 0)
    return r;
  for (int k = 0; k < RT_HOOK_NKINDS; k++)
    {
      json_object *arr;
      cleanup_free char *kp = bjson_path_key ("hooks", rt_hook_names[k]);
      r = bjson_get (hooks, "hooks", rt_hook_names[k], json_type_array, 0, &arr, err);
      if (r < 0)
        return r;
      if (r == 0)
        continue;
      c->hooks.n[k] = json_object_array_length (arr);
      c->hooks.v[k] = xzalloc ((c->hooks.n[k] + 1) * sizeof (struct rt_hook));
      for (size_t i = 0; i < c->hooks.n[k]; i++)
        {
          json_object *o = json_object_array_get_idx (arr, i);
          cleanup_free char *hp = bjson_path_index (kp, i);
          struct rt_hook *h = &c->hooks.v[k][i];
          const char *path;
          int64_t timeout = 0;

          if ((r = bjson_expect (o, hp, json_type_object, err)) < 0
              || (r = bjson_get_string (o, hp, "path", BJSON_REQUIRED, &path, err)) < 0)
            return r;
          if (path[0] != '/')
            return path_error (err, hp, "path", "`%s` is not an absolute path", path);
          h->path = xstrdup (path);
          if ((r = bjson_get_strv (o, hp, "args", 0, &h->args, err)) < 0
              || (r = bjson_get_strv (o, hp, "env", 0, &h->env, err)) < 0)
            return r;
          if (h->args && h->args[0] == NULL)
            {
              strv_free (h->args);
              h->args = NULL;
            }
          if (h->env == NULL)
            h->env = xzalloc (sizeof (char *));
          r = bjson_get_int64 (o, hp, "timeout", 0, 1, INT32_MAX, &timeout, err);
          if (r < 0)
            return r;
          h->timeout = (int)timeout;
        }
    }
  return 0;
}

/* ------------------------------------------------------------------ linux */

static int
parse_id_maps (json_object *lnx, const char *key, struct rt_id_map **ret, size_t *ret_n,
               berth_err *err)
{
  json_object *arr;
  cleanup_free char *ap = bjson_path_key ("linux", key);
  int r = bjson_get (lnx, "linux", key, json_type_array, 0, &arr, err);
  if (r <= 0)
    return r;
  *ret_n = json_object_array_length (arr);
  /* The kernel takes at most 340 lines in uid_map (5 before 4.15). */
  if (*ret_n > 340)
    return path_error (err, ap, NULL, "more than 340 mappings");
  *ret = xzalloc ((*ret_n + 1) * sizeof (struct rt_id_map));
  for (size_t i = 0; i < *ret_n; i++)
    {
      json_object *o = json_object_array_get_idx (arr, i);
      cleanup_free char *ip = bjson_path_index (ap, i);
      struct rt_id_map *m = &(*ret)[i];
      if ((r = bjson_expect (o, ip, json_type_object, err)) < 0
          || (r = bjson_get_uint32 (o, ip, "containerID", BJSON_REQUIRED, &m->container_id, err))
                 < 0
          || (r = bjson_get_uint32 (o, ip, "hostID", BJSON_REQUIRED, &m->host_id, err)) < 0
          || (r = bjson_get_uint32 (o, ip, "size", BJSON_REQUIRED, &m->size, err)) < 0)
        return r;
      if (m->size == 0)
        return path_error (err, ip, "size", "must be at least 1");
      if ((uint64_t)m->container_id + m->size > UINT32_MAX
          || (uint64_t)m->host_id + m->size > UINT32_MAX)
        return path_error (err, ip, "size", "the range overflows 32 bits");
    }
  return 0;
}

static int
parse_namespaces (json_object *lnx, struct rt_config *c, berth_err *err)
{
  json_object *arr;
  int r = bjson_get (lnx, "linux", "namespaces", json_type_array, 0, &arr, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; i < json_object_array_length (arr); i++)
    {
      json_object *o = json_object_array_get_idx (arr, i);
      cleanup_free char *ip = bjson_path_index ("linux.namespaces", i);
      const char *type, *path = NULL;
      int kind = -1;

      if ((r = bjson_expect (o, ip, json_type_object, err)) < 0
          || (r = bjson_get_string (o, ip, "type", BJSON_REQUIRED, &type, err)) < 0
          || (r = bjson_get_string (o, ip, "path", 0, &path, err)) < 0)
        return r;
      for (int k = 0; k < RT_NS_NKINDS; k++)
        if (strcmp (rt_ns_info[k].oci_name, type) == 0)
          kind = k;
      if (kind < 0)
        return path_error (err, ip, "type", "unknown namespace type `%s`", type);
      if (c->ns[kind].present)
        return path_error (err, ip, "type", "namespace `%s` is listed twice", type);
      c->ns[kind].present = true;
      if (path && *path)
        {
          if (path[0] != '/')
            return path_error (err, ip, "path", "`%s` is not an absolute path", path);
          c->ns[kind].path = xstrdup (path);
        }
    }
  return 0;
}

static int
parse_devices (json_object *lnx, struct rt_config *c, berth_err *err)
{
  json_object *arr;
  int r = bjson_get (lnx, "linux", "devices", json_type_array, 0, &arr, err);
  if (r <= 0)
    return r;
  c->n_devices = json_object_array_length (arr);
  c->devices = xzalloc ((c->n_devices + 1) * sizeof (struct rt_device));
  for (size_t i = 0; i < c->n_devices; i++)
    {
      json_object *o = json_object_array_get_idx (arr, i);
      cleanup_free char *ip = bjson_path_index ("linux.devices", i);
      struct rt_device *d = &c->devices[i];
      const char *path, *type;
      uint32_t v;

      if ((r = bjson_expect (o, ip, json_type_object, err)) < 0
          || (r = bjson_get_string (o, ip, "path", BJSON_REQUIRED, &path, err)) < 0
          || (r = bjson_get_string (o, ip, "type", BJSON_REQUIRED, &type, err)) < 0)
        return r;
      if (path[0] != '/' || path_has_dotdot (path) || strcmp (path, "/") == 0)
        return path_error (err, ip, "path", "`%s` is not an absolute path to a file", path);
      d->path = xstrdup (path);
      for (size_t k = 0; k < i; k++)
        if (strcmp (c->devices[k].path, path) == 0)
          return path_error (err, ip, "path", "`%s` is listed twice", path);
      if (strcmp (type, "c") == 0 || strcmp (type, "u") == 0)
        d->type = 'c';
      else if (strcmp (type, "b") == 0)
        d->type = 'b';
      else if (strcmp (type, "p") == 0)
        d->type = 'p';
      else
        return path_error (err, ip, "type", "`%s` is not one of c, b, u, p", type);
      if (d->type != 'p')
        {
          if ((r = bjson_get_int64 (o, ip, "major", BJSON_REQUIRED, 0, 0xfff, &d->major, err)) < 0
              || (r = bjson_get_int64 (o, ip, "minor", BJSON_REQUIRED, 0, 0xfffff, &d->minor, err))
                     < 0)
            return r;
        }
      r = bjson_get_uint32 (o, ip, "fileMode", 0, &v, err);
      if (r < 0)
        return r;
      if (r > 0)
        {
          /* Go's os.FileMode: permission bits, plus setuid/setgid/sticky in Go's own bit
             positions; only the permission bits make sense for a device node. */
          if (v & ~07777u)
            return path_error (err, ip, "fileMode", "%" PRIu32 " has bits besides the mode", v);
          d->has_mode = true;
          d->mode = v & 07777;
        }
      r = bjson_get_uint32 (o, ip, "uid", 0, &v, err);
      if (r < 0)
        return r;
      d->has_uid = r > 0;
      d->uid = v;
      r = bjson_get_uint32 (o, ip, "gid", 0, &v, err);
      if (r < 0)
        return r;
      d->has_gid = r > 0;
      d->gid = v;
    }
  return 0;
}

/* Only namespaced sysctls may be set; anything else would change the host. */
static int
check_sysctl (struct rt_config *c, const char *key, const char *path, berth_err *err)
{
  static const char *const ipc_keys[] = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",          "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", NULL,
  };
  if (*key == '\0' || key[0] == '/' || key[0] == '.' || path_has_dotdot (key) || strstr (key, "//")
      || strspn (key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-/")
             != strlen (key))
    return berth_err_set (err, 0, "%s: `%s` is not a sysctl name", path, key);
  if (strv_contains ((char *const *)ipc_keys, key) || str_has_prefix (key, "fs.mqueue."))
    {
      if (!c->ns[RT_NS_IPC].present)
        return berth_err_set (err, 0, "%s: `%s` needs an ipc namespace", path, key);
      return 0;
    }
  if (str_has_prefix (key, "net.") || str_has_prefix (key, "net/"))
    {
      if (!c->ns[RT_NS_NET].present)
        return berth_err_set (err, 0, "%s: `%s` needs a network namespace", path, key);
      return 0;
    }
  if (strcmp (key, "kernel.hostname") == 0 || strcmp (key, "kernel.domainname") == 0)
    {
      if (!c->ns[RT_NS_UTS].present)
        return berth_err_set (err, 0, "%s: `%s` needs a uts namespace", path, key);
      return 0;
    }
  return berth_err_set (err, 0, "%s: `%s` is not a namespaced sysctl; it would change the host",
                        path, key);
}

static int
parse_sysctl (json_object *lnx, struct rt_config *c, berth_err *err)
{
  json_object *map;
  size_t n = 0;
  int r = bjson_get (lnx, "linux", "sysctl", json_type_object, 0, &map, err);
  if (r <= 0)
    return r;
  c->sysctl = xzalloc (((size_t)json_object_object_length (map) + 1) * sizeof (struct rt_sysctl));
  json_object_object_foreach (map, k, v)
    {
      cleanup_free char *kp = bjson_path_key ("linux.sysctl", k);
      if (json_object_get_type (v) != json_type_string)
        return berth_err_set (err, 0, "%s: expected a string, got %s", kp,
                              bjson_type_name (json_object_get_type (v)));
      r = check_sysctl (c, k, kp, err);
      if (r < 0)
        return r;
      c->sysctl[n].key = xstrdup (k);
      c->sysctl[n].value = xstrdup (json_object_get_string (v));
      c->n_sysctl = ++n;
    }
  return 0;
}

static int
parse_paths (json_object *lnx, const char *key, char ***ret, berth_err *err)
{
  cleanup_free char *kp = bjson_path_key ("linux", key);
  int r = bjson_get_strv (lnx, "linux", key, 0, ret, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; (*ret)[i]; i++)
    if ((*ret)[i][0] != '/' || path_has_dotdot ((*ret)[i]))
      {
        cleanup_free char *ip = bjson_path_index (kp, i);
        return berth_err_set (err, 0, "%s: `%s` is not an absolute path", ip, (*ret)[i]);
      }
  return 0;
}

static int
parse_propagation (json_object *lnx, struct rt_config *c, berth_err *err)
{
  static const struct
  {
    const char *name;
    unsigned long flags;
  } props[] = {
    { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
    { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
    { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
    { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
  };
  const char *s;
  int r = bjson_get_string (lnx, "linux", "rootfsPropagation", 0, &s, err);
  if (r <= 0 || *s == '\0')
    return r < 0 ? r : 0;
  for (size_t i = 0; i < ARRAY_SIZE (props); i++)
    if (strcmp (props[i].name, s) == 0)
      {
        c->rootfs_propagation = props[i].flags;
        return 0;
      }
  return path_error (err, "linux", "rootfsPropagation", "unknown propagation `%s`", s);
}

static int
parse_personality (json_object *lnx, struct rt_config *c, berth_err *err)
{
  json_object *o, *flags;
  const char *domain;
  int r = bjson_get (lnx, "linux", "personality", json_type_object, 0, &o, err);
  if (r <= 0)
    return r;
  r = bjson_get_string (o, "linux.personality", "domain", BJSON_REQUIRED, &domain, err);
  if (r < 0)
    return r;
  if (strcmp (domain, "LINUX") == 0)
    c->personality = PER_LINUX;
  else if (strcmp (domain, "LINUX32") == 0)
    c->personality = PER_LINUX32;
  else
    return path_error (err, "linux.personality", "domain", "unknown domain `%s`", domain);
  r = bjson_get (o, "linux.personality", "flags", json_type_array, 0, &flags, err);
  if (r < 0)
    return r;
  if (r > 0 && json_object_array_length (flags) > 0)
    return path_error (err, "linux.personality", "flags",
                       "no personality flags are defined by the runtime-spec");
  c->has_personality = true;
  return 0;
}

static int
parse_time_offsets (json_object *lnx, struct rt_config *c, berth_err *err)
{
  json_object *map;
  size_t n = 0;
  int r = bjson_get (lnx, "linux", "timeOffsets", json_type_object, 0, &map, err);
  if (r <= 0)
    return r;
  c->time_offsets
      = xzalloc (((size_t)json_object_object_length (map) + 1) * sizeof (struct rt_time_offset));
  json_object_object_foreach (map, k, v)
    {
      cleanup_free char *kp = bjson_path_key ("linux.timeOffsets", k);
      struct rt_time_offset *t = &c->time_offsets[n];
      if (strcmp (k, "monotonic") == 0)
        t->clock = CLOCK_MONOTONIC;
      else if (strcmp (k, "boottime") == 0)
        t->clock = CLOCK_BOOTTIME;
      else
        return berth_err_set (err, 0, "%s: unknown clock (monotonic or boottime)", kp);
      if ((r = bjson_expect (v, kp, json_type_object, err)) < 0
          || (r = bjson_get_int64 (v, kp, "secs", 0, INT64_MIN, INT64_MAX, &t->secs, err)) < 0
          || (r = bjson_get_uint32 (v, kp, "nanosecs", 0, &t->nanosecs, err)) < 0)
        return r;
      if (t->nanosecs >= 1000000000u)
        return path_error (err, kp, "nanosecs", "must be below 1000000000");
      c->n_time_offsets = ++n;
    }
  if (n > 0 && (!c->ns[RT_NS_TIME].present || c->ns[RT_NS_TIME].path))
    return path_error (err, "linux", "timeOffsets", "need a new time namespace");
  return 0;
}

static int
refuse_if_present (json_object *obj, const char *path, const char *key, const char *why,
                   berth_err *err)
{
  json_object *v;
  if (json_object_object_get_ex (obj, key, &v) && v != NULL)
    return path_error (err, path, key, "%s", why);
  return 0;
}

static int
parse_linux (json_object *doc, struct rt_config *c, berth_err *err)
{
  json_object *lnx;
  const char *s;
  int r = bjson_get (doc, "", "linux", json_type_object, 0, &lnx, err);
  if (r <= 0)
    return r;
  if ((r = parse_namespaces (lnx, c, err)) < 0
      || (r = parse_id_maps (lnx, "uidMappings", &c->uid_maps, &c->n_uid_maps, err)) < 0
      || (r = parse_id_maps (lnx, "gidMappings", &c->gid_maps, &c->n_gid_maps, err)) < 0
      || (r = parse_sysctl (lnx, c, err)) < 0 || (r = parse_devices (lnx, c, err)) < 0
      || (r = parse_propagation (lnx, c, err)) < 0
      || (r = parse_paths (lnx, "maskedPaths", &c->masked_paths, err)) < 0
      || (r = parse_paths (lnx, "readonlyPaths", &c->readonly_paths, err)) < 0
      || (r = parse_personality (lnx, c, err)) < 0 || (r = parse_time_offsets (lnx, c, err)) < 0)
    return r;
  r = bjson_get (lnx, "linux", "resources", json_type_object, 0, &c->resources, err);
  if (r < 0)
    return r;
  r = bjson_get_string (lnx, "linux", "cgroupsPath", 0, &s, err);
  if (r < 0)
    return r;
  if (r > 0 && *s)
    c->cgroups_path = xstrdup (s);
  r = bjson_get (lnx, "linux", "seccomp", json_type_object, 0, &c->seccomp, err);
  if (r < 0)
    return r;
  r = bjson_get_string (lnx, "linux", "mountLabel", 0, &s, err);
  if (r < 0 || (r > 0 && (r = check_selinux_label (s, "linux", "mountLabel", err)) < 0))
    return r;
  if ((r = refuse_if_present (lnx, "linux", "intelRdt", "Intel RDT is not supported by berth", err))
          < 0
      || (r = refuse_if_present (lnx, "linux", "memoryPolicy",
                                 "memory policies are not supported by berth", err))
             < 0
      || (r = refuse_if_present (lnx, "linux", "netDevices",
                                 "moving network devices is not supported by berth", err))
             < 0)
    return r;

  /* Cross-field rules of the spec. */
  if ((c->n_uid_maps || c->n_gid_maps) && !c->ns[RT_NS_USER].present)
    return path_error (err, "linux", c->n_uid_maps ? "uidMappings" : "gidMappings",
                       "mappings need a user namespace");
  if (c->ns[RT_NS_USER].present && !c->ns[RT_NS_USER].path)
    {
      if (c->n_uid_maps == 0)
        return path_error (err, "linux", "uidMappings", "a new user namespace needs mappings");
      if (c->n_gid_maps == 0)
        return path_error (err, "linux", "gidMappings", "a new user namespace needs mappings");
    }
  if (c->ns[RT_NS_USER].path && (c->n_uid_maps || c->n_gid_maps))
    return path_error (err, "linux", c->n_uid_maps ? "uidMappings" : "gidMappings",
                       "mappings cannot be set for a user namespace joined by path");
  return 0;
}

/* ------------------------------------------------------------------ document */

int
rt_config_parse (json_object *doc, struct rt_config **ret, berth_err *err)
{
  cleanup_config struct rt_config *c = xzalloc (sizeof *c);
  json_object *process, *root, *v;
  const char *s;
  int r;

  c->doc = json_object_get (doc);
  if ((r = bjson_expect (doc, "config.json", json_type_object, err)) < 0)
    return r;
  r = bjson_get_string (doc, "", "ociVersion", BJSON_REQUIRED, &s, err);
  if (r < 0)
    return r;
  if (!str_has_prefix (s, "1."))
    return path_error (err, "ociVersion", NULL, "`%s` is not a runtime-spec 1.x version", s);
  c->oci_version = xstrdup (s);

  if (json_object_object_get_ex (doc, "vm", &v) && v)
    return path_error (err, "vm", NULL, "berth runs containers, not virtual machines");

  r = bjson_get (doc, "", "root", json_type_object, BJSON_REQUIRED, &root, err);
  if (r < 0)
    return r;
  r = bjson_get_string (root, "root", "path", BJSON_REQUIRED, &s, err);
  if (r < 0)
    return r;
  if (*s == '\0')
    return path_error (err, "root", "path", "empty path");
  c->root_path = xstrdup (s);
  r = bjson_get_bool (root, "root", "readonly", 0, &c->root_readonly, err);
  if (r < 0)
    return r;

  r = bjson_get (doc, "", "process", json_type_object, 0, &process, err);
  if (r < 0)
    return r;
  if (r > 0 && (r = rt_process_parse (process, "process", &c->process, err)) < 0)
    return r;

  if ((r = parse_linux (doc, c, err)) < 0 || (r = parse_mounts (doc, c, err)) < 0
      || (r = parse_hooks (doc, c, err)) < 0)
    return r;
  r = bjson_get_string_map (doc, "", "annotations", 0, &c->annotations, err);
  if (r < 0)
    return r;

  r = bjson_get_string (doc, "", "hostname", 0, &s, err);
  if (r < 0)
    return r;
  if (r > 0 && *s)
    {
      if (strlen (s) > 64)
        return path_error (err, "hostname", NULL, "longer than 64 bytes");
      if (!c->ns[RT_NS_UTS].present)
        return path_error (err, "hostname", NULL, "setting it needs a uts namespace");
      c->hostname = xstrdup (s);
    }
  r = bjson_get_string (doc, "", "domainname", 0, &s, err);
  if (r < 0)
    return r;
  if (r > 0 && *s)
    {
      if (strlen (s) > 64)
        return path_error (err, "domainname", NULL, "longer than 64 bytes");
      if (!c->ns[RT_NS_UTS].present)
        return path_error (err, "domainname", NULL, "setting it needs a uts namespace");
      c->domainname = xstrdup (s);
    }
  if (c->process && c->process->terminal && !c->ns[RT_NS_MOUNT].present)
    return path_error (err, "process", "terminal", "a terminal needs a mount namespace");
  /* Without a mount namespace the container shares the host's: berth chroots it into its
     root (pivot_root there would move the host's) and records the mounts it makes on the
     host. What would change the host's own mounts is refused. */
  if (!c->ns[RT_NS_MOUNT].present && c->root_readonly)
    return path_error (err, "root", "readonly",
                       "needs a mount namespace (it would make a mount of the host read-only)");
  if (!c->ns[RT_NS_MOUNT].present && c->rootfs_propagation)
    return path_error (err, "linux", "rootfsPropagation",
                       "needs a mount namespace (it would change the host's propagation)");

  *ret = steal_pointer (&c);
  return 0;
}

int
rt_config_load (int bundle_dirfd, struct rt_config **ret, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  int r = bjson_parse_file_at (bundle_dirfd, "config.json", CONFIG_MAX_LEN, &doc, err);
  if (r < 0)
    return r;
  return rt_config_parse (doc, ret, err);
}

void
rt_config_free (struct rt_config *c)
{
  if (c == NULL)
    return;
  json_object_put (c->doc);
  free (c->oci_version);
  rt_process_free (c->process);
  free (c->root_path);
  free (c->hostname);
  free (c->domainname);
  for (size_t i = 0; i < c->n_mounts; i++)
    {
      struct rt_mount *m = &c->mounts[i];
      free (m->destination);
      free (m->type);
      free (m->source);
      for (size_t k = 0; k < m->n_params; k++)
        {
          free (m->params[k].key);
          free (m->params[k].value);
        }
      free (m->params);
      strv_free (m->ignored);
    }
  free (c->mounts);
  for (int k = 0; k < RT_HOOK_NKINDS; k++)
    {
      for (size_t i = 0; i < c->hooks.n[k]; i++)
        {
          free (c->hooks.v[k][i].path);
          strv_free (c->hooks.v[k][i].args);
          strv_free (c->hooks.v[k][i].env);
        }
      free (c->hooks.v[k]);
    }
  strv_free (c->annotations);
  free (c->uid_maps);
  free (c->gid_maps);
  for (size_t i = 0; i < c->n_sysctl; i++)
    {
      free (c->sysctl[i].key);
      free (c->sysctl[i].value);
    }
  free (c->sysctl);
  free (c->cgroups_path);
  for (int k = 0; k < RT_NS_NKINDS; k++)
    free (c->ns[k].path);
  for (size_t i = 0; i < c->n_devices; i++)
    free (c->devices[i].path);
  free (c->devices);
  strv_free (c->masked_paths);
  strv_free (c->readonly_paths);
  free (c->time_offsets);
  free (c);
}

void
rt_config_freep (struct rt_config **c)
{
  rt_config_free (*c);
}
