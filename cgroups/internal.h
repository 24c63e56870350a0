/* Internals shared by the cgroups module's files: the manager's view of the host's
 * hierarchies, the parsed resources, the cgroup handle, and the file-level helpers.
 * Not installed, not used outside cgroups/ (tests include it to reach the pure logic). */
#ifndef BERTH_CGROUPS_INTERNAL_H
#define BERTH_CGROUPS_INTERNAL_H

#include "cgroups/cgroups.h"

/* ------------------------------------------------------------------ hierarchies */

struct cg_hier
{
  bool unified;
  char *controllers; /* v1: "cpu,cpuacct" / "name=systemd"; v2: cgroup.controllers of the root */
  char **ctrl;       /* controller names this hierarchy provides (v1 named ones excluded) */
  char *key;         /* identifies the hierarchy in a saved path: controllers, or "unified" */
  char *name;        /* basename of the mountpoint ("" when mounted at /sys/fs/cgroup itself) */
  char *mountpoint;  /* host path */
  char *mount_root;  /* the hierarchy path the mount shows at its mountpoint ("/" usually) */
  char *own;         /* the caller's own cgroup in this hierarchy */
  char *root;        /* berth's root in this hierarchy */
  int mnt_fd;        /* O_PATH | O_DIRECTORY fd of the mountpoint */
};

struct cgroups_manager
{
  enum cgroups_layout layout;
  struct cg_hier *h;
  size_t n_h;
  int unified; /* index of the cgroup2 hierarchy, -1 when none */
};

/* The hierarchy that provides a controller, or -1. */
int cg_manager_find_controller (const struct cgroups_manager *m, const char *controller);
bool cg_hier_has (const struct cg_hier *h, const char *controller);
/* "a/b" relative to the hierarchy's mount for the in-hierarchy path p ("." for the mount's
 * own root); NULL when p is outside what the mount shows. */
char *cg_hier_rel (const struct cg_hier *h, const char *p);

/* Parsers of /proc/self/cgroup and /proc/self/mountinfo text, exposed for unit tests. */
struct cg_proc_line
{
  char *controllers; /* "" for the v2 line */
  char *path;
};
int cg_parse_proc_cgroup (const char *text, struct cg_proc_line **ret, size_t *ret_n,
                          berth_err *err);
void cg_proc_lines_free (struct cg_proc_line *l, size_t n);

struct cg_mount
{
  bool unified;
  char *root;
  char *mountpoint;
  char *options; /* super options */
};
int cg_parse_mountinfo (const char *text, struct cg_mount **ret, size_t *ret_n, berth_err *err);
void cg_mounts_free (struct cg_mount *m, size_t n);
/* Builds a manager from the texts (no fds opened when open_fds is false): for unit tests. */
int cg_manager_build (const char *proc_cgroup, const char *mountinfo, const char *root,
                      bool open_fds, struct cgroups_manager **ret, berth_err *err);

/* Normalises an OCI cgroupsPath or root ("/a//b/" -> "a/b"): no "..", no ';'. Empty result
 * allowed only when allow_empty. */
int cg_path_normalize (const char *p, bool allow_empty, char **ret, berth_err *err);
/* Is p at or below prefix (both absolute in-hierarchy paths)? */
bool cg_path_within (const char *p, const char *prefix);
/* "a" + "/" + "b" for in-hierarchy paths: join ("/", "x") = "/x". */
char *cg_path_join (const char *a, const char *b);

/* ------------------------------------------------------------------ resources */

enum
{
  CG_ACC_R = 1u << 0,
  CG_ACC_W = 1u << 1,
  CG_ACC_M = 1u << 2,
};

struct cg_dev_rule
{
  bool allow;
  char type;            /* 'a', 'b', 'c' */
  int64_t major, minor; /* -1: any */
  unsigned access;      /* CG_ACC_* */
};

struct cg_blkio_dev
{
  int64_t major, minor;
  bool has_weight, has_leaf_weight;
  uint16_t weight, leaf_weight;
  uint64_t rate; /* throttle lists */
};

enum
{
  CG_THROTTLE_READ_BPS,
  CG_THROTTLE_WRITE_BPS,
  CG_THROTTLE_READ_IOPS,
  CG_THROTTLE_WRITE_IOPS,
  CG_THROTTLE_N,
};

struct cg_hugepage
{
  char *page_size;
  uint64_t limit;
};

struct cg_rdma
{
  char *device;
  bool has_handles, has_objects;
  uint32_t handles, objects;
};

struct cg_netprio
{
  char *name;
  uint32_t priority;
};

struct cg_kv
{
  char *key, *value;
};

#define CG_OPT(type, name)                                                                         \
  bool has_##name;                                                                                 \
  type name

struct cgroups_resources
{
  char *path; /* JSON path of linux.resources, for errors */

  CG_OPT (uint64_t, cpu_shares);
  CG_OPT (int64_t, cpu_quota);
  CG_OPT (uint64_t, cpu_period);
  CG_OPT (uint64_t, cpu_burst);
  CG_OPT (int64_t, cpu_rt_runtime);
  CG_OPT (uint64_t, cpu_rt_period);
  CG_OPT (int64_t, cpu_idle);
  char *cpuset_cpus, *cpuset_mems;

  CG_OPT (int64_t, mem_limit);
  CG_OPT (int64_t, mem_reservation);
  CG_OPT (int64_t, mem_swap);
  CG_OPT (int64_t, mem_kernel);
  CG_OPT (int64_t, mem_kernel_tcp);
  CG_OPT (uint64_t, mem_swappiness);
  CG_OPT (bool, mem_disable_oom_killer);
  CG_OPT (bool, mem_use_hierarchy);
  bool mem_check_before_update;

  CG_OPT (int64_t, pids_limit);

  CG_OPT (uint16_t, blkio_weight);
  CG_OPT (uint16_t, blkio_leaf_weight);
  struct cg_blkio_dev *weight_dev;
  size_t n_weight_dev;
  struct cg_blkio_dev *throttle[CG_THROTTLE_N];
  size_t n_throttle[CG_THROTTLE_N];

  struct cg_hugepage *hugepages;
  size_t n_hugepages;
  struct cg_rdma *rdma;
  size_t n_rdma;
  CG_OPT (uint32_t, net_class_id);
  struct cg_netprio *net_prio;
  size_t n_net_prio;
  bool has_net_prio;
  struct cg_kv *unified;
  size_t n_unified;

  bool has_devices;
  struct cg_dev_rule *devices;
  size_t n_devices;
};

/* The controllers r needs (names as the kernel spells them), as a NULL-terminated vector. */
char **cg_resources_controllers (const struct cgroups_resources *r);
/* Field path for errors: "<r->path>.<field>". */
char *cg_field (const struct cgroups_resources *r, const char *field);

/* ------------------------------------------------------------------ the cgroup handle */

struct cgroups_cgroup
{
  struct cgroups_manager *m; /* borrowed: the manager outlives its cgroups */
  char **paths;              /* per hierarchy: path inside it, NULL when absent there */
  char *saved;
  int v2_fd;     /* O_DIRECTORY fd of the cgroup2 directory (pure v2 and hybrid), or -1 */
  int events_fd; /* epoll fd, or -1 */
  int inotify_fd, oom_eventfd;
  uint64_t v1_oom;             /* OOM notifications counted from the v1 eventfd */
  struct cg_stat_fd *stat_fds; /* files stats reads, kept open (cgroups_stats_keep_open) */
  size_t n_stat_fds;
  bool keep_open;
};

/* One stats file of one hierarchy: kept open for pread, or known to be missing (fd -1). */
struct cg_stat_fd
{
  uint16_t h;
  const char *file; /* a string literal of stats.c */
  int fd;
};

void cg_stat_fds_close (struct cgroups_cgroup *cg);

/* O_DIRECTORY fd of the cgroup's directory in hierarchy i (or of a path below it). */
int cg_open_dir (const struct cgroups_cgroup *cg, size_t i, const char *sub, berth_err *err);
/* "<mountpoint>/<rel>" of the cgroup in hierarchy i. */
char *cg_host_dir (const struct cgroups_manager *m, size_t i, const char *path);

/* Writes value into <dir>/<file> with one write; the error names the file and, when field
 * is not NULL, the resources field it came from. */
int cg_write (int dirfd, const char *file, const char *value, const char *field, berth_err *err);
/* Reads a small cgroup file into buf (NUL-terminated, trailing newline kept); -errno. */
ssize_t cg_read_small (int dirfd, const char *file, char *buf, size_t size);

/* ------------------------------------------------------------------ applying resources */

struct cg_apply_ctx
{
  struct cgroups_manager *m;
  struct cgroups_cgroup *cg;
  bool create; /* a fresh cgroup: nothing to read back before writing */
};

/* Checks that every field of r can be honoured by this host, before anything is created. */
int cg_resources_check (struct cgroups_manager *m, const struct cgroups_resources *r,
                        berth_err *err);
/* Writes r into the cgroup: typed fields, then devices, then unified keys. */
int cg_resources_apply (struct cg_apply_ctx *ctx, const struct cgroups_resources *r,
                        berth_err *err);

/* Applies r's device rules: through devices.allow/deny when v1_fd (the v1 devices directory)
 * is >= 0, else through the eBPF program on the cgroup's v2 directory. */
int cg_devices_apply (struct cgroups_cgroup *cg, const struct cgroups_resources *r, int v1_fd,
                      berth_err *err);
/* Device rules: the v1 write sequence for a rule set. Returns a vector of "allow:<rule>" /
 * "deny:<rule>" lines (exposed for tests). */
int cg_devices_v1_lines (const struct cg_dev_rule *rules, size_t n, const char *field, char ***ret,
                         berth_err *err);
/* Decision of an ordered rule set for one access (per-bit last-match-wins, default deny):
 * the reference the eBPF program is tested against. */
bool cg_devices_allowed (const struct cg_dev_rule *rules, size_t n, char type, uint32_t major,
                         uint32_t minor, unsigned access);

#endif
