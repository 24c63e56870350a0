/* The container's root filesystem, built in its mount namespace by its first process: mount
 * propagation, the bind of the root, config.json's mounts (new mount API: every target is an
 * fd resolved beneath the root, so a symlink in the image cannot send a mount elsewhere),
 * /dev from scratch, pivot_root, then sysctl, read-only and masked paths. Syscalls only. */
#include "runtime/internal.h"

#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <inttypes.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define RESOLVE_CONTAINED (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

static int
openat2_in (int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .mode = (flags & O_CREAT) ? mode : 0,
    .resolve = resolve,
  };
  for (int i = 0; i < 16; i++)
    {
      long fd = syscall (SYS_openat2, dirfd, path, &how, sizeof how);
      if (fd >= 0)
        return (int)fd;
      if (errno != EAGAIN)
        return -errno;
    }
  return -EAGAIN;
}

static int
open_in_root (int rootfd, const char *path, int flags)
{
  return openat2_in (rootfd, path, flags, 0, RESOLVE_CONTAINED);
}

/* Splits "a/b/c" in buf (a copy) at its last '/': *ret_base = "c", buf = "a/b" ("/" for a
 * top-level name). */
static void
split_parent (char *buf, const char **ret_parent, const char **ret_base)
{
  char *slash = strrchr (buf, '/');
  if (slash == NULL)
    {
      *ret_parent = "/";
      *ret_base = buf;
      return;
    }
  *slash = '\0';
  *ret_base = slash + 1;
  *ret_parent = *buf ? buf : "/";
}

/* mkdir -p beneath rootfd; each prefix is resolved beneath the root, so a symlink on the way
 * stays inside it. */
static int
mkdir_in_root (int rootfd, const char *path, mode_t mode)
{
  char buf[PATH_MAX];
  size_t len = strlen (path);
  int fd;

  fd = open_in_root (rootfd, path, O_PATH | O_DIRECTORY);
  if (fd >= 0)
    {
      close (fd);
      return 0;
    }
  if (fd != -ENOENT)
    return fd;
  if (len >= sizeof buf)
    return -ENAMETOOLONG;
  memcpy (buf, path, len + 1);
  for (size_t i = 1; i <= len; i++)
    {
      char save;
      char pbuf[PATH_MAX];
      const char *parent, *base;
      int pfd;

      if (buf[i] != '/' && buf[i] != '\0')
        continue;
      save = buf[i];
      buf[i] = '\0';
      fd = open_in_root (rootfd, buf, O_PATH | O_DIRECTORY);
      if (fd >= 0)
        close (fd);
      else if (fd == -ENOENT)
        {
          memcpy (pbuf, buf, i + 1);
          split_parent (pbuf, &parent, &base);
          pfd = open_in_root (rootfd, parent, O_PATH | O_DIRECTORY);
          if (pfd < 0)
            return pfd;
          if (mkdirat (pfd, base, mode) < 0 && errno != EEXIST)
            {
              int e = -errno;
              close (pfd);
              return e;
            }
          close (pfd);
          /* EEXIST with ENOENT above: a dangling symlink. */
          fd = open_in_root (rootfd, buf, O_PATH | O_DIRECTORY);
          if (fd < 0)
            return fd;
          close (fd);
        }
      else
        return fd;
      buf[i] = save;
    }
  return 0;
}

/* Makes sure path exists beneath the root as a directory or (for a bind of a file) an empty
 * file, and returns an O_PATH fd of it. */
static int
prepare_target (struct rt_init *init, int rootfd, const char *path, bool is_dir)
{
  char buf[PATH_MAX];
  const char *parent, *base;
  int fd, r;

  if (is_dir)
    {
      r = mkdir_in_root (rootfd, path, 0755);
      if (r < 0)
        rt_child_fail (init, -r, "create mount point `%s` in the root filesystem", path);
      fd = open_in_root (rootfd, path, O_PATH | O_DIRECTORY);
      if (fd < 0)
        rt_child_fail (init, -fd, "open mount point `%s`", path);
      return fd;
    }
  fd = open_in_root (rootfd, path, O_PATH);
  if (fd >= 0)
    return fd;
  if (strlen (path) >= sizeof buf)
    rt_child_fail (init, ENAMETOOLONG, "mount point `%s`", path);
  strcpy (buf, path);
  split_parent (buf, &parent, &base);
  r = mkdir_in_root (rootfd, parent, 0755);
  if (r < 0)
    rt_child_fail (init, -r, "create `%s` in the root filesystem", parent);
  fd = open_in_root (rootfd, path, O_CREAT | O_WRONLY | O_NOCTTY);
  if (fd < 0)
    rt_child_fail (init, -fd, "create mount point `%s` in the root filesystem", path);
  close (fd);
  fd = open_in_root (rootfd, path, O_PATH);
  if (fd < 0)
    rt_child_fail (init, -fd, "open mount point `%s`", path);
  return fd;
}

/* A container that shares the host's mount namespace makes its mounts there: each one is
 * reported to the runtime (mount id and host path), which records it and removes it when the
 * container is deleted. */
static void
record_host_mount (struct rt_init *init, int mfd, int target_fd)
{
  char link[64], path[PATH_MAX], text[RT_MSG_TEXT_MAX];
  struct statx stx;
  ssize_t n;

  if (statx (mfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
    rt_child_fail (init, errno, "statx the new mount");
  snprintf (link, sizeof link, "/proc/self/fd/%d", target_fd);
  n = readlink (link, path, sizeof path - 1);
  if (n < 0)
    rt_child_fail (init, errno, "readlink `%s`", link);
  path[n] = '\0';
  /* After chroot the link is relative to the container's root. A path that does not fit
     the message cannot be recorded, so it is an error rather than a mount left behind. */
  if ((size_t)snprintf (text, sizeof text, "%" PRIu64 " %s%.*s", (uint64_t)stx.stx_mnt_id,
                        init->chrooted ? init->rootfs : "", (int)(sizeof text - 1), path)
      >= sizeof text)
    rt_child_fail (init, ENAMETOOLONG, "record the mount on `%s`", path);
  if (rt_msg_send (init->sync_fd, RT_MSG_MOUNTED, 0, text, -1) < 0)
    _exit (1);
}

static void
attach (struct rt_init *init, int mfd, int target_fd, const char *what)
{
  if (move_mount (mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    rt_child_fail (init, errno, "mount %s", what);
  if (init->shared_mount_ns)
    record_host_mount (init, mfd, target_fd);
}

static void
set_propagation (struct rt_init *init, int mfd, uint64_t propagation, bool recursive,
                 const char *what)
{
  struct mount_attr a = { .propagation = propagation };
  if (propagation == 0)
    return;
  if (mount_setattr (mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0)
    rt_child_fail (init, errno, "set propagation of %s", what);
}

/* fsconfig failures leave the kernel's own explanation in the fs context ("e tmpfs: Bad
 * value for 'mode'"); it is the best error message there is. */
static __attribute__ ((noreturn)) void
fs_fail (struct rt_init *init, int fsfd, int code, const char *what, const char *detail)
{
  char log[512];
  ssize_t n = fsfd >= 0 ? read (fsfd, log, sizeof log - 1) : -1;
  if (n > 2)
    {
      log[n] = '\0';
      if (log[n - 1] == '\n')
        log[n - 1] = '\0';
      rt_child_fail (init, code, "mount %s: %s (%s)", what, detail, log + 2);
    }
  rt_child_fail (init, code, "mount %s: %s", what, detail);
}

/* A new filesystem instance, not yet attached: fsopen, its parameters, fsmount. */
static int
new_fs (struct rt_init *init, const char *type, const char *source, const struct rt_fsparam *params,
        size_t n_params, char *const *flags, uint64_t attrs, const char *what)
{
  int fsfd, mfd;
  char detail[256];

  fsfd = fsopen (type, FSOPEN_CLOEXEC);
  if (fsfd < 0)
    {
      if (errno == ENODEV)
        rt_child_fail (init, 0, "mount %s: unknown filesystem type `%s`", what, type);
      rt_child_fail (init, errno, "mount %s: fsopen `%s`", what, type);
    }
  if (source && fsconfig (fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
    fs_fail (init, fsfd, errno, what, "source");
  for (size_t i = 0; i < n_params; i++)
    {
      const struct rt_fsparam *p = &params[i];
      int r = p->value ? fsconfig (fsfd, FSCONFIG_SET_STRING, p->key, p->value, 0)
                       : fsconfig (fsfd, FSCONFIG_SET_FLAG, p->key, NULL, 0);
      if (r < 0)
        {
          snprintf (detail, sizeof detail, "option `%s%s%s`", p->key, p->value ? "=" : "",
                    p->value ? p->value : "");
          fs_fail (init, fsfd, errno, what, detail);
        }
    }
  for (size_t i = 0; flags && flags[i]; i++)
    {
      const char *eq = strchr (flags[i], '=');
      int r;
      if (eq)
        {
          char key[64];
          size_t kl = (size_t)(eq - flags[i]);
          if (kl >= sizeof key)
            kl = sizeof key - 1;
          memcpy (key, flags[i], kl);
          key[kl] = '\0';
          r = fsconfig (fsfd, FSCONFIG_SET_STRING, key, eq + 1, 0);
        }
      else
        r = fsconfig (fsfd, FSCONFIG_SET_FLAG, flags[i], NULL, 0);
      if (r < 0)
        {
          snprintf (detail, sizeof detail, "option `%s`", flags[i]);
          fs_fail (init, fsfd, errno, what, detail);
        }
    }
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    fs_fail (init, fsfd, errno, what, "create");
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, (unsigned)attrs);
  if (mfd < 0)
    fs_fail (init, fsfd, errno, what, "fsmount");
  close (fsfd);
  return mfd;
}

static int
bind_tree (struct rt_init *init, int dirfd, const char *source, bool recursive, const char *what)
{
  int tfd = open_tree (dirfd, source,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0)
                           | (*source == '\0' ? AT_EMPTY_PATH : 0));
  if (tfd < 0)
    rt_child_fail (init, errno, "mount %s: bind `%s`", what, *source ? source : "(fd)");
  return tfd;
}

static void
set_attrs (struct rt_init *init, int mfd, uint64_t set, uint64_t clr, bool recursive,
           const char *what)
{
  struct mount_attr a = { .attr_set = set, .attr_clr = clr };
  if (set == 0 && clr == 0)
    return;
  if (mount_setattr (mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0)
    rt_child_fail (init, errno, "mount %s: set mount attributes", what);
}

static void
do_cgroup_mount (struct rt_init *init, const struct rt_mount *m, int target_fd, const char *what)
{
  uint64_t attrs = m->attr_set;
  int tmpfs, mfd;

  if (init->n_cgroup_mounts == 0)
    rt_child_fail (init, 0, "mount %s: the container has no cgroup to show", what);
  if (init->n_cgroup_mounts == 1 && init->cgroup_mounts[0].unified
      && init->cgroup_mounts[0].name[0] == '\0')
    {
      /* Pure cgroup v2: one cgroup2 mount, its root the container's cgroup. */
      if (init->cgroupns)
        mfd = new_fs (init, "cgroup2", "cgroup", NULL, 0, NULL, attrs, what);
      else
        {
          mfd = bind_tree (init, AT_FDCWD, init->cgroup_mounts[0].host_dir, false, what);
          set_attrs (init, mfd, m->attr_set, m->attr_clr, false, what);
        }
      attach (init, mfd, target_fd, what);
      close (mfd);
      return;
    }

  /* v1 and hybrid: a tmpfs with one mount per hierarchy, as the host has them. */
  {
    static const struct rt_fsparam tmpfs_params[] = { { (char *)"mode", (char *)"755" } };
    tmpfs = new_fs (init, "tmpfs", "cgroup", tmpfs_params, 1, NULL,
                    attrs & ~(uint64_t)MOUNT_ATTR_RDONLY, what);
  }
  attach (init, tmpfs, target_fd, what);
  for (size_t i = 0; i < init->n_cgroup_mounts; i++)
    {
      const struct rt_cgroup_mount *h = &init->cgroup_mounts[i];
      int dfd, sub;

      if (mkdirat (tmpfs, h->name, 0755) < 0 && errno != EEXIST)
        rt_child_fail (init, errno, "mount %s: mkdir `%s`", what, h->name);
      dfd = openat2_in (tmpfs, h->name, O_PATH | O_DIRECTORY, 0,
                        RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
      if (dfd < 0)
        rt_child_fail (init, -dfd, "mount %s: open `%s`", what, h->name);
      if (init->cgroupns)
        sub = new_fs (init, h->unified ? "cgroup2" : "cgroup", "cgroup", NULL, 0, h->fs_flags,
                      attrs, what);
      else
        {
          sub = bind_tree (init, AT_FDCWD, h->host_dir, false, what);
          set_attrs (init, sub, m->attr_set, m->attr_clr, false, what);
        }
      attach (init, sub, dfd, what);
      close (sub);
      close (dfd);
      /* Co-mounted controllers get a link per controller name, as on the host. */
      if (!h->unified && strchr (h->name, ','))
        {
          char names[256];
          char *save = NULL;
          snprintf (names, sizeof names, "%s", h->name);
          for (char *tok = strtok_r (names, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
            if (symlinkat (h->name, tmpfs, tok) < 0 && errno != EEXIST)
              rt_child_fail (init, errno, "mount %s: symlink `%s`", what, tok);
        }
    }
  if (attrs & MOUNT_ATTR_RDONLY)
    set_attrs (init, tmpfs, MOUNT_ATTR_RDONLY, 0, false, what);
  close (tmpfs);
}

static void
do_mount (struct rt_init *init, int rootfd, const struct rt_mount *m)
{
  char what[PATH_MAX + 16];
  int mfd, target;

  snprintf (what, sizeof what, "`%s`", m->destination);
  switch (m->kind)
    {
    case RT_MOUNT_FS:
      target = prepare_target (init, rootfd, m->destination, true);
      mfd = new_fs (init, m->type, m->source, m->params, m->n_params, NULL, m->attr_set, what);
      attach (init, mfd, target, what);
      set_propagation (init, mfd, m->propagation, m->propagation_recursive, what);
      close (mfd);
      close (target);
      return;
    case RT_MOUNT_BIND:
      {
        struct stat st;
        mfd = bind_tree (init, AT_FDCWD, m->source, m->recursive, what);
        if (fstat (mfd, &st) < 0)
          rt_child_fail (init, errno, "mount %s: stat source `%s`", what, m->source);
        set_attrs (init, mfd, m->attr_set, m->attr_clr, false, what);
        set_attrs (init, mfd, m->rattr_set, m->rattr_clr, true, what);
        target = prepare_target (init, rootfd, m->destination, S_ISDIR (st.st_mode));
        attach (init, mfd, target, what);
        set_propagation (init, mfd, m->propagation, m->propagation_recursive, what);
        close (mfd);
        close (target);
        return;
      }
    case RT_MOUNT_CGROUP:
      target = prepare_target (init, rootfd, m->destination, true);
      do_cgroup_mount (init, m, target, what);
      close (target);
      return;
    }
  rt_child_fail (init, 0, "mount %s: unknown kind", what);
}

/* ------------------------------------------------------------------ /dev */

static void
create_device (struct rt_init *init, int rootfd, const struct rt_dev_node *d)
{
  char buf[PATH_MAX];
  const char *parent, *base;
  struct stat st;
  mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
  int pfd, r;

  if (strlen (d->path) >= sizeof buf)
    rt_child_fail (init, ENAMETOOLONG, "device `%s`", d->path);
  strcpy (buf, d->path);
  split_parent (buf, &parent, &base);
  r = mkdir_in_root (rootfd, parent, 0755);
  if (r < 0)
    rt_child_fail (init, -r, "device `%s`: create `%s`", d->path, parent);
  pfd = open_in_root (rootfd, parent, O_PATH | O_DIRECTORY);
  if (pfd < 0)
    rt_child_fail (init, -pfd, "device `%s`: open `%s`", d->path, parent);

  if (fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      bool same = (st.st_mode & S_IFMT) == type && (type == S_IFIFO || st.st_rdev == d->rdev);
      if (same && !d->replace && !init->in_userns)
        {
          close (pfd);
          return;
        }
      if (unlinkat (pfd, base, S_ISDIR (st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        rt_child_fail (init, errno, "device `%s`: remove the existing file", d->path);
    }

  if (init->in_userns && type != S_IFIFO)
    {
      /* No mknod in a user namespace: bind the host's node, after checking that the host
         path really is that device. */
      int tfd, target;
      struct stat hs;
      tfd = bind_tree (init, AT_FDCWD, d->path, false, d->path);
      if (fstat (tfd, &hs) < 0 || (hs.st_mode & S_IFMT) != type || hs.st_rdev != d->rdev)
        rt_child_fail (init, 0, "device `%s`: the host's `%s` is not device %u:%u", d->path,
                       d->path, major (d->rdev), minor (d->rdev));
      target = openat2_in (pfd, base, O_CREAT | O_WRONLY | O_NOCTTY, 0,
                           RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
      if (target < 0)
        rt_child_fail (init, -target, "device `%s`: create the mount point", d->path);
      close (target);
      target = openat2_in (pfd, base, O_PATH, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
      if (target < 0)
        rt_child_fail (init, -target, "device `%s`: open the mount point", d->path);
      attach (init, tfd, target, d->path);
      close (tfd);
      close (target);
      close (pfd);
      return;
    }
  if (mknodat (pfd, base, type | (d->mode & 07777), d->rdev) < 0)
    rt_child_fail (init, errno, "device `%s`: mknod", d->path);
  if (d->chown && fchownat (pfd, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
    rt_child_fail (init, errno, "device `%s`: chown", d->path);
  close (pfd);
}

static void
create_dev_symlinks (struct rt_init *init, int rootfd)
{
  const char *const *links = runtime_default_dev_symlinks ();
  int devfd = open_in_root (rootfd, "/dev", O_PATH | O_DIRECTORY);
  if (devfd < 0)
    rt_child_fail (init, -devfd, "open /dev in the root filesystem");
  for (size_t i = 0; links[i]; i += 2)
    if (symlinkat (links[i + 1], devfd, links[i] + 5) < 0 && errno != EEXIST)
      rt_child_fail (init, errno, "symlink `%s`", links[i]);
  close (devfd);
}

/* ------------------------------------------------------------------ the whole root */

void
rt_rootfs_prepare (struct rt_init *init, int *ret_rootfd)
{
  const struct rt_config *c = init->config;
  unsigned long wanted = c->rootfs_propagation;
  int rootfd;

  /* Nothing mounted from here on reaches the host: every mount becomes private, or a slave
     when the container asked to keep receiving the host's mounts (slave and shared). The
     root gets its requested propagation after pivot_root, in a peer group of its own. A
     container in the host's mount namespace changes neither. */
  if (!init->shared_mount_ns)
    {
      if (mount (NULL, "/", NULL,
                 MS_REC | ((wanted & (MS_SLAVE | MS_SHARED)) ? MS_SLAVE : MS_PRIVATE), NULL)
          < 0)
        rt_child_fail (init, errno, "set the propagation of /");
      if (mount (init->rootfs, init->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        rt_child_fail (init, errno, "bind the root filesystem `%s`", init->rootfs);
    }
  rootfd = open (init->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    rt_child_fail (init, errno, "open the root filesystem `%s`", init->rootfs);

  for (size_t i = 0; i < c->n_mounts; i++)
    do_mount (init, rootfd, &c->mounts[i]);
  for (size_t i = 0; i < init->n_devs; i++)
    create_device (init, rootfd, &init->devs[i]);
  create_dev_symlinks (init, rootfd);
  *ret_rootfd = rootfd;
}

void
rt_rootfs_pivot (struct rt_init *init, int rootfd)
{
  if (fchdir (rootfd) < 0)
    rt_child_fail (init, errno, "chdir to the root filesystem");
  /* pivot_root in the host's mount namespace would move the host's root: a container that
     asked to share it (no mount namespace in config.json) gets chroot, the only way to give
     it its own root there. Nothing it does isolates its filesystem: sharing the host's mount
     namespace means exactly that. */
  if (init->shared_mount_ns)
    {
      if (chroot (".") < 0)
        rt_child_fail (init, errno, "chroot to `%s`", init->rootfs);
      if (chdir ("/") < 0)
        rt_child_fail (init, errno, "chdir /");
      init->chrooted = true;
      close (rootfd);
      return;
    }
  /* pivot_root(".", "."): the old root ends up stacked on the new one and is detached right
     away; no directory for it is needed in the image. */
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    rt_child_fail (init, errno, "pivot_root to `%s`", init->rootfs);
  /* The unmount must not propagate to the host's mounts (with rootfsPropagation shared they
     are peers). */
  if (mount (NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    rt_child_fail (init, errno, "make the old root a slave");
  if (umount2 (".", MNT_DETACH) < 0)
    rt_child_fail (init, errno, "detach the old root");
  if (chdir ("/") < 0)
    rt_child_fail (init, errno, "chdir /");
  close (rootfd);
  if (init->config->rootfs_propagation
      && mount (NULL, "/", NULL, init->config->rootfs_propagation, NULL) < 0)
    rt_child_fail (init, errno, "set the propagation of / (linux.rootfsPropagation)");
}

static void
write_sysctls (struct rt_init *init)
{
  const struct rt_config *c = init->config;
  struct statfs sfs;
  int procfd;

  if (c->n_sysctl == 0)
    return;
  /* Written through a procfs that we check is one: an image cannot redirect the writes
     with a symlink or a mount of its own. */
  procfd = open ("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (procfd < 0 || fstatfs (procfd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
    rt_child_fail (init, 0, "linux.sysctl: /proc in the container is not a procfs mount");
  for (size_t i = 0; i < c->n_sysctl; i++)
    {
      const char *rel = init->sysctl_paths[i] + strlen ("/proc/");
      size_t len = strlen (c->sysctl[i].value);
      int fd = openat2_in (procfd, rel, O_WRONLY | O_NOCTTY, 0,
                           RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV);
      if (fd < 0)
        rt_child_fail (init, -fd, "linux.sysctl.%s: open `%s`", c->sysctl[i].key,
                       init->sysctl_paths[i]);
      if (write (fd, c->sysctl[i].value, len) != (ssize_t)len)
        rt_child_fail (init, errno, "linux.sysctl.%s: write `%s`", c->sysctl[i].key,
                       c->sysctl[i].value);
      close (fd);
    }
  close (procfd);
}

static void
readonly_paths (struct rt_init *init)
{
  char *const *paths = init->config->readonly_paths;
  for (size_t i = 0; paths && paths[i]; i++)
    {
      struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
      int target = open_in_root (AT_FDCWD, paths[i], O_PATH);
      int tfd;
      if (target == -ENOENT)
        continue;
      if (target < 0)
        rt_child_fail (init, -target, "linux.readonlyPaths: open `%s`", paths[i]);
      tfd = open_tree (target, "",
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
      if (tfd < 0)
        rt_child_fail (init, errno, "linux.readonlyPaths: bind `%s`", paths[i]);
      if (mount_setattr (tfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
        rt_child_fail (init, errno, "linux.readonlyPaths: make `%s` read-only", paths[i]);
      attach (init, tfd, target, paths[i]);
      close (tfd);
      close (target);
    }
}

static void
masked_paths (struct rt_init *init)
{
  char *const *paths = init->config->masked_paths;
  struct stat st;
  int nullfd = -1;

  if (paths == NULL || paths[0] == NULL)
    return;
  /* CVE-2025-31133: the source of every masking bind must be the real null device, checked
     on the fd that is bound, or a crafted /dev/null (a symlink to a /proc file) would make
     the "masked" path a writable window onto the host. */
  nullfd = open ("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (nullfd < 0)
    rt_child_fail (init, errno, "linux.maskedPaths: open /dev/null");
  if (fstat (nullfd, &st) < 0)
    rt_child_fail (init, errno, "linux.maskedPaths: stat /dev/null");
  if (!S_ISCHR (st.st_mode) || st.st_rdev != makedev (1, 3))
    rt_child_fail (init, 0,
                   "linux.maskedPaths: /dev/null in the container is not the null device "
                   "(1:3); refusing to mask with it");
  for (size_t i = 0; paths[i]; i++)
    {
      int target = open_in_root (AT_FDCWD, paths[i], O_PATH | O_NOFOLLOW);
      int mfd;
      if (target == -ENOENT)
        continue;
      if (target < 0)
        rt_child_fail (init, -target, "linux.maskedPaths: open `%s`", paths[i]);
      if (fstat (target, &st) < 0)
        rt_child_fail (init, errno, "linux.maskedPaths: stat `%s`", paths[i]);
      if (S_ISDIR (st.st_mode))
        {
          static const struct rt_fsparam p[]
              = { { (char *)"size", (char *)"0" }, { (char *)"mode", (char *)"0" } };
          mfd = new_fs (init, "tmpfs", "tmpfs", p, 2, NULL, MOUNT_ATTR_RDONLY, paths[i]);
        }
      else
        mfd = bind_tree (init, nullfd, "", false, paths[i]);
      attach (init, mfd, target, paths[i]);
      close (mfd);
      close (target);
    }
  close (nullfd);
}

void
rt_rootfs_finish (struct rt_init *init)
{
  write_sysctls (init);
  readonly_paths (init);
  masked_paths (init);
}
