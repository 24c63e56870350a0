/* The store: its directory layout, opening and closing, the per-operation context
 * (cancellation, counters, progress), file locks shared with other processes, in-process
 * single flight and the unpack slots. */
#include "internal.h"

#include <sys/file.h>
#include <time.h>

static const char *const store_dirs[] = { "blobs",  "blobs/sha256", "ingest", "layers", "images",
                                          "leases", "locks",        "trash",  "empty",  NULL };

/* ------------------------------------------------------------------ cancellation */

struct imagecache_cancel *
imagecache_cancel_new (void)
{
  struct imagecache_cancel *c = xzalloc (sizeof *c);
  atomic_init (&c->requested, false);
  return c;
}

void
imagecache_cancel_trigger (struct imagecache_cancel *c)
{
  atomic_store (&c->requested, true);
}

bool
imagecache_cancel_requested (const struct imagecache_cancel *c)
{
  return c && atomic_load (&((struct imagecache_cancel *)c)->requested);
}

void
imagecache_cancel_free (struct imagecache_cancel *c)
{
  free (c);
}

/* ------------------------------------------------------------------ operation context */

void
ic_ctx_init (struct ic_ctx *ctx, struct imagecache_store *store, struct imagecache_cancel *cancel,
             imagecache_progress_fn fn, void *user)
{
  memset (ctx, 0, sizeof *ctx);
  ctx->store = store;
  ctx->cancel = cancel;
  atomic_init (&ctx->failed, false);
  ctx->progress = fn;
  ctx->progress_user = user;
  pthread_mutex_init (&ctx->progress_mu, NULL);
  pthread_mutex_init (&ctx->dl_mu, NULL);
  pthread_cond_init (&ctx->dl_cond, NULL);
  ctx->dl_max = store->cfg.max_downloads_per_pull ? store->cfg.max_downloads_per_pull : 1;
}

void
ic_ctx_destroy (struct ic_ctx *ctx)
{
  pthread_mutex_destroy (&ctx->progress_mu);
  pthread_mutex_destroy (&ctx->dl_mu);
  pthread_cond_destroy (&ctx->dl_cond);
}

bool
ic_ctx_stopped (struct ic_ctx *ctx)
{
  if (ctx == NULL)
    return false;
  return atomic_load (&ctx->failed) || imagecache_cancel_requested (ctx->cancel);
}

int
ic_ctx_stop_error (struct ic_ctx *ctx, berth_err *err)
{
  if (ctx && imagecache_cancel_requested (ctx->cancel))
    return ic_err_code (err, ECANCELED, "cancelled");
  return ic_err_code (err, ECANCELED, "stopped: another part of the operation failed");
}

void
ic_ctx_progress (struct ic_ctx *ctx, enum imagecache_progress_kind kind, int layer,
                 const char *digest, uint64_t done, uint64_t total, bool cached,
                 const char *message)
{
  struct imagecache_progress p = {
    .kind = kind,
    .layer = layer,
    .n_layers = ctx->n_layers,
    .digest = digest,
    .done = done,
    .total = total,
    .cached = cached,
    .message = message,
  };
  if (ctx->progress == NULL)
    return;
  pthread_mutex_lock (&ctx->progress_mu);
  ctx->progress (&p, ctx->progress_user);
  pthread_mutex_unlock (&ctx->progress_mu);
}

void
ic_ctx_stats (struct ic_ctx *ctx, struct imagecache_pull_stats *ret)
{
  ret->blob_bytes = atomic_load (&ctx->blob_bytes);
  ret->blobs_fetched = atomic_load (&ctx->blobs_fetched);
  ret->blobs_cached = atomic_load (&ctx->blobs_cached);
  ret->layers_unpacked = atomic_load (&ctx->layers_unpacked);
  ret->layers_cached = atomic_load (&ctx->layers_cached);
  ret->requests = atomic_load (&ctx->requests);
  ret->retries = atomic_load (&ctx->retries);
}

bool
ic_ctx_sleep (struct ic_ctx *ctx, uint64_t ns)
{
  uint64_t end = berth_now_ns () + ns;
  for (;;)
    {
      uint64_t now = berth_now_ns ();
      uint64_t step;
      struct timespec ts;
      if (ic_ctx_stopped (ctx))
        return false;
      if (now >= end)
        return true;
      step = end - now;
      if (step > 20000000)
        step = 20000000;
      ts.tv_sec = (time_t)(step / 1000000000);
      ts.tv_nsec = (long)(step % 1000000000);
      nanosleep (&ts, NULL);
    }
}

/* ------------------------------------------------------------------ file locks */

static int
lock_attempt (struct imagecache_store *s, const char *name, int mode, bool *ret_busy, int *ret_fd,
              berth_err *err)
{
  for (;;)
    {
      cleanup_close int fd
          = openat (s->locks_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      struct stat a, b;
      if (fd < 0)
        return berth_err_set (err, errno, "open lock `%s/locks/%s`", s->root, name);
      if (flock (fd, (mode == IC_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0)
        {
          if (errno == EWOULDBLOCK || errno == EINTR)
            {
              *ret_busy = true;
              return 0;
            }
          return berth_err_set (err, errno, "lock `%s/locks/%s`", s->root, name);
        }
      /* GC unlinks idle lock files while holding them: a lock taken on a file that is no
       * longer the one at the path protects nothing. */
      if (fstat (fd, &a) < 0)
        return berth_err_set (err, errno, "fstat lock `%s`", name);
      if (fstatat (s->locks_fd, name, &b, AT_SYMLINK_NOFOLLOW) < 0 || a.st_ino != b.st_ino
          || a.st_dev != b.st_dev)
        continue;
      *ret_busy = false;
      *ret_fd = steal_fd (&fd);
      return 0;
    }
}

int
ic_lock_try (struct imagecache_store *s, const char *name, int mode, int *ret_fd, berth_err *err)
{
  bool busy;
  int r = lock_attempt (s, name, mode, &busy, ret_fd, err);
  if (r < 0)
    return r;
  return busy ? 0 : 1;
}

int
ic_lock (struct imagecache_store *s, const char *name, int mode, struct ic_ctx *ctx, int *ret_fd,
         berth_err *err)
{
  uint64_t wait = 1000000; /* 1 ms, growing to 50 ms */
  for (;;)
    {
      bool busy;
      int r = lock_attempt (s, name, mode, &busy, ret_fd, err);
      if (r < 0)
        return r;
      if (!busy)
        return 0;
      if (ctx && !ic_ctx_sleep (ctx, wait))
        return ic_ctx_stop_error (ctx, err);
      if (ctx == NULL)
        {
          struct timespec ts = { 0, (long)wait };
          nanosleep (&ts, NULL);
        }
      if (wait < 50000000)
        wait *= 2;
    }
}

int
ic_slot_acquire (struct imagecache_store *s, const char *prefix, unsigned n, struct ic_ctx *ctx,
                 int *ret_fd, berth_err *err)
{
  uint64_t wait = 1000000;
  unsigned start = (unsigned)(pthread_self () % (n ? n : 1));
  for (;;)
    {
      for (unsigned i = 0; i < n; i++)
        {
          char name[64];
          snprintf (name, sizeof name, "%s-%u", prefix, (start + i) % n);
          int r = ic_lock_try (s, name, IC_LOCK_EXCLUSIVE, ret_fd, err);
          if (r != 0)
            return r < 0 ? r : 0;
        }
      if (!ic_ctx_sleep (ctx, wait))
        return ic_ctx_stop_error (ctx, err);
      if (wait < 20000000)
        wait *= 2;
    }
}

int
ic_store_lock_shared (struct imagecache_store *s, struct ic_ctx *ctx, int *ret_fd, berth_err *err)
{
  return ic_lock (s, "store", IC_LOCK_SHARED, ctx, ret_fd, err);
}

/* ------------------------------------------------------------------ unpack slots */

int
ic_unpack_slot_acquire (struct imagecache_store *s, struct ic_ctx *ctx, berth_err *err)
{
  pthread_mutex_lock (&s->mu);
  while (s->unpacks_running >= s->max_unpacks)
    {
      struct timespec ts;
      if (ic_ctx_stopped (ctx))
        {
          pthread_mutex_unlock (&s->mu);
          return ic_ctx_stop_error (ctx, err);
        }
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50000000;
      if (ts.tv_nsec >= 1000000000)
        ts.tv_sec++, ts.tv_nsec -= 1000000000;
      pthread_cond_timedwait (&s->unpack_cond, &s->mu, &ts);
    }
  s->unpacks_running++;
  pthread_mutex_unlock (&s->mu);
  return 0;
}

void
ic_unpack_slot_release (struct imagecache_store *s)
{
  pthread_mutex_lock (&s->mu);
  s->unpacks_running--;
  pthread_cond_signal (&s->unpack_cond);
  pthread_mutex_unlock (&s->mu);
}

/* ------------------------------------------------------------------ single flight */

int
ic_flight_begin (struct imagecache_store *s, const char *key, struct ic_flight **ret)
{
  struct ic_flight *f;
  pthread_mutex_lock (&s->mu);
  for (f = s->flights; f; f = f->next)
    if (strcmp (f->key, key) == 0)
      {
        f->refs++;
        pthread_mutex_unlock (&s->mu);
        *ret = f;
        return 0;
      }
  f = xzalloc (sizeof *f);
  f->key = xstrdup (key);
  f->refs = 1;
  pthread_cond_init (&f->cond, NULL);
  f->next = s->flights;
  s->flights = f;
  pthread_mutex_unlock (&s->mu);
  *ret = f;
  return 1;
}

static void
flight_unref_locked (struct ic_flight *f)
{
  if (--f->refs > 0)
    return;
  pthread_cond_destroy (&f->cond);
  free (f->key);
  free (f);
}

int
ic_flight_wait (struct imagecache_store *s, struct ic_flight *f, struct ic_ctx *ctx)
{
  int r;
  pthread_mutex_lock (&s->mu);
  while (!f->done)
    {
      struct timespec ts;
      if (ic_ctx_stopped (ctx))
        {
          pthread_mutex_unlock (&s->mu);
          return -ECANCELED;
        }
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50000000;
      if (ts.tv_nsec >= 1000000000)
        ts.tv_sec++, ts.tv_nsec -= 1000000000;
      pthread_cond_timedwait (&f->cond, &s->mu, &ts);
    }
  r = f->result;
  pthread_mutex_unlock (&s->mu);
  return r;
}

void
ic_flight_put (struct imagecache_store *s, struct ic_flight *f)
{
  pthread_mutex_lock (&s->mu);
  flight_unref_locked (f);
  pthread_mutex_unlock (&s->mu);
}

void
ic_flight_end (struct imagecache_store *s, struct ic_flight *f, int result)
{
  pthread_mutex_lock (&s->mu);
  for (struct ic_flight **p = &s->flights; *p; p = &(*p)->next)
    if (*p == f)
      {
        *p = f->next;
        break;
      }
  f->done = true;
  f->result = result;
  pthread_cond_broadcast (&f->cond);
  flight_unref_locked (f);
  pthread_mutex_unlock (&s->mu);
}

/* ------------------------------------------------------------------ open and close */

int
ic_read_boot_id (char out[64])
{
  cleanup_free char *buf = NULL;
  size_t len;
  if (berth_read_file_at (AT_FDCWD, "/proc/sys/kernel/random/boot_id", 63, &buf, &len, NULL) < 0)
    return -1;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
    buf[--len] = '\0';
  snprintf (out, 64, "%s", buf);
  return 0;
}

static int
open_dir (int dirfd, const char *path, const char *root, int *ret, berth_err *err)
{
  int fd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s/%s`", root, path);
  *ret = fd;
  return 0;
}

static int
boot_check (struct imagecache_store *s, berth_err *err)
{
  cleanup_free char *stamp = NULL;
  cleanup_close int lockfd = -1;
  size_t len;
  int r;

  if (s->boot_id[0] == '\0')
    return 0;
  if (berth_read_file_at (s->rootfd, "boot_id", 128, &stamp, &len, NULL) == 0
      && strcmp (stamp, s->boot_id) == 0)
    return 0;
  r = ic_lock (s, "store", IC_LOCK_EXCLUSIVE, NULL, &lockfd, err);
  if (r < 0)
    return r;
  free (stamp);
  stamp = NULL;
  if (berth_read_file_at (s->rootfd, "boot_id", 128, &stamp, &len, NULL) == 0
      && strcmp (stamp, s->boot_id) == 0)
    return 0;
  r = ic_layers_check_boot (s, err);
  if (r < 0)
    return r;
  return berth_write_file_atomic_at (s->rootfd, "boot_id", s->boot_id, strlen (s->boot_id), 0644,
                                     err);
}

int
imagecache_store_open (const char *root, const struct imagecache_config *cfg,
                       struct imagecache_store **ret, berth_err *err)
{
  struct imagecache_store *s;
  struct imagecache_config defaults;
  int r;

  if (root == NULL || root[0] != '/')
    return berth_err_set (err, 0, "image store root `%s`: must be an absolute path",
                          root ? root : "");
  r = ic_http_global_init (err);
  if (r < 0)
    return r;
  s = xzalloc (sizeof *s);
  s->rootfd = s->blobs_fd = s->ingest_fd = s->layers_fd = s->images_fd = s->leases_fd = s->locks_fd
      = s->trash_fd = -1;
  s->root = xstrdup (root);
  while (strlen (s->root) > 1 && s->root[strlen (s->root) - 1] == '/')
    s->root[strlen (s->root) - 1] = '\0';
  pthread_mutex_init (&s->mu, NULL);
  pthread_cond_init (&s->unpack_cond, NULL);
  if (cfg == NULL)
    {
      imagecache_config_init (&defaults);
      cfg = &defaults;
    }
  ic_config_copy (&s->cfg, cfg);
  if (cfg == &defaults)
    imagecache_config_clear (&defaults);

  s->max_unpacks = s->cfg.max_unpacks;
  if (s->max_unpacks == 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      s->max_unpacks = n > 0 ? (unsigned)n : 1;
    }

  if (s->cfg.platform)
    r = ic_platform_parse (s->cfg.platform, &s->platform, err);
  else
    r = ic_platform_host (&s->platform, err);
  if (r < 0)
    goto fail;

  if (s->cfg.credentials_file)
    {
      cleanup_free char *text = NULL;
      size_t len;
      r = berth_read_file_at (AT_FDCWD, s->cfg.credentials_file, 4 << 20, &text, &len, err);
      if (r < 0)
        {
          berth_err_wrap (err, "registry credentials");
          goto fail;
        }
      r = ic_creds_parse (text, len, s->cfg.credentials_file, &s->creds, err);
      explicit_bzero (text, len);
      if (r < 0)
        goto fail;
    }
  if (s->cfg.ca_file && access (s->cfg.ca_file, R_OK) < 0)
    {
      r = berth_err_set (err, errno, "registry CA file `%s`", s->cfg.ca_file);
      goto fail;
    }

  r = berth_mkdir_p (s->root, 0700, err);
  if (r < 0)
    goto fail;
  r = open_dir (AT_FDCWD, s->root, "", &s->rootfd, err);
  if (r < 0)
    goto fail;
  for (const char *const *d = store_dirs; *d; d++)
    if (mkdirat (s->rootfd, *d, 0700) < 0 && errno != EEXIST)
      {
        r = berth_err_set (err, errno, "mkdir `%s/%s`", s->root, *d);
        goto fail;
      }
  if ((r = open_dir (s->rootfd, "blobs/sha256", s->root, &s->blobs_fd, err)) < 0
      || (r = open_dir (s->rootfd, "ingest", s->root, &s->ingest_fd, err)) < 0
      || (r = open_dir (s->rootfd, "layers", s->root, &s->layers_fd, err)) < 0
      || (r = open_dir (s->rootfd, "images", s->root, &s->images_fd, err)) < 0
      || (r = open_dir (s->rootfd, "leases", s->root, &s->leases_fd, err)) < 0
      || (r = open_dir (s->rootfd, "locks", s->root, &s->locks_fd, err)) < 0
      || (r = open_dir (s->rootfd, "trash", s->root, &s->trash_fd, err)) < 0)
    goto fail;

  r = ic_curl_share_new (s, err);
  if (r < 0)
    goto fail;
  ic_read_boot_id (s->boot_id);
  r = boot_check (s, err);
  if (r < 0)
    goto fail;
  *ret = s;
  return 0;

fail:
  imagecache_store_close (s);
  return r;
}

const char *
imagecache_store_root (const struct imagecache_store *s)
{
  return s->root;
}

void
imagecache_store_close (struct imagecache_store *s)
{
  if (s == NULL)
    return;
  ic_curl_share_free (s);
  ic_auth_cache_free (s);
  {
    int *fds[] = { &s->rootfd,    &s->blobs_fd,  &s->ingest_fd, &s->layers_fd,
                   &s->images_fd, &s->leases_fd, &s->locks_fd,  &s->trash_fd };
    for (size_t i = 0; i < ARRAY_SIZE (fds); i++)
      if (*fds[i] >= 0)
        close (*fds[i]);
  }
  imagecache_config_clear (&s->cfg);
  ic_platform_clear (&s->platform);
  ic_creds_free (&s->creds);
  pthread_cond_destroy (&s->unpack_cond);
  pthread_mutex_destroy (&s->mu);
  free (s->root);
  free (s);
}
