/* berth-runtime update --resources FILE|- ID: applies a linux.resources object. */
#include "cli.h"

int
cli_update (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[]
      = { { "resources", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 } };
  cleanup_json json_object *res = NULL;
  const char *file = NULL;
  berth_err err = NULL;
  int c, r;

  while ((c = getopt_long (argc, argv, "r:", opts, NULL)) != -1)
    if (c == 'r')
      file = optarg;
    else
      return cli_usage ("update", "unknown option");
  if ((r = cli_want_args ("update", argc, argv, 1, 1)) != 0)
    return r;
  if (file == NULL)
    return cli_usage ("update", "--resources FILE (or - for stdin) is required");
  if (strcmp (file, "-") == 0)
    {
      cleanup_free char *text = NULL;
      size_t len;
      if (berth_read_fd (0, 4u << 20, &text, &len, &err) < 0
          || bjson_parse (text, len, "resources", &res, &err) < 0)
        return cli_fail (cli, &err);
    }
  else if (bjson_parse_file_at (AT_FDCWD, file, 4u << 20, &res, &err) < 0)
    return cli_fail (cli, &err);
  if (runtime_update (&cli->ctx, argv[optind], res, &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}
