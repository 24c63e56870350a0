/* OCI hooks: each runs as its own process with the container's state JSON on stdin, its
 * path, args and env from config.json, and an optional timeout after which it is killed.
 * One runner, syscalls only, so that the container's first process can use it for the
 * createContainer and startContainer hooks. */
#include "runtime/internal.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Runs one hook to completion. 0, or -1 with errbuf filled. */
static int
hook_exec (const struct rt_hook *h, const char *kind, const char *state, size_t state_len,
           char *errbuf, size_t errlen)
{
  char *default_args[2] = { h->path, NULL };
  int sv[2], pidfd = -1;
  bool in_cgroup;
  siginfo_t info;
  pid_t pid;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      snprintf (errbuf, errlen, "%s hook `%s`: socketpair: %s", kind, h->path, strerror (errno));
      return -1;
    }
  pid = rt_clone (0, -1, &pidfd, &in_cgroup);
  if (pid < 0)
    {
      snprintf (errbuf, errlen, "%s hook `%s`: clone: %s", kind, h->path, strerror (-pid));
      close (sv[0]);
      close (sv[1]);
      return -1;
    }
  if (pid == 0)
    {
      if (dup2 (sv[1], 0) < 0)
        _exit (126);
      execve (h->path, h->args ? h->args : default_args, h->env);
      _exit (127);
    }
  close (sv[1]);
  /* A hook need not read its stdin: no SIGPIPE, and once it exited nothing more is sent. A
     state larger than the socket buffer is sent as the hook reads it. */
  {
    size_t off = 0;
    while (off < state_len)
      {
        struct pollfd pfds[2]
            = { { .fd = sv[0], .events = POLLOUT }, { .fd = pidfd, .events = POLLIN } };
        ssize_t n = send (sv[0], state + off, state_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
          {
            off += (size_t)n;
            continue;
          }
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN)
          break;
        if (poll (pfds, 2, h->timeout > 0 ? h->timeout * 1000 : -1) <= 0
            || (pfds[1].revents & POLLIN))
          break;
      }
  }
  close (sv[0]);

  if (h->timeout > 0)
    {
      struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
      int r;
      do
        r = poll (&pfd, 1, h->timeout * 1000);
      while (r < 0 && errno == EINTR);
      if (r == 0)
        {
          syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
          waitid (P_PIDFD, (id_t)pidfd, &info, WEXITED);
          close (pidfd);
          snprintf (errbuf, errlen, "%s hook `%s`: timed out after %d s", kind, h->path,
                    h->timeout);
          return -1;
        }
    }
  while (waitid (P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0)
    if (errno != EINTR)
      {
        snprintf (errbuf, errlen, "%s hook `%s`: wait: %s", kind, h->path, strerror (errno));
        close (pidfd);
        return -1;
      }
  close (pidfd);
  if (info.si_code == CLD_EXITED && info.si_status == 0)
    return 0;
  if (info.si_code == CLD_EXITED && info.si_status == 127)
    snprintf (errbuf, errlen, "%s hook `%s`: could not be executed (exit status 127)", kind,
              h->path);
  else if (info.si_code == CLD_EXITED)
    snprintf (errbuf, errlen, "%s hook `%s`: exited with status %d", kind, h->path, info.si_status);
  else
    snprintf (errbuf, errlen, "%s hook `%s`: killed by signal %d", kind, h->path, info.si_status);
  return -1;
}

int
rt_child_hooks (struct rt_init *init, enum rt_hook_kind kind, const char *state_prefix,
                char *errbuf, size_t errlen)
{
  const struct rt_hooks *hooks = &init->config->hooks;
  int n;

  if (hooks->n[kind] == 0)
    return 0;
  n = snprintf (init->hook_buf, init->hook_buf_len, "%s%d%s", state_prefix, init->host_pid,
                init->state_suffix);
  if (n < 0 || (size_t)n >= init->hook_buf_len)
    {
      snprintf (errbuf, errlen, "%s hooks: state too large", rt_hook_names[kind]);
      return -1;
    }
  for (size_t i = 0; i < hooks->n[kind]; i++)
    if (hook_exec (&hooks->v[kind][i], rt_hook_names[kind], init->hook_buf, (size_t)n, errbuf,
                   errlen)
        < 0)
      return -1;
  return 0;
}

int
rt_hooks_run (const struct rt_hooks *hooks, enum rt_hook_kind kind, const char *state_json,
              berth_err *err)
{
  char errbuf[1024];
  for (size_t i = 0; i < hooks->n[kind]; i++)
    if (hook_exec (&hooks->v[kind][i], rt_hook_names[kind], state_json, strlen (state_json), errbuf,
                   sizeof errbuf)
        < 0)
      return berth_err_set (err, 0, "%s", errbuf);
  return 0;
}
