/* The on-disk outbox of task state changes that a source's endpoint has not acknowledged yet
 * (docs/control-protocol.md, "The outbox"). The engine appends from its thread; a source
 * reads and acknowledges from its own. Thread-safe; every call that changes it is durable
 * before it returns (outbox_append_queued: before its callback runs, and before any reader
 * sees the change), and a crash at any point loses no change that anyone was told of and
 * never reuses a seq that anyone saw. */
#ifndef BERTH_AGENT_OUTBOX_H
#define BERTH_AGENT_OUTBOX_H

#include "common/common.h"

struct outbox;

/* Per source. When an append leaves more pending changes or bytes than this, the outbox
 * coalesces: each task keeps only its newest pending change (a change is a complete
 * snapshot of the task, so the newest says where the task is). 0 picks the default. */
struct outbox_limits
{
  size_t max_changes; /* default OUTBOX_DEFAULT_MAX_CHANGES */
  uint64_t max_bytes; /* default OUTBOX_DEFAULT_MAX_BYTES */
};

#define OUTBOX_DEFAULT_MAX_CHANGES 2048
#define OUTBOX_DEFAULT_MAX_BYTES   (8u * 1024 * 1024)
/* A serialised change (with its seq) larger than this is refused by outbox_append. */
#define OUTBOX_MAX_CHANGE_BYTES (64 * 1024)

/* Opens (creating it, mode 0700) the outbox directory, e.g. /var/lib/berth/outbox.
 * limits may be NULL. Each source gets a subdirectory named after it (escaped).
 * Opening a directory that is already open in this process returns the same outbox (its
 * limits are those of the first opener) with one more reference, so the engine that
 * appends and the sources that read share one index; outbox_close drops a reference. */
int outbox_open (const char *dir, const struct outbox_limits *limits, struct outbox **ret,
                 berth_err *err);
void outbox_close (struct outbox *ob);

/* Appends one state change for source (the source's name as configured, e.g. its URL).
 * change must be a JSON object with a string "task_id" and no "seq" (the object of
 * docs/control-protocol.md, "The state change object"); it is not modified nor consumed.
 * Assigns the source's next sequence number, writes the change with it atomically
 * (temporary file, fsync, rename, fsync of the directory) and only then returns it in
 * *ret_seq (may be NULL). May coalesce older changes (see struct outbox_limits). */
int outbox_append (struct outbox *ob, const char *source, json_object *change, uint64_t *ret_seq,
                   berth_err *err);

/* The same, without waiting for the disk: assigns the seq (in *ret_seq), queues the change
 * and returns. The outbox's writer thread (started at the first call) writes queued changes
 * in seq order, fsyncs each and its directory once per batch, and only then makes them
 * visible to outbox_read and calls durable(data) (from the writer thread, no lock held).
 * A write that fails (a full disk) is retried every second, in order; stats count it.
 * The engine uses this so that a task start does not wait for five fsyncs on its thread:
 * the reports it makes are still durable before any source delivers them. */
int outbox_append_queued (struct outbox *ob, const char *source, json_object *change,
                          void (*durable) (void *data), void *data, uint64_t *ret_seq,
                          berth_err *err);

/* Waits until every queued change is durable and its callback returned, at most timeout_ms
 * (a disk that keeps refusing writes must not hang a shutdown); false when some are still
 * queued. */
bool outbox_drain (struct outbox *ob, unsigned timeout_ms);

/* The pending changes of source with seq > after_seq, oldest first, as a new JSON array
 * of change objects each carrying its "seq": at most max_changes of them and, beyond the
 * first, no more than max_bytes serialised (0: no byte limit). An empty array when none. */
int outbox_read (struct outbox *ob, const char *source, uint64_t after_seq, size_t max_changes,
                 size_t max_bytes, json_object **ret_changes, berth_err *err);

/* The endpoint acknowledged every change of source up to upto_seq: they are deleted.
 * upto_seq is recorded durably first, so the next seq is always above it, even when it is
 * above every seq assigned so far (an endpoint that holds numbers this node never sent
 * after its disk was restored from an older copy). Acknowledging less than before is a
 * no-op. */
int outbox_ack (struct outbox *ob, const char *source, uint64_t upto_seq, berth_err *err);

struct outbox_stats
{
  size_t pending;          /* changes not yet acknowledged (queued ones included) */
  size_t queued;           /* of those, handed to the writer and not durable yet */
  uint64_t write_failures; /* failed writes of queued changes (retried), whole outbox */
  uint64_t bytes;          /* their size on disk */
  uint64_t first_seq;      /* oldest pending seq, 0 when none */
  uint64_t last_seq;       /* highest seq assigned or acknowledged (the next is last_seq + 1) */
  uint64_t acked_seq;      /* highest acknowledged */
  uint64_t coalesced;      /* changes dropped by coalescing since the outbox was opened */
  uint64_t quarantined;    /* unreadable files set aside as corrupt-* since opened */
};

int outbox_get_stats (struct outbox *ob, const char *source, struct outbox_stats *ret,
                      berth_err *err);

#endif
