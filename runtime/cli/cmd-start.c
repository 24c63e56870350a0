/* berth-runtime start ID */
#include "cli.h"

int
cli_start (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { NULL, 0, NULL, 0 } };
  berth_err err = NULL;
  int r;

  if (getopt_long (argc, argv, "", opts, NULL) != -1)
    return cli_usage ("start", "unknown option");
  if ((r = cli_want_args ("start", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_start (&cli->ctx, argv[optind], &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}
