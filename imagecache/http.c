/* One HTTP exchange with libcurl's easy interface, from whichever thread needs it: a
 * handle per thread (so keep-alive connections are reused by that thread), DNS and TLS
 * sessions shared across threads, no automatic redirects (the registry code follows them
 * itself to control where Authorization goes), cancellation and stall detection through
 * the progress callback. */
#include "internal.h"

#include <curl/curl.h>

#include "berth-config.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static pthread_key_t handle_key;

static void
handle_destroy (void *h)
{
  curl_easy_cleanup (h);
}

static void
global_init (void)
{
  global_rc = curl_global_init (CURL_GLOBAL_DEFAULT);
  pthread_key_create (&handle_key, handle_destroy);
}

int
ic_http_global_init (berth_err *err)
{
  pthread_once (&global_once, global_init);
  if (global_rc != CURLE_OK)
    return berth_err_set (err, 0, "libcurl initialisation: %s", curl_easy_strerror (global_rc));
  return 0;
}

/* ------------------------------------------------------------------ shared state */

static void
share_lock (CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
  struct imagecache_store *s = user;
  (void)h;
  (void)access;
  pthread_mutex_lock (&s->share_mu[(unsigned)data % ARRAY_SIZE (s->share_mu)]);
}

static void
share_unlock (CURL *h, curl_lock_data data, void *user)
{
  struct imagecache_store *s = user;
  (void)h;
  pthread_mutex_unlock (&s->share_mu[(unsigned)data % ARRAY_SIZE (s->share_mu)]);
}

int
ic_curl_share_new (struct imagecache_store *s, berth_err *err)
{
  CURLSH *sh = curl_share_init ();
  if (sh == NULL)
    return berth_err_set (err, ENOMEM, "curl_share_init");
  for (size_t i = 0; i < ARRAY_SIZE (s->share_mu); i++)
    pthread_mutex_init (&s->share_mu[i], NULL);
  curl_share_setopt (sh, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (sh, CURLSHOPT_USERDATA, s);
  /* Not CURL_LOCK_DATA_CONNECT: libcurl does not support sharing connections between
   * concurrent threads; each thread keeps its own (see the per-thread handle). */
  curl_share_setopt (sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  s->curl_share = sh;
  return 0;
}

void
ic_curl_share_free (struct imagecache_store *s)
{
  if (s->curl_share == NULL)
    return;
  curl_share_cleanup (s->curl_share);
  s->curl_share = NULL;
  for (size_t i = 0; i < ARRAY_SIZE (s->share_mu); i++)
    pthread_mutex_destroy (&s->share_mu[i]);
}

static CURL *
thread_handle (void)
{
  CURL *h = pthread_getspecific (handle_key);
  if (h == NULL)
    {
      h = curl_easy_init ();
      if (h == NULL)
        abort ();
      pthread_setspecific (handle_key, h);
    }
  else
    curl_easy_reset (h);
  return h;
}

/* ------------------------------------------------------------------ responses */

void
ic_response_clear (struct ic_response *r)
{
  free (r->content_type);
  free (r->docker_digest);
  free (r->location);
  free (r->www_authenticate);
  free (r->content_range);
  free (r->body);
  memset (r, 0, sizeof *r);
  r->content_length = -1;
}

struct xfer
{
  struct imagecache_store *store;
  struct ic_ctx *ctx;
  const struct ic_http_request *req;
  struct ic_response *resp;
  CURL *h;
  bool status_known, to_sink, too_large, sink_failed, stalled;
  size_t body_cap;
  uint64_t last_byte_ns;
  curl_off_t last_dlnow;
};

static void
set_header (char **dst, const char *v, size_t n)
{
  while (n > 0 && (*v == ' ' || *v == '\t'))
    v++, n--;
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  free (*dst);
  *dst = xstrndup (v, n);
}

static bool
header_is (const char *line, size_t n, const char *name, const char **ret_value, size_t *ret_len)
{
  size_t k = strlen (name);
  if (n <= k || strncasecmp (line, name, k) != 0 || line[k] != ':')
    return false;
  *ret_value = line + k + 1;
  *ret_len = n - k - 1;
  return true;
}

static size_t
header_cb (char *line, size_t size, size_t nitems, void *user)
{
  struct xfer *x = user;
  struct ic_response *r = x->resp;
  size_t n = size * nitems;
  const char *v;
  size_t vn;

  if (n >= 5 && strncmp (line, "HTTP/", 5) == 0)
    {
      /* a new response (after 100 Continue, or an interim one): forget earlier headers */
      long keep_code = r->curl_code;
      char *body = r->body;
      size_t body_len = r->body_len;
      r->body = NULL;
      ic_response_clear (r);
      r->body = body;
      r->body_len = body_len;
      r->curl_code = (int)keep_code;
      return n;
    }
  if (header_is (line, n, "content-type", &v, &vn))
    {
      set_header (&r->content_type, v, vn);
      /* "application/json; charset=utf-8" -> the media type */
      char *semi = strchr (r->content_type, ';');
      if (semi)
        *semi = '\0';
    }
  else if (header_is (line, n, "docker-content-digest", &v, &vn))
    set_header (&r->docker_digest, v, vn);
  else if (header_is (line, n, "location", &v, &vn))
    set_header (&r->location, v, vn);
  else if (header_is (line, n, "www-authenticate", &v, &vn))
    {
      /* keep the first Bearer/Basic challenge */
      if (r->www_authenticate == NULL)
        set_header (&r->www_authenticate, v, vn);
    }
  else if (header_is (line, n, "content-range", &v, &vn))
    set_header (&r->content_range, v, vn);
  else if (header_is (line, n, "content-length", &v, &vn))
    {
      cleanup_free char *s = NULL;
      uint64_t len;
      set_header (&s, v, vn);
      if (berth_parse_uint64 (s, &len) == 0 && len <= INT64_MAX)
        r->content_length = (int64_t)len;
    }
  return n;
}

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *user)
{
  struct xfer *x = user;
  struct ic_response *r = x->resp;
  size_t n = size * nmemb;

  if (!x->status_known)
    {
      long code = 0;
      curl_easy_getinfo (x->h, CURLINFO_RESPONSE_CODE, &code);
      r->status = code;
      x->status_known = true;
      x->to_sink = code >= 200 && code < 300 && x->req->sink != NULL;
      x->body_cap = (code >= 200 && code < 300) ? x->req->max_body : IC_MAX_ERROR_BODY;
    }
  x->last_byte_ns = berth_now_ns ();
  if (x->to_sink)
    {
      if (x->req->sink (x->req->sink_user, data, n) < 0)
        {
          x->sink_failed = true;
          return 0;
        }
      return n;
    }
  if (r->body_len + n > x->body_cap)
    {
      if (r->status >= 200 && r->status < 300)
        {
          x->too_large = true;
          return 0;
        }
      /* an error body: keep the start, drop the rest */
      n = x->body_cap - r->body_len;
      if (n == 0)
        return size * nmemb;
    }
  r->body = xrealloc (r->body, r->body_len + n + 1);
  memcpy (r->body + r->body_len, data, n);
  r->body_len += n;
  r->body[r->body_len] = '\0';
  return size * nmemb;
}

static int
xferinfo_cb (void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  struct xfer *x = user;
  uint64_t now = berth_now_ns ();
  (void)dltotal;
  (void)ultotal;
  (void)ulnow;
  if (ic_ctx_stopped (x->ctx))
    return 1;
  if (dlnow != x->last_dlnow)
    {
      x->last_dlnow = dlnow;
      x->last_byte_ns = now;
    }
  else if (now - x->last_byte_ns > x->store->cfg.stall_timeout_ns)
    {
      x->stalled = true;
      return 1;
    }
  return 0;
}

static bool
transient_curl (CURLcode c)
{
  static const CURLcode transient[] = {
    CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
    CURLE_PARTIAL_FILE,         CURLE_GOT_NOTHING,     CURLE_SEND_ERROR,
    CURLE_RECV_ERROR,           CURLE_HTTP2,           CURLE_HTTP2_STREAM,
    CURLE_SSL_CONNECT_ERROR,
  };
  for (size_t i = 0; i < ARRAY_SIZE (transient); i++)
    if (c == transient[i])
      return true;
  return false;
}

bool
ic_registry_is_insecure (struct imagecache_store *s, const char *host)
{
  return s->cfg.insecure_registries && strv_contains (s->cfg.insecure_registries, host);
}

int
ic_http_exchange (struct imagecache_store *s, struct ic_ctx *ctx, const struct ic_http_request *req,
                  struct ic_response *resp, berth_err *err)
{
  struct xfer x = { .store = s, .ctx = ctx, .req = req, .resp = resp };
  struct curl_slist *hdrs = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  CURLcode rc;
  CURL *h;

  ic_response_clear (resp);
  if (ic_ctx_stopped (ctx))
    return ic_ctx_stop_error (ctx, err);
  h = thread_handle ();
  x.h = h;
  x.last_byte_ns = berth_now_ns ();
  x.last_dlnow = 0;

  curl_easy_setopt (h, CURLOPT_URL, req->url);
  curl_easy_setopt (h, CURLOPT_SHARE, s->curl_share);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->cfg.connect_timeout_ns / 1000000));
  curl_easy_setopt (h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (h, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt (h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
  curl_easy_setopt (h, CURLOPT_XFERINFODATA, &x);
  if (s->cfg.ca_file)
    curl_easy_setopt (h, CURLOPT_CAINFO, s->cfg.ca_file);
  if (req->method && strcmp (req->method, "HEAD") == 0)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (req->method && strcmp (req->method, "POST") == 0)
    {
      curl_easy_setopt (h, CURLOPT_POST, 1L);
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, req->post_body ? req->post_body : "");
    }
  if (req->accept)
    {
      cleanup_free char *a = xasprintf ("Accept: %s", req->accept);
      hdrs = curl_slist_append (hdrs, a);
    }
  if (req->authorization)
    {
      cleanup_free char *a = xasprintf ("Authorization: %s", req->authorization);
      hdrs = curl_slist_append (hdrs, a);
    }
  if (req->range_start > 0)
    {
      cleanup_free char *a = xasprintf ("Range: bytes=%" PRIu64 "-", req->range_start);
      hdrs = curl_slist_append (hdrs, a);
    }
  hdrs = curl_slist_append (hdrs, "Expect:");
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, hdrs);

  if (ctx)
    atomic_fetch_add (&ctx->requests, 1);
  rc = curl_easy_perform (h);
  if (!x.status_known)
    curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &resp->status);
  /* detach from the share: the store may be closed before this thread's handle goes */
  curl_easy_setopt (h, CURLOPT_SHARE, NULL);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, NULL);
  curl_slist_free_all (hdrs);
  resp->curl_code = (int)rc;

  if (rc == CURLE_OK)
    return 0;
  if (x.sink_failed)
    return -ECANCELED; /* the sink set its own error; the caller reads it there */
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    {
      if (x.stalled)
        return ic_err_code (err, EIO, "%s %s: no data for %.1f s (stalled)",
                            req->method ? req->method : "GET", req->url,
                            (double)s->cfg.stall_timeout_ns / 1e9);
      return ic_ctx_stop_error (ctx, err);
    }
  if (x.too_large)
    return berth_err_set (err, EFBIG, "%s %s: response larger than %zu bytes",
                          req->method ? req->method : "GET", req->url, req->max_body);
  if (transient_curl (rc))
    return ic_err_code (err, EIO, "%s %s: %s", req->method ? req->method : "GET", req->url,
                        *errbuf ? errbuf : curl_easy_strerror (rc));
  return ic_err_code (err, EPROTO, "%s %s: %s", req->method ? req->method : "GET", req->url,
                      *errbuf ? errbuf : curl_easy_strerror (rc));
}
