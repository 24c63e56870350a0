/* The berth control protocol v1 as data (docs/control-protocol.md): parsers of endpoint
 * responses (hostile input: every error names the JSON path), builders of agent requests,
 * the state change validator shared with berth-endpoint, and the backoff arithmetic.
 * No I/O here, so all of it is unit-tested and fuzzed directly. */
#ifndef BERTH_AGENT_HTTP_PROTO_H
#define BERTH_AGENT_HTTP_PROTO_H

#include "common/common.h"
#include "agent/sources/source.h"

#define HTTP_PROTO_VERSION 1
#define HTTP_PROTO_ID_MAX  128

/* An identifier (node_id, task_id): 1-128 of [A-Za-z0-9_.-], not starting with '.'. */
bool http_proto_valid_id (const char *s);
/* RFC 3339 date-time ("2026-11-28T07:35:32.123Z", offsets allowed), checked for shape
 * and field ranges. */
bool http_proto_valid_time (const char *s);

struct http_poll_hint
{
  uint32_t wait_s;          /* 1-300 */
  uint32_t heartbeat_s;     /* 5-3600 */
  uint32_t min_interval_ms; /* 0-600000 */
};

#define HTTP_POLL_HINT_DEFAULT ((struct http_poll_hint){ 30, 30, 0 })

/* A parsed assignments response. tasks are owned until moved into a source_update. */
struct http_manifest
{
  uint64_t generation;
  bool complete;
  struct source_assignment *tasks;
  size_t n_tasks;
  bool has_poll;
  struct http_poll_hint poll;
};

void http_manifest_clear (struct http_manifest *m);

/* Each parser takes the raw body (not NUL-terminated necessarily) and fills *ret only on
 * success. Errors name the JSON path ("tasks[2].desired: ..."). */
int http_proto_parse_assignments (const char *body, size_t len, struct http_manifest *ret,
                                  berth_err *err);

struct http_register_reply
{
  char *node_id;
  uint64_t acked_seq;
  bool has_poll;
  struct http_poll_hint poll;
};

void http_register_reply_clear (struct http_register_reply *r);
int http_proto_parse_register (const char *body, size_t len, struct http_register_reply *ret,
                               berth_err *err);
/* {"protocol":1,"acked_seq":N} */
int http_proto_parse_state_changes_reply (const char *body, size_t len, uint64_t *ret_acked_seq,
                                          berth_err *err);
/* {"protocol":1,"poll":{...}}; *ret_has_poll false when absent. */
int http_proto_parse_heartbeat_reply (const char *body, size_t len, bool *ret_has_poll,
                                      struct http_poll_hint *ret_poll, berth_err *err);
/* Best effort: the code and message of an error body, or NULLs. Never fails. */
void http_proto_parse_error (const char *body, size_t len, char **ret_code, char **ret_message);
/* The "poll" object at path (for the endpoint's tests and the parsers above). */
int http_proto_parse_poll (json_object *obj, const char *path, struct http_poll_hint *ret,
                           berth_err *err);

/* Validates a state change object (docs/control-protocol.md, "The state change object").
 * with_seq: the object must carry its "seq" (as sent), or must not (as the engine appends
 * it). */
int http_proto_check_state_change (json_object *change, const char *path, bool with_seq,
                                   berth_err *err);

/* Request bodies. snapshot is the engine's node snapshot (docs/control-protocol.md, "Node
 * snapshot"); its required keys are checked and an error names the missing one. */
int http_proto_register_body (const char *node_id, json_object *snapshot, uint64_t generation,
                              json_object **ret, berth_err *err);
/* Reports only the snapshot tasks whose "source" is source; pending and coalesced are the
 * outbox counters. */
int http_proto_heartbeat_body (json_object *snapshot, const char *source, uint64_t generation,
                               uint64_t pending, uint64_t coalesced, json_object **ret,
                               berth_err *err);
json_object *http_proto_ack_body (uint64_t generation, bool accepted, const char *message);
/* Takes a reference to changes (a JSON array from outbox_read). */
json_object *http_proto_state_changes_body (json_object *changes);

/* One raw response header line as libcurl hands it over ("Retry-After: 5\r\n", not
 * NUL-terminated): true with the delay in ms (capped at a day) when it is a Retry-After in
 * delta-seconds; false for any other header, and for the HTTP-date form, which berth
 * endpoints do not send. */
bool http_proto_retry_after_ms (const char *line, size_t len, uint64_t *ret_ms);

/* Exponential backoff with full jitter: after the n-th consecutive failure (n >= 1) a delay
 * uniformly drawn from [0, min(cap_ms, base_ms * 2^(n-1))], from the random value rnd. */
uint64_t http_backoff_ceiling_ms (unsigned failures, uint64_t base_ms, uint64_t cap_ms);
uint64_t http_backoff_delay_ms (unsigned failures, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd);

#endif
