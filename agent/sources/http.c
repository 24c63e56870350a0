/* The http task source: registers the node, long-polls its desired tasks into the engine
 * (acknowledging each generation only after the engine persisted it), posts the outbox in
 * order, and sends heartbeats (docs/control-protocol.md). Two threads, each with its own
 * connection: the poller (register, assignments, acks) and the reporter (state changes,
 * heartbeats), so a long-poll never delays a state change. Both sleep in poll(2) or on a
 * condition variable when idle. This runs inside berthd, so it logs what goes wrong: nobody
 * else could. */
#include "http.h"

#include "agent/outbox/outbox.h"
#include "http-client.h"
#include "http-proto.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#define NODE_FILE            "node.json"
#define DEFAULT_MAX_RESPONSE (16u * 1024 * 1024)
#define REQUEST_TIMEOUT_S    30
#define LONG_POLL_GRACE_S    30
#define BATCH_MAX_CHANGES    256
#define BATCH_MAX_BYTES      (1024 * 1024)
#define STATE_NAME_MAX       200

/* Hands the engine's persisted() callback to the poller. Reference counted between the
 * poller and the engine, so a callback that comes after the source stopped touches
 * nothing freed. */
struct ticket
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int refs;
  bool done, cancelled;
  int status;
  char *msg;
};

struct stream
{
  unsigned failures;
  char *last_logged;
};

struct http_source
{
  char *name; /* the URL as configured: the source's name for the engine and the outbox */
  char *base; /* the URL without a trailing '/' */
  char *state_dir;
  char *state_file;
  char *outbox_dir;
  struct http_client_options copts;
  struct source_sink *sink;
  struct outbox *outbox;
  struct http_client *poll_client, *report_client;
  pthread_t poller, reporter;
  bool started;

  pthread_mutex_t lock;
  pthread_cond_t cond; /* CLOCK_MONOTONIC */
  bool stopping;
  char *node_id;
  bool registered;
  /* The next poll asks for a complete manifest (generation=0): after start and after every
   * registration, so the engine hears this source's whole desired set once (kubelet's
   * sources-ready rule) and an endpoint that lost its state cannot leave a node behind. */
  bool want_complete;
  uint64_t generation;
  struct http_poll_hint hint;
  uint64_t outbox_signal;
  struct ticket *ticket;
  uint64_t backoff_base_ms, backoff_cap_ms;
  uint64_t (*rng) (void *);
  void *rng_opaque;
  struct http_source_stats stats;
};

/* ------------------------------------------------------------------ small helpers */

static uint64_t
default_rng (void *opaque BERTH_UNUSED)
{
  uint64_t v;
  if (getrandom (&v, sizeof (v), 0) != sizeof (v))
    v = berth_now_ns () * 0x9e3779b97f4a7c15ull;
  return v;
}

static struct timespec
deadline_ts (uint64_t deadline_ns)
{
  return (struct timespec){ .tv_sec = (time_t)(deadline_ns / 1000000000u),
                            .tv_nsec = (long)(deadline_ns % 1000000000u) };
}

/* Waits on the source's condition until deadline (monotonic ns) or stop. Lock held. */
static void
wait_until_locked (struct http_source *s, uint64_t deadline_ns)
{
  struct timespec ts = deadline_ts (deadline_ns);
  pthread_cond_timedwait (&s->cond, &s->lock, &ts);
}

/* Sleeps until deadline unless stopping; false when stopping. */
static bool
sleep_until (struct http_source *s, uint64_t deadline_ns)
{
  bool stopping;
  pthread_mutex_lock (&s->lock);
  while (!s->stopping && berth_now_ns () < deadline_ns)
    wait_until_locked (s, deadline_ns);
  stopping = s->stopping;
  pthread_mutex_unlock (&s->lock);
  return !stopping;
}

static bool
is_stopping (struct http_source *s)
{
  bool v;
  pthread_mutex_lock (&s->lock);
  v = s->stopping;
  pthread_mutex_unlock (&s->lock);
  return v;
}

static void
set_hint (struct http_source *s, const struct http_poll_hint *h)
{
  pthread_mutex_lock (&s->lock);
  if (memcmp (&s->hint, h, sizeof (*h)) != 0)
    log_info ("endpoint %s: poll hint wait %" PRIu32 " s, heartbeat %" PRIu32
              " s, min interval %" PRIu32 " ms",
              s->name, h->wait_s, h->heartbeat_s, h->min_interval_ms);
  s->hint = *h;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

/* A stream failed: counts it, logs it (the first time, when the cause changes, and every
 * tenth time after), and returns the delay before its next attempt. */
static uint64_t
stream_failed (struct http_source *s, struct stream *st, const char *what, berth_err *err,
               uint64_t retry_after_ms, bool rejected)
{
  const char *msg = berth_err_msg (err);
  uint64_t delay;

  st->failures++;
  pthread_mutex_lock (&s->lock);
  delay = http_backoff_delay_ms (st->failures, s->backoff_base_ms, s->backoff_cap_ms,
                                 s->rng (s->rng_opaque));
  if (delay < retry_after_ms)
    delay = retry_after_ms;
  s->stats.failures++;
  if (rejected)
    s->stats.rejected++;
  s->stats.last_backoff_ms = delay;
  snprintf (s->stats.last_error, sizeof (s->stats.last_error), "%s: %s", what, msg);
  pthread_mutex_unlock (&s->lock);

  if (st->failures == 1 || st->failures % 10 == 0 || st->last_logged == NULL
      || strcmp (st->last_logged, msg) != 0)
    {
      log_warning ("endpoint %s: %s: %s (attempt %u, retrying in %" PRIu64 " ms; tasks keep "
                   "running)",
                   s->name, what, msg, st->failures, delay);
      free (st->last_logged);
      st->last_logged = xstrdup (msg);
    }
  return delay;
}

static void
stream_ok (struct stream *st)
{
  st->failures = 0;
  free (st->last_logged);
  st->last_logged = NULL;
}

static bool
backoff (struct http_source *s, uint64_t delay_ms)
{
  return sleep_until (s, berth_now_ns () + delay_ms * 1000000u);
}

/* An HTTP error status as an error: the endpoint's error code and message when it sent
 * them. */
static int
status_error (const char *what, const struct http_response *resp, berth_err *err)
{
  cleanup_free char *code = NULL, *message = NULL;
  http_proto_parse_error (resp->body, resp->len, &code, &message);
  return berth_err_set (err, 0, "%s: HTTP %ld%s%s%s%s", what, resp->status, code ? " " : "",
                        code ? code : "", message ? ": " : "", message ? message : "");
}

/* ------------------------------------------------------------------ on-disk state */

/* The node identity, shared by every source: created once, linked into place so two
 * sources starting together agree on one id, never overwritten. */
static int
node_id_load_or_create (const char *state_dir, char **ret, berth_err *err)
{
  cleanup_close int dfd = -1;
  cleanup_json json_object *doc = NULL;
  const char *id;
  int r;

  r = berth_mkdir_p (state_dir, 0700, err);
  if (r < 0)
    return r;
  dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return berth_err_set (err, errno, "open `%s`", state_dir);

  if (!berth_exists_at (dfd, NODE_FILE))
    {
      cleanup_free char *uuid = NULL, *tmp = NULL;
      cleanup_json json_object *n = json_object_new_object ();
      char now[BERTH_RFC3339_LEN];
      cleanup_close int fd = -1;
      const char *text;
      size_t len;

      r = berth_read_file_at (AT_FDCWD, "/proc/sys/kernel/random/uuid", 64, &uuid, &len, err);
      if (r < 0)
        return r;
      while (len > 0 && uuid[len - 1] == '\n')
        uuid[--len] = '\0';
      json_object_object_add (n, "node_id", json_object_new_string (uuid));
      json_object_object_add (
          n, "created",
          json_object_new_string (berth_format_rfc3339 (berth_realtime_ns (), now, sizeof (now))));
      text = json_object_to_json_string_length (n, JSON_C_TO_STRING_PRETTY, &len);

      tmp = xasprintf (".%s.tmp.%d.%s", NODE_FILE, getpid (), uuid);
      fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0)
        return berth_err_set (err, errno, "create `%s/%s`", state_dir, tmp);
      if (berth_write_all (fd, text, len) < 0 || berth_write_all (fd, "\n", 1) < 0
          || fsync (fd) < 0)
        {
          r = berth_err_set (err, errno, "write `%s/%s`", state_dir, tmp);
          unlinkat (dfd, tmp, 0);
          return r;
        }
      /* link(2) fails with EEXIST instead of replacing: whoever came first wins. */
      if (linkat (dfd, tmp, dfd, NODE_FILE, 0) < 0 && errno != EEXIST)
        {
          r = berth_err_set (err, errno, "link `%s/%s`", state_dir, NODE_FILE);
          unlinkat (dfd, tmp, 0);
          return r;
        }
      unlinkat (dfd, tmp, 0);
      r = berth_fsync_dir_at (dfd, ".", err);
      if (r < 0)
        return r;
    }

  r = bjson_parse_file_at (dfd, NODE_FILE, 64 * 1024, &doc, err);
  if (r < 0)
    return berth_err_wrap (err, "node identity in `%s`", state_dir);
  r = bjson_get_string (doc, NODE_FILE, "node_id", BJSON_REQUIRED, &id, err);
  if (r < 0)
    return r;
  if (!http_proto_valid_id (id))
    return berth_err_set (err, 0, "%s/%s: node_id: \"%s\" is not a valid identifier", state_dir,
                          NODE_FILE, id);
  *ret = xstrdup (id);
  return 0;
}

static int
state_load (struct http_source *s, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  uint64_t g = 0;
  int r;

  if (!berth_exists_at (AT_FDCWD, s->state_file))
    return 0;
  r = bjson_parse_file_at (AT_FDCWD, s->state_file, 64 * 1024, &doc, err);
  if (r < 0)
    return r;
  r = bjson_get_uint64 (doc, s->state_file, "generation", BJSON_REQUIRED, UINT64_MAX, &g, err);
  if (r < 0)
    return r;
  s->generation = g;
  return 0;
}

static int
state_save (struct http_source *s, uint64_t generation, berth_err *err)
{
  cleanup_json json_object *doc = json_object_new_object ();
  const char *text;
  size_t len;

  json_object_object_add (doc, "url", json_object_new_string (s->name));
  json_object_object_add (doc, "generation", json_object_new_uint64 (generation));
  text = json_object_to_json_string_length (doc, JSON_C_TO_STRING_PLAIN, &len);
  return berth_write_file_atomic_at (AT_FDCWD, s->state_file, text, len, 0600, err);
}

/* ------------------------------------------------------------------ register */

static int
do_register (struct http_source *s, uint64_t *ret_retry_after, bool *ret_rejected, berth_err *err)
{
  cleanup_json json_object *snapshot = NULL, *body = NULL;
  struct http_response resp = { 0 };
  struct http_register_reply rep = { 0 };
  uint64_t generation;
  int r;

  *ret_retry_after = 0;
  *ret_rejected = false;
  pthread_mutex_lock (&s->lock);
  generation = s->generation;
  pthread_mutex_unlock (&s->lock);

  snapshot = source_sink_node_snapshot (s->sink);
  r = http_proto_register_body (s->node_id, snapshot, generation, &body, err);
  if (r < 0)
    return berth_err_wrap (err, "node snapshot");
  r = http_client_request (s->poll_client, "POST", "/v1/register", body, REQUEST_TIMEOUT_S, &resp,
                           err);
  if (r < 0)
    return r;
  *ret_retry_after = resp.retry_after_ms;
  if (resp.status != 200)
    {
      *ret_rejected = resp.status < 400;
      r = status_error ("register", &resp, err);
      goto out;
    }
  r = http_proto_parse_register (resp.body, resp.len, &rep, err);
  if (r < 0)
    {
      *ret_rejected = true;
      goto out;
    }
  if (strcmp (rep.node_id, s->node_id) != 0)
    {
      *ret_rejected = true;
      r = berth_err_set (err, 0, "node_id: expected \"%s\", got \"%s\"", s->node_id, rep.node_id);
      goto out;
    }
  if (rep.has_poll)
    set_hint (s, &rep.poll);
  if (rep.acked_seq > 0)
    {
      struct outbox_stats st;
      cleanup_err berth_err oerr = NULL;
      if (outbox_get_stats (s->outbox, s->name, &st, &oerr) == 0 && rep.acked_seq > st.last_seq)
        log_warning ("endpoint %s: it has state changes up to seq %" PRIu64
                     " but this node only sent up to %" PRIu64
                     " (node state restored from an older copy?): continuing above it",
                     s->name, rep.acked_seq, st.last_seq);
      if (outbox_ack (s->outbox, s->name, rep.acked_seq, &oerr) < 0)
        log_warning ("endpoint %s: %s", s->name, berth_err_msg (&oerr));
    }
  pthread_mutex_lock (&s->lock);
  s->registered = true;
  s->want_complete = true;
  s->stats.registrations++;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  log_info ("endpoint %s: registered as node %s", s->name, s->node_id);
  r = 0;
out:
  http_register_reply_clear (&rep);
  http_response_clear (&resp);
  return r;
}

static void
set_unregistered (struct http_source *s)
{
  pthread_mutex_lock (&s->lock);
  if (s->registered)
    log_info ("endpoint %s: does not know node %s: registering again", s->name, s->node_id);
  s->registered = false;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

/* ------------------------------------------------------------------ assignments */

static void
ticket_unref (struct ticket *t)
{
  bool last;
  pthread_mutex_lock (&t->lock);
  last = --t->refs == 0;
  pthread_mutex_unlock (&t->lock);
  if (!last)
    return;
  pthread_mutex_destroy (&t->lock);
  pthread_cond_destroy (&t->cond);
  free (t->msg);
  free (t);
}

static void
on_persisted (void *opaque, uint64_t generation BERTH_UNUSED, int status, const char *msg)
{
  struct ticket *t = opaque;
  pthread_mutex_lock (&t->lock);
  t->done = true;
  t->status = status;
  t->msg = msg ? xstrdup (msg) : NULL;
  pthread_cond_broadcast (&t->cond);
  pthread_mutex_unlock (&t->lock);
  ticket_unref (t);
}

enum persist_result
{
  PERSIST_OK,
  PERSIST_FAILED,
  PERSIST_STOPPING,
};

/* Hands the manifest to the engine and waits until it is on disk. */
static enum persist_result
submit_and_wait (struct http_source *s, struct http_manifest *m, char **ret_msg)
{
  struct source_update *u = xzalloc (sizeof (*u));
  struct ticket *t = xzalloc (sizeof (*t));
  enum persist_result res;

  pthread_mutex_init (&t->lock, NULL);
  pthread_cond_init (&t->cond, NULL);
  t->refs = 2; /* the poller and the engine's callback */
  u->source = xstrdup (s->name);
  u->generation = m->generation;
  u->complete = m->complete;
  u->tasks = steal_pointer (&m->tasks);
  u->n_tasks = m->n_tasks;
  m->n_tasks = 0;
  u->persisted = on_persisted;
  u->opaque = t;

  pthread_mutex_lock (&s->lock);
  s->ticket = t;
  pthread_mutex_unlock (&s->lock);

  source_sink_submit (s->sink, u);

  pthread_mutex_lock (&t->lock);
  while (!t->done && !t->cancelled)
    pthread_cond_wait (&t->cond, &t->lock);
  if (!t->done)
    res = PERSIST_STOPPING;
  /* A stale generation: the engine holds this one or a newer one on disk already. */
  else if (t->status == 0 || t->status == -ESTALE)
    res = PERSIST_OK;
  else
    {
      res = PERSIST_FAILED;
      *ret_msg = xasprintf ("engine: %s", t->msg ? t->msg : strerror (-t->status));
    }
  pthread_mutex_unlock (&t->lock);

  pthread_mutex_lock (&s->lock);
  s->ticket = NULL;
  pthread_mutex_unlock (&s->lock);
  ticket_unref (t);
  return res;
}

static void
send_ack (struct http_source *s, uint64_t generation, bool accepted, const char *message)
{
  cleanup_json json_object *body = http_proto_ack_body (generation, accepted, message);
  cleanup_free char *path = xasprintf ("/v1/nodes/%s/assignments/ack", s->node_id);
  cleanup_err berth_err err = NULL;
  struct http_response resp = { 0 };

  /* Not retried here: the next poll carries generation=G, which acknowledges too. */
  if (http_client_request (s->poll_client, "POST", path, body, REQUEST_TIMEOUT_S, &resp, &err) < 0)
    log_warning ("endpoint %s: assignment ack of generation %" PRIu64 ": %s", s->name, generation,
                 berth_err_msg (&err));
  else if (resp.status / 100 != 2)
    {
      status_error ("assignment ack", &resp, &err);
      log_warning ("endpoint %s: %s", s->name, berth_err_msg (&err));
      if (resp.status == 404)
        set_unregistered (s);
    }
  else if (accepted)
    {
      pthread_mutex_lock (&s->lock);
      s->stats.acks++;
      pthread_mutex_unlock (&s->lock);
    }
  http_response_clear (&resp);
}

/* One long-poll. Returns 0 when the stream is healthy, negative on a failure (err set,
 * *ret_retry_after / *ret_rejected describe it). */
static int
poll_once (struct http_source *s, uint64_t *ret_retry_after, bool *ret_rejected, berth_err *err)
{
  struct http_response resp = { 0 };
  struct http_manifest m = { 0 };
  cleanup_free char *path = NULL, *msg = NULL;
  uint64_t generation, asked;
  uint32_t wait_s;
  enum persist_result pr;
  int r;

  *ret_retry_after = 0;
  *ret_rejected = false;
  pthread_mutex_lock (&s->lock);
  generation = s->generation;
  asked = s->want_complete ? 0 : generation;
  wait_s = s->hint.wait_s;
  pthread_mutex_unlock (&s->lock);

  path = xasprintf ("/v1/nodes/%s/assignments?generation=%" PRIu64 "&wait=%" PRIu32, s->node_id,
                    asked, wait_s);
  r = http_client_request (s->poll_client, "GET", path, NULL, (long)wait_s + LONG_POLL_GRACE_S,
                           &resp, err);
  if (r < 0)
    {
      *ret_rejected = berth_err_code (err) == EFBIG;
      return berth_err_wrap (err, "assignments");
    }
  pthread_mutex_lock (&s->lock);
  s->stats.polls++;
  pthread_mutex_unlock (&s->lock);
  *ret_retry_after = resp.retry_after_ms;

  if (resp.status == 204)
    {
      r = 0;
      goto out;
    }
  if (resp.status == 404)
    set_unregistered (s);
  if (resp.status != 200)
    {
      *ret_rejected = resp.status < 400;
      r = status_error ("assignments", &resp, err);
      goto out;
    }
  r = http_proto_parse_assignments (resp.body, resp.len, &m, err);
  if (r < 0)
    {
      *ret_rejected = true;
      berth_err_wrap (err, "assignments");
      goto out;
    }
  if (m.has_poll)
    set_hint (s, &m.poll);
  /* The complete manifest asked for after registering may well be the generation the
   * engine holds: the engine answers -ESTALE, which counts as on disk. */
  if (m.generation <= asked)
    {
      pthread_mutex_lock (&s->lock);
      s->stats.stale++;
      pthread_mutex_unlock (&s->lock);
      r = berth_err_set (
          err, 0, "assignments: stale generation %" PRIu64 " (this node has %" PRIu64 "): ignored",
          m.generation, generation);
      goto out;
    }

  log_debug ("endpoint %s: generation %" PRIu64 " (%s, %zu tasks)", s->name, m.generation,
             m.complete ? "complete" : "delta", m.n_tasks);
  {
    uint64_t g = m.generation;
    pr = submit_and_wait (s, &m, &msg);
    if (pr == PERSIST_STOPPING)
      {
        r = 0;
        goto out;
      }
    if (pr == PERSIST_FAILED)
      {
        send_ack (s, g, false, msg);
        r = berth_err_set (err, 0, "assignments: generation %" PRIu64 " not persisted: %s", g, msg);
        goto out;
      }
    if (g > generation)
      {
        cleanup_err berth_err serr = NULL;
        if (state_save (s, g, &serr) < 0)
          /* The engine has it; at worst the next start polls from an older generation and
           * the engine answers "stale", which moves us forward again. */
          log_warning ("endpoint %s: %s", s->name, berth_err_msg (&serr));
      }
    pthread_mutex_lock (&s->lock);
    if (g > s->generation)
      s->generation = g;
    s->want_complete = false;
    s->stats.generation = s->generation;
    s->stats.manifests++;
    pthread_mutex_unlock (&s->lock);
    send_ack (s, g, true, NULL);
  }
  r = 0;
out:
  http_manifest_clear (&m);
  http_response_clear (&resp);
  return r;
}

static void *
poller_main (void *opaque)
{
  struct http_source *s = opaque;
  struct stream st = { 0 };
  uint64_t last_start = 0;

  while (!is_stopping (s))
    {
      cleanup_err berth_err err = NULL;
      uint64_t retry_after = 0, min_interval_ms;
      bool registered, rejected = false;
      const char *what;
      int r;

      pthread_mutex_lock (&s->lock);
      registered = s->registered;
      min_interval_ms = s->hint.min_interval_ms;
      pthread_mutex_unlock (&s->lock);

      if (!registered)
        {
          what = "register";
          r = do_register (s, &retry_after, &rejected, &err);
        }
      else
        {
          /* The endpoint's poll-rate hint: least time between the starts of two polls. */
          if (last_start && !sleep_until (s, last_start + min_interval_ms * 1000000u))
            break;
          last_start = berth_now_ns ();
          what = "assignments";
          r = poll_once (s, &retry_after, &rejected, &err);
        }
      if (r == 0)
        {
          stream_ok (&st);
          pthread_mutex_lock (&s->lock);
          s->stats.poll_failures = 0;
          pthread_mutex_unlock (&s->lock);
          continue;
        }
      if (berth_err_code (&err) == ECANCELED)
        break;
      {
        uint64_t delay = stream_failed (s, &st, what, &err, retry_after, rejected);
        pthread_mutex_lock (&s->lock);
        s->stats.poll_failures = st.failures;
        pthread_mutex_unlock (&s->lock);
        if (!backoff (s, delay))
          break;
      }
    }
  stream_ok (&st);
  return NULL;
}

/* ------------------------------------------------------------------ state changes */

enum send_result
{
  SEND_IDLE, /* nothing pending */
  SEND_MORE, /* a batch went out; maybe more */
  SEND_FAILED,
};

static enum send_result
send_batch (struct http_source *s, size_t *batch_max, uint64_t *ret_retry_after, bool *ret_rejected,
            berth_err *err)
{
  cleanup_json json_object *changes = NULL, *body = NULL;
  cleanup_free char *path = NULL;
  struct http_response resp = { 0 };
  uint64_t acked, first, last;
  size_t n;
  enum send_result res = SEND_FAILED;
  int r;

  *ret_retry_after = 0;
  *ret_rejected = false;
  r = outbox_read (s->outbox, s->name, 0, *batch_max, BATCH_MAX_BYTES, &changes, err);
  if (r < 0)
    return SEND_FAILED;
  n = json_object_array_length (changes);
  if (n == 0)
    return SEND_IDLE;
  {
    json_object *v;
    json_object_object_get_ex (json_object_array_get_idx (changes, 0), "seq", &v);
    first = json_object_get_uint64 (v);
    json_object_object_get_ex (json_object_array_get_idx (changes, n - 1), "seq", &v);
    last = json_object_get_uint64 (v);
  }

  body = http_proto_state_changes_body (changes);
  path = xasprintf ("/v1/nodes/%s/state-changes", s->node_id);
  r = http_client_request (s->report_client, "POST", path, body, REQUEST_TIMEOUT_S, &resp, err);
  if (r < 0)
    {
      *ret_rejected = berth_err_code (err) == EFBIG;
      berth_err_wrap (err, "state changes");
      return SEND_FAILED;
    }
  *ret_retry_after = resp.retry_after_ms;
  if (resp.status == 413 && *batch_max > 1)
    {
      *batch_max = n / 2 ? n / 2 : 1;
      log_info ("endpoint %s: state-change batch of %zu too large; sending %zu at a time", s->name,
                n, *batch_max);
      res = SEND_MORE;
      goto out;
    }
  if (resp.status == 404)
    set_unregistered (s);
  if (resp.status != 200)
    {
      *ret_rejected = resp.status < 400;
      status_error ("state changes", &resp, err);
      goto out;
    }
  r = http_proto_parse_state_changes_reply (resp.body, resp.len, &acked, err);
  if (r < 0)
    {
      *ret_rejected = true;
      berth_err_wrap (err, "state changes");
      goto out;
    }
  if (acked < first)
    {
      /* Nothing of the batch taken: sending it again at once would spin. */
      *ret_rejected = true;
      berth_err_set (err, 0,
                     "state changes: the endpoint acknowledged up to %" PRIu64 ", none of %" PRIu64
                     "..%" PRIu64,
                     acked, first, last);
      goto out;
    }
  if (acked < last)
    log_warning ("endpoint %s: acknowledged state changes up to %" PRIu64 " of %" PRIu64
                 ": sending the rest again",
                 s->name, acked, last);
  /* Never more than was sent: an endpoint that claims changes this node has not sent yet
   * must not make the outbox drop them. */
  if (acked > last)
    {
      log_warning ("endpoint %s: acknowledged state changes up to %" PRIu64
                   " but was sent up to %" PRIu64,
                   s->name, acked, last);
      acked = last;
    }
  r = outbox_ack (s->outbox, s->name, acked, err);
  if (r < 0)
    goto out;
  pthread_mutex_lock (&s->lock);
  s->stats.batches++;
  s->stats.changes_acked += n;
  pthread_mutex_unlock (&s->lock);
  res = SEND_MORE;
out:
  http_response_clear (&resp);
  return res;
}

static int
send_heartbeat (struct http_source *s, uint64_t *ret_retry_after, bool *ret_rejected,
                berth_err *err)
{
  cleanup_json json_object *snapshot = NULL, *body = NULL;
  cleanup_free char *path = NULL;
  struct http_response resp = { 0 };
  struct outbox_stats ost = { 0 };
  struct http_poll_hint hint;
  uint64_t generation;
  bool has_hint;
  int r;

  *ret_retry_after = 0;
  *ret_rejected = false;
  pthread_mutex_lock (&s->lock);
  generation = s->generation;
  pthread_mutex_unlock (&s->lock);
  r = outbox_get_stats (s->outbox, s->name, &ost, err);
  if (r < 0)
    return r;
  snapshot = source_sink_node_snapshot (s->sink);
  r = http_proto_heartbeat_body (snapshot, s->name, generation, ost.pending, ost.coalesced, &body,
                                 err);
  if (r < 0)
    return berth_err_wrap (err, "heartbeat: node snapshot");
  path = xasprintf ("/v1/nodes/%s/heartbeat", s->node_id);
  r = http_client_request (s->report_client, "POST", path, body, REQUEST_TIMEOUT_S, &resp, err);
  if (r < 0)
    {
      *ret_rejected = berth_err_code (err) == EFBIG;
      return berth_err_wrap (err, "heartbeat");
    }
  *ret_retry_after = resp.retry_after_ms;
  if (resp.status == 404)
    set_unregistered (s);
  if (resp.status != 200)
    {
      *ret_rejected = resp.status < 400;
      r = status_error ("heartbeat", &resp, err);
      goto out;
    }
  r = http_proto_parse_heartbeat_reply (resp.body, resp.len, &has_hint, &hint, err);
  if (r < 0)
    {
      *ret_rejected = true;
      berth_err_wrap (err, "heartbeat");
      goto out;
    }
  if (has_hint)
    set_hint (s, &hint);
  pthread_mutex_lock (&s->lock);
  s->stats.heartbeats++;
  pthread_mutex_unlock (&s->lock);
out:
  http_response_clear (&resp);
  return r;
}

static void *
reporter_main (void *opaque)
{
  struct http_source *s = opaque;
  struct stream events = { 0 }, beats = { 0 };
  uint64_t events_at = 0, beat_at = 0, seen_signal = 0;
  bool events_pending = true, was_registered = false;
  size_t batch_max = BATCH_MAX_CHANGES;

  pthread_mutex_lock (&s->lock);
  while (!s->stopping)
    {
      uint64_t now = berth_now_ns (), signal, wake;
      bool do_events, do_beat;

      if (!s->registered)
        {
          was_registered = false;
          pthread_cond_wait (&s->cond, &s->lock);
          continue;
        }
      if (!was_registered)
        {
          /* Right after (re)registering: tell the endpoint where we are at once. */
          was_registered = true;
          beat_at = now;
          events_pending = true;
        }
      signal = s->outbox_signal;
      do_events = (events_pending || signal != seen_signal) && now >= events_at;
      do_beat = now >= beat_at;
      if (!do_events && !do_beat)
        {
          wake = beat_at;
          if ((events_pending || signal != seen_signal) && events_at < wake)
            wake = events_at;
          wait_until_locked (s, wake);
          continue;
        }
      pthread_mutex_unlock (&s->lock);

      if (do_events)
        {
          cleanup_err berth_err err = NULL;
          uint64_t retry_after;
          bool rejected;
          enum send_result res;

          seen_signal = signal;
          res = send_batch (s, &batch_max, &retry_after, &rejected, &err);
          if (res == SEND_FAILED)
            {
              if (berth_err_code (&err) == ECANCELED)
                {
                  pthread_mutex_lock (&s->lock);
                  break;
                }
              events_pending = true;
              events_at = berth_now_ns ()
                          + stream_failed (s, &events, "state changes", &err, retry_after, rejected)
                                * 1000000u;
            }
          else
            {
              stream_ok (&events);
              events_pending = res == SEND_MORE;
              events_at = 0;
            }
        }
      if (do_beat)
        {
          cleanup_err berth_err err = NULL;
          uint64_t retry_after, heartbeat_s;
          bool rejected;

          if (send_heartbeat (s, &retry_after, &rejected, &err) < 0)
            {
              if (berth_err_code (&err) == ECANCELED)
                {
                  pthread_mutex_lock (&s->lock);
                  break;
                }
              beat_at = berth_now_ns ()
                        + stream_failed (s, &beats, "heartbeat", &err, retry_after, rejected)
                              * 1000000u;
            }
          else
            {
              stream_ok (&beats);
              pthread_mutex_lock (&s->lock);
              heartbeat_s = s->hint.heartbeat_s;
              pthread_mutex_unlock (&s->lock);
              beat_at = berth_now_ns () + heartbeat_s * 1000000000u;
            }
        }
      pthread_mutex_lock (&s->lock);
    }
  pthread_mutex_unlock (&s->lock);
  stream_ok (&events);
  stream_ok (&beats);
  return NULL;
}

/* ------------------------------------------------------------------ the source */

static void
http_source_free (void *state)
{
  struct http_source *s = state;
  if (s == NULL)
    return;
  http_client_free (s->poll_client);
  http_client_free (s->report_client);
  outbox_close (s->outbox);
  pthread_mutex_destroy (&s->lock);
  pthread_cond_destroy (&s->cond);
  free (s->name);
  free (s->base);
  free (s->state_dir);
  free (s->state_file);
  free (s->outbox_dir);
  free ((char *)s->copts.token_file);
  free ((char *)s->copts.ca_file);
  free ((char *)s->copts.cert_file);
  free ((char *)s->copts.key_file);
  free (s->node_id);
  free (s);
}

static int
check_readable (const char *setting, const char *path, berth_err *err)
{
  if (path && access (path, R_OK) < 0)
    return berth_err_set (err, errno, "%s `%s`", setting, path);
  return 0;
}

static int
http_source_open (const struct source_options *o, struct source_sink *sink, void **ret_state,
                  berth_err *err)
{
  struct http_source *s;
  pthread_condattr_t ca;
  cleanup_free char *escaped = NULL;
  size_t len;
  int r;

  if (str_has_prefix (o->url, "http://"))
    {
      if (!o->allow_plain_http)
        return berth_err_set (err, 0,
                              "%s: plain HTTP is not allowed by the configuration "
                              "(allow_plain_http); use https:// or allow it",
                              o->url);
    }
  else if (!str_has_prefix (o->url, "https://"))
    return berth_err_set (err, 0, "%s: not an http:// or https:// URL", o->url);
  if (o->state_dir == NULL || o->outbox_dir == NULL)
    return berth_err_set (err, EINVAL, "%s: state_dir and outbox_dir are required", o->url);
  if ((o->cert_file == NULL) != (o->key_file == NULL))
    return berth_err_set (err, 0, "%s: a client certificate needs both cert_file and key_file",
                          o->url);
  if ((r = check_readable ("token_file", o->token_file, err)) < 0
      || (r = check_readable ("ca_file", o->ca_file, err)) < 0
      || (r = check_readable ("cert_file", o->cert_file, err)) < 0
      || (r = check_readable ("key_file", o->key_file, err)) < 0)
    return berth_err_wrap (err, "%s", o->url);
  if (o->token_file)
    {
      cleanup_free char *token = NULL;
      r = http_read_token (o->token_file, &token, err);
      if (r < 0)
        return berth_err_wrap (err, "%s", o->url);
      explicit_bzero (token, strlen (token));
    }
  escaped = berth_name_escape (o->url);
  if (strlen (escaped) > STATE_NAME_MAX)
    return berth_err_set (err, ENAMETOOLONG, "%s: URL too long for a state file name", o->url);

  s = xzalloc (sizeof (*s));
  pthread_mutex_init (&s->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&s->cond, &ca);
  pthread_condattr_destroy (&ca);
  s->name = xstrdup (o->url);
  s->base = xstrdup (o->url);
  len = strlen (s->base);
  while (len > 0 && s->base[len - 1] == '/')
    s->base[--len] = '\0';
  s->state_dir = xstrdup (o->state_dir);
  s->state_file = xasprintf ("%s/http-%s.json", o->state_dir, escaped);
  s->outbox_dir = xstrdup (o->outbox_dir);
  s->sink = sink;
  s->hint = HTTP_POLL_HINT_DEFAULT;
  s->backoff_base_ms = 500;
  s->backoff_cap_ms = 60000;
  s->rng = default_rng;
  s->copts.base_url = s->base;
  s->copts.token_file = o->token_file ? xstrdup (o->token_file) : NULL;
  s->copts.ca_file = o->ca_file ? xstrdup (o->ca_file) : NULL;
  s->copts.cert_file = o->cert_file ? xstrdup (o->cert_file) : NULL;
  s->copts.key_file = o->key_file ? xstrdup (o->key_file) : NULL;
  s->copts.max_response_bytes
      = o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE;

  if ((r = node_id_load_or_create (s->state_dir, &s->node_id, err)) < 0
      || (r = state_load (s, err)) < 0
      || (r = outbox_open (s->outbox_dir, NULL, &s->outbox, err)) < 0
      || (r = http_client_new (&s->copts, &s->poll_client, err)) < 0
      || (r = http_client_new (&s->copts, &s->report_client, err)) < 0)
    {
      berth_err_wrap (err, "%s", o->url);
      http_source_free (s);
      return r;
    }
  s->stats.generation = s->generation;
  snprintf (s->stats.node_id, sizeof (s->stats.node_id), "%s", s->node_id);
  *ret_state = s;
  return 0;
}

static int
http_source_start (void *state, berth_err *err)
{
  struct http_source *s = state;
  int r;

  r = pthread_create (&s->poller, NULL, poller_main, s);
  if (r != 0)
    return berth_err_set (err, r, "%s: start the poller thread", s->name);
  r = pthread_create (&s->reporter, NULL, reporter_main, s);
  if (r != 0)
    {
      pthread_mutex_lock (&s->lock);
      s->stopping = true;
      pthread_cond_broadcast (&s->cond);
      pthread_mutex_unlock (&s->lock);
      http_client_cancel (s->poll_client);
      pthread_join (s->poller, NULL);
      return berth_err_set (err, r, "%s: start the reporter thread", s->name);
    }
  s->started = true;
  log_info ("endpoint %s: node %s, generation %" PRIu64, s->name, s->node_id, s->generation);
  return 0;
}

static void
http_source_outbox_ready (void *state)
{
  struct http_source *s = state;
  pthread_mutex_lock (&s->lock);
  s->outbox_signal++;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

static void
http_source_stop (void *state)
{
  struct http_source *s = state;

  pthread_mutex_lock (&s->lock);
  s->stopping = true;
  pthread_cond_broadcast (&s->cond);
  if (s->ticket)
    {
      pthread_mutex_lock (&s->ticket->lock);
      s->ticket->cancelled = true;
      pthread_cond_broadcast (&s->ticket->cond);
      pthread_mutex_unlock (&s->ticket->lock);
    }
  pthread_mutex_unlock (&s->lock);
  http_client_cancel (s->poll_client);
  http_client_cancel (s->report_client);
  if (s->started)
    {
      pthread_join (s->poller, NULL);
      pthread_join (s->reporter, NULL);
      s->started = false;
    }
}

void
http_source_get_stats (void *state, struct http_source_stats *ret)
{
  struct http_source *s = state;
  pthread_mutex_lock (&s->lock);
  *ret = s->stats;
  pthread_mutex_unlock (&s->lock);
}

void
http_source_set_backoff (void *state, uint64_t base_ms, uint64_t cap_ms,
                         uint64_t (*rng) (void *opaque), void *rng_opaque)
{
  struct http_source *s = state;
  pthread_mutex_lock (&s->lock);
  s->backoff_base_ms = base_ms;
  s->backoff_cap_ms = cap_ms;
  if (rng)
    {
      s->rng = rng;
      s->rng_opaque = rng_opaque;
    }
  pthread_mutex_unlock (&s->lock);
}

const struct task_source_ops source_http_ops = {
  .scheme = "http",
  .open = http_source_open,
  .start = http_source_start,
  .outbox_ready = http_source_outbox_ready,
  .stop = http_source_stop,
  .free = http_source_free,
};
