/* OOM and pids.max events: one pollable fd per cgroup (an epoll fd over an inotify watch of
 * the v2 memory.events/pids.events/cgroup.events and, on v1, an eventfd registered for
 * memory.oom_control through cgroup.event_control), and the counters behind them. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#include "cgroups/internal.h"

static int
watch (struct cgroups_cgroup *cg, size_t i, const char *file, berth_err *err)
{
  cleanup_free char *dir = cg_host_dir (cg->m, i, cg->paths[i]);
  cleanup_free char *p = NULL;

  if (dir == NULL)
    return 0;
  p = xasprintf ("%s/%s", dir, file);
  if (access (p, F_OK) < 0)
    return 0; /* this kernel or hierarchy has no such file */
  /* kernfs reports a change of these files as IN_MODIFY. */
  if (inotify_add_watch (cg->inotify_fd, p, IN_MODIFY) < 0)
    return berth_err_set (err, errno, "inotify watch `%s`", p);
  return 0;
}

static int
v1_oom_register (struct cgroups_cgroup *cg, size_t i, berth_err *err)
{
  cleanup_close int dfd = cg_open_dir (cg, i, NULL, err);
  cleanup_close int ofd = -1;
  char line[64];

  if (dfd < 0)
    return dfd;
  ofd = openat (dfd, "memory.oom_control", O_RDONLY | O_CLOEXEC);
  if (ofd < 0)
    return berth_err_set (err, errno, "open `memory.oom_control` of `%s`", cg->paths[i]);
  cg->oom_eventfd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (cg->oom_eventfd < 0)
    return berth_err_set (err, errno, "eventfd");
  /* "<event fd> <fd of the file>": the kernel keeps its own references, ofd may close. */
  snprintf (line, sizeof line, "%d %d", cg->oom_eventfd, ofd);
  if (cg_write (dfd, "cgroup.event_control", line, NULL, err) < 0)
    return berth_err_wrap (err, "register for OOM events of `%s`", cg->paths[i]);
  return 0;
}

static void
events_close (struct cgroups_cgroup *cg)
{
  if (cg->events_fd >= 0)
    close (cg->events_fd);
  if (cg->inotify_fd >= 0)
    close (cg->inotify_fd);
  if (cg->oom_eventfd >= 0)
    close (cg->oom_eventfd);
  cg->events_fd = cg->inotify_fd = cg->oom_eventfd = -1;
}

int
cgroups_events_open (struct cgroups_cgroup *cg, int *ret_fd, berth_err *err)
{
  struct cgroups_manager *m = cg->m;
  struct epoll_event ev = { .events = EPOLLIN };
  int q;

  if (cg->events_fd >= 0)
    {
      *ret_fd = cg->events_fd;
      return 0;
    }
  cg->events_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (cg->events_fd < 0)
    return berth_err_set (err, errno, "epoll_create1");
  cg->inotify_fd = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  if (cg->inotify_fd < 0)
    {
      q = berth_err_set (err, errno, "inotify_init1");
      goto fail;
    }
  for (size_t i = 0; i < m->n_h; i++)
    {
      struct cg_hier *h = &m->h[i];
      if (cg->paths[i] == NULL)
        continue;
      if (h->unified)
        {
          if ((q = watch (cg, i, "cgroup.events", err)) < 0
              || (cg_hier_has (h, "memory") && (q = watch (cg, i, "memory.events", err)) < 0)
              || (cg_hier_has (h, "pids") && (q = watch (cg, i, "pids.events", err)) < 0))
            goto fail;
          continue;
        }
      if (cg_hier_has (h, "pids") && (q = watch (cg, i, "pids.events", err)) < 0)
        goto fail;
      if (cg_hier_has (h, "memory") && (q = v1_oom_register (cg, i, err)) < 0)
        goto fail;
    }
  ev.data.fd = cg->inotify_fd;
  if (epoll_ctl (cg->events_fd, EPOLL_CTL_ADD, cg->inotify_fd, &ev) < 0)
    {
      q = berth_err_set (err, errno, "epoll_ctl");
      goto fail;
    }
  if (cg->oom_eventfd >= 0)
    {
      ev.data.fd = cg->oom_eventfd;
      if (epoll_ctl (cg->events_fd, EPOLL_CTL_ADD, cg->oom_eventfd, &ev) < 0)
        {
          q = berth_err_set (err, errno, "epoll_ctl");
          goto fail;
        }
    }
  *ret_fd = cg->events_fd;
  return 0;
fail:
  events_close (cg);
  return q;
}

static uint64_t
kv_value (const char *buf, const char *key, bool *found)
{
  size_t kl = strlen (key);
  for (const char *l = buf; l && *l; l = strchr (l, '\n') ? strchr (l, '\n') + 1 : NULL)
    if (strncmp (l, key, kl) == 0 && l[kl] == ' ')
      {
        uint64_t v = 0;
        for (const char *p = l + kl + 1; *p >= '0' && *p <= '9'; p++)
          v = v * 10 + (uint64_t)(*p - '0');
        if (found)
          *found = true;
        return v;
      }
  return 0;
}

static void
drain (struct cgroups_cgroup *cg)
{
  char buf[4096];
  uint64_t n;

  if (cg->inotify_fd >= 0)
    while (read (cg->inotify_fd, buf, sizeof buf) > 0)
      ;
  if (cg->oom_eventfd >= 0 && read (cg->oom_eventfd, &n, sizeof n) == (ssize_t)sizeof n)
    cg->v1_oom += n;
}

int
cgroups_events_read (struct cgroups_cgroup *cg, struct cgroups_events *ret, berth_err *err)
{
  struct cgroups_manager *m = cg->m;
  struct cgroups_events ev = { 0 };
  bool populated_known = false, any = false;

  drain (cg);
  for (size_t i = 0; i < m->n_h; i++)
    {
      struct cg_hier *h = &m->h[i];
      cleanup_close int dfd = -1;
      char buf[1024];

      if (cg->paths[i] == NULL)
        continue;
      dfd = cg_open_dir (cg, i, NULL, err);
      if (dfd < 0)
        {
          if (berth_err_code (err) == ENOENT)
            {
              berth_err_free (err);
              continue;
            }
          return dfd;
        }
      any = true;
      if (cg_hier_has (h, "pids") && cg_read_small (dfd, "pids.events", buf, sizeof buf) >= 0)
        ev.pids_max = kv_value (buf, "max", NULL);
      if (h->unified)
        {
          if (cg_read_small (dfd, "cgroup.events", buf, sizeof buf) >= 0)
            ev.populated = kv_value (buf, "populated", &populated_known) != 0;
          if (cg_hier_has (h, "memory")
              && cg_read_small (dfd, "memory.events", buf, sizeof buf) >= 0)
            {
              ev.oom = kv_value (buf, "oom", NULL);
              ev.oom_kill = kv_value (buf, "oom_kill", NULL);
            }
          continue;
        }
      if (cg_hier_has (h, "memory")
          && cg_read_small (dfd, "memory.oom_control", buf, sizeof buf) >= 0)
        {
          ev.oom_kill = kv_value (buf, "oom_kill", NULL);
          /* v1 counts OOMs only through the eventfd; a kill implies an OOM before it. */
          ev.oom = cg->v1_oom > ev.oom_kill ? cg->v1_oom : ev.oom_kill;
        }
    }
  if (!any)
    return berth_err_set (err, ENOENT, "cgroup `%s` is gone", cg->saved);
  if (!populated_known)
    {
      pid_t *pids = NULL;
      size_t n = 0;
      if (cgroups_pids (cg, &pids, &n, err) < 0)
        return berth_err_ret (err);
      free (pids);
      ev.populated = n > 0;
    }
  *ret = ev;
  return 0;
}
