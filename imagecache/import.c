/* Offline import: an OCI image layout (a directory, or a tar of one) or a docker-archive
 * tar (`docker save`). Every file goes through the content store, hashed as it is copied,
 * so a blob is stored only under the digest of what was actually read. */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>

#define SMALL_MAX (4u << 20)

struct entry
{
  char *path;   /* cleaned path inside the archive */
  char *digest; /* of its content, once stored */
  uint64_t size;
  char *link; /* symlink target, resolved to an archive path */
  char *data; /* small JSON files kept in memory */
  size_t len;
};

struct archive_files
{
  struct entry *v;
  size_t n, cap;
};

static void
files_free (struct archive_files *f)
{
  for (size_t i = 0; i < f->n; i++)
    {
      free (f->v[i].path);
      free (f->v[i].digest);
      free (f->v[i].link);
      free (f->v[i].data);
    }
  free (f->v);
  memset (f, 0, sizeof *f);
}

static struct entry *
files_find (struct archive_files *f, const char *path)
{
  for (int hops = 0; hops < 8; hops++)
    {
      struct entry *e = NULL;
      for (size_t i = 0; i < f->n; i++)
        if (strcmp (f->v[i].path, path) == 0)
          e = &f->v[i];
      if (e == NULL || e->link == NULL)
        return e;
      path = e->link;
    }
  return NULL;
}

/* "./a/../b" style names normalised; ".." that would leave the archive is refused. */
static char *
norm_path (const char *dir, const char *name)
{
  cleanup_free char *joined
      = dir && *dir && name[0] != '/' ? xasprintf ("%s/%s", dir, name) : xstrdup (name);
  char **parts = xzalloc ((strlen (joined) + 2) * sizeof (char *));
  size_t n = 0;
  char *save = NULL, *tok, *out;
  for (tok = strtok_r (joined, "/", &save); tok; tok = strtok_r (NULL, "/", &save))
    {
      if (strcmp (tok, ".") == 0)
        continue;
      if (strcmp (tok, "..") == 0)
        {
          if (n == 0)
            {
              free (parts);
              return NULL;
            }
          n--;
          continue;
        }
      parts[n++] = tok;
    }
  out = xstrdup ("");
  for (size_t i = 0; i < n; i++)
    {
      char *p = xasprintf ("%s%s%s", out, i ? "/" : "", parts[i]);
      free (out);
      out = p;
    }
  free (parts);
  return out;
}

static unsigned import_counter;

/* Copies a stream into the store under the digest of its bytes. */
static int
store_stream (struct imagecache_store *s, struct ic_ctx *ctx,
              ssize_t (*rd) (void *, void *, size_t, berth_err *), void *u, char out[IC_DIGEST_BUF],
              uint64_t *ret_size, char **ret_small, size_t *ret_small_len, berth_err *err)
{
  char tmp[96];
  cleanup_close int fd = -1;
  cleanup_free char *buf = xmalloc (1 << 20);
  cleanup_free char *small = NULL;
  size_t small_len = 0;
  struct ic_sha256 h;
  uint64_t total = 0;
  int r = 0;

  snprintf (tmp, sizeof tmp, "import-%d-%u", getpid (),
            __atomic_add_fetch (&import_counter, 1, __ATOMIC_RELAXED));
  fd = openat (s->ingest_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return berth_err_set (err, errno, "create `%s/ingest/%s`", s->root, tmp);
  ic_sha256_init (&h);
  for (;;)
    {
      ssize_t n;
      if (ic_ctx_stopped (ctx))
        {
          r = ic_ctx_stop_error (ctx, err);
          break;
        }
      n = rd (u, buf, 1 << 20, err);
      if (n < 0)
        {
          r = -1;
          break;
        }
      if (n == 0)
        break;
      ic_sha256_update (&h, buf, (size_t)n);
      if (berth_write_all (fd, buf, (size_t)n) < 0)
        {
          r = ic_err_code (err, errno, "write `%s/ingest/%s`: %s", s->root, tmp, strerror (errno));
          break;
        }
      if (ret_small && total + (uint64_t)n <= SMALL_MAX)
        {
          small = xrealloc (small, small_len + (size_t)n + 1);
          memcpy (small + small_len, buf, (size_t)n);
          small_len += (size_t)n;
          small[small_len] = '\0';
        }
      total += (uint64_t)n;
    }
  if (r == 0)
    {
      ic_sha256_final (&h, out);
      if (fsync (fd) < 0 || renameat (s->ingest_fd, tmp, s->blobs_fd, ic_digest_hex (out)) < 0)
        r = berth_err_set (err, errno, "commit imported blob %s", out);
    }
  ic_sha256_clear (&h);
  if (r < 0)
    {
      unlinkat (s->ingest_fd, tmp, 0);
      return r;
    }
  *ret_size = total;
  if (ret_small)
    {
      *ret_small = total <= SMALL_MAX ? (small ? steal_pointer (&small) : xstrdup ("")) : NULL;
      *ret_small_len = total <= SMALL_MAX ? small_len : 0;
    }
  return 0;
}

static ssize_t
archive_reader (void *u, void *buf, size_t len, berth_err *err)
{
  la_ssize_t n = archive_read_data (u, buf, len);
  if (n < 0)
    return berth_err_set (err, 0, "read archive: %s", archive_error_string (u));
  return n;
}

struct fd_reader
{
  int fd;
};

static ssize_t
fd_reader (void *u, void *buf, size_t len, berth_err *err)
{
  struct fd_reader *r = u;
  for (;;)
    {
      ssize_t n = read (r->fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return berth_err_set (err, errno, "read");
      return n;
    }
}

/* Reads a whole tar (optionally compressed) into the store. */
static int
read_tar (struct imagecache_store *s, struct ic_ctx *ctx, const char *path, struct archive_files *f,
          berth_err *err)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  int r = 0;
  if (a == NULL)
    abort ();
  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  if (archive_read_open_filename (a, path, 1 << 20) != ARCHIVE_OK)
    {
      r = berth_err_set (
          err, 0, "`%s` is not an image archive (a tar of an OCI layout, or a docker-archive): %s",
          path, archive_error_string (a));
      goto out;
    }
  for (;;)
    {
      int ar = archive_read_next_header (a, &e);
      const char *name;
      cleanup_free char *p = NULL;
      struct entry *ent;
      if (ar == ARCHIVE_EOF)
        break;
      if (ar < ARCHIVE_WARN)
        {
          r = berth_err_set (err, 0, "`%s`: not a valid tar: %s", path, archive_error_string (a));
          goto out;
        }
      name = archive_entry_pathname (e);
      if (name == NULL || (p = norm_path (NULL, name)) == NULL || *p == '\0')
        continue;
      if (archive_entry_filetype (e) != AE_IFREG && archive_entry_filetype (e) != AE_IFLNK)
        continue;
      if (f->n == f->cap)
        {
          f->cap = f->cap ? f->cap * 2 : 32;
          f->v = xrealloc (f->v, f->cap * sizeof *f->v);
        }
      ent = &f->v[f->n];
      memset (ent, 0, sizeof *ent);
      if (archive_entry_filetype (e) == AE_IFLNK)
        {
          const char *t = archive_entry_symlink (e);
          char *slash = strrchr (p, '/');
          cleanup_free char *dir = slash ? xstrndup (p, (size_t)(slash - p)) : xstrdup ("");
          if (t == NULL || (ent->link = norm_path (dir, t)) == NULL)
            continue;
          ent->path = steal_pointer (&p);
          f->n++;
          continue;
        }
      {
        char d[IC_DIGEST_BUF];
        bool keep = str_has_suffix (p, ".json") || strcmp (p, "oci-layout") == 0
                    || strcmp (p, "repositories") == 0;
        if (store_stream (s, ctx, archive_reader, a, d, &ent->size, keep ? &ent->data : NULL,
                          keep ? &ent->len : NULL, err)
            < 0)
          {
            r = berth_err_wrap (err, "`%s`: entry `%s`", path, p);
            goto out;
          }
        ent->digest = xstrdup (d);
        ent->path = steal_pointer (&p);
        f->n++;
      }
    }
out:
  archive_read_free (a);
  return r;
}

/* ------------------------------------------------------------------ images */

struct import_run
{
  struct imagecache_store *s;
  struct ic_ctx *ctx;
  const struct imagecache_import_options *o;
  const struct ic_platform *platform;
  int layout_fd; /* an OCI layout directory, or -1 when everything came from a tar */
  struct imagecache_image **out;
  size_t n_out;
};

/* Makes sure a blob is in the store: from the layout directory when importing one. */
static int
need_blob (struct import_run *run, const char *digest, berth_err *err)
{
  char path[128];
  cleanup_close int fd = -1;
  struct fd_reader rd;
  char got[IC_DIGEST_BUF];
  uint64_t size;
  if (ic_blob_exists (run->s, digest, NULL))
    return 0;
  if (run->layout_fd < 0)
    return ic_err_code (err, ENOENT, "the archive lacks blob %s", digest);
  snprintf (path, sizeof path, "blobs/sha256/%s", ic_digest_hex (digest));
  fd = openat (run->layout_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return ic_err_code (err, ENOENT, "the layout lacks blob %s: %s", digest, strerror (errno));
  rd.fd = fd;
  if (store_stream (run->s, run->ctx, fd_reader, &rd, got, &size, NULL, NULL, err) < 0)
    return -1;
  if (strcmp (got, digest) != 0)
    return berth_err_set (err, 0, "the layout's blob %s hashes to %s", digest, got);
  return 0;
}

static int
record_image (struct import_run *run, const char *name, const char *top_digest, berth_err *err)
{
  struct imagecache_store *s = run->s;
  cleanup_free char *top = NULL, *mbody = NULL, *cbody = NULL, *manifest_digest = NULL;
  size_t top_len, mlen, clen;
  struct ic_manifest m = { 0 };
  struct imagecache_image_config cfg = { 0 };
  struct ic_record rec = { 0 };
  struct imagecache_ref ref = { 0 };
  enum ic_doc_kind kind;
  int r;

  if ((r = imagecache_ref_parse (name, &ref, err)) < 0)
    return r;
  if ((r = need_blob (run, top_digest, err)) < 0
      || (r = ic_blob_read (s, top_digest, IC_MAX_MANIFEST_SIZE, &top, &top_len, err)) < 0
      || (r = ic_document_kind (top, top_len, NULL, &kind, err)) < 0)
    goto out;
  if (kind == IC_DOC_INDEX)
    {
      struct ic_index idx = { 0 };
      size_t i;
      if ((r = ic_index_parse (top, top_len, &idx, err)) < 0)
        goto out;
      r = ic_index_select (&idx, run->platform, &i, err);
      if (r == 0)
        manifest_digest = xstrdup (idx.manifests[i].digest);
      ic_index_clear (&idx);
      if (r < 0 || (r = need_blob (run, manifest_digest, err)) < 0
          || (r = ic_blob_read (s, manifest_digest, IC_MAX_MANIFEST_SIZE, &mbody, &mlen, err)) < 0)
        goto out;
    }
  else
    {
      manifest_digest = xstrdup (top_digest);
      mbody = steal_pointer (&top);
      mlen = top_len;
    }
  if ((r = ic_manifest_parse (mbody, mlen, &m, err)) < 0
      || (r = need_blob (run, m.config.digest, err)) < 0
      || (r = ic_blob_read (s, m.config.digest, IC_MAX_CONFIG_SIZE, &cbody, &clen, err)) < 0
      || (r = imagecache_image_config_parse (cbody, clen, &cfg, err)) < 0
      || (r = ic_record_fill (&rec, ref.name, top_digest, manifest_digest, &m, &cfg, err)) < 0)
    goto out;
  for (size_t i = 0; i < m.n_layers; i++)
    {
      uint64_t size;
      if ((r = need_blob (run, m.layers[i].digest, err)) < 0)
        goto out;
      if (ic_blob_exists (s, m.layers[i].digest, &size) && size != m.layers[i].size)
        {
          r = berth_err_set (err, 0, "layer %s is %" PRIu64 " bytes, the manifest says %" PRIu64,
                             m.layers[i].digest, size, m.layers[i].size);
          goto out;
        }
    }
  run->ctx->n_layers = rec.n_layers;
  if (!(run->o->flags & IMAGECACHE_PULL_NO_UNPACK)
      && (r = ic_ensure_layers_offline (s, run->ctx, &rec, err)) < 0)
    goto out;
  rec.created_ns = rec.last_used_ns = berth_realtime_ns ();
  if ((r = ic_record_store (s, &rec, err)) < 0)
    goto out;
  run->out = xrealloc (run->out, (run->n_out + 1) * sizeof *run->out);
  if ((r = ic_image_from_record (s, &rec, &run->out[run->n_out], err)) < 0)
    goto out;
  run->n_out++;
out:
  ic_record_clear (&rec);
  ic_manifest_clear (&m);
  imagecache_image_config_clear (&cfg);
  imagecache_ref_clear (&ref);
  if (r < 0)
    return berth_err_wrap (err, "import %s", name);
  return 0;
}

static int
import_oci_index (struct import_run *run, const char *text, size_t len, berth_err *err)
{
  struct ic_index idx = { 0 };
  size_t images = 0;
  int r;
  if (ic_index_parse (text, len, &idx, err) < 0)
    return berth_err_wrap (err, "index.json");
  for (size_t i = 0; i < idx.n; i++)
    if (ic_media_type_is_index (idx.manifests[i].media_type)
        || ic_media_type_is_manifest (idx.manifests[i].media_type))
      images++;
  if (images == 0)
    {
      ic_index_clear (&idx);
      return berth_err_set (err, 0, "index.json: no image in it");
    }
  if (run->o->name && images > 1)
    {
      ic_index_clear (&idx);
      return berth_err_set (err, 0, "index.json: %zu images; a name can be given for one only",
                            images);
    }
  r = 0;
  for (size_t i = 0; i < idx.n && r == 0; i++)
    {
      const struct ic_descriptor *d = &idx.manifests[i];
      const char *name = run->o->name;
      if (!ic_media_type_is_index (d->media_type) && !ic_media_type_is_manifest (d->media_type))
        continue;
      if (name == NULL)
        name = d->image_name;
      if (name == NULL && d->ref_name && (strchr (d->ref_name, '/') || strchr (d->ref_name, ':')))
        name = d->ref_name;
      if (name == NULL)
        {
          r = berth_err_set (
              err, 0,
              "index.json: manifests[%zu] has no image name (annotation io.containerd.image.name, "
              "or a "
              "full reference in org.opencontainers.image.ref.name%s%s%s); give one with a name",
              i, d->ref_name ? ": it has only `" : "", d->ref_name ? d->ref_name : "",
              d->ref_name ? "`" : "");
          break;
        }
      r = record_image (run, name, d->digest, err);
    }
  ic_index_clear (&idx);
  return r;
}

/* docker save: manifest.json lists each image's config and layer tars by path. */
static int
import_docker_archive (struct import_run *run, struct archive_files *f, const struct entry *man,
                       berth_err *err)
{
  struct imagecache_store *s = run->s;
  cleanup_json json_object *arr = NULL;
  int r;

  if (bjson_parse (man->data, man->len, "manifest.json", &arr, err) < 0)
    return -1;
  if (json_object_get_type (arr) != json_type_array || json_object_array_length (arr) == 0)
    return berth_err_set (err, 0, "manifest.json: expected a non-empty array");
  if (run->o->name && json_object_array_length (arr) > 1)
    return berth_err_set (err, 0, "manifest.json: %zu images; a name can be given for one only",
                          json_object_array_length (arr));
  for (size_t i = 0; i < json_object_array_length (arr); i++)
    {
      json_object *img = json_object_array_get_idx (arr, i), *ma, *layers_arr;
      cleanup_free char *p = bjson_path_index ("", i), *mtext = NULL;
      cleanup_strv char **layers = NULL, **tags = NULL;
      const char *config_path;
      const struct entry *ce;
      char mdigest[IC_DIGEST_BUF];

      if (bjson_expect (img, p, json_type_object, err) < 0
          || bjson_get_string (img, p, "Config", BJSON_REQUIRED, &config_path, err) < 0
          || bjson_get_strv (img, p, "Layers", BJSON_REQUIRED, &layers, err) < 0
          || bjson_get_strv (img, p, "RepoTags", 0, &tags, err) < 0)
        return berth_err_wrap (err, "manifest.json");
      ce = files_find (f, config_path);
      if (ce == NULL || ce->digest == NULL)
        return berth_err_set (err, 0, "manifest.json%s.Config: `%s` is not in the archive", p,
                              config_path);
      ma = json_object_new_object ();
      json_object_object_add (ma, "schemaVersion", json_object_new_int (2));
      json_object_object_add (ma, "mediaType", json_object_new_string (IC_MT_OCI_MANIFEST));
      {
        json_object *c = json_object_new_object ();
        json_object_object_add (c, "mediaType", json_object_new_string (IC_MT_OCI_CONFIG));
        json_object_object_add (c, "digest", json_object_new_string (ce->digest));
        json_object_object_add (c, "size", json_object_new_uint64 (ce->size));
        json_object_object_add (ma, "config", c);
      }
      layers_arr = json_object_new_array ();
      for (size_t j = 0; layers[j]; j++)
        {
          const struct entry *le = files_find (f, layers[j]);
          json_object *l;
          char magic[4] = { 0 };
          const char *mt = IC_MT_OCI_LAYER;
          if (le == NULL || le->digest == NULL)
            {
              json_object_put (ma);
              json_object_put (layers_arr);
              return berth_err_set (err, 0,
                                    "manifest.json%s.Layers[%zu]: `%s` is not in the archive", p, j,
                                    layers[j]);
            }
          {
            cleanup_close int bfd = ic_blob_open (s, le->digest, err);
            if (bfd < 0 || pread (bfd, magic, sizeof magic, 0) < 0)
              {
                if (bfd >= 0)
                  berth_err_set (err, errno, "read layer blob %s", le->digest);
                json_object_put (ma);
                json_object_put (layers_arr);
                return -1;
              }
          }
          if ((unsigned char)magic[0] == 0x1f && (unsigned char)magic[1] == 0x8b)
            mt = IC_MT_OCI_LAYER_GZIP;
          else if ((unsigned char)magic[0] == 0x28 && (unsigned char)magic[1] == 0xb5)
            mt = "application/vnd.oci.image.layer.v1.tar+zstd";
          l = json_object_new_object ();
          json_object_object_add (l, "mediaType", json_object_new_string (mt));
          json_object_object_add (l, "digest", json_object_new_string (le->digest));
          json_object_object_add (l, "size", json_object_new_uint64 (le->size));
          json_object_array_add (layers_arr, l);
        }
      json_object_object_add (ma, "layers", layers_arr);
      mtext = xstrdup (bjson_to_string (ma));
      json_object_put (ma);
      ic_sha256_buf (mtext, strlen (mtext), mdigest);
      if (ic_blob_write (s, mdigest, mtext, strlen (mtext), err) < 0)
        return -1;
      if (run->o->name)
        r = record_image (run, run->o->name, mdigest, err);
      else if (tags == NULL || tags[0] == NULL)
        return berth_err_set (err, 0, "manifest.json%s: no RepoTags; give the image a name", p);
      else
        {
          r = 0;
          for (size_t t = 0; tags[t] && r == 0; t++)
            r = record_image (run, tags[t], mdigest, err);
        }
      if (r < 0)
        return r;
    }
  return 0;
}

static int
check_oci_layout (const char *text, size_t len, berth_err *err)
{
  cleanup_json json_object *o = NULL;
  const char *v;
  if (bjson_parse (text, len, "oci-layout", &o, err) < 0)
    return -1;
  if (json_object_get_type (o) != json_type_object
      || bjson_get_string (o, "", "imageLayoutVersion", BJSON_REQUIRED, &v, err) < 0)
    return berth_err_set (err, 0, "oci-layout: imageLayoutVersion missing");
  if (strcmp (v, "1.0.0") != 0)
    return berth_err_set (err, 0, "oci-layout: imageLayoutVersion `%s` is not supported (1.0.0)",
                          v);
  return 0;
}

int
imagecache_import (struct imagecache_store *s, const char *path,
                   const struct imagecache_import_options *opts, struct imagecache_image ***ret,
                   size_t *ret_n, berth_err *err)
{
  static const struct imagecache_import_options defaults = { 0 };
  struct import_run run = { .s = s, .layout_fd = -1 };
  struct archive_files files = { 0 };
  struct ic_platform plat = { 0 };
  struct ic_ctx ctx;
  cleanup_close int lockfd = -1;
  struct stat st;
  int r;

  if (opts == NULL)
    opts = &defaults;
  run.o = opts;
  if (opts->platform && ic_platform_parse (opts->platform, &plat, err) < 0)
    return -1;
  run.platform = opts->platform ? &plat : &s->platform;
  ic_ctx_init (&ctx, s, opts->cancel, opts->progress, opts->progress_user);
  run.ctx = &ctx;

  r = ic_store_lock_shared (s, &ctx, &lockfd, err);
  if (r < 0)
    goto out;
  if (stat (path, &st) < 0)
    {
      r = berth_err_set (err, errno, "import `%s`", path);
      goto out;
    }
  if (S_ISDIR (st.st_mode))
    {
      cleanup_free char *layout = NULL, *index = NULL;
      size_t llen, ilen;
      run.layout_fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (run.layout_fd < 0)
        {
          r = berth_err_set (err, errno, "open `%s`", path);
          goto out;
        }
      if ((r = berth_read_file_at (run.layout_fd, "oci-layout", 1 << 16, &layout, &llen, err)) < 0
          || (r = check_oci_layout (layout, llen, err)) < 0
          || (r = berth_read_file_at (run.layout_fd, "index.json", IC_MAX_MANIFEST_SIZE, &index,
                                      &ilen, err))
                 < 0)
        {
          berth_err_wrap (err, "`%s` is not an OCI image layout", path);
          goto out;
        }
      r = import_oci_index (&run, index, ilen, err);
    }
  else
    {
      struct entry *layout, *index, *man;
      if ((r = read_tar (s, &ctx, path, &files, err)) < 0)
        goto out;
      layout = files_find (&files, "oci-layout");
      index = files_find (&files, "index.json");
      man = files_find (&files, "manifest.json");
      if (layout && index && index->data)
        {
          if ((r = check_oci_layout (layout->data ? layout->data : "", layout->len, err)) < 0)
            goto out;
          r = import_oci_index (&run, index->data, index->len, err);
        }
      else if (man && man->data)
        r = import_docker_archive (&run, &files, man, err);
      else
        r = berth_err_set (err, 0,
                           "`%s` is neither an OCI image layout (oci-layout, index.json) nor a "
                           "docker-archive (manifest.json)",
                           path);
    }
  if (r < 0)
    goto out;
  *ret = run.out;
  *ret_n = run.n_out;
  run.out = NULL;
  run.n_out = 0;
out:
  if (r < 0)
    berth_err_wrap (err, "import `%s`", path);
  imagecache_image_freev (run.out, run.n_out);
  if (run.layout_fd >= 0)
    close (run.layout_fd);
  files_free (&files);
  ic_platform_clear (&plat);
  ic_ctx_destroy (&ctx);
  return r < 0 ? berth_err_ret (err) : 0;
}
