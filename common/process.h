/* Spawning helper programs with posix_spawn (safe from threaded processes: never clone()
 * and allocate in a child of a threaded parent) and pidfds for every signal and wait.
 * Included by common.h. */
#ifndef BERTH_COMMON_PROCESS_H
#define BERTH_COMMON_PROCESS_H

#include <signal.h>
#include <sys/types.h>

struct berth_spawn_opts
{
  /* The child's fds 0, 1 and 2: an fd of the caller, or -1 for /dev/null. */
  int stdio[3];
  /* Extra fds passed as 3, 4, ... in order (count n_extra_fds); every other fd is closed. */
  const int *extra_fds;
  size_t n_extra_fds;
  bool setsid;       /* new session, no controlling terminal */
  const char *cwd;   /* NULL: inherit */
  char *const *envp; /* NULL: inherit environ */
};

/* Spawns path with argv. On success *ret_pid is the child and, if ret_pidfd is not NULL,
 * *ret_pidfd a pidfd for it (O_CLOEXEC). */
int berth_spawn (const char *path, char *const argv[], const struct berth_spawn_opts *opts,
                 pid_t *ret_pid, int *ret_pidfd, berth_err *err);

int berth_pidfd_open (pid_t pid, berth_err *err);
int berth_pidfd_send_signal (int pidfd, int sig, berth_err *err);
/* Waits for the process behind pidfd (must be our child); *ret_status as waitpid's. */
int berth_pidfd_wait (int pidfd, int *ret_status, berth_err *err);
/* Decodes a wait status into an exit code as a shell reports it: 0-255, 128+signal. */
int berth_wait_status_to_exit_code (int status);

/* Sends an fd (and a little data) over a unix socket; receives it. */
int berth_send_fd (int sock, int fd, const void *data, size_t len, berth_err *err);
int berth_recv_fd (int sock, int *ret_fd, void *buf, size_t len, size_t *ret_len, berth_err *err);

/* JSON messages over a SOCK_SEQPACKET unix socket: one object per message, with up to
 * BERTH_MSG_MAX_FDS descriptors attached (SCM_RIGHTS). Used between berthd and its shims,
 * and by the local API. A message longer than BERTH_MSG_MAX travels in a sealed memfd
 * passed along with the message (a datagram must fit the socket buffer, ~200 KiB, and a
 * list of a thousand tasks does not); berth_msg_recv gives it back transparently, up to
 * BERTH_MSG_MAX_LARGE bytes. */
#define BERTH_MSG_MAX 65536
#define BERTH_MSG_MAX_LARGE (64u << 20)
#define BERTH_MSG_MAX_FDS 3

/* Non-blocking send (MSG_DONTWAIT): -EAGAIN when the peer's queue is full. */
int berth_msg_send (int sock, json_object *msg, const int *fds, size_t n_fds, berth_err *err);
/* Receives one message. Returns 1 with *ret set, 0 on EOF (peer closed), -EAGAIN when
 * nothing is waiting on a non-blocking socket, or another negative error (a message that is
 * not a JSON object, or too large). Received fds are O_CLOEXEC and belong to the caller
 * (also on error). */
int berth_msg_recv (int sock, json_object **ret, int *ret_fds, size_t *ret_n_fds, berth_err *err);
/* Connects a SOCK_SEQPACKET socket to path (blocking connect, then O_NONBLOCK if asked). */
int berth_msg_connect (const char *path, bool nonblock, berth_err *err);
/* Binds and listens on path (removing a stale socket file first), mode 0600. */
int berth_msg_listen (const char *path, berth_err *err);

#endif
