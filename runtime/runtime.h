/* berth runtime: OCI runtime-spec 1.x containers on Linux, the one header the rest of berth
 * includes. Owns the secure defaults that berth-runtime and the agent share, the parsed OCI
 * configuration, and the container operations behind the berth-runtime command line. */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include "common/common.h"

#include <signal.h>
#include <sys/types.h>

/* The runtime-spec version berth implements and reports in state (it accepts every 1.x
 * config.json). */
#define RUNTIME_OCI_VERSION "1.2.0"
/* The ociVersion of the config.json berth writes: the document uses nothing newer, and older
 * runtimes (crun 1.8, runc 1.1) refuse a version they do not know. */
#define RUNTIME_SPEC_CONFIG_VERSION "1.0.2"

/* ------------------------------------------------------------------ secure defaults
 * One place for the defaults, so berth-runtime spec, the agent's task conversion and the
 * runtime itself cannot drift apart. The lists are static and NULL-terminated; the JSON
 * returned is a new object owned by the caller (json_object_put). */

/* The config.json `berth-runtime spec` writes: Docker's 14 capabilities (bounding, effective,
 * permitted), noNewPrivileges, the default seccomp profile, masked and read-only paths,
 * the standard mounts and new pid, network, ipc, uts, mount and cgroup namespaces. */
json_object *runtime_spec_default (void);

/* Docker's default capability set, as OCI names ("CAP_CHOWN", ...). */
const char *const *runtime_default_capabilities (void);

/* linux.maskedPaths and linux.readonlyPaths as Docker sets them. */
const char *const *runtime_default_masked_paths (void);
const char *const *runtime_default_readonly_paths (void);

/* The OCI linux.seccomp object equivalent to moby's default profile for a container with
 * the given capabilities (NULL: the default capabilities): syscalls gated on a capability
 * are allowed only when it is in the set, clone3 fails with ENOSYS without CAP_SYS_ADMIN,
 * and denied calls fail with EPERM. Architectures are the host's native ones (x86_64 with
 * x86 and x32; aarch64 with arm). Syscalls newer than the profile fail with ENOSYS when it
 * is loaded (a property of how berth compiles every profile, see runtime_seccomp_compile). */
json_object *runtime_default_seccomp (const char *const *capabilities);

/* The standard mounts array (proc, /dev tmpfs, devpts, /dev/shm, mqueue, sysfs, cgroup). */
json_object *runtime_default_mounts (void);

/* Device nodes berth creates in every container's /dev besides linux.devices. */
struct runtime_device
{
  const char *path;
  char type; /* 'c' or 'b' */
  int64_t major, minor;
  mode_t mode; /* permission bits */
};
const struct runtime_device *runtime_default_devices (size_t *ret_n);

/* Device cgroup allow rules every container gets (for its default devices, /dev/pts,
 * /dev/ptmx, /dev/console, and mknod of any node); -1 is a wildcard major or minor. */
struct runtime_device_rule
{
  char type; /* 'c', 'b' or 'a' */
  int64_t major, minor;
  const char *access; /* subset of "rwm" */
};
const struct runtime_device_rule *runtime_default_device_rules (size_t *ret_n);

/* Symbolic links created in /dev ("fd" -> "/proc/self/fd", ...), NULL-terminated pairs. */
const char *const *runtime_default_dev_symlinks (void);

/* ------------------------------------------------------------------ containers
 * The operations of the OCI runtime command line (berth-runtime is a thin layer over them).
 * Each takes the state root; a failed operation leaves the host as it found it. */

struct runtime_context
{
  const char *root; /* state directory; NULL: /run/berth-runtime */
  /* Failures the runtime-spec says to log and carry on after (poststart and poststop
     hooks). NULL: dropped. */
  void (*warn) (void *userdata, const char *msg);
  void *userdata;
};

struct runtime_create_options
{
  const char *bundle;         /* NULL: the current directory */
  const char *pid_file;       /* written atomically once the container is created */
  const char *console_socket; /* AF_UNIX path that receives the terminal's master */
  int preserve_fds;           /* fds 3 .. 3+N-1 are passed to the container */
  bool no_new_keyring;        /* keep the caller's session keyring (runc's --no-new-keyring) */
};

/* The container's first process is left waiting for start; its stdio are the caller's
 * fds 0-2. When the caller exits, that process is re-parented to the nearest subreaper. */
int runtime_create (const struct runtime_context *ctx, const char *id,
                    const struct runtime_create_options *o, berth_err *err);
int runtime_start (const struct runtime_context *ctx, const char *id, berth_err *err);
/* create + start. detach: returns once started. Otherwise waits for the process (signals
 * the caller receives are forwarded to it), deletes the container and sets *ret_status to
 * its exit status (128 + signal when killed). */
int runtime_run (const struct runtime_context *ctx, const char *id,
                 const struct runtime_create_options *o, bool detach, int *ret_status,
                 berth_err *err);
/* The state document: ociVersion, id, status, pid, bundle, annotations (+ rootfs, created). */
int runtime_state (const struct runtime_context *ctx, const char *id, json_object **ret,
                   berth_err *err);
/* Array of state documents. */
int runtime_list (const struct runtime_context *ctx, json_object **ret, berth_err *err);
/* all: every process of the container's cgroup. A container neither created nor running
 * cannot be signalled (an error, as the runtime-spec requires). */
int runtime_kill (const struct runtime_context *ctx, const char *id, int sig, bool all,
                  berth_err *err);
/* force: kill a created or running container first. */
int runtime_delete (const struct runtime_context *ctx, const char *id, bool force, berth_err *err);

struct runtime_exec_options
{
  const char *process_file; /* a process.json; NULL: the container's process with args */
  char **args;              /* used when process_file is NULL */
  char **env;               /* NAME=VALUE added to (or replacing in) the environment */
  const char *cwd;
  const char *user; /* "uid[:gid]" */
  bool tty;
  bool detach;
  const char *pid_file;
  const char *console_socket;
  int preserve_fds;
};
/* Runs a process in a running container (its namespaces, cgroup, seccomp filter and, unless
 * the process says otherwise, capabilities). Not detached: waits, forwarding signals, and
 * sets *ret_status like runtime_run. */
int runtime_exec (const struct runtime_context *ctx, const char *id,
                  const struct runtime_exec_options *o, int *ret_status, berth_err *err);

int runtime_pause (const struct runtime_context *ctx, const char *id, berth_err *err);
int runtime_resume (const struct runtime_context *ctx, const char *id, berth_err *err);
/* linux.resources to apply to the live container. */
int runtime_update (const struct runtime_context *ctx, const char *id, json_object *resources,
                    berth_err *err);
/* Host pids of every process in the container. */
int runtime_ps (const struct runtime_context *ctx, const char *id, pid_t **ret, size_t *ret_n,
                berth_err *err);
/* Calls fn with each event ({"type":"stats"|"oom"|"pids.max",...}) until fn returns
 * non-zero or the container stops; stats_once: one stats event and return. */
typedef int (*runtime_event_fn) (json_object *event, void *userdata);
int runtime_events (const struct runtime_context *ctx, const char *id, bool stats_once,
                    uint64_t interval_ns, runtime_event_fn fn, void *userdata, berth_err *err);

/* "KILL", "SIGKILL", "9", "RTMIN+3". -EINVAL when unknown. */
int runtime_signal_parse (const char *s, int *ret);

/* CVE-2019-5736: re-executes the calling program from a sealed, read-only memfd copy of
 * itself unless it already runs from one, so that no process in a container can ever reach
 * (and overwrite) the runtime's binary through /proc/PID/exe. Returns only on failure or
 * when already sealed (0). */
int runtime_exe_seal (char **argv, berth_err *err);

#endif
