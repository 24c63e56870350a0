/* Container root filesystems: an overlay mount of an image's layers with a private
 * upper/work directory, and its release. Layers are handed to the kernel one by one with
 * the new mount API (fsconfig "lowerdir+", Linux 6.8), so the one-page limit of mount(2)
 * option strings does not cap the number of layers; older kernels (Debian 12's 6.1) get one
 * mount(2) option string. */
#include "internal.h"

#include <limits.h>
#include <sys/mount.h>

static int
check_options (const struct imagecache_rootfs_options *o, berth_err *err)
{
  if (o == NULL || o->target == NULL || o->target[0] != '/')
    return berth_err_set (err, 0, "rootfs: target must be an absolute path");
  if (!o->read_only && (o->rw_dir == NULL || o->rw_dir[0] != '/'))
    return berth_err_set (err, 0, "rootfs: rw_dir must be an absolute path (or read_only)");
  return ic_lease_id_validate (o->lease_id, err);
}

/* Set once a kernel showed it has no "lowerdir+": every later mount goes the old way. */
static bool lowerdir_plus_missing;

/* The kernel explains a failed fsconfig in the context fd ("e overlay: ..."). Keeps errno:
 * the read fails with ENODATA when there is no message, and the caller reports the errno
 * of the call that failed. */
static char *
fs_context_message (int fsfd)
{
  char buf[512];
  int saved = errno;
  ssize_t n = read (fsfd, buf, sizeof buf - 1);
  errno = saved;
  if (n <= 0)
    return xstrdup ("");
  buf[n] = '\0';
  while (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  return xasprintf (" (%s)", buf[0] && buf[1] == ' ' ? buf + 2 : buf);
}

static int
mount_new_api (char **lowers, size_t n, const char *upper, const char *work, const char *target,
               bool ro, bool *ret_unsupported, berth_err *err)
{
  cleanup_close int fsfd = -1, mfd = -1;
  *ret_unsupported = false;
  if (__atomic_load_n (&lowerdir_plus_missing, __ATOMIC_RELAXED))
    {
      *ret_unsupported = true;
      return berth_err_ret (err);
    }
  fsfd = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    {
      if (errno == ENOSYS)
        {
          *ret_unsupported = true;
          return berth_err_ret (err);
        }
      return berth_err_set (err, errno, "fsopen overlay");
    }
  for (size_t i = 0; i < n; i++)
    if (fsconfig (fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0)
      {
        if (i == 0 && errno == EINVAL)
          {
            /* a kernel before 6.8 has no "lowerdir+" */
            cleanup_free char *m = fs_context_message (fsfd);
            (void)m;
            *ret_unsupported = true;
            return berth_err_ret (err);
          }
        cleanup_free char *m = fs_context_message (fsfd);
        return berth_err_set (err, errno, "overlay: layer `%s`%s", lowers[i], m);
      }
  if (!ro)
    {
      if (fsconfig (fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0
          || fsconfig (fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
        {
          cleanup_free char *m = fs_context_message (fsfd);
          return berth_err_set (err, errno, "overlay: upper/work `%s`%s", upper, m);
        }
    }
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    {
      cleanup_free char *m = fs_context_message (fsfd);
      /* Before 6.5 overlayfs took its options the old way: the new API accepts any key
       * and the unknown "lowerdir+" fails only here, with EINVAL (the reason goes to the
       * kernel log). The old way is tried then; a layer that is really wrong fails there
       * too, with its own error. */
      if (errno == EINVAL && *m == '\0')
        {
          *ret_unsupported = true;
          return berth_err_ret (err);
        }
      return berth_err_set (err, errno, "create overlay for `%s`%s", target, m);
    }
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, ro ? MOUNT_ATTR_RDONLY : 0);
  if (mfd < 0)
    return berth_err_set (err, errno, "fsmount overlay for `%s`", target);
  if (move_mount (mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return berth_err_set (err, errno, "mount overlay on `%s`", target);
  return 0;
}

static int
mount_legacy (char **lowers, size_t n, const char *upper, const char *work, const char *target,
              bool ro, berth_err *err)
{
  long page = sysconf (_SC_PAGESIZE);
  cleanup_free char *opts = xstrdup ("lowerdir=");
  for (size_t i = 0; i < n; i++)
    {
      char *p;
      if (strpbrk (lowers[i], ":,\\"))
        return berth_err_set (err, 0, "layer path `%s` has a character mount options cannot carry",
                              lowers[i]);
      p = xasprintf ("%s%s%s", opts, i ? ":" : "", lowers[i]);
      free (opts);
      opts = p;
    }
  if (!ro)
    {
      char *p = xasprintf ("%s,upperdir=%s,workdir=%s", opts, upper, work);
      free (opts);
      opts = p;
    }
  if ((long)strlen (opts) >= page)
    return berth_err_set (
        err, E2BIG,
        "overlay for `%s`: %zu layers need %zu bytes of mount options, more than a page, and this "
        "kernel lacks overlayfs lowerdir+ (Linux 6.8)",
        target, n, strlen (opts));
  if (mount ("overlay", target, "overlay", ro ? MS_RDONLY : 0, opts) < 0)
    return berth_err_set (err, errno, "mount overlay on `%s`", target);
  return 0;
}

int
imagecache_rootfs_prepare (struct imagecache_store *s, const struct imagecache_image *img,
                           const struct imagecache_rootfs_options *o, berth_err *err)
{
  struct ic_record rec = { 0 };
  struct ic_ctx ctx;
  cleanup_close int lockfd = -1;
  cleanup_strv char **lowers = NULL;
  cleanup_free char *upper = NULL, *work = NULL;
  size_t n_lowers;
  bool unsupported;
  int r;

  if (check_options (o, err) < 0)
    return berth_err_ret (err);
  if (img->n_layers == 0)
    return berth_err_set (err, 0, "image %s has no layers", img->name);
  /* the lease first: from here GC keeps every layer, whatever happens next */
  if (imagecache_lease_add (s, o->lease_id, img, err) < 0)
    return berth_err_ret (err);

  rec.name = img->name;
  rec.n_layers = img->n_layers;
  rec.layers = img->layers;
  ic_ctx_init (&ctx, s, NULL, NULL, NULL);
  ctx.n_layers = img->n_layers;
  r = ic_store_lock_shared (s, &ctx, &lockfd, err);
  if (r == 0)
    r = ic_ensure_layers_offline (s, &ctx, &rec, err);
  ic_ctx_destroy (&ctx);
  if (r < 0)
    return berth_err_wrap (err, "prepare rootfs of %s", img->name);
  close (steal_fd (&lockfd));

  /* overlayfs wants the uppermost lower first */
  lowers = xzalloc ((img->n_layers + 2) * sizeof (char *));
  for (size_t i = 0; i < img->n_layers; i++)
    lowers[i] = ic_layer_diff_path (s, img->layers[img->n_layers - 1 - i].chain_id);
  n_lowers = img->n_layers;
  /* overlayfs needs two lower layers when there is no upper one ("at least 2 lowerdir are
     needed while upperdir nonexistent"); an empty one below keeps whiteouts hidden, where
     a bind mount of the single layer would show them */
  if (o->read_only && n_lowers == 1)
    lowers[n_lowers++] = xasprintf ("%s/empty", s->root);
  if (berth_mkdir_p (o->target, 0755, err) < 0)
    return berth_err_ret (err);
  if (!o->read_only)
    {
      upper = xasprintf ("%s/upper", o->rw_dir);
      work = xasprintf ("%s/work", o->rw_dir);
      if (berth_mkdir_p (upper, 0755, err) < 0 || berth_mkdir_p (work, 0700, err) < 0)
        return berth_err_ret (err);
      /* the container's / is the upper root: it must not be 0700 from a umask */
      if (chmod (upper, 0755) < 0)
        return berth_err_set (err, errno, "chmod `%s`", upper);
    }
  r = mount_new_api (lowers, n_lowers, upper, work, o->target, o->read_only, &unsupported, err);
  if (r < 0 && unsupported)
    {
      r = mount_legacy (lowers, n_lowers, upper, work, o->target, o->read_only, err);
      if (r == 0)
        __atomic_store_n (&lowerdir_plus_missing, true, __ATOMIC_RELAXED);
    }
  if (r < 0)
    return berth_err_wrap (err, "prepare rootfs of %s", img->name);
  if (img->name && *img->name)
    ic_record_touch (s, img->name, NULL);
  return 0;
}

static bool
is_mount_point (const char *path)
{
  struct statx st;
  if (statx (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) < 0)
    return false;
  return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
         && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

int
imagecache_rootfs_release (struct imagecache_store *s, const struct imagecache_rootfs_options *o,
                           unsigned flags, berth_err *err)
{
  if (check_options (o, err) < 0)
    return berth_err_ret (err);
  while (is_mount_point (o->target))
    {
      /* not MNT_DETACH: an overlay still in use must not lose its upper dir under it */
      if (umount2 (o->target, UMOUNT_NOFOLLOW) < 0)
        {
          if (errno == EINVAL || errno == ENOENT)
            break;
          return berth_err_set (err, errno, "unmount `%s`", o->target);
        }
    }
  if (!o->read_only && !(flags & IMAGECACHE_RELEASE_KEEP_RW))
    {
      cleanup_close int dfd = open (o->rw_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (dfd < 0 && errno != ENOENT)
        return berth_err_set (err, errno, "open `%s`", o->rw_dir);
      if (dfd >= 0
          && (berth_rm_rf_at (dfd, "upper", err) < 0 || berth_rm_rf_at (dfd, "work", err) < 0))
        return berth_err_wrap (err, "remove the container's writable layer in `%s`", o->rw_dir);
    }
  if (!(flags & IMAGECACHE_RELEASE_KEEP_LEASE))
    return imagecache_lease_release (s, o->lease_id, err);
  return 0;
}
