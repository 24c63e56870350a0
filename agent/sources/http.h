/* The http task source: berthd's side of the berth control protocol
 * (docs/control-protocol.md) behind the task-source interface of source.h. */
#ifndef BERTH_AGENT_SOURCE_HTTP_H
#define BERTH_AGENT_SOURCE_HTTP_H

#include "agent/sources/source.h"

/* scheme "http": serves http:// and https:// URLs. */
extern const struct task_source_ops source_http_ops;

/* What the source has done, for berth's status output and for tests. */
struct http_source_stats
{
  uint64_t registrations;
  uint64_t polls;           /* assignment requests that got an HTTP response */
  uint64_t manifests;       /* valid assignments submitted to the engine */
  uint64_t acks;            /* assignment acks the endpoint took */
  uint64_t stale;           /* responses with a generation not newer than ours */
  uint64_t rejected;        /* responses refused as malformed, oversized or unexpected */
  uint64_t failures;        /* failed attempts on any stream (transport, HTTP status, parse) */
  uint64_t batches;         /* state-change batches the endpoint acknowledged */
  uint64_t changes_acked;   /* state changes removed from the outbox by those acks */
  uint64_t heartbeats;      /* heartbeats the endpoint took */
  uint64_t generation;      /* last generation persisted */
  uint64_t last_backoff_ms; /* the last delay drawn */
  unsigned poll_failures;   /* consecutive failures of the assignment stream */
  char node_id[64];
  char last_error[512];
};

void http_source_get_stats (void *state, struct http_source_stats *ret);

/* Replaces the backoff parameters (default base 500 ms, cap 60 s) and the random source
 * (default getrandom). For tests that need deterministic delays. Call before start. */
void http_source_set_backoff (void *state, uint64_t base_ms, uint64_t cap_ms,
                              uint64_t (*rng) (void *opaque), void *rng_opaque);

#endif
