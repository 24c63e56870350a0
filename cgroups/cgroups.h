/* berth cgroups: one interface over cgroup v2 (unified hosts) and v1 (legacy and hybrid hosts).
 * Owns where berth's cgroups live, OCI linux.resources, device rules (v1 files or the eBPF
 * program from ebpf/), stats, OOM and pids.max events, freeze, kill and teardown.
 * docs/cgroups.md describes the layout, the mapping of every field and what fails where. */
#ifndef BERTH_CGROUPS_H
#define BERTH_CGROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

enum cgroups_layout
{
  CGROUPS_LAYOUT_UNIFIED = 1, /* cgroup2 only, mounted at /sys/fs/cgroup */
  CGROUPS_LAYOUT_HYBRID,      /* v1 controllers, plus a cgroup2 tree (usually controller-less) */
  CGROUPS_LAYOUT_LEGACY,      /* v1 only */
};

struct cgroups_manager;
struct cgroups_resources;
struct cgroups_cgroup;

/* ------------------------------------------------------------------ manager
 * The manager knows the host's hierarchies and berth's root in each of them.
 *
 * root: NULL places berth's cgroups under the caller's own cgroup in every hierarchy (on this
 * kind of host memory:/process_api/<hash>, cpu:/ ...): berth never creates a cgroup beside
 * the one it was started in. "/a/b" is that path in every hierarchy (an operator who owns the
 * hierarchy says so); "a/b" is that path below the caller's own cgroup.
 * Nothing is created until cgroups_create. */
int cgroups_manager_open (const char *root, struct cgroups_manager **ret, berth_err *err);
void cgroups_manager_free (struct cgroups_manager *m);
enum cgroups_layout cgroups_manager_layout (const struct cgroups_manager *m);
const char *cgroups_layout_name (enum cgroups_layout layout);
/* Whether the host has the named controller ("memory", "cpu", "hugetlb", ...) in any hierarchy. */
bool cgroups_manager_has_controller (const struct cgroups_manager *m, const char *controller);
/* Removes berth's root directories when they are empty (what cgroups_create made of the
 * root; the caller's own cgroup is never removed). For tests and uninstall. */
int cgroups_manager_remove_root (struct cgroups_manager *m, berth_err *err);

/* cgroup v2 with Delegate=yes (systemd): a cgroup that holds processes cannot give
 * controllers to its children ("no internal processes"). Moves the calling process into
 * <own cgroup>/<leaf> and returns in *ret_root the own cgroup path to pass as the manager
 * root. A process already in a cgroup named <leaf> (systemd's DelegateSubgroup=<leaf>, or a
 * restart after an earlier move) stays there and gets its parent as the root. Every
 * hierarchy where that rule does not apply is left alone. */
int cgroups_delegate_self (const char *leaf, char **ret_root, berth_err *err);

/* ------------------------------------------------------------------ resources
 * A version-neutral, validated form of OCI linux.resources. Parsing checks types, ranges and
 * unknown keys (an unknown key could be a limit silently ignored) and names the JSON path;
 * whether the host can honour a field is decided by cgroups_create/cgroups_update, which
 * fail naming the field. */
int cgroups_resources_parse (json_object *linux_resources, const char *json_path,
                             struct cgroups_resources **ret, berth_err *err);
/* An empty set (nothing to change), for callers that build resources in code. */
struct cgroups_resources *cgroups_resources_new (void);
/* Appends an allow rule after the parsed linux.resources.devices rules (the runtime's
 * default devices and linux.devices). type 'a', 'b' or 'c'; major/minor -1 for any;
 * access a non-empty subset of "rwm". Rules are evaluated in order and, for each of r, w
 * and m, the last rule that matches the device decides; a device no rule matches is
 * denied. A resources set with no device rule at all leaves device access unmanaged. */
int cgroups_resources_allow_device (struct cgroups_resources *r, char type, int64_t major,
                                    int64_t minor, const char *access);
/* The same, as a deny rule. */
int cgroups_resources_deny_device (struct cgroups_resources *r, char type, int64_t major,
                                   int64_t minor, const char *access);
/* Limits in code, for the agent's task cgroup (ECS task cpu/memory): memory limit in bytes
 * (-1: no limit), cpu quota/period in microseconds (quota -1: no limit), cpu shares
 * (2..262144), pids limit (-1: no limit). */
void cgroups_resources_set_memory_limit (struct cgroups_resources *r, int64_t limit);
void cgroups_resources_set_cpu_quota (struct cgroups_resources *r, int64_t quota, uint64_t period);
void cgroups_resources_set_cpu_shares (struct cgroups_resources *r, uint64_t shares);
void cgroups_resources_set_pids_limit (struct cgroups_resources *r, int64_t limit);
void cgroups_resources_free (struct cgroups_resources *r);

/* The OCI cpu.shares -> cgroup v2 cpu.weight conversion that crun and runc share
 * (log-quadratic: 2 -> 1, 1024 -> 100, 262144 -> 10000; 0 stays 0, "unset"). */
uint64_t cgroups_cpu_shares_to_weight (uint64_t shares);
/* OCI blockIO weight (10..1000) -> cgroup v2 io.weight (1..10000); 0 stays 0. */
uint64_t cgroups_blkio_weight_to_io_weight (uint64_t weight);

/* ------------------------------------------------------------------ a cgroup
 * oci_cgroups_path: the OCI linux.cgroupsPath, absolute or relative; both are taken below the
 * manager's root in each hierarchy (an absolute path is relative to the root as a cgroup
 * namespace would make it; where the root is the hierarchy's root this is exactly the OCI
 * rule "relative to the cgroups mount point"). NULL: "berth/<id>" below the root.
 * Fails with EEXIST when the cgroup exists and holds processes (another container's).
 * Directories created on the way are marked and removed by cgroups_destroy once empty.
 * On failure nothing created is left behind. */
int cgroups_create (struct cgroups_manager *m, const char *oci_cgroups_path, const char *id,
                    const struct cgroups_resources *r, struct cgroups_cgroup **ret, berth_err *err);
/* Reopens a cgroup from the string cgroups_path() returned (kept in a state file), in this
 * or another process. ENOENT when it is gone from every hierarchy. */
int cgroups_open (struct cgroups_manager *m, const char *saved_path, struct cgroups_cgroup **ret,
                  berth_err *err);
/* Self-contained: absolute paths per hierarchy, independent of the caller's own cgroup. */
const char *cgroups_path (const struct cgroups_cgroup *cg);
/* O_DIRECTORY fd of the cgroup for clone3 (CLONE_INTO_CGROUP); -1 unless the host is pure
 * v2 (on v1 the child must call cgroups_enter before exec). Owned by cg. */
int cgroups_v2_dirfd (const struct cgroups_cgroup *cg);
/* Moves pid (the whole thread group) into the cgroup in every hierarchy. */
int cgroups_enter (struct cgroups_cgroup *cg, pid_t pid, berth_err *err);
/* Applies the fields present in r to the live cgroup (devices: the whole rule set is
 * replaced atomically); fields absent from r keep their values. */
int cgroups_update (struct cgroups_cgroup *cg, const struct cgroups_resources *r, berth_err *err);
/* Signals every process of the cgroup and its descendants. SIGKILL uses cgroup.kill where
 * the kernel has it; otherwise (and for other signals) the cgroup is frozen, every process
 * signalled, then thawed, so that no fork escapes. */
int cgroups_kill (struct cgroups_cgroup *cg, int sig, berth_err *err);
/* Freezes or thaws, and waits until the kernel reports the cgroup frozen/thawed. */
int cgroups_freeze (struct cgroups_cgroup *cg, bool frozen, berth_err *err);
/* Whether the cgroup is frozen now. */
int cgroups_frozen (struct cgroups_cgroup *cg, bool *ret, berth_err *err);
/* Every process of the cgroup and its descendants (sorted, no duplicates). */
int cgroups_pids (struct cgroups_cgroup *cg, pid_t **ret, size_t *ret_n, berth_err *err);

/* ------------------------------------------------------------------ stats
 * One struct for both versions. A field the host cannot report keeps 0 and its bit is
 * clear in `have`. All counters are cumulative since the cgroup was created. */
enum
{
  CGROUPS_STATS_CPU = 1u << 0, /* usage, user, system */
  CGROUPS_STATS_CPU_THROTTLE = 1u << 1,
  CGROUPS_STATS_MEMORY = 1u << 2, /* current, limit and memory.stat fields */
  CGROUPS_STATS_MEMORY_PEAK = 1u << 3,
  CGROUPS_STATS_SWAP = 1u << 4,
  CGROUPS_STATS_PIDS = 1u << 5,
  CGROUPS_STATS_IO = 1u << 6,
};

struct cgroups_stats_io
{
  uint32_t major, minor;
  uint64_t read_bytes, write_bytes, read_ios, write_ios;
};

struct cgroups_stats
{
  unsigned have; /* CGROUPS_STATS_* */
  uint64_t cpu_usage_ns, cpu_user_ns, cpu_system_ns;
  uint64_t cpu_nr_periods, cpu_nr_throttled, cpu_throttled_ns;
  uint64_t memory_current, memory_peak;
  uint64_t memory_limit; /* UINT64_MAX: none */
  /* memory.stat (v2 names; v1 total_* values mapped onto them) */
  uint64_t memory_anon, memory_file, memory_kernel_stack, memory_slab, memory_sock, memory_shmem,
      memory_file_mapped, memory_file_dirty, memory_file_writeback, memory_active_anon,
      memory_inactive_anon, memory_active_file, memory_inactive_file, memory_unevictable,
      memory_pgfault, memory_pgmajfault;
  uint64_t swap_current;
  uint64_t swap_limit; /* UINT64_MAX: none; v1: the memory+swap limit minus the memory limit */
  uint64_t pids_current;
  uint64_t pids_limit;         /* UINT64_MAX: none */
  struct cgroups_stats_io *io; /* n_io entries, owned; reused by the next read */
  size_t n_io, cap_io;
};

/* Fills *ret; reuses ret->io's storage (zero the struct before the first read; release with
 * cgroups_stats_release). Plain reads of the cgroup files: no process is started. */
int cgroups_stats_read (struct cgroups_cgroup *cg, struct cgroups_stats *ret, berth_err *err);
/* Keeps the files stats reads open between reads (12 fds per cgroup on a hybrid host, 10 on v2)
 * and re-reads them with pread: a third of the cost when the same cgroups are read again
 * and again (berth stats). Off by default; the fds go with cgroups_destroy/cgroups_free. */
void cgroups_stats_keep_open (struct cgroups_cgroup *cg, bool keep_open);
void cgroups_stats_release (struct cgroups_stats *s);

/* ------------------------------------------------------------------ events
 * cgroups_events_open returns a pollable fd (owned by cg, the same on every call) that
 * becomes readable when an OOM, an OOM kill, a pids.max hit or a change of "populated"
 * happens: v2 memory.events / pids.events / cgroup.events through inotify; v1
 * memory.oom_control through cgroup.event_control with an eventfd, and pids.events through
 * inotify, all behind one epoll fd. cgroups_events_read drains it and reads the counters. */
struct cgroups_events
{
  uint64_t oom;      /* the cgroup hit its memory limit and the OOM killer was invoked */
  uint64_t oom_kill; /* processes killed by the OOM killer in the cgroup */
  uint64_t pids_max; /* fork/clone refused by pids.max */
  bool populated;    /* some process is still in the cgroup or a descendant */
};

int cgroups_events_open (struct cgroups_cgroup *cg, int *ret_fd, berth_err *err);
int cgroups_events_read (struct cgroups_cgroup *cg, struct cgroups_events *ret, berth_err *err);

/* ------------------------------------------------------------------ teardown
 * Kills whatever is left, waits for the cgroup to empty and removes it (descendants first)
 * from every hierarchy, with bounded retries, then the marked parents cgroups_create made
 * once they are empty. ENOENT everywhere counts as removed. The handle stays valid for
 * cgroups_free only. */
int cgroups_destroy (struct cgroups_cgroup *cg, berth_err *err);
void cgroups_free (struct cgroups_cgroup *cg); /* the handle only */

/* ------------------------------------------------------------------ hierarchies
 * For the runtime, which mounts "cgroup" inside a container. Called once per hierarchy the
 * cgroup lives in (cg NULL: every hierarchy, dir is berth's root). */
struct cgroups_hierarchy
{
  bool unified;            /* cgroup2 */
  const char *controllers; /* v1: mount options as in /proc/self/cgroup, e.g. "cpu,cpuacct",
                              "name=systemd"; v2: space separated cgroup.controllers */
  const char *name;        /* the mount's directory name under /sys/fs/cgroup: "cpu,cpuacct",
                              "systemd", "unified"; "" for a pure v2 host */
  const char *mountpoint;  /* host path of the hierarchy's mount */
  const char *dir;         /* host path of the cgroup's directory */
  const char *path;        /* the cgroup's path inside the hierarchy ("/a/b") */
};
typedef int (*cgroups_hierarchy_fn) (const struct cgroups_hierarchy *h, void *userdata,
                                     berth_err *err);
int cgroups_foreach_hierarchy (struct cgroups_manager *m, const struct cgroups_cgroup *cg,
                               cgroups_hierarchy_fn fn, void *userdata, berth_err *err);

#endif
