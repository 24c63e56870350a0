/* Unit tests: lease files. Allocation order, exhaustion, release only by the holder and only
 * once, and concurrent allocation from threads and processes never sharing an address. */
#include "netns/netns-internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/wait.h>

static char tmpdir[] = "/tmp/berth-test-netns-ipam.XXXXXX";
static int dirfd_ = -1;

static void
setup (void)
{
  cr_assert_not_null (mkdtemp (tmpdir));
  dirfd_ = open (tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq (dirfd_, 0);
}

static void
teardown (void)
{
  berth_err err = NULL;
  close (dirfd_);
  cr_assert_eq (berth_rm_rf_at (AT_FDCWD, tmpdir, &err), 0);
}

static struct netns_pool *
pools (const char *spec, size_t *n)
{
  struct netns_pool *p;
  berth_err err = NULL;
  cr_assert_eq (netns_pools_parse (spec, &p, n, &err), 0);
  return p;
}

static const char *
ip (struct in_addr a)
{
  static char b[INET_ADDRSTRLEN];
  return netns_ip_str (a, b);
}

TestSuite (ipam, .init = setup, .fini = teardown);

Test (ipam, sequential_skips_gateway_and_round_robins)
{
  size_t n;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/29", &n);
  berth_err err = NULL;
  struct in_addr a;
  cleanup_free char *owner = NULL;

  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "t1", NULL, &a, NULL, &err), 0);
  cr_assert_str_eq (ip (a), "10.1.0.2");
  cr_assert_eq (ipam_lease_owner (dirfd_, "10.1.0.2", &owner, &err), 0);
  cr_assert_str_eq (owner, "t1");
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "t2", NULL, &a, NULL, &err), 0);
  cr_assert_str_eq (ip (a), "10.1.0.3");
  /* Released addresses are not handed out again at once. */
  cr_assert_eq (ipam_lease_release (dirfd_, a, "t2", &err), 1);
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "t3", NULL, &a, NULL, &err), 0);
  cr_assert_str_eq (ip (a), "10.1.0.4");
}

Test (ipam, exhaustion_is_a_clear_error_and_wraps)
{
  size_t n;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/29", &n);
  berth_err err = NULL;
  struct in_addr a, got[5];
  char id[16];

  /* /29: .0 network, .1 gateway, .7 broadcast: five for tasks. */
  for (int i = 0; i < 5; i++)
    {
      snprintf (id, sizeof id, "t%d", i);
      cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, id, NULL, &got[i], NULL, &err), 0);
    }
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "late", NULL, &a, NULL, &err), -ENOSPC);
  cr_assert_not_null (strstr (berth_err_msg (&err), "pool 10.1.0.0/29 is exhausted"));
  cr_assert_not_null (strstr (berth_err_msg (&err), "5 addresses"));
  berth_err_free (&err);
  /* Free one in the middle: it is found by wrapping round. */
  cr_assert_eq (ipam_lease_release (dirfd_, got[2], "t2", &err), 1);
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "late", NULL, &a, NULL, &err), 0);
  cr_assert_eq (a.s_addr, got[2].s_addr);
}

Test (ipam, several_pools)
{
  size_t n, pool;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/30 10.2.0.0/30", &n);
  berth_err err = NULL;
  struct in_addr a;

  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "t1", NULL, &a, &pool, &err), 0);
  cr_assert_str_eq (ip (a), "10.1.0.2");
  cr_assert_eq (pool, 0);
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "t2", NULL, &a, &pool, &err), 0);
  cr_assert_str_eq (ip (a), "10.2.0.2");
  cr_assert_eq (pool, 1);
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "t3", NULL, &a, &pool, &err), -ENOSPC);
  cr_assert_not_null (strstr (berth_err_msg (&err), "all 2 pools are exhausted"));
  berth_err_free (&err);
}

Test (ipam, release_only_by_holder_and_once)
{
  size_t n;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/30", &n);
  berth_err err = NULL;
  struct in_addr a, b;

  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "old", NULL, &a, NULL, &err), 0);
  cr_assert_eq (ipam_lease_release (dirfd_, a, "someone-else", &err), 0);
  cr_assert_eq (ipam_lease_release (dirfd_, a, "old", &err), 1);
  cr_assert_eq (ipam_lease_release (dirfd_, a, "old", &err), 0);
  /* The address goes to a new task; a late second release by the old one leaves it. */
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "new", NULL, &b, NULL, &err), 0);
  cr_assert_eq (a.s_addr, b.s_addr);
  cr_assert_eq (ipam_lease_release (dirfd_, a, "old", &err), 0);
  cleanup_free char *owner = NULL;
  cr_assert_eq (ipam_lease_owner (dirfd_, ip (a), &owner, &err), 0);
  cr_assert_str_eq (owner, "new");
}

Test (ipam, empty_or_garbage_leases_have_no_owner)
{
  berth_err err = NULL;
  char *owner = (char *)"x";
  int fd = openat (dirfd_, "10.1.0.2", O_WRONLY | O_CREAT, 0644);
  close (fd);
  cr_assert_eq (ipam_lease_owner (dirfd_, "10.1.0.2", &owner, &err), 0);
  cr_assert_null (owner);
  fd = openat (dirfd_, "10.1.0.3", O_WRONLY | O_CREAT, 0644);
  cr_assert_eq (write (fd, "../../etc\n", 10), 10);
  close (fd);
  cr_assert_eq (ipam_lease_owner (dirfd_, "10.1.0.3", &owner, &err), 0);
  cr_assert_null (owner);
  cr_assert_eq (ipam_lease_owner (dirfd_, "10.1.0.4", &owner, &err), -ENOENT);
  cr_assert (ipam_is_lease_name ("10.1.0.3"));
  cr_assert (!ipam_is_lease_name (".next"));
  cr_assert (!ipam_is_lease_name ("tasks"));
}

Test (ipam, find_by_task)
{
  size_t n, found_n;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/28", &n);
  cleanup_free struct in_addr *found = NULL;
  berth_err err = NULL;
  struct in_addr a;

  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "a", NULL, &a, NULL, &err), 0);
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "b", NULL, &a, NULL, &err), 0);
  cr_assert_eq (ipam_lease_acquire (dirfd_, p, n, "a", NULL, &a, NULL, &err), 0);
  cr_assert_eq (ipam_lease_find (dirfd_, "a", &found, &found_n, &err), 0);
  cr_assert_eq (found_n, 2);
}

/* ---- concurrency: 4 threads x 25 and 4 processes x 25 into one /24 */

struct worker
{
  const struct netns_pool *p;
  size_t n;
  int id;
  struct in_addr got[25];
  int rc;
};

static void *
worker_run (void *data)
{
  struct worker *w = data;
  for (int i = 0; i < 25; i++)
    {
      berth_err err = NULL;
      char task[32];
      snprintf (task, sizeof task, "w%d-%d", w->id, i);
      w->rc = ipam_lease_acquire (dirfd_, w->p, w->n, task, NULL, &w->got[i], NULL, &err);
      berth_err_free (&err);
      if (w->rc < 0)
        break;
    }
  return NULL;
}

static size_t
count_leases (void)
{
  int fd = openat (dirfd_, ".", O_RDONLY | O_DIRECTORY);
  DIR *d = fdopendir (fd);
  struct dirent *de;
  size_t n = 0;
  while ((de = readdir (d)) != NULL)
    n += ipam_is_lease_name (de->d_name);
  closedir (d);
  return n;
}

Test (ipam, concurrent_threads_never_share)
{
  size_t n;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/24", &n);
  struct worker w[4];
  pthread_t t[4];

  for (int i = 0; i < 4; i++)
    {
      w[i] = (struct worker){ .p = p, .n = n, .id = i };
      cr_assert_eq (pthread_create (&t[i], NULL, worker_run, &w[i]), 0);
    }
  for (int i = 0; i < 4; i++)
    {
      pthread_join (t[i], NULL);
      cr_assert_eq (w[i].rc, 0);
    }
  for (int i = 0; i < 100; i++)
    for (int j = i + 1; j < 100; j++)
      cr_assert_neq (w[i / 25].got[i % 25].s_addr, w[j / 25].got[j % 25].s_addr);
  cr_assert_eq (count_leases (), 100);
}

Test (ipam, concurrent_processes_never_share)
{
  size_t n;
  cleanup_free struct netns_pool *p = pools ("10.1.0.0/24", &n);
  pid_t pids[4];

  for (int i = 0; i < 4; i++)
    {
      pids[i] = fork ();
      cr_assert_geq (pids[i], 0);
      if (pids[i] == 0)
        {
          struct worker w = { .p = p, .n = n, .id = i };
          worker_run (&w);
          _exit (w.rc == 0 ? 0 : 1);
        }
    }
  for (int i = 0; i < 4; i++)
    {
      int st;
      cr_assert_eq (waitpid (pids[i], &st, 0), pids[i]);
      cr_assert (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    }
  /* 100 distinct files, each naming exactly one task: the file name is the address. */
  cr_assert_eq (count_leases (), 100);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 25; j++)
      {
        berth_err err = NULL;
        char task[32];
        cleanup_free struct in_addr *f = NULL;
        size_t fn;
        snprintf (task, sizeof task, "w%d-%d", i, j);
        cr_assert_eq (ipam_lease_find (dirfd_, task, &f, &fn, &err), 0);
        cr_assert_eq (fn, 1, "task %s holds %zu leases", task, fn);
      }
}
