/* berth: the operator's command-line tool. Dispatches `berth COMMAND ...` to the command
 * families (images, networks, tasks); each family lives in its own cmd-*.c file. */
#include "common/common.h"
#include "berth-config.h"
#include "cli.h"
#include "cmd-task.h"

static const struct berth_command commands[] = {
  { "network", "create, list, inspect, delete and reconcile task networks", cmd_network },
  { "pull", "pull an image into the image store", cmd_pull },
  { "images", "list the images in the store", cmd_images },
  { "rmi", "remove images from the store", cmd_rmi },
  { "image", "image store: inspect, import, gc, check, mount", cmd_image },
  { NULL, NULL, NULL },
};

/* The task commands (over berthd's API) first, then the families that work without berthd. */
static const struct berth_command *const tables[] = { berth_task_commands, commands };

static void
usage (FILE *out)
{
  fprintf (out, "Usage: berth [--debug] [--api-socket PATH] COMMAND [ARGS...]\n\nCommands:\n");
  for (size_t t = 0; t < ARRAY_SIZE (tables); t++)
    for (const struct berth_command *c = tables[t]; c->name; c++)
      fprintf (out, "  %-14s %s\n", c->name, c->summary);
  fprintf (out, "\nRun `berth COMMAND --help` for a command's options.\n");
}

int
main (int argc, char **argv)
{
  int i = 1;

  berth_log_init ("berth", 2, BERTH_LOG_PLAIN, BERTH_LOG_INFO);
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (strcmp (argv[i], "--debug") == 0)
        berth_log_set_level (BERTH_LOG_DEBUG);
      else if (strcmp (argv[i], "--api-socket") == 0 && i + 1 < argc)
        setenv ("BERTH_API_SOCKET", argv[++i], 1);
      else if (strcmp (argv[i], "--version") == 0)
        {
          printf ("berth %s\n", BERTH_VERSION);
          return 0;
        }
      else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          usage (stdout);
          return 0;
        }
      else
        {
          log_error ("unknown option `%s`", argv[i]);
          usage (stderr);
          return 2;
        }
    }
  if (i >= argc)
    {
      usage (stderr);
      return 2;
    }
  for (size_t t = 0; t < ARRAY_SIZE (tables); t++)
    for (const struct berth_command *c = tables[t]; c->name; c++)
      if (strcmp (c->name, argv[i]) == 0)
        return c->run (argc - i, argv + i);
  log_error ("unknown command `%s`", argv[i]);
  usage (stderr);
  return 2;
}
