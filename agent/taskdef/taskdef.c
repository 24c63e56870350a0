/* struct taskdef: lifetime, lookups, start order, and the small name tables (signals,
 * capabilities, namespaced sysctls) the parser and the OCI conversion share. */
#include "taskdef.h"
#include "taskdef-internal.h"

#include <ctype.h>
#include <signal.h>
#include <strings.h>
#include <sys/capability.h>

static void
container_free (struct taskdef_container *c)
{
  free (c->name);
  free (c->image);
  strv_free (c->command);
  strv_free (c->entry_point);
  for (size_t i = 0; i < c->n_env; i++)
    {
      free (c->env[i].name);
      free (c->env[i].value);
    }
  free (c->env);
  for (size_t i = 0; i < c->n_depends_on; i++)
    free (c->depends_on[i].container);
  free (c->depends_on);
  strv_free (c->health.argv);
  free (c->user);
  free (c->working_dir);
  strv_free (c->cap_add);
  strv_free (c->cap_drop);
  for (size_t i = 0; i < c->n_devices; i++)
    {
      free (c->devices[i].host_path);
      free (c->devices[i].container_path);
    }
  free (c->devices);
  for (size_t i = 0; i < c->n_tmpfs; i++)
    {
      free (c->tmpfs[i].container_path);
      strv_free (c->tmpfs[i].options);
    }
  free (c->tmpfs);
  for (size_t i = 0; i < c->n_ulimits; i++)
    free (c->ulimits[i].name);
  free (c->ulimits);
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      free (c->mount_points[i].source_volume);
      free (c->mount_points[i].container_path);
    }
  free (c->mount_points);
  for (size_t i = 0; i < c->n_volumes_from; i++)
    free (c->volumes_from[i].source_container);
  free (c->volumes_from);
  free (c->hostname);
  strv_free (c->dns_servers);
  strv_free (c->dns_search_domains);
  for (size_t i = 0; i < c->n_extra_hosts; i++)
    {
      free (c->extra_hosts[i].hostname);
      free (c->extra_hosts[i].address);
    }
  free (c->extra_hosts);
  for (size_t i = 0; i < c->n_sysctls; i++)
    {
      free (c->sysctls[i].name);
      free (c->sysctls[i].value);
    }
  free (c->sysctls);
  for (size_t i = 0; i < c->n_ports; i++)
    {
      free (c->ports[i].name);
      free (c->ports[i].app_protocol);
    }
  free (c->ports);
  free (c->restart.ignored_exit_codes);
  strv_free (c->labels);
  free (c->stop_signal);
}

void
taskdef_free (struct taskdef *td)
{
  if (td == NULL)
    return;
  for (size_t i = 0; i < td->n_containers; i++)
    container_free (&td->containers[i]);
  free (td->containers);
  for (size_t i = 0; i < td->n_volumes; i++)
    {
      free (td->volumes[i].name);
      free (td->volumes[i].host_source_path);
    }
  free (td->volumes);
  free (td->family);
  free (td->hostname);
  json_object_put (td->json);
  free (td);
}

void
cleanup_taskdefp (struct taskdef **td)
{
  taskdef_free (*td);
}

const struct taskdef_container *
taskdef_container_find (const struct taskdef *td, const char *name, size_t *ret_index)
{
  for (size_t i = 0; i < td->n_containers; i++)
    if (td->containers[i].name && strcmp (td->containers[i].name, name) == 0)
      {
        if (ret_index)
          *ret_index = i;
        return &td->containers[i];
      }
  return NULL;
}

/* Kahn's algorithm, taking the earliest ready container each round so that independent
 * containers keep the order of the document. O(n^2) with n <= 10. */
size_t
taskdef_start_order_partial (const struct taskdef *td, size_t *ret)
{
  cleanup_free bool *placed = xzalloc (td->n_containers + 1);
  size_t n = 0;

  while (n < td->n_containers)
    {
      size_t i;
      for (i = 0; i < td->n_containers; i++)
        {
          const struct taskdef_container *c = &td->containers[i];
          bool ready = !placed[i];
          for (size_t j = 0; ready && j < c->n_depends_on; j++)
            if (!placed[c->depends_on[j].index])
              ready = false;
          if (ready)
            break;
        }
      if (i == td->n_containers)
        break;
      placed[i] = true;
      ret[n++] = i;
    }
  return n;
}

void
taskdef_start_order (const struct taskdef *td, size_t *ret)
{
  size_t n = taskdef_start_order_partial (td, ret);
  /* A parsed taskdef has no cycle; keep the contract anyway. */
  if (n < td->n_containers)
    abort ();
}

void
taskdef_resources (const struct taskdef *td, uint32_t *ret_cpu_units, uint64_t *ret_memory_mib)
{
  uint64_t cpu = 0, mem = 0;
  for (size_t i = 0; i < td->n_containers; i++)
    {
      const struct taskdef_container *c = &td->containers[i];
      cpu += c->cpu;
      mem += c->memory_reservation_mib ? c->memory_reservation_mib : c->memory_mib;
    }
  /* The parser keeps the containers' sum within the task's values, so it fits. */
  *ret_cpu_units = td->cpu ? td->cpu : (uint32_t)cpu;
  *ret_memory_mib = td->memory_mib ? td->memory_mib : mem;
}

const char *
taskdef_network_mode_name (enum taskdef_network_mode m)
{
  switch (m)
    {
    case TASKDEF_NETWORK_AWSVPC:
      return "awsvpc";
    case TASKDEF_NETWORK_HOST:
      return "host";
    case TASKDEF_NETWORK_NONE:
      return "none";
    }
  return "unknown";
}

const char *
taskdef_dep_condition_name (enum taskdef_dep_condition c)
{
  switch (c)
    {
    case TASKDEF_DEP_START:
      return "START";
    case TASKDEF_DEP_COMPLETE:
      return "COMPLETE";
    case TASKDEF_DEP_SUCCESS:
      return "SUCCESS";
    case TASKDEF_DEP_HEALTHY:
      return "HEALTHY";
    }
  return "unknown";
}

const char *
taskdef_pull_policy_name (enum taskdef_pull_policy p)
{
  switch (p)
    {
    case TASKDEF_PULL_DEFAULT:
      return "default";
    case TASKDEF_PULL_ALWAYS:
      return "always";
    case TASKDEF_PULL_IF_NOT_PRESENT:
      return "if-not-present";
    case TASKDEF_PULL_NEVER:
      return "never";
    }
  return "unknown";
}

int
taskdef_parse_signal (const char *s, int *ret)
{
  static const struct
  {
    const char *name;
    int sig;
  } sigs[] = {
    { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
    { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
    { "FPE", SIGFPE },       { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
    { "USR2", SIGUSR2 },     { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
    { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
    { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
    { "XCPU", SIGXCPU },     { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
    { "WINCH", SIGWINCH },   { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
    { "SYS", SIGSYS },
  };
  const char *name = s;
  int n;

  if (s == NULL || *s == '\0')
    return -EINVAL;
  if (isdigit ((unsigned char)*s))
    {
      if (berth_parse_int (s, &n) < 0 || n < 1 || n > SIGRTMAX)
        return -EINVAL;
      *ret = n;
      return 0;
    }
  if (strncasecmp (name, "SIG", 3) == 0)
    name += 3;
  for (size_t i = 0; i < ARRAY_SIZE (sigs); i++)
    if (strcasecmp (name, sigs[i].name) == 0)
      {
        *ret = sigs[i].sig;
        return 0;
      }
  /* RTMIN+n and RTMAX-n, as Docker's STOPSIGNAL accepts. */
  if (strncasecmp (name, "RTMIN", 5) == 0 || strncasecmp (name, "RTMAX", 5) == 0)
    {
      bool min = strncasecmp (name, "RTMIN", 5) == 0;
      int off = 0;
      if (name[5] != '\0')
        {
          if (name[5] != (min ? '+' : '-') || berth_parse_int (name + 6, &off) < 0 || off < 0)
            return -EINVAL;
        }
      n = min ? SIGRTMIN + off : SIGRTMAX - off;
      if (n < SIGRTMIN || n > SIGRTMAX)
        return -EINVAL;
      *ret = n;
      return 0;
    }
  return -EINVAL;
}

int
taskdef_parse_capability (const char *s, int *ret)
{
  cleanup_free char *lower = NULL;
  cap_value_t v;
  size_t n;

  if (s == NULL || *s == '\0' || isdigit ((unsigned char)*s))
    return -EINVAL;
  lower = strncasecmp (s, "CAP_", 4) == 0 ? xstrdup (s) : xasprintf ("cap_%s", s);
  n = strlen (lower);
  for (size_t i = 0; i < n; i++)
    lower[i] = (char)tolower ((unsigned char)lower[i]);
  /* libcap also takes numbers and "all"; only real names get this far. */
  if (cap_from_name (lower, &v) < 0 || v < 0)
    return -EINVAL;
  *ret = v;
  return 0;
}

char *
taskdef_capability_name (int cap)
{
  char *name = cap_to_name ((cap_value_t)cap);
  char *ret;
  if (name == NULL)
    abort ();
  ret = xstrdup (name);
  cap_free (name);
  for (char *p = ret; *p; p++)
    *p = (char)toupper ((unsigned char)*p);
  return ret;
}

enum taskdef_sysctl_kind
taskdef_sysctl_kind (const char *name)
{
  static const char *const ipc[]
      = { "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",          "kernel.sem", "kernel.shmall",
          "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", NULL };
  const char *p;

  /* The name becomes a path under /proc/sys: no empty, "." or ".." components. */
  if (*name == '\0' || strlen (name) > 256)
    return TASKDEF_SYSCTL_REFUSED;
  for (p = name; *p; p++)
    if (!isalnum ((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-' && *p != '/')
      return TASKDEF_SYSCTL_REFUSED;
  if (name[0] == '.' || name[strlen (name) - 1] == '.' || strstr (name, "..") || strchr (name, '/'))
    return TASKDEF_SYSCTL_REFUSED;
  if (str_has_prefix (name, "net.") && name[4] != '\0')
    return TASKDEF_SYSCTL_NET;
  if (str_has_prefix (name, "fs.mqueue.") && name[10] != '\0')
    return TASKDEF_SYSCTL_IPC;
  for (size_t i = 0; ipc[i]; i++)
    if (strcmp (ipc[i], name) == 0)
      return TASKDEF_SYSCTL_IPC;
  return TASKDEF_SYSCTL_REFUSED;
}
