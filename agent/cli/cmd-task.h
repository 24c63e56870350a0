/* The task command family: run, ps, inspect, logs, exec, stop, rm, events, stats, info. */
#ifndef BERTH_CLI_CMD_TASK_H
#define BERTH_CLI_CMD_TASK_H

#include "cli.h"

extern const struct berth_command berth_task_commands[];

#endif
