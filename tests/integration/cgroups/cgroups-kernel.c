/* Real-kernel checks of the cgroups module, run as root: on this hybrid host (suite
 * integration) and, the same binary, inside a pure cgroup v2 VM (suite vm). Each check forks
 * plain children of this program into a cgroup and watches what the kernel does to them.
 * Output is TAP; every cgroup lives under berth-test-<pid> below our own cgroup and is
 * removed at the end whatever happened. Usage: cgroups-kernel [--expect LAYOUT] [CHECK...] */
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroups/cgroups.h"
#include "ebpf/ebpf.h"

static struct cgroups_manager *mgr;
static char root_name[64];
static int failures;
static int test_no;

#define DIAG(...)                                                                                  \
  do                                                                                               \
    {                                                                                              \
      printf ("# ");                                                                               \
      printf (__VA_ARGS__);                                                                        \
      printf ("\n");                                                                               \
      fflush (stdout);                                                                             \
    }                                                                                              \
  while (0)

/* A check fails with a message; returns -1 so callers can `return fail (...)`. */
static char fail_msg[1024];
static char skip_msg[256];
static int fail (const char *fmt, ...) BERTH_PRINTF (1, 2);
static int
fail (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (fail_msg, sizeof fail_msg, fmt, ap);
  va_end (ap);
  return -1;
}

static int
fail_err (const char *what, berth_err *err)
{
  return fail ("%s: %s", what, berth_err_msg (err));
}

#define SKIP 77

/* ------------------------------------------------------------------ children */

struct child
{
  pid_t pid;
  int go;     /* write end: tells the child it is in the cgroup */
  int report; /* read end: what the child says */
};

typedef int (*child_fn) (void *arg, int report_fd);

/* Forks a child that waits until the parent has put it into cg, then runs fn. */
static int
spawn_in (struct cgroups_cgroup *cg, child_fn fn, void *arg, struct child *c, berth_err *err)
{
  int go[2], rep[2];
  char b = 0;

  if (pipe2 (go, O_CLOEXEC) < 0 || pipe2 (rep, O_CLOEXEC) < 0)
    return berth_err_set (err, errno, "pipe");
  c->pid = fork ();
  if (c->pid < 0)
    return berth_err_set (err, errno, "fork");
  if (c->pid == 0)
    {
      close (go[1]);
      close (rep[0]);
      if (read (go[0], &b, 1) != 1)
        _exit (120);
      _exit (fn (arg, rep[1]));
    }
  close (go[0]);
  close (rep[1]);
  c->go = go[1];
  c->report = rep[0];
  if (cgroups_enter (cg, c->pid, err) < 0)
    {
      kill (c->pid, SIGKILL);
      waitpid (c->pid, NULL, 0);
      close (c->go);
      close (c->report);
      return -1;
    }
  if (write (c->go, &b, 1) != 1)
    return berth_err_set (err, errno, "write");
  return 0;
}

static int
child_wait (struct child *c, int *status)
{
  int st;
  while (waitpid (c->pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  close (c->go);
  close (c->report);
  *status = st;
  return 0;
}

/* Reads one line the child reported; blocks until it does. */
static int
child_read (struct child *c, char *buf, size_t size)
{
  size_t n = 0;
  while (n + 1 < size)
    {
      ssize_t r = read (c->report, buf + n, 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      if (buf[n] == '\n')
        break;
      n++;
    }
  buf[n] = '\0';
  return (int)n;
}

static void report (int fd, const char *fmt, ...) BERTH_PRINTF (2, 3);
static void
report (int fd, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  int n;
  va_start (ap, fmt);
  n = vsnprintf (buf, sizeof buf - 1, fmt, ap);
  va_end (ap);
  buf[n++] = '\n';
  if (write (fd, buf, (size_t)n) < 0)
    _exit (121);
}

static void
reap_all (void)
{
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
}

static json_object *
json (const char *text)
{
  json_object *o = json_tokener_parse (text);
  if (o == NULL)
    {
      fprintf (stderr, "bad JSON in test: %s\n", text);
      abort ();
    }
  return o;
}

static int
make (const char *resources_json, const char *path, struct cgroups_cgroup **ret, berth_err *err)
{
  cleanup_json json_object *o = resources_json ? json (resources_json) : NULL;
  struct cgroups_resources *r = NULL;
  char id[64];
  static int seq;
  int q;

  if (cgroups_resources_parse (o, "linux.resources", &r, err) < 0)
    return -1;
  snprintf (id, sizeof id, "c%d", ++seq);
  q = cgroups_create (mgr, path, id, r, ret, err);
  cgroups_resources_free (r);
  return q;
}

static int
update (struct cgroups_cgroup *cg, const char *resources_json, berth_err *err)
{
  cleanup_json json_object *o = json (resources_json);
  struct cgroups_resources *r = NULL;
  int q;
  if (cgroups_resources_parse (o, "linux.resources", &r, err) < 0)
    return -1;
  q = cgroups_update (cg, r, err);
  cgroups_resources_free (r);
  return q;
}

/* ------------------------------------------------------------------ hierarchy helpers */

struct find
{
  const char *controller;
  char dir[4096];
  bool unified;
};

static int
find_cb (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  struct find *f = userdata;
  (void)err;
  if (f->dir[0])
    return 0;
  if (f->controller == NULL)
    goto found;
  if (h->unified)
    {
      char words[1024];
      snprintf (words, sizeof words, " %s ", h->controllers);
      char w[64];
      snprintf (w, sizeof w, " %s ", f->controller);
      if (strstr (words, w))
        goto found;
      return 0;
    }
  {
    char list[256];
    snprintf (list, sizeof list, ",%s,", h->controllers);
    char w[64];
    snprintf (w, sizeof w, ",%s,", f->controller);
    if (strstr (list, w))
      goto found;
  }
  return 0;
found:
  snprintf (f->dir, sizeof f->dir, "%s", h->dir);
  f->unified = h->unified;
  return 0;
}

/* Host directory of cg in the hierarchy holding controller ("" when none). */
static const char *
ctrl_dir (struct cgroups_cgroup *cg, const char *controller, bool *unified)
{
  static struct find f;
  berth_err err = NULL;
  memset (&f, 0, sizeof f);
  f.controller = controller;
  cgroups_foreach_hierarchy (mgr, cg, find_cb, &f, &err);
  berth_err_free (&err);
  if (unified)
    *unified = f.unified;
  return f.dir;
}

static int
read_file (const char *dir, const char *file, char *buf, size_t size)
{
  char p[4200];
  int fd;
  ssize_t n;
  snprintf (p, sizeof p, "%s/%s", dir, file);
  fd = open (p, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  n = read (fd, buf, size - 1);
  close (fd);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  return 0;
}

/* The whole file (read_file keeps the first line only). */
static int
read_file_all (const char *dir, const char *file, char *buf, size_t size)
{
  char p[4200];
  int fd;
  ssize_t n;
  snprintf (p, sizeof p, "%s/%s", dir, file);
  fd = open (p, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  n = read (fd, buf, size - 1);
  close (fd);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  return 0;
}

static bool
dir_exists (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* ------------------------------------------------------------------ checks */

struct dirs_cb
{
  int n, missing;
};

static int
count_dirs (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  struct dirs_cb *d = userdata;
  (void)err;
  d->n++;
  if (!dir_exists (h->dir))
    d->missing++;
  return 0;
}

static int
check_layout (const char *expect)
{
  const char *name = cgroups_layout_name (cgroups_manager_layout (mgr));
  DIAG ("layout: %s", name);
  if (expect && strcmp (expect, name) != 0)
    return fail ("layout is %s, expected %s", name, expect);
  return 0;
}

static int
check_create_destroy (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL, *again = NULL;
  struct dirs_cb d = { 0 }, after = { 0 };
  char saved[4096];
  int q = -1;

  if (make (NULL, "nest/deeper/leaf", &cg, &err) < 0)
    return fail_err ("create", &err);
  cgroups_foreach_hierarchy (mgr, cg, count_dirs, &d, &err);
  if (d.n == 0 || d.missing)
    {
      fail ("%d of %d hierarchy directories missing", d.missing, d.n);
      goto out;
    }
  snprintf (saved, sizeof saved, "%s", cgroups_path (cg));
  DIAG ("saved path: %s", saved);
  if (cgroups_open (mgr, saved, &again, &err) < 0)
    {
      fail_err ("reopen", &err);
      goto out;
    }
  if (strcmp (cgroups_path (again), saved) != 0)
    {
      fail ("reopened path %s differs", cgroups_path (again));
      goto out;
    }
  if ((cgroups_manager_layout (mgr) == CGROUPS_LAYOUT_UNIFIED) != (cgroups_v2_dirfd (cg) >= 0))
    {
      fail ("cgroups_v2_dirfd is %d on a %s host", cgroups_v2_dirfd (cg),
            cgroups_layout_name (cgroups_manager_layout (mgr)));
      goto out;
    }
  if (cgroups_destroy (again, &err) < 0)
    {
      fail_err ("destroy", &err);
      goto out;
    }
  cgroups_foreach_hierarchy (mgr, cg, count_dirs, &after, &err);
  if (after.missing != after.n)
    {
      fail ("%d directories left after destroy", after.n - after.missing);
      goto out;
    }
  /* the made parents went too: nest/ is gone, the root stays */
  {
    bool gone = true;
    struct find f = { 0 };
    char p[4200];
    cgroups_foreach_hierarchy (mgr, NULL, find_cb, &f, &err);
    snprintf (p, sizeof p, "%s/nest", f.dir);
    gone = !dir_exists (p);
    if (!gone || !dir_exists (f.dir))
      {
        fail ("after destroy: %s %s, root %s", p, gone ? "gone" : "left",
              dir_exists (f.dir) ? "kept" : "gone");
        goto out;
      }
  }
  {
    struct cgroups_cgroup *gone = NULL;
    int r = cgroups_open (mgr, saved, &gone, &err);
    cgroups_free (gone);
    if (r != -ENOENT)
      {
        fail ("reopen after destroy did not say ENOENT: %s", berth_err_msg (&err));
        goto out;
      }
    berth_err_free (&err);
  }
  q = 0;
out:
  berth_err_free (&err);
  cgroups_free (again);
  cgroups_free (cg);
  return q;
}

static int
hog (void *arg, int rep)
{
  size_t size = (size_t)(uintptr_t)arg;
  char *p = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  (void)rep;
  if (p == MAP_FAILED)
    return 3;
  for (size_t i = 0; i < size; i += 4096)
    p[i] = 1;
  return 0; /* not OOM-killed: the limit did not hold */
}

static int
check_memory_oom (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_events ev;
  struct child c;
  int status, efd, q = -1;
  struct pollfd p;
  const char *res = "{\"memory\": {\"limit\": 33554432}}";

  if (make (res, NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (cgroups_events_open (cg, &efd, &err) < 0)
    {
      fail_err ("events_open", &err);
      goto out;
    }
  if (spawn_in (cg, hog, (void *)(uintptr_t)(256u << 20), &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_wait (&c, &status);
  if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
    {
      fail ("memory hog was not OOM-killed (status %#x)", status);
      goto out;
    }
  DIAG ("memory hog killed by SIGKILL (exit 137)");
  p.fd = efd;
  p.events = POLLIN;
  if (poll (&p, 1, 10000) != 1)
    {
      fail ("events fd not readable after the OOM kill");
      goto out;
    }
  if (cgroups_events_read (cg, &ev, &err) < 0)
    {
      fail_err ("events_read", &err);
      goto out;
    }
  DIAG ("events: oom=%" PRIu64 " oom_kill=%" PRIu64 " populated=%d", ev.oom, ev.oom_kill,
        ev.populated);
  if (ev.oom_kill < 1 || ev.oom < 1)
    {
      fail ("OOM not reported: oom=%" PRIu64 " oom_kill=%" PRIu64, ev.oom, ev.oom_kill);
      goto out;
    }
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* Forks until the kernel refuses; each grandchild waits on a pipe that never gets data. */
static int
fork_bomb (void *arg, int rep)
{
  int hold[2];
  int n = 0, max = (int)(intptr_t)arg;
  if (pipe (hold) < 0)
    return 3;
  for (; n < max; n++)
    {
      pid_t p = fork ();
      if (p < 0)
        {
          report (rep, "%d %d", n, errno);
          break;
        }
      if (p == 0)
        {
          char b;
          close (hold[1]);
          while (read (hold[0], &b, 1) < 0 && errno == EINTR)
            ;
          _exit (0);
        }
    }
  if (n == max)
    report (rep, "%d 0", n);
  /* wait for the parent to say (by killing us) */
  for (;;)
    pause ();
}

static int
check_pids_limit (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_events ev;
  struct child c;
  char line[64];
  int forks = -1, eno = 0, status, q = -1;

  if (make ("{\"pids\": {\"limit\": 8}}", NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, fork_bomb, (void *)(intptr_t)100, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  sscanf (line, "%d %d", &forks, &eno);
  DIAG ("fork bomb: %d forks, then errno %d (%s)", forks, eno, strerror (eno));
  if (forks != 7 || eno != EAGAIN)
    {
      fail ("expected 7 forks (8 with the bomb) then EAGAIN, got %d forks, errno %d", forks, eno);
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  if (cgroups_events_read (cg, &ev, &err) < 0)
    {
      fail_err ("events_read", &err);
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  DIAG ("pids.events max=%" PRIu64, ev.pids_max);
  if (ev.pids_max < 1)
    {
      fail ("pids.max hit not reported");
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  if (cgroups_kill (cg, SIGKILL, &err) < 0)
    {
      fail_err ("kill", &err);
      goto out;
    }
  child_wait (&c, &status);
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  reap_all ();
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

static uint64_t
cpu_time_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
burn (void *arg, int rep)
{
  uint64_t want = (uint64_t)(uintptr_t)arg, start = cpu_time_ns ();
  volatile uint64_t x = 0;
  (void)rep;
  while (cpu_time_ns () - start < want)
    for (int i = 0; i < 10000; i++)
      x += (uint64_t)i;
  return x == 1 ? 1 : 0; /* uses x, so the loop stays */
}

static int
check_cpu_throttle (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_stats st = { 0 };
  struct child c;
  int status, q = -1;

  /* 5 ms per 50 ms period: burning 100 ms of CPU needs 20 periods, each ending throttled. */
  if (make ("{\"cpu\": {\"quota\": 5000, \"period\": 50000}}", NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, burn, (void *)(uintptr_t)100000000ULL, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_wait (&c, &status);
  if (cgroups_stats_read (cg, &st, &err) < 0)
    {
      fail_err ("stats", &err);
      goto out;
    }
  DIAG ("cpu: usage %" PRIu64 " ms, periods %" PRIu64 ", throttled %" PRIu64 " for %" PRIu64 " ms",
        st.cpu_usage_ns / 1000000, st.cpu_nr_periods, st.cpu_nr_throttled,
        st.cpu_throttled_ns / 1000000);
  if (!(st.have & CGROUPS_STATS_CPU_THROTTLE) || !(st.have & CGROUPS_STATS_CPU))
    {
      fail ("cpu stats missing (have %#x)", st.have);
      goto out;
    }
  if (st.cpu_nr_throttled < 5 || st.cpu_throttled_ns == 0 || st.cpu_usage_ns < 100000000ULL)
    {
      fail ("no throttling shown");
      goto out;
    }
  q = 0;
out:
  cgroups_stats_release (&st);
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* Reports which accesses work: open /dev/null rw, /dev/zero r, /dev/zero w, /dev/full r,
 * mknod c 1:7, mknod c 1:3 in the temp dir arg; waits for a byte and does it again. */
static void
try_devices (const char *tmp, int rep)
{
  char node[4200];
  int fd, r[6];
  fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  r[0] = fd >= 0 ? 0 : errno;
  if (fd >= 0)
    close (fd);
  fd = open ("/dev/zero", O_RDONLY | O_CLOEXEC);
  r[1] = fd >= 0 ? 0 : errno;
  if (fd >= 0)
    close (fd);
  fd = open ("/dev/zero", O_WRONLY | O_CLOEXEC);
  r[2] = fd >= 0 ? 0 : errno;
  if (fd >= 0)
    close (fd);
  fd = open ("/dev/full", O_RDONLY | O_CLOEXEC);
  r[3] = fd >= 0 ? 0 : errno;
  if (fd >= 0)
    close (fd);
  snprintf (node, sizeof node, "%s/full", tmp);
  unlink (node);
  r[4] = mknod (node, S_IFCHR | 0600, makedev (1, 7)) == 0 ? 0 : errno;
  unlink (node);
  snprintf (node, sizeof node, "%s/null", tmp);
  unlink (node);
  r[5] = mknod (node, S_IFCHR | 0600, makedev (1, 3)) == 0 ? 0 : errno;
  unlink (node);
  report (rep, "%d %d %d %d %d %d", r[0], r[1], r[2], r[3], r[4], r[5]);
}

struct dev_arg
{
  const char *tmp;
  int again; /* read end */
};

static int
devices_child (void *arg, int rep)
{
  struct dev_arg *a = arg;
  char b;
  try_devices (a->tmp, rep);
  if (read (a->again, &b, 1) != 1)
    return 4;
  try_devices (a->tmp, rep);
  return 0;
}

static int
parse6 (const char *line, int r[6])
{
  return sscanf (line, "%d %d %d %d %d %d", &r[0], &r[1], &r[2], &r[3], &r[4], &r[5]) == 6 ? 0 : -1;
}

static int
check_devices (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct child c;
  char tmp[] = "/tmp/berth-cgroups-devXXXXXX", line[128];
  int again[2] = { -1, -1 }, r[6], status, q = -1;
  struct dev_arg a;
  const char *res
      = "{\"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
        " {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"rwm\"},"
        " {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 5, \"access\": \"rwm\"},"
        " {\"allow\": false, \"type\": \"c\", \"major\": 1, \"minor\": 5, \"access\": \"w\"}]}";
  const bool v2 = cgroups_manager_layout (mgr) == CGROUPS_LAYOUT_UNIFIED;

  if (mkdtemp (tmp) == NULL)
    return fail ("mkdtemp: %s", strerror (errno));
  if (pipe2 (again, O_CLOEXEC) < 0)
    {
      fail ("pipe");
      goto out;
    }
  if (make (res, NULL, &cg, &err) < 0)
    {
      fail_err ("create", &err);
      goto out;
    }
  a.tmp = tmp;
  a.again = again[0];
  if (spawn_in (cg, devices_child, &a, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  if (parse6 (line, r) < 0)
    {
      fail ("child said `%s`", line);
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  DIAG ("null rw=%d zero r=%d zero w=%d full r=%d mknod full=%d mknod null=%d", r[0], r[1], r[2],
        r[3], r[4], r[5]);
  if (r[0] != 0 || r[1] != 0 || r[2] != EPERM || r[3] != EPERM || r[4] != EPERM || r[5] != 0)
    {
      fail ("device rules not enforced as written");
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  /* Update the live cgroup: /dev/full allowed, /dev/zero writable. On v2, 20 updates leave
   * exactly one berth program on the cgroup and none behind in the kernel. */
  {
    size_t before = 0, after = 0, attached = 0;
    int rounds = v2 ? 20 : 1;
    if (v2 && ebpf_devices_loaded (&before, &err) < 0)
      {
        fail_err ("count programs", &err);
        kill (c.pid, SIGKILL);
        child_wait (&c, &status);
        goto out;
      }
    for (int i = 0; i < rounds; i++)
      if (update (cg,
                  "{\"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
                  " {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": "
                  "\"rwm\"},"
                  " {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 5, \"access\": "
                  "\"rwm\"},"
                  " {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 7, \"access\": "
                  "\"rm\"}]}",
                  &err)
          < 0)
        {
          fail_err ("update devices", &err);
          kill (c.pid, SIGKILL);
          child_wait (&c, &status);
          goto out;
        }
    if (v2)
      {
        if (ebpf_devices_loaded (&after, &err) < 0
            || ebpf_devices_attached (cgroups_v2_dirfd (cg), &attached, &err) < 0)
          {
            fail_err ("count programs", &err);
            kill (c.pid, SIGKILL);
            child_wait (&c, &status);
            goto out;
          }
        DIAG ("berth device programs: %zu in the kernel before, %zu after %d updates, %zu attached",
              before, after, rounds, attached);
        if (attached != 1 || after != before)
          {
            fail ("device programs leaked or missing");
            kill (c.pid, SIGKILL);
            child_wait (&c, &status);
            goto out;
          }
      }
  }
  if (write (again[1], "x", 1) != 1)
    {
      fail ("write");
      goto out;
    }
  child_read (&c, line, sizeof line);
  child_wait (&c, &status);
  if (parse6 (line, r) < 0)
    {
      fail ("child said `%s`", line);
      goto out;
    }
  DIAG ("after update: null rw=%d zero r=%d zero w=%d full r=%d mknod full=%d mknod null=%d", r[0],
        r[1], r[2], r[3], r[4], r[5]);
  if (r[0] != 0 || r[1] != 0 || r[2] != 0 || r[3] != 0 || r[4] != 0 || r[5] != 0)
    {
      fail ("updated device rules not in force");
      goto out;
    }
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  if (again[0] >= 0)
    close (again[0]);
  if (again[1] >= 0)
    close (again[1]);
  rmdir (tmp);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* Forks up to n children on each byte received, reporting how many it holds in total. */
static int
forker (void *arg, int rep)
{
  int *again = arg, total = 0;
  char b;
  for (;;)
    {
      for (;;)
        {
          pid_t p = fork ();
          if (p < 0)
            break;
          if (p == 0)
            {
              for (;;)
                pause ();
            }
          total++;
        }
      report (rep, "%d", total);
      if (read (again[0], &b, 1) != 1)
        return 0;
    }
}

static int
check_update (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_stats st = { 0 };
  struct child c;
  char line[64];
  int again[2], first = 0, second = 0, status, q = -1;
  bool unified;
  char val[64];

  if (pipe2 (again, O_CLOEXEC) < 0)
    return fail ("pipe");
  if (make ("{\"pids\": {\"limit\": 4}, \"memory\": {\"limit\": 67108864}}", NULL, &cg, &err) < 0)
    {
      fail_err ("create", &err);
      goto out;
    }
  if (spawn_in (cg, forker, again, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  if (berth_parse_int (line, &first) < 0)
    first = -1;
  if (update (cg, "{\"pids\": {\"limit\": 10}, \"memory\": {\"limit\": 134217728}}", &err) < 0)
    {
      fail_err ("update", &err);
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  if (write (again[1], "x", 1) != 1)
    {
      fail ("write");
      goto out;
    }
  child_read (&c, line, sizeof line);
  if (berth_parse_int (line, &second) < 0)
    second = -1;
  DIAG ("children held: %d under pids.max=4, %d after update to 10", first, second);
  if (cgroups_stats_read (cg, &st, &err) < 0)
    {
      fail_err ("stats", &err);
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
      goto out;
    }
  if (read_file (ctrl_dir (cg, "pids", &unified), "pids.max", val, sizeof val) < 0)
    snprintf (val, sizeof val, "?");
  DIAG ("pids.max now %s; stats: pids %" PRIu64 "/%" PRIu64 ", memory limit %" PRIu64, val,
        st.pids_current, st.pids_limit, st.memory_limit);
  if (cgroups_kill (cg, SIGKILL, &err) < 0)
    {
      fail_err ("kill", &err);
      goto out;
    }
  child_wait (&c, &status);
  if (first != 3 || second != 9 || strcmp (val, "10") != 0 || st.pids_limit != 10
      || st.memory_limit != 134217728 || st.pids_current != 10)
    {
      fail ("live update not in force");
      goto out;
    }
  q = 0;
out:
  cgroups_stats_release (&st);
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  reap_all ();
  close (again[0]);
  close (again[1]);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

static int
spin (void *arg, int rep)
{
  volatile uint64_t x = 0;
  uint64_t start = cpu_time_ns ();
  (void)arg;
  /* some CPU time on the clock first, so that "utime does not move" means something */
  while (cpu_time_ns () - start < 50000000ULL)
    x++;
  report (rep, "running");
  while (x != UINT64_MAX)
    x++;
  return 0;
}

static uint64_t
proc_utime (pid_t pid)
{
  char p[64], buf[1024], *s;
  unsigned long long ut = 0, st = 0;
  snprintf (p, sizeof p, "/proc/%d", (int)pid);
  if (read_file (p, "stat", buf, sizeof buf) < 0)
    return 0;
  s = strrchr (buf, ')');
  /* fields after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
   * utime stime (the burner's clock_gettime calls are system time) */
  if (s && sscanf (s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
    return ut + st;
  return 0;
}

static int
check_freeze (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct child c;
  char line[64];
  bool frozen = false;
  int status, q = -1;
  uint64_t t1, t2;

  if (make (NULL, NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, spin, NULL, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  if (cgroups_freeze (cg, true, &err) < 0 || cgroups_frozen (cg, &frozen, &err) < 0)
    {
      fail_err ("freeze", &err);
      goto kill;
    }
  t1 = proc_utime (c.pid);
  usleep (200000);
  t2 = proc_utime (c.pid);
  DIAG ("frozen=%d, cpu time %" PRIu64 " -> %" PRIu64 " ticks while frozen", frozen, t1, t2);
  if (!frozen || t1 != t2)
    {
      fail ("the cgroup did not freeze");
      goto kill;
    }
  if (cgroups_freeze (cg, false, &err) < 0 || cgroups_frozen (cg, &frozen, &err) < 0)
    {
      fail_err ("thaw", &err);
      goto kill;
    }
  if (frozen)
    {
      fail ("still frozen after thaw");
      goto kill;
    }
  q = 0;
kill:
  kill (c.pid, SIGKILL);
  child_wait (&c, &status);
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

static int
family (void *arg, int rep)
{
  int n = (int)(intptr_t)arg;
  for (int i = 0; i < n; i++)
    if (fork () == 0)
      for (;;)
        pause ();
  report (rep, "ready");
  for (;;)
    pause ();
  return 0;
}

static int
check_kill (int sig)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct child c;
  char line[64];
  pid_t *pids = NULL;
  size_t n = 0, killed = 0;
  int status, q = -1;

  if (make (NULL, NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, family, (void *)(intptr_t)5, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  if (cgroups_pids (cg, &pids, &n, &err) < 0)
    {
      fail_err ("pids", &err);
      goto out;
    }
  if (n != 6)
    {
      fail ("cgroups_pids found %zu processes, expected 6", n);
      goto out;
    }
  if (cgroups_kill (cg, sig, &err) < 0)
    {
      fail_err ("kill", &err);
      goto out;
    }
  /* We are the subreaper: every one of them comes back to us, killed by sig. */
  for (;;)
    {
      pid_t p = waitpid (-1, &status, 0);
      if (p < 0)
        break;
      if (p == c.pid)
        {
          close (c.go);
          close (c.report);
        }
      for (size_t k = 0; k < n; k++)
        if (pids[k] == p && WIFSIGNALED (status) && WTERMSIG (status) == sig)
          killed++;
    }
  DIAG ("signal %d: %zu of %zu processes killed", sig, killed, n);
  if (killed != n)
    {
      fail ("not every process was killed");
      goto out;
    }
  q = 0;
out:
  free (pids);
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  reap_all ();
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

static int
check_kill_sigkill (void)
{
  return check_kill (SIGKILL);
}

static int
check_kill_sigterm (void)
{
  return check_kill (SIGTERM);
}

/* destroy copes with a running process and sub-cgroups the container made. */
static int
check_destroy_busy (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct child c;
  char line[64], sub[4200];
  struct dirs_cb after = { 0 };
  struct find f = { 0 };
  int status, q = -1;

  if (make (NULL, NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, family, (void *)(intptr_t)2, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  cgroups_foreach_hierarchy (mgr, cg, find_cb, &f, &err);
  snprintf (sub, sizeof sub, "%s/inner", f.dir);
  if (mkdir (sub, 0755) < 0)
    {
      fail ("mkdir %s: %s", sub, strerror (errno));
      goto out;
    }
  if (cgroups_destroy (cg, &err) < 0)
    {
      fail_err ("destroy", &err);
      goto out;
    }
  child_wait (&c, &status);
  cgroups_foreach_hierarchy (mgr, cg, count_dirs, &after, &err);
  if (after.missing != after.n || !WIFSIGNALED (status))
    {
      fail ("destroy left %d directories (child status %#x)", after.n - after.missing, status);
      goto out;
    }
  q = 0;
out:
  reap_all ();
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

static int
check_stats (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_stats st = { 0 };
  struct child c;
  char line[64];
  int status, q = -1;
  bool c_done = false;

  if (make ("{\"memory\": {\"limit\": 67108864}, \"pids\": {\"limit\": 100}}", NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, family, (void *)(intptr_t)2, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  cgroups_stats_keep_open (cg, true);
  if (cgroups_stats_read (cg, &st, &err) < 0)
    {
      fail_err ("stats", &err);
      goto kill;
    }
  DIAG ("have %#x: cpu %" PRIu64 " ns, memory %" PRIu64 " (peak %" PRIu64 ", limit %" PRIu64
        ", anon %" PRIu64 ", file %" PRIu64 "), pids %" PRIu64 "/%" PRIu64 ", %zu io devices",
        st.have, st.cpu_usage_ns, st.memory_current, st.memory_peak, st.memory_limit,
        st.memory_anon, st.memory_file, st.pids_current, st.pids_limit, st.n_io);
  if (!(st.have & CGROUPS_STATS_MEMORY) || !(st.have & CGROUPS_STATS_PIDS)
      || !(st.have & CGROUPS_STATS_CPU) || st.pids_current != 3 || st.pids_limit != 100
      || st.memory_limit != 67108864 || st.memory_current == 0 || st.cpu_usage_ns == 0)
    {
      fail ("stats do not describe the cgroup");
      goto kill;
    }
  /* with the files kept open, a second read sees a change: one process fewer (the direct
   * child: a killed grandchild would stay a zombie of it, and zombies count in pids) */
  {
    kill (c.pid, SIGKILL);
    child_wait (&c, &status);
    c_done = true;
    for (int tries = 0; tries < 1000; tries++)
      {
        if (cgroups_stats_read (cg, &st, &err) < 0)
          {
            fail_err ("stats", &err);
            goto kill;
          }
        if (st.pids_current == 2)
          break;
        usleep (1000);
      }
    if (st.pids_current != 2)
      {
        fail ("second read with kept files: pids %" PRIu64 ", expected 2", st.pids_current);
        goto kill;
      }
  }
  q = 0;
kill:
  if (!c_done)
    {
      kill (c.pid, SIGKILL);
      child_wait (&c, &status);
    }
out:
  cgroups_stats_release (&st);
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  reap_all ();
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* Writes 1 MiB with O_DIRECT (straight to the block device) into the file arg. */
static int
direct_writer (void *arg, int rep)
{
  const char *path = arg;
  void *buf = NULL;
  int fd;
  (void)rep;
  if (posix_memalign (&buf, 4096, 1 << 20) != 0)
    return 3;
  memset (buf, 'x', 1 << 20);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0)
    return 4;
  if (write (fd, buf, 1 << 20) != 1 << 20 || fsync (fd) < 0)
    return 5;
  close (fd);
  return 0;
}

static int
check_io_stats (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_stats st = { 0 };
  struct child c;
  char path[] = "/var/tmp/berth-cgroups-io-XXXXXX";
  struct stat sb;
  int fd, status, q = -1;

  fd = mkstemp (path);
  if (fd < 0 && errno == ENOENT)
    {
      snprintf (skip_msg, sizeof skip_msg, "no /var/tmp (a VM without a disk)");
      return SKIP;
    }
  if (fd < 0)
    return fail ("mkstemp: %s", strerror (errno));
  close (fd);
  if (stat (path, &sb) < 0 || major (sb.st_dev) == 0)
    {
      unlink (path);
      snprintf (skip_msg, sizeof skip_msg, "/var/tmp is not on a block device");
      return SKIP;
    }
  /* A (never reached) write limit on the device: v1 kernels since about 5.x count blkio
   * throttle stats only for devices with a throttle rule (docs/cgroups.md), and it also
   * checks blockIO.throttleWriteBpsDevice. */
  {
    char res[256];
    snprintf (res, sizeof res,
              "{\"blockIO\": {\"throttleWriteBpsDevice\": [{\"major\": %u, \"minor\": %u,"
              " \"rate\": 1099511627776}]}}",
              major (sb.st_dev), minor (sb.st_dev));
    if (make (res, NULL, &cg, &err) < 0)
      {
        unlink (path);
        return fail_err ("create", &err);
      }
  }
  if (spawn_in (cg, direct_writer, path, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_wait (&c, &status);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      if (WIFEXITED (status) && WEXITSTATUS (status) == 4)
        {
          snprintf (skip_msg, sizeof skip_msg, "O_DIRECT refused on /var/tmp");
          q = SKIP;
        }
      else
        fail ("writer failed (status %#x)", status);
      goto out;
    }
  if (cgroups_stats_read (cg, &st, &err) < 0)
    {
      fail_err ("stats", &err);
      goto out;
    }
  for (size_t i = 0; i < st.n_io; i++)
    {
      DIAG ("io %u:%u read %" PRIu64 " B / %" PRIu64 " ops, write %" PRIu64 " B / %" PRIu64 " ops",
            st.io[i].major, st.io[i].minor, st.io[i].read_bytes, st.io[i].read_ios,
            st.io[i].write_bytes, st.io[i].write_ios);
      if (st.io[i].major == major (sb.st_dev) && st.io[i].minor == minor (sb.st_dev)
          && st.io[i].write_bytes >= (1u << 20) && st.io[i].write_ios > 0)
        q = 0;
    }
  if (!(st.have & CGROUPS_STATS_IO))
    {
      snprintf (skip_msg, sizeof skip_msg, "no io/blkio controller");
      q = SKIP;
    }
  else if (q != 0)
    fail ("no io stats for %u:%u", major (sb.st_dev), minor (sb.st_dev));
out:
  unlink (path);
  cgroups_stats_release (&st);
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* In the child, which sits alone in a cgroup of its own (berthd.service with Delegate=yes):
 * creating below it with a limit fails (no internal processes), cgroups_delegate_self moves
 * it into a leaf, and then it works with the returned root. */
static int
delegate_child (void *arg, int rep)
{
  struct cgroups_manager *m = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct cgroups_resources *r = cgroups_resources_new ();
  berth_err err = NULL;
  char *root = NULL;
  (void)arg;

  cgroups_resources_set_memory_limit (r, 64 << 20);
  if (cgroups_manager_open (NULL, &m, &err) < 0)
    {
      report (rep, "open: %s", berth_err_msg (&err));
      return 1;
    }
  if (cgroups_create (m, NULL, "inner", r, &cg, &err) == 0)
    {
      report (rep, "create below a cgroup with processes succeeded");
      return 1;
    }
  if (strstr (berth_err_msg (&err), "Delegate=yes") == NULL)
    {
      report (rep, "unexpected error: %s", berth_err_msg (&err));
      return 1;
    }
  berth_err_free (&err);
  cgroups_manager_free (m);
  m = NULL;
  if (cgroups_delegate_self ("supervisor", &root, &err) < 0)
    {
      report (rep, "delegate: %s", berth_err_msg (&err));
      return 1;
    }
  if (cgroups_manager_open (root, &m, &err) < 0
      || cgroups_create (m, NULL, "inner", r, &cg, &err) < 0)
    {
      report (rep, "after delegate (root %s): %s", root, berth_err_msg (&err));
      return 1;
    }
  report (rep, "ok %s %s", root, cgroups_path (cg));
  cgroups_destroy (cg, &err);
  cgroups_free (cg);
  cgroups_manager_free (m);
  cgroups_resources_free (r);
  free (root);
  return 0;
}

static int
check_delegate (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct child c;
  char line[512];
  int status, q = -1;

  if (cgroups_manager_layout (mgr) != CGROUPS_LAYOUT_UNIFIED)
    {
      snprintf (skip_msg, sizeof skip_msg, "the no-internal-processes rule is a cgroup v2 matter");
      return SKIP;
    }
  if (make (NULL, "service", &cg, &err) < 0)
    return fail_err ("create", &err);
  if (spawn_in (cg, delegate_child, NULL, &c, &err) < 0)
    {
      fail_err ("spawn", &err);
      goto out;
    }
  child_read (&c, line, sizeof line);
  child_wait (&c, &status);
  DIAG ("delegate: %s", line);
  if (strncmp (line, "ok ", 3) != 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      fail ("%s", line);
      goto out;
    }
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* clone3 (CLONE_INTO_CGROUP) with cgroups_v2_dirfd: the child starts in the cgroup, under its
 * limits from its first instruction (what the runtime does on pure v2 hosts). */
static int
check_clone_into_cgroup (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct clone_args args;
  char want[512];
  int pipefd[2] = { -1, -1 }, status, q = -1;
  pid_t pid;

  if (cgroups_manager_layout (mgr) != CGROUPS_LAYOUT_UNIFIED)
    {
      snprintf (skip_msg, sizeof skip_msg, "cgroups_v2_dirfd is -1 unless the host is pure v2");
      return SKIP;
    }
  if (make ("{\"pids\": {\"limit\": 5}}", NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    {
      fail ("pipe");
      goto out;
    }
  memset (&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroups_v2_dirfd (cg);
  pid = (pid_t)syscall (SYS_clone3, &args, sizeof args);
  if (pid < 0)
    {
      fail ("clone3: %s", strerror (errno));
      goto out;
    }
  if (pid == 0)
    {
      char buf[512];
      int fd = open ("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
      ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
      if (n > 0 && write (pipefd[1], buf, (size_t)n) < 0)
        _exit (2);
      _exit (n > 0 ? 0 : 1);
    }
  close (pipefd[1]);
  pipefd[1] = -1;
  {
    char got[512];
    ssize_t n = read (pipefd[0], got, sizeof got - 1);
    waitpid (pid, &status, 0);
    got[n > 0 ? n : 0] = '\0';
    got[strcspn (got, "\n")] = '\0';
    snprintf (want, sizeof want, "0::%s", cgroups_path (cg));
    DIAG ("child started in %s", got);
    if (strcmp (got, want) != 0)
      {
        fail ("child's cgroup is `%s`, expected `%s`", got, want);
        goto out;
      }
  }
  q = 0;
out:
  if (pipefd[0] >= 0)
    close (pipefd[0]);
  if (pipefd[1] >= 0)
    close (pipefd[1]);
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* Fields this host's cgroup version cannot honour fail, naming the field, and leave nothing. */
static int
check_refusals (void)
{
  struct
  {
    const char *json, *field;
    bool on_v1, on_v2;
  } cases[] = {
    { "{\"memory\": {\"kernel\": 67108864}}", "linux.resources.memory.kernel", true, true },
    { "{\"memory\": {\"swappiness\": 10}}", "linux.resources.memory.swappiness", false, true },
    { "{\"memory\": {\"disableOOMKiller\": true}}", "linux.resources.memory.disableOOMKiller",
      false, true },
    { "{\"cpu\": {\"realtimeRuntime\": 1000}}", "linux.resources.cpu.realtimeRuntime", false,
      true },
    { "{\"network\": {\"classID\": 5}}", "linux.resources.network", true, true },
    { "{\"unified\": {\"memory.max\": \"1G\"}}", "linux.resources.unified", true, false },
    { "{\"blockIO\": {\"leafWeight\": 500}}", "linux.resources.blockIO.leafWeight", true, true },
    { "{\"hugepageLimits\": [{\"pageSize\": \"3MB\", \"limit\": 0}]}",
      "linux.resources.hugepageLimits", false, true },
  };
  bool v2 = cgroups_manager_layout (mgr) == CGROUPS_LAYOUT_UNIFIED;
  berth_err err = NULL;

  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      struct cgroups_cgroup *cg = NULL;
      struct find f = { 0 };
      size_t left = 0;
      if (!(v2 ? cases[i].on_v2 : cases[i].on_v1))
        continue;
      if (make (cases[i].json, "refused", &cg, &err) == 0)
        {
          cgroups_destroy (cg, &err);
          cgroups_free (cg);
          return fail ("%s was accepted", cases[i].json);
        }
      DIAG ("refused: %s", berth_err_msg (&err));
      if (strstr (berth_err_msg (&err), cases[i].field) == NULL)
        return fail ("error for %s does not name %s: %s", cases[i].json, cases[i].field,
                     berth_err_msg (&err));
      berth_err_free (&err);
      cgroups_foreach_hierarchy (mgr, NULL, find_cb, &f, &err);
      {
        char p[4200];
        snprintf (p, sizeof p, "%s/refused", f.dir);
        left = dir_exists (p);
      }
      if (left)
        return fail ("%s left its cgroup behind", cases[i].json);
    }
  return 0;
}

/* What each field becomes, read back from the files (the table in docs/cgroups.md). */
static int
check_mapping (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  const bool v2 = cgroups_manager_layout (mgr) == CGROUPS_LAYOUT_UNIFIED;
  struct
  {
    const char *controller, *file, *want;
  } v1[] = {
    { "cpu", "cpu.shares", "512" },
    { "cpu", "cpu.cfs_quota_us", "50000" },
    { "cpu", "cpu.cfs_period_us", "100000" },
    { "cpu", "cpu.cfs_burst_us", "1000" },
    { "cpuset", "cpuset.cpus", "0" },
    { "cpuset", "cpuset.mems", "0" },
    { "memory", "memory.limit_in_bytes", "33554432" },
    { "memory", "memory.memsw.limit_in_bytes", "67108864" },
    { "memory", "memory.soft_limit_in_bytes", "16777216" },
    { "memory", "memory.swappiness", "10" },
    { "pids", "pids.max", "42" },
  },
    v2f[] = {
      { "cpu", "cpu.weight", "59" },
      { "cpu", "cpu.max", "50000 100000" },
      { "cpu", "cpu.max.burst", "1000" },
      { "cpuset", "cpuset.cpus", "0" },
      { "cpuset", "cpuset.mems", "0" },
      { "memory", "memory.max", "33554432" },
      { "memory", "memory.swap.max", "33554432" },
      { "memory", "memory.low", "16777216" },
      { "memory", "memory.high", "50331648" },
      { "pids", "pids.max", "42" },
    };
  const char *res_v1
      = "{\"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 100000,"
        " \"burst\": 1000, \"cpus\": \"0\", \"mems\": \"0\"},"
        " \"memory\": {\"limit\": 33554432, \"swap\": 67108864,"
        " \"reservation\": 16777216, \"swappiness\": 10}, \"pids\": {\"limit\": 42}}";
  const char *res_v2 = "{\"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 100000,"
                       " \"burst\": 1000, \"cpus\": \"0\", \"mems\": \"0\"},"
                       " \"memory\": {\"limit\": 33554432, \"swap\": 67108864,"
                       " \"reservation\": 16777216}, \"pids\": {\"limit\": 42},"
                       " \"unified\": {\"memory.high\": \"50331648\"}}";
  int q = -1;

  if (make (v2 ? res_v2 : res_v1, NULL, &cg, &err) < 0)
    return fail_err ("create", &err);
  for (size_t i = 0; i < (v2 ? ARRAY_SIZE (v2f) : ARRAY_SIZE (v1)); i++)
    {
      const char *c = v2 ? v2f[i].controller : v1[i].controller;
      const char *file = v2 ? v2f[i].file : v1[i].file, *want = v2 ? v2f[i].want : v1[i].want;
      const char *dir = ctrl_dir (cg, c, NULL);
      char got[256];
      if (read_file (dir, file, got, sizeof got) < 0)
        {
          fail ("read %s/%s: %s", dir, file, strerror (errno));
          goto out;
        }
      if (strcmp (got, want) != 0)
        {
          fail ("%s is `%s`, expected `%s`", file, got, want);
          goto out;
        }
    }
  /* half of cpu.max given on update keeps the other half */
  if (update (cg, "{\"cpu\": {\"quota\": 20000}}", &err) < 0)
    {
      fail_err ("update", &err);
      goto out;
    }
  {
    char got[64];
    read_file (ctrl_dir (cg, "cpu", NULL), v2 ? "cpu.max" : "cpu.cfs_period_us", got, sizeof got);
    if (strcmp (got, v2 ? "20000 100000" : "100000") != 0)
      {
        fail ("after a quota-only update: `%s`", got);
        goto out;
      }
  }
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* hugepageLimits; only where hugetlb is in berth's own subtree (the v2 VM): on this hybrid
 * host it sits on the host's cgroup2 root, which tests leave alone. */
static int
check_hugetlb (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  char got[64];
  bool unified = false;
  int q = -1;

  if (cgroups_manager_layout (mgr) == CGROUPS_LAYOUT_HYBRID)
    {
      /* hugetlb on the host's cgroup2 root: berth must refuse rather than enable it there */
      bool on_v2 = false;
      const char *root = ctrl_dir (NULL, "hugetlb", &on_v2);
      char before[256] = "", after[256] = "";
      if (!on_v2
          || read_file ("/sys/fs/cgroup/unified", "cgroup.subtree_control", before, sizeof before)
                 < 0
          || strstr (before, "hugetlb"))
        {
          snprintf (skip_msg, sizeof skip_msg,
                    "hugetlb is not on this host's cgroup2, or the host enabled it there");
          return SKIP;
        }
      (void)root;
      if (make ("{\"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}]}", NULL, &cg,
                &err)
          == 0)
        {
          cgroups_destroy (cg, &err);
          cgroups_free (cg);
          return fail ("hugepageLimits accepted on a hybrid host");
        }
      DIAG ("refused: %s", berth_err_msg (&err));
      read_file ("/sys/fs/cgroup/unified", "cgroup.subtree_control", after, sizeof after);
      if (strstr (berth_err_msg (&err), "linux.resources.hugepageLimits") == NULL
          || strcmp (before, after) != 0)
        q = fail ("error `%s`, root subtree_control `%s` -> `%s`", berth_err_msg (&err), before,
                  after);
      else
        q = 0;
      berth_err_free (&err);
      return q;
    }
  if (cgroups_manager_layout (mgr) != CGROUPS_LAYOUT_UNIFIED)
    {
      snprintf (skip_msg, sizeof skip_msg, "no cgroup2 hugetlb on a legacy host");
      return SKIP;
    }
  if (!cgroups_manager_has_controller (mgr, "hugetlb"))
    {
      snprintf (skip_msg, sizeof skip_msg, "no hugetlb controller");
      return SKIP;
    }
  if (make ("{\"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}]}", NULL, &cg, &err)
      < 0)
    return fail_err ("create", &err);
  if (read_file (ctrl_dir (cg, "hugetlb", &unified), "hugetlb.2MB.max", got, sizeof got) < 0
      || strcmp (got, "4194304") != 0)
    {
      fail ("hugetlb.2MB.max is `%s`", got);
      goto out;
    }
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0 && q == 0)
    q = fail_err ("destroy", &err);
  berth_err_free (&err);
  cgroups_free (cg);
  return q;
}

/* ------------------------------------------------------------------ cleanup */

static void
kill_and_remove (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  char p[4200], procs[4096];
  if (d == NULL)
    return;
  while ((de = readdir (d)))
    if (de->d_type == DT_DIR && strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      {
        snprintf (p, sizeof p, "%s/%s", dir, de->d_name);
        kill_and_remove (p);
      }
  closedir (d);
  if (read_file_all (dir, "cgroup.procs", procs, sizeof procs) == 0)
    for (char *save = NULL, *l = strtok_r (procs, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
      {
        int pid;
        if (berth_parse_int (l, &pid) == 0 && pid > 0)
          kill ((pid_t)pid, SIGKILL);
      }
  for (int i = 0; i < 100 && rmdir (dir) < 0 && errno == EBUSY; i++)
    usleep (10000);
}

static int
cleanup_cb (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  (void)userdata;
  (void)err;
  kill_and_remove (h->dir);
  return 0;
}

static void
cleanup_root (void)
{
  berth_err err = NULL;
  if (mgr == NULL)
    return;
  cgroups_foreach_hierarchy (mgr, NULL, cleanup_cb, NULL, &err);
  reap_all ();
  if (cgroups_manager_remove_root (mgr, &err) < 0)
    DIAG ("remove root: %s", berth_err_msg (&err));
  berth_err_free (&err);
}

/* A v1 cpuset directory that exists but was never seeded (its creator was killed between
 * mkdir and writing cpuset.cpus/mems): creating below it seeds it, so that a process can
 * enter the new cgroup (an empty cpuset takes none: ENOSPC). */
static int
check_cpuset_unseeded (void)
{
  berth_err err = NULL;
  struct cgroups_cgroup *cg = NULL;
  struct find f = { .controller = "cpuset" };
  char parent[4200], buf[256];
  const char *leaf;
  int q = -1;

  cgroups_foreach_hierarchy (mgr, NULL, find_cb, &f, &err);
  berth_err_free (&err);
  if (f.dir[0] == '\0' || f.unified)
    {
      snprintf (skip_msg, sizeof skip_msg, "no v1 cpuset hierarchy");
      return SKIP;
    }
  snprintf (parent, sizeof parent, "%s/unseeded", f.dir);
  if (mkdir (parent, 0755) < 0)
    return fail ("mkdir %s: %s", parent, strerror (errno));
  if (read_file (parent, "cpuset.cpus", buf, sizeof buf) < 0 || buf[0] != '\0')
    {
      fail ("a new v1 cpuset is not empty here (%s): the check cannot make its case", buf);
      goto out;
    }
  if (make (NULL, "unseeded/leaf", &cg, &err) < 0)
    {
      fail_err ("create below an unseeded cpuset", &err);
      goto out;
    }
  leaf = ctrl_dir (cg, "cpuset", NULL);
  for (size_t i = 0; i < 2; i++)
    {
      const char *file = i ? "cpuset.mems" : "cpuset.cpus";
      if (read_file (parent, file, buf, sizeof buf) < 0 || buf[0] == '\0')
        {
          fail ("the existing parent's %s is still empty", file);
          goto out;
        }
      if (read_file (leaf, file, buf, sizeof buf) < 0 || buf[0] == '\0')
        {
          fail ("the new cgroup's %s is empty", file);
          goto out;
        }
    }
  q = 0;
out:
  if (cg && cgroups_destroy (cg, &err) < 0)
    DIAG ("destroy: %s", berth_err_msg (&err));
  berth_err_free (&err);
  cgroups_free (cg);
  if (rmdir (parent) < 0 && errno != ENOENT)
    DIAG ("rmdir %s: %s", parent, strerror (errno));
  return q;
}

/* ------------------------------------------------------------------ main */

struct check
{
  const char *name;
  int (*fn) (void);
};

static const char *expect_layout;
static bool legacy;

static int
check_layout_expected (void)
{
  return check_layout (expect_layout);
}

int
main (int argc, char **argv)
{
  static const struct check checks[] = {
    { "layout", check_layout_expected },
    { "create-destroy", check_create_destroy },
    { "memory-oom", check_memory_oom },
    { "pids-limit", check_pids_limit },
    { "cpu-throttle", check_cpu_throttle },
    { "devices", check_devices },
    { "update", check_update },
    { "freeze", check_freeze },
    { "kill-sigkill", check_kill_sigkill },
    { "kill-sigterm", check_kill_sigterm },
    { "destroy-busy", check_destroy_busy },
    { "stats", check_stats },
    { "io-stats", check_io_stats },
    { "delegate", check_delegate },
    { "clone-into-cgroup", check_clone_into_cgroup },
    { "refusals", check_refusals },
    { "mapping", check_mapping },
    { "hugetlb", check_hugetlb },
    { "cpuset-unseeded", check_cpuset_unseeded },
  };
  berth_err err = NULL;
  char **only = NULL;
  size_t n_run = 0;

  setvbuf (stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--expect") == 0 && i + 1 < argc)
      expect_layout = argv[++i];
    else if (strcmp (argv[i], "--legacy") == 0)
      legacy = true;
    else
      strv_append (&only, argv[i]);
  if (geteuid () != 0)
    {
      printf ("1..0 # SKIP needs root (cgroups)\n");
      return SKIP;
    }
  if (legacy)
    {
      /* A legacy host, made from this one without touching it: in a private mount namespace
       * the cgroup2 mount is covered, so berth sees v1 only (freezer, freeze-kill-thaw, v1
       * events paths). The host's hierarchies are neither unmounted nor remounted. */
      struct statfs sf;
      if (statfs ("/sys/fs/cgroup/unified", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
        {
          printf ("1..0 # SKIP no cgroup2 at /sys/fs/cgroup/unified to hide (not a hybrid host)\n");
          return SKIP;
        }
      if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0
          || mount ("berth-test-hide", "/sys/fs/cgroup/unified", "tmpfs", 0, "size=4k") < 0)
        {
          printf ("1..0 # SKIP cannot make a private mount namespace: %s\n", strerror (errno));
          return SKIP;
        }
      expect_layout = "legacy";
    }
  snprintf (root_name, sizeof root_name, "berth-test-cgroups-%d", (int)getpid ());
  if (cgroups_manager_open (root_name, &mgr, &err) < 0)
    {
      printf ("1..0 # SKIP cannot open cgroups: %s\n", berth_err_msg (&err));
      return SKIP;
    }
  /* Orphaned grandchildren come back to us to be reaped and counted. */
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  for (size_t i = 0; i < ARRAY_SIZE (checks); i++)
    if (only == NULL || strv_contains (only, checks[i].name))
      n_run++;
  printf ("1..%zu\n", n_run);
  for (size_t i = 0; i < ARRAY_SIZE (checks); i++)
    {
      int r;
      if (only && !strv_contains (only, checks[i].name))
        continue;
      fail_msg[0] = '\0';
      skip_msg[0] = '\0';
      r = checks[i].fn ();
      test_no++;
      if (r == 0)
        printf ("ok %d - %s\n", test_no, checks[i].name);
      else if (r == SKIP)
        printf ("ok %d - %s # SKIP %s\n", test_no, checks[i].name, skip_msg);
      else
        {
          printf ("not ok %d - %s\n# %s\n", test_no, checks[i].name, fail_msg);
          failures++;
        }
    }
  cleanup_root ();
  strv_free (only);
  cgroups_manager_free (mgr);
  return failures ? 1 : 0;
}
