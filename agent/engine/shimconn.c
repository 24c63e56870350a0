/* The engine's side of the shim protocol: an asynchronous client on the event loop that
 * matches answers to requests by id, queues sends the socket cannot take yet, and passes
 * events on. */
#include "engine-internal.h"

struct pending
{
  struct pending *next;
  int64_t id;
  shimconn_reply_fn fn;
  void *data;
};

struct outgoing
{
  struct outgoing *next;
  json_object *msg;
  int fds[BERTH_MSG_MAX_FDS];
  size_t n_fds;
};

struct shimconn
{
  struct berth_loop *loop;
  int fd;
  struct berth_loop_source *src;
  int64_t next_id;
  struct pending *pending;
  struct outgoing *out_head, **out_tail;
  shimconn_event_fn on_event;
  shimconn_closed_fn on_closed;
  void *data;
  bool closed;
  bool in_dispatch;  /* inside on_io: a callback may close us, the free waits */
  bool free_pending;
};

static void
conn_free (struct shimconn *c)
{
  if (c->fd >= 0)
    close (c->fd);
  free (c);
}

static void
fail_pending (struct shimconn *c, const char *why)
{
  while (c->pending)
    {
      struct pending *p = c->pending;
      c->pending = p->next;
      if (p->fn)
        {
          json_object *r = json_object_new_object ();
          json_object_object_add (r, "ok", json_object_new_boolean (false));
          json_object_object_add (r, "error", json_object_new_string (why));
          p->fn (c, r, NULL, 0, p->data);
          json_object_put (r);
        }
      free (p);
    }
}

static void
drop_outgoing (struct shimconn *c)
{
  while (c->out_head)
    {
      struct outgoing *o = c->out_head;
      c->out_head = o->next;
      json_object_put (o->msg);
      for (size_t i = 0; i < o->n_fds; i++)
        close (o->fds[i]);
      free (o);
    }
  c->out_tail = &c->out_head;
}

static void
conn_lost (struct shimconn *c)
{
  if (c->closed)
    return;
  c->closed = true;
  berth_loop_remove (c->src);
  c->src = NULL;
  drop_outgoing (c);
  fail_pending (c, "connection to berth-shim lost");
  if (c->on_closed)
    c->on_closed (c, c->data);
}

static int
flush_outgoing (struct shimconn *c)
{
  while (c->out_head)
    {
      struct outgoing *o = c->out_head;
      int r = berth_msg_send (c->fd, o->msg, o->fds, o->n_fds, NULL);
      if (r == -EAGAIN)
        return 0;
      c->out_head = o->next;
      if (c->out_head == NULL)
        c->out_tail = &c->out_head;
      json_object_put (o->msg);
      for (size_t i = 0; i < o->n_fds; i++)
        close (o->fds[i]);
      free (o);
      if (r < 0)
        return r;
    }
  return 0;
}

static int
on_io (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct shimconn *c = data;
  (void) src;
  c->in_dispatch = true;
  if (revents & EPOLLOUT)
    {
      if (flush_outgoing (c) < 0)
        {
          conn_lost (c);
          goto out;
        }
      if (c->out_head == NULL)
        berth_loop_io_set_events (c->src, EPOLLIN, NULL);
    }
  if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
    for (int rounds = 0; rounds < 32 && !c->closed; rounds++)
      {
        json_object *msg = NULL;
        int fds[BERTH_MSG_MAX_FDS];
        size_t n_fds = 0;
        const char *event = NULL;
        int64_t id = 0;
        int r = berth_msg_recv (fd, &msg, fds, &n_fds, NULL);

        if (r == -EAGAIN)
          break;
        if (r <= 0)
          {
            for (size_t i = 0; i < n_fds; i++)
              close (fds[i]);
            if (r == 0 || r != -EINVAL)
              {
                conn_lost (c);
                goto out;
              }
            continue; /* a malformed message: ignore it */
          }
        if (bjson_get_string (msg, "", "event", 0, &event, NULL) > 0)
          {
            if (c->on_event)
              c->on_event (c, msg, c->data);
          }
        else if (bjson_get_int64 (msg, "", "id", 0, INT64_MIN, INT64_MAX, &id, NULL) > 0)
          {
            struct pending **pp, *p = NULL;
            for (pp = &c->pending; *pp; pp = &(*pp)->next)
              if ((*pp)->id == id)
                {
                  p = *pp;
                  *pp = p->next;
                  break;
                }
            if (p && p->fn)
              p->fn (c, msg, fds, n_fds, p->data);
            free (p);
          }
        json_object_put (msg);
        for (size_t i = 0; i < n_fds; i++)
          close (fds[i]);
        if (c->free_pending)
          break;
      }
out:
  c->in_dispatch = false;
  if (c->free_pending)
    conn_free (c);
  return 0;
}

int
shimconn_connect (struct berth_loop *loop, const char *path, shimconn_event_fn on_event,
                  shimconn_closed_fn on_closed, void *data, struct shimconn **ret, berth_err *err)
{
  struct shimconn *c;
  int fd = berth_msg_connect (path, true, err);
  if (fd < 0)
    return fd;
  c = xzalloc (sizeof *c);
  c->loop = loop;
  c->fd = fd;
  c->next_id = 1;
  c->out_tail = &c->out_head;
  c->on_event = on_event;
  c->on_closed = on_closed;
  c->data = data;
  if (berth_loop_add_io (loop, fd, EPOLLIN, on_io, c, &c->src, err) < 0)
    {
      conn_free (c);
      return -EIO;
    }
  *ret = c;
  return 0;
}

int
shimconn_call (struct shimconn *c, const char *op, json_object *args, const int *fds,
               size_t n_fds, shimconn_reply_fn reply, void *data, berth_err *err)
{
  json_object *msg = args ? args : json_object_new_object ();
  struct pending *p;
  struct outgoing *o;
  int64_t id;

  if (c->closed)
    {
      json_object_put (msg);
      return berth_err_set (err, ENOTCONN, "berth-shim connection is closed");
    }
  id = c->next_id++;
  json_object_object_add (msg, "id", json_object_new_int64 (id));
  json_object_object_add (msg, "op", json_object_new_string (op));
  o = xzalloc (sizeof *o);
  o->msg = msg;
  for (size_t i = 0; i < n_fds && i < BERTH_MSG_MAX_FDS; i++)
    {
      o->fds[i] = fcntl (fds[i], F_DUPFD_CLOEXEC, 3);
      if (o->fds[i] < 0)
        {
          int e = errno;
          for (size_t j = 0; j < i; j++)
            close (o->fds[j]);
          json_object_put (msg);
          free (o);
          return berth_err_set (err, e, "dup fd for berth-shim");
        }
      o->n_fds++;
    }
  p = xzalloc (sizeof *p);
  p->id = id;
  p->fn = reply;
  p->data = data;
  p->next = c->pending;
  c->pending = p;
  *c->out_tail = o;
  c->out_tail = &o->next;
  if (flush_outgoing (c) < 0)
    {
      conn_lost (c);
      return 0; /* the reply callback already got the error */
    }
  if (c->out_head)
    berth_loop_io_set_events (c->src, EPOLLIN | EPOLLOUT, NULL);
  return 0;
}

void
shimconn_forget (struct shimconn *c, void *data)
{
  for (struct pending *p = c->pending; p; p = p->next)
    if (p->data == data)
      p->fn = NULL;
}

void
shimconn_close (struct shimconn *c)
{
  if (c == NULL)
    return;
  c->on_closed = NULL;
  conn_lost (c);
  if (c->in_dispatch)
    c->free_pending = true;
  else
    conn_free (c);
}
