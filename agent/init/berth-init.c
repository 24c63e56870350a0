/* berth-init: the pid 1 of a container that sets initProcessEnabled (Docker's --init).
 * It runs the command as its child, forwards every signal it can catch to it, reaps every
 * process re-parented to it, and exits with the child's status (128+N for signal N).
 * Self-contained and statically linked: it is bound read-only into containers whose
 * images may have no libc at all. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Signals a process raises against itself on a fault: never blocked (blocking them while
 * they are raised by the kernel kills the process anyway, without a core). */
static const int synchronous_signals[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP,
                                           SIGSYS };

static void
usage (void)
{
  fputs ("Usage: berth-init [--] COMMAND [ARG...]\n"
         "Runs COMMAND as its child, forwards signals to it, reaps zombies and exits with\n"
         "COMMAND's status (128+N when it was killed by signal N).\n",
         stderr);
}

static void
die (const char *what)
{
  fprintf (stderr, "berth-init: %s: %s\n", what, strerror (errno));
  exit (127);
}

static int
status_code (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}

static pid_t
spawn (char **argv, const sigset_t *parent_mask)
{
  pid_t pid = fork ();
  if (pid < 0)
    die ("fork");
  if (pid > 0)
    return pid;

  /* The child: its own process group (so a terminal's job control signals reach it and
   * not berth-init), the foreground one when stdin is a terminal, default dispositions and
   * the mask berth-init started with. */
  if (setpgid (0, 0) < 0)
    die ("setpgid");
  if (isatty (STDIN_FILENO))
    {
      struct sigaction ign = { .sa_handler = SIG_IGN };
      sigaction (SIGTTOU, &ign, NULL);
      if (tcsetpgrp (STDIN_FILENO, getpgrp ()) < 0 && errno != ENOTTY)
        die ("tcsetpgrp");
    }
  for (int sig = 1; sig < NSIG; sig++)
    {
      struct sigaction dfl = { .sa_handler = SIG_DFL };
      if (sig != SIGKILL && sig != SIGSTOP)
        sigaction (sig, &dfl, NULL);
    }
  sigprocmask (SIG_SETMASK, parent_mask, NULL);
  execvp (argv[0], argv);
  {
    int e = errno;
    fprintf (stderr, "berth-init: exec `%s`: %s\n", argv[0], strerror (e));
    _exit (e == ENOENT ? 127 : 126);
  }
}

/* Reaps every exited process; returns true once the main child is among them. */
static bool
reap (pid_t child, int *child_status)
{
  bool done = false;
  for (;;)
    {
      int status;
      pid_t pid = waitpid (-1, &status, WNOHANG);
      if (pid == 0 || (pid < 0 && errno == ECHILD))
        return done;
      if (pid < 0)
        {
          if (errno == EINTR)
            continue;
          die ("waitpid");
        }
      if (pid == child)
        {
          *child_status = status;
          done = true;
        }
    }
}

int
main (int argc, char **argv)
{
  sigset_t all, parent_mask;
  int child_status = 0;
  pid_t child;
  int first = 1;

  if (argc > 1 && strcmp (argv[1], "--") == 0)
    first = 2;
  else if (argc > 1 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0))
    {
      usage ();
      return 0;
    }
  if (first >= argc)
    {
      usage ();
      return 2;
    }

  /* Outside a pid namespace of its own, orphans still come to berth-init. */
  if (getpid () != 1 && prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    die ("prctl(PR_SET_CHILD_SUBREAPER)");

  sigfillset (&all);
  for (size_t i = 0; i < sizeof synchronous_signals / sizeof synchronous_signals[0]; i++)
    sigdelset (&all, synchronous_signals[i]);
  if (sigprocmask (SIG_BLOCK, &all, &parent_mask) < 0)
    die ("sigprocmask");

  child = spawn (argv + first, &parent_mask);

  for (;;)
    {
      siginfo_t info;
      int sig = sigwaitinfo (&all, &info);
      if (sig < 0)
        {
          if (errno == EINTR)
            continue;
          die ("sigwaitinfo");
        }
      if (sig == SIGCHLD)
        {
          if (reap (child, &child_status))
            break;
          continue;
        }
      /* Forward to the child. ESRCH: it has exited and its SIGCHLD is on the way. */
      if (kill (child, sig) < 0 && errno != ESRCH)
        die ("kill");
    }
  return status_code (child_status);
}
