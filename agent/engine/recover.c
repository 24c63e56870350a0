/* Recovery after berthd restarts (or crashes): every task read from disk is matched with
 * what still exists — its shim and containers, its network, its cgroup — and resumes from
 * there. Once every source has reported, what no task holds any more (networks, image
 * leases, runtime containers, shim directories) is collected. */
#include "engine-internal.h"
#include "cgroups/cgroups.h"
#include "imagecache/imagecache.h"
#include "netns/netns.h"

#include <dirent.h>

static void on_shim_state (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds,
                           void *data);

static int
on_requery (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct task *t = data;
  berth_err err = NULL;
  (void) now;
  berth_loop_remove (src);
  if (t->shim == NULL || shimconn_call (t->shim, "state", NULL, NULL, 0, on_shim_state, t, &err) < 0)
    {
      berth_err_free (&err);
      t->busy--;
      task_schedule_step (t);
    }
  return 0;
}

/* A container the shim is still creating, starting or deleting (berthd died while it
 * asked): wait for the runtime to finish, then look again. */
static bool
shim_state_settled (json_object *ctrs)
{
  for (size_t i = 0; ctrs && i < json_object_array_length (ctrs); i++)
    {
      const char *st = NULL;
      bjson_get_string (json_object_array_get_idx (ctrs, i), "", "status", 0, &st, NULL);
      if (st && (strcmp (st, "creating") == 0 || strcmp (st, "starting") == 0 || strcmp (st, "deleting") == 0))
        return false;
    }
  return true;
}

static void
on_shim_state (struct shimconn *conn, json_object *reply, const int *fds, size_t n_fds, void *data)
{
  struct task *t = data;
  json_object *ctrs = NULL;
  bool ok = false;
  (void) conn;
  (void) fds;
  (void) n_fds;
  bjson_get_bool (reply, "", "ok", 0, &ok, NULL);
  if (ok && bjson_get (reply, "", "containers", json_type_array, 0, &ctrs, NULL) > 0 && !shim_state_settled (ctrs))
    {
      berth_loop_add_timer (t->engine->loop, berth_now_ns () + 100000000ull, on_requery, t, NULL, NULL);
      return; /* t->busy stays raised until the shim's state settles */
    }
  ctrs = NULL;
  t->busy--;
  {
    int32_t holder = 0;
    if (ok && bjson_get_int32 (reply, "", "holder", 0, &holder, NULL) > 0)
      t->holder_pid = holder;
  }
  if (ok && bjson_get (reply, "", "containers", json_type_array, 0, &ctrs, NULL) > 0)
    for (size_t i = 0; i < json_object_array_length (ctrs); i++)
      {
        json_object *co = json_object_array_get_idx (ctrs, i);
        const char *name = NULL;
        bjson_get_string (co, "", "name", 0, &name, NULL);
        for (size_t k = 0; name && k < t->n_ctrs; k++)
          if (strcmp (t->ctrs[k].name, name) == 0)
            ctr_on_shim_state (&t->ctrs[k], co);
      }
  /* a container our state says exists but the shim does not know was never created */
  for (size_t k = 0; k < t->n_ctrs; k++)
    {
      struct ctr *c = &t->ctrs[k];
      bool known_to_shim = false;
      for (size_t i = 0; ctrs && i < json_object_array_length (ctrs); i++)
        {
          const char *name = NULL;
          bjson_get_string (json_object_array_get_idx (ctrs, i), "", "name", 0, &name, NULL);
          if (name && strcmp (name, c->name) == 0)
            known_to_shim = true;
        }
      if (!known_to_shim && c->known == CTR_CREATED)
        c->known = CTR_PULLED;
    }
  task_persist (t);
  task_schedule_step (t);
}

/* The shim is gone: what its exit files say, and containers that may still run orphaned. */
static void
recover_without_shim (struct task *t)
{
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      cleanup_free char *exitf = xasprintf ("%s/%s.exit", t->state_dir, c->name);
      cleanup_json json_object *o = NULL;
      int32_t code;
      if (c->known < CTR_CREATED)
        continue;
      c->created = true; /* delete through the runtime, which knows whether it exists */
      ctr_open_cgroup (c); /* to kill and to see it empty */
      if (!c->has_exit && bjson_parse_file_at (AT_FDCWD, exitf, 65536, &o, NULL) == 0
          && bjson_get_int32 (o, "", "exit_code", 0, &code, NULL) > 0)
        {
          c->has_exit = true;
          c->exit_code = code;
          c->known = CTR_STOPPED;
        }
    }
  t->shim_lost = true;
  if (t->known >= TASK_ACTIVATING && t->known < TASK_STOPPED)
    task_fail (t, "TaskFailedToStart", "berth-shim of the task is gone (was the host restarted?)");
}

static void
on_retention_recovered (struct task *t)
{
  struct engine *e = t->engine;
  uint64_t now = berth_realtime_ns ();
  uint64_t age = t->stopped_ns && now > t->stopped_ns ? now - t->stopped_ns : 0;
  uint64_t left = e->o.task_retention_ns > age ? e->o.task_retention_ns - age : 0;
  task_arm_retention (t, left);
}

int
recover_task (struct task *t, berth_err *err)
{
  struct engine *e = t->engine;

  if (t->known == TASK_STOPPED)
    {
      on_retention_recovered (t);
      return 0;
    }
  if (t->admitted)
    {
      e->used_cpu += t->need_cpu;
      e->used_memory_mib += t->need_memory_mib;
    }
  /* network */
  if (e->o.net)
    {
      struct netns_task_net *n = NULL;
      if (netns_task_get (e->o.net, t->id, &n, NULL) == 0)
        {
          if (n->complete)
            {
              t->net = n;
              t->net_ready = true;
            }
          else
            {
              netns_task_net_free (n);
              if (t->known > TASK_PROVISIONING)
                task_fail (t, "TaskFailedToStart", "the task's network is gone (was the host restarted?)");
            }
        }
      else if (t->known > TASK_PROVISIONING && t->ip)
        task_fail (t, "TaskFailedToStart", "the task's network is gone (was the host restarted?)");
    }
  else if (t->def && t->def->network_mode == TASKDEF_NETWORK_HOST)
    t->net_ready = true;
  /* cgroup */
  if (t->cgroup_path && e->o.cgroups && cgroups_open (e->o.cgroups, t->cgroup_path, &t->cg, NULL) == 0)
    t->cgroup_ready = true;
  /* shim */
  if (t->known >= TASK_PROVISIONING)
    {
      cleanup_free char *sock = xasprintf ("%s/shim.sock", t->state_dir);
      if (berth_exists_at (AT_FDCWD, sock) && shim_attach (t, NULL) == 0)
        {
          t->busy++;
          if (shimconn_call (t->shim, "state", NULL, NULL, 0, on_shim_state, t, err) < 0)
            {
              t->busy--;
              return -EIO;
            }
          return 0;
        }
      recover_without_shim (t);
    }
  task_schedule_step (t);
  return 0;
}

/* ------------------------------------------------------------------ collection */

static bool
live_task (struct engine *e, const char *id)
{
  struct task *t = engine_task_find (e, id);
  return t != NULL;
}

struct orphan_job
{
  char *runtime, *root;
  char **ids;
};

static void
orphan_run (void *arg)
{
  struct orphan_job *j = arg;
  for (char **id = j->ids; id && *id; id++)
    {
      char *argv[] = { j->runtime, "--root", j->root, "delete", "--force", *id, NULL };
      pid_t pid;
      int pidfd;
      if (berth_spawn (j->runtime, argv, NULL, &pid, &pidfd, NULL) == 0)
        {
          berth_pidfd_wait (pidfd, NULL, NULL);
          close (pidfd);
        }
    }
}

static void
orphan_done (void *arg)
{
  struct orphan_job *j = arg;
  for (char **id = j->ids; id && *id; id++)
    log_info ("collected runtime container %s of no task", *id);
  strv_free (j->ids);
  free (j->runtime);
  free (j->root);
  free (j);
}

/* The part of a runtime id "<task id>-<container>" that names the task: the longest known
 * task id that prefixes it. */
static bool
runtime_id_has_task (struct engine *e, const char *rid)
{
  for (struct task *t = e->tasks; t; t = t->next)
    {
      size_t n = strlen (t->id);
      if (strncmp (rid, t->id, n) == 0 && rid[n] == '-')
        return true;
    }
  return false;
}

void
recover_collect (struct engine *e)
{
  berth_err err = NULL;
  char **live = NULL;

  for (struct task *t = e->tasks; t; t = t->next)
    if (t->known != TASK_STOPPED)
      strv_append (&live, t->id);
  if (live == NULL)
    live = xzalloc (sizeof (char *));

  if (e->o.net)
    {
      struct netns_reconcile_report rep = { 0 };
      if (netns_reconcile (e->o.net, live, &rep, &err) < 0)
        {
          log_warning ("network reconcile: %s", berth_err_msg (&err));
          berth_err_free (&err);
        }
      else if (rep.tasks || rep.leases || rep.netns || rep.links)
        log_info ("collected networks of no task: %zu records, %zu leases, %zu namespaces, %zu links",
                  rep.tasks, rep.leases, rep.netns, rep.links);
    }
  if (e->o.images)
    {
      cleanup_strv char **leases = NULL;
      if (imagecache_lease_list (e->o.images, &leases, NULL) == 0)
        for (char **l = leases; l && *l; l++)
          {
            cleanup_free char *task = xstrdup (*l);
            char *dot = strrchr (task, '.');
            struct task *t;
            if (dot)
              *dot = '\0';
            t = engine_task_find (e, task);
            if (t == NULL || t->known == TASK_STOPPED)
              {
                if (imagecache_lease_release (e->o.images, *l, NULL) == 0)
                  log_info ("released image lease %s of no running task", *l);
              }
          }
    }
  /* runtime containers of no task */
  {
    cleanup_free char *root = xasprintf ("%s/runtime", e->run_dir);
    cleanup_dir DIR *d = opendir (root);
    struct dirent *de;
    char **orphans = NULL;
    while (d && (de = readdir (d)) != NULL)
      if (de->d_name[0] != '.' && !runtime_id_has_task (e, de->d_name))
        strv_append (&orphans, de->d_name);
    if (orphans)
      {
        struct orphan_job *j = xzalloc (sizeof *j);
        j->runtime = xstrdup (e->runtime_path);
        j->root = xstrdup (root);
        j->ids = orphans;
        workers_submit (e->workers, orphan_run, orphan_done, j);
      }
  }
  /* shim directories of no task */
  {
    cleanup_free char *dir = xasprintf ("%s/tasks", e->run_dir);
    cleanup_dir DIR *d = opendir (dir);
    struct dirent *de;
    while (d && (de = readdir (d)) != NULL)
      if (de->d_name[0] != '.' && !live_task (e, de->d_name))
        {
          cleanup_free char *p = xasprintf ("%s/%s", dir, de->d_name);
          cleanup_free char *sock = xasprintf ("%s/shim.sock", p);
          int fd = berth_msg_connect (sock, false, NULL);
          if (fd >= 0)
            {
              /* a shim of no task: ask it to go (it refuses while it has containers) */
              json_object *m = json_object_new_object ();
              json_object_object_add (m, "id", json_object_new_int (1));
              json_object_object_add (m, "op", json_object_new_string ("shutdown"));
              berth_msg_send (fd, m, NULL, 0, NULL);
              json_object_put (m);
              close (fd);
            }
          if (berth_rm_rf_at (AT_FDCWD, p, NULL) == 0)
            log_info ("removed the run directory of no task: %s", p);
        }
  }
  strv_free (live);
}
