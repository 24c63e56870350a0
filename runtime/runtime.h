/* berth runtime: OCI runtime-spec 1.x containers on Linux, the one header the rest of berth
 * includes. Owns the secure defaults that berth-runtime and the agent share, the parsed OCI
 * configuration, and the container operations behind the berth-runtime command line. */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include "common/common.h"

#include <signal.h>
#include <sys/types.h>

/* The runtime-spec version berth writes and implements (it accepts every 1.x document). */
#define RUNTIME_OCI_VERSION "1.2.0"

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

#endif
