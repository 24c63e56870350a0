/* A task's containers through their shim: the OCI bundle from the task definition, create,
 * start in dependsOn order (START, COMPLETE, SUCCESS, HEALTHY, with startTimeout), exits
 * (essential, OOM, restart policy), stop in reverse order (stop signal, stopTimeout, then
 * SIGKILL of every process of the container), delete. */
#include "engine-internal.h"
#include "cgroups/cgroups.h"
#include "imagecache/imagecache.h"
#include "netns/netns.h"

#include <signal.h>

static struct ctr *
ctr_by_name (struct task *t, const char *name)
{
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (strcmp (t->ctrs[i].name, name) == 0)
      return &t->ctrs[i];
  return NULL;
}

static bool
reply_ok (json_object *reply, const char **ret_error)
{
  bool ok = false;
  bjson_get_bool (reply, "", "ok", 0, &ok, NULL);
  if (!ok)
    {
      *ret_error = "unknown error";
      bjson_get_string (reply, "", "error", 0, ret_error, NULL);
    }
  return ok;
}

/* The container has no running process left to stop. */
bool
ctr_done (const struct ctr *c)
{
  return !(c->known == CTR_RUNNING && !c->has_exit);
}

/* ------------------------------------------------------------------ cgroup and OOM */

void
ctr_free_runtime (struct ctr *c)
{
  if (c->cg)
    cgroups_free (c->cg);
  c->cg = NULL;
}

/* Opens (after a restart) or makes the container's cgroup. */
static int
ctr_cgroup (struct ctr *c, bool create, berth_err *err)
{
  struct engine *e = c->task->engine;
  cleanup_free char *path = NULL;
  if (e->o.cgroups == NULL || c->cg)
    return 0;
  if (c->cgroup_path && cgroups_open (e->o.cgroups, c->cgroup_path, &c->cg, NULL) == 0)
    return 0;
  if (!create)
    return -ENOENT;
  path = xasprintf ("berth/task-%s/ctr-%s", c->task->id, c->name);
  if (cgroups_create (e->o.cgroups, path, c->runtime_id, NULL, &c->cg, err) < 0)
    return -EIO;
  free (c->cgroup_path);
  c->cgroup_path = xstrdup (cgroups_path (c->cg));
  return 0;
}

/* The container's cgroup, for OOM counters at exit, stats and kill. No events fd is kept
 * open: the OOM kill counters (memory.events on v2, memory.oom_control on v1) are read
 * when the container exits, and an fd per container (an inotify instance on hybrid and v2
 * hosts) would run into fs.inotify.max_user_instances (128 by default) long before a host
 * is full of tasks. */
void
ctr_open_cgroup (struct ctr *c)
{
  ctr_cgroup (c, false, NULL);
}

/* Was the container's end an OOM kill? */
static bool
ctr_check_oom (struct ctr *c)
{
  struct cgroups_events ev;
  if (c->oom)
    return true;
  if (c->cg && cgroups_events_read (c->cg, &ev, NULL) == 0 && ev.oom_kill > 0)
    c->oom = true;
  return c->oom;
}

/* ------------------------------------------------------------------ the bundle */

static int
ctr_write_bundle (struct ctr *c, berth_err *err)
{
  struct task *t = c->task;
  struct engine *e = t->engine;
  struct taskdef_image_config ic = { 0 };
  struct taskdef_oci_context ctx = { 0 };
  cleanup_free char *cgparent = xasprintf ("berth/task-%s", t->id);
  cleanup_free char *cfg_path = xasprintf ("%s/config.json", c->bundle_dir);
  cleanup_json json_object *spec = NULL;
  cleanup_close int rootfd = -1;
  cleanup_free char *pidns = NULL, *ipcns = NULL, *hostname = NULL, *shm = NULL;
  char *etc_paths[3] = { NULL, NULL, NULL };
  const char *text;
  int sig = SIGTERM, r;

  if (c->image)
    {
      ic.env = c->image->config.env;
      ic.cmd = c->image->config.cmd;
      ic.entrypoint = c->image->config.entrypoint;
      ic.working_dir = c->image->config.working_dir;
      ic.user = c->image->config.user;
      ic.stop_signal = c->image->config.stop_signal;
      ic.labels = c->image->config.labels;
    }
  rootfd = open (c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return berth_err_set (err, errno, "open root filesystem `%s`", c->rootfs);
  ctx.task_id = t->id;
  ctx.rootfs = c->rootfs;
  ctx.rootfs_fd = rootfd;
  if (t->net)
    {
      cleanup_free char *resolv = NULL, *hosts = NULL;
      struct taskdef_etc_files files = { 0 };
      ctx.netns_path = t->net->netns_path;
      ctx.hostname = t->net->hostname;
      ctx.resolv_conf_path = t->net->resolv_conf_path;
      ctx.hosts_path = t->net->hosts_path;
      ctx.hostname_path = t->net->hostname_path;
      /* a container with its own hostname, DNS or extra hosts gets its own copies */
      if (t->net->resolv_conf_path)
        berth_read_file_at (AT_FDCWD, t->net->resolv_conf_path, 1 << 20, &resolv, NULL, NULL);
      if (t->net->hosts_path)
        berth_read_file_at (AT_FDCWD, t->net->hosts_path, 1 << 20, &hosts, NULL, NULL);
      taskdef_container_etc_files (t->def, c->idx, t->net->hostname, resolv, hosts, &files);
      {
        struct
        {
          const char *name, *content;
          const char **slot;
        } own[] = { { "resolv.conf", files.resolv_conf, &ctx.resolv_conf_path },
                    { "hosts", files.hosts, &ctx.hosts_path },
                    { "hostname", files.hostname_file, &ctx.hostname_path } };
        for (size_t i = 0; i < ARRAY_SIZE (own); i++)
          {
            if (own[i].content == NULL)
              continue;
            free (etc_paths[i]);
            etc_paths[i] = xasprintf ("%s/%s", c->bundle_dir, own[i].name);
            if (berth_write_file_atomic_at (AT_FDCWD, etc_paths[i], own[i].content,
                                            strlen (own[i].content), 0644, err)
                < 0)
              {
                taskdef_etc_files_clear (&files);
                for (size_t k = 0; k < ARRAY_SIZE (etc_paths); k++)
                  free (etc_paths[k]);
                return -EIO;
              }
            *own[i].slot = etc_paths[i];
          }
      }
      free (hostname);
      hostname = xstrdup (files.hostname);
      ctx.hostname = hostname;
      taskdef_etc_files_clear (&files);
    }
  if (t->def->ipc_mode == TASKDEF_NS_TASK)
    ctx.shm_path = shm = xasprintf ("%s/shm", t->state_dir);
  /* pidMode/ipcMode "task": the namespaces of the task's holder process */
  if (t->holder_pid > 0)
    {
      if (t->def->pid_mode == TASKDEF_NS_TASK)
        ctx.pidns_path = pidns = xasprintf ("/proc/%d/ns/pid", t->holder_pid);
      if (t->def->ipc_mode == TASKDEF_NS_TASK)
        ctx.ipcns_path = ipcns = xasprintf ("/proc/%d/ns/ipc", t->holder_pid);
    }
  ctx.cgroup_parent = e->o.cgroups ? cgparent : NULL;
  ctx.init_path = e->init_path;
  ctx.volume_paths = (const char *const *)t->volume_paths;
  ctx.policy = e->o.policy;
  r = taskdef_container_oci_spec (t->def, c->idx, &ic, &ctx, &spec, err);
  for (size_t i = 0; i < ARRAY_SIZE (etc_paths); i++)
    free (etc_paths[i]);
  if (r < 0)
    return -EINVAL;
  if (taskdef_container_stop_signal (t->def, c->idx, &ic, &sig, NULL) == 0)
    c->stop_signal = sig;
  text = bjson_to_string (spec);
  return berth_write_file_atomic_at (AT_FDCWD, cfg_path, text, strlen (text), 0600, err);
}

/* ------------------------------------------------------------------ create and start */

static int
on_op_timeout (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct ctr *c = data;
  struct task *t = c->task;
  (void)src;
  (void)now;
  if (!c->busy)
    return 0;
  /* the answer, if it ever comes, is not waited for any more */
  if (t->shim)
    shimconn_forget (t->shim, c);
  c->busy = false;
  task_fail (t, "TaskFailedToStart",
             "container %s did not %s within CONTAINER_START_TIMEOUT (%" PRIu64 " s)", c->name,
             c->known == CTR_CREATED ? "start" : "get created",
             (uint64_t)(t->engine->o.container_start_timeout_ns / 1000000000u));
  return 0;
}

static void
op_timer_arm (struct ctr *c)
{
  struct engine *e = c->task->engine;
  uint64_t when;
  if (e->o.container_start_timeout_ns == 0)
    return;
  when = berth_now_ns () + e->o.container_start_timeout_ns;
  if (c->op_timer == NULL)
    berth_loop_add_timer (e->loop, when, on_op_timeout, c, &c->op_timer, NULL);
  else
    berth_loop_timer_set (c->op_timer, when);
}

static void
op_timer_disarm (struct ctr *c)
{
  if (c->op_timer)
    berth_loop_timer_set (c->op_timer, 0);
}

static void
on_created (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct ctr *c = data;
  struct task *t = c->task;
  const char *error = NULL;
  (void)conn;
  (void)fds;
  (void)n_fds;
  c->busy = false;
  op_timer_disarm (c);
  if (!reply_ok (reply, &error))
    {
      free (c->reason);
      c->reason = xasprintf ("CannotCreateContainerError: %s", error);
      task_fail (t, "TaskFailedToStart", "container %s: CannotCreateContainerError: %s", c->name,
                 error);
    }
  else
    {
      int32_t pid = 0;
      bjson_get_int32 (reply, "", "pid", 0, &pid, NULL);
      c->pid = pid;
      c->created = true;
      c->known = CTR_CREATED;
      c->waiting_since_ns = berth_now_ns ();
      ctr_open_cgroup (c);
    }
  task_persist (t);
  task_step (t);
}

static void
ctr_create (struct ctr *c)
{
  struct task *t = c->task;
  berth_err err = NULL;
  json_object *args;

  if (ctr_cgroup (c, true, &err) < 0 || ctr_write_bundle (c, &err) < 0)
    {
      free (c->reason);
      c->reason = xasprintf ("CannotCreateContainerError: %s", berth_err_msg (&err));
      task_fail (t, "TaskFailedToStart", "container %s: %s", c->name, berth_err_msg (&err));
      berth_err_free (&err);
      return;
    }
  args = json_object_new_object ();
  json_object_object_add (args, "container", json_object_new_string (c->name));
  json_object_object_add (args, "runtime_id", json_object_new_string (c->runtime_id));
  json_object_object_add (args, "bundle", json_object_new_string (c->bundle_dir));
  json_object_object_add (args, "log_path", json_object_new_string (c->log_path));
  json_object_object_add (args, "tty", json_object_new_boolean (c->def->pseudo_terminal));
  /* logConfiguration max-size / max-file; without them the shim's (CONTAINER_LOG_MAX_*) */
  if (c->def->log.max_size)
    json_object_object_add (args, "log_max_bytes", json_object_new_uint64 (c->def->log.max_size));
  if (c->def->log.max_files)
    json_object_object_add (args, "log_max_files", json_object_new_uint64 (c->def->log.max_files));
  c->busy = true;
  c->has_exit = false;
  c->oom = false;
  c->starting = false;
  c->stop_sent = c->kill_sent = false;
  op_timer_arm (c);
  if (shimconn_call (t->shim, "create", args, NULL, 0, on_created, c, &err) < 0)
    {
      c->busy = false;
      task_fail (t, "TaskFailedToStart", "container %s: %s", c->name, berth_err_msg (&err));
      berth_err_free (&err);
    }
}

static void
on_started (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct ctr *c = data;
  struct task *t = c->task;
  const char *error = NULL;
  (void)conn;
  (void)fds;
  (void)n_fds;
  c->busy = false;
  op_timer_disarm (c);
  berth_loop_remove (c->start_timer);
  c->start_timer = NULL;
  if (!reply_ok (reply, &error))
    {
      free (c->reason);
      c->reason = xasprintf ("CannotStartContainerError: %s", error);
      task_fail (t, "TaskFailedToStart", "container %s: CannotStartContainerError: %s", c->name,
                 error);
    }
  else
    {
      if (c->known < CTR_RUNNING)
        c->known = CTR_RUNNING;
      c->started_at_ns = berth_realtime_ns ();
      c->started_mono_ns = berth_now_ns ();
      health_start (c);
    }
  task_persist (t);
  task_step (t);
}

static void
ctr_start (struct ctr *c)
{
  struct task *t = c->task;
  berth_err err = NULL;
  json_object *args = json_object_new_object ();
  json_object_object_add (args, "container", json_object_new_string (c->name));
  c->busy = true;
  c->starting = true;
  op_timer_arm (c);
  if (shimconn_call (t->shim, "start", args, NULL, 0, on_started, c, &err) < 0)
    {
      c->busy = false;
      task_fail (t, "TaskFailedToStart", "container %s: %s", c->name, berth_err_msg (&err));
      berth_err_free (&err);
    }
}

static int
on_start_timeout (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct ctr *c = data;
  (void)src;
  (void)now;
  if (c->known == CTR_CREATED && c->task->desired == BERTH_DESIRED_RUNNING)
    task_fail (c->task, "TaskFailedToStart",
               "container %s: its dependencies were not resolved within startTimeout (%u s)",
               c->name, c->def->start_timeout_s);
  return 0;
}

/* 1: dependencies allow the start; 0: wait; -1: they never will (the task fails). */
static int
deps_satisfied (struct ctr *c)
{
  struct task *t = c->task;
  for (size_t i = 0; i < c->def->n_depends_on; i++)
    {
      const struct taskdef_dependency *d = &c->def->depends_on[i];
      struct ctr *dep = &t->ctrs[d->index];
      switch (d->condition)
        {
        case TASKDEF_DEP_START:
          if (dep->known < CTR_RUNNING)
            return 0;
          break;
        case TASKDEF_DEP_COMPLETE:
          if (!(dep->known == CTR_STOPPED && dep->has_exit))
            return 0;
          break;
        case TASKDEF_DEP_SUCCESS:
          if (!(dep->known == CTR_STOPPED && dep->has_exit))
            return 0;
          if (dep->exit_code != 0)
            {
              task_fail (t, "TaskFailedToStart",
                         "container %s depends on %s exiting successfully (SUCCESS), but it exited "
                         "with code %d",
                         c->name, dep->name, dep->exit_code);
              return -1;
            }
          break;
        case TASKDEF_DEP_HEALTHY:
          if (dep->health == HEALTH_UNHEALTHY || (dep->known == CTR_STOPPED && dep->has_exit))
            {
              task_fail (t, "TaskFailedToStart",
                         "container %s depends on %s being healthy (HEALTHY), but it is %s",
                         c->name, dep->name,
                         dep->health == HEALTH_UNHEALTHY ? "unhealthy" : "stopped");
              return -1;
            }
          if (dep->health != HEALTH_HEALTHY)
            return 0;
          break;
        }
    }
  return 1;
}

void
containers_step (struct task *t)
{
  bool all_started = true;

  if (t->shim == NULL)
    {
      task_fail (t, "TaskFailedToStart", "berth-shim of the task is gone");
      return;
    }
  /* ECS creates every container, then starts them as their dependencies allow. */
  for (size_t k = 0; k < t->n_ctrs; k++)
    {
      struct ctr *c = &t->ctrs[t->start_order[k]];
      if (!c->busy && c->known == CTR_PULLED)
        ctr_create (c);
      if (t->desired != BERTH_DESIRED_RUNNING)
        return;
    }
  for (size_t k = 0; k < t->n_ctrs; k++)
    {
      struct ctr *c = &t->ctrs[t->start_order[k]];
      int d;
      if (c->known < CTR_RUNNING && !(c->known == CTR_STOPPED))
        all_started = false;
      if (c->busy || c->known != CTR_CREATED)
        continue;
      d = deps_satisfied (c);
      if (d < 0 || t->desired != BERTH_DESIRED_RUNNING)
        return;
      if (d > 0)
        ctr_start (c);
      else if (c->def->has_start_timeout && c->start_timer == NULL)
        berth_loop_add_timer (t->engine->loop,
                              c->waiting_since_ns
                                  + (uint64_t)c->def->start_timeout_s * 1000000000ull,
                              on_start_timeout, c, &c->start_timer, NULL);
    }
  if (all_started && t->known == TASK_ACTIVATING)
    t->known = TASK_RUNNING, t->started_ns = t->started_ns ? t->started_ns : berth_realtime_ns ();
}

/* ------------------------------------------------------------------ exits */

static bool
exit_code_ignored (const struct taskdef_restart_policy *rp, int code)
{
  for (size_t i = 0; i < rp->n_ignored_exit_codes; i++)
    if (rp->ignored_exit_codes[i] == code)
      return true;
  return false;
}

static void
on_restart_deleted (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds,
                    void *data)
{
  struct ctr *c = data;
  struct task *t = c->task;
  const char *error = NULL;
  (void)conn;
  (void)fds;
  (void)n_fds;
  c->busy = false;
  c->restarting = false;
  if (!reply_ok (reply, &error))
    {
      task_fail (t, "EssentialContainerExited", "container %s could not be restarted: %s", c->name,
                 error);
      return;
    }
  c->created = false;
  ctr_free_runtime (c);
  if (t->desired == BERTH_DESIRED_RUNNING)
    {
      c->restart_count++;
      c->known = CTR_PULLED; /* the root filesystem stays: create and start it again */
      c->has_exit = false;
      free (c->reason);
      c->reason = NULL;
      c->health = HEALTH_UNKNOWN;
      c->health_failures = 0;
    }
  task_persist (t);
  task_step (t);
}

/* The container's process is gone: decide what that means for the task. */
static void
ctr_exited (struct ctr *c, int code)
{
  struct task *t = c->task;
  const struct taskdef_restart_policy *rp = &c->def->restart;
  bool oom;

  berth_loop_remove (c->stop_timer);
  c->stop_timer = NULL;
  health_stop (c);
  c->has_exit = true;
  c->exit_code = code;
  c->finished_at_ns = berth_realtime_ns ();
  c->known = CTR_STOPPED;
  oom = ctr_check_oom (c);
  free (c->reason);
  c->reason = oom ? xstrdup ("OutOfMemoryError: container killed due to memory usage") : NULL;
  if (t->desired != BERTH_DESIRED_RUNNING)
    {
      task_persist (t);
      task_step (t);
      return;
    }
  /* ECS restartPolicy: restart unless the code is ignored, and only a container that ran
   * at least restartAttemptPeriod (a restart loop stays stopped). */
  /* the exit can arrive before the answer to start: then it ran for no time at all */
  if (rp->present && rp->enabled && !exit_code_ignored (rp, code) && c->started_mono_ns != 0
      && berth_now_ns () - c->started_mono_ns >= (uint64_t)rp->attempt_period_s * 1000000000ull)
    {
      json_object *args = json_object_new_object ();
      berth_err err = NULL;
      log_info ("task %s: container %s exited with code %d; restarting (restart policy)", t->id,
                c->name, code);
      json_object_object_add (args, "container", json_object_new_string (c->name));
      c->busy = true;
      c->restarting = true;
      if (shimconn_call (t->shim, "delete", args, NULL, 0, on_restart_deleted, c, &err) < 0)
        {
          c->busy = false;
          c->restarting = false;
          berth_err_free (&err);
        }
      else
        {
          /* the exit is a transition of its own: report it before the restart hides it */
          task_report (t);
          return;
        }
    }
  if (c->def->essential)
    task_fail (t, "EssentialContainerExited",
               "Essential container in task exited: %s exited with code %d%s%s%s", c->name, code,
               oom ? " (" : "", oom ? c->reason : "", oom ? ")" : "");
  task_persist (t);
  task_step (t);
}

void
ctr_on_exit (struct ctr *c, json_object *ev)
{
  int32_t code = 255;
  bjson_get_int32 (ev, "", "exit_code", 0, &code, NULL);
  if (c->has_exit || c->known == CTR_STOPPED)
    return; /* already known (replayed after a reconnect) */
  /* the waiting init of a container that was created but never started (killed by the
   * delete of a stopping task): the container did not run, so it has no exit code */
  if (c->known < CTR_RUNNING && !c->starting)
    return;
  ctr_exited (c, code);
}

/* What the shim says about a container after berthd (re)connects. */
void
ctr_on_shim_state (struct ctr *c, json_object *st)
{
  const char *status = NULL;
  bjson_get_string (st, "", "status", 0, &status, NULL);
  if (status == NULL)
    return;
  c->created = strcmp (status, "deleted") != 0 && strcmp (status, "new") != 0;
  {
    int32_t pid = 0;
    if (bjson_get_int32 (st, "", "pid", 0, &pid, NULL) > 0)
      c->pid = pid;
  }
  if (strcmp (status, "created") == 0 && c->known < CTR_CREATED)
    c->known = CTR_CREATED;
  else if ((strcmp (status, "running") == 0 || strcmp (status, "starting") == 0)
           && c->known < CTR_RUNNING)
    c->known = CTR_RUNNING;
  else if (strcmp (status, "stopped") == 0 && !c->has_exit)
    {
      int32_t code = 255;
      bjson_get_int32 (st, "", "exit_code", 0, &code, NULL);
      if (!json_object_object_get_ex (st, "started_at", NULL))
        c->known = CTR_STOPPED; /* its waiting init died before a start: it never ran */
      else
        {
          if (c->known < CTR_RUNNING)
            c->known = CTR_RUNNING;
          ctr_exited (c, code);
        }
    }
  if (c->created)
    ctr_open_cgroup (c);
  if (c->known == CTR_RUNNING && !c->has_exit && c->started_mono_ns == 0)
    c->started_mono_ns = berth_now_ns ();
}

void
shim_on_event (struct shimconn *conn, json_object *ev, void *data)
{
  struct task *t = data;
  const char *kind = NULL, *name = NULL;
  struct ctr *c;
  (void)conn;
  bjson_get_string (ev, "", "event", 0, &kind, NULL);
  bjson_get_string (ev, "", "container", 0, &name, NULL);
  if (kind == NULL)
    return;
  if (strcmp (kind, "exec-exit") == 0)
    {
      const char *exec_id = NULL;
      bjson_get_string (ev, "", "exec_id", 0, &exec_id, NULL);
      c = name ? ctr_by_name (t, name) : NULL;
      if (c && c->health_exec_id && exec_id && strcmp (c->health_exec_id, exec_id) == 0)
        health_on_exec_exit (c, ev);
      else
        exec_on_event (t->engine, ev);
      return;
    }
  if (strcmp (kind, "exit") == 0 && name && (c = ctr_by_name (t, name)) != NULL)
    ctr_on_exit (c, ev);
}

void
shim_on_closed (struct shimconn *conn, void *data)
{
  struct task *t = data;
  (void)conn;
  /* The shim is gone (crashed, or killed): its containers lost their parent. berthd cannot
   * watch them any more; they are stopped through the runtime directly. */
  t->shim = NULL;
  t->shim_lost = true;
  log_error ("task %s: lost the connection to its berth-shim", t->id);
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      c->busy = false;
      if (c->known == CTR_RUNNING && !c->has_exit)
        {
          free (c->reason);
          c->reason = xstrdup ("berth-shim exited: the container was stopped");
        }
    }
  if (t->known != TASK_STOPPED)
    task_fail (t, "TaskFailedToStart", "berth-shim of the task exited unexpectedly");
  task_schedule_step (t);
}

/* ------------------------------------------------------------------ stop */

static void
on_kill_reply (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct ctr *c = data;
  const char *error = NULL;
  (void)conn;
  (void)fds;
  (void)n_fds;
  if (!reply_ok (reply, &error))
    log_debug ("task %s: container %s: kill: %s", c->task->id, c->name, error);
}

static void
ctr_kill (struct ctr *c, int sig, bool all)
{
  struct task *t = c->task;
  berth_err err = NULL;
  /* SIGKILL reaches every process of the container through its cgroup, even ones that
   * left the init's process tree */
  if (all && c->cg && sig == SIGKILL && cgroups_kill (c->cg, SIGKILL, NULL) == 0)
    return;
  if (t->shim)
    {
      json_object *args = json_object_new_object ();
      json_object_object_add (args, "container", json_object_new_string (c->name));
      json_object_object_add (args, "signal", json_object_new_int (sig));
      json_object_object_add (args, "all", json_object_new_boolean (all));
      if (shimconn_call (t->shim, "kill", args, NULL, 0, on_kill_reply, c, &err) < 0)
        berth_err_free (&err);
    }
}

static int
on_stop_timeout (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct ctr *c = data;
  (void)now;
  (void)src;
  if (ctr_done (c))
    return 0;
  log_info ("task %s: container %s did not stop within its stopTimeout; killing it", c->task->id,
            c->name);
  c->kill_sent = true;
  ctr_kill (c, SIGKILL, true);
  return 0;
}

void
containers_stop_step (struct task *t)
{
  struct engine *e = t->engine;
  for (size_t k = t->n_ctrs; k-- > 0;)
    {
      struct ctr *c = &t->ctrs[t->start_order[k]];
      bool dependants_done = true;
      uint32_t timeout;
      if (ctr_done (c) || c->stop_sent)
        continue;
      /* reverse dependency order: a container stops once everything that depends on it has */
      for (size_t i = 0; i < t->n_ctrs && dependants_done; i++)
        for (size_t d = 0; d < t->ctrs[i].def->n_depends_on; d++)
          if (t->ctrs[i].def->depends_on[d].index == c->idx && !ctr_done (&t->ctrs[i]))
            dependants_done = false;
      if (!dependants_done)
        continue;
      c->stop_sent = true;
      timeout = c->def->has_stop_timeout
                    ? c->def->stop_timeout_s
                    : (uint32_t)((e->o.default_stop_timeout_ns ? e->o.default_stop_timeout_ns
                                                               : 30000000000ull)
                                 / 1000000000ull);
      if (t->shim == NULL)
        {
          /* no shim: nothing can signal by pid; kill the whole cgroup */
          c->kill_sent = true;
          ctr_kill (c, SIGKILL, true);
          continue;
        }
      ctr_kill (c, c->stop_signal, false);
      berth_loop_add_timer (e->loop, berth_now_ns () + (uint64_t)timeout * 1000000000ull,
                            on_stop_timeout, c, &c->stop_timer, NULL);
    }
  /* Without a shim, exits are never reported: a container is done once its cgroup is empty. */
  if (t->shim == NULL)
    for (size_t i = 0; i < t->n_ctrs; i++)
      {
        struct ctr *c = &t->ctrs[i];
        pid_t *pids = NULL;
        size_t n = 0;
        if (ctr_done (c))
          continue;
        if (c->cg == NULL || (cgroups_pids (c->cg, &pids, &n, NULL) == 0 && n == 0))
          {
            c->has_exit = true;
            c->exit_code = 137;
            c->known = CTR_STOPPED;
            c->finished_at_ns = berth_realtime_ns ();
          }
        else
          task_schedule_step_after (t, 200000000ull);
        free (pids);
      }
}

/* ------------------------------------------------------------------ delete */

static void
on_deleted (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct ctr *c = data;
  struct task *t = c->task;
  const char *error = NULL;
  (void)conn;
  (void)fds;
  (void)n_fds;
  c->busy = false;
  if (!reply_ok (reply, &error))
    {
      log_warning ("task %s: container %s: delete: %s; retrying", t->id, c->name, error);
      task_persist (t);
      task_schedule_step_after (t, 1000000000ull);
      return;
    }
  c->created = false;
  ctr_free_runtime (c);
  task_persist (t);
  task_step (t);
}

struct rt_delete_job
{
  struct ctr *c;
  char *runtime, *root, *id;
  int status;
};

static void
rt_delete_run (void *arg)
{
  struct rt_delete_job *j = arg;
  char *argv[] = { j->runtime, "--root", j->root, "delete", "--force", j->id, NULL };
  pid_t pid;
  int pidfd;
  j->status = -1;
  if (berth_spawn (j->runtime, argv, NULL, &pid, &pidfd, NULL) == 0)
    {
      berth_pidfd_wait (pidfd, &j->status, NULL);
      close (pidfd);
    }
}

static void
rt_delete_done (void *arg)
{
  struct rt_delete_job *j = arg;
  struct ctr *c = j->c;
  c->busy = false;
  /* delete of a container the runtime does not know fails too: either way it is gone */
  c->created = false;
  ctr_free_runtime (c);
  task_persist (c->task);
  task_step (c->task);
  free (j->runtime);
  free (j->root);
  free (j->id);
  free (j);
}

void
containers_delete_step (struct task *t)
{
  struct engine *e = t->engine;
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      berth_err err = NULL;
      if (c->busy || !c->created)
        continue;
      c->busy = true;
      if (t->shim)
        {
          json_object *args = json_object_new_object ();
          json_object_object_add (args, "container", json_object_new_string (c->name));
          if (shimconn_call (t->shim, "delete", args, NULL, 0, on_deleted, c, &err) == 0)
            continue;
          berth_err_free (&err);
        }
      {
        struct rt_delete_job *j = xzalloc (sizeof *j);
        j->c = c;
        j->runtime = xstrdup (e->runtime_path);
        j->root = xasprintf ("%s/runtime", e->run_dir);
        j->id = xstrdup (c->runtime_id);
        workers_submit (e->workers, rt_delete_run, rt_delete_done, j);
      }
    }
}
