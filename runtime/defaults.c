/* The secure defaults, in one place: Docker's capabilities, moby's seccomp profile (as OCI
 * JSON for a given capability set), masked and read-only paths, standard mounts, default
 * devices and the config.json that `berth-runtime spec` writes. */
#include "runtime/runtime.h"

static const char *const default_capabilities[] = { "CAP_CHOWN",
                                                    "CAP_DAC_OVERRIDE",
                                                    "CAP_FSETID",
                                                    "CAP_FOWNER",
                                                    "CAP_MKNOD",
                                                    "CAP_NET_RAW",
                                                    "CAP_SETGID",
                                                    "CAP_SETUID",
                                                    "CAP_SETFCAP",
                                                    "CAP_SETPCAP",
                                                    "CAP_NET_BIND_SERVICE",
                                                    "CAP_SYS_CHROOT",
                                                    "CAP_KILL",
                                                    "CAP_AUDIT_WRITE",
                                                    NULL };

static const char *const default_masked_paths[] = { "/proc/asound",
                                                    "/proc/acpi",
                                                    "/proc/interrupts",
                                                    "/proc/kcore",
                                                    "/proc/keys",
                                                    "/proc/latency_stats",
                                                    "/proc/timer_list",
                                                    "/proc/timer_stats",
                                                    "/proc/sched_debug",
                                                    "/proc/scsi",
                                                    "/sys/firmware",
                                                    "/sys/devices/virtual/powercap",
                                                    NULL };

static const char *const default_readonly_paths[]
    = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL };

static const struct runtime_device default_devices[] = {
  { "/dev/null", 'c', 1, 3, 0666 },    { "/dev/zero", 'c', 1, 5, 0666 },
  { "/dev/full", 'c', 1, 7, 0666 },    { "/dev/random", 'c', 1, 8, 0666 },
  { "/dev/urandom", 'c', 1, 9, 0666 }, { "/dev/tty", 'c', 5, 0, 0666 },
};

/* Docker's allow-list minus /dev/net/tun (10:200): a container that needs a tun device
 * asks for it in linux.devices, like any other device. */
static const struct runtime_device_rule default_device_rules[] = {
  { 'c', -1, -1, "m" }, { 'b', -1, -1, "m" }, { 'c', 1, 3, "rwm" },    { 'c', 1, 5, "rwm" },
  { 'c', 1, 7, "rwm" }, { 'c', 1, 8, "rwm" }, { 'c', 1, 9, "rwm" },    { 'c', 5, 0, "rwm" },
  { 'c', 5, 1, "rwm" }, { 'c', 5, 2, "rwm" }, { 'c', 136, -1, "rwm" },
};

static const char *const default_dev_symlinks[]
    = { "/dev/fd",     "/proc/self/fd",   "/dev/stdin",  "/proc/self/fd/0",
        "/dev/stdout", "/proc/self/fd/1", "/dev/stderr", "/proc/self/fd/2",
        "/dev/ptmx",   "pts/ptmx",        NULL };

const char *const *
runtime_default_capabilities (void)
{
  return default_capabilities;
}

const char *const *
runtime_default_masked_paths (void)
{
  return default_masked_paths;
}

const char *const *
runtime_default_readonly_paths (void)
{
  return default_readonly_paths;
}

const struct runtime_device *
runtime_default_devices (size_t *ret_n)
{
  *ret_n = ARRAY_SIZE (default_devices);
  return default_devices;
}

const struct runtime_device_rule *
runtime_default_device_rules (size_t *ret_n)
{
  *ret_n = ARRAY_SIZE (default_device_rules);
  return default_device_rules;
}

const char *const *
runtime_default_dev_symlinks (void)
{
  return default_dev_symlinks;
}

/* ------------------------------------------------------------------ seccomp
 * moby's profiles/seccomp/default.json, reduced to what applies on the architectures berth
 * builds for. Each rule may be gated on capabilities (allowed only with one of `caps`, or
 * only without all of `nocaps`) and on architectures. */

enum arch_bits
{
  ARCH_X86_64 = 1 << 0,
  ARCH_X86 = 1 << 1,
  ARCH_X32 = 1 << 2,
  ARCH_AARCH64 = 1 << 3,
  ARCH_ARM = 1 << 4,
};

#if defined(__x86_64__)
#define NATIVE_ARCHES (ARCH_X86_64 | ARCH_X86 | ARCH_X32)
static const char *const native_arch_names[]
    = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL };
#elif defined(__aarch64__)
#define NATIVE_ARCHES (ARCH_AARCH64 | ARCH_ARM)
static const char *const native_arch_names[] = { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL };
#else
#error "berth's default seccomp profile knows x86_64 and aarch64 hosts"
#endif

static const char *const allow_always[] = {
  "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
  "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
  "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
  "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
  "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
  "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
  "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
  "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
  "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
  "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
  "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents", "getdents64",
  "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
  "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
  "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
  "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
  "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
  "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
  "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "io_uring_enter",
  "io_uring_register", "io_uring_setup", "ipc", "kill", "landlock_add_rule",
  "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link",
  "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
  "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
  "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
  "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
  "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
  "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
  "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
  "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
  "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
  "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
  "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
  "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir",
  "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
  "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
  "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
  "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
  "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
  "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
  "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
  "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
  "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
  "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
  "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
  "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
  "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
  "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
  "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
  "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
  "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
  "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
  "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
  "write", "writev",
  /* moby gates these on kernel 4.8 (seccomp could be bypassed with ptrace before it);
     berth needs a far newer kernel anyway. */
  "process_vm_readv", "process_vm_writev", "ptrace", NULL
};

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CAPS(...)  ((const char *const[]){ __VA_ARGS__, NULL })

/* A rule with one argument condition at most, which is all moby's profile uses. */
struct seccomp_rule
{
  const char *const *names;
  const char *action;
  int errno_ret; /* 0: none */
  bool has_arg;
  unsigned arg_index;
  uint64_t arg_value;
  const char *arg_op;
  unsigned arches;           /* 0: every architecture */
  const char *const *caps;   /* applies only with one of these */
  const char *const *nocaps; /* applies only without any of these */
};

static const struct seccomp_rule conditional_rules[] = {
  /* socket(AF_VSOCK) is refused: vsock reaches the host outside any network namespace. */
  { NAMES ("socket"), "SCMP_ACT_ALLOW", 0, true, 0, 40, "SCMP_CMP_NE", 0, NULL, NULL },
  { NAMES ("personality"), "SCMP_ACT_ALLOW", 0, true, 0, 0, "SCMP_CMP_EQ", 0, NULL, NULL },
  { NAMES ("personality"), "SCMP_ACT_ALLOW", 0, true, 0, 8, "SCMP_CMP_EQ", 0, NULL, NULL },
  { NAMES ("personality"), "SCMP_ACT_ALLOW", 0, true, 0, 131072, "SCMP_CMP_EQ", 0, NULL, NULL },
  { NAMES ("personality"), "SCMP_ACT_ALLOW", 0, true, 0, 131080, "SCMP_CMP_EQ", 0, NULL, NULL },
  { NAMES ("personality"), "SCMP_ACT_ALLOW", 0, true, 0, 4294967295, "SCMP_CMP_EQ", 0, NULL, NULL },
  { NAMES ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
           "cacheflush", "set_tls"),
    "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, ARCH_ARM | ARCH_AARCH64, NULL, NULL },
  { NAMES ("arch_prctl"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, ARCH_X86_64 | ARCH_X32, NULL,
    NULL },
  { NAMES ("modify_ldt"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, ARCH_X86_64 | ARCH_X32 | ARCH_X86,
    NULL, NULL },
  { NAMES ("open_by_handle_at"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0,
    CAPS ("CAP_DAC_READ_SEARCH"), NULL },
  { NAMES ("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
           "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
           "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
           "umount2", "unshare"),
    "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_ADMIN"), NULL },
  /* Without CAP_SYS_ADMIN, clone may not create namespaces: CLONE_NEWNS|NEWUTS|NEWIPC|
     NEWUSER|NEWPID|NEWNET|NEWCGROUP masked must be 0. */
  { NAMES ("clone"), "SCMP_ACT_ALLOW", 0, true, 0, 2114060288, "SCMP_CMP_MASKED_EQ", 0, NULL,
    CAPS ("CAP_SYS_ADMIN") },
  /* clone3's flags live in memory seccomp cannot read; ENOSYS makes libc fall back to
     clone, whose flags the rule above checks. */
  { NAMES ("clone3"), "SCMP_ACT_ERRNO", ENOSYS, false, 0, 0, NULL, 0, NULL,
    CAPS ("CAP_SYS_ADMIN") },
  { NAMES ("reboot"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_BOOT"), NULL },
  { NAMES ("chroot"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_CHROOT"), NULL },
  { NAMES ("delete_module", "init_module", "finit_module"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL,
    0, CAPS ("CAP_SYS_MODULE"), NULL },
  { NAMES ("acct"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_PACCT"), NULL },
  { NAMES ("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
           "ptrace"),
    "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_PTRACE"), NULL },
  { NAMES ("iopl", "ioperm"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_RAWIO"),
    NULL },
  { NAMES ("settimeofday", "stime", "clock_settime", "clock_settime64"), "SCMP_ACT_ALLOW", 0, false,
    0, 0, NULL, 0, CAPS ("CAP_SYS_TIME"), NULL },
  { NAMES ("vhangup"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_TTY_CONFIG"),
    NULL },
  { NAMES ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"), "SCMP_ACT_ALLOW",
    0, false, 0, 0, NULL, 0, CAPS ("CAP_SYS_NICE"), NULL },
  { NAMES ("syslog"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_SYSLOG"), NULL },
  { NAMES ("bpf"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_BPF"), NULL },
  { NAMES ("perf_event_open"), "SCMP_ACT_ALLOW", 0, false, 0, 0, NULL, 0, CAPS ("CAP_PERFMON"),
    NULL },
};

static bool
caps_contain (const char *const *set, const char *cap)
{
  for (; *set; set++)
    if (strcasecmp (*set, cap) == 0)
      return true;
  return false;
}

static bool
rule_applies (const struct seccomp_rule *r, const char *const *caps)
{
  if (r->arches && !(r->arches & NATIVE_ARCHES))
    return false;
  if (r->caps)
    {
      bool any = false;
      for (const char *const *c = r->caps; *c; c++)
        any = any || caps_contain (caps, *c);
      if (!any)
        return false;
    }
  if (r->nocaps)
    for (const char *const *c = r->nocaps; *c; c++)
      if (caps_contain (caps, *c))
        return false;
  return true;
}

static json_object *
strv_to_json (const char *const *v)
{
  json_object *a = json_object_new_array ();
  for (; v && *v; v++)
    json_object_array_add (a, json_object_new_string (*v));
  return a;
}

json_object *
runtime_default_seccomp (const char *const *capabilities)
{
  json_object *profile = json_object_new_object ();
  json_object *syscalls = json_object_new_array ();
  json_object *allow = json_object_new_object ();

  if (capabilities == NULL)
    capabilities = default_capabilities;

  json_object_object_add (profile, "defaultAction", json_object_new_string ("SCMP_ACT_ERRNO"));
  json_object_object_add (profile, "defaultErrnoRet", json_object_new_int (EPERM));
  json_object_object_add (profile, "architectures", strv_to_json (native_arch_names));

  json_object_object_add (allow, "names", strv_to_json (allow_always));
  json_object_object_add (allow, "action", json_object_new_string ("SCMP_ACT_ALLOW"));
  json_object_array_add (syscalls, allow);

  for (size_t i = 0; i < ARRAY_SIZE (conditional_rules); i++)
    {
      const struct seccomp_rule *r = &conditional_rules[i];
      json_object *o;

      if (!rule_applies (r, capabilities))
        continue;
      o = json_object_new_object ();
      json_object_object_add (o, "names", strv_to_json (r->names));
      json_object_object_add (o, "action", json_object_new_string (r->action));
      if (r->errno_ret)
        json_object_object_add (o, "errnoRet", json_object_new_int (r->errno_ret));
      if (r->has_arg)
        {
          json_object *args = json_object_new_array ();
          json_object *a = json_object_new_object ();
          json_object_object_add (a, "index", json_object_new_int ((int)r->arg_index));
          json_object_object_add (a, "value", json_object_new_uint64 (r->arg_value));
          json_object_object_add (a, "op", json_object_new_string (r->arg_op));
          json_object_array_add (args, a);
          json_object_object_add (o, "args", args);
        }
      json_object_array_add (syscalls, o);
    }
  json_object_object_add (profile, "syscalls", syscalls);
  return profile;
}

/* ------------------------------------------------------------------ mounts and spec */

struct default_mount
{
  const char *destination, *type, *source;
  const char *const *options;
};

static const struct default_mount default_mounts[] = {
  { "/proc", "proc", "proc", NAMES ("nosuid", "noexec", "nodev") },
  { "/dev", "tmpfs", "tmpfs", NAMES ("nosuid", "strictatime", "mode=755", "size=65536k") },
  { "/dev/pts", "devpts", "devpts",
    NAMES ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5") },
  { "/dev/shm", "tmpfs", "shm", NAMES ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k") },
  { "/dev/mqueue", "mqueue", "mqueue", NAMES ("nosuid", "noexec", "nodev") },
  { "/sys", "sysfs", "sysfs", NAMES ("nosuid", "noexec", "nodev", "ro") },
  { "/sys/fs/cgroup", "cgroup", "cgroup", NAMES ("nosuid", "noexec", "nodev", "relatime", "ro") },
};

json_object *
runtime_default_mounts (void)
{
  json_object *a = json_object_new_array ();
  for (size_t i = 0; i < ARRAY_SIZE (default_mounts); i++)
    {
      json_object *m = json_object_new_object ();
      json_object_object_add (m, "destination",
                              json_object_new_string (default_mounts[i].destination));
      json_object_object_add (m, "type", json_object_new_string (default_mounts[i].type));
      json_object_object_add (m, "source", json_object_new_string (default_mounts[i].source));
      json_object_object_add (m, "options", strv_to_json (default_mounts[i].options));
      json_object_array_add (a, m);
    }
  return a;
}

static json_object *
default_process (void)
{
  static const char *const env[]
      = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", NULL };
  json_object *p = json_object_new_object ();
  json_object *user = json_object_new_object ();
  json_object *caps = json_object_new_object ();
  json_object *rlimits = json_object_new_array ();
  json_object *nofile = json_object_new_object ();

  json_object_object_add (p, "terminal", json_object_new_boolean (false));
  json_object_object_add (user, "uid", json_object_new_int (0));
  json_object_object_add (user, "gid", json_object_new_int (0));
  json_object_object_add (p, "user", user);
  json_object_object_add (p, "args", strv_to_json (NAMES ("sh")));
  json_object_object_add (p, "env", strv_to_json (env));
  json_object_object_add (p, "cwd", json_object_new_string ("/"));
  /* No inheritable or ambient capabilities: inheritable ones would survive into a
     file-capability binary's permitted set (CVE-2022-24769). */
  json_object_object_add (caps, "bounding", strv_to_json (default_capabilities));
  json_object_object_add (caps, "effective", strv_to_json (default_capabilities));
  json_object_object_add (caps, "permitted", strv_to_json (default_capabilities));
  json_object_object_add (p, "capabilities", caps);
  json_object_object_add (nofile, "type", json_object_new_string ("RLIMIT_NOFILE"));
  json_object_object_add (nofile, "hard", json_object_new_int (1024));
  json_object_object_add (nofile, "soft", json_object_new_int (1024));
  json_object_array_add (rlimits, nofile);
  json_object_object_add (p, "rlimits", rlimits);
  json_object_object_add (p, "noNewPrivileges", json_object_new_boolean (true));
  return p;
}

json_object *
runtime_spec_default (void)
{
  static const char *const namespaces[]
      = { "pid", "network", "ipc", "uts", "mount", "cgroup", NULL };
  json_object *spec = json_object_new_object ();
  json_object *root = json_object_new_object ();
  json_object *lnx = json_object_new_object ();
  json_object *ns = json_object_new_array ();
  json_object *resources = json_object_new_object ();
  json_object *devices = json_object_new_array ();
  json_object *deny = json_object_new_object ();

  json_object_object_add (spec, "ociVersion", json_object_new_string (RUNTIME_SPEC_CONFIG_VERSION));
  json_object_object_add (spec, "process", default_process ());
  json_object_object_add (root, "path", json_object_new_string ("rootfs"));
  json_object_object_add (root, "readonly", json_object_new_boolean (true));
  json_object_object_add (spec, "root", root);
  json_object_object_add (spec, "hostname", json_object_new_string ("berth"));
  json_object_object_add (spec, "mounts", runtime_default_mounts ());

  for (const char *const *t = namespaces; *t; t++)
    {
      json_object *o = json_object_new_object ();
      json_object_object_add (o, "type", json_object_new_string (*t));
      json_object_array_add (ns, o);
    }
  /* Deny every device; berth adds the default devices' rules itself (see
     runtime_default_device_rules) and those of linux.devices. */
  json_object_object_add (deny, "allow", json_object_new_boolean (false));
  json_object_object_add (deny, "access", json_object_new_string ("rwm"));
  json_object_array_add (devices, deny);
  json_object_object_add (resources, "devices", devices);
  json_object_object_add (lnx, "resources", resources);
  json_object_object_add (lnx, "namespaces", ns);
  json_object_object_add (lnx, "seccomp", runtime_default_seccomp (NULL));
  json_object_object_add (lnx, "maskedPaths", strv_to_json (default_masked_paths));
  json_object_object_add (lnx, "readonlyPaths", strv_to_json (default_readonly_paths));
  json_object_object_add (spec, "linux", lnx);
  return spec;
}
