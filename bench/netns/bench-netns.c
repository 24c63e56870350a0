/* bench-netns: setup + teardown of one task network, berth against the CNI reference plugins
 * doing the same job, interleaved round by round in one run; and 1000 task networks on one
 * host (does the 1000th setup cost more than the first?). Runs in private network and mount
 * namespaces of its own, so nothing touches the machine's network.
 *
 *   bench-netns compare ROUNDS BERTH_CLI CNI_PATH   berth library, berth CLI, CNI bridge
 *   bench-netns scale N                              N setups in a row, then N teardowns */
#include "netns/netns.h"

#include <sched.h>
#include <time.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>

extern char **environ;

static char tmpdir[] = "/tmp/berth-netns-bench.XXXXXX";
static struct netns_host *host; /* the one lib_setup and lib_teardown use */

static void die (const char *fmt, ...) BERTH_PRINTF (1, 2) __attribute__ ((noreturn));

static void
die (const char *fmt, ...)
{

  va_list ap;
  va_start (ap, fmt);
  fprintf (stderr, "bench-netns: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
  exit (1);
}

static double
now_ms (void)
{
  return (double)berth_now_ns () / 1e6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
median (const double *v, size_t n)
{
  double *s = xmemdup (v, n * sizeof *v), m;
  qsort (s, n, sizeof *s, cmp_double);
  m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  free (s);
  return m;
}

static double
percentile (const double *v, size_t n, double p)
{
  double *s = xmemdup (v, n * sizeof *v), m;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  qsort (s, n, sizeof *s, cmp_double);
  m = s[i];
  free (s);
  return m;
}

/* Files go whatever happens (die() exits); links and mounts die with the namespaces. */
static void
remove_tmpdir (void)
{
  char path[512];
  berth_err err = NULL;
  for (const char *const *d = (const char *const[]){ "run/a/netns", "run/full/netns", "run", NULL };
       *d; d++)
    {
      snprintf (path, sizeof path, "%s/%s", tmpdir, *d);
      umount2 (path, MNT_DETACH);
    }
  if (berth_rm_rf_at (AT_FDCWD, tmpdir, &err) < 0)
    fprintf (stderr, "bench-netns: rm %s: %s\n", tmpdir, berth_err_msg (&err));
  berth_err_free (&err);
}

/* ------------------------------------------------------------------ berth */

/* A host in the calling thread's network namespace, its files under run/NAME and NAME/. */
static struct netns_host *
host_open (const char *name)
{
  struct netns_config cfg;
  struct netns_host *h;
  berth_err err = NULL;
  char path[512];

  netns_config_init (&cfg);
  const char *keys[][3] = { { "NET_NETNS_DIR", "run/", "/netns" },
                            { "NET_FILES_DIR", "run/", "/files" },
                            { "NET_STATE_DIR", "", "/state" } };
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    {
      snprintf (path, sizeof path, "%s/%s%s%s", tmpdir, keys[i][1], name, keys[i][2]);
      if (netns_config_set (&cfg, keys[i][0], path, &err) < 0)
        die ("%s", berth_err_msg (&err));
    }
  snprintf (path, sizeof path, "%s/resolv.conf", tmpdir);
  if (netns_config_set (&cfg, "NET_HOST_RESOLV_CONF", path, &err) < 0)
    die ("%s", berth_err_msg (&err));
  /* BENCH_NET_MODE=ptp measures the routed topology instead of the bridge. */
  if (getenv ("BENCH_NET_MODE")
      && netns_config_set (&cfg, "NET_MODE", getenv ("BENCH_NET_MODE"), &err) < 0)
    die ("%s", berth_err_msg (&err));

  if (netns_host_open (&cfg, &h, &err) < 0)
    die ("host: %s", berth_err_msg (&err));
  netns_config_free (&cfg);
  return h;
}

/* CPU time of this thread, user and system: the work a setup does, whatever the machine's
 * load makes it wait for. */
static double
cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double last_cpu_ms;

static double
lib_setup (const char *id)
{
  struct netns_task_spec spec = { .task_id = id, .mode = NETNS_MODE_AWSVPC };
  struct netns_task_net *net = NULL;
  berth_err err = NULL;
  double c0 = cpu_ms (), t0 = now_ms ();
  if (netns_task_setup (host, &spec, &net, &err) < 0)
    die ("setup %s: %s", id, berth_err_msg (&err));
  t0 = now_ms () - t0;
  last_cpu_ms = cpu_ms () - c0;
  netns_task_net_free (net);
  return t0;
}

static double
lib_teardown (const char *id)
{
  berth_err err = NULL;
  double t0 = now_ms ();
  if (netns_task_teardown (host, id, &err) < 0)
    die ("teardown %s: %s", id, berth_err_msg (&err));
  return now_ms () - t0;
}

/* ------------------------------------------------------------------ processes */

/* Runs argv with extra environment and stdin_text; fails the benchmark on a bad exit. */
static void
run (char *const argv[], char *const extra_env[], const char *stdin_text)
{
  posix_spawn_file_actions_t fa;
  cleanup_strv char **env = strv_dup (environ);
  int in[2], st;
  pid_t pid;

  for (char *const *e = extra_env; e && *e; e++)
    strv_append (&env, *e);
  if (pipe2 (in, O_CLOEXEC) < 0)
    die ("pipe: %m");
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, in[0], 0);
  posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
  if (posix_spawn (&pid, argv[0], &fa, NULL, argv, env) != 0)
    die ("spawn %s: %m", argv[0]);
  posix_spawn_file_actions_destroy (&fa);
  close (in[0]);
  if (stdin_text && berth_write_all (in[1], stdin_text, strlen (stdin_text)) < 0)
    die ("write to %s: %m", argv[0]);
  close (in[1]);
  if (waitpid (pid, &st, 0) != pid || !WIFEXITED (st) || WEXITSTATUS (st) != 0)
    die ("%s %s failed (status %d)", argv[0], argv[1] ? argv[1] : "", st);
}

/* A namespace for the CNI plugins to configure: the runtime's job, not timed. */
static char *
cni_netns_create (int i)
{
  char *path = xasprintf ("%s/run/cni-ns-%d", tmpdir, i);
  int fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  pid_t pid;
  int st;

  if (fd < 0)
    die ("create %s: %m", path);
  close (fd);
  pid = fork ();
  if (pid == 0)
    {
      char src[64];
      if (unshare (CLONE_NEWNET) < 0)
        _exit (1);
      snprintf (src, sizeof src, "/proc/%d/ns/net", getpid ());
      _exit (mount (src, path, "none", MS_BIND, NULL) < 0);
    }
  if (waitpid (pid, &st, 0) != pid || st != 0)
    die ("bind netns %s", path);
  return path;
}

static void
cni_netns_remove (char *path)
{
  umount2 (path, MNT_DETACH);
  unlink (path);
  free (path);
}

static double
cni (const char *cni_path, const char *cmd, int i, const char *netns)
{
  char *argv[] = { xasprintf ("%s/bridge", cni_path), NULL };
  char *env[] = { xasprintf ("CNI_COMMAND=%s", cmd),   xasprintf ("CNI_CONTAINERID=bench%d", i),
                  xasprintf ("CNI_NETNS=%s", netns),   xstrdup ("CNI_IFNAME=eth0"),
                  xasprintf ("CNI_PATH=%s", cni_path), NULL };
  cleanup_free char *conf
      = xasprintf ("{\"cniVersion\":\"1.0.0\",\"name\":\"benchnet\",\"type\":\"bridge\","
                   "\"bridge\":\"cni0\",\"isGateway\":true,\"ipMasq\":true,"
                   "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.99.0.0/16\","
                   "\"dataDir\":\"%s/cni-ipam\"}}",
                   tmpdir);
  double t0 = now_ms ();
  run (argv, env, conf);
  t0 = now_ms () - t0;
  free (argv[0]);
  for (char **e = env; *e; e++)
    free (*e);
  return t0;
}

static double
cli (const char *berth, const char *cmd, const char *id)
{
  char *argv[] = { (char *)berth,
                   (char *)"network",
                   (char *)"--config",
                   (char *)"/dev/null",
                   (char *)cmd,
                   (char *)id,
                   NULL };
  char *env[] = { xasprintf ("BERTH_NET_NETNS_DIR=%s/run/a/netns", tmpdir),
                  xasprintf ("BERTH_NET_FILES_DIR=%s/run/a/files", tmpdir),
                  xasprintf ("BERTH_NET_STATE_DIR=%s/a/state", tmpdir),
                  xasprintf ("BERTH_NET_HOST_RESOLV_CONF=%s/resolv.conf", tmpdir), NULL };
  double t0 = now_ms ();
  run (argv, env, NULL);
  t0 = now_ms () - t0;
  for (char **e = env; *e; e++)
    free (*e);
  return t0;
}

/* ------------------------------------------------------------------ modes */

static void
compare (int rounds, const char *berth, const char *cni_path)
{
  double *lib = xmalloc (rounds * sizeof *lib), *lib_up = xmalloc (rounds * sizeof *lib);
  double *lib_down = xmalloc (rounds * sizeof *lib);
  double *cl = xmalloc (rounds * sizeof *cl), *cn = xmalloc (rounds * sizeof *cn);
  double *cn_add = xmalloc (rounds * sizeof *cn), *cn_del = xmalloc (rounds * sizeof *cn);
  char id[32];

  /* Warm up each path once (page cache, bridge and tables created). */
  lib_setup ("warm");
  lib_teardown ("warm");

  cli (berth, "create", "warm-cli");
  cli (berth, "delete", "warm-cli");
  {
    char *ns = cni_netns_create (-1);
    cni (cni_path, "ADD", -1, ns);
    cni (cni_path, "DEL", -1, ns);
    cni_netns_remove (ns);
  }

  for (int r = 0; r < rounds; r++)
    {
      /* Rotate the order so no contender always runs right after another. */
      for (int k = 0; k < 3; k++)
        switch ((r + k) % 3)
          {
          case 0:
            snprintf (id, sizeof id, "lib-%d", r);
            lib_up[r] = lib_setup (id);
            lib_down[r] = lib_teardown (id);
            lib[r] = lib_up[r] + lib_down[r];
            break;
          case 1:
            snprintf (id, sizeof id, "cli-%d", r);
            cl[r] = cli (berth, "create", id);
            cl[r] += cli (berth, "delete", id);
            break;
          default:
            {
              char *ns = cni_netns_create (r);
              cn_add[r] = cni (cni_path, "ADD", r, ns);
              cn_del[r] = cni (cni_path, "DEL", r, ns);
              cn[r] = cn_add[r] + cn_del[r];
              cni_netns_remove (ns);
            }
          }
    }
  printf ("setup+teardown of one task network, %d interleaved rounds (ms; median, p90)\n", rounds);
  printf ("  CNI bridge+host-local (ADD+DEL) %8.2f %8.2f   (ADD %.2f, DEL %.2f)\n",
          median (cn, rounds), percentile (cn, rounds, 0.9), median (cn_add, rounds),
          median (cn_del, rounds));
  printf ("  berth library (setup+teardown)  %8.2f %8.2f   (setup %.2f, teardown %.2f)\n",
          median (lib, rounds), percentile (lib, rounds, 0.9), median (lib_up, rounds),
          median (lib_down, rounds));
  printf ("  berth CLI (create+delete)       %8.2f %8.2f\n", median (cl, rounds),
          percentile (cl, rounds, 0.9));
  printf ("  ratio berth library / CNI: %.3f   (target <= 0.2)\n",
          median (lib, rounds) / median (cn, rounds));
  printf ("  ratio berth CLI / CNI:     %.3f\n", median (cl, rounds) / median (cn, rounds));
  free (lib), free (lib_up), free (lib_down), free (cl), free (cn), free (cn_add), free (cn_del);
}

/* N task networks on one host. The sequential curve (each setup with all the earlier ones
 * still there) is reported, but on a shared machine it mixes the cost of N with the load of
 * the moment. The verdict comes from a paired measurement instead: a second host (its own
 * network namespace) holds N-1 task networks, and rounds alternate between setting up the
 * first task on the empty host and the Nth on the full one, so both see the same load. */
static void
scale (int n, int rounds)
{
  double *up = xmalloc (n * sizeof *up), *down = xmalloc (n * sizeof *down);
  double *first = xmalloc (rounds * sizeof *first), *nth = xmalloc (rounds * sizeof *nth);
  double *first_cpu = xmalloc (rounds * sizeof *first), *nth_cpu = xmalloc (rounds * sizeof *nth);
  double *up_cpu = xmalloc (n * sizeof *up);
  struct netns_host *empty = host, *full;
  int empty_fd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), full_fd;
  char *argv_ip[]
      = { (char *)"/usr/sbin/ip", (char *)"link", (char *)"set", (char *)"lo", (char *)"up", NULL };
  char id[32];

  if (empty_fd < 0 || unshare (CLONE_NEWNET) < 0)
    die ("second host namespace: %m");
  run (argv_ip, NULL, NULL);
  full = host_open ("full");
  full_fd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (full_fd < 0)
    die ("open own netns: %m");

  host = full;
  for (int i = 0; i < n - 1; i++)
    {
      snprintf (id, sizeof id, "scale-%d", i);
      up[i] = lib_setup (id);
      up_cpu[i] = last_cpu_ms;
    }
  for (int r = 0; r < rounds; r++)
    {
      if (setns (empty_fd, CLONE_NEWNET) < 0)
        die ("setns: %m");
      host = empty;
      snprintf (id, sizeof id, "first-%d", r);
      first[r] = lib_setup (id);
      first_cpu[r] = last_cpu_ms;
      lib_teardown (id);
      if (setns (full_fd, CLONE_NEWNET) < 0)
        die ("setns: %m");
      host = full;
      snprintf (id, sizeof id, "nth-%d", r);
      nth[r] = lib_setup (id);
      nth_cpu[r] = last_cpu_ms;
      lib_teardown (id);
    }
  for (int i = 0; i < n - 1; i++)
    {
      snprintf (id, sizeof id, "scale-%d", i);
      down[i] = lib_teardown (id);
    }
  printf ("%d task networks on one host (ms)\n", n);
  printf ("  sequential: setup #1 %.2f, #%d %.2f\n", up[0], n - 1, up[n - 2]);
  for (int i = 0; i + 100 <= n - 1; i += 100)
    printf ("    setups %4d-%4d: median %.2f (CPU %.2f)\n", i + 1, i + 100, median (up + i, 100),
            median (up_cpu + i, 100));
  printf ("  paired, %d interleaved rounds: first task on an empty host %.2f (p90 %.2f), "
          "task #%d with %d present %.2f (p90 %.2f)\n",
          rounds, median (first, rounds), percentile (first, rounds, 0.9), n, n - 1,
          median (nth, rounds), percentile (nth, rounds, 0.9));
  printf ("  ratio #%d / first (paired medians): %.2f   (target <= 2)\n", n,
          median (nth, rounds) / median (first, rounds));
  printf ("  CPU time of the setup itself: first %.2f, #%d %.2f, ratio %.2f\n",
          median (first_cpu, rounds), n, median (nth_cpu, rounds),
          median (nth_cpu, rounds) / median (first_cpu, rounds));
  printf ("  teardown with %d present: median %.2f, p90 %.2f\n", n - 1, median (down, n - 1),
          percentile (down, n - 1, 0.9));
  netns_host_close (full);
  if (setns (empty_fd, CLONE_NEWNET) < 0)
    die ("setns: %m");
  host = empty;
  close (empty_fd);
  close (full_fd);
  free (up), free (down), free (first), free (nth), free (first_cpu), free (nth_cpu), free (up_cpu);
}

int
main (int argc, char **argv)
{
  berth_err err = NULL;
  char path[512];

  if (argc < 3 || (strcmp (argv[1], "compare") == 0 && argc != 5))
    die ("usage: bench-netns compare ROUNDS BERTH_CLI CNI_PATH | scale N");
  if (unshare (CLONE_NEWNET | CLONE_NEWNS) < 0)
    die ("unshare: %m (root needed)");
  if (mount ("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    die ("make / private: %m");
  if (mkdtemp (tmpdir) == NULL)
    die ("mkdtemp: %m");
  atexit (remove_tmpdir);
  /* The layout of a host: /run (netns mounts, per-task files) on tmpfs, /var/lib (leases,
   * records; CNI's host-local leases) on disk. */
  snprintf (path, sizeof path, "%s/run", tmpdir);
  if (mkdir (path, 0755) < 0 || mount ("tmpfs", path, "tmpfs", 0, "size=64m,mode=0755") < 0)
    die ("tmpfs on %s: %m", path);
  {
    /* A loopback up and a resolv.conf, as on a host. */
    char *argv_ip[] = { (char *)"/usr/sbin/ip", (char *)"link", (char *)"set",
                        (char *)"lo",           (char *)"up",   NULL };
    run (argv_ip, NULL, NULL);
    snprintf (path, sizeof path, "%s/resolv.conf", tmpdir);
    if (berth_write_file_atomic_at (AT_FDCWD, path, "nameserver 192.0.2.53\n", 22, 0644, &err) < 0)
      die ("%s", berth_err_msg (&err));
  }
  if (getenv ("BENCH_NO_IPV6"))
    {
      berth_err e = NULL;
      if (berth_write_file_at (AT_FDCWD, "/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", 1, &e)
          < 0)
        die ("%s", berth_err_msg (&e));
    }
  host = host_open ("a");

  if (strcmp (argv[1], "compare") == 0)
    {
      int rounds;
      if (berth_parse_int (argv[2], &rounds) < 0 || rounds < 1)
        die ("bad ROUNDS");
      compare (rounds, argv[3], argv[4]);
    }
  else if (strcmp (argv[1], "scale") == 0)
    {
      int n;
      if (berth_parse_int (argv[2], &n) < 0 || n < 2)
        die ("bad N");
      scale (n, 40);
    }
  else
    die ("unknown mode %s", argv[1]);
  netns_host_close (host);
  return 0;
}
