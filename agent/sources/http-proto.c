/* The berth control protocol v1 as data: strict parsers of what an endpoint answers, the
 * request bodies the agent sends, the state change schema and backoff arithmetic
 * (docs/control-protocol.md). Endpoint responses are hostile input: every check names the
 * JSON path at fault. */
#include "http-proto.h"

#include <arpa/inet.h>
#include <strings.h>

/* ------------------------------------------------------------------ small checks */

bool
http_proto_valid_id (const char *s)
{
  size_t n = 0;

  if (s == NULL || *s == '\0' || *s == '.')
    return false;
  for (; s[n]; n++)
    {
      char c = s[n];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
            || c == '_' || c == '.'))
        return false;
      if (n >= HTTP_PROTO_ID_MAX)
        return false;
    }
  return true;
}

static bool
digits (const char *s, size_t n, unsigned min, unsigned max)
{
  unsigned v = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return false;
      v = v * 10 + (unsigned)(s[i] - '0');
    }
  return v >= min && v <= max;
}

bool
http_proto_valid_time (const char *s)
{
  /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
  size_t len = strlen (s), i = 19;

  if (len < 20)
    return false;
  if (!digits (s, 4, 0, 9999) || s[4] != '-' || !digits (s + 5, 2, 1, 12) || s[7] != '-'
      || !digits (s + 8, 2, 1, 31) || (s[10] != 'T' && s[10] != 't') || !digits (s + 11, 2, 0, 23)
      || s[13] != ':' || !digits (s + 14, 2, 0, 59) || s[16] != ':' || !digits (s + 17, 2, 0, 60))
    return false;
  if (s[i] == '.')
    {
      size_t start = ++i;
      while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
      if (i == start || i - start > 9)
        return false;
    }
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
    return true;
  if ((s[i] == '+' || s[i] == '-') && i + 6 == len && digits (s + i + 1, 2, 0, 23)
      && s[i + 3] == ':' && digits (s + i + 4, 2, 0, 59))
    return true;
  return false;
}

static bool
in_list (const char *s, const char *const *list)
{
  for (; *list; list++)
    if (strcmp (s, *list) == 0)
      return true;
  return false;
}

static const char *const task_statuses[]
    = { "PROVISIONING", "PENDING",        "ACTIVATING", "RUNNING", "DEACTIVATING",
        "STOPPING",     "DEPROVISIONING", "STOPPED",    NULL };
static const char *const desired_statuses[] = { "RUNNING", "STOPPED", NULL };
static const char *const container_statuses[]
    = { "PENDING", "PULLED", "CREATED", "RUNNING", "STOPPED", NULL };
static const char *const health_statuses[] = { "UNKNOWN", "HEALTHY", "UNHEALTHY", NULL };
static const char *const stop_codes[] = { "TaskFailedToStart", "EssentialContainerExited",
                                          "EssentialContainerUnhealthy", "UserInitiated", NULL };

static int
get_enum (json_object *obj, const char *path, const char *key, const char *const *list,
          const char **ret, berth_err *err)
{
  const char *s;
  int r = bjson_get_string (obj, path, key, BJSON_REQUIRED, &s, err);
  if (r < 0)
    return r;
  if (!in_list (s, list))
    {
      cleanup_free char *p = bjson_path_key (path, key);
      return berth_err_set (err, 0, "%s: unknown value \"%s\"", p, s);
    }
  *ret = s;
  return 0;
}

/* A key that must be present, with a value of type or null. *ret is NULL for null. */
static int
get_nullable (json_object *obj, const char *path, const char *key, json_type type,
              json_object **ret, berth_err *err)
{
  json_object *v;
  cleanup_free char *p = NULL;

  if (!json_object_object_get_ex (obj, key, &v))
    return bjson_get (obj, path, key, type, BJSON_REQUIRED, ret, err);
  if (v == NULL)
    {
      *ret = NULL;
      return 0;
    }
  p = bjson_path_key (path, key);
  if (json_object_get_type (v) != type)
    return berth_err_set (err, 0, "%s: expected %s or null, got %s", p, bjson_type_name (type),
                          bjson_type_name (json_object_get_type (v)));
  if (type == json_type_string
      && strlen (json_object_get_string (v)) != (size_t)json_object_get_string_len (v))
    return berth_err_set (err, 0, "%s: string contains a NUL character", p);
  *ret = v;
  return 0;
}

static int
get_nullable_time (json_object *obj, const char *path, const char *key, berth_err *err)
{
  json_object *v;
  int r = get_nullable (obj, path, key, json_type_string, &v, err);
  if (r < 0)
    return r;
  if (v && !http_proto_valid_time (json_object_get_string (v)))
    {
      cleanup_free char *p = bjson_path_key (path, key);
      return berth_err_set (err, 0, "%s: \"%s\" is not an RFC 3339 time", p,
                            json_object_get_string (v));
    }
  return 0;
}

static int
get_id (json_object *obj, const char *path, const char *key, const char **ret, berth_err *err)
{
  const char *s;
  int r = bjson_get_string (obj, path, key, BJSON_REQUIRED, &s, err);
  if (r < 0)
    return r;
  if (!http_proto_valid_id (s))
    {
      cleanup_free char *p = bjson_path_key (path, key);
      return berth_err_set (err, 0,
                            "%s: \"%.160s\" is not a valid identifier (1-%d of "
                            "[A-Za-z0-9_.-], not starting with '.')",
                            p, s, HTTP_PROTO_ID_MAX);
    }
  *ret = s;
  return 0;
}

/* Parses a body and checks {"protocol": 1}. */
static int
parse_doc (const char *body, size_t len, json_object **ret, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  uint64_t protocol;
  int r;

  r = bjson_parse (body, len, "response", &doc, err);
  if (r < 0)
    return r;
  if (!json_object_is_type (doc, json_type_object))
    return berth_err_set (err, 0, "response: expected an object, got %s",
                          bjson_type_name (json_object_get_type (doc)));
  r = bjson_get_uint64 (doc, "", "protocol", BJSON_REQUIRED, UINT64_MAX, &protocol, err);
  if (r < 0)
    return r;
  if (protocol != HTTP_PROTO_VERSION)
    return berth_err_set (err, 0,
                          "protocol: version %" PRIu64 " is not supported (this agent "
                          "speaks %d)",
                          protocol, HTTP_PROTO_VERSION);
  *ret = steal_pointer (&doc);
  return 0;
}

/* ------------------------------------------------------------------ poll hint */

static int
get_bounded_u32 (json_object *obj, const char *path, const char *key, uint32_t min, uint32_t max,
                 uint32_t *ret, berth_err *err)
{
  uint64_t v;
  int r = bjson_get_uint64 (obj, path, key, 0, UINT64_MAX, &v, err);
  if (r <= 0)
    return r;
  if (v < min || v > max)
    {
      cleanup_free char *p = bjson_path_key (path, key);
      return berth_err_set (err, 0, "%s: %" PRIu64 " is out of range [%" PRIu32 ", %" PRIu32 "]", p,
                            v, min, max);
    }
  *ret = (uint32_t)v;
  return 1;
}

int
http_proto_parse_poll (json_object *obj, const char *path, struct http_poll_hint *ret,
                       berth_err *err)
{
  struct http_poll_hint h = HTTP_POLL_HINT_DEFAULT;
  int r;

  r = bjson_expect (obj, path, json_type_object, err);
  if (r < 0)
    return r;
  if ((r = get_bounded_u32 (obj, path, "wait_s", 1, 300, &h.wait_s, err)) < 0
      || (r = get_bounded_u32 (obj, path, "heartbeat_s", 5, 3600, &h.heartbeat_s, err)) < 0
      || (r = get_bounded_u32 (obj, path, "min_interval_ms", 0, 600000, &h.min_interval_ms, err))
             < 0)
    return r;
  *ret = h;
  return 0;
}

static int
get_poll (json_object *doc, bool *ret_has, struct http_poll_hint *ret, berth_err *err)
{
  json_object *p;
  int r = bjson_get (doc, "", "poll", json_type_object, 0, &p, err);
  if (r < 0)
    return r;
  *ret_has = r > 0;
  if (r > 0)
    return http_proto_parse_poll (p, "poll", ret, err);
  return 0;
}

/* ------------------------------------------------------------------ responses */

void
http_manifest_clear (struct http_manifest *m)
{
  for (size_t i = 0; i < m->n_tasks; i++)
    {
      free (m->tasks[i].task_id);
      json_object_put (m->tasks[i].definition);
      json_object_put (m->tasks[i].metadata);
    }
  free (m->tasks);
  memset (m, 0, sizeof (*m));
}

int
http_proto_parse_assignments (const char *body, size_t len, struct http_manifest *ret,
                              berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  struct http_manifest m = { 0 };
  json_object *tasks;
  size_t n;
  int r;

  r = parse_doc (body, len, &doc, err);
  if (r < 0)
    return r;
  if ((r = bjson_get_uint64 (doc, "", "generation", BJSON_REQUIRED, UINT64_MAX, &m.generation, err))
          < 0
      || (r = bjson_get_bool (doc, "", "complete", BJSON_REQUIRED, &m.complete, err)) < 0
      || (r = bjson_get (doc, "", "tasks", json_type_array, BJSON_REQUIRED, &tasks, err)) < 0
      || (r = get_poll (doc, &m.has_poll, &m.poll, err)) < 0)
    return r;
  if (m.generation == 0)
    return berth_err_set (err, 0, "generation: must be at least 1");

  n = json_object_array_length (tasks);
  m.tasks = xzalloc ((n ? n : 1) * sizeof (*m.tasks));
  for (size_t i = 0; i < n; i++)
    {
      json_object *t = json_object_array_get_idx (tasks, i), *def, *meta;
      cleanup_free char *path = bjson_path_index ("tasks", i);
      struct source_assignment *a = &m.tasks[i];
      const char *id, *desired;

      if ((r = bjson_expect (t, path, json_type_object, err)) < 0
          || (r = get_id (t, path, "task_id", &id, err)) < 0
          || (r = get_enum (t, path, "desired", desired_statuses, &desired, err)) < 0
          || (r = bjson_get (t, path, "definition", json_type_object, BJSON_REQUIRED, &def, err))
                 < 0
          || (r = bjson_get (t, path, "metadata", json_type_object, 0, &meta, err)) < 0)
        goto fail;
      for (size_t j = 0; j < i; j++)
        if (strcmp (m.tasks[j].task_id, id) == 0)
          {
            r = berth_err_set (err, 0, "%s.task_id: \"%s\" also at tasks[%zu]", path, id, j);
            goto fail;
          }
      a->task_id = xstrdup (id);
      a->desired = strcmp (desired, "RUNNING") == 0 ? BERTH_DESIRED_RUNNING : BERTH_DESIRED_STOPPED;
      a->definition = json_object_get (def);
      a->metadata = meta ? json_object_get (meta) : NULL;
      m.n_tasks++;
    }
  *ret = m;
  return 0;

fail:
  http_manifest_clear (&m);
  return r;
}

void
http_register_reply_clear (struct http_register_reply *r)
{
  free (r->node_id);
  memset (r, 0, sizeof (*r));
}

int
http_proto_parse_register (const char *body, size_t len, struct http_register_reply *ret,
                           berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  struct http_register_reply rep = { 0 };
  const char *id;
  int r;

  r = parse_doc (body, len, &doc, err);
  if (r < 0)
    return r;
  if ((r = get_id (doc, "", "node_id", &id, err)) < 0
      || (r = bjson_get_uint64 (doc, "", "acked_seq", BJSON_REQUIRED, UINT64_MAX, &rep.acked_seq,
                                err))
             < 0
      || (r = get_poll (doc, &rep.has_poll, &rep.poll, err)) < 0)
    return r;
  rep.node_id = xstrdup (id);
  *ret = rep;
  return 0;
}

int
http_proto_parse_state_changes_reply (const char *body, size_t len, uint64_t *ret_acked_seq,
                                      berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  uint64_t acked;
  int r;

  r = parse_doc (body, len, &doc, err);
  if (r < 0)
    return r;
  r = bjson_get_uint64 (doc, "", "acked_seq", BJSON_REQUIRED, UINT64_MAX, &acked, err);
  if (r < 0)
    return r;
  *ret_acked_seq = acked;
  return 0;
}

int
http_proto_parse_heartbeat_reply (const char *body, size_t len, bool *ret_has_poll,
                                  struct http_poll_hint *ret_poll, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  struct http_poll_hint h;
  bool has;
  int r;

  r = parse_doc (body, len, &doc, err);
  if (r < 0)
    return r;
  r = get_poll (doc, &has, &h, err);
  if (r < 0)
    return r;
  *ret_has_poll = has;
  if (has)
    *ret_poll = h;
  return 0;
}

void
http_proto_parse_error (const char *body, size_t len, char **ret_code, char **ret_message)
{
  cleanup_json json_object *doc = NULL;
  cleanup_err berth_err err = NULL;
  json_object *e;
  const char *s;

  *ret_code = NULL;
  *ret_message = NULL;
  if (len == 0 || bjson_parse (body, len, "error", &doc, &err) < 0
      || bjson_get (doc, "", "error", json_type_object, BJSON_REQUIRED, &e, &err) <= 0)
    return;
  if (bjson_get_string (e, "error", "code", 0, &s, &err) > 0)
    *ret_code = xstrndup (s, 64);
  if (bjson_get_string (e, "error", "message", 0, &s, &err) > 0)
    *ret_message = xstrndup (s, 1024);
}

/* ------------------------------------------------------------------ state changes */

static int
check_container (json_object *c, const char *path, berth_err *err)
{
  const char *s;
  json_object *v;
  int64_t i64;
  uint64_t u64;
  int r;

  if ((r = bjson_expect (c, path, json_type_object, err)) < 0
      || (r = bjson_get_string (c, path, "name", BJSON_REQUIRED, &s, err)) < 0)
    return r;
  if (*s == '\0')
    return berth_err_set (err, 0, "%s.name: empty", path);
  if ((r = get_enum (c, path, "status", container_statuses, &s, err)) < 0
      || (r = get_nullable (c, path, "exit_code", json_type_int, &v, err)) < 0)
    return r;
  if (v)
    {
      cleanup_free char *p = bjson_path_key (path, "exit_code");
      r = bjson_value_int64 (v, p, INT32_MIN, INT32_MAX, &i64, err);
      if (r < 0)
        return r;
    }
  if ((r = get_nullable (c, path, "reason", json_type_string, &v, err)) < 0
      || (r = get_enum (c, path, "health", health_statuses, &s, err)) < 0
      || (r = bjson_get_uint64 (c, path, "restart_count", BJSON_REQUIRED, UINT32_MAX, &u64, err))
             < 0
      || (r = get_nullable (c, path, "image_digest", json_type_string, &v, err)) < 0)
    return r;
  return 0;
}

int
http_proto_check_state_change (json_object *change, const char *path, bool with_seq, berth_err *err)
{
  const char *s, *status;
  json_object *v, *ts, *containers;
  uint64_t seq;
  int r;

  if ((r = bjson_expect (change, path, json_type_object, err)) < 0)
    return r;
  if (with_seq)
    {
      r = bjson_get_uint64 (change, path, "seq", BJSON_REQUIRED, UINT64_MAX, &seq, err);
      if (r < 0)
        return r;
      if (seq == 0)
        return berth_err_set (err, 0, "%s%sseq: must be at least 1", path, *path ? "." : "");
    }
  else if (json_object_object_get_ex (change, "seq", NULL))
    return berth_err_set (err, 0, "%s%sseq: set by the outbox, not the engine", path,
                          *path ? "." : "");
  if ((r = get_id (change, path, "task_id", &s, err)) < 0)
    return r;
  if ((r = bjson_get_string (change, path, "time", BJSON_REQUIRED, &s, err)) < 0)
    return r;
  if (!http_proto_valid_time (s))
    return berth_err_set (err, 0, "%s%stime: \"%s\" is not an RFC 3339 time", path,
                          *path ? "." : "", s);
  if ((r = get_enum (change, path, "status", task_statuses, &status, err)) < 0
      || (r = get_enum (change, path, "desired", desired_statuses, &s, err)) < 0
      || (r = get_nullable (change, path, "stop_code", json_type_string, &v, err)) < 0)
    return r;
  if ((v != NULL) != (strcmp (status, "STOPPED") == 0))
    return berth_err_set (err, 0, "%s%sstop_code: %s", path, *path ? "." : "",
                          v ? "set but the task is not STOPPED" : "missing for a STOPPED task");
  if (v && !in_list (json_object_get_string (v), stop_codes))
    return berth_err_set (err, 0, "%s%sstop_code: unknown value \"%s\"", path, *path ? "." : "",
                          json_object_get_string (v));
  if ((r = get_nullable (change, path, "reason", json_type_string, &v, err)) < 0
      || (r = get_nullable (change, path, "ip", json_type_string, &v, err)) < 0)
    return r;
  if (v)
    {
      unsigned char buf[16];
      const char *ip = json_object_get_string (v);
      if (inet_pton (AF_INET, ip, buf) != 1 && inet_pton (AF_INET6, ip, buf) != 1)
        return berth_err_set (err, 0, "%s%sip: \"%s\" is not an IP address", path, *path ? "." : "",
                              ip);
    }
  {
    cleanup_free char *tp = bjson_path_key (path, "timestamps");
    if ((r = bjson_get (change, path, "timestamps", json_type_object, BJSON_REQUIRED, &ts, err)) < 0
        || (r = get_nullable_time (ts, tp, "pull_started", err)) < 0
        || (r = get_nullable_time (ts, tp, "pull_stopped", err)) < 0
        || (r = get_nullable_time (ts, tp, "started", err)) < 0
        || (r = get_nullable_time (ts, tp, "stopped", err)) < 0)
      return r;
  }
  r = bjson_get (change, path, "containers", json_type_array, BJSON_REQUIRED, &containers, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < json_object_array_length (containers); i++)
    {
      cleanup_free char *cp = bjson_path_key (path, "containers");
      cleanup_free char *ip = bjson_path_index (cp, i);
      r = check_container (json_object_array_get_idx (containers, i), ip, err);
      if (r < 0)
        return r;
    }
  return 0;
}

/* ------------------------------------------------------------------ requests */

static int
copy_required (json_object *from, const char *key, json_type type, json_object *to, berth_err *err)
{
  json_object *v;
  int r = bjson_get (from, "snapshot", key, type, BJSON_REQUIRED, &v, err);
  if (r < 0)
    return r;
  json_object_object_add (to, key, json_object_get (v));
  return 0;
}

static void
copy_optional_string (json_object *from, const char *key, json_object *to)
{
  json_object *v;
  if (json_object_object_get_ex (from, key, &v) && json_object_is_type (v, json_type_string))
    json_object_object_add (to, key, json_object_get (v));
}

int
http_proto_register_body (const char *node_id, json_object *snapshot, uint64_t generation,
                          json_object **ret, berth_err *err)
{
  cleanup_json json_object *b = json_object_new_object ();
  int r;

  json_object_object_add (b, "protocol", json_object_new_int (HTTP_PROTO_VERSION));
  json_object_object_add (b, "node_id", json_object_new_string (node_id));
  copy_optional_string (snapshot, "boot_id", b);
  copy_optional_string (snapshot, "hostname", b);
  if ((r = copy_required (snapshot, "agent_version", json_type_string, b, err)) < 0
      || (r = copy_required (snapshot, "resources", json_type_object, b, err)) < 0
      || (r = copy_required (snapshot, "attributes", json_type_object, b, err)) < 0)
    return r;
  json_object_object_add (b, "generation", json_object_new_uint64 (generation));
  *ret = steal_pointer (&b);
  return 0;
}

int
http_proto_heartbeat_body (json_object *snapshot, const char *source, uint64_t generation,
                           uint64_t pending, uint64_t coalesced, json_object **ret, berth_err *err)
{
  cleanup_json json_object *b = json_object_new_object ();
  json_object *tasks, *mine, *outbox;
  char now[BERTH_RFC3339_LEN];
  int r;

  json_object_object_add (b, "protocol", json_object_new_int (HTTP_PROTO_VERSION));
  json_object_object_add (
      b, "time",
      json_object_new_string (berth_format_rfc3339 (berth_realtime_ns (), now, sizeof (now))));
  json_object_object_add (b, "generation", json_object_new_uint64 (generation));
  if ((r = copy_required (snapshot, "free", json_type_object, b, err)) < 0
      || (r
          = bjson_get (snapshot, "snapshot", "tasks", json_type_array, BJSON_REQUIRED, &tasks, err))
             < 0)
    return r;
  mine = json_object_new_array ();
  json_object_object_add (b, "tasks", mine);
  for (size_t i = 0; i < json_object_array_length (tasks); i++)
    {
      json_object *t = json_object_array_get_idx (tasks, i), *e;
      const char *src;
      cleanup_free char *path = bjson_path_index ("snapshot.tasks", i);
      if ((r = bjson_get_string (t, path, "source", BJSON_REQUIRED, &src, err)) < 0)
        return r;
      if (strcmp (src, source) != 0)
        continue;
      e = json_object_new_object ();
      json_object_array_add (mine, e);
      {
        static const char *const keys[] = { "task_id", "status", "desired" };
        for (size_t k = 0; k < ARRAY_SIZE (keys); k++)
          {
            json_object *v;
            r = bjson_get (t, path, keys[k], json_type_string, BJSON_REQUIRED, &v, err);
            if (r < 0)
              return r;
            json_object_object_add (e, keys[k], json_object_get (v));
          }
      }
    }
  outbox = json_object_new_object ();
  json_object_object_add (outbox, "pending", json_object_new_uint64 (pending));
  json_object_object_add (outbox, "coalesced", json_object_new_uint64 (coalesced));
  json_object_object_add (b, "outbox", outbox);
  *ret = steal_pointer (&b);
  return 0;
}

json_object *
http_proto_ack_body (uint64_t generation, bool accepted, const char *message)
{
  json_object *b = json_object_new_object ();
  json_object_object_add (b, "protocol", json_object_new_int (HTTP_PROTO_VERSION));
  json_object_object_add (b, "generation", json_object_new_uint64 (generation));
  json_object_object_add (b, "accepted", json_object_new_boolean (accepted));
  if (message)
    json_object_object_add (b, "message", json_object_new_string (message));
  return b;
}

json_object *
http_proto_state_changes_body (json_object *changes)
{
  json_object *b = json_object_new_object ();
  json_object_object_add (b, "protocol", json_object_new_int (HTTP_PROTO_VERSION));
  json_object_object_add (b, "changes", json_object_get (changes));
  return b;
}

/* ------------------------------------------------------------------ backoff */

bool
http_proto_retry_after_ms (const char *line, size_t len, uint64_t *ret_ms)
{
  static const char name[] = "retry-after:";
  cleanup_free char *v = NULL;
  char *b, *e;
  uint64_t secs;

  if (len <= sizeof (name) - 1 || strncasecmp (line, name, sizeof (name) - 1) != 0)
    return false;
  v = xstrndup (line + sizeof (name) - 1, len - (sizeof (name) - 1));
  for (b = v; *b == ' ' || *b == '\t'; b++)
    ;
  e = b + strlen (b);
  while (e > b && strchr (" \t\r\n", e[-1]))
    *--e = '\0';
  if (berth_parse_uint64 (b, &secs) < 0)
    return false;
  *ret_ms = secs > 86400 ? 86400000 : secs * 1000;
  return true;
}

uint64_t
http_backoff_ceiling_ms (unsigned failures, uint64_t base_ms, uint64_t cap_ms)
{
  unsigned shift;

  if (failures == 0)
    return 0;
  shift = failures - 1;
  if (base_ms == 0)
    return 0;
  if (shift >= 63 || base_ms > (cap_ms >> shift))
    return cap_ms;
  return base_ms << shift;
}

uint64_t
http_backoff_delay_ms (unsigned failures, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd)
{
  uint64_t ceiling = http_backoff_ceiling_ms (failures, base_ms, cap_ms);
  if (ceiling == UINT64_MAX)
    return rnd;
  return rnd % (ceiling + 1);
}
