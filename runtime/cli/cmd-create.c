/* berth-runtime create [--bundle DIR] [--pid-file FILE] [--console-socket PATH]
 *                      [--preserve-fds N] ID */
#include "cli.h"

/* Options shared by create and run; returns 0, or an exit status. */
int cli_create_option (const char *verb, int c, struct runtime_create_options *o);

int
cli_create_option (const char *verb, int c, struct runtime_create_options *o)
{
  switch (c)
    {
    case 'b':
      o->bundle = optarg;
      return 0;
    case 'p':
      o->pid_file = optarg;
      return 0;
    case 'c':
      o->console_socket = optarg;
      return 0;
    case 'P':
      if (cli_parse_preserve_fds (optarg, &o->preserve_fds) < 0)
        return cli_usage (verb, "--preserve-fds: `%s` is not a number of fds", optarg);
      return 0;
    case 'k':
      o->no_new_keyring = true;
      return 0;
    case 'n':
      return cli_usage (verb, "--no-pivot is not offered: berth always uses pivot_root");
    default:
      return cli_usage (verb, "unknown option (see berth-runtime --help)");
    }
}

#define CREATE_OPTIONS                                                                             \
  { "bundle", required_argument, NULL, 'b' }, { "pid-file", required_argument, NULL, 'p' },        \
      { "console-socket", required_argument, NULL, 'c' },                                          \
      { "preserve-fds", required_argument, NULL, 'P' },                                            \
      { "no-new-keyring", no_argument, NULL, 'k' },                                                \
  {                                                                                                \
    "no-pivot", no_argument, NULL, 'n'                                                             \
  }

int
cli_create (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { CREATE_OPTIONS, { NULL, 0, NULL, 0 } };
  struct runtime_create_options o = { 0 };
  berth_err err = NULL;
  int c, r;

  while ((c = getopt_long (argc, argv, "b:", opts, NULL)) != -1)
    if ((r = cli_create_option ("create", c, &o)) != 0)
      return r;
  if ((r = cli_want_args ("create", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_create (&cli->ctx, argv[optind], &o, &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}

int
cli_run (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[]
      = { CREATE_OPTIONS, { "detach", no_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
  struct runtime_create_options o = { 0 };
  berth_err err = NULL;
  bool detach = false;
  int c, r, status = 0;

  while ((c = getopt_long (argc, argv, "b:d", opts, NULL)) != -1)
    {
      if (c == 'd')
        {
          detach = true;
          continue;
        }
      if ((r = cli_create_option ("run", c, &o)) != 0)
        return r;
    }
  if ((r = cli_want_args ("run", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_run (&cli->ctx, argv[optind], &o, detach, &status, &err) < 0)
    return cli_fail (cli, &err);
  return status;
}
