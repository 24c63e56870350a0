/* bench-exec: runs a command N times in a given mount namespace and prints, per run, the
 * wall time from fork to reaping and the peak RSS of the command (and the children it
 * waited for), so that every runtime is measured by the same launcher.
 * Usage: bench-exec MOUNT-NS-PATH|- COMMAND [ARG...]
 * Output: "<nanoseconds> <maxrss-KiB> <exit-status>" */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main (int argc, char **argv)
{
  struct rusage ru;
  long long t0, t1;
  int status, devnull;
  pid_t pid;

  if (argc < 3)
    {
      fprintf (stderr, "usage: %s MOUNT-NS|- COMMAND [ARG...]\n", argv[0]);
      return 2;
    }
  if (strcmp (argv[1], "-") != 0)
    {
      int fd = open (argv[1], O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns (fd, CLONE_NEWNS) < 0)
        {
          perror (argv[1]);
          return 2;
        }
      close (fd);
    }
  devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  t0 = now_ns ();
  pid = fork ();
  if (pid == 0)
    {
      dup2 (devnull, 0);
      dup2 (devnull, 1);
      execvp (argv[2], argv + 2);
      _exit (127);
    }
  while (wait4 (pid, &status, 0, &ru) < 0)
    if (errno != EINTR)
      return 2;
  t1 = now_ns ();
  printf ("%lld %ld %d\n", t1 - t0, ru.ru_maxrss,
          WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
  return 0;
}
