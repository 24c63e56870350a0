/* Turns one container of a parsed task definition into an OCI runtime config: the runtime's
 * secure defaults (runtime_spec_default), then the image config, then the container
 * definition, as Docker and the ECS agent apply them, under the host policy. Anything the
 * policy does not allow is refused with the setting's path and the berthd.conf key. */
#include "taskdef-internal.h"
#include "agent/config/config.h"
#include "runtime/runtime.h"

#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define MIB (1024ull * 1024ull)
/* The kernel's cpu.shares range; the ECS agent (1.2.0 and later) sends 2 for 0 and 1. */
#define CPU_SHARES_MIN 2
#define CPU_SHARES_MAX 262144

void
taskdef_policy_from_config (const struct berth_config *cfg, struct taskdef_host_policy *ret)
{
  memset (ret, 0, sizeof *ret);
  ret->allow_privileged = cfg->allow_privileged;
  ret->allowed_capabilities = cfg->allowed_capabilities;
  ret->allow_ebpf_sidecars = cfg->allow_ebpf_sidecars;
  ret->allow_host_network = cfg->allow_host_network;
  ret->allow_host_namespaces = cfg->allow_host_namespaces;
  ret->allowed_host_paths = cfg->allowed_host_paths;
  ret->allowed_devices = cfg->allowed_devices;
}

/* ------------------------------------------------------------------ JSON helpers */

static json_object *
obj_child (json_object *parent, const char *key)
{
  json_object *v;
  if (json_object_object_get_ex (parent, key, &v) && json_object_is_type (v, json_type_object))
    return v;
  v = json_object_new_object ();
  json_object_object_add (parent, key, v);
  return v;
}

static json_object *
strv_to_json (char *const *v)
{
  json_object *a = json_object_new_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_object_array_add (a, json_object_new_string (v[i]));
  return a;
}

static void
set_string (json_object *o, const char *key, const char *s)
{
  json_object_object_add (o, key, json_object_new_string (s));
}

static void
set_uint (json_object *o, const char *key, uint64_t v)
{
  json_object_object_add (o, key, json_object_new_uint64 (v));
}

/* namespaces[]: type -> path (NULL: a new one), or removed (the host's) when remove. */
static void
set_namespace (json_object *spec, const char *type, const char *path, bool remove)
{
  json_object *ns = json_object_object_get (obj_child (spec, "linux"), "namespaces");
  size_t n = ns ? json_object_array_length (ns) : 0;
  for (size_t i = 0; i < n; i++)
    {
      json_object *e = json_object_array_get_idx (ns, i);
      if (strcmp (json_object_get_string (json_object_object_get (e, "type")), type) != 0)
        continue;
      if (remove)
        json_object_array_del_idx (ns, i, 1);
      else if (path)
        set_string (e, "path", path);
      else
        json_object_object_del (e, "path");
      return;
    }
  if (!remove && ns)
    {
      json_object *e = json_object_new_object ();
      set_string (e, "type", type);
      if (path)
        set_string (e, "path", path);
      json_object_array_add (ns, e);
    }
}

static json_object *
find_mount (json_object *mounts, const char *dest, size_t *ret_index)
{
  size_t n = json_object_array_length (mounts);
  for (size_t i = 0; i < n; i++)
    {
      json_object *m = json_object_array_get_idx (mounts, i);
      if (strcmp (json_object_get_string (json_object_object_get (m, "destination")), dest) == 0)
        {
          if (ret_index)
            *ret_index = i;
          return m;
        }
    }
  return NULL;
}

/* A mount at dest replaces one the defaults already have there. */
static void
add_mount (json_object *mounts, const char *dest, const char *type, const char *source,
           const char *const *options)
{
  json_object *m = json_object_new_object ();
  json_object *opts = json_object_new_array ();
  size_t idx;
  set_string (m, "destination", dest);
  set_string (m, "type", type);
  set_string (m, "source", source);
  for (size_t i = 0; options[i]; i++)
    json_object_array_add (opts, json_object_new_string (options[i]));
  json_object_object_add (m, "options", opts);
  if (find_mount (mounts, dest, &idx))
    json_object_array_put_idx (mounts, idx, m);
  else
    json_object_array_add (mounts, m);
}

static void
add_bind (json_object *mounts, const char *dest, const char *source, bool read_only)
{
  const char *rw[] = { "rbind", "rprivate", NULL };
  const char *ro[] = { "rbind", "rprivate", "ro", NULL };
  add_mount (mounts, dest, "bind", source, read_only ? ro : rw);
}

/* ------------------------------------------------------------------ policy */

static bool
policy_allows_capability (const struct taskdef_host_policy *p, int cap)
{
  for (size_t i = 0; p && p->allowed_capabilities && p->allowed_capabilities[i]; i++)
    {
      int c;
      if (strcasecmp (p->allowed_capabilities[i], "ALL") == 0)
        return true;
      if (taskdef_parse_capability (p->allowed_capabilities[i], &c) == 0 && c == cap)
        return true;
    }
  return false;
}

/* path is allowed when it is an allowed prefix or below one, component-wise. */
static bool
path_below (const char *path, const char *prefix)
{
  size_t n = strlen (prefix);
  while (n > 1 && prefix[n - 1] == '/')
    n--;
  if (n == 1 && prefix[0] == '/')
    return true;
  return strncmp (path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool
policy_allows_host_path (const struct taskdef_host_policy *p, const char *path)
{
  for (size_t i = 0; p && p->allowed_host_paths && p->allowed_host_paths[i]; i++)
    if (path_below (path, p->allowed_host_paths[i]))
      return true;
  return false;
}

static bool
policy_allows_device (const struct taskdef_host_policy *p, const char *path)
{
  for (size_t i = 0; p && p->allowed_devices && p->allowed_devices[i]; i++)
    if (strcmp (p->allowed_devices[i], path) == 0)
      return true;
  return false;
}

static int BERTH_PRINTF (3, 4) refuse (berth_err *err, const char *path, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return berth_err_set (err, 0, "%s: refused by this host's policy: %s", path, msg);
}

/* ------------------------------------------------------------------ capabilities */

static bool
strv_has (char *const *v, const char *s)
{
  return v && strv_contains (v, s);
}

/* Docker's defaults, minus drop, plus add; checked against the policy. Returns a vector of
 * "CAP_X" names. */
static int
container_capabilities (const struct taskdef_container *c, const char *cpath,
                        const struct taskdef_host_policy *policy, bool privileged, char ***ret,
                        berth_err *err)
{
  const char *const *defaults = runtime_default_capabilities ();
  cleanup_strv char **caps = xzalloc (sizeof (char *));
  int last = (int)cap_max_bits () - 1;

  if (privileged)
    {
      /* Every capability this host can grant, as Docker does: those in berthd's bounding
       * set. Asking for one outside it fails the container's start (a root without
       * CAP_SYS_RESOURCE, as on some lab hosts, could never run a privileged task). */
      for (int i = 0; i <= last; i++)
        {
          if (prctl (PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0) != 1)
            continue;
          cleanup_free char *name = taskdef_capability_name (i);
          strv_append (&caps, name);
        }
      *ret = steal_pointer (&caps);
      return 0;
    }
  if (!strv_has (c->cap_drop, "ALL"))
    for (size_t i = 0; defaults[i]; i++)
      if (!strv_has (c->cap_drop, defaults[i]))
        strv_append (&caps, defaults[i]);
  for (size_t i = 0; c->cap_add && c->cap_add[i]; i++)
    {
      cleanup_free char *p = xasprintf ("%s.linuxParameters.capabilities.add[%zu]", cpath, i);
      int from = 0, to = last;
      if (strcmp (c->cap_add[i], "ALL") != 0)
        {
          if (taskdef_parse_capability (c->cap_add[i], &from) < 0)
            return berth_err_set (err, 0, "%s: `%s` is not a Linux capability", p, c->cap_add[i]);
          to = from;
          if (from > last)
            return berth_err_set (err, 0, "%s: %s is not known to this host's kernel", p,
                                  c->cap_add[i]);
        }
      for (int cap = from; cap <= to; cap++)
        {
          cleanup_free char *name = taskdef_capability_name (cap);
          bool is_default = false;
          for (size_t j = 0; defaults[j]; j++)
            is_default |= strcmp (defaults[j], name) == 0;
          if (!is_default && !policy_allows_capability (policy, cap))
            return refuse (err, p,
                           "%s is beyond the default capabilities: add %s to "
                           "ALLOWED_CAPABILITIES in berthd.conf to allow it",
                           strcmp (c->cap_add[i], "ALL") == 0 ? "ALL" : name,
                           strcmp (c->cap_add[i], "ALL") == 0 ? "ALL" : name + 4);
          if (!strv_contains (caps, name))
            strv_append (&caps, name);
        }
    }
  if (c->ebpf_sidecar)
    {
      /* The eBPF sidecar profile: load programs and read perf events; ALLOW_EBPF_SIDECARS
       * was checked by the caller. */
      static const char *const ebpf[] = { "CAP_BPF", "CAP_PERFMON", NULL };
      for (size_t i = 0; ebpf[i]; i++)
        if (!strv_contains (caps, ebpf[i]))
          strv_append (&caps, ebpf[i]);
    }
  *ret = steal_pointer (&caps);
  return 0;
}

/* ------------------------------------------------------------------ env and args */

static void
env_set (char ***env, const char *name, const char *value, bool overwrite)
{
  size_t n = strlen (name);
  for (size_t i = 0; (*env)[i]; i++)
    if (strncmp ((*env)[i], name, n) == 0 && (*env)[i][n] == '=')
      {
        if (overwrite)
          {
            free ((*env)[i]);
            (*env)[i] = xasprintf ("%s=%s", name, value);
          }
        return;
      }
  {
    cleanup_free char *kv = xasprintf ("%s=%s", name, value);
    strv_append (env, kv);
  }
}

static bool
env_has (char *const *env, const char *name)
{
  size_t n = strlen (name);
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp (env[i], name, n) == 0 && env[i][n] == '=')
      return true;
  return false;
}

/* Docker's rule: an entryPoint in the task replaces the image's Entrypoint and drops its
 * Cmd; a command replaces the Cmd. */
static char **
container_args (const struct taskdef_container *c, const struct taskdef_image_config *img,
                const char *init)
{
  char *const *entry = c->entry_point ? c->entry_point : img->entrypoint;
  char *const *cmd = c->command ? c->command : (c->entry_point ? NULL : img->cmd);
  char **args = xzalloc (sizeof (char *));
  if (init)
    {
      strv_append (&args, init);
      strv_append (&args, "--");
    }
  for (size_t i = 0; entry && entry[i]; i++)
    strv_append (&args, entry[i]);
  for (size_t i = 0; cmd && cmd[i]; i++)
    strv_append (&args, cmd[i]);
  return args;
}

/* ------------------------------------------------------------------ rlimits */

static const char *
rlimit_name (int resource)
{
  switch (resource)
    {
    case RLIMIT_CORE:
      return "RLIMIT_CORE";
    case RLIMIT_CPU:
      return "RLIMIT_CPU";
    case RLIMIT_DATA:
      return "RLIMIT_DATA";
    case RLIMIT_FSIZE:
      return "RLIMIT_FSIZE";
    case RLIMIT_LOCKS:
      return "RLIMIT_LOCKS";
    case RLIMIT_MEMLOCK:
      return "RLIMIT_MEMLOCK";
    case RLIMIT_MSGQUEUE:
      return "RLIMIT_MSGQUEUE";
    case RLIMIT_NICE:
      return "RLIMIT_NICE";
    case RLIMIT_NOFILE:
      return "RLIMIT_NOFILE";
    case RLIMIT_NPROC:
      return "RLIMIT_NPROC";
    case RLIMIT_RSS:
      return "RLIMIT_RSS";
    case RLIMIT_RTPRIO:
      return "RLIMIT_RTPRIO";
    case RLIMIT_RTTIME:
      return "RLIMIT_RTTIME";
    case RLIMIT_SIGPENDING:
      return "RLIMIT_SIGPENDING";
    case RLIMIT_STACK:
      return "RLIMIT_STACK";
    default:
      abort ();
    }
}

static void
set_rlimits (json_object *process, const struct taskdef_container *c)
{
  json_object *rl = json_object_object_get (process, "rlimits");
  if (rl == NULL)
    {
      rl = json_object_new_array ();
      json_object_object_add (process, "rlimits", rl);
    }
  for (size_t i = 0; i < c->n_ulimits; i++)
    {
      const char *name = rlimit_name (c->ulimits[i].resource);
      json_object *e = json_object_new_object ();
      size_t n = json_object_array_length (rl), j;
      set_string (e, "type", name);
      set_uint (e, "hard", c->ulimits[i].hard);
      set_uint (e, "soft", c->ulimits[i].soft);
      for (j = 0; j < n; j++)
        if (strcmp (json_object_get_string (
                        json_object_object_get (json_object_array_get_idx (rl, j), "type")),
                    name)
            == 0)
          break;
      if (j < n)
        json_object_array_put_idx (rl, j, e);
      else
        json_object_array_add (rl, e);
    }
}

/* ------------------------------------------------------------------ volumes */

/* The container's own mountPoints, then those of volumesFrom sources (transitively, as
 * Docker does), each once by container path. */
static int
add_volume_mounts (const struct taskdef *td, size_t idx, bool inherited, bool read_only,
                   const char *cpath, const struct taskdef_oci_context *ctx, bool *visited,
                   json_object *mounts, berth_err *err)
{
  const struct taskdef_container *c = &td->containers[idx];
  if (visited[idx])
    return 0;
  visited[idx] = true;
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      const struct taskdef_mount_point *m = &c->mount_points[i];
      const struct taskdef_volume *v = &td->volumes[m->volume];
      /* A container's own mount wins over one it inherits at the same path. */
      if (inherited && find_mount (mounts, m->container_path, NULL))
        continue;
      if (ctx->volume_paths == NULL || ctx->volume_paths[m->volume] == NULL)
        return berth_err_set (err, 0,
                              "%s: no host path for volume `%s` (the agent's context "
                              "is incomplete)",
                              cpath, v->name);
      add_bind (mounts, m->container_path, ctx->volume_paths[m->volume], m->read_only || read_only);
    }
  for (size_t i = 0; i < c->n_volumes_from; i++)
    {
      const struct taskdef_volume_from *vf = &c->volumes_from[i];
      int r = add_volume_mounts (td, vf->index, true, read_only || vf->read_only, cpath, ctx,
                                 visited, mounts, err);
      if (r < 0)
        return r;
    }
  return 0;
}

static int
check_volume_policy (const struct taskdef *td, size_t idx, const struct taskdef_host_policy *p,
                     bool *visited, berth_err *err)
{
  const struct taskdef_container *c = &td->containers[idx];
  if (visited[idx])
    return 0;
  visited[idx] = true;
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      const struct taskdef_volume *v = &td->volumes[c->mount_points[i].volume];
      if (v->host_source_path && !policy_allows_host_path (p, v->host_source_path))
        {
          cleanup_free char *path
              = xasprintf ("volumes[%zu].host.sourcePath", c->mount_points[i].volume);
          return refuse (err, path,
                         "`%s` is not below ALLOWED_HOST_PATHS in berthd.conf (add "
                         "it there to allow this bind mount)",
                         v->host_source_path);
        }
    }
  for (size_t i = 0; i < c->n_volumes_from; i++)
    {
      int r = check_volume_policy (td, c->volumes_from[i].index, p, visited, err);
      if (r < 0)
        return r;
    }
  return 0;
}

/* ------------------------------------------------------------------ devices */

static int
add_devices (const struct taskdef_container *c, const char *cpath,
             const struct taskdef_host_policy *policy, bool privileged, json_object *jlinux,
             berth_err *err)
{
  json_object *devs, *rules;
  if (c->n_devices == 0)
    return 0;
  devs = json_object_object_get (jlinux, "devices");
  if (devs == NULL)
    {
      devs = json_object_new_array ();
      json_object_object_add (jlinux, "devices", devs);
    }
  rules = json_object_object_get (obj_child (jlinux, "resources"), "devices");
  if (rules == NULL)
    {
      rules = json_object_new_array ();
      json_object_object_add (obj_child (jlinux, "resources"), "devices", rules);
    }
  for (size_t i = 0; i < c->n_devices; i++)
    {
      const struct taskdef_device *d = &c->devices[i];
      cleanup_free char *p = xasprintf ("%s.linuxParameters.devices[%zu].hostPath", cpath, i);
      json_object *e, *rule;
      char access[4] = "";
      struct stat st;

      if (!privileged && !policy_allows_device (policy, d->host_path))
        return refuse (err, p,
                       "`%s` is not in ALLOWED_DEVICES in berthd.conf (add it there to "
                       "pass the device in)",
                       d->host_path);
      if (stat (d->host_path, &st) < 0)
        return berth_err_set (err, errno, "%s: stat `%s`", p, d->host_path);
      if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
        return berth_err_set (err, 0, "%s: `%s` is not a device node", p, d->host_path);
      e = json_object_new_object ();
      set_string (e, "path", d->container_path);
      set_string (e, "type", S_ISCHR (st.st_mode) ? "c" : "b");
      set_uint (e, "major", major (st.st_rdev));
      set_uint (e, "minor", minor (st.st_rdev));
      json_object_object_add (e, "fileMode", json_object_new_int (st.st_mode & 0777));
      set_uint (e, "uid", 0);
      set_uint (e, "gid", 0);
      json_object_array_add (devs, e);
      if (d->read)
        strcat (access, "r");
      if (d->write)
        strcat (access, "w");
      if (d->mknod)
        strcat (access, "m");
      rule = json_object_new_object ();
      json_object_object_add (rule, "allow", json_object_new_boolean (true));
      set_string (rule, "type", S_ISCHR (st.st_mode) ? "c" : "b");
      set_uint (rule, "major", major (st.st_rdev));
      set_uint (rule, "minor", minor (st.st_rdev));
      set_string (rule, "access", access);
      json_object_array_add (rules, rule);
    }
  return 0;
}

/* ------------------------------------------------------------------ the conversion */

static int
check_policy (const struct taskdef *td, const struct taskdef_container *c, const char *cpath,
              const struct taskdef_host_policy *p, berth_err *err)
{
  bool privileged_ok = p && p->allow_privileged;
  if (c->privileged && !privileged_ok)
    {
      cleanup_free char *path = xasprintf ("%s.privileged", cpath);
      return refuse (err, path,
                     "set ALLOW_PRIVILEGED=true in berthd.conf to allow privileged "
                     "containers");
    }
  if (c->ebpf_sidecar && !(p && p->allow_ebpf_sidecars))
    {
      cleanup_free char *path = xasprintf (TASKDEF_BERTH_KEY ".containers.%s.ebpfSidecar", c->name);
      return refuse (err, path,
                     "set ALLOW_EBPF_SIDECARS=true in berthd.conf to allow eBPF "
                     "sidecars");
    }
  if (td->network_mode == TASKDEF_NETWORK_HOST && !(p && p->allow_host_network))
    return refuse (err, "networkMode",
                   "host networking shares the host's network stack: set "
                   "ALLOW_HOST_NETWORK=true in berthd.conf to allow it");
  if (td->pid_mode == TASKDEF_NS_HOST && !(p && p->allow_host_namespaces))
    return refuse (err, "pidMode",
                   "host shares the host's processes: set "
                   "ALLOW_HOST_NAMESPACES=true in berthd.conf to allow it");
  if (td->ipc_mode == TASKDEF_NS_HOST && !(p && p->allow_host_namespaces))
    return refuse (err, "ipcMode",
                   "host shares the host's IPC namespace: set "
                   "ALLOW_HOST_NAMESPACES=true in berthd.conf to allow it");
  return 0;
}

int
taskdef_check_policy (const struct taskdef *td, const struct taskdef_host_policy *policy,
                      berth_err *err)
{
  for (size_t idx = 0; idx < td->n_containers; idx++)
    {
      const struct taskdef_container *c = &td->containers[idx];
      cleanup_free char *cpath = bjson_path_index ("containerDefinitions", idx);
      cleanup_free bool *visited = NULL;
      cleanup_strv char **caps = NULL;
      bool privileged = c->privileged && policy && policy->allow_privileged;
      int r = check_policy (td, c, cpath, policy, err);
      if (r < 0)
        return r;
      r = container_capabilities (c, cpath, policy, privileged, &caps, err);
      if (r < 0)
        return r;
      if (privileged)
        continue;
      visited = xzalloc (td->n_containers + 1);
      r = check_volume_policy (td, idx, policy, visited, err);
      if (r < 0)
        return r;
      for (size_t i = 0; i < c->n_devices; i++)
        if (!policy_allows_device (policy, c->devices[i].host_path))
          {
            cleanup_free char *p = xasprintf ("%s.linuxParameters.devices[%zu].hostPath", cpath, i);
            return refuse (err, p,
                           "`%s` is not in ALLOWED_DEVICES in berthd.conf (add it there to "
                           "pass the device in)",
                           c->devices[i].host_path);
          }
    }
  return 0;
}

int
taskdef_container_oci_spec (const struct taskdef *td, size_t idx,
                            const struct taskdef_image_config *image,
                            const struct taskdef_oci_context *ctx, json_object **ret,
                            berth_err *err)
{
  static const struct taskdef_image_config no_image = { 0 };
  const struct taskdef_container *c;
  const struct taskdef_host_policy *policy = ctx->policy;
  cleanup_free char *cpath = NULL;
  cleanup_free char *user_path = NULL;
  cleanup_json json_object *spec = NULL;
  cleanup_strv char **args = NULL;
  cleanup_strv char **env = NULL;
  cleanup_strv char **caps = NULL;
  cleanup_free bool *visited = NULL;
  struct taskdef_user user = { 0 };
  json_object *process, *jlinux, *mounts, *resources, *jcaps, *annotations;
  const char *cwd, *hostname;
  bool privileged;
  int r;

  if (idx >= td->n_containers)
    return berth_err_set (err, EINVAL, "container index %zu out of range", idx);
  c = &td->containers[idx];
  if (image == NULL)
    image = &no_image;
  cpath = bjson_path_index ("containerDefinitions", idx);

  r = check_policy (td, c, cpath, policy, err);
  if (r < 0)
    return r;
  privileged = c->privileged;
  visited = xzalloc (td->n_containers + 1);
  if (!(privileged && policy && policy->allow_privileged))
    {
      r = check_volume_policy (td, idx, policy, visited, err);
      if (r < 0)
        return r;
    }

  /* Which namespaces the task gives: fail before building anything. */
  if (td->network_mode != TASKDEF_NETWORK_HOST && !c->disable_networking && ctx->netns_path == NULL)
    return berth_err_set (err, EINVAL, "%s: the task's network namespace path is missing", cpath);
  if (td->pid_mode == TASKDEF_NS_TASK && ctx->pidns_path == NULL)
    return berth_err_set (err, EINVAL, "%s: pidMode task needs the task's pid namespace path",
                          cpath);
  if (td->ipc_mode == TASKDEF_NS_TASK && (ctx->ipcns_path == NULL || ctx->shm_path == NULL))
    return berth_err_set (
        err, EINVAL, "%s: ipcMode task needs the task's ipc namespace and /dev/shm paths", cpath);
  if (c->init_process && ctx->init_path == NULL)
    return berth_err_set (err, EINVAL, "%s: initProcessEnabled needs berth-init's path", cpath);
  if (ctx->rootfs == NULL)
    return berth_err_set (err, EINVAL, "%s: the container's rootfs path is missing", cpath);

  user_path = xasprintf ("%s.user", cpath);
  r = taskdef_resolve_user (ctx->rootfs_fd, c->user ? c->user : image->user,
                            c->user ? user_path : "the image's User", &user, err);
  if (r < 0)
    return r;

  spec = runtime_spec_default ();
  process = obj_child (spec, "process");
  jlinux = obj_child (spec, "linux");
  resources = obj_child (jlinux, "resources");
  mounts = json_object_object_get (spec, "mounts");
  if (mounts == NULL)
    {
      mounts = json_object_new_array ();
      json_object_object_add (spec, "mounts", mounts);
    }

  /* process */
  args = container_args (c, image, c->init_process ? TASKDEF_INIT_CONTAINER_PATH : NULL);
  if (args[0] == NULL || (c->init_process && args[2] == NULL))
    {
      taskdef_user_clear (&user);
      return berth_err_set (err, 0,
                            "%s: nothing to run: set command or entryPoint (the image "
                            "has no Entrypoint or Cmd)",
                            cpath);
    }
  json_object_object_add (process, "args", strv_to_json (args));

  env = xzalloc (sizeof (char *));
  for (size_t i = 0; image->env && image->env[i]; i++)
    if (strchr (image->env[i], '=') != NULL)
      {
        cleanup_free char *name = xstrndup (image->env[i], strcspn (image->env[i], "="));
        env_set (&env, name, strchr (image->env[i], '=') + 1, true);
      }
  for (size_t i = 0; i < c->n_env; i++)
    env_set (&env, c->env[i].name, c->env[i].value, true);
  env_set (&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", false);
  hostname = c->hostname ? c->hostname : ctx->hostname ? ctx->hostname : td->hostname;
  if (hostname)
    env_set (&env, "HOSTNAME", hostname, false);
  if (c->pseudo_terminal)
    env_set (&env, "TERM", "xterm", false);
  if (!env_has (env, "HOME"))
    env_set (&env, "HOME", user.home ? user.home : "/", false);
  json_object_object_add (process, "env", strv_to_json (env));

  cwd = c->working_dir ? c->working_dir : image->working_dir;
  if (cwd == NULL || *cwd == '\0')
    cwd = "/";
  if (cwd[0] != '/')
    {
      cleanup_free char *abs = xasprintf ("/%s", cwd);
      set_string (process, "cwd", abs);
    }
  else
    set_string (process, "cwd", cwd);
  json_object_object_add (process, "terminal", json_object_new_boolean (c->pseudo_terminal));
  {
    json_object *u = json_object_new_object ();
    set_uint (u, "uid", user.uid);
    set_uint (u, "gid", user.gid);
    if (user.n_additional_gids)
      {
        json_object *g = json_object_new_array ();
        for (size_t i = 0; i < user.n_additional_gids; i++)
          json_object_array_add (g, json_object_new_uint64 (user.additional_gids[i]));
        json_object_object_add (u, "additionalGids", g);
      }
    json_object_object_add (process, "user", u);
  }
  taskdef_user_clear (&user);

  r = container_capabilities (c, cpath, policy, privileged, &caps, err);
  if (r < 0)
    return r;
  jcaps = json_object_new_object ();
  json_object_object_add (jcaps, "bounding", strv_to_json (caps));
  json_object_object_add (jcaps, "effective", strv_to_json (caps));
  json_object_object_add (jcaps, "permitted", strv_to_json (caps));
  json_object_object_add (process, "capabilities", jcaps);
  set_rlimits (process, c);

  /* root, hostname, namespaces */
  {
    json_object *root = obj_child (spec, "root");
    set_string (root, "path", ctx->rootfs);
    json_object_object_add (root, "readonly", json_object_new_boolean (c->readonly_rootfs));
  }
  if (hostname)
    set_string (spec, "hostname", hostname);
  if (td->network_mode == TASKDEF_NETWORK_HOST && !c->disable_networking)
    set_namespace (spec, "network", NULL, true);
  else
    set_namespace (spec, "network", c->disable_networking ? NULL : ctx->netns_path, false);
  if (td->pid_mode == TASKDEF_NS_HOST)
    set_namespace (spec, "pid", NULL, true);
  else
    set_namespace (spec, "pid", td->pid_mode == TASKDEF_NS_TASK ? ctx->pidns_path : NULL, false);
  if (td->ipc_mode == TASKDEF_NS_HOST)
    set_namespace (spec, "ipc", NULL, true);
  else
    set_namespace (spec, "ipc", td->ipc_mode == TASKDEF_NS_TASK ? ctx->ipcns_path : NULL, false);
  if (ctx->cgroup_parent)
    {
      /* "ctr-": a cgroup v1 directory already holds a file named "tasks" (and others); a
       * container named after one must not collide with it */
      cleanup_free char *cg = xasprintf ("%s/ctr-%s", ctx->cgroup_parent, c->name);
      set_string (jlinux, "cgroupsPath", cg);
    }

  /* mounts: /dev/shm, /etc files, berth-init, tmpfs, volumes */
  {
    size_t shm_idx;
    if (td->ipc_mode == TASKDEF_NS_NONE)
      {
        if (find_mount (mounts, "/dev/shm", &shm_idx))
          json_object_array_del_idx (mounts, shm_idx, 1);
      }
    else if (td->ipc_mode == TASKDEF_NS_TASK)
      add_bind (mounts, "/dev/shm", ctx->shm_path, false);
    else if (td->ipc_mode == TASKDEF_NS_HOST)
      add_bind (mounts, "/dev/shm", "/dev/shm", false);
    else if (c->has_shm_size)
      {
        cleanup_free char *size = xasprintf ("size=%" PRIu64 "m", c->shm_size_mib);
        const char *opts[] = { "nosuid", "noexec", "nodev", "mode=1777", size, NULL };
        add_mount (mounts, "/dev/shm", "tmpfs", "shm", opts);
      }
  }
  if (ctx->resolv_conf_path)
    add_bind (mounts, "/etc/resolv.conf", ctx->resolv_conf_path, true);
  if (ctx->hosts_path)
    add_bind (mounts, "/etc/hosts", ctx->hosts_path, true);
  if (ctx->hostname_path)
    add_bind (mounts, "/etc/hostname", ctx->hostname_path, true);
  if (c->init_process)
    add_bind (mounts, TASKDEF_INIT_CONTAINER_PATH, ctx->init_path, true);
  for (size_t i = 0; i < c->n_tmpfs; i++)
    {
      const struct taskdef_tmpfs *t = &c->tmpfs[i];
      cleanup_free char *size = xasprintf ("size=%" PRIu64 "m", t->size_mib);
      cleanup_strv char **opts = xzalloc (sizeof (char *));
      /* Docker's --tmpfs defaults; the task's options come after and win. */
      strv_append (&opts, "nosuid");
      strv_append (&opts, "nodev");
      strv_append (&opts, "noexec");
      for (size_t j = 0; t->options && t->options[j]; j++)
        if (strcmp (t->options[j], "defaults") != 0)
          strv_append (&opts, t->options[j]);
      strv_append (&opts, size);
      add_mount (mounts, t->container_path, "tmpfs", "tmpfs", (const char *const *)opts);
    }
  memset (visited, 0, td->n_containers);
  r = add_volume_mounts (td, idx, false, false, cpath, ctx, visited, mounts, err);
  if (r < 0)
    return r;

  /* devices */
  r = add_devices (c, cpath, policy, privileged, jlinux, err);
  if (r < 0)
    return r;

  /* resources: ECS/Docker units */
  {
    json_object *cpu = obj_child (resources, "cpu");
    uint64_t shares = c->cpu < CPU_SHARES_MIN ? CPU_SHARES_MIN : c->cpu;
    set_uint (cpu, "shares", shares > CPU_SHARES_MAX ? CPU_SHARES_MAX : shares);
  }
  if (c->memory_mib || c->memory_reservation_mib || c->has_max_swap || c->has_swappiness)
    {
      json_object *mem = obj_child (resources, "memory");
      if (c->memory_mib)
        set_uint (mem, "limit", c->memory_mib * MIB);
      if (c->memory_reservation_mib)
        set_uint (mem, "reservation", c->memory_reservation_mib * MIB);
      if (c->has_max_swap)
        set_uint (mem, "swap", (c->memory_mib + c->max_swap_mib) * MIB);
      if (c->has_swappiness)
        set_uint (mem, "swappiness", c->swappiness);
    }

  /* sysctls: the parser already refused what is not namespaced */
  if (c->n_sysctls)
    {
      json_object *s = obj_child (jlinux, "sysctl");
      for (size_t i = 0; i < c->n_sysctls; i++)
        set_string (s, c->sysctls[i].name, c->sysctls[i].value);
    }

  if (privileged)
    {
      /* Docker's --privileged: no seccomp, no masked or read-only /proc and /sys paths,
       * writable /sys and cgroupfs, every device allowed in the device cgroup. */
      json_object *rules = json_object_new_array ();
      json_object *all = json_object_new_object ();
      json_object_object_del (jlinux, "seccomp");
      json_object_object_del (jlinux, "maskedPaths");
      json_object_object_del (jlinux, "readonlyPaths");
      json_object_object_add (all, "allow", json_object_new_boolean (true));
      set_string (all, "access", "rwm");
      json_object_array_add (rules, all);
      json_object_object_add (resources, "devices", rules);
      for (size_t i = 0; i < json_object_array_length (mounts); i++)
        {
          json_object *m = json_object_array_get_idx (mounts, i);
          const char *type = json_object_get_string (json_object_object_get (m, "type"));
          json_object *opts = json_object_object_get (m, "options");
          if (strcmp (type, "sysfs") != 0 && strcmp (type, "cgroup") != 0)
            continue;
          for (size_t j = 0; opts && j < json_object_array_length (opts); j++)
            if (strcmp (json_object_get_string (json_object_array_get_idx (opts, j)), "ro") == 0)
              json_object_array_put_idx (opts, j, json_object_new_string ("rw"));
        }
    }
  else
    json_object_object_add (jlinux, "seccomp", runtime_default_seccomp ((const char *const *)caps));

  /* annotations: the image's labels, the task's dockerLabels over them, and berth's */
  annotations = obj_child (spec, "annotations");
  for (size_t i = 0; image->labels && image->labels[i]; i++)
    {
      const char *eq = strchr (image->labels[i], '=');
      if (eq)
        {
          cleanup_free char *k = xstrndup (image->labels[i], (size_t)(eq - image->labels[i]));
          set_string (annotations, k, eq + 1);
        }
    }
  for (size_t i = 0; c->labels && c->labels[i]; i++)
    {
      const char *eq = strchr (c->labels[i], '=');
      cleanup_free char *k = xstrndup (c->labels[i], (size_t)(eq - c->labels[i]));
      set_string (annotations, k, eq + 1);
    }
  if (ctx->task_id)
    set_string (annotations, "io.berth.task.id", ctx->task_id);
  set_string (annotations, "io.berth.task.family", td->family);
  set_string (annotations, "io.berth.container.name", c->name);

  *ret = steal_pointer (&spec);
  return 0;
}

int
taskdef_container_stop_signal (const struct taskdef *td, size_t idx,
                               const struct taskdef_image_config *image, int *ret, berth_err *err)
{
  const struct taskdef_container *c = &td->containers[idx];
  int sig;
  if (c->stop_signal)
    {
      if (taskdef_parse_signal (c->stop_signal, &sig) < 0)
        return berth_err_set (err, 0,
                              TASKDEF_BERTH_KEY ".containers.%s.stopSignal: `%s` is not a "
                                                "signal",
                              c->name, c->stop_signal);
    }
  else if (image && image->stop_signal && *image->stop_signal)
    {
      if (taskdef_parse_signal (image->stop_signal, &sig) < 0)
        return berth_err_set (err, 0, "the image's StopSignal `%s` is not a signal",
                              image->stop_signal);
    }
  else
    sig = SIGTERM;
  *ret = sig;
  return 0;
}

uint64_t
taskdef_task_shm_size_mib (const struct taskdef *td)
{
  uint64_t size = 0;
  for (size_t i = 0; i < td->n_containers; i++)
    if (td->containers[i].has_shm_size && td->containers[i].shm_size_mib > size)
      size = td->containers[i].shm_size_mib;
  return size ? size : 64;
}

void
taskdef_container_etc_files (const struct taskdef *td, size_t idx, const char *task_hostname,
                             const char *task_resolv_conf, const char *task_hosts,
                             struct taskdef_etc_files *ret)
{
  const struct taskdef_container *c = &td->containers[idx];
  memset (ret, 0, sizeof *ret);
  ret->hostname = xstrdup (c->hostname     ? c->hostname
                           : task_hostname ? task_hostname
                           : td->hostname  ? td->hostname
                                           : c->name);
  if (c->hostname && (task_hostname == NULL || strcmp (c->hostname, task_hostname) != 0))
    ret->hostname_file = xasprintf ("%s\n", c->hostname);
  if (c->dns_servers || c->dns_search_domains)
    {
      /* Docker's --dns and --dns-search replace the nameserver and search lines of the
       * file they start from and keep its options. */
      cleanup_free char *copy = xstrdup (task_resolv_conf ? task_resolv_conf : "");
      char *out = xstrdup (""), *save = NULL;
      for (char *l = strtok_r (copy, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
        {
          char *n;
          bool ns = str_has_prefix (l, "nameserver") && (l[10] == ' ' || l[10] == '\t');
          bool search = (str_has_prefix (l, "search") && (l[6] == ' ' || l[6] == '\t'))
                        || (str_has_prefix (l, "domain") && (l[6] == ' ' || l[6] == '\t'));
          if ((ns && c->dns_servers) || (search && c->dns_search_domains))
            continue;
          n = xasprintf ("%s%s\n", out, l);
          free (out);
          out = n;
        }
      for (size_t i = 0; c->dns_servers && c->dns_servers[i]; i++)
        {
          char *n = xasprintf ("%snameserver %s\n", out, c->dns_servers[i]);
          free (out);
          out = n;
        }
      if (c->dns_search_domains && c->dns_search_domains[0])
        {
          char *n = xasprintf ("%ssearch", out);
          free (out);
          out = n;
          for (size_t i = 0; c->dns_search_domains[i]; i++)
            {
              n = xasprintf ("%s %s", out, c->dns_search_domains[i]);
              free (out);
              out = n;
            }
          n = xasprintf ("%s\n", out);
          free (out);
          out = n;
        }
      ret->resolv_conf = out;
    }
  if (c->n_extra_hosts || ret->hostname_file)
    {
      char *out = xstrdup (task_hosts ? task_hosts : "");
      if (*out && out[strlen (out) - 1] != '\n')
        {
          char *n = xasprintf ("%s\n", out);
          free (out);
          out = n;
        }
      if (ret->hostname_file)
        {
          char *n = xasprintf ("%s127.0.1.1\t%s\n", out, c->hostname);
          free (out);
          out = n;
        }
      for (size_t i = 0; i < c->n_extra_hosts; i++)
        {
          char *n = xasprintf ("%s%s\t%s\n", out, c->extra_hosts[i].address,
                               c->extra_hosts[i].hostname);
          free (out);
          out = n;
        }
      ret->hosts = out;
    }
}

void
taskdef_etc_files_clear (struct taskdef_etc_files *f)
{
  free (f->hostname);
  free (f->hostname_file);
  free (f->resolv_conf);
  free (f->hosts);
  memset (f, 0, sizeof *f);
}
