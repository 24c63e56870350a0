/* libcurl for the http source: one easy handle (kept, so its connection is reused) driven by
 * a private multi handle, so a thread blocks in curl_multi_poll() with no timer of its own
 * and another thread can interrupt it with curl_multi_wakeup(). */
#include "http-client.h"
#include "http-proto.h"

#include "berth-config.h"

#include <curl/curl.h>
#include <pthread.h>

struct http_client
{
  CURL *easy;
  CURLM *multi;
  char *base_url;
  char *token_file, *ca_file, *cert_file, *key_file;
  uint64_t max_response_bytes;
  bool cancelled; /* atomic */
  char errbuf[CURL_ERROR_SIZE];
};

struct transfer
{
  char *buf;
  size_t len, cap;
  uint64_t max;
  bool too_large;
  uint64_t retry_after_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

/* curl_global_init is not thread-safe in every libcurl build: once, before any handle. */
static void
curl_init_once (void)
{
  curl_init_result = curl_global_init (CURL_GLOBAL_DEFAULT);
}

void
http_response_clear (struct http_response *r)
{
  free (r->body);
  memset (r, 0, sizeof (*r));
}

int
http_read_token (const char *path, char **ret, berth_err *err)
{
  cleanup_free char *text = NULL;
  size_t len, start = 0;
  int r;

  r = berth_read_file_at (AT_FDCWD, path, 64 * 1024, &text, &len, err);
  if (r < 0)
    return berth_err_wrap (err, "token file");
  while (len > 0 && strchr (" \t\r\n", text[len - 1]))
    text[--len] = '\0';
  while (start < len && strchr (" \t\r\n", text[start]))
    start++;
  if (start == len)
    return berth_err_set (err, EINVAL, "token file `%s` is empty", path);
  for (size_t i = start; i < len; i++)
    if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
      return berth_err_set (err, EINVAL,
                            "token file `%s`: control character at byte %zu (one line expected)",
                            path, i);
  *ret = xstrdup (text + start);
  return 0;
}

int
http_client_new (const struct http_client_options *opts, struct http_client **ret, berth_err *err)
{
  struct http_client *c;

  pthread_once (&curl_once, curl_init_once);
  if (curl_init_result != CURLE_OK)
    return berth_err_set (err, EIO, "curl_global_init: %s", curl_easy_strerror (curl_init_result));
  c = xzalloc (sizeof (*c));
  c->easy = curl_easy_init ();
  c->multi = curl_multi_init ();
  if (c->easy == NULL || c->multi == NULL)
    abort ();
  c->base_url = xstrdup (opts->base_url);
  c->token_file = opts->token_file ? xstrdup (opts->token_file) : NULL;
  c->ca_file = opts->ca_file ? xstrdup (opts->ca_file) : NULL;
  c->cert_file = opts->cert_file ? xstrdup (opts->cert_file) : NULL;
  c->key_file = opts->key_file ? xstrdup (opts->key_file) : NULL;
  c->max_response_bytes = opts->max_response_bytes;
  *ret = c;
  return 0;
}

void
http_client_free (struct http_client *c)
{
  if (c == NULL)
    return;
  curl_multi_cleanup (c->multi);
  curl_easy_cleanup (c->easy);
  free (c->base_url);
  free (c->token_file);
  free (c->ca_file);
  free (c->cert_file);
  free (c->key_file);
  free (c);
}

void
http_client_cancel (struct http_client *c)
{
  __atomic_store_n (&c->cancelled, true, __ATOMIC_SEQ_CST);
  curl_multi_wakeup (c->multi);
}

static size_t
on_body (char *data, size_t size, size_t n, void *opaque)
{
  struct transfer *t = opaque;
  size_t len = size * n;

  if (t->len + len > t->max)
    {
      t->too_large = true;
      return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
  if (t->len + len + 1 > t->cap)
    {
      t->cap = (t->len + len + 1) * 2;
      t->buf = xrealloc (t->buf, t->cap);
    }
  memcpy (t->buf + t->len, data, len);
  t->len += len;
  t->buf[t->len] = '\0';
  return len;
}

static size_t
on_header (char *data, size_t size, size_t n, void *opaque)
{
  struct transfer *t = opaque;
  size_t len = size * n;
  uint64_t ms;

  if (http_proto_retry_after_ms (data, len, &ms))
    t->retry_after_ms = ms;
  return len;
}

static int
curl_error (struct http_client *c, CURLcode rc, struct transfer *t, const char *method,
            const char *url, berth_err *err)
{
  int code;

  if (__atomic_load_n (&c->cancelled, __ATOMIC_SEQ_CST))
    return berth_err_set (err, ECANCELED, "%s %s: cancelled", method, url);
  if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
    return berth_err_set (err, EFBIG, "%s %s: response larger than %" PRIu64 " bytes", method, url,
                          t->max);
  /* An if-chain, not a switch: CURLcode has ~100 values and -Wswitch-enum wants them all. */
  if (rc == CURLE_OPERATION_TIMEDOUT)
    code = ETIMEDOUT;
  else if (rc == CURLE_COULDNT_CONNECT)
    code = ECONNREFUSED;
  else if (rc == CURLE_COULDNT_RESOLVE_HOST)
    code = EHOSTUNREACH;
  else if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION
           || rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER
           || rc == CURLE_SSL_CACERT_BADFILE)
    code = EPROTO;
  else
    code = EIO;
  /* Not berth_err_set with code: curl's own words say more than strerror. */
  berth_err_set (err, 0, "%s %s: %s", method, url,
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror (rc));
  (*err)->code = code;
  return -code;
}

int
http_client_request (struct http_client *c, const char *method, const char *path, json_object *body,
                     long timeout_s, struct http_response *ret, berth_err *err)
{
  cleanup_free char *url = xasprintf ("%s%s", c->base_url, path);
  cleanup_free char *auth = NULL;
  struct curl_slist *headers = NULL;
  struct transfer t = { .max = c->max_response_bytes };
  CURLcode rc = CURLE_OK;
  bool done = false;
  long status = 0;
  int r;

  if (__atomic_load_n (&c->cancelled, __ATOMIC_SEQ_CST))
    return berth_err_set (err, ECANCELED, "%s %s: cancelled", method, url);
  if (c->token_file)
    {
      cleanup_free char *token = NULL;
      r = http_read_token (c->token_file, &token, err);
      if (r < 0)
        return berth_err_wrap (err, "%s %s", method, url);
      auth = xasprintf ("Authorization: Bearer %s", token);
      explicit_bzero (token, strlen (token));
    }

  curl_easy_reset (c->easy);
  c->errbuf[0] = '\0';
  curl_easy_setopt (c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt (c->easy, CURLOPT_URL, url);
  curl_easy_setopt (c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c->easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (c->easy, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt (c->easy, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt (c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (c->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_bytes);
  curl_easy_setopt (c->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (c->easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt (c->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (c->easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt (c->easy, CURLOPT_USERAGENT, "berthd/" BERTH_VERSION);
  if (c->ca_file)
    curl_easy_setopt (c->easy, CURLOPT_CAINFO, c->ca_file);
  if (c->cert_file)
    curl_easy_setopt (c->easy, CURLOPT_SSLCERT, c->cert_file);
  if (c->key_file)
    curl_easy_setopt (c->easy, CURLOPT_SSLKEY, c->key_file);

  headers = curl_slist_append (headers, "Accept: application/json");
  if (auth)
    headers = curl_slist_append (headers, auth);
  if (body)
    {
      headers = curl_slist_append (headers, "Content-Type: application/json");
      curl_easy_setopt (c->easy, CURLOPT_COPYPOSTFIELDS, bjson_to_string (body));
    }
  if (strcmp (method, "GET") == 0)
    curl_easy_setopt (c->easy, CURLOPT_HTTPGET, 1L);
  else
    curl_easy_setopt (c->easy, CURLOPT_CUSTOMREQUEST, method);
  /* No "Expect: 100-continue" round trip for the larger state-change batches. */
  headers = curl_slist_append (headers, "Expect:");
  curl_easy_setopt (c->easy, CURLOPT_HTTPHEADER, headers);

  curl_multi_add_handle (c->multi, c->easy);
  while (!done)
    {
      int running = 0, queued;
      CURLMsg *msg;

      curl_multi_perform (c->multi, &running);
      while ((msg = curl_multi_info_read (c->multi, &queued)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
          {
            rc = msg->data.result;
            done = true;
          }
      if (done)
        break;
      if (__atomic_load_n (&c->cancelled, __ATOMIC_SEQ_CST))
        {
          rc = CURLE_ABORTED_BY_CALLBACK;
          break;
        }
      /* Sleeps until the socket is ready, curl's own timer (connect/overall timeout)
       * fires, or curl_multi_wakeup(). */
      curl_multi_poll (c->multi, NULL, 0, 60 * 1000, NULL);
    }
  curl_multi_remove_handle (c->multi, c->easy);
  curl_slist_free_all (headers);
  if (auth)
    explicit_bzero (auth, strlen (auth));

  if (!done || rc != CURLE_OK)
    {
      r = curl_error (c, rc, &t, method, url, err);
      free (t.buf);
      return r;
    }
  curl_easy_getinfo (c->easy, CURLINFO_RESPONSE_CODE, &status);
  ret->status = status;
  ret->body = t.buf ? t.buf : xstrdup ("");
  ret->len = t.len;
  ret->retry_after_ms = t.retry_after_ms;
  return 0;
}
