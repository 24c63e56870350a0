/* berthd's task engine: moves every task's known state toward its desired state (pull,
 * network, cgroup, containers in dependency order, health, restart, stop), records intent
 * before each action so a crash at any point can be recovered from disk and the kernel,
 * and reports every transition. One thread (the event loop) owns all of it; blocking work
 * (pulls, mounts, network setup) runs on worker threads and reports back to the loop. */
#ifndef BERTH_AGENT_ENGINE_H
#define BERTH_AGENT_ENGINE_H

#include "common/common.h"
#include "agent/sources/source.h"

struct engine;
struct imagecache_store;
struct netns_host;
struct cgroups_manager;
struct outbox;
struct taskdef_host_policy;

struct engine_options
{
  struct berth_loop *loop;
  const char *data_dir; /* /var/lib/berth: tasks/, outbox/, images/, ipam/ */
  const char *run_dir;  /* /run/berth: tasks/, runtime/, netns/ */
  const char *log_dir;  /* /var/log/berth: <task>/<container>.log */
  const char *runtime_path;
  const char *shim_path;
  const char *init_path; /* berth-init, for initProcessEnabled */
  struct imagecache_store *images;
  struct netns_host *net;        /* NULL: only networkMode host is possible */
  struct cgroups_manager *cgroups;
  struct outbox *outbox;
  const struct taskdef_host_policy *policy;
  const char *default_pull_policy; /* "if-not-present" */
  /* resource ledger */
  uint32_t reserved_cpu;        /* CPU units kept for the host */
  uint32_t reserved_memory_mib; /* MiB kept for the host */
  /* logs */
  uint64_t log_max_bytes;
  uint32_t log_max_files;
  /* containers without stopTimeout wait this long after their stop signal (30 s) */
  uint64_t default_stop_timeout_ns;
  /* a container's create or start that takes longer fails the task (0: no limit) */
  uint64_t container_start_timeout_ns;
  /* stopped tasks are kept this long, then removed */
  uint64_t task_retention_ns;
  unsigned workers; /* threads for pulls, mounts and network setup */
  /* image GC by watermark and a sync of unpacked layers, this often (0: never); never
   * before every source has reported */
  uint64_t image_gc_interval_ns;
  /* Called when the engine has recovered and every source has reported (kubelet's
   * sources-ready): berthd reports READY to systemd. */
  void (*ready) (void *data);
  void *ready_data;
};

int engine_new (const struct engine_options *opts, struct engine **ret, berth_err *err);
/* Stops timers and workers; tasks, shims and containers keep running (berthd restarts
 * find them again). */
void engine_free (struct engine *e);

/* Reads every task from disk and re-attaches to what runs (shims, containers, networks).
 * Nothing is stopped or collected until every registered source has reported once. */
int engine_recover (struct engine *e, berth_err *err);

/* The sink sources submit to. */
struct source_sink *engine_sink (struct engine *e);
/* Sources registered here must report once (an update, even empty) before the engine
 * stops tasks absent from them or collects what no task holds. */
void engine_source_register (struct engine *e, const char *source, bool has_outbox_consumer,
                             void (*outbox_ready) (void *data), void *data);

/* ------------------------------------------------------------------ local API */

#define ENGINE_SOURCE_LOCAL "local"

/* Starts a task from a definition now (source "local"); *ret_id is its new id. A
 * definition that fails validation still creates a task, STOPPED with the reason, and
 * the call fails with that reason. */
int engine_task_run (struct engine *e, json_object *definition, char **ret_id, berth_err *err);
/* Finds a task by id or unique id prefix. */
int engine_task_resolve (struct engine *e, const char *id_or_prefix, char **ret_id, berth_err *err);
int engine_task_stop (struct engine *e, const char *id, const char *reason, berth_err *err);
/* Removes a STOPPED task's records, rootfs leftovers and logs now; force stops it first. */
int engine_task_remove (struct engine *e, const char *id, bool force, berth_err *err);
/* The state-change object (docs/control-protocol.md) of every task, or of one. */
json_object *engine_task_list (struct engine *e, bool include_stopped);
json_object *engine_task_inspect (struct engine *e, const char *id);
/* Container stats from the cgroups (JSON); one task or all. */
json_object *engine_stats (struct engine *e, const char *id);
/* Log files of a task's containers: [{container, path}]. */
json_object *engine_task_logs (struct engine *e, const char *id, const char *container,
                               berth_err *err);

/* Runs a process in a running container: process is a partial OCI process (args, env,
 * tty, cwd, user); fds are the caller's stdio (non-tty). done() gets the shim's answer
 * (and the pty master for tty), exited() the exit code later. */
struct engine_exec_cb
{
  void (*started) (void *data, int status, const char *error, const char *exec_id, int pty_fd);
  void (*exited) (void *data, int exit_code);
  void *data;
};
int engine_exec (struct engine *e, const char *id, const char *container, json_object *process,
                 const int *fds, size_t n_fds, const struct engine_exec_cb *cb, berth_err *err);
/* The caller of engine_exec went away: forget its callbacks. */
void engine_exec_forget (struct engine *e, void *data);

/* Every state change, as it is reported (berth events). */
typedef void (*engine_event_fn) (json_object *change, void *data);
void engine_subscribe (struct engine *e, engine_event_fn fn, void *data);
void engine_unsubscribe (struct engine *e, void *data);

#endif
