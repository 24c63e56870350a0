/* The engine's internal structures, shared by its files (engine.c, provision.c, images.c,
 * containers.c, health.c, recover.c, store.c, shimconn.c, workers.c). */
#ifndef BERTH_AGENT_ENGINE_INTERNAL_H
#define BERTH_AGENT_ENGINE_INTERNAL_H

#include "engine.h"
#include "agent/taskdef/taskdef.h"

#include <pthread.h>

struct imagecache_image;
struct imagecache_cancel;
struct netns_task_net;
struct cgroups_cgroup;

/* ------------------------------------------------------------------ states */

enum task_status
{
  TASK_NONE = 0,
  TASK_PROVISIONING,
  TASK_PENDING,
  TASK_ACTIVATING,
  TASK_RUNNING,
  TASK_DEACTIVATING,
  TASK_STOPPING,
  TASK_DEPROVISIONING,
  TASK_STOPPED,
};

enum ctr_status
{
  CTR_NONE = 0,
  CTR_PENDING,
  CTR_PULLED,
  CTR_CREATED,
  CTR_RUNNING,
  CTR_STOPPED,
};

enum ctr_health
{
  HEALTH_UNKNOWN = 0,
  HEALTH_HEALTHY,
  HEALTH_UNHEALTHY,
};

const char *task_status_name (enum task_status s);
int task_status_parse (const char *s, enum task_status *ret);
const char *ctr_status_name (enum ctr_status s);
int ctr_status_parse (const char *s, enum ctr_status *ret);
const char *ctr_health_name (enum ctr_health h);

/* ------------------------------------------------------------------ shim connection */

struct shimconn;
typedef void (*shimconn_reply_fn) (struct shimconn *c, json_object *reply, const int *fds,
                                   size_t n_fds, void *data);
typedef void (*shimconn_event_fn) (struct shimconn *c, json_object *event, void *data);
typedef void (*shimconn_closed_fn) (struct shimconn *c, void *data);

int shimconn_connect (struct berth_loop *loop, const char *path, shimconn_event_fn on_event,
                      shimconn_closed_fn on_closed, void *data, struct shimconn **ret,
                      berth_err *err);
/* Sends op with the fields of args (consumed; may be NULL). reply gets the shim's answer,
 * or a synthesised {"ok": false, "error": ...} when the connection closes first. */
int shimconn_call (struct shimconn *c, const char *op, json_object *args, const int *fds,
                   size_t n_fds, shimconn_reply_fn reply, void *data, berth_err *err);
/* Pending replies of this data pointer are dropped (their owner is gone). */
void shimconn_forget (struct shimconn *c, void *data);
void shimconn_close (struct shimconn *c);

/* ------------------------------------------------------------------ workers */

struct workers;
typedef void (*work_fn) (void *arg);  /* on a worker thread */
typedef void (*work_done_fn) (void *arg); /* then on the loop thread */
int workers_new (struct berth_loop *loop, unsigned n, struct workers **ret, berth_err *err);
void workers_submit (struct workers *w, work_fn fn, work_done_fn done, void *arg);
/* Waits for running jobs, drops queued ones (their done is not called). */
void workers_free (struct workers *w);

/* ------------------------------------------------------------------ tasks */

struct task;

struct ctr
{
  struct task *task;
  size_t idx;
  const struct taskdef_container *def;
  char *name;
  enum ctr_status known;
  char *runtime_id;  /* "<task id>-<name>" */
  char *bundle_dir;  /* run_dir/tasks/<task>/<name> with config.json */
  char *rootfs;      /* bundle_dir/rootfs: the overlay mount */
  char *rw_dir;      /* data_dir/tasks/<task>/<name>: overlay upper and work */
  char *log_path;
  char *lease_id;    /* image lease: "task-<task id>-<name>" */
  bool rootfs_ready; /* mounted (persisted: a restart checks the mount) */
  struct imagecache_image *image;
  char *image_digest;
  int stop_signal;
  /* exit */
  bool has_exit;
  int exit_code;
  bool oom;
  char *reason;
  uint64_t started_at_ns;  /* realtime */
  uint64_t finished_at_ns; /* realtime */
  uint64_t started_mono_ns;
  unsigned restart_count;
  bool restarting;     /* deleted and being created again by the restart policy */
  /* stop */
  bool stop_sent;
  bool kill_sent;
  struct berth_loop_source *stop_timer;
  /* dependsOn */
  struct berth_loop_source *start_timer;
  /* CONTAINER_START_TIMEOUT: bounds a create or start in flight */
  struct berth_loop_source *op_timer;
  uint64_t waiting_since_ns;
  /* health */
  enum ctr_health health;
  unsigned health_failures;
  uint64_t health_start_mono_ns;
  struct berth_loop_source *health_timer;
  char *health_exec_id;
  char *health_output;
  unsigned health_seq;
  /* cgroup of the container, made before the runtime creates the container (which then
   * finds it empty and applies the limits), for OOM events, stats and kill */
  struct cgroups_cgroup *cg;
  char *cgroup_path; /* cgroups_path(), persisted */
  /* an operation is in flight (pull, create, start, delete): the step does not repeat it */
  bool busy;
  bool starting; /* a start was asked of the shim: an exit from now on is the container's */
  bool created; /* exists in the runtime (create succeeded, delete not yet) */
  pid_t pid;    /* its init, as the host sees it */
};

struct task
{
  struct engine *engine;
  struct task *next;
  char *id;
  char *source;
  json_object *definition;
  json_object *metadata;
  struct taskdef *def; /* NULL when the definition was rejected */
  enum berth_desired desired;
  enum task_status known;
  char *stop_code;
  char *reason;         /* stop reason (STOPPED), or why the task waits (PENDING) */
  char *stop_request;   /* who asked to stop: "Task stopped by ..." */
  char *stop_code_request;
  uint64_t created_at_ns;
  uint64_t pull_started_ns, pull_stopped_ns, started_ns, stopped_ns, stopped_mono_ns;
  /* provisioning */
  bool dirs_ready;
  bool net_ready;
  bool net_down; /* teardown done (deprovisioning) */
  struct netns_task_net *net;
  char *ip;
  bool cgroup_ready;
  struct cgroups_cgroup *cg;
  char *cgroup_path; /* cgroups_path() of the task cgroup */
  bool admitted;
  uint32_t need_cpu, need_memory_mib;
  /* the shim, and (pidMode/ipcMode task) the namespace holder it runs */
  pid_t holder_pid;
  bool holder_busy;
  struct shimconn *shim;
  pid_t shim_pid;
  int shim_pidfd;
  struct berth_loop_source *shim_pidfd_src;
  bool shim_lost;
  char *state_dir; /* run_dir/tasks/<id>: the shim's */
  char *task_dir;  /* data_dir/tasks/<id> */
  char *task_log_dir;
  char **volume_paths;
  /* containers */
  struct ctr *ctrs;
  size_t n_ctrs;
  size_t *start_order;
  /* in flight */
  unsigned busy;             /* async operations outstanding on the task itself */
  struct imagecache_cancel **pull_cancels;
  bool stepping;
  bool step_again;
  struct berth_loop_source *step_timer;
  bool last_reported_valid;
  enum task_status last_reported;
  char *last_reported_json;
  char *last_state_json; /* what state.json holds, to skip rewriting it unchanged */
  struct berth_loop_source *retention_timer;
  bool removed;
};

/* ------------------------------------------------------------------ the engine */

struct subscriber
{
  struct subscriber *next;
  engine_event_fn fn;
  void *data;
};

struct source_entry
{
  struct source_entry *next;
  char *name;
  bool reported;
  bool has_consumer;
  uint64_t generation;
  void (*outbox_ready) (void *data);
  void *data;
};

struct exec_entry
{
  struct exec_entry *next;
  char *exec_id;
  struct task *task;
  struct engine_exec_cb cb;
  char *process_path;
};

struct source_sink
{
  struct engine *engine;
  pthread_mutex_t lock;
  struct source_update **queue;
  size_t n_queue, cap_queue;
  struct berth_loop_source *wakeup;
  json_object *snapshot; /* the last node snapshot, under lock */
};

struct engine
{
  struct engine_options o;
  char *data_dir, *run_dir, *log_dir, *runtime_path, *shim_path, *init_path;
  char *default_pull_policy;
  struct berth_loop *loop;
  struct workers *workers;
  struct task *tasks;
  struct source_sink sink;
  struct source_entry *sources;
  struct subscriber *subscribers;
  struct exec_entry *execs;
  unsigned exec_counter;
  bool recovered;
  bool sources_ready;
  bool ready_called;
  /* ledger */
  uint32_t total_cpu, total_memory_mib;
  uint32_t used_cpu, used_memory_mib;
  char *hostname;
  char *boot_id;
  json_object *generations; /* data_dir/sources.json: last persisted generation per source */
  struct berth_loop_source *gc_timer;
  struct berth_loop_source *snapshot_timer;
  bool gc_running;
};

/* engine.c */
struct task *engine_task_find (struct engine *e, const char *id);
void task_step (struct task *t);
void task_schedule_step (struct task *t);
void task_schedule_step_after (struct task *t, uint64_t delay_ns);
void task_arm_retention (struct task *t, uint64_t delay_ns);
void task_report (struct task *t);
void task_persist (struct task *t);
void task_fail (struct task *t, const char *stop_code, const char *fmt, ...) BERTH_PRINTF (3, 4);
void task_request_stop (struct task *t, const char *stop_code, const char *reason);
json_object *task_change_json (struct task *t);
struct task *task_new (struct engine *e, const char *id, const char *source,
                       json_object *definition, json_object *metadata);
int task_setup_def (struct task *t, berth_err *err);
struct task *task_accept (struct engine *e, const char *id, const char *source,
                          json_object *definition, json_object *metadata, berth_err *err);
void task_free (struct task *t);
void engine_ledger_release (struct engine *e, struct task *t);
void engine_check_sources_ready (struct engine *e);
/* Processes the updates sources have queued (the sink's wakeup does this on the loop). */
void engine_sink_process (struct engine *e);
void engine_wake_pending (struct engine *e);

/* store.c: task.json (intent) and state.json (what was done) under data_dir/tasks/<id> */
int store_task_write (struct task *t, berth_err *err);
int store_state_write (struct task *t, berth_err *err);
int store_load_all (struct engine *e, berth_err *err);
int store_task_remove (struct task *t, berth_err *err);

/* provision.c */
void provision_step (struct task *t);
bool task_needs_holder (const struct task *t);
void deprovision_step (struct task *t);
int shim_attach (struct task *t, berth_err *err);

/* images.c */
void images_step (struct task *t);
void images_cancel (struct task *t);
void images_release_step (struct task *t);

/* containers.c */
void containers_step (struct task *t);
void containers_stop_step (struct task *t);
void containers_delete_step (struct task *t);
void ctr_on_exit (struct ctr *c, json_object *ev);
void ctr_on_shim_state (struct ctr *c, json_object *st);
void shim_on_event (struct shimconn *conn, json_object *ev, void *data);
void shim_on_closed (struct shimconn *conn, void *data);
void ctr_free_runtime (struct ctr *c);
void ctr_open_cgroup (struct ctr *c);
bool ctr_done (const struct ctr *c);

/* health.c */
void health_start (struct ctr *c);
void health_stop (struct ctr *c);
void health_on_exec_exit (struct ctr *c, json_object *ev);

/* recover.c */
int recover_task (struct task *t, berth_err *err);
void recover_collect (struct engine *e);

/* exec */
void exec_on_event (struct engine *e, json_object *ev);

#endif
