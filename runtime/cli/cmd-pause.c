/* berth-runtime pause ID / resume ID: freeze or thaw every process of the container. */
#include "cli.h"

static int
pause_resume (struct cli *cli, int argc, char **argv, const char *verb,
              int (*fn) (const struct runtime_context *, const char *, berth_err *))
{
  static const struct option opts[] = { { NULL, 0, NULL, 0 } };
  berth_err err = NULL;
  int r;

  if (getopt_long (argc, argv, "", opts, NULL) != -1)
    return cli_usage (verb, "unknown option");
  if ((r = cli_want_args (verb, argc, argv, 1, 1)) != 0)
    return r;
  if (fn (&cli->ctx, argv[optind], &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}

int
cli_pause (struct cli *cli, int argc, char **argv)
{
  return pause_resume (cli, argc, argv, "pause", runtime_pause);
}

int
cli_resume (struct cli *cli, int argc, char **argv)
{
  return pause_resume (cli, argc, argv, "resume", runtime_resume);
}
