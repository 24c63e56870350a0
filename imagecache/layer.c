/* The layer store: layers/<chainid hex>/{diff/,layer.json}, each unpacked once from its
 * blob (while the blob downloads, when it is not here yet) and committed by renaming a
 * temporary directory after its DiffID checked out. Also the single-flight download of a
 * blob shared by every pull in this process (ic_flight) and in others (a lock file). */
#include "internal.h"

#include <dirent.h>
#include <sys/file.h>

static unsigned tmp_counter;

char *
ic_layer_diff_path (struct imagecache_store *s, const char *chain_id)
{
  return xasprintf ("%s/layers/%s/diff", s->root, ic_digest_hex (chain_id));
}

bool
ic_layer_exists (struct imagecache_store *s, const char *chain_id)
{
  char p[128];
  snprintf (p, sizeof p, "%s/layer.json", ic_digest_hex (chain_id));
  return berth_exists_at (s->layers_fd, p);
}

int
ic_layer_unpacked_size (struct imagecache_store *s, const char *chain_id, uint64_t *ret)
{
  cleanup_json json_object *obj = NULL;
  char p[128];
  snprintf (p, sizeof p, "%s/layer.json", ic_digest_hex (chain_id));
  if (bjson_parse_file_at (s->layers_fd, p, 1 << 16, &obj, NULL) < 0)
    return -1;
  if (bjson_get_uint64 (obj, "", "unpacked_size", 0, UINT64_MAX, ret, NULL) <= 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------ downloads */

static int
download_slot_acquire (struct imagecache_store *s, struct ic_ctx *ctx, int *ret_fd, berth_err *err)
{
  int r;
  pthread_mutex_lock (&ctx->dl_mu);
  while (ctx->dl_running >= ctx->dl_max)
    {
      struct timespec ts;
      if (ic_ctx_stopped (ctx))
        {
          pthread_mutex_unlock (&ctx->dl_mu);
          return ic_ctx_stop_error (ctx, err);
        }
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50000000;
      if (ts.tv_nsec >= 1000000000)
        ts.tv_sec++, ts.tv_nsec -= 1000000000;
      pthread_cond_timedwait (&ctx->dl_cond, &ctx->dl_mu, &ts);
    }
  ctx->dl_running++;
  pthread_mutex_unlock (&ctx->dl_mu);
  /* the store-wide limit, across every process using the store (amazon-ecs-agent #4308:
   * unbounded concurrent pulls exhaust a host) */
  r = ic_slot_acquire (s, "download", s->cfg.max_downloads, ctx, ret_fd, err);
  if (r < 0)
    {
      pthread_mutex_lock (&ctx->dl_mu);
      ctx->dl_running--;
      pthread_cond_signal (&ctx->dl_cond);
      pthread_mutex_unlock (&ctx->dl_mu);
    }
  return r;
}

static void
download_slot_release (struct ic_ctx *ctx, int fd)
{
  close (fd);
  pthread_mutex_lock (&ctx->dl_mu);
  ctx->dl_running--;
  pthread_cond_signal (&ctx->dl_cond);
  pthread_mutex_unlock (&ctx->dl_mu);
}

/* Downloads the blob; the caller holds its lock. stream (optional) is fed as bytes land. */
static int
blob_download (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
               const char *digest, uint64_t size, int index, struct ic_stream *stream,
               berth_err *err)
{
  struct ic_ingest ing;
  int slot = -1, r;
  bool keep;

  if (reg == NULL)
    return ic_err_code (
        err, ENOENT,
        "blob %s is not in the store (and this operation has no registry to fetch it from)",
        digest);
  r = download_slot_acquire (s, ctx, &slot, err);
  if (r < 0)
    return r;
  r = ic_ingest_open (s, digest, size, &ing, err);
  if (r < 0)
    {
      download_slot_release (ctx, slot);
      return r;
    }
  if (stream)
    {
      int dfd = fcntl (ing.fd, F_DUPFD_CLOEXEC, 3);
      if (dfd < 0)
        {
          r = berth_err_set (err, errno, "dup");
          ic_ingest_close (&ing, true);
          download_slot_release (ctx, slot);
          return r;
        }
      pthread_mutex_lock (&stream->mu);
      stream->fd = dfd;
      pthread_mutex_unlock (&stream->mu);
      ing.stream = stream;
      ic_stream_advance (stream, ing.offset);
    }
  ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_BLOB_START, index, digest, ing.offset, size, false,
                   NULL);
  r = ic_registry_blob_fetch (reg, &ing, index, err);
  /* A network failure or the caller's cancellation keeps the partial file for the next
   * pull to resume; a wrong digest, a full disk, a refusal, or a stop because another part
   * of the pull failed (a full disk, most likely) does not. */
  keep = r < 0
         && (berth_err_code (err) == EIO
             || (berth_err_code (err) == ECANCELED && imagecache_cancel_requested (ctx->cancel)));
  ic_ingest_close (&ing, r == 0 ? true : keep);
  download_slot_release (ctx, slot);
  if (r < 0)
    return r;
  atomic_fetch_add (&ctx->blobs_fetched, 1);
  ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_BLOB_DONE, index, digest, size, size, false, NULL);
  return 0;
}

static void
blob_lock_name (const char *digest, char out[96])
{
  snprintf (out, 96, "blob-%s", ic_digest_hex (digest));
}

/* Single flight for a blob in this process and, by its lock file, in every process.
 * Returns 1 with *ret_lock_fd held and *ret_flight to end when this caller must download
 * it, 0 when it is present (downloaded by someone else meanwhile). */
static int
blob_claim (struct imagecache_store *s, struct ic_ctx *ctx, const char *digest,
            struct ic_flight **ret_flight, int *ret_lock_fd, berth_err *err)
{
  char key[96], lockname[96];
  snprintf (key, sizeof key, "blob:%s", digest);
  blob_lock_name (digest, lockname);
  for (;;)
    {
      struct ic_flight *f;
      int r;
      if (ic_blob_exists (s, digest, NULL))
        return 0;
      if (ic_flight_begin (s, key, &f) == 0)
        {
          r = ic_flight_wait (s, f, ctx);
          ic_flight_put (s, f);
          if (r == -ECANCELED && ic_ctx_stopped (ctx))
            return ic_ctx_stop_error (ctx, err);
          continue; /* present now, or the other download failed: look again, maybe lead */
        }
      r = ic_lock (s, lockname, IC_LOCK_EXCLUSIVE, ctx, ret_lock_fd, err);
      if (r < 0)
        {
          ic_flight_end (s, f, r);
          return r;
        }
      if (ic_blob_exists (s, digest, NULL))
        {
          close (*ret_lock_fd);
          ic_flight_end (s, f, 0);
          return 0;
        }
      *ret_flight = f;
      return 1;
    }
}

int
ic_blob_ensure (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
                const char *digest, uint64_t size, int index, bool *ret_cached, berth_err *err)
{
  struct ic_flight *f = NULL;
  int lockfd = -1, r;

  r = blob_claim (s, ctx, digest, &f, &lockfd, err);
  if (r < 0)
    return r;
  if (r == 0)
    {
      atomic_fetch_add (&ctx->blobs_cached, 1);
      *ret_cached = true;
      ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_BLOB_DONE, index, digest, size, size, true, NULL);
      return 0;
    }
  r = blob_download (s, ctx, reg, digest, size, index, NULL, err);
  close (lockfd);
  ic_flight_end (s, f, r);
  *ret_cached = false;
  return r;
}

/* ------------------------------------------------------------------ unpack */

struct unpack_job
{
  struct imagecache_store *s;
  struct ic_ctx *ctx;
  int dirfd;
  struct ic_stream *stream;
  struct ic_unpack_result res;
  berth_err err;
  int r;
};

static int
unpack_from (struct imagecache_store *s, struct ic_ctx *ctx, int blobfd, struct ic_stream *stream,
             int dirfd, struct ic_unpack_result *res, berth_err *err)
{
  struct ic_unpack_options o
      = { .max_size = s->cfg.max_layer_size,
             .max_entries = s->cfg.max_layer_entries, .allow_devices = s->cfg.allow_devices, .ctx = ctx };
  struct ic_file_source fs;
  struct ic_source src;
  int r;

  r = ic_unpack_slot_acquire (s, ctx, err);
  if (r < 0)
    return r;
  ic_file_source_init (&fs, &src, blobfd, stream, ctx);
  r = ic_unpack_layer (&src, dirfd, &o, res, err);
  ic_unpack_slot_release (s);
  return r;
}

static void *
unpack_thread (void *arg)
{
  struct unpack_job *j = arg;
  j->r = unpack_from (j->s, j->ctx, -1, j->stream, j->dirfd, &j->res, &j->err);
  if (j->r < 0)
    atomic_store (&j->ctx->failed, true); /* the pull fails: stop the download too */
  return NULL;
}

static int
write_layer_json (struct imagecache_store *s, int tmpfd, const struct ic_layer_want *w,
                  const struct ic_unpack_result *res, berth_err *err)
{
  cleanup_json json_object *o = json_object_new_object ();
  const char *text;
  json_object_object_add (o, "chain_id", json_object_new_string (w->chain_id));
  json_object_object_add (o, "diff_id", json_object_new_string (w->diff_id));
  json_object_object_add (o, "digest", json_object_new_string (w->digest));
  if (w->parent_chain_id)
    json_object_object_add (o, "parent", json_object_new_string (w->parent_chain_id));
  json_object_object_add (o, "size", json_object_new_uint64 (w->size));
  json_object_object_add (o, "unpacked_size", json_object_new_uint64 (res->unpacked_size));
  json_object_object_add (o, "entries", json_object_new_uint64 (res->entries));
  json_object_object_add (o, "created", json_object_new_uint64 (berth_realtime_ns ()));
  json_object_object_add (o, "synced", json_object_new_boolean (false));
  json_object_object_add (o, "boot_id", json_object_new_string (s->boot_id));
  text = bjson_to_string (o);
  /* no fsync here: the layer's files were not synced either (see imagecache_store_sync) */
  cleanup_close int fd
      = openat (tmpfd, "layer.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || berth_write_all (fd, text, strlen (text)) < 0)
    return berth_err_set (err, errno, "write layer.json");
  return 0;
}

/* Unpacks w into a temporary directory and commits it. The caller holds the layer lock. */
static int
layer_build (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
             const struct ic_layer_want *w, berth_err *err)
{
  char tmp[160];
  cleanup_close int tmpfd = -1, difffd = -1;
  struct ic_unpack_result res = { 0 };
  const char *hex = ic_digest_hex (w->chain_id);
  int r;

  snprintf (tmp, sizeof tmp, ".tmp-%.16s-%d-%u", hex, getpid (),
            __atomic_add_fetch (&tmp_counter, 1, __ATOMIC_RELAXED));
  if (mkdirat (s->layers_fd, tmp, 0700) < 0)
    return berth_err_set (err, errno, "mkdir `%s/layers/%s`", s->root, tmp);
  tmpfd = openat (s->layers_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (tmpfd < 0 || mkdirat (tmpfd, "diff", 0755) < 0 || fchmodat (tmpfd, "diff", 0755, 0) < 0
      || (difffd = openat (tmpfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
    {
      r = berth_err_set (err, errno, "create `%s/layers/%s/diff`", s->root, tmp);
      goto out;
    }

  if (ic_blob_exists (s, w->digest, NULL))
    {
      cleanup_close int bfd = ic_blob_open (s, w->digest, err);
      if (bfd < 0)
        {
          r = bfd;
          goto out;
        }
      atomic_fetch_add (&ctx->blobs_cached, 1);
      ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_BLOB_DONE, w->index, w->digest, w->size, w->size,
                       true, NULL);
      r = unpack_from (s, ctx, bfd, NULL, difffd, &res, err);
    }
  else
    {
      struct ic_flight *f = NULL;
      int lockfd = -1;
      r = blob_claim (s, ctx, w->digest, &f, &lockfd, err);
      if (r < 0)
        goto out;
      if (r == 0)
        {
          /* someone else downloaded it meanwhile */
          cleanup_close int bfd = ic_blob_open (s, w->digest, err);
          if (bfd < 0)
            {
              r = bfd;
              goto out;
            }
          atomic_fetch_add (&ctx->blobs_cached, 1);
          ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_BLOB_DONE, w->index, w->digest, w->size,
                           w->size, true, NULL);
          r = unpack_from (s, ctx, bfd, NULL, difffd, &res, err);
        }
      else
        {
          /* download here, unpack in a second thread as the bytes land */
          struct unpack_job job
              = { .s = s, .ctx = ctx, .dirfd = difffd, .stream = ic_stream_new (-1, w->size) };
          pthread_t th;
          pthread_attr_t attr;
          int dr;
          pthread_attr_init (&attr);
          pthread_attr_setstacksize (&attr, 1 << 20);
          job.stream->refs = 2;
          if (pthread_create (&th, &attr, unpack_thread, &job) != 0)
            abort ();
          pthread_attr_destroy (&attr);
          dr = blob_download (s, ctx, reg, w->digest, w->size, w->index, job.stream, err);
          ic_stream_finish (job.stream, dr);
          close (lockfd);
          ic_flight_end (s, f, dr);
          pthread_join (th, NULL);
          ic_stream_put (job.stream);
          ic_stream_put (job.stream);
          /* the unpacker's own failure (a hostile entry, a full disk) is the real error;
             the download then only saw a stop */
          if (job.r < 0 && !(dr < 0 && berth_err_code (&job.err) == ECANCELED))
            {
              berth_err_move (err, &job.err);
              r = job.r;
              goto out;
            }
          berth_err_free (&job.err);
          if (dr < 0)
            {
              r = dr;
              goto out;
            }
          res = job.res;
          r = 0;
        }
    }
  if (r < 0)
    goto out;
  if (strcmp (res.diff_id, w->diff_id) != 0)
    {
      r = berth_err_set (err, 0,
                         "layer %s: its uncompressed content hashes to %s but the image config "
                         "says %s; not stored",
                         w->digest, res.diff_id, w->diff_id);
      goto out;
    }
  r = write_layer_json (s, tmpfd, w, &res, err);
  if (r < 0)
    goto out;
  if (renameat (s->layers_fd, tmp, s->layers_fd, hex) < 0)
    {
      r = berth_err_set (err, errno, "commit layer `%s/layers/%s`", s->root, hex);
      goto out;
    }
  atomic_fetch_add (&ctx->layers_unpacked, 1);
  r = 0;
out:
  if (r < 0)
    {
      /* nothing of a failed unpack stays: the layer is committed whole or not at all */
      berth_err e2 = NULL;
      if (tmpfd >= 0)
        close (steal_fd (&tmpfd));
      if (difffd >= 0)
        close (steal_fd (&difffd));
      berth_rm_rf_at (s->layers_fd, tmp, &e2);
      berth_err_free (&e2);
    }
  return r;
}

int
ic_layer_ensure (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
                 const struct ic_layer_want *w, bool *ret_cached, berth_err *err)
{
  char key[96], lockname[96];
  snprintf (key, sizeof key, "layer:%s", w->chain_id);
  snprintf (lockname, sizeof lockname, "layer-%s", ic_digest_hex (w->chain_id));
  for (;;)
    {
      struct ic_flight *f;
      int lockfd = -1, r;
      if (ic_layer_exists (s, w->chain_id))
        {
          atomic_fetch_add (&ctx->layers_cached, 1);
          *ret_cached = true;
          ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_LAYER_DONE, w->index, w->digest, 0, 0, true,
                           NULL);
          return 0;
        }
      if (ic_flight_begin (s, key, &f) == 0)
        {
          r = ic_flight_wait (s, f, ctx);
          ic_flight_put (s, f);
          if (r == -ECANCELED && ic_ctx_stopped (ctx))
            return ic_ctx_stop_error (ctx, err);
          continue;
        }
      r = ic_lock (s, lockname, IC_LOCK_EXCLUSIVE, ctx, &lockfd, err);
      if (r < 0)
        {
          ic_flight_end (s, f, r);
          return r;
        }
      if (ic_layer_exists (s, w->chain_id))
        {
          close (lockfd);
          ic_flight_end (s, f, 0);
          continue;
        }
      r = layer_build (s, ctx, reg, w, err);
      close (lockfd);
      ic_flight_end (s, f, r);
      if (r < 0)
        return berth_err_wrap (err, "layer %d (%s)", w->index + 1, w->digest);
      *ret_cached = false;
      ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_LAYER_DONE, w->index, w->digest, 0, 0, false, NULL);
      return 0;
    }
}

/* ------------------------------------------------------------------ sync and boot check */

static int
set_layer_synced (struct imagecache_store *s, const char *hex, berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  char p[128];
  const char *text;
  json_object *v;
  snprintf (p, sizeof p, "%.64s/layer.json", hex);
  if (bjson_parse_file_at (s->layers_fd, p, 1 << 16, &obj, NULL) < 0)
    return 0;
  if (json_object_object_get_ex (obj, "synced", &v) && json_object_get_boolean (v))
    return 0;
  json_object_object_add (obj, "synced", json_object_new_boolean (true));
  text = bjson_to_string (obj);
  return berth_write_file_atomic_at (s->layers_fd, p, text, strlen (text), 0644, err);
}

int
imagecache_store_sync (struct imagecache_store *s, berth_err *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd;

  /* everything written so far reaches the disk; only then is a layer marked synced */
  if (syncfs (s->rootfd) < 0)
    return berth_err_set (err, errno, "syncfs `%s`", s->root);
  fd = openat (s->layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return berth_err_set (err, errno, "open `%s/layers`", s->root);
    }
  while ((de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.' || strlen (de->d_name) != 64)
        continue;
      if (set_layer_synced (s, de->d_name, err) < 0)
        return -1;
    }
  return 0;
}

int
ic_layers_check_boot (struct imagecache_store *s, berth_err *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd = openat (s->layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return berth_err_set (err, errno, "open `%s/layers`", s->root);
    }
  while ((de = readdir (d)) != NULL)
    {
      cleanup_json json_object *obj = NULL;
      json_object *v;
      char p[128], t[160];
      bool synced = false;
      const char *boot = "";
      if (de->d_name[0] == '.' || strlen (de->d_name) != 64)
        continue;
      snprintf (p, sizeof p, "%.64s/layer.json", de->d_name);
      if (bjson_parse_file_at (s->layers_fd, p, 1 << 16, &obj, NULL) == 0)
        {
          if (json_object_object_get_ex (obj, "synced", &v))
            synced = json_object_get_boolean (v);
          if (json_object_object_get_ex (obj, "boot_id", &v)
              && json_object_get_type (v) == json_type_string)
            boot = json_object_get_string (v);
        }
      if (synced || strcmp (boot, s->boot_id) == 0)
        continue;
      snprintf (t, sizeof t, "layer-%.64s-%d", de->d_name, getpid ());
      if (renameat (s->layers_fd, de->d_name, s->trash_fd, t) < 0 && errno != ENOENT)
        return berth_err_set (err, errno, "move unsynced layer %s to trash", de->d_name);
    }
  return 0;
}
