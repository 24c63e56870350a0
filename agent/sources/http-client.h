/* One HTTP(S) connection to a control endpoint for one thread of the http source: libcurl
 * with a private multi handle, so a request (a 30 s long-poll included) blocks in poll(2)
 * at no CPU cost and can still be cancelled at once from another thread. */
#ifndef BERTH_AGENT_HTTP_CLIENT_H
#define BERTH_AGENT_HTTP_CLIENT_H

#include "common/common.h"

struct http_client;

struct http_client_options
{
  const char *base_url;        /* requests go to base_url + path */
  const char *token_file;      /* bearer token, read at every request; may be NULL */
  const char *ca_file;         /* NULL: the system trust store */
  const char *cert_file;       /* client certificate; may be NULL */
  const char *key_file;        /* its key */
  uint64_t max_response_bytes; /* larger bodies fail with EFBIG */
};

struct http_response
{
  long status; /* HTTP status */
  char *body;  /* NUL-terminated */
  size_t len;
  uint64_t retry_after_ms; /* Retry-After in milliseconds, 0 when absent */
};

void http_response_clear (struct http_response *r);

int http_client_new (const struct http_client_options *opts, struct http_client **ret,
                     berth_err *err);
void http_client_free (struct http_client *c);

/* Sends one request (body may be NULL: no body) and waits for the whole response, at most
 * timeout_s seconds. Returns 0 with *ret filled whatever the HTTP status; negative when no
 * usable response arrived: connection or TLS failure, timeout (ETIMEDOUT), a body larger
 * than the limit (EFBIG), or http_client_cancel (ECANCELED). */
int http_client_request (struct http_client *c, const char *method, const char *path,
                         json_object *body, long timeout_s, struct http_response *ret,
                         berth_err *err);

/* Thread-safe: makes the request in progress, and every later one, fail with ECANCELED. */
void http_client_cancel (struct http_client *c);

/* The bearer token in a file: surrounding whitespace removed; empty or multi-line tokens
 * are refused (a header must not be split). */
int http_read_token (const char *path, char **ret, berth_err *err);

#endif
