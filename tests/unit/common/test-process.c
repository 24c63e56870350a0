/* Unit tests: posix_spawn with fd mapping, pidfds, exit codes and fd passing. */
#include "common/common.h"

#include <criterion/criterion.h>
#include <sys/socket.h>
#include <sys/wait.h>

Test (process, spawn_maps_stdio_and_extra_fds_and_closes_the_rest)
{
  cleanup_err berth_err err = NULL;
  int out[2], extra[2], leak;
  pid_t pid;
  int pidfd, status;
  char buf[256] = { 0 };
  cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
  cr_assert_eq (pipe2 (extra, O_CLOEXEC), 0);
  leak = open ("/dev/null", O_RDONLY); /* not O_CLOEXEC: must still not reach the child */
  int extras[] = { extra[1] };
  struct berth_spawn_opts o
      = { .stdio = { -1, out[1], out[1] }, .extra_fds = extras, .n_extra_fds = 1 };
  char *argv[] = { "/bin/sh", "-c", "echo out; echo three >&3; ls /proc/self/fd | wc -l", NULL };
  cr_assert_eq (berth_spawn ("/bin/sh", argv, &o, &pid, &pidfd, &err), 0, "%s",
                berth_err_msg (&err));
  close (out[1]);
  close (extra[1]);
  cr_assert_eq (berth_pidfd_wait (pidfd, &status, &err), 0);
  cr_assert_eq (berth_wait_status_to_exit_code (status), 0);
  cr_assert_gt (read (out[0], buf, sizeof buf - 1), 0);
  /* fds 0,1,2,3 plus the one ls opens for /proc/self/fd */
  cr_assert_str_eq (buf, "out\n5\n");
  memset (buf, 0, sizeof buf);
  cr_assert_eq (read (extra[0], buf, sizeof buf - 1), 6);
  cr_assert_str_eq (buf, "three\n");
  close (pidfd);
  close (leak);
  close (out[0]);
  close (extra[0]);
}

Test (process, exit_codes_and_signals)
{
  cleanup_err berth_err err = NULL;
  pid_t pid;
  int pidfd, status;
  char *a1[] = { "/bin/sh", "-c", "exit 3", NULL };
  char *a2[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
  cr_assert_eq (berth_spawn ("/bin/sh", a1, NULL, &pid, &pidfd, &err), 0);
  cr_assert_eq (berth_pidfd_wait (pidfd, &status, &err), 0);
  cr_assert_eq (berth_wait_status_to_exit_code (status), 3);
  close (pidfd);
  cr_assert_eq (berth_spawn ("/bin/sh", a2, NULL, &pid, &pidfd, &err), 0);
  cr_assert_eq (berth_pidfd_wait (pidfd, &status, &err), 0);
  cr_assert (WIFSIGNALED (status));
  cr_assert_eq (berth_wait_status_to_exit_code (status), 128 + SIGTERM);
  close (pidfd);
}

Test (process, pidfd_signal)
{
  cleanup_err berth_err err = NULL;
  pid_t pid;
  int pidfd, status;
  char *a[] = { "/bin/sleep", "30", NULL };
  cr_assert_eq (berth_spawn ("/bin/sleep", a, NULL, &pid, &pidfd, &err), 0);
  cr_assert_eq (berth_pidfd_send_signal (pidfd, SIGKILL, &err), 0);
  cr_assert_eq (berth_pidfd_wait (pidfd, &status, &err), 0);
  cr_assert_eq (berth_wait_status_to_exit_code (status), 137);
  close (pidfd);
}

Test (process, spawn_missing_program_fails)
{
  cleanup_err berth_err err = NULL;
  pid_t pid;
  char *a[] = { "/nonexistent/prog", NULL };
  cr_assert_lt (berth_spawn ("/nonexistent/prog", a, NULL, &pid, NULL, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "/nonexistent/prog") != NULL);
}

Test (process, fd_passing)
{
  cleanup_err berth_err err = NULL;
  int sv[2], p[2], got = -1;
  char buf[8] = { 0 };
  size_t n;
  cr_assert_eq (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  cr_assert_eq (pipe2 (p, O_CLOEXEC), 0);
  cr_assert_eq (berth_send_fd (sv[0], p[1], "hi", 2, &err), 0);
  cr_assert_eq (berth_recv_fd (sv[1], &got, buf, sizeof buf, &n, &err), 0);
  cr_assert_geq (got, 0);
  cr_assert_eq (n, 2);
  cr_assert_eq (write (got, "x", 1), 1);
  cr_assert_eq (read (p[0], buf, 1), 1);
  cr_assert_eq (buf[0], 'x');
  cr_assert (fcntl (got, F_GETFD) & FD_CLOEXEC);
  close (got);
  close (p[0]);
  close (p[1]);
  close (sv[0]);
  close (sv[1]);
}

Test (process, messages_small_large_and_with_fds)
{
  cleanup_err berth_err err = NULL;
  int sv[2], p[2], fds[3];
  size_t n_fds;
  json_object *small = json_object_new_object (), *large = json_object_new_object (), *got = NULL;
  char *blob = xmalloc (300000 + 1);
  memset (blob, 'x', 300000);
  blob[300000] = '\0';
  json_object_object_add (small, "op", json_object_new_string ("ping"));
  json_object_object_add (large, "blob", json_object_new_string (blob));
  cr_assert_eq (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  cr_assert_eq (pipe2 (p, O_CLOEXEC), 0);

  cr_assert_eq (berth_msg_send (sv[0], small, &p[1], 1, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (berth_msg_recv (sv[1], &got, fds, &n_fds, &err), 1);
  cr_assert_eq (n_fds, 1);
  cr_assert_str_eq (json_object_get_string (json_object_object_get (got, "op")), "ping");
  close (fds[0]);
  json_object_put (got);

  /* 300 KB does not fit a datagram: it travels in a memfd, with the caller's fd beside it */
  cr_assert_eq (berth_msg_send (sv[0], large, &p[1], 1, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (berth_msg_recv (sv[1], &got, fds, &n_fds, &err), 1, "%s", berth_err_msg (&err));
  cr_assert_eq (n_fds, 1, "the memfd is not handed to the caller");
  cr_assert_eq (strlen (json_object_get_string (json_object_object_get (got, "blob"))), 300000);
  cr_assert_eq (write (fds[0], "z", 1), 1);
  close (fds[0]);
  json_object_put (got);

  close (sv[0]);
  cr_assert_eq (berth_msg_recv (sv[1], &got, fds, &n_fds, &err), 0, "EOF");
  close (sv[1]);
  close (p[0]);
  close (p[1]);
  json_object_put (small);
  json_object_put (large);
  free (blob);
}
