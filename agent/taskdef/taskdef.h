/* berth task definitions: the JSON of an Amazon ECS RegisterTaskDefinition request parsed
 * into a validated struct taskdef, and each container turned into an OCI runtime config.
 * Every field and what berth does with it: docs/task-definition.md. */
#ifndef BERTH_AGENT_TASKDEF_H
#define BERTH_AGENT_TASKDEF_H

#include "common/common.h"

/* Limits taken from the ECS reference (and documented in docs/task-definition.md). */
#define TASKDEF_MAX_DOCUMENT           (1024 * 1024) /* bytes of JSON accepted */
#define TASKDEF_MAX_CONTAINERS         10
#define TASKDEF_MAX_NAME               255
#define TASKDEF_MIN_MEMORY_MIB         6   /* the least a container can run in (Docker 20.10+) */
#define TASKDEF_MIN_TASK_CPU           128 /* CPU units: 1024 per vCPU */
#define TASKDEF_MAX_TASK_CPU           196608
#define TASKDEF_DEFAULT_STOP_TIMEOUT_S 30
#define TASKDEF_MAX_TIMEOUT_S          86400

/* The one key under which berth-only settings live, at the top level of the document. */
#define TASKDEF_BERTH_KEY "berth"

enum taskdef_network_mode
{
  TASKDEF_NETWORK_AWSVPC = 0, /* berth's default: the task's own netns and IP */
  TASKDEF_NETWORK_HOST,
  TASKDEF_NETWORK_NONE, /* the task's own netns with only lo */
};

/* pidMode / ipcMode. UNSET: each container has its own namespace (ECS default). */
enum taskdef_ns_mode
{
  TASKDEF_NS_UNSET = 0,
  TASKDEF_NS_TASK, /* shared by the task's containers */
  TASKDEF_NS_HOST, /* the host's: refused unless the host policy allows it */
  TASKDEF_NS_NONE, /* ipcMode "none": private, and no /dev/shm mount */
};

enum taskdef_dep_condition
{
  TASKDEF_DEP_START = 0,
  TASKDEF_DEP_COMPLETE,
  TASKDEF_DEP_SUCCESS,
  TASKDEF_DEP_HEALTHY,
};

enum taskdef_pull_policy
{
  TASKDEF_PULL_DEFAULT = 0, /* not set in the task: berthd's IMAGE_PULL_POLICY */
  TASKDEF_PULL_ALWAYS,
  TASKDEF_PULL_IF_NOT_PRESENT,
  TASKDEF_PULL_NEVER,
};

struct taskdef_env
{
  char *name;
  char *value;
};

struct taskdef_dependency
{
  char *container; /* containerName */
  size_t index;    /* of that container in taskdef.containers */
  enum taskdef_dep_condition condition;
};

struct taskdef_healthcheck
{
  bool present;
  bool shell;              /* CMD-SHELL: argv is one shell command line for /bin/sh -c */
  char **argv;             /* the command without its CMD / CMD-SHELL marker */
  uint32_t interval_s;     /* 5..300, default 30 */
  uint32_t timeout_s;      /* 2..60, default 5 */
  uint32_t retries;        /* 1..10, default 3 */
  uint32_t start_period_s; /* 0..300, default 0 (off) */
};

enum taskdef_protocol
{
  TASKDEF_PROTO_TCP = 0,
  TASKDEF_PROTO_UDP,
};

struct taskdef_port_mapping
{
  uint16_t container_port; /* first port */
  uint16_t last_port;      /* == container_port unless containerPortRange */
  enum taskdef_protocol protocol;
  char *name;         /* Service Connect name, kept */
  char *app_protocol; /* kept */
};

struct taskdef_mount_point
{
  char *source_volume;
  size_t volume; /* index in taskdef.volumes */
  char *container_path;
  bool read_only;
};

struct taskdef_volume_from
{
  char *source_container;
  size_t index; /* of that container */
  bool read_only;
};

struct taskdef_device
{
  char *host_path;
  char *container_path;    /* defaults to host_path */
  bool read, write, mknod; /* all three when permissions is absent */
};

struct taskdef_tmpfs
{
  char *container_path;
  uint64_t size_mib;
  char **options; /* validated tmpfs mount options, as written */
};

struct taskdef_ulimit
{
  int resource;        /* RLIMIT_* */
  char *name;          /* "nofile" */
  uint64_t soft, hard; /* RLIM_INFINITY for -1 */
};

struct taskdef_sysctl
{
  char *name;
  char *value;
};

struct taskdef_host_entry
{
  char *hostname;
  char *address;
};

struct taskdef_restart_policy
{
  bool present;
  bool enabled;
  int32_t *ignored_exit_codes;
  size_t n_ignored_exit_codes;
  uint32_t attempt_period_s; /* 60..1800, default 300 */
};

struct taskdef_log_config
{
  /* berth implements only its own JSON-lines files ("json-file"); other drivers are
   * refused by the parser. 0 means berthd's CONTAINER_LOG_MAX_SIZE / _FILES. */
  uint64_t max_size;
  uint32_t max_files;
};

struct taskdef_container
{
  char *name;
  char *image;
  char **command;     /* NULL when absent: the image's Cmd */
  char **entry_point; /* NULL when absent: the image's Entrypoint */
  struct taskdef_env *env;
  size_t n_env;
  bool essential;
  uint32_t cpu;                    /* CPU units; 0 when absent */
  uint32_t memory_mib;             /* hard limit; 0 when absent */
  uint32_t memory_reservation_mib; /* soft limit; 0 when absent */
  struct taskdef_dependency *depends_on;
  size_t n_depends_on;
  struct taskdef_healthcheck health;
  char *user; /* as written: "uid", "uid:gid", "name", "name:group" */
  char *working_dir;
  bool readonly_rootfs;
  bool privileged;
  /* linuxParameters */
  char **cap_add; /* normalised "CAP_X" names, or "ALL" */
  char **cap_drop;
  struct taskdef_device *devices;
  size_t n_devices;
  bool init_process;
  bool has_shm_size;
  uint64_t shm_size_mib;
  struct taskdef_tmpfs *tmpfs;
  size_t n_tmpfs;
  bool has_max_swap;
  uint64_t max_swap_mib;
  bool has_swappiness;
  uint32_t swappiness;
  /* rest */
  struct taskdef_ulimit *ulimits;
  size_t n_ulimits;
  struct taskdef_mount_point *mount_points;
  size_t n_mount_points;
  struct taskdef_volume_from *volumes_from;
  size_t n_volumes_from;
  bool has_stop_timeout;
  uint32_t stop_timeout_s;
  bool has_start_timeout;
  uint32_t start_timeout_s;
  char *hostname;
  char **dns_servers;
  char **dns_search_domains;
  struct taskdef_host_entry *extra_hosts;
  size_t n_extra_hosts;
  struct taskdef_log_config log;
  struct taskdef_sysctl *sysctls;
  size_t n_sysctls;
  struct taskdef_port_mapping *ports;
  size_t n_ports;
  struct taskdef_restart_policy restart;
  bool disable_networking;
  bool pseudo_terminal;
  bool interactive;
  char **labels; /* dockerLabels as "key=value" */
  /* berth.containers.<name> */
  char *stop_signal; /* "SIGINT" or "2"; NULL: the image's, else SIGTERM */
  bool ebpf_sidecar; /* refused unless the host allows eBPF sidecars */
  enum taskdef_pull_policy pull_policy;
};

struct taskdef_volume
{
  char *name;
  char *host_source_path; /* host.sourcePath; NULL for a task-scoped empty volume */
};

struct taskdef
{
  json_object *json; /* the whole document as given: AWS-only fields are kept here */
  char *family;
  enum taskdef_network_mode network_mode;
  enum taskdef_ns_mode pid_mode;
  enum taskdef_ns_mode ipc_mode;
  uint32_t cpu;        /* task CPU units; 0 when absent */
  uint32_t memory_mib; /* task memory; 0 when absent */
  struct taskdef_container *containers;
  size_t n_containers;
  struct taskdef_volume *volumes;
  size_t n_volumes;
  /* berth.* */
  char *hostname; /* berth.hostname: the task's hostname (awsvpc, none) */
  bool reach_tasks; /* berth.reachTasks: may reach, and be reached by, other tasks that allow it
                       (awsvpc); tasks are isolated from each other otherwise */
  enum taskdef_pull_policy pull_policy;
};

/* Parses and validates a task definition. Nothing is created: a task that fails here
 * has its reason in *err ("containerDefinitions[1].secrets: not supported by berth: ...").
 * runtimePlatform must match the architecture berth was built for. */
int taskdef_parse (const char *text, size_t len, struct taskdef **ret, berth_err *err);
/* Same, from an already parsed document (a reference is taken on json). */
int taskdef_parse_json (json_object *json, struct taskdef **ret, berth_err *err);
void taskdef_free (struct taskdef *td);
void cleanup_taskdefp (struct taskdef **td);
#define cleanup_taskdef __attribute__ ((cleanup (cleanup_taskdefp)))

/* The container named name, or NULL. */
const struct taskdef_container *taskdef_container_find (const struct taskdef *td, const char *name,
                                                        size_t *ret_index);
/* The order in which containers can start (every dependency before its dependant;
 * otherwise the order of the document). ret has td->n_containers entries. Stop in reverse. */
void taskdef_start_order (const struct taskdef *td, size_t *ret);

/* What the task reserves on the host, for the resource ledger (ECS semantics): the task's
 * cpu, else the sum of its containers' cpu; the task's memory, else the sum over its
 * containers of memoryReservation, else memory. */
void taskdef_resources (const struct taskdef *td, uint32_t *ret_cpu_units,
                        uint64_t *ret_memory_mib);

const char *taskdef_network_mode_name (enum taskdef_network_mode m);
const char *taskdef_dep_condition_name (enum taskdef_dep_condition c);
const char *taskdef_pull_policy_name (enum taskdef_pull_policy p);

/* ------------------------------------------------------------------ conversion */

/* What the image says (the agent fills it from the image cache's config). Any field may
 * be NULL. */
struct taskdef_image_config
{
  char **env; /* "K=V" */
  char **cmd;
  char **entrypoint;
  const char *working_dir;
  const char *user;
  const char *stop_signal;
  char **labels; /* "k=v" */
};

/* What the host operator allows (berthd.conf; see taskdef_policy_from_config). The
 * refusals name these keys. A NULL policy allows none of it. */
struct taskdef_host_policy
{
  bool allow_privileged;       /* ALLOW_PRIVILEGED */
  char **allowed_capabilities; /* ALLOWED_CAPABILITIES: "CAP_X" beyond the defaults */
  bool allow_ebpf_sidecars;    /* ALLOW_EBPF_SIDECARS */
  bool allow_host_network;     /* ALLOW_HOST_NETWORK */
  bool allow_host_namespaces;  /* ALLOW_HOST_NAMESPACES: pidMode/ipcMode host */
  char **allowed_host_paths;   /* ALLOWED_HOST_PATHS: prefixes for host volumes */
  char **allowed_devices;      /* ALLOWED_DEVICES: host device paths */
};

struct berth_config;
/* The policy berthd.conf sets (ALLOW_PRIVILEGED, ALLOWED_CAPABILITIES, ...). The vectors
 * are borrowed from cfg, which must outlive ret. */
void taskdef_policy_from_config (const struct berth_config *cfg, struct taskdef_host_policy *ret);

/* Everything the agent prepared for one container. Paths are host paths. */
struct taskdef_oci_context
{
  const char *task_id;
  const char *rootfs;     /* the container's root (overlay mount), absolute */
  int rootfs_fd;          /* a directory fd on rootfs, for /etc/passwd and /etc/group */
  const char *netns_path; /* the task's netns; NULL in host mode */
  const char *pidns_path; /* pidMode task: a process's pid ns the containers join */
  const char *ipcns_path; /* ipcMode task: likewise */
  const char *shm_path;   /* ipcMode task: the task's shared /dev/shm (a tmpfs of
                             taskdef_task_shm_size_mib), bound at /dev/shm */
  const char *hostname;   /* the task's hostname */
  /* Bound read-only at /etc/resolv.conf, /etc/hosts and /etc/hostname (NULL: not bound):
   * the task's files, or the container's own when taskdef_container_etc_files says so. */
  const char *resolv_conf_path;
  const char *hosts_path;
  const char *hostname_path;
  const char *cgroup_parent;       /* the task's cgroup; the container's is parent/ctr-<name> */
  const char *init_path;           /* berth-init on the host, for initProcessEnabled */
  const char *const *volume_paths; /* td->n_volumes entries: each volume's host directory
                                      (host.sourcePath, or the task-scoped directory the
                                      agent made for an empty volume) */
  const struct taskdef_host_policy *policy;
};

/* Everything the host policy decides about the task (privileged, capabilities, host
 * network and namespaces, host paths, devices, eBPF sidecars), checked before anything is
 * created for it; the refusal names the berthd.conf key. taskdef_container_oci_spec checks
 * the same again. */
int taskdef_check_policy (const struct taskdef *td, const struct taskdef_host_policy *policy,
                          berth_err *err);

/* Builds the OCI runtime config of container idx: the runtime's secure defaults, then the
 * image config, then the container definition, under the host policy. */
int taskdef_container_oci_spec (const struct taskdef *td, size_t idx,
                                const struct taskdef_image_config *image,
                                const struct taskdef_oci_context *ctx, json_object **ret,
                                berth_err *err);

/* Where berth-init is bound in a container that sets initProcessEnabled. */
#define TASKDEF_INIT_CONTAINER_PATH "/sbin/berth-init"

/* A container's /etc files when they differ from the task's: its own hostname, and the
 * task's resolv.conf and hosts with its dnsServers, dnsSearchDomains and extraHosts.
 * A NULL member means "use the task's file". */
struct taskdef_etc_files
{
  char *hostname;      /* the container's host name (always set) */
  char *hostname_file; /* its /etc/hostname content, when it differs from the task's */
  char *resolv_conf;
  char *hosts;
};
/* task_resolv_conf and task_hosts are the task's file contents (NULL: empty). */
void taskdef_container_etc_files (const struct taskdef *td, size_t idx, const char *task_hostname,
                                  const char *task_resolv_conf, const char *task_hosts,
                                  struct taskdef_etc_files *ret);
void taskdef_etc_files_clear (struct taskdef_etc_files *f);

/* The size of the task's shared /dev/shm for ipcMode task: the largest sharedMemorySize of
 * its containers, or 64 MiB (Docker's default). */
uint64_t taskdef_task_shm_size_mib (const struct taskdef *td);

/* The signal that asks container idx to stop: berth.containers.<name>.stopSignal, else the
 * image's StopSignal, else SIGTERM. */
int taskdef_container_stop_signal (const struct taskdef *td, size_t idx,
                                   const struct taskdef_image_config *image, int *ret,
                                   berth_err *err);

/* Parses "SIGTERM", "TERM", "15" (as Docker's STOPSIGNAL). */
int taskdef_parse_signal (const char *s, int *ret);

/* Parses an ECS capability name ("NET_ADMIN", "CAP_NET_ADMIN", any case) into the
 * kernel's number. */
int taskdef_parse_capability (const char *s, int *ret);

#endif
