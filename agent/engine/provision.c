/* Provisioning a task and taking it down again: its directories, its network (on a worker
 * thread), its cgroup with the task-level limits, and its berth-shim; and the reverse. */
#include "engine-internal.h"
#include "cgroups/cgroups.h"
#include "netns/netns.h"

#include <arpa/inet.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------ directories */

static bool
is_mount_root (const char *path)
{
  struct statx stx;
  if (statx (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
    return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int
make_dirs (struct task *t, berth_err *err)
{
  if (berth_mkdir_p (t->state_dir, 0700, err) < 0 || berth_mkdir_p (t->task_dir, 0700, err) < 0
      || berth_mkdir_p (t->task_log_dir, 0750, err) < 0)
    return -EIO;
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (berth_mkdir_p (t->ctrs[i].bundle_dir, 0700, err) < 0)
      return -EIO;
  /* ipcMode task: one /dev/shm for every container of the task */
  if (t->def->ipc_mode == TASKDEF_NS_TASK)
    {
      cleanup_free char *shm = xasprintf ("%s/shm", t->state_dir);
      cleanup_free char *opts = xasprintf ("mode=1777,size=%" PRIu64 "m", taskdef_task_shm_size_mib (t->def));
      if (berth_mkdir_p (shm, 0755, err) < 0)
        return -EIO;
      if (!is_mount_root (shm) && mount ("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
        return berth_err_set (err, errno, "mount the task's /dev/shm at `%s`", shm);
    }
  /* task-scoped volumes: a directory per volume without a host path */
  strv_free (t->volume_paths);
  t->volume_paths = xzalloc ((t->def->n_volumes + 1) * sizeof (char *));
  for (size_t i = 0; i < t->def->n_volumes; i++)
    {
      const struct taskdef_volume *v = &t->def->volumes[i];
      if (v->host_source_path)
        t->volume_paths[i] = xstrdup (v->host_source_path);
      else
        {
          t->volume_paths[i] = xasprintf ("%s/volumes/%s", t->task_dir, v->name);
          if (berth_mkdir_p (t->volume_paths[i], 0755, err) < 0)
            return -EIO;
        }
    }
  return 0;
}

/* ------------------------------------------------------------------ network */

struct net_job
{
  struct task *t;
  struct netns_host *host;
  struct netns_task_spec spec;
  struct netns_extra_host *extra;
  char **dns, **search;
  char *hostname;
  bool teardown;
  struct netns_task_net *result;
  berth_err err;
  int r;
};

static void
net_job_free (struct net_job *j)
{
  for (size_t i = 0; i < j->spec.n_extra_hosts; i++)
    {
      free ((char *) j->extra[i].hostname);
      free ((char *) j->extra[i].address);
    }
  free (j->extra);
  strv_free (j->dns);
  strv_free (j->search);
  free (j->hostname);
  free ((char *) j->spec.task_id);
  netns_task_net_free (j->result);
  berth_err_free (&j->err);
  free (j);
}

static void
net_job_run (void *arg)
{
  struct net_job *j = arg;
  if (j->teardown)
    {
      j->r = netns_task_teardown (j->host, j->spec.task_id, &j->err);
      return;
    }
  /* A task recovered mid-setup, or whose setup finished before a crash: adopt a complete
   * network, rebuild an incomplete one. */
  if (netns_task_get (j->host, j->spec.task_id, &j->result, NULL) == 0)
    {
      if (j->result->complete)
        {
          j->r = 0;
          return;
        }
      netns_task_net_free (j->result);
      j->result = NULL;
      netns_task_teardown (j->host, j->spec.task_id, NULL);
    }
  j->r = netns_task_setup (j->host, &j->spec, &j->result, &j->err);
}

static void
net_job_done (void *arg)
{
  struct net_job *j = arg;
  struct task *t = j->t;
  t->busy--;
  if (j->teardown)
    {
      if (j->r < 0)
        log_warning ("task %s: network teardown: %s", t->id, berth_err_msg (&j->err));
      t->net_ready = false;
      t->net_down = true;
      netns_task_net_free (t->net);
      t->net = NULL;
      /* t->ip stays: the stopped task still says which address it had */
      task_step (t);
      net_job_free (j);
      return;
    }
  if (j->r < 0)
    {
      task_fail (t, "TaskFailedToStart", "network setup failed: %s", berth_err_msg (&j->err));
      t->net_ready = true; /* nothing to wait for; teardown is idempotent */
    }
  else
    {
      t->net = steal_pointer (&j->result);
      t->net_ready = true;
      free (t->ip);
      t->ip = NULL;
      if (t->net->has_address)
        {
          char buf[INET_ADDRSTRLEN];
          inet_ntop (AF_INET, &t->net->address, buf, sizeof buf);
          t->ip = xstrdup (buf);
        }
      task_persist (t);
    }
  task_step (t);
  net_job_free (j);
}

static enum netns_task_mode
net_mode (const struct taskdef *td)
{
  switch (td->network_mode)
    {
    case TASKDEF_NETWORK_HOST:
      return NETNS_MODE_HOST;
    case TASKDEF_NETWORK_NONE:
      return NETNS_MODE_NONE;
    case TASKDEF_NETWORK_AWSVPC:
      break;
    }
  return NETNS_MODE_AWSVPC;
}

static void
start_network (struct task *t)
{
  struct engine *e = t->engine;
  struct net_job *j;

  if (e->o.net == NULL)
    {
      task_fail (t, "TaskFailedToStart",
                 "networkMode %s needs task networking, which is not configured on this node (NET_POOLS)",
                 taskdef_network_mode_name (t->def->network_mode));
      t->net_ready = true;
      return;
    }
  j = xzalloc (sizeof *j);
  j->t = t;
  j->host = e->o.net;
  j->spec.task_id = xstrdup (t->id);
  j->spec.mode = net_mode (t->def);
  /* The task's network carries the task-level settings; a container with its own
   * dnsServers, dnsSearchDomains, extraHosts or hostname gets its own copies of the files
   * (taskdef_container_etc_files, when its bundle is written). */
  j->extra = xzalloc (sizeof *j->extra);
  if (t->def->hostname)
    j->hostname = xstrdup (t->def->hostname);
  j->spec.hostname = j->hostname;
  j->spec.reach_tasks = t->def->reach_tasks;
  t->busy++;
  workers_submit (e->workers, net_job_run, net_job_done, j);
}

/* ------------------------------------------------------------------ cgroup */

static int
make_cgroup (struct task *t, berth_err *err)
{
  struct engine *e = t->engine;
  struct cgroups_resources *r;
  cleanup_free char *path = xasprintf ("berth/task-%s", t->id);
  int ret;

  if (e->o.cgroups == NULL)
    {
      t->cgroup_ready = true;
      return 0;
    }
  if (t->cgroup_path && cgroups_open (e->o.cgroups, t->cgroup_path, &t->cg, NULL) == 0)
    {
      t->cgroup_ready = true;
      return 0;
    }
  r = cgroups_resources_new ();
  /* ECS task size: memory is a hard limit for the whole task; cpu units a quota
   * (1024 units = one CPU = 100 ms of every 100 ms period). */
  if (t->def->memory_mib)
    cgroups_resources_set_memory_limit (r, (int64_t) t->def->memory_mib * 1024 * 1024);
  if (t->def->cpu)
    cgroups_resources_set_cpu_quota (r, (int64_t) t->def->cpu * 100000 / 1024, 100000);
  ret = cgroups_create (e->o.cgroups, path, t->id, r, &t->cg, err);
  cgroups_resources_free (r);
  if (ret < 0)
    return ret;
  free (t->cgroup_path);
  t->cgroup_path = xstrdup (cgroups_path (t->cg));
  t->cgroup_ready = true;
  task_persist (t);
  return 0;
}

/* ------------------------------------------------------------------ the shim */

static int
on_shim_exit (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct task *t = data;
  siginfo_t si = { 0 };
  (void) revents;
  /* reap it if it is our child (spawned by this berthd); otherwise init does */
  waitid ((idtype_t) 3 /* P_PIDFD */, (id_t) fd, &si, WEXITED | WNOHANG);
  berth_loop_remove (src);
  t->shim_pidfd_src = NULL;
  close (t->shim_pidfd);
  t->shim_pidfd = -1;
  log_debug ("task %s: berth-shim %d exited", t->id, t->shim_pid);
  t->shim_pid = 0;
  return 0;
}

static void
watch_shim_pid (struct task *t)
{
  if (t->shim_pidfd < 0 || t->shim_pidfd_src)
    return;
  berth_loop_add_io (t->engine->loop, t->shim_pidfd, EPOLLIN, on_shim_exit, t, &t->shim_pidfd_src, NULL);
}

/* Connects to the task's shim if one runs (recovery), reading its pid. */
int
shim_attach (struct task *t, berth_err *err)
{
  cleanup_free char *sock = xasprintf ("%s/shim.sock", t->state_dir);
  cleanup_free char *pidfile = xasprintf ("%s/shim.pid", t->state_dir);
  cleanup_free char *pidtext = NULL;
  int32_t pid;
  int r;

  r = shimconn_connect (t->engine->loop, sock, shim_on_event, shim_on_closed, t, &t->shim, err);
  if (r < 0)
    return r;
  if (berth_read_file_at (AT_FDCWD, pidfile, 64, &pidtext, NULL, NULL) == 0)
    {
      pidtext[strcspn (pidtext, "\n")] = '\0';
      if (berth_parse_int32 (pidtext, &pid) == 0 && pid > 0)
        {
          t->shim_pid = pid;
          t->shim_pidfd = berth_pidfd_open (pid, NULL);
          watch_shim_pid (t);
        }
    }
  return 0;
}

static int
spawn_shim (struct task *t, berth_err *err)
{
  struct engine *e = t->engine;
  cleanup_free char *sock = xasprintf ("%s/shim.sock", t->state_dir);
  cleanup_free char *log = xasprintf ("%s/shim.log", t->state_dir);
  cleanup_free char *rroot = xasprintf ("%s/runtime", e->run_dir);
  cleanup_free char *max_bytes = NULL, *max_files = NULL;
  cleanup_close int lfd = -1, logfd = -1;
  int r;

  max_bytes = xasprintf ("%" PRIu64, e->o.log_max_bytes ? e->o.log_max_bytes : 10u << 20);
  max_files = xasprintf ("%u", e->o.log_max_files ? e->o.log_max_files : 3);
  if (berth_mkdir_p (rroot, 0700, err) < 0)
    return -EIO;
  /* The listening socket is made here and handed over as fd 3: we can connect at once,
   * and no client ever races the shim's bind. */
  lfd = berth_msg_listen (sock, err);
  if (lfd < 0)
    return lfd;
  logfd = open (log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (logfd < 0)
    return berth_err_set (err, errno, "open `%s`", log);
  {
    char *argv[] = { e->shim_path, "--task", t->id, "--state-dir", t->state_dir, "--runtime", e->runtime_path,
                     "--runtime-root", rroot, "--log-max-bytes", max_bytes, "--log-max-files", max_files, NULL };
    int extra[] = { lfd };
    struct berth_spawn_opts o = { .stdio = { -1, logfd, logfd }, .extra_fds = extra, .n_extra_fds = 1,
                                  .setsid = true, .cwd = "/" };
    r = berth_spawn (e->shim_path, argv, &o, &t->shim_pid, &t->shim_pidfd, err);
    if (r < 0)
      return r;
  }
  watch_shim_pid (t);
  r = shimconn_connect (e->loop, sock, shim_on_event, shim_on_closed, t, &t->shim, err);
  if (r < 0)
    return r;
  t->shim_lost = false;
  return 0;
}

/* ------------------------------------------------------------------ the namespace holder */

bool
task_needs_holder (const struct task *t)
{
  return t->def && (t->def->pid_mode == TASKDEF_NS_TASK || t->def->ipc_mode == TASKDEF_NS_TASK);
}

static void
on_hold (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct task *t = data;
  bool ok = false;
  int32_t pid = 0;
  (void) conn;
  (void) fds;
  (void) n_fds;
  t->holder_busy = false;
  t->busy--;
  bjson_get_bool (reply, "", "ok", 0, &ok, NULL);
  if (!ok || bjson_get_int32 (reply, "", "pid", 0, &pid, NULL) <= 0 || pid <= 0)
    {
      const char *msg = "no pid";
      bjson_get_string (reply, "", "error", 0, &msg, NULL);
      task_fail (t, "TaskFailedToStart", "the task's shared pid/ipc namespace: %s", msg);
    }
  else
    t->holder_pid = pid;
  task_step (t);
}

/* pidMode/ipcMode "task": the shim forks a process into new pid and ipc namespaces that
 * every container of the task joins (as ECS's pause container does), so the namespaces
 * live as long as the task and not as long as one of its containers. */
static void
request_holder (struct task *t)
{
  berth_err err = NULL;
  json_object *args = json_object_new_object ();
  json_object_object_add (args, "pid", json_object_new_boolean (t->def->pid_mode == TASKDEF_NS_TASK));
  json_object_object_add (args, "ipc", json_object_new_boolean (t->def->ipc_mode == TASKDEF_NS_TASK));
  t->holder_busy = true;
  t->busy++;
  if (shimconn_call (t->shim, "hold", args, NULL, 0, on_hold, t, &err) < 0)
    {
      t->holder_busy = false;
      t->busy--;
      task_fail (t, "TaskFailedToStart", "the task's shared pid/ipc namespace: %s", berth_err_msg (&err));
      berth_err_free (&err);
    }
}

/* ------------------------------------------------------------------ steps */

void
provision_step (struct task *t)
{
  berth_err err = NULL;

  if (!t->dirs_ready)
    {
      if (make_dirs (t, &err) < 0)
        {
          task_fail (t, "TaskFailedToStart", "task directories: %s", berth_err_msg (&err));
          berth_err_free (&err);
          return;
        }
      t->dirs_ready = true;
    }
  if (!t->net_ready && t->busy == 0)
    {
      start_network (t);
      if (!t->net_ready)
        return; /* on a worker thread; the step runs again when it is back */
    }
  if (!t->net_ready)
    return;
  if (!t->cgroup_ready)
    {
      if (make_cgroup (t, &err) < 0)
        {
          task_fail (t, "TaskFailedToStart", "task cgroup: %s", berth_err_msg (&err));
          berth_err_free (&err);
          return;
        }
    }
  if (t->shim == NULL)
    {
      if (spawn_shim (t, &err) < 0)
        {
          task_fail (t, "TaskFailedToStart", "berth-shim: %s", berth_err_msg (&err));
          berth_err_free (&err);
          return;
        }
    }
  if (task_needs_holder (t) && t->holder_pid == 0 && !t->holder_busy)
    request_holder (t);
}

static void
on_shim_shutdown (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct task *t = data;
  bool ok = false;
  (void) conn;
  (void) fds;
  (void) n_fds;
  t->busy--;
  bjson_get_bool (reply, "", "ok", 0, &ok, NULL);
  if (!ok)
    {
      const char *msg = "?";
      bjson_get_string (reply, "", "error", 0, &msg, NULL);
      log_warning ("task %s: berth-shim shutdown: %s", t->id, msg);
    }
  if (t->shim)
    {
      shimconn_close (t->shim);
      t->shim = NULL;
    }
  task_step (t);
}

void
deprovision_step (struct task *t)
{
  struct engine *e = t->engine;
  berth_err err = NULL;

  if (t->shim)
    {
      t->busy++;
      if (shimconn_call (t->shim, "shutdown", NULL, NULL, 0, on_shim_shutdown, t, &err) < 0)
        {
          t->busy--;
          berth_err_free (&err);
          shimconn_close (t->shim);
          t->shim = NULL;
        }
      else
        return;
    }
  if (t->cg)
    {
      if (cgroups_destroy (t->cg, &err) < 0)
        {
          log_warning ("task %s: remove cgroup: %s", t->id, berth_err_msg (&err));
          berth_err_free (&err);
        }
      cgroups_free (t->cg);
      t->cg = NULL;
    }
  else if (t->cgroup_path && e->o.cgroups)
    {
      struct cgroups_cgroup *cg;
      if (cgroups_open (e->o.cgroups, t->cgroup_path, &cg, NULL) == 0)
        {
          if (cgroups_destroy (cg, &err) < 0)
            {
              log_warning ("task %s: remove cgroup: %s", t->id, berth_err_msg (&err));
              berth_err_free (&err);
            }
          cgroups_free (cg);
        }
    }
  t->cgroup_ready = false;
  if (e->o.net && !t->net_down)
    {
      /* idempotent, and run even when this berthd never set the network up itself (a
       * task recovered mid-stop): the record on disk says what there is */
      struct net_job *j = xzalloc (sizeof *j);
      j->t = t;
      j->host = e->o.net;
      j->teardown = true;
      j->spec.task_id = xstrdup (t->id);
      t->busy++;
      workers_submit (e->workers, net_job_run, net_job_done, j);
      return;
    }
  /* The shim's directory (exit files, sockets, the task's /dev/shm) goes; logs stay until
   * the task is removed. */
  {
    cleanup_free char *shm = xasprintf ("%s/shm", t->state_dir);
    if (is_mount_root (shm) && umount2 (shm, MNT_DETACH) < 0)
      log_warning ("task %s: unmount `%s`: %s", t->id, shm, strerror (errno));
  }
  berth_rm_rf_at (AT_FDCWD, t->state_dir, NULL);
}
