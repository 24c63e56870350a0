/* The container's first process, and a process exec'd into a running container: the steps
 * between clone and execve, in the order the kernel needs them. Everything was prepared by
 * the parent; this code only reads it and makes syscalls, and reports a failure as one
 * formatted message on the sync socket. */
#include "runtime/internal.h"

#include <limits.h>
#include <linux/close_range.h>
#include <linux/ioprio.h>
#include <linux/keyctl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* Where a failure goes: the sync socket until the parent is gone (create returned), then
 * the start socket, read by `berth-runtime start`. */
static int report_fd = -1;

void
rt_child_fail (struct rt_init *init, int code, const char *fmt, ...)
{
  char text[RT_MSG_TEXT_MAX];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (text, sizeof text, fmt, ap);
  va_end (ap);
  if (code > 0)
    {
      size_t n = strlen (text);
      snprintf (text + n, sizeof text - n, ": %s", strerror (code));
    }
  rt_msg_send (report_fd >= 0 ? report_fd : init->sync_fd, RT_MSG_ERROR, code, text, -1);
  _exit (127);
}

static void
reset_signals (void)
{
  struct sigaction sa = { .sa_handler = SIG_DFL };
  sigset_t none;

  /* The runtime may ignore or block signals (SIGPIPE, the ones it forwards); a container
     must start with the defaults, and an ignored disposition would survive execve. */
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction (sig, &sa, NULL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

/* The clone inherited every fd of the runtime: state directory (and its flock), cgroup
 * directories, the bundle. Only what this process uses stays open; nothing else may sit in
 * a process that the container can see (CVE-2024-21626 was a leaked cgroup fd). */
static void
close_inherited_fds (struct rt_init *init)
{
  int keep[RT_NS_NKINDS + 8], n = 0, from = 3 + init->preserve_fds;

  keep[n++] = init->sync_fd;
  keep[n++] = init->start_fd;
  keep[n++] = init->start_peer_fd;
  keep[n++] = init->join_pidfd;
  keep[n++] = init->root_fd;
  for (int k = 0; k < RT_NS_NKINDS; k++)
    keep[n++] = init->ns_fds[k];
  /* Insertion sort: a dozen fds, and no allocation in this process (qsort may allocate). */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--)
      {
        int t = keep[j];
        keep[j] = keep[j - 1];
        keep[j - 1] = t;
      }
  for (int i = 0; i < n; i++)
    {
      if (keep[i] < from)
        continue;
      if (keep[i] > from && syscall (SYS_close_range, (unsigned)from, (unsigned)keep[i] - 1, 0) < 0)
        rt_child_fail (init, errno, "close_range");
      from = keep[i] + 1;
    }
  if (syscall (SYS_close_range, (unsigned)from, ~0U, 0) < 0)
    rt_child_fail (init, errno, "close_range");
}

static void
wait_for (struct rt_init *init, uint32_t type)
{
  struct rt_msg m;
  int r = rt_msg_recv (init->sync_fd, &m, NULL);
  /* EOF: the runtime died or gave up; it cleans up after us. */
  if (r == 0)
    _exit (1);
  if (r < 0)
    rt_child_fail (init, -r, "read the sync socket");
  if (m.type != type)
    rt_child_fail (init, 0, "sync: expected message %u, got %u", type, m.type);
  if (type == RT_MSG_GO)
    init->host_pid = m.code;
}

/* Root of the user namespace we are in, when its mappings have one: files we create get an
 * owner it knows (an unmapped one is EOVERFLOW). */
static void
become_userns_root (struct rt_init *init)
{
  if (syscall (SYS_setresgid, 0, 0, 0) < 0 && errno != EINVAL)
    rt_child_fail (init, errno, "setresgid 0 in the user namespace");
  if (syscall (SYS_setresuid, 0, 0, 0) < 0 && errno != EINVAL)
    rt_child_fail (init, errno, "setresuid 0 in the user namespace");
}

/* The offsets of a time namespace unshared here, before any process enters it. */
static void
write_time_offsets (struct rt_init *init, int fd)
{
  char buf[RT_TIME_OFFSETS_MAX];
  size_t len = rt_time_offsets_format (init->config, buf, sizeof buf);

  if (len > 0 && write (fd, buf, len) != (ssize_t)len)
    rt_child_fail (init, errno, "linux.timeOffsets: write /proc/self/timens_offsets");
  close (fd);
}

/* New namespaces must be owned by the container's user namespace. Joined by path: join it,
 * then unshare them. New, with a new time namespace: the clone made the others in it, the
 * time namespace is unshared now. unshare(CLONE_NEWPID) and unshare(CLONE_NEWTIME) apply to
 * children only, so then the container's first process is forked here, and this one hands
 * it over to the runtime and exits. */
static void
unshare_then_fork (struct rt_init *init, int offsets_fd)
{
  const int for_children = CLONE_NEWPID | CLONE_NEWTIME;
  int fd = init->ns_fds[RT_NS_USER];
  pid_t pid;
  int pidfd;
  bool in_cgroup;

  if (fd >= 0)
    {
      if (setns (fd, CLONE_NEWUSER) < 0)
        rt_child_fail (init, errno, "join the user namespace `%s`",
                       init->config->ns[RT_NS_USER].path);
      close (fd);
      init->ns_fds[RT_NS_USER] = -1;
      become_userns_root (init);
    }
  if ((init->unshare_flags & ~for_children) && unshare (init->unshare_flags & ~for_children) < 0)
    rt_child_fail (init, errno, "create namespaces in the container's user namespace");
  if (init->unshare_flags & CLONE_NEWTIME)
    {
      if (unshare (CLONE_NEWTIME) < 0)
        rt_child_fail (init, errno, "create the time namespace in the container's user namespace");
      write_time_offsets (init, offsets_fd);
    }
  if (!(init->unshare_flags & for_children))
    return;
  pid = rt_clone (init->unshare_flags & CLONE_NEWPID, -1, &pidfd, &in_cgroup);
  if (pid < 0)
    rt_child_fail (init, -pid, "fork into the new pid and time namespaces");
  if (pid > 0)
    {
      rt_msg_send (init->sync_fd, RT_MSG_NEWPID, pid, NULL, pidfd);
      _exit (0);
    }
  /* The container's first process: the runtime sends GO again, with our host pid. */
  wait_for (init, RT_MSG_GO);
}

static void
join_namespaces (struct rt_init *init, int offsets_fd)
{
  if (init->unshare_flags)
    unshare_then_fork (init, offsets_fd);
  for (int k = 0; k < RT_NS_NKINDS; k++)
    {
      /* A pid namespace is joined by the parent: it applies to children only. */
      if (k == RT_NS_PID || init->ns_fds[k] < 0)
        continue;
      if (setns (init->ns_fds[k], rt_ns_info[k].clone_flag) < 0)
        rt_child_fail (init, errno, "join the %s namespace `%s`", rt_ns_info[k].oci_name,
                       init->config->ns[k].path);
      close (init->ns_fds[k]);
      init->ns_fds[k] = -1;
      if (k == RT_NS_USER)
        become_userns_root (init);
    }
  if (init->unshare_cgroupns && unshare (CLONE_NEWCGROUP) < 0)
    rt_child_fail (init, errno, "create the cgroup namespace");
}

static void
set_identity_names (struct rt_init *init)
{
  const struct rt_config *c = init->config;
  if (c->hostname && sethostname (c->hostname, strlen (c->hostname)) < 0)
    rt_child_fail (init, errno, "hostname: sethostname `%s`", c->hostname);
  if (c->domainname && setdomainname (c->domainname, strlen (c->domainname)) < 0)
    rt_child_fail (init, errno, "domainname: setdomainname `%s`", c->domainname);
}

static void
set_oom_score_adj (struct rt_init *init)
{
  const struct rt_process *p = init->process;
  char buf[16];
  int fd, n;

  if (!p->has_oom_score_adj)
    return;
  fd = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    rt_child_fail (init, errno, "process.oomScoreAdj: open /proc/self/oom_score_adj");
  n = snprintf (buf, sizeof buf, "%d", p->oom_score_adj);
  if (write (fd, buf, (size_t)n) != n)
    rt_child_fail (init, errno == EACCES ? EPERM : errno,
                   "process.oomScoreAdj: set %d (lowering it needs CAP_SYS_RESOURCE)",
                   p->oom_score_adj);
  close (fd);
}

/* CVE-2024-21626: the cwd is resolved beneath the container's root (no magic links such as
 * /proc/self/fd/N onto a leaked host directory), and getcwd must then see a path inside the
 * root; "(unreachable)" or an error means we are outside of it. */
static void
enter_cwd (struct rt_init *init, bool create)
{
  struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  const char *cwd = init->process->cwd;
  char buf[PATH_MAX];
  long fd = syscall (SYS_openat2, AT_FDCWD, cwd, &how, sizeof how);

  if (fd < 0 && errno == ENOENT && create)
    {
      /* runc and crun create a missing cwd; images often lack the one a config names. */
      char path[PATH_MAX];
      snprintf (path, sizeof path, "%s", cwd);
      for (char *p = path + 1;; p++)
        if (*p == '/' || *p == '\0')
          {
            char save = *p;
            *p = '\0';
            if (mkdir (path, 0755) < 0 && errno != EEXIST)
              rt_child_fail (init, errno, "process.cwd: create `%s`", path);
            *p = save;
            if (save == '\0')
              break;
          }
      fd = syscall (SYS_openat2, AT_FDCWD, cwd, &how, sizeof how);
    }
  if (fd < 0)
    rt_child_fail (init, errno, "process.cwd: open `%s`", cwd);
  if (fchdir ((int)fd) < 0)
    rt_child_fail (init, errno, "process.cwd: chdir `%s`", cwd);
  close ((int)fd);
  if (getcwd (buf, sizeof buf) == NULL || buf[0] != '/')
    rt_child_fail (init, 0, "process.cwd: `%s` is outside of the container's root", cwd);
}

static void
set_process_attributes (struct rt_init *init)
{
  const struct rt_process *p = init->process;

  for (size_t i = 0; i < p->n_rlimits; i++)
    {
      struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
      if (prlimit (0, (__rlimit_resource_t)p->rlimits[i].resource, &rl, NULL) < 0)
        rt_child_fail (init, errno, "process.rlimits: set %s", p->rlimits[i].name);
    }
  if (p->has_ioprio && syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, p->ioprio) < 0)
    rt_child_fail (init, errno, "process.ioPriority: ioprio_set");
  if (p->has_scheduler)
    {
      struct
      {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
      } attr = { 48,
                 p->sched.policy,
                 p->sched.flags,
                 p->sched.nice,
                 p->sched.priority,
                 p->sched.runtime,
                 p->sched.deadline,
                 p->sched.period };
      if (syscall (SYS_sched_setattr, 0, &attr, 0) < 0)
        rt_child_fail (init, errno, "process.scheduler: sched_setattr");
    }
  if (init->config->has_personality && personality (init->config->personality) < 0)
    rt_child_fail (init, errno, "linux.personality");
}

/* Keeps fds 3 .. 3+N-1 across exec and marks every other fd above 2 close-on-exec: nothing
 * the runtime's caller leaked reaches the container (CVE-2024-21626 came from one). */
static void
prepare_fds (struct rt_init *init)
{
  for (int fd = 3; fd < 3 + init->preserve_fds; fd++)
    if (fcntl (fd, F_SETFD, 0) < 0)
      rt_child_fail (init, errno, "--preserve-fds: fd %d", fd);
  if (syscall (SYS_close_range, 3 + init->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    rt_child_fail (init, errno, "close_range");
}

/* execvp's lookup, with the container's PATH and after the user switch (so a program the
 * user may not run is reported now, at create, not at start). */
static const char *
find_program (struct rt_init *init, char *buf, size_t len)
{
  const char *arg0 = init->process->args[0];
  if (strchr (arg0, '/'))
    {
      struct stat st;
      if (stat (arg0, &st) < 0)
        rt_child_fail (init, errno, "process.args[0]: `%s`", arg0);
      if (!S_ISREG (st.st_mode) || access (arg0, X_OK) < 0)
        rt_child_fail (init, S_ISREG (st.st_mode) ? errno : EACCES,
                       "process.args[0]: `%s` is not an executable file", arg0);
      return arg0;
    }
  for (size_t i = 0; init->path_dirs && init->path_dirs[i]; i++)
    {
      struct stat st;
      snprintf (buf, len, "%s/%s", *init->path_dirs[i] ? init->path_dirs[i] : ".", arg0);
      if (stat (buf, &st) == 0 && S_ISREG (st.st_mode) && access (buf, X_OK) == 0)
        return buf;
    }
  rt_child_fail (init, 0, "process.args[0]: `%s`: executable file not found in $PATH", arg0);
}

static void
load_seccomp (struct rt_init *init)
{
  int r = rt_seccomp_load (&init->seccomp);
  if (r < 0)
    rt_child_fail (init, -r, "linux.seccomp: load the filter");
}

static void
wait_for_start (struct rt_init *init)
{
  char c;
  ssize_t n;
  do
    n = read (init->start_fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    _exit (1);
}

void
rt_init_run (struct rt_init *init)
{
  const struct rt_process *p = init->process;
  char path_buf[PATH_MAX];
  const char *program;
  char errbuf[RT_MSG_TEXT_MAX];

  /* Until execve, /proc/PID of this process must not be usable from inside the container
     (its exe is the runtime's binary, CVE-2019-5736; its fds are the runtime's). */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  close_inherited_fds (init);
  reset_signals ();
  umask (0);
  wait_for (init, RT_MSG_GO);

  if (init->mode == RT_INIT_EXEC)
    {
      if (init->join_flags && setns (init->join_pidfd, init->join_flags) < 0)
        rt_child_fail (init, errno, "join the container's namespaces");
      close (init->join_pidfd);
      /* No mount namespace to join: the container's root is a chroot in the host's. */
      if (init->root_fd >= 0)
        {
          if (fchdir (init->root_fd) < 0 || chroot (".") < 0 || chdir ("/") < 0)
            rt_child_fail (init, errno, "enter the container's root");
          close (init->root_fd);
          init->chrooted = true;
        }
    }
  else
    {
      /* Opened with the credentials we were born with, before any user namespace changes
         them: we are non-dumpable, so our /proc files belong to the host's root; the write
         is checked against the opener's credentials (CAP_SYS_TIME over the new namespace). */
      int offsets_fd = -1;
      if (init->unshare_flags & CLONE_NEWTIME)
        {
          offsets_fd = open ("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
          if (offsets_fd < 0)
            rt_child_fail (init, errno, "linux.timeOffsets: open /proc/self/timens_offsets");
        }
      if (init->new_userns)
        become_userns_root (init);
      join_namespaces (init, offsets_fd);
      set_identity_names (init);
    }
  set_oom_score_adj (init);
  /* Keyrings are not namespaced: without its own session keyring the container would share
     the caller's (runc makes one too; --no-new-keyring keeps the caller's). A kernel built
     without keyrings has nothing to share. */
  if (init->new_keyring && syscall (SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0
      && errno != ENOSYS)
    rt_child_fail (init, errno, "join a new session keyring");

  if (init->mode == RT_INIT_CREATE)
    {
      int rootfd;
      rt_rootfs_prepare (init, &rootfd);
      if (init->config->hooks.n[RT_HOOK_PRESTART] || init->config->hooks.n[RT_HOOK_CREATE_RUNTIME])
        {
          if (rt_msg_send (init->sync_fd, RT_MSG_RUN_HOOKS, 0, NULL, -1) < 0)
            _exit (1);
          wait_for (init, RT_MSG_HOOKS_DONE);
        }
      if (rt_child_hooks (init, RT_HOOK_CREATE_CONTAINER, init->state_prefix_created, errbuf,
                          sizeof errbuf)
          < 0)
        rt_child_fail (init, 0, "%s", errbuf);
      rt_rootfs_pivot (init, rootfd);
      rt_rootfs_finish (init);
    }
  if (p->terminal)
    rt_child_console (init);
  enter_cwd (init, init->mode == RT_INIT_CREATE);
  if (init->mode == RT_INIT_CREATE && init->config->root_readonly)
    {
      struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
      if (mount_setattr (AT_FDCWD, "/", 0, &a, sizeof a) < 0)
        rt_child_fail (init, errno, "root.readonly: make / read-only");
    }
  set_process_attributes (init);
  prepare_fds (init);

  /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
     capabilities go. With it, load it as late as possible, so that a profile has to allow
     as few of the runtime's own syscalls as possible. */
  if (init->has_seccomp && !p->no_new_privs)
    load_seccomp (init);
  rt_child_apply_user (init);
  if (p->no_new_privs && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    rt_child_fail (init, errno, "process.noNewPrivileges");
  umask (p->user.has_umask ? p->user.umask : 022);
  program = find_program (init, path_buf, sizeof path_buf);

  if (rt_msg_send (init->sync_fd, RT_MSG_READY, 0, NULL, -1) < 0)
    _exit (1);
  if (init->mode == RT_INIT_CREATE)
    {
      report_fd = init->start_fd;
      wait_for_start (init);
      if (rt_child_hooks (init, RT_HOOK_START_CONTAINER, init->state_prefix_created, errbuf,
                          sizeof errbuf)
          < 0)
        rt_child_fail (init, 0, "%s", errbuf);
    }
  if (init->has_seccomp && p->no_new_privs)
    load_seccomp (init);
  execve (program, p->args, p->env);
  rt_child_fail (init, errno, "exec `%s`", program);
}
