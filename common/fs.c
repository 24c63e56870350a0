/* Safe filesystem helpers: opening beneath a root without escaping it, whole-file reads,
 * one-write sysfs/cgroup writes, crash-safe atomic replace, and rm -rf that never follows
 * a symlink or crosses a mount. */
#include "common.h"

#include <dirent.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#define MAX_SYMLINKS 40
#define MAX_DEPTH 256

/* ------------------------------------------------------------------ open beneath a root */

static int
openat2_in_root (int rootfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = {
    .flags = (uint64_t) (flags | O_CLOEXEC),
    .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  for (int attempt = 0; attempt < 16; attempt++)
    {
      long fd = syscall (SYS_openat2, rootfd, path, &how, sizeof how);
      if (fd >= 0)
        return (int) fd;
      /* EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry. */
      if (errno != EAGAIN)
        return -errno;
    }
  return -EAGAIN;
}

/* The walk keeps one O_PATH fd per directory level so ".." pops back without a lookup
 * that could be redirected; ".." at the root stays at the root, as RESOLVE_IN_ROOT does. */
struct walk
{
  int fds[MAX_DEPTH];
  size_t depth; /* fds[0] is the root (borrowed), fds[1..depth] are ours */
};

static void
walk_reset (struct walk *w)
{
  while (w->depth > 0)
    close (w->fds[w->depth--]);
}

static int
walk_cur (struct walk *w)
{
  return w->fds[w->depth];
}

/* Splits the next component off *rest; returns false at the end. */
static bool
next_component (char **rest, char **comp)
{
  char *p = *rest;
  while (*p == '/')
    p++;
  if (*p == '\0')
    return false;
  *comp = p;
  while (*p && *p != '/')
    p++;
  if (*p)
    *p++ = '\0';
  *rest = p;
  return true;
}

static bool
rest_is_empty (const char *rest)
{
  while (*rest == '/')
    rest++;
  return *rest == '\0';
}

static int
walk_open (int rootfd, const char *path, int flags, mode_t mode, bool mkdirs, berth_err *err)
{
  struct walk w = { .depth = 0 };
  cleanup_free char *buf = xstrdup (path);
  char *rest = buf, *comp;
  int symlinks = 0, fd, r;

  w.fds[0] = rootfd;
  for (;;)
    {
      struct stat st;
      bool last;

      if (!next_component (&rest, &comp))
        {
          /* The path named the current directory itself ("", "/", "a/.."). */
          fd = openat (walk_cur (&w), ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
          r = fd < 0 ? -errno : fd;
          goto out;
        }
      last = rest_is_empty (rest);
      if (strcmp (comp, ".") == 0)
        {
          if (last)
            {
              fd = openat (walk_cur (&w), ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
              r = fd < 0 ? -errno : fd;
              goto out;
            }
          continue;
        }
      if (strcmp (comp, "..") == 0)
        {
          if (w.depth > 0)
            close (w.fds[w.depth--]);
          if (last)
            {
              fd = openat (walk_cur (&w), ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
              r = fd < 0 ? -errno : fd;
              goto out;
            }
          continue;
        }

      if (fstatat (walk_cur (&w), comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno != ENOENT)
            {
              r = -errno;
              goto out;
            }
          if (last && !mkdirs)
            {
              if (!(flags & O_CREAT))
                {
                  r = -ENOENT;
                  goto out;
                }
              fd = openat (walk_cur (&w), comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
              r = fd < 0 ? -errno : fd;
              goto out;
            }
          if (!mkdirs)
            {
              r = -ENOENT;
              goto out;
            }
          if (mkdirat (walk_cur (&w), comp, mode) < 0 && errno != EEXIST)
            {
              r = -errno;
              goto out;
            }
          if (fstatat (walk_cur (&w), comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
            {
              r = -errno;
              goto out;
            }
        }

      if (S_ISLNK (st.st_mode) && !(last && (flags & O_NOFOLLOW)))
        {
          char target[PATH_MAX];
          ssize_t n;
          char *joined;

          if (++symlinks > MAX_SYMLINKS)
            {
              r = -ELOOP;
              goto out;
            }
          n = readlinkat (walk_cur (&w), comp, target, sizeof target - 1);
          if (n < 0)
            {
              r = -errno;
              goto out;
            }
          target[n] = '\0';
          if (target[0] == '/')
            walk_reset (&w);
          joined = xasprintf ("%s/%s", target, rest);
          free (buf);
          buf = joined;
          rest = buf;
          continue;
        }

      if (last && !mkdirs)
        {
          fd = openat (walk_cur (&w), comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
          r = fd < 0 ? -errno : fd;
          goto out;
        }
      if (!S_ISDIR (st.st_mode))
        {
          r = -ENOTDIR;
          goto out;
        }
      if (w.depth + 1 >= MAX_DEPTH)
        {
          r = -ENAMETOOLONG;
          goto out;
        }
      /* O_NOFOLLOW|O_DIRECTORY: a component swapped for a symlink since the fstatat fails
       * here with ENOTDIR instead of being followed. */
      fd = openat (walk_cur (&w), comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        {
          r = -errno;
          goto out;
        }
      w.fds[++w.depth] = fd;
      if (last)
        {
          fd = openat (walk_cur (&w), ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
          r = fd < 0 ? -errno : fd;
          goto out;
        }
    }
out:
  walk_reset (&w);
  if (r < 0)
    return berth_err_set (err, -r, "open `%s` beneath root", path);
  return r;
}

int
berth_open_in_root_walk (int rootfd, const char *path, int flags, mode_t mode, berth_err *err)
{
  return walk_open (rootfd, path, flags, mode, false, err);
}

int
berth_open_in_root (int rootfd, const char *path, int flags, mode_t mode, berth_err *err)
{
  static int have_openat2 = -1; /* unknown, then 0/1; a benign race between threads */
  int fd;

  if (have_openat2 != 0)
    {
      fd = openat2_in_root (rootfd, path, flags, mode);
      if (fd >= 0)
        {
          have_openat2 = 1;
          return fd;
        }
      /* ENOSYS: kernel before 5.6; EPERM: a seccomp filter that predates openat2. */
      if (fd != -ENOSYS && fd != -EPERM)
        return berth_err_set (err, -fd, "open `%s` beneath root", path);
      have_openat2 = 0;
    }
  return walk_open (rootfd, path, flags, mode, false, err);
}

int
berth_mkdir_in_root (int rootfd, const char *path, mode_t mode, int *ret_fd, berth_err *err)
{
  int fd = walk_open (rootfd, path, O_PATH | O_DIRECTORY, mode, true, err);
  if (fd < 0)
    return fd;
  if (ret_fd)
    *ret_fd = fd;
  else
    close (fd);
  return 0;
}

/* ------------------------------------------------------------------ reads and writes */

int
berth_read_fd (int fd, size_t max_len, char **ret, size_t *ret_len, berth_err *err)
{
  size_t cap = 4096, len = 0;
  cleanup_free char *buf = xmalloc (cap + 1);

  for (;;)
    {
      ssize_t n;
      if (len == cap)
        {
          if (cap > max_len)
            return berth_err_set (err, EFBIG, "read: more than %zu bytes", max_len);
          cap *= 2;
          buf = xrealloc (buf, cap + 1);
        }
      n = read (fd, buf + len, cap - len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_err_set (err, errno, "read");
        }
      if (n == 0)
        break;
      len += (size_t) n;
      if (len > max_len)
        return berth_err_set (err, EFBIG, "read: more than %zu bytes", max_len);
    }
  buf[len] = '\0';
  if (ret_len)
    *ret_len = len;
  *ret = steal_pointer (&buf);
  return 0;
}

int
berth_read_file_at (int dirfd, const char *path, size_t max_len, char **ret, size_t *ret_len,
                    berth_err *err)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  int r;
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s`", path);
  r = berth_read_fd (fd, max_len, ret, ret_len, err);
  if (r < 0)
    return berth_err_wrap (err, "`%s`", path);
  return 0;
}

int
berth_write_all (int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        return -EIO;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

int
berth_write_file_at (int dirfd, const char *path, const void *data, size_t len, berth_err *err)
{
  cleanup_close int fd = openat (dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  int r;
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s`", path);
  r = berth_write_all (fd, data, len);
  if (r < 0)
    return berth_err_set (err, -r, "write `%s`", path);
  return 0;
}

int
berth_fsync_dir_at (int dirfd, const char *path, berth_err *err)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open directory `%s`", path);
  if (fsync (fd) < 0)
    return berth_err_set (err, errno, "fsync directory `%s`", path);
  return 0;
}

static int
write_file_replace (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                    bool durable, berth_err *err)
{
  cleanup_free char *dir = NULL, *tmp = NULL;
  cleanup_close int dfd = -1, fd = -1;
  const char *base = strrchr (name, '/');
  static unsigned counter;

  if (base)
    {
      dir = xstrndup (name, (size_t) (base - name));
      base++;
      dfd = openat (dirfd, *dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
  else
    {
      base = name;
      dfd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
  if (dfd < 0)
    return berth_err_set (err, errno, "open directory of `%s`", name);

  tmp = xasprintf (".%s.tmp.%d.%u", base, getpid (), __atomic_add_fetch (&counter, 1, __ATOMIC_RELAXED));
  fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    return berth_err_set (err, errno, "create `%s`", tmp);
  if (fchmod (fd, mode) < 0) /* the umask must not decide a state file's mode */
    goto fail;
  if (berth_write_all (fd, data, len) < 0)
    goto fail;
  if (durable && fsync (fd) < 0)
    goto fail;
  if (renameat (dfd, tmp, dfd, base) < 0)
    goto fail;
  if (durable && fsync (dfd) < 0)
    return berth_err_set (err, errno, "fsync directory of `%s`", name);
  return 0;

fail:
  {
    int e = errno;
    unlinkat (dfd, tmp, 0);
    return berth_err_set (err, e, "write `%s` atomically", name);
  }
}

int
berth_write_file_atomic_at (int dirfd, const char *name, const void *data, size_t len,
                            mode_t mode, berth_err *err)
{
  return write_file_replace (dirfd, name, data, len, mode, true, err);
}

int
berth_write_file_replace_at (int dirfd, const char *name, const void *data, size_t len,
                             mode_t mode, berth_err *err)
{
  return write_file_replace (dirfd, name, data, len, mode, false, err);
}

int
berth_mkdir_p (const char *path, mode_t mode, berth_err *err)
{
  cleanup_free char *p = xstrdup (path);
  size_t len = strlen (p);

  for (size_t i = 1; i <= len; i++)
    {
      if (p[i] != '/' && p[i] != '\0')
        continue;
      p[i] = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return berth_err_set (err, errno, "mkdir `%s`", p);
      if (i < len)
        p[i] = '/';
    }
  return 0;
}

bool
berth_exists_at (int dirfd, const char *path)
{
  struct stat st;
  return fstatat (dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ------------------------------------------------------------------ rm -rf */

static int
rm_rf_children (int dfd, dev_t dev, const char *what, berth_err *err)
{
  cleanup_dir DIR *d = NULL;
  int fd = dup (dfd);
  struct dirent *de;

  if (fd < 0)
    return berth_err_set (err, errno, "dup");
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return berth_err_set (err, errno, "opendir `%s`", what);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          return berth_err_set (err, errno, "stat `%s/%s`", what, de->d_name);
        }
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int cfd = -1;
          cleanup_free char *sub = xasprintf ("%s/%s", what, de->d_name);
          int r;
          if (st.st_dev != dev)
            return berth_err_set (err, EBUSY, "remove `%s`: a mount point", sub);
          cfd = openat (dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (cfd < 0)
            return berth_err_set (err, errno, "open `%s`", sub);
          r = rm_rf_children (cfd, dev, sub, err);
          if (r < 0)
            return r;
          if (unlinkat (dfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return berth_err_set (err, errno, "rmdir `%s`", sub);
        }
      else if (unlinkat (dfd, de->d_name, 0) < 0 && errno != ENOENT)
        return berth_err_set (err, errno, "unlink `%s/%s`", what, de->d_name);
    }
  if (errno != 0)
    return berth_err_set (err, errno, "readdir `%s`", what);
  return 0;
}

int
berth_rm_rf_at (int dirfd, const char *path, berth_err *err)
{
  cleanup_close int fd = -1;
  struct stat st;
  int r;

  if (fstatat (dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return berth_err_set (err, errno, "stat `%s`", path);
    }
  if (!S_ISDIR (st.st_mode))
    {
      if (unlinkat (dirfd, path, 0) < 0 && errno != ENOENT)
        return berth_err_set (err, errno, "unlink `%s`", path);
      return 0;
    }
  fd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s`", path);
  r = rm_rf_children (fd, st.st_dev, path, err);
  if (r < 0)
    return r;
  if (unlinkat (dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return berth_err_set (err, errno, "rmdir `%s`", path);
  return 0;
}

int
berth_read_uint64_file_at (int dirfd, const char *path, uint64_t *ret, berth_err *err)
{
  cleanup_free char *buf = NULL;
  size_t len;
  int r = berth_read_file_at (dirfd, path, 4096, &buf, &len, err);
  if (r < 0)
    return r;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
    buf[--len] = '\0';
  r = berth_parse_uint64 (buf, ret);
  if (r < 0)
    return berth_err_set (err, -r, "parse `%s`: `%s`", path, buf);
  return 0;
}
