/* The content store: blobs/sha256/<hex>, written only through ingest/ (hashed while
 * written, fsynced, verified, renamed), so a blob under blobs/ always matches its name.
 * Also the growing-file stream an unpacker follows while a download is running. */
#include "internal.h"

#include <sys/file.h>

#define WRITEBACK_CHUNK (16u << 20)

bool
ic_blob_exists (struct imagecache_store *s, const char *digest, uint64_t *ret_size)
{
  struct stat st;
  if (fstatat (s->blobs_fd, ic_digest_hex (digest), &st, AT_SYMLINK_NOFOLLOW) < 0
      || !S_ISREG (st.st_mode))
    return false;
  if (ret_size)
    *ret_size = (uint64_t)st.st_size;
  return true;
}

int
ic_blob_open (struct imagecache_store *s, const char *digest, berth_err *err)
{
  int fd = openat (s->blobs_fd, ic_digest_hex (digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? ic_err_code (err, ENOENT, "blob %s is not in the store", digest)
                           : berth_err_set (err, errno, "open blob %s", digest);
  return fd;
}

int
ic_blob_read (struct imagecache_store *s, const char *digest, size_t max, char **ret,
              size_t *ret_len, berth_err *err)
{
  cleanup_close int fd = ic_blob_open (s, digest, err);
  cleanup_free char *buf = NULL;
  char got[IC_DIGEST_BUF];
  size_t len;
  if (fd < 0)
    return fd;
  if (berth_read_fd (fd, max, &buf, &len, err) < 0)
    return berth_err_wrap (err, "blob %s", digest);
  /* Cheap for manifests and configs, and it catches a disk that flipped a bit. */
  ic_sha256_buf (buf, len, got);
  if (strcmp (got, digest) != 0)
    return berth_err_set (err, 0, "blob %s in the store is corrupt (its content hashes to %s)",
                          digest, got);
  *ret_len = len;
  *ret = steal_pointer (&buf);
  return 0;
}

static unsigned tmp_counter;

int
ic_blob_write (struct imagecache_store *s, const char *digest, const void *data, size_t len,
               berth_err *err)
{
  char got[IC_DIGEST_BUF];
  char tmp[128];
  cleanup_close int fd = -1;
  int r;

  ic_sha256_buf (data, len, got);
  if (strcmp (got, digest) != 0)
    return berth_err_set (err, 0, "content does not match its digest %s (got %s)", digest, got);
  if (ic_blob_exists (s, digest, NULL))
    return 0;
  snprintf (tmp, sizeof tmp, "%.16s.w%d-%u", ic_digest_hex (digest), getpid (),
            __atomic_add_fetch (&tmp_counter, 1, __ATOMIC_RELAXED));
  fd = openat (s->ingest_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return berth_err_set (err, errno, "create `%s/ingest/%s`", s->root, tmp);
  r = berth_write_all (fd, data, len);
  if (r == 0 && fsync (fd) < 0)
    r = -errno;
  if (r == 0 && renameat (s->ingest_fd, tmp, s->blobs_fd, ic_digest_hex (digest)) < 0)
    r = -errno;
  if (r < 0)
    {
      unlinkat (s->ingest_fd, tmp, 0);
      return berth_err_set (err, -r, "write blob %s", digest);
    }
  if (fsync (s->blobs_fd) < 0)
    return berth_err_set (err, errno, "fsync `%s/blobs/sha256`", s->root);
  return 0;
}

/* ------------------------------------------------------------------ streams */

struct ic_stream *
ic_stream_new (int fd, uint64_t total)
{
  struct ic_stream *st = xzalloc (sizeof *st);
  pthread_mutex_init (&st->mu, NULL);
  pthread_cond_init (&st->cond, NULL);
  st->fd = fd;
  st->total = total;
  st->refs = 1;
  return st;
}

void
ic_stream_put (struct ic_stream *st)
{
  bool last;
  if (st == NULL)
    return;
  pthread_mutex_lock (&st->mu);
  last = --st->refs == 0;
  pthread_mutex_unlock (&st->mu);
  if (!last)
    return;
  if (st->fd >= 0)
    close (st->fd);
  pthread_cond_destroy (&st->cond);
  pthread_mutex_destroy (&st->mu);
  free (st);
}

void
ic_stream_advance (struct ic_stream *st, uint64_t available)
{
  pthread_mutex_lock (&st->mu);
  if (available > st->available)
    st->available = available;
  pthread_cond_broadcast (&st->cond);
  pthread_mutex_unlock (&st->mu);
}

void
ic_stream_finish (struct ic_stream *st, int error)
{
  pthread_mutex_lock (&st->mu);
  if (error < 0)
    st->error = error;
  else
    st->complete = true;
  pthread_cond_broadcast (&st->cond);
  pthread_mutex_unlock (&st->mu);
}

/* ------------------------------------------------------------------ ingest */

static int
hash_existing (struct ic_ingest *ing, berth_err *err)
{
  cleanup_free char *buf = xmalloc (1 << 20);
  uint64_t off = 0;
  while (off < ing->offset)
    {
      size_t want = (size_t)((ing->offset - off) < (1 << 20) ? (ing->offset - off) : (1 << 20));
      ssize_t n = pread (ing->fd, buf, want, (off_t)off);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_err_set (err, errno, "read partial download of %s", ing->digest);
        }
      if (n == 0)
        break;
      ic_sha256_update (&ing->hash, buf, (size_t)n);
      off += (uint64_t)n;
    }
  ing->offset = off;
  return 0;
}

int
ic_ingest_open (struct imagecache_store *s, const char *digest, uint64_t size,
                struct ic_ingest *ret, berth_err *err)
{
  struct ic_ingest ing = { .store = s, .size = size, .fd = -1 };
  struct stat st;
  int r;

  snprintf (ing.digest, sizeof ing.digest, "%s", digest);
  ing.fd = openat (s->ingest_fd, ic_digest_hex (digest), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                   0644);
  if (ing.fd < 0)
    return berth_err_set (err, errno, "create `%s/ingest/%s`", s->root, ic_digest_hex (digest));
  ic_sha256_init (&ing.hash);
  if (fstat (ing.fd, &st) < 0)
    {
      r = berth_err_set (err, errno, "stat ingest of %s", digest);
      goto fail;
    }
  if ((uint64_t)st.st_size > size)
    {
      if (ftruncate (ing.fd, 0) < 0)
        {
          r = berth_err_set (err, errno, "truncate ingest of %s", digest);
          goto fail;
        }
    }
  else if (st.st_size > 0)
    {
      ing.offset = (uint64_t)st.st_size;
      r = hash_existing (&ing, err);
      if (r < 0)
        goto fail;
    }
  ing.synced = ing.offset;
  *ret = ing;
  return 0;
fail:
  ic_sha256_clear (&ing.hash);
  close (ing.fd);
  return r;
}

int
ic_ingest_write (struct ic_ingest *ing, const void *data, size_t len, berth_err *err)
{
  const char *p = data;
  size_t left = len;
  if (ing->offset + len > ing->size)
    return berth_err_set (
        err, 0, "blob %s: the registry sent more than the %" PRIu64 " bytes its descriptor says",
        ing->digest, ing->size);
  while (left > 0)
    {
      ssize_t n = pwrite (ing->fd, p, left, (off_t)ing->offset);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return ic_err_code (err, errno, "write `%s/ingest/%s`: %s", ing->store->root,
                              ic_digest_hex (ing->digest), strerror (errno));
        }
      ic_sha256_update (&ing->hash, p, (size_t)n);
      p += n;
      left -= (size_t)n;
      ing->offset += (uint64_t)n;
    }
  /* Start writeback as the data arrives, so the fsync at commit has little left to do
   * and the disk works while the network does. */
  if (ing->offset - ing->synced >= WRITEBACK_CHUNK)
    {
      sync_file_range (ing->fd, (off_t)ing->synced, (off_t)(ing->offset - ing->synced),
                       SYNC_FILE_RANGE_WRITE);
      ing->synced = ing->offset;
    }
  if (ing->stream)
    ic_stream_advance (ing->stream, ing->offset);
  return 0;
}

int
ic_ingest_truncate (struct ic_ingest *ing, berth_err *err)
{
  if (ftruncate (ing->fd, 0) < 0)
    return berth_err_set (err, errno, "truncate ingest of %s", ing->digest);
  ic_sha256_reset (&ing->hash);
  ing->offset = 0;
  ing->synced = 0;
  return 0;
}

int
ic_ingest_commit (struct ic_ingest *ing, berth_err *err)
{
  struct imagecache_store *s = ing->store;
  char got[IC_DIGEST_BUF];
  const char *hex = ic_digest_hex (ing->digest);

  if (ing->offset != ing->size)
    return berth_err_set (err, 0, "blob %s: got %" PRIu64 " bytes, want %" PRIu64, ing->digest,
                          ing->offset, ing->size);
  ic_sha256_final (&ing->hash, got);
  if (strcmp (got, ing->digest) != 0)
    {
      unlinkat (s->ingest_fd, hex, 0);
      ing->offset = 0;
      return berth_err_set (err, 0, "blob %s: the content received hashes to %s; not stored",
                            ing->digest, got);
    }
  if (fsync (ing->fd) < 0)
    return ic_err_code (err, errno, "fsync `%s/ingest/%s`: %s", s->root, hex, strerror (errno));
  if (renameat (s->ingest_fd, hex, s->blobs_fd, hex) < 0)
    return berth_err_set (err, errno, "commit blob %s", ing->digest);
  if (fsync (s->blobs_fd) < 0)
    return berth_err_set (err, errno, "fsync `%s/blobs/sha256`", s->root);
  return 0;
}

void
ic_ingest_close (struct ic_ingest *ing, bool keep)
{
  if (ing->fd < 0)
    return;
  /* an empty partial has nothing to resume */
  if (!keep || ing->offset == 0)
    unlinkat (ing->store->ingest_fd, ic_digest_hex (ing->digest), 0);
  close (ing->fd);
  ing->fd = -1;
  ic_sha256_clear (&ing->hash);
}
