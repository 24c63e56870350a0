/* bench-endpoint-idle [SECONDS] : what the http source costs while nothing happens.
 * Starts berth-endpoint on 127.0.0.1 (port 20900+), runs the http source in this process
 * with a stub engine, lets it register and settle, then measures over SECONDS (default 120)
 * the CPU time and context switches of this process (the source's two threads) and of the
 * endpoint, and the requests the source made. */
#include "agent/sources/http.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

struct source_sink
{
  uint64_t generation;
};

void
source_sink_submit (struct source_sink *sink, struct source_update *u)
{
  int status = u->generation <= sink->generation ? -ESTALE : 0;
  if (status == 0)
    sink->generation = u->generation;
  u->persisted (u->opaque, u->generation, status, NULL);
  source_update_free (u);
}

json_object *
source_sink_node_snapshot (struct source_sink *sink BERTH_UNUSED)
{
  static const char text[]
      = "{\"agent_version\":\"bench\",\"resources\":{\"cpu\":2048,\"memory_mib\":4096},"
        "\"free\":{\"cpu\":2048,\"memory_mib\":4096},\"attributes\":{},\"tasks\":[]}";
  json_object *o = NULL;
  berth_err err = NULL;
  if (bjson_parse (text, strlen (text), "snapshot", &o, &err) < 0)
    abort ();
  return o;
}

static uint64_t
proc_cpu_ms (pid_t pid)
{
  cleanup_free char *path = xasprintf ("/proc/%d/stat", pid), *text = NULL;
  berth_err err = NULL;
  size_t len;
  char *p;
  unsigned long utime, stime;

  if (berth_read_file_at (AT_FDCWD, path, 4096, &text, &len, &err) < 0)
    return 0;
  p = strrchr (text, ')');
  /* Fields after the command: state is 3rd, utime 14th, stime 15th. */
  if (p == NULL
      || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return 0;
  return (uint64_t)(utime + stime) * 1000 / (uint64_t)sysconf (_SC_CLK_TCK);
}

static uint64_t
self_cpu_us (long *ret_switches)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  *ret_switches = ru.ru_nvcsw + ru.ru_nivcsw;
  return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec
         + (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

int
main (int argc, char **argv)
{
  char tmp[] = "/tmp/berth-bench-endpoint-XXXXXX";
  struct source_sink sink = { 0 };
  struct http_source_stats a, b;
  uint32_t seconds = 120;
  berth_err err = NULL;
  void *state = NULL;
  pid_t ep = -1;
  int port = 0;

  berth_log_init ("bench-endpoint-idle", 2, BERTH_LOG_PLAIN, BERTH_LOG_WARNING);
  if (argc > 1 && berth_parse_uint32 (argv[1], &seconds) < 0)
    {
      fprintf (stderr, "usage: %s [SECONDS]\n", argv[0]);
      return 2;
    }
  if (mkdtemp (tmp) == NULL)
    return 1;
  for (int p = 20900; p < 20998 && ep < 0; p += 2)
    {
      cleanup_free char *state_dir = xasprintf ("%s/ep", tmp);
      cleanup_free char *listen = xasprintf ("127.0.0.1:%d", p);
      cleanup_free char *admin = xasprintf ("127.0.0.1:%d", p + 1);
      int fds[2];
      char buf[8];
      pid_t pid;

      if (pipe2 (fds, O_CLOEXEC) < 0)
        return 1;
      pid = fork ();
      if (pid == 0)
        {
          prctl (PR_SET_PDEATHSIG, SIGKILL);
          dup2 (fds[1], 3);
          execl (BERTH_ENDPOINT_PATH, "berth-endpoint", "serve", "--state-dir", state_dir,
                 "--listen", listen, "--admin-listen", admin, "--ready-fd", "3", (char *)NULL);
          _exit (127);
        }
      close (fds[1]);
      if (read (fds[0], buf, sizeof (buf)) > 0)
        {
          ep = pid;
          port = p;
        }
      else
        waitpid (pid, NULL, 0);
      close (fds[0]);
    }
  if (ep < 0)
    {
      fprintf (stderr, "berth-endpoint did not start\n");
      return 1;
    }

  {
    cleanup_free char *url = xasprintf ("http://127.0.0.1:%d", port);
    cleanup_free char *sdir = xasprintf ("%s/agent", tmp);
    cleanup_free char *odir = xasprintf ("%s/agent/outbox", tmp);
    struct source_options o
        = { .url = url, .state_dir = sdir, .outbox_dir = odir, .allow_plain_http = true };
    if (source_http_ops.open (&o, &sink, &state, &err) < 0
        || source_http_ops.start (state, &err) < 0)
      {
        fprintf (stderr, "%s\n", berth_err_msg (&err));
        kill (ep, SIGTERM);
        return 1;
      }
  }
  /* Settle: registered, first manifest acknowledged, first heartbeat sent. */
  do
    {
      usleep (100 * 1000);
      http_source_get_stats (state, &a);
    }
  while (a.acks < 1 || a.heartbeats < 1);

  {
    long sw0, sw1;
    uint64_t c0 = self_cpu_us (&sw0), e0 = proc_cpu_ms (ep), c1, e1;
    http_source_get_stats (state, &a);
    sleep (seconds);
    c1 = self_cpu_us (&sw1);
    e1 = proc_cpu_ms (ep);
    http_source_get_stats (state, &b);
    printf ("idle %" PRIu32 " s (poll wait 30 s, heartbeat 30 s):\n", seconds);
    printf ("  http source: %.3f ms CPU (%.4f ms/s, %.5f%% of a core), %ld context switches"
            " (%.2f/s)\n",
            (double)(c1 - c0) / 1000.0, (double)(c1 - c0) / 1000.0 / seconds,
            (double)(c1 - c0) / 1e4 / seconds, sw1 - sw0, (double)(sw1 - sw0) / seconds);
    printf ("  requests: %" PRIu64 " polls, %" PRIu64 " heartbeats\n", b.polls - a.polls,
            b.heartbeats - a.heartbeats);
    printf ("  berth-endpoint: %" PRIu64 " ms CPU (clock-tick resolution)\n", e1 - e0);
  }
  source_http_ops.stop (state);
  source_http_ops.free (state);
  kill (ep, SIGTERM);
  waitpid (ep, NULL, 0);
  if (berth_rm_rf_at (AT_FDCWD, tmp, &err) < 0)
    berth_err_free (&err);
  return 0;
}
