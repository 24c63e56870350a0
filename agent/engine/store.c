/* The task store: data_dir/tasks/<id>/task.json holds what was asked (definition, source,
 * desired status) and is written before anything is created for the task; state.json holds
 * what was done, rewritten atomically at every transition. A restart rebuilds the engine
 * from these two files plus what the kernel and the shims say. */
#include "engine-internal.h"

#include <dirent.h>

#define STORE_MAX_FILE (4u << 20)

static json_object *
ts_or_null (uint64_t ns)
{
  char buf[BERTH_RFC3339_LEN];
  return ns ? json_object_new_string (berth_format_rfc3339 (ns, buf, sizeof buf)) : NULL;
}

static uint64_t
ts_parse (json_object *o, const char *key)
{
  const char *s = NULL;
  struct tm tm = { 0 };
  unsigned long ns = 0;
  char *end;
  if (bjson_get_string (o, "", key, 0, &s, NULL) <= 0 || s == NULL)
    return 0;
  end = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == NULL)
    return 0;
  if (*end == '.')
    {
      char digits[10] = "000000000";
      size_t i = 0;
      for (end++; *end >= '0' && *end <= '9' && i < 9; end++, i++)
        digits[i] = *end;
      ns = strtoul (digits, NULL, 10);
    }
  return (uint64_t)timegm (&tm) * 1000000000ull + ns;
}

int
store_task_write (struct task *t, berth_err *err)
{
  cleanup_json json_object *o = json_object_new_object ();
  const char *text;
  char buf[BERTH_RFC3339_LEN];

  if (berth_mkdir_p (t->task_dir, 0700, err) < 0)
    return -EIO;
  json_object_object_add (o, "id", json_object_new_string (t->id));
  json_object_object_add (o, "source", json_object_new_string (t->source));
  json_object_object_add (
      o, "desired",
      json_object_new_string (t->desired == BERTH_DESIRED_RUNNING ? "RUNNING" : "STOPPED"));
  json_object_object_add (
      o, "created_at",
      json_object_new_string (berth_format_rfc3339 (t->created_at_ns, buf, sizeof buf)));
  json_object_object_add (o, "definition", json_object_get (t->definition));
  if (t->metadata)
    json_object_object_add (o, "metadata", json_object_get (t->metadata));
  if (t->stop_code_request)
    {
      json_object_object_add (o, "stop_code_request",
                              json_object_new_string (t->stop_code_request));
      json_object_object_add (o, "stop_request", json_object_new_string (t->stop_request));
    }
  text = bjson_to_string (o);
  {
    cleanup_free char *path = xasprintf ("%s/task.json", t->task_dir);
    return berth_write_file_atomic_at (AT_FDCWD, path, text, strlen (text), 0600, err);
  }
}

int
store_state_write (struct task *t, berth_err *err)
{
  cleanup_json json_object *o = json_object_new_object ();
  json_object *ctrs = json_object_new_array ();
  cleanup_free char *path = xasprintf ("%s/state.json", t->task_dir);
  const char *text;

  json_object_object_add (o, "known", json_object_new_string (task_status_name (t->known)));
  json_object_object_add (o, "stop_code",
                          t->stop_code ? json_object_new_string (t->stop_code) : NULL);
  json_object_object_add (o, "reason", t->reason ? json_object_new_string (t->reason) : NULL);
  json_object_object_add (o, "ip", t->ip ? json_object_new_string (t->ip) : NULL);
  json_object_object_add (o, "admitted", json_object_new_boolean (t->admitted));
  json_object_object_add (o, "cgroup_path",
                          t->cgroup_path ? json_object_new_string (t->cgroup_path) : NULL);
  json_object_object_add (o, "pull_started", ts_or_null (t->pull_started_ns));
  json_object_object_add (o, "pull_stopped", ts_or_null (t->pull_stopped_ns));
  json_object_object_add (o, "started", ts_or_null (t->started_ns));
  json_object_object_add (o, "stopped", ts_or_null (t->stopped_ns));
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      json_object *co = json_object_new_object ();
      json_object_object_add (co, "name", json_object_new_string (c->name));
      json_object_object_add (co, "known", json_object_new_string (ctr_status_name (c->known)));
      json_object_object_add (co, "exit_code",
                              c->has_exit ? json_object_new_int (c->exit_code) : NULL);
      json_object_object_add (co, "oom", json_object_new_boolean (c->oom));
      json_object_object_add (co, "reason", c->reason ? json_object_new_string (c->reason) : NULL);
      json_object_object_add (co, "health", json_object_new_string (ctr_health_name (c->health)));
      json_object_object_add (co, "restart_count", json_object_new_int ((int)c->restart_count));
      json_object_object_add (co, "image_digest",
                              c->image_digest ? json_object_new_string (c->image_digest) : NULL);
      json_object_object_add (co, "rootfs_ready", json_object_new_boolean (c->rootfs_ready));
      json_object_object_add (co, "cgroup_path",
                              c->cgroup_path ? json_object_new_string (c->cgroup_path) : NULL);
      json_object_object_add (co, "pid", json_object_new_int (c->pid));
      json_object_object_add (co, "started_at", ts_or_null (c->started_at_ns));
      json_object_object_add (co, "finished_at", ts_or_null (c->finished_at_ns));
      json_object_array_add (ctrs, co);
    }
  json_object_object_add (o, "containers", ctrs);
  text = bjson_to_string (o);
  if (t->last_state_json && strcmp (t->last_state_json, text) == 0)
    return 0;
  /* Durability: berthd killed (-9, OOM, upgrade) loses nothing either way, the page cache
   * keeps the file. Only a host crash loses an unsynced write, and a host crash also ends
   * every shim, container, mount and cgroup of the task: what state.json said between
   * PROVISIONING and RUNNING no longer describes anything, and recovery reads it as "was
   * running, is gone". So only the terminal state, with its stop code, exit codes and
   * reason, is worth an fsync; the others are replaced atomically without one (each fsync
   * costs 2 to 8 ms here, and a task start writes this file about seven times). The intent
   * that must survive a host crash is elsewhere and synced: task.json, the IPAM leases, the
   * outbox records. */
  if ((t->known == TASK_STOPPED ? berth_write_file_atomic_at : berth_write_file_replace_at) (
          AT_FDCWD, path, text, strlen (text), 0600, err)
      < 0)
    return -EIO;
  free (t->last_state_json);
  t->last_state_json = xstrdup (text);
  return 0;
}

static void
apply_state (struct task *t, json_object *st)
{
  const char *s = NULL;
  json_object *ctrs = NULL;
  enum task_status ts;
  bool b;

  if (bjson_get_string (st, "", "known", 0, &s, NULL) > 0 && task_status_parse (s, &ts) == 0)
    t->known = ts;
  if (bjson_get_string (st, "", "stop_code", 0, &s, NULL) > 0)
    t->stop_code = xstrdup (s);
  if (bjson_get_string (st, "", "reason", 0, &s, NULL) > 0)
    t->reason = xstrdup (s);
  if (bjson_get_string (st, "", "ip", 0, &s, NULL) > 0)
    t->ip = xstrdup (s);
  if (bjson_get_string (st, "", "cgroup_path", 0, &s, NULL) > 0)
    t->cgroup_path = xstrdup (s);
  if (bjson_get_bool (st, "", "admitted", 0, &b, NULL) > 0)
    t->admitted = b;
  t->pull_started_ns = ts_parse (st, "pull_started");
  t->pull_stopped_ns = ts_parse (st, "pull_stopped");
  t->started_ns = ts_parse (st, "started");
  t->stopped_ns = ts_parse (st, "stopped");
  if (bjson_get (st, "", "containers", json_type_array, 0, &ctrs, NULL) <= 0)
    return;
  for (size_t i = 0; i < json_object_array_length (ctrs) && i < t->n_ctrs; i++)
    {
      json_object *co = json_object_array_get_idx (ctrs, i);
      struct ctr *c = &t->ctrs[i];
      enum ctr_status cs;
      int32_t v;
      const char *name = NULL;
      if (bjson_get_string (co, "", "name", 0, &name, NULL) <= 0 || strcmp (name, c->name) != 0)
        continue;
      if (bjson_get_string (co, "", "known", 0, &s, NULL) > 0 && ctr_status_parse (s, &cs) == 0)
        c->known = cs;
      if (bjson_get_int32 (co, "", "exit_code", 0, &v, NULL) > 0)
        {
          c->has_exit = true;
          c->exit_code = v;
        }
      if (bjson_get_bool (co, "", "oom", 0, &b, NULL) > 0)
        c->oom = b;
      if (bjson_get_string (co, "", "reason", 0, &s, NULL) > 0)
        c->reason = xstrdup (s);
      if (bjson_get_string (co, "", "health", 0, &s, NULL) > 0)
        c->health = strcmp (s, "HEALTHY") == 0     ? HEALTH_HEALTHY
                    : strcmp (s, "UNHEALTHY") == 0 ? HEALTH_UNHEALTHY
                                                   : HEALTH_UNKNOWN;
      if (bjson_get_int32 (co, "", "restart_count", 0, &v, NULL) > 0 && v >= 0)
        c->restart_count = (unsigned)v;
      if (bjson_get_string (co, "", "image_digest", 0, &s, NULL) > 0)
        c->image_digest = xstrdup (s);
      if (bjson_get_bool (co, "", "rootfs_ready", 0, &b, NULL) > 0)
        c->rootfs_ready = b;
      if (bjson_get_string (co, "", "cgroup_path", 0, &s, NULL) > 0)
        c->cgroup_path = xstrdup (s);
      if (bjson_get_int32 (co, "", "pid", 0, &v, NULL) > 0)
        c->pid = v;
      c->started_at_ns = ts_parse (co, "started_at");
      c->finished_at_ns = ts_parse (co, "finished_at");
    }
}

static int
load_one (struct engine *e, const char *id, berth_err *err)
{
  cleanup_free char *dir = xasprintf ("%s/tasks/%s", e->data_dir, id);
  cleanup_free char *tpath = xasprintf ("%s/task.json", dir);
  cleanup_free char *spath = xasprintf ("%s/state.json", dir);
  cleanup_json json_object *tj = NULL;
  cleanup_json json_object *sj = NULL;
  json_object *def = NULL, *meta = NULL;
  const char *source = NULL, *desired = NULL, *s = NULL;
  struct task *t;
  berth_err def_err = NULL;

  if (bjson_parse_file_at (AT_FDCWD, tpath, STORE_MAX_FILE, &tj, err) < 0)
    return -EIO;
  if (bjson_get_string (tj, "task.json", "source", BJSON_REQUIRED, &source, err) < 0
      || bjson_get_string (tj, "task.json", "desired", BJSON_REQUIRED, &desired, err) < 0
      || bjson_get (tj, "task.json", "definition", json_type_object, BJSON_REQUIRED, &def, err) < 0
      || bjson_get (tj, "task.json", "metadata", json_type_object, 0, &meta, err) < 0)
    return -EINVAL;
  t = task_new (e, id, source, def, meta);
  t->created_at_ns = ts_parse (tj, "created_at");
  t->desired = strcmp (desired, "STOPPED") == 0 ? BERTH_DESIRED_STOPPED : BERTH_DESIRED_RUNNING;
  if (bjson_get_string (tj, "", "stop_code_request", 0, &s, NULL) > 0)
    t->stop_code_request = xstrdup (s);
  if (bjson_get_string (tj, "", "stop_request", 0, &s, NULL) > 0)
    t->stop_request = xstrdup (s);
  if (task_setup_def (t, &def_err) < 0)
    {
      /* rejected when it arrived (or by a newer berth): it stays STOPPED with the reason */
      if (t->reason == NULL)
        t->reason = xstrdup (berth_err_msg (&def_err));
      if (t->stop_code == NULL)
        t->stop_code = xstrdup ("TaskFailedToStart");
      t->known = TASK_STOPPED;
      t->desired = BERTH_DESIRED_STOPPED;
      berth_err_free (&def_err);
    }
  if (berth_exists_at (AT_FDCWD, spath)
      && bjson_parse_file_at (AT_FDCWD, spath, STORE_MAX_FILE, &sj, err) == 0)
    apply_state (t, sj);
  else
    berth_err_free (err);
  /* the last report is what state.json says: a recovered task reports again only on change */
  return 0;
}

int
store_load_all (struct engine *e, berth_err *err)
{
  cleanup_free char *dir = xasprintf ("%s/tasks", e->data_dir);
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;

  if (d == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return berth_err_set (err, errno, "open `%s`", dir);
    }
  while ((de = readdir (d)) != NULL)
    {
      berth_err lerr = NULL;
      if (de->d_name[0] == '.')
        continue;
      {
        cleanup_free char *tj = xasprintf ("%s/%s/task.json", dir, de->d_name);
        if (!berth_exists_at (AT_FDCWD, tj))
          {
            /* a directory without task.json: its creation was interrupted before anything
             * else was made (task.json is always first) */
            cleanup_free char *p = xasprintf ("%s/%s", dir, de->d_name);
            berth_rm_rf_at (AT_FDCWD, p, NULL);
            continue;
          }
      }
      if (load_one (e, de->d_name, &lerr) < 0)
        {
          log_error ("task %s: cannot load: %s", de->d_name, berth_err_msg (&lerr));
          berth_err_free (&lerr);
        }
    }
  return 0;
}

int
store_task_remove (struct task *t, berth_err *err)
{
  /* state files last: if we crash halfway, the task is still known and removal resumes */
  if (berth_rm_rf_at (AT_FDCWD, t->task_log_dir, err) < 0)
    return -EIO;
  if (berth_rm_rf_at (AT_FDCWD, t->state_dir, err) < 0)
    return -EIO;
  if (berth_rm_rf_at (AT_FDCWD, t->task_dir, err) < 0)
    return -EIO;
  return 0;
}
