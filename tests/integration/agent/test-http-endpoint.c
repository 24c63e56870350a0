/* Integration tests of the http task source against a real berth-endpoint (and a
 * misbehaving one, http-fault-endpoint.py) on 127.0.0.1, ports 20000-20999. A test sink
 * stands in for the engine: it records each update and persists it (immediately, or when
 * the test says so), answering -ESTALE for generations it already holds, as the engine
 * does. Waits poll a condition with a generous deadline; no assertion depends on timing
 * except lower bounds on delays the source must respect. */
#include "agent/outbox/outbox.h"
#include "agent/sources/http-client.h"
#include "agent/sources/http-proto.h"
#include "agent/sources/http.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define WAIT_S     60
#define PORT_FIRST 20000
#define PORT_LAST  20999

/* ------------------------------------------------------------------ the test sink */

struct source_sink
{
  pthread_mutex_t lock;
  bool manual;
  struct source_update *updates[256];
  size_t n, persisted;
  uint64_t generation;
};

static struct source_sink sink;

static void
persist_next_locked (int forced_status)
{
  struct source_update *u = sink.updates[sink.persisted++];
  int status = forced_status;
  if (status == 0 && u->generation <= sink.generation)
    status = -ESTALE;
  if (status == 0)
    sink.generation = u->generation;
  if (u->persisted)
    u->persisted (u->opaque, u->generation, status, status == -EIO ? "disk on fire" : NULL);
}

void
source_sink_submit (struct source_sink *s, struct source_update *u)
{
  pthread_mutex_lock (&s->lock);
  cr_assert_lt (s->n, ARRAY_SIZE (s->updates));
  s->updates[s->n++] = u;
  if (!s->manual)
    persist_next_locked (0);
  pthread_mutex_unlock (&s->lock);
}

json_object *
source_sink_node_snapshot (struct source_sink *s BERTH_UNUSED)
{
  static const char text[]
      = "{\"agent_version\":\"0.1.0-test\",\"hostname\":\"itest\",\"boot_id\":\"b-1\","
        "\"resources\":{\"cpu\":2048,\"memory_mib\":4096},"
        "\"free\":{\"cpu\":1500,\"memory_mib\":3000},"
        "\"attributes\":{\"os\":\"linux\",\"arch\":\"x86_64\",\"kernel\":\"test\","
        "\"cgroup\":\"hybrid\",\"network_modes\":[\"awsvpc\"],\"features\":[]},\"tasks\":[]}";
  json_object *o = NULL;
  berth_err err = NULL;
  if (bjson_parse (text, strlen (text), "snapshot", &o, &err) < 0)
    abort ();
  return o;
}

static size_t
sink_count (void)
{
  size_t n;
  pthread_mutex_lock (&sink.lock);
  n = sink.n;
  pthread_mutex_unlock (&sink.lock);
  return n;
}

static struct source_update *
sink_update (size_t i)
{
  struct source_update *u;
  pthread_mutex_lock (&sink.lock);
  cr_assert_lt (i, sink.n);
  u = sink.updates[i];
  pthread_mutex_unlock (&sink.lock);
  return u;
}

static void
sink_release (int status)
{
  pthread_mutex_lock (&sink.lock);
  cr_assert_lt (sink.persisted, sink.n, "nothing to release");
  persist_next_locked (status);
  pthread_mutex_unlock (&sink.lock);
}

static const char *
update_task (struct source_update *u, size_t i, enum berth_desired *ret_desired)
{
  cr_assert_lt (i, u->n_tasks);
  if (ret_desired)
    *ret_desired = u->tasks[i].desired;
  return u->tasks[i].task_id;
}

/* ------------------------------------------------------------------ waiting */

static bool
wait_for (bool (*cond) (void *), void *arg)
{
  uint64_t deadline = berth_now_ns () + (uint64_t)WAIT_S * 1000000000u;
  while (!cond (arg))
    {
      if (berth_now_ns () > deadline)
        return false;
      usleep (20 * 1000);
    }
  return true;
}

/* ------------------------------------------------------------------ processes and dirs */

static char tmp[64];

struct proc
{
  pid_t pid;
  int port;
  bool endpoint; /* berth-endpoint: must exit 0 on SIGTERM (ASan's leak check included) */
};

static struct proc procs[8];
static size_t n_procs;

static void
proc_stop (struct proc *p)
{
  int status;
  if (p->pid <= 0)
    return;
  kill (p->pid, SIGTERM);
  waitpid (p->pid, &status, 0);
  p->pid = 0;
  if (p->endpoint && !(WIFEXITED (status) && WEXITSTATUS (status) == 0))
    {
      cleanup_free char *cmd = xasprintf ("cat %s/endpoint.log >&2", tmp);
      if (system (cmd) < 0)
        perror ("system");
      cr_assert_fail ("berth-endpoint ended with status 0x%x on SIGTERM", status);
    }
}

/* Runs argv with fd 3 as the write end of a pipe and waits for "ready" on it. false when the
 * program exited first (its port was taken). */
static bool
spawn_ready (char *const *argv, const char *log, pid_t *ret_pid)
{
  int fds[2], status;
  char buf[16];
  ssize_t n;
  pid_t pid;

  cr_assert_eq (pipe2 (fds, O_CLOEXEC), 0);
  pid = fork ();
  cr_assert_geq (pid, 0);
  if (pid == 0)
    {
      int logfd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (logfd < 0 || dup2 (logfd, 2) < 0 || dup2 (fds[1], 3) < 0)
        _exit (127);
      execv (argv[0], argv);
      _exit (127);
    }
  close (fds[1]);
  n = read (fds[0], buf, sizeof (buf));
  close (fds[0]);
  if (n > 0 && strncmp (buf, "ready", 5) == 0)
    {
      *ret_pid = pid;
      return true;
    }
  waitpid (pid, &status, 0);
  return false;
}

static int
pick_port (void)
{
  static unsigned counter;
  unsigned span = (PORT_LAST - PORT_FIRST) / 2;
  return PORT_FIRST + (int)(((unsigned)getpid () * 7919u + counter++ * 104729u) % span) * 2;
}

struct ep_opts
{
  const char *state; /* state dir name under tmp */
  int port;          /* 0: pick one */
  const char *extra[12];
};

/* Starts berth-endpoint; returns its index in procs. */
static size_t
ep_start (const struct ep_opts *o)
{
  const char *exe = getenv ("BERTH_ENDPOINT");
  cr_assert_not_null (exe, "BERTH_ENDPOINT not set");
  for (int attempt = 0; attempt < 50; attempt++)
    {
      int port = o->port ? o->port : pick_port ();
      cleanup_free char *state = xasprintf ("%s/%s", tmp, o->state);
      cleanup_free char *listen = xasprintf ("127.0.0.1:%d", port);
      cleanup_free char *admin = xasprintf ("127.0.0.1:%d", port + 1);
      cleanup_free char *log = xasprintf ("%s/endpoint.log", tmp);
      char *argv[40];
      size_t n = 0;
      pid_t pid;

      argv[n++] = (char *)exe;
      argv[n++] = "serve";
      argv[n++] = "--state-dir";
      argv[n++] = state;
      argv[n++] = "--listen";
      argv[n++] = listen;
      argv[n++] = "--admin-listen";
      argv[n++] = admin;
      argv[n++] = "--ready-fd";
      argv[n++] = "3";
      argv[n++] = "--poll-wait";
      argv[n++] = "2";
      for (size_t i = 0; o->extra[i]; i++)
        argv[n++] = (char *)o->extra[i];
      argv[n] = NULL;
      if (spawn_ready (argv, log, &pid))
        {
          cr_assert_lt (n_procs, ARRAY_SIZE (procs));
          procs[n_procs] = (struct proc){ pid, port, true };
          return n_procs++;
        }
      cr_assert_eq (o->port, 0, "berth-endpoint could not start on its old port %d", port);
    }
  cr_assert_fail ("berth-endpoint did not start (see %s/endpoint.log)", tmp);
  return 0;
}

static size_t
fault_start (const char *mode, char **ret_log)
{
  const char *script = getenv ("BERTH_FAULT_ENDPOINT");
  cr_assert_not_null (script, "BERTH_FAULT_ENDPOINT not set");
  *ret_log = xasprintf ("%s/fault-requests.log", tmp);
  for (int attempt = 0; attempt < 50; attempt++)
    {
      int port = pick_port ();
      char portbuf[16];
      cleanup_free char *log = xasprintf ("%s/fault.log", tmp);
      char *argv[] = { "/usr/bin/python3", (char *)script, (char *)mode, portbuf, *ret_log, NULL };
      pid_t pid;
      snprintf (portbuf, sizeof (portbuf), "%d", port);
      if (spawn_ready (argv, log, &pid))
        {
          procs[n_procs] = (struct proc){ pid, port };
          return n_procs++;
        }
    }
  cr_assert_fail ("the fault endpoint did not start");
  return 0;
}

static void
setup (void)
{
  memset (&sink, 0, sizeof (sink));
  pthread_mutex_init (&sink.lock, NULL);
  strcpy (tmp, "/tmp/berth-endpoint-itest-XXXXXX");
  cr_assert_not_null (mkdtemp (tmp));
  berth_log_init ("itest", 2, BERTH_LOG_PLAIN, BERTH_LOG_INFO);
}

static void
teardown (void)
{
  berth_err err = NULL;
  for (size_t i = 0; i < n_procs; i++)
    proc_stop (&procs[i]);
  n_procs = 0;
  for (size_t i = 0; i < sink.n; i++)
    source_update_free (sink.updates[i]);
  sink.n = 0;
  if (berth_rm_rf_at (AT_FDCWD, tmp, &err) < 0)
    berth_err_free (&err);
}

TestSuite (http_endpoint, .init = setup, .fini = teardown, .timeout = 240);

/* ------------------------------------------------------------------ the source */

struct src
{
  void *state;
  char *url;
};

struct src_opts
{
  const char *scheme; /* "http" default */
  int port;
  const char *state; /* state dir name under tmp ("agent" default) */
  const char *token_file, *ca_file, *cert_file, *key_file;
  bool refuse_plain;
  uint64_t max_response;
  uint64_t backoff_base_ms, backoff_cap_ms;
  uint64_t (*rng) (void *);
};

static int
src_open (const struct src_opts *o, struct src *ret, berth_err *err)
{
  cleanup_free char *state_dir = xasprintf ("%s/%s", tmp, o->state ? o->state : "agent");
  cleanup_free char *outbox_dir = xasprintf ("%s/outbox", state_dir);
  struct source_options so = { 0 };
  int r;

  ret->url = xasprintf ("%s://127.0.0.1:%d", o->scheme ? o->scheme : "http", o->port);
  so.url = ret->url;
  so.state_dir = state_dir;
  so.outbox_dir = outbox_dir;
  so.token_file = o->token_file;
  so.ca_file = o->ca_file;
  so.cert_file = o->cert_file;
  so.key_file = o->key_file;
  so.allow_plain_http = !o->refuse_plain;
  so.max_response_bytes = o->max_response;
  r = source_http_ops.open (&so, &sink, &ret->state, err);
  if (r < 0)
    {
      free (ret->url);
      return r;
    }
  /* Short delays keep outage tests quick; the bounds are the unit tests' business. */
  http_source_set_backoff (ret->state, o->backoff_base_ms ? o->backoff_base_ms : 50,
                           o->backoff_cap_ms ? o->backoff_cap_ms : 400, o->rng, NULL);
  return 0;
}

static void
src_start (const struct src_opts *o, struct src *ret)
{
  berth_err err = NULL;
  cr_assert_eq (src_open (o, ret, &err), 0, "open: %s", berth_err_msg (&err));
  cr_assert_eq (source_http_ops.start (ret->state, &err), 0, "start: %s", berth_err_msg (&err));
}

static void
src_stop (struct src *s)
{
  source_http_ops.stop (s->state);
  source_http_ops.free (s->state);
  free (s->url);
  s->state = NULL;
}

static struct http_source_stats
stats (struct src *s)
{
  struct http_source_stats st;
  http_source_get_stats (s->state, &st);
  return st;
}

/* ------------------------------------------------------------------ admin API */

static json_object *
admin (int port, const char *method, const char *path, const char *body_text)
{
  cleanup_free char *base = xasprintf ("http://127.0.0.1:%d", port + 1);
  struct http_client_options o = { .base_url = base, .max_response_bytes = 64 << 20 };
  struct http_client *c = NULL;
  struct http_response resp = { 0 };
  cleanup_json json_object *body = NULL;
  json_object *out = NULL;
  berth_err err = NULL;

  if (body_text)
    cr_assert_eq (bjson_parse (body_text, strlen (body_text), "body", &body, &err), 0);
  cr_assert_eq (http_client_new (&o, &c, &err), 0);
  cr_assert_eq (http_client_request (c, method, path, body, 60, &resp, &err), 0, "%s %s: %s",
                method, path, berth_err_msg (&err));
  http_client_free (c);
  cr_assert_eq (resp.status / 100, 2, "%s %s: %ld %s", method, path, resp.status, resp.body);
  cr_assert_eq (bjson_parse (resp.body, resp.len, "admin", &out, &err), 0);
  http_response_clear (&resp);
  return out;
}

static char *
submit (int port, const char *family)
{
  cleanup_free char *body
      = xasprintf ("{\"definition\":{\"family\":\"%s\",\"cpu\":\"256\",\"memory\":\"128\","
                   "\"containerDefinitions\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
                   family);
  cleanup_json json_object *r = admin (port, "POST", "/admin/v1/tasks", body);
  return xstrdup (json_object_get_string (json_object_object_get (r, "task_id")));
}

static json_object *
node_info (int port)
{
  json_object *r = admin (port, "GET", "/admin/v1/nodes", NULL);
  json_object *nodes = json_object_object_get (r, "nodes");
  json_object *n = json_object_array_length (nodes)
                       ? json_object_get (json_object_array_get_idx (nodes, 0))
                       : NULL;
  json_object_put (r);
  return n;
}

static int64_t
jint (json_object *o, const char *key)
{
  return json_object_get_int64 (json_object_object_get (o, key));
}

/* ------------------------------------------------------------------ conditions */

struct want
{
  struct src *s;
  int port;
  uint64_t n;
};

static bool
registered_n (void *p)
{
  struct want *w = p;
  return stats (w->s).registrations >= w->n;
}

static bool
updates_n (void *p)
{
  return sink_count () >= ((struct want *)p)->n;
}

static bool
acks_n (void *p)
{
  struct want *w = p;
  return stats (w->s).acks >= w->n;
}

static bool
failures_n (void *p)
{
  struct want *w = p;
  return stats (w->s).failures >= w->n;
}

static bool
rejected_n (void *p)
{
  struct want *w = p;
  return stats (w->s).rejected >= w->n;
}

static bool
endpoint_acked_gen (void *p)
{
  struct want *w = p;
  cleanup_json json_object *n = node_info (w->port);
  return n && (uint64_t)jint (n, "acked_generation") >= w->n;
}

static bool
endpoint_has_free (void *p)
{
  struct want *w = p;
  cleanup_json json_object *n = node_info (w->port);
  return n && json_object_object_get (n, "outbox") != NULL;
}

static bool
events_n (void *p)
{
  struct want *w = p;
  cleanup_json json_object *r = admin (w->port, "GET", "/admin/v1/events?limit=100000", NULL);
  return json_object_array_length (json_object_object_get (r, "events")) >= w->n;
}

static size_t
log_lines (const char *log, const char *needle, uint64_t *times, size_t max)
{
  cleanup_fclose FILE *f = fopen (log, "re");
  char line[1024];
  size_t n = 0;
  if (f == NULL)
    return 0;
  while (fgets (line, sizeof (line), f))
    if (strstr (line, needle))
      {
        char *sp = strchr (line, ' ');
        if (sp)
          *sp = '\0';
        if (n < max && times)
          cr_assert_eq (berth_parse_uint64 (line, &times[n]), 0);
        n++;
      }
  return n;
}

struct logwant
{
  const char *log, *needle;
  size_t n;
};

static bool
log_has_n (void *p)
{
  struct logwant *w = p;
  return log_lines (w->log, w->needle, NULL, 0) >= w->n;
}

/* ================================================================== tests */

Test (http_endpoint, register_twice_keeps_node_id)
{
  size_t e = ep_start (&(struct ep_opts){ .state = "ep" });
  int port = procs[e].port;
  struct src s;
  char first[64];

  src_start (&(struct src_opts){ .port = port }, &s);
  cr_assert (wait_for (registered_n, &(struct want){ &s, 0, 1 }));
  snprintf (first, sizeof (first), "%s", stats (&s).node_id);
  src_stop (&s);

  /* A restart of the agent: same state directory, same node. */
  src_start (&(struct src_opts){ .port = port }, &s);
  cr_assert (wait_for (registered_n, &(struct want){ &s, 0, 1 }));
  cr_assert_str_eq (stats (&s).node_id, first);
  {
    cleanup_json json_object *r = admin (port, "GET", "/admin/v1/nodes", NULL);
    json_object *nodes = json_object_object_get (r, "nodes");
    cr_assert_eq (json_object_array_length (nodes), 1);
    cr_assert_str_eq (json_object_get_string (
                          json_object_object_get (json_object_array_get_idx (nodes, 0), "node_id")),
                      first);
  }
  /* The heartbeat after registering brought the node's free resources. */
  cr_assert (wait_for (endpoint_has_free, &(struct want){ &s, port, 0 }));
  {
    cleanup_json json_object *n = node_info (port);
    cr_assert_eq (jint (json_object_object_get (n, "free"), "cpu"), 1500);
    cr_assert_str_eq (json_object_get_string (json_object_object_get (n, "hostname")), "itest");
  }
  src_stop (&s);
}

Test (http_endpoint, assignment_acked_only_after_persisted)
{
  size_t e = ep_start (&(struct ep_opts){ .state = "ep" });
  int port = procs[e].port;
  cleanup_free char *task = NULL;
  struct src s;

  sink.manual = true;
  src_start (&(struct src_opts){ .port = port }, &s);

  /* The first answer after registering: the complete (empty) set, generation 1. */
  cr_assert (wait_for (updates_n, &(struct want){ .n = 1 }));
  cr_assert (sink_update (0)->complete);
  cr_assert_eq (sink_update (0)->generation, 1);
  {
    cleanup_json json_object *n = node_info (port);
    cr_assert_eq (jint (n, "acked_generation"), 0, "acked before it was on disk");
  }
  sink_release (0);
  cr_assert (wait_for (endpoint_acked_gen, &(struct want){ .port = port, .n = 1 }));

  task = submit (port, "web");
  cr_assert (wait_for (updates_n, &(struct want){ .n = 2 }));
  cr_assert_eq (sink_update (1)->generation, 2);
  cr_assert_not (sink_update (1)->complete);
  cr_assert_str_eq (update_task (sink_update (1), 0, NULL), task);
  {
    cleanup_json json_object *n = node_info (port);
    cr_assert_eq (jint (n, "acked_generation"), 1, "generation 2 acked before it was on disk");
    cr_assert_eq (stats (&s).acks, 1);
  }

  /* The engine fails to persist: the endpoint hears why, and gets the generation again. */
  sink_release (-EIO);
  cr_assert (wait_for (updates_n, &(struct want){ .n = 3 }));
  cr_assert_eq (sink_update (2)->generation, 2);
  {
    cleanup_json json_object *n = node_info (port);
    cr_assert_eq (jint (n, "acked_generation"), 1);
    cr_assert (
        strstr (json_object_get_string (json_object_object_get (n, "ack_error")), "disk on fire")
        != NULL);
  }
  sink_release (0);
  cr_assert (wait_for (endpoint_acked_gen, &(struct want){ .port = port, .n = 2 }));
  cr_assert (wait_for (acks_n, &(struct want){ &s, 0, 2 }));
  src_stop (&s);
}

Test (http_endpoint, complete_and_delta_manifests)
{
  size_t e = ep_start (&(struct ep_opts){ .state = "ep" });
  int port = procs[e].port;
  cleanup_free char *a = NULL, *b = NULL;
  struct src s;
  enum berth_desired d;

  src_start (&(struct src_opts){ .port = port }, &s);
  cr_assert (wait_for (updates_n, &(struct want){ .n = 1 }));
  cr_assert (sink_update (0)->complete);
  cr_assert_eq (sink_update (0)->n_tasks, 0);

  a = submit (port, "a");
  cr_assert (wait_for (updates_n, &(struct want){ .n = 2 }));
  cr_assert_not (sink_update (1)->complete, "a delta");
  cr_assert_eq (sink_update (1)->n_tasks, 1);
  cr_assert_str_eq (update_task (sink_update (1), 0, &d), a);
  cr_assert_eq (d, BERTH_DESIRED_RUNNING);
  cr_assert_str_eq (sink_update (1)->source, s.url);

  {
    cleanup_free char *path = xasprintf ("/admin/v1/tasks/%s/stop", a);
    json_object_put (admin (port, "POST", path, NULL));
  }
  cr_assert (wait_for (updates_n, &(struct want){ .n = 3 }));
  cr_assert_not (sink_update (2)->complete);
  cr_assert_eq (sink_update (2)->n_tasks, 1);
  cr_assert_str_eq (update_task (sink_update (2), 0, &d), a);
  cr_assert_eq (d, BERTH_DESIRED_STOPPED, "stopped only on an explicit STOPPED");

  b = submit (port, "b");
  cr_assert (wait_for (updates_n, &(struct want){ .n = 4 }));
  cr_assert_eq (sink_update (3)->generation, 4);
  src_stop (&s);

  /* After a restart: the whole set, complete, at the generation the engine holds (stale
   * for the engine, acknowledged all the same). */
  src_start (&(struct src_opts){ .port = port }, &s);
  cr_assert (wait_for (updates_n, &(struct want){ .n = 5 }));
  cr_assert (sink_update (4)->complete);
  cr_assert_eq (sink_update (4)->generation, 4);
  cr_assert_eq (sink_update (4)->n_tasks, 2);
  cr_assert_str_eq (update_task (sink_update (4), 0, &d), a);
  cr_assert_eq (d, BERTH_DESIRED_STOPPED);
  cr_assert_str_eq (update_task (sink_update (4), 1, &d), b);
  cr_assert_eq (d, BERTH_DESIRED_RUNNING);
  cr_assert (wait_for (acks_n, &(struct want){ &s, 0, 1 }));
  cr_assert_eq (stats (&s).generation, 4);
  src_stop (&s);
}

static json_object *
change (const char *task, const char *status)
{
  char now[BERTH_RFC3339_LEN];
  cleanup_free char *text = xasprintf (
      "{\"task_id\":\"%s\",\"time\":\"%s\",\"status\":\"%s\",\"desired\":\"RUNNING\","
      "\"stop_code\":%s,\"reason\":null,\"ip\":\"10.88.0.7\",\"timestamps\":{\"pull_started\":"
      "null,\"pull_stopped\":null,\"started\":null,\"stopped\":null},\"containers\":[]}",
      task, berth_format_rfc3339 (berth_realtime_ns (), now, sizeof (now)), status,
      strcmp (status, "STOPPED") == 0 ? "\"EssentialContainerExited\"" : "null");
  json_object *o = NULL;
  berth_err err = NULL;
  cr_assert_eq (bjson_parse (text, strlen (text), "change", &o, &err), 0);
  return o;
}

static void
emit (struct src *s, struct outbox *ob, const char *task, const char *status)
{
  cleanup_json json_object *c = change (task, status);
  berth_err err = NULL;
  cr_assert_eq (outbox_append (ob, s->url, c, NULL, &err), 0, "%s", berth_err_msg (&err));
  source_http_ops.outbox_ready (s->state);
}

Test (http_endpoint, outbox_delivered_in_order_across_endpoint_outage)
{
  static const char *const statuses[]
      = { "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED" };
  size_t e = ep_start (&(struct ep_opts){ .state = "ep" });
  int port = procs[e].port;
  cleanup_free char *outbox_dir = xasprintf ("%s/agent/outbox", tmp);
  struct outbox *ob = NULL;
  struct src s;
  berth_err err = NULL;

  src_start (&(struct src_opts){ .port = port }, &s);
  cr_assert_eq (outbox_open (outbox_dir, NULL, &ob, &err), 0);
  cr_assert (wait_for (registered_n, &(struct want){ &s, 0, 1 }));
  emit (&s, ob, "t-x", "PENDING");
  emit (&s, ob, "t-y", "PENDING");
  cr_assert (wait_for (events_n, &(struct want){ .port = port, .n = 2 }));

  /* The endpoint goes away while tasks keep changing. */
  proc_stop (&procs[e]);
  for (size_t i = 1; i < ARRAY_SIZE (statuses); i++)
    {
      emit (&s, ob, "t-x", statuses[i]);
      emit (&s, ob, "t-y", statuses[i]);
      emit (&s, ob, "t-z", statuses[i - 1]);
    }
  cr_assert (wait_for (failures_n, &(struct want){ &s, 0, 2 }));

  /* It comes back with its state; everything arrives, once, in order. */
  e = ep_start (&(struct ep_opts){ .state = "ep", .port = port });
  cr_assert (wait_for (events_n, &(struct want){ .port = port, .n = 17 }));
  {
    cleanup_json json_object *r = admin (port, "GET", "/admin/v1/events?limit=1000", NULL);
    json_object *events = json_object_object_get (r, "events");
    size_t next_x = 0, next_y = 0, next_z = 0;
    int64_t prev_seq = 0;

    cr_assert_eq (json_object_array_length (events), 17, "a change was duplicated or lost");
    for (size_t i = 0; i < 17; i++)
      {
        json_object *ev = json_object_array_get_idx (events, i);
        json_object *c = json_object_object_get (ev, "change");
        const char *task = json_object_get_string (json_object_object_get (c, "task_id"));
        const char *status = json_object_get_string (json_object_object_get (c, "status"));
        size_t *next = strcmp (task, "t-x") == 0   ? &next_x
                       : strcmp (task, "t-y") == 0 ? &next_y
                                                   : &next_z;
        cr_assert_gt (jint (ev, "seq"), prev_seq, "seq order");
        prev_seq = jint (ev, "seq");
        cr_assert_str_eq (status, statuses[(*next)++], "task %s out of order", task);
      }
    cr_assert_eq (next_x, 6);
    cr_assert_eq (next_z, 5);
  }
  {
    struct outbox_stats ost;
    cr_assert_eq (outbox_get_stats (ob, s.url, &ost, &err), 0);
    cr_assert_eq (ost.pending, 0);
    cr_assert_eq (ost.acked_seq, 17);
  }
  {
    /* The endpoint's view of the task follows its last change. */
    cleanup_json json_object *n = node_info (port);
    cr_assert_eq (jint (n, "last_seq"), 17);
  }
  src_stop (&s);
  outbox_close (ob);
}

Test (http_endpoint, endpoint_lost_state_node_reregisters)
{
  size_t e = ep_start (&(struct ep_opts){ .state = "ep1" });
  int port = procs[e].port;
  cleanup_free char *a = NULL;
  struct src s;

  src_start (&(struct src_opts){ .port = port }, &s);
  cr_assert (wait_for (acks_n, &(struct want){ &s, 0, 1 }));
  a = submit (port, "a");
  cr_assert (wait_for (updates_n, &(struct want){ .n = 2 }));
  cr_assert (wait_for (acks_n, &(struct want){ &s, 0, 2 }));
  cr_assert_eq (stats (&s).generation, 2);

  /* A different, empty endpoint on the same address: it does not know the node. */
  proc_stop (&procs[e]);
  e = ep_start (&(struct ep_opts){ .state = "ep2", .port = port });
  cr_assert (wait_for (registered_n, &(struct want){ &s, 0, 2 }));
  cr_assert (wait_for (updates_n, &(struct want){ .n = 3 }));
  /* It continued above the node's generation, with a complete (empty) set. */
  cr_assert_gt (sink_update (2)->generation, 2);
  cr_assert (sink_update (2)->complete);
  cr_assert_eq (sink_update (2)->n_tasks, 0);
  src_stop (&s);
}

/* ------------------------------------------------------------------ TLS and tokens */

static void
sh (const char *cmd)
{
  cleanup_free char *full = xasprintf ("cd %s && (%s) >>openssl.log 2>&1", tmp, cmd);
  cr_assert_eq (system (full), 0, "%s (see %s/openssl.log)", cmd, tmp);
}

static void
make_pki (void)
{
  sh ("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj /CN=berth-test-ca");
  sh ("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj /CN=127.0.0.1");
  sh ("printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext && openssl x509 -req -in server.csr "
      "-CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext");
  sh ("openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=node");
  sh ("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out client.pem -days 2");
  sh ("openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem -days 2 "
      "-subj /CN=rogue");
  sh ("printf 's3cret-token\\n' > token && printf 'wrong\\n' > badtoken");
}

struct errwant
{
  struct src *s;
  const char *needle;
};

static bool
last_error_has (void *p)
{
  struct errwant *w = p;
  return strstr (stats (w->s).last_error, w->needle) != NULL;
}

Test (http_endpoint, tls_client_cert_and_token)
{
  cleanup_free char *cert = NULL, *key = NULL, *ca = NULL, *tok = NULL, *ccert = NULL, *ckey = NULL,
                    *bad = NULL, *rcert = NULL, *rkey = NULL;
  size_t e;
  int port;
  struct src s;
  berth_err err = NULL;

  make_pki ();
  cert = xasprintf ("%s/server.pem", tmp);
  key = xasprintf ("%s/server.key", tmp);
  ca = xasprintf ("%s/ca.pem", tmp);
  tok = xasprintf ("%s/token", tmp);
  bad = xasprintf ("%s/badtoken", tmp);
  ccert = xasprintf ("%s/client.pem", tmp);
  ckey = xasprintf ("%s/client.key", tmp);
  rcert = xasprintf ("%s/rogue.pem", tmp);
  rkey = xasprintf ("%s/rogue.key", tmp);
  e = ep_start (&(struct ep_opts){ .state = "ep",
                                   .extra = { "--tls-cert", cert, "--tls-key", key, "--client-ca",
                                              ca, "--token-file", tok, NULL } });
  port = procs[e].port;

  /* Everything right: registered, and the first manifest arrives. */
  src_start (&(struct src_opts){ .scheme = "https",
                                 .port = port,
                                 .ca_file = ca,
                                 .cert_file = ccert,
                                 .key_file = ckey,
                                 .token_file = tok },
             &s);
  cr_assert (wait_for (updates_n, &(struct want){ .n = 1 }));
  cr_assert (wait_for (acks_n, &(struct want){ &s, 0, 1 }));
  src_stop (&s);

  /* A wrong token. */
  src_start (&(struct src_opts){ .scheme = "https",
                                 .port = port,
                                 .state = "a2",
                                 .ca_file = ca,
                                 .cert_file = ccert,
                                 .key_file = ckey,
                                 .token_file = bad },
             &s);
  cr_assert (wait_for (last_error_has, &(struct errwant){ &s, "HTTP 401 Unauthorized" }), "%s",
             stats (&s).last_error);
  cr_assert_eq (stats (&s).registrations, 0);
  src_stop (&s);

  /* No client certificate, then one from another CA. */
  src_start (
      &(struct src_opts){
          .scheme = "https", .port = port, .state = "a3", .ca_file = ca, .token_file = tok },
      &s);
  cr_assert (wait_for (last_error_has, &(struct errwant){ &s, "client certificate" }), "%s",
             stats (&s).last_error);
  cr_assert_eq (stats (&s).registrations, 0);
  src_stop (&s);
  src_start (&(struct src_opts){ .scheme = "https",
                                 .port = port,
                                 .state = "a4",
                                 .ca_file = ca,
                                 .cert_file = rcert,
                                 .key_file = rkey,
                                 .token_file = tok },
             &s);
  cr_assert (wait_for (last_error_has, &(struct errwant){ &s, "client certificate" }), "%s",
             stats (&s).last_error);
  cr_assert_eq (stats (&s).registrations, 0);
  src_stop (&s);

  /* The endpoint's certificate is not trusted without our CA. */
  src_start (&(struct src_opts){ .scheme = "https",
                                 .port = port,
                                 .state = "a5",
                                 .cert_file = ccert,
                                 .key_file = ckey,
                                 .token_file = tok },
             &s);
  cr_assert (wait_for (failures_n, &(struct want){ &s, 0, 1 }));
  cr_assert (strstr (stats (&s).last_error, "certificate") != NULL, "%s", stats (&s).last_error);
  cr_assert_eq (stats (&s).registrations, 0);
  src_stop (&s);

  /* Plain HTTP only when allowed; settings that cannot work are refused at open. */
  cr_assert_lt (src_open (&(struct src_opts){ .port = port, .refuse_plain = true }, &s, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "plain HTTP is not allowed") != NULL, "%s",
             berth_err_msg (&err));
  cr_assert_lt (src_open (&(struct src_opts){ .scheme = "https", .port = port, .cert_file = ccert },
                          &s, &err),
                0);
  cr_assert (strstr (berth_err_msg (&err), "key_file") != NULL, "%s", berth_err_msg (&err));
  cr_assert_lt (
      src_open (
          &(struct src_opts){ .scheme = "https", .port = port, .token_file = "/nonexistent/token" },
          &s, &err),
      0);
  cr_assert (strstr (berth_err_msg (&err), "token_file") != NULL, "%s", berth_err_msg (&err));
  berth_err_free (&err);
}

/* ------------------------------------------------------------------ misbehaving endpoints */

Test (http_endpoint, garbage_response_rejected_and_retried)
{
  cleanup_free char *log = NULL;
  size_t f = fault_start ("garbage", &log);
  struct src s;

  src_start (&(struct src_opts){ .port = procs[f].port }, &s);
  cr_assert (wait_for (rejected_n, &(struct want){ &s, 0, 3 }));
  cr_assert (strstr (stats (&s).last_error, "assignments: response: invalid JSON") != NULL, "%s",
             stats (&s).last_error);
  cr_assert_eq (sink_count (), 0, "a malformed response reached the engine");
  cr_assert_geq (log_lines (log, "GET /v1/nodes/", NULL, 0), 3, "the source stopped retrying");
  src_stop (&s);
}

Test (http_endpoint, oversized_response_rejected)
{
  cleanup_free char *log = NULL;
  size_t f = fault_start ("oversized", &log);
  struct src s;

  src_start (&(struct src_opts){ .port = procs[f].port, .max_response = 1024 * 1024 }, &s);
  cr_assert (wait_for (rejected_n, &(struct want){ &s, 0, 2 }));
  cr_assert (strstr (stats (&s).last_error, "larger than 1048576 bytes") != NULL, "%s",
             stats (&s).last_error);
  cr_assert_eq (sink_count (), 0);
  src_stop (&s);
}

Test (http_endpoint, stale_generation_ignored)
{
  cleanup_free char *log = NULL;
  size_t f = fault_start ("stale", &log);
  struct src s;

  src_start (&(struct src_opts){ .port = procs[f].port }, &s);
  cr_assert (wait_for (updates_n, &(struct want){ .n = 1 }));
  cr_assert_eq (sink_update (0)->generation, 5);
  /* Then generation 3 again and again: never handed to the engine, never acknowledged. */
  cr_assert (wait_for (log_has_n, &(struct logwant){ log, "GET /v1/nodes/", 4 }));
  cr_assert_geq (stats (&s).stale, 2);
  cr_assert (strstr (stats (&s).last_error, "stale generation 3") != NULL, "%s",
             stats (&s).last_error);
  cr_assert_eq (sink_count (), 1);
  cr_assert_eq (log_lines (log, "/assignments/ack", NULL, 0), 1);
  src_stop (&s);
}

static uint64_t
fixed_rng (void *opaque BERTH_UNUSED)
{
  return 1000003;
}

Test (http_endpoint, backoff_grows_with_full_jitter_bounds)
{
  cleanup_free char *log = NULL;
  size_t f = fault_start ("unavailable", &log);
  uint64_t t[16];
  struct src s;
  size_t n;

  src_start (
      &(struct src_opts){
          .port = procs[f].port, .backoff_base_ms = 40, .backoff_cap_ms = 2000, .rng = fixed_rng },
      &s);
  cr_assert (wait_for (log_has_n, &(struct logwant){ log, "POST /v1/register", 8 }));
  cr_assert_lt (stats (&s).registrations, 1);
  n = log_lines (log, "POST /v1/register", t, ARRAY_SIZE (t));
  cr_assert_geq (n, 8);
  /* Between attempt k and k+1 the source waited the delay drawn for its k-th failure. */
  for (size_t k = 1; k < 8; k++)
    {
      uint64_t delay = http_backoff_delay_ms ((unsigned)k, 40, 2000, 1000003);
      cr_assert_geq (t[k] - t[k - 1], delay * 1000000u,
                     "attempt %zu came %" PRIu64 " ms after the last, before its %" PRIu64
                     " ms backoff",
                     k + 1, (t[k] - t[k - 1]) / 1000000u, delay);
    }
  cr_assert (strstr (stats (&s).last_error, "HTTP 503 Unavailable: down") != NULL, "%s",
             stats (&s).last_error);
  src_stop (&s);
}

Test (http_endpoint, retry_after_honoured)
{
  cleanup_free char *log = NULL;
  size_t f = fault_start ("retry-after", &log);
  uint64_t t[4];
  struct src s;

  src_start (
      &(struct src_opts){ .port = procs[f].port, .backoff_base_ms = 10, .backoff_cap_ms = 20 }, &s);
  cr_assert (wait_for (log_has_n, &(struct logwant){ log, "POST /v1/register", 3 }));
  log_lines (log, "POST /v1/register", t, ARRAY_SIZE (t));
  cr_assert_geq (t[1] - t[0], 1000000000u, "Retry-After: 1 not honoured");
  cr_assert_geq (t[2] - t[1], 1000000000u, "Retry-After: 1 not honoured");
  src_stop (&s);
}

Test (http_endpoint, poll_rate_hint_honoured)
{
  cleanup_free char *log = NULL;
  size_t f = fault_start ("hint", &log);
  uint64_t t[8];
  struct src s;

  src_start (&(struct src_opts){ .port = procs[f].port }, &s);
  uint64_t reg;
  cr_assert (wait_for (log_has_n, &(struct logwant){ log, "GET /v1/nodes/", 5 }));
  log_lines (log, "GET /v1/nodes/", t, ARRAY_SIZE (t));
  log_lines (log, "POST /v1/register", &reg, 1);
  /* Poll j (from 0) starts at least j * 300 ms after poll 0, which starts after the register
   * reply, which comes after the server saw the register request: so the server sees poll j
   * at least j * 300 ms after the register request, whatever the network delays. (Server
   * times of two polls alone prove nothing: the first may have arrived late.) */
  for (size_t j = 1; j < 5; j++)
    cr_assert_geq (t[j] - reg, j * 300000000u,
                   "poll %zu came %zu ms after registering despite min_interval_ms=300", j,
                   (size_t)((t[j] - reg) / 1000000u));
  cr_assert_eq (stats (&s).failures, 0, "204 answers are not failures");
  src_stop (&s);
}

Test (http_endpoint, endpoint_taking_nothing_is_backed_off)
{
  cleanup_free char *log = NULL, *outbox_dir = xasprintf ("%s/agent/outbox", tmp);
  size_t f = fault_start ("ack-none", &log);
  struct outbox *ob = NULL;
  berth_err err = NULL;
  uint64_t t[8];
  struct src s;

  src_start (
      &(struct src_opts){
          .port = procs[f].port, .backoff_base_ms = 40, .backoff_cap_ms = 2000, .rng = fixed_rng },
      &s);
  cr_assert_eq (outbox_open (outbox_dir, NULL, &ob, &err), 0);
  cr_assert (wait_for (registered_n, &(struct want){ &s, 0, 1 }));
  emit (&s, ob, "t-x", "PENDING");
  cr_assert (wait_for (log_has_n, &(struct logwant){ log, "/state-changes", 5 }));
  log_lines (log, "/state-changes", t, ARRAY_SIZE (t));
  for (size_t k = 1; k < 5; k++)
    cr_assert_geq (t[k] - t[k - 1],
                   http_backoff_delay_ms ((unsigned)k, 40, 2000, 1000003) * 1000000u,
                   "state changes resent without backoff");
  cr_assert (strstr (stats (&s).last_error, "none of 1..1") != NULL, "%s", stats (&s).last_error);
  {
    struct outbox_stats ost;
    cr_assert_eq (outbox_get_stats (ob, s.url, &ost, &err), 0);
    cr_assert_eq (ost.pending, 1, "a change nobody took was dropped");
  }
  src_stop (&s);
  outbox_close (ob);
}

struct obwant
{
  struct outbox *ob;
  const char *url;
};

static bool
outbox_drained (void *p)
{
  struct obwant *w = p;
  struct outbox_stats ost;
  berth_err err = NULL;
  cr_assert_eq (outbox_get_stats (w->ob, w->url, &ost, &err), 0);
  return ost.pending == 0;
}

Test (http_endpoint, endpoint_acking_beyond_what_was_sent)
{
  cleanup_free char *log = NULL, *outbox_dir = xasprintf ("%s/agent/outbox", tmp);
  size_t f = fault_start ("ack-beyond", &log);
  struct outbox *ob = NULL;
  struct outbox_stats ost;
  berth_err err = NULL;
  struct src s;

  src_start (&(struct src_opts){ .port = procs[f].port }, &s);
  cr_assert_eq (outbox_open (outbox_dir, NULL, &ob, &err), 0);
  cr_assert (wait_for (registered_n, &(struct want){ &s, 0, 1 }));
  emit (&s, ob, "t-x", "PENDING");
  /* The endpoint has the first batch and answers it late, claiming seq 1001: the two
   * changes made meanwhile were never sent and must survive that claim. */
  cr_assert (wait_for (log_has_n, &(struct logwant){ log, "/state-changes", 1 }));
  emit (&s, ob, "t-x", "RUNNING");
  emit (&s, ob, "t-x", "STOPPED");
  cr_assert (wait_for (outbox_drained, &(struct obwant){ ob, s.url }));
  cr_assert_eq (outbox_get_stats (ob, s.url, &ost, &err), 0);
  cr_assert_eq (ost.acked_seq, 3, "acknowledged up to %" PRIu64 ": unsent changes were dropped",
                ost.acked_seq);
  cr_assert_geq (log_lines (log, "/state-changes", NULL, 0), 2);
  src_stop (&s);
  outbox_close (ob);
}
