/* Container operations behind the OCI command line: create (validate, prepare, clone, drive
 * the first process through its setup), start, run, state, kill, delete and list. A failed
 * create leaves nothing behind: no process, cgroup, state directory or pid file. */
#include "runtime/internal.h"

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#define DEFAULT_ROOT "/run/berth-runtime"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PID_SENTINEL 1234567891

static const char *
root_of (const struct runtime_context *ctx)
{
  return ctx && ctx->root ? ctx->root : DEFAULT_ROOT;
}

static void
warn (const struct runtime_context *ctx, berth_err *err)
{
  if (ctx && ctx->warn)
    ctx->warn (ctx->userdata, berth_err_msg (err));
  berth_err_free (err);
}

/* runtime-spec: a failing poststart or poststop hook is logged as a warning, and the
 * remaining hooks and the lifecycle go on as if it had succeeded. */
static void
run_hooks_warning (const struct runtime_context *ctx, const struct rt_hooks *hooks,
                   enum rt_hook_kind kind, const char *state_json)
{
  for (size_t i = 0; i < hooks->n[kind]; i++)
    {
      struct rt_hooks one = { 0 };
      cleanup_err berth_err herr = NULL;
      one.v[kind] = &hooks->v[kind][i];
      one.n[kind] = 1;
      if (rt_hooks_run (&one, kind, state_json, &herr) < 0)
        warn (ctx, &herr);
    }
}

/* ------------------------------------------------------------------ host checks */

static char *
cap_name (int c)
{
  char *n = cap_to_name ((cap_value_t)c);
  char *r = xstrdup (n ? n : "?");
  cap_free (n);
  for (char *p = r; *p; p++)
    *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  return r;
}

static bool
have_effective_cap (int c)
{
  cap_t caps = cap_get_proc ();
  cap_flag_value_t v = CAP_CLEAR;
  if (caps)
    {
      cap_get_flag (caps, (cap_value_t)c, CAP_EFFECTIVE, &v);
      cap_free (caps);
    }
  return v == CAP_SET;
}

/* A request the host cannot grant is refused here, by name, before anything exists. */
int
rt_check_host_grants (const struct rt_process *p, const char *path, berth_err *err)
{
  static const char *const set_names[RT_CAP_NSETS]
      = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  uint64_t host = rt_cap_host_bounding ();
  int last = rt_cap_last ();
  bool sys_resource = have_effective_cap (CAP_SYS_RESOURCE);

  if (p->has_caps)
    for (int s = 0; s < RT_CAP_NSETS; s++)
      for (int c = 0; c < 64; c++)
        {
          cleanup_free char *name = NULL;
          if (!(p->caps[s] & (UINT64_C (1) << c)))
            continue;
          if (c > last)
            {
              name = cap_name (c);
              return berth_err_set (err, 0,
                                    "%s.capabilities.%s: %s is not supported by this kernel", path,
                                    set_names[s], name);
            }
          if (!(host & (UINT64_C (1) << c)))
            {
              name = cap_name (c);
              return berth_err_set (err, 0,
                                    "%s.capabilities.%s: %s cannot be granted: it is not in "
                                    "this host's capability bounding set",
                                    path, set_names[s], name);
            }
        }
  for (size_t i = 0; i < p->n_rlimits; i++)
    {
      struct rlimit cur;
      if (getrlimit ((__rlimit_resource_t)p->rlimits[i].resource, &cur) < 0)
        return berth_err_set (err, errno, "getrlimit %s", p->rlimits[i].name);
      if (p->rlimits[i].hard > cur.rlim_max && !sys_resource)
        return berth_err_set (err, 0,
                              "%s.rlimits[%zu]: the hard limit %" PRIu64 " of %s is above this "
                              "host's hard limit %" PRIu64
                              ", and raising it needs CAP_SYS_RESOURCE, which this host does "
                              "not grant",
                              path, i, p->rlimits[i].hard, p->rlimits[i].name,
                              (uint64_t)cur.rlim_max);
    }
  if (p->has_oom_score_adj && !sys_resource)
    {
      int64_t cur = 0;
      cleanup_free char *text = NULL;
      if (berth_read_file_at (AT_FDCWD, "/proc/self/oom_score_adj", 64, &text, NULL, NULL) == 0)
        {
          text[strcspn (text, "\n")] = '\0';
          if (berth_parse_int64 (text, &cur) < 0)
            cur = 0;
        }
      if (p->oom_score_adj < cur)
        return berth_err_set (err, 0,
                              "%s.oomScoreAdj: %d is below the runtime's own %" PRId64
                              ", and lowering it needs CAP_SYS_RESOURCE, which this host does "
                              "not grant",
                              path, p->oom_score_adj, cur);
    }
  return 0;
}

/* ------------------------------------------------------------------ plan */

struct create_ctx
{
  const struct runtime_context *ctx;
  const char *id;
  char *bundle;
  struct rt_config *config;
  char *config_text;
  size_t config_len;
  struct rt_init init;
  struct rt_cgroup *cg;
  int rootfd, statefd, cachefd, own_pidns, own_timens;
  bool state_created;
  int sync_fds[2];
  int start_fds[2];
  int console_sock;
  int pidfd;
  pid_t pid;
  int pty_master;
  char *state_json_created; /* template with PID_SENTINEL */
  json_object *host_mounts; /* made in the host's mount namespace (no mount namespace) */
};

static void
create_ctx_init (struct create_ctx *x)
{
  memset (x, 0, sizeof *x);
  x->rootfd = x->statefd = x->cachefd = x->own_pidns = x->own_timens = x->console_sock = x->pidfd
      = x->pty_master = -1;
  x->sync_fds[0] = x->sync_fds[1] = x->start_fds[0] = x->start_fds[1] = -1;
  x->init.sync_fd = x->init.start_fd = x->init.start_peer_fd = x->init.join_pidfd = x->init.root_fd
      = -1;
  for (int k = 0; k < RT_NS_NKINDS; k++)
    x->init.ns_fds[k] = -1;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static void
create_ctx_free (struct create_ctx *x)
{
  struct rt_init *in = &x->init;
  free (x->bundle);
  free (x->config_text);
  free (in->rootfs);
  /* device paths are borrowed from the config */
  free (in->devs);
  rt_cgroup_mounts_free (in->cgroup_mounts, in->n_cgroup_mounts);
  strv_free (in->sysctl_paths);
  strv_free (in->path_dirs);
  if (in->caps)
    cap_free (in->caps);
  rt_bpf_free (&in->seccomp);
  free ((char *)in->state_prefix_created);
  free ((char *)in->state_suffix);
  free (in->hook_buf);
  for (int k = 0; k < RT_NS_NKINDS; k++)
    close_fd (&in->ns_fds[k]);
  free (x->state_json_created);
  json_object_put (x->host_mounts);
  close_fd (&x->sync_fds[0]);
  close_fd (&x->sync_fds[1]);
  close_fd (&x->start_fds[0]);
  close_fd (&x->start_fds[1]);
  close_fd (&x->console_sock);
  close_fd (&x->pidfd);
  close_fd (&x->pty_master);
  close_fd (&x->statefd);
  close_fd (&x->cachefd);
  close_fd (&x->own_pidns);
  close_fd (&x->own_timens);
  close_fd (&x->rootfd);
  rt_cgroup_free (x->cg);
  rt_config_free (x->config);
}

static char *
state_json (const struct create_ctx *x, const char *status, pid_t pid)
{
  cleanup_json json_object *o = json_object_new_object ();
  json_object *ann;
  json_object_object_add (o, "ociVersion", json_object_new_string (RUNTIME_OCI_VERSION));
  json_object_object_add (o, "id", json_object_new_string (x->id));
  json_object_object_add (o, "status", json_object_new_string (status));
  json_object_object_add (o, "pid", json_object_new_int (pid));
  json_object_object_add (o, "bundle", json_object_new_string (x->bundle));
  if (json_object_object_get_ex (x->config->doc, "annotations", &ann)
      && json_object_get_type (ann) == json_type_object)
    json_object_object_add (o, "annotations", json_object_get (ann));
  return xstrdup (bjson_to_string (o));
}

/* Splits a state JSON rendered with PID_SENTINEL into the text before and after the pid. */
static void
split_state (const char *json, char **ret_prefix, char **ret_suffix)
{
  char sentinel[16];
  const char *at;
  snprintf (sentinel, sizeof sentinel, "%d", PID_SENTINEL);
  at = strstr (json, sentinel);
  *ret_prefix = xstrndup (json, (size_t)(at - json));
  *ret_suffix = xstrdup (at + strlen (sentinel));
}

static char *
state_with_pid (const char *tmpl, pid_t pid)
{
  cleanup_free char *prefix = NULL, *suffix = NULL;
  split_state (tmpl, &prefix, &suffix);
  return xasprintf ("%s%d%s", prefix, pid, suffix);
}

static int
prepare_devices (struct create_ctx *x, berth_err *err)
{
  const struct rt_config *c = x->config;
  struct rt_init *in = &x->init;
  size_t nd;
  const struct runtime_device *defs = runtime_default_devices (&nd);

  (void)err;
  in->devs = xzalloc ((nd + c->n_devices + 1) * sizeof (struct rt_dev_node));
  for (size_t i = 0; i < nd; i++)
    {
      bool overridden = false;
      /* linux.devices and a mount on the same path (what the config asks for) win. */
      for (size_t k = 0; k < c->n_devices; k++)
        overridden = overridden || strcmp (c->devices[k].path, defs[i].path) == 0;
      for (size_t k = 0; k < c->n_mounts; k++)
        overridden = overridden || strcmp (c->mounts[k].destination, defs[i].path) == 0;
      if (overridden)
        continue;
      in->devs[in->n_devs++] = (struct rt_dev_node){
        .path = defs[i].path,
        .type = defs[i].type,
        .rdev = makedev ((unsigned)defs[i].major, (unsigned)defs[i].minor),
        .mode = defs[i].mode,
      };
    }
  for (size_t k = 0; k < c->n_devices; k++)
    {
      const struct rt_device *d = &c->devices[k];
      in->devs[in->n_devs++] = (struct rt_dev_node){
        .path = d->path,
        .type = d->type,
        .rdev = makedev ((unsigned)d->major, (unsigned)d->minor),
        .mode = d->has_mode ? d->mode : 0666,
        .uid = d->has_uid ? d->uid : 0,
        .gid = d->has_gid ? d->gid : 0,
        .chown = d->has_uid || d->has_gid,
        .replace = true,
      };
    }
  return 0;
}

static void
prepare_path_dirs (struct rt_init *in, const struct rt_process *p)
{
  const char *path = DEFAULT_PATH;
  char *copy, *save = NULL;
  for (size_t i = 0; p->env[i]; i++)
    if (str_has_prefix (p->env[i], "PATH="))
      path = p->env[i] + 5;
  copy = xstrdup (path);
  in->path_dirs = xzalloc (sizeof (char *));
  for (char *tok = strtok_r (copy, ":", &save); tok; tok = strtok_r (NULL, ":", &save))
    strv_append (&in->path_dirs, tok);
  free (copy);
}

static void
prepare_caps (struct rt_init *in, const struct rt_process *p)
{
  static const cap_flag_t flags[] = { CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE };
  static const enum rt_cap_set sets[] = { RT_CAP_EFFECTIVE, RT_CAP_PERMITTED, RT_CAP_INHERITABLE };

  in->cap_last = rt_cap_last ();
  in->apply_caps = p->has_caps;
  if (!p->has_caps)
    return;
  in->caps = cap_init ();
  if (in->caps == NULL)
    abort ();
  for (int c = 0; c <= in->cap_last && c < 64; c++)
    for (size_t s = 0; s < ARRAY_SIZE (flags); s++)
      if (p->caps[sets[s]] & (UINT64_C (1) << c))
        {
          cap_value_t v = (cap_value_t)c;
          cap_set_flag (in->caps, flags[s], 1, &v, CAP_SET);
        }
}

static int
prepare_namespaces (struct create_ctx *x, int *ret_clone_flags, berth_err *err)
{
  const struct rt_config *c = x->config;
  struct rt_init *in = &x->init;
  int flags = 0;

  for (int k = 0; k < RT_NS_NKINDS; k++)
    {
      if (!c->ns[k].present)
        continue;
      if (c->ns[k].path)
        {
          cleanup_free char *jp = xasprintf ("linux.namespaces[%s].path", rt_ns_info[k].oci_name);
          int r = rt_ns_open ((enum rt_ns_kind)k, c->ns[k].path, jp, &in->ns_fds[k], err);
          if (r < 0)
            return r;
          continue;
        }
      if (k == RT_NS_CGROUP)
        in->unshare_cgroupns = true; /* once in the cgroup, so that it is the namespace root */
      else if (k != RT_NS_TIME)
        flags |= rt_ns_info[k].clone_flag;
    }
  in->new_userns = c->ns[RT_NS_USER].present && !c->ns[RT_NS_USER].path;
  in->in_userns = c->ns[RT_NS_USER].present;
  in->shared_mount_ns = !c->ns[RT_NS_MOUNT].present;
  in->cgroupns = c->ns[RT_NS_CGROUP].present;
  /* New namespaces must be owned by the container's user namespace. Joined by path: the
     child joins it first and unshares them then. New: the clone makes them in it, but for a
     new time namespace, which the child unshares (its offsets can only be written before a
     process enters it) and enters by one more fork, a new pid namespace with it. */
  if (c->ns[RT_NS_USER].present && c->ns[RT_NS_TIME].present && !c->ns[RT_NS_TIME].path)
    {
      in->unshare_flags |= CLONE_NEWTIME | (flags & CLONE_NEWPID);
      flags &= ~CLONE_NEWPID;
    }
  if (c->ns[RT_NS_USER].path && (flags || in->unshare_flags))
    {
      in->unshare_flags |= flags;
      flags = 0;
    }
  *ret_clone_flags = flags;
  return 0;
}

static int
prepare_sysctl_paths (struct create_ctx *x)
{
  const struct rt_config *c = x->config;
  x->init.sysctl_paths = xzalloc ((c->n_sysctl + 1) * sizeof (char *));
  for (size_t i = 0; i < c->n_sysctl; i++)
    {
      char *p = xasprintf ("/proc/sys/%s", c->sysctl[i].key);
      if (strchr (c->sysctl[i].key, '/') == NULL)
        for (char *q = p + strlen ("/proc/sys/"); *q; q++)
          if (*q == '.')
            *q = '/';
      x->init.sysctl_paths[i] = p;
    }
  return 0;
}

static int
resolve_paths (struct create_ctx *x, berth_err *err)
{
  struct rt_config *c = x->config;
  cleanup_free char *root = NULL;
  struct stat st;

  root = c->root_path[0] == '/' ? xstrdup (c->root_path)
                                : xasprintf ("%s/%s", x->bundle, c->root_path);
  x->init.rootfs = realpath (root, NULL);
  if (x->init.rootfs == NULL)
    return berth_err_set (err, errno, "root.path: `%s`", root);
  if (stat (x->init.rootfs, &st) < 0 || !S_ISDIR (st.st_mode))
    return berth_err_set (err, 0, "root.path: `%s` is not a directory", root);
  if (strcmp (x->init.rootfs, "/") == 0)
    return berth_err_set (err, 0, "root.path: the host's / cannot be a container's root");
  /* Bind sources relative to the bundle (runtime-spec: "relative to the bundle"). */
  for (size_t i = 0; i < c->n_mounts; i++)
    if (c->mounts[i].kind == RT_MOUNT_BIND && c->mounts[i].source[0] != '/')
      {
        char *abs = xasprintf ("%s/%s", x->bundle, c->mounts[i].source);
        free (c->mounts[i].source);
        c->mounts[i].source = abs;
      }
  return 0;
}

static int
load_config (struct create_ctx *x, berth_err *err)
{
  cleanup_close int bfd = open (x->bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_json json_object *doc = NULL;
  int r;

  if (bfd < 0)
    return berth_err_set (err, errno, "open bundle `%s`", x->bundle);
  r = berth_read_file_at (bfd, "config.json", 4u << 20, &x->config_text, &x->config_len, err);
  if (r < 0)
    return r;
  r = bjson_parse (x->config_text, x->config_len, "config.json", &doc, err);
  if (r < 0)
    return r;
  return rt_config_parse (doc, &x->config, err);
}

static int
prepare (struct create_ctx *x, const struct runtime_create_options *o, int *ret_clone_flags,
         berth_err *err)
{
  struct rt_config *c;
  struct rt_init *in = &x->init;
  int r;

  x->bundle = realpath (o && o->bundle ? o->bundle : ".", NULL);
  if (x->bundle == NULL)
    return berth_err_set (err, errno, "bundle `%s`", o && o->bundle ? o->bundle : ".");
  r = load_config (x, err);
  if (r < 0)
    return r;
  c = x->config;
  r = resolve_paths (x, err);
  if (r < 0)
    return r;
  if (c->process == NULL)
    return berth_err_set (err, 0, "process: required to create a container");
  r = rt_check_host_grants (c->process, "process", err);
  if (r < 0)
    return r;
  in->mode = RT_INIT_CREATE;
  in->config = c;
  in->process = c->process;
  in->preserve_fds = o ? o->preserve_fds : 0;
  in->new_keyring = !(o && o->no_new_keyring);
  if (c->seccomp)
    {
      r = rt_seccomp_compile_cached (x->cachefd, c->seccomp, &in->seccomp, err);
      if (r < 0)
        return r;
      in->has_seccomp = true;
    }
  if ((r = prepare_namespaces (x, ret_clone_flags, err)) < 0 || (r = prepare_devices (x, err)) < 0
      || (r = prepare_sysctl_paths (x)) < 0)
    return r;
  rt_prepare_process (in, c->process);

  x->state_json_created = state_json (x, "created", PID_SENTINEL);
  {
    char *pre, *suf;
    split_state (x->state_json_created, &pre, &suf);
    in->state_prefix_created = pre;
    in->state_suffix = suf;
    in->hook_buf_len = strlen (pre) + strlen (suf) + 16;
    in->hook_buf = xmalloc (in->hook_buf_len);
  }
  return 0;
}

void
rt_prepare_process (struct rt_init *in, const struct rt_process *p)
{
  prepare_path_dirs (in, p);
  prepare_caps (in, p);
}

/* ------------------------------------------------------------------ create */

static int
write_pid_file (const char *path, pid_t pid, berth_err *err)
{
  char buf[16];
  int n = snprintf (buf, sizeof buf, "%d", pid);
  int r = berth_write_file_replace_at (AT_FDCWD, path, buf, (size_t)n, 0644, err);
  if (r < 0)
    return berth_err_wrap (err, "--pid-file");
  return 0;
}

static void
fail_cleanup (struct create_ctx *x)
{
  cleanup_err berth_err ignored = NULL;
  /* Back in our own namespaces first, if create failed between joining or unsharing one for
     its children and the clone: nothing we start (LeakSanitizer's tracer) belongs there. */
  if (x->own_pidns >= 0)
    (void)setns (x->own_pidns, CLONE_NEWPID);
  if (x->own_timens >= 0)
    (void)setns (x->own_timens, CLONE_NEWTIME);
  if (x->pidfd >= 0)
    {
      siginfo_t info;
      syscall (SYS_pidfd_send_signal, x->pidfd, SIGKILL, NULL, 0);
      while (waitid (P_PIDFD, (id_t)x->pidfd, &info, WEXITED) < 0 && errno == EINTR)
        ;
    }
  rt_host_mounts_remove (x->host_mounts, &ignored);
  berth_err_free (&ignored);
  if (x->cg)
    {
      rt_cgroup_destroy (x->cg, &ignored);
      berth_err_free (&ignored);
    }
  if (x->state_created)
    {
      berth_rm_rf_at (x->rootfd, x->id, &ignored);
      x->state_created = false;
    }
}

/* What delete and exec need later: the config.json as it was at create (a change to the
 * bundle afterwards has no effect on the container) and the compiled seccomp program. */
static int
write_saved_files (struct create_ctx *x, berth_err *err)
{
  int r = berth_write_file_replace_at (x->statefd, "config.json", x->config_text, x->config_len,
                                       0600, err);
  if (r < 0)
    return r;
  if (x->init.has_seccomp)
    r = berth_write_file_replace_at (x->statefd, "seccomp.bpf", x->init.seccomp.insns,
                                     x->init.seccomp.len * sizeof (struct sock_filter), 0600, err);
  return r;
}

static int
write_final_state (struct create_ctx *x, berth_err *err)
{
  struct rt_state s = { 0 };
  json_object *ann = NULL;
  char created[BERTH_RFC3339_LEN];
  int r;

  s.id = (char *)x->id;
  s.oci_version = x->config->oci_version;
  s.pid = x->pid;
  s.bundle = x->bundle;
  s.rootfs = x->init.rootfs;
  berth_format_rfc3339 (berth_realtime_ns (), created, sizeof created);
  s.created = created;
  s.cgroup = x->cg ? (char *)rt_cgroup_path (x->cg) : NULL;
  if (json_object_object_get_ex (x->config->doc, "annotations", &ann)
      && json_object_get_type (ann) == json_type_object)
    s.annotations = ann;
  s.start_fd = x->start_fds[1];
  s.host_mounts = x->host_mounts;
  for (int k = 0; k < RT_NS_NKINDS; k++)
    if (x->config->ns[k].present)
      s.ns_flags |= rt_ns_info[k].clone_flag;
  if (x->pid > 0)
    {
      r = rt_proc_start_time (x->pid, &s.start_time, NULL, err);
      if (r < 0)
        return r;
    }
  else
    s.creating = true;
  return rt_state_write (x->statefd, &s, err);
}

static int
run_parent_hooks (struct create_ctx *x, berth_err *err)
{
  /* The process exists and waits: "created", as runc and crun report it to these hooks and
     runtime-tools (hooks_stdin) expects. */
  cleanup_free char *st = state_with_pid (x->state_json_created, x->pid);
  int r = rt_hooks_run (&x->config->hooks, RT_HOOK_PRESTART, st, err);
  if (r < 0)
    return r;
  return rt_hooks_run (&x->config->hooks, RT_HOOK_CREATE_RUNTIME, st, err);
}

static int
child_exit_error (struct create_ctx *x, berth_err *err)
{
  siginfo_t info = { 0 };
  while (waitid (P_PIDFD, (id_t)x->pidfd, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
    ;
  if (info.si_code == CLD_EXITED)
    return berth_err_set (err, 0, "the container's process exited during setup (status %d)",
                          info.si_status);
  return berth_err_set (err, 0, "the container's process was killed during setup (signal %d)",
                        info.si_status);
}

/* Drives the child from clone to RT_MSG_READY. */
static int
drive_child (struct create_ctx *x, bool in_cgroup, bool keep_pty, berth_err *err)
{
  struct rt_msg m;
  int r;

  if (x->cg && !in_cgroup)
    {
      r = rt_cgroup_enter (x->cg, x->pid, err);
      if (r < 0)
        return r;
    }
  if (x->init.new_userns)
    {
      r = rt_write_id_maps (x->pid, x->config, err);
      if (r < 0)
        return r;
    }
  r = rt_msg_send (x->sync_fds[0], RT_MSG_GO, x->pid, NULL, -1);
  if (r < 0)
    return berth_err_set (err, -r, "sync with the container's process");
  for (;;)
    {
      int fd = -1;
      r = rt_msg_recv (x->sync_fds[0], &m, &fd);
      if (r < 0)
        return berth_err_set (err, -r, "sync with the container's process");
      if (r == 0)
        return child_exit_error (x, err);
      switch (m.type)
        {
        case RT_MSG_ERROR:
          if (fd >= 0)
            close (fd);
          return berth_err_set (err, 0, "%s", m.text);
        case RT_MSG_RUN_HOOKS:
          r = run_parent_hooks (x, err);
          if (r < 0)
            return r;
          r = rt_msg_send (x->sync_fds[0], RT_MSG_HOOKS_DONE, 0, NULL, -1);
          if (r < 0)
            return berth_err_set (err, -r, "sync with the container's process");
          break;
        case RT_MSG_PTY:
          if (fd < 0)
            return berth_err_set (err, 0, "the container's process sent no terminal");
          if (x->console_sock >= 0)
            {
              r = rt_console_socket_send (x->console_sock, fd, err);
              close (fd);
              if (r < 0)
                return r;
            }
          else if (keep_pty)
            x->pty_master = fd;
          else
            close (fd);
          break;
        case RT_MSG_MOUNTED:
          rt_host_mounts_add (&x->host_mounts, m.text);
          break;
        case RT_MSG_NEWPID:
          /* The child forked the container's first process into its new pid namespace and
             exits: that process (pidfd passed) is the container from now on. */
          if (fd < 0 || m.code <= 0)
            return berth_err_set (err, 0, "sync: the new pid namespace's process is missing");
          {
            siginfo_t info;
            while (waitid (P_PIDFD, (id_t)x->pidfd, &info, WEXITED) < 0 && errno == EINTR)
              ;
          }
          close (x->pidfd);
          x->pidfd = fd;
          x->pid = m.code;
          r = rt_msg_send (x->sync_fds[0], RT_MSG_GO, x->pid, NULL, -1);
          if (r < 0)
            return berth_err_set (err, -r, "sync with the container's process");
          break;
        case RT_MSG_READY:
          return 0;
        default:
          if (fd >= 0)
            close (fd);
          return berth_err_set (err, 0, "sync: unexpected message %u", m.type);
        }
    }
}

static int
set_time_offsets (const struct rt_config *c, const struct rt_init *in, int *ret_own_timens,
                  berth_err *err)
{
  char buf[RT_TIME_OFFSETS_MAX];
  size_t len;
  if (!c->ns[RT_NS_TIME].present || c->ns[RT_NS_TIME].path || (in->unshare_flags & CLONE_NEWTIME))
    return 0;
  /* Undone after the clone, like the pid namespace, so our other children stay in ours. */
  *ret_own_timens = open ("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
  if (*ret_own_timens < 0)
    return berth_err_set (err, errno, "linux.namespaces: open /proc/self/ns/time_for_children");
  /* The offsets of a time namespace can only be written before a process enters it: the
     runtime unshares one for its children and writes them, and the container's process is
     born in it. */
  if (unshare (CLONE_NEWTIME) < 0)
    return berth_err_set (err, errno, "linux.namespaces: create the time namespace");
  len = rt_time_offsets_format (c, buf, sizeof buf);
  if (len && berth_write_file_at (AT_FDCWD, "/proc/self/timens_offsets", buf, len, err) < 0)
    return berth_err_wrap (err, "linux.timeOffsets");
  return 0;
}

/* keep_pty: `run` in the foreground relays a terminal itself when there is no console
 * socket. */
static int
create_container (struct create_ctx *x, const char *id, const struct runtime_create_options *o,
                  bool keep_pty, berth_err *err)
{
  struct rt_config *c;
  int clone_flags = 0, r;
  bool in_cgroup = false;

  x->id = id;
  if (!rt_id_valid (id))
    return berth_err_set (err, 0, "`%s` is not a valid container id (letters, digits, _ - . +)",
                          id);
  r = rt_state_root_open (root_of (x->ctx), true, &x->rootfd, err);
  if (r < 0)
    return r;
  if (mkdirat (x->rootfd, ".seccomp-cache", 0700) == 0 || errno == EEXIST)
    x->cachefd
        = openat (x->rootfd, ".seccomp-cache", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  r = prepare (x, o, &clone_flags, err);
  if (r < 0)
    return r;
  c = x->config;
  for (size_t i = 0; i < c->n_mounts; i++)
    for (size_t k = 0; c->mounts[i].ignored && c->mounts[i].ignored[k]; k++)
      if (x->ctx && x->ctx->warn)
        x->ctx->warn (x->ctx->userdata, c->mounts[i].ignored[k]);
  if (c->process->terminal && !(o && o->console_socket) && !keep_pty)
    return berth_err_set (err, 0, "process.terminal is true: --console-socket is required");

  r = rt_state_dir_create (x->rootfd, id, &x->statefd, err);
  if (r < 0)
    return r;
  x->state_created = true;

  r = rt_cgroup_create (c, id, &x->cg, err);
  if (r < 0)
    goto fail;
  if (x->cg)
    {
      for (size_t i = 0; i < c->n_mounts; i++)
        if (c->mounts[i].kind == RT_MOUNT_CGROUP)
          {
            r = rt_cgroup_mounts (x->cg, &x->init.cgroup_mounts, &x->init.n_cgroup_mounts, err);
            if (r < 0)
              goto fail;
            break;
          }
    }
  /* Intent before action: a create killed from here on leaves a state that delete can
     clean (the cgroup is recorded). */
  r = write_saved_files (x, err);
  if (r >= 0)
    r = write_final_state (x, err);
  if (r < 0)
    goto fail;

  if (c->process->terminal && o && o->console_socket)
    {
      r = rt_console_socket_connect (o->console_socket, &x->console_sock, err);
      if (r < 0)
        goto fail;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->sync_fds) < 0
      || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->start_fds) < 0)
    {
      r = berth_err_set (err, errno, "socketpair");
      goto fail;
    }
  x->init.sync_fd = x->sync_fds[1];
  x->init.start_fd = x->start_fds[0];
  x->init.start_peer_fd = x->start_fds[1];

  r = set_time_offsets (c, &x->init, &x->own_timens, err);
  if (r < 0)
    goto fail;
  /* A pid namespace joined by path applies to our children only; undone right after the
     clone, so that the hooks we run stay in the runtime's namespace. */
  if (x->init.ns_fds[RT_NS_PID] >= 0)
    {
      x->own_pidns = open ("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
      if (x->own_pidns < 0 || setns (x->init.ns_fds[RT_NS_PID], CLONE_NEWPID) < 0)
        {
          r = berth_err_set (err, errno, "linux.namespaces: join the pid namespace `%s`",
                             c->ns[RT_NS_PID].path);
          goto fail;
        }
    }

  x->pid = rt_clone (clone_flags, x->cg ? rt_cgroup_v2_dirfd (x->cg) : -1, &x->pidfd, &in_cgroup);
  if (x->pid == 0)
    {
      close (x->sync_fds[0]);
      rt_init_run (&x->init);
    }
  if ((x->own_pidns >= 0 && setns (x->own_pidns, CLONE_NEWPID) < 0)
      || (x->own_timens >= 0 && setns (x->own_timens, CLONE_NEWTIME) < 0))
    {
      r = berth_err_set (err, errno, "return to the runtime's namespaces");
      if (x->pid < 0)
        x->pid = 0;
      goto fail;
    }
  if (x->pid < 0)
    {
      r = berth_err_set (err, -x->pid, "clone the container's process");
      x->pid = 0;
      goto fail;
    }
  close_fd (&x->sync_fds[1]);
  close_fd (&x->start_fds[0]);

  r = drive_child (x, in_cgroup, keep_pty, err);
  if (r < 0)
    goto fail;
  r = write_final_state (x, err);
  if (r < 0)
    goto fail;
  if (o && o->pid_file)
    {
      r = write_pid_file (o->pid_file, x->pid, err);
      if (r < 0)
        goto fail;
    }
  return 0;

fail:
  fail_cleanup (x);
  return r;
}

int
runtime_create (const struct runtime_context *ctx, const char *id,
                const struct runtime_create_options *o, berth_err *err)
{
  struct create_ctx x;
  int r;
  create_ctx_init (&x);
  x.ctx = ctx;
  r = create_container (&x, id, o, false, err);
  if (r < 0)
    berth_err_wrap (err, "create `%s`", id);
  create_ctx_free (&x);
  return r;
}

/* ------------------------------------------------------------------ start */

/* Writes the start byte and reads the answer: end of file when execve succeeded (the
 * socket was close-on-exec), or the error the container's process reported. */
static int
start_handshake (int fd, const char *id, berth_err *err)
{
  char buf[RT_MSG_TEXT_MAX + 64];
  struct rt_msg *m = (struct rt_msg *)buf;
  ssize_t n;

  if (send (fd, "S", 1, MSG_NOSIGNAL) != 1)
    return berth_err_set (err, errno, "container `%s`: signal its process to start", id);
  do
    n = recv (fd, buf, sizeof buf - 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_err_set (err, errno, "container `%s`: wait for its process to start", id);
  if (n == 0)
    return 0;
  buf[n] = '\0';
  if ((size_t)n > offsetof (struct rt_msg, text) && m->type == RT_MSG_ERROR)
    return berth_err_set (err, 0, "%s", m->text);
  return berth_err_set (err, 0, "container `%s`: unexpected answer from its process", id);
}

static int
load_saved_config (int statefd, struct rt_config **ret, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  int r = bjson_parse_file_at (statefd, "config.json", 4u << 20, &doc, err);
  if (r < 0)
    return r;
  return rt_config_parse (doc, ret, err);
}

static int
after_start (const struct runtime_context *ctx, int statefd, struct rt_state *s,
             const struct rt_config *c, berth_err *err)
{
  cleanup_json json_object *st = NULL;
  int r;

  s->started = true;
  r = rt_state_write (statefd, s, err);
  if (r < 0)
    return r;
  /* runtime-spec: a failing poststart hook is logged, and the lifecycle goes on. */
  st = rt_state_oci_json (s, RT_STATUS_RUNNING);
  run_hooks_warning (ctx, &c->hooks, RT_HOOK_POSTSTART, bjson_to_string (st));
  return 0;
}

int
runtime_start (const struct runtime_context *ctx, const char *id, berth_err *err)
{
  cleanup_close int rootfd = -1, statefd = -1, pidfd = -1, fd = -1;
  cleanup_state struct rt_state *s = NULL;
  cleanup_config struct rt_config *c = NULL;
  enum rt_status st;
  int r;

  if ((r = rt_state_root_open (root_of (ctx), false, &rootfd, err)) < 0
      || (r = rt_state_dir_open (rootfd, id, RT_LOCK_EXCLUSIVE, &statefd, err)) < 0
      || (r = rt_state_read (statefd, id, &s, err)) < 0)
    return r;
  st = rt_state_status (s);
  if (st != RT_STATUS_CREATED)
    return berth_err_set (err, 0, "container `%s` is %s: only a created container can start", id,
                          rt_status_name (st));
  r = load_saved_config (statefd, &c, err);
  if (r < 0)
    return berth_err_wrap (err, "container `%s`", id);
  r = rt_state_pidfd (s, &pidfd, err);
  if (r < 0)
    return r;
  fd = (int)syscall (SYS_pidfd_getfd, pidfd, s->start_fd, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "container `%s`: reach its process", id);
  r = start_handshake (fd, id, err);
  if (r < 0)
    return r;
  return after_start (ctx, statefd, s, c, err);
}

/* ------------------------------------------------------------------ state, list */

static enum rt_status
full_status (struct rt_state *s)
{
  enum rt_status st = rt_state_status (s);
  if (st == RT_STATUS_RUNNING && s->cgroup)
    {
      struct rt_cgroup *cg = NULL;
      bool frozen = false;
      if (rt_cgroup_open (s->cgroup, &cg, NULL) == 0 && rt_cgroup_frozen (cg, &frozen, NULL) == 0
          && frozen)
        st = RT_STATUS_PAUSED;
      rt_cgroup_free (cg);
    }
  return st;
}

int
runtime_state (const struct runtime_context *ctx, const char *id, json_object **ret, berth_err *err)
{
  cleanup_close int rootfd = -1, statefd = -1;
  cleanup_state struct rt_state *s = NULL;
  int r;

  if ((r = rt_state_root_open (root_of (ctx), false, &rootfd, err)) < 0)
    {
      if (berth_err_code (err) == ENOENT)
        return berth_err_set (err, ENOENT, "container `%s` does not exist", id);
      return r;
    }
  if ((r = rt_state_dir_open (rootfd, id, RT_LOCK_NONE, &statefd, err)) < 0
      || (r = rt_state_read (statefd, id, &s, err)) < 0)
    return r;
  *ret = rt_state_oci_json (s, full_status (s));
  return 0;
}

int
runtime_list (const struct runtime_context *ctx, json_object **ret, berth_err *err)
{
  cleanup_close int rootfd = -1;
  cleanup_dir DIR *d = NULL;
  json_object *arr;
  struct dirent *de;
  int r;

  r = rt_state_root_open (root_of (ctx), false, &rootfd, err);
  if (r < 0)
    {
      if (berth_err_code (err) == ENOENT)
        {
          berth_err_free (err);
          *ret = json_object_new_array ();
          return 0;
        }
      return r;
    }
  d = fdopendir (dup (rootfd));
  if (d == NULL)
    return berth_err_set (err, errno, "read state root `%s`", root_of (ctx));
  arr = json_object_new_array ();
  while ((de = readdir (d)) != NULL)
    {
      cleanup_close int statefd = -1;
      cleanup_state struct rt_state *s = NULL;
      if (de->d_name[0] == '.' || !rt_id_valid (de->d_name))
        continue;
      /* A container removed or being created meanwhile is skipped. */
      if (rt_state_dir_open (rootfd, de->d_name, RT_LOCK_NONE, &statefd, NULL) < 0
          || rt_state_read (statefd, de->d_name, &s, NULL) < 0)
        continue;
      json_object_array_add (arr, rt_state_oci_json (s, full_status (s)));
    }
  *ret = arr;
  return 0;
}

/* ------------------------------------------------------------------ kill */

int
runtime_kill (const struct runtime_context *ctx, const char *id, int sig, bool all, berth_err *err)
{
  cleanup_close int rootfd = -1, statefd = -1, pidfd = -1;
  cleanup_state struct rt_state *s = NULL;
  enum rt_status st;
  int r;

  if ((r = rt_state_root_open (root_of (ctx), false, &rootfd, err)) < 0
      || (r = rt_state_dir_open (rootfd, id, RT_LOCK_SHARED, &statefd, err)) < 0
      || (r = rt_state_read (statefd, id, &s, err)) < 0)
    return r;
  st = rt_state_status (s);
  /* runtime-spec: a signal to a container that is neither created nor running is an error
     and has no effect. */
  if (st != RT_STATUS_CREATED && st != RT_STATUS_RUNNING)
    return berth_err_set (err, 0, "container `%s` is %s: it cannot be signalled", id,
                          rt_status_name (st));
  if (all && s->cgroup)
    {
      struct rt_cgroup *cg = NULL;
      r = rt_cgroup_open (s->cgroup, &cg, err);
      if (r < 0)
        return r;
      r = rt_cgroup_kill (cg, sig, err);
      rt_cgroup_free (cg);
      return r;
    }
  r = rt_state_pidfd (s, &pidfd, err);
  if (r < 0)
    return berth_err_set (err, 0, "container `%s` is stopped: it cannot be signalled", id);
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return berth_err_set (err, errno, "container `%s`: send signal %d", id, sig);
  return 0;
}

/* ------------------------------------------------------------------ delete */

/* Waits until the container's first process, SIGKILLed, is gone or past the point of no
 * return. The first process of a pid namespace is held in its exit (zap_pid_ns_processes)
 * until every other process of the namespace has been reaped, and one whose parent is
 * outside it (a process `exec --detach` left to a subreaper caller) is reaped only by that
 * parent, which may be the very caller waiting for this delete: waiting for the pidfd alone
 * would then never end. Once it has begun to exit (PF_EXITING) it runs no more code of its
 * own; its cgroup empties as its processes finish, which destroying the cgroup waits for. */
static void
wait_first_process_down (int pidfd, pid_t pid)
{
  int delay = 1;

  for (;;)
    {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      bool exiting = false;
      int r = poll (&p, 1, delay);

      if (r > 0 || (r < 0 && errno != EINTR))
        return;
      /* Had the pid been reused, ours would have exited: returning is right either way. */
      if (rt_proc_exiting (pid, &exiting, NULL) < 0 || exiting)
        return;
      if (delay < 100)
        delay *= 2;
    }
}

/* cg and c: the caller's, when it has them open already (run); otherwise read from the
 * state. */
static int
destroy (const struct runtime_context *ctx, int rootfd, int statefd, struct rt_state *s, bool force,
         struct rt_cgroup *cg, const struct rt_config *c, berth_err *err)
{
  cleanup_config struct rt_config *saved = NULL;
  struct rt_cgroup *own_cg = NULL;
  enum rt_status st = rt_state_status (s);
  int r;

  if (st != RT_STATUS_STOPPED && st != RT_STATUS_CREATING && !force)
    return berth_err_set (err, 0, "container `%s` is %s: stop it first, or delete it with --force",
                          s->id, rt_status_name (full_status (s)));
  if (cg == NULL && s->cgroup)
    {
      r = rt_cgroup_open (s->cgroup, &own_cg, err);
      if (r < 0 && berth_err_code (err) != ENOENT)
        return r;
      berth_err_free (err);
      cg = own_cg;
    }
  if (st == RT_STATUS_CREATED || st == RT_STATUS_RUNNING)
    {
      int pidfd = -1;
      if (cg)
        {
          /* Thawed first: a frozen process cannot die. */
          cleanup_err berth_err ignored = NULL;
          bool frozen = false;
          if (rt_cgroup_frozen (cg, &frozen, &ignored) == 0 && frozen)
            rt_cgroup_freeze (cg, false, &ignored);
          r = rt_cgroup_kill (cg, SIGKILL, err);
          if (r < 0)
            goto out;
        }
      if (rt_state_pidfd (s, &pidfd, NULL) == 0)
        {
          syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
          wait_first_process_down (pidfd, s->pid);
          close (pidfd);
        }
    }
  r = rt_host_mounts_remove (s->host_mounts, err);
  if (r < 0)
    goto out;
  if (cg)
    {
      r = rt_cgroup_destroy (cg, err);
      if (r < 0)
        goto out;
    }
  if (c == NULL && load_saved_config (statefd, &saved, NULL) == 0)
    c = saved;
  if (c && c->hooks.n[RT_HOOK_POSTSTOP])
    {
      cleanup_json json_object *sj = rt_state_oci_json (s, RT_STATUS_STOPPED);
      run_hooks_warning (ctx, &c->hooks, RT_HOOK_POSTSTOP, bjson_to_string (sj));
    }
  r = berth_rm_rf_at (rootfd, s->id, err);
out:
  rt_cgroup_free (own_cg);
  return r;
}

int
runtime_delete (const struct runtime_context *ctx, const char *id, bool force, berth_err *err)
{
  cleanup_close int rootfd = -1, statefd = -1;
  cleanup_state struct rt_state *s = NULL;
  int r;

  if ((r = rt_state_root_open (root_of (ctx), false, &rootfd, err)) < 0)
    {
      if (berth_err_code (err) == ENOENT)
        return berth_err_set (err, ENOENT, "container `%s` does not exist", id);
      return r;
    }
  if ((r = rt_state_dir_open (rootfd, id, RT_LOCK_EXCLUSIVE, &statefd, err)) < 0)
    return r;
  r = rt_state_read (statefd, id, &s, err);
  if (r < 0)
    {
      /* Locked and without a state file: a create that died before writing one (it
         writes one before anything that needs cleaning exists). */
      if (berth_err_code (err) == ENOENT && force)
        {
          berth_err_free (err);
          return berth_rm_rf_at (rootfd, id, err);
        }
      return r;
    }
  return destroy (ctx, rootfd, statefd, s, force, NULL, NULL, err);
}

/* ------------------------------------------------------------------ run */

static const int forwarded_signals[]
    = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static int
wait_forwarding (int pidfd, int sigfd, int pty, int *ret_status)
{
  siginfo_t info = { 0 };

  if (pty >= 0)
    rt_console_relay (pty, pidfd, NULL);
  for (;;)
    {
      struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (p[1].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          if (read (sigfd, &si, sizeof si) == sizeof si)
            syscall (SYS_pidfd_send_signal, pidfd, (int)si.ssi_signo, NULL, 0);
        }
      if (p[0].revents & POLLIN)
        break;
    }
  while (waitid (P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0)
    if (errno != EINTR)
      return -errno;
  *ret_status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  return 0;
}

int
runtime_run (const struct runtime_context *ctx, const char *id,
             const struct runtime_create_options *o, bool detach, int *ret_status, berth_err *err)
{
  struct create_ctx x;
  sigset_t mask, old;
  cleanup_close int sigfd = -1;
  int r;

  create_ctx_init (&x);
  x.ctx = ctx;
  sigemptyset (&mask);
  for (size_t i = 0; i < ARRAY_SIZE (forwarded_signals); i++)
    sigaddset (&mask, forwarded_signals[i]);
  if (!detach)
    {
      /* Blocked before the clone so none is lost; the container's process unblocks them. */
      sigprocmask (SIG_BLOCK, &mask, &old);
      sigfd = signalfd (-1, &mask, SFD_CLOEXEC);
    }
  /* With a user namespace joined by path and a new pid namespace, the container's first
     process is a grandchild: as a subreaper we still wait for it ourselves. */
  if (!detach)
    prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  r = create_container (&x, id, o, !detach, err);
  if (r < 0)
    {
      berth_err_wrap (err, "run `%s`", id);
      goto out;
    }
  r = start_handshake (x.start_fds[1], id, err);
  if (r >= 0)
    {
      cleanup_state struct rt_state *s = NULL;
      r = rt_state_read (x.statefd, id, &s, err);
      if (r >= 0)
        r = after_start (ctx, x.statefd, s, x.config, err);
    }
  if (r < 0)
    {
      fail_cleanup (&x);
      goto out;
    }
  if (detach)
    {
      *ret_status = 0;
      goto out;
    }
  close_fd (&x.start_fds[1]);
  /* While it runs, other commands (state, kill, exec, delete --force) must get through. */
  rt_state_unlock (x.statefd);
  r = wait_forwarding (x.pidfd, sigfd, x.pty_master, ret_status);
  if (r < 0)
    {
      berth_err_set (err, -r, "wait for container `%s`", id);
      goto out;
    }
  r = rt_state_lock (x.statefd, id, true, err);
  if (r < 0)
    {
      /* Deleted meanwhile by `delete --force`: nothing left to clean. */
      if (berth_err_code (err) == ENOENT)
        {
          berth_err_free (err);
          r = 0;
        }
      goto out;
    }
  {
    cleanup_state struct rt_state *s = NULL;
    r = rt_state_read (x.statefd, id, &s, err);
    if (r >= 0)
      r = destroy (ctx, x.rootfd, x.statefd, s, true, x.cg, x.config, err);
  }
out:
  if (!detach)
    sigprocmask (SIG_SETMASK, &old, NULL);
  create_ctx_free (&x);
  return r;
}

/* ------------------------------------------------------------------ signals */

static const struct
{
  const char *name;
  int sig;
} signal_names[] = {
  { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
  { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
  { "FPE", SIGFPE },       { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
  { "USR2", SIGUSR2 },     { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
  { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
  { "XCPU", SIGXCPU },     { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
  { "WINCH", SIGWINCH },   { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
  { "SYS", SIGSYS },
};

int
runtime_signal_parse (const char *s, int *ret)
{
  int n;
  if (berth_parse_int (s, &n) == 0)
    {
      if (n <= 0 || n >= NSIG)
        return -EINVAL;
      *ret = n;
      return 0;
    }
  if (strncasecmp (s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < ARRAY_SIZE (signal_names); i++)
    if (strcasecmp (signal_names[i].name, s) == 0)
      {
        *ret = signal_names[i].sig;
        return 0;
      }
  if (strncasecmp (s, "RTMIN", 5) == 0 || strncasecmp (s, "RTMAX", 5) == 0)
    {
      int off = 0;
      bool max = strncasecmp (s, "RTMAX", 5) == 0;
      if (s[5] != '\0' && (berth_parse_int (s + 5, &off) < 0))
        return -EINVAL;
      n = max ? SIGRTMAX + off : SIGRTMIN + off;
      if (n < SIGRTMIN || n > SIGRTMAX)
        return -EINVAL;
      *ret = n;
      return 0;
    }
  return -EINVAL;
}
