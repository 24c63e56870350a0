/* Types and functions shared between the runtime's files; not part of the public API
 * (runtime/runtime.h). The parsed configuration is complete and validated before any
 * process is created: the container's first process only reads it and makes syscalls. */
#ifndef BERTH_RUNTIME_INTERNAL_H
#define BERTH_RUNTIME_INTERNAL_H

#include "runtime/runtime.h"

#include <linux/filter.h>
#include <sys/capability.h>
#include <sys/resource.h>

/* ------------------------------------------------------------------ configuration */

struct rt_id_map
{
  uint32_t container_id, host_id, size;
};

struct rt_rlimit
{
  int resource;
  const char *name; /* "RLIMIT_NOFILE" (static) */
  uint64_t soft, hard;
};

/* Capability sets as bit masks, indexed by capability number. */
enum rt_cap_set
{
  RT_CAP_BOUNDING,
  RT_CAP_EFFECTIVE,
  RT_CAP_INHERITABLE,
  RT_CAP_PERMITTED,
  RT_CAP_AMBIENT,
  RT_CAP_NSETS,
};

struct rt_user
{
  uid_t uid;
  gid_t gid;
  bool has_umask;
  mode_t umask;
  gid_t *gids;
  size_t n_gids;
};

struct rt_process
{
  bool terminal;
  bool has_console_size;
  unsigned short console_height, console_width;
  struct rt_user user;
  char **args;
  char **env;
  char *cwd;
  bool has_caps; /* process.capabilities present */
  uint64_t caps[RT_CAP_NSETS];
  struct rt_rlimit *rlimits;
  size_t n_rlimits;
  bool no_new_privs;
  bool has_oom_score_adj;
  int oom_score_adj;
  bool has_ioprio;
  int ioprio; /* IOPRIO_PRIO_VALUE (class, level) */
  bool has_scheduler;
  struct rt_sched
  {
    uint32_t policy;
    int32_t nice;
    uint32_t priority;
    uint64_t flags, runtime, deadline, period;
  } sched;
};

enum rt_mount_kind
{
  RT_MOUNT_FS,     /* a new filesystem instance (fsopen) */
  RT_MOUNT_BIND,   /* bind or rbind of a host path (open_tree) */
  RT_MOUNT_CGROUP, /* "cgroup": the container's cgroup hierarchies */
};

/* One data option for the new mount API: fsconfig(SET_STRING key value) or SET_FLAG. */
struct rt_fsparam
{
  char *key;
  char *value; /* NULL: a flag */
};

struct rt_mount
{
  char *destination; /* absolute, inside the container */
  char *type;
  char *source; /* absolute for binds (relative ones resolved against the bundle) */
  enum rt_mount_kind kind;
  bool recursive;    /* rbind */
  uint64_t attr_set; /* MOUNT_ATTR_* for the top mount */
  uint64_t attr_clr;
  uint64_t rattr_set; /* MOUNT_ATTR_* applied recursively ("rro", "rnosuid", ...) */
  uint64_t rattr_clr;
  uint64_t propagation; /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE or 0 */
  bool propagation_recursive;
  struct rt_fsparam *params;
  size_t n_params;
  /* Filesystem options given to a bind mount: mount(2) ignores them for binds (runc and
     crun pass them along to the same effect); berth accepts them and says so. */
  char **ignored; /* warnings, "mounts[i].options[j]: ..." */
};

/* Parses mount options into m (kind, attributes, propagation, fs parameters). Exposed for
 * the unit tests. path is the JSON path of the options array. */
int rt_mount_options_parse (struct rt_mount *m, char *const *options, const char *path,
                            berth_err *err);

enum rt_hook_kind
{
  RT_HOOK_PRESTART,
  RT_HOOK_CREATE_RUNTIME,
  RT_HOOK_CREATE_CONTAINER,
  RT_HOOK_START_CONTAINER,
  RT_HOOK_POSTSTART,
  RT_HOOK_POSTSTOP,
  RT_HOOK_NKINDS,
};
extern const char *const rt_hook_names[RT_HOOK_NKINDS];

struct rt_hook
{
  char *path;
  char **args; /* NULL: { path } */
  char **env;  /* never NULL */
  int timeout; /* seconds; 0: none */
};

struct rt_hooks
{
  struct rt_hook *v[RT_HOOK_NKINDS];
  size_t n[RT_HOOK_NKINDS];
};

/* Namespace kinds in the order they are joined (user first, mount last but time). */
enum rt_ns_kind
{
  RT_NS_USER,
  RT_NS_PID,
  RT_NS_NET,
  RT_NS_IPC,
  RT_NS_UTS,
  RT_NS_CGROUP,
  RT_NS_MOUNT,
  RT_NS_TIME,
  RT_NS_NKINDS,
};

struct rt_ns_info
{
  const char *oci_name;  /* "network" */
  const char *proc_name; /* "net", for /proc/PID/ns */
  int clone_flag;
};
extern const struct rt_ns_info rt_ns_info[RT_NS_NKINDS];

struct rt_namespace
{
  bool present; /* listed in linux.namespaces */
  char *path;   /* join this one; NULL: create a new one */
};

struct rt_device
{
  char *path; /* absolute, inside the container */
  char type;  /* 'c', 'b', 'p' ('u' is stored as 'c') */
  int64_t major, minor;
  mode_t mode; /* permission bits */
  bool has_mode;
  uid_t uid;
  gid_t gid;
  bool has_uid, has_gid;
};

struct rt_sysctl
{
  char *key; /* "net.ipv4.ip_forward" */
  char *value;
};

struct rt_time_offset
{
  int clock; /* CLOCK_MONOTONIC or CLOCK_BOOTTIME */
  int64_t secs;
  uint32_t nanosecs;
};

struct rt_config
{
  json_object *doc; /* the parsed document; resources and seccomp are read from it */
  char *oci_version;
  struct rt_process *process; /* NULL when absent (allowed for create only with start) */
  char *root_path;            /* as written */
  bool root_readonly;
  char *hostname;   /* NULL: unset */
  char *domainname; /* NULL: unset */
  struct rt_mount *mounts;
  size_t n_mounts;
  struct rt_hooks hooks;
  char **annotations; /* "key=value" */

  /* linux */
  struct rt_id_map *uid_maps, *gid_maps;
  size_t n_uid_maps, n_gid_maps;
  struct rt_sysctl *sysctl;
  size_t n_sysctl;
  json_object *resources; /* borrowed from doc, may be NULL */
  char *cgroups_path;
  struct rt_namespace ns[RT_NS_NKINDS];
  struct rt_device *devices;
  size_t n_devices;
  json_object *seccomp;             /* borrowed from doc, may be NULL */
  unsigned long rootfs_propagation; /* MS_* | MS_REC, or 0 (berth's default: rprivate) */
  char **masked_paths;
  char **readonly_paths;
  bool has_personality;
  unsigned long personality;
  struct rt_time_offset *time_offsets;
  size_t n_time_offsets;
};

/* Parses and validates a whole config.json document. Takes a reference on doc. */
int rt_config_parse (json_object *doc, struct rt_config **ret, berth_err *err);
int rt_config_load (int bundle_dirfd, struct rt_config **ret, berth_err *err);
void rt_config_free (struct rt_config *c);
#define cleanup_config __attribute__ ((cleanup (rt_config_freep)))
void rt_config_freep (struct rt_config **c);

/* A "process" object (config.json's, or exec --process FILE), path is its JSON path. */
int rt_process_parse (json_object *obj, const char *path, struct rt_process **ret, berth_err *err);
void rt_process_free (struct rt_process *p);

/* Capability name ("CAP_SYS_ADMIN") to number; negative with an error naming path. */
int rt_cap_from_name (const char *name, const char *path, int *ret, berth_err *err);
/* The host's highest capability number (cap_max_bits() - 1). */
int rt_cap_last (void);
/* The capability bounding set of the calling process. */
uint64_t rt_cap_host_bounding (void);

/* ------------------------------------------------------------------ seccomp */

struct rt_bpf
{
  struct sock_filter *insns;
  size_t len;
  unsigned flags; /* SECCOMP_FILTER_FLAG_* */
};

/* Compiles an OCI linux.seccomp object into a classic BPF program; syscalls numbered above
 * the highest one the profile names (per architecture) fail with ENOSYS, so a program
 * newer than the profile sees "not implemented" and falls back instead of EPERM. */
int rt_seccomp_compile (json_object *seccomp, const char *path, struct rt_bpf *ret, berth_err *err);
/* The same through a cache of compiled programs in cache_dirfd (-1: no cache). */
int rt_seccomp_compile_cached (int cache_dirfd, json_object *seccomp, struct rt_bpf *ret,
                               berth_err *err);
void rt_bpf_free (struct rt_bpf *b);
/* Loads it into the calling thread; returns -errno. No allocation. */
int rt_seccomp_load (const struct rt_bpf *b);

/* ------------------------------------------------------------------ the prepared plan
 * Everything the container's first process needs, computed before it is cloned: it only
 * reads this and makes syscalls (no allocation, no stdio, no libc locks, no raise()). */

struct rt_cgroup_mount
{
  bool unified;
  char *name;      /* directory under the cgroup mount: "cpu", "cpu,cpuacct", "unified" */
  char **fs_flags; /* fsconfig parameters of the v1 mount: "cpu", "name=systemd" */
  char *host_dir;  /* the container's cgroup directory, bound when there is no cgroupns */
};

struct rt_dev_node
{
  const char *path; /* inside the container */
  char type;        /* 'c', 'b', 'p' */
  dev_t rdev;
  mode_t mode; /* permission bits */
  uid_t uid;
  gid_t gid;
  bool chown;
  bool replace; /* linux.devices: an existing file is replaced */
};

enum rt_init_mode
{
  RT_INIT_CREATE, /* create/run: the container's first process */
  RT_INIT_EXEC,   /* exec: a process joining a running container */
};

struct rt_init
{
  enum rt_init_mode mode;
  const struct rt_config *config;
  const struct rt_process *process;

  int sync_fd;       /* child's end of the SOCK_SEQPACKET pair with the parent */
  int start_fd;      /* create: read one byte to start, write an error on failure */
  int start_peer_fd; /* the other end, kept open here for `start` (pidfd_getfd) */
  int preserve_fds;
  bool new_keyring; /* join a new anonymous session keyring (the kernel's are not namespaced) */

  /* namespaces */
  int ns_fds[RT_NS_NKINDS]; /* to join with setns, -1 */
  int join_pidfd;           /* exec: join every namespace of this process (setns pidfd) */
  int join_flags;           /* exec: CLONE_NEW* flags for setns(join_pidfd) */
  int root_fd;              /* exec into a container without a mount namespace: its root */
  bool unshare_cgroupns;    /* after the parent put us in the cgroup */
  int unshare_flags; /* new namespaces (time included) to unshare after joining a user ns by path */
  bool new_userns;
  bool in_userns; /* new or joined: no mknod, devices are the host's, bound */

  /* filesystem */
  char *rootfs; /* absolute host path */
  struct rt_cgroup_mount *cgroup_mounts;
  size_t n_cgroup_mounts;
  bool cgroupns;        /* the container has its own cgroup namespace */
  bool shared_mount_ns; /* no mount namespace: mounts are made in the host's and reported */
  bool chrooted;
  struct rt_dev_node *devs;
  size_t n_devs;
  char **sysctl_paths; /* "/proc/sys/net/ipv4/ip_forward", parallel to config->sysctl */

  /* process */
  bool apply_caps;
  cap_t caps; /* effective, permitted, inheritable (libcap, allocated before clone) */
  int cap_last;
  char **path_dirs; /* PATH of the process env, for the program lookup */
  struct rt_bpf seccomp;
  bool has_seccomp;

  /* hooks run inside the container: the state JSON ("created", as for every hook before
     start) pre-rendered in two halves around the pid */
  const char *state_prefix_created, *state_suffix;
  char *hook_buf; /* room for prefix + pid + suffix */
  size_t hook_buf_len;
  pid_t host_pid; /* our pid as the host sees it (from RT_MSG_GO) */
};

/* Messages on the sync socket between the runtime and the container's first process. */
enum rt_msg_type
{
  RT_MSG_GO = 1,     /* parent -> child: namespaces mapped, cgroup joined; carries pid */
  RT_MSG_ERROR,      /* child -> parent: text, code */
  RT_MSG_RUN_HOOKS,  /* child -> parent: mounts done, run prestart/createRuntime hooks */
  RT_MSG_HOOKS_DONE, /* parent -> child */
  RT_MSG_PTY,        /* child -> parent: the terminal master, as SCM_RIGHTS */
  RT_MSG_READY,      /* child -> parent: set up, waiting for start */
  RT_MSG_NEWPID,     /* child -> parent: the process forked into a new pid namespace (its
                        host pid, its pidfd); the sender exits, GO is sent again to the new one */
  RT_MSG_MOUNTED,    /* child -> parent: "<mount id> <host path>" of a mount made in the
                        host's mount namespace (a container without one of its own) */
};

#define RT_MSG_TEXT_MAX 3072

struct rt_msg
{
  uint32_t type;
  int32_t code; /* errno for RT_MSG_ERROR; the host pid for RT_MSG_GO */
  char text[RT_MSG_TEXT_MAX];
};

int rt_msg_send (int fd, uint32_t type, int32_t code, const char *text, int pass_fd);
/* Receives one message; *ret_fd gets a passed fd (or -1). 0 on EOF, 1 on a message. */
int rt_msg_recv (int fd, struct rt_msg *m, int *ret_fd);

/* The container's first process (and an exec'd process): never returns. */
__attribute__ ((noreturn)) void rt_init_run (struct rt_init *init);

/* ------------------------------------------------------------------ pieces of the child */

/* Formats into a stack buffer and sends RT_MSG_ERROR, then exits. */
__attribute__ ((noreturn, format (printf, 3, 4))) void
rt_child_fail (struct rt_init *init, int code, const char *fmt, ...);

void rt_rootfs_prepare (struct rt_init *init, int *ret_rootfd);
void rt_rootfs_pivot (struct rt_init *init, int rootfd);
void rt_rootfs_finish (struct rt_init *init);
void rt_child_apply_user (struct rt_init *init);
int rt_child_hooks (struct rt_init *init, enum rt_hook_kind kind, const char *state_prefix,
                    char *errbuf, size_t errlen);

/* Terminal: the child makes the pty; the parent hands it to --console-socket or relays. */
void rt_child_console (struct rt_init *init);
int rt_console_socket_connect (const char *path, int *ret_fd, berth_err *err);
int rt_console_socket_send (int sock, int master, berth_err *err);
/* Copies stdin -> master and master -> stdout until the process (pidfd) exits. */
int rt_console_relay (int master, int pidfd, berth_err *err);

/* Opens a namespace path and checks it is a namespace of the expected kind. */
int rt_ns_open (enum rt_ns_kind kind, const char *path, const char *json_path, int *ret_fd,
                berth_err *err);

/* clone3 with CLONE_PIDFD (and CLONE_INTO_CGROUP when cgroup_fd >= 0), falling back to clone
 * where clone3 is refused. *ret_in_cgroup tells whether the child was born in the cgroup.
 * Returns the pid in the parent, 0 in the child, -errno on failure. */
pid_t rt_clone (int flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup);

/* Writes /proc/PID/{uid,gid}_map. */
int rt_write_id_maps (pid_t pid, const struct rt_config *c, berth_err *err);

/* Runs the hooks of one kind from the runtime, with the state JSON on stdin. */
int rt_hooks_run (const struct rt_hooks *hooks, enum rt_hook_kind kind, const char *state_json,
                  berth_err *err);

/* What the host cannot grant (capabilities outside its bounding set or unknown to the
 * kernel, rlimits above its hard limits, a lower oom_score_adj) fails here, named. */
int rt_check_host_grants (const struct rt_process *p, const char *path, berth_err *err);
/* The process part of the plan: PATH for the program lookup, capability sets. */
void rt_prepare_process (struct rt_init *in, const struct rt_process *p);

/* Reads field 22 of /proc/PID/stat (start time in clock ticks); 'Z' state is reported in
 * *ret_zombie. */
int rt_proc_start_time (pid_t pid, uint64_t *ret, bool *ret_zombie, berth_err *err);
/* linux.timeOffsets as /proc/PID/timens_offsets wants them; no allocation (the child uses
 * it). Two clocks, each at most "boottime -9223372036854775808 999999999\n". */
#define RT_TIME_OFFSETS_MAX 128
size_t rt_time_offsets_format (const struct rt_config *c, char *buf, size_t size);
/* True once the process has begun to exit (PF_EXITING) or is a zombie. */
int rt_proc_exiting (pid_t pid, bool *ret, berth_err *err);

/* ------------------------------------------------------------------ state */

enum rt_status
{
  RT_STATUS_CREATING,
  RT_STATUS_CREATED,
  RT_STATUS_RUNNING,
  RT_STATUS_PAUSED,
  RT_STATUS_STOPPED,
};

struct rt_state
{
  char *id;
  char *oci_version;
  pid_t pid;
  char *bundle;
  char *rootfs;
  char *created; /* RFC 3339 */
  char *cgroup;  /* cgroups_path(), NULL when the container has none */
  json_object *annotations;
  uint64_t start_time; /* of pid, /proc/PID/stat field 22 */
  int start_fd;        /* the start socket in the container's first process */
  bool started;
  bool creating; /* written before the process exists, so a crashed create can be cleaned */
  int ns_flags;  /* CLONE_NEW* of the container's namespaces, for exec */
  json_object *host_mounts; /* [[id, "path"], ...]: mounts it made in the host's namespace */
};

enum
{
  RT_LOCK_NONE,
  RT_LOCK_SHARED,
  RT_LOCK_EXCLUSIVE,
};

bool rt_id_valid (const char *id);
int rt_state_root_open (const char *root, bool create, int *ret_fd, berth_err *err);
int rt_state_dir_create (int rootfd, const char *id, int *ret_fd, berth_err *err);
int rt_state_dir_open (int rootfd, const char *id, int lock, int *ret_fd, berth_err *err);
/* flock on the state directory; ENOENT when it was deleted while we waited. */
int rt_state_lock (int dirfd, const char *id, bool exclusive, berth_err *err);
void rt_state_unlock (int dirfd);
int rt_state_read (int dirfd, const char *id, struct rt_state **ret, berth_err *err);
int rt_state_write (int dirfd, const struct rt_state *s, berth_err *err);
void rt_state_free (struct rt_state *s);
void rt_state_freep (struct rt_state **s);
#define cleanup_state __attribute__ ((cleanup (rt_state_freep)))
/* A pidfd of the container's first process, checked against its start time (ESRCH when it
 * is gone, a zombie, or the pid was reused). */
int rt_state_pidfd (const struct rt_state *s, int *ret_pidfd, berth_err *err);
/* From the kernel: created/running/stopped (paused is decided by the caller, from the
 * cgroup). */
enum rt_status rt_state_status (const struct rt_state *s);
const char *rt_status_name (enum rt_status st);
/* Mounts a container without a mount namespace made in the host's: "<id> <path>" (from the
 * child) appended to *list; removed newest first, each only if it is still that mount. */
void rt_host_mounts_add (json_object **list, const char *text);
int rt_host_mounts_remove (json_object *list, berth_err *err);
/* The state document of the OCI runtime command line. */
json_object *rt_state_oci_json (const struct rt_state *s, enum rt_status st);

/* ------------------------------------------------------------------ cgroups
 * The runtime's use of cgroups/ (its manager and one container's cgroup). */

struct rt_cgroup;
int rt_cgroup_create (const struct rt_config *c, const char *id, struct rt_cgroup **ret,
                      berth_err *err);
int rt_cgroup_open (const char *saved_path, struct rt_cgroup **ret, berth_err *err);
void rt_cgroup_free (struct rt_cgroup *cg);
const char *rt_cgroup_path (const struct rt_cgroup *cg);
int rt_cgroup_v2_dirfd (const struct rt_cgroup *cg);
int rt_cgroup_enter (struct rt_cgroup *cg, pid_t pid, berth_err *err);
/* The hierarchies to show at a "cgroup" mount. */
int rt_cgroup_mounts (struct rt_cgroup *cg, struct rt_cgroup_mount **ret, size_t *ret_n,
                      berth_err *err);
void rt_cgroup_mounts_free (struct rt_cgroup_mount *m, size_t n);
int rt_cgroup_kill (struct rt_cgroup *cg, int sig, berth_err *err);
int rt_cgroup_freeze (struct rt_cgroup *cg, bool frozen, berth_err *err);
int rt_cgroup_frozen (struct rt_cgroup *cg, bool *ret, berth_err *err);
int rt_cgroup_pids (struct rt_cgroup *cg, pid_t **ret, size_t *ret_n, berth_err *err);
int rt_cgroup_update (struct rt_cgroup *cg, json_object *resources, berth_err *err);
int rt_cgroup_destroy (struct rt_cgroup *cg, berth_err *err);
/* {"type":"stats","id":...,"data":{...}} as runc events --stats prints it. */
int rt_cgroup_stats_json (struct rt_cgroup *cg, json_object **ret, berth_err *err);
int rt_cgroup_events_fd (struct rt_cgroup *cg, int *ret_fd, berth_err *err);
int rt_cgroup_events_read (struct rt_cgroup *cg, uint64_t *ret_oom, uint64_t *ret_pids_max,
                           bool *ret_populated, berth_err *err);

#endif
