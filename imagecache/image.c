/* Image records: images/<sha256 of the name>.json maps a normalised reference to what it
 * resolved to (index/manifest, config, layers with their chain ids) plus sizes and last
 * use. Lookup by name or id, listing, removal, and the inspect view. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>

void
ic_record_clear (struct ic_record *r)
{
  free (r->name);
  free (r->digest);
  free (r->manifest);
  free (r->config);
  free (r->platform);
  for (size_t i = 0; i < r->n_layers; i++)
    {
      free (r->layers[i].digest);
      free (r->layers[i].media_type);
      free (r->layers[i].diff_id);
      free (r->layers[i].chain_id);
    }
  free (r->layers);
  memset (r, 0, sizeof *r);
}

char *
ic_record_file (const char *name)
{
  char d[IC_DIGEST_BUF];
  ic_sha256_buf (name, strlen (name), d);
  return xasprintf ("%s.json", ic_digest_hex (d));
}

static char *
record_lock_name (const char *name)
{
  char d[IC_DIGEST_BUF];
  ic_sha256_buf (name, strlen (name), d);
  return xasprintf ("image-%.32s", ic_digest_hex (d));
}

int
ic_record_fill (struct ic_record *r, const char *name, const char *top_digest,
                const char *manifest_digest, const struct ic_manifest *m,
                const struct imagecache_image_config *cfg, berth_err *err)
{
  char chain[IC_DIGEST_BUF] = "";
  size_t nd = strv_len (cfg->diff_ids);
  if (nd != m->n_layers)
    return berth_err_set (err, 0,
                          "image %s: the manifest has %zu layers but the config lists %zu diff_ids",
                          name, m->n_layers, nd);
  r->name = xstrdup (name);
  r->digest = xstrdup (top_digest);
  r->manifest = xstrdup (manifest_digest);
  r->config = xstrdup (m->config.digest);
  r->platform = ic_platform_string (cfg->os, cfg->architecture, cfg->variant);
  r->n_layers = m->n_layers;
  r->layers = xzalloc ((m->n_layers ? m->n_layers : 1) * sizeof *r->layers);
  r->size = m->config.size;
  for (size_t i = 0; i < m->n_layers; i++)
    {
      char next[IC_DIGEST_BUF];
      ic_chain_id_next (i ? chain : NULL, cfg->diff_ids[i], next);
      memcpy (chain, next, sizeof chain);
      r->layers[i].digest = xstrdup (m->layers[i].digest);
      r->layers[i].media_type = xstrdup (m->layers[i].media_type);
      r->layers[i].size = m->layers[i].size;
      r->layers[i].diff_id = xstrdup (cfg->diff_ids[i]);
      r->layers[i].chain_id = xstrdup (chain);
      r->size += m->layers[i].size;
    }
  return 0;
}

static json_object *
record_to_json (const struct ic_record *r)
{
  json_object *o = json_object_new_object (), *layers = json_object_new_array ();
  json_object_object_add (o, "name", json_object_new_string (r->name));
  json_object_object_add (o, "digest", json_object_new_string (r->digest));
  json_object_object_add (o, "manifest", json_object_new_string (r->manifest));
  json_object_object_add (o, "config", json_object_new_string (r->config));
  json_object_object_add (o, "platform", json_object_new_string (r->platform ? r->platform : ""));
  json_object_object_add (o, "size", json_object_new_uint64 (r->size));
  json_object_object_add (o, "created", json_object_new_uint64 (r->created_ns));
  json_object_object_add (o, "last_used", json_object_new_uint64 (r->last_used_ns));
  for (size_t i = 0; i < r->n_layers; i++)
    {
      json_object *l = json_object_new_object ();
      json_object_object_add (l, "digest", json_object_new_string (r->layers[i].digest));
      json_object_object_add (l, "media_type", json_object_new_string (r->layers[i].media_type));
      json_object_object_add (l, "size", json_object_new_uint64 (r->layers[i].size));
      json_object_object_add (l, "diff_id", json_object_new_string (r->layers[i].diff_id));
      json_object_object_add (l, "chain_id", json_object_new_string (r->layers[i].chain_id));
      json_object_array_add (layers, l);
    }
  json_object_object_add (o, "layers", layers);
  return o;
}

static int
get_digest (json_object *o, const char *path, const char *key, char **ret, berth_err *err)
{
  const char *s;
  cleanup_free char *p = bjson_path_key (path, key);
  if (bjson_get_string (o, path, key, BJSON_REQUIRED, &s, err) < 0)
    return berth_err_ret (err);
  if (ic_digest_validate (s, err) < 0)
    return berth_err_wrap (err, "%s", p);
  *ret = xstrdup (s);
  return 0;
}

static int
record_from_json (json_object *o, struct ic_record *ret, berth_err *err)
{
  struct ic_record r = { 0 };
  json_object *layers;
  const char *s;

  if (json_object_get_type (o) != json_type_object)
    return berth_err_set (err, 0, "not an object");
  if (bjson_get_string (o, "", "name", BJSON_REQUIRED, &s, err) < 0)
    goto fail;
  r.name = xstrdup (s);
  if (get_digest (o, "", "digest", &r.digest, err) < 0
      || get_digest (o, "", "manifest", &r.manifest, err) < 0
      || get_digest (o, "", "config", &r.config, err) < 0)
    goto fail;
  if (bjson_get_string (o, "", "platform", 0, &s, err) < 0)
    goto fail;
  r.platform = xstrdup (s ? s : "");
  if (bjson_get_uint64 (o, "", "size", 0, UINT64_MAX, &r.size, err) < 0
      || bjson_get_uint64 (o, "", "created", 0, UINT64_MAX, &r.created_ns, err) < 0
      || bjson_get_uint64 (o, "", "last_used", 0, UINT64_MAX, &r.last_used_ns, err) < 0)
    goto fail;
  if (bjson_get (o, "", "layers", json_type_array, BJSON_REQUIRED, &layers, err) < 0)
    goto fail;
  r.n_layers = json_object_array_length (layers);
  r.layers = xzalloc ((r.n_layers ? r.n_layers : 1) * sizeof *r.layers);
  for (size_t i = 0; i < r.n_layers; i++)
    {
      json_object *l = json_object_array_get_idx (layers, i);
      cleanup_free char *p = bjson_path_index ("layers", i);
      if (bjson_expect (l, p, json_type_object, err) < 0
          || get_digest (l, p, "digest", &r.layers[i].digest, err) < 0
          || get_digest (l, p, "diff_id", &r.layers[i].diff_id, err) < 0
          || get_digest (l, p, "chain_id", &r.layers[i].chain_id, err) < 0
          || bjson_get_string (l, p, "media_type", BJSON_REQUIRED, &s, err) < 0)
        goto fail;
      r.layers[i].media_type = xstrdup (s);
      if (bjson_get_uint64 (l, p, "size", BJSON_REQUIRED, UINT64_MAX, &r.layers[i].size, err) < 0)
        goto fail;
    }
  *ret = r;
  return 0;
fail:
  ic_record_clear (&r);
  return berth_err_ret (err);
}

int
ic_record_load_file (struct imagecache_store *s, const char *file, struct ic_record *ret,
                     berth_err *err)
{
  cleanup_json json_object *o = NULL;
  cleanup_free char *path = xasprintf ("images/%s", file);
  int r = bjson_parse_file_at (s->rootfd, path, 1 << 22, &o, err);
  if (r < 0)
    {
      if (berth_err_code (err) == ENOENT)
        return ic_err_code (err, ENOENT, "no record `%s`", file);
      return r;
    }
  if (record_from_json (o, ret, err) < 0)
    return berth_err_wrap (err, "image record `%s/%s`", s->root, path);
  {
    struct stat st;
    if (fstatat (s->images_fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0)
      {
        uint64_t m = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        if (m > ret->last_used_ns)
          ret->last_used_ns = m;
      }
  }
  return 0;
}

int
ic_record_load (struct imagecache_store *s, const char *name, struct ic_record *ret, berth_err *err)
{
  cleanup_free char *file = ic_record_file (name);
  int r = ic_record_load_file (s, file, ret, err);
  if (r < 0 && berth_err_code (err) == ENOENT)
    return ic_err_code (err, ENOENT, "image %s is not in the store", name);
  return r;
}

static int
record_write (struct imagecache_store *s, const struct ic_record *r, berth_err *err)
{
  cleanup_json json_object *o = record_to_json (r);
  cleanup_free char *file = ic_record_file (r->name);
  const char *text = bjson_to_string (o);
  return berth_write_file_atomic_at (s->images_fd, file, text, strlen (text), 0644, err);
}

int
ic_record_store (struct imagecache_store *s, const struct ic_record *r, berth_err *err)
{
  cleanup_free char *lk = record_lock_name (r->name);
  struct ic_record old = { 0 };
  struct ic_record w = *r;
  cleanup_close int lockfd = -1;
  int q;
  if (ic_lock (s, lk, IC_LOCK_EXCLUSIVE, NULL, &lockfd, err) < 0)
    return berth_err_ret (err);
  /* keep the first creation time of the name */
  if (ic_record_load (s, r->name, &old, NULL) == 0 && old.created_ns)
    w.created_ns = old.created_ns;
  q = record_write (s, &w, err);
  ic_record_clear (&old);
  return q;
}

/* Last use is the record file's mtime (when later than the "last_used" it holds): a
 * utimensat, where rewriting the record (rename over the old one) made ext4 flush it and
 * cost milliseconds on every warm pull. It only orders GC, so losing one in a power cut
 * costs nothing. */
int
ic_record_touch (struct imagecache_store *s, const char *name, berth_err *err)
{
  cleanup_free char *file = ic_record_file (name);
  if (utimensat (s->images_fd, file, NULL, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return ic_err_code (err, ENOENT, "image %s is not in the store", name);
      return berth_err_set (err, errno, "touch `%s/images/%s`", s->root, file);
    }
  return 0;
}

int
ic_record_list_files (struct imagecache_store *s, char ***ret, berth_err *err)
{
  cleanup_dir DIR *d = NULL;
  cleanup_strv char **v = xzalloc (sizeof (char *));
  struct dirent *de;
  int fd = openat (s->images_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return berth_err_set (err, errno, "open `%s/images`", s->root);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    if (de->d_name[0] != '.' && str_has_suffix (de->d_name, ".json"))
      strv_append (&v, de->d_name);
  if (errno)
    return berth_err_set (err, errno, "read `%s/images`", s->root);
  qsort (v, strv_len (v), sizeof (char *), ic_strcmp_p);
  *ret = steal_pointer (&v);
  return 0;
}

/* ------------------------------------------------------------------ public images */

void
imagecache_image_free (struct imagecache_image *img)
{
  if (img == NULL)
    return;
  free (img->name);
  free (img->digest);
  free (img->manifest_digest);
  free (img->config_digest);
  free (img->platform);
  for (size_t i = 0; i < img->n_layers; i++)
    {
      free (img->layers[i].digest);
      free (img->layers[i].media_type);
      free (img->layers[i].diff_id);
      free (img->layers[i].chain_id);
    }
  free (img->layers);
  imagecache_image_config_clear (&img->config);
  free (img);
}

void
imagecache_image_freev (struct imagecache_image **v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    imagecache_image_free (v[i]);
  free (v);
}

int
ic_image_from_record (struct imagecache_store *s, const struct ic_record *r,
                      struct imagecache_image **ret, berth_err *err)
{
  struct imagecache_image *img = xzalloc (sizeof *img);
  cleanup_free char *cfg = NULL;
  size_t len;

  if (ic_blob_read (s, r->config, IC_MAX_CONFIG_SIZE, &cfg, &len, err) < 0
      || imagecache_image_config_parse (cfg, len, &img->config, err) < 0)
    {
      imagecache_image_free (img);
      return berth_err_wrap (err, "image %s", r->name);
    }
  img->name = xstrdup (r->name);
  img->digest = xstrdup (r->digest);
  img->manifest_digest = xstrdup (r->manifest);
  img->config_digest = xstrdup (r->config);
  img->platform = xstrdup (r->platform);
  img->size = r->size;
  img->created_ns = r->created_ns;
  img->last_used_ns = r->last_used_ns;
  img->n_layers = r->n_layers;
  img->layers = xzalloc ((r->n_layers ? r->n_layers : 1) * sizeof *img->layers);
  for (size_t i = 0; i < r->n_layers; i++)
    {
      struct imagecache_layer *l = &img->layers[i];
      l->digest = xstrdup (r->layers[i].digest);
      l->media_type = xstrdup (r->layers[i].media_type);
      l->size = r->layers[i].size;
      l->diff_id = xstrdup (r->layers[i].diff_id);
      l->chain_id = xstrdup (r->layers[i].chain_id);
      l->blob_present = ic_blob_exists (s, l->digest, NULL);
      l->unpacked = ic_layer_exists (s, l->chain_id);
      if (l->unpacked && ic_layer_unpacked_size (s, l->chain_id, &l->unpacked_size) == 0)
        img->unpacked_size += l->unpacked_size;
    }
  *ret = img;
  return 0;
}

static bool
looks_like_id (const char *s, const char **ret_hex)
{
  const char *h = str_has_prefix (s, "sha256:") ? s + 7 : s;
  size_t n = strlen (h);
  if (n < 12 || n > 64)
    return false;
  for (const char *p = h; *p; p++)
    if (!isxdigit ((unsigned char)*p) || isupper ((unsigned char)*p))
      return false;
  *ret_hex = h;
  return true;
}

/* Records matching an image id prefix (on the manifest digest, or the index digest). */
static int
find_by_id (struct imagecache_store *s, const char *hex, char ***ret_files, berth_err *err)
{
  cleanup_strv char **files = NULL;
  cleanup_strv char **out = xzalloc (sizeof (char *));
  char *first_manifest = NULL;
  bool ambiguous = false;
  size_t n = strlen (hex);
  if (ic_record_list_files (s, &files, err) < 0)
    return berth_err_ret (err);
  for (size_t i = 0; files[i]; i++)
    {
      struct ic_record r = { 0 };
      if (ic_record_load_file (s, files[i], &r, NULL) < 0)
        continue;
      if (strncmp (ic_digest_hex (r.manifest), hex, n) == 0
          || strncmp (ic_digest_hex (r.digest), hex, n) == 0)
        {
          if (first_manifest == NULL)
            first_manifest = xstrdup (r.manifest);
          else if (strcmp (first_manifest, r.manifest) != 0)
            ambiguous = true;
          strv_append (&out, files[i]);
        }
      ic_record_clear (&r);
    }
  free (first_manifest);
  if (ambiguous)
    return berth_err_set (err, 0, "image id prefix `%s` matches more than one image", hex);
  *ret_files = steal_pointer (&out);
  return 0;
}

/* The record files a user's reference or id names. ENOENT when none. */
static int
resolve_records (struct imagecache_store *s, const char *ref, bool *ret_by_id, char ***ret_files,
                 berth_err *err)
{
  const char *hex;
  struct imagecache_ref pr = { 0 };
  cleanup_strv char **files = NULL;

  *ret_by_id = false;
  if (looks_like_id (ref, &hex))
    {
      if (find_by_id (s, hex, &files, err) < 0)
        return berth_err_ret (err);
      if (files[0] || str_has_prefix (ref, "sha256:"))
        {
          if (files[0] == NULL)
            return ic_err_code (err, ENOENT, "no image with id %s in the store", ref);
          *ret_by_id = true;
          *ret_files = steal_pointer (&files);
          return 0;
        }
      strv_free (files);
      files = NULL;
    }
  if (imagecache_ref_parse (ref, &pr, err) < 0)
    return berth_err_ret (err);
  files = xzalloc (sizeof (char *));
  {
    cleanup_free char *f = ic_record_file (pr.name);
    if (berth_exists_at (s->images_fd, f))
      strv_append (&files, f);
  }
  if (files[0] == NULL && pr.digest)
    {
      /* repo@digest names an image pulled by tag as well */
      cleanup_strv char **all = NULL;
      cleanup_free char *prefix = xasprintf ("%s/%s", pr.registry, pr.repository);
      if (ic_record_list_files (s, &all, err) < 0)
        {
          imagecache_ref_clear (&pr);
          return berth_err_ret (err);
        }
      for (size_t i = 0; all[i]; i++)
        {
          struct ic_record r = { 0 };
          if (ic_record_load_file (s, all[i], &r, NULL) < 0)
            continue;
          if (str_has_prefix (r.name, prefix)
              && (r.name[strlen (prefix)] == ':' || r.name[strlen (prefix)] == '@')
              && (strcmp (r.digest, pr.digest) == 0 || strcmp (r.manifest, pr.digest) == 0))
            strv_append (&files, all[i]);
          ic_record_clear (&r);
          if (files[0])
            break;
        }
    }
  if (files[0] == NULL)
    {
      int q = ic_err_code (err, ENOENT, "image %s is not in the store", pr.name);
      imagecache_ref_clear (&pr);
      return q;
    }
  imagecache_ref_clear (&pr);
  *ret_files = steal_pointer (&files);
  return 0;
}

int
imagecache_image_get (struct imagecache_store *s, const char *ref, struct imagecache_image **ret,
                      berth_err *err)
{
  cleanup_strv char **files = NULL;
  struct ic_record r = { 0 };
  bool by_id;
  int q;
  if (resolve_records (s, ref, &by_id, &files, err) < 0)
    return berth_err_ret (err);
  if (ic_record_load_file (s, files[0], &r, err) < 0)
    return berth_err_ret (err);
  q = ic_image_from_record (s, &r, ret, err);
  ic_record_clear (&r);
  return q;
}

int
imagecache_image_list (struct imagecache_store *s, struct imagecache_image ***ret, size_t *ret_n,
                       berth_err *err)
{
  cleanup_strv char **files = NULL;
  struct imagecache_image **v;
  size_t n = 0;
  if (ic_record_list_files (s, &files, err) < 0)
    return berth_err_ret (err);
  v = xzalloc ((strv_len (files) + 1) * sizeof *v);
  for (size_t i = 0; files[i]; i++)
    {
      struct ic_record r = { 0 };
      /* a record removed meanwhile by another process is simply not listed */
      if (ic_record_load_file (s, files[i], &r, err) < 0)
        {
          if (berth_err_code (err) == ENOENT)
            {
              berth_err_free (err);
              continue;
            }
          imagecache_image_freev (v, n);
          return berth_err_ret (err);
        }
      if (ic_image_from_record (s, &r, &v[n], err) < 0)
        {
          ic_record_clear (&r);
          imagecache_image_freev (v, n);
          return berth_err_ret (err);
        }
      n++;
      ic_record_clear (&r);
    }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp (v[j - 1]->name, v[j]->name) > 0; j--)
      {
        struct imagecache_image *t = v[j];
        v[j] = v[j - 1];
        v[j - 1] = t;
      }
  *ret = v;
  *ret_n = n;
  return 0;
}

int
imagecache_image_remove (struct imagecache_store *s, const char *ref, berth_err *err)
{
  cleanup_strv char **files = NULL;
  bool by_id;
  int q = 0;

  if (resolve_records (s, ref, &by_id, &files, err) < 0)
    return berth_err_ret (err);
  for (size_t i = 0; files[i]; i++)
    {
      struct ic_record r = { 0 };
      cleanup_free char *holder = NULL;
      bool other_name = false;
      if (ic_record_load_file (s, files[i], &r, err) < 0)
        return berth_err_ret (err);
      /* a name may go while a lease holds its image, as long as another name keeps it */
      if (!by_id)
        {
          cleanup_strv char **all = NULL;
          if (ic_record_list_files (s, &all, err) < 0)
            {
              ic_record_clear (&r);
              return berth_err_ret (err);
            }
          for (size_t j = 0; all[j] && !other_name; j++)
            {
              struct ic_record o = { 0 };
              if (strcmp (all[j], files[i]) != 0 && ic_record_load_file (s, all[j], &o, NULL) == 0)
                other_name = strcmp (o.manifest, r.manifest) == 0;
              ic_record_clear (&o);
            }
        }
      if (!other_name && (holder = ic_lease_holding (s, r.manifest)) != NULL)
        {
          q = ic_err_code (err, EBUSY, "image %s is in use (lease %s)", r.name, holder);
          ic_record_clear (&r);
          return q;
        }
      ic_record_clear (&r);
    }
  for (size_t i = 0; files[i]; i++)
    if (unlinkat (s->images_fd, files[i], 0) < 0 && errno != ENOENT)
      return berth_err_set (err, errno, "remove image record `%s/images/%s`", s->root, files[i]);
  if (fsync (s->images_fd) < 0)
    return berth_err_set (err, errno, "fsync `%s/images`", s->root);
  /* delete the content nothing uses now, unless a pull or GC holds the store: then the
   * next GC does it */
  {
    struct imagecache_gc_report rep = { 0 };
    q = ic_gc_prune_try (s, &rep, err);
    imagecache_gc_report_clear (&rep);
  }
  return q < 0 ? q : 0;
}

/* ------------------------------------------------------------------ inspect */

static json_object *
strv_json (char **v)
{
  json_object *a;
  if (v == NULL)
    return NULL;
  a = json_object_new_array ();
  for (size_t i = 0; v[i]; i++)
    json_object_array_add (a, json_object_new_string (v[i]));
  return a;
}

static json_object *
time_json (uint64_t ns)
{
  char buf[BERTH_RFC3339_LEN];
  return json_object_new_string (berth_format_rfc3339 (ns, buf, sizeof buf));
}

json_object *
imagecache_image_to_json (const struct imagecache_image *img)
{
  json_object *o = json_object_new_object (), *c = json_object_new_object (),
              *layers = json_object_new_array ();
  const struct imagecache_image_config *cf = &img->config;
  json_object_object_add (o, "name", json_object_new_string (img->name));
  json_object_object_add (o, "id", json_object_new_string (img->manifest_digest));
  json_object_object_add (o, "digest", json_object_new_string (img->digest));
  json_object_object_add (o, "config_digest", json_object_new_string (img->config_digest));
  json_object_object_add (o, "platform",
                          json_object_new_string (img->platform ? img->platform : ""));
  json_object_object_add (o, "size", json_object_new_uint64 (img->size));
  json_object_object_add (o, "unpacked_size", json_object_new_uint64 (img->unpacked_size));
  json_object_object_add (o, "created", time_json (img->created_ns));
  json_object_object_add (o, "last_used", time_json (img->last_used_ns));
  if (cf->user)
    json_object_object_add (c, "user", json_object_new_string (cf->user));
  if (cf->env)
    json_object_object_add (c, "env", strv_json (cf->env));
  if (cf->entrypoint)
    json_object_object_add (c, "entrypoint", strv_json (cf->entrypoint));
  if (cf->cmd)
    json_object_object_add (c, "cmd", strv_json (cf->cmd));
  if (cf->working_dir)
    json_object_object_add (c, "working_dir", json_object_new_string (cf->working_dir));
  if (cf->exposed_ports)
    json_object_object_add (c, "exposed_ports", strv_json (cf->exposed_ports));
  if (cf->volumes)
    json_object_object_add (c, "volumes", strv_json (cf->volumes));
  if (cf->stop_signal)
    json_object_object_add (c, "stop_signal", json_object_new_string (cf->stop_signal));
  if (cf->labels)
    json_object_object_add (c, "labels", strv_json (cf->labels));
  if (cf->healthcheck)
    {
      json_object *h = json_object_new_object ();
      if (cf->healthcheck->test)
        json_object_object_add (h, "test", strv_json (cf->healthcheck->test));
      json_object_object_add (h, "interval_ns",
                              json_object_new_int64 (cf->healthcheck->interval_ns));
      json_object_object_add (h, "timeout_ns", json_object_new_int64 (cf->healthcheck->timeout_ns));
      json_object_object_add (h, "start_period_ns",
                              json_object_new_int64 (cf->healthcheck->start_period_ns));
      json_object_object_add (h, "start_interval_ns",
                              json_object_new_int64 (cf->healthcheck->start_interval_ns));
      json_object_object_add (h, "retries", json_object_new_int (cf->healthcheck->retries));
      json_object_object_add (c, "healthcheck", h);
    }
  json_object_object_add (o, "config", c);
  for (size_t i = 0; i < img->n_layers; i++)
    {
      const struct imagecache_layer *l = &img->layers[i];
      json_object *j = json_object_new_object ();
      json_object_object_add (j, "digest", json_object_new_string (l->digest));
      json_object_object_add (j, "media_type", json_object_new_string (l->media_type));
      json_object_object_add (j, "size", json_object_new_uint64 (l->size));
      json_object_object_add (j, "diff_id", json_object_new_string (l->diff_id));
      json_object_object_add (j, "chain_id", json_object_new_string (l->chain_id));
      json_object_object_add (j, "blob_present", json_object_new_boolean (l->blob_present));
      json_object_object_add (j, "unpacked", json_object_new_boolean (l->unpacked));
      json_object_object_add (j, "unpacked_size", json_object_new_uint64 (l->unpacked_size));
      json_object_array_add (layers, j);
    }
  json_object_object_add (o, "layers", layers);
  return o;
}
