/* The berth CLI's command table entry. A command's run() gets argv starting at its own
 * name and returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

struct berth_command
{
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
};

int cmd_network (int argc, char **argv);
int cmd_pull (int argc, char **argv);
int cmd_images (int argc, char **argv);
int cmd_rmi (int argc, char **argv);
int cmd_image (int argc, char **argv);

#endif
