/* Namespaces and process creation: clone3 with a pidfd (into the cgroup on v2) and its clone
 * fallback, namespace paths checked by type, user namespace id maps, /proc/PID/stat start
 * times that tell a live process from a reused pid. */
#include "runtime/internal.h"

#include <linux/nsfs.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

int
rt_ns_open (enum rt_ns_kind kind, const char *path, const char *json_path, int *ret_fd,
            berth_err *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  int type;

  if (fd < 0)
    return berth_err_set (err, errno, "%s: open `%s`", json_path, path);
  type = ioctl (fd, NS_GET_NSTYPE);
  if (type < 0)
    return berth_err_set (err, errno == ENOTTY ? 0 : errno, "%s: `%s` is not a namespace",
                          json_path, path);
  if (type != rt_ns_info[kind].clone_flag)
    {
      const char *is = "another kind of";
      for (int k = 0; k < RT_NS_NKINDS; k++)
        if (rt_ns_info[k].clone_flag == type)
          is = rt_ns_info[k].oci_name;
      return berth_err_set (err, 0, "%s: `%s` is a %s namespace, not a %s namespace", json_path,
                            path, is, rt_ns_info[kind].oci_name);
    }
  *ret_fd = steal_fd (&fd);
  return 0;
}

pid_t
rt_clone (int flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup)
{
  struct clone_args args = {
    .flags = (uint64_t)(unsigned)flags | CLONE_PIDFD,
    .pidfd = (uint64_t)(uintptr_t)ret_pidfd,
    .exit_signal = SIGCHLD,
  };
  long pid;

  *ret_pidfd = -1;
  if (cgroup_fd >= 0)
    {
      args.flags |= CLONE_INTO_CGROUP;
      args.cgroup = (uint64_t)cgroup_fd;
    }
  pid = syscall (SYS_clone3, &args, sizeof args);
  /* Kernels before 5.7 know clone3 but not CLONE_INTO_CGROUP (E2BIG for the larger struct,
     EINVAL for the flag): the caller then joins the cgroup itself. */
  if (pid < 0 && cgroup_fd >= 0 && (errno == E2BIG || errno == EINVAL))
    {
      args.flags &= ~CLONE_INTO_CGROUP;
      args.cgroup = 0;
      pid = syscall (SYS_clone3, &args, offsetof (struct clone_args, cgroup));
    }
  /* ENOSYS: kernel before 5.3; EPERM: a seccomp profile of an outer container that refuses
     clone3 (moby's did, before it learnt to return ENOSYS). */
  if (pid < 0 && (errno == ENOSYS || errno == EPERM))
    {
      int pidfd = -1;
      args.flags &= ~CLONE_INTO_CGROUP;
      /* x86_64 argument order: flags, stack, parent_tid (the pidfd), child_tid, tls. */
      pid = syscall (SYS_clone, (unsigned long)flags | CLONE_PIDFD | SIGCHLD, NULL, &pidfd, NULL,
                     0);
      if (pid > 0)
        *ret_pidfd = pidfd;
    }
  if (pid < 0)
    return -errno;
  *ret_in_cgroup = (args.flags & CLONE_INTO_CGROUP) != 0;
  return (pid_t)pid;
}

static int
write_map (pid_t pid, const char *file, const struct rt_id_map *maps, size_t n, berth_err *err)
{
  char path[64];
  cleanup_free char *buf = xmalloc (n * 40 + 1);
  size_t len = 0;

  for (size_t i = 0; i < n; i++)
    len += (size_t)sprintf (buf + len, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
                            maps[i].container_id, maps[i].host_id, maps[i].size);
  snprintf (path, sizeof path, "/proc/%d/%s", pid, file);
  return berth_write_file_at (AT_FDCWD, path, buf, len, err);
}

int
rt_write_id_maps (pid_t pid, const struct rt_config *c, berth_err *err)
{
  int r = write_map (pid, "uid_map", c->uid_maps, c->n_uid_maps, err);
  if (r < 0)
    return berth_err_wrap (err, "linux.uidMappings");
  r = write_map (pid, "gid_map", c->gid_maps, c->n_gid_maps, err);
  if (r < 0)
    return berth_err_wrap (err, "linux.gidMappings");
  return 0;
}

/* Reads /proc/PID/stat into buf and returns field FIELD (1-based, as in proc(5)), NUL-
 * terminated; *ret_state is field 3. */
static int
proc_stat_field (pid_t pid, int field, char *buf, size_t size, char **ret, char *ret_state,
                 berth_err *err)
{
  char path[64], *p;
  cleanup_close int fd = -1;
  ssize_t n;

  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s`", path);
  n = read (fd, buf, size - 1);
  if (n < 0)
    return berth_err_set (err, errno, "read `%s`", path);
  buf[n] = '\0';
  /* The command name is in parentheses and may itself contain ") ": fields start after
     the last one. */
  p = strrchr (buf, ')');
  if (p == NULL || p[1] != ' ')
    return berth_err_set (err, 0, "`%s`: unexpected format", path);
  p += 2;
  *ret_state = *p;
  for (int f = 3; f < field && p; f++)
    {
      p = strchr (p, ' ');
      if (p)
        p++;
    }
  if (p == NULL)
    return berth_err_set (err, 0, "`%s`: unexpected format", path);
  {
    char *end = strchr (p, ' ');
    if (end)
      *end = '\0';
  }
  *ret = p;
  return 0;
}

int
rt_proc_start_time (pid_t pid, uint64_t *ret, bool *ret_zombie, berth_err *err)
{
  char buf[1024], *p, state;
  uint64_t v;
  int r = proc_stat_field (pid, 22, buf, sizeof buf, &p, &state, err);

  if (r < 0)
    return r;
  if (berth_parse_uint64 (p, &v) < 0)
    return berth_err_set (err, 0, "`/proc/%d/stat`: bad start time", pid);
  if (ret_zombie)
    *ret_zombie = state == 'Z' || state == 'X';
  *ret = v;
  return 0;
}

int
rt_proc_exiting (pid_t pid, bool *ret, berth_err *err)
{
  char buf[1024], *p, state;
  uint32_t flags;
  int r = proc_stat_field (pid, 9, buf, sizeof buf, &p, &state, err);

  if (r < 0)
    return r;
  if (berth_parse_uint32 (p, &flags) < 0)
    return berth_err_set (err, 0, "`/proc/%d/stat`: bad flags", pid);
  /* PF_EXITING (include/linux/sched.h): set at the start of do_exit. */
  *ret = (flags & 0x4) != 0 || state == 'Z' || state == 'X';
  return 0;
}

size_t
rt_time_offsets_format (const struct rt_config *c, char *buf, size_t size)
{
  size_t len = 0;
  for (size_t i = 0; i < c->n_time_offsets && len < size; i++)
    len += (size_t)snprintf (buf + len, size - len, "%s %" PRId64 " %" PRIu32 "\n",
                             c->time_offsets[i].clock == CLOCK_MONOTONIC ? "monotonic" : "boottime",
                             c->time_offsets[i].secs, c->time_offsets[i].nanosecs);
  return len < size ? len : size - 1;
}

/* ------------------------------------------------------------------ sync messages */

int
rt_msg_send (int fd, uint32_t type, int32_t code, const char *text, int pass_fd)
{
  struct rt_msg m = { .type = type, .code = code };
  size_t tlen = 0;
  struct iovec iov;
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

  if (text)
    {
      tlen = strnlen (text, RT_MSG_TEXT_MAX - 1);
      memcpy (m.text, text, tlen);
    }
  m.text[tlen] = '\0';
  iov.iov_base = &m;
  iov.iov_len = offsetof (struct rt_msg, text) + tlen + 1;
  if (pass_fd >= 0)
    {
      struct cmsghdr *c;
      memset (&control, 0, sizeof control);
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &pass_fd, sizeof (int));
    }
  for (;;)
    {
      ssize_t n = sendmsg (fd, &msg, MSG_NOSIGNAL);
      if (n >= 0)
        return 0;
      if (errno != EINTR)
        return -errno;
    }
}

int
rt_msg_recv (int fd, struct rt_msg *m, int *ret_fd)
{
  struct iovec iov = { .iov_base = m, .iov_len = sizeof *m };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  ssize_t n;

  if (ret_fd)
    *ret_fd = -1;
  do
    n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  if (n == 0)
    return 0;
  if ((size_t)n < offsetof (struct rt_msg, text) + 1)
    return -EBADMSG;
  m->text[RT_MSG_TEXT_MAX - 1] = '\0';
  ((char *)m)[n < (ssize_t)sizeof *m ? n : (ssize_t)sizeof *m - 1] = '\0';
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        int pfd;
        memcpy (&pfd, CMSG_DATA (c), sizeof pfd);
        if (ret_fd)
          *ret_fd = pfd;
        else
          close (pfd);
      }
  return 1;
}
