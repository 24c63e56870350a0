/* berth-runtime events [--stats] [--interval DURATION] ID: JSON lines on stdout, a stats
 * event every interval (5s by default) and oom / pids.max events as they happen, until the
 * container stops; --stats prints one stats event. */
#include "cli.h"

static int
print_event (json_object *e, void *userdata)
{
  (void)userdata;
  printf ("%s\n", json_object_to_json_string_ext (e, JSON_C_TO_STRING_PLAIN
                                                         | JSON_C_TO_STRING_NOSLASHESCAPE));
  return fflush (stdout) == 0 ? 0 : 1;
}

int
cli_events (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { "stats", no_argument, NULL, 's' },
                                        { "interval", required_argument, NULL, 'i' },
                                        { NULL, 0, NULL, 0 } };
  uint64_t interval = 5000000000ULL;
  berth_err err = NULL;
  bool stats = false;
  int c, r;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    if (c == 's')
      stats = true;
    else if (c == 'i')
      {
        if (berth_parse_duration_ns (optarg, &interval) < 0 || interval < 1000000)
          return cli_usage ("events", "--interval: `%s` is not a duration of 1ms or more", optarg);
      }
    else
      return cli_usage ("events", "unknown option");
  if ((r = cli_want_args ("events", argc, argv, 1, 1)) != 0)
    return r;
  if (runtime_events (&cli->ctx, argv[optind], stats, interval, print_event, NULL, &err) < 0)
    return cli_fail (cli, &err);
  return 0;
}
