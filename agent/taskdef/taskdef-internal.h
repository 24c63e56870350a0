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
/* A resolved process user. */
struct taskdef_user
{
  uint32_t uid, gid;
  uint32_t *additional_gids;
  size_t n_additional_gids;
  char *home; /* from /etc/passwd; NULL when unknown */
};
/* spec is "user", "user:group", "uid" or "uid:gid" (NULL or "": root); what names the
 * setting in errors ("containerDefinitions[0].user"). */
int taskdef_resolve_user (int rootfd, const char *spec, const char *what, struct taskdef_user *ret,
                          berth_err *err);
void taskdef_user_clear (struct taskdef_user *u);

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

/* A resolved process user. */
struct taskdef_user
{
  uint32_t uid, gid;
  uint32_t *additional_gids;
  size_t n_additional_gids;
  char *home; /* from /etc/passwd; NULL when unknown */
};
/* spec is "user", "user:group", "uid" or "uid:gid" (NULL or "": root); what names the
 * setting in errors ("containerDefinitions[0].user"). */
int taskdef_resolve_user (int rootfd, const char *spec, const char *what, struct taskdef_user *ret,
                          berth_err *err);
void taskdef_user_clear (struct taskdef_user *u);

#endif
