/* berth-runtime delete [--force] ID */
#include "cli.h"

int
cli_delete (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  berth_err err = NULL;
  bool force = false;
  int c, r;

  while ((c = getopt_long (argc, argv, "f", opts, NULL)) != -1)
    if (c == 'f')
      force = true;
    else
      return cli_usage ("delete", "unknown option");
  if ((r = cli_want_args ("delete", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_delete (&cli->ctx, argv[optind], force, &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}
