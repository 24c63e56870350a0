/* The engine's core: the task table, the sink sources submit to, the resource ledger,
 * reporting of every transition (state file, outbox, subscribers) and the step function
 * that moves a task's known status toward its desired status. */
#include "engine-internal.h"
#include "berth-config.h"
#include "agent/outbox/outbox.h"
#include "cgroups/cgroups.h"
#include "imagecache/imagecache.h"
#include "netns/netns.h"

#include <sys/sysinfo.h>
#include <sys/utsname.h>

static const char *const task_status_names[] = {
  [TASK_NONE] = "NONE",         [TASK_PROVISIONING] = "PROVISIONING",
  [TASK_PENDING] = "PENDING",   [TASK_ACTIVATING] = "ACTIVATING",
  [TASK_RUNNING] = "RUNNING",   [TASK_DEACTIVATING] = "DEACTIVATING",
  [TASK_STOPPING] = "STOPPING", [TASK_DEPROVISIONING] = "DEPROVISIONING",
  [TASK_STOPPED] = "STOPPED",
};

static const char *const ctr_status_names[] = {
  [CTR_NONE] = "NONE",       [CTR_PENDING] = "PENDING", [CTR_PULLED] = "PULLED",
  [CTR_CREATED] = "CREATED", [CTR_RUNNING] = "RUNNING", [CTR_STOPPED] = "STOPPED",
};

const char *
task_status_name (enum task_status s)
{
  return task_status_names[s];
}

int
task_status_parse (const char *s, enum task_status *ret)
{
  for (size_t i = 0; i < ARRAY_SIZE (task_status_names); i++)
    if (strcmp (s, task_status_names[i]) == 0)
      {
        *ret = (enum task_status)i;
        return 0;
      }
  return -EINVAL;
}

const char *
ctr_status_name (enum ctr_status s)
{
  return ctr_status_names[s];
}

int
ctr_status_parse (const char *s, enum ctr_status *ret)
{
  for (size_t i = 0; i < ARRAY_SIZE (ctr_status_names); i++)
    if (strcmp (s, ctr_status_names[i]) == 0)
      {
        *ret = (enum ctr_status)i;
        return 0;
      }
  return -EINVAL;
}

const char *
ctr_health_name (enum ctr_health h)
{
  switch (h)
    {
    case HEALTH_HEALTHY:
      return "HEALTHY";
    case HEALTH_UNHEALTHY:
      return "UNHEALTHY";
    case HEALTH_UNKNOWN:
      break;
    }
  return "UNKNOWN";
}

/* ------------------------------------------------------------------ tasks */

struct task *
engine_task_find (struct engine *e, const char *id)
{
  for (struct task *t = e->tasks; t; t = t->next)
    if (strcmp (t->id, id) == 0)
      return t;
  return NULL;
}

struct task *
task_new (struct engine *e, const char *id, const char *source, json_object *definition,
          json_object *metadata)
{
  struct task *t = xzalloc (sizeof *t);
  t->engine = e;
  t->id = xstrdup (id);
  t->source = xstrdup (source);
  t->definition = json_object_get (definition);
  t->metadata = metadata ? json_object_get (metadata) : NULL;
  t->desired = BERTH_DESIRED_RUNNING;
  t->known = TASK_NONE;
  t->shim_pidfd = -1;
  t->created_at_ns = berth_realtime_ns ();
  t->state_dir = xasprintf ("%s/tasks/%s", e->run_dir, id);
  t->task_dir = xasprintf ("%s/tasks/%s", e->data_dir, id);
  t->task_log_dir = xasprintf ("%s/%s", e->log_dir, id);
  t->next = e->tasks;
  e->tasks = t;
  return t;
}

/* Parses the definition and lays out the containers. A rejected definition leaves
 * t->def NULL and the reason in err. */
int
task_setup_def (struct task *t, berth_err *err)
{
  struct engine *e = t->engine;
  int r = taskdef_parse_json (t->definition, &t->def, err);
  if (r < 0)
    return r;
  t->n_ctrs = t->def->n_containers;
  t->ctrs = xzalloc (t->n_ctrs * sizeof *t->ctrs);
  t->start_order = xmalloc (t->n_ctrs * sizeof *t->start_order);
  taskdef_start_order (t->def, t->start_order);
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      c->task = t;
      c->idx = i;
      c->def = &t->def->containers[i];
      c->name = xstrdup (c->def->name);
      c->known = CTR_NONE;
      /* "<task>-<container>", unless that would not fit in a file name */
      c->runtime_id = strlen (t->id) + 1 + strlen (c->name) <= 200
                          ? xasprintf ("%s-%s", t->id, c->name)
                          : xasprintf ("%s-%zu", t->id, i);
      c->bundle_dir = xasprintf ("%s/%s", t->state_dir, c->name);
      c->rootfs = xasprintf ("%s/rootfs", c->bundle_dir);
      c->rw_dir = xasprintf ("%s/%s", t->task_dir, c->name);
      c->log_path = xasprintf ("%s/%s.log", t->task_log_dir, c->name);
      c->lease_id = xasprintf ("%s.%zu", t->id, i);
      c->stop_signal = SIGTERM;
    }
  /* what the ledger reserves: the same rule the endpoint's placement uses */
  {
    uint64_t mem = 0;
    taskdef_resources (t->def, &t->need_cpu, &mem);
    t->need_memory_mib = mem > UINT32_MAX ? UINT32_MAX : (uint32_t)mem;
  }
  (void)e;
  return 0;
}

void
task_free (struct task *t)
{
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      berth_loop_remove (c->stop_timer);
      berth_loop_remove (c->start_timer);
      berth_loop_remove (c->op_timer);
      berth_loop_remove (c->health_timer);
      ctr_free_runtime (c);
      imagecache_image_free (c->image);
      free (c->name);
      free (c->runtime_id);
      free (c->bundle_dir);
      free (c->rootfs);
      free (c->rw_dir);
      free (c->log_path);
      free (c->lease_id);
      free (c->image_digest);
      free (c->reason);
      free (c->health_exec_id);
      free (c->health_output);
      free (c->cgroup_path);
    }
  if (t->shim)
    {
      shimconn_forget (t->shim, t);
      shimconn_close (t->shim);
    }
  berth_loop_remove (t->shim_pidfd_src);
  if (t->shim_pidfd >= 0)
    close (t->shim_pidfd);
  berth_loop_remove (t->retention_timer);
  berth_loop_remove (t->step_timer);
  if (t->cg)
    cgroups_free (t->cg);
  netns_task_net_free (t->net);
  free (t->pull_cancels);
  strv_free (t->volume_paths);
  free (t->ctrs);
  free (t->start_order);
  taskdef_free (t->def);
  json_object_put (t->definition);
  json_object_put (t->metadata);
  free (t->id);
  free (t->source);
  free (t->stop_code);
  free (t->reason);
  free (t->stop_request);
  free (t->stop_code_request);
  free (t->ip);
  free (t->cgroup_path);
  free (t->state_dir);
  free (t->task_dir);
  free (t->task_log_dir);
  free (t->last_reported_json);
  free (t->last_state_json);
  free (t);
}

/* ------------------------------------------------------------------ reporting */

static json_object *
ts_json (uint64_t ns)
{
  char buf[BERTH_RFC3339_LEN];
  if (ns == 0)
    return NULL;
  return json_object_new_string (berth_format_rfc3339 (ns, buf, sizeof buf));
}

static json_object *
str_or_null (const char *s)
{
  return s ? json_object_new_string (s) : NULL;
}

/* A reason longer than the protocol allows is cut, marking the cut. */
static json_object *
reason_json (const char *s)
{
  size_t max = 4096;
  if (s == NULL)
    return NULL;
  if (strlen (s) <= max)
    return json_object_new_string (s);
  {
    cleanup_free char *cut = xasprintf ("%.*s…", (int)max, s);
    return json_object_new_string (cut);
  }
}

/* "status" (a task not yet accepted reads PROVISIONING) and "desired", as every report and
 * the node snapshot give them. */
static void
add_status_desired (json_object *o, const struct task *t)
{
  json_object_object_add (o, "status",
                          json_object_new_string (task_status_name (
                              t->known == TASK_NONE ? TASK_PROVISIONING : t->known)));
  json_object_object_add (
      o, "desired",
      json_object_new_string (t->desired == BERTH_DESIRED_RUNNING ? "RUNNING" : "STOPPED"));
}

json_object *
task_change_json (struct task *t)
{
  json_object *o = json_object_new_object ();
  json_object *ts = json_object_new_object ();
  json_object *ctrs = json_object_new_array ();
  char now[BERTH_RFC3339_LEN];

  json_object_object_add (o, "task_id", json_object_new_string (t->id));
  json_object_object_add (
      o, "time",
      json_object_new_string (berth_format_rfc3339 (berth_realtime_ns (), now, sizeof now)));
  add_status_desired (o, t);
  json_object_object_add (o, "stop_code",
                          t->known == TASK_STOPPED ? str_or_null (t->stop_code) : NULL);
  json_object_object_add (
      o, "reason",
      (t->known == TASK_STOPPED || t->known == TASK_PENDING) ? reason_json (t->reason) : NULL);
  json_object_object_add (o, "ip", str_or_null (t->ip));
  json_object_object_add (ts, "pull_started", ts_json (t->pull_started_ns));
  json_object_object_add (ts, "pull_stopped", ts_json (t->pull_stopped_ns));
  json_object_object_add (ts, "started", ts_json (t->started_ns));
  json_object_object_add (ts, "stopped", ts_json (t->stopped_ns));
  json_object_object_add (o, "timestamps", ts);
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      json_object *co = json_object_new_object ();
      json_object_object_add (co, "name", json_object_new_string (c->name));
      json_object_object_add (
          co, "status",
          json_object_new_string (ctr_status_name (c->known == CTR_NONE ? CTR_PENDING : c->known)));
      json_object_object_add (co, "exit_code",
                              c->has_exit ? json_object_new_int (c->exit_code) : NULL);
      json_object_object_add (co, "reason", reason_json (c->reason));
      json_object_object_add (co, "health", json_object_new_string (ctr_health_name (c->health)));
      json_object_object_add (co, "restart_count", json_object_new_int ((int)c->restart_count));
      json_object_object_add (co, "image_digest", str_or_null (c->image_digest));
      json_object_array_add (ctrs, co);
    }
  json_object_object_add (o, "containers", ctrs);
  return o;
}

static void snapshot_update (struct engine *e);
static void snapshot_schedule (struct engine *e);
static int on_sink_wakeup (struct berth_loop_source *src, void *data);

static struct source_entry *
source_find (struct engine *e, const char *name)
{
  for (struct source_entry *s = e->sources; s; s = s->next)
    if (strcmp (s->name, name) == 0)
      return s;
  return NULL;
}

/* Writes state.json and reports a change when anything a consumer sees has changed since
 * the last report. Every transition of the task or of a container is a change. */
void
task_report (struct task *t)
{
  struct engine *e = t->engine;
  cleanup_json json_object *change = task_change_json (t);
  cleanup_free char *cmp = NULL;
  berth_err err = NULL;
  json_object *time;

  /* compare without the time */
  json_object_object_get_ex (change, "time", &time);
  json_object_get (time);
  json_object_object_del (change, "time");
  cmp = xstrdup (bjson_to_string (change));
  json_object_object_add (change, "time", time);
  if (t->last_reported_json && strcmp (t->last_reported_json, cmp) == 0)
    return;
  free (t->last_reported_json);
  t->last_reported_json = steal_pointer (&cmp);

  if (!t->removed && store_state_write (t, &err) < 0)
    {
      log_warning ("task %s: %s", t->id, berth_err_msg (&err));
      berth_err_free (&err);
    }
  {
    struct source_entry *s = source_find (e, t->source);
    if (s && s->has_consumer && e->o.outbox)
      {
        /* queued: the writer thread makes it durable, then tells the source */
        if (outbox_append_queued (e->o.outbox, t->source, change, s->outbox_ready, s->data, NULL,
                                  &err)
            < 0)
          {
            log_error ("task %s: outbox: %s", t->id, berth_err_msg (&err));
            berth_err_free (&err);
          }
      }
  }
  log_info ("task %s: %s%s%s", t->id, task_status_name (t->known),
            (t->reason && (t->known == TASK_STOPPED || t->known == TASK_PENDING)) ? ": " : "",
            (t->reason && (t->known == TASK_STOPPED || t->known == TASK_PENDING)) ? t->reason : "");
  for (struct subscriber *s = e->subscribers; s; s = s->next)
    s->fn (change, s->data);
  snapshot_schedule (e);
}

void
task_persist (struct task *t)
{
  berth_err err = NULL;
  if (t->removed)
    return;
  if (store_state_write (t, &err) < 0)
    {
      log_warning ("task %s: %s", t->id, berth_err_msg (&err));
      berth_err_free (&err);
    }
}

/* ------------------------------------------------------------------ stopping */

void
task_request_stop (struct task *t, const char *stop_code, const char *reason)
{
  if (t->stop_code_request == NULL)
    {
      t->stop_code_request = xstrdup (stop_code);
      t->stop_request = xstrdup (reason);
    }
  if (t->desired != BERTH_DESIRED_STOPPED)
    {
      t->desired = BERTH_DESIRED_STOPPED;
      {
        berth_err err = NULL;
        if (!t->removed && store_task_write (t, &err) < 0)
          {
            log_warning ("task %s: %s", t->id, berth_err_msg (&err));
            berth_err_free (&err);
          }
      }
    }
  task_schedule_step (t);
}

void
task_fail (struct task *t, const char *stop_code, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  task_request_stop (t, stop_code, msg);
  free (msg);
}

/* ------------------------------------------------------------------ ledger */

void
engine_ledger_release (struct engine *e, struct task *t)
{
  if (!t->admitted)
    return;
  t->admitted = false;
  e->used_cpu -= t->need_cpu < e->used_cpu ? t->need_cpu : e->used_cpu;
  e->used_memory_mib
      -= t->need_memory_mib < e->used_memory_mib ? t->need_memory_mib : e->used_memory_mib;
  engine_wake_pending (e);
}

static bool
ledger_admit (struct engine *e, struct task *t)
{
  uint32_t free_cpu = e->total_cpu > e->used_cpu ? e->total_cpu - e->used_cpu : 0;
  uint32_t free_mem
      = e->total_memory_mib > e->used_memory_mib ? e->total_memory_mib - e->used_memory_mib : 0;
  if (t->admitted)
    return true;
  if (t->need_cpu > free_cpu || t->need_memory_mib > free_mem)
    {
      char *why = xasprintf (
          "waiting for resources: needs %u CPU units and %u MiB, %u CPU units and %u MiB free",
          t->need_cpu, t->need_memory_mib, free_cpu, free_mem);
      if (t->need_cpu > e->total_cpu || t->need_memory_mib > e->total_memory_mib)
        {
          task_fail (t, "TaskFailedToStart",
                     "the task needs %u CPU units and %u MiB; this node has %u CPU units and %u "
                     "MiB for tasks",
                     t->need_cpu, t->need_memory_mib, e->total_cpu, e->total_memory_mib);
          free (why);
          return false;
        }
      free (t->reason);
      t->reason = why;
      return false;
    }
  t->admitted = true;
  e->used_cpu += t->need_cpu;
  e->used_memory_mib += t->need_memory_mib;
  free (t->reason);
  t->reason = NULL;
  task_persist (t);
  return true;
}

/* Tasks waiting for resources get another look, oldest first. */
void
engine_wake_pending (struct engine *e)
{
  for (struct task *t = e->tasks; t; t = t->next)
    if (t->known == TASK_PENDING && !t->admitted && t->desired == BERTH_DESIRED_RUNNING)
      task_schedule_step (t);
}

/* ------------------------------------------------------------------ the step */

static void
set_known (struct task *t, enum task_status s)
{
  if (t->known == s)
    return;
  t->known = s;
  if (s == TASK_RUNNING && t->started_ns == 0)
    t->started_ns = berth_realtime_ns ();
}

static bool
any_ctr_busy (struct task *t)
{
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (t->ctrs[i].busy)
      return true;
  return false;
}

static bool
any_ctr_created (struct task *t)
{
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (t->ctrs[i].known >= CTR_CREATED
        && !(t->ctrs[i].known == CTR_STOPPED && !t->ctrs[i].started_at_ns && !t->ctrs[i].has_exit))
      return true;
  return false;
}

static void retention_expired_cb (struct task *t);

static int
on_retention (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct task *t = data;
  (void)src;
  (void)now;
  t->retention_timer = NULL;
  berth_loop_remove (src);
  retention_expired_cb (t);
  return 0;
}

void
task_arm_retention (struct task *t, uint64_t delay_ns)
{
  struct engine *e = t->engine;
  if (e->o.task_retention_ns == 0 || t->retention_timer)
    return;
  berth_loop_add_timer (e->loop, berth_now_ns () + delay_ns, on_retention, t, &t->retention_timer,
                        NULL);
}

static void
finish_stopped (struct task *t)
{
  struct engine *e = t->engine;
  set_known (t, TASK_STOPPED);
  if (t->stopped_ns == 0)
    t->stopped_ns = berth_realtime_ns ();
  t->stopped_mono_ns = berth_now_ns ();
  if (t->stop_code == NULL)
    {
      t->stop_code = xstrdup (t->stop_code_request ? t->stop_code_request : "UserInitiated");
      free (t->reason);
      t->reason = xstrdup (t->stop_request ? t->stop_request : "Task stopped");
    }
  /* a stopped task's containers are all stopped, also those that never ran */
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (t->ctrs[i].known != CTR_STOPPED)
      t->ctrs[i].known = CTR_STOPPED;
  engine_ledger_release (e, t);
  task_arm_retention (t, e->o.task_retention_ns);
}

static void
task_step_once (struct task *t)
{
  if (t->known == TASK_STOPPED || t->removed)
    return;

  if (t->desired == BERTH_DESIRED_RUNNING && t->def)
    {
      switch (t->known)
        {
        case TASK_NONE:
          set_known (t, TASK_PROVISIONING);
          /* fall through */
        case TASK_PROVISIONING:
          provision_step (t);
          if (t->dirs_ready && t->net_ready && t->cgroup_ready && t->shim
              && (!task_needs_holder (t) || t->holder_pid > 0)
              && t->desired == BERTH_DESIRED_RUNNING)
            {
              set_known (t, TASK_PENDING);
              t->step_again = true;
            }
          return;
        case TASK_PENDING:
          if (!ledger_admit (t->engine, t))
            return;
          images_step (t);
          {
            bool all = true;
            for (size_t i = 0; i < t->n_ctrs; i++)
              if (t->ctrs[i].known < CTR_PULLED)
                all = false;
            if (all && t->desired == BERTH_DESIRED_RUNNING)
              {
                set_known (t, TASK_ACTIVATING);
                t->step_again = true;
              }
          }
          return;
        case TASK_ACTIVATING:
        case TASK_RUNNING:
          containers_step (t);
          return;
        case TASK_DEACTIVATING:
        case TASK_STOPPING:
        case TASK_DEPROVISIONING:
        case TASK_STOPPED:
          break; /* a stop already began: it finishes */
        }
    }

  /* Stopping: from wherever the task is. A rejected definition goes straight to STOPPED. */
  if (t->def == NULL)
    {
      finish_stopped (t);
      return;
    }
  if (t->desired == BERTH_DESIRED_RUNNING)
    t->desired = BERTH_DESIRED_STOPPED; /* a stop began earlier (e.g. recovered mid-stop) */
  switch (t->known)
    {
    case TASK_NONE:
    case TASK_PROVISIONING:
    case TASK_PENDING:
      images_cancel (t);
      if (t->busy || any_ctr_busy (t))
        return; /* wait for in-flight work to come back */
      set_known (t, any_ctr_created (t) ? TASK_STOPPING : TASK_DEPROVISIONING);
      t->step_again = true;
      return;
    case TASK_ACTIVATING:
    case TASK_RUNNING:
      set_known (t, TASK_DEACTIVATING);
      /* fall through */
    case TASK_DEACTIVATING:
      for (size_t i = 0; i < t->n_ctrs; i++)
        health_stop (&t->ctrs[i]);
      images_cancel (t);
      set_known (t, TASK_STOPPING);
      /* fall through */
    case TASK_STOPPING:
      containers_stop_step (t);
      {
        bool all = true;
        for (size_t i = 0; i < t->n_ctrs; i++)
          if (!ctr_done (&t->ctrs[i]))
            all = false;
        if (!all || t->busy || any_ctr_busy (t))
          return;
      }
      if (t->stopped_ns == 0)
        t->stopped_ns = berth_realtime_ns ();
      set_known (t, TASK_DEPROVISIONING);
      /* fall through */
    case TASK_DEPROVISIONING:
      if (t->busy || any_ctr_busy (t))
        return;
      containers_delete_step (t);
      if (t->busy || any_ctr_busy (t))
        return;
      images_release_step (t);
      if (t->busy || any_ctr_busy (t))
        return;
      deprovision_step (t);
      if (t->busy)
        return;
      finish_stopped (t);
      return;
    case TASK_STOPPED:
      return;
    }
}

void
task_step (struct task *t)
{
  if (t->stepping)
    {
      t->step_again = true;
      return;
    }
  t->stepping = true;
  do
    {
      t->step_again = false;
      task_step_once (t);
    }
  while (t->step_again);
  t->stepping = false;
  task_report (t);
}

static int
on_step_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct task *t = data;
  (void)now;
  (void)src;
  task_step (t);
  return 0;
}

/* Runs the step after delay_ns (0: on the next loop iteration; callers are often inside
 * another task's callback, or inside this task's own step). One timer per task: an earlier
 * deadline wins. */
void
task_schedule_step_after (struct task *t, uint64_t delay_ns)
{
  uint64_t when = berth_now_ns () + delay_ns;
  if (delay_ns == 0 && t->stepping)
    {
      t->step_again = true;
      return;
    }
  if (t->step_timer == NULL)
    {
      berth_loop_add_timer (t->engine->loop, when, on_step_timer, t, &t->step_timer, NULL);
      return;
    }
  if (berth_loop_timer_get (t->step_timer) == 0 || when < berth_loop_timer_get (t->step_timer))
    berth_loop_timer_set (t->step_timer, when);
}

void
task_schedule_step (struct task *t)
{
  task_schedule_step_after (t, 0);
}

/* ------------------------------------------------------------------ retention */

static void
task_unlink (struct engine *e, struct task *t)
{
  for (struct task **p = &e->tasks; *p; p = &(*p)->next)
    if (*p == t)
      {
        *p = t->next;
        return;
      }
}

static void
retention_expired_cb (struct task *t)
{
  struct engine *e = t->engine;
  berth_err err = NULL;
  if (t->known != TASK_STOPPED)
    return;
  if (store_task_remove (t, &err) < 0)
    {
      log_warning ("task %s: remove: %s", t->id, berth_err_msg (&err));
      berth_err_free (&err);
      return;
    }
  log_info ("task %s: removed after its retention time", t->id);
  t->removed = true;
  task_unlink (e, t);
  task_free (t);
}

int
engine_task_remove (struct engine *e, const char *id, bool force, berth_err *err)
{
  struct task *t = engine_task_find (e, id);
  if (t == NULL)
    return berth_err_set (err, ENOENT, "no task `%s`", id);
  if (t->known != TASK_STOPPED)
    {
      if (!force)
        return berth_err_set (err, EBUSY, "task `%s` is %s; stop it first or use --force", id,
                              task_status_name (t->known));
      task_request_stop (t, "UserInitiated", "Task stopped by berth rm --force");
      return berth_err_set (err, EINPROGRESS, "task `%s` is stopping; it is removed once stopped",
                            id);
    }
  berth_loop_remove (t->retention_timer);
  t->retention_timer = NULL;
  if (store_task_remove (t, err) < 0)
    return -EIO;
  t->removed = true;
  task_unlink (e, t);
  task_free (t);
  return 0;
}

/* ------------------------------------------------------------------ sources and the sink */

void
source_sink_submit (struct source_sink *sink, struct source_update *u)
{
  pthread_mutex_lock (&sink->lock);
  if (sink->n_queue == sink->cap_queue)
    {
      sink->cap_queue = sink->cap_queue ? sink->cap_queue * 2 : 8;
      sink->queue = xrealloc (sink->queue, sink->cap_queue * sizeof *sink->queue);
    }
  sink->queue[sink->n_queue++] = u;
  pthread_mutex_unlock (&sink->lock);
  berth_loop_wakeup (sink->wakeup);
}

json_object *
source_sink_node_snapshot (struct source_sink *sink)
{
  json_object *copy = NULL;
  pthread_mutex_lock (&sink->lock);
  if (sink->snapshot)
    json_object_deep_copy (sink->snapshot, &copy, NULL);
  pthread_mutex_unlock (&sink->lock);
  return copy ? copy : json_object_new_object ();
}

static void
snapshot_update (struct engine *e)
{
  json_object *o = json_object_new_object ();
  json_object *res = json_object_new_object ();
  json_object *fr = json_object_new_object ();
  json_object *attrs = json_object_new_object ();
  json_object *modes = json_object_new_array ();
  json_object *features = json_object_new_array ();
  json_object *tasks = json_object_new_array ();
  struct utsname u;

  uname (&u);
  json_object_object_add (o, "agent_version", json_object_new_string (BERTH_VERSION));
  if (e->hostname)
    json_object_object_add (o, "hostname", json_object_new_string (e->hostname));
  if (e->boot_id)
    json_object_object_add (o, "boot_id", json_object_new_string (e->boot_id));
  json_object_object_add (res, "cpu", json_object_new_int64 (e->total_cpu));
  json_object_object_add (res, "memory_mib", json_object_new_int64 (e->total_memory_mib));
  json_object_object_add (o, "resources", res);
  json_object_object_add (
      fr, "cpu",
      json_object_new_int64 (e->total_cpu > e->used_cpu ? e->total_cpu - e->used_cpu : 0));
  json_object_object_add (fr, "memory_mib",
                          json_object_new_int64 (e->total_memory_mib > e->used_memory_mib
                                                     ? e->total_memory_mib - e->used_memory_mib
                                                     : 0));
  json_object_object_add (o, "free", fr);
  json_object_object_add (attrs, "os", json_object_new_string ("linux"));
  json_object_object_add (attrs, "arch", json_object_new_string (u.machine));
  json_object_object_add (attrs, "kernel", json_object_new_string (u.release));
  json_object_object_add (
      attrs, "cgroup",
      json_object_new_string (
          e->o.cgroups ? cgroups_layout_name (cgroups_manager_layout (e->o.cgroups)) : "none"));
  /* what a task may ask for here: a mode or feature the policy refuses is not offered */
  if (e->o.net)
    json_object_array_add (modes, json_object_new_string ("awsvpc"));
  if (e->o.policy == NULL || e->o.policy->allow_host_network)
    json_object_array_add (modes, json_object_new_string ("host"));
  if (e->o.net)
    json_object_array_add (modes, json_object_new_string ("none"));
  json_object_object_add (attrs, "network_modes", modes);
  if (e->o.policy && e->o.policy->allow_ebpf_sidecars)
    json_object_array_add (features, json_object_new_string ("ebpf-sidecar"));
  if (e->o.policy && e->o.policy->allow_privileged)
    json_object_array_add (features, json_object_new_string ("privileged"));
  json_object_object_add (attrs, "features", features);
  json_object_object_add (o, "attributes", attrs);
  for (struct task *t = e->tasks; t; t = t->next)
    {
      json_object *to = json_object_new_object ();
      json_object_object_add (to, "task_id", json_object_new_string (t->id));
      json_object_object_add (to, "source", json_object_new_string (t->source));
      add_status_desired (to, t);
      json_object_array_add (tasks, to);
    }
  json_object_object_add (o, "tasks", tasks);
  pthread_mutex_lock (&e->sink.lock);
  json_object_put (e->sink.snapshot);
  e->sink.snapshot = o;
  pthread_mutex_unlock (&e->sink.lock);
}

static int
on_snapshot_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  (void)src;
  (void)now;
  snapshot_update (data);
  return 0;
}

/* The node snapshot lists every task: rebuilding it at every transition would cost
 * O(tasks) per report, O(tasks^2) when a host full of tasks starts. Sources read it every
 * few seconds at most, so it is rebuilt at most every 100 ms. */
static void
snapshot_schedule (struct engine *e)
{
  if (e->snapshot_timer == NULL)
    berth_loop_add_timer (e->loop, berth_now_ns () + 100000000ull, on_snapshot_timer, e,
                          &e->snapshot_timer, NULL);
  else if (berth_loop_timer_get (e->snapshot_timer) == 0)
    berth_loop_timer_set (e->snapshot_timer, berth_now_ns () + 100000000ull);
}

static bool
task_id_valid (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > 128)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = id[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || (i > 0 && (c == '-' || c == '_' || c == '.'));
      if (!ok)
        return false;
    }
  return true;
}

/* Creates a task from an assignment: task.json is on disk before anything else. */
struct task *
task_accept (struct engine *e, const char *id, const char *source, json_object *definition,
             json_object *metadata, berth_err *err)
{
  struct task *t = task_new (e, id, source, definition, metadata);
  berth_err def_err = NULL;

  if (store_task_write (t, err) < 0)
    {
      task_unlink (e, t);
      task_free (t);
      return NULL;
    }
  if (task_setup_def (t, &def_err) < 0 || taskdef_check_policy (t->def, e->o.policy, &def_err) < 0)
    {
      t->stop_code = xstrdup ("TaskFailedToStart");
      t->reason = xstrdup (berth_err_msg (&def_err));
      t->desired = BERTH_DESIRED_STOPPED;
      berth_err_free (&def_err);
      finish_stopped (t);
      task_report (t);
      return t;
    }
  set_known (t, TASK_PROVISIONING);
  task_report (t);
  task_schedule_step (t);
  return t;
}

static void
generation_persist (struct engine *e, struct source_entry *s)
{
  cleanup_free char *path = xasprintf ("%s/sources.json", e->data_dir);
  berth_err err = NULL;
  const char *text;
  json_object_object_add (e->generations, s->name, json_object_new_uint64 (s->generation));
  text = bjson_to_string (e->generations);
  if (berth_write_file_atomic_at (AT_FDCWD, path, text, strlen (text), 0600, &err) < 0)
    {
      log_warning ("%s", berth_err_msg (&err));
      berth_err_free (&err);
    }
}

static void
process_update (struct engine *e, struct source_update *u)
{
  struct source_entry *s = source_find (e, u->source);
  cleanup_err berth_err err = NULL;
  int status = 0;
  const char *msg = NULL;

  if (s == NULL)
    {
      engine_source_register (e, u->source, false, NULL, NULL);
      s = source_find (e, u->source);
    }
  /* Stale: the engine already holds this generation or a newer one (persisted across
   * restarts). That still counts as the source having reported. */
  if (s->generation != 0 && u->generation != 0 && u->generation <= s->generation)
    {
      status = -ESTALE;
      msg = "stale generation";
      if (!s->reported)
        {
          s->reported = true;
          engine_check_sources_ready (e);
        }
      goto out;
    }
  for (size_t i = 0; i < u->n_tasks; i++)
    {
      struct source_assignment *a = &u->tasks[i];
      struct task *t;
      if (!task_id_valid (a->task_id))
        {
          log_warning ("source %s: task id `%s` refused: 1-128 of [A-Za-z0-9_.-], starting with a "
                       "letter or digit",
                       u->source, a->task_id);
          continue;
        }
      t = engine_task_find (e, a->task_id);
      if (t && strcmp (t->source, u->source) != 0)
        {
          log_warning ("source %s: task `%s` belongs to source %s; ignored", u->source, a->task_id,
                       t->source);
          continue;
        }
      if (a->desired == BERTH_DESIRED_STOPPED)
        {
          if (t && t->known != TASK_STOPPED)
            task_request_stop (t, "UserInitiated", "Task stopped by its source");
          continue;
        }
      if (t)
        continue; /* already known: a task instance runs once */
      if (task_accept (e, a->task_id, u->source, a->definition, a->metadata, &err) == NULL)
        {
          status = -EIO;
          msg = berth_err_msg (&err);
          log_error ("source %s: task %s: %s", u->source, a->task_id, msg);
          goto out;
        }
    }
  if (u->complete)
    for (struct task *t = e->tasks; t; t = t->next)
      {
        bool listed = false;
        if (strcmp (t->source, u->source) != 0 || t->known == TASK_STOPPED
            || t->desired == BERTH_DESIRED_STOPPED)
          continue;
        for (size_t i = 0; i < u->n_tasks && !listed; i++)
          listed = strcmp (u->tasks[i].task_id, t->id) == 0;
        if (!listed)
          task_request_stop (t, "UserInitiated",
                             "Task stopped: absent from its source's complete list");
      }
  if (u->generation)
    {
      s->generation = u->generation;
      generation_persist (e, s);
    }
  if (!s->reported)
    {
      s->reported = true;
      engine_check_sources_ready (e);
    }
out:
  if (u->persisted)
    u->persisted (u->opaque, u->generation, status, msg);
  snapshot_update (e);
}

static int
on_sink_wakeup (struct berth_loop_source *src, void *data)
{
  (void)src;
  engine_sink_process (data);
  return 0;
}

void
engine_sink_process (struct engine *e)
{
  struct source_update **q;
  size_t n;
  pthread_mutex_lock (&e->sink.lock);
  q = e->sink.queue;
  n = e->sink.n_queue;
  e->sink.queue = NULL;
  e->sink.n_queue = e->sink.cap_queue = 0;
  pthread_mutex_unlock (&e->sink.lock);
  for (size_t i = 0; i < n; i++)
    {
      process_update (e, q[i]);
      source_update_free (q[i]);
    }
  free (q);
}

struct source_sink *
engine_sink (struct engine *e)
{
  return &e->sink;
}

void
engine_source_register (struct engine *e, const char *source, bool has_outbox_consumer,
                        void (*outbox_ready) (void *data), void *data)
{
  struct source_entry *s = source_find (e, source);
  if (s == NULL)
    {
      json_object *g = NULL;
      s = xzalloc (sizeof *s);
      s->name = xstrdup (source);
      if (e->generations && json_object_object_get_ex (e->generations, source, &g))
        s->generation = json_object_get_uint64 (g);
      s->next = e->sources;
      e->sources = s;
    }
  s->has_consumer = has_outbox_consumer;
  s->outbox_ready = outbox_ready;
  s->data = data;
  /* the local API is always "reported": it has no list to wait for */
  if (strcmp (source, ENGINE_SOURCE_LOCAL) == 0)
    s->reported = true;
}

/* ------------------------------------------------------------------ image GC */

struct gc_job
{
  struct engine *e;
  struct imagecache_gc_report report;
  berth_err err;
  int r;
};

static void
gc_run (void *arg)
{
  struct gc_job *j = arg;
  struct imagecache_gc_options o = { .mode = IMAGECACHE_GC_WATERMARK };
  /* layers are unpacked without fsync; syncing now makes them survive an unclean reboot */
  j->r = imagecache_store_sync (j->e->o.images, &j->err);
  if (j->r == 0)
    j->r = imagecache_gc (j->e->o.images, &o, &j->report, &j->err);
}

static void
gc_done (void *arg)
{
  struct gc_job *j = arg;
  struct engine *e = j->e;
  e->gc_running = false;
  if (j->r < 0)
    log_warning ("image GC: %s", berth_err_msg (&j->err));
  else if (j->report.bytes_freed || strv_len (j->report.images_removed))
    log_info (
        "image GC: removed %zu image(s), %" PRIu64 " bytes; the store's filesystem is %u%% used",
        strv_len (j->report.images_removed), j->report.bytes_freed, j->report.disk_used_after);
  imagecache_gc_report_clear (&j->report);
  berth_err_free (&j->err);
  free (j);
}

static int
on_gc_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct engine *e = data;
  if (!e->gc_running && e->sources_ready && e->o.images)
    {
      struct gc_job *j = xzalloc (sizeof *j);
      j->e = e;
      e->gc_running = true;
      workers_submit (e->workers, gc_run, gc_done, j);
    }
  berth_loop_timer_set (src, now + e->o.image_gc_interval_ns);
  return 0;
}

/* Once recovery is done and every source has reported: stop what no source wants, collect
 * what no task holds, and tell systemd we are ready. */
void
engine_check_sources_ready (struct engine *e)
{
  if (!e->recovered || e->sources_ready)
    return;
  for (struct source_entry *s = e->sources; s; s = s->next)
    if (!s->reported)
      return;
  e->sources_ready = true;
  /* Tasks whose source is no longer configured: nobody can stop them and nobody will hear
   * of them, so they stop now (kubelet removes pods of removed sources the same way). */
  for (struct task *t = e->tasks; t; t = t->next)
    if (source_find (e, t->source) == NULL && t->known != TASK_STOPPED)
      task_request_stop (t, "UserInitiated", "Task stopped: its source is no longer configured");
  recover_collect (e);
  for (struct task *t = e->tasks; t; t = t->next)
    task_schedule_step (t);
  if (e->o.image_gc_interval_ns && e->o.images && e->gc_timer == NULL)
    berth_loop_add_timer (e->loop, berth_now_ns () + e->o.image_gc_interval_ns, on_gc_timer, e,
                          &e->gc_timer, NULL);
  if (e->o.ready && !e->ready_called)
    {
      e->ready_called = true;
      e->o.ready (e->o.ready_data);
    }
}

/* ------------------------------------------------------------------ lifecycle */

static void
read_node_facts (struct engine *e)
{
  struct sysinfo si;
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  uint64_t mem_mib = 0;
  char host[256];
  cleanup_free char *boot = NULL;

  if (sysinfo (&si) == 0)
    mem_mib = (uint64_t)si.totalram * si.mem_unit / (1024 * 1024);
  e->total_cpu = (uint32_t)(ncpu > 0 ? ncpu : 1) * 1024;
  e->total_cpu = e->total_cpu > e->o.reserved_cpu ? e->total_cpu - e->o.reserved_cpu : 0;
  e->total_memory_mib
      = mem_mib > e->o.reserved_memory_mib ? (uint32_t)(mem_mib - e->o.reserved_memory_mib) : 0;
  if (gethostname (host, sizeof host) == 0)
    e->hostname = xstrdup (host);
  if (berth_read_file_at (AT_FDCWD, "/proc/sys/kernel/random/boot_id", 128, &boot, NULL, NULL) == 0)
    {
      boot[strcspn (boot, "\n")] = '\0';
      e->boot_id = steal_pointer (&boot);
    }
}

int
engine_new (const struct engine_options *opts, struct engine **ret, berth_err *err)
{
  struct engine *e = xzalloc (sizeof *e);
  e->o = *opts;
  e->loop = opts->loop;
  e->data_dir = xstrdup (opts->data_dir);
  e->run_dir = xstrdup (opts->run_dir);
  e->log_dir = xstrdup (opts->log_dir);
  e->runtime_path = xstrdup (opts->runtime_path);
  e->shim_path = xstrdup (opts->shim_path);
  e->init_path = opts->init_path ? xstrdup (opts->init_path) : NULL;
  e->default_pull_policy
      = xstrdup (opts->default_pull_policy ? opts->default_pull_policy : "if-not-present");
  e->o.data_dir = e->data_dir;
  e->o.run_dir = e->run_dir;
  e->o.log_dir = e->log_dir;
  e->o.runtime_path = e->runtime_path;
  e->o.shim_path = e->shim_path;
  e->o.init_path = e->init_path;
  e->o.default_pull_policy = e->default_pull_policy;
  e->sink.engine = e;
  pthread_mutex_init (&e->sink.lock, NULL);
  read_node_facts (e);
  {
    const char *dirs[] = { e->data_dir, e->run_dir, e->log_dir };
    for (size_t i = 0; i < ARRAY_SIZE (dirs); i++)
      {
        cleanup_free char *tasks = xasprintf ("%s/tasks", dirs[i]);
        if (berth_mkdir_p (i == 2 ? dirs[i] : tasks, 0700, err) < 0)
          goto fail;
      }
  }
  {
    cleanup_free char *gpath = xasprintf ("%s/sources.json", e->data_dir);
    if (berth_exists_at (AT_FDCWD, gpath))
      {
        if (bjson_parse_file_at (AT_FDCWD, gpath, 1 << 20, &e->generations, err) < 0)
          goto fail;
      }
    if (e->generations == NULL || !json_object_is_type (e->generations, json_type_object))
      {
        json_object_put (e->generations);
        e->generations = json_object_new_object ();
      }
  }
  if (berth_loop_add_wakeup (e->loop, on_sink_wakeup, e, &e->sink.wakeup, err) < 0)
    goto fail;
  if (workers_new (e->loop, opts->workers ? opts->workers : 4, &e->workers, err) < 0)
    goto fail;
  engine_source_register (e, ENGINE_SOURCE_LOCAL, false, NULL, NULL);
  snapshot_update (e);
  *ret = e;
  return 0;
fail:
  engine_free (e);
  return -EIO;
}

void
engine_free (struct engine *e)
{
  if (e == NULL)
    return;
  berth_loop_remove (e->gc_timer);
  berth_loop_remove (e->snapshot_timer);
  workers_free (e->workers);
  while (e->tasks)
    {
      struct task *t = e->tasks;
      e->tasks = t->next;
      t->removed = true; /* nothing more is written: the tasks live on for the next berthd */
      task_free (t);
    }
  while (e->sources)
    {
      struct source_entry *s = e->sources;
      e->sources = s->next;
      free (s->name);
      free (s);
    }
  while (e->subscribers)
    {
      struct subscriber *s = e->subscribers;
      e->subscribers = s->next;
      free (s);
    }
  while (e->execs)
    {
      struct exec_entry *x = e->execs;
      e->execs = x->next;
      if (x->process_path)
        unlink (x->process_path);
      free (x->process_path);
      free (x->exec_id);
      free (x);
    }
  berth_loop_remove (e->sink.wakeup);
  for (size_t i = 0; i < e->sink.n_queue; i++)
    {
      /* every update's persisted is called exactly once (the source frees its bookkeeping) */
      struct source_update *u = e->sink.queue[i];
      if (u->persisted)
        u->persisted (u->opaque, u->generation, -ECANCELED, "berthd is stopping");
      source_update_free (u);
    }
  free (e->sink.queue);
  json_object_put (e->sink.snapshot);
  pthread_mutex_destroy (&e->sink.lock);
  free (e->data_dir);
  free (e->run_dir);
  free (e->log_dir);
  free (e->runtime_path);
  free (e->shim_path);
  free (e->init_path);
  free (e->default_pull_policy);
  free (e->hostname);
  free (e->boot_id);
  json_object_put (e->generations);
  free (e);
}

int
engine_recover (struct engine *e, berth_err *err)
{
  int r = store_load_all (e, err);
  if (r < 0)
    return r;
  for (struct task *t = e->tasks; t; t = t->next)
    {
      berth_err terr = NULL;
      if (recover_task (t, &terr) < 0)
        {
          log_warning ("task %s: recovery: %s", t->id, berth_err_msg (&terr));
          berth_err_free (&terr);
        }
    }
  e->recovered = true;
  snapshot_update (e);
  engine_check_sources_ready (e);
  return 0;
}

void
engine_subscribe (struct engine *e, engine_event_fn fn, void *data)
{
  struct subscriber *s = xzalloc (sizeof *s);
  s->fn = fn;
  s->data = data;
  s->next = e->subscribers;
  e->subscribers = s;
}

void
engine_unsubscribe (struct engine *e, void *data)
{
  for (struct subscriber **p = &e->subscribers; *p;)
    if ((*p)->data == data)
      {
        struct subscriber *s = *p;
        *p = s->next;
        free (s);
      }
    else
      p = &(*p)->next;
}
