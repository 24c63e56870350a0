/* Benchmarks of the cgroups module (not part of the test suite; bench/cgroups/run.sh runs it
 * beside the peer and writes the numbers docs/cgroups.md quotes).
 *   bench-cgroups stats N ROUNDS      N cgroups, one sleeping process each; per round, read
 *                                     the stats of all N with berth, then with a naive
 *                                     fopen/fscanf reader of the same files; medians, ratio
 *   bench-cgroups lifecycle N ROUNDS  create (memory, pids, cpu limits) + destroy, N times
 *                                     per round; and the same mkdir/write/rmdir done by hand
 *                                     with no checks (the floor)
 * Everything lives under berth-bench-cgroups-<pid> below our own cgroup and is removed. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroups/cgroups.h"

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, size_t n)
{
  qsort (v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
die (const char *what, berth_err *err)
{
  fprintf (stderr, "bench-cgroups: %s: %s\n", what, berth_err_msg (err));
  exit (1);
}

/* ------------------------------------------------------------------ naive reader */

/* A simple reader that knows which files each controller has, and reads them the obvious
 * way: fopen, fscanf, fclose. */
struct naive_dir
{
  char *dir;
  char *controllers;
  bool unified;
};

struct dirlist
{
  struct naive_dir *d; /* every hierarchy directory of one cgroup */
  size_t n;
};

static int
collect_dir (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  struct dirlist *d = userdata;
  (void)err;
  d->d = xrealloc (d->d, (d->n + 1) * sizeof *d->d);
  d->d[d->n].dir = xstrdup (h->dir);
  d->d[d->n].controllers = xasprintf (",%s,", h->controllers);
  for (char *c = d->d[d->n].controllers; *c; c++)
    if (*c == ' ')
      *c = ',';
  d->d[d->n].unified = h->unified;
  d->n++;
  return 0;
}

static unsigned long long naive_sink;

static void
naive_one_value (const char *dir, const char *file)
{
  char p[4200];
  unsigned long long v;
  FILE *f;
  snprintf (p, sizeof p, "%s/%s", dir, file);
  f = fopen (p, "re");
  if (f == NULL)
    return;
  if (fscanf (f, "%llu", &v) == 1)
    naive_sink += v;
  fclose (f);
}

static void
naive_kv (const char *dir, const char *file)
{
  char p[4200], key[256];
  unsigned long long v;
  FILE *f;
  snprintf (p, sizeof p, "%s/%s", dir, file);
  f = fopen (p, "re");
  if (f == NULL)
    return;
  while (fscanf (f, "%255s %llu", key, &v) == 2)
    naive_sink += v;
  fclose (f);
}

static bool
has (const struct naive_dir *d, const char *c)
{
  char w[64];
  snprintf (w, sizeof w, ",%s,", c);
  return strstr (d->controllers, w) != NULL;
}

static void
naive_read (const struct dirlist *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      const struct naive_dir *d = &l->d[i];
      const char *dir = d->dir;
      if (d->unified)
        {
          naive_kv (dir, "cpu.stat");
          if (has (d, "memory"))
            {
              naive_one_value (dir, "memory.current");
              naive_one_value (dir, "memory.max");
              naive_one_value (dir, "memory.peak");
              naive_kv (dir, "memory.stat");
              naive_one_value (dir, "memory.swap.current");
              naive_one_value (dir, "memory.swap.max");
            }
          if (has (d, "pids"))
            {
              naive_one_value (dir, "pids.current");
              naive_one_value (dir, "pids.max");
            }
          if (has (d, "io"))
            naive_kv (dir, "io.stat");
          continue;
        }
      if (has (d, "cpuacct"))
        {
          naive_one_value (dir, "cpuacct.usage");
          naive_one_value (dir, "cpuacct.usage_user");
          naive_one_value (dir, "cpuacct.usage_sys");
        }
      if (has (d, "cpu"))
        naive_kv (dir, "cpu.stat");
      if (has (d, "memory"))
        {
          naive_one_value (dir, "memory.usage_in_bytes");
          naive_one_value (dir, "memory.limit_in_bytes");
          naive_one_value (dir, "memory.max_usage_in_bytes");
          naive_kv (dir, "memory.stat");
          naive_one_value (dir, "memory.memsw.usage_in_bytes");
          naive_one_value (dir, "memory.memsw.limit_in_bytes");
        }
      if (has (d, "pids"))
        {
          naive_one_value (dir, "pids.current");
          naive_one_value (dir, "pids.max");
        }
      if (has (d, "blkio"))
        {
          naive_kv (dir, "blkio.throttle.io_service_bytes_recursive");
          naive_kv (dir, "blkio.throttle.io_serviced_recursive");
        }
    }
}

/* ------------------------------------------------------------------ stats */

static int
bench_stats (struct cgroups_manager *m, size_t n, int rounds)
{
  struct cgroups_cgroup **cg = xzalloc (n * sizeof *cg), **kept = xzalloc (n * sizeof *kept);
  struct dirlist *dl = xzalloc (n * sizeof *dl);
  pid_t *kids = xzalloc (n * sizeof *kids);
  struct cgroups_resources *r = cgroups_resources_new ();
  struct cgroups_stats st = { 0 };
  double *tb = xzalloc ((size_t)rounds * sizeof *tb), *tn = xzalloc ((size_t)rounds * sizeof *tn);
  double *tk = xzalloc ((size_t)rounds * sizeof *tk);
  berth_err err = NULL;
  uint64_t sum = 0;

  cgroups_resources_set_memory_limit (r, 256 << 20);
  cgroups_resources_set_pids_limit (r, 64);
  for (size_t i = 0; i < n; i++)
    {
      char id[32];
      snprintf (id, sizeof id, "s%zu", i);
      if (cgroups_create (m, NULL, id, r, &cg[i], &err) < 0)
        die ("create", &err);
      kids[i] = fork ();
      if (kids[i] == 0)
        {
          pause ();
          _exit (0);
        }
      if (cgroups_enter (cg[i], kids[i], &err) < 0)
        die ("enter", &err);
      if (cgroups_foreach_hierarchy (m, cg[i], collect_dir, &dl[i], &err) < 0)
        die ("hierarchies", &err);
      /* a second handle on the same cgroup, the one that keeps its files open */
      if (cgroups_open (m, cgroups_path (cg[i]), &kept[i], &err) < 0)
        die ("open", &err);
      cgroups_stats_keep_open (kept[i], true);
    }
  /* Rounds interleave: berth (files opened per read), berth with the files kept open (the
   * first round opens them), and the naive reader. */
  for (int k = 0; k < rounds; k++)
    {
      double t0 = now_ms (), t1, t2, t3;
      for (size_t i = 0; i < n; i++)
        {
          if (cgroups_stats_read (cg[i], &st, &err) < 0)
            die ("stats", &err);
          sum += st.memory_current + st.pids_current;
        }
      t1 = now_ms ();
      for (size_t i = 0; i < n; i++)
        {
          if (cgroups_stats_read (kept[i], &st, &err) < 0)
            die ("stats", &err);
          sum += st.memory_current + st.pids_current;
        }
      t2 = now_ms ();
      for (size_t i = 0; i < n; i++)
        naive_read (&dl[i]);
      t3 = now_ms ();
      tb[k] = t1 - t0;
      tk[k] = t2 - t1;
      tn[k] = t3 - t2;
    }
  {
    double mb = median (tb, (size_t)rounds), mn = median (tn, (size_t)rounds);
    double mk = median (tk + 1, (size_t)rounds - 1);
    printf ("stats of %zu cgroups, one process each (%d rounds, medians): berth %.2f ms (%.1f "
            "us/cgroup); berth keeping files open %.2f ms (%.1f us/cgroup, first round not "
            "counted); naive fopen/fscanf %.2f ms (%.1f us/cgroup); naive/berth %.2fx, "
            "naive/berth-kept %.2fx\n",
            n, rounds, mb, mb * 1000 / (double)n, mk, mk * 1000 / (double)n, mn,
            mn * 1000 / (double)n, mn / mb, mn / mk);
  }
  if (sum == 0)
    fprintf (stderr, "bench-cgroups: stats read nothing\n");
  for (size_t i = 0; i < n; i++)
    {
      kill (kids[i], SIGKILL);
      waitpid (kids[i], NULL, 0);
      if (cgroups_destroy (cg[i], &err) < 0)
        die ("destroy", &err);
      cgroups_free (cg[i]);
      cgroups_free (kept[i]);
      for (size_t j = 0; j < dl[i].n; j++)
        {
          free (dl[i].d[j].dir);
          free (dl[i].d[j].controllers);
        }
      free (dl[i].d);
    }
  cgroups_stats_release (&st);
  cgroups_resources_free (r);
  free (cg);
  free (kept);
  free (dl);
  free (kids);
  free (tb);
  free (tn);
  free (tk);
  return 0;
}

/* ------------------------------------------------------------------ lifecycle */

struct floor_ctx
{
  const char *name;
};

static int
floor_make (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  struct floor_ctx *c = userdata;
  char p[4200], f[4300];
  int fd;
  (void)err;
  snprintf (p, sizeof p, "%s/%s", h->dir, c->name);
  if (mkdir (p, 0755) < 0)
    return -errno;
#define PUT(file, val)                                                                             \
  do                                                                                               \
    {                                                                                              \
      snprintf (f, sizeof f, "%s/%s", p, file);                                                    \
      fd = open (f, O_WRONLY | O_CLOEXEC);                                                         \
      if (fd >= 0)                                                                                 \
        {                                                                                          \
          if (write (fd, val, strlen (val)) < 0)                                                   \
            {                                                                                      \
            }                                                                                      \
          close (fd);                                                                              \
        }                                                                                          \
    }                                                                                              \
  while (0)
  if (strstr (h->controllers, "memory"))
    PUT (h->unified ? "memory.max" : "memory.limit_in_bytes", "268435456");
  if (strstr (h->controllers, "pids"))
    PUT ("pids.max", "64");
  if (!h->unified && strcmp (h->controllers, "cpu") == 0)
    {
      PUT ("cpu.cfs_period_us", "100000");
      PUT ("cpu.cfs_quota_us", "50000");
    }
  if (h->unified && strstr (h->controllers, "cpu"))
    PUT ("cpu.max", "50000 100000");
#undef PUT
  return 0;
}

static int
floor_remove (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  struct floor_ctx *c = userdata;
  char p[4200];
  (void)err;
  snprintf (p, sizeof p, "%s/%s", h->dir, c->name);
  return rmdir (p) < 0 ? -errno : 0;
}

static int
bench_lifecycle (struct cgroups_manager *m, size_t n, int rounds)
{
  struct cgroups_resources *r = cgroups_resources_new ();
  double *tb = xzalloc ((size_t)rounds * sizeof *tb), *tf = xzalloc ((size_t)rounds * sizeof *tf);
  berth_err err = NULL;
  struct cgroups_cgroup *base = NULL;

  cgroups_resources_set_memory_limit (r, 256 << 20);
  cgroups_resources_set_pids_limit (r, 64);
  cgroups_resources_set_cpu_quota (r, 50000, 100000);
  /* the floor works in a directory of its own, made by berth so that it is cleaned up */
  if (cgroups_create (m, "floor", NULL, NULL, &base, &err) < 0)
    die ("create floor base", &err);
  for (int k = 0; k < rounds; k++)
    {
      double t0 = now_ms (), t1, t2;
      for (size_t i = 0; i < n; i++)
        {
          struct cgroups_cgroup *cg = NULL;
          char id[32];
          snprintf (id, sizeof id, "l%zu", i);
          if (cgroups_create (m, NULL, id, r, &cg, &err) < 0)
            die ("create", &err);
          if (cgroups_destroy (cg, &err) < 0)
            die ("destroy", &err);
          cgroups_free (cg);
        }
      t1 = now_ms ();
      for (size_t i = 0; i < n; i++)
        {
          char name[32];
          struct floor_ctx c = { name };
          snprintf (name, sizeof name, "f%zu", i);
          if (cgroups_foreach_hierarchy (m, base, floor_make, &c, &err) < 0
              || cgroups_foreach_hierarchy (m, base, floor_remove, &c, &err) < 0)
            {
              fprintf (stderr, "bench-cgroups: floor mkdir/rmdir failed\n");
              exit (1);
            }
        }
      t2 = now_ms ();
      tb[k] = (t1 - t0) * 1000 / (double)n;
      tf[k] = (t2 - t1) * 1000 / (double)n;
    }
  {
    double mb = median (tb, (size_t)rounds), mf = median (tf, (size_t)rounds);
    printf ("create+apply+destroy (memory, pids, cpu limits), %zu per round, %d rounds: berth "
            "median %.0f us, hand-written mkdir/write/rmdir floor %.0f us, berth/floor %.2fx\n",
            n, rounds, mb, mf, mb / mf);
  }
  if (cgroups_destroy (base, &err) < 0)
    die ("destroy floor base", &err);
  cgroups_free (base);
  cgroups_resources_free (r);
  free (tb);
  free (tf);
  return 0;
}

int
main (int argc, char **argv)
{
  struct cgroups_manager *m = NULL;
  berth_err err = NULL;
  char root[64];
  uint64_t n;
  int rounds, q;

  if (argc != 4 || (strcmp (argv[1], "stats") != 0 && strcmp (argv[1], "lifecycle") != 0))
    {
      fprintf (stderr, "usage: bench-cgroups stats|lifecycle N ROUNDS\n");
      return 2;
    }
  if (berth_parse_uint64 (argv[2], &n) < 0 || berth_parse_int (argv[3], &rounds) < 0 || n == 0
      || n > 100000 || rounds < 1)
    {
      fprintf (stderr, "bench-cgroups: N and ROUNDS must be positive numbers\n");
      return 2;
    }
  snprintf (root, sizeof root, "berth-bench-cgroups-%d", (int)getpid ());
  if (cgroups_manager_open (root, &m, &err) < 0)
    die ("open", &err);
  printf ("host: %s cgroups\n", cgroups_layout_name (cgroups_manager_layout (m)));
  /* stats leaves its first kept-open round out of the median: at least two rounds */
  if (strcmp (argv[1], "stats") == 0 && rounds < 2)
    rounds = 2;
  q = strcmp (argv[1], "stats") == 0 ? bench_stats (m, (size_t)n, rounds)
                                     : bench_lifecycle (m, (size_t)n, rounds);
  if (cgroups_manager_remove_root (m, &err) < 0)
    die ("remove root", &err);
  cgroups_manager_free (m);
  return q;
}
