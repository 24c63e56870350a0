/* posix_spawn with explicit fd mapping, pidfds, and SCM_RIGHTS fd passing. */
#include "common.h"

#include <spawn.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

extern char **environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int
berth_pidfd_open (pid_t pid, berth_err *err)
{
  long fd = syscall (SYS_pidfd_open, pid, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "pidfd_open %d", pid);
  /* pidfd_open always sets O_CLOEXEC */
  return (int)fd;
}

int
berth_pidfd_send_signal (int pidfd, int sig, berth_err *err)
{
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return berth_err_set (err, errno, "pidfd_send_signal %d", sig);
  return 0;
}

int
berth_pidfd_wait (int pidfd, int *ret_status, berth_err *err)
{
  siginfo_t si = { 0 };
  for (;;)
    {
      if (waitid ((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) == 0)
        break;
      if (errno != EINTR)
        return berth_err_set (err, errno, "waitid pidfd");
    }
  if (ret_status)
    {
      if (si.si_code == CLD_EXITED)
        *ret_status = W_EXITCODE (si.si_status, 0);
      else
        *ret_status = W_EXITCODE (0, si.si_status) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
    }
  return 0;
}

int
berth_wait_status_to_exit_code (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}

int
berth_spawn (const char *path, char *const argv[], const struct berth_spawn_opts *opts,
             pid_t *ret_pid, int *ret_pidfd, berth_err *err)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  pid_t pid;
  int r, maxfd;

  posix_spawn_file_actions_init (&fa);
  posix_spawnattr_init (&attr);

  /* Map stdio and the extra fds. dup2 onto itself would keep O_CLOEXEC, so a source fd that
   * already sits at its target is first moved out of the way by the fd numbering below:
   * the caller's fds are dup'd in the parent to numbers above every target. */
  maxfd = 3 + (int)(opts ? opts->n_extra_fds : 0);
  int *moved = xmalloc ((size_t)maxfd * sizeof (int));
  for (int i = 0; i < maxfd; i++)
    {
      int src = i < 3 ? (opts ? opts->stdio[i] : -1) : opts->extra_fds[i - 3];
      moved[i] = -1;
      if (src >= 0)
        {
          moved[i] = fcntl (src, F_DUPFD_CLOEXEC, maxfd);
          if (moved[i] < 0)
            {
              r = berth_err_set (err, errno, "dup fd %d for spawn", src);
              goto out;
            }
          posix_spawn_file_actions_adddup2 (&fa, moved[i], i);
        }
      else
        posix_spawn_file_actions_addopen (&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  posix_spawn_file_actions_addclosefrom_np (&fa, maxfd);
  if (opts && opts->cwd)
    posix_spawn_file_actions_addchdir_np (&fa, opts->cwd);

  if (opts && opts->setsid)
    flags |= POSIX_SPAWN_SETSID;
  sigemptyset (&none);
  sigfillset (&all);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setflags (&attr, flags);

  r = posix_spawn (&pid, path, &fa, &attr, argv, (opts && opts->envp) ? opts->envp : environ);
  if (r != 0)
    {
      r = berth_err_set (err, r, "spawn `%s`", path);
      goto out;
    }
  if (ret_pidfd)
    {
      int pfd = berth_pidfd_open (pid, err);
      if (pfd < 0)
        {
          /* the child runs already; reap it so it does not linger as a zombie */
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
          r = pfd;
          goto out;
        }
      *ret_pidfd = pfd;
    }
  *ret_pid = pid;
  r = 0;
out:
  for (int i = 0; i < maxfd; i++)
    if (moved[i] >= 0)
      close (moved[i]);
  free (moved);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  return r;
}

int
berth_send_fd (int sock, int fd, const void *data, size_t len, berth_err *err)
{
  char dummy = 0;
  struct iovec iov = { .iov_base = len ? (void *)data : &dummy, .iov_len = len ? len : 1 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  struct cmsghdr *cmsg;

  memset (&u, 0, sizeof u);
  if (fd >= 0)
    {
      msg.msg_control = u.buf;
      msg.msg_controllen = sizeof u.buf;
      cmsg = CMSG_FIRSTHDR (&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (cmsg), &fd, sizeof (int));
    }
  for (;;)
    {
      if (sendmsg (sock, &msg, MSG_NOSIGNAL) >= 0)
        return 0;
      if (errno != EINTR)
        return berth_err_set (err, errno, "send fd");
    }
}

int
berth_recv_fd (int sock, int *ret_fd, void *buf, size_t len, size_t *ret_len, berth_err *err)
{
  char dummy;
  struct iovec iov = { .iov_base = len ? buf : &dummy, .iov_len = len ? len : 1 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *cmsg;
  ssize_t n;

  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_err_set (err, errno, "receive fd");
  if (n == 0)
    return berth_err_set (err, ECONNRESET, "receive fd: peer closed");
  *ret_fd = -1;
  for (cmsg = CMSG_FIRSTHDR (&msg); cmsg; cmsg = CMSG_NXTHDR (&msg, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
      memcpy (ret_fd, CMSG_DATA (cmsg), sizeof (int));
  if (ret_len)
    *ret_len = len ? (size_t)n : 0;
  return 0;
}

/* ------------------------------------------------------------------ JSON messages */

/* The body of a message too long for a datagram, in a sealed memfd. */
static int
msg_memfd (const char *text, size_t len, berth_err *err)
{
  int fd = (int) syscall (SYS_memfd_create, "berth-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  int r;
  if (fd < 0)
    return berth_err_set (err, errno, "memfd_create");
  r = berth_write_all (fd, text, len);
  if (r < 0 || fcntl (fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
    {
      int e = r < 0 ? -r : errno;
      close (fd);
      return berth_err_set (err, e, "write a large message to a memfd");
    }
  return fd;
}

int
berth_msg_send (int sock, json_object *msg, const int *fds, size_t n_fds, berth_err *err)
{
  const char *text = bjson_to_string (msg);
  size_t len = strlen (text);
  char envelope[64];
  int all_fds[BERTH_MSG_MAX_FDS + 1];
  cleanup_close int big = -1;
  struct iovec iov;
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * (BERTH_MSG_MAX_FDS + 1))];
    struct cmsghdr align;
  } u;
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

  if (n_fds > BERTH_MSG_MAX_FDS)
    return berth_err_set (err, EINVAL, "%zu fds exceed %d", n_fds, BERTH_MSG_MAX_FDS);
  if (len > BERTH_MSG_MAX_LARGE)
    return berth_err_set (err, EMSGSIZE, "message of %zu bytes exceeds %u", len, BERTH_MSG_MAX_LARGE);
  if (n_fds > 0) /* fds may be NULL then, and memcpy's arguments must not be (UBSan) */
    memcpy (all_fds, fds, n_fds * sizeof (int));
  if (len > BERTH_MSG_MAX)
    {
      big = msg_memfd (text, len, err);
      if (big < 0)
        return big;
      snprintf (envelope, sizeof envelope, "{\"$memfd\":%zu}", len);
      text = envelope;
      len = strlen (envelope);
      all_fds[n_fds++] = big;
    }
  iov.iov_base = (void *) text;
  iov.iov_len = len;
  if (n_fds > 0)
    {
      struct cmsghdr *cmsg;
      memset (&u, 0, sizeof u);
      m.msg_control = u.buf;
      m.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
      cmsg = CMSG_FIRSTHDR (&m);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
      memcpy (CMSG_DATA (cmsg), all_fds, sizeof (int) * n_fds);
    }
  for (;;)
    {
      if (sendmsg (sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
        return 0;
      if (errno == EAGAIN)
        return -EAGAIN;
      if (errno != EINTR)
        return berth_err_set (err, errno, "send message");
    }
}

int
berth_msg_recv (int sock, json_object **ret, int *ret_fds, size_t *ret_n_fds, berth_err *err)
{
  cleanup_free char *buf = xmalloc (BERTH_MSG_MAX + 1);
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * (BERTH_MSG_MAX_FDS + 1))];
    struct cmsghdr align;
  } u;
  struct iovec iov = { .iov_base = buf, .iov_len = BERTH_MSG_MAX + 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf };
  int got[BERTH_MSG_MAX_FDS + 1];
  json_object *o = NULL, *big = NULL;
  size_t n_fds = 0;
  ssize_t n;

  *ret_n_fds = 0;
  do
    n = recvmsg (sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN ? -EAGAIN : berth_err_set (err, errno, "receive message");
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR (&m); cmsg; cmsg = CMSG_NXTHDR (&m, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
      {
        size_t k = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);
        for (size_t i = 0; i < k; i++)
          {
            int f;
            memcpy (&f, CMSG_DATA (cmsg) + i * sizeof (int), sizeof f);
            if (n_fds < ARRAY_SIZE (got))
              got[n_fds++] = f;
            else
              close (f);
          }
      }
  /* hand the fds over first: on every error below they are the caller's to close */
  for (size_t i = 0; i < n_fds && i < BERTH_MSG_MAX_FDS; i++)
    ret_fds[i] = got[i];
  *ret_n_fds = n_fds < BERTH_MSG_MAX_FDS ? n_fds : BERTH_MSG_MAX_FDS;
  if (n == 0)
    {
      if (n_fds > BERTH_MSG_MAX_FDS)
        close (got[BERTH_MSG_MAX_FDS]);
      return 0;
    }
  if ((size_t) n > BERTH_MSG_MAX || (m.msg_flags & MSG_TRUNC))
    {
      if (n_fds > BERTH_MSG_MAX_FDS)
        close (got[BERTH_MSG_MAX_FDS]);
      return berth_err_set (err, EMSGSIZE, "message larger than %d bytes", BERTH_MSG_MAX);
    }
  if (bjson_parse (buf, (size_t) n, "message", &o, err) < 0)
    {
      if (n_fds > BERTH_MSG_MAX_FDS)
        close (got[BERTH_MSG_MAX_FDS]);
      return -EINVAL;
    }
  if (json_object_is_type (o, json_type_object) && json_object_object_get_ex (o, "$memfd", &big))
    {
      /* the message is in the last fd */
      cleanup_close int mfd = -1;
      cleanup_free char *text = NULL;
      size_t len = 0;
      int r;
      json_object_put (o);
      o = NULL;
      if (n_fds == 0)
        return berth_err_set (err, EBADMSG, "message: a memfd envelope without its fd");
      mfd = got[n_fds - 1];
      if (n_fds - 1 < *ret_n_fds)
        *ret_n_fds = n_fds - 1;
      /* the sender wrote it: the shared file offset is at its end */
      if (lseek (mfd, 0, SEEK_SET) < 0)
        return berth_err_set (err, errno, "message: seek its memfd");
      r = berth_read_fd (mfd, BERTH_MSG_MAX_LARGE, &text, &len, err);
      if (r < 0 || bjson_parse (text, len, "message", &o, err) < 0)
        return -EINVAL;
    }
  else if (n_fds > BERTH_MSG_MAX_FDS)
    close (got[BERTH_MSG_MAX_FDS]);
  if (!json_object_is_type (o, json_type_object))
    {
      json_object_put (o);
      return berth_err_set (err, 0, "message: expected an object");
    }
  *ret = o;
  return 1;
}

int
berth_msg_connect (const char *path, bool nonblock, berth_err *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sa.sun_path)
    return berth_err_set (err, ENAMETOOLONG, "socket path `%s`", path);
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "socket");
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      close (fd);
      return berth_err_set (err, e, "connect to `%s`", path);
    }
  if (nonblock)
    fcntl (fd, F_SETFL, O_NONBLOCK);
  return fd;
}

int
berth_msg_listen (const char *path, berth_err *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sa.sun_path)
    return berth_err_set (err, ENAMETOOLONG, "socket path `%s`", path);
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "socket");
  if (unlink (path) < 0 && errno != ENOENT)
    {
      int e = errno;
      close (fd);
      return berth_err_set (err, e, "remove stale socket `%s`", path);
    }
  /* Root-only: bind under a 0177 umask so the socket is never briefly world-usable. */
  {
    mode_t old = umask (0177);
    int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
    int e = errno;
    umask (old);
    if (r < 0 || listen (fd, 128) < 0)
      {
        e = r < 0 ? e : errno;
        close (fd);
        return berth_err_set (err, e, "listen on `%s`", path);
      }
  }
  return fd;
}
