/* berth-runtime state ID: the state JSON of the OCI runtime command line on stdout. */
#include "cli.h"

int
cli_state (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { NULL, 0, NULL, 0 } };
  cleanup_json json_object *st = NULL;
  berth_err err = NULL;
  int r;

  if (getopt_long (argc, argv, "", opts, NULL) != -1)
    return cli_usage ("state", "unknown option");
  if ((r = cli_want_args ("state", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_state (&cli->ctx, argv[optind], &st, &err) < 0)
    return cli_fail (cli, &err);
  printf ("%s\n", json_object_to_json_string_ext (st, JSON_C_TO_STRING_PRETTY
                                                          | JSON_C_TO_STRING_NOSLASHESCAPE));
  return 0;
}
