/* berth-runtime spec [--bundle DIR]: writes config.json with berth's secure defaults (see
 * runtime_spec_default); an existing one is never overwritten. */
#include "cli.h"

int
cli_spec (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { "bundle", required_argument, NULL, 'b' },
                                        { "rootless", no_argument, NULL, 'R' },
                                        { NULL, 0, NULL, 0 } };
  cleanup_json json_object *spec = runtime_spec_default ();
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;
  const char *bundle = ".";
  const char *text;
  berth_err err = NULL;
  int c, r;

  while ((c = getopt_long (argc, argv, "b:", opts, NULL)) != -1)
    if (c == 'b')
      bundle = optarg;
    else if (c == 'R')
      return cli_usage ("spec", "--rootless: rootless containers are not supported by berth");
    else
      return cli_usage ("spec", "unknown option");
  if ((r = cli_want_args ("spec", argc, argv, 0, 0)) != 0)
    return r;
  path = xasprintf ("%s/config.json", bundle);
  text = json_object_to_json_string_ext (spec,
                                         JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      berth_err_set (&err, errno, "write `%s`%s", path,
                     errno == EEXIST ? " (remove it first)" : "");
      return cli_fail (cli, &err);
    }
  if (berth_write_all (fd, text, strlen (text)) < 0 || berth_write_all (fd, "\n", 1) < 0)
    {
      berth_err_set (&err, errno, "write `%s`", path);
      unlink (path);
      return cli_fail (cli, &err);
    }
  return 0;
}
