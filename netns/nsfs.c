/* Named network namespaces: a new namespace bound onto a file under berth's netns directory
 * (as `ip netns add` does), opened by path, and removed. The creating thread enters the new
 * namespace only long enough to take an fd and a netlink socket there. */
#include "netns-internal.h"

#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>

bool
nsfs_is_bound (const char *path)
{
  struct statfs sfs;
  return statfs (path, &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

int
nsfs_create (const char *path, int back_nsfd, unsigned flags, int *ret_nsfd, struct rtnl *ret_rtnl,
             berth_err *err)
{
  cleanup_close int nsfd = -1;
  struct rtnl r = { 0 };
  char src[64];
  int fd, e = 0, ret = 0;

  fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "create `%s`", path);
  close (fd);

  /* unshare() moves only this thread, so the rest of a threaded berthd keeps the host's
   * namespace; the socket opened inside stays bound to the new namespace after we leave. */
  if (unshare (CLONE_NEWNET) < 0)
    {
      e = errno;
      unlink (path);
      return berth_err_set (err, e, "unshare network namespace");
    }
  /* /proc/sys/net is the calling thread's namespace: links made in the new one from now on
   * (eth0) get no IPv6; lo, made with the namespace, keeps ::1. */
  if (flags & NSFS_NO_IPV6)
    {
      cleanup_err berth_err e6 = NULL;
      if (berth_write_file_at (AT_FDCWD, "/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", 1,
                               &e6)
              < 0
          && berth_err_code (&e6) != ENOENT)
        {
          ret = berth_err_set (err, berth_err_code (&e6), "turn IPv6 off in the new namespace");
          if (setns (back_nsfd, CLONE_NEWNET) < 0)
            abort ();
          unlink (path);
          return ret;
        }
    }
  nsfd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    e = errno;
  else
    ret = rtnl_open (&r, err);
  if (setns (back_nsfd, CLONE_NEWNET) < 0)
    abort (); /* see rtnl_open_in */
  if (nsfd < 0)
    {
      unlink (path);
      return berth_err_set (err, e, "open /proc/thread-self/ns/net");
    }
  if (ret < 0)
    {
      unlink (path);
      return ret;
    }

  snprintf (src, sizeof src, "/proc/self/fd/%d", nsfd);
  if (mount (src, path, "none", MS_BIND, NULL) < 0)
    {
      e = errno;
      rtnl_close (&r);
      unlink (path);
      return berth_err_set (err, e, "bind network namespace on `%s`", path);
    }
  *ret_nsfd = steal_fd (&nsfd);
  *ret_rtnl = r;
  return 0;
}

int
nsfs_open (const char *path, int *ret_nsfd, berth_err *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct statfs sfs;

  if (fd < 0)
    return berth_err_set (err, errno, "open `%s`", path);
  if (fstatfs (fd, &sfs) < 0)
    return berth_err_set (err, errno, "statfs `%s`", path);
  if (sfs.f_type != NSFS_MAGIC)
    return berth_err_set (err, EINVAL, "`%s` is not a bound network namespace", path);
  *ret_nsfd = steal_fd (&fd);
  return 0;
}

int
nsfs_remove (const char *path, berth_err *err)
{
  int found = 0;

  /* MNT_DETACH: a process still inside the namespace keeps it alive, as it should; the name
   * goes now. The loop takes off mounts stacked by an interrupted earlier attempt. */
  for (int i = 0; i < 8; i++)
    {
      if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        {
          found = 1;
          continue;
        }
      if (errno == EINVAL || errno == ENOENT)
        break;
      return berth_err_set (err, errno, "unmount `%s`", path);
    }
  if (unlink (path) == 0)
    found = 1;
  else if (errno != ENOENT)
    return berth_err_set (err, errno, "remove `%s`", path);
  return found;
}

int
nsfs_prepare_dir (const char *dir, berth_err *err)
{
  if (berth_mkdir_p (dir, 0755, err) < 0)
    return berth_err_ret (err);
  if (mount ("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
    return 0;
  if (errno != EINVAL)
    return berth_err_set (err, errno, "make `%s` a shared mount", dir);
  /* Not a mount point yet. */
  if (mount (dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
    return berth_err_set (err, errno, "bind `%s` onto itself", dir);
  if (mount ("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
    return berth_err_set (err, errno, "make `%s` a shared mount", dir);
  return 0;
}
