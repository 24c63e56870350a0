/* Layer unpack: the compressed stream is inflated here (ISA-L for gzip, libzstd, or
 * nothing), hashed into its DiffID and bounded in size, then parsed by libarchive's tar
 * reader and written by our own extractor, which resolves every path inside the layer
 * directory and converts OCI whiteouts to overlayfs form. */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <zstd.h>

#define IN_BUF  (256u << 10)
#define OUT_BUF (1u << 20)

/* ------------------------------------------------------------------ sources */

static ssize_t
file_source_read (void *user, void *buf, size_t len, berth_err *err)
{
  struct ic_file_source *fs = user;
  int fd = fs->fd;
  size_t want = len;

  if (fs->stream)
    {
      struct ic_stream *st = fs->stream;
      pthread_mutex_lock (&st->mu);
      for (;;)
        {
          struct timespec ts;
          if (st->error < 0)
            {
              pthread_mutex_unlock (&st->mu);
              return ic_err_code (err, ECANCELED, "the download of the layer failed");
            }
          if (st->fd >= 0 && fs->offset < st->available)
            break;
          if (st->complete)
            {
              pthread_mutex_unlock (&st->mu);
              return 0;
            }
          if (ic_ctx_stopped (fs->ctx))
            {
              pthread_mutex_unlock (&st->mu);
              return ic_ctx_stop_error (fs->ctx, err);
            }
          clock_gettime (CLOCK_REALTIME, &ts);
          ts.tv_nsec += 50000000;
          if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
          pthread_cond_timedwait (&st->cond, &st->mu, &ts);
        }
      fd = st->fd;
      if (st->available - fs->offset < want)
        want = (size_t)(st->available - fs->offset);
      pthread_mutex_unlock (&st->mu);
    }
  for (;;)
    {
      ssize_t n = pread (fd, buf, want, (off_t)fs->offset);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_err_set (err, errno, "read layer blob");
        }
      fs->offset += (uint64_t)n;
      return n;
    }
}

void
ic_file_source_init (struct ic_file_source *fs, struct ic_source *src, int fd,
                     struct ic_stream *stream, struct ic_ctx *ctx)
{
  fs->fd = fd;
  fs->offset = 0;
  fs->stream = stream;
  fs->ctx = ctx;
  src->read = file_source_read;
  src->user = fs;
}

/* ------------------------------------------------------------------ decompression */

struct decomp
{
  const struct ic_source *src;
  enum ic_compression kind;
  unsigned char *in;
  size_t in_len, in_pos;
  bool src_eof;
  struct inflate_state *gz;
  ZSTD_DStream *zs;
  size_t zs_last; /* ZSTD_decompressStream's last hint: 0 at a frame end */
  unsigned char *out;
  struct ic_sha256 diff;
  uint64_t total, max;
  bool eof;
  struct ic_ctx *ctx;
  berth_err err;
};

/* Reads more compressed input, keeping the unread tail. 0 at the end of the source. */
static int
refill (struct decomp *d)
{
  ssize_t n;
  if (d->src_eof)
    return 0;
  if (d->in_pos > 0)
    {
      memmove (d->in, d->in + d->in_pos, d->in_len - d->in_pos);
      d->in_len -= d->in_pos;
      d->in_pos = 0;
    }
  if (d->in_len == IN_BUF)
    return 1;
  n = d->src->read (d->src->user, d->in + d->in_len, IN_BUF - d->in_len, &d->err);
  if (n < 0)
    return -1;
  if (n == 0)
    {
      d->src_eof = true;
      return 0;
    }
  d->in_len += (size_t)n;
  return 1;
}

static int
detect (struct decomp *d)
{
  while (d->in_len < 4 && !d->src_eof)
    if (refill (d) < 0)
      return -1;
  if (d->in_len >= 2 && d->in[0] == 0x1f && d->in[1] == 0x8b)
    d->kind = IC_COMPRESSION_GZIP;
  else if (d->in_len >= 4 && d->in[0] == 0x28 && d->in[1] == 0xb5 && d->in[2] == 0x2f
           && d->in[3] == 0xfd)
    d->kind = IC_COMPRESSION_ZSTD;
  else
    d->kind = IC_COMPRESSION_NONE;
  if (d->kind == IC_COMPRESSION_GZIP)
    {
      d->gz = xzalloc (sizeof *d->gz);
      isal_inflate_init (d->gz);
      d->gz->crc_flag = ISAL_GZIP;
      d->gz->next_in = d->in + d->in_pos;
      d->gz->avail_in = (uint32_t)(d->in_len - d->in_pos);
    }
  else if (d->kind == IC_COMPRESSION_ZSTD)
    {
      d->zs = ZSTD_createDStream ();
      if (d->zs == NULL)
        abort ();
      ZSTD_initDStream (d->zs);
    }
  return 0;
}

static const char *
isal_error (int r)
{
  switch (r)
    {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
      return "invalid lookback distance";
    case ISAL_INVALID_WRAPPER:
      return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
      return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
      return "gzip checksum mismatch";
    case ISAL_NEED_DICT:
      return "needs a dictionary";
    default:
      return "inflate error";
    }
}

/* Produces up to OUT_BUF bytes into d->out. ISA-L keeps decoded bytes and bits of
 * input inside its state, so it is called again at the end of the input until it has
 * nothing left to give. */
static ssize_t
produce_gzip (struct decomp *d)
{
  struct inflate_state *gz = d->gz;
  unsigned stuck = 0;
  gz->next_out = d->out;
  gz->avail_out = OUT_BUF;
  while (gz->avail_out == OUT_BUF)
    {
      uint32_t prev_in, prev_out;
      int r;
      if (gz->block_state == ISAL_BLOCK_FINISH)
        {
          /* end of a gzip member: another may follow (concatenated members are valid gzip) */
          d->in_pos = d->in_len - gz->avail_in;
          if (d->in_len - d->in_pos < 2 && !d->src_eof)
            {
              if (refill (d) < 0)
                return -1;
              if (d->in_len - d->in_pos < 2 && !d->src_eof && refill (d) < 0)
                return -1;
            }
          if (d->in_pos == d->in_len && d->src_eof)
            return 0;
          if (d->in_len - d->in_pos < 2 || d->in[d->in_pos] != 0x1f || d->in[d->in_pos + 1] != 0x8b)
            return berth_err_set (&d->err, 0, "layer: trailing data after the gzip stream");
          isal_inflate_reset (gz);
          gz->crc_flag = ISAL_GZIP;
          gz->next_in = d->in + d->in_pos;
          gz->avail_in = (uint32_t)(d->in_len - d->in_pos);
          gz->next_out = d->out;
          gz->avail_out = OUT_BUF;
        }
      if (gz->avail_in == 0 && !d->src_eof)
        {
          d->in_pos = d->in_len;
          if (refill (d) < 0)
            return -1;
          gz->next_in = d->in + d->in_pos;
          gz->avail_in = (uint32_t)(d->in_len - d->in_pos);
        }
      prev_in = gz->avail_in;
      prev_out = gz->avail_out;
      r = isal_inflate (gz);
      if (r < 0)
        return berth_err_set (&d->err, 0, "layer: gzip: %s", isal_error (r));
      d->in_pos = d->in_len - gz->avail_in;
      if (gz->avail_in == prev_in && gz->avail_out == prev_out
          && gz->block_state != ISAL_BLOCK_FINISH)
        {
          if (d->src_eof && gz->avail_in == 0)
            return berth_err_set (&d->err, 0, "layer: the gzip stream is truncated");
          if (++stuck > 4)
            return berth_err_set (&d->err, 0, "layer: gzip: the decoder makes no progress");
        }
      else
        stuck = 0;
    }
  return (ssize_t)(OUT_BUF - gz->avail_out);
}

static ssize_t
produce_zstd (struct decomp *d)
{
  ZSTD_outBuffer out = { d->out, OUT_BUF, 0 };
  while (out.pos == 0)
    {
      ZSTD_inBuffer in;
      size_t r;
      if (d->in_pos == d->in_len && !d->src_eof && refill (d) < 0)
        return -1;
      in.src = d->in + d->in_pos;
      in.size = d->in_len - d->in_pos;
      in.pos = 0;
      if (in.size == 0 && d->src_eof && d->zs_last == 0)
        return 0;
      r = ZSTD_decompressStream (d->zs, &out, &in);
      if (ZSTD_isError (r))
        return berth_err_set (&d->err, 0, "layer: zstd: %s", ZSTD_getErrorName (r));
      d->zs_last = r;
      d->in_pos += in.pos;
      if (out.pos == 0 && in.pos == 0 && d->src_eof && d->in_pos == d->in_len)
        return berth_err_set (&d->err, 0, "layer: the zstd stream is truncated");
    }
  return (ssize_t)out.pos;
}

static ssize_t
produce_none (struct decomp *d)
{
  size_t n;
  if (d->in_pos == d->in_len)
    {
      ssize_t r;
      d->in_pos = d->in_len = 0;
      r = d->src->read (d->src->user, d->out, OUT_BUF, &d->err);
      return r;
    }
  n = d->in_len - d->in_pos;
  memcpy (d->out, d->in + d->in_pos, n);
  d->in_pos = d->in_len;
  return (ssize_t)n;
}

static ssize_t
decomp_read (struct decomp *d)
{
  ssize_t n;
  if (d->eof)
    return 0;
  if (ic_ctx_stopped (d->ctx))
    return ic_ctx_stop_error (d->ctx, &d->err);
  switch (d->kind)
    {
    case IC_COMPRESSION_GZIP:
      n = produce_gzip (d);
      break;
    case IC_COMPRESSION_ZSTD:
      n = produce_zstd (d);
      break;
    case IC_COMPRESSION_NONE:
    default:
      n = produce_none (d);
      break;
    }
  if (n < 0)
    return -1;
  if (n == 0)
    {
      d->eof = true;
      return 0;
    }
  d->total += (uint64_t)n;
  if (d->total > d->max)
    return ic_err_code (&d->err, EFBIG,
                        "layer: more than %" PRIu64 " bytes uncompressed (max_layer_size)", d->max);
  ic_sha256_update (&d->diff, d->out, (size_t)n);
  return n;
}

static la_ssize_t
archive_read_cb (struct archive *a, void *user, const void **buf)
{
  struct decomp *d = user;
  ssize_t n = decomp_read (d);
  if (n < 0)
    {
      archive_set_error (a, EIO, "%s", berth_err_msg (&d->err));
      return -1;
    }
  *buf = d->out;
  return n;
}

/* ------------------------------------------------------------------ extraction */

struct dir_time
{
  char *path;
  struct timespec times[2];
};

struct extractor
{
  int rootfd;
  const struct ic_unpack_options *o;
  struct archive *a;
  uid_t euid;
  gid_t egid;
  char *parent_path; /* cached: the last parent resolved, and an O_PATH fd to it */
  int parent_fd;
  struct dir_time *dirs;
  size_t n_dirs, cap_dirs;
  uint64_t file_bytes, entries;
  const char *entry; /* the entry being written, for messages */
};

static void
parent_cache_drop (struct extractor *x)
{
  free (x->parent_path);
  x->parent_path = NULL;
  if (x->parent_fd >= 0)
    close (x->parent_fd);
  x->parent_fd = -1;
}

/* A tar name as a relative path inside the layer: "./a//b/" -> "a/b", "./" -> "".
 * Absolute names and ".." components are refused: a layer says where its files go
 * relative to its root, nothing else (CVE-2018-15664, CVE-2019-14271 and friends). */
static int
clean_path (const char *name, const char *what, char **ret, berth_err *err)
{
  size_t n = strlen (name);
  char *out = xmalloc (n + 1), *o = out;
  const char *p = name;

  if (n == 0)
    {
      free (out);
      return berth_err_set (err, 0, "layer entry with an empty %s", what);
    }
  if (name[0] == '/')
    {
      free (out);
      return berth_err_set (err, 0, "layer entry `%.300s`: absolute %s", name, what);
    }
  while (*p)
    {
      const char *c = p;
      size_t cn;
      while (*p && *p != '/')
        p++;
      cn = (size_t)(p - c);
      while (*p == '/')
        p++;
      if (cn == 0 || (cn == 1 && c[0] == '.'))
        continue;
      if (cn == 2 && c[0] == '.' && c[1] == '.')
        {
          free (out);
          return berth_err_set (
              err, 0, "layer entry `%.300s`: `..` in the %s (a path out of the layer)", name, what);
        }
      if (cn > NAME_MAX)
        {
          free (out);
          return berth_err_set (err, ENAMETOOLONG, "layer entry `%.300s`", name);
        }
      if (o != out)
        *o++ = '/';
      memcpy (o, c, cn);
      o += cn;
    }
  *o = '\0';
  if ((size_t)(o - out) >= PATH_MAX)
    {
      free (out);
      return berth_err_set (err, ENAMETOOLONG, "layer entry `%.300s`", name);
    }
  *ret = out;
  return 0;
}

/* An O_PATH fd of directory path inside the layer. Components that are directories are
 * walked without following anything; a symlink met on the way is resolved as if the
 * layer were "/" (openat2 RESOLVE_IN_ROOT), like containerd's fs.RootPath, so it can
 * never lead outside. Missing components are created (0755, root) when mkdirs. */
static int
open_dir_in_layer (struct extractor *x, const char *path, bool mkdirs, int *ret, berth_err *err)
{
  cleanup_close int cur = -1;
  cleanup_free char *buf = xstrdup (path);
  char *p = buf;

  cur = openat (x->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0)
    return berth_err_set (err, errno, "open layer root");
  while (*p)
    {
      char *slash = strchr (p, '/');
      int next;
      if (slash)
        *slash = '\0';
      next = openat (cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && mkdirs)
        {
          if (mkdirat (cur, p, 0755) < 0 && errno != EEXIST)
            return berth_err_set (err, errno, "layer entry `%.300s`: mkdir `%s`", x->entry, buf);
          /* mkdir honours the umask; parents a tar does not list are 0755 as in Docker */
          if (fchmodat (cur, p, 0755, 0) < 0)
            return berth_err_set (err, errno, "layer entry `%.300s`: chmod `%s`", x->entry, buf);
          next = openat (cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
      if (next < 0 && (errno == ENOTDIR || errno == ELOOP))
        {
          struct stat st;
          if (fstatat (cur, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
            {
              /* resolve the prefix (ending in this symlink) inside the layer */
              berth_err e2 = NULL;
              next = berth_open_in_root (x->rootfd, buf, O_PATH | O_DIRECTORY, 0, &e2);
              if (next < 0)
                {
                  int q = berth_err_set (err, berth_err_code (&e2), "layer entry `%.300s`: %s",
                                         x->entry, berth_err_msg (&e2));
                  berth_err_free (&e2);
                  return q;
                }
            }
          else
            errno = ENOTDIR;
        }
      if (next < 0)
        return berth_err_set (err, errno, "layer entry `%.300s`: open directory `%s`", x->entry,
                              buf);
      close (cur);
      cur = next;
      if (!slash)
        break;
      *slash = '/';
      p = slash + 1;
    }
  *ret = steal_fd (&cur);
  return 0;
}

static int
parent_fd (struct extractor *x, const char *parent, int *ret, berth_err *err)
{
  int fd;
  if (x->parent_path && strcmp (x->parent_path, parent) == 0)
    {
      *ret = x->parent_fd;
      return 0;
    }
  if (open_dir_in_layer (x, parent, true, &fd, err) < 0)
    return -1;
  parent_cache_drop (x);
  x->parent_path = xstrdup (parent);
  x->parent_fd = fd;
  *ret = fd;
  return 0;
}

/* Removes what an earlier entry of this layer put at name (a tar may list a path twice;
 * the last one wins), unless both are directories. */
static int
clear_target (struct extractor *x, int dfd, const char *name, bool new_is_dir, bool *ret_is_dir,
              berth_err *err)
{
  struct stat st;
  *ret_is_dir = false;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return berth_err_set (err, errno, "layer entry `%.300s`: stat", x->entry);
    }
  if (S_ISDIR (st.st_mode))
    {
      if (new_is_dir)
        {
          *ret_is_dir = true;
          return 0;
        }
      /* dfd is the cached parent; removing a child leaves it valid */
      return berth_rm_rf_at (dfd, name, err);
    }
  if (unlinkat (dfd, name, 0) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: unlink", x->entry);
  return 0;
}

static bool
xattr_allowed (const char *name)
{
  /* trusted.overlay.* would let a layer forge whiteouts, opaque dirs or redirects that
   * overlayfs trusts; those come only from the OCI .wh. entries converted here. */
  if (str_has_prefix (name, "trusted.overlay."))
    return false;
  return str_has_prefix (name, "user.") || str_has_prefix (name, "security.")
         || str_has_prefix (name, "trusted.") || strcmp (name, "system.posix_acl_access") == 0
         || strcmp (name, "system.posix_acl_default") == 0;
}

static int
apply_xattrs (struct extractor *x, struct archive_entry *e, int fd, int dfd, const char *name,
              berth_err *err)
{
  const char *xname;
  const void *value;
  size_t size;
  if (archive_entry_xattr_reset (e) == 0)
    return 0;
  while (archive_entry_xattr_next (e, &xname, &value, &size) == ARCHIVE_OK)
    {
      int r;
      if (!xattr_allowed (xname))
        return berth_err_set (
            err, 0, "layer entry `%.300s`: extended attribute `%.100s` is not allowed in a layer",
            x->entry, xname);
      if (fd >= 0)
        r = fsetxattr (fd, xname, value, size, 0);
      else
        {
          char p[64 + NAME_MAX];
          snprintf (p, sizeof p, "/proc/self/fd/%d/%s", dfd, name);
          r = lsetxattr (p, xname, value, size, 0);
        }
      if (r < 0)
        {
          if ((errno == EOPNOTSUPP || errno == ENOTSUP) && strcmp (xname, "security.selinux") == 0)
            continue; /* a label the host cannot hold; the runtime labels the container */
          return berth_err_set (err, errno, "layer entry `%.300s`: set extended attribute `%.100s`",
                                x->entry, xname);
        }
    }
  return 0;
}

static int
entry_owner (struct extractor *x, struct archive_entry *e, uid_t *uid, gid_t *gid, berth_err *err)
{
  la_int64_t u = archive_entry_uid (e), g = archive_entry_gid (e);
  if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
    return berth_err_set (err, 0, "layer entry `%.300s`: owner %lld:%lld out of range", x->entry,
                          (long long)u, (long long)g);
  *uid = (uid_t)u;
  *gid = (gid_t)g;
  return 0;
}

static void
entry_times (struct archive_entry *e, struct timespec t[2])
{
  t[1].tv_sec = archive_entry_mtime (e);
  t[1].tv_nsec = archive_entry_mtime_nsec (e);
  if (archive_entry_atime_is_set (e))
    {
      t[0].tv_sec = archive_entry_atime (e);
      t[0].tv_nsec = archive_entry_atime_nsec (e);
    }
  else
    t[0] = t[1];
  if (t[0].tv_nsec < 0 || t[0].tv_nsec >= 1000000000)
    t[0].tv_nsec = 0;
  if (t[1].tv_nsec < 0 || t[1].tv_nsec >= 1000000000)
    t[1].tv_nsec = 0;
}

static int
set_owner_mode (struct extractor *x, int fd, uid_t uid, gid_t gid, mode_t mode, berth_err *err)
{
  /* chown first: it clears setuid/setgid bits and file capabilities */
  if ((uid != x->euid || gid != x->egid) && fchown (fd, uid, gid) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: chown %u:%u", x->entry, uid, gid);
  if (fchmod (fd, mode) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: chmod %o", x->entry, mode);
  return 0;
}

static int
write_file (struct extractor *x, struct archive_entry *e, int dfd, const char *name, berth_err *err)
{
  cleanup_close int fd = -1;
  la_int64_t size = archive_entry_size (e);
  uint64_t end = 0;
  struct timespec t[2];
  uid_t uid;
  gid_t gid;
  bool isdir;

  if (size < 0)
    size = 0;
  x->file_bytes += (uint64_t)size;
  if (x->file_bytes > x->o->max_size)
    return ic_err_code (err, EFBIG,
                        "layer entry `%.300s`: the layer's files exceed %" PRIu64
                        " bytes (max_layer_size)",
                        x->entry, x->o->max_size);
  if (entry_owner (x, e, &uid, &gid, err) < 0
      || clear_target (x, dfd, name, false, &isdir, err) < 0)
    return -1;
  fd = openat (dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: create", x->entry);
  for (;;)
    {
      const void *buf;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (x->a, &buf, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return -2; /* the caller reports libarchive's error */
      if (off < 0 || (uint64_t)off + len > (uint64_t)size)
        return berth_err_set (err, 0, "layer entry `%.300s`: data beyond the entry's size",
                              x->entry);
      for (size_t done = 0; done < len;)
        {
          ssize_t n = pwrite (fd, (const char *)buf + done, len - done, (off_t)off + (off_t)done);
          if (n < 0)
            {
              if (errno == EINTR)
                continue;
              return ic_err_code (err, errno, "layer entry `%.300s`: write: %s", x->entry,
                                  strerror (errno));
            }
          done += (size_t)n;
        }
      if ((uint64_t)off + len > end)
        end = (uint64_t)off + len;
    }
  /* a sparse file's trailing hole */
  if (end < (uint64_t)size && ftruncate (fd, (off_t)size) < 0)
    return ic_err_code (err, errno, "layer entry `%.300s`: truncate: %s", x->entry,
                        strerror (errno));
  if (set_owner_mode (x, fd, uid, gid, archive_entry_perm (e) & 07777, err) < 0)
    return -1;
  if (apply_xattrs (x, e, fd, -1, NULL, err) < 0)
    return -1;
  entry_times (e, t);
  if (futimens (fd, t) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: set times", x->entry);
  return 0;
}

static int
make_dir (struct extractor *x, struct archive_entry *e, int dfd, const char *name, const char *path,
          berth_err *err)
{
  cleanup_close int fd = -1;
  uid_t uid;
  gid_t gid;
  bool exists;

  if (entry_owner (x, e, &uid, &gid, err) < 0)
    return -1;
  if (*name)
    {
      if (clear_target (x, dfd, name, true, &exists, err) < 0)
        return -1;
      if (!exists && mkdirat (dfd, name, 0700) < 0)
        return berth_err_set (err, errno, "layer entry `%.300s`: mkdir", x->entry);
      fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
  else
    fd = openat (x->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: open directory", x->entry);
  if (set_owner_mode (x, fd, uid, gid, archive_entry_perm (e) & 07777, err) < 0)
    return -1;
  if (apply_xattrs (x, e, fd, -1, NULL, err) < 0)
    return -1;
  /* a directory's mtime changes as entries are created in it: set it at the end */
  if (x->n_dirs == x->cap_dirs)
    {
      x->cap_dirs = x->cap_dirs ? x->cap_dirs * 2 : 64;
      x->dirs = xrealloc (x->dirs, x->cap_dirs * sizeof *x->dirs);
    }
  x->dirs[x->n_dirs].path = xstrdup (path);
  entry_times (e, x->dirs[x->n_dirs].times);
  x->n_dirs++;
  return 0;
}

static int
make_symlink (struct extractor *x, struct archive_entry *e, int dfd, const char *name,
              berth_err *err)
{
  const char *target = archive_entry_symlink_utf8 (e);
  struct timespec t[2];
  uid_t uid;
  gid_t gid;
  bool isdir;

  if (target == NULL)
    target = archive_entry_symlink (e);
  if (target == NULL || *target == '\0')
    return berth_err_set (err, 0, "layer entry `%.300s`: symlink without a target", x->entry);
  if (entry_owner (x, e, &uid, &gid, err) < 0
      || clear_target (x, dfd, name, false, &isdir, err) < 0)
    return -1;
  /* the target is stored as given: it is only ever followed inside the container (or
   * inside this layer during unpack), both confined to their root */
  if (symlinkat (target, dfd, name) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: symlink", x->entry);
  if ((uid != x->euid || gid != x->egid) && fchownat (dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: chown", x->entry);
  if (apply_xattrs (x, e, -1, dfd, name, err) < 0)
    return -1;
  entry_times (e, t);
  if (utimensat (dfd, name, t, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: set times", x->entry);
  return 0;
}

static int
make_hardlink (struct extractor *x, struct archive_entry *e, int dfd, const char *name,
               const char *path, const char *link, berth_err *err)
{
  cleanup_free char *target = NULL, *tparent = NULL;
  cleanup_close int tdfd = -1;
  const char *tbase;
  char *slash;
  struct stat st;
  bool isdir;

  (void)e;
  if (clean_path (link, "hardlink target", &target, err) < 0)
    return -1;
  if (strcmp (target, path) == 0)
    return 0;
  if (*target == '\0')
    return berth_err_set (err, 0, "layer entry `%.300s`: hardlink to the layer root", x->entry);
  slash = strrchr (target, '/');
  tparent = slash ? xstrndup (target, (size_t)(slash - target)) : xstrdup ("");
  tbase = slash ? slash + 1 : target;
  /* resolved inside the layer like any other path; must exist already */
  if (open_dir_in_layer (x, tparent, false, &tdfd, err) < 0)
    return -1;
  if (fstatat (tdfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: hardlink target `%.300s`", x->entry,
                          link);
  if (S_ISDIR (st.st_mode))
    return berth_err_set (err, 0, "layer entry `%.300s`: hardlink to a directory", x->entry);
  if (clear_target (x, dfd, name, false, &isdir, err) < 0)
    return -1;
  /* flags 0: a symlink target is linked itself, never followed */
  if (linkat (tdfd, tbase, dfd, name, 0) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: link to `%.300s`", x->entry, link);
  return 0;
}

static int
make_node (struct extractor *x, struct archive_entry *e, int dfd, const char *name, mode_t type,
           berth_err *err)
{
  struct timespec t[2];
  uid_t uid;
  gid_t gid;
  dev_t dev = 0;
  bool isdir;

  if (type == S_IFCHR || type == S_IFBLK)
    {
      if (!x->o->allow_devices)
        return berth_err_set (err, 0,
                              "layer entry `%.300s`: a device node; devices are not allowed in "
                              "layers (allow_devices)",
                              x->entry);
      dev = makedev (archive_entry_rdevmajor (e), archive_entry_rdevminor (e));
    }
  if (entry_owner (x, e, &uid, &gid, err) < 0
      || clear_target (x, dfd, name, false, &isdir, err) < 0)
    return -1;
  if (mknodat (dfd, name, type | 0600, dev) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: mknod", x->entry);
  if ((uid != x->euid || gid != x->egid) && fchownat (dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: chown", x->entry);
  if (fchmodat (dfd, name, archive_entry_perm (e) & 07777, 0) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: chmod", x->entry);
  entry_times (e, t);
  if (utimensat (dfd, name, t, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: set times", x->entry);
  return 0;
}

/* OCI whiteouts to overlayfs: ".wh.NAME" hides NAME of the layers below (a 0/0 character
 * device), ".wh..wh..opq" makes its directory opaque (trusted.overlay.opaque=y). */
static int
whiteout (struct extractor *x, int dfd, const char *base, berth_err *err)
{
  const char *hidden = base + 4;
  bool isdir;
  if (strcmp (base, ".wh..wh..opq") == 0)
    {
      cleanup_close int fd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || fsetxattr (fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
        return berth_err_set (err, errno, "layer entry `%.300s`: make the directory opaque",
                              x->entry);
      return 0;
    }
  if (str_has_prefix (base, ".wh..wh."))
    return 0; /* AUFS bookkeeping (.wh..wh.plnk and the like): nothing for overlayfs */
  if (*hidden == '\0' || strcmp (hidden, ".") == 0 || strcmp (hidden, "..") == 0)
    return berth_err_set (err, 0, "layer entry `%.300s`: a whiteout of nothing", x->entry);
  if (clear_target (x, dfd, hidden, false, &isdir, err) < 0)
    return -1;
  if (mknodat (dfd, hidden, S_IFCHR, makedev (0, 0)) < 0)
    return berth_err_set (err, errno, "layer entry `%.300s`: whiteout", x->entry);
  return 0;
}

static int
extract_entry (struct extractor *x, struct archive_entry *e, berth_err *err)
{
  const char *raw = archive_entry_pathname_utf8 (e);
  const char *link = archive_entry_hardlink_utf8 (e);
  cleanup_free char *path = NULL, *parent = NULL;
  const char *base;
  char *slash;
  mode_t type = archive_entry_filetype (e);
  int dfd;

  if (raw == NULL)
    raw = archive_entry_pathname (e);
  if (link == NULL)
    link = archive_entry_hardlink (e);
  x->entry = raw ? raw : "";
  if (raw == NULL || clean_path (raw, "path", &path, err) < 0)
    return raw == NULL ? berth_err_set (err, 0, "layer entry without a name") : -1;
  x->entry = raw;

  slash = strrchr (path, '/');
  parent = slash ? xstrndup (path, (size_t)(slash - path)) : xstrdup ("");
  base = slash ? slash + 1 : path;

  if (*path == '\0')
    {
      if (type != AE_IFDIR || link)
        return berth_err_set (err, 0, "layer entry `%.300s`: the layer root must be a directory",
                              raw);
      return make_dir (x, e, x->rootfd, "", "", err);
    }
  if (parent_fd (x, parent, &dfd, err) < 0)
    return -1;
  if (str_has_prefix (base, ".wh."))
    return whiteout (x, dfd, base, err);
  if (link)
    return make_hardlink (x, e, dfd, base, path, link, err);
  switch (type)
    {
    case AE_IFREG:
      return write_file (x, e, dfd, base, err);
    case AE_IFDIR:
      return make_dir (x, e, dfd, base, path, err);
    case AE_IFLNK:
      return make_symlink (x, e, dfd, base, err);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      return make_node (x, e, dfd, base, type, err);
    default:
      return berth_err_set (err, 0, "layer entry `%.300s`: unsupported file type 0%o", raw,
                            (unsigned)type);
    }
}

static int
finish_dirs (struct extractor *x, berth_err *err)
{
  for (size_t i = x->n_dirs; i-- > 0;)
    {
      cleanup_close int pfd = -1, fd = -1;
      x->entry = x->dirs[i].path;
      if (open_dir_in_layer (x, x->dirs[i].path, false, &pfd, NULL) < 0)
        continue; /* replaced by a later entry */
      fd = openat (pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || futimens (fd, x->dirs[i].times) < 0)
        return berth_err_set (err, errno, "layer directory `%.300s`: set times", x->dirs[i].path);
    }
  return 0;
}

int
ic_unpack_layer (const struct ic_source *src, int dirfd, const struct ic_unpack_options *o,
                 struct ic_unpack_result *ret, berth_err *err)
{
  struct decomp d = { .src = src, .max = o->max_size, .ctx = o->ctx };
  struct extractor x
      = { .rootfd = dirfd, .o = o, .parent_fd = -1, .euid = geteuid (), .egid = getegid () };
  struct archive *a = NULL;
  struct archive_entry *e;
  int r = -1;

  d.in = xmalloc (IN_BUF);
  d.out = xmalloc (OUT_BUF);
  ic_sha256_init (&d.diff);
  if (detect (&d) < 0)
    goto out;

  a = archive_read_new ();
  if (a == NULL)
    abort ();
  x.a = a;
  archive_read_support_format_tar (a);
  if (archive_read_open (a, &d, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
    {
      if (!d.err)
        berth_err_set (&d.err, 0, "layer: not a valid tar stream: %s", archive_error_string (a));
      goto out;
    }
  for (;;)
    {
      int ar = archive_read_next_header (a, &e);
      if (ar == ARCHIVE_EOF)
        break;
      if (ar < ARCHIVE_WARN)
        {
          if (!d.err)
            berth_err_set (&d.err, 0, "layer: not a valid tar stream: %s",
                           archive_error_string (a));
          r = -1;
          goto out;
        }
      if (ic_ctx_stopped (o->ctx))
        {
          ic_ctx_stop_error (o->ctx, &d.err);
          r = -1;
          goto out;
        }
      /* Bytes alone do not bound a layer: a tar of millions of empty files is small once
       * compressed and uses up the host's inodes, not its bytes. */
      x.entries++;
      if (o->max_entries && x.entries > o->max_entries)
        {
          berth_err_set (&d.err, EFBIG, "layer: more than %" PRIu64 " entries (max_layer_entries)",
                         o->max_entries);
          r = -1;
          goto out;
        }
      r = extract_entry (&x, e, &d.err);
      if (r < 0)
        {
          if (r == -2 && !d.err)
            berth_err_set (&d.err, 0, "layer entry `%.300s`: %s", x.entry,
                           archive_error_string (a));
          else if (r == -2)
            berth_err_wrap (&d.err, "layer entry `%.300s`", x.entry);
          r = -1;
          goto out;
        }
    }
  /* the DiffID covers the whole stream, padding after the end-of-archive blocks included */
  for (;;)
    {
      ssize_t n = decomp_read (&d);
      if (n < 0)
        {
          r = -1;
          goto out;
        }
      if (n == 0)
        break;
    }
  if (finish_dirs (&x, &d.err) < 0)
    {
      r = -1;
      goto out;
    }
  ic_sha256_final (&d.diff, ret->diff_id);
  ret->tar_bytes = d.total;
  ret->unpacked_size = x.file_bytes;
  ret->entries = x.entries;
  r = 0;
out:
  if (r < 0)
    {
      if (!d.err)
        berth_err_set (&d.err, 0, "layer: unpack failed");
      berth_err_move (err, &d.err);
      r = berth_err_ret (err);
    }
  berth_err_free (&d.err);
  if (a)
    archive_read_free (a);
  parent_cache_drop (&x);
  for (size_t i = 0; i < x.n_dirs; i++)
    free (x.dirs[i].path);
  free (x.dirs);
  ic_sha256_clear (&d.diff);
  free (d.gz);
  if (d.zs)
    ZSTD_freeDStream (d.zs);
  free (d.in);
  free (d.out);
  return r;
}
