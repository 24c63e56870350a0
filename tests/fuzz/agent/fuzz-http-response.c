/* libFuzzer target: the http source's parsers of control endpoint responses (assignments,
 * register, state-change acks, heartbeat replies, error bodies, the Retry-After header) on
 * hostile input. */
#include "agent/sources/http-proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *body = (const char *)data;
  berth_err err = NULL;
  struct http_manifest m = { 0 };
  struct http_register_reply rep = { 0 };
  struct http_poll_hint hint;
  uint64_t acked;
  bool has;
  char *code, *msg;
  json_object *doc = NULL;

  if (http_proto_parse_assignments (body, size, &m, &err) == 0)
    {
      /* What the engine would be handed must be well formed. */
      for (size_t i = 0; i < m.n_tasks; i++)
        if (!http_proto_valid_id (m.tasks[i].task_id)
            || !json_object_is_type (m.tasks[i].definition, json_type_object))
          __builtin_trap ();
      http_manifest_clear (&m);
    }
  if (http_proto_parse_register (body, size, &rep, &err) == 0)
    {
      if (!http_proto_valid_id (rep.node_id))
        __builtin_trap ();
      http_register_reply_clear (&rep);
    }
  (void)http_proto_parse_state_changes_reply (body, size, &acked, &err);
  (void)http_proto_parse_heartbeat_reply (body, size, &has, &hint, &err);
  http_proto_parse_error (body, size, &code, &msg);
  /* The same bytes as a response header line (Retry-After), not NUL-terminated. */
  {
    uint64_t ms;
    if (http_proto_retry_after_ms (body, size, &ms) && ms > 86400000)
      __builtin_trap ();
  }
  free (code);
  free (msg);
  /* The same bytes as a state change (what berth-endpoint validates). */
  if (bjson_parse (body, size, "fuzz", &doc, &err) == 0)
    {
      (void)http_proto_check_state_change (doc, "", true, &err);
      (void)http_proto_check_state_change (doc, "", false, &err);
      json_object_put (doc);
    }
  berth_err_free (&err);
  return 0;
}
