/* Unit tests of the engine's bookkeeping, without kernel objects: acceptance and rejection
 * of task definitions (with the reason), intent on disk before anything else, the store
 * read back after a restart, the sources' generations (stale updates, complete lists,
 * persistence across restarts) and the resource ledger. No root needed: the loop is never
 * run far enough to provision anything. */
#include "agent/engine/engine-internal.h"
#include "agent/taskdef/taskdef.h"

#include <criterion/criterion.h>
#include <ftw.h>

static char dir[] = "/tmp/berth-test-engine.XXXXXX";
static char data[256], run[256], logs[256];
static struct berth_loop *loop;
static struct engine *eng;
static struct taskdef_host_policy policy;

static void
engine_up (void)
{
  berth_err err = NULL;
  struct engine_options o = {
    .loop = loop, .data_dir = data, .run_dir = run, .log_dir = logs,
    .runtime_path = "/nonexistent/berth-runtime", .shim_path = "/nonexistent/berth-shim",
    .policy = &policy, .reserved_cpu = 0, .reserved_memory_mib = 0, .workers = 1,
  };
  cr_assert_eq (engine_new (&o, &eng, &err), 0, "%s", berth_err_msg (&err));
  engine_source_register (eng, "dir:/x", false, NULL, NULL);
}

static void
setup (void)
{
  berth_err err = NULL;
  cr_assert_not_null (mkdtemp (dir));
  snprintf (data, sizeof data, "%s/data", dir);
  snprintf (run, sizeof run, "%s/run", dir);
  snprintf (logs, sizeof logs, "%s/log", dir);
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  engine_up ();
}

static int
rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (p);
}

static void
teardown (void)
{
  engine_free (eng);
  berth_loop_free (loop);
  nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static json_object *
def (const char *text)
{
  json_object *o = NULL;
  berth_err err = NULL;
  cr_assert_eq (bjson_parse (text, strlen (text), "test", &o, &err), 0, "%s", berth_err_msg (&err));
  return o;
}

#define SIMPLE                                                                                     \
  "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"busybox\",\"memory\":64}]}"

static struct task *
only_task (void)
{
  cr_assert_not_null (eng->tasks);
  cr_assert_null (eng->tasks->next);
  return eng->tasks;
}

Test (engine, run_accepts_and_writes_intent_first, .init = setup, .fini = teardown)
{
  cleanup_json json_object *d = def (SIMPLE);
  cleanup_free char *id = NULL;
  berth_err err = NULL;
  struct task *t;
  char path[512];
  cr_assert_eq (engine_task_run (eng, d, &id, &err), 0, "%s", berth_err_msg (&err));
  t = only_task ();
  cr_assert_str_eq (t->id, id);
  cr_assert_eq (t->known, TASK_PROVISIONING);
  cr_assert_eq (t->need_memory_mib, 64);
  snprintf (path, sizeof path, "%s/tasks/%s/task.json", data, id);
  cr_assert (berth_exists_at (AT_FDCWD, path), "task.json is on disk");
  snprintf (path, sizeof path, "%s/tasks/%s/state.json", data, id);
  cr_assert (berth_exists_at (AT_FDCWD, path), "state.json is on disk");
}

Test (engine, rejected_definition_is_stopped_with_the_path, .init = setup, .fini = teardown)
{
  cleanup_json json_object *d
      = def ("{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"b\",\"memory\":64,\"secrets\":[]}]}");
  cleanup_free char *id = NULL;
  berth_err err = NULL;
  struct task *t;
  cr_assert_lt (engine_task_run (eng, d, &id, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "containerDefinitions[0].secrets") != NULL, "%s", berth_err_msg (&err));
  berth_err_free (&err);
  cr_assert_not_null (id, "the rejected task still has an id");
  t = only_task ();
  cr_assert_eq (t->known, TASK_STOPPED);
  cr_assert_str_eq (t->stop_code, "TaskFailedToStart");
  cr_assert (strstr (t->reason, "secrets") != NULL);
}

Test (engine, host_policy_refusal_names_the_setting, .init = setup, .fini = teardown)
{
  cleanup_json json_object *d = def ("{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"b\","
                                     "\"memory\":64,\"privileged\":true}]}");
  cleanup_free char *id = NULL;
  berth_err err = NULL;
  cr_assert_lt (engine_task_run (eng, d, &id, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "ALLOW_PRIVILEGED") != NULL, "%s", berth_err_msg (&err));
  berth_err_free (&err);
  cr_assert_eq (only_task ()->known, TASK_STOPPED);
}

Test (engine, store_survives_a_restart, .init = setup, .fini = teardown)
{
  cleanup_json json_object *d = def (SIMPLE);
  cleanup_free char *id = NULL, *id2 = NULL;
  berth_err err = NULL;
  struct task *t;
  cr_assert_eq (engine_task_run (eng, d, &id, &err), 0);
  cr_assert_eq (engine_task_stop (eng, id, "Task stopped by a unit test", &err), 0);
  engine_free (eng);
  engine_up ();
  cr_assert_eq (engine_recover (eng, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (engine_task_resolve (eng, id, &id2, &err), 0);
  t = only_task ();
  cr_assert_eq (t->desired, BERTH_DESIRED_STOPPED, "the stop request was on disk");
  cr_assert_str_eq (t->stop_request, "Task stopped by a unit test");
  cr_assert_str_eq (t->def->family, "f");
  cr_assert_eq (t->n_ctrs, 1);
}

Test (engine, resolve_by_prefix, .init = setup, .fini = teardown)
{
  cleanup_json json_object *d = def (SIMPLE);
  cleanup_free char *id = NULL, *full = NULL;
  berth_err err = NULL;
  char prefix[8];
  cr_assert_eq (engine_task_run (eng, d, &id, &err), 0);
  snprintf (prefix, sizeof prefix, "%.6s", id);
  cr_assert_eq (engine_task_resolve (eng, prefix, &full, &err), 0);
  cr_assert_str_eq (full, id);
  cr_assert_lt (engine_task_resolve (eng, "nope", &full, &err), 0);
  berth_err_free (&err);
}

/* ------------------------------------------------------------------ sources */

static int persisted_status[8];
static size_t n_persisted;

static void
persisted (void *opaque, uint64_t generation, int status, const char *msg)
{
  (void) opaque;
  (void) generation;
  (void) msg;
  persisted_status[n_persisted++] = status;
}

static void
submit (uint64_t generation, bool complete, const char *const *ids, const char *const *desired)
{
  struct source_update *u = xzalloc (sizeof *u);
  size_t n = 0;
  while (ids[n])
    n++;
  u->source = xstrdup ("dir:/x");
  u->generation = generation;
  u->complete = complete;
  u->tasks = xzalloc ((n + 1) * sizeof *u->tasks);
  for (size_t i = 0; i < n; i++)
    {
      u->tasks[i].task_id = xstrdup (ids[i]);
      u->tasks[i].definition = def (SIMPLE);
      u->tasks[i].desired = desired && desired[i] && strcmp (desired[i], "STOPPED") == 0 ? BERTH_DESIRED_STOPPED
                                                                                      : BERTH_DESIRED_RUNNING;
    }
  u->n_tasks = n;
  u->persisted = persisted;
  source_sink_submit (engine_sink (eng), u);
  /* what the sink's wakeup does on the loop, without running the tasks' steps */
  engine_sink_process (eng);
}

Test (engine, sources_generations_and_complete_lists, .init = setup, .fini = teardown)
{
  static const char *const ab[] = { "task-a", "task-b", NULL };
  static const char *const b[] = { "task-b", NULL };
  static const char *const a_stop[] = { "task-a", NULL };
  static const char *const stopped[] = { "STOPPED", NULL };
  struct task *ta, *tb;
  n_persisted = 0;
  submit (10, true, ab, NULL);
  cr_assert_eq (n_persisted, 1);
  cr_assert_eq (persisted_status[0], 0);
  ta = engine_task_find (eng, "task-a");
  tb = engine_task_find (eng, "task-b");
  cr_assert_not_null (ta);
  cr_assert_not_null (tb);
  /* stale: not newer than 10 */
  submit (10, true, b, NULL);
  cr_assert_eq (persisted_status[1], -ESTALE);
  cr_assert_eq (ta->desired, BERTH_DESIRED_RUNNING, "a stale complete list stops nothing");
  /* complete list without a: a is desired STOPPED, b untouched */
  submit (11, true, b, NULL);
  cr_assert_eq (persisted_status[2], 0);
  cr_assert_eq (ta->desired, BERTH_DESIRED_STOPPED);
  cr_assert_str_eq (ta->stop_request, "Task stopped: absent from its source's complete list");
  cr_assert_eq (tb->desired, BERTH_DESIRED_RUNNING);
  /* an explicit STOPPED in a partial update */
  submit (12, false, a_stop, stopped);
  cr_assert_eq (persisted_status[3], 0);
  /* the generation survives a restart: 12 is stale afterwards */
  engine_free (eng);
  engine_up ();
  cr_assert_eq (engine_recover (eng, NULL), 0);
  n_persisted = 0;
  submit (12, true, b, NULL);
  cr_assert_eq (persisted_status[0], -ESTALE);
}

Test (engine, task_ids_are_checked, .init = setup, .fini = teardown)
{
  static const char *const bad[] = { "../etc", "-x", NULL };
  n_persisted = 0;
  submit (1, false, bad, NULL);
  cr_assert_null (eng->tasks, "ids with path characters or a leading dash are refused");
}

Test (engine, ledger_reserves_and_releases, .init = setup, .fini = teardown)
{
  cleanup_json json_object *d = def ("{\"family\":\"f\",\"cpu\":\"512\",\"memory\":\"256\",\"containerDefinitions\":"
                                     "[{\"name\":\"a\",\"image\":\"b\"}]}");
  cleanup_free char *id = NULL;
  berth_err err = NULL;
  struct task *t;
  cr_assert_eq (engine_task_run (eng, d, &id, &err), 0);
  t = only_task ();
  cr_assert_eq (t->need_cpu, 512);
  cr_assert_eq (t->need_memory_mib, 256);
  t->admitted = true;
  eng->used_cpu += 512;
  eng->used_memory_mib += 256;
  engine_ledger_release (eng, t);
  cr_assert_eq (eng->used_cpu, 0);
  cr_assert_eq (eng->used_memory_mib, 0);
  cr_assert (!t->admitted);
  engine_ledger_release (eng, t);
  cr_assert_eq (eng->used_cpu, 0, "released exactly once");
}
