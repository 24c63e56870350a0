/* Container health checks run by berth (ECS healthCheck: CMD or CMD-SHELL, interval,
 * timeout, retries, startPeriod) inside the container's namespaces through the shim. As
 * in ECS, a health check baked into the image is not run: only the task definition's. */
#include "engine-internal.h"

static int on_health_timer (struct berth_loop_source *src, uint64_t now, void *data);

static void
health_schedule (struct ctr *c, uint64_t delay_ns)
{
  uint64_t when = berth_now_ns () + delay_ns;
  if (c->health_timer == NULL)
    berth_loop_add_timer (c->task->engine->loop, when, on_health_timer, c, &c->health_timer, NULL);
  else
    berth_loop_timer_set (c->health_timer, when);
}

/* The health command's process: the container's own process settings (env, cwd, user,
 * capabilities) with the check's argv. */
static char *
write_health_process (struct ctr *c, berth_err *err)
{
  const struct taskdef_healthcheck *h = &c->def->health;
  cleanup_free char *cfg = xasprintf ("%s/config.json", c->bundle_dir);
  cleanup_free char *path = xasprintf ("%s/health-%s.json", c->task->state_dir, c->name);
  cleanup_json json_object *spec = NULL;
  json_object *proc = NULL, *args = json_object_new_array ();
  const char *text;

  if (bjson_parse_file_at (AT_FDCWD, cfg, 1 << 20, &spec, err) < 0
      || bjson_get (spec, "config.json", "process", json_type_object, BJSON_REQUIRED, &proc, err) < 0)
    {
      json_object_put (args);
      return NULL;
    }
  if (h->shell)
    {
      json_object_array_add (args, json_object_new_string ("/bin/sh"));
      json_object_array_add (args, json_object_new_string ("-c"));
      json_object_array_add (args, json_object_new_string (h->argv[0] ? h->argv[0] : "true"));
    }
  else
    for (char **a = h->argv; a && *a; a++)
      json_object_array_add (args, json_object_new_string (*a));
  json_object_object_add (proc, "args", args);
  json_object_object_add (proc, "terminal", json_object_new_boolean (false));
  text = bjson_to_string (proc);
  if (berth_write_file_atomic_at (AT_FDCWD, path, text, strlen (text), 0600, err) < 0)
    return NULL;
  return steal_pointer (&path);
}

static void
on_health_exec_started (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct ctr *c = data;
  bool ok = false;
  (void) conn;
  (void) fds;
  (void) n_fds;
  bjson_get_bool (reply, "", "ok", 0, &ok, NULL);
  if (!ok)
    {
      const char *error = "?";
      json_object *ev = json_object_new_object ();
      bjson_get_string (reply, "", "error", 0, &error, NULL);
      /* could not even start the check: it counts as a failed check */
      json_object_object_add (ev, "exit_code", json_object_new_int (126));
      json_object_object_add (ev, "output", json_object_new_string (error));
      health_on_exec_exit (c, ev);
      json_object_put (ev);
    }
}

static int
on_health_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct ctr *c = data;
  struct task *t = c->task;
  const struct taskdef_healthcheck *h = &c->def->health;
  cleanup_free char *proc = NULL;
  berth_err err = NULL;
  json_object *args;
  (void) src;
  (void) now;

  if (c->health_exec_id || t->shim == NULL || c->known != CTR_RUNNING || c->has_exit)
    return 0;
  proc = write_health_process (c, &err);
  if (proc == NULL)
    {
      log_warning ("task %s: container %s: health check: %s", t->id, c->name, berth_err_msg (&err));
      berth_err_free (&err);
      health_schedule (c, (uint64_t) h->interval_s * 1000000000ull);
      return 0;
    }
  c->health_exec_id = xasprintf ("health-%s-%u", c->name, ++c->health_seq);
  args = json_object_new_object ();
  json_object_object_add (args, "container", json_object_new_string (c->name));
  json_object_object_add (args, "process", json_object_new_string (proc));
  json_object_object_add (args, "exec_id", json_object_new_string (c->health_exec_id));
  json_object_object_add (args, "capture", json_object_new_boolean (true));
  json_object_object_add (args, "timeout_ms", json_object_new_int64 ((int64_t) h->timeout_s * 1000));
  if (shimconn_call (t->shim, "exec", args, NULL, 0, on_health_exec_started, c, &err) < 0)
    {
      berth_err_free (&err);
      free (c->health_exec_id);
      c->health_exec_id = NULL;
      health_schedule (c, (uint64_t) h->interval_s * 1000000000ull);
    }
  return 0;
}

void
health_on_exec_exit (struct ctr *c, json_object *ev)
{
  struct task *t = c->task;
  const struct taskdef_healthcheck *h = &c->def->health;
  int32_t code = 1;
  bool timed_out = false;
  const char *output = NULL;
  enum ctr_health before = c->health;

  free (c->health_exec_id);
  c->health_exec_id = NULL;
  bjson_get_int32 (ev, "", "exit_code", 0, &code, NULL);
  bjson_get_bool (ev, "", "timed_out", 0, &timed_out, NULL);
  bjson_get_string (ev, "", "output", 0, &output, NULL);
  free (c->health_output);
  c->health_output = output ? xstrdup (output) : NULL;
  if (c->known != CTR_RUNNING || c->has_exit)
    return;
  if (code == 0 && !timed_out)
    {
      c->health = HEALTH_HEALTHY;
      c->health_failures = 0;
    }
  else if (h->start_period_s && berth_now_ns () - c->health_start_mono_ns < (uint64_t) h->start_period_s * 1000000000ull)
    ; /* failures during startPeriod do not count */
  else if (++c->health_failures >= h->retries)
    c->health = HEALTH_UNHEALTHY;
  if (c->health != before)
    log_info ("task %s: container %s is %s%s", t->id, c->name, ctr_health_name (c->health),
              c->health == HEALTH_UNHEALTHY ? (timed_out ? " (health check timed out)" : " (health check failed)") : "");
  if (c->health == HEALTH_UNHEALTHY && c->def->essential && t->desired == BERTH_DESIRED_RUNNING)
    task_fail (t, "EssentialContainerUnhealthy",
               "Essential container in task is unhealthy: %s (health check %s %u times)", c->name,
               timed_out ? "timed out" : "failed", c->health_failures);
  health_schedule (c, (uint64_t) h->interval_s * 1000000000ull);
  if (c->health != before)
    {
      task_persist (t);
      task_step (t); /* dependants waiting for HEALTHY; and the report */
    }
}

void
health_start (struct ctr *c)
{
  const struct taskdef_healthcheck *h = &c->def->health;
  if (!h->present)
    return;
  c->health = HEALTH_UNKNOWN;
  c->health_failures = 0;
  c->health_start_mono_ns = berth_now_ns ();
  /* as Docker and ECS: the first check one interval after the start */
  health_schedule (c, (uint64_t) h->interval_s * 1000000000ull);
}

void
health_stop (struct ctr *c)
{
  berth_loop_remove (c->health_timer);
  c->health_timer = NULL;
}
