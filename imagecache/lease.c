/* Leases: leases/<id>.json names the images a task uses, with every blob and layer of
 * each, so GC can keep them without reading manifests. They outlive every process and go
 * only when released. */
#include "internal.h"

#include <dirent.h>

static char *
lease_file (const char *id)
{
  return xasprintf ("%s.json", id);
}

static json_object *
image_entry (const struct imagecache_image *img)
{
  json_object *e = json_object_new_object (), *blobs = json_object_new_array (),
              *chains = json_object_new_array ();
  json_object_object_add (e, "name", json_object_new_string (img->name ? img->name : ""));
  json_object_object_add (e, "digest", json_object_new_string (img->digest));
  json_object_object_add (e, "manifest", json_object_new_string (img->manifest_digest));
  json_object_object_add (e, "config", json_object_new_string (img->config_digest));
  for (size_t i = 0; i < img->n_layers; i++)
    {
      json_object_array_add (blobs, json_object_new_string (img->layers[i].digest));
      json_object_array_add (chains, json_object_new_string (img->layers[i].chain_id));
    }
  json_object_object_add (e, "blobs", blobs);
  json_object_object_add (e, "chain_ids", chains);
  return e;
}

int
imagecache_lease_add (struct imagecache_store *s, const char *id,
                      const struct imagecache_image *img, berth_err *err)
{
  cleanup_free char *file = NULL, *lk = NULL;
  cleanup_json json_object *o = NULL;
  cleanup_close int storefd = -1, lockfd = -1;
  json_object *images;
  const char *text;

  if (ic_lease_id_validate (id, err) < 0)
    return berth_err_ret (err);
  file = lease_file (id);
  lk = xasprintf ("lease-%s", id);
  /* shared store lock: a GC that is marking waits for this lease to be on disk */
  if (ic_store_lock_shared (s, NULL, &storefd, err) < 0
      || ic_lock (s, lk, IC_LOCK_EXCLUSIVE, NULL, &lockfd, err) < 0)
    return berth_err_ret (err);
  if (bjson_parse_file_at (s->leases_fd, file, 1 << 22, &o, err) < 0)
    {
      if (berth_err_code (err) != ENOENT)
        return berth_err_wrap (err, "lease `%s`", id);
      berth_err_free (err);
      o = json_object_new_object ();
      json_object_object_add (o, "id", json_object_new_string (id));
      json_object_object_add (o, "created", json_object_new_uint64 (berth_realtime_ns ()));
      json_object_object_add (o, "images", json_object_new_array ());
    }
  if (!json_object_object_get_ex (o, "images", &images)
      || json_object_get_type (images) != json_type_array)
    return berth_err_set (err, 0, "lease `%s/leases/%s`: images: expected an array", s->root, file);
  for (size_t i = 0; i < json_object_array_length (images); i++)
    {
      json_object *e = json_object_array_get_idx (images, i), *m;
      if (json_object_object_get_ex (e, "manifest", &m)
          && strcmp (json_object_get_string (m), img->manifest_digest) == 0)
        goto touch;
    }
  json_object_array_add (images, image_entry (img));
  text = bjson_to_string (o);
  if (berth_write_file_atomic_at (s->leases_fd, file, text, strlen (text), 0644, err) < 0)
    return berth_err_wrap (err, "lease `%s`", id);
touch:
  if (img->name && *img->name)
    {
      berth_err e2 = NULL;
      ic_record_touch (s, img->name, &e2); /* the record may be gone; the lease holds the content */
      berth_err_free (&e2);
    }
  return 0;
}

int
imagecache_lease_release (struct imagecache_store *s, const char *id, berth_err *err)
{
  cleanup_free char *file = NULL, *lk = NULL;
  cleanup_close int lockfd = -1;
  if (ic_lease_id_validate (id, err) < 0)
    return berth_err_ret (err);
  file = lease_file (id);
  lk = xasprintf ("lease-%s", id);
  if (ic_lock (s, lk, IC_LOCK_EXCLUSIVE, NULL, &lockfd, err) < 0)
    return berth_err_ret (err);
  if (unlinkat (s->leases_fd, file, 0) < 0)
    {
      if (errno == ENOENT)
        goto out;
      return berth_err_set (err, errno, "remove lease `%s/leases/%s`", s->root, file);
    }
  if (fsync (s->leases_fd) < 0)
    return berth_err_set (err, errno, "fsync `%s/leases`", s->root);
out:
  unlinkat (s->locks_fd, lk, 0);
  return 0;
}

static int
list_ids (struct imagecache_store *s, char ***ret, berth_err *err)
{
  cleanup_dir DIR *d = NULL;
  cleanup_strv char **v = xzalloc (sizeof (char *));
  struct dirent *de;
  int fd = openat (s->leases_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return berth_err_set (err, errno, "open `%s/leases`", s->root);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      size_t n = strlen (de->d_name);
      if (de->d_name[0] == '.' || !str_has_suffix (de->d_name, ".json"))
        continue;
      char *id = xstrndup (de->d_name, n - 5);
      strv_append (&v, id);
      free (id);
    }
  if (errno)
    return berth_err_set (err, errno, "read `%s/leases`", s->root);
  qsort (v, strv_len (v), sizeof (char *), ic_strcmp_p);
  *ret = steal_pointer (&v);
  return 0;
}

int
imagecache_lease_list (struct imagecache_store *s, char ***ret, berth_err *err)
{
  return list_ids (s, ret, err);
}

static void
add_string (char ***v, json_object *o, const char *key)
{
  json_object *x;
  if (json_object_object_get_ex (o, key, &x) && json_object_get_type (x) == json_type_string)
    strv_append (v, json_object_get_string (x));
}

static void
add_strings (char ***v, json_object *o, const char *key)
{
  json_object *a;
  if (!json_object_object_get_ex (o, key, &a) || json_object_get_type (a) != json_type_array)
    return;
  for (size_t i = 0; i < json_object_array_length (a); i++)
    {
      json_object *x = json_object_array_get_idx (a, i);
      if (json_object_get_type (x) == json_type_string)
        strv_append (v, json_object_get_string (x));
    }
}

int
ic_lease_roots (struct imagecache_store *s, char ***ret_digests, char ***ret_chain_ids,
                char ***ret_manifests, char ***ret_lease_ids, berth_err *err)
{
  cleanup_strv char **ids = NULL;
  cleanup_strv char **digests = xzalloc (sizeof (char *));
  cleanup_strv char **chains = xzalloc (sizeof (char *));
  cleanup_strv char **manifests = xzalloc (sizeof (char *));
  cleanup_strv char **holders = xzalloc (sizeof (char *));
  if (list_ids (s, &ids, err) < 0)
    return berth_err_ret (err);
  for (size_t i = 0; ids[i]; i++)
    {
      cleanup_free char *file = lease_file (ids[i]);
      cleanup_json json_object *o = NULL;
      json_object *images;
      /* an unreadable lease keeps nothing alive only if we are sure it holds nothing:
       * refuse to collect instead */
      if (bjson_parse_file_at (s->leases_fd, file, 1 << 22, &o, err) < 0)
        {
          if (berth_err_code (err) == ENOENT)
            {
              berth_err_free (err);
              continue;
            }
          return berth_err_wrap (err, "lease `%s`", ids[i]);
        }
      if (!json_object_object_get_ex (o, "images", &images)
          || json_object_get_type (images) != json_type_array)
        return berth_err_set (err, 0, "lease `%s/leases/%s`: images: expected an array", s->root,
                              file);
      for (size_t j = 0; j < json_object_array_length (images); j++)
        {
          json_object *e = json_object_array_get_idx (images, j);
          add_string (&digests, e, "digest");
          add_string (&digests, e, "manifest");
          add_string (&digests, e, "config");
          add_strings (&digests, e, "blobs");
          add_strings (&chains, e, "chain_ids");
          {
            json_object *m;
            bool ok = json_object_object_get_ex (e, "manifest", &m)
                      && json_object_get_type (m) == json_type_string;
            strv_append (&manifests, ok ? json_object_get_string (m) : "");
            strv_append (&holders, ids[i]);
          }
        }
    }
  if (ret_digests)
    *ret_digests = steal_pointer (&digests);
  if (ret_chain_ids)
    *ret_chain_ids = steal_pointer (&chains);
  if (ret_manifests)
    *ret_manifests = steal_pointer (&manifests);
  if (ret_lease_ids)
    *ret_lease_ids = steal_pointer (&holders);
  return 0;
}

char *
ic_lease_holding (struct imagecache_store *s, const char *manifest)
{
  cleanup_strv char **manifests = NULL, **holders = NULL;
  if (ic_lease_roots (s, NULL, NULL, &manifests, &holders, NULL) < 0)
    return xstrdup ("(unreadable lease)");
  for (size_t i = 0; manifests[i]; i++)
    if (strcmp (manifests[i], manifest) == 0)
      return xstrdup (holders[i]);
  return NULL;
}
