/* berth-runtime list [--quiet] [--format table|json] */
#include "cli.h"

int
cli_list (struct cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' },
                                        { "format", required_argument, NULL, 'f' },
                                        { NULL, 0, NULL, 0 } };
  cleanup_json json_object *list = NULL;
  berth_err err = NULL;
  bool quiet = false, json = false;
  int c, r;

  while ((c = getopt_long (argc, argv, "qf:", opts, NULL)) != -1)
    if (c == 'q')
      quiet = true;
    else if (c == 'f' && (strcmp (optarg, "json") == 0 || strcmp (optarg, "table") == 0))
      json = strcmp (optarg, "json") == 0;
    else
      return cli_usage ("list", "unknown option or format");
  if ((r = cli_want_args ("list", argc, argv, 0, 0)) != 0)
    return r;
  if (runtime_list (&cli->ctx, &list, &err) < 0)
    return cli_fail (cli, &err);
  if (json)
    {
      printf ("%s\n", json_object_to_json_string_ext (list, JSON_C_TO_STRING_PLAIN
                                                                | JSON_C_TO_STRING_NOSLASHESCAPE));
      return 0;
    }
  if (!quiet)
    printf ("%-24s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
  for (size_t i = 0; i < json_object_array_length (list); i++)
    {
      json_object *s = json_object_array_get_idx (list, i), *v;
      const char *id = json_object_object_get_ex (s, "id", &v) ? json_object_get_string (v) : "";
      if (quiet)
        {
          printf ("%s\n", id);
          continue;
        }
      printf ("%-24s %-8d %-10s %-40s %s\n", id,
              json_object_object_get_ex (s, "pid", &v) ? json_object_get_int (v) : 0,
              json_object_object_get_ex (s, "status", &v) ? json_object_get_string (v) : "",
              json_object_object_get_ex (s, "bundle", &v) ? json_object_get_string (v) : "",
              json_object_object_get_ex (s, "created", &v) ? json_object_get_string (v) : "");
    }
  return 0;
}
