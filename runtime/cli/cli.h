/* berth-runtime: the OCI runtime command line, one thin file per verb over runtime/runtime.h.
 * Exit status: 0 success; 1 the operation failed (the message is on stderr and in --log);
 * 2 bad usage; run and exec (not detached) exit with the container process's status. */
#ifndef BERTH_RUNTIME_CLI_H
#define BERTH_RUNTIME_CLI_H

#include "runtime/runtime.h"

#include <getopt.h>

#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

struct cli
{
  struct runtime_context ctx;
  bool log_to_file; /* --log: errors also go to stderr */
};

/* Logs the error (and prints it on stderr when logging to a file); returns 1. */
int cli_fail (struct cli *cli, berth_err *err);
int cli_usage (const char *verb, const char *fmt, ...) BERTH_PRINTF (2, 3);
/* Exactly n positional arguments after the options (argv[optind...]). */
int cli_want_args (const char *verb, int argc, char **argv, int min, int max);
int cli_parse_preserve_fds (const char *s, int *ret);

int cli_create (struct cli *cli, int argc, char **argv);
int cli_start (struct cli *cli, int argc, char **argv);
int cli_run (struct cli *cli, int argc, char **argv);
int cli_state (struct cli *cli, int argc, char **argv);
int cli_kill (struct cli *cli, int argc, char **argv);
int cli_delete (struct cli *cli, int argc, char **argv);
int cli_exec (struct cli *cli, int argc, char **argv);
int cli_list (struct cli *cli, int argc, char **argv);
int cli_spec (struct cli *cli, int argc, char **argv);
int cli_update (struct cli *cli, int argc, char **argv);
int cli_events (struct cli *cli, int argc, char **argv);
int cli_ps (struct cli *cli, int argc, char **argv);
int cli_pause (struct cli *cli, int argc, char **argv);
int cli_resume (struct cli *cli, int argc, char **argv);

#endif
