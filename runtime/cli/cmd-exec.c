/* berth-runtime exec [--process FILE] [--tty] [--detach] [--pid-file FILE]
 *   [--console-socket PATH] [--env NAME=VALUE]... [--cwd DIR] [--user UID[:GID]]
 *   [--preserve-fds N] ID [COMMAND [ARG...]]
 * Options come before ID; everything after ID is the command. */
#include "cli.h"

int
cli_exec (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = {
    { "process", required_argument, NULL, 'p' },
    { "tty", no_argument, NULL, 't' },
    { "detach", no_argument, NULL, 'd' },
    { "pid-file", required_argument, NULL, 'i' },
    { "console-socket", required_argument, NULL, 'c' },
    { "env", required_argument, NULL, 'e' },
    { "cwd", required_argument, NULL, 'w' },
    { "user", required_argument, NULL, 'u' },
    { "preserve-fds", required_argument, NULL, 'P' },
    { NULL, 0, NULL, 0 },
  };
  struct runtime_exec_options o = { 0 };
  cleanup_strv char **env = xzalloc (sizeof (char *));
  berth_err err = NULL;
  int c, r, status = 0;

  while ((c = getopt_long (argc, argv, "+p:tde:u:", opts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        o.process_file = optarg;
        break;
      case 't':
        o.tty = true;
        break;
      case 'd':
        o.detach = true;
        break;
      case 'i':
        o.pid_file = optarg;
        break;
      case 'c':
        o.console_socket = optarg;
        break;
      case 'e':
        if (strchr (optarg, '=') == NULL || optarg[0] == '=')
          return cli_usage ("exec", "--env: `%s` is not NAME=VALUE", optarg);
        strv_append (&env, optarg);
        break;
      case 'w':
        if (optarg[0] != '/')
          return cli_usage ("exec", "--cwd: `%s` is not an absolute path", optarg);
        o.cwd = optarg;
        break;
      case 'u':
        o.user = optarg;
        break;
      case 'P':
        if (cli_parse_preserve_fds (optarg, &o.preserve_fds) < 0)
          return cli_usage ("exec", "--preserve-fds: `%s` is not a number of fds", optarg);
        break;
      default:
        return cli_usage ("exec", "unknown option");
      }
  if ((r = cli_want_args ("exec", argc, argv, 1, -1)) != 0)
    return r;
  if (o.process_file && optind + 1 < argc)
    return cli_usage ("exec", "a command cannot be given with --process");
  if (!o.process_file && optind + 1 >= argc)
    return cli_usage ("exec", "give a command or --process FILE");
  if (o.process_file && (env[0] || o.cwd || o.user))
    return cli_usage ("exec", "--env, --cwd and --user change the container's process; with "
                              "--process, write them in the file");
  o.args = argv + optind + 1;
  o.env = env;
  if (runtime_exec (&cli->ctx, argv[optind], &o, &status, &err) < 0)
    return cli_fail (cli, &err);
  return status;
}
