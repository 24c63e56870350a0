/* The store's configuration (defaults, the JSON form the agent embeds and the CLI reads)
 * and registry credentials from a docker config.json. */
#include "internal.h"

#include <limits.h>

#define SEC 1000000000ull

void
imagecache_config_init (struct imagecache_config *c)
{
  memset (c, 0, sizeof *c);
  c->max_downloads_per_pull = 3; /* Docker's max-concurrent-downloads */
  c->max_downloads = 6;
  c->max_unpacks = 0;
  c->retries = 5;
  c->stall_timeout_ns = 30 * SEC;
  c->connect_timeout_ns = 30 * SEC;
  c->max_layer_size = 32ull << 30;
  c->max_layer_entries = 2000000;
  c->max_image_size = 64ull << 30;
  c->allow_devices = false;
  /* kubelet's image GC defaults: imageGCHighThresholdPercent 85, Low 80, imageMinimumGCAge 2m */
  c->gc.high_watermark = 85;
  c->gc.low_watermark = 80;
  c->gc.min_age_ns = 120 * SEC;
}

void
imagecache_config_clear (struct imagecache_config *c)
{
  if (c == NULL)
    return;
  strv_free (c->insecure_registries);
  free (c->ca_file);
  free (c->credentials_file);
  free (c->platform);
  memset (c, 0, sizeof *c);
}

void
ic_config_copy (struct imagecache_config *dst, const struct imagecache_config *src)
{
  *dst = *src;
  dst->insecure_registries = src->insecure_registries ? strv_dup (src->insecure_registries) : NULL;
  dst->ca_file = xstrdup (src->ca_file);
  dst->credentials_file = xstrdup (src->credentials_file);
  dst->platform = xstrdup (src->platform);
}

static int
get_duration (json_object *obj, const char *path, const char *key, uint64_t *ret, berth_err *err)
{
  const char *s;
  cleanup_free char *p = bjson_path_key (path, key);
  int r = bjson_get_string (obj, path, key, 0, &s, err);
  if (r <= 0)
    return r;
  if (berth_parse_duration_ns (s, ret) < 0)
    return berth_err_set (err, 0, "%s: `%s` is not a duration (e.g. 30s, 250ms, 2m)", p, s);
  return 1;
}

static int
get_size (json_object *obj, const char *path, const char *key, uint64_t *ret, berth_err *err)
{
  json_object *v;
  cleanup_free char *p = bjson_path_key (path, key);
  if (!json_object_object_get_ex (obj, key, &v))
    return 0;
  if (json_object_get_type (v) == json_type_int)
    return bjson_get_uint64 (obj, path, key, 0, UINT64_MAX, ret, err);
  if (json_object_get_type (v) != json_type_string)
    return berth_err_set (err, 0, "%s: expected a size (\"32G\" or bytes), got %s", p,
                          bjson_type_name (json_object_get_type (v)));
  if (berth_parse_size (json_object_get_string (v), ret) < 0)
    return berth_err_set (err, 0, "%s: `%s` is not a size (e.g. 512M, 32G)", p,
                          json_object_get_string (v));
  return 1;
}

static int
get_count (json_object *obj, const char *path, const char *key, unsigned min, unsigned max,
           unsigned *ret, berth_err *err)
{
  uint32_t v;
  cleanup_free char *p = bjson_path_key (path, key);
  int r = bjson_get_uint32 (obj, path, key, 0, &v, err);
  if (r <= 0)
    return r;
  if (v < min || v > max)
    return berth_err_set (err, 0, "%s: %u is out of range [%u, %u]", p, v, min, max);
  *ret = v;
  return 1;
}

static int
get_str (json_object *obj, const char *path, const char *key, char **ret, berth_err *err)
{
  const char *s;
  int r = bjson_get_string (obj, path, key, 0, &s, err);
  if (r <= 0)
    return r;
  free (*ret);
  *ret = xstrdup (s);
  return 1;
}

int
imagecache_config_parse_json (json_object *obj, const char *path, struct imagecache_config *c,
                              berth_err *err)
{
  static const char *const known[] = { "insecure_registries",
                                       "ca_file",
                                       "credentials_file",
                                       "platform",
                                       "max_downloads_per_pull",
                                       "max_downloads",
                                       "max_unpacks",
                                       "retries",
                                       "stall_timeout",
                                       "connect_timeout",
                                       "max_layer_size",
                                       "max_image_size",
                                       "max_layer_entries",
                                       "allow_devices",
                                       "gc",
                                       NULL };
  static const char *const gc_known[] = { "high_watermark", "low_watermark", "min_age", NULL };
  json_object *gc;
  int r;

  if (bjson_check_keys (obj, path, known, err) < 0)
    return -EINVAL;
  {
    char **v = NULL;
    r = bjson_get_strv (obj, path, "insecure_registries", 0, &v, err);
    if (r < 0)
      return r;
    if (r > 0)
      {
        for (size_t i = 0; v[i]; i++)
          if (*v[i] == '\0' || strchr (v[i], '/'))
            {
              cleanup_free char *p = bjson_path_key (path, "insecure_registries");
              int q = berth_err_set (err, 0, "%s[%zu]: `%s` is not a registry host[:port]", p, i,
                                     v[i]);
              strv_free (v);
              return q;
            }
        strv_free (c->insecure_registries);
        c->insecure_registries = v;
      }
  }
  if ((r = get_str (obj, path, "ca_file", &c->ca_file, err)) < 0
      || (r = get_str (obj, path, "credentials_file", &c->credentials_file, err)) < 0
      || (r = get_str (obj, path, "platform", &c->platform, err)) < 0)
    return r;
  if (c->platform)
    {
      struct ic_platform p = { 0 };
      if (ic_platform_parse (c->platform, &p, err) < 0)
        {
          cleanup_free char *kp = bjson_path_key (path, "platform");
          return berth_err_wrap (err, "%s", kp);
        }
      ic_platform_clear (&p);
    }
  if ((r = get_count (obj, path, "max_downloads_per_pull", 1, 64, &c->max_downloads_per_pull, err))
          < 0
      || (r = get_count (obj, path, "max_downloads", 1, 256, &c->max_downloads, err)) < 0
      || (r = get_count (obj, path, "max_unpacks", 0, 256, &c->max_unpacks, err)) < 0
      || (r = get_count (obj, path, "retries", 0, 100, &c->retries, err)) < 0
      || (r = get_duration (obj, path, "stall_timeout", &c->stall_timeout_ns, err)) < 0
      || (r = get_duration (obj, path, "connect_timeout", &c->connect_timeout_ns, err)) < 0
      || (r = get_size (obj, path, "max_layer_size", &c->max_layer_size, err)) < 0
      || (r = get_size (obj, path, "max_image_size", &c->max_image_size, err)) < 0
      || (r = get_count (obj, path, "max_layer_entries", 1, 1000000000, &c->max_layer_entries, err))
             < 0
      || (r = bjson_get_bool (obj, path, "allow_devices", 0, &c->allow_devices, err)) < 0)
    return r;
  if (c->stall_timeout_ns < 1000000 || c->connect_timeout_ns < 1000000)
    {
      cleanup_free char *kp = bjson_path_key (
          path, c->stall_timeout_ns < 1000000 ? "stall_timeout" : "connect_timeout");
      return berth_err_set (err, 0, "%s: must be at least 1ms", kp);
    }
  r = bjson_get (obj, path, "gc", json_type_object, 0, &gc, err);
  if (r < 0)
    return r;
  if (gc)
    {
      cleanup_free char *gp = bjson_path_key (path, "gc");
      if (bjson_check_keys (gc, gp, gc_known, err) < 0)
        return -EINVAL;
      if ((r = get_count (gc, gp, "high_watermark", 1, 100, &c->gc.high_watermark, err)) < 0
          || (r = get_count (gc, gp, "low_watermark", 0, 100, &c->gc.low_watermark, err)) < 0
          || (r = get_duration (gc, gp, "min_age", &c->gc.min_age_ns, err)) < 0)
        return r;
    }
  if (c->gc.low_watermark > c->gc.high_watermark)
    {
      cleanup_free char *gp = bjson_path_key (path, "gc.low_watermark");
      return berth_err_set (err, 0, "%s: %u is above gc.high_watermark %u", gp, c->gc.low_watermark,
                            c->gc.high_watermark);
    }
  return 0;
}

int
imagecache_config_load_file (const char *file, struct imagecache_config *c, berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  if (bjson_parse_file_at (AT_FDCWD, file, 1 << 20, &obj, err) < 0)
    return berth_err_wrap (err, "image store config");
  if (imagecache_config_parse_json (obj, "", c, err) < 0)
    return berth_err_wrap (err, "%s", file);
  return 0;
}

/* ------------------------------------------------------------------ credentials */

void
ic_creds_free (struct ic_creds *c)
{
  for (size_t i = 0; i < c->n; i++)
    {
      free (c->v[i].host);
      free (c->v[i].username);
      if (c->v[i].password)
        explicit_bzero (c->v[i].password, strlen (c->v[i].password));
      free (c->v[i].password);
      if (c->v[i].identity_token)
        explicit_bzero (c->v[i].identity_token, strlen (c->v[i].identity_token));
      free (c->v[i].identity_token);
    }
  free (c->v);
  memset (c, 0, sizeof *c);
}

/* The host part of an `auths` key: "https://index.docker.io/v1/" -> docker.io,
 * "http://127.0.0.1:5000/v2/" -> 127.0.0.1:5000, "registry.example:443" as is. */
char *
ic_creds_key_host (const char *key)
{
  const char *p = key, *end;
  char *h;
  if (str_has_prefix (p, "https://"))
    p += 8;
  else if (str_has_prefix (p, "http://"))
    p += 7;
  end = strchr (p, '/');
  h = end ? xstrndup (p, (size_t)(end - p)) : xstrdup (p);
  if (strcmp (h, "index.docker.io") == 0 || strcmp (h, "registry-1.docker.io") == 0)
    {
      free (h);
      h = xstrdup ("docker.io");
    }
  return h;
}

int
ic_creds_parse (const char *text, size_t len, const char *what, struct ic_creds *ret,
                berth_err *err)
{
  cleanup_json json_object *obj = NULL;
  json_object *auths, *v;
  struct ic_creds c = { 0 };
  int r;

  if (bjson_parse (text, len, what, &obj, err) < 0)
    return -EINVAL;
  if (json_object_get_type (obj) != json_type_object)
    return berth_err_set (err, 0, "%s: expected an object", what);
  /* A credential helper is a program docker runs; berth does not run them. Refusing is
   * better than pulling anonymously and failing later with a confusing 401. */
  if (json_object_object_get_ex (obj, "credsStore", &v)
      && json_object_get_type (v) == json_type_string && json_object_get_string_len (v) > 0)
    return berth_err_set (
        err, 0,
        "%s: credsStore: credential helpers are not supported; put the credentials in `auths`",
        what);
  if (json_object_object_get_ex (obj, "credHelpers", &v)
      && json_object_get_type (v) == json_type_object && json_object_object_length (v) > 0)
    return berth_err_set (
        err, 0,
        "%s: credHelpers: credential helpers are not supported; put the credentials in `auths`",
        what);
  r = bjson_get (obj, "", "auths", json_type_object, 0, &auths, err);
  if (r < 0)
    return berth_err_wrap (err, "%s", what);
  if (auths == NULL)
    {
      *ret = c;
      return 0;
    }
  c.v = xzalloc ((size_t)(json_object_object_length (auths) + 1) * sizeof *c.v);
  json_object_object_foreach (auths, key, ent)
    {
      cleanup_free char *p = xasprintf ("auths.%s", key);
      struct ic_cred *e = &c.v[c.n];
      const char *auth = NULL, *user = NULL, *pass = NULL, *tok = NULL;

      if (json_object_get_type (ent) != json_type_object)
        {
          r = berth_err_set (err, 0, "%s: %s: expected an object", what, p);
          goto fail;
        }
      if (bjson_get_string (ent, p, "auth", 0, &auth, err) < 0
          || bjson_get_string (ent, p, "username", 0, &user, err) < 0
          || bjson_get_string (ent, p, "password", 0, &pass, err) < 0
          || bjson_get_string (ent, p, "identitytoken", 0, &tok, err) < 0)
        {
          r = berth_err_wrap (err, "%s", what);
          goto fail;
        }
      e->host = ic_creds_key_host (key);
      c.n++;
      if (auth && *auth)
        {
          cleanup_free char *dec = NULL;
          size_t dlen;
          char *colon;
          if (ic_base64_decode (auth, &dec, &dlen) < 0 || memchr (dec, '\0', dlen)
              || (colon = strchr (dec, ':')) == NULL)
            {
              r = berth_err_set (err, 0, "%s: %s.auth: not base64 of user:password", what, p);
              goto fail;
            }
          e->username = xstrndup (dec, (size_t)(colon - dec));
          e->password = xstrdup (colon + 1);
          explicit_bzero (dec, dlen);
        }
      else if (user && pass)
        {
          e->username = xstrdup (user);
          e->password = xstrdup (pass);
        }
      if (tok && *tok)
        e->identity_token = xstrdup (tok);
      if (e->username == NULL && e->identity_token == NULL)
        {
          r = berth_err_set (
              err, 0, "%s: %s: no credentials (want auth, username+password or identitytoken)",
              what, p);
          goto fail;
        }
    }
  *ret = c;
  return 0;
fail:
  ic_creds_free (&c);
  return r;
}

const struct ic_cred *
ic_creds_find (const struct ic_creds *c, const char *registry)
{
  for (size_t i = 0; i < c->n; i++)
    if (strcmp (c->v[i].host, registry) == 0)
      return &c->v[i];
  return NULL;
}
