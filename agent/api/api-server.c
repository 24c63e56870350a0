/* The local API server: one JSON request per message, one answer per request, and pushed
 * events for `berth events` and for the exit of `berth exec` processes. Callers pass
 * their stdio (exec) as fds; a tty exec gets the pty master back the same way. */
#include "api.h"
#include "berth-config.h"

#include <sys/socket.h>

struct api_client;

struct api_server
{
  struct berth_loop *loop;
  struct engine *engine;
  int fd;
  char *path;
  struct berth_loop_source *src;
  struct api_client *clients;
};

struct api_client
{
  struct api_client *next;
  struct api_server *server;
  int fd;
  struct berth_loop_source *src;
  bool subscribed;
  int64_t exec_req_id;
};

static void
send_msg (struct api_client *cl, json_object *m, const int *fds, size_t n)
{
  berth_err err = NULL;
  if (berth_msg_send (cl->fd, m, fds, n, &err) < 0)
    {
      log_debug ("api: send: %s", err ? berth_err_msg (&err) : "client queue full");
      berth_err_free (&err);
    }
}

static void
reply (struct api_client *cl, int64_t id, json_object *body, const int *fds, size_t n)
{
  if (body == NULL)
    body = json_object_new_object ();
  json_object_object_add (body, "id", json_object_new_int64 (id));
  json_object_object_add (body, "ok", json_object_new_boolean (true));
  send_msg (cl, body, fds, n);
  json_object_put (body);
}

static void
reply_error (struct api_client *cl, int64_t id, int code, const char *msg)
{
  json_object *body = json_object_new_object ();
  json_object_object_add (body, "id", json_object_new_int64 (id));
  json_object_object_add (body, "ok", json_object_new_boolean (false));
  json_object_object_add (body, "error", json_object_new_string (msg));
  json_object_object_add (body, "errno", json_object_new_int (code));
  send_msg (cl, body, NULL, 0);
  json_object_put (body);
}

static void
on_change (json_object *change, void *data)
{
  struct api_client *cl = data;
  json_object *ev = json_object_new_object ();
  json_object_object_add (ev, "event", json_object_new_string ("task"));
  json_object_object_add (ev, "change", json_object_get (change));
  send_msg (cl, ev, NULL, 0);
  json_object_put (ev);
}

static void
exec_started (void *data, int status, const char *error, const char *exec_id, int pty_fd)
{
  struct api_client *cl = data;
  if (status < 0)
    {
      reply_error (cl, cl->exec_req_id, -status, error);
      return;
    }
  {
    json_object *b = json_object_new_object ();
    json_object_object_add (b, "exec_id", json_object_new_string (exec_id));
    reply (cl, cl->exec_req_id, b, pty_fd >= 0 ? &pty_fd : NULL, pty_fd >= 0 ? 1 : 0);
  }
}

static void
exec_exited (void *data, int code)
{
  struct api_client *cl = data;
  json_object *ev = json_object_new_object ();
  json_object_object_add (ev, "event", json_object_new_string ("exec-exit"));
  json_object_object_add (ev, "exit_code", json_object_new_int (code));
  send_msg (cl, ev, NULL, 0);
  json_object_put (ev);
}

/* A task named by id or unique prefix. */
static char *
task_arg (struct api_client *cl, int64_t id, json_object *req)
{
  const char *task = NULL;
  char *full = NULL;
  berth_err err = NULL;
  if (bjson_get_string (req, "", "task", BJSON_REQUIRED, &task, &err) < 0
      || engine_task_resolve (cl->server->engine, task, &full, &err) < 0)
    {
      reply_error (cl, id, berth_err_code (&err), berth_err_msg (&err));
      berth_err_free (&err);
      return NULL;
    }
  return full;
}

static void
handle (struct api_client *cl, json_object *req, int *fds, size_t n_fds)
{
  struct engine *e = cl->server->engine;
  cleanup_err berth_err err = NULL;
  const char *op = NULL;
  int64_t id = 0;

  if (bjson_get_int64 (req, "", "id", BJSON_REQUIRED, INT64_MIN, INT64_MAX, &id, &err) < 0
      || bjson_get_string (req, "", "op", BJSON_REQUIRED, &op, &err) < 0)
    {
      reply_error (cl, id, 0, berth_err_msg (&err));
      return;
    }
  if (strcmp (op, "ping") == 0)
    {
      json_object *b = json_object_new_object ();
      json_object_object_add (b, "version", json_object_new_string (BERTH_VERSION));
      reply (cl, id, b, NULL, 0);
    }
  else if (strcmp (op, "info") == 0)
    {
      json_object *b = json_object_new_object ();
      json_object_object_add (b, "node", source_sink_node_snapshot (engine_sink (e)));
      reply (cl, id, b, NULL, 0);
    }
  else if (strcmp (op, "run") == 0)
    {
      json_object *def = NULL;
      cleanup_free char *task = NULL;
      if (bjson_get (req, "", "definition", json_type_object, BJSON_REQUIRED, &def, &err) < 0)
        reply_error (cl, id, 0, berth_err_msg (&err));
      else if (engine_task_run (e, def, &task, &err) < 0)
        {
          json_object *b = json_object_new_object ();
          json_object_object_add (b, "id", json_object_new_int64 (id));
          json_object_object_add (b, "ok", json_object_new_boolean (false));
          json_object_object_add (b, "error", json_object_new_string (berth_err_msg (&err)));
          if (task)
            json_object_object_add (b, "task_id", json_object_new_string (task));
          send_msg (cl, b, NULL, 0);
          json_object_put (b);
        }
      else
        {
          json_object *b = json_object_new_object ();
          json_object_object_add (b, "task_id", json_object_new_string (task));
          reply (cl, id, b, NULL, 0);
        }
    }
  else if (strcmp (op, "ps") == 0)
    {
      bool all = false;
      json_object *b = json_object_new_object ();
      bjson_get_bool (req, "", "all", 0, &all, NULL);
      json_object_object_add (b, "tasks", engine_task_list (e, all));
      reply (cl, id, b, NULL, 0);
    }
  else if (strcmp (op, "inspect") == 0 || strcmp (op, "stop") == 0 || strcmp (op, "rm") == 0
           || strcmp (op, "logs") == 0)
    {
      cleanup_free char *task = task_arg (cl, id, req);
      if (task == NULL)
        return;
      if (strcmp (op, "inspect") == 0)
        {
          json_object *b = json_object_new_object ();
          json_object_object_add (b, "task", engine_task_inspect (e, task));
          reply (cl, id, b, NULL, 0);
        }
      else if (strcmp (op, "stop") == 0)
        {
          if (engine_task_stop (e, task, "Task stopped by berth stop", &err) < 0)
            reply_error (cl, id, berth_err_code (&err), berth_err_msg (&err));
          else
            {
              json_object *b = json_object_new_object ();
              json_object_object_add (b, "task_id", json_object_new_string (task));
              reply (cl, id, b, NULL, 0);
            }
        }
      else if (strcmp (op, "rm") == 0)
        {
          bool force = false;
          bjson_get_bool (req, "", "force", 0, &force, NULL);
          if (engine_task_remove (e, task, force, &err) < 0)
            reply_error (cl, id, berth_err_code (&err), berth_err_msg (&err));
          else
            reply (cl, id, NULL, NULL, 0);
        }
      else
        {
          const char *container = NULL;
          json_object *logs;
          bjson_get_string (req, "", "container", 0, &container, NULL);
          logs = engine_task_logs (e, task, container, &err);
          if (logs == NULL)
            reply_error (cl, id, berth_err_code (&err), berth_err_msg (&err));
          else
            {
              json_object *b = json_object_new_object ();
              json_object_object_add (b, "logs", logs);
              reply (cl, id, b, NULL, 0);
            }
        }
    }
  else if (strcmp (op, "stats") == 0)
    {
      const char *task = NULL;
      cleanup_free char *full = NULL;
      json_object *b;
      bjson_get_string (req, "", "task", 0, &task, NULL);
      if (task && engine_task_resolve (e, task, &full, &err) < 0)
        {
          reply_error (cl, id, berth_err_code (&err), berth_err_msg (&err));
          return;
        }
      b = json_object_new_object ();
      json_object_object_add (b, "stats", engine_stats (e, full));
      reply (cl, id, b, NULL, 0);
    }
  else if (strcmp (op, "events") == 0)
    {
      if (!cl->subscribed)
        engine_subscribe (e, on_change, cl);
      cl->subscribed = true;
      reply (cl, id, NULL, NULL, 0);
    }
  else if (strcmp (op, "exec") == 0)
    {
      cleanup_free char *task = task_arg (cl, id, req);
      const char *container = NULL;
      struct engine_exec_cb cb = { exec_started, exec_exited, cl };
      if (task == NULL)
        return;
      bjson_get_string (req, "", "container", 0, &container, NULL);
      cl->exec_req_id = id;
      if (engine_exec (e, task, container, req, fds, n_fds, &cb, &err) < 0)
        reply_error (cl, id, berth_err_code (&err), berth_err_msg (&err));
    }
  else
    {
      cleanup_free char *msg = xasprintf ("unknown op `%s`", op);
      reply_error (cl, id, 0, msg);
    }
}

static void
client_close (struct api_client *cl)
{
  struct api_server *s = cl->server;
  for (struct api_client **p = &s->clients; *p; p = &(*p)->next)
    if (*p == cl)
      {
        *p = cl->next;
        break;
      }
  if (cl->subscribed)
    engine_unsubscribe (s->engine, cl);
  engine_exec_forget (s->engine, cl);
  berth_loop_remove (cl->src);
  close (cl->fd);
  free (cl);
}

static int
on_client (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct api_client *cl = data;
  int fds[BERTH_MSG_MAX_FDS];
  size_t n_fds = 0;
  json_object *req = NULL;
  cleanup_err berth_err err = NULL;
  int r;
  (void) src;
  (void) revents;

  r = berth_msg_recv (fd, &req, fds, &n_fds, &err);
  if (r == -EAGAIN)
    return 0;
  if (r > 0)
    handle (cl, req, fds, n_fds);
  else if (r < 0 && berth_err_code (&err) != ECONNRESET)
    reply_error (cl, 0, 0, berth_err_msg (&err));
  json_object_put (req);
  for (size_t i = 0; i < n_fds; i++)
    close (fds[i]);
  if (r == 0 || (r < 0 && berth_err_code (&err) == ECONNRESET))
    client_close (cl);
  return 0;
}

static int
on_accept (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct api_server *s = data;
  struct api_client *cl;
  struct ucred cred;
  socklen_t len = sizeof cred;
  int c;
  (void) src;
  (void) revents;
  c = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0)
    return 0;
  /* The socket is mode 0600 already; the peer check keeps it root-only even if someone
   * loosens the file mode. */
  if (getsockopt (c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0)
    {
      close (c);
      return 0;
    }
  cl = xzalloc (sizeof *cl);
  cl->server = s;
  cl->fd = c;
  if (berth_loop_add_io (s->loop, c, EPOLLIN, on_client, cl, &cl->src, NULL) < 0)
    {
      close (c);
      free (cl);
      return 0;
    }
  cl->next = s->clients;
  s->clients = cl;
  return 0;
}

int
api_server_open (struct berth_loop *loop, struct engine *engine, const char *path, struct api_server **ret,
                 berth_err *err)
{
  struct api_server *s;
  int fd = berth_msg_listen (path, err);
  if (fd < 0)
    return fd;
  s = xzalloc (sizeof *s);
  s->loop = loop;
  s->engine = engine;
  s->fd = fd;
  s->path = xstrdup (path);
  if (berth_loop_add_io (loop, fd, EPOLLIN, on_accept, s, &s->src, err) < 0)
    {
      close (fd);
      free (s->path);
      free (s);
      return -EIO;
    }
  *ret = s;
  return 0;
}

void
api_server_free (struct api_server *s)
{
  if (s == NULL)
    return;
  while (s->clients)
    client_close (s->clients);
  berth_loop_remove (s->src);
  close (s->fd);
  unlink (s->path);
  free (s->path);
  free (s);
}
