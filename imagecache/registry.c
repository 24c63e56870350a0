/* The OCI distribution API as a client: manifests with an explicit Accept list, blobs,
 * authentication retries, redirects followed by hand (Authorization only to the
 * registry's own origin), Docker-Content-Digest checks, retries with backoff on 5xx,
 * resets and stalls, and blob downloads that resume with Range. */
#include "internal.h"

#include <curl/curl.h>

#define MAX_REDIRECTS 10
#define PROGRESS_STEP (1u << 20)

static const char manifest_accept[]
    = IC_MT_OCI_INDEX ", " IC_MT_DOCKER_LIST ", " IC_MT_OCI_MANIFEST ", " IC_MT_DOCKER_MANIFEST;

int
ic_registry_init (struct ic_registry *reg, struct imagecache_store *s, struct ic_ctx *ctx,
                  const struct imagecache_ref *ref, berth_err *err)
{
  const char *host = ref->registry;
  memset (reg, 0, sizeof *reg);
  reg->store = s;
  reg->ctx = ctx;
  reg->registry = xstrdup (ref->registry);
  reg->repository = xstrdup (ref->repository);
  reg->insecure = ic_registry_is_insecure (s, ref->registry);
  /* Docker Hub's API lives on another host than its name. */
  if (strcmp (host, "docker.io") == 0)
    host = "registry-1.docker.io";
  reg->origin = xasprintf ("%s://%s", reg->insecure ? "http" : "https", host);
  reg->base = xasprintf ("%s/v2/%s", reg->origin, ref->repository);
  reg->scope = xasprintf ("repository:%s:pull", ref->repository);
  reg->cred = ic_creds_find (&s->creds, ref->registry);
  (void)err;
  return 0;
}

void
ic_registry_clear (struct ic_registry *reg)
{
  free (reg->registry);
  free (reg->repository);
  free (reg->base);
  free (reg->origin);
  free (reg->scope);
  memset (reg, 0, sizeof *reg);
}

char *
ic_registry_error_text (const struct ic_response *r)
{
  cleanup_json json_object *obj = NULL;
  json_object *errors;
  if (r->body == NULL || r->body_len == 0)
    return xstrdup ("(no message)");
  /* {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]} */
  if (bjson_parse (r->body, r->body_len, "error", &obj, NULL) == 0
      && json_object_get_type (obj) == json_type_object
      && json_object_object_get_ex (obj, "errors", &errors)
      && json_object_get_type (errors) == json_type_array && json_object_array_length (errors) > 0)
    {
      char *out = xstrdup ("");
      for (size_t i = 0; i < json_object_array_length (errors) && i < 4; i++)
        {
          json_object *e = json_object_array_get_idx (errors, i), *code = NULL, *msg = NULL;
          cleanup_free char *c = NULL, *m = NULL;
          char *n;
          if (json_object_get_type (e) != json_type_object)
            continue;
          json_object_object_get_ex (e, "code", &code);
          json_object_object_get_ex (e, "message", &msg);
          c = ic_sanitize (code ? json_object_get_string (code) : "",
                           code ? strlen (json_object_get_string (code)) : 0, 64);
          m = ic_sanitize (msg ? json_object_get_string (msg) : "",
                           msg ? strlen (json_object_get_string (msg)) : 0, 512);
          n = xasprintf ("%s%s%s%s%s", out, *out ? "; " : "", m, *c ? " (" : "", *c ? c : "");
          free (out);
          out = *c ? xasprintf ("%s)", n) : xstrdup (n);
          free (n);
        }
      if (*out)
        return out;
      free (out);
    }
  /* {"details": "..."} from some token servers, or plain text */
  return ic_sanitize (r->body, r->body_len, 300);
}

static const char *
status_text (long status)
{
  switch (status)
    {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
    }
}

static int
status_error (struct ic_registry *reg, const char *what, const struct ic_response *r,
              berth_err *err)
{
  cleanup_free char *text = ic_registry_error_text (r);
  int code = r->status == 404 ? ENOENT : (r->status == 401 || r->status == 403) ? EACCES : EIO;
  return ic_err_code (err, code, "%s: %s %ld %s: %s", reg->registry, what, r->status,
                      status_text (r->status), text);
}

/* An absolute URL for a Location header, relative ones resolved against the request's. */
static int
resolve_location (const char *base, const char *location, char **ret, berth_err *err)
{
  CURLU *u = curl_url ();
  char *out = NULL;
  CURLUcode rc;
  if (u == NULL)
    abort ();
  rc = curl_url_set (u, CURLUPART_URL, base, 0);
  if (rc == CURLUE_OK)
    rc = curl_url_set (u, CURLUPART_URL, location, 0);
  if (rc == CURLUE_OK)
    rc = curl_url_get (u, CURLUPART_URL, &out, 0);
  curl_url_cleanup (u);
  if (rc != CURLUE_OK)
    return berth_err_set (err, 0, "redirect to `%.200s`: not a URL", location);
  *ret = xstrdup (out);
  curl_free (out);
  return 0;
}

static bool
same_origin (const char *url, const char *origin)
{
  size_t n = strlen (origin);
  return strncmp (url, origin, n) == 0 && (url[n] == '/' || url[n] == '\0' || url[n] == '?');
}

/* One request with authentication and redirects; no retries. */
static int
registry_send (struct ic_registry *reg, const char *url, const struct ic_http_request *proto,
               struct ic_response *resp, berth_err *err)
{
  cleanup_free char *cur = xstrdup (url);
  bool auth_retried = false;
  int redirects = 0;

  for (;;)
    {
      struct ic_http_request req = *proto;
      cleanup_free char *auth = NULL;
      bool mine = same_origin (cur, reg->origin);
      int r;

      if (mine)
        {
          r = ic_auth_header (reg, &auth, err);
          if (r < 0)
            return r;
        }
      req.url = cur;
      req.authorization = auth;
      r = ic_http_exchange (reg->store, reg->ctx, &req, resp, err);
      if (auth)
        explicit_bzero (auth, strlen (auth));
      if (r < 0)
        return r;
      if (resp->status == 401 && mine && !auth_retried)
        {
          auth_retried = true;
          r = ic_auth_handle_401 (reg, resp, auth != NULL, err);
          if (r < 0)
            return r;
          continue;
        }
      if (resp->status == 301 || resp->status == 302 || resp->status == 303 || resp->status == 307
          || resp->status == 308)
        {
          char *next = NULL;
          if (resp->location == NULL)
            return ic_err_code (err, EIO, "%s: redirect %ld without a Location", reg->registry,
                                resp->status);
          if (++redirects > MAX_REDIRECTS)
            return ic_err_code (err, EIO, "%s: more than %d redirects", reg->registry,
                                MAX_REDIRECTS);
          if (resolve_location (cur, resp->location, &next, err) < 0)
            return berth_err_wrap (err, "%s", reg->registry);
          /* never from TLS down to plain HTTP, unless that host is trusted for it */
          if (str_has_prefix (cur, "https://") && str_has_prefix (next, "http://"))
            {
              const char *h = next + 7;
              cleanup_free char *host = xstrndup (h, strcspn (h, "/?#"));
              if (!ic_registry_is_insecure (reg->store, host))
                {
                  int q = ic_err_code (err, EPROTO,
                                       "%s: refusing a redirect from HTTPS to plain HTTP (%s)",
                                       reg->registry, host);
                  free (next);
                  return q;
                }
            }
          free (cur);
          cur = next;
          continue;
        }
      return 0;
    }
}

static bool
retryable_status (long status)
{
  return status >= 500 || status == 429 || status == 408;
}

static uint64_t
backoff_ns (unsigned attempt)
{
  uint64_t base = 250000000ull << (attempt < 5 ? attempt : 5); /* 0.25 s .. 8 s */
  uint64_t jitter = (uint64_t)random () % (base / 2 + 1);
  return base / 2 + jitter;
}

/* With retries, for small requests. */
static int
registry_call (struct ic_registry *reg, const char *url, const struct ic_http_request *proto,
               struct ic_response *resp, const char *what, berth_err *err)
{
  struct imagecache_store *s = reg->store;
  for (unsigned attempt = 0;; attempt++)
    {
      int r = registry_send (reg, url, proto, resp, err);
      if (r == 0 && !retryable_status (resp->status))
        return 0;
      if (r < 0 && berth_err_code (err) != EIO)
        return r;
      if (attempt >= s->cfg.retries)
        {
          if (r == 0)
            return status_error (reg, what, resp, err);
          return berth_err_wrap (err, "%s (after %u attempts)", what, attempt + 1);
        }
      atomic_fetch_add (&reg->ctx->retries, 1);
      if (!ic_ctx_sleep (reg->ctx, backoff_ns (attempt)))
        return ic_ctx_stop_error (reg->ctx, err);
    }
}

int
ic_registry_manifest (struct ic_registry *reg, const char *reference, bool head, char **ret_body,
                      size_t *ret_len, char **ret_content_type, char **ret_digest, berth_err *err)
{
  struct ic_http_request req = {
    .method = head ? "HEAD" : "GET",
    .accept = manifest_accept,
    .max_body = IC_MAX_MANIFEST_SIZE,
  };
  struct ic_response resp = { 0 };
  cleanup_free char *url = xasprintf ("%s/manifests/%s", reg->base, reference);
  cleanup_free char *what
      = xasprintf ("%s manifest %s:%s", head ? "HEAD" : "GET", reg->repository, reference);
  char got[IC_DIGEST_BUF];
  int r;

  r = registry_call (reg, url, &req, &resp, what, err);
  if (r < 0)
    goto out;
  if (resp.status != 200 && head)
    {
      /* A HEAD answer has no body, so no message: ask again with GET, which either says
         why (a 404's "manifest unknown") or works where HEAD is not served. */
      head = false;
      free (what);
      what = xasprintf ("GET manifest %s:%s", reg->repository, reference);
      req.method = "GET";
      r = registry_call (reg, url, &req, &resp, what, err);
      if (r < 0)
        goto out;
    }
  if (resp.status != 200)
    {
      r = status_error (reg, what, &resp, err);
      goto out;
    }
  if (resp.docker_digest && ic_digest_validate (resp.docker_digest, NULL) < 0)
    {
      cleanup_free char *d = ic_sanitize (resp.docker_digest, strlen (resp.docker_digest), 100);
      r = berth_err_set (err, 0, "%s: %s: Docker-Content-Digest `%s` is not a sha256 digest",
                         reg->registry, what, d);
      goto out;
    }
  if (head)
    {
      *ret_digest = steal_pointer (&resp.docker_digest);
      if (ret_content_type)
        {
          free (*ret_content_type);
          *ret_content_type = steal_pointer (&resp.content_type);
        }
      r = 0;
      goto out;
    }
  ic_sha256_buf (resp.body ? resp.body : "", resp.body_len, got);
  if (resp.docker_digest && strcmp (resp.docker_digest, got) != 0)
    {
      r = berth_err_set (err, 0,
                         "%s: %s: the manifest hashes to %s but Docker-Content-Digest says %s",
                         reg->registry, what, got, resp.docker_digest);
      goto out;
    }
  if (str_has_prefix (reference, "sha256:") && strcmp (reference, got) != 0)
    {
      r = berth_err_set (err, 0, "%s: %s: the registry returned a manifest that hashes to %s",
                         reg->registry, what, got);
      goto out;
    }
  *ret_digest = xstrdup (got);
  if (ret_body)
    {
      *ret_len = resp.body_len;
      *ret_body = resp.body ? steal_pointer (&resp.body) : xstrdup ("");
    }
  if (ret_content_type)
    {
      free (*ret_content_type);
      *ret_content_type = steal_pointer (&resp.content_type);
    }
  r = 0;
out:
  ic_response_clear (&resp);
  return r;
}

/* ------------------------------------------------------------------ blob downloads */

struct blob_sink
{
  struct ic_registry *reg;
  struct ic_ingest *ing;
  struct ic_response *resp;
  int layer;
  bool started;
  uint64_t skip; /* a 200 answer to a Range request starts at 0: drop what we have */
  uint64_t reported;
  berth_err err;
};

static int
blob_sink_write (void *user, const char *data, size_t len)
{
  struct blob_sink *b = user;
  struct ic_ingest *ing = b->ing;
  if (!b->started)
    {
      b->started = true;
      if (b->resp->status == 206)
        {
          uint64_t start;
          const char *cr = b->resp->content_range;
          char buf[32];
          size_t n;
          /* "bytes 1234-5678/9999" */
          if (cr == NULL || !str_has_prefix (cr, "bytes "))
            return berth_err_set (&b->err, 0, "blob %s: 206 without a Content-Range", ing->digest);
          n = strcspn (cr + 6, "-");
          if (n == 0 || n >= sizeof buf)
            return berth_err_set (&b->err, 0, "blob %s: bad Content-Range `%.60s`", ing->digest,
                                  cr);
          memcpy (buf, cr + 6, n);
          buf[n] = '\0';
          if (berth_parse_uint64 (buf, &start) < 0 || start != ing->offset)
            return berth_err_set (&b->err, 0,
                                  "blob %s: Content-Range `%.60s` does not start at %" PRIu64,
                                  ing->digest, cr, ing->offset);
        }
      else
        b->skip = ing->offset;
    }
  atomic_fetch_add (&b->reg->ctx->blob_bytes, len);
  if (b->skip > 0)
    {
      size_t k = len < b->skip ? len : (size_t)b->skip;
      b->skip -= k;
      data += k;
      len -= k;
      if (len == 0)
        return 0;
    }
  if (ic_ingest_write (ing, data, len, &b->err) < 0)
    return -1;
  if (ing->offset - b->reported >= PROGRESS_STEP || ing->offset == ing->size)
    {
      b->reported = ing->offset;
      ic_ctx_progress (b->reg->ctx, IMAGECACHE_PROGRESS_BLOB_BYTES, b->layer, ing->digest,
                       ing->offset, ing->size, false, NULL);
    }
  return 0;
}

int
ic_registry_blob_fetch (struct ic_registry *reg, struct ic_ingest *ing, int layer, berth_err *err)
{
  struct imagecache_store *s = reg->store;
  cleanup_free char *url = xasprintf ("%s/blobs/%s", reg->base, ing->digest);
  cleanup_free char *what = xasprintf ("GET blob %s", ing->digest);
  unsigned failures = 0;
  int r;

  for (;;)
    {
      struct ic_response resp = { 0 };
      struct blob_sink sink
          = { .reg = reg, .ing = ing, .resp = &resp, .layer = layer, .reported = ing->offset };
      struct ic_http_request req = {
        .method = "GET",
        .max_body = IC_MAX_ERROR_BODY,
        .range_start = ing->offset,
        .sink = blob_sink_write,
        .sink_user = &sink,
      };
      uint64_t before = ing->offset;
      cleanup_free char *why = NULL;

      if (ing->offset == ing->size)
        break;
      r = registry_send (reg, url, &req, &resp, err);
      if (r == -ECANCELED && sink.err)
        {
          /* the sink failed: disk full, too many bytes, a bad Content-Range */
          berth_err_move (err, &sink.err);
          ic_response_clear (&resp);
          return berth_err_ret (err);
        }
      berth_err_free (&sink.err);
      if (r < 0)
        {
          if (berth_err_code (err) != EIO)
            {
              ic_response_clear (&resp);
              return r;
            }
          why = xstrdup (berth_err_msg (err));
        }
      else if (resp.status == 200 || resp.status == 206)
        {
          if (ing->offset == ing->size)
            {
              ic_response_clear (&resp);
              break;
            }
          why = xasprintf ("connection closed after %" PRIu64 " of %" PRIu64 " bytes", ing->offset,
                           ing->size);
        }
      else if (resp.status == 416 && ing->offset > 0)
        {
          /* the partial file does not fit what the server has: start over */
          ic_response_clear (&resp);
          if (ic_ingest_truncate (ing, err) < 0)
            return berth_err_ret (err);
          continue;
        }
      else if (retryable_status (resp.status))
        {
          cleanup_free char *t = ic_registry_error_text (&resp);
          why = xasprintf ("%ld %s: %s", resp.status, status_text (resp.status), t);
        }
      else
        {
          r = status_error (reg, what, &resp, err);
          ic_response_clear (&resp);
          return r;
        }
      ic_response_clear (&resp);

      /* a transient failure: resume after what we have */
      if (ing->offset > before)
        failures = 0;
      if (++failures > s->cfg.retries)
        return ic_err_code (err, EIO, "%s: %s: giving up after %u attempts: %s", reg->registry,
                            what, failures, why);
      atomic_fetch_add (&reg->ctx->retries, 1);
      {
        cleanup_free char *m = xasprintf ("%s; resuming at byte %" PRIu64, why, ing->offset);
        ic_ctx_progress (reg->ctx, IMAGECACHE_PROGRESS_BLOB_RETRY, layer, ing->digest, ing->offset,
                         ing->size, false, m);
      }
      berth_err_free (err);
      if (!ic_ctx_sleep (reg->ctx, backoff_ns (failures - 1)))
        return ic_ctx_stop_error (reg->ctx, err);
    }
  r = ic_ingest_commit (ing, err);
  if (r < 0)
    return berth_err_wrap (err, "%s", reg->registry);
  return 0;
}
