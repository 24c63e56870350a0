/* Operations on a container's cgroup: pause and resume (freezer), update (linux.resources
 * of a live container), ps and events (stats, OOM and pids.max counters), as runc has them. */
#include "runtime/internal.h"

#include <poll.h>

struct live
{
  int rootfd, statefd;
  struct rt_state *s;
  struct rt_cgroup *cg;
};

static void
live_free (struct live *l)
{
  if (l->rootfd >= 0)
    close (l->rootfd);
  if (l->statefd >= 0)
    close (l->statefd);
  rt_state_free (l->s);
  rt_cgroup_free (l->cg);
}

/* Opens a container that has a process and a cgroup. */
static int
live_open (const struct runtime_context *ctx, const char *id, int lock, struct live *l,
           enum rt_status *ret_status, berth_err *err)
{
  int r;
  l->rootfd = l->statefd = -1;
  l->s = NULL;
  l->cg = NULL;
  if ((r = rt_state_root_open (ctx && ctx->root ? ctx->root : "/run/berth-runtime", false,
                               &l->rootfd, err))
          < 0
      || (r = rt_state_dir_open (l->rootfd, id, lock, &l->statefd, err)) < 0
      || (r = rt_state_read (l->statefd, id, &l->s, err)) < 0)
    return r;
  if (l->s->cgroup == NULL)
    return berth_err_set (err, 0, "container `%s` has no cgroup", id);
  if ((r = rt_cgroup_open (l->s->cgroup, &l->cg, err)) < 0)
    return r;
  *ret_status = rt_state_status (l->s);
  if (*ret_status == RT_STATUS_RUNNING)
    {
      bool frozen = false;
      if (rt_cgroup_frozen (l->cg, &frozen, NULL) == 0 && frozen)
        *ret_status = RT_STATUS_PAUSED;
    }
  return 0;
}

static int
set_paused (const struct runtime_context *ctx, const char *id, bool pause, berth_err *err)
{
  struct live l;
  enum rt_status st;
  int r = live_open (ctx, id, RT_LOCK_EXCLUSIVE, &l, &st, err);
  if (r >= 0)
    {
      if (pause && st != RT_STATUS_RUNNING)
        r = berth_err_set (err, 0, "container `%s` is %s: only a running container can pause", id,
                           rt_status_name (st));
      else if (!pause && st != RT_STATUS_PAUSED)
        r = berth_err_set (err, 0, "container `%s` is %s: only a paused container can resume", id,
                           rt_status_name (st));
      else
        r = rt_cgroup_freeze (l.cg, pause, err);
    }
  live_free (&l);
  return r;
}

int
runtime_pause (const struct runtime_context *ctx, const char *id, berth_err *err)
{
  return set_paused (ctx, id, true, err);
}

int
runtime_resume (const struct runtime_context *ctx, const char *id, berth_err *err)
{
  return set_paused (ctx, id, false, err);
}

int
runtime_update (const struct runtime_context *ctx, const char *id, json_object *resources,
                berth_err *err)
{
  struct live l;
  enum rt_status st;
  int r = live_open (ctx, id, RT_LOCK_EXCLUSIVE, &l, &st, err);
  if (r >= 0)
    {
      if (st == RT_STATUS_STOPPED)
        r = berth_err_set (err, 0, "container `%s` is stopped", id);
      else
        r = rt_cgroup_update (l.cg, resources, err);
    }
  live_free (&l);
  return r;
}

int
runtime_ps (const struct runtime_context *ctx, const char *id, pid_t **ret, size_t *ret_n,
            berth_err *err)
{
  struct live l;
  enum rt_status st;
  int r = live_open (ctx, id, RT_LOCK_SHARED, &l, &st, err);
  if (r >= 0)
    r = rt_cgroup_pids (l.cg, ret, ret_n, err);
  live_free (&l);
  return r;
}

static json_object *
event (const char *type, const char *id, json_object *data)
{
  json_object *e = json_object_new_object ();
  json_object_object_add (e, "type", json_object_new_string (type));
  json_object_object_add (e, "id", json_object_new_string (id));
  if (data)
    json_object_object_add (e, "data", data);
  return e;
}

static int
emit_stats (struct live *l, const char *id, runtime_event_fn fn, void *userdata, berth_err *err)
{
  json_object *data, *e;
  int r = rt_cgroup_stats_json (l->cg, &data, err);
  if (r < 0)
    return r;
  e = event ("stats", id, data);
  r = fn (e, userdata);
  json_object_put (e);
  return r;
}

int
runtime_events (const struct runtime_context *ctx, const char *id, bool stats_once,
                uint64_t interval_ns, runtime_event_fn fn, void *userdata, berth_err *err)
{
  struct live l;
  enum rt_status st;
  uint64_t oom = 0, pids_max = 0;
  bool populated = true;
  int efd = -1;
  int r = live_open (ctx, id, RT_LOCK_NONE, &l, &st, err);

  if (r < 0)
    goto out;
  if (st == RT_STATUS_STOPPED)
    {
      r = berth_err_set (err, 0, "container `%s` is stopped", id);
      goto out;
    }
  if (stats_once)
    {
      r = emit_stats (&l, id, fn, userdata, err);
      if (r > 0)
        r = 0;
      goto out;
    }
  if ((r = rt_cgroup_events_fd (l.cg, &efd, err)) < 0
      || (r = rt_cgroup_events_read (l.cg, &oom, &pids_max, &populated, err)) < 0)
    goto out;
  for (;;)
    {
      struct pollfd p = { .fd = efd, .events = POLLIN };
      uint64_t ms = interval_ns / 1000000;
      int timeout = interval_ns ? (ms > INT32_MAX ? INT32_MAX : (int)ms) : -1;
      uint64_t o2, p2;
      int n = poll (&p, 1, timeout);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          r = berth_err_set (err, errno, "poll the events of `%s`", id);
          goto out;
        }
      if (n == 0)
        {
          r = emit_stats (&l, id, fn, userdata, err);
          if (r != 0)
            goto done;
          continue;
        }
      if ((r = rt_cgroup_events_read (l.cg, &o2, &p2, &populated, err)) < 0)
        goto out;
      if (o2 > oom)
        {
          json_object *e = event ("oom", id, NULL);
          r = fn (e, userdata);
          json_object_put (e);
          if (r != 0)
            goto done;
        }
      if (p2 > pids_max)
        {
          json_object *e = event ("pids.max", id, NULL);
          r = fn (e, userdata);
          json_object_put (e);
          if (r != 0)
            goto done;
        }
      oom = o2;
      pids_max = p2;
      if (!populated)
        break;
    }
done:
  if (r > 0)
    r = 0;
out:
  live_free (&l);
  return r;
}
