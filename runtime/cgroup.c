/* The runtime's side of cgroups/: every container gets a cgroup (nested under the
 * runtime's own one unless linux.cgroupsPath says otherwise) with linux.resources applied,
 * device rules for the default devices and linux.devices, and the hierarchies a "cgroup"
 * mount shows inside the container. */
#include "runtime/internal.h"

#include "cgroups/cgroups.h"

struct rt_cgroup
{
  struct cgroups_manager *m;
  struct cgroups_cgroup *cg;
};

/* BERTH_CGROUP_ROOT: the cgroup root berthd uses (its CGROUP_ROOT, or on a delegated
 * cgroup v2 subtree the cgroup it moved itself out of), passed down through the shims so
 * that a relative cgroupsPath means the same to the runtime as to berthd. Unset: the
 * runtime's own cgroup. */
static int
open_manager (struct rt_cgroup *c, berth_err *err)
{
  const char *root = getenv ("BERTH_CGROUP_ROOT");
  int r = cgroups_manager_open (root && *root ? root : NULL, &c->m, err);
  if (r < 0)
    return berth_err_wrap (err, "cgroups");
  return 0;
}

static int
device_rules (struct cgroups_resources *res, const struct rt_config *c)
{
  size_t n;
  const struct runtime_device_rule *rules = runtime_default_device_rules (&n);
  int r;

  for (size_t i = 0; i < n; i++)
    if ((r = cgroups_resources_allow_device (res, rules[i].type, rules[i].major, rules[i].minor,
                                             rules[i].access))
        < 0)
      return r;
  /* A config that says which devices its container may use (linux.resources.devices,
   * as Docker, ECS and berth's agent write: deny everything, then allow each device with
   * its permissions) is obeyed as runc does: its linux.devices get no rule of their own,
   * or an `r` device would become `rwm` (the last matching rule wins). Without such rules,
   * each linux.devices entry is allowed rwm so that it can be used at all. */
  {
    json_object *rd = NULL;
    if (c->resources && json_object_object_get_ex (c->resources, "devices", &rd)
        && json_object_is_type (rd, json_type_array) && json_object_array_length (rd) > 0)
      return 0;
  }
  for (size_t i = 0; i < c->n_devices; i++)
    {
      const struct rt_device *d = &c->devices[i];
      if (d->type == 'p')
        continue;
      if ((r = cgroups_resources_allow_device (res, d->type, d->major, d->minor, "rwm")) < 0)
        return r;
    }
  return 0;
}

int
rt_cgroup_create (const struct rt_config *c, const char *id, struct rt_cgroup **ret, berth_err *err)
{
  struct rt_cgroup *cg = xzalloc (sizeof *cg);
  struct cgroups_resources *res = NULL;
  int r;

  r = open_manager (cg, err);
  if (r < 0)
    goto fail;
  if (c->resources)
    r = cgroups_resources_parse (c->resources, "linux.resources", &res, err);
  else
    res = cgroups_resources_new ();
  if (r < 0)
    goto fail;
  r = device_rules (res, c);
  if (r < 0)
    {
      r = berth_err_set (err, -r, "linux.devices: device cgroup rules");
      goto fail;
    }
  r = cgroups_create (cg->m, c->cgroups_path, id, res, &cg->cg, err);
  if (r < 0)
    goto fail;
  cgroups_resources_free (res);
  *ret = cg;
  return 0;
fail:
  cgroups_resources_free (res);
  rt_cgroup_free (cg);
  return r;
}

int
rt_cgroup_open (const char *saved_path, struct rt_cgroup **ret, berth_err *err)
{
  struct rt_cgroup *cg = xzalloc (sizeof *cg);
  int r = open_manager (cg, err);
  if (r >= 0)
    r = cgroups_open (cg->m, saved_path, &cg->cg, err);
  if (r < 0)
    {
      rt_cgroup_free (cg);
      return r;
    }
  *ret = cg;
  return 0;
}

void
rt_cgroup_free (struct rt_cgroup *cg)
{
  if (cg == NULL)
    return;
  cgroups_free (cg->cg);
  cgroups_manager_free (cg->m);
  free (cg);
}

const char *
rt_cgroup_path (const struct rt_cgroup *cg)
{
  return cgroups_path (cg->cg);
}

int
rt_cgroup_v2_dirfd (const struct rt_cgroup *cg)
{
  return cgroups_v2_dirfd (cg->cg);
}

int
rt_cgroup_enter (struct rt_cgroup *cg, pid_t pid, berth_err *err)
{
  return cgroups_enter (cg->cg, pid, err);
}

struct mounts_acc
{
  struct rt_cgroup_mount *v;
  size_t n;
};

static int
add_hierarchy (const struct cgroups_hierarchy *h, void *userdata, berth_err *err)
{
  struct mounts_acc *acc = userdata;
  struct rt_cgroup_mount *m;
  (void)err;
  acc->v = xrealloc (acc->v, (acc->n + 1) * sizeof *acc->v);
  m = &acc->v[acc->n++];
  memset (m, 0, sizeof *m);
  m->unified = h->unified;
  m->name = xstrdup (h->name);
  m->host_dir = xstrdup (h->dir);
  m->fs_flags = xzalloc (sizeof (char *));
  if (!h->unified)
    {
      /* "cpu,cpuacct" -> fsconfig flags cpu, cpuacct; "name=systemd" -> name=systemd. */
      cleanup_free char *copy = xstrdup (h->controllers);
      char *save = NULL;
      for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
        strv_append (&m->fs_flags, t);
    }
  return 0;
}

int
rt_cgroup_mounts (struct rt_cgroup *cg, struct rt_cgroup_mount **ret, size_t *ret_n, berth_err *err)
{
  struct mounts_acc acc = { NULL, 0 };
  int r = cgroups_foreach_hierarchy (cg->m, cg->cg, add_hierarchy, &acc, err);
  if (r < 0)
    {
      rt_cgroup_mounts_free (acc.v, acc.n);
      return berth_err_wrap (err, "cgroup mount");
    }
  *ret = acc.v;
  *ret_n = acc.n;
  return 0;
}

void
rt_cgroup_mounts_free (struct rt_cgroup_mount *m, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (m[i].name);
      free (m[i].host_dir);
      strv_free (m[i].fs_flags);
    }
  free (m);
}

int
rt_cgroup_kill (struct rt_cgroup *cg, int sig, berth_err *err)
{
  return cgroups_kill (cg->cg, sig, err);
}

int
rt_cgroup_freeze (struct rt_cgroup *cg, bool frozen, berth_err *err)
{
  return cgroups_freeze (cg->cg, frozen, err);
}

int
rt_cgroup_frozen (struct rt_cgroup *cg, bool *ret, berth_err *err)
{
  return cgroups_frozen (cg->cg, ret, err);
}

int
rt_cgroup_pids (struct rt_cgroup *cg, pid_t **ret, size_t *ret_n, berth_err *err)
{
  return cgroups_pids (cg->cg, ret, ret_n, err);
}

int
rt_cgroup_update (struct rt_cgroup *cg, json_object *resources, berth_err *err)
{
  struct cgroups_resources *res = NULL;
  int r = cgroups_resources_parse (resources, "resources", &res, err);
  if (r < 0)
    return r;
  r = cgroups_update (cg->cg, res, err);
  cgroups_resources_free (res);
  return r;
}

int
rt_cgroup_destroy (struct rt_cgroup *cg, berth_err *err)
{
  return cgroups_destroy (cg->cg, err);
}

static void
add_u64 (json_object *o, const char *key, uint64_t v)
{
  json_object_object_add (o, key, json_object_new_uint64 (v));
}

int
rt_cgroup_stats_json (struct rt_cgroup *cg, json_object **ret, berth_err *err)
{
  struct cgroups_stats s;
  json_object *data = json_object_new_object ();
  int r;

  memset (&s, 0, sizeof s);
  r = cgroups_stats_read (cg->cg, &s, err);
  if (r < 0)
    {
      json_object_put (data);
      return r;
    }
  /* The shape of runc's `events --stats` (types.Stats), where berth has the numbers. */
  if (s.have & CGROUPS_STATS_CPU)
    {
      json_object *cpu = json_object_new_object (), *usage = json_object_new_object ();
      add_u64 (usage, "total", s.cpu_usage_ns);
      add_u64 (usage, "user", s.cpu_user_ns);
      add_u64 (usage, "kernel", s.cpu_system_ns);
      json_object_object_add (cpu, "usage", usage);
      if (s.have & CGROUPS_STATS_CPU_THROTTLE)
        {
          json_object *t = json_object_new_object ();
          add_u64 (t, "periods", s.cpu_nr_periods);
          add_u64 (t, "throttledPeriods", s.cpu_nr_throttled);
          add_u64 (t, "throttledTime", s.cpu_throttled_ns);
          json_object_object_add (cpu, "throttling", t);
        }
      json_object_object_add (data, "cpu", cpu);
    }
  if (s.have & CGROUPS_STATS_MEMORY)
    {
      json_object *mem = json_object_new_object (), *usage = json_object_new_object ();
      json_object *raw = json_object_new_object ();
      add_u64 (usage, "usage", s.memory_current);
      if (s.have & CGROUPS_STATS_MEMORY_PEAK)
        add_u64 (usage, "max", s.memory_peak);
      add_u64 (usage, "limit", s.memory_limit);
      json_object_object_add (mem, "usage", usage);
      if (s.have & CGROUPS_STATS_SWAP)
        {
          json_object *swap = json_object_new_object ();
          add_u64 (swap, "usage", s.swap_current);
          add_u64 (swap, "limit", s.swap_limit);
          json_object_object_add (mem, "swap", swap);
        }
      add_u64 (raw, "anon", s.memory_anon);
      add_u64 (raw, "file", s.memory_file);
      add_u64 (raw, "kernel_stack", s.memory_kernel_stack);
      add_u64 (raw, "slab", s.memory_slab);
      add_u64 (raw, "sock", s.memory_sock);
      add_u64 (raw, "shmem", s.memory_shmem);
      add_u64 (raw, "file_mapped", s.memory_file_mapped);
      add_u64 (raw, "file_dirty", s.memory_file_dirty);
      add_u64 (raw, "file_writeback", s.memory_file_writeback);
      add_u64 (raw, "active_anon", s.memory_active_anon);
      add_u64 (raw, "inactive_anon", s.memory_inactive_anon);
      add_u64 (raw, "active_file", s.memory_active_file);
      add_u64 (raw, "inactive_file", s.memory_inactive_file);
      add_u64 (raw, "unevictable", s.memory_unevictable);
      add_u64 (raw, "pgfault", s.memory_pgfault);
      add_u64 (raw, "pgmajfault", s.memory_pgmajfault);
      json_object_object_add (mem, "raw", raw);
      json_object_object_add (data, "memory", mem);
    }
  if (s.have & CGROUPS_STATS_PIDS)
    {
      json_object *pids = json_object_new_object ();
      add_u64 (pids, "current", s.pids_current);
      if (s.pids_limit != UINT64_MAX)
        add_u64 (pids, "limit", s.pids_limit);
      json_object_object_add (data, "pids", pids);
    }
  if (s.have & CGROUPS_STATS_IO)
    {
      json_object *io = json_object_new_object (), *rec = json_object_new_array ();
      for (size_t i = 0; i < s.n_io; i++)
        {
          static const char *const ops[] = { "Read", "Write" };
          for (int op = 0; op < 2; op++)
            {
              json_object *e = json_object_new_object ();
              add_u64 (e, "major", s.io[i].major);
              add_u64 (e, "minor", s.io[i].minor);
              json_object_object_add (e, "op", json_object_new_string (ops[op]));
              add_u64 (e, "value", op == 0 ? s.io[i].read_bytes : s.io[i].write_bytes);
              json_object_array_add (rec, e);
            }
        }
      json_object_object_add (io, "ioServiceBytesRecursive", rec);
      json_object_object_add (data, "blkio", io);
    }
  cgroups_stats_release (&s);
  *ret = data;
  return 0;
}

int
rt_cgroup_events_fd (struct rt_cgroup *cg, int *ret_fd, berth_err *err)
{
  return cgroups_events_open (cg->cg, ret_fd, err);
}

int
rt_cgroup_events_read (struct rt_cgroup *cg, uint64_t *ret_oom, uint64_t *ret_pids_max,
                       bool *ret_populated, berth_err *err)
{
  struct cgroups_events e;
  int r = cgroups_events_read (cg->cg, &e, err);
  if (r < 0)
    return r;
  *ret_oom = e.oom_kill > e.oom ? e.oom_kill : e.oom;
  *ret_pids_max = e.pids_max;
  *ret_populated = e.populated;
  return 0;
}
