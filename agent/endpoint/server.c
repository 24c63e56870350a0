/* berth-endpoint's HTTP side on libmicrohttpd: the agent API (/v1/..., optionally TLS with
 * client certificates and a bearer token) and the admin API (/admin/v1/..., loopback by
 * default) on separate listeners. Thread-per-connection mode: a long-poll blocks its own
 * thread on the store's condition variable, so waiting costs no CPU and needs no timer
 * machinery of our own. */
#include "endpoint.h"

#include "agent/sources/http-client.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>

#define DEFAULT_MAX_REQUEST (8u * 1024 * 1024)
/* Longer than the longest long-poll (300 s): MHD closes connections idle this long. */
#define CONNECTION_TIMEOUT_S 330

struct listener
{
  struct endpoint_server *srv;
  bool admin;
  char *token_file;
  bool verify_client;
};

struct endpoint_server
{
  struct endpoint_store *st;
  struct MHD_Daemon *agent, *admin;
  struct listener agent_l, admin_l;
  uint64_t max_request_bytes;
  char *key_pem, *cert_pem, *ca_pem;
};

struct request
{
  char *body;
  size_t len;
  bool too_large;
};

/* ------------------------------------------------------------------ helpers */

int
endpoint_parse_listen (const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
                       berth_err *err)
{
  cleanup_free char *host = NULL;
  const char *colon;
  uint32_t port;

  memset (ret, 0, sizeof (*ret));
  if (s[0] == '[')
    {
      const char *close = strchr (s, ']');
      if (close == NULL || close[1] != ':')
        return berth_err_set (err, 0, "listen address `%s`: expected [IPv6]:PORT", s);
      host = xstrndup (s + 1, (size_t)(close - s - 1));
      colon = close + 1;
    }
  else
    {
      colon = strrchr (s, ':');
      if (colon == NULL)
        return berth_err_set (err, 0, "listen address `%s`: expected HOST:PORT", s);
      host = xstrndup (s, (size_t)(colon - s));
    }
  if (berth_parse_uint32 (colon + 1, &port) < 0 || port > 65535)
    return berth_err_set (err, 0, "listen address `%s`: bad port", s);
  {
    struct sockaddr_in *a4 = (struct sockaddr_in *)ret;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ret;
    if (inet_pton (AF_INET, host, &a4->sin_addr) == 1)
      {
        a4->sin_family = AF_INET;
        a4->sin_port = htons ((uint16_t)port);
        *ret_len = sizeof (*a4);
        return 0;
      }
    if (inet_pton (AF_INET6, host, &a6->sin6_addr) == 1)
      {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons ((uint16_t)port);
        *ret_len = sizeof (*a6);
        return 0;
      }
  }
  return berth_err_set (err, 0, "listen address `%s`: `%s` is not an IP address", s, host);
}

static int
listen_socket (const char *addr, int *ret_fd, bool *ret_v6, berth_err *err)
{
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, one = 1, r;

  r = endpoint_parse_listen (addr, &ss, &len, err);
  if (r < 0)
    return r;
  fd = socket (ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "socket for `%s`", addr);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
  if (bind (fd, (struct sockaddr *)&ss, len) < 0 || listen (fd, 128) < 0)
    {
      r = berth_err_set (err, errno, "listen on `%s`", addr);
      close (fd);
      return r;
    }
  *ret_fd = fd;
  *ret_v6 = ss.ss_family == AF_INET6;
  return 0;
}

static enum MHD_Result
send_reply (struct MHD_Connection *c, struct endpoint_reply *r)
{
  const char *text = r->body ? bjson_to_string (r->body) : "";
  struct MHD_Response *resp
      = MHD_create_response_from_buffer (strlen (text), (void *)text, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret;

  if (resp == NULL)
    return MHD_NO;
  if (r->body)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (r->retry_after_s)
    {
      char buf[32];
      snprintf (buf, sizeof (buf), "%" PRIu64, r->retry_after_s);
      MHD_add_response_header (resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
    }
  ret = MHD_queue_response (c, r->status, resp);
  MHD_destroy_response (resp);
  return ret;
}

static bool
token_matches (const char *want, const char *got)
{
  size_t a = strlen (want), b = strlen (got);
  unsigned char diff = a != b;
  /* Constant time in the token's content: no early exit on the first wrong byte. */
  for (size_t i = 0; i < a; i++)
    diff |= (unsigned char)(want[i] ^ (i < b ? got[i] : 0));
  return diff == 0;
}

static bool
authorised (struct listener *l, struct MHD_Connection *c, struct endpoint_reply *r)
{
  if (l->verify_client)
    {
      const union MHD_ConnectionInfo *ci
          = MHD_get_connection_info (c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
      unsigned status = 0;
      int rc;

      if (ci == NULL || ci->tls_session == NULL)
        {
          endpoint_reply_error (r, 403, "Forbidden", "a TLS client certificate is required");
          return false;
        }
      rc = gnutls_certificate_verify_peers2 ((gnutls_session_t)ci->tls_session, &status);
      if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND)
        {
          endpoint_reply_error (r, 403, "Forbidden", "a TLS client certificate is required");
          return false;
        }
      if (rc < 0 || status != 0)
        {
          endpoint_reply_error (r, 403, "Forbidden",
                                "the TLS client certificate is not trusted (%s)",
                                rc < 0 ? gnutls_strerror (rc) : "verification failed");
          return false;
        }
    }
  if (l->token_file)
    {
      cleanup_free char *want = NULL;
      cleanup_err berth_err err = NULL;
      const char *h
          = MHD_lookup_connection_value (c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
      if (http_read_token (l->token_file, &want, &err) < 0)
        {
          endpoint_reply_error (r, 500, "Internal", "%s", berth_err_msg (&err));
          return false;
        }
      if (h == NULL || !str_has_prefix (h, "Bearer ") || !token_matches (want, h + 7))
        {
          endpoint_reply_error (r, 401, "Unauthorized",
                                h ? "bearer token refused" : "a bearer token is required");
          explicit_bzero (want, strlen (want));
          return false;
        }
      explicit_bzero (want, strlen (want));
    }
  return true;
}

static bool
query_u64 (struct MHD_Connection *c, const char *key, uint64_t def, uint64_t max, uint64_t *ret,
           struct endpoint_reply *r)
{
  const char *v = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, key);
  if (v == NULL)
    {
      *ret = def;
      return true;
    }
  if (berth_parse_uint64 (v, ret) < 0 || *ret > max)
    {
      endpoint_reply_error (r, 400, "BadRequest",
                            "query %s=%.40s: expected an integer up to %" PRIu64, key, v, max);
      return false;
    }
  return true;
}

/* "/prefix/<id>/rest" -> id (copied) and rest; false when it does not match. */
static bool
split_id (const char *url, const char *prefix, char **ret_id, const char **ret_rest)
{
  const char *p, *slash;
  if (!str_has_prefix (url, prefix))
    return false;
  p = url + strlen (prefix);
  slash = strchr (p, '/');
  *ret_id = slash ? xstrndup (p, (size_t)(slash - p)) : xstrdup (p);
  *ret_rest = slash ? slash : "";
  return true;
}

static bool
parse_body (struct request *req, json_object **ret, struct endpoint_reply *r)
{
  cleanup_err berth_err err = NULL;
  if (bjson_parse (req->body ? req->body : "", req->len, "request", ret, &err) < 0)
    {
      endpoint_reply_error (r, 400, "BadRequest", "%s", berth_err_msg (&err));
      return false;
    }
  if (!json_object_is_type (*ret, json_type_object))
    {
      json_object_put (*ret);
      *ret = NULL;
      endpoint_reply_error (r, 400, "BadRequest", "request: expected a JSON object");
      return false;
    }
  return true;
}

/* ------------------------------------------------------------------ routes */

static void
route_agent (struct endpoint_server *srv, struct MHD_Connection *c, const char *url,
             const char *method, struct request *req, struct endpoint_reply *r)
{
  cleanup_free char *node_id = NULL;
  cleanup_json json_object *body = NULL;
  const char *rest;
  bool post = strcmp (method, "POST") == 0, get = strcmp (method, "GET") == 0;

  if (strcmp (url, "/v1/register") == 0)
    {
      if (!post)
        endpoint_reply_error (r, 405, "BadRequest", "%s %s: use POST", method, url);
      else if (parse_body (req, &body, r))
        endpoint_store_register (srv->st, body, r);
      return;
    }
  if (!split_id (url, "/v1/nodes/", &node_id, &rest))
    {
      endpoint_reply_error (r, 404, "NotFound", "no such path %s", url);
      return;
    }
  if (!http_proto_valid_id (node_id))
    {
      endpoint_reply_error (r, 400, "BadRequest", "node id \"%.160s\" is not a valid identifier",
                            node_id);
      return;
    }
  if (strcmp (rest, "/assignments") == 0 && get)
    {
      uint64_t generation, wait_s;
      if (query_u64 (c, "generation", 0, INT64_MAX - 1, &generation, r)
          && query_u64 (c, "wait", 30, 300, &wait_s, r))
        endpoint_store_assignments (srv->st, node_id, generation, wait_s, r);
      return;
    }
  if (!post)
    {
      endpoint_reply_error (r, 404, "NotFound", "no such path %s %s", method, url);
      return;
    }
  if (strcmp (rest, "/assignments/ack") == 0)
    {
      if (parse_body (req, &body, r))
        endpoint_store_assignment_ack (srv->st, node_id, body, r);
    }
  else if (strcmp (rest, "/state-changes") == 0)
    {
      if (parse_body (req, &body, r))
        endpoint_store_state_changes (srv->st, node_id, body, r);
    }
  else if (strcmp (rest, "/heartbeat") == 0)
    {
      if (parse_body (req, &body, r))
        endpoint_store_heartbeat (srv->st, node_id, body, r);
    }
  else
    endpoint_reply_error (r, 404, "NotFound", "no such path %s", url);
}

static void
route_admin (struct endpoint_server *srv, struct MHD_Connection *c, const char *url,
             const char *method, struct request *req, struct endpoint_reply *r)
{
  cleanup_free char *task_id = NULL;
  cleanup_json json_object *body = NULL;
  const char *rest;
  bool post = strcmp (method, "POST") == 0, get = strcmp (method, "GET") == 0;

  if (strcmp (url, "/admin/v1/tasks") == 0)
    {
      if (post)
        {
          if (parse_body (req, &body, r))
            endpoint_store_submit (srv->st, body, r);
        }
      else if (get)
        endpoint_store_list_tasks (srv->st, NULL, r);
      else
        endpoint_reply_error (r, 405, "BadRequest", "%s %s: use GET or POST", method, url);
      return;
    }
  if (strcmp (url, "/admin/v1/nodes") == 0 && get)
    {
      endpoint_store_list_nodes (srv->st, r);
      return;
    }
  if (strcmp (url, "/admin/v1/events") == 0 && get)
    {
      uint64_t after, limit, wait_s;
      const char *node = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "node");
      const char *task = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "task");
      if (query_u64 (c, "after", 0, INT64_MAX - 1, &after, r)
          && query_u64 (c, "limit", 1000, 100000, &limit, r)
          && query_u64 (c, "wait", 0, 300, &wait_s, r))
        endpoint_store_events (srv->st, after, node, task, limit, wait_s, r);
      return;
    }
  if (split_id (url, "/admin/v1/tasks/", &task_id, &rest))
    {
      if (strcmp (rest, "") == 0 && get)
        endpoint_store_list_tasks (srv->st, task_id, r);
      else if (strcmp (rest, "/stop") == 0 && post)
        endpoint_store_stop_task (srv->st, task_id, r);
      else
        endpoint_reply_error (r, 404, "NotFound", "no such path %s %s", method, url);
      return;
    }
  endpoint_reply_error (r, 404, "NotFound", "no such path %s %s", method, url);
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *c, const char *url, const char *method,
            const char *version BERTH_UNUSED, const char *upload_data, size_t *upload_data_size,
            void **con_cls)
{
  struct listener *l = cls;
  struct endpoint_server *srv = l->srv;
  struct request *req = *con_cls;
  struct endpoint_reply r = { 0 };
  enum MHD_Result ret;

  if (req == NULL)
    {
      *con_cls = xzalloc (sizeof (struct request));
      return MHD_YES;
    }
  if (*upload_data_size > 0)
    {
      if (!req->too_large)
        {
          if (req->len + *upload_data_size > srv->max_request_bytes)
            {
              req->too_large = true;
              free (req->body);
              req->body = NULL;
              req->len = 0;
            }
          else
            {
              req->body = xrealloc (req->body, req->len + *upload_data_size + 1);
              memcpy (req->body + req->len, upload_data, *upload_data_size);
              req->len += *upload_data_size;
              req->body[req->len] = '\0';
            }
        }
      *upload_data_size = 0;
      return MHD_YES;
    }

  if (req->too_large)
    endpoint_reply_error (&r, 413, "TooLarge", "request body larger than %" PRIu64 " bytes",
                          srv->max_request_bytes);
  else if (authorised (l, c, &r))
    {
      if (l->admin)
        route_admin (srv, c, url, method, req, &r);
      else
        route_agent (srv, c, url, method, req, &r);
    }
  if ((r.status >= 500 && r.status != 503) || (l->admin && r.status >= 400))
    log_warning ("%s %s: %u %s", method, url, r.status, r.body ? bjson_to_string (r.body) : "");
  else
    log_debug ("%s %s: %u", method, url, r.status);
  ret = send_reply (c, &r);
  endpoint_reply_clear (&r);
  return ret;
}

static void
on_completed (void *cls BERTH_UNUSED, struct MHD_Connection *c BERTH_UNUSED, void **con_cls,
              enum MHD_RequestTerminationCode toe BERTH_UNUSED)
{
  struct request *req = *con_cls;
  if (req)
    {
      free (req->body);
      free (req);
    }
  *con_cls = NULL;
}

static void BERTH_PRINTF (2, 0) on_mhd_log (void *cls BERTH_UNUSED, const char *fmt, va_list ap)
{
  cleanup_free char *msg = NULL;
  size_t n;
  if (vasprintf (&msg, fmt, ap) < 0)
    return;
  n = strlen (msg);
  while (n > 0 && msg[n - 1] == '\n')
    msg[--n] = '\0';
  log_debug ("microhttpd: %s", msg);
}

/* ------------------------------------------------------------------ start / stop */

static struct MHD_Daemon *
start_daemon (struct endpoint_server *srv, struct listener *l, int fd, bool v6, bool tls)
{
  /* poll(), not the default select(), in each connection's thread: select() cannot watch an
   * fd above 1023, which a busy endpoint reaches. */
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL
                   | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
  struct MHD_OptionItem opts[12];
  size_t n = 0;

  /* The logger first, so that MHD's own complaints about later options reach it. */
  opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL };
  opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
  opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL };
  opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, NULL };
  opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_STACK_SIZE, 256 * 1024, NULL };
  if (tls)
    {
      opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem };
      opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem };
      if (srv->ca_pem)
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->ca_pem };
    }
  opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
  return MHD_start_daemon (flags, 0, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts,
                           MHD_OPTION_END);
}

static int
read_pem (const char *what, const char *path, char **ret, berth_err *err)
{
  size_t len;
  int r = berth_read_file_at (AT_FDCWD, path, 1024 * 1024, ret, &len, err);
  if (r < 0)
    return berth_err_wrap (err, "%s", what);
  return 0;
}

void
endpoint_server_stop (struct endpoint_server *srv)
{
  if (srv == NULL)
    return;
  /* Long-polls answer at once, so stopping does not wait for them to time out. */
  endpoint_store_shutdown (srv->st);
  if (srv->agent)
    MHD_stop_daemon (srv->agent);
  if (srv->admin)
    MHD_stop_daemon (srv->admin);
  free (srv->agent_l.token_file);
  free (srv->admin_l.token_file);
  free (srv->key_pem);
  free (srv->cert_pem);
  free (srv->ca_pem);
  free (srv);
}

int
endpoint_server_start (struct endpoint_store *st, const struct endpoint_server_options *o,
                       struct endpoint_server **ret, berth_err *err)
{
  struct endpoint_server *srv = xzalloc (sizeof (*srv));
  bool tls = o->tls_cert_file != NULL, v6;
  int fd = -1, r;

  srv->st = st;
  srv->max_request_bytes = o->max_request_bytes ? o->max_request_bytes : DEFAULT_MAX_REQUEST;
  srv->agent_l = (struct listener){ .srv = srv,
                                    .admin = false,
                                    .token_file = o->token_file ? xstrdup (o->token_file) : NULL,
                                    .verify_client = o->client_ca_file != NULL };
  srv->admin_l = (struct listener){ .srv = srv,
                                    .admin = true,
                                    .token_file
                                    = o->admin_token_file ? xstrdup (o->admin_token_file) : NULL };
  if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL))
    {
      r = berth_err_set (err, 0, "TLS needs both --tls-cert and --tls-key");
      goto fail;
    }
  if (o->client_ca_file && !tls)
    {
      r = berth_err_set (err, 0, "--client-ca needs TLS (--tls-cert and --tls-key)");
      goto fail;
    }
  if (tls
      && ((r = read_pem ("--tls-cert", o->tls_cert_file, &srv->cert_pem, err)) < 0
          || (r = read_pem ("--tls-key", o->tls_key_file, &srv->key_pem, err)) < 0))
    goto fail;
  if (o->client_ca_file && (r = read_pem ("--client-ca", o->client_ca_file, &srv->ca_pem, err)) < 0)
    goto fail;
  if (o->token_file)
    {
      cleanup_free char *t = NULL;
      if ((r = http_read_token (o->token_file, &t, err)) < 0)
        goto fail;
    }
  if (o->admin_token_file)
    {
      cleanup_free char *t = NULL;
      if ((r = http_read_token (o->admin_token_file, &t, err)) < 0)
        goto fail;
    }

  if ((r = listen_socket (o->listen, &fd, &v6, err)) < 0)
    goto fail;
  srv->agent = start_daemon (srv, &srv->agent_l, fd, v6, tls);
  if (srv->agent == NULL)
    {
      close (fd);
      r = berth_err_set (err, 0, "start the agent listener on `%s` (libmicrohttpd%s)", o->listen,
                         tls ? ": check the TLS certificate and key" : "");
      goto fail;
    }
  if ((r = listen_socket (o->admin_listen, &fd, &v6, err)) < 0)
    goto fail;
  srv->admin = start_daemon (srv, &srv->admin_l, fd, v6, false);
  if (srv->admin == NULL)
    {
      close (fd);
      r = berth_err_set (err, 0, "start the admin listener on `%s`", o->admin_listen);
      goto fail;
    }
  *ret = srv;
  return 0;
fail:
  endpoint_server_stop (srv);
  return r;
}
