/* Stats in one struct for both versions, read with plain openat/read of the cgroup files
 * into stack buffers and parsed in place: no process, no stdio, no allocation except when a
 * new block device appears. Reading a thousand cgroups is a few tens of thousands of syscalls. */
#include "cgroups/internal.h"

/* v1 writes "no limit" as PAGE_COUNTER_MAX pages in bytes (0x7ffffffffffff000 on 4k pages). */
#define V1_UNLIMITED 0x7ffffffffffff000ULL

struct reader
{
  struct cgroups_cgroup *cg;
  char path[4096];
};

void
cg_stat_fds_close (struct cgroups_cgroup *cg)
{
  for (size_t k = 0; k < cg->n_stat_fds; k++)
    if (cg->stat_fds[k].fd >= 0)
      close (cg->stat_fds[k].fd);
  free (cg->stat_fds);
  cg->stat_fds = NULL;
  cg->n_stat_fds = 0;
}

void
cgroups_stats_keep_open (struct cgroups_cgroup *cg, bool keep_open)
{
  cg->keep_open = keep_open;
  if (!keep_open)
    cg_stat_fds_close (cg);
}

static struct cg_stat_fd *
stat_fd_find (struct cgroups_cgroup *cg, size_t i, const char *file)
{
  for (size_t k = 0; k < cg->n_stat_fds; k++)
    if (cg->stat_fds[k].h == i && cg->stat_fds[k].file == file)
      return &cg->stat_fds[k];
  return NULL;
}

static void
stat_fd_add (struct cgroups_cgroup *cg, size_t i, const char *file, int fd)
{
  cg->stat_fds = xrealloc (cg->stat_fds, (cg->n_stat_fds + 1) * sizeof *cg->stat_fds);
  cg->stat_fds[cg->n_stat_fds].h = (uint16_t)i;
  cg->stat_fds[cg->n_stat_fds].file = file;
  cg->stat_fds[cg->n_stat_fds].fd = fd;
  cg->n_stat_fds++;
}

static ssize_t
read_fd_at0 (int fd, char *buf, size_t size)
{
  size_t len = 0;
  while (len + 1 < size)
    {
      /* kernfs regenerates a file read from offset 0: pread, not read, on a kept fd */
      ssize_t r = pread (fd, buf + len, size - 1 - len, (off_t)len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -errno;
      if (r == 0)
        break;
      len += (size_t)r;
    }
  buf[len] = '\0';
  return (ssize_t)len;
}

/* Reads <cgroup dir in hierarchy i>/<file> into buf; returns length or -errno. file must be
 * a string literal (the fd cache keys on its address). A file the kernel does not have is
 * remembered, so it costs one failed open per cgroup, not one per read. */
static ssize_t
read_file (struct reader *rd, size_t i, const char *file, char *buf, size_t size)
{
  struct cgroups_cgroup *cg = rd->cg;
  const struct cg_hier *h = &cg->m->h[i];
  const char *p = cg->paths[i];
  size_t rootlen = strcmp (h->mount_root, "/") == 0 ? 0 : strlen (h->mount_root);
  const char *rel = p + rootlen;
  struct cg_stat_fd *cached = stat_fd_find (cg, i, file);
  ssize_t len;
  int n, fd;

  if (cached)
    {
      if (cached->fd < 0)
        return -ENOENT;
      return read_fd_at0 (cached->fd, buf, size);
    }
  while (*rel == '/')
    rel++;
  n = snprintf (rd->path, sizeof rd->path, "%s%s%s", rel, *rel ? "/" : "", file);
  if (n < 0 || (size_t)n >= sizeof rd->path)
    return -ENAMETOOLONG;
  fd = openat (h->mnt_fd, rd->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int e = errno;
      /* missing file: remembered; a missing cgroup (ENOENT on the directory) is not */
      if (e == ENOENT && faccessat (h->mnt_fd, *rel ? rel : ".", F_OK, 0) == 0)
        stat_fd_add (cg, i, file, -1);
      return -e;
    }
  len = read_fd_at0 (fd, buf, size);
  if (cg->keep_open && len >= 0)
    stat_fd_add (cg, i, file, fd);
  else
    close (fd);
  return len;
}

/* Parses an unsigned decimal at *p, advancing it; "max" is UINT64_MAX. */
static uint64_t
parse_num (const char **p)
{
  uint64_t v = 0;
  const char *s = *p;
  if (strncmp (s, "max", 3) == 0)
    {
      *p = s + 3;
      return UINT64_MAX;
    }
  while (*s >= '0' && *s <= '9')
    {
      uint64_t d = (uint64_t)(*s - '0');
      v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
      s++;
    }
  *p = s;
  return v;
}

static int
read_u64 (struct reader *rd, size_t i, const char *file, uint64_t *ret)
{
  char buf[64];
  const char *p = buf;
  ssize_t n = read_file (rd, i, file, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  if (n == 0 || !((*p >= '0' && *p <= '9') || *p == 'm'))
    return -EINVAL;
  *ret = parse_num (&p);
  return 0;
}

struct key_slot
{
  const char *key;
  uint64_t *slot;
};

/* "key value\n" lines: stores the values of the keys in slots; returns how many matched. */
static int
parse_kv (const char *buf, const struct key_slot *slots, size_t n_slots)
{
  int found = 0;
  const char *p = buf;
  while (*p)
    {
      const char *sp = strchr (p, ' ');
      const char *eol = strchrnul (p, '\n');
      if (sp && sp < eol)
        {
          size_t kl = (size_t)(sp - p);
          for (size_t k = 0; k < n_slots; k++)
            if (strlen (slots[k].key) == kl && memcmp (slots[k].key, p, kl) == 0)
              {
                const char *v = sp + 1;
                *slots[k].slot = parse_num (&v);
                found++;
                break;
              }
        }
      p = *eol ? eol + 1 : eol;
    }
  return found;
}

static struct cgroups_stats_io *
io_slot (struct cgroups_stats *s, uint32_t major, uint32_t minor)
{
  for (size_t k = 0; k < s->n_io; k++)
    if (s->io[k].major == major && s->io[k].minor == minor)
      return &s->io[k];
  if (s->n_io == s->cap_io)
    {
      s->cap_io = s->cap_io ? s->cap_io * 2 : 4;
      s->io = xrealloc (s->io, s->cap_io * sizeof *s->io);
    }
  memset (&s->io[s->n_io], 0, sizeof *s->io);
  s->io[s->n_io].major = major;
  s->io[s->n_io].minor = minor;
  return &s->io[s->n_io++];
}

static bool
parse_majmin (const char **p, uint32_t *major, uint32_t *minor)
{
  uint64_t a, b;
  const char *s = *p;
  if (!(*s >= '0' && *s <= '9'))
    return false;
  a = parse_num (&s);
  if (*s != ':')
    return false;
  s++;
  b = parse_num (&s);
  if (a > UINT32_MAX || b > UINT32_MAX)
    return false;
  *major = (uint32_t)a;
  *minor = (uint32_t)b;
  *p = s;
  return true;
}

/* ------------------------------------------------------------------ v2 */

static void
v2_cpu (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  char buf[1024];
  uint64_t usage = 0, user = 0, sys = 0, periods = UINT64_MAX, throttled = 0, thr_us = 0;
  const struct key_slot slots[] = {
    { "usage_usec", &usage },   { "user_usec", &user },         { "system_usec", &sys },
    { "nr_periods", &periods }, { "nr_throttled", &throttled }, { "throttled_usec", &thr_us },
  };
  if (read_file (rd, i, "cpu.stat", buf, sizeof buf) < 0)
    return;
  if (parse_kv (buf, slots, ARRAY_SIZE (slots)) == 0)
    return;
  s->cpu_usage_ns = usage * 1000;
  s->cpu_user_ns = user * 1000;
  s->cpu_system_ns = sys * 1000;
  s->have |= CGROUPS_STATS_CPU;
  if (periods != UINT64_MAX)
    {
      s->cpu_nr_periods = periods;
      s->cpu_nr_throttled = throttled;
      s->cpu_throttled_ns = thr_us * 1000;
      s->have |= CGROUPS_STATS_CPU_THROTTLE;
    }
}

static void
memory_stat_slots (struct cgroups_stats *s, struct key_slot *slots, bool v1)
{
  /* v1's total_* fields include descendants, like every v2 field. */
  const struct key_slot v2s[] = {
    { "anon", &s->memory_anon },
    { "file", &s->memory_file },
    { "kernel_stack", &s->memory_kernel_stack },
    { "slab", &s->memory_slab },
    { "sock", &s->memory_sock },
    { "shmem", &s->memory_shmem },
    { "file_mapped", &s->memory_file_mapped },
    { "file_dirty", &s->memory_file_dirty },
    { "file_writeback", &s->memory_file_writeback },
    { "active_anon", &s->memory_active_anon },
    { "inactive_anon", &s->memory_inactive_anon },
    { "active_file", &s->memory_active_file },
    { "inactive_file", &s->memory_inactive_file },
    { "unevictable", &s->memory_unevictable },
    { "pgfault", &s->memory_pgfault },
    { "pgmajfault", &s->memory_pgmajfault },
  };
  const struct key_slot v1s[] = {
    { "total_rss", &s->memory_anon },
    { "total_cache", &s->memory_file },
    { "total_shmem", &s->memory_shmem },
    { "total_mapped_file", &s->memory_file_mapped },
    { "total_dirty", &s->memory_file_dirty },
    { "total_writeback", &s->memory_file_writeback },
    { "total_active_anon", &s->memory_active_anon },
    { "total_inactive_anon", &s->memory_inactive_anon },
    { "total_active_file", &s->memory_active_file },
    { "total_inactive_file", &s->memory_inactive_file },
    { "total_unevictable", &s->memory_unevictable },
    { "total_pgfault", &s->memory_pgfault },
    { "total_pgmajfault", &s->memory_pgmajfault },
  };
  if (v1)
    memcpy (slots, v1s, sizeof v1s);
  else
    memcpy (slots, v2s, sizeof v2s);
}

static void
v2_memory (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  char buf[8192];
  struct key_slot slots[16];
  uint64_t v;

  if (read_u64 (rd, i, "memory.current", &s->memory_current) < 0)
    return;
  s->have |= CGROUPS_STATS_MEMORY;
  s->memory_limit = read_u64 (rd, i, "memory.max", &v) == 0 ? v : UINT64_MAX;
  if (read_u64 (rd, i, "memory.peak", &s->memory_peak) == 0)
    s->have |= CGROUPS_STATS_MEMORY_PEAK;
  memory_stat_slots (s, slots, false);
  if (read_file (rd, i, "memory.stat", buf, sizeof buf) >= 0)
    parse_kv (buf, slots, 16);
  if (read_u64 (rd, i, "memory.swap.current", &s->swap_current) == 0)
    {
      s->have |= CGROUPS_STATS_SWAP;
      s->swap_limit = read_u64 (rd, i, "memory.swap.max", &v) == 0 ? v : UINT64_MAX;
    }
}

static void
pids (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  uint64_t v;
  if (read_u64 (rd, i, "pids.current", &s->pids_current) < 0)
    return;
  s->have |= CGROUPS_STATS_PIDS;
  s->pids_limit = read_u64 (rd, i, "pids.max", &v) == 0 ? v : UINT64_MAX;
}

static void
v2_io (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  char buf[16384];
  const char *p = buf;
  if (read_file (rd, i, "io.stat", buf, sizeof buf) < 0)
    return;
  s->have |= CGROUPS_STATS_IO;
  /* "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" */
  while (*p)
    {
      const char *eol = strchrnul (p, '\n');
      uint32_t major, minor;
      if (parse_majmin (&p, &major, &minor))
        {
          struct cgroups_stats_io *io = io_slot (s, major, minor);
          while (p < eol)
            {
              const char *eq;
              uint64_t *slot = NULL;
              while (*p == ' ')
                p++;
              eq = memchr (p, '=', (size_t)(eol - p));
              if (eq == NULL)
                break;
              if (eq - p == 6 && memcmp (p, "rbytes", 6) == 0)
                slot = &io->read_bytes;
              else if (eq - p == 6 && memcmp (p, "wbytes", 6) == 0)
                slot = &io->write_bytes;
              else if (eq - p == 4 && memcmp (p, "rios", 4) == 0)
                slot = &io->read_ios;
              else if (eq - p == 4 && memcmp (p, "wios", 4) == 0)
                slot = &io->write_ios;
              p = eq + 1;
              if (slot)
                *slot = parse_num (&p);
              else
                (void)parse_num (&p);
            }
        }
      p = *eol ? eol + 1 : eol;
    }
}

/* ------------------------------------------------------------------ v1 */

/* cpuacct.usage is the precise total (the scheduler's runtime). The user/system split only
 * exists as tick samples: cpuacct.usage_all ("cpu user system", a line per CPU, in ns) gives it
 * in one read; kernels before 4.13 lack it and take cpuacct.stat (USER_HZ ticks). */
static void
v1_cpuacct (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  char buf[16384];
  const char *p;

  if (read_u64 (rd, i, "cpuacct.usage", &s->cpu_usage_ns) < 0)
    return;
  s->have |= CGROUPS_STATS_CPU;
  if (read_file (rd, i, "cpuacct.usage_all", buf, sizeof buf) > 0)
    {
      p = strchr (buf, '\n');
      while (p && *++p)
        {
          (void)parse_num (&p); /* cpu */
          while (*p == ' ')
            p++;
          s->cpu_user_ns += parse_num (&p);
          while (*p == ' ')
            p++;
          s->cpu_system_ns += parse_num (&p);
          p = strchr (p, '\n');
        }
      return;
    }
  if (read_file (rd, i, "cpuacct.stat", buf, sizeof buf) >= 0)
    {
      uint64_t user = 0, sys = 0;
      long hz = sysconf (_SC_CLK_TCK);
      const struct key_slot slots[] = { { "user", &user }, { "system", &sys } };
      parse_kv (buf, slots, 2);
      if (hz > 0)
        {
          s->cpu_user_ns = user * (1000000000ULL / (uint64_t)hz);
          s->cpu_system_ns = sys * (1000000000ULL / (uint64_t)hz);
        }
    }
}

static void
v1_cpu (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  char buf[512];
  uint64_t periods = UINT64_MAX, throttled = 0, thr_ns = 0;
  const struct key_slot slots[] = { { "nr_periods", &periods },
                                    { "nr_throttled", &throttled },
                                    { "throttled_time", &thr_ns } };
  if (read_file (rd, i, "cpu.stat", buf, sizeof buf) < 0)
    return;
  parse_kv (buf, slots, ARRAY_SIZE (slots));
  if (periods == UINT64_MAX)
    return;
  s->cpu_nr_periods = periods;
  s->cpu_nr_throttled = throttled;
  s->cpu_throttled_ns = thr_ns;
  s->have |= CGROUPS_STATS_CPU_THROTTLE;
}

static uint64_t
v1_limit (uint64_t v)
{
  return v >= V1_UNLIMITED ? UINT64_MAX : v;
}

static void
v1_memory (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  char buf[8192];
  struct key_slot slots[17];
  uint64_t v, memsw_limit, total_swap = UINT64_MAX;

  if (read_u64 (rd, i, "memory.usage_in_bytes", &s->memory_current) < 0)
    return;
  s->have |= CGROUPS_STATS_MEMORY;
  s->memory_limit = read_u64 (rd, i, "memory.limit_in_bytes", &v) == 0 ? v1_limit (v) : UINT64_MAX;
  if (read_u64 (rd, i, "memory.max_usage_in_bytes", &s->memory_peak) == 0)
    s->have |= CGROUPS_STATS_MEMORY_PEAK;
  memory_stat_slots (s, slots, true);
  /* total_swap is there when swap is accounted: no memory.memsw.usage_in_bytes read */
  slots[13] = (struct key_slot){ "total_swap", &total_swap };
  if (read_file (rd, i, "memory.stat", buf, sizeof buf) >= 0)
    parse_kv (buf, slots, 14);
  if (total_swap != UINT64_MAX)
    {
      s->have |= CGROUPS_STATS_SWAP;
      s->swap_current = total_swap;
      s->swap_limit = UINT64_MAX;
      if (read_u64 (rd, i, "memory.memsw.limit_in_bytes", &memsw_limit) == 0
          && v1_limit (memsw_limit) != UINT64_MAX && s->memory_limit != UINT64_MAX)
        s->swap_limit = memsw_limit > s->memory_limit ? memsw_limit - s->memory_limit : 0;
    }
}

static void
v1_blkio (struct reader *rd, size_t i, struct cgroups_stats *s)
{
  static const char *const files[2][2]
      = { { "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive" },
          { "blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced" } };
  char buf[16384];

  for (int kind = 0; kind < 2; kind++)
    {
      const char *p = buf;
      if (read_file (rd, i, files[0][kind], buf, sizeof buf) < 0
          && read_file (rd, i, files[1][kind], buf, sizeof buf) < 0)
        continue;
      s->have |= CGROUPS_STATS_IO;
      /* "8:0 Read 4096" ... "Total 123" */
      while (*p)
        {
          const char *eol = strchrnul (p, '\n');
          uint32_t major, minor;
          if (parse_majmin (&p, &major, &minor) && *p == ' ')
            {
              struct cgroups_stats_io *io = io_slot (s, major, minor);
              p++;
              if (strncmp (p, "Read ", 5) == 0)
                {
                  p += 5;
                  *(kind ? &io->read_ios : &io->read_bytes) = parse_num (&p);
                }
              else if (strncmp (p, "Write ", 6) == 0)
                {
                  p += 6;
                  *(kind ? &io->write_ios : &io->write_bytes) = parse_num (&p);
                }
            }
          p = *eol ? eol + 1 : eol;
        }
    }
}

/* ------------------------------------------------------------------ entry */

int
cgroups_stats_read (struct cgroups_cgroup *cg, struct cgroups_stats *ret, berth_err *err)
{
  struct cgroups_manager *m = cg->m;
  struct reader rd = { .cg = cg };
  struct cgroups_stats_io *io = ret->io;
  size_t cap = ret->cap_io;
  bool any = false;

  memset (ret, 0, sizeof *ret);
  ret->io = io;
  ret->cap_io = cap;
  ret->memory_limit = ret->swap_limit = ret->pids_limit = UINT64_MAX;

  for (size_t i = 0; i < m->n_h; i++)
    {
      struct cg_hier *h = &m->h[i];
      if (cg->paths[i] == NULL)
        continue;
      any = true;
      if (h->unified)
        {
          /* cpu.stat's usage lines exist without the cpu controller; on hybrid hosts the v1
           * cpuacct numbers are the ones tools show, so those win. */
          if (m->layout == CGROUPS_LAYOUT_UNIFIED || cg_manager_find_controller (m, "cpuacct") < 0)
            v2_cpu (&rd, i, ret);
          if (cg_hier_has (h, "memory"))
            v2_memory (&rd, i, ret);
          if (cg_hier_has (h, "pids"))
            pids (&rd, i, ret);
          if (cg_hier_has (h, "io"))
            v2_io (&rd, i, ret);
          continue;
        }
      if (cg_hier_has (h, "cpuacct"))
        v1_cpuacct (&rd, i, ret);
      if (cg_hier_has (h, "cpu"))
        v1_cpu (&rd, i, ret);
      if (cg_hier_has (h, "memory"))
        v1_memory (&rd, i, ret);
      if (cg_hier_has (h, "pids"))
        pids (&rd, i, ret);
      if (cg_hier_has (h, "blkio"))
        v1_blkio (&rd, i, ret);
    }
  if (!any)
    return berth_err_set (err, ENOENT, "cgroup `%s` has no directory left", cg->saved);
  /* The cgroup itself gone from every hierarchy reads as no data at all. */
  if (ret->have == 0)
    {
      cleanup_close int fd = -1;
      int i = m->unified >= 0 && cg->paths[m->unified] ? m->unified : 0;
      while (cg->paths[i] == NULL)
        i++;
      fd = cg_open_dir (cg, (size_t)i, NULL, err);
      if (fd < 0)
        return fd;
    }
  return 0;
}

void
cgroups_stats_release (struct cgroups_stats *s)
{
  free (s->io);
  s->io = NULL;
  s->n_io = s->cap_io = 0;
}
