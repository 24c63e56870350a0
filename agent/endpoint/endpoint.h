/* berth-endpoint, the reference control endpoint (docs/control-protocol.md, docs/endpoint.md):
 * its durable store (SQLite), placement, HTTP server (libmicrohttpd) and operator CLI. */
#ifndef BERTH_AGENT_ENDPOINT_H
#define BERTH_AGENT_ENDPOINT_H

#include "common/common.h"
#include "agent/sources/http-proto.h"

#include <sys/socket.h>

/* ------------------------------------------------------------------ placement (placement.c) */

struct endpoint_reservation
{
  int64_t cpu;        /* CPU units (1024 per core) */
  int64_t memory_mib; /* MiB */
  char arch[16];      /* node "arch" the task needs (runtimePlatform), "" for any */
};

/* Validates a task definition with the node's own parser (agent/taskdef) and says what it
 * reserves (taskdef_resources: the task-level cpu/memory, else its containers' sum) and
 * which architecture it needs (runtimePlatform.cpuArchitecture). Errors name the JSON path
 * under "definition". */
int endpoint_task_reservation (json_object *definition, struct endpoint_reservation *ret,
                               berth_err *err);

struct endpoint_node_view
{
  const char *node_id;
  const char *hostname;
  const char *arch; /* its "arch" attribute; NULL when it did not say */
  bool alive;       /* seen within the liveness window */
  int64_t free_cpu, free_memory_mib;
};

/* The node for a task: a named one (id or hostname; it may be full, the node queues the
 * task), else the live node where it fits with the most free memory, then the most free CPU,
 * then the smallest id; only nodes of the architecture the task needs. Returns 0 with the
 * index, or -ENOENT (no such named node), -EINVAL (the named node has another architecture),
 * -EAGAIN (no live node) or -ENOSPC (none has room), err saying which. */
int endpoint_place (const struct endpoint_node_view *nodes, size_t n, const char *wanted,
                    const struct endpoint_reservation *need, size_t *ret_index, berth_err *err);

/* ------------------------------------------------------------------ store (store.c) */

struct endpoint_store;

struct endpoint_store_options
{
  struct http_poll_hint poll;
  uint64_t liveness_ms; /* a node is alive when seen this recently */
};

/* state_dir NULL: an in-memory store that keeps nothing (for the fuzz target). */
int endpoint_store_open (const char *state_dir, const struct endpoint_store_options *opts,
                         struct endpoint_store **ret, berth_err *err);
void endpoint_store_close (struct endpoint_store *st);
/* Wakes every waiting long-poll; they answer at once. Used before shutdown. */
void endpoint_store_shutdown (struct endpoint_store *st);

/* Results carry an HTTP status and a JSON body (the error format for failures). */
struct endpoint_reply
{
  unsigned status;
  json_object *body; /* NULL for 204 */
  uint64_t retry_after_s;
};

void endpoint_reply_clear (struct endpoint_reply *r);
void endpoint_reply_error (struct endpoint_reply *r, unsigned status, const char *code,
                           const char *fmt, ...) BERTH_PRINTF (4, 5);

/* The agent API. body is the parsed request body. */
void endpoint_store_register (struct endpoint_store *st, json_object *body,
                              struct endpoint_reply *ret);
/* Blocks (no CPU) until the node's generation is newer than generation, wait_s passes, or
 * shutdown. */
void endpoint_store_assignments (struct endpoint_store *st, const char *node_id,
                                 uint64_t generation, uint64_t wait_s, struct endpoint_reply *ret);
void endpoint_store_assignment_ack (struct endpoint_store *st, const char *node_id,
                                    json_object *body, struct endpoint_reply *ret);
void endpoint_store_state_changes (struct endpoint_store *st, const char *node_id,
                                   json_object *body, struct endpoint_reply *ret);
void endpoint_store_heartbeat (struct endpoint_store *st, const char *node_id, json_object *body,
                               struct endpoint_reply *ret);

/* The admin API. */
void endpoint_store_submit (struct endpoint_store *st, json_object *body,
                            struct endpoint_reply *ret);
void endpoint_store_stop_task (struct endpoint_store *st, const char *task_id,
                               struct endpoint_reply *ret);
void endpoint_store_list_tasks (struct endpoint_store *st, const char *task_id,
                                struct endpoint_reply *ret);
void endpoint_store_list_nodes (struct endpoint_store *st, struct endpoint_reply *ret);
/* Recorded state changes with id > after (optionally one node's or task's), at most limit;
 * waits up to wait_s for the first one when there is none yet. */
void endpoint_store_events (struct endpoint_store *st, uint64_t after, const char *node_id,
                            const char *task_id, uint64_t limit, uint64_t wait_s,
                            struct endpoint_reply *ret);

/* ------------------------------------------------------------------ server (server.c) */

struct endpoint_server_options
{
  const char *listen;       /* "127.0.0.1:7470" */
  const char *admin_listen; /* "127.0.0.1:7471" */
  const char *token_file;   /* agents must present this bearer token; may be NULL */
  const char *admin_token_file;
  const char *tls_cert_file; /* TLS on the agent listener when set (with tls_key_file) */
  const char *tls_key_file;
  const char *client_ca_file; /* require client certificates signed by this CA */
  uint64_t max_request_bytes;
};

struct endpoint_server;

int endpoint_server_start (struct endpoint_store *st, const struct endpoint_server_options *o,
                           struct endpoint_server **ret, berth_err *err);
void endpoint_server_stop (struct endpoint_server *srv);

/* "host:port" -> sockaddr (IPv4 or [IPv6]). */
int endpoint_parse_listen (const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
                           berth_err *err);

#endif
