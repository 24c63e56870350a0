/* The directory task source (dir:/PATH): task files desired RUNNING while present, their
 * state written beside them. */
#ifndef BERTH_AGENT_SOURCES_DIR_H
#define BERTH_AGENT_SOURCES_DIR_H

#include "agent/sources/source.h"

extern const struct task_source_ops dir_source_ops;

#endif
