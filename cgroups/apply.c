/* Writing linux.resources into a cgroup: which file of which hierarchy each field becomes on
 * v1 and on v2, the order the kernel needs, and a clear error, naming the field, for every
 * field this host cannot honour. docs/cgroups.md has the table. */
#include "cgroups/internal.h"

/* ------------------------------------------------------------------ files */

int
cg_write (int dirfd, const char *file, const char *value, const char *field, berth_err *err)
{
  cleanup_close int fd = openat (dirfd, file, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  ssize_t n;
  size_t len = strlen (value);

  if (fd < 0)
    {
      if (field)
        return berth_err_set (err, errno, "%s: open `%s`", field, file);
      return berth_err_set (err, errno, "open `%s`", file);
    }
  /* One write per value: cgroup files parse each write() as a whole. */
  do
    n = write (fd, value, len);
  while (n < 0 && errno == EINTR);
  if (n < 0 || (size_t)n != len)
    {
      int e = n < 0 ? errno : EIO;
      if (field)
        return berth_err_set (err, e, "%s: write `%s` to `%s`", field, value, file);
      return berth_err_set (err, e, "write `%s` to `%s`", value, file);
    }
  return 0;
}

ssize_t
cg_read_small (int dirfd, const char *file, char *buf, size_t size)
{
  cleanup_close int fd = openat (dirfd, file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  size_t len = 0;

  if (fd < 0)
    return -errno;
  while (len + 1 < size)
    {
      ssize_t n = read (fd, buf + len, size - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        break;
      len += (size_t)n;
    }
  buf[len] = '\0';
  return (ssize_t)len;
}

int
cg_open_dir (const struct cgroups_cgroup *cg, size_t i, const char *sub, berth_err *err)
{
  const struct cg_hier *h = &cg->m->h[i];
  cleanup_free char *p = sub ? cg_path_join (cg->paths[i], sub) : xstrdup (cg->paths[i]);
  cleanup_free char *rel = cg_hier_rel (h, p);
  int fd;

  if (rel == NULL)
    return berth_err_set (err, 0, "cgroup `%s` is outside the %s mount", p, h->key);
  fd = openat (h->mnt_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open cgroup `%s/%s`", h->mountpoint, rel);
  return fd;
}

static bool
file_exists (int dirfd, const char *file)
{
  return faccessat (dirfd, file, F_OK, 0) == 0;
}

/* ------------------------------------------------------------------ which hierarchy */

/* The hierarchy serving an abstract controller: v2 names ("io"), v1 names ("blkio"). */
static int
find_ctrl (struct cgroups_manager *m, const char *ctrl)
{
  int i = cg_manager_find_controller (m, ctrl);
  if (i < 0 && strcmp (ctrl, "io") == 0)
    i = cg_manager_find_controller (m, "blkio");
  return i;
}

static int
no_controller (struct cgroups_manager *m, const struct cgroups_resources *r, const char *field,
               const char *ctrl, berth_err *err)
{
  cleanup_free char *f = cg_field (r, field);
  return berth_err_set (err, 0, "%s: the %s controller is not available on this host (%s cgroups)",
                        f, ctrl, cgroups_layout_name (m->layout));
}

static int
unsupported (const struct cgroups_resources *r, const char *field, const char *why, berth_err *err)
{
  cleanup_free char *f = cg_field (r, field);
  return berth_err_set (err, 0, "%s: cannot be honoured on this host: %s", f, why);
}

/* ------------------------------------------------------------------ check before create */

static int
check_ctrl (struct cgroups_manager *m, const struct cgroups_resources *r, const char *field,
            const char *ctrl, bool *ret_v2, berth_err *err)
{
  int i = find_ctrl (m, ctrl);
  if (i < 0)
    return no_controller (m, r, field, strcmp (ctrl, "io") == 0 ? "io/blkio" : ctrl, err);
  *ret_v2 = m->h[i].unified;
  return 0;
}

int
cg_resources_check (struct cgroups_manager *m, const struct cgroups_resources *r, berth_err *err)
{
  bool v2;
  int q;

  if (r == NULL)
    return 0;
  if (r->has_cpu_shares || r->has_cpu_quota || r->has_cpu_period || r->has_cpu_burst
      || r->has_cpu_rt_runtime || r->has_cpu_rt_period || r->has_cpu_idle)
    {
      const char *f = r->has_cpu_shares ? "cpu.shares" : r->has_cpu_quota ? "cpu.quota" : "cpu";
      if ((q = check_ctrl (m, r, f, "cpu", &v2, err)) < 0)
        return q;
      if (v2 && r->has_cpu_rt_runtime)
        return unsupported (r, "cpu.realtimeRuntime", "cgroup v2 has no realtime group scheduling",
                            err);
      if (v2 && r->has_cpu_rt_period)
        return unsupported (r, "cpu.realtimePeriod", "cgroup v2 has no realtime group scheduling",
                            err);
    }
  if (r->cpuset_cpus || r->cpuset_mems)
    if ((q = check_ctrl (m, r, r->cpuset_cpus ? "cpu.cpus" : "cpu.mems", "cpuset", &v2, err)) < 0)
      return q;
  if (r->has_mem_limit || r->has_mem_reservation || r->has_mem_swap || r->has_mem_kernel
      || r->has_mem_kernel_tcp || r->has_mem_swappiness || r->has_mem_disable_oom_killer
      || r->has_mem_use_hierarchy)
    {
      if ((q = check_ctrl (m, r, "memory", "memory", &v2, err)) < 0)
        return q;
      if (v2)
        {
          if (r->has_mem_kernel)
            return unsupported (r, "memory.kernel",
                                "cgroup v2 has no separate kernel memory limit (kernel memory "
                                "counts against memory.limit)",
                                err);
          if (r->has_mem_kernel_tcp)
            return unsupported (r, "memory.kernelTCP",
                                "cgroup v2 has no separate TCP buffer limit (socket memory "
                                "counts against memory.limit)",
                                err);
          if (r->has_mem_swappiness)
            return unsupported (r, "memory.swappiness", "cgroup v2 has no per-cgroup swappiness",
                                err);
          if (r->has_mem_disable_oom_killer && r->mem_disable_oom_killer)
            return unsupported (r, "memory.disableOOMKiller",
                                "cgroup v2 cannot disable the OOM killer for a cgroup", err);
          if (r->has_mem_use_hierarchy && !r->mem_use_hierarchy)
            return unsupported (r, "memory.useHierarchy",
                                "cgroup v2 memory accounting is always hierarchical", err);
          if (r->has_mem_swap && r->mem_swap > 0 && !(r->has_mem_limit && r->mem_limit > 0))
            return unsupported (r, "memory.swap",
                                "cgroup v2 limits swap alone (memory.swap.max = swap - limit), "
                                "so memory.limit must be set too",
                                err);
        }
      else if (r->has_mem_use_hierarchy && !r->mem_use_hierarchy)
        return unsupported (r, "memory.useHierarchy",
                            "kernels since 5.16 account memory hierarchically only", err);
    }
  if (r->has_pids_limit)
    if ((q = check_ctrl (m, r, "pids.limit", "pids", &v2, err)) < 0)
      return q;
  if (r->has_blkio_weight || r->has_blkio_leaf_weight || r->n_weight_dev
      || r->n_throttle[0] + r->n_throttle[1] + r->n_throttle[2] + r->n_throttle[3])
    {
      if ((q = check_ctrl (m, r, "blockIO", "io", &v2, err)) < 0)
        return q;
      if (v2 && r->has_blkio_leaf_weight)
        return unsupported (r, "blockIO.leafWeight", "cgroup v2 has no leaf weights", err);
      for (size_t i = 0; v2 && i < r->n_weight_dev; i++)
        if (r->weight_dev[i].has_leaf_weight)
          return unsupported (r, "blockIO.weightDevice", "cgroup v2 has no leaf weights", err);
    }
  if (r->n_hugepages)
    if ((q = check_ctrl (m, r, "hugepageLimits", "hugetlb", &v2, err)) < 0)
      return q;
  if (r->n_rdma)
    if ((q = check_ctrl (m, r, "rdma", "rdma", &v2, err)) < 0)
      return q;
  if (r->has_net_class_id || r->has_net_prio)
    {
      if (m->layout == CGROUPS_LAYOUT_UNIFIED)
        return unsupported (r, "network",
                            "cgroup v2 has no net_cls/net_prio controllers (classify traffic "
                            "with eBPF instead)",
                            err);
      if (r->has_net_class_id && find_ctrl (m, "net_cls") < 0)
        return no_controller (m, r, "network.classID", "net_cls", err);
      if (r->has_net_prio && find_ctrl (m, "net_prio") < 0)
        return no_controller (m, r, "network.priorities", "net_prio", err);
    }
  if (r->n_unified && m->unified < 0)
    return unsupported (r, "unified", "the host has no cgroup v2 hierarchy (legacy cgroups)", err);
  if (r->has_devices && find_ctrl (m, "devices") < 0 && m->unified < 0)
    return no_controller (m, r, "devices", "devices", err);
  return 0;
}

/* ------------------------------------------------------------------ the apply context */

struct dirs
{
  struct cgroups_cgroup *cg;
  int fd[16];
};

static void
dirs_close (struct dirs *d)
{
  for (size_t i = 0; i < ARRAY_SIZE (d->fd); i++)
    if (d->fd[i] >= 0)
      close (d->fd[i]);
}

/* The cgroup's directory in the hierarchy serving ctrl; *ret_v2 says which version. */
static int
dir_for (struct dirs *d, const struct cgroups_resources *r, const char *field, const char *ctrl,
         bool *ret_v2, berth_err *err)
{
  struct cgroups_manager *m = d->cg->m;
  int i = find_ctrl (m, ctrl);

  if (i < 0)
    return no_controller (m, r, field, ctrl, err);
  if (d->cg->paths[i] == NULL)
    {
      cleanup_free char *f = cg_field (r, field);
      return berth_err_set (err, 0, "%s: the cgroup has no directory in the %s hierarchy", f,
                            m->h[i].key);
    }
  if ((size_t)i >= ARRAY_SIZE (d->fd))
    return berth_err_set (err, E2BIG, "too many cgroup hierarchies");
  if (d->fd[i] < 0)
    {
      int fd = cg_open_dir (d->cg, (size_t)i, NULL, err);
      if (fd < 0)
        return fd;
      d->fd[i] = fd;
    }
  *ret_v2 = m->h[i].unified;
  return d->fd[i];
}

static int
write_field (int dfd, const char *file, const char *value, const struct cgroups_resources *r,
             const char *field, berth_err *err)
{
  cleanup_free char *f = cg_field (r, field);
  return cg_write (dfd, file, value, f, err);
}

static int
write_u64 (int dfd, const char *file, uint64_t v, const struct cgroups_resources *r,
           const char *field, berth_err *err)
{
  char buf[32];
  snprintf (buf, sizeof buf, "%" PRIu64, v);
  return write_field (dfd, file, buf, r, field, err);
}

/* "max" for a negative value (no limit), the number otherwise. v1 wants -1 for "no limit". */
static void
limit_str (char *buf, size_t size, int64_t v, bool v2)
{
  if (v < 0)
    snprintf (buf, size, "%s", v2 ? "max" : "-1");
  else
    snprintf (buf, size, "%" PRId64, v);
}

static int
require_file (int dfd, const char *file, const struct cgroups_resources *r, const char *field,
              const char *why, berth_err *err)
{
  if (file_exists (dfd, file))
    return 0;
  return unsupported (r, field, why, err);
}

static int
read_u64_file (int dfd, const char *file, uint64_t *ret)
{
  char buf[64];
  ssize_t n = cg_read_small (dfd, file, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  buf[strcspn (buf, "\n")] = '\0';
  if (strcmp (buf, "max") == 0)
    {
      *ret = UINT64_MAX;
      return 0;
    }
  return berth_parse_uint64 (buf, ret);
}

/* ------------------------------------------------------------------ cpu */

static int
apply_cpu (struct dirs *d, const struct cgroups_resources *r, bool create, berth_err *err)
{
  bool v2;
  int dfd, q;
  char buf[64];

  if (!(r->has_cpu_shares || r->has_cpu_quota || r->has_cpu_period || r->has_cpu_burst
        || r->has_cpu_rt_runtime || r->has_cpu_rt_period || r->has_cpu_idle))
    return 0;
  dfd = dir_for (d, r, "cpu", "cpu", &v2, err);
  if (dfd < 0)
    return dfd;

  if (r->has_cpu_shares)
    {
      if (v2)
        q = write_u64 (dfd, "cpu.weight", cgroups_cpu_shares_to_weight (r->cpu_shares), r,
                       "cpu.shares", err);
      else
        q = write_u64 (dfd, "cpu.shares", r->cpu_shares, r, "cpu.shares", err);
      if (q < 0)
        return q;
    }

  if (v2 && (r->has_cpu_quota || r->has_cpu_period))
    {
      /* quota and period are one file on v2: keep the half not given. */
      char quota[64] = "max";
      uint64_t period = 100000;
      if (!create)
        {
          char cur[48];
          ssize_t n = cg_read_small (dfd, "cpu.max", cur, sizeof cur);
          char *sp;
          if (n < 0)
            return berth_err_set (err, (int)-n, "read `cpu.max`");
          sp = strchr (cur, ' ');
          if (sp)
            {
              *sp = '\0';
              snprintf (quota, sizeof quota, "%s", cur);
              sp[1 + strcspn (sp + 1, "\n")] = '\0';
              if (berth_parse_uint64 (sp + 1, &period) < 0)
                period = 100000;
            }
        }
      if (r->has_cpu_quota)
        limit_str (quota, sizeof quota, r->cpu_quota, true);
      if (r->has_cpu_period)
        period = r->cpu_period;
      snprintf (buf, sizeof buf, "%s %" PRIu64, quota, period);
      if ((q = write_field (dfd, "cpu.max", buf, r, r->has_cpu_quota ? "cpu.quota" : "cpu.period",
                            err))
          < 0)
        return q;
    }
  else if (!v2)
    {
      /* The kernel checks quota against the period in force: period first. */
      if (r->has_cpu_period
          && (q = write_u64 (dfd, "cpu.cfs_period_us", r->cpu_period, r, "cpu.period", err)) < 0)
        return q;
      if (r->has_cpu_quota)
        {
          limit_str (buf, sizeof buf, r->cpu_quota, false);
          if ((q = write_field (dfd, "cpu.cfs_quota_us", buf, r, "cpu.quota", err)) < 0)
            return q;
        }
    }

  if (r->has_cpu_burst)
    {
      const char *file = v2 ? "cpu.max.burst" : "cpu.cfs_burst_us";
      if ((q = require_file (dfd, file, r, "cpu.burst", "the kernel has no CFS burst (5.14+)", err))
          < 0)
        return q;
      if ((q = write_u64 (dfd, file, r->cpu_burst, r, "cpu.burst", err)) < 0)
        return q;
    }

  if (!v2 && (r->has_cpu_rt_period || r->has_cpu_rt_runtime))
    {
      if ((q = require_file (dfd, "cpu.rt_runtime_us", r,
                             r->has_cpu_rt_runtime ? "cpu.realtimeRuntime" : "cpu.realtimePeriod",
                             "the kernel has no realtime group scheduling (CONFIG_RT_GROUP_SCHED)",
                             err))
          < 0)
        return q;
      if (r->has_cpu_rt_period
          && (q
              = write_u64 (dfd, "cpu.rt_period_us", r->cpu_rt_period, r, "cpu.realtimePeriod", err))
                 < 0)
        return q;
      if (r->has_cpu_rt_runtime)
        {
          snprintf (buf, sizeof buf, "%" PRId64, r->cpu_rt_runtime < 0 ? -1 : r->cpu_rt_runtime);
          if ((q = write_field (dfd, "cpu.rt_runtime_us", buf, r, "cpu.realtimeRuntime", err)) < 0)
            return q;
        }
    }

  if (r->has_cpu_idle)
    {
      if ((q = require_file (dfd, "cpu.idle", r, "cpu.idle",
                             "the kernel has no SCHED_IDLE cgroups (5.15+)", err))
          < 0)
        return q;
      if ((q = write_u64 (dfd, "cpu.idle", (uint64_t)r->cpu_idle, r, "cpu.idle", err)) < 0)
        return q;
    }
  return 0;
}

static int
apply_cpuset (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  bool v2;
  int dfd, q;

  if (!r->cpuset_cpus && !r->cpuset_mems)
    return 0;
  dfd = dir_for (d, r, r->cpuset_cpus ? "cpu.cpus" : "cpu.mems", "cpuset", &v2, err);
  if (dfd < 0)
    return dfd;
  if (r->cpuset_mems
      && (q = write_field (dfd, "cpuset.mems", r->cpuset_mems, r, "cpu.mems", err)) < 0)
    return q;
  if (r->cpuset_cpus
      && (q = write_field (dfd, "cpuset.cpus", r->cpuset_cpus, r, "cpu.cpus", err)) < 0)
    return q;
  return 0;
}

/* ------------------------------------------------------------------ memory */

static int
check_before_update (int dfd, bool v2, const struct cgroups_resources *r, berth_err *err)
{
  uint64_t usage;
  cleanup_free char *f = NULL;

  if (!r->mem_check_before_update || !r->has_mem_limit || r->mem_limit < 0)
    return 0;
  if (read_u64_file (dfd, v2 ? "memory.current" : "memory.usage_in_bytes", &usage) < 0)
    return 0;
  if ((uint64_t)r->mem_limit >= usage)
    return 0;
  f = cg_field (r, "memory.limit");
  return berth_err_set (
      err, 0, "%s: %" PRId64 " is below the current usage %" PRIu64 " (checkBeforeUpdate)", f,
      r->mem_limit, usage);
}

static int
apply_memory_v1 (int dfd, const struct cgroups_resources *r, bool create, berth_err *err)
{
  char buf[32];
  int q;

  if (r->has_mem_swap && !file_exists (dfd, "memory.memsw.limit_in_bytes"))
    return unsupported (r, "memory.swap",
                        "swap accounting is off (no memory.memsw.limit_in_bytes; boot with "
                        "swapaccount=1)",
                        err);
  if (r->has_mem_limit && r->has_mem_swap)
    {
      /* The kernel keeps limit <= memsw at every step: raise memsw first when the new limit
       * is above the memsw in force, lower the limit first otherwise. */
      uint64_t cur_memsw = UINT64_MAX;
      bool memsw_first;
      char sbuf[32];
      if (!create)
        (void)read_u64_file (dfd, "memory.memsw.limit_in_bytes", &cur_memsw);
      memsw_first = r->mem_limit < 0 || (uint64_t)r->mem_limit > cur_memsw;
      limit_str (buf, sizeof buf, r->mem_limit, false);
      limit_str (sbuf, sizeof sbuf, r->mem_swap, false);
      if (memsw_first)
        {
          if ((q = write_field (dfd, "memory.memsw.limit_in_bytes", sbuf, r, "memory.swap", err))
                  < 0
              || (q = write_field (dfd, "memory.limit_in_bytes", buf, r, "memory.limit", err)) < 0)
            return q;
        }
      else if ((q = write_field (dfd, "memory.limit_in_bytes", buf, r, "memory.limit", err)) < 0
               || (q
                   = write_field (dfd, "memory.memsw.limit_in_bytes", sbuf, r, "memory.swap", err))
                      < 0)
        return q;
    }
  else if (r->has_mem_limit)
    {
      limit_str (buf, sizeof buf, r->mem_limit, false);
      q = write_field (dfd, "memory.limit_in_bytes", buf, r, "memory.limit", err);
      if (q < 0 && berth_err_code (err) == EINVAL)
        return berth_err_wrap (err, "(is it above the memory+swap limit in force? set "
                                    "memory.swap too)");
      if (q < 0)
        return q;
    }
  else if (r->has_mem_swap)
    {
      limit_str (buf, sizeof buf, r->mem_swap, false);
      if ((q = write_field (dfd, "memory.memsw.limit_in_bytes", buf, r, "memory.swap", err)) < 0)
        return q;
    }

  if (r->has_mem_reservation)
    {
      limit_str (buf, sizeof buf, r->mem_reservation, false);
      if ((q = write_field (dfd, "memory.soft_limit_in_bytes", buf, r, "memory.reservation", err))
          < 0)
        return q;
    }
  if (r->has_mem_kernel)
    {
      /* Since 5.16 the kernel accepts the write and does nothing (it says so in dmesg): read it
       * back so that a limit the kernel drops is an error here, not a surprise later. */
      uint64_t back = 0;
      if ((q = require_file (dfd, "memory.kmem.limit_in_bytes", r, "memory.kernel",
                             "the kernel has no kernel memory limit", err))
          < 0)
        return q;
      limit_str (buf, sizeof buf, r->mem_kernel, false);
      if ((q = write_field (dfd, "memory.kmem.limit_in_bytes", buf, r, "memory.kernel", err)) < 0)
        return q;
      if (r->mem_kernel >= 0
          && (read_u64_file (dfd, "memory.kmem.limit_in_bytes", &back) < 0
              || back > (uint64_t)r->mem_kernel))
        return unsupported (r, "memory.kernel",
                            "this kernel ignores memory.kmem.limit_in_bytes (deprecated and a "
                            "no-op since 5.16)",
                            err);
    }
  if (r->has_mem_kernel_tcp)
    {
      if ((q = require_file (dfd, "memory.kmem.tcp.limit_in_bytes", r, "memory.kernelTCP",
                             "the kernel has no TCP buffer limit", err))
          < 0)
        return q;
      limit_str (buf, sizeof buf, r->mem_kernel_tcp, false);
      if ((q = write_field (dfd, "memory.kmem.tcp.limit_in_bytes", buf, r, "memory.kernelTCP", err))
          < 0)
        return q;
    }
  if (r->has_mem_swappiness
      && (q = write_u64 (dfd, "memory.swappiness", r->mem_swappiness, r, "memory.swappiness", err))
             < 0)
    return q;
  if (r->has_mem_disable_oom_killer
      && (q = write_field (dfd, "memory.oom_control", r->mem_disable_oom_killer ? "1" : "0", r,
                           "memory.disableOOMKiller", err))
             < 0)
    return q;
  if (r->has_mem_use_hierarchy && r->mem_use_hierarchy)
    {
      uint64_t v = 0;
      /* Always 1 on current kernels, and only writable in an empty cgroup: read, don't write. */
      if (read_u64_file (dfd, "memory.use_hierarchy", &v) == 0 && v != 1
          && (q = write_field (dfd, "memory.use_hierarchy", "1", r, "memory.useHierarchy", err))
                 < 0)
        return q;
    }
  return 0;
}

static int
apply_memory_v2 (int dfd, const struct cgroups_resources *r, berth_err *err)
{
  char buf[32];
  int q;

  if (r->has_mem_swap)
    {
      if ((q = require_file (dfd, "memory.swap.max", r, "memory.swap",
                             "the kernel does not account swap (no memory.swap.max)", err))
          < 0)
        return q;
    }
  if (r->has_mem_limit)
    {
      limit_str (buf, sizeof buf, r->mem_limit, true);
      if ((q = write_field (dfd, "memory.max", buf, r, "memory.limit", err)) < 0)
        return q;
    }
  if (r->has_mem_swap)
    {
      /* OCI swap is memory+swap (the v1 memsw meaning); v2 limits swap alone. */
      if (r->mem_swap < 0 || !r->has_mem_limit || r->mem_limit < 0)
        snprintf (buf, sizeof buf, "max");
      else
        snprintf (buf, sizeof buf, "%" PRId64, r->mem_swap - r->mem_limit);
      if ((q = write_field (dfd, "memory.swap.max", buf, r, "memory.swap", err)) < 0)
        return q;
    }
  if (r->has_mem_reservation)
    {
      limit_str (buf, sizeof buf, r->mem_reservation, true);
      if ((q = write_field (dfd, "memory.low", buf, r, "memory.reservation", err)) < 0)
        return q;
    }
  return 0;
}

static int
apply_memory (struct dirs *d, const struct cgroups_resources *r, bool create, berth_err *err)
{
  bool v2;
  int dfd, q;

  if (!(r->has_mem_limit || r->has_mem_reservation || r->has_mem_swap || r->has_mem_kernel
        || r->has_mem_kernel_tcp || r->has_mem_swappiness || r->has_mem_disable_oom_killer
        || r->has_mem_use_hierarchy))
    return 0;
  dfd = dir_for (d, r, "memory", "memory", &v2, err);
  if (dfd < 0)
    return dfd;
  if (!create && (q = check_before_update (dfd, v2, r, err)) < 0)
    return q;
  return v2 ? apply_memory_v2 (dfd, r, err) : apply_memory_v1 (dfd, r, create, err);
}

/* ------------------------------------------------------------------ pids */

static int
apply_pids (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  bool v2;
  int dfd;
  char buf[32];

  if (!r->has_pids_limit)
    return 0;
  dfd = dir_for (d, r, "pids.limit", "pids", &v2, err);
  if (dfd < 0)
    return dfd;
  limit_str (buf, sizeof buf, r->pids_limit, true); /* "max" on both versions */
  return write_field (dfd, "pids.max", buf, r, "pids.limit", err);
}

/* ------------------------------------------------------------------ block I/O */

static int
apply_blkio (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  static const char *const v1_files[CG_THROTTLE_N]
      = { "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
          "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device" };
  static const char *const v2_keys[CG_THROTTLE_N] = { "rbps", "wbps", "riops", "wiops" };
  static const char *const fields[CG_THROTTLE_N]
      = { "blockIO.throttleReadBpsDevice", "blockIO.throttleWriteBpsDevice",
          "blockIO.throttleReadIOPSDevice", "blockIO.throttleWriteIOPSDevice" };
  bool v2;
  int dfd, q;
  char buf[96];
  const char *wfile;
  bool bfq;

  if (!(r->has_blkio_weight || r->has_blkio_leaf_weight || r->n_weight_dev
        || r->n_throttle[0] + r->n_throttle[1] + r->n_throttle[2] + r->n_throttle[3]))
    return 0;
  dfd = dir_for (d, r, "blockIO", "io", &v2, err);
  if (dfd < 0)
    return dfd;

  /* Weights: CFQ's blkio.weight is gone since 5.0; BFQ takes the same 10..1000 scale, and
   * v2's io.weight (blk-iocost) 1..10000. */
  if (v2)
    {
      bfq = file_exists (dfd, "io.bfq.weight");
      wfile = bfq ? "io.bfq.weight" : "io.weight";
    }
  else
    {
      bfq = !file_exists (dfd, "blkio.weight") && file_exists (dfd, "blkio.bfq.weight");
      wfile = bfq ? "blkio.bfq.weight" : "blkio.weight";
    }
  if (r->has_blkio_weight || r->n_weight_dev)
    if ((q = require_file (dfd, wfile, r,
                           r->has_blkio_weight ? "blockIO.weight" : "blockIO.weightDevice",
                           "no I/O scheduler with weights (BFQ or blk-iocost) is available", err))
        < 0)
      return q;
  if (r->has_blkio_weight)
    {
      uint64_t w
          = (v2 && !bfq) ? cgroups_blkio_weight_to_io_weight (r->blkio_weight) : r->blkio_weight;
      if (v2)
        snprintf (buf, sizeof buf, "default %" PRIu64, w);
      else
        snprintf (buf, sizeof buf, "%" PRIu64, w);
      if ((q = write_field (dfd, wfile, buf, r, "blockIO.weight", err)) < 0)
        return q;
    }
  if (r->has_blkio_leaf_weight)
    {
      if ((q = require_file (dfd, "blkio.leaf_weight", r, "blockIO.leafWeight",
                             "leaf weights went with the CFQ scheduler (kernel 5.0)", err))
          < 0)
        return q;
      if ((q = write_u64 (dfd, "blkio.leaf_weight", r->blkio_leaf_weight, r, "blockIO.leafWeight",
                          err))
          < 0)
        return q;
    }
  for (size_t i = 0; i < r->n_weight_dev; i++)
    {
      const struct cg_blkio_dev *wd = &r->weight_dev[i];
      cleanup_free char *f = xasprintf ("blockIO.weightDevice[%zu]", i);
      if (wd->has_weight)
        {
          uint64_t w = (v2 && !bfq) ? cgroups_blkio_weight_to_io_weight (wd->weight) : wd->weight;
          snprintf (buf, sizeof buf, "%" PRId64 ":%" PRId64 " %" PRIu64, wd->major, wd->minor, w);
          if ((q = write_field (dfd,
                                v2    ? wfile
                                : bfq ? "blkio.bfq.weight_device"
                                      : "blkio.weight_device",
                                buf, r, f, err))
              < 0)
            return q;
        }
      if (wd->has_leaf_weight)
        {
          if ((q = require_file (dfd, "blkio.leaf_weight_device", r, f,
                                 "leaf weights went with the CFQ scheduler (kernel 5.0)", err))
              < 0)
            return q;
          snprintf (buf, sizeof buf, "%" PRId64 ":%" PRId64 " %u", wd->major, wd->minor,
                    wd->leaf_weight);
          if ((q = write_field (dfd, "blkio.leaf_weight_device", buf, r, f, err)) < 0)
            return q;
        }
    }
  for (int t = 0; t < CG_THROTTLE_N; t++)
    for (size_t i = 0; i < r->n_throttle[t]; i++)
      {
        const struct cg_blkio_dev *td = &r->throttle[t][i];
        cleanup_free char *f = xasprintf ("%s[%zu]", fields[t], i);
        if (v2)
          {
            char rate[32];
            /* io.max: 0 would mean "no I/O at all"; OCI 0 has always meant no limit. */
            if (td->rate == 0)
              snprintf (rate, sizeof rate, "max");
            else
              snprintf (rate, sizeof rate, "%" PRIu64, td->rate);
            snprintf (buf, sizeof buf, "%" PRId64 ":%" PRId64 " %s=%s", td->major, td->minor,
                      v2_keys[t], rate);
            q = write_field (dfd, "io.max", buf, r, f, err);
          }
        else
          {
            snprintf (buf, sizeof buf, "%" PRId64 ":%" PRId64 " %" PRIu64, td->major, td->minor,
                      td->rate);
            q = write_field (dfd, v1_files[t], buf, r, f, err);
          }
        if (q < 0)
          return q;
      }
  return 0;
}

/* ------------------------------------------------------------------ hugetlb, rdma, network */

static int
apply_hugetlb (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  bool v2;
  int dfd, q;

  if (!r->n_hugepages)
    return 0;
  dfd = dir_for (d, r, "hugepageLimits", "hugetlb", &v2, err);
  if (dfd < 0)
    return dfd;
  for (size_t i = 0; i < r->n_hugepages; i++)
    {
      const struct cg_hugepage *h = &r->hugepages[i];
      cleanup_free char *file
          = xasprintf ("hugetlb.%s.%s", h->page_size, v2 ? "max" : "limit_in_bytes");
      cleanup_free char *f = xasprintf ("hugepageLimits[%zu]", i);
      cleanup_free char *why
          = xasprintf ("the kernel has no %s huge pages (no `%s`)", h->page_size, file);
      if ((q = require_file (dfd, file, r, f, why, err)) < 0)
        return q;
      if ((q = write_u64 (dfd, file, h->limit, r, f, err)) < 0)
        return q;
    }
  return 0;
}

static int
apply_rdma (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  bool v2;
  int dfd, q;

  if (!r->n_rdma)
    return 0;
  dfd = dir_for (d, r, "rdma", "rdma", &v2, err);
  if (dfd < 0)
    return dfd;
  for (size_t i = 0; i < r->n_rdma; i++)
    {
      const struct cg_rdma *x = &r->rdma[i];
      cleanup_free char *f = xasprintf ("rdma.%s", x->device);
      char h[32] = "", o[32] = "";
      cleanup_free char *line = NULL;
      if (x->has_handles)
        snprintf (h, sizeof h, " hca_handle=%u", x->handles);
      if (x->has_objects)
        snprintf (o, sizeof o, " hca_object=%u", x->objects);
      line = xasprintf ("%s%s%s", x->device, h, o);
      if ((q = write_field (dfd, "rdma.max", line, r, f, err)) < 0)
        return q;
    }
  return 0;
}

static int
apply_network (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  bool v2;
  int dfd, q;

  if (r->has_net_class_id)
    {
      dfd = dir_for (d, r, "network.classID", "net_cls", &v2, err);
      if (dfd < 0)
        return dfd;
      if ((q = write_u64 (dfd, "net_cls.classid", r->net_class_id, r, "network.classID", err)) < 0)
        return q;
    }
  for (size_t i = 0; i < r->n_net_prio; i++)
    {
      cleanup_free char *f = xasprintf ("network.priorities[%zu]", i);
      cleanup_free char *line = xasprintf ("%s %u", r->net_prio[i].name, r->net_prio[i].priority);
      dfd = dir_for (d, r, f, "net_prio", &v2, err);
      if (dfd < 0)
        return dfd;
      if ((q = write_field (dfd, "net_prio.ifpriomap", line, r, f, err)) < 0)
        return q;
    }
  return 0;
}

/* ------------------------------------------------------------------ unified */

static int
apply_unified (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  struct cgroups_manager *m = d->cg->m;
  int dfd, q;

  if (!r->n_unified)
    return 0;
  if (m->unified < 0 || d->cg->paths[m->unified] == NULL)
    return unsupported (r, "unified", "the host has no cgroup v2 hierarchy (legacy cgroups)", err);
  if (d->fd[m->unified] < 0)
    {
      dfd = cg_open_dir (d->cg, (size_t)m->unified, NULL, err);
      if (dfd < 0)
        return dfd;
      d->fd[m->unified] = dfd;
    }
  dfd = d->fd[m->unified];
  for (size_t i = 0; i < r->n_unified; i++)
    {
      const struct cg_kv *kv = &r->unified[i];
      cleanup_free char *f = xasprintf ("unified.%s", kv->key);
      if (!file_exists (dfd, kv->key))
        {
          cleanup_free char *why = xasprintf (
              "the cgroup v2 directory has no `%s` (its controller is not available%s)", kv->key,
              m->layout == CGROUPS_LAYOUT_HYBRID ? " in the v2 part of this hybrid host" : "");
          return unsupported (r, f, why, err);
        }
      if ((q = write_field (dfd, kv->key, kv->value, r, f, err)) < 0)
        return q;
    }
  return 0;
}

/* ------------------------------------------------------------------ devices */

static int
apply_devices (struct dirs *d, const struct cgroups_resources *r, berth_err *err)
{
  struct cgroups_manager *m = d->cg->m;
  int i;

  if (!r->has_devices)
    return 0;
  i = cg_manager_find_controller (m, "devices");
  if (i >= 0 && !m->h[i].unified)
    {
      bool v2;
      int dfd = dir_for (d, r, "devices", "devices", &v2, err);
      if (dfd < 0)
        return dfd;
      return cg_devices_apply (d->cg, r, dfd, err);
    }
  return cg_devices_apply (d->cg, r, -1, err);
}

/* ------------------------------------------------------------------ all */

int
cg_resources_apply (struct cg_apply_ctx *ctx, const struct cgroups_resources *r, berth_err *err)
{
  struct dirs d = { .cg = ctx->cg };
  int q;

  if (r == NULL)
    return 0;
  for (size_t i = 0; i < ARRAY_SIZE (d.fd); i++)
    d.fd[i] = -1;
  if ((q = cg_resources_check (ctx->m, r, err)) < 0)
    goto out;
  /* cpuset before anything that could move work, memory before pids so that a lowered
   * memory limit cannot be escaped by a fork; unified keys last so that they win. */
  if ((q = apply_cpuset (&d, r, err)) < 0 || (q = apply_cpu (&d, r, ctx->create, err)) < 0
      || (q = apply_memory (&d, r, ctx->create, err)) < 0 || (q = apply_pids (&d, r, err)) < 0
      || (q = apply_blkio (&d, r, err)) < 0 || (q = apply_hugetlb (&d, r, err)) < 0
      || (q = apply_rdma (&d, r, err)) < 0 || (q = apply_network (&d, r, err)) < 0
      || (q = apply_devices (&d, r, err)) < 0 || (q = apply_unified (&d, r, err)) < 0)
    goto out;
  q = 0;
out:
  dirs_close (&d);
  return q;
}
