/* Unit tests of the control protocol as data: endpoint response parsers (and the path in
 * their errors), the state change schema, request bodies, poll hints and backoff bounds. */
#include "agent/sources/http-proto.h"

#include <criterion/criterion.h>

static int
parse_assign (const char *text, struct http_manifest *m, berth_err *err)
{
  return http_proto_parse_assignments (text, strlen (text), m, err);
}

static void
expect_assign_error (const char *text, const char *needle)
{
  struct http_manifest m = { 0 };
  berth_err err = NULL;
  int r = parse_assign (text, &m, &err);
  cr_assert_lt (r, 0, "accepted: %s", text);
  cr_assert (strstr (berth_err_msg (&err), needle) != NULL, "error \"%s\" lacks \"%s\"",
             berth_err_msg (&err), needle);
  cr_assert_eq (m.n_tasks, 0);
  cr_assert_null (m.tasks);
  berth_err_free (&err);
}

Test (http_proto, ids)
{
  cr_assert (http_proto_valid_id ("t-7d3e9a0c51f2b6e4"));
  cr_assert (http_proto_valid_id ("5b0e3c2a-8f1d-4a57-9a0e-2c4d1f6b7e90"));
  cr_assert (http_proto_valid_id ("a.b_c"));
  cr_assert_not (http_proto_valid_id (""));
  cr_assert_not (http_proto_valid_id (".hidden"));
  cr_assert_not (http_proto_valid_id (".."));
  cr_assert_not (http_proto_valid_id ("../x"));
  cr_assert_not (http_proto_valid_id ("a/b"));
  cr_assert_not (http_proto_valid_id ("a b"));
  char longid[200];
  memset (longid, 'a', sizeof (longid));
  longid[128] = '\0';
  cr_assert (http_proto_valid_id (longid));
  longid[128] = 'a';
  longid[129] = '\0';
  cr_assert_not (http_proto_valid_id (longid));
}

Test (http_proto, times)
{
  cr_assert (http_proto_valid_time ("2026-11-28T07:35:32Z"));
  cr_assert (http_proto_valid_time ("2026-11-28T07:35:32.123456789Z"));
  cr_assert (http_proto_valid_time ("2026-11-28T07:35:32+01:00"));
  cr_assert_not (http_proto_valid_time ("2026-11-28 07:35:32Z"));
  cr_assert_not (http_proto_valid_time ("2026-13-28T07:35:32Z"));
  cr_assert_not (http_proto_valid_time ("2026-11-28T07:35:32.1234567890Z"));
  cr_assert_not (http_proto_valid_time ("2026-11-28T07:35:32"));
  cr_assert_not (http_proto_valid_time ("2026-11-28T07:35:32ZZ"));
  char buf[BERTH_RFC3339_LEN];
  cr_assert (
      http_proto_valid_time (berth_format_rfc3339 (berth_realtime_ns (), buf, sizeof (buf))));
}

Test (http_proto, assignments_complete)
{
  struct http_manifest m = { 0 };
  berth_err err = NULL;
  const char *text
      = "{\"protocol\":1,\"generation\":42,\"complete\":true,\"tasks\":["
        "{\"task_id\":\"t-1\",\"desired\":\"RUNNING\",\"definition\":{\"family\":\"web\"},"
        "\"metadata\":{\"by\":\"alice\"}},"
        "{\"task_id\":\"t-2\",\"desired\":\"STOPPED\",\"definition\":{\"family\":\"b\"}}],"
        "\"poll\":{\"wait_s\":10,\"heartbeat_s\":15,\"min_interval_ms\":250},\"future\":1}";

  cr_assert_eq (parse_assign (text, &m, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (m.generation, 42);
  cr_assert (m.complete);
  cr_assert_eq (m.n_tasks, 2);
  cr_assert_str_eq (m.tasks[0].task_id, "t-1");
  cr_assert_eq (m.tasks[0].desired, BERTH_DESIRED_RUNNING);
  cr_assert_eq (m.tasks[1].desired, BERTH_DESIRED_STOPPED);
  cr_assert_not_null (m.tasks[0].metadata);
  cr_assert_null (m.tasks[1].metadata);
  cr_assert_str_eq (
      json_object_get_string (json_object_object_get (m.tasks[0].definition, "family")), "web");
  cr_assert (m.has_poll);
  cr_assert_eq (m.poll.wait_s, 10);
  cr_assert_eq (m.poll.heartbeat_s, 15);
  cr_assert_eq (m.poll.min_interval_ms, 250);
  http_manifest_clear (&m);
}

Test (http_proto, assignments_empty_complete_is_valid)
{
  struct http_manifest m = { 0 };
  berth_err err = NULL;
  cr_assert_eq (
      parse_assign ("{\"protocol\":1,\"generation\":3,\"complete\":true,\"tasks\":[]}", &m, &err),
      0);
  cr_assert_eq (m.n_tasks, 0);
  cr_assert (m.complete);
  cr_assert_not (m.has_poll);
  http_manifest_clear (&m);
}

Test (http_proto, assignments_errors_name_the_path)
{
  expect_assign_error ("", "unexpected end");
  expect_assign_error ("{\"protocol\":1", "unexpected end");
  expect_assign_error ("[]", "expected an object");
  expect_assign_error ("{\"generation\":1,\"complete\":true,\"tasks\":[]}", "protocol");
  expect_assign_error ("{\"protocol\":2,\"generation\":1,\"complete\":true,\"tasks\":[]}",
                       "version 2");
  expect_assign_error ("{\"protocol\":1,\"complete\":true,\"tasks\":[]}", "generation");
  expect_assign_error ("{\"protocol\":1,\"generation\":0,\"complete\":true,\"tasks\":[]}",
                       "generation: must be at least 1");
  expect_assign_error ("{\"protocol\":1,\"generation\":-4,\"complete\":true,\"tasks\":[]}",
                       "generation");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":\"yes\",\"tasks\":[]}",
                       "complete: expected a boolean");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true}", "tasks");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":[3]}",
                       "tasks[0]: expected an object");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
                       "{\"task_id\":\"a\",\"desired\":\"RUNNING\",\"definition\":{}},"
                       "{\"task_id\":\"../x\",\"desired\":\"RUNNING\",\"definition\":{}}]}",
                       "tasks[1].task_id: \"../x\" is not a valid identifier");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
                       "{\"task_id\":\"a\",\"desired\":\"PAUSED\",\"definition\":{}}]}",
                       "tasks[0].desired: unknown value \"PAUSED\"");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
                       "{\"task_id\":\"a\",\"desired\":\"RUNNING\"}]}",
                       "tasks[0].definition: required");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
                       "{\"task_id\":\"a\",\"desired\":\"RUNNING\",\"definition\":[]}]}",
                       "tasks[0].definition: expected an object");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
                       "{\"task_id\":\"a\",\"desired\":\"RUNNING\",\"definition\":{}},"
                       "{\"task_id\":\"a\",\"desired\":\"STOPPED\",\"definition\":{}}]}",
                       "tasks[1].task_id: \"a\" also at tasks[0]");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
                       "{\"task_id\":\"a\",\"desired\":\"RUNNING\",\"definition\":{},"
                       "\"metadata\":\"x\"}]}",
                       "tasks[0].metadata: expected an object");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":[],"
                       "\"poll\":{\"wait_s\":0}}",
                       "poll.wait_s: 0 is out of range [1, 300]");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":[],"
                       "\"poll\":{\"heartbeat_s\":1}}",
                       "poll.heartbeat_s");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":[],"
                       "\"poll\":{\"min_interval_ms\":600001}}",
                       "poll.min_interval_ms");
  expect_assign_error ("{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":[]} x",
                       "invalid JSON at byte");
  /* A NUL inside a string would silently truncate a task id used as a file name. */
  {
    static const char t[]
        = "{\"protocol\":1,\"generation\":1,\"complete\":true,\"tasks\":["
          "{\"task_id\":\"a\\u0000b\",\"desired\":\"RUNNING\",\"definition\":{}}]}";
    expect_assign_error (t, "NUL");
  }
}

Test (http_proto, register_reply)
{
  struct http_register_reply rep = { 0 };
  berth_err err = NULL;
  const char *ok = "{\"protocol\":1,\"node_id\":\"n1\",\"acked_seq\":117}";

  cr_assert_eq (http_proto_parse_register (ok, strlen (ok), &rep, &err), 0);
  cr_assert_str_eq (rep.node_id, "n1");
  cr_assert_eq (rep.acked_seq, 117);
  cr_assert_not (rep.has_poll);
  http_register_reply_clear (&rep);

  const char *bad = "{\"protocol\":1,\"node_id\":\"n1\"}";
  cr_assert_lt (http_proto_parse_register (bad, strlen (bad), &rep, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "acked_seq") != NULL);
  const char *badid = "{\"protocol\":1,\"node_id\":\"\",\"acked_seq\":0}";
  cr_assert_lt (http_proto_parse_register (badid, strlen (badid), &rep, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "node_id") != NULL);
  berth_err_free (&err);
}

Test (http_proto, small_replies)
{
  berth_err err = NULL;
  uint64_t acked = 0;
  bool has;
  struct http_poll_hint h = HTTP_POLL_HINT_DEFAULT;
  const char *sc = "{\"protocol\":1,\"acked_seq\":9}";
  const char *hb = "{\"protocol\":1,\"poll\":{\"heartbeat_s\":60}}";

  cr_assert_eq (http_proto_parse_state_changes_reply (sc, strlen (sc), &acked, &err), 0);
  cr_assert_eq (acked, 9);
  cr_assert_lt (http_proto_parse_state_changes_reply ("{}", 2, &acked, &err), 0);
  cr_assert_eq (http_proto_parse_heartbeat_reply (hb, strlen (hb), &has, &h, &err), 0);
  cr_assert (has);
  cr_assert_eq (h.heartbeat_s, 60);
  cr_assert_eq (h.wait_s, 30, "keys left out take their defaults");
  berth_err_free (&err);
}

Test (http_proto, error_body)
{
  char *code, *msg;
  const char *b = "{\"protocol\":1,\"error\":{\"code\":\"NodeUnknown\",\"message\":\"who?\"}}";
  http_proto_parse_error (b, strlen (b), &code, &msg);
  cr_assert_str_eq (code, "NodeUnknown");
  cr_assert_str_eq (msg, "who?");
  free (code);
  free (msg);
  http_proto_parse_error ("<html>", 6, &code, &msg);
  cr_assert_null (code);
  cr_assert_null (msg);
}

static json_object *
good_change (void)
{
  const char *text
      = "{\"task_id\":\"t-1\",\"time\":\"2026-11-28T07:36:02.512873041Z\","
        "\"status\":\"STOPPED\",\"desired\":\"RUNNING\",\"stop_code\":\"EssentialContainerExited\","
        "\"reason\":\"Essential container in task exited\",\"ip\":\"10.88.0.5\","
        "\"timestamps\":{\"pull_started\":\"2026-11-28T07:35:32.1Z\",\"pull_stopped\":null,"
        "\"started\":null,\"stopped\":\"2026-11-28T07:36:02Z\"},"
        "\"containers\":[{\"name\":\"web\",\"status\":\"STOPPED\",\"exit_code\":137,"
        "\"reason\":\"OutOfMemoryError: container killed due to memory usage\","
        "\"health\":\"UNKNOWN\",\"restart_count\":0,\"image_digest\":null}]}";
  json_object *o = NULL;
  berth_err err = NULL;
  cr_assert_eq (bjson_parse (text, strlen (text), "change", &o, &err), 0);
  return o;
}

static void
expect_change_error (void (*mutate) (json_object *), const char *needle)
{
  cleanup_json json_object *c = good_change ();
  berth_err err = NULL;
  mutate (c);
  cr_assert_lt (http_proto_check_state_change (c, "changes[0]", false, &err), 0, "accepted %s",
                bjson_to_string (c));
  cr_assert (strstr (berth_err_msg (&err), needle) != NULL, "\"%s\" lacks \"%s\"",
             berth_err_msg (&err), needle);
  berth_err_free (&err);
}

static void
m_status (json_object *c)
{
  json_object_object_add (c, "status", json_object_new_string ("RUNNING"));
}
static void
m_no_stop_code (json_object *c)
{
  json_object_object_add (c, "stop_code", NULL);
}
static void
m_bad_stop_code (json_object *c)
{
  json_object_object_add (c, "stop_code", json_object_new_string ("Oops"));
}
static void
m_ip (json_object *c)
{
  json_object_object_add (c, "ip", json_object_new_string ("10.88.0.300"));
}
static void
m_missing_reason (json_object *c)
{
  json_object_object_del (c, "reason");
}
static void
m_time (json_object *c)
{
  json_object_object_add (c, "time", json_object_new_string ("yesterday"));
}
static void
m_ts (json_object *c)
{
  json_object_object_add (json_object_object_get (c, "timestamps"), "started",
                          json_object_new_int (5));
}
static void
m_exit (json_object *c)
{
  json_object *ct = json_object_array_get_idx (json_object_object_get (c, "containers"), 0);
  json_object_object_add (ct, "exit_code", json_object_new_string ("137"));
}
static void
m_health (json_object *c)
{
  json_object *ct = json_object_array_get_idx (json_object_object_get (c, "containers"), 0);
  json_object_object_add (ct, "health", json_object_new_string ("SICK"));
}
static void
m_seq (json_object *c)
{
  json_object_object_add (c, "seq", json_object_new_int (4));
}

Test (http_proto, state_change_schema)
{
  cleanup_json json_object *c = good_change ();
  berth_err err = NULL;

  cr_assert_eq (http_proto_check_state_change (c, "", false, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_lt (http_proto_check_state_change (c, "", true, &err), 0, "seq required when sent");
  json_object_object_add (c, "seq", json_object_new_int (7));
  cr_assert_eq (http_proto_check_state_change (c, "", true, &err), 0, "%s", berth_err_msg (&err));

  expect_change_error (m_status, "stop_code: set but the task is not STOPPED");
  expect_change_error (m_no_stop_code, "stop_code: missing for a STOPPED task");
  expect_change_error (m_bad_stop_code, "stop_code: unknown value");
  expect_change_error (m_ip, "changes[0].ip");
  expect_change_error (m_missing_reason, "changes[0].reason: required");
  expect_change_error (m_time, "changes[0].time");
  expect_change_error (m_ts, "changes[0].timestamps.started: expected a string or null");
  expect_change_error (m_exit, "changes[0].containers[0].exit_code");
  expect_change_error (m_health, "changes[0].containers[0].health: unknown value");
  expect_change_error (m_seq, "seq: set by the outbox");
  berth_err_free (&err);
}

static json_object *
snapshot (void)
{
  const char *text = "{\"agent_version\":\"0.1.0\",\"hostname\":\"lab-07\",\"boot_id\":\"b\","
                     "\"resources\":{\"cpu\":2048,\"memory_mib\":1000},\"free\":{\"cpu\":1024,"
                     "\"memory_mib\":500},"
                     "\"attributes\":{\"os\":\"linux\"},\"tasks\":["
                     "{\"task_id\":\"t1\",\"source\":\"http://"
                     "a\",\"status\":\"RUNNING\",\"desired\":\"RUNNING\"},"
                     "{\"task_id\":\"t2\",\"source\":\"dir:/"
                     "x\",\"status\":\"RUNNING\",\"desired\":\"RUNNING\"}]}";
  json_object *o = NULL;
  berth_err err = NULL;
  cr_assert_eq (bjson_parse (text, strlen (text), "snapshot", &o, &err), 0);
  return o;
}

Test (http_proto, bodies)
{
  cleanup_json json_object *snap = snapshot (), *reg = NULL, *hb = NULL, *ack = NULL;
  berth_err err = NULL;

  cr_assert_eq (http_proto_register_body ("n1", snap, 41, &reg, &err), 0);
  cr_assert_str_eq (bjson_to_string (reg),
                    "{\"protocol\":1,\"node_id\":\"n1\",\"boot_id\":\"b\",\"hostname\":\"lab-07\","
                    "\"agent_version\":\"0.1.0\",\"resources\":{\"cpu\":2048,\"memory_mib\":1000},"
                    "\"attributes\":{\"os\":\"linux\"},\"generation\":41}");

  cr_assert_eq (http_proto_heartbeat_body (snap, "http://a", 41, 3, 1, &hb, &err), 0);
  json_object *tasks = json_object_object_get (hb, "tasks");
  cr_assert_eq (json_object_array_length (tasks), 1, "only this source's tasks");
  cr_assert_str_eq (bjson_to_string (json_object_array_get_idx (tasks, 0)),
                    "{\"task_id\":\"t1\",\"status\":\"RUNNING\",\"desired\":\"RUNNING\"}");
  cr_assert_str_eq (bjson_to_string (json_object_object_get (hb, "outbox")),
                    "{\"pending\":3,\"coalesced\":1}");

  ack = http_proto_ack_body (42, false, "disk full");
  cr_assert_str_eq (bjson_to_string (ack), "{\"protocol\":1,\"generation\":42,\"accepted\":false,"
                                           "\"message\":\"disk full\"}");

  json_object_object_del (snap, "attributes");
  json_object_put (reg);
  reg = NULL;
  cr_assert_lt (http_proto_register_body ("n1", snap, 41, &reg, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "snapshot.attributes") != NULL, "%s",
             berth_err_msg (&err));
  berth_err_free (&err);
}

static bool
retry_after (const char *line, uint64_t *ms)
{
  return http_proto_retry_after_ms (line, strlen (line), ms);
}

Test (http_proto, retry_after_header)
{
  uint64_t ms = 7;
  cr_assert (retry_after ("Retry-After: 5\r\n", &ms));
  cr_assert_eq (ms, 5000);
  cr_assert (retry_after ("retry-after:\t0 \r\n", &ms));
  cr_assert_eq (ms, 0);
  cr_assert (retry_after ("RETRY-AFTER: 99999999\r\n", &ms));
  cr_assert_eq (ms, 86400000, "capped at a day: %" PRIu64, ms);
  ms = 7;
  /* not ours: other headers, the HTTP-date form, junk, a bare name, a number too big */
  cr_assert_not (retry_after ("Content-Length: 5\r\n", &ms));
  cr_assert_not (retry_after ("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", &ms));
  cr_assert_not (retry_after ("Retry-After: -1\r\n", &ms));
  cr_assert_not (retry_after ("Retry-After: 5s\r\n", &ms));
  cr_assert_not (retry_after ("Retry-After:", &ms));
  cr_assert_not (retry_after ("Retry-After: 99999999999999999999999\r\n", &ms));
  cr_assert_eq (ms, 7, "untouched when false");
  /* not NUL-terminated: only len bytes count */
  cr_assert (http_proto_retry_after_ms ("Retry-After: 12345", strlen ("Retry-After: 1"), &ms));
  cr_assert_eq (ms, 1000);
}

Test (http_proto, backoff_full_jitter_bounds)
{
  /* The ceiling doubles from the base and stops at the cap. */
  cr_assert_eq (http_backoff_ceiling_ms (0, 500, 60000), 0);
  cr_assert_eq (http_backoff_ceiling_ms (1, 500, 60000), 500);
  cr_assert_eq (http_backoff_ceiling_ms (2, 500, 60000), 1000);
  cr_assert_eq (http_backoff_ceiling_ms (7, 500, 60000), 32000);
  cr_assert_eq (http_backoff_ceiling_ms (8, 500, 60000), 60000);
  cr_assert_eq (http_backoff_ceiling_ms (64, 500, 60000), 60000);
  cr_assert_eq (http_backoff_ceiling_ms (1000, 500, 60000), 60000);
  cr_assert_eq (http_backoff_ceiling_ms (62, 1, UINT64_MAX), 1ull << 61);

  /* Every delay is within [0, ceiling], both ends are reachable. */
  for (unsigned n = 1; n < 70; n++)
    {
      uint64_t ceil = http_backoff_ceiling_ms (n, 500, 60000);
      cr_assert_eq (http_backoff_delay_ms (n, 500, 60000, 0), 0);
      cr_assert_eq (http_backoff_delay_ms (n, 500, 60000, ceil), ceil);
      cr_assert_eq (http_backoff_delay_ms (n, 500, 60000, UINT64_MAX), UINT64_MAX % (ceil + 1));
      for (uint64_t rnd = 1; rnd < 1000000000000ull; rnd = rnd * 7 + 3)
        cr_assert_leq (http_backoff_delay_ms (n, 500, 60000, rnd), ceil);
    }
}

Test (http_proto, backoff_is_spread)
{
  /* Full jitter: draws from a uniform source cover the whole window, not a band. */
  uint64_t x = 88172645463325252ull;
  unsigned buckets[10] = { 0 };
  for (int i = 0; i < 10000; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buckets[http_backoff_delay_ms (5, 500, 60000, x) * 10 / 8001]++;
    }
  for (int b = 0; b < 10; b++)
    cr_assert_gt (buckets[b], 700, "bucket %d has %u of 10000", b, buckets[b]);
}
