/* Integration test through the library, in a private network and mount namespace: 1000 task
 * networks set up and torn down leave nothing (links, namespaces, mounts, leases, records,
 * files, firewall set elements, fds); 8 threads setting up at once on one netns_host never
 * share an address. Exit 77 (skip) without root. */
#include "netns/netns-internal.h"

#include <dirent.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>

#define N_TASKS    1000
#define N_THREADS  8
#define PER_THREAD 25

static char tmpdir[] = "/tmp/berth-netns-scale.XXXXXX";
static struct netns_host *host;

#define CHECK(cond, ...)                                                                           \
  do                                                                                               \
    {                                                                                              \
      if (!(cond))                                                                                 \
        {                                                                                          \
          fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                    \
          fprintf (stderr, __VA_ARGS__);                                                           \
          fprintf (stderr, "\n");                                                                  \
          exit (1);                                                                                \
        }                                                                                          \
    }                                                                                              \
  while (0)

/* Whatever happens (a failed CHECK exits), the test's files go; its links and mounts die
 * with its namespaces. */
static void
remove_tmpdir (void)
{
  char path[512];
  berth_err err = NULL;
  snprintf (path, sizeof path, "%s/netns", tmpdir);
  umount2 (path, MNT_DETACH);
  if (berth_rm_rf_at (AT_FDCWD, tmpdir, &err) < 0)
    fprintf (stderr, "rm %s: %s\n", tmpdir, berth_err_msg (&err));
  berth_err_free (&err);
}

static size_t
count_dir (const char *path, const char *prefix)
{
  DIR *d = opendir (path);
  struct dirent *de;
  size_t n = 0;
  if (d == NULL)
    return 0;
  while ((de = readdir (d)) != NULL)
    if (de->d_name[0] != '.' && (prefix == NULL || str_has_prefix (de->d_name, prefix)))
      n++;
  closedir (d);
  return n;
}

static size_t
count_links (void)
{
  struct if_nameindex *ifs = if_nameindex (), *i;
  size_t n = 0;
  for (i = ifs; i && i->if_index; i++)
    n += str_has_prefix (i->if_name, NETNS_HOST_IF_PREFIX);
  if_freenameindex (ifs);
  return n;
}

static size_t
count_mounts (void)
{
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  char line[4096];
  size_t n = 0;
  while (f && fgets (line, sizeof line, f))
    n += strstr (line, tmpdir) != NULL;
  if (f)
    fclose (f);
  return n;
}

static size_t
count_set_elements (const char *family, const char *set)
{
  char cmd[256], line[4096];
  size_t n = 0;
  FILE *p;
  snprintf (cmd, sizeof cmd, "nft list set %s berth %s 2>/dev/null", family, set);
  p = popen (cmd, "re");
  bool in_elements = false;
  /* Elements span lines: count addresses (three dots) or quoted port names after
   * "elements". */
  while (p && fgets (line, sizeof line, p))
    {
      in_elements = in_elements || strstr (line, "elements") != NULL;
      if (in_elements)
        for (char *c = line; *c; c++)
          n += *c == '.' || *c == '"';
    }
  if (p)
    pclose (p);
  return strcmp (family, "inet") == 0 ? n / 3 : n / 2;
}

static void
setup_one (const char *id, bool reach, struct in_addr *ret)
{
  struct netns_task_spec spec = { .task_id = id, .mode = NETNS_MODE_AWSVPC, .reach_tasks = reach };
  struct netns_task_net *net = NULL;
  berth_err err = NULL;
  CHECK (netns_task_setup (host, &spec, &net, &err) == 0, "setup %s: %s", id, berth_err_msg (&err));
  CHECK (net->complete && net->has_address, "%s incomplete", id);
  if (ret)
    *ret = net->address;
  netns_task_net_free (net);
}

static void
teardown_one (const char *id)
{
  berth_err err = NULL;
  CHECK (netns_task_teardown (host, id, &err) == 1, "teardown %s: %s", id, berth_err_msg (&err));
}

struct worker
{
  int id;
  struct in_addr got[PER_THREAD];
};

static void *
worker_setup (void *data)
{
  struct worker *w = data;
  char id[32];
  for (int i = 0; i < PER_THREAD; i++)
    {
      snprintf (id, sizeof id, "w%d-%d", w->id, i);
      setup_one (id, i % 5 == 0, &w->got[i]);
    }
  return NULL;
}

static void *
worker_teardown (void *data)
{
  struct worker *w = data;
  char id[32];
  for (int i = 0; i < PER_THREAD; i++)
    {
      snprintf (id, sizeof id, "w%d-%d", w->id, i);
      teardown_one (id);
    }
  return NULL;
}

static void
wait_links_gone (void)
{
  /* Cut links go with their namespaces, destroyed asynchronously by the kernel. */
  for (int i = 0; i < 1200 && count_links () > 0; i++)
    usleep (100 * 1000);
  CHECK (count_links () == 0, "%zu task links left two minutes after teardown", count_links ());
}

static void
assert_clean (const char *when, size_t fds_before)
{
  char path[512];
  snprintf (path, sizeof path, "%s/state/berth", tmpdir);
  CHECK (count_dir (path, "10.") == 0, "%s: %zu leases left", when, count_dir (path, "10."));
  snprintf (path, sizeof path, "%s/state/berth/tasks", tmpdir);
  CHECK (count_dir (path, NULL) == 0, "%s: records left", when);
  snprintf (path, sizeof path, "%s/netns", tmpdir);
  CHECK (count_dir (path, NULL) == 0, "%s: netns files left", when);
  snprintf (path, sizeof path, "%s/files", tmpdir);
  CHECK (count_dir (path, NULL) == 0, "%s: task files left", when);
  CHECK (count_mounts () == 1, "%s: %zu mounts under the test directory (want 1: the netns dir)",
         when, count_mounts ());
  CHECK (count_set_elements ("inet", "open_addrs") == 0, "%s: open_addrs not empty", when);
  CHECK (count_set_elements ("bridge", "open_ports") == 0, "%s: open_ports not empty", when);
  CHECK (count_dir ("/proc/self/fd", NULL) == fds_before, "%s: fds %zu, were %zu", when,
         count_dir ("/proc/self/fd", NULL), fds_before);
  wait_links_gone ();
}

int
main (void)
{
  struct netns_config cfg;
  berth_err err = NULL;
  char path[512];
  size_t fds;
  struct in_addr *addrs;

  if (geteuid () != 0)
    {
      printf ("SKIP: needs root\n");
      return 77;
    }
  /* This process's own namespaces stand in for the host; whatever it leaves dies with it. */
  CHECK (unshare (CLONE_NEWNET | CLONE_NEWNS) == 0, "unshare: %m");
  CHECK (mount ("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make / private: %m");
  CHECK (mkdtemp (tmpdir) != NULL, "mkdtemp: %m");
  atexit (remove_tmpdir);

  netns_config_init (&cfg);
  snprintf (path, sizeof path, "%s/netns", tmpdir);
  CHECK (netns_config_set (&cfg, "NET_NETNS_DIR", path, &err) == 0, "%s", berth_err_msg (&err));
  snprintf (path, sizeof path, "%s/files", tmpdir);
  CHECK (netns_config_set (&cfg, "NET_FILES_DIR", path, &err) == 0, "%s", berth_err_msg (&err));
  snprintf (path, sizeof path, "%s/state", tmpdir);
  CHECK (netns_config_set (&cfg, "NET_STATE_DIR", path, &err) == 0, "%s", berth_err_msg (&err));
  snprintf (path, sizeof path, "%s/resolv.conf", tmpdir);
  CHECK (netns_config_set (&cfg, "NET_HOST_RESOLV_CONF", path, &err) == 0, "%s",
         berth_err_msg (&err));
  CHECK (netns_host_open (&cfg, &host, &err) == 0, "host open: %s", berth_err_msg (&err));
  netns_config_free (&cfg);
  fds = count_dir ("/proc/self/fd", NULL);

  /* 1. 1000 task networks, every tenth allowed to reach the others. */
  addrs = xmalloc (N_TASKS * sizeof *addrs);
  for (int i = 0; i < N_TASKS; i++)
    {
      char id[32];
      snprintf (id, sizeof id, "scale-%d", i);
      setup_one (id, i % 10 == 0, &addrs[i]);
    }
  CHECK (count_links () == N_TASKS, "%zu links for %d tasks", count_links (), N_TASKS);
  CHECK (count_set_elements ("inet", "open_addrs") == N_TASKS / 10, "open_addrs: %zu",
         count_set_elements ("inet", "open_addrs"));
  for (int i = 0; i < N_TASKS; i++)
    for (int j = i + 1; j < N_TASKS; j++)
      CHECK (addrs[i].s_addr != addrs[j].s_addr, "tasks %d and %d share an address", i, j);
  CHECK (count_dir ("/proc/self/fd", NULL) == fds, "fds grew during setups");

  /* A Linux bridge holds 1023 ports: the 1024th task fails clearly, leaving nothing. */
  for (int i = N_TASKS; i < 1023; i++)
    {
      char id[32];
      snprintf (id, sizeof id, "scale-%d", i);
      setup_one (id, false, NULL);
    }
  {
    struct netns_task_spec spec = { .task_id = "one-too-many", .mode = NETNS_MODE_AWSVPC };
    struct netns_task_net *net = NULL;
    CHECK (netns_task_setup (host, &spec, &net, &err) < 0, "a 1024th bridge port was accepted");
    CHECK (strstr (berth_err_msg (&err), "has no free port") != NULL, "unclear: %s",
           berth_err_msg (&err));
    printf ("1024th task on the bridge: %s\n", berth_err_msg (&err));
    berth_err_free (&err);
    snprintf (path, sizeof path, "%s/state/berth/tasks/one-too-many.json", tmpdir);
    CHECK (access (path, F_OK) != 0, "record of the refused task left");
    snprintf (path, sizeof path, "%s/netns/one-too-many", tmpdir);
    CHECK (access (path, F_OK) != 0, "netns of the refused task left");
  }
  for (int i = N_TASKS; i < 1023; i++)
    {
      char id[32];
      snprintf (id, sizeof id, "scale-%d", i);
      teardown_one (id);
    }
  for (int i = 0; i < N_TASKS; i++)

    {
      char id[32];
      snprintf (id, sizeof id, "scale-%d", i);
      teardown_one (id);
    }
  free (addrs);
  assert_clean ("after 1000", fds);
  printf ("1000 task networks set up and torn down: nothing left\n");

  /* err may be NULL: only the return value then. */
  {
    struct netns_task_spec spec = { .task_id = "no-err", .mode = NETNS_MODE_AWSVPC };
    struct netns_task_net *net = NULL;
    CHECK (netns_task_teardown (host, "never-there", NULL) == 0, "teardown without err");
    CHECK (netns_task_get (host, "never-there", &net, NULL) == -ENOENT, "get without err");
    CHECK (netns_task_setup (host, &spec, &net, NULL) == 0, "setup without err");
    netns_task_net_free (net);
    CHECK (netns_task_setup (host, &spec, &net, NULL) == -EEXIST, "second setup without err");
    CHECK (netns_task_get (host, "no-err", &net, NULL) == 0 && net->complete, "get");
    netns_task_net_free (net);
    CHECK (netns_task_teardown (host, "no-err", NULL) == 1, "teardown without err");
    CHECK (netns_reconcile (host, NULL, NULL, NULL) == 0, "reconcile without err or report");
    assert_clean ("after calls without err", fds);
  }


  /* 2. Threads setting up and tearing down at once on one host. */
  {
    struct worker w[N_THREADS];
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
      {
        w[i].id = i;
        CHECK (pthread_create (&t[i], NULL, worker_setup, &w[i]) == 0, "pthread_create");
      }
    for (int i = 0; i < N_THREADS; i++)
      pthread_join (t[i], NULL);
    for (int a = 0; a < N_THREADS * PER_THREAD; a++)
      for (int b = a + 1; b < N_THREADS * PER_THREAD; b++)
        CHECK (w[a / PER_THREAD].got[a % PER_THREAD].s_addr
                   != w[b / PER_THREAD].got[b % PER_THREAD].s_addr,
               "two threads' tasks share an address");
    CHECK (count_links () == N_THREADS * PER_THREAD, "links: %zu", count_links ());
    for (int i = 0; i < N_THREADS; i++)
      CHECK (pthread_create (&t[i], NULL, worker_teardown, &w[i]) == 0, "pthread_create");
    for (int i = 0; i < N_THREADS; i++)
      pthread_join (t[i], NULL);
    assert_clean ("after threads", fds);
    printf ("%d threads x %d setups: distinct addresses, nothing left\n", N_THREADS, PER_THREAD);
  }

  netns_host_close (host);
  return 0;
}
