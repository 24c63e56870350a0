/* What the local API asks of the engine: run a task now, stop it, list and inspect tasks,
 * container stats from the cgroups, log file locations, and exec into a container. */
#include "engine-internal.h"
#include "cgroups/cgroups.h"

#include <sys/random.h>

int
engine_task_run (struct engine *e, json_object *definition, char **ret_id, berth_err *err)
{
  unsigned char rnd[8];
  char id[2 + 16 + 1];
  struct task *t;

  if (getrandom (rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
    return berth_err_set (err, errno, "getrandom");
  snprintf (id, sizeof id, "t-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
            rnd[5], rnd[6], rnd[7]);
  t = task_accept (e, id, ENGINE_SOURCE_LOCAL, definition, NULL, err);
  if (t == NULL)
    return -EIO;
  *ret_id = xstrdup (id);
  if (t->known == TASK_STOPPED)
    return berth_err_set (err, 0, "task %s rejected: %s", id, t->reason);
  return 0;
}

int
engine_task_resolve (struct engine *e, const char *id_or_prefix, char **ret_id, berth_err *err)
{
  struct task *found = NULL;
  size_t n = strlen (id_or_prefix);
  if (n == 0)
    return berth_err_set (err, EINVAL, "empty task id");
  for (struct task *t = e->tasks; t; t = t->next)
    {
      if (strcmp (t->id, id_or_prefix) == 0)
        {
          *ret_id = xstrdup (t->id);
          return 0;
        }
      if (strncmp (t->id, id_or_prefix, n) == 0)
        {
          if (found)
            return berth_err_set (err, EINVAL, "`%s` matches more than one task", id_or_prefix);
          found = t;
        }
    }
  if (found == NULL)
    return berth_err_set (err, ENOENT, "no task `%s`", id_or_prefix);
  *ret_id = xstrdup (found->id);
  return 0;
}

int
engine_task_stop (struct engine *e, const char *id, const char *reason, berth_err *err)
{
  struct task *t = engine_task_find (e, id);
  if (t == NULL)
    return berth_err_set (err, ENOENT, "no task `%s`", id);
  if (t->known == TASK_STOPPED)
    return 0;
  task_request_stop (t, "UserInitiated", reason ? reason : "Task stopped by berth stop");
  return 0;
}

static json_object *
task_summary (struct task *t)
{
  json_object *o = task_change_json (t);
  json_object_object_add (o, "source", json_object_new_string (t->source));
  json_object_object_add (o, "family", t->def ? json_object_new_string (t->def->family) : NULL);
  return o;
}

json_object *
engine_task_list (struct engine *e, bool include_stopped)
{
  json_object *arr = json_object_new_array ();
  for (struct task *t = e->tasks; t; t = t->next)
    if (include_stopped || t->known != TASK_STOPPED)
      json_object_array_add (arr, task_summary (t));
  return arr;
}

json_object *
engine_task_inspect (struct engine *e, const char *id)
{
  struct task *t = engine_task_find (e, id);
  json_object *o;
  if (t == NULL)
    return NULL;
  o = task_summary (t);
  json_object_object_add (o, "definition", json_object_get (t->definition));
  if (t->metadata)
    json_object_object_add (o, "metadata", json_object_get (t->metadata));
  json_object_object_add (o, "cgroup", t->cgroup_path ? json_object_new_string (t->cgroup_path) : NULL);
  json_object_object_add (o, "shim_pid", json_object_new_int (t->shim_pid));
  {
    json_object *ctrs = NULL;
    json_object_object_get_ex (o, "containers", &ctrs);
    for (size_t i = 0; ctrs && i < t->n_ctrs; i++)
      {
        struct ctr *c = &t->ctrs[i];
        json_object *co = json_object_array_get_idx (ctrs, i);
        char ts[BERTH_RFC3339_LEN];
        json_object_object_add (co, "image", json_object_new_string (c->def->image));
        json_object_object_add (co, "pid", json_object_new_int (c->pid));
        json_object_object_add (co, "runtime_id", json_object_new_string (c->runtime_id));
        json_object_object_add (co, "log_path", json_object_new_string (c->log_path));
        json_object_object_add (co, "essential", json_object_new_boolean (c->def->essential));
        if (c->started_at_ns)
          json_object_object_add (co, "started_at", json_object_new_string (berth_format_rfc3339 (c->started_at_ns, ts, sizeof ts)));
        if (c->finished_at_ns)
          json_object_object_add (co, "finished_at", json_object_new_string (berth_format_rfc3339 (c->finished_at_ns, ts, sizeof ts)));
        if (c->health_output)
          json_object_object_add (co, "health_output", json_object_new_string (c->health_output));
      }
  }
  return o;
}

static void
add_u64 (json_object *o, const char *k, uint64_t v)
{
  json_object_object_add (o, k, v == UINT64_MAX ? NULL : json_object_new_uint64 (v));
}

static json_object *
stats_json (const struct cgroups_stats *st)
{
  json_object *o = json_object_new_object ();
  if (st->have & CGROUPS_STATS_CPU)
    {
      json_object *cpu = json_object_new_object ();
      add_u64 (cpu, "usage_ns", st->cpu_usage_ns);
      add_u64 (cpu, "user_ns", st->cpu_user_ns);
      add_u64 (cpu, "system_ns", st->cpu_system_ns);
      if (st->have & CGROUPS_STATS_CPU_THROTTLE)
        {
          add_u64 (cpu, "periods", st->cpu_nr_periods);
          add_u64 (cpu, "throttled_periods", st->cpu_nr_throttled);
          add_u64 (cpu, "throttled_ns", st->cpu_throttled_ns);
        }
      json_object_object_add (o, "cpu", cpu);
    }
  if (st->have & CGROUPS_STATS_MEMORY)
    {
      json_object *mem = json_object_new_object ();
      add_u64 (mem, "current", st->memory_current);
      if (st->have & CGROUPS_STATS_MEMORY_PEAK)
        add_u64 (mem, "peak", st->memory_peak);
      add_u64 (mem, "limit", st->memory_limit);
      add_u64 (mem, "anon", st->memory_anon);
      add_u64 (mem, "file", st->memory_file);
      add_u64 (mem, "shmem", st->memory_shmem);
      add_u64 (mem, "pgfault", st->memory_pgfault);
      add_u64 (mem, "pgmajfault", st->memory_pgmajfault);
      if (st->have & CGROUPS_STATS_SWAP)
        {
          add_u64 (mem, "swap", st->swap_current);
          add_u64 (mem, "swap_limit", st->swap_limit);
        }
      json_object_object_add (o, "memory", mem);
    }
  if (st->have & CGROUPS_STATS_PIDS)
    {
      json_object *p = json_object_new_object ();
      add_u64 (p, "current", st->pids_current);
      add_u64 (p, "limit", st->pids_limit);
      json_object_object_add (o, "pids", p);
    }
  if (st->have & CGROUPS_STATS_IO)
    {
      json_object *arr = json_object_new_array ();
      for (size_t i = 0; i < st->n_io; i++)
        {
          json_object *d = json_object_new_object ();
          char dev[32];
          snprintf (dev, sizeof dev, "%u:%u", st->io[i].major, st->io[i].minor);
          json_object_object_add (d, "device", json_object_new_string (dev));
          add_u64 (d, "read_bytes", st->io[i].read_bytes);
          add_u64 (d, "write_bytes", st->io[i].write_bytes);
          add_u64 (d, "read_ios", st->io[i].read_ios);
          add_u64 (d, "write_ios", st->io[i].write_ios);
          json_object_array_add (arr, d);
        }
      json_object_object_add (o, "io", arr);
    }
  return o;
}

static json_object *
ctr_stats_json (struct ctr *c)
{
  struct cgroups_stats st = { 0 };
  json_object *o;
  if (c->cg == NULL || cgroups_stats_read (c->cg, &st, NULL) < 0)
    {
      cgroups_stats_release (&st);
      return NULL;
    }
  o = stats_json (&st);
  cgroups_stats_release (&st);
  json_object_object_add (o, "task_id", json_object_new_string (c->task->id));
  json_object_object_add (o, "container", json_object_new_string (c->name));
  return o;
}

json_object *
engine_stats (struct engine *e, const char *id)
{
  json_object *arr = json_object_new_array ();
  for (struct task *t = e->tasks; t; t = t->next)
    {
      if (id && strcmp (t->id, id) != 0)
        continue;
      for (size_t i = 0; i < t->n_ctrs; i++)
        {
          json_object *s = ctr_stats_json (&t->ctrs[i]);
          if (s)
            json_object_array_add (arr, s);
        }
    }
  return arr;
}

json_object *
engine_task_logs (struct engine *e, const char *id, const char *container, berth_err *err)
{
  struct task *t = engine_task_find (e, id);
  json_object *arr;
  if (t == NULL)
    {
      berth_err_set (err, ENOENT, "no task `%s`", id);
      return NULL;
    }
  arr = json_object_new_array ();
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      json_object *o;
      if (container && strcmp (container, t->ctrs[i].name) != 0)
        continue;
      o = json_object_new_object ();
      json_object_object_add (o, "container", json_object_new_string (t->ctrs[i].name));
      json_object_object_add (o, "path", json_object_new_string (t->ctrs[i].log_path));
      json_object_array_add (arr, o);
    }
  if (container && json_object_array_length (arr) == 0)
    {
      json_object_put (arr);
      berth_err_set (err, ENOENT, "task `%s` has no container `%s`", id, container);
      return NULL;
    }
  return arr;
}

/* ------------------------------------------------------------------ exec */

static void
exec_entry_free (struct exec_entry *x)
{
  if (x->process_path)
    unlink (x->process_path);
  free (x->process_path);
  free (x->exec_id);
  free (x);
}

static void
exec_unlink (struct engine *e, struct exec_entry *x)
{
  for (struct exec_entry **p = &e->execs; *p; p = &(*p)->next)
    if (*p == x)
      {
        *p = x->next;
        return;
      }
}

static void
on_exec_started (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct exec_entry *x = data;
  struct engine *e = x->task->engine;
  bool ok = false;
  const char *error = NULL;
  (void) conn;
  bjson_get_bool (reply, "", "ok", 0, &ok, NULL);
  if (!ok)
    {
      bjson_get_string (reply, "", "error", 0, &error, NULL);
      if (x->cb.started)
        x->cb.started (x->cb.data, -EIO, error ? error : "exec failed", x->exec_id, -1);
      exec_unlink (e, x);
      exec_entry_free (x);
      return;
    }
  if (x->cb.started)
    x->cb.started (x->cb.data, 0, NULL, x->exec_id, n_fds > 0 ? fds[0] : -1);
}

void
exec_on_event (struct engine *e, json_object *ev)
{
  const char *exec_id = NULL;
  int32_t code = 255;
  bjson_get_string (ev, "", "exec_id", 0, &exec_id, NULL);
  bjson_get_int32 (ev, "", "exit_code", 0, &code, NULL);
  if (exec_id == NULL)
    return;
  for (struct exec_entry *x = e->execs; x; x = x->next)
    if (strcmp (x->exec_id, exec_id) == 0)
      {
        if (x->cb.exited)
          x->cb.exited (x->cb.data, code);
        exec_unlink (e, x);
        exec_entry_free (x);
        return;
      }
}

int
engine_exec (struct engine *e, const char *id, const char *container, json_object *process,
             const int *fds, size_t n_fds, const struct engine_exec_cb *cb, berth_err *err)
{
  struct task *t = engine_task_find (e, id);
  struct ctr *c = NULL;
  cleanup_free char *cfg = NULL;
  cleanup_json json_object *spec = NULL;
  json_object *proc = NULL, *v;
  struct exec_entry *x;
  json_object *args;
  bool tty = false;
  const char *text;

  if (t == NULL)
    return berth_err_set (err, ENOENT, "no task `%s`", id);
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (container == NULL ? i == 0 : strcmp (t->ctrs[i].name, container) == 0)
      c = &t->ctrs[i];
  if (c == NULL)
    return berth_err_set (err, ENOENT, "task `%s` has no container `%s`", id, container);
  if (c->known != CTR_RUNNING || c->has_exit || t->shim == NULL)
    return berth_err_set (err, EINVAL, "container `%s` of task `%s` is not running", c->name, id);
  /* the container's own process settings, with the caller's argv, env additions, cwd, tty */
  cfg = xasprintf ("%s/config.json", c->bundle_dir);
  if (bjson_parse_file_at (AT_FDCWD, cfg, 1 << 20, &spec, err) < 0
      || bjson_get (spec, "config.json", "process", json_type_object, BJSON_REQUIRED, &proc, err) < 0)
    return -EIO;
  if (!json_object_object_get_ex (process, "args", &v) || !json_object_is_type (v, json_type_array)
      || json_object_array_length (v) == 0)
    return berth_err_set (err, 0, "exec: args: a non-empty array of strings is required");
  json_object_object_add (proc, "args", json_object_get (v));
  if (json_object_object_get_ex (process, "env", &v) && json_object_is_type (v, json_type_array))
    {
      json_object *env = NULL;
      json_object_object_get_ex (proc, "env", &env);
      if (env == NULL)
        {
          env = json_object_new_array ();
          json_object_object_add (proc, "env", env);
        }
      for (size_t i = 0; i < json_object_array_length (v); i++)
        json_object_array_add (env, json_object_get (json_object_array_get_idx (v, i)));
    }
  if (json_object_object_get_ex (process, "cwd", &v) && json_object_is_type (v, json_type_string))
    json_object_object_add (proc, "cwd", json_object_get (v));
  bjson_get_bool (process, "", "tty", 0, &tty, NULL);
  json_object_object_add (proc, "terminal", json_object_new_boolean (tty));
  x = xzalloc (sizeof *x);
  x->task = t;
  x->cb = *cb;
  x->exec_id = xasprintf ("exec-%u-%d", ++e->exec_counter, getpid ());
  x->process_path = xasprintf ("%s/%s.json", t->state_dir, x->exec_id);
  text = bjson_to_string (proc);
  if (berth_write_file_atomic_at (AT_FDCWD, x->process_path, text, strlen (text), 0600, err) < 0)
    {
      exec_entry_free (x);
      return -EIO;
    }
  args = json_object_new_object ();
  json_object_object_add (args, "container", json_object_new_string (c->name));
  json_object_object_add (args, "process", json_object_new_string (x->process_path));
  json_object_object_add (args, "exec_id", json_object_new_string (x->exec_id));
  json_object_object_add (args, "tty", json_object_new_boolean (tty));
  x->next = e->execs;
  e->execs = x;
  if (shimconn_call (t->shim, "exec", args, tty ? NULL : fds, tty ? 0 : n_fds, on_exec_started, x, err) < 0)
    {
      exec_unlink (e, x);
      exec_entry_free (x);
      return -EIO;
    }
  return 0;
}

void
engine_exec_forget (struct engine *e, void *data)
{
  for (struct exec_entry *x = e->execs; x; x = x->next)
    if (x->cb.data == data)
      {
        x->cb.started = NULL;
        x->cb.exited = NULL;
      }
}
