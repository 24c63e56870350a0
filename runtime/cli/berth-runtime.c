/* berth-runtime main: global options (--root, --log, --log-format, --debug), the verb
 * table, and the sealed re-execution (CVE-2019-5736) of the verbs that start processes in a
 * container. */
#include "cli.h"

#include "berth-config.h"

static const struct
{
  const char *name;
  int (*fn) (struct cli *cli, int argc, char **argv);
  bool sealed; /* runs processes inside a container: re-exec from a sealed copy first */
  const char *help;
} verbs[] = {
  { "create", cli_create, true, "create a container from a bundle" },
  { "start", cli_start, false, "start a created container" },
  { "run", cli_run, true, "create and start a container" },
  { "state", cli_state, false, "print the state of a container" },
  { "kill", cli_kill, false, "send a signal to a container's process" },
  { "delete", cli_delete, false, "delete a container" },
  { "exec", cli_exec, true, "run a process in a running container" },
  { "list", cli_list, false, "list containers" },
  { "spec", cli_spec, false, "write a config.json with berth's secure defaults" },
  { "update", cli_update, false, "change the resources of a running container" },
  { "events", cli_events, false, "print stats and OOM events of a container" },
  { "ps", cli_ps, false, "list the processes of a container" },
  { "pause", cli_pause, false, "freeze every process of a container" },
  { "resume", cli_resume, false, "thaw a paused container" },
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] "
                "[--debug] COMMAND [OPTIONS] ...\n\ncommands:\n");
  for (size_t i = 0; i < ARRAY_SIZE (verbs); i++)
    fprintf (out, "  %-8s %s\n", verbs[i].name, verbs[i].help);
}

static void
warn_cb (void *userdata, const char *msg)
{
  struct cli *cli = userdata;
  log_warning ("%s", msg);
  if (cli->log_to_file)
    fprintf (stderr, "berth-runtime: warning: %s\n", msg);
}

int
cli_fail (struct cli *cli, berth_err *err)
{
  log_error ("%s", berth_err_msg (err));
  if (cli->log_to_file)
    fprintf (stderr, "berth-runtime: error: %s\n", berth_err_msg (err));
  berth_err_free (err);
  return CLI_EXIT_FAILURE;
}

int
cli_usage (const char *verb, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "berth-runtime %s: ", verb);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  return CLI_EXIT_USAGE;
}

int
cli_want_args (const char *verb, int argc, char **argv, int min, int max)
{
  int n = argc - optind;
  (void)argv;
  if (n < min)
    return cli_usage (verb, "missing argument (see berth-runtime --help)");
  if (max >= 0 && n > max)
    return cli_usage (verb, "unexpected argument `%s`", argv[optind + max]);
  return 0;
}

int
cli_parse_preserve_fds (const char *s, int *ret)
{
  int n;
  if (berth_parse_int (s, &n) < 0 || n < 0 || n > 65536)
    return -EINVAL;
  *ret = n;
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "root", required_argument, NULL, 'r' },
    { "log", required_argument, NULL, 'l' },
    { "log-format", required_argument, NULL, 'f' },
    { "debug", no_argument, NULL, 'd' },
    { "systemd-cgroup", no_argument, NULL, 's' },
    { "version", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct cli cli = { .ctx = { .warn = warn_cb } };
  enum berth_log_format format = BERTH_LOG_PLAIN;
  enum berth_log_level level = BERTH_LOG_WARNING;
  const char *log_file = NULL;
  const char *verb;
  int c;

  cli.ctx.userdata = &cli;
  while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        cli.ctx.root = optarg;
        break;
      case 'l':
        log_file = optarg;
        break;
      case 'f':
        if (strcmp (optarg, "json") == 0)
          format = BERTH_LOG_JSON;
        else if (strcmp (optarg, "text") == 0)
          format = BERTH_LOG_PLAIN;
        else
          return cli_usage ("--log-format", "`%s` is not text or json", optarg);
        break;
      case 'd':
        level = BERTH_LOG_DEBUG;
        break;
      case 's':
        return cli_usage ("--systemd-cgroup", "systemd cgroup management is not supported by "
                                              "berth-runtime (it manages cgroupfs itself)");
      case 'v':
        printf ("berth-runtime version %s\nspec: %s\n", BERTH_VERSION, RUNTIME_OCI_VERSION);
        return 0;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return CLI_EXIT_USAGE;
      }
  berth_log_init ("berth-runtime", 2, format, level);
  if (log_file)
    {
      berth_err err = NULL;
      if (berth_log_open_file (log_file, &err) < 0)
        {
          fprintf (stderr, "berth-runtime: %s\n", berth_err_msg (&err));
          berth_err_free (&err);
          return CLI_EXIT_FAILURE;
        }
      cli.log_to_file = true;
    }
  if (optind >= argc)
    {
      usage (stderr);
      return CLI_EXIT_USAGE;
    }
  verb = argv[optind];
  for (size_t i = 0; i < ARRAY_SIZE (verbs); i++)
    if (strcmp (verbs[i].name, verb) == 0)
      {
        if (verbs[i].sealed)
          {
            berth_err err = NULL;
            if (runtime_exe_seal (argv, &err) < 0)
              return cli_fail (&cli, &err);
          }
        /* Each verb parses its own options from its name on. */
        argc -= optind;
        argv += optind;
        optind = 0;
        return verbs[i].fn (&cli, argc, argv);
      }
  return cli_usage (verb, "unknown command (see berth-runtime --help)");
}
