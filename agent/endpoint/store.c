/* berth-endpoint's durable state in SQLite (WAL, synchronous=FULL): nodes, tasks with their
 * desired status and the generation that last changed it, and every state change received.
 * Each protocol step that must be atomic (record a batch and advance acked_seq; add a task
 * and bump the node's generation) is one transaction, so a crash or restart of the endpoint
 * neither loses an acknowledged change nor records one twice. One connection behind one
 * mutex; long-polls wait on a condition variable tied to it. */
#include "endpoint.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/random.h>
#include <time.h>

#define DB_FILE        "endpoint.db"
#define SCHEMA_VERSION "1"

struct endpoint_store
{
  pthread_mutex_t lock;
  pthread_cond_t changed; /* CLOCK_MONOTONIC: generations, events, shutdown */
  sqlite3 *db;
  struct endpoint_store_options opts;
  bool shutdown;
};

static void
cleanup_stmtp (sqlite3_stmt **s)
{
  if (*s)
    sqlite3_finalize (*s);
}
#define cleanup_stmt __attribute__ ((cleanup (cleanup_stmtp)))

/* ------------------------------------------------------------------ replies */

void
endpoint_reply_clear (struct endpoint_reply *r)
{
  json_object_put (r->body);
  memset (r, 0, sizeof (*r));
}

void
endpoint_reply_error (struct endpoint_reply *r, unsigned status, const char *code, const char *fmt,
                      ...)
{
  json_object *e = json_object_new_object ();
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  json_object_put (r->body);
  r->status = status;
  r->body = json_object_new_object ();
  json_object_object_add (r->body, "protocol", json_object_new_int (HTTP_PROTO_VERSION));
  json_object_object_add (e, "code", json_object_new_string (code));
  json_object_object_add (e, "message", json_object_new_string (msg));
  json_object_object_add (r->body, "error", e);
}

static void
reply_ok (struct endpoint_reply *r, unsigned status, json_object *body)
{
  json_object_put (r->body);
  r->status = status;
  r->body = body;
}

static json_object *
proto_object (void)
{
  json_object *o = json_object_new_object ();
  json_object_object_add (o, "protocol", json_object_new_int (HTTP_PROTO_VERSION));
  return o;
}

static json_object *
poll_object (const struct http_poll_hint *h)
{
  json_object *p = json_object_new_object ();
  json_object_object_add (p, "wait_s", json_object_new_int64 (h->wait_s));
  json_object_object_add (p, "heartbeat_s", json_object_new_int64 (h->heartbeat_s));
  json_object_object_add (p, "min_interval_ms", json_object_new_int64 (h->min_interval_ms));
  return p;
}

static void
reply_db_error (struct endpoint_store *st, struct endpoint_reply *r, const char *what)
{
  endpoint_reply_error (r, 500, "Internal", "%s: %s", what, sqlite3_errmsg (st->db));
}

/* ------------------------------------------------------------------ sqlite helpers */

static int
db_exec (struct endpoint_store *st, const char *sql, berth_err *err)
{
  char *msg = NULL;
  if (sqlite3_exec (st->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      int r = berth_err_set (err, EIO, "sqlite: %s", msg ? msg : sqlite3_errmsg (st->db));
      sqlite3_free (msg);
      return r;
    }
  return 0;
}

static bool
db_ok (struct endpoint_store *st, const char *sql)
{
  return sqlite3_exec (st->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static sqlite3_stmt *
db_prepare (struct endpoint_store *st, const char *sql)
{
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2 (st->db, sql, -1, &s, NULL) != SQLITE_OK)
    return NULL;
  return s;
}

static void
bind_text (sqlite3_stmt *s, int i, const char *v)
{
  if (v)
    sqlite3_bind_text (s, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (s, i);
}

static void
bind_json (sqlite3_stmt *s, int i, json_object *v)
{
  if (v)
    sqlite3_bind_text (s, i, bjson_to_string (v), -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (s, i);
}

/* A JSON column back to an object (NULL when SQL NULL or, should it ever be, unparsable). */
static json_object *
column_json (sqlite3_stmt *s, int i)
{
  const char *text = (const char *)sqlite3_column_text (s, i);
  json_object *o = NULL;
  cleanup_err berth_err err = NULL;
  if (text == NULL || bjson_parse (text, strlen (text), "column", &o, &err) < 0)
    return NULL;
  return o;
}

static const char *
column_str (sqlite3_stmt *s, int i)
{
  return (const char *)sqlite3_column_text (s, i);
}

static uint64_t
now_ms (void)
{
  return berth_realtime_ns () / 1000000u;
}

static const char *
now_text (char buf[static BERTH_RFC3339_LEN])
{
  return berth_format_rfc3339 (berth_realtime_ns (), buf, BERTH_RFC3339_LEN);
}

/* ------------------------------------------------------------------ open / close */

static const char schema[]
    = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS nodes ("
      "  node_id TEXT PRIMARY KEY,"
      "  hostname TEXT, agent_version TEXT, boot_id TEXT,"
      "  resources TEXT NOT NULL, attributes TEXT NOT NULL,"
      "  free TEXT, reported_tasks TEXT, outbox TEXT,"
      "  registered_at TEXT NOT NULL, last_seen_ms INTEGER NOT NULL,"
      "  generation INTEGER NOT NULL, delta_base INTEGER NOT NULL,"
      "  acked_generation INTEGER NOT NULL DEFAULT 0, ack_error TEXT,"
      "  last_seq INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE IF NOT EXISTS tasks ("
      "  task_id TEXT PRIMARY KEY,"
      "  node_id TEXT NOT NULL REFERENCES nodes (node_id),"
      "  definition TEXT NOT NULL, metadata TEXT,"
      "  desired TEXT NOT NULL, changed_gen INTEGER NOT NULL,"
      "  cpu INTEGER NOT NULL, memory_mib INTEGER NOT NULL,"
      "  created_at TEXT NOT NULL, status TEXT, last_change TEXT);"
      "CREATE INDEX IF NOT EXISTS tasks_node ON tasks (node_id, changed_gen);"
      "CREATE TABLE IF NOT EXISTS events ("
      "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  node_id TEXT NOT NULL, seq INTEGER NOT NULL, task_id TEXT NOT NULL,"
      "  received_at TEXT NOT NULL, change TEXT NOT NULL,"
      "  UNIQUE (node_id, seq));"
      "CREATE INDEX IF NOT EXISTS events_task ON events (task_id, id);";

int
endpoint_store_open (const char *state_dir, const struct endpoint_store_options *opts,
                     struct endpoint_store **ret, berth_err *err)
{
  cleanup_free char *path = NULL;
  struct endpoint_store *st;
  pthread_condattr_t ca;
  int r;

  if (state_dir)
    {
      r = berth_mkdir_p (state_dir, 0700, err);
      if (r < 0)
        return r;
      path = xasprintf ("%s/%s", state_dir, DB_FILE);
    }
  else
    path = xstrdup (":memory:");
  st = xzalloc (sizeof (*st));
  st->opts = *opts;
  pthread_mutex_init (&st->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&st->changed, &ca);
  pthread_condattr_destroy (&ca);

  if (sqlite3_open_v2 (path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
      != SQLITE_OK)
    {
      r = berth_err_set (err, EIO, "open `%s`: %s", path,
                         st->db ? sqlite3_errmsg (st->db) : "out of memory");
      goto fail;
    }
  sqlite3_busy_timeout (st->db, 5000);
  /* WAL + FULL: a commit is on disk (the WAL fsynced) before the reply that acknowledges
   * it is sent. */
  if ((r = db_exec (st,
                    state_dir ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                "PRAGMA foreign_keys=ON;"
                              : "PRAGMA foreign_keys=ON;",
                    err))
          < 0
      || (r = db_exec (st, schema, err)) < 0
      || (r = db_exec (st,
                       "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', "
                       "'" SCHEMA_VERSION "')",
                       err))
             < 0)
    goto fail;
  {
    cleanup_stmt sqlite3_stmt *s = db_prepare (st, "SELECT value FROM meta WHERE key='schema'");
    if (s == NULL || sqlite3_step (s) != SQLITE_ROW
        || strcmp (column_str (s, 0), SCHEMA_VERSION) != 0)
      {
        r = berth_err_set (err, 0, "`%s`: schema version %s, this berth-endpoint knows %s", path,
                           s ? column_str (s, 0) : "?", SCHEMA_VERSION);
        goto fail;
      }
  }
  *ret = st;
  return 0;
fail:
  endpoint_store_close (st);
  return r;
}

void
endpoint_store_close (struct endpoint_store *st)
{
  if (st == NULL)
    return;
  sqlite3_close (st->db);
  pthread_mutex_destroy (&st->lock);
  pthread_cond_destroy (&st->changed);
  free (st);
}

void
endpoint_store_shutdown (struct endpoint_store *st)
{
  pthread_mutex_lock (&st->lock);
  st->shutdown = true;
  pthread_cond_broadcast (&st->changed);
  pthread_mutex_unlock (&st->lock);
}

/* ------------------------------------------------------------------ nodes */

struct node_row
{
  bool found;
  uint64_t generation, delta_base, acked_generation, last_seq;
};

static int
node_get (struct endpoint_store *st, const char *node_id, struct node_row *ret)
{
  cleanup_stmt sqlite3_stmt *s = db_prepare (
      st, "SELECT generation, delta_base, acked_generation, last_seq FROM nodes WHERE node_id=?");
  int rc;

  memset (ret, 0, sizeof (*ret));
  if (s == NULL)
    return -1;
  bind_text (s, 1, node_id);
  rc = sqlite3_step (s);
  if (rc == SQLITE_ROW)
    {
      ret->found = true;
      ret->generation = (uint64_t)sqlite3_column_int64 (s, 0);
      ret->delta_base = (uint64_t)sqlite3_column_int64 (s, 1);
      ret->acked_generation = (uint64_t)sqlite3_column_int64 (s, 2);
      ret->last_seq = (uint64_t)sqlite3_column_int64 (s, 3);
      return 0;
    }
  return rc == SQLITE_DONE ? 0 : -1;
}

static bool
node_touch (struct endpoint_store *st, const char *node_id)
{
  cleanup_stmt sqlite3_stmt *s = db_prepare (st, "UPDATE nodes SET last_seen_ms=? WHERE node_id=?");
  if (s == NULL)
    return false;
  sqlite3_bind_int64 (s, 1, (sqlite3_int64)now_ms ());
  bind_text (s, 2, node_id);
  return sqlite3_step (s) == SQLITE_DONE;
}

/* Moves the node's generation to new_generation; with reset, deltas from before it are no
 * longer possible (the endpoint lost track, or a node reported a generation it never gave). */
static bool
node_set_generation (struct endpoint_store *st, const char *node_id, uint64_t generation,
                     bool reset)
{
  cleanup_stmt sqlite3_stmt *s
      = db_prepare (st, reset ? "UPDATE nodes SET generation=?1, delta_base=?1 WHERE node_id=?2"
                              : "UPDATE nodes SET generation=?1 WHERE node_id=?2");
  if (s == NULL)
    return false;
  sqlite3_bind_int64 (s, 1, (sqlite3_int64)generation);
  bind_text (s, 2, node_id);
  return sqlite3_step (s) == SQLITE_DONE;
}

static void
reply_unknown_node (struct endpoint_reply *r, const char *node_id)
{
  endpoint_reply_error (r, 404, "NodeUnknown", "node %s is not registered", node_id);
}

static int
check_protocol (json_object *body, struct endpoint_reply *r)
{
  cleanup_err berth_err err = NULL;
  uint64_t p;
  if (bjson_get_uint64 (body, "", "protocol", BJSON_REQUIRED, UINT64_MAX, &p, &err) < 0)
    {
      endpoint_reply_error (r, 400, "BadRequest", "%s", berth_err_msg (&err));
      return -1;
    }
  if (p != HTTP_PROTO_VERSION)
    {
      endpoint_reply_error (r, 400, "UnsupportedProtocol",
                            "protocol %" PRIu64 " is not supported (this endpoint speaks %d)", p,
                            HTTP_PROTO_VERSION);
      return -1;
    }
  return 0;
}

static int
get_resources (json_object *body, const char *key, json_object **ret, berth_err *err)
{
  json_object *o;
  int64_t v;
  cleanup_free char *path = NULL;
  int r = bjson_get (body, "", key, json_type_object, BJSON_REQUIRED, &o, err);
  if (r < 0)
    return r;
  path = xstrdup (key);
  if ((r = bjson_get_int64 (o, path, "cpu", BJSON_REQUIRED, 0, INT64_MAX, &v, err)) < 0
      || (r = bjson_get_int64 (o, path, "memory_mib", BJSON_REQUIRED, 0, INT64_MAX, &v, err)) < 0)
    return r;
  *ret = o;
  return 0;
}

void
endpoint_store_register (struct endpoint_store *st, json_object *body, struct endpoint_reply *ret)
{
  cleanup_err berth_err err = NULL;
  const char *node_id, *agent_version, *hostname = NULL, *boot_id = NULL;
  json_object *resources, *attributes, *reply;
  uint64_t agent_gen;
  struct node_row node;
  char now[BERTH_RFC3339_LEN];

  if (check_protocol (body, ret) < 0)
    return;
  if (bjson_get_string (body, "", "node_id", BJSON_REQUIRED, &node_id, &err) < 0
      || bjson_get_string (body, "", "agent_version", BJSON_REQUIRED, &agent_version, &err) < 0
      || bjson_get_string (body, "", "hostname", 0, &hostname, &err) < 0
      || bjson_get_string (body, "", "boot_id", 0, &boot_id, &err) < 0
      || get_resources (body, "resources", &resources, &err) < 0
      || bjson_get (body, "", "attributes", json_type_object, BJSON_REQUIRED, &attributes, &err) < 0
      || bjson_get_uint64 (body, "", "generation", BJSON_REQUIRED, INT64_MAX - 1, &agent_gen, &err)
             < 0)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "register: %s", berth_err_msg (&err));
      return;
    }
  if (!http_proto_valid_id (node_id))
    {
      endpoint_reply_error (ret, 400, "BadRequest",
                            "register: node_id: \"%.160s\" is not a valid "
                            "identifier",
                            node_id);
      return;
    }

  pthread_mutex_lock (&st->lock);
  if (!db_ok (st, "BEGIN IMMEDIATE"))
    {
      reply_db_error (st, ret, "register");
      goto out;
    }
  if (node_get (st, node_id, &node) < 0)
    goto db_fail;
  if (!node.found)
    {
      /* A new node's first desired set is the empty one, generation 1, so its first poll
       * (generation 0) gets a complete answer at once. A node that already holds a
       * generation from this endpoint's forgotten past is continued above it. */
      uint64_t g = agent_gen + 1;
      cleanup_stmt sqlite3_stmt *s = db_prepare (
          st, "INSERT INTO nodes (node_id, hostname, agent_version, boot_id, resources, "
              "attributes, registered_at, last_seen_ms, generation, delta_base) "
              "VALUES (?,?,?,?,?,?,?,?,?,?)");
      if (s == NULL)
        goto db_fail;
      bind_text (s, 1, node_id);
      bind_text (s, 2, hostname);
      bind_text (s, 3, agent_version);
      bind_text (s, 4, boot_id);
      bind_json (s, 5, resources);
      bind_json (s, 6, attributes);
      bind_text (s, 7, now_text (now));
      sqlite3_bind_int64 (s, 8, (sqlite3_int64)now_ms ());
      sqlite3_bind_int64 (s, 9, (sqlite3_int64)g);
      sqlite3_bind_int64 (s, 10, (sqlite3_int64)g);
      if (sqlite3_step (s) != SQLITE_DONE)
        goto db_fail;
    }
  else
    {
      cleanup_stmt sqlite3_stmt *s
          = db_prepare (st, "UPDATE nodes SET hostname=?, agent_version=?, boot_id=?, resources=?, "
                            "attributes=?, last_seen_ms=? WHERE node_id=?");
      if (s == NULL)
        goto db_fail;
      bind_text (s, 1, hostname);
      bind_text (s, 2, agent_version);
      bind_text (s, 3, boot_id);
      bind_json (s, 4, resources);
      bind_json (s, 5, attributes);
      sqlite3_bind_int64 (s, 6, (sqlite3_int64)now_ms ());
      bind_text (s, 7, node_id);
      if (sqlite3_step (s) != SQLITE_DONE)
        goto db_fail;
      if (agent_gen > node.generation && !node_set_generation (st, node_id, agent_gen + 1, true))
        goto db_fail;
    }
  if (!db_ok (st, "COMMIT"))
    goto db_fail;
  pthread_cond_broadcast (&st->changed);

  reply = proto_object ();
  json_object_object_add (reply, "node_id", json_object_new_string (node_id));
  json_object_object_add (reply, "acked_seq", json_object_new_uint64 (node.last_seq));
  json_object_object_add (reply, "poll", poll_object (&st->opts.poll));
  reply_ok (ret, 200, reply);
  goto out;

db_fail:
  reply_db_error (st, ret, "register");
  db_ok (st, "ROLLBACK");
out:
  pthread_mutex_unlock (&st->lock);
}

/* ------------------------------------------------------------------ assignments */

static json_object *
manifest (struct endpoint_store *st, const char *node_id, uint64_t agent_gen,
          const struct node_row *node)
{
  bool complete = agent_gen == 0 || agent_gen < node->delta_base;
  cleanup_stmt sqlite3_stmt *s = db_prepare (
      st, complete ? "SELECT task_id, desired, definition, metadata FROM tasks WHERE node_id=?1 "
                     "AND NOT (desired='STOPPED' AND status IS 'STOPPED') ORDER BY created_at, "
                     "task_id"
                   : "SELECT task_id, desired, definition, metadata FROM tasks WHERE node_id=?1 "
                     "AND changed_gen>?2 ORDER BY changed_gen, task_id");
  json_object *m, *tasks;

  if (s == NULL)
    return NULL;
  bind_text (s, 1, node_id);
  if (!complete)
    sqlite3_bind_int64 (s, 2, (sqlite3_int64)agent_gen);
  m = proto_object ();
  json_object_object_add (m, "generation", json_object_new_uint64 (node->generation));
  json_object_object_add (m, "complete", json_object_new_boolean (complete));
  tasks = json_object_new_array ();
  json_object_object_add (m, "tasks", tasks);
  while (sqlite3_step (s) == SQLITE_ROW)
    {
      json_object *t = json_object_new_object (), *meta;
      json_object_object_add (t, "task_id", json_object_new_string (column_str (s, 0)));
      json_object_object_add (t, "desired", json_object_new_string (column_str (s, 1)));
      json_object_object_add (t, "definition", column_json (s, 2));
      meta = column_json (s, 3);
      if (meta)
        json_object_object_add (t, "metadata", meta);
      json_object_array_add (tasks, t);
    }
  json_object_object_add (m, "poll", poll_object (&st->opts.poll));
  return m;
}

void
endpoint_store_assignments (struct endpoint_store *st, const char *node_id, uint64_t generation,
                            uint64_t wait_s, struct endpoint_reply *ret)
{
  uint64_t deadline = berth_now_ns () + wait_s * 1000000000u;
  struct node_row node;
  bool first = true;

  if (generation >= INT64_MAX)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "generation: out of range");
      return;
    }
  pthread_mutex_lock (&st->lock);
  for (;;)
    {
      if (node_get (st, node_id, &node) < 0)
        {
          reply_db_error (st, ret, "assignments");
          break;
        }
      if (!node.found)
        {
          reply_unknown_node (ret, node_id);
          break;
        }
      if (first)
        {
          first = false;
          node_touch (st, node_id);
          /* The node holds a generation this endpoint never reached (its state was lost or
           * restored): continue above it, with a complete manifest. */
          if (generation > node.generation)
            {
              if (!node_set_generation (st, node_id, generation + 1, true))
                {
                  reply_db_error (st, ret, "assignments");
                  break;
                }
              continue;
            }
          /* A poll from generation G acknowledges G too. */
          if (generation > node.acked_generation)
            {
              cleanup_stmt sqlite3_stmt *s
                  = db_prepare (st, "UPDATE nodes SET acked_generation=? WHERE node_id=?");
              if (s)
                {
                  sqlite3_bind_int64 (s, 1, (sqlite3_int64)generation);
                  bind_text (s, 2, node_id);
                  sqlite3_step (s);
                }
            }
        }
      if (node.generation > generation)
        {
          json_object *m = manifest (st, node_id, generation, &node);
          if (m == NULL)
            reply_db_error (st, ret, "assignments");
          else
            reply_ok (ret, 200, m);
          break;
        }
      if (st->shutdown)
        {
          endpoint_reply_error (ret, 503, "Unavailable", "the endpoint is shutting down");
          ret->retry_after_s = 1;
          break;
        }
      if (berth_now_ns () >= deadline)
        {
          reply_ok (ret, 204, NULL);
          break;
        }
      {
        struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000u),
                               .tv_nsec = (long)(deadline % 1000000000u) };
        pthread_cond_timedwait (&st->changed, &st->lock, &ts);
      }
    }
  pthread_mutex_unlock (&st->lock);
}

void
endpoint_store_assignment_ack (struct endpoint_store *st, const char *node_id, json_object *body,
                               struct endpoint_reply *ret)
{
  cleanup_err berth_err err = NULL;
  cleanup_stmt sqlite3_stmt *s = NULL;
  const char *message = NULL;
  uint64_t generation;
  bool accepted;
  struct node_row node;

  if (check_protocol (body, ret) < 0)
    return;
  if (bjson_get_uint64 (body, "", "generation", BJSON_REQUIRED, INT64_MAX, &generation, &err) < 0
      || bjson_get_bool (body, "", "accepted", BJSON_REQUIRED, &accepted, &err) < 0
      || bjson_get_string (body, "", "message", 0, &message, &err) < 0)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "assignment ack: %s", berth_err_msg (&err));
      return;
    }
  pthread_mutex_lock (&st->lock);
  if (node_get (st, node_id, &node) < 0)
    reply_db_error (st, ret, "assignment ack");
  else if (!node.found)
    reply_unknown_node (ret, node_id);
  else if (generation > node.generation)
    endpoint_reply_error (ret, 400, "BadRequest",
                          "assignment ack: generation %" PRIu64 " was never sent (latest %" PRIu64
                          ")",
                          generation, node.generation);
  else
    {
      cleanup_free char *ack_error = accepted ? NULL
                                              : xasprintf ("generation %" PRIu64 ": %s", generation,
                                                           message ? message : "not accepted");
      s = db_prepare (st, accepted ? "UPDATE nodes SET acked_generation=max(acked_generation,?1),"
                                     " ack_error=NULL, last_seen_ms=?3 WHERE node_id=?2"
                                   : "UPDATE nodes SET ack_error=?4, last_seen_ms=?3 "
                                     "WHERE node_id=?2");
      if (s == NULL)
        reply_db_error (st, ret, "assignment ack");
      else
        {
          sqlite3_bind_int64 (s, 1, (sqlite3_int64)generation);
          bind_text (s, 2, node_id);
          sqlite3_bind_int64 (s, 3, (sqlite3_int64)now_ms ());
          bind_text (s, 4, ack_error);
          if (sqlite3_step (s) != SQLITE_DONE)
            reply_db_error (st, ret, "assignment ack");
          else
            {
              reply_ok (ret, 204, NULL);
              pthread_cond_broadcast (&st->changed);
            }
        }
    }
  pthread_mutex_unlock (&st->lock);
}

/* ------------------------------------------------------------------ state changes */

void
endpoint_store_state_changes (struct endpoint_store *st, const char *node_id, json_object *body,
                              struct endpoint_reply *ret)
{
  cleanup_err berth_err err = NULL;
  json_object *changes, *reply;
  struct node_row node;
  uint64_t prev = 0, last;
  size_t n;
  char now[BERTH_RFC3339_LEN];

  if (check_protocol (body, ret) < 0)
    return;
  if (bjson_get (body, "", "changes", json_type_array, BJSON_REQUIRED, &changes, &err) < 0)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "state changes: %s", berth_err_msg (&err));
      return;
    }
  n = json_object_array_length (changes);
  /* The whole batch is checked before anything is recorded: all or nothing. */
  for (size_t i = 0; i < n; i++)
    {
      json_object *c = json_object_array_get_idx (changes, i), *v;
      cleanup_free char *path = bjson_path_index ("changes", i);
      uint64_t seq;
      if (http_proto_check_state_change (c, path, true, &err) < 0)
        {
          endpoint_reply_error (ret, 400, "BadRequest", "state changes: %s", berth_err_msg (&err));
          return;
        }
      json_object_object_get_ex (c, "seq", &v);
      seq = json_object_get_uint64 (v);
      if (seq <= prev || seq >= INT64_MAX)
        {
          endpoint_reply_error (ret, 400, "BadRequest",
                                "state changes: %s.seq: %" PRIu64 " does not follow %" PRIu64, path,
                                seq, prev);
          return;
        }
      prev = seq;
    }

  pthread_mutex_lock (&st->lock);
  if (!db_ok (st, "BEGIN IMMEDIATE"))
    {
      reply_db_error (st, ret, "state changes");
      goto out;
    }
  if (node_get (st, node_id, &node) < 0)
    goto db_fail;
  if (!node.found)
    {
      db_ok (st, "ROLLBACK");
      reply_unknown_node (ret, node_id);
      goto out;
    }
  last = node.last_seq;
  now_text (now);
  for (size_t i = 0; i < n; i++)
    {
      json_object *c = json_object_array_get_idx (changes, i), *v;
      const char *task_id, *status;
      uint64_t seq;

      json_object_object_get_ex (c, "seq", &v);
      seq = json_object_get_uint64 (v);
      if (seq <= last)
        continue; /* already recorded: at-least-once delivery, deduplicated here */
      json_object_object_get_ex (c, "task_id", &v);
      task_id = json_object_get_string (v);
      json_object_object_get_ex (c, "status", &v);
      status = json_object_get_string (v);
      {
        cleanup_stmt sqlite3_stmt *s
            = db_prepare (st, "INSERT INTO events (node_id, seq, task_id, received_at, change) "
                              "VALUES (?,?,?,?,?)");
        if (s == NULL)
          goto db_fail;
        bind_text (s, 1, node_id);
        sqlite3_bind_int64 (s, 2, (sqlite3_int64)seq);
        bind_text (s, 3, task_id);
        bind_text (s, 4, now);
        bind_json (s, 5, c);
        if (sqlite3_step (s) != SQLITE_DONE)
          goto db_fail;
      }
      {
        /* A task that stopped is finished: desired follows (no new generation: the node
         * already knows), and complete manifests leave it out from now on. */
        cleanup_stmt sqlite3_stmt *s = db_prepare (
            st, "UPDATE tasks SET status=?1, last_change=?2, desired=CASE WHEN ?1='STOPPED' "
                "THEN 'STOPPED' ELSE desired END WHERE task_id=?3 AND node_id=?4");
        if (s == NULL)
          goto db_fail;
        bind_text (s, 1, status);
        bind_json (s, 2, c);
        bind_text (s, 3, task_id);
        bind_text (s, 4, node_id);
        if (sqlite3_step (s) != SQLITE_DONE)
          goto db_fail;
      }
      last = seq;
    }
  {
    cleanup_stmt sqlite3_stmt *s
        = db_prepare (st, "UPDATE nodes SET last_seq=?, last_seen_ms=? WHERE node_id=?");
    if (s == NULL)
      goto db_fail;
    sqlite3_bind_int64 (s, 1, (sqlite3_int64)last);
    sqlite3_bind_int64 (s, 2, (sqlite3_int64)now_ms ());
    bind_text (s, 3, node_id);
    if (sqlite3_step (s) != SQLITE_DONE)
      goto db_fail;
  }
  if (!db_ok (st, "COMMIT"))
    goto db_fail;
  pthread_cond_broadcast (&st->changed);
  reply = proto_object ();
  json_object_object_add (reply, "acked_seq", json_object_new_uint64 (last));
  reply_ok (ret, 200, reply);
  goto out;

db_fail:
  reply_db_error (st, ret, "state changes");
  db_ok (st, "ROLLBACK");
out:
  pthread_mutex_unlock (&st->lock);
}

void
endpoint_store_heartbeat (struct endpoint_store *st, const char *node_id, json_object *body,
                          struct endpoint_reply *ret)
{
  cleanup_err berth_err err = NULL;
  json_object *free_, *tasks, *outbox = NULL, *reply;
  struct node_row node;

  if (check_protocol (body, ret) < 0)
    return;
  if (get_resources (body, "free", &free_, &err) < 0
      || bjson_get (body, "", "tasks", json_type_array, BJSON_REQUIRED, &tasks, &err) < 0
      || bjson_get (body, "", "outbox", json_type_object, 0, &outbox, &err) < 0)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "heartbeat: %s", berth_err_msg (&err));
      return;
    }
  for (size_t i = 0; i < json_object_array_length (tasks); i++)
    {
      cleanup_free char *path = bjson_path_index ("tasks", i);
      const char *id;
      if (bjson_expect (json_object_array_get_idx (tasks, i), path, json_type_object, &err) < 0
          || bjson_get_string (json_object_array_get_idx (tasks, i), path, "task_id",
                               BJSON_REQUIRED, &id, &err)
                 < 0)
        {
          endpoint_reply_error (ret, 400, "BadRequest", "heartbeat: %s", berth_err_msg (&err));
          return;
        }
    }
  pthread_mutex_lock (&st->lock);
  if (node_get (st, node_id, &node) < 0)
    reply_db_error (st, ret, "heartbeat");
  else if (!node.found)
    reply_unknown_node (ret, node_id);
  else
    {
      cleanup_stmt sqlite3_stmt *s
          = db_prepare (st, "UPDATE nodes SET free=?, reported_tasks=?, outbox=?, last_seen_ms=? "
                            "WHERE node_id=?");
      if (s == NULL)
        reply_db_error (st, ret, "heartbeat");
      else
        {
          bind_json (s, 1, free_);
          bind_json (s, 2, tasks);
          bind_json (s, 3, outbox);
          sqlite3_bind_int64 (s, 4, (sqlite3_int64)now_ms ());
          bind_text (s, 5, node_id);
          if (sqlite3_step (s) != SQLITE_DONE)
            reply_db_error (st, ret, "heartbeat");
          else
            {
              reply = proto_object ();
              json_object_object_add (reply, "poll", poll_object (&st->opts.poll));
              reply_ok (ret, 200, reply);
            }
        }
    }
  pthread_mutex_unlock (&st->lock);
}

/* ------------------------------------------------------------------ placement views */

struct node_info
{
  char *node_id, *hostname, *arch;
  bool alive;
  int64_t cpu, mem;                 /* capacity */
  int64_t used_cpu, used_mem;       /* active tasks placed here */
  int64_t pending_cpu, pending_mem; /* active tasks the last heartbeat did not list */
  bool has_free;
  int64_t hb_cpu, hb_mem; /* free in the last heartbeat */
  json_object *reported;  /* the heartbeat's task list */
};

static void
node_infos_free (struct node_info *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].node_id);
      free (v[i].hostname);
      free (v[i].arch);
      json_object_put (v[i].reported);
    }
  free (v);
}

static int64_t
json_int (json_object *o, const char *key)
{
  json_object *v;
  return json_object_object_get_ex (o, key, &v) ? json_object_get_int64 (v) : 0;
}

static bool
reported_has (json_object *reported, const char *task_id)
{
  for (size_t i = 0; reported && i < json_object_array_length (reported); i++)
    {
      json_object *v;
      if (json_object_object_get_ex (json_object_array_get_idx (reported, i), "task_id", &v)
          && strcmp (json_object_get_string (v), task_id) == 0)
        return true;
    }
  return false;
}

static int
node_infos (struct endpoint_store *st, struct node_info **ret, size_t *ret_n)
{
  cleanup_stmt sqlite3_stmt *s
      = db_prepare (st, "SELECT node_id, hostname, resources, free, reported_tasks, last_seen_ms, "
                        "json_extract(attributes, '$.arch') FROM nodes ORDER BY node_id");
  cleanup_stmt sqlite3_stmt *t = db_prepare (
      st, "SELECT node_id, task_id, cpu, memory_mib FROM tasks WHERE desired='RUNNING' AND "
          "(status IS NULL OR status!='STOPPED')");
  struct node_info *v = NULL;
  size_t n = 0;
  uint64_t now = now_ms ();

  if (s == NULL || t == NULL)
    return -1;
  while (sqlite3_step (s) == SQLITE_ROW)
    {
      cleanup_json json_object *res = column_json (s, 2), *fr = column_json (s, 3);
      struct node_info *i;
      v = xrealloc (v, (n + 1) * sizeof (*v));
      i = &v[n++];
      memset (i, 0, sizeof (*i));
      i->node_id = xstrdup (column_str (s, 0));
      i->hostname = column_str (s, 1) ? xstrdup (column_str (s, 1)) : NULL;
      i->cpu = json_int (res, "cpu");
      i->mem = json_int (res, "memory_mib");
      if (fr)
        {
          i->has_free = true;
          i->hb_cpu = json_int (fr, "cpu");
          i->hb_mem = json_int (fr, "memory_mib");
        }
      i->reported = column_json (s, 4);
      i->alive = now - (uint64_t)sqlite3_column_int64 (s, 5) <= st->opts.liveness_ms;
      i->arch = sqlite3_column_type (s, 6) == SQLITE_TEXT ? xstrdup (column_str (s, 6)) : NULL;
    }
  while (sqlite3_step (t) == SQLITE_ROW)
    for (size_t k = 0; k < n; k++)
      if (strcmp (v[k].node_id, column_str (t, 0)) == 0)
        {
          int64_t cpu = sqlite3_column_int64 (t, 2), mem = sqlite3_column_int64 (t, 3);
          v[k].used_cpu += cpu;
          v[k].used_mem += mem;
          if (!reported_has (v[k].reported, column_str (t, 1)))
            {
              v[k].pending_cpu += cpu;
              v[k].pending_mem += mem;
            }
        }
  *ret = v;
  *ret_n = n;
  return 0;
}

/* Free = capacity minus this endpoint's active tasks, or the node's own last word (which
 * also counts other sources' tasks) minus what was placed since, whichever is smaller. */
static void
node_free (const struct node_info *i, int64_t *ret_cpu, int64_t *ret_mem)
{
  int64_t cpu = i->cpu - i->used_cpu, mem = i->mem - i->used_mem;
  if (i->has_free)
    {
      if (i->hb_cpu - i->pending_cpu < cpu)
        cpu = i->hb_cpu - i->pending_cpu;
      if (i->hb_mem - i->pending_mem < mem)
        mem = i->hb_mem - i->pending_mem;
    }
  *ret_cpu = cpu;
  *ret_mem = mem;
}

/* ------------------------------------------------------------------ admin */

static char *
new_task_id (void)
{
  uint64_t r;
  if (getrandom (&r, sizeof (r), 0) != sizeof (r))
    r = berth_realtime_ns () ^ ((uint64_t)getpid () << 32);
  return xasprintf ("t-%016" PRIx64, r);
}

void
endpoint_store_submit (struct endpoint_store *st, json_object *body, struct endpoint_reply *ret)
{
  cleanup_err berth_err err = NULL;
  cleanup_free char *task_id = NULL;
  struct endpoint_reservation need;
  json_object *definition, *metadata = NULL, *reply;
  const char *wanted = NULL, *id = NULL;
  struct node_info *infos = NULL;
  struct endpoint_node_view *views = NULL;
  size_t n = 0, chosen;
  struct node_row node;
  char now[BERTH_RFC3339_LEN];
  int r;

  if (bjson_get (body, "", "definition", json_type_object, BJSON_REQUIRED, &definition, &err) < 0
      || bjson_get (body, "", "metadata", json_type_object, 0, &metadata, &err) < 0
      || bjson_get_string (body, "", "node", 0, &wanted, &err) < 0
      || bjson_get_string (body, "", "task_id", 0, &id, &err) < 0
      || endpoint_task_reservation (definition, &need, &err) < 0)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "submit: %s", berth_err_msg (&err));
      return;
    }
  if (id && !http_proto_valid_id (id))
    {
      endpoint_reply_error (ret, 400, "BadRequest",
                            "submit: task_id: \"%.160s\" is not a valid "
                            "identifier",
                            id);
      return;
    }
  task_id = id ? xstrdup (id) : new_task_id ();

  pthread_mutex_lock (&st->lock);
  if (node_infos (st, &infos, &n) < 0)
    {
      reply_db_error (st, ret, "submit");
      goto out;
    }
  views = xzalloc ((n ? n : 1) * sizeof (*views));
  for (size_t i = 0; i < n; i++)
    {
      views[i].node_id = infos[i].node_id;
      views[i].hostname = infos[i].hostname;
      views[i].arch = infos[i].arch;
      views[i].alive = infos[i].alive;
      node_free (&infos[i], &views[i].free_cpu, &views[i].free_memory_mib);
    }
  r = endpoint_place (views, n, wanted, &need, &chosen, &err);
  if (r < 0)
    {
      if (r == -ENOENT)
        endpoint_reply_error (ret, 404, "NodeUnknown", "submit: %s", berth_err_msg (&err));
      else if (r == -EINVAL)
        endpoint_reply_error (ret, 409, "Incompatible", "submit: %s", berth_err_msg (&err));
      else
        endpoint_reply_error (ret, 409, "NoRoom", "submit: %s", berth_err_msg (&err));
      goto out;
    }
  if (!db_ok (st, "BEGIN IMMEDIATE"))
    {
      reply_db_error (st, ret, "submit");
      goto out;
    }
  if (node_get (st, infos[chosen].node_id, &node) < 0)
    goto db_fail;
  {
    cleanup_stmt sqlite3_stmt *s = db_prepare (
        st, "INSERT INTO tasks (task_id, node_id, definition, metadata, desired, changed_gen, "
            "cpu, memory_mib, created_at) VALUES (?,?,?,?,'RUNNING',?,?,?,?)");
    if (s == NULL)
      goto db_fail;
    bind_text (s, 1, task_id);
    bind_text (s, 2, infos[chosen].node_id);
    bind_json (s, 3, definition);
    bind_json (s, 4, metadata);
    sqlite3_bind_int64 (s, 5, (sqlite3_int64)node.generation + 1);
    sqlite3_bind_int64 (s, 6, need.cpu);
    sqlite3_bind_int64 (s, 7, need.memory_mib);
    bind_text (s, 8, now_text (now));
    if (sqlite3_step (s) != SQLITE_DONE)
      {
        if (sqlite3_extended_errcode (st->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
          {
            db_ok (st, "ROLLBACK");
            endpoint_reply_error (ret, 409, "Conflict", "submit: task %s exists", task_id);
            goto out;
          }
        goto db_fail;
      }
  }
  if (!node_set_generation (st, infos[chosen].node_id, node.generation + 1, false)
      || !db_ok (st, "COMMIT"))
    goto db_fail;
  pthread_cond_broadcast (&st->changed);
  reply = json_object_new_object ();
  json_object_object_add (reply, "task_id", json_object_new_string (task_id));
  json_object_object_add (reply, "node_id", json_object_new_string (infos[chosen].node_id));
  json_object_object_add (reply, "generation", json_object_new_uint64 (node.generation + 1));
  reply_ok (ret, 201, reply);
  goto out;

db_fail:
  reply_db_error (st, ret, "submit");
  db_ok (st, "ROLLBACK");
out:
  pthread_mutex_unlock (&st->lock);
  free (views);
  node_infos_free (infos, n);
}

void
endpoint_store_stop_task (struct endpoint_store *st, const char *task_id,
                          struct endpoint_reply *ret)
{
  cleanup_free char *node_id = NULL, *desired = NULL;
  json_object *reply;
  struct node_row node;
  uint64_t generation;

  pthread_mutex_lock (&st->lock);
  {
    cleanup_stmt sqlite3_stmt *s
        = db_prepare (st, "SELECT node_id, desired FROM tasks WHERE task_id=?");
    if (s == NULL)
      {
        reply_db_error (st, ret, "stop");
        goto out;
      }
    bind_text (s, 1, task_id);
    if (sqlite3_step (s) != SQLITE_ROW)
      {
        endpoint_reply_error (ret, 404, "TaskUnknown", "no task %s", task_id);
        goto out;
      }
    node_id = xstrdup (column_str (s, 0));
    desired = xstrdup (column_str (s, 1));
  }
  if (!db_ok (st, "BEGIN IMMEDIATE"))
    {
      reply_db_error (st, ret, "stop");
      goto out;
    }
  if (node_get (st, node_id, &node) < 0)
    goto db_fail;
  generation = node.generation;
  if (strcmp (desired, "STOPPED") != 0)
    {
      cleanup_stmt sqlite3_stmt *s
          = db_prepare (st, "UPDATE tasks SET desired='STOPPED', changed_gen=? WHERE task_id=?");
      generation++;
      if (s == NULL)
        goto db_fail;
      sqlite3_bind_int64 (s, 1, (sqlite3_int64)generation);
      bind_text (s, 2, task_id);
      if (sqlite3_step (s) != SQLITE_DONE || !node_set_generation (st, node_id, generation, false))
        goto db_fail;
    }
  if (!db_ok (st, "COMMIT"))
    goto db_fail;
  pthread_cond_broadcast (&st->changed);
  reply = json_object_new_object ();
  json_object_object_add (reply, "task_id", json_object_new_string (task_id));
  json_object_object_add (reply, "node_id", json_object_new_string (node_id));
  json_object_object_add (reply, "generation", json_object_new_uint64 (generation));
  reply_ok (ret, 200, reply);
  goto out;
db_fail:
  reply_db_error (st, ret, "stop");
  db_ok (st, "ROLLBACK");
out:
  pthread_mutex_unlock (&st->lock);
}

void
endpoint_store_list_tasks (struct endpoint_store *st, const char *task_id,
                           struct endpoint_reply *ret)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  json_object *list = json_object_new_array (), *reply;

  pthread_mutex_lock (&st->lock);
  s = db_prepare (st, "SELECT task_id, node_id, desired, status, cpu, memory_mib, created_at, "
                      "last_change, definition, metadata, changed_gen FROM tasks "
                      "WHERE ?1 IS NULL OR task_id=?1 ORDER BY created_at, task_id");
  if (s == NULL)
    {
      json_object_put (list);
      reply_db_error (st, ret, "list");
      goto out;
    }
  bind_text (s, 1, task_id);
  while (sqlite3_step (s) == SQLITE_ROW)
    {
      json_object *t = json_object_new_object (), *change = column_json (s, 7), *v;
      json_object_object_add (t, "task_id", json_object_new_string (column_str (s, 0)));
      json_object_object_add (t, "node_id", json_object_new_string (column_str (s, 1)));
      json_object_object_add (t, "desired", json_object_new_string (column_str (s, 2)));
      json_object_object_add (
          t, "status", column_str (s, 3) ? json_object_new_string (column_str (s, 3)) : NULL);
      json_object_object_add (t, "cpu", json_object_new_int64 (sqlite3_column_int64 (s, 4)));
      json_object_object_add (t, "memory_mib", json_object_new_int64 (sqlite3_column_int64 (s, 5)));
      json_object_object_add (t, "created_at", json_object_new_string (column_str (s, 6)));
      json_object_object_add (t, "changed_generation",
                              json_object_new_int64 (sqlite3_column_int64 (s, 10)));
      json_object_object_add (
          t, "reason",
          change && json_object_object_get_ex (change, "reason", &v) ? json_object_get (v) : NULL);
      json_object_object_add (
          t, "ip",
          change && json_object_object_get_ex (change, "ip", &v) ? json_object_get (v) : NULL);
      if (task_id)
        {
          json_object_object_add (t, "definition", column_json (s, 8));
          json_object_object_add (t, "metadata", column_json (s, 9));
          json_object_object_add (t, "last_change", json_object_get (change));
        }
      json_object_put (change);
      json_object_array_add (list, t);
    }
  if (task_id && json_object_array_length (list) == 0)
    {
      json_object_put (list);
      endpoint_reply_error (ret, 404, "TaskUnknown", "no task %s", task_id);
      goto out;
    }
  reply = json_object_new_object ();
  json_object_object_add (reply, "tasks", list);
  reply_ok (ret, 200, reply);
out:
  pthread_mutex_unlock (&st->lock);
}

void
endpoint_store_list_nodes (struct endpoint_store *st, struct endpoint_reply *ret)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  struct node_info *infos = NULL;
  size_t n = 0;
  json_object *list, *reply;

  pthread_mutex_lock (&st->lock);
  s = db_prepare (st, "SELECT node_id, hostname, agent_version, boot_id, resources, attributes, "
                      "registered_at, last_seen_ms, generation, acked_generation, ack_error, "
                      "last_seq, outbox, (SELECT count(*) FROM tasks t WHERE t.node_id=n.node_id "
                      "AND desired='RUNNING') FROM nodes n ORDER BY node_id");
  if (s == NULL || node_infos (st, &infos, &n) < 0)
    {
      reply_db_error (st, ret, "nodes");
      goto out;
    }
  list = json_object_new_array ();
  for (size_t k = 0; sqlite3_step (s) == SQLITE_ROW; k++)
    {
      json_object *o = json_object_new_object (), *fr = json_object_new_object ();
      int64_t cpu = 0, mem = 0;
      bool alive = false;
      for (size_t i = 0; i < n; i++)
        if (strcmp (infos[i].node_id, column_str (s, 0)) == 0)
          {
            node_free (&infos[i], &cpu, &mem);
            alive = infos[i].alive;
          }
      json_object_object_add (o, "node_id", json_object_new_string (column_str (s, 0)));
      json_object_object_add (
          o, "hostname", column_str (s, 1) ? json_object_new_string (column_str (s, 1)) : NULL);
      json_object_object_add (o, "agent_version", json_object_new_string (column_str (s, 2)));
      json_object_object_add (
          o, "boot_id", column_str (s, 3) ? json_object_new_string (column_str (s, 3)) : NULL);
      json_object_object_add (o, "resources", column_json (s, 4));
      json_object_object_add (o, "attributes", column_json (s, 5));
      json_object_object_add (fr, "cpu", json_object_new_int64 (cpu));
      json_object_object_add (fr, "memory_mib", json_object_new_int64 (mem));
      json_object_object_add (o, "free", fr);
      json_object_object_add (o, "alive", json_object_new_boolean (alive));
      json_object_object_add (o, "registered_at", json_object_new_string (column_str (s, 6)));
      json_object_object_add (o, "last_seen_ms",
                              json_object_new_int64 (sqlite3_column_int64 (s, 7)));
      json_object_object_add (o, "generation", json_object_new_int64 (sqlite3_column_int64 (s, 8)));
      json_object_object_add (o, "acked_generation",
                              json_object_new_int64 (sqlite3_column_int64 (s, 9)));
      json_object_object_add (
          o, "ack_error", column_str (s, 10) ? json_object_new_string (column_str (s, 10)) : NULL);
      json_object_object_add (o, "last_seq", json_object_new_int64 (sqlite3_column_int64 (s, 11)));
      json_object_object_add (o, "outbox", column_json (s, 12));
      json_object_object_add (o, "running_tasks",
                              json_object_new_int64 (sqlite3_column_int64 (s, 13)));
      json_object_array_add (list, o);
    }
  reply = json_object_new_object ();
  json_object_object_add (reply, "nodes", list);
  reply_ok (ret, 200, reply);
out:
  pthread_mutex_unlock (&st->lock);
  node_infos_free (infos, n);
}

void
endpoint_store_events (struct endpoint_store *st, uint64_t after, const char *node_id,
                       const char *task_id, uint64_t limit, uint64_t wait_s,
                       struct endpoint_reply *ret)
{
  uint64_t deadline = berth_now_ns () + wait_s * 1000000000u;
  json_object *list = NULL, *reply;
  uint64_t last_id = after;

  if (after >= INT64_MAX)
    {
      endpoint_reply_error (ret, 400, "BadRequest", "after: out of range");
      return;
    }
  pthread_mutex_lock (&st->lock);
  for (;;)
    {
      cleanup_stmt sqlite3_stmt *s = db_prepare (
          st, "SELECT id, node_id, seq, task_id, received_at, change FROM events WHERE id>?1 "
              "AND (?2 IS NULL OR node_id=?2) AND (?3 IS NULL OR task_id=?3) ORDER BY id "
              "LIMIT ?4");
      if (s == NULL)
        {
          reply_db_error (st, ret, "events");
          goto out;
        }
      sqlite3_bind_int64 (s, 1, (sqlite3_int64)after);
      bind_text (s, 2, node_id);
      bind_text (s, 3, task_id);
      sqlite3_bind_int64 (s, 4, (sqlite3_int64)(limit ? limit : 1000));
      list = json_object_new_array ();
      while (sqlite3_step (s) == SQLITE_ROW)
        {
          json_object *e = json_object_new_object ();
          last_id = (uint64_t)sqlite3_column_int64 (s, 0);
          json_object_object_add (e, "id", json_object_new_uint64 (last_id));
          json_object_object_add (e, "node_id", json_object_new_string (column_str (s, 1)));
          json_object_object_add (e, "seq", json_object_new_int64 (sqlite3_column_int64 (s, 2)));
          json_object_object_add (e, "task_id", json_object_new_string (column_str (s, 3)));
          json_object_object_add (e, "received_at", json_object_new_string (column_str (s, 4)));
          json_object_object_add (e, "change", column_json (s, 5));
          json_object_array_add (list, e);
        }
      if (json_object_array_length (list) > 0 || st->shutdown || berth_now_ns () >= deadline)
        break;
      json_object_put (list);
      list = NULL;
      {
        struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000u),
                               .tv_nsec = (long)(deadline % 1000000000u) };
        pthread_cond_timedwait (&st->changed, &st->lock, &ts);
      }
    }
  reply = json_object_new_object ();
  json_object_object_add (reply, "events", list);
  json_object_object_add (reply, "last_id", json_object_new_uint64 (last_id));
  reply_ok (ret, 200, reply);
out:
  pthread_mutex_unlock (&st->lock);
}
