/* A parent that drives berth-runtime the way the agent's shim does (and containerd's shim
 * drives runc): it is a child subreaper, spawns `create` with the container's stdio as the
 * runtime's fds 0-2, and once create has exited the container's process is its child, so it
 * gets the real exit status or signal. exec --process (a health check) passes the exit code
 * through; exec --detach leaves the exec'd process to the subreaper as well.
 * Usage: runtime-subreaper RUNTIME STATE-ROOT BUNDLE-EXIT42 BUNDLE-SLEEP WORKDIR ID-PREFIX */
#include "common/common.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>

extern char **environ;

static const char *runtime, *state_root;
static int failures;

static void
report (bool ok, const char *what)
{
  printf ("%s - %s\n", ok ? "ok" : "FAIL", what);
  if (!ok)
    failures++;
}

/* Runs the runtime with stdio (-1: /dev/null) and returns its exit status (-1: signal). */
static int
runtime_cmd (int out_fd, char *const *args)
{
  char *argv[32];
  size_t n = 0;
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int st;

  argv[n++] = (char *)runtime;
  argv[n++] = (char *)"--root";
  argv[n++] = (char *)state_root;
  for (size_t i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0)
    {
      posix_spawn_file_actions_adddup2 (&fa, out_fd, 1);
      posix_spawn_file_actions_adddup2 (&fa, out_fd, 2);
    }
  if (posix_spawn (&pid, runtime, &fa, NULL, argv, environ) != 0)
    {
      perror ("posix_spawn");
      exit (1);
    }
  posix_spawn_file_actions_destroy (&fa);
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static pid_t
read_pid (const char *path)
{
  char *text = NULL;
  int pid = -1;
  if (berth_read_file_at (AT_FDCWD, path, 64, &text, NULL, NULL) == 0)
    berth_parse_int (text, &pid);
  free (text);
  return pid;
}

int
main (int argc, char **argv)
{
  char id[128], pidfile[512], buf[256], proc_json[512];
  int p[2], st = 0;
  ssize_t n;
  pid_t pid;

  if (argc != 7)
    {
      fprintf (stderr, "usage: %s RUNTIME STATE BUNDLE-EXIT42 BUNDLE-SLEEP WORKDIR ID\n", argv[0]);
      return 2;
    }
  runtime = argv[1];
  state_root = argv[2];
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    {
      perror ("PR_SET_CHILD_SUBREAPER");
      return 1;
    }

  /* 1. The container's stdout is our pipe; its exit status reaches us. */
  snprintf (id, sizeof id, "%s-exit", argv[6]);
  snprintf (pidfile, sizeof pidfile, "%s/exit.pid", argv[5]);
  if (pipe2 (p, O_CLOEXEC) < 0)
    return 1;
  {
    char *args[] = { "create", "--bundle", argv[3], "--pid-file", pidfile, id, NULL };
    report (runtime_cmd (p[1], args) == 0, "create with the container's stdio as fds 0-2");
  }
  close (p[1]);
  pid = read_pid (pidfile);
  report (pid > 0, "the pid file names the container's process");
  {
    char *args[] = { "start", id, NULL };
    report (runtime_cmd (-1, args) == 0, "start");
  }
  n = read (p[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  report (strcmp (buf, "hello from the container\n") == 0, "its output arrives on our pipe");
  report (waitpid (pid, &st, 0) == pid, "the container's process is our child (subreaper)");
  report (WIFEXITED (st) && WEXITSTATUS (st) == 42, "we get its real exit status (42)");
  close (p[0]);
  {
    char *args[] = { "delete", id, NULL };
    report (runtime_cmd (-1, args) == 0, "delete after it exited");
  }

  /* 2. A health check through exec --process, then SIGKILL: we see the signal. */
  snprintf (id, sizeof id, "%s-sleep", argv[6]);
  snprintf (pidfile, sizeof pidfile, "%s/sleep.pid", argv[5]);
  {
    char *args[] = { "create", "--bundle", argv[4], "--pid-file", pidfile, id, NULL };
    report (runtime_cmd (-1, args) == 0, "create a long-running container");
  }
  pid = read_pid (pidfile);
  {
    char *args[] = { "start", id, NULL };
    report (runtime_cmd (-1, args) == 0, "start it");
  }
  snprintf (proc_json, sizeof proc_json, "%s/check.json", argv[5]);
  {
    const char *check = "{\"args\":[\"/bin/sh\",\"-c\",\"test -d /proc/1 && exit 3\"],"
                        "\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},"
                        "\"env\":[\"PATH=/bin\"]}";
    berth_err err = NULL;
    if (berth_write_file_atomic_at (AT_FDCWD, proc_json, check, strlen (check), 0644, &err) < 0)
      return 1;
  }
  {
    char *args[] = { "exec", "--process", proc_json, id, NULL };
    report (runtime_cmd (-1, args) == 3, "exec --process: the exit code passes through");
  }
  snprintf (pidfile, sizeof pidfile, "%s/exec.pid", argv[5]);
  {
    const char *detached = "{\"args\":[\"/bin/sh\",\"-c\",\"exit 5\"],\"cwd\":\"/\","
                           "\"user\":{\"uid\":0,\"gid\":0}}";
    berth_err err = NULL;
    char *args[] = { "exec", "--detach", "--pid-file", pidfile, "--process", proc_json, id, NULL };
    if (berth_write_file_atomic_at (AT_FDCWD, proc_json, detached, strlen (detached), 0644, &err)
        < 0)
      return 1;
    report (runtime_cmd (-1, args) == 0, "exec --detach --pid-file");
  }
  {
    pid_t epid = read_pid (pidfile);
    report (epid > 0 && waitpid (epid, &st, 0) == epid && WIFEXITED (st) && WEXITSTATUS (st) == 5,
            "the detached exec'd process is our child, with its exit status (5)");
  }
  {
    char *args[] = { "kill", id, "KILL", NULL };
    report (runtime_cmd (-1, args) == 0, "kill KILL");
  }
  report (waitpid (pid, &st, 0) == pid && WIFSIGNALED (st) && WTERMSIG (st) == SIGKILL,
          "we see it killed by SIGKILL");
  {
    char *args[] = { "delete", id, NULL };
    report (runtime_cmd (-1, args) == 0, "delete");
  }

  /* 3. delete --force while a process exec --detach left to us lives in the container's pid
     namespace, not reaped while the delete runs (the shim reaps in the same loop that waits
     for the delete). The namespace's first process cannot finish exiting until we reap it:
     delete must not wait for that. */
  snprintf (id, sizeof id, "%s-force", argv[6]);
  snprintf (pidfile, sizeof pidfile, "%s/force.pid", argv[5]);
  {
    char *args[] = { "create", "--bundle", argv[4], "--pid-file", pidfile, id, NULL };
    report (runtime_cmd (-1, args) == 0, "create another long-running container");
  }
  pid = read_pid (pidfile);
  {
    char *args[] = { "start", id, NULL };
    report (runtime_cmd (-1, args) == 0, "start it");
  }
  snprintf (pidfile, sizeof pidfile, "%s/force-exec.pid", argv[5]);
  {
    char *args[] = { "exec", "--detach", "--pid-file", pidfile, id, "/bin/sleep", "1000", NULL };
    report (runtime_cmd (-1, args) == 0, "exec --detach a sleeper");
  }
  {
    pid_t epid = read_pid (pidfile);
    char *args[] = { "delete", "--force", id, NULL };
    report (epid > 0, "its pid file");
    report (runtime_cmd (-1, args) == 0,
            "delete --force returns with the exec'd process not reaped");
    report (epid > 0 && waitpid (epid, &st, 0) == epid && WIFSIGNALED (st)
                && WTERMSIG (st) == SIGKILL,
            "the exec'd process was killed");
    report (waitpid (pid, &st, 0) == pid && WIFSIGNALED (st) && WTERMSIG (st) == SIGKILL,
            "so was the container's process");
  }
  printf ("# %d failed\n", failures);
  return failures ? 1 : 0;
}
