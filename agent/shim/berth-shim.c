/* berth-shim: the parent of one task's containers. It outlives berthd restarts, drives the
 * OCI runtime through its command line (as containerd's shim drives runc), is the child
 * subreaper that reaps every container and exec'd process, records each exit on disk before
 * telling anyone, and copies container output into size-rotated JSON-lines log files.
 * Single-threaded, statically linked, small: hundreds of these run on one host. */
#include "common/common.h"
#include "shim-protocol.h"

#include <getopt.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#define LOG_LINE_MAX    16384
#define CAPTURE_MAX     4096
#define RUNTIME_ERR_MAX 4096

struct shim;
struct container;

/* ------------------------------------------------------------------ log files */

struct log_file
{
  int fd;
  char *path;
  uint64_t size;
  uint64_t max_bytes; /* the container's logConfiguration max-size, else the shim's */
  unsigned max_files; /* its max-file, else the shim's */
};

struct log_stream
{
  struct shim *shim;
  struct container *c;
  const char *name; /* "stdout" | "stderr" */
  int fd;
  struct berth_loop_source *src;
  char buf[LOG_LINE_MAX];
  size_t len;
};

enum container_status
{
  C_NEW = 0,
  C_CREATING,
  C_CREATED,
  C_STARTING,
  C_RUNNING,
  C_STOPPED,
  C_DELETING,
  C_DELETED,
};

static const char *const status_names[] = {
  [C_NEW] = "new",           [C_CREATING] = "creating", [C_CREATED] = "created",
  [C_STARTING] = "starting", [C_RUNNING] = "running",   [C_STOPPED] = "stopped",
  [C_DELETING] = "deleting", [C_DELETED] = "deleted",
};

struct container
{
  struct container *next;
  char *name;
  char *runtime_id;
  char *bundle;
  enum container_status status;
  pid_t pid;
  int pidfd;
  bool exited;
  int wait_status;
  uint64_t exit_time_ns;
  uint64_t start_time_ns;
  struct log_stream out, err;
  struct log_file log;
  bool tty;
  int console; /* pty master of a tty container, read like stdout */
};

/* A process the shim waits for: a runtime command, or a process exec'd into a container
 * (which becomes our child when `runtime exec --detach` exits, since we are a subreaper). */
enum child_kind
{
  CHILD_RUNTIME,
  CHILD_EXEC,
};

enum runtime_op
{
  OP_CREATE,
  OP_START,
  OP_DELETE,
  OP_KILL_ALL,
  OP_EXEC,
};

struct client;

struct child
{
  struct child *next;
  enum child_kind kind;
  enum runtime_op op;
  pid_t pid;
  struct container *c;
  struct client *client; /* who waits for the answer (may have gone: NULL) */
  int64_t req_id;
  char *pid_file;
  char *log_file;
  /* stderr of a runtime command, or the captured output of an exec */
  int capture_fd;
  struct berth_loop_source *capture_src;
  char capture[CAPTURE_MAX];
  size_t capture_len;
  bool capture_truncated;
  bool exited;
  int wait_status;
  /* exec */
  char *exec_id;
  bool capture_output;
  uint64_t deadline_ns;
  struct berth_loop_source *timer;
  bool timed_out;
  struct child *exec_proc; /* for an OP_EXEC runtime child: the exec'd process, once known */
  /* console socket for tty create/exec */
  char *console_path;
  int console_listen;
  struct berth_loop_source *console_src;
  int console_fd;
};

struct client
{
  struct client *next;
  struct shim *shim;
  int fd;
  struct berth_loop_source *src;
};

struct shim
{
  struct berth_loop *loop;
  char *task;
  char *state_dir;
  int state_dirfd;
  char *runtime;
  char *runtime_root;
  uint64_t log_max_bytes;
  unsigned log_max_files;
  int listen_fd;
  struct container *containers;
  struct child *children;
  struct client *clients;
  /* exits reaped before we knew whose pid it was (a container that died right after
   * create, before its pid file was read) */
  struct early_exit
  {
    pid_t pid;
    int status;
    uint64_t time_ns;
  } early[32];
  size_t n_early;
  bool shutting_down;
  unsigned console_counter;
  /* pidMode/ipcMode task: pid 1 of the task's pid (and ipc) namespace, which the
   * containers join; it only reaps */
  pid_t holder;
};

static void child_maybe_finish (struct shim *s, struct child *ch);
static int on_console_connect (struct berth_loop_source *src, int fd, uint32_t revents, void *data);

/* ------------------------------------------------------------------ messages */

static void
client_send (struct client *cl, json_object *msg, const int *fds, size_t n_fds)
{
  berth_err err = NULL;
  if (cl == NULL || cl->fd < 0)
    return;
  /* A client that does not read its socket must not stall the shim: drop the message
   * (events are also in the state every client can ask for). */
  if (berth_msg_send (cl->fd, msg, fds, n_fds, &err) < 0)
    {
      log_warning ("send to berthd: %s", err ? berth_err_msg (&err) : "queue full");
      berth_err_free (&err);
    }
}

static void
reply (struct client *cl, int64_t id, json_object *body)
{
  json_object_object_add (body, "id", json_object_new_int64 (id));
  client_send (cl, body, NULL, 0);
  json_object_put (body);
}

static void
reply_ok (struct client *cl, int64_t id, json_object *body)
{
  if (body == NULL)
    body = json_object_new_object ();
  json_object_object_add (body, "ok", json_object_new_boolean (true));
  reply (cl, id, body);
}

static void reply_error (struct client *cl, int64_t id, const char *fmt, ...) BERTH_PRINTF (3, 4);

static void
reply_error (struct client *cl, int64_t id, const char *fmt, ...)
{
  json_object *body = json_object_new_object ();
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  json_object_object_add (body, "ok", json_object_new_boolean (false));
  json_object_object_add (body, "error", json_object_new_string (msg));
  free (msg);
  reply (cl, id, body);
}

static void
broadcast (struct shim *s, json_object *ev)
{
  for (struct client *cl = s->clients; cl; cl = cl->next)
    client_send (cl, ev, NULL, 0);
  json_object_put (ev);
}

/* ------------------------------------------------------------------ container logs */

static int
log_file_open (struct shim *s, struct log_file *lf, berth_err *err)
{
  struct stat st;
  (void)s;
  lf->fd = open (lf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (lf->fd < 0)
    return berth_err_set (err, errno, "open log `%s`", lf->path);
  lf->size = fstat (lf->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  return 0;
}

/* log -> log.1 -> log.2 ... keeping log_max_files files in all (the live one included). */
static void
log_file_rotate (struct shim *s, struct log_file *lf)
{
  berth_err err = NULL;
  if (lf->max_files <= 1)
    {
      if (ftruncate (lf->fd, 0) == 0)
        lf->size = 0;
      return;
    }
  for (unsigned i = lf->max_files - 1; i >= 1; i--)
    {
      cleanup_free char *from = i == 1 ? xstrdup (lf->path) : xasprintf ("%s.%u", lf->path, i - 1);
      cleanup_free char *to = xasprintf ("%s.%u", lf->path, i);
      if (rename (from, to) < 0 && errno != ENOENT)
        log_warning ("rotate `%s`: %s", from, strerror (errno));
    }
  close (lf->fd);
  if (log_file_open (s, lf, &err) < 0)
    {
      log_warning ("%s", berth_err_msg (&err));
      berth_err_free (&err);
    }
}

static void
log_write_record (struct log_stream *ls, const char *data, size_t len, bool partial)
{
  struct shim *s = ls->shim;
  struct log_file *lf = &ls->c->log;
  char ts[BERTH_RFC3339_LEN];
  json_object *o;
  const char *line;
  size_t n;

  if (lf->fd < 0)
    return;
  o = json_object_new_object ();
  json_object_object_add (
      o, "time",
      json_object_new_string (berth_format_rfc3339 (berth_realtime_ns (), ts, sizeof ts)));
  json_object_object_add (o, "stream", json_object_new_string (ls->name));
  json_object_object_add (o, "log", json_object_new_string_len (data, (int)len));
  if (partial)
    json_object_object_add (o, "partial", json_object_new_boolean (true));
  line = bjson_to_string (o);
  n = strlen (line);
  {
    struct iovec iov[2] = { { (void *)line, n }, { (void *)"\n", 1 } };
    if (writev (lf->fd, iov, 2) > 0)
      lf->size += n + 1;
  }
  json_object_put (o);
  if (lf->max_bytes > 0 && lf->size >= lf->max_bytes)
    log_file_rotate (s, lf);
}

static void
log_stream_flush_lines (struct log_stream *ls, bool eof)
{
  size_t start = 0;
  for (size_t i = 0; i < ls->len; i++)
    if (ls->buf[i] == '\n')
      {
        log_write_record (ls, ls->buf + start, i + 1 - start, false);
        start = i + 1;
      }
  if (start < ls->len && (eof || (start == 0 && ls->len == sizeof ls->buf)))
    {
      /* a line longer than the buffer, or the last bytes before EOF without a newline */
      log_write_record (ls, ls->buf + start, ls->len - start, true);
      start = ls->len;
    }
  memmove (ls->buf, ls->buf + start, ls->len - start);
  ls->len -= start;
}

static void
log_stream_close (struct log_stream *ls)
{
  if (ls->fd < 0)
    return;
  log_stream_flush_lines (ls, true);
  berth_loop_remove (ls->src);
  ls->src = NULL;
  close (ls->fd);
  ls->fd = -1;
}

static int
on_log_readable (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct log_stream *ls = data;
  (void)src;
  (void)revents;
  /* A bounded amount per wakeup: a container that writes without pause must not starve
   * requests and other containers (epoll is level-triggered; we come back). */
  for (int rounds = 0; rounds < 8; rounds++)
    {
      ssize_t n = read (fd, ls->buf + ls->len, sizeof ls->buf - ls->len);
      if (n > 0)
        {
          ls->len += (size_t)n;
          log_stream_flush_lines (ls, false);
          continue;
        }
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
      /* EOF (every writer closed) or EIO on a pty whose slave side is gone */
      log_stream_close (ls);
      return 0;
    }
  return 0;
}

static int
log_stream_start (struct shim *s, struct container *c, struct log_stream *ls, const char *name,
                  int fd, berth_err *err)
{
  ls->shim = s;
  ls->c = c;
  ls->name = name;
  ls->fd = fd;
  ls->len = 0;
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  return berth_loop_add_io (s->loop, fd, EPOLLIN, on_log_readable, ls, &ls->src, err);
}

/* ------------------------------------------------------------------ containers */

static struct container *
container_find (struct shim *s, const char *name)
{
  for (struct container *c = s->containers; c; c = c->next)
    if (strcmp (c->name, name) == 0)
      return c;
  return NULL;
}

static void
container_free (struct container *c)
{
  log_stream_close (&c->out);
  log_stream_close (&c->err);
  if (c->log.fd >= 0)
    close (c->log.fd);
  if (c->pidfd >= 0)
    close (c->pidfd);
  free (c->log.path);
  free (c->name);
  free (c->runtime_id);
  free (c->bundle);
  free (c);
}

static json_object *
container_json (struct container *c)
{
  json_object *o = json_object_new_object ();
  char ts[BERTH_RFC3339_LEN];
  json_object_object_add (o, "name", json_object_new_string (c->name));
  json_object_object_add (o, "runtime_id", json_object_new_string (c->runtime_id));
  json_object_object_add (o, "status", json_object_new_string (status_names[c->status]));
  json_object_object_add (o, "pid", json_object_new_int (c->pid));
  if (c->start_time_ns)
    json_object_object_add (
        o, "started_at",
        json_object_new_string (berth_format_rfc3339 (c->start_time_ns, ts, sizeof ts)));
  if (c->exited)
    {
      json_object_object_add (
          o, "exit_code", json_object_new_int (berth_wait_status_to_exit_code (c->wait_status)));
      if (WIFSIGNALED (c->wait_status))
        json_object_object_add (o, "signal", json_object_new_int (WTERMSIG (c->wait_status)));
      json_object_object_add (
          o, "finished_at",
          json_object_new_string (berth_format_rfc3339 (c->exit_time_ns, ts, sizeof ts)));
    }
  return o;
}

/* The exit is on disk before anyone hears of it: if berthd is down, or the shim dies right
 * after, the status is still there to read. */
static void
container_record_exit (struct shim *s, struct container *c, int status, uint64_t when)
{
  cleanup_free char *name = xasprintf ("%s.exit", c->name);
  berth_err err = NULL;
  json_object *o;

  c->exited = true;
  c->wait_status = status;
  c->exit_time_ns = when;
  if (c->status != C_DELETING && c->status != C_DELETED)
    c->status = C_STOPPED;
  if (c->pidfd >= 0)
    {
      close (c->pidfd);
      c->pidfd = -1;
    }
  o = container_json (c);
  if (berth_write_file_atomic_at (s->state_dirfd, name, bjson_to_string (o),
                                  strlen (bjson_to_string (o)), 0600, &err)
      < 0)
    {
      log_warning ("%s", berth_err_msg (&err));
      berth_err_free (&err);
    }
  json_object_object_add (o, "event", json_object_new_string ("exit"));
  json_object_object_add (o, "container", json_object_new_string (c->name));
  broadcast (s, o);
}

/* ------------------------------------------------------------------ children */

static void
child_free (struct child *ch)
{
  berth_loop_remove (ch->capture_src);
  berth_loop_remove (ch->timer);
  berth_loop_remove (ch->console_src);
  if (ch->capture_fd >= 0)
    close (ch->capture_fd);
  if (ch->console_listen >= 0)
    close (ch->console_listen);
  if (ch->console_fd >= 0)
    close (ch->console_fd);
  if (ch->console_path)
    unlink (ch->console_path);
  if (ch->pid_file)
    unlink (ch->pid_file);
  if (ch->log_file)
    unlink (ch->log_file);
  free (ch->console_path);
  free (ch->pid_file);
  free (ch->log_file);
  free (ch->exec_id);
  free (ch);
}

static void
child_unlink (struct shim *s, struct child *ch)
{
  for (struct child **p = &s->children; *p; p = &(*p)->next)
    if (*p == ch)
      {
        *p = ch->next;
        return;
      }
}

static int
on_capture_readable (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct child *ch = data;
  (void)src;
  (void)revents;
  for (;;)
    {
      char tmp[1024];
      ssize_t n = read (fd, tmp, sizeof tmp);
      if (n > 0)
        {
          size_t room = sizeof ch->capture - ch->capture_len;
          size_t take = (size_t)n < room ? (size_t)n : room;
          memcpy (ch->capture + ch->capture_len, tmp, take);
          ch->capture_len += take;
          if (take < (size_t)n)
            ch->capture_truncated = true;
          continue;
        }
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
      berth_loop_remove (ch->capture_src);
      ch->capture_src = NULL;
      close (ch->capture_fd);
      ch->capture_fd = -1;
      return 0;
    }
}

/* The runtime's error message: its --log file (JSON lines, the last "error" wins) or,
 * failing that, what it printed on stderr. */
static char *
runtime_error_message (struct child *ch)
{
  cleanup_free char *text = NULL;
  char *msg = NULL;
  if (ch->log_file && berth_read_file_at (AT_FDCWD, ch->log_file, 1 << 20, &text, NULL, NULL) == 0)
    {
      char *line = text, *next;
      for (; line && *line; line = next)
        {
          json_object *o = NULL;
          const char *m = NULL, *level = NULL;
          next = strchr (line, '\n');
          if (next)
            *next++ = '\0';
          if (bjson_parse (line, strlen (line), "runtime log", &o, NULL) < 0)
            continue;
          bjson_get_string (o, "", "level", 0, &level, NULL);
          bjson_get_string (o, "", "msg", 0, &m, NULL);
          if (m && (level == NULL || strcmp (level, "error") == 0))
            {
              free (msg);
              msg = xstrdup (m);
            }
          json_object_put (o);
        }
    }
  if (msg == NULL && ch->capture_len > 0)
    {
      size_t n = ch->capture_len;
      while (n > 0 && (ch->capture[n - 1] == '\n' || ch->capture[n - 1] == ' '))
        n--;
      msg = xstrndup (ch->capture, n);
    }
  return msg;
}

static int
read_pid_file (const char *path, pid_t *ret)
{
  cleanup_free char *text = NULL;
  int32_t v;
  if (berth_read_file_at (AT_FDCWD, path, 64, &text, NULL, NULL) < 0)
    return -ENOENT;
  text[strcspn (text, "\n ")] = '\0';
  if (berth_parse_int32 (text, &v) < 0 || v <= 0)
    return -EINVAL;
  *ret = v;
  return 0;
}

static void
send_exec_exit (struct shim *s, struct child *proc)
{
  json_object *ev = json_object_new_object ();
  json_object_object_add (ev, "event", json_object_new_string ("exec-exit"));
  json_object_object_add (ev, "exec_id", json_object_new_string (proc->exec_id));
  json_object_object_add (ev, "container", json_object_new_string (proc->c ? proc->c->name : ""));
  json_object_object_add (ev, "exit_code",
                          json_object_new_int (berth_wait_status_to_exit_code (proc->wait_status)));
  json_object_object_add (ev, "timed_out", json_object_new_boolean (proc->timed_out));
  if (proc->capture_output)
    {
      json_object_object_add (ev, "output",
                              json_object_new_string_len (proc->capture, (int)proc->capture_len));
      json_object_object_add (ev, "output_truncated",
                              json_object_new_boolean (proc->capture_truncated));
    }
  broadcast (s, ev);
  (void)s;
}

static int
on_exec_timeout (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct child *proc = data;
  (void)src;
  (void)now;
  proc->timed_out = true;
  /* the exec'd process is our child: kill it by pid (it cannot be reused before we reap) */
  kill (proc->pid, SIGKILL);
  return 0;
}

/* A runtime command finished: answer the client that asked. */
static void
runtime_child_done (struct shim *s, struct child *ch)
{
  struct container *c = ch->c;
  int code = berth_wait_status_to_exit_code (ch->wait_status);
  cleanup_free char *msg = code != 0 ? runtime_error_message (ch) : NULL;

  switch (ch->op)
    {
    case OP_CREATE:
      if (code != 0)
        {
          c->status = C_NEW;
          log_stream_close (&c->out);
          log_stream_close (&c->err);
          reply_error (ch->client, ch->req_id, "runtime create `%s` failed (exit %d): %s",
                       c->runtime_id, code, msg ? msg : "no message");
          break;
        }
      if (read_pid_file (ch->pid_file, &c->pid) < 0)
        {
          c->status = C_NEW;
          reply_error (ch->client, ch->req_id, "runtime create `%s`: no pid file", c->runtime_id);
          break;
        }
      c->status = C_CREATED;
      c->pidfd = berth_pidfd_open (c->pid, NULL);
      for (size_t i = 0; i < s->n_early; i++)
        if (s->early[i].pid == c->pid)
          {
            container_record_exit (s, c, s->early[i].status, s->early[i].time_ns);
            s->early[i] = s->early[--s->n_early];
            break;
          }
      if (ch->console_fd >= 0)
        {
          berth_err e = NULL;
          c->console = steal_fd (&ch->console_fd);
          if (log_stream_start (s, c, &c->out, "stdout", c->console, &e) < 0)
            {
              log_warning ("%s", berth_err_msg (&e));
              berth_err_free (&e);
            }
        }
      {
        json_object *r = json_object_new_object ();
        json_object_object_add (r, "pid", json_object_new_int (c->pid));
        reply_ok (ch->client, ch->req_id, r);
      }
      break;
    case OP_START:
      if (code != 0)
        {
          if (c->status == C_STARTING)
            c->status = C_CREATED;
          reply_error (ch->client, ch->req_id, "runtime start `%s` failed (exit %d): %s",
                       c->runtime_id, code, msg ? msg : "no message");
          break;
        }
      if (c->status == C_STARTING)
        c->status = C_RUNNING;
      c->start_time_ns = berth_realtime_ns ();
      reply_ok (ch->client, ch->req_id, NULL);
      break;
    case OP_DELETE:
      if (code != 0)
        {
          c->status = c->exited ? C_STOPPED : C_RUNNING;
          reply_error (ch->client, ch->req_id, "runtime delete `%s` failed (exit %d): %s",
                       c->runtime_id, code, msg ? msg : "no message");
          break;
        }
      c->status = C_DELETED;
      reply_ok (ch->client, ch->req_id, NULL);
      break;
    case OP_KILL_ALL:
      if (code != 0)
        reply_error (ch->client, ch->req_id, "runtime kill --all `%s` failed (exit %d): %s",
                     c->runtime_id, code, msg ? msg : "no message");
      else
        reply_ok (ch->client, ch->req_id, NULL);
      break;
    case OP_EXEC:
      {
        struct child *proc;
        pid_t pid;
        json_object *r;
        int fds[1];
        if (code != 0 || read_pid_file (ch->pid_file, &pid) < 0)
          {
            reply_error (ch->client, ch->req_id, "runtime exec in `%s` failed (exit %d): %s",
                         c->runtime_id, code, msg ? msg : "no pid file");
            break;
          }
        /* From here the exec'd process is tracked as our own child. */
        proc = xzalloc (sizeof *proc);
        proc->kind = CHILD_EXEC;
        proc->pid = pid;
        proc->c = c;
        proc->exec_id = steal_pointer (&ch->exec_id);
        proc->capture_output = ch->capture_output;
        proc->capture_fd = steal_fd (&ch->capture_fd);
        proc->capture_src = steal_pointer (&ch->capture_src);
        proc->console_listen = proc->console_fd = -1;
        if (proc->capture_src)
          {
            /* the loop source's data must now point at proc */
            berth_loop_remove (proc->capture_src);
            proc->capture_src = NULL;
            berth_loop_add_io (s->loop, proc->capture_fd, EPOLLIN, on_capture_readable, proc,
                               &proc->capture_src, NULL);
          }
        memcpy (proc->capture, ch->capture, ch->capture_len);
        proc->capture_len = ch->capture_len;
        if (ch->deadline_ns)
          berth_loop_add_timer (s->loop, ch->deadline_ns, on_exec_timeout, proc, &proc->timer,
                                NULL);
        proc->next = s->children;
        s->children = proc;
        for (size_t i = 0; i < s->n_early; i++)
          if (s->early[i].pid == pid)
            {
              proc->exited = true;
              proc->wait_status = s->early[i].status;
              s->early[i] = s->early[--s->n_early];
              break;
            }
        r = json_object_new_object ();
        json_object_object_add (r, "pid", json_object_new_int (pid));
        json_object_object_add (r, "exec_id", json_object_new_string (proc->exec_id));
        if (ch->console_fd >= 0)
          {
            fds[0] = ch->console_fd;
            json_object_object_add (r, "ok", json_object_new_boolean (true));
            json_object_object_add (r, "id", json_object_new_int64 (ch->req_id));
            client_send (ch->client, r, fds, 1);
            json_object_put (r);
          }
        else
          reply_ok (ch->client, ch->req_id, r);
        if (proc->exited)
          child_maybe_finish (s, proc);
        break;
      }
    }
}

/* A child is finished once it has exited and its captured output reached EOF. */
static void
child_maybe_finish (struct shim *s, struct child *ch)
{
  if (!ch->exited)
    return;
  /* The pty master of a tty create/exec may still sit unaccepted on the console socket
   * when the runtime's exit is seen first. */
  if (ch->console_src)
    on_console_connect (ch->console_src, ch->console_listen, EPOLLIN, ch);
  if (ch->capture_fd >= 0)
    {
      /* Drain what is there. An exec'd process keeps the pipe open after the runtime
       * exits; for every other runtime command the output ends with the runtime. */
      on_capture_readable (NULL, ch->capture_fd, EPOLLIN, ch);
      if (ch->capture_fd >= 0 && ch->kind == CHILD_RUNTIME && ch->op != OP_EXEC)
        {
          berth_loop_remove (ch->capture_src);
          ch->capture_src = NULL;
          close (ch->capture_fd);
          ch->capture_fd = -1;
        }
    }
  child_unlink (s, ch);
  if (ch->kind == CHILD_RUNTIME)
    runtime_child_done (s, ch);
  else
    send_exec_exit (s, ch);
  child_free (ch);
}

static void
on_reaped (struct shim *s, pid_t pid, int status)
{
  uint64_t now = berth_realtime_ns ();

  if (pid == s->holder)
    {
      log_warning ("the task's namespace holder %d exited (status %d)", pid, status);
      s->holder = 0;
      return;
    }

  for (struct child *ch = s->children; ch; ch = ch->next)
    if (ch->pid == pid && !ch->exited)
      {
        ch->exited = true;
        ch->wait_status = status;
        child_maybe_finish (s, ch);
        return;
      }
  for (struct container *c = s->containers; c; c = c->next)
    if (c->pid == pid && !c->exited)
      {
        container_record_exit (s, c, status, now);
        return;
      }
  if (s->n_early < ARRAY_SIZE (s->early))
    s->early[s->n_early++] = (struct early_exit){ pid, status, now };
}

static int
on_sigchld (struct berth_loop_source *src, int signo, void *data)
{
  struct shim *s = data;
  (void)src;
  (void)signo;
  for (;;)
    {
      int status;
      pid_t pid = waitpid (-1, &status, WNOHANG);
      if (pid <= 0)
        break;
      on_reaped (s, pid, status);
    }
  return 0;
}

/* ------------------------------------------------------------------ console sockets */

static int
on_console_connect (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct child *ch = data;
  int conn, master = -1;
  (void)revents;
  conn = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0)
    return 0;
  if (berth_recv_fd (conn, &master, NULL, 0, NULL, NULL) == 0 && master >= 0)
    {
      if (ch->console_fd >= 0)
        close (ch->console_fd);
      ch->console_fd = master;
    }
  close (conn);
  berth_loop_remove (src);
  ch->console_src = NULL;
  return 0;
}

static int
console_socket_open (struct shim *s, struct child *ch, berth_err *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  ch->console_path = xasprintf ("%s/console-%u.sock", s->state_dir, ++s->console_counter);
  if (strlen (ch->console_path) >= sizeof sa.sun_path)
    return berth_err_set (err, ENAMETOOLONG, "console socket path `%s`", ch->console_path);
  strcpy (sa.sun_path, ch->console_path);
  unlink (ch->console_path);
  ch->console_listen = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (ch->console_listen < 0 || bind (ch->console_listen, (struct sockaddr *)&sa, sizeof sa) < 0
      || listen (ch->console_listen, 1) < 0)
    return berth_err_set (err, errno, "console socket `%s`", ch->console_path);
  return berth_loop_add_io (s->loop, ch->console_listen, EPOLLIN, on_console_connect, ch,
                            &ch->console_src, err);
}

/* ------------------------------------------------------------------ running the runtime */

/* Spawns `runtime --root R --log L --log-format json VERB ARGS...` with the given stdio.
 * stdio[i] < 0: a capture pipe for stderr (i == 2) or /dev/null. */
static int
runtime_spawn (struct shim *s, struct child *ch, const char *verb, char *const *args,
               const int stdio_in[3], berth_err *err)
{
  char *argv[32];
  size_t n = 0;
  int stdio[3] = { stdio_in[0], stdio_in[1], stdio_in[2] };
  int capture[2] = { -1, -1 };
  int r;

  ch->log_file = xasprintf ("%s/runtime-%d-%u.log", s->state_dir, getpid (), ++s->console_counter);
  argv[n++] = s->runtime;
  argv[n++] = "--root";
  argv[n++] = s->runtime_root;
  argv[n++] = "--log";
  argv[n++] = ch->log_file;
  argv[n++] = "--log-format";
  argv[n++] = "json";
  argv[n++] = (char *)verb;
  for (; *args && n < ARRAY_SIZE (argv) - 1; args++)
    argv[n++] = *args;
  argv[n] = NULL;

  if (stdio[2] < 0 || (ch->op == OP_EXEC && stdio[1] < 0))
    {
      if (pipe2 (capture, O_CLOEXEC) < 0)
        return berth_err_set (err, errno, "pipe");
      if (stdio[2] < 0)
        stdio[2] = capture[1];
      if (ch->op == OP_EXEC && stdio[1] < 0)
        stdio[1] = capture[1];
    }
  {
    struct berth_spawn_opts o = { .stdio = { stdio[0], stdio[1], stdio[2] } };
    r = berth_spawn (s->runtime, argv, &o, &ch->pid, NULL, err);
  }
  if (capture[1] >= 0)
    close (capture[1]);
  if (r < 0)
    {
      if (capture[0] >= 0)
        close (capture[0]);
      return r;
    }
  if (capture[0] >= 0)
    {
      ch->capture_fd = capture[0];
      fcntl (capture[0], F_SETFL, O_NONBLOCK);
      berth_loop_add_io (s->loop, capture[0], EPOLLIN, on_capture_readable, ch, &ch->capture_src,
                         NULL);
    }
  ch->next = s->children;
  s->children = ch;
  return 0;
}

static struct child *
child_new (struct client *cl, int64_t id, enum runtime_op op, struct container *c)
{
  struct child *ch = xzalloc (sizeof *ch);
  ch->kind = CHILD_RUNTIME;
  ch->op = op;
  ch->client = cl;
  ch->req_id = id;
  ch->c = c;
  ch->capture_fd = ch->console_listen = ch->console_fd = -1;
  return ch;
}

/* ------------------------------------------------------------------ requests */

static void
op_create (struct shim *s, struct client *cl, int64_t id, json_object *req)
{
  const char *name = NULL, *runtime_id = NULL, *bundle = NULL, *log_path = NULL;
  bool tty = false;
  uint64_t log_max_bytes = s->log_max_bytes;
  uint32_t log_max_files = s->log_max_files;
  cleanup_err berth_err err = NULL;
  struct container *c;
  struct child *ch;
  int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
  int stdio[3] = { -1, -1, -1 };

  if (bjson_get_string (req, "", "container", BJSON_REQUIRED, &name, &err) < 0
      || bjson_get_string (req, "", "runtime_id", BJSON_REQUIRED, &runtime_id, &err) < 0
      || bjson_get_string (req, "", "bundle", BJSON_REQUIRED, &bundle, &err) < 0
      || bjson_get_string (req, "", "log_path", BJSON_REQUIRED, &log_path, &err) < 0
      || bjson_get_bool (req, "", "tty", 0, &tty, &err) < 0
      || bjson_get_uint64 (req, "", "log_max_bytes", 0, UINT64_MAX, &log_max_bytes, &err) < 0
      || bjson_get_uint32 (req, "", "log_max_files", 0, &log_max_files, &err) < 0)
    {
      reply_error (cl, id, "create: %s", berth_err_msg (&err));
      return;
    }
  if (log_max_files == 0)
    {
      reply_error (cl, id, "create: log_max_files: at least 1");
      return;
    }
  c = container_find (s, name);
  if (c && c->status != C_NEW && c->status != C_DELETED)
    {
      reply_error (cl, id, "create: container `%s` already exists (%s)", name,
                   status_names[c->status]);
      return;
    }
  if (c == NULL)
    {
      c = xzalloc (sizeof *c);
      c->name = xstrdup (name);
      c->next = s->containers;
      s->containers = c;
    }
  else
    {
      free (c->runtime_id);
      free (c->bundle);
      free (c->log.path);
      if (c->log.fd >= 0)
        close (c->log.fd);
    }
  c->runtime_id = xstrdup (runtime_id);
  c->bundle = xstrdup (bundle);
  c->log.path = xstrdup (log_path);
  c->log.fd = -1;
  c->log.max_bytes = log_max_bytes;
  c->log.max_files = log_max_files;
  c->out.fd = c->err.fd = -1;
  c->pid = 0;
  c->pidfd = -1;
  c->exited = false;
  c->tty = tty;
  c->console = -1;
  c->out.fd = c->err.fd = -1;
  c->start_time_ns = 0;
  if (log_file_open (s, &c->log, &err) < 0)
    {
      reply_error (cl, id, "create: %s", berth_err_msg (&err));
      return;
    }

  ch = child_new (cl, id, OP_CREATE, c);
  ch->pid_file = xasprintf ("%s/%s.pid", s->state_dir, name);
  unlink (ch->pid_file);
  if (tty)
    {
      if (console_socket_open (s, ch, &err) < 0)
        goto fail;
    }
  else
    {
      if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)
        {
          berth_err_set (&err, errno, "pipe");
          goto fail;
        }
      stdio[1] = out[1];
      stdio[2] = errp[1];
    }
  {
    char *args[8];
    size_t n = 0;
    args[n++] = "--bundle";
    args[n++] = (char *)bundle;
    args[n++] = "--pid-file";
    args[n++] = ch->pid_file;
    if (tty)
      {
        args[n++] = "--console-socket";
        args[n++] = ch->console_path;
      }
    args[n++] = (char *)runtime_id;
    args[n] = NULL;
    if (runtime_spawn (s, ch, "create", args, stdio, &err) < 0)
      goto fail;
  }
  if (!tty)
    {
      close (out[1]);
      close (errp[1]);
      if (log_stream_start (s, c, &c->out, "stdout", out[0], &err) < 0
          || log_stream_start (s, c, &c->err, "stderr", errp[0], &err) < 0)
        log_warning ("%s", berth_err_msg (&err));
    }
  c->status = C_CREATING;
  return;

fail:
  for (int i = 0; i < 2; i++)
    {
      if (out[i] >= 0)
        close (out[i]);
      if (errp[i] >= 0)
        close (errp[i]);
    }
  reply_error (cl, id, "create `%s`: %s", name, berth_err_msg (&err));
  child_free (ch);
}

static struct container *
request_container (struct shim *s, struct client *cl, int64_t id, json_object *req, const char *op)
{
  const char *name = NULL;
  cleanup_err berth_err err = NULL;
  struct container *c;
  if (bjson_get_string (req, "", "container", BJSON_REQUIRED, &name, &err) < 0)
    {
      reply_error (cl, id, "%s: %s", op, berth_err_msg (&err));
      return NULL;
    }
  c = container_find (s, name);
  if (c == NULL || c->status == C_NEW)
    {
      reply_error (cl, id, "%s: no container `%s`", op, name);
      return NULL;
    }
  return c;
}

static void
op_simple_runtime (struct shim *s, struct client *cl, int64_t id, json_object *req,
                   enum runtime_op op)
{
  static const char *const verbs[]
      = { [OP_START] = "start", [OP_DELETE] = "delete", [OP_KILL_ALL] = "kill" };
  cleanup_err berth_err err = NULL;
  struct container *c = request_container (s, cl, id, req, verbs[op]);
  struct child *ch;
  int stdio[3] = { -1, -1, -1 };

  if (c == NULL)
    return;
  if (op == OP_START && c->status != C_CREATED)
    {
      reply_error (cl, id, "start: container `%s` is %s, not created", c->name,
                   status_names[c->status]);
      return;
    }
  if (op == OP_DELETE
      && (c->status == C_CREATING || c->status == C_STARTING || c->status == C_DELETING))
    {
      reply_error (cl, id, "delete: container `%s` is busy (%s)", c->name, status_names[c->status]);
      return;
    }
  if (op == OP_DELETE && c->status == C_DELETED)
    {
      reply_ok (cl, id, NULL);
      return;
    }
  ch = child_new (cl, id, op, c);
  {
    char *start_args[] = { c->runtime_id, NULL };
    char *delete_args[] = { "--force", c->runtime_id, NULL };
    char *kill_args[] = { "--all", c->runtime_id, "KILL", NULL };
    char **args = op == OP_START ? start_args : op == OP_DELETE ? delete_args : kill_args;
    if (runtime_spawn (s, ch, verbs[op], args, stdio, &err) < 0)
      {
        reply_error (cl, id, "%s `%s`: %s", verbs[op], c->name, berth_err_msg (&err));
        child_free (ch);
        return;
      }
  }
  if (op == OP_START)
    c->status = C_STARTING;
  else if (op == OP_DELETE)
    c->status = C_DELETING;
}

static void
op_kill (struct shim *s, struct client *cl, int64_t id, json_object *req)
{
  cleanup_err berth_err err = NULL;
  struct container *c = request_container (s, cl, id, req, "kill");
  int32_t sig = SIGTERM;
  bool all = false;

  if (c == NULL)
    return;
  if (bjson_get_int32 (req, "", "signal", 0, &sig, &err) < 0
      || bjson_get_bool (req, "", "all", 0, &all, &err) < 0)
    {
      reply_error (cl, id, "kill: %s", berth_err_msg (&err));
      return;
    }
  if (sig <= 0 || sig >= _NSIG)
    {
      reply_error (cl, id, "kill: signal %d out of range", sig);
      return;
    }
  if (all)
    {
      op_simple_runtime (s, cl, id, req, OP_KILL_ALL);
      return;
    }
  if (c->exited || c->pidfd < 0)
    {
      reply_error (cl, id, "kill: container `%s` is not running", c->name);
      return;
    }
  if (berth_pidfd_send_signal (c->pidfd, sig, &err) < 0)
    {
      reply_error (cl, id, "kill `%s`: %s", c->name, berth_err_msg (&err));
      return;
    }
  reply_ok (cl, id, NULL);
}

static void
op_exec (struct shim *s, struct client *cl, int64_t id, json_object *req, int *fds, size_t n_fds)
{
  cleanup_err berth_err err = NULL;
  struct container *c = request_container (s, cl, id, req, "exec");
  const char *process = NULL, *exec_id = NULL;
  int64_t timeout_ms = 0;
  bool tty = false, capture = false;
  struct child *ch;
  int stdio[3] = { -1, -1, -1 };

  if (c == NULL)
    return;
  if (bjson_get_string (req, "", "process", BJSON_REQUIRED, &process, &err) < 0
      || bjson_get_string (req, "", "exec_id", BJSON_REQUIRED, &exec_id, &err) < 0
      || bjson_get_int64 (req, "", "timeout_ms", 0, 0, INT64_MAX / 1000000, &timeout_ms, &err) < 0
      || bjson_get_bool (req, "", "tty", 0, &tty, &err) < 0
      || bjson_get_bool (req, "", "capture", 0, &capture, &err) < 0)
    {
      reply_error (cl, id, "exec: %s", berth_err_msg (&err));
      return;
    }
  if (c->status != C_RUNNING || c->exited)
    {
      reply_error (cl, id, "exec: container `%s` is not running", c->name);
      return;
    }
  ch = child_new (cl, id, OP_EXEC, c);
  ch->exec_id = xstrdup (exec_id);
  ch->capture_output = capture;
  ch->pid_file = xasprintf ("%s/exec-%s.pid", s->state_dir, exec_id);
  if (timeout_ms > 0)
    ch->deadline_ns = berth_now_ns () + (uint64_t)timeout_ms * 1000000ull;
  if (!capture)
    for (size_t i = 0; i < n_fds && i < 3; i++)
      stdio[i] = fds[i];
  if (tty && console_socket_open (s, ch, &err) < 0)
    {
      reply_error (cl, id, "exec: %s", berth_err_msg (&err));
      child_free (ch);
      return;
    }
  {
    char *args[16];
    size_t n = 0;
    args[n++] = "--detach";
    args[n++] = "--pid-file";
    args[n++] = ch->pid_file;
    args[n++] = "--process";
    args[n++] = (char *)process;
    if (tty)
      {
        args[n++] = "--tty";
        args[n++] = "--console-socket";
        args[n++] = ch->console_path;
      }
    args[n++] = c->runtime_id;
    args[n] = NULL;
    if (runtime_spawn (s, ch, "exec", args, stdio, &err) < 0)
      {
        reply_error (cl, id, "exec in `%s`: %s", c->name, berth_err_msg (&err));
        child_free (ch);
        return;
      }
  }
}

/* The child side of the namespace holder: pid 1 of a new pid namespace, so it reaps what
 * the task's containers orphan in it; nothing else. */
static void __attribute__ ((noreturn)) holder_main (void)
{
  sigset_t all;
  syscall (SYS_close_range, 3, ~0U, 0);
  prctl (PR_SET_NAME, "berth-holder");
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  for (;;)
    {
      siginfo_t si;
      if (sigwaitinfo (&all, &si) == SIGCHLD)
        while (waitpid (-1, NULL, WNOHANG) > 0)
          ;
    }
}

static void
op_hold (struct shim *s, struct client *cl, int64_t id, json_object *req)
{
  bool pid_ns = false, ipc_ns = false;
  unsigned long flags = SIGCHLD;
  json_object *r;
  long pid;

  bjson_get_bool (req, "", "pid", 0, &pid_ns, NULL);
  bjson_get_bool (req, "", "ipc", 0, &ipc_ns, NULL);
  if (s->holder == 0)
    {
      if (pid_ns)
        flags |= CLONE_NEWPID;
      if (ipc_ns)
        flags |= CLONE_NEWIPC;
      /* fork with new namespaces: the shim is single-threaded, so the child may run code */
      pid = syscall (SYS_clone, flags, NULL, NULL, NULL, 0);
      if (pid < 0)
        {
          reply_error (cl, id, "hold: clone: %s", strerror (errno));
          return;
        }
      if (pid == 0)
        holder_main ();
      s->holder = (pid_t)pid;
    }
  r = json_object_new_object ();
  json_object_object_add (r, "pid", json_object_new_int (s->holder));
  reply_ok (cl, id, r);
}

static void
op_state (struct shim *s, struct client *cl, int64_t id)
{
  json_object *r = json_object_new_object ();
  json_object *arr = json_object_new_array ();
  for (struct container *c = s->containers; c; c = c->next)
    if (c->status != C_NEW)
      json_object_array_add (arr, container_json (c));
  json_object_object_add (r, "task", json_object_new_string (s->task));
  json_object_object_add (r, "shim_pid", json_object_new_int (getpid ()));
  json_object_object_add (r, "version", json_object_new_int (SHIM_PROTOCOL_VERSION));
  json_object_object_add (r, "holder", json_object_new_int (s->holder));
  json_object_object_add (r, "containers", arr);
  reply_ok (cl, id, r);
}

static void
op_shutdown (struct shim *s, struct client *cl, int64_t id)
{
  for (struct container *c = s->containers; c; c = c->next)
    if (c->status != C_NEW && c->status != C_DELETED)
      {
        reply_error (cl, id, "shutdown: container `%s` is %s; delete it first", c->name,
                     status_names[c->status]);
        return;
      }
  s->shutting_down = true;
  if (s->holder > 0)
    {
      kill (s->holder, SIGKILL);
      waitpid (s->holder, NULL, 0);
      s->holder = 0;
    }
  reply_ok (cl, id, NULL);
  berth_loop_quit (s->loop, 0);
}

static void
handle_request (struct shim *s, struct client *cl, json_object *req, int *fds, size_t n_fds)
{
  cleanup_err berth_err err = NULL;
  int64_t id = 0;
  const char *op = NULL;

  if (bjson_get_int64 (req, "", "id", BJSON_REQUIRED, INT64_MIN, INT64_MAX, &id, &err) < 0
      || bjson_get_string (req, "", "op", BJSON_REQUIRED, &op, &err) < 0)
    {
      reply_error (cl, id, "bad request: %s", berth_err_msg (&err));
      return;
    }
  if (strcmp (op, "state") == 0 || strcmp (op, "hello") == 0)
    op_state (s, cl, id);
  else if (strcmp (op, "create") == 0)
    op_create (s, cl, id, req);
  else if (strcmp (op, "start") == 0)
    op_simple_runtime (s, cl, id, req, OP_START);
  else if (strcmp (op, "delete") == 0)
    op_simple_runtime (s, cl, id, req, OP_DELETE);
  else if (strcmp (op, "kill") == 0)
    op_kill (s, cl, id, req);
  else if (strcmp (op, "exec") == 0)
    op_exec (s, cl, id, req, fds, n_fds);
  else if (strcmp (op, "hold") == 0)
    op_hold (s, cl, id, req);
  else if (strcmp (op, "shutdown") == 0)
    op_shutdown (s, cl, id);
  else
    reply_error (cl, id, "unknown op `%s`", op);
}

/* ------------------------------------------------------------------ clients */

static void
client_close (struct shim *s, struct client *cl)
{
  for (struct client **p = &s->clients; *p; p = &(*p)->next)
    if (*p == cl)
      {
        *p = cl->next;
        break;
      }
  for (struct child *ch = s->children; ch; ch = ch->next)
    if (ch->client == cl)
      ch->client = NULL;
  berth_loop_remove (cl->src);
  close (cl->fd);
  free (cl);
}

static int
on_client_readable (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct client *cl = data;
  struct shim *s = cl->shim;
  int fds[BERTH_MSG_MAX_FDS];
  size_t n_fds = 0;
  json_object *req = NULL;
  cleanup_err berth_err err = NULL;
  int r;

  (void)src;
  r = berth_msg_recv (fd, &req, fds, &n_fds, &err);
  if (r == -EAGAIN)
    return 0;
  if (r == 0 || r == -ECONNRESET)
    client_close (s, cl);
  else if (r < 0)
    reply_error (cl, 0, "%s", berth_err_msg (&err));
  else if (revents & (EPOLLHUP | EPOLLERR))
    /* The sender is gone (berthd killed right after it asked): nobody waits for the answer,
     * and the next berthd decides again from our state. Acting on it races that berthd: a
     * create queued by the dead one ran after the new one had seen the container "new",
     * and the new one's create then failed with "already exists". */
    log_debug ("request from a client that hung up: dropped");
  else
    handle_request (s, cl, req, fds, n_fds);
  json_object_put (req);
  /* the runtime got its own copies of passed fds when it was spawned */
  for (size_t i = 0; i < n_fds; i++)
    close (fds[i]);
  return 0;
}

static int
on_accept (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  struct shim *s = data;
  struct client *cl;
  cleanup_err berth_err err = NULL;
  int c;
  (void)src;
  (void)revents;

  c = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0)
    return 0;
  cl = xzalloc (sizeof *cl);
  cl->shim = s;
  cl->fd = c;
  if (berth_loop_add_io (s->loop, c, EPOLLIN, on_client_readable, cl, &cl->src, &err) < 0)
    {
      close (c);
      free (cl);
      return 0;
    }
  cl->next = s->clients;
  s->clients = cl;
  return 0;
}

static int
on_term (struct berth_loop_source *src, int signo, void *data)
{
  (void)src;
  (void)data;
  /* berthd stops shims with a shutdown request once their containers are gone; a stray
   * SIGTERM/SIGINT (a host admin, a service manager) must not orphan running containers. */
  log_info ("ignoring signal %d; send a shutdown request instead", signo);
  return 0;
}

/* ------------------------------------------------------------------ main */

static void
usage (FILE *f)
{
  fprintf (f, "Usage: berth-shim --task ID --state-dir DIR --runtime PATH --runtime-root DIR\n"
              "                  [--log-max-bytes N] [--log-max-files N]\n"
              "The listening socket (SOCK_SEQPACKET) is passed as fd 3; without it the shim\n"
              "binds DIR/" SHIM_SOCKET_NAME " itself.\n");
}

static int
listen_socket (struct shim *s, berth_err *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", s->state_dir, SHIM_SOCKET_NAME);
  struct stat st;
  int fd;

  /* fd 3, when berthd passed one, is the already-bound listening socket: clients may
   * connect before we get here, and nothing races on the path. */
  if (fstat (3, &st) == 0 && S_ISSOCK (st.st_mode))
    {
      fcntl (3, F_SETFD, FD_CLOEXEC);
      fcntl (3, F_SETFL, O_NONBLOCK);
      s->listen_fd = 3;
      return 0;
    }
  fd = berth_msg_listen (path, err);
  if (fd < 0)
    return fd;
  s->listen_fd = fd;
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "task", required_argument, NULL, 't' },
    { "state-dir", required_argument, NULL, 's' },
    { "runtime", required_argument, NULL, 'r' },
    { "runtime-root", required_argument, NULL, 'R' },
    { "log-max-bytes", required_argument, NULL, 'b' },
    { "log-max-files", required_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct shim s
      = { .listen_fd = -1, .state_dirfd = -1, .log_max_bytes = 10 << 20, .log_max_files = 3 };
  cleanup_err berth_err err = NULL;
  int opt, r;

  berth_log_init ("berth-shim", 2, BERTH_LOG_PLAIN, BERTH_LOG_INFO);
  while ((opt = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (opt)
      {
      case 't':
        s.task = optarg;
        break;
      case 's':
        s.state_dir = optarg;
        break;
      case 'r':
        s.runtime = optarg;
        break;
      case 'R':
        s.runtime_root = optarg;
        break;
      case 'b':
        if (berth_parse_size (optarg, &s.log_max_bytes) < 0)
          {
            log_error ("--log-max-bytes: `%s` is not a size", optarg);
            return 2;
          }
        break;
      case 'f':
        if (berth_parse_uint32 (optarg, &s.log_max_files) < 0 || s.log_max_files == 0)
          {
            log_error ("--log-max-files: `%s` is not a positive number", optarg);
            return 2;
          }
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (!s.task || !s.state_dir || !s.runtime || !s.runtime_root)
    {
      usage (stderr);
      return 2;
    }

  /* We are the parent of the task's containers: orphans (a container init once its
   * `runtime create` exits, processes exec'd with --detach) are reparented to us. */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    {
      log_error ("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror (errno));
      return 1;
    }
  s.state_dirfd = open (s.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s.state_dirfd < 0)
    {
      log_error ("open state dir `%s`: %s", s.state_dir, strerror (errno));
      return 1;
    }
  if (berth_loop_new (&s.loop, &err) < 0 || listen_socket (&s, &err) < 0
      || berth_loop_add_signal (s.loop, SIGCHLD, on_sigchld, &s, NULL, &err) < 0
      || berth_loop_add_signal (s.loop, SIGTERM, on_term, &s, NULL, &err) < 0
      || berth_loop_add_signal (s.loop, SIGINT, on_term, &s, NULL, &err) < 0
      || berth_loop_add_signal (s.loop, SIGHUP, on_term, &s, NULL, &err) < 0
      || berth_loop_add_io (s.loop, s.listen_fd, EPOLLIN, on_accept, &s, NULL, &err) < 0)
    {
      log_error ("%s", berth_err_msg (&err));
      return 1;
    }
  {
    char pid[32];
    int n = snprintf (pid, sizeof pid, "%d\n", getpid ());
    if (berth_write_file_atomic_at (s.state_dirfd, SHIM_PID_NAME, pid, (size_t)n, 0600, &err) < 0)
      {
        log_error ("%s", berth_err_msg (&err));
        return 1;
      }
  }
  /* Children that exited before the signal was blocked. */
  on_sigchld (NULL, SIGCHLD, &s);

  r = berth_loop_run (s.loop);

  unlinkat (s.state_dirfd, SHIM_SOCKET_NAME, 0);
  unlinkat (s.state_dirfd, SHIM_PID_NAME, 0);
  while (s.clients)
    client_close (&s, s.clients);
  while (s.containers)
    {
      struct container *c = s.containers;
      s.containers = c->next;
      container_free (c);
    }
  while (s.children)
    {
      struct child *ch = s.children;
      s.children = ch->next;
      child_free (ch);
    }
  berth_loop_free (s.loop);
  close (s.state_dirfd);
  if (s.listen_fd >= 0)
    close (s.listen_fd);
  return r < 0 ? 1 : 0;
}
