/* Blocking client of the local API: connect, call, read pushed events. */
#include "client.h"

int
api_client_connect (struct api_client *c, berth_err *err)
{
  const char *path = getenv ("BERTH_API_SOCKET");
  int fd;
  if (path == NULL || *path == '\0')
    path = BERTH_DEFAULT_API_SOCKET;
  fd = berth_msg_connect (path, false, err);
  if (fd < 0)
    return berth_err_wrap (err, "is berthd running? (BERTH_API_SOCKET=%s)", path);
  c->fd = fd;
  c->next_id = 1;
  return 0;
}

void
api_client_close (struct api_client *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
}

int
api_client_call (struct api_client *c, const char *op, json_object *args, const int *fds, size_t n_fds,
                 json_object **ret, int *ret_fd, berth_err *err)
{
  json_object *msg = args ? args : json_object_new_object ();
  int64_t id = c->next_id++;
  int r;

  json_object_object_add (msg, "id", json_object_new_int64 (id));
  json_object_object_add (msg, "op", json_object_new_string (op));
  /* a blocking socket: berth_msg_send's MSG_DONTWAIT only matters when berthd is stuck */
  r = berth_msg_send (c->fd, msg, fds, n_fds, err);
  json_object_put (msg);
  if (r == -EAGAIN)
    return berth_err_set (err, EAGAIN, "berthd does not read its API socket");
  if (r < 0)
    return r;
  for (;;)
    {
      json_object *m = NULL;
      int got[BERTH_MSG_MAX_FDS];
      size_t n_got = 0;
      int64_t rid = 0;
      bool ok = false;
      r = berth_msg_recv (c->fd, &m, got, &n_got, err);
      if (r == 0)
        return berth_err_set (err, ECONNRESET, "berthd closed the connection");
      if (r < 0)
        return r;
      if (json_object_object_get_ex (m, "event", NULL)
          || bjson_get_int64 (m, "", "id", 0, INT64_MIN, INT64_MAX, &rid, NULL) <= 0 || rid != id)
        {
          for (size_t i = 0; i < n_got; i++)
            close (got[i]);
          json_object_put (m);
          continue;
        }
      bjson_get_bool (m, "", "ok", 0, &ok, NULL);
      if (!ok)
        {
          const char *msgs = "request failed";
          int32_t code = 0;
          bjson_get_string (m, "", "error", 0, &msgs, NULL);
          bjson_get_int32 (m, "", "errno", 0, &code, NULL);
          r = berth_err_set (err, 0, "%s", msgs);
          (void) code;
          for (size_t i = 0; i < n_got; i++)
            close (got[i]);
          if (ret)
            *ret = m;
          else
            json_object_put (m);
          return r;
        }
      if (ret_fd)
        *ret_fd = n_got > 0 ? got[0] : -1;
      for (size_t i = ret_fd ? 1 : 0; i < n_got; i++)
        close (got[i]);
      if (ret)
        *ret = m;
      else
        json_object_put (m);
      return 0;
    }
}

int
api_client_next_event (struct api_client *c, json_object **ret, berth_err *err)
{
  for (;;)
    {
      json_object *m = NULL;
      int got[BERTH_MSG_MAX_FDS];
      size_t n_got = 0;
      int r = berth_msg_recv (c->fd, &m, got, &n_got, err);
      for (size_t i = 0; i < n_got; i++)
        close (got[i]);
      if (r == 0)
        return berth_err_set (err, ECONNRESET, "berthd closed the connection");
      if (r < 0)
        return r;
      if (json_object_object_get_ex (m, "event", NULL))
        {
          *ret = m;
          return 0;
        }
      json_object_put (m);
    }
}
