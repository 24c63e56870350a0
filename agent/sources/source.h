/* The task-source interface between berthd's engine and the places tasks come from (a
 * directory of task files, the HTTP control endpoint, later etcd). A source runs on its own
 * thread (or inside the engine's loop) and hands the engine desired-task updates through a
 * thread-safe sink; state changes flow back through the on-disk outbox (agent/outbox/). */
#ifndef BERTH_AGENT_SOURCE_H
#define BERTH_AGENT_SOURCE_H

#include "common/common.h"

struct outbox;

enum berth_desired
{
  BERTH_DESIRED_RUNNING = 0,
  BERTH_DESIRED_STOPPED,
};

struct source_assignment
{
  char *task_id;           /* unique on the node, chosen by the source */
  json_object *definition; /* the ECS RegisterTaskDefinition JSON (owned) */
  enum berth_desired desired;
  json_object *metadata; /* source-specific extras kept with the task (owned, may be NULL) */
};

/* One update from a source. generation is monotonic per source: the engine ignores an
 * update whose generation is not newer than the last one it persisted for that source.
 * complete=true means the list is the source's whole desired set: tasks of this source
 * that are absent are desired STOPPED. complete=false lists only changes. A task is only
 * ever stopped on an explicit BERTH_DESIRED_STOPPED or its absence from a complete update. */
struct source_update
{
  char *source; /* the source's name (its URL as configured) */
  uint64_t generation;
  bool complete;
  struct source_assignment *tasks;
  size_t n_tasks;
  /* Called by the engine, on the engine's thread, once the update is durably on disk
   * (status 0), or rejected (negative, msg says why: stale generation, bad definition
   * of one task is NOT a rejection — that task is STOPPED with a reason). The source
   * acknowledges the assignment to its origin only after status 0. May be NULL.
   * A stale generation (not newer than the one the engine persisted for this source) is
   * rejected with status -ESTALE: the engine already holds this generation or a newer
   * one, so the http source acknowledges it as on disk and moves its generation forward
   * (docs/control-protocol.md). Any other negative status is a failure to persist, which
   * the source reports and retries. The engine calls persisted exactly once for every
   * update that has one, even one it drops at shutdown (status -ECANCELED): the source's
   * bookkeeping for opaque is released by that call. A stale update still counts as the
   * source having reported since start (the http source re-sends its current complete
   * manifest after every start for exactly that). */
  void (*persisted) (void *opaque, uint64_t generation, int status, const char *msg);
  void *opaque;
};

void source_update_free (struct source_update *u);

/* The engine's side. Thread-safe. */
struct source_sink;

/* Queues an update; the engine takes ownership of u and wakes up to process it. */
void source_sink_submit (struct source_sink *sink, struct source_update *u);

/* The node's current resources and running set, for registration and heartbeats, as JSON
 * in the form docs/control-protocol.md gives (caller puts the returned object). Thread-safe. */
json_object *source_sink_node_snapshot (struct source_sink *sink);

/* How a source is configured (from berthd.conf). Strings are borrowed for the call. */
struct source_options
{
  const char *url;              /* "dir:/etc/berth/tasks.d", "https://...", "http://..." */
  const char *state_dir;        /* where the source may keep its own files (node.json...) */
  const char *outbox_dir;       /* the agent's outbox (agent/outbox/) */
  const char *token_file;       /* bearer token, read at each (re)connect; may be NULL */
  const char *ca_file;          /* TLS trust anchors; NULL: system store */
  const char *cert_file;        /* TLS client certificate; may be NULL */
  const char *key_file;         /* its key */
  bool allow_plain_http;        /* http:// refused unless true */
  uint64_t max_response_bytes;  /* responses larger than this are rejected */
  struct outbox *outbox;        /* berthd's open outbox (thread-safe), for the source to read
                                   and acknowledge its own state changes */
};

struct task_source_ops
{
  const char *scheme; /* "dir", "http" (also serves https) */
  int (*open) (const struct source_options *opts, struct source_sink *sink, void **ret_state,
               berth_err *err);
  int (*start) (void *state, berth_err *err);
  /* New state changes for this source are in the outbox (called on the engine thread;
   * must not block). */
  void (*outbox_ready) (void *state);
  /* Stops threads and connections; after it returns the source calls nothing more. */
  void (*stop) (void *state);
  void (*free) (void *state);
};

#endif
