/* Garbage collection and the consistency check. GC holds the store lock exclusively
 * while it chooses and marks (no pull, import or lease in any process is half-way then),
 * removes records first, unlinks unreferenced blobs and renames unreferenced layers into
 * trash/, and deletes the trash after letting go of the lock. A kill -9 at any point
 * leaves records that only name content still there. */
#include "internal.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/statvfs.h>

void
imagecache_gc_report_clear (struct imagecache_gc_report *r)
{
  strv_free (r->images_removed);
  memset (r, 0, sizeof *r);
}

static unsigned
disk_used_percent (struct imagecache_store *s)
{
  struct statvfs v;
  uint64_t total, avail;
  if (fstatvfs (s->rootfd, &v) < 0 || v.f_blocks == 0)
    return 0;
  total = (uint64_t)v.f_blocks;
  avail = (uint64_t)v.f_bavail;
  /* kubelet: usage = capacity - available, so reserved blocks count as used */
  return (unsigned)((total - (avail < total ? avail : total)) * 100 / total);
}

static bool
is_hex64 (const char *s)
{
  if (strlen (s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static DIR *
open_dir_at (int dirfd, berth_err *err, const char *root, const char *what)
{
  DIR *d;
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      berth_err_set (err, errno, "open `%s/%s`", root, what);
      if (fd >= 0)
        close (fd);
      return NULL;
    }
  return d;
}

/* ------------------------------------------------------------------ marking */

struct mark
{
  char **digests;
  char **chains;
};

static int
mark_all (struct imagecache_store *s, struct mark *m, berth_err *err)
{
  cleanup_strv char **files = NULL;
  if (ic_lease_roots (s, &m->digests, &m->chains, NULL, NULL, err) < 0)
    return berth_err_ret (err);
  if (ic_record_list_files (s, &files, err) < 0)
    return berth_err_ret (err);
  for (size_t i = 0; files[i]; i++)
    {
      struct ic_record r = { 0 };
      if (ic_record_load_file (s, files[i], &r, err) < 0)
        {
          if (berth_err_code (err) == ENOENT)
            {
              berth_err_free (err);
              continue;
            }
          /* a record we cannot read may name anything: collect nothing */
          return berth_err_wrap (err, "refusing to collect garbage");
        }
      strv_append (&m->digests, r.digest);
      strv_append (&m->digests, r.manifest);
      strv_append (&m->digests, r.config);
      for (size_t j = 0; j < r.n_layers; j++)
        {
          strv_append (&m->digests, r.layers[j].digest);
          strv_append (&m->chains, r.layers[j].chain_id);
        }
      ic_record_clear (&r);
    }
  qsort (m->digests, strv_len (m->digests), sizeof (char *), ic_strcmp_p);
  qsort (m->chains, strv_len (m->chains), sizeof (char *), ic_strcmp_p);
  return 0;
}

static bool
marked (char **sorted, const char *hex)
{
  char d[IC_DIGEST_BUF];
  const char *key = d;
  snprintf (d, sizeof d, "sha256:%s", hex);
  return sorted && bsearch (&key, sorted, strv_len (sorted), sizeof (char *), ic_strcmp_p) != NULL;
}

static void
mark_clear (struct mark *m)
{
  strv_free (m->digests);
  strv_free (m->chains);
  memset (m, 0, sizeof *m);
}

static unsigned trash_counter;

static int
to_trash (struct imagecache_store *s, int dirfd, const char *name, const char *kind, berth_err *err)
{
  char t[256];
  snprintf (t, sizeof t, "%s-%.80s-%d-%u", kind, name, getpid (),
            __atomic_add_fetch (&trash_counter, 1, __ATOMIC_RELAXED));
  if (renameat (dirfd, name, s->trash_fd, t) < 0 && errno != ENOENT)
    return berth_err_set (err, errno, "move `%s` to `%s/trash`", name, s->root);
  return 0;
}

/* Unreferenced blobs and layers, crash leftovers, idle lock files. Store lock held
 * exclusively. */
static int
sweep (struct imagecache_store *s, const struct mark *m, uint64_t min_age_ns,
       struct imagecache_gc_report *rep, berth_err *err)
{
  struct dirent *de;
  uint64_t now = berth_realtime_ns ();

  {
    cleanup_dir DIR *d = open_dir_at (s->blobs_fd, err, s->root, "blobs/sha256");
    if (d == NULL)
      return berth_err_ret (err);
    while ((de = readdir (d)) != NULL)
      {
        struct stat st;
        if (!is_hex64 (de->d_name) || marked (m->digests, de->d_name))
          continue;
        if (fstatat (s->blobs_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
          continue;
        if (unlinkat (s->blobs_fd, de->d_name, 0) < 0 && errno != ENOENT)
          return berth_err_set (err, errno, "remove blob %s", de->d_name);
        rep->blobs_removed++;
        rep->bytes_freed += (uint64_t)st.st_size;
      }
  }
  {
    cleanup_dir DIR *d = open_dir_at (s->layers_fd, err, s->root, "layers");
    if (d == NULL)
      return berth_err_ret (err);
    while ((de = readdir (d)) != NULL)
      {
        char p[128];
        uint64_t size = 0;
        if (str_has_prefix (de->d_name, ".tmp-"))
          {
            /* every unpack holds the store lock shared: none is running, this is a crash's */
            if (to_trash (s, s->layers_fd, de->d_name, "tmp", err) < 0)
              return berth_err_ret (err);
            rep->leftovers_removed++;
            continue;
          }
        if (!is_hex64 (de->d_name) || marked (m->chains, de->d_name))
          continue;
        snprintf (p, sizeof p, "sha256:%.64s", de->d_name);
        ic_layer_unpacked_size (s, p, &size);
        if (to_trash (s, s->layers_fd, de->d_name, "layer", err) < 0)
          return berth_err_ret (err);
        rep->layers_removed++;
        rep->bytes_freed += size;
      }
  }
  {
    cleanup_dir DIR *d = open_dir_at (s->ingest_fd, err, s->root, "ingest");
    if (d == NULL)
      return berth_err_ret (err);
    while ((de = readdir (d)) != NULL)
      {
        struct stat st;
        uint64_t mtime;
        if (de->d_name[0] == '.'
            || fstatat (s->ingest_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
          continue;
        /* a partial download is kept a while so an interrupted pull can resume it */
        mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        if (is_hex64 (de->d_name) && mtime + min_age_ns > now)
          continue;
        if (unlinkat (s->ingest_fd, de->d_name, 0) == 0)
          {
            rep->leftovers_removed++;
            rep->bytes_freed += (uint64_t)st.st_size;
          }
      }
  }
  {
    cleanup_dir DIR *d = open_dir_at (s->locks_fd, err, s->root, "locks");
    if (d == NULL)
      return berth_err_ret (err);
    while ((de = readdir (d)) != NULL)
      {
        int lfd;
        if (de->d_name[0] == '.' || strcmp (de->d_name, "store") == 0
            || str_has_prefix (de->d_name, "download-"))
          continue;
        /* taken: nobody holds it; unlinked while held, a late opener finds its file gone
           and takes the lock again on a new one (ic_lock checks) */
        if (ic_lock_try (s, de->d_name, IC_LOCK_EXCLUSIVE, &lfd, NULL) == 1)
          {
            unlinkat (s->locks_fd, de->d_name, 0);
            close (lfd);
          }
      }
  }
  if (fsync (s->blobs_fd) < 0 || fsync (s->layers_fd) < 0 || fsync (s->trash_fd) < 0)
    return berth_err_set (err, errno, "fsync `%s`", s->root);
  return 0;
}

static int
empty_trash (struct imagecache_store *s, berth_err *err)
{
  cleanup_dir DIR *d = open_dir_at (s->trash_fd, err, s->root, "trash");
  struct dirent *de;
  if (d == NULL)
    return berth_err_ret (err);
  while ((de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (berth_rm_rf_at (s->trash_fd, de->d_name, err) < 0)
        return berth_err_ret (err);
    }
  return 0;
}

static int
prune_locked (struct imagecache_store *s, uint64_t min_age_ns, struct imagecache_gc_report *rep,
              berth_err *err)
{
  struct mark m = { 0 };
  int r = mark_all (s, &m, err);
  if (r == 0)
    r = sweep (s, &m, min_age_ns, rep, err);
  mark_clear (&m);
  return r;
}

int
ic_gc_prune_try (struct imagecache_store *s, struct imagecache_gc_report *rep, berth_err *err)
{
  int lockfd = -1, r;
  r = ic_lock_try (s, "store", IC_LOCK_EXCLUSIVE, &lockfd, err);
  if (r <= 0)
    return r;
  r = prune_locked (s, s->cfg.gc.min_age_ns, rep, err);
  close (lockfd);
  if (r < 0)
    return r;
  return empty_trash (s, err);
}

/* ------------------------------------------------------------------ image selection */

/* An image as GC sees it: one manifest, the records (names) that point at it. */
struct unit
{
  char *manifest;
  uint64_t last_used;
  char **files;
  char **names;
};

static int
unit_cmp (const void *a, const void *b)
{
  const struct unit *x = a, *y = b;
  if (x->last_used != y->last_used)
    return x->last_used < y->last_used ? -1 : 1;
  return strcmp (x->manifest, y->manifest);
}

static void
units_free (struct unit *u, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (u[i].manifest);
      strv_free (u[i].files);
      strv_free (u[i].names);
    }
  free (u);
}

/* Images that may go (no lease, unused for min_age), least recently used first. */
static int
collect_units (struct imagecache_store *s, uint64_t min_age_ns, struct unit **ret, size_t *ret_n,
               berth_err *err)
{
  cleanup_strv char **files = NULL, **held = NULL;
  struct unit *u;
  size_t n = 0, k = 0;
  uint64_t now = berth_realtime_ns ();

  if (ic_lease_roots (s, NULL, NULL, &held, NULL, err) < 0
      || ic_record_list_files (s, &files, err) < 0)
    return berth_err_ret (err);
  u = xzalloc ((strv_len (files) + 1) * sizeof *u);
  for (size_t i = 0; files[i]; i++)
    {
      struct ic_record r = { 0 };
      size_t j;
      if (ic_record_load_file (s, files[i], &r, NULL) < 0)
        continue;
      for (j = 0; j < n; j++)
        if (strcmp (u[j].manifest, r.manifest) == 0)
          break;
      if (j == n)
        {
          u[n].manifest = xstrdup (r.manifest);
          u[n].files = xzalloc (sizeof (char *));
          u[n].names = xzalloc (sizeof (char *));
          n++;
        }
      if (r.last_used_ns > u[j].last_used)
        u[j].last_used = r.last_used_ns;
      strv_append (&u[j].files, files[i]);
      strv_append (&u[j].names, r.name);
      ic_record_clear (&r);
    }
  for (size_t j = 0; j < n; j++)
    {
      bool keep = (held && strv_contains (held, u[j].manifest)) || u[j].last_used > now
                  || now - u[j].last_used < min_age_ns;
      if (keep)
        {
          free (u[j].manifest);
          strv_free (u[j].files);
          strv_free (u[j].names);
          continue;
        }
      u[k++] = u[j];
    }
  qsort (u, k, sizeof *u, unit_cmp);
  *ret = u;
  *ret_n = k;
  return 0;
}

static int
remove_unit (struct imagecache_store *s, const struct unit *u, struct imagecache_gc_report *rep,
             berth_err *err)
{
  for (size_t i = 0; u->files[i]; i++)
    {
      if (unlinkat (s->images_fd, u->files[i], 0) < 0 && errno != ENOENT)
        return berth_err_set (err, errno, "remove image record `%s`", u->files[i]);
      strv_append (&rep->images_removed, u->names[i]);
    }
  if (fsync (s->images_fd) < 0)
    return berth_err_set (err, errno, "fsync `%s/images`", s->root);
  return 0;
}

static void
gc_step (const struct imagecache_gc_options *opts, const char *step)
{
  if (opts->step_hook)
    opts->step_hook (step, opts->step_hook_data);
}

int
imagecache_gc (struct imagecache_store *s, const struct imagecache_gc_options *opts,
               struct imagecache_gc_report *ret, berth_err *err)
{
  static const struct imagecache_gc_options defaults = { 0 };
  const struct imagecache_gc_config *gc;
  struct imagecache_gc_report rep = { 0 };
  cleanup_close int lockfd = -1;
  struct unit *units = NULL;
  size_t n_units = 0;

  if (opts == NULL)
    opts = &defaults;
  gc = opts->gc ? opts->gc : &s->cfg.gc;
  if (gc->low_watermark > gc->high_watermark)
    return berth_err_set (err, 0, "gc: low watermark %u%% is above the high watermark %u%%",
                          gc->low_watermark, gc->high_watermark);
  rep.images_removed = xzalloc (sizeof (char *));
  rep.disk_used_before = disk_used_percent (s);

  /* leftovers of an earlier GC that was killed while deleting */
  if (empty_trash (s, err) < 0)
    goto fail;
  if (ic_lock (s, "store", IC_LOCK_EXCLUSIVE, NULL, &lockfd, err) < 0)
    goto fail;
  if (prune_locked (s, gc->min_age_ns, &rep, err) < 0)
    goto fail;
  gc_step (opts, "pruned");
  if (opts->mode != IMAGECACHE_GC_PRUNE)
    {
      if (collect_units (s, gc->min_age_ns, &units, &n_units, err) < 0)
        goto fail;
      for (size_t i = 0; i < n_units; i++)
        {
          if (opts->mode == IMAGECACHE_GC_WATERMARK)
            {
              /* kubelet: start above the high watermark, stop at the low one */
              unsigned used = disk_used_percent (s);
              if (i == 0 ? used <= gc->high_watermark : used <= gc->low_watermark)
                break;
            }
          if (remove_unit (s, &units[i], &rep, err) < 0)
            goto fail;
          gc_step (opts, "records");
          if (prune_locked (s, gc->min_age_ns, &rep, err) < 0)
            goto fail;
          gc_step (opts, "swept");
          /* the space comes back only once the trash is gone */
          if (opts->mode == IMAGECACHE_GC_WATERMARK && empty_trash (s, err) < 0)
            goto fail;
        }
    }
  close (steal_fd (&lockfd));
  gc_step (opts, "unlocked");
  if (empty_trash (s, err) < 0)
    goto fail;
  if (imagecache_store_sync (s, err) < 0)
    goto fail;
  rep.disk_used_after = disk_used_percent (s);
  units_free (units, n_units);
  if (ret)
    *ret = rep;
  else
    imagecache_gc_report_clear (&rep);
  return 0;
fail:
  units_free (units, n_units);
  imagecache_gc_report_clear (&rep);
  return berth_err_wrap (err, "garbage collection of `%s`", s->root);
}

/* ------------------------------------------------------------------ check */

static void problem (char ***v, const char *fmt, ...) BERTH_PRINTF (2, 3);

static void
problem (char ***v, const char *fmt, ...)
{
  va_list ap;
  char *m;
  va_start (ap, fmt);
  if (vasprintf (&m, fmt, ap) < 0)
    abort ();
  va_end (ap);
  strv_append (v, m);
  free (m);
}

static void
check_blob (struct imagecache_store *s, const char *digest, bool deep, const char *who, char ***p)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  struct ic_sha256 h;
  char got[IC_DIGEST_BUF];
  ssize_t n;

  if (!ic_blob_exists (s, digest, NULL))
    {
      problem (p, "%s: blob %s is missing", who, digest);
      return;
    }
  if (!deep)
    return;
  fd = ic_blob_open (s, digest, NULL);
  if (fd < 0)
    {
      problem (p, "%s: blob %s cannot be opened", who, digest);
      return;
    }
  buf = xmalloc (1 << 20);
  ic_sha256_init (&h);
  while ((n = read (fd, buf, 1 << 20)) > 0)
    ic_sha256_update (&h, buf, (size_t)n);
  ic_sha256_final (&h, got);
  ic_sha256_clear (&h);
  if (n < 0 || strcmp (got, digest) != 0)
    problem (p, "%s: blob %s is corrupt (hashes to %s)", who, digest, got);
}

int
imagecache_store_check (struct imagecache_store *s, bool deep, char ***ret, berth_err *err)
{
  cleanup_strv char **p = xzalloc (sizeof (char *));
  cleanup_strv char **files = NULL, **lease_digests = NULL;
  struct dirent *de;

  if (ic_record_list_files (s, &files, err) < 0)
    return berth_err_ret (err);
  for (size_t i = 0; files[i]; i++)
    {
      struct ic_record r = { 0 };
      berth_err e = NULL;
      cleanup_free char *want = NULL;
      if (ic_record_load_file (s, files[i], &r, &e) < 0)
        {
          if (berth_err_code (&e) != ENOENT)
            problem (&p, "record %s: %s", files[i], berth_err_msg (&e));
          berth_err_free (&e);
          continue;
        }
      want = ic_record_file (r.name);
      if (strcmp (want, files[i]) != 0)
        problem (&p, "record %s: holds name %s, which belongs in %s", files[i], r.name, want);
      check_blob (s, r.digest, deep, r.name, &p);
      if (strcmp (r.digest, r.manifest) != 0)
        check_blob (s, r.manifest, deep, r.name, &p);
      check_blob (s, r.config, deep, r.name, &p);
      for (size_t j = 0; j < r.n_layers; j++)
        {
          if (ic_blob_exists (s, r.layers[j].digest, NULL))
            check_blob (s, r.layers[j].digest, deep, r.name, &p);
          else if (!ic_layer_exists (s, r.layers[j].chain_id))
            problem (&p, "%s: layer %zu (%s) has neither its blob nor its unpacked directory",
                     r.name, j + 1, r.layers[j].digest);
        }
      ic_record_clear (&r);
    }
  if (ic_lease_roots (s, &lease_digests, NULL, NULL, NULL, err) < 0)
    return berth_err_ret (err);
  for (size_t i = 0; lease_digests[i]; i++)
    if (!ic_blob_exists (s, lease_digests[i], NULL))
      problem (&p, "a lease names blob %s, which is missing", lease_digests[i]);
  {
    cleanup_dir DIR *d = open_dir_at (s->layers_fd, err, s->root, "layers");
    if (d == NULL)
      return berth_err_ret (err);
    while ((de = readdir (d)) != NULL)
      {
        cleanup_json json_object *o = NULL;
        char path[160];
        const char *c = NULL;
        struct stat st;
        if (!is_hex64 (de->d_name))
          continue;
        snprintf (path, sizeof path, "%.64s/layer.json", de->d_name);
        if (bjson_parse_file_at (s->layers_fd, path, 1 << 16, &o, NULL) < 0)
          {
            problem (&p, "layer %s: layer.json is missing or unreadable", de->d_name);
            continue;
          }
        if (bjson_get_string (o, "", "chain_id", 0, &c, NULL) <= 0 || !str_has_prefix (c, "sha256:")
            || strcmp (c + 7, de->d_name) != 0)
          problem (&p, "layer %s: layer.json names another chain id", de->d_name);
        snprintf (path, sizeof path, "%.64s/diff", de->d_name);
        if (fstatat (s->layers_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
          problem (&p, "layer %s: diff/ is missing", de->d_name);
      }
  }
  if (deep)
    {
      cleanup_dir DIR *d = open_dir_at (s->blobs_fd, err, s->root, "blobs/sha256");
      if (d == NULL)
        return berth_err_ret (err);
      while ((de = readdir (d)) != NULL)
        {
          char dg[IC_DIGEST_BUF];
          if (!is_hex64 (de->d_name))
            continue;
          snprintf (dg, sizeof dg, "sha256:%.64s", de->d_name);
          check_blob (s, dg, true, "store", &p);
        }
    }
  *ret = steal_pointer (&p);
  return 0;
}
