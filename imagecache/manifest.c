/* Parsers for what a registry or an archive hands us: OCI and Docker v2 schema 2 image
 * indexes and manifests, descriptors, image configs, and the platform choice among an
 * index's manifests. Pure functions over bytes (fuzzed in tests/fuzz/imagecache). */
#include "internal.h"

#include <sys/utsname.h>

/* ------------------------------------------------------------------ media types */

static const char *const index_types[] = { IC_MT_OCI_INDEX, IC_MT_DOCKER_LIST, NULL };
static const char *const manifest_types[] = { IC_MT_OCI_MANIFEST, IC_MT_DOCKER_MANIFEST, NULL };
static const char *const config_types[] = { IC_MT_OCI_CONFIG, IC_MT_DOCKER_CONFIG, NULL };

static bool
in_list (const char *s, const char *const *list)
{
  for (; *list; list++)
    if (strcmp (s, *list) == 0)
      return true;
  return false;
}

bool
ic_media_type_is_index (const char *mt)
{
  return mt && in_list (mt, index_types);
}

bool
ic_media_type_is_manifest (const char *mt)
{
  return mt && in_list (mt, manifest_types);
}

int
ic_layer_compression (const char *mt, enum ic_compression *ret)
{
  static const struct
  {
    const char *type;
    enum ic_compression c;
  } known[] = {
    { "application/vnd.oci.image.layer.v1.tar", IC_COMPRESSION_NONE },
    { "application/vnd.oci.image.layer.v1.tar+gzip", IC_COMPRESSION_GZIP },
    { "application/vnd.oci.image.layer.v1.tar+zstd", IC_COMPRESSION_ZSTD },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar", IC_COMPRESSION_NONE },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IC_COMPRESSION_GZIP },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IC_COMPRESSION_ZSTD },
    { "application/vnd.docker.image.rootfs.diff.tar.gzip", IC_COMPRESSION_GZIP },
    { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IC_COMPRESSION_GZIP },
    { "application/vnd.docker.image.rootfs.diff.tar", IC_COMPRESSION_NONE },
  };
  for (size_t i = 0; i < ARRAY_SIZE (known); i++)
    if (strcmp (mt, known[i].type) == 0)
      {
        *ret = known[i].c;
        return 0;
      }
  return -EINVAL;
}

/* ------------------------------------------------------------------ descriptors */

void
ic_descriptor_clear (struct ic_descriptor *d)
{
  free (d->media_type);
  free (d->digest);
  free (d->os);
  free (d->architecture);
  free (d->variant);
  free (d->ref_name);
  free (d->image_name);
  strv_free (d->urls);
  memset (d, 0, sizeof *d);
}

/* A JSON value that may be null where the writer (Docker) means "not set". */
static int
get_opt (json_object *obj, const char *path, const char *key, json_type type, json_object **ret,
         berth_err *err)
{
  json_object *v;
  if (!json_object_object_get_ex (obj, key, &v) || json_object_get_type (v) == json_type_null)
    {
      *ret = NULL;
      return 0;
    }
  return bjson_get (obj, path, key, type, 0, ret, err);
}

static int
get_opt_string (json_object *obj, const char *path, const char *key, char **ret, berth_err *err)
{
  json_object *v;
  const char *s;
  int r = get_opt (obj, path, key, json_type_string, &v, err);
  if (r <= 0)
    return r;
  r = bjson_get_string (obj, path, key, 0, &s, err);
  if (r < 0)
    return r;
  free (*ret);
  *ret = xstrdup (s);
  return 1;
}

static int
get_opt_strv (json_object *obj, const char *path, const char *key, char ***ret, berth_err *err)
{
  json_object *v;
  int r = get_opt (obj, path, key, json_type_array, &v, err);
  if (r <= 0)
    return r;
  strv_free (*ret);
  *ret = NULL;
  return bjson_get_strv (obj, path, key, 0, ret, err);
}

/* The keys of an object ({"80/tcp": {}}), sorted. */
static int
get_opt_keys (json_object *obj, const char *path, const char *key, char ***ret, berth_err *err)
{
  json_object *v;
  cleanup_strv char **keys = NULL;
  size_t n = 0;
  int r = get_opt (obj, path, key, json_type_object, &v, err);
  if (r <= 0)
    return r;
  keys = xzalloc ((size_t)(json_object_object_length (v) + 1) * sizeof (char *));
  json_object_object_foreach (v, k, val)
    {
      (void)val;
      keys[n++] = xstrdup (k);
    }
  qsort (keys, n, sizeof (char *), ic_strcmp_p);
  strv_free (*ret);
  *ret = steal_pointer (&keys);
  return 1;
}

int
ic_descriptor_parse (json_object *obj, const char *path, struct ic_descriptor *ret, berth_err *err)
{
  struct ic_descriptor d = { 0 };
  const char *s;
  json_object *plat, *ann;
  int r;

  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "%s: expected an object, got %s", path,
                          bjson_type_name (json_object_get_type (obj)));
  r = bjson_get_string (obj, path, "mediaType", BJSON_REQUIRED, &s, err);
  if (r < 0)
    goto fail;
  d.media_type = xstrdup (s);
  r = bjson_get_string (obj, path, "digest", BJSON_REQUIRED, &s, err);
  if (r < 0)
    goto fail;
  if (ic_digest_validate (s, err) < 0)
    {
      r = berth_err_wrap (err, "%s.digest", path);
      goto fail;
    }
  d.digest = xstrdup (s);
  r = bjson_get_uint64 (obj, path, "size", BJSON_REQUIRED, INT64_MAX, &d.size, err);
  if (r < 0)
    goto fail;
  r = get_opt_strv (obj, path, "urls", &d.urls, err);
  if (r < 0)
    goto fail;
  r = get_opt (obj, path, "platform", json_type_object, &plat, err);
  if (r < 0)
    goto fail;
  if (plat)
    {
      cleanup_free char *pp = bjson_path_key (path, "platform");
      if ((r = get_opt_string (plat, pp, "os", &d.os, err)) < 0
          || (r = get_opt_string (plat, pp, "architecture", &d.architecture, err)) < 0
          || (r = get_opt_string (plat, pp, "variant", &d.variant, err)) < 0)
        goto fail;
    }
  r = get_opt (obj, path, "annotations", json_type_object, &ann, err);
  if (r < 0)
    goto fail;
  if (ann)
    {
      cleanup_free char *ap = bjson_path_key (path, "annotations");
      json_object *v;
      if (json_object_object_get_ex (ann, "org.opencontainers.image.ref.name", &v)
          && json_object_get_type (v) == json_type_string)
        d.ref_name = xstrdup (json_object_get_string (v));
      if (json_object_object_get_ex (ann, "io.containerd.image.name", &v)
          && json_object_get_type (v) == json_type_string)
        d.image_name = xstrdup (json_object_get_string (v));
      (void)ap;
    }
  *ret = d;
  return 0;
fail:
  ic_descriptor_clear (&d);
  return r;
}

/* ------------------------------------------------------------------ index and manifest */

void
ic_index_clear (struct ic_index *idx)
{
  for (size_t i = 0; i < idx->n; i++)
    ic_descriptor_clear (&idx->manifests[i]);
  free (idx->manifests);
  memset (idx, 0, sizeof *idx);
}

void
ic_manifest_clear (struct ic_manifest *m)
{
  ic_descriptor_clear (&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    ic_descriptor_clear (&m->layers[i]);
  free (m->layers);
  memset (m, 0, sizeof *m);
}

static int
check_schema_version (json_object *obj, const char *what, berth_err *err)
{
  int64_t v;
  int r = bjson_get_int64 (obj, "", "schemaVersion", BJSON_REQUIRED, INT64_MIN, INT64_MAX, &v, err);
  if (r < 0)
    return berth_err_wrap (err, "%s", what);
  if (v != 2)
    return berth_err_set (err, 0, "%s: schemaVersion %" PRId64 " is not supported (only 2)", what,
                          v);
  return 0;
}

/* The kind of a document: its own mediaType field wins over the Content-Type it was
 * served with (some registries answer application/json), and a document with neither
 * is recognised by its keys (an OCI index may omit mediaType). */
int
ic_document_kind (const char *body, size_t len, const char *content_type, enum ic_doc_kind *ret,
                  berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  json_object *v;
  const char *mt = NULL;

  if (bjson_parse (body, len, "manifest", &obj, err) < 0)
    return -EINVAL;
  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "manifest: expected an object");
  if (json_object_object_get_ex (obj, "mediaType", &v)
      && json_object_get_type (v) == json_type_string)
    mt = json_object_get_string (v);
  if (mt == NULL && content_type
      && (ic_media_type_is_index (content_type) || ic_media_type_is_manifest (content_type)))
    mt = content_type;
  if (mt == NULL)
    {
      if (json_object_object_get_ex (obj, "manifests", &v))
        mt = IC_MT_OCI_INDEX;
      else if (json_object_object_get_ex (obj, "layers", &v))
        mt = IC_MT_OCI_MANIFEST;
    }
  if (mt == NULL)
    return berth_err_set (err, 0,
                          "manifest: neither an image index nor an image manifest (no mediaType)");
  if (ic_media_type_is_index (mt))
    *ret = IC_DOC_INDEX;
  else if (ic_media_type_is_manifest (mt))
    *ret = IC_DOC_MANIFEST;
  else if (str_has_prefix (mt, "application/vnd.docker.distribution.manifest.v1"))
    return berth_err_set (err, 0,
                          "manifest: Docker schema 1 (%s) is not supported; push the image again "
                          "with a current client",
                          mt);
  else
    return berth_err_set (err, 0, "manifest: media type `%s` is not an image index or manifest",
                          mt);
  return 0;
}

int
ic_index_parse (const char *body, size_t len, struct ic_index *ret, berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  json_object *arr;
  struct ic_index idx = { 0 };
  size_t n;
  int r;

  if (bjson_parse (body, len, "index", &obj, err) < 0)
    return -EINVAL;
  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "index: expected an object");
  if (check_schema_version (obj, "index", err) < 0)
    return -EINVAL;
  r = bjson_get (obj, "", "manifests", json_type_array, BJSON_REQUIRED, &arr, err);
  if (r < 0)
    return berth_err_wrap (err, "index");
  n = json_object_array_length (arr);
  if (n > IC_MAX_INDEX_ENTRIES)
    return berth_err_set (err, 0, "index: %zu manifests, more than %d", n, IC_MAX_INDEX_ENTRIES);
  idx.manifests = xzalloc ((n ? n : 1) * sizeof *idx.manifests);
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *p = bjson_path_index ("manifests", i);
      r = ic_descriptor_parse (json_object_array_get_idx (arr, i), p, &idx.manifests[i], err);
      if (r < 0)
        {
          ic_index_clear (&idx);
          return berth_err_wrap (err, "index");
        }
      idx.n++;
    }
  *ret = idx;
  return 0;
}

int
ic_manifest_parse (const char *body, size_t len, struct ic_manifest *ret, berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  json_object *cfg, *arr;
  struct ic_manifest m = { 0 };
  size_t n;
  int r;

  if (bjson_parse (body, len, "manifest", &obj, err) < 0)
    return -EINVAL;
  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "manifest: expected an object");
  if (check_schema_version (obj, "manifest", err) < 0)
    return -EINVAL;
  r = bjson_get (obj, "", "config", json_type_object, BJSON_REQUIRED, &cfg, err);
  if (r < 0)
    return berth_err_wrap (err, "manifest");
  r = ic_descriptor_parse (cfg, "config", &m.config, err);
  if (r < 0)
    return berth_err_wrap (err, "manifest");
  if (!in_list (m.config.media_type, config_types))
    {
      r = berth_err_set (
          err, 0, "manifest: config.mediaType `%s` is not a container image config (an artifact?)",
          m.config.media_type);
      goto fail;
    }
  r = bjson_get (obj, "", "layers", json_type_array, BJSON_REQUIRED, &arr, err);
  if (r < 0)
    {
      berth_err_wrap (err, "manifest");
      goto fail;
    }
  n = json_object_array_length (arr);
  if (n > IC_MAX_LAYERS)
    {
      r = berth_err_set (err, 0, "manifest: %zu layers, more than overlayfs stacks (%d)", n,
                         IC_MAX_LAYERS);
      goto fail;
    }
  m.layers = xzalloc ((n ? n : 1) * sizeof *m.layers);
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *p = bjson_path_index ("layers", i);
      enum ic_compression c;
      r = ic_descriptor_parse (json_object_array_get_idx (arr, i), p, &m.layers[i], err);
      if (r < 0)
        {
          berth_err_wrap (err, "manifest");
          goto fail;
        }
      m.n_layers++;
      if (ic_layer_compression (m.layers[i].media_type, &c) < 0)
        {
          r = berth_err_set (err, 0, "manifest: %s.mediaType `%s` is not a supported layer type", p,
                             m.layers[i].media_type);
          goto fail;
        }
    }
  *ret = m;
  return 0;
fail:
  ic_manifest_clear (&m);
  return r;
}

/* ------------------------------------------------------------------ platforms */

void
ic_platform_clear (struct ic_platform *p)
{
  free (p->os);
  free (p->architecture);
  free (p->variant);
  memset (p, 0, sizeof *p);
}

static const char *
normalise_arch (const char *a, const char **variant)
{
  static const struct
  {
    const char *alias, *arch, *variant;
  } map[] = {
    { "x86_64", "amd64", NULL }, { "x86-64", "amd64", NULL }, { "aarch64", "arm64", NULL },
    { "armhf", "arm", "v7" },    { "armel", "arm", "v6" },    { "i386", "386", NULL },
    { "i686", "386", NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (map); i++)
    if (strcmp (a, map[i].alias) == 0)
      {
        if (map[i].variant && *variant == NULL)
          *variant = map[i].variant;
        return map[i].arch;
      }
  return a;
}

int
ic_platform_parse (const char *s, struct ic_platform *ret, berth_err *err)
{
  cleanup_free char *buf = xstrdup (s);
  char *os = buf, *arch, *variant = NULL;
  const char *v = NULL, *a;

  arch = strchr (os, '/');
  if (arch == NULL)
    return berth_err_set (err, 0, "platform `%s`: want os/architecture[/variant]", s);
  *arch++ = '\0';
  variant = strchr (arch, '/');
  if (variant)
    {
      *variant++ = '\0';
      if (*variant == '\0' || strchr (variant, '/'))
        return berth_err_set (err, 0, "platform `%s`: want os/architecture[/variant]", s);
      v = variant;
    }
  if (*os == '\0' || *arch == '\0')
    return berth_err_set (err, 0, "platform `%s`: want os/architecture[/variant]", s);
  a = normalise_arch (arch, &v);
  ret->os = xstrdup (os);
  ret->architecture = xstrdup (a);
  ret->variant = v ? xstrdup (v) : NULL;
  return 0;
}

int
ic_platform_host (struct ic_platform *ret, berth_err *err)
{
  struct utsname u;
  const char *v = NULL, *a;
  if (uname (&u) < 0)
    return berth_err_set (err, errno, "uname");
  a = normalise_arch (u.machine, &v);
  if (strcmp (u.machine, "armv7l") == 0)
    a = "arm", v = "v7";
  else if (strcmp (u.machine, "armv6l") == 0)
    a = "arm", v = "v6";
  ret->os = xstrdup ("linux");
  ret->architecture = xstrdup (a);
  ret->variant = v ? xstrdup (v) : NULL;
  return 0;
}

char *
ic_platform_string (const char *os, const char *arch, const char *variant)
{
  return xasprintf ("%s/%s%s%s", os ? os : "?", arch ? arch : "?", variant ? "/" : "",
                    variant ? variant : "");
}

/* How well an entry fits: -1 no, higher is better. arm64's variant v8 is the default, so
 * an entry without a variant and one that says v8 are the same thing. */
static int
platform_score (const struct ic_platform *want, const struct ic_descriptor *d)
{
  const char *dv = d->variant, *wv = want->variant;
  if (d->os == NULL || d->architecture == NULL)
    return -1;
  if (strcmp (d->os, want->os) != 0)
    return -1;
  if (strcmp (normalise_arch (d->architecture, &dv), want->architecture) != 0)
    return -1;
  if (strcmp (want->architecture, "arm64") == 0)
    {
      if (dv == NULL)
        dv = "v8";
      if (wv == NULL)
        wv = "v8";
    }
  if (wv == NULL)
    return dv == NULL ? 2 : 1;
  if (dv == NULL)
    return -1;
  return strcmp (dv, wv) == 0 ? 2 : -1;
}

int
ic_index_select (const struct ic_index *idx, const struct ic_platform *want, size_t *ret,
                 berth_err *err)
{
  int best = -1;
  size_t besti = 0;
  for (size_t i = 0; i < idx->n; i++)
    {
      int s;
      if (!ic_media_type_is_manifest (idx->manifests[i].media_type))
        continue;
      s = platform_score (want, &idx->manifests[i]);
      if (s > best)
        best = s, besti = i;
    }
  if (best < 0)
    {
      cleanup_free char *have = xstrdup ("");
      cleanup_free char *w = ic_platform_string (want->os, want->architecture, want->variant);
      for (size_t i = 0; i < idx->n; i++)
        {
          const struct ic_descriptor *d = &idx->manifests[i];
          char *p;
          if (!ic_media_type_is_manifest (d->media_type) || d->os == NULL)
            continue;
          p = xasprintf ("%s%s%s/%s%s%s", have, *have ? ", " : "", d->os,
                         d->architecture ? d->architecture : "?", d->variant ? "/" : "",
                         d->variant ? d->variant : "");
          free (have);
          have = p;
        }
      return ic_err_code (err, ENOENT,
                          "no manifest for platform %s in the image index (it has: %s)", w,
                          *have ? have : "none");
    }
  *ret = besti;
  return 0;
}

/* ------------------------------------------------------------------ image config */

void
imagecache_image_config_clear (struct imagecache_image_config *c)
{
  if (c == NULL)
    return;
  free (c->os);
  free (c->architecture);
  free (c->variant);
  free (c->user);
  free (c->working_dir);
  free (c->stop_signal);
  strv_free (c->env);
  strv_free (c->entrypoint);
  strv_free (c->cmd);
  strv_free (c->exposed_ports);
  strv_free (c->volumes);
  strv_free (c->labels);
  strv_free (c->diff_ids);
  if (c->healthcheck)
    {
      strv_free (c->healthcheck->test);
      free (c->healthcheck);
    }
  memset (c, 0, sizeof *c);
}

static int
get_duration (json_object *obj, const char *path, const char *key, int64_t *ret, berth_err *err)
{
  json_object *v;
  int r = get_opt (obj, path, key, json_type_int, &v, err);
  if (r <= 0)
    return r;
  return bjson_get_int64 (obj, path, key, 0, 0, INT64_MAX, ret, err);
}

static int
parse_healthcheck (json_object *hc, struct imagecache_healthcheck **ret, berth_err *err)
{
  struct imagecache_healthcheck *h = xzalloc (sizeof *h);
  const char *p = "config.Healthcheck";
  int32_t retries = 0;
  int r;

  if ((r = get_opt_strv (hc, p, "Test", &h->test, err)) < 0
      || (r = get_duration (hc, p, "Interval", &h->interval_ns, err)) < 0
      || (r = get_duration (hc, p, "Timeout", &h->timeout_ns, err)) < 0
      || (r = get_duration (hc, p, "StartPeriod", &h->start_period_ns, err)) < 0
      || (r = get_duration (hc, p, "StartInterval", &h->start_interval_ns, err)) < 0)
    goto fail;
  {
    json_object *v;
    r = get_opt (hc, p, "Retries", json_type_int, &v, err);
    if (r < 0)
      goto fail;
    if (r > 0 && (r = bjson_get_int32 (hc, p, "Retries", 0, &retries, err)) < 0)
      goto fail;
    if (retries < 0)
      {
        r = berth_err_set (err, 0, "%s.Retries: %d is negative", p, retries);
        goto fail;
      }
    h->retries = retries;
  }
  *ret = h;
  return 0;
fail:
  strv_free (h->test);
  free (h);
  return r;
}

int
imagecache_image_config_parse (const char *json, size_t len, struct imagecache_image_config *ret,
                               berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  struct imagecache_image_config c = { 0 };
  json_object *cfg, *rootfs, *hc;
  int r;

  if (bjson_parse (json, len, "image config", &obj, err) < 0)
    return -EINVAL;
  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "image config: expected an object");
  if ((r = get_opt_string (obj, "", "os", &c.os, err)) < 0
      || (r = get_opt_string (obj, "", "architecture", &c.architecture, err)) < 0
      || (r = get_opt_string (obj, "", "variant", &c.variant, err)) < 0)
    goto fail;
  r = get_opt (obj, "", "config", json_type_object, &cfg, err);
  if (r < 0)
    goto fail;
  if (cfg)
    {
      const char *p = "config";
      if ((r = get_opt_string (cfg, p, "User", &c.user, err)) < 0
          || (r = get_opt_string (cfg, p, "WorkingDir", &c.working_dir, err)) < 0
          || (r = get_opt_string (cfg, p, "StopSignal", &c.stop_signal, err)) < 0
          || (r = get_opt_strv (cfg, p, "Env", &c.env, err)) < 0
          || (r = get_opt_strv (cfg, p, "Entrypoint", &c.entrypoint, err)) < 0
          || (r = get_opt_strv (cfg, p, "Cmd", &c.cmd, err)) < 0
          || (r = get_opt_keys (cfg, p, "ExposedPorts", &c.exposed_ports, err)) < 0
          || (r = get_opt_keys (cfg, p, "Volumes", &c.volumes, err)) < 0)
        goto fail;
      {
        json_object *labels;
        r = get_opt (cfg, p, "Labels", json_type_object, &labels, err);
        if (r < 0)
          goto fail;
        if (labels && (r = bjson_get_string_map (cfg, p, "Labels", 0, &c.labels, err)) < 0)
          goto fail;
        if (c.labels)
          qsort (c.labels, strv_len (c.labels), sizeof (char *), ic_strcmp_p);
      }
      r = get_opt (cfg, p, "Healthcheck", json_type_object, &hc, err);
      if (r < 0)
        goto fail;
      if (hc && (r = parse_healthcheck (hc, &c.healthcheck, err)) < 0)
        goto fail;
    }
  r = bjson_get (obj, "", "rootfs", json_type_object, BJSON_REQUIRED, &rootfs, err);
  if (r < 0)
    goto fail;
  {
    const char *type;
    r = bjson_get_string (rootfs, "rootfs", "type", BJSON_REQUIRED, &type, err);
    if (r < 0)
      goto fail;
    if (strcmp (type, "layers") != 0)
      {
        r = berth_err_set (err, 0, "rootfs.type: `%s` is not supported (only `layers`)", type);
        goto fail;
      }
    r = bjson_get_strv (rootfs, "rootfs", "diff_ids", BJSON_REQUIRED, &c.diff_ids, err);
    if (r < 0)
      goto fail;
    for (size_t i = 0; c.diff_ids[i]; i++)
      if (ic_digest_validate (c.diff_ids[i], err) < 0)
        {
          r = berth_err_wrap (err, "rootfs.diff_ids[%zu]", i);
          goto fail;
        }
  }
  r = 0;
  *ret = c;
  return 0;
fail:
  imagecache_image_config_clear (&c);
  if (err && *err)
    return berth_err_wrap (err, "image config");
  return r;
}

int
ic_strcmp_p (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}
