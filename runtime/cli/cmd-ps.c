/* berth-runtime ps [--format table|json] ID: host pids of the container's processes. */
#include "cli.h"

int
cli_ps (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[]
      = { { "format", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  cleanup_free pid_t *pids = NULL;
  berth_err err = NULL;
  bool json = false;
  size_t n = 0;
  int c, r;

  while ((c = getopt_long (argc, argv, "f:", opts, NULL)) != -1)
    if (c == 'f' && (strcmp (optarg, "json") == 0 || strcmp (optarg, "table") == 0))
      json = strcmp (optarg, "json") == 0;
    else
      return cli_usage ("ps", "unknown option or format");
  if ((r = cli_want_args ("ps", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_ps (&cli->ctx, argv[optind], &pids, &n, &err) < 0)
    return cli_fail (cli, &err);
  if (json)
    {
      printf ("[");
      for (size_t i = 0; i < n; i++)
        printf ("%s%d", i ? "," : "", pids[i]);
      printf ("]\n");
      return 0;
    }
  printf ("PID\n");
  for (size_t i = 0; i < n; i++)
    printf ("%d\n", pids[i]);
  return 0;
}
