/* Helpers shared by the taskdef part's files; not part of its API. */
#ifndef BERTH_AGENT_TASKDEF_INTERNAL_H
#define BERTH_AGENT_TASKDEF_INTERNAL_H

#include "taskdef.h"

#if defined(__x86_64__)
#define TASKDEF_HOST_ARCH "X86_64"
#elif defined(__aarch64__)
#define TASKDEF_HOST_ARCH "ARM64"
#else
#define TASKDEF_HOST_ARCH "UNSUPPORTED"
#endif

/* Which namespace a sysctl belongs to; the others cannot be set per task. */
enum taskdef_sysctl_kind
{
  TASKDEF_SYSCTL_REFUSED = 0,
  TASKDEF_SYSCTL_NET,
  TASKDEF_SYSCTL_IPC,
};
enum taskdef_sysctl_kind taskdef_sysctl_kind (const char *name);

/* "CAP_NET_ADMIN" for the kernel's number (allocated). */
char *taskdef_capability_name (int cap);

/* Start order of the containers whose dependencies can all be met; returns how many
 * (fewer than n_containers when there is a cycle). */
size_t taskdef_start_order_partial (const struct taskdef *td, size_t *ret);

#endif
