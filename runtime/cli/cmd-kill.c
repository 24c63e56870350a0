/* berth-runtime kill [--all] ID [SIGNAL]: SIGNAL is a name (KILL, SIGKILL) or a number;
 * SIGTERM by default. */
#include "cli.h"

int
cli_kill (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
  berth_err err = NULL;
  bool all = false;
  int c, r, sig = SIGTERM;

  while ((c = getopt_long (argc, argv, "a", opts, NULL)) != -1)
    if (c == 'a')
      all = true;
    else
      return cli_usage ("kill", "unknown option");
  if ((r = cli_want_args ("kill", argc, argv, 1, 2)) != 0)
    return r;
  if (optind + 1 < argc && runtime_signal_parse (argv[optind + 1], &sig) < 0)
    return cli_usage ("kill", "`%s` is not a signal", argv[optind + 1]);
  if (runtime_kill (&cli->ctx, argv[optind], sig, all, &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}
