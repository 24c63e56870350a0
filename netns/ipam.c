/* IPAM: one lease file per address in <state>/<network>/, named by the address and holding
 * the task id. O_EXCL creation is the allocation, so concurrent setups (threads or
 * processes) never share an address; release unlinks only a lease that still names the task.
 * A ".next" hint makes allocation round-robin (a freed address is not reused at once, so
 * stale ARP entries and conntrack state age out) and keeps it O(1) on a busy pool. */
#include "netns-internal.h"

#include <dirent.h>

#define HINT_NAME  ".next"
#define HINT_WIDTH 16 /* "255.255.255.255" and a newline */

#define LEASE_MAX 256

bool
ipam_is_lease_name (const char *name)
{
  struct in_addr a;
  return netns_ip_parse (name, &a) == 0;
}

static bool
hint_read (int dirfd, struct in_addr *ret)
{
  char buf[INET_ADDRSTRLEN + 2];
  int fd = openat (dirfd, HINT_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  ssize_t n;

  if (fd < 0)
    return false;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  buf[strcspn (buf, " \n")] = '\0';
  return netns_ip_parse (buf, ret) == 0;
}

/* Only a hint: racing writers may garble it, and then allocation starts at the beginning.
 * Rewritten in place at a fixed width (no truncation, no new inode): creating or truncating
 * a file costs a journal transaction on a disk filesystem, and this is written per lease. */
static void
hint_write (int dirfd, struct in_addr next)
{
  char buf[HINT_WIDTH + 1];
  char a[INET_ADDRSTRLEN];
  int fd = openat (dirfd, HINT_NAME, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return;
  snprintf (buf, sizeof buf, "%-*s\n", HINT_WIDTH - 1, netns_ip_str (next, a));
  (void)!pwrite (fd, buf, HINT_WIDTH, 0);
  close (fd);
}

/* Writes the lease. No fsync: a lease guards addresses of network namespaces, and those do
 * not survive the machine; a process crash cannot lose a completed write(). An empty lease
 * (killed between create and write, or a power cut) is freed by reconcile. */
static int
lease_try (int dirfd, struct in_addr a, const char *task_id, berth_err *err)
{
  char name[INET_ADDRSTRLEN];
  cleanup_close int fd = -1;
  cleanup_free char *content = xasprintf ("%s\n", task_id);

  netns_ip_str (a, name);
  fd = openat (dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    {
      if (errno == EEXIST)
        return 0;
      return berth_err_set (err, errno, "create lease `%s`", name);
    }
  if (berth_write_all (fd, content, strlen (content)) < 0)
    {
      int e = errno;
      unlinkat (dirfd, name, 0);
      return berth_err_set (err, e, "write lease `%s`", name);
    }
  return 1;
}

int
ipam_lease_acquire (int dirfd, const struct netns_pool *pools, size_t n_pools, const char *task_id,
                    const struct netns_config *cfg, struct in_addr *ret_addr, size_t *ret_pool,
                    berth_err *err)
{
  struct in_addr start;
  size_t start_pool = 0;
  uint64_t total = 0;
  char b[INET_ADDRSTRLEN];

  (void)cfg;
  if (hint_read (dirfd, &start))
    {
      bool found = false;
      for (size_t i = 0; i < n_pools && !found; i++)
        if (netns_ip_h (start) >= netns_ip_h (pools[i].first)
            && netns_ip_h (start) <= netns_ip_h (pools[i].last))
          {
            start_pool = i;
            found = true;
          }
      if (!found)
        start = pools[0].first;
    }
  else
    start = pools[0].first;

  /* Pools in order from the hint's, wrapping round to the hint itself. */
  for (size_t k = 0; k <= n_pools; k++)
    {
      size_t pi = (start_pool + k) % n_pools;
      const struct netns_pool *p = &pools[pi];
      uint32_t from = netns_ip_h (p->first), to = netns_ip_h (p->last);

      if (k == 0)
        from = netns_ip_h (start);
      else if (k == n_pools)
        {
          if (netns_ip_h (start) == netns_ip_h (p->first))
            break;
          to = netns_ip_h (start) - 1;
        }
      for (uint64_t v = from; v <= to; v++)
        {
          struct in_addr a = netns_ip_n ((uint32_t)v);
          int r;

          if (!netns_pool_usable (p, a))
            continue;
          r = lease_try (dirfd, a, task_id, err);
          if (r < 0)
            return r;
          if (r == 0)
            continue;
          /* Next time, start after this one (wrapping to the next pool). */
          if (v < netns_ip_h (p->last))
            hint_write (dirfd, netns_ip_n ((uint32_t)v + 1));
          else
            hint_write (dirfd, pools[(pi + 1) % n_pools].first);
          *ret_addr = a;
          if (ret_pool)
            *ret_pool = pi;
          return 0;
        }
    }
  for (size_t i = 0; i < n_pools; i++)
    for (uint64_t v = netns_ip_h (pools[i].first); v <= netns_ip_h (pools[i].last); v++)
      total += netns_pool_usable (&pools[i], netns_ip_n ((uint32_t)v));
  if (n_pools == 1)
    return berth_err_set (err, ENOSPC,
                          "pool %s/%u is exhausted: all of its %" PRIu64 " addresses are leased",
                          netns_ip_str (pools[0].subnet, b), pools[0].prefix_len, total);
  return berth_err_set (
      err, ENOSPC, "all %zu pools are exhausted: all of their %" PRIu64 " addresses are leased",
      n_pools, total);
}

int
ipam_lease_owner (int dirfd, const char *name, char **ret, berth_err *err)
{
  char buf[LEASE_MAX + 1];
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  ssize_t n;

  if (fd < 0)
    {
      if (errno == ENOENT)
        return -ENOENT;
      return berth_err_set (err, errno, "open lease `%s`", name);
    }
  n = read (fd, buf, LEASE_MAX);
  if (n < 0)
    return berth_err_set (err, errno, "read lease `%s`", name);
  buf[n] = '\0';
  if ((size_t)n < strlen (buf))
    {
      *ret = NULL; /* NUL bytes: not something berth wrote */
      return 0;
    }
  buf[strcspn (buf, "\n")] = '\0';
  *ret = netns_task_id_valid (buf) ? xstrdup (buf) : NULL;
  return 0;
}

int
ipam_lease_release (int dirfd, struct in_addr addr, const char *task_id, berth_err *err)
{
  char name[INET_ADDRSTRLEN];
  cleanup_free char *owner = NULL;
  int r;

  netns_ip_str (addr, name);
  r = ipam_lease_owner (dirfd, name, &owner, err);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  /* Another task holds the address now (ours was released before and reused): leave it.
   * Teardowns of one task are serialised by the caller, so owner cannot change between the
   * read and the unlink to anything but "absent". */
  if (owner == NULL || strcmp (owner, task_id) != 0)
    return 0;
  if (unlinkat (dirfd, name, 0) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return berth_err_set (err, errno, "release lease `%s`", name);
    }
  return 1;
}

int
ipam_lease_find (int dirfd, const char *task_id, struct in_addr **ret, size_t *ret_n,
                 berth_err *err)
{
  cleanup_free struct in_addr *found = NULL;
  size_t n = 0;
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d;
  struct dirent *de;

  if (fd < 0)
    return berth_err_set (err, errno, "open lease directory");
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return berth_err_set (err, errno, "open lease directory");
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      cleanup_free char *owner = NULL;
      cleanup_err berth_err e = NULL;
      struct in_addr a;

      if (netns_ip_parse (de->d_name, &a) < 0)
        continue;
      if (ipam_lease_owner (dirfd, de->d_name, &owner, &e) < 0)
        continue; /* released meanwhile */
      if (owner && strcmp (owner, task_id) == 0)
        {
          found = xrealloc (found, (n + 1) * sizeof *found);
          found[n++] = a;
        }
    }
  closedir (d);
  *ret = steal_pointer (&found);
  *ret_n = n;
  return 0;
}
