/* OCI linux.resources -> struct cgroups_resources: types, ranges and unknown keys checked,
 * every error naming the JSON path. Version-independent; whether the host can honour a field
 * is decided when the resources are applied (apply.c). Also the shares/weight conversions. */
#include <math.h>

#include "cgroups/internal.h"

/* A JSON null is "not set", as Go's encoders write an unset pointer. */
static bool
absent (json_object *o, const char *key)
{
  json_object *v;
  return o == NULL || !json_object_object_get_ex (o, key, &v) || v == NULL;
}

static int
get_i64 (json_object *o, const char *path, const char *key, int64_t min, int64_t max, bool *has,
         int64_t *val, berth_err *err)
{
  int r;
  if (absent (o, key))
    return 0;
  r = bjson_get_int64 (o, path, key, 0, min, max, val, err);
  if (r > 0)
    *has = true;
  return r;
}

static int
get_u64 (json_object *o, const char *path, const char *key, uint64_t max, bool *has, uint64_t *val,
         berth_err *err)
{
  int r;
  if (absent (o, key))
    return 0;
  r = bjson_get_uint64 (o, path, key, 0, max, val, err);
  if (r > 0)
    *has = true;
  return r;
}

static int
get_bool (json_object *o, const char *path, const char *key, bool *has, bool *val, berth_err *err)
{
  int r;
  if (absent (o, key))
    return 0;
  r = bjson_get_bool (o, path, key, 0, val, err);
  if (r > 0)
    *has = true;
  return r;
}

static int
get_obj (json_object *o, const char *path, const char *key, json_object **ret, berth_err *err)
{
  *ret = NULL;
  if (absent (o, key))
    return 0;
  return bjson_get (o, path, key, json_type_object, 0, ret, err);
}

static int
get_arr (json_object *o, const char *path, const char *key, json_object **ret, berth_err *err)
{
  *ret = NULL;
  if (absent (o, key))
    return 0;
  return bjson_get (o, path, key, json_type_array, 0, ret, err);
}

static int
get_str (json_object *o, const char *path, const char *key, char **ret, berth_err *err)
{
  const char *s;
  int r;
  if (absent (o, key))
    return 0;
  r = bjson_get_string (o, path, key, 0, &s, err);
  if (r > 0)
    {
      free (*ret);
      *ret = xstrdup (s);
    }
  return r;
}

char *
cg_field (const struct cgroups_resources *r, const char *field)
{
  return bjson_path_key (r->path, field);
}

/* ------------------------------------------------------------------ groups */

/* A cpuset list: "0-3,5", digits, ',' and '-' only; the kernel judges the rest. */
static int
check_cpuset_list (const char *s, const char *path, berth_err *err)
{
  if (*s == '\0')
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || *p == ',' || *p == '-'))
      return berth_err_set (err, 0, "%s: `%s` is not a CPU/memory node list", path, s);
  return 0;
}

static int
parse_cpu (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  static const char *const keys[]
      = { "shares",         "quota", "burst", "period", "realtimeRuntime",
          "realtimePeriod", "cpus",  "mems",  "idle",   NULL };
  cleanup_free char *p_cpus = bjson_path_key (path, "cpus");
  cleanup_free char *p_mems = bjson_path_key (path, "mems");
  int q;

  if ((q = bjson_check_keys (o, path, keys, err)) < 0)
    return q;
  /* The kernel's MIN_SHARES/MAX_SHARES; a value outside would be clamped silently. */
  if ((q = get_u64 (o, path, "shares", UINT64_MAX, &r->has_cpu_shares, &r->cpu_shares, err)) < 0)
    return q;
  if (r->has_cpu_shares && (r->cpu_shares < 2 || r->cpu_shares > 262144))
    return berth_err_set (err, 0, "%s.shares: %" PRIu64 " is outside 2..262144", path,
                          r->cpu_shares);
  if ((q = get_i64 (o, path, "quota", INT64_MIN, INT64_MAX, &r->has_cpu_quota, &r->cpu_quota, err))
      < 0)
    return q;
  /* quota 0 is how Go writes "unset"; -1 or any negative is "no limit". */
  if (r->has_cpu_quota && r->cpu_quota == 0)
    r->has_cpu_quota = false;
  if (r->has_cpu_quota && r->cpu_quota < 0)
    r->cpu_quota = -1;
  if (r->has_cpu_quota && r->cpu_quota > 0 && r->cpu_quota < 1000)
    return berth_err_set (err, 0, "%s.quota: %" PRId64 " us is below the kernel's 1000 us minimum",
                          path, r->cpu_quota);
  if ((q = get_u64 (o, path, "period", UINT64_MAX, &r->has_cpu_period, &r->cpu_period, err)) < 0)
    return q;
  if (r->has_cpu_period && r->cpu_period == 0)
    r->has_cpu_period = false;
  if (r->has_cpu_period && (r->cpu_period < 1000 || r->cpu_period > 1000000))
    return berth_err_set (err, 0, "%s.period: %" PRIu64 " us is outside 1000..1000000", path,
                          r->cpu_period);
  if ((q = get_u64 (o, path, "burst", UINT64_MAX, &r->has_cpu_burst, &r->cpu_burst, err)) < 0)
    return q;
  if ((q = get_i64 (o, path, "realtimeRuntime", INT64_MIN, INT64_MAX, &r->has_cpu_rt_runtime,
                    &r->cpu_rt_runtime, err))
      < 0)
    return q;
  if (r->has_cpu_rt_runtime && r->cpu_rt_runtime == 0)
    r->has_cpu_rt_runtime = false;
  if ((q = get_u64 (o, path, "realtimePeriod", UINT64_MAX, &r->has_cpu_rt_period, &r->cpu_rt_period,
                    err))
      < 0)
    return q;
  if (r->has_cpu_rt_period && r->cpu_rt_period == 0)
    r->has_cpu_rt_period = false;
  if ((q = get_str (o, path, "cpus", &r->cpuset_cpus, err)) < 0)
    return q;
  if ((q = get_str (o, path, "mems", &r->cpuset_mems, err)) < 0)
    return q;
  if (r->cpuset_cpus && check_cpuset_list (r->cpuset_cpus, p_cpus, err) < 0)
    return -EINVAL;
  if (r->cpuset_mems && check_cpuset_list (r->cpuset_mems, p_mems, err) < 0)
    return -EINVAL;
  /* "" is how Go writes an unset string. */
  if (r->cpuset_cpus && *r->cpuset_cpus == '\0')
    {
      free (r->cpuset_cpus);
      r->cpuset_cpus = NULL;
    }
  if (r->cpuset_mems && *r->cpuset_mems == '\0')
    {
      free (r->cpuset_mems);
      r->cpuset_mems = NULL;
    }
  if ((q = get_i64 (o, path, "idle", 0, 1, &r->has_cpu_idle, &r->cpu_idle, err)) < 0)
    return q;
  return 0;
}

static int
parse_memory (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  static const char *const keys[] = { "limit",
                                      "reservation",
                                      "swap",
                                      "kernel",
                                      "kernelTCP",
                                      "swappiness",
                                      "disableOOMKiller",
                                      "useHierarchy",
                                      "checkBeforeUpdate",
                                      NULL };
  bool has_check = false;
  int q;

  if ((q = bjson_check_keys (o, path, keys, err)) < 0)
    return q;
  if ((q = get_i64 (o, path, "limit", -1, INT64_MAX, &r->has_mem_limit, &r->mem_limit, err)) < 0)
    return q;
  /* 0 is how Go writes "unset" (runc and crun read it so). */
  if (r->has_mem_limit && r->mem_limit == 0)
    r->has_mem_limit = false;
  if ((q = get_i64 (o, path, "reservation", -1, INT64_MAX, &r->has_mem_reservation,
                    &r->mem_reservation, err))
      < 0)
    return q;
  if (r->has_mem_reservation && r->mem_reservation == 0)
    r->has_mem_reservation = false;
  if ((q = get_i64 (o, path, "swap", -1, INT64_MAX, &r->has_mem_swap, &r->mem_swap, err)) < 0)
    return q;
  if (r->has_mem_swap && r->mem_swap == 0)
    r->has_mem_swap = false;
  if (r->has_mem_swap && r->mem_swap > 0 && r->has_mem_limit && r->mem_limit > 0
      && r->mem_swap < r->mem_limit)
    return berth_err_set (err, 0,
                          "%s.swap: %" PRId64 " is below limit %" PRId64
                          " (swap is the limit of memory+swap, so it must be >= limit or -1)",
                          path, r->mem_swap, r->mem_limit);
  if ((q = get_i64 (o, path, "kernel", -1, INT64_MAX, &r->has_mem_kernel, &r->mem_kernel, err)) < 0)
    return q;
  if (r->has_mem_kernel && r->mem_kernel == 0)
    r->has_mem_kernel = false;
  if ((q = get_i64 (o, path, "kernelTCP", -1, INT64_MAX, &r->has_mem_kernel_tcp, &r->mem_kernel_tcp,
                    err))
      < 0)
    return q;
  if (r->has_mem_kernel_tcp && r->mem_kernel_tcp == 0)
    r->has_mem_kernel_tcp = false;
  if ((q = get_u64 (o, path, "swappiness", UINT64_MAX, &r->has_mem_swappiness, &r->mem_swappiness,
                    err))
      < 0)
    return q;
  if (r->has_mem_swappiness && r->mem_swappiness > 100)
    return berth_err_set (err, 0, "%s.swappiness: %" PRIu64 " is outside 0..100", path,
                          r->mem_swappiness);
  if ((q = get_bool (o, path, "disableOOMKiller", &r->has_mem_disable_oom_killer,
                     &r->mem_disable_oom_killer, err))
      < 0)
    return q;
  if ((q
       = get_bool (o, path, "useHierarchy", &r->has_mem_use_hierarchy, &r->mem_use_hierarchy, err))
      < 0)
    return q;
  if ((q = get_bool (o, path, "checkBeforeUpdate", &has_check, &r->mem_check_before_update, err))
      < 0)
    return q;
  return 0;
}

static int
parse_pids (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  static const char *const keys[] = { "limit", NULL };
  int q;

  if ((q = bjson_check_keys (o, path, keys, err)) < 0)
    return q;
  if ((q
       = get_i64 (o, path, "limit", INT64_MIN, INT64_MAX, &r->has_pids_limit, &r->pids_limit, err))
      < 0)
    return q;
  /* The runtime spec: 0 or below means no limit. */
  if (r->has_pids_limit && r->pids_limit <= 0)
    r->pids_limit = -1;
  return 0;
}

static int
parse_weight (json_object *o, const char *path, const char *key, bool *has, uint16_t *val,
              berth_err *err)
{
  uint64_t v = 0;
  bool h = false;
  int q = get_u64 (o, path, key, UINT16_MAX, &h, &v, err);
  if (q < 0)
    return q;
  if (h && v == 0)
    return 0; /* unset */
  if (h && (v < 10 || v > 1000))
    return berth_err_set (err, 0, "%s.%s: %" PRIu64 " is outside 10..1000", path, key, v);
  *has = h;
  *val = (uint16_t)v;
  return 0;
}

static int
parse_device_numbers (json_object *e, const char *ep, int64_t *major, int64_t *minor,
                      berth_err *err)
{
  int q;
  if ((q = bjson_get_int64 (e, ep, "major", BJSON_REQUIRED, 0, UINT32_MAX, major, err)) < 0)
    return q;
  if ((q = bjson_get_int64 (e, ep, "minor", BJSON_REQUIRED, 0, UINT32_MAX, minor, err)) < 0)
    return q;
  return 0;
}

static int
parse_blkio_list (json_object *o, const char *path, const char *key, bool weights,
                  struct cg_blkio_dev **ret, size_t *ret_n, berth_err *err)
{
  static const char *const wkeys[] = { "major", "minor", "weight", "leafWeight", NULL };
  static const char *const tkeys[] = { "major", "minor", "rate", NULL };
  cleanup_free char *lp = bjson_path_key (path, key);
  json_object *arr;
  size_t n;
  int q;

  if ((q = get_arr (o, path, key, &arr, err)) <= 0)
    return q;
  n = json_object_array_length (arr);
  *ret = xzalloc ((n ? n : 1) * sizeof **ret);
  *ret_n = n;
  for (size_t i = 0; i < n; i++)
    {
      json_object *e = json_object_array_get_idx (arr, i);
      cleanup_free char *ep = bjson_path_index (lp, i);
      struct cg_blkio_dev *d = &(*ret)[i];
      bool has_rate = false;

      if ((q = bjson_check_keys (e, ep, weights ? wkeys : tkeys, err)) < 0)
        return q;
      if ((q = parse_device_numbers (e, ep, &d->major, &d->minor, err)) < 0)
        return q;
      if (weights)
        {
          if ((q = parse_weight (e, ep, "weight", &d->has_weight, &d->weight, err)) < 0)
            return q;
          if ((q = parse_weight (e, ep, "leafWeight", &d->has_leaf_weight, &d->leaf_weight, err))
              < 0)
            return q;
          if (!d->has_weight && !d->has_leaf_weight)
            return berth_err_set (err, 0, "%s: neither weight nor leafWeight is set", ep);
        }
      else
        {
          if ((q = get_u64 (e, ep, "rate", UINT64_MAX, &has_rate, &d->rate, err)) < 0)
            return q;
          if (!has_rate)
            return berth_err_set (err, 0, "%s.rate: required but missing", ep);
        }
    }
  return 0;
}

static int
parse_blkio (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  static const char *const keys[] = { "weight",
                                      "leafWeight",
                                      "weightDevice",
                                      "throttleReadBpsDevice",
                                      "throttleWriteBpsDevice",
                                      "throttleReadIOPSDevice",
                                      "throttleWriteIOPSDevice",
                                      NULL };
  static const char *const tnames[CG_THROTTLE_N]
      = { "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
          "throttleWriteIOPSDevice" };
  int q;

  if ((q = bjson_check_keys (o, path, keys, err)) < 0)
    return q;
  if ((q = parse_weight (o, path, "weight", &r->has_blkio_weight, &r->blkio_weight, err)) < 0)
    return q;
  if ((q = parse_weight (o, path, "leafWeight", &r->has_blkio_leaf_weight, &r->blkio_leaf_weight,
                         err))
      < 0)
    return q;
  if ((q = parse_blkio_list (o, path, "weightDevice", true, &r->weight_dev, &r->n_weight_dev, err))
      < 0)
    return q;
  for (int t = 0; t < CG_THROTTLE_N; t++)
    if ((q = parse_blkio_list (o, path, tnames[t], false, &r->throttle[t], &r->n_throttle[t], err))
        < 0)
      return q;
  return 0;
}

/* "2MB", "1GB", "64KB": what the kernel names hugetlb.<size>.* files. */
static bool
valid_page_size (const char *s)
{
  const char *p = s;
  if (*p < '1' || *p > '9')
    return false;
  while (*p >= '0' && *p <= '9')
    p++;
  return strcmp (p, "KB") == 0 || strcmp (p, "MB") == 0 || strcmp (p, "GB") == 0;
}

static int
parse_hugepages (struct cgroups_resources *r, json_object *arr, const char *path, berth_err *err)
{
  static const char *const keys[] = { "pageSize", "limit", NULL };
  size_t n = json_object_array_length (arr);
  int q;

  r->hugepages = xzalloc ((n ? n : 1) * sizeof *r->hugepages);
  for (size_t i = 0; i < n; i++)
    {
      json_object *e = json_object_array_get_idx (arr, i);
      cleanup_free char *ep = bjson_path_index (path, i);
      const char *ps;
      struct cg_hugepage *h = &r->hugepages[r->n_hugepages];

      if ((q = bjson_check_keys (e, ep, keys, err)) < 0)
        return q;
      if ((q = bjson_get_string (e, ep, "pageSize", BJSON_REQUIRED, &ps, err)) < 0)
        return q;
      if (!valid_page_size (ps))
        return berth_err_set (err, 0, "%s.pageSize: `%s` is not a page size such as `2MB`", ep, ps);
      if ((q = bjson_get_uint64 (e, ep, "limit", BJSON_REQUIRED, UINT64_MAX, &h->limit, err)) < 0)
        return q;
      h->page_size = xstrdup (ps);
      r->n_hugepages++;
    }
  return 0;
}

static int
parse_rdma (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  static const char *const keys[] = { "hcaHandles", "hcaObjects", NULL };
  int q;

  r->rdma = xzalloc ((size_t)(json_object_object_length (o) + 1) * sizeof *r->rdma);
  json_object_object_foreach (o, dev, val)
    {
      cleanup_free char *ep = bjson_path_key (path, dev);
      struct cg_rdma *d = &r->rdma[r->n_rdma];
      uint64_t v;
      bool h = false;

      if (*dev == '\0' || strpbrk (dev, " \t\n="))
        return berth_err_set (err, 0, "%s: `%s` is not an RDMA device name", path, dev);
      if ((q = bjson_check_keys (val, ep, keys, err)) < 0)
        return q;
      d->device = xstrdup (dev);
      r->n_rdma++;
      if ((q = get_u64 (val, ep, "hcaHandles", UINT32_MAX, &h, &v, err)) < 0)
        return q;
      d->has_handles = h;
      d->handles = (uint32_t)v;
      h = false;
      if ((q = get_u64 (val, ep, "hcaObjects", UINT32_MAX, &h, &v, err)) < 0)
        return q;
      d->has_objects = h;
      d->objects = (uint32_t)v;
      if (!d->has_handles && !d->has_objects)
        return berth_err_set (err, 0, "%s: neither hcaHandles nor hcaObjects is set", ep);
    }
  return 0;
}

static int
parse_network (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  static const char *const keys[] = { "classID", "priorities", NULL };
  static const char *const pkeys[] = { "name", "priority", NULL };
  json_object *arr;
  uint64_t v;
  bool h = false;
  int q;

  if ((q = bjson_check_keys (o, path, keys, err)) < 0)
    return q;
  if ((q = get_u64 (o, path, "classID", UINT32_MAX, &h, &v, err)) < 0)
    return q;
  r->has_net_class_id = h;
  r->net_class_id = (uint32_t)v;
  if ((q = get_arr (o, path, "priorities", &arr, err)) < 0)
    return q;
  if (arr)
    {
      cleanup_free char *lp = bjson_path_key (path, "priorities");
      size_t n = json_object_array_length (arr);
      r->has_net_prio = true;
      r->net_prio = xzalloc ((n ? n : 1) * sizeof *r->net_prio);
      for (size_t i = 0; i < n; i++)
        {
          json_object *e = json_object_array_get_idx (arr, i);
          cleanup_free char *ep = bjson_path_index (lp, i);
          const char *name;
          if ((q = bjson_check_keys (e, ep, pkeys, err)) < 0)
            return q;
          if ((q = bjson_get_string (e, ep, "name", BJSON_REQUIRED, &name, err)) < 0)
            return q;
          if (*name == '\0' || strpbrk (name, " \t\n/"))
            return berth_err_set (err, 0, "%s.name: `%s` is not an interface name", ep, name);
          if ((q = bjson_get_uint32 (e, ep, "priority", BJSON_REQUIRED, &r->net_prio[i].priority,
                                     err))
              < 0)
            return q;
          r->net_prio[i].name = xstrdup (name);
          r->n_net_prio++;
        }
    }
  return 0;
}

/* A unified key names one file of the cgroup's own directory: "<controller>.<name>". */
static int
check_unified_key (const char *key, const char *path, berth_err *err)
{
  const char *dot = strchr (key, '.');
  if (*key == '\0' || strchr (key, '/') || dot == NULL || dot == key || dot[1] == '\0')
    return berth_err_set (err, 0, "%s: `%s` is not a cgroup v2 file name (<controller>.<file>)",
                          path, key);
  for (const char *p = key; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
          || *p == '-' || (*p >= 'A' && *p <= 'Z')))
      return berth_err_set (err, 0, "%s: `%s` is not a cgroup v2 file name", path, key);
  /* Membership and the tree's shape are berth's to manage, not a resource. */
  if (strcmp (key, "cgroup.procs") == 0 || strcmp (key, "cgroup.threads") == 0
      || strcmp (key, "cgroup.subtree_control") == 0 || strcmp (key, "cgroup.kill") == 0
      || strcmp (key, "cgroup.freeze") == 0 || strcmp (key, "cgroup.type") == 0)
    return berth_err_set (err, 0, "%s: `%s` is managed by berth, not a resource", path, key);
  return 0;
}

static int
parse_unified (struct cgroups_resources *r, json_object *o, const char *path, berth_err *err)
{
  r->unified = xzalloc ((size_t)(json_object_object_length (o) + 1) * sizeof *r->unified);
  json_object_object_foreach (o, k, v)
    {
      cleanup_free char *kp = bjson_path_key (path, k);
      const char *s;
      if (check_unified_key (k, kp, err) < 0)
        return -EINVAL;
      if (v == NULL || json_object_get_type (v) != json_type_string)
        return berth_err_set (err, 0, "%s: expected a string, got %s", kp,
                              bjson_type_name (json_object_get_type (v)));
      s = json_object_get_string (v);
      if (strlen (s) != (size_t)json_object_get_string_len (v))
        return berth_err_set (err, 0, "%s: string contains a NUL character", kp);
      r->unified[r->n_unified].key = xstrdup (k);
      r->unified[r->n_unified].value = xstrdup (s);
      r->n_unified++;
    }
  return 0;
}

static int
parse_access (const char *s, unsigned *ret)
{
  unsigned a = 0;
  if (*s == '\0')
    return -EINVAL;
  for (const char *p = s; *p; p++)
    switch (*p)
      {
      case 'r':
        a |= CG_ACC_R;
        break;
      case 'w':
        a |= CG_ACC_W;
        break;
      case 'm':
        a |= CG_ACC_M;
        break;
      default:
        return -EINVAL;
      }
  *ret = a;
  return 0;
}

static int
parse_devices (struct cgroups_resources *r, json_object *arr, const char *path, berth_err *err)
{
  static const char *const keys[] = { "allow", "type", "major", "minor", "access", NULL };
  size_t n = json_object_array_length (arr);
  int q;

  r->has_devices = true;
  r->devices = xzalloc ((n ? n : 1) * sizeof *r->devices);
  for (size_t i = 0; i < n; i++)
    {
      json_object *e = json_object_array_get_idx (arr, i);
      cleanup_free char *ep = bjson_path_index (path, i);
      struct cg_dev_rule *d = &r->devices[i];
      const char *type = "a", *access = "rwm";
      bool has = false;

      if ((q = bjson_check_keys (e, ep, keys, err)) < 0)
        return q;
      if ((q = bjson_get_bool (e, ep, "allow", BJSON_REQUIRED, &d->allow, err)) < 0)
        return q;
      if (!absent (e, "type") && (q = bjson_get_string (e, ep, "type", 0, &type, err)) < 0)
        return q;
      if (*type == '\0')
        type = "a";
      if (strlen (type) != 1 || strchr ("abc", type[0]) == NULL)
        return berth_err_set (err, 0, "%s.type: `%s` is not one of a, b, c", ep, type);
      d->type = type[0];
      d->major = d->minor = -1;
      if ((q = get_i64 (e, ep, "major", -1, UINT32_MAX, &has, &d->major, err)) < 0)
        return q;
      if ((q = get_i64 (e, ep, "minor", -1, UINT32_MAX, &has, &d->minor, err)) < 0)
        return q;
      if (!absent (e, "access") && (q = bjson_get_string (e, ep, "access", 0, &access, err)) < 0)
        return q;
      if (*access == '\0')
        access = "rwm";
      if (parse_access (access, &d->access) < 0)
        return berth_err_set (err, 0, "%s.access: `%s` is not a subset of `rwm`", ep, access);
      r->n_devices++;
    }
  return 0;
}

struct cgroups_resources *
cgroups_resources_new (void)
{
  struct cgroups_resources *r = xzalloc (sizeof *r);
  r->path = xstrdup ("resources");
  return r;
}

int
cgroups_resources_parse (json_object *linux_resources, const char *json_path,
                         struct cgroups_resources **ret, berth_err *err)
{
  static const char *const keys[] = { "devices",        "memory",  "cpu",  "pids",    "blockIO",
                                      "hugepageLimits", "network", "rdma", "unified", NULL };
  struct cgroups_resources *r = xzalloc (sizeof *r);
  const char *path = json_path && *json_path ? json_path : "linux.resources";
  json_object *o;
  int q;

  r->path = xstrdup (path);
  if (linux_resources == NULL)
    goto done;
  if ((q = bjson_check_keys (linux_resources, path, keys, err)) < 0)
    goto fail;

#define GROUP(key, getter, fn)                                                                     \
  do                                                                                               \
    {                                                                                              \
      cleanup_free char *gp = bjson_path_key (path, key);                                          \
      if ((q = getter (linux_resources, path, key, &o, err)) < 0)                                  \
        goto fail;                                                                                 \
      if (o && (q = fn (r, o, gp, err)) < 0)                                                       \
        goto fail;                                                                                 \
    }                                                                                              \
  while (0)

  GROUP ("cpu", get_obj, parse_cpu);
  GROUP ("memory", get_obj, parse_memory);
  GROUP ("pids", get_obj, parse_pids);
  GROUP ("blockIO", get_obj, parse_blkio);
  GROUP ("hugepageLimits", get_arr, parse_hugepages);
  GROUP ("rdma", get_obj, parse_rdma);
  GROUP ("network", get_obj, parse_network);
  GROUP ("unified", get_obj, parse_unified);
  GROUP ("devices", get_arr, parse_devices);
#undef GROUP

done:
  *ret = r;
  return 0;
fail:
  cgroups_resources_free (r);
  return q;
}

static int
add_device_rule (struct cgroups_resources *r, bool allow, char type, int64_t major, int64_t minor,
                 const char *access)
{
  struct cg_dev_rule d = { .allow = allow, .type = type, .major = major, .minor = minor };
  if (type != 'a' && type != 'b' && type != 'c')
    return -EINVAL;
  if (major < -1 || major > UINT32_MAX || minor < -1 || minor > UINT32_MAX)
    return -ERANGE;
  if (parse_access (access ? access : "rwm", &d.access) < 0)
    return -EINVAL;
  r->devices = xrealloc (r->devices, (r->n_devices + 1) * sizeof *r->devices);
  r->devices[r->n_devices++] = d;
  r->has_devices = true;
  return 0;
}

int
cgroups_resources_allow_device (struct cgroups_resources *r, char type, int64_t major,
                                int64_t minor, const char *access)
{
  return add_device_rule (r, true, type, major, minor, access);
}

int
cgroups_resources_deny_device (struct cgroups_resources *r, char type, int64_t major, int64_t minor,
                               const char *access)
{
  return add_device_rule (r, false, type, major, minor, access);
}

void
cgroups_resources_set_memory_limit (struct cgroups_resources *r, int64_t limit)
{
  r->has_mem_limit = true;
  r->mem_limit = limit <= 0 ? -1 : limit;
}

void
cgroups_resources_set_cpu_quota (struct cgroups_resources *r, int64_t quota, uint64_t period)
{
  r->has_cpu_quota = true;
  r->cpu_quota = quota <= 0 ? -1 : quota;
  r->has_cpu_period = period > 0;
  r->cpu_period = period;
}

void
cgroups_resources_set_cpu_shares (struct cgroups_resources *r, uint64_t shares)
{
  r->has_cpu_shares = true;
  r->cpu_shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
}

void
cgroups_resources_set_pids_limit (struct cgroups_resources *r, int64_t limit)
{
  r->has_pids_limit = true;
  r->pids_limit = limit <= 0 ? -1 : limit;
}

void
cgroups_resources_free (struct cgroups_resources *r)
{
  if (r == NULL)
    return;
  free (r->path);
  free (r->cpuset_cpus);
  free (r->cpuset_mems);
  free (r->weight_dev);
  for (int t = 0; t < CG_THROTTLE_N; t++)
    free (r->throttle[t]);
  for (size_t i = 0; i < r->n_hugepages; i++)
    free (r->hugepages[i].page_size);
  free (r->hugepages);
  for (size_t i = 0; i < r->n_rdma; i++)
    free (r->rdma[i].device);
  free (r->rdma);
  for (size_t i = 0; i < r->n_net_prio; i++)
    free (r->net_prio[i].name);
  free (r->net_prio);
  for (size_t i = 0; i < r->n_unified; i++)
    {
      free (r->unified[i].key);
      free (r->unified[i].value);
    }
  free (r->unified);
  free (r->devices);
  free (r);
}

/* ------------------------------------------------------------------ which controllers */

char **
cg_resources_controllers (const struct cgroups_resources *r)
{
  char **v = xzalloc (sizeof (char *));

  if (r == NULL)
    return v;
  if (r->has_cpu_shares || r->has_cpu_quota || r->has_cpu_period || r->has_cpu_burst
      || r->has_cpu_rt_runtime || r->has_cpu_rt_period || r->has_cpu_idle)
    strv_append (&v, "cpu");
  if (r->cpuset_cpus || r->cpuset_mems)
    strv_append (&v, "cpuset");
  if (r->has_mem_limit || r->has_mem_reservation || r->has_mem_swap || r->has_mem_kernel
      || r->has_mem_kernel_tcp || r->has_mem_swappiness || r->has_mem_disable_oom_killer
      || r->has_mem_use_hierarchy)
    strv_append (&v, "memory");
  if (r->has_pids_limit)
    strv_append (&v, "pids");
  if (r->has_blkio_weight || r->has_blkio_leaf_weight || r->n_weight_dev
      || r->n_throttle[0] + r->n_throttle[1] + r->n_throttle[2] + r->n_throttle[3])
    strv_append (&v, "io");
  if (r->n_hugepages)
    strv_append (&v, "hugetlb");
  if (r->n_rdma)
    strv_append (&v, "rdma");
  /* unified keys name their controller before the dot */
  for (size_t i = 0; i < r->n_unified; i++)
    {
      cleanup_free char *c = xstrndup (r->unified[i].key, strcspn (r->unified[i].key, "."));
      if (strcmp (c, "cgroup") != 0 && !strv_contains (v, c))
        strv_append (&v, c);
    }
  return v;
}

/* ------------------------------------------------------------------ conversions */

uint64_t
cgroups_cpu_shares_to_weight (uint64_t shares)
{
  double l, exponent;

  if (shares == 0)
    return 0;
  if (shares <= 2)
    return 1;
  if (shares >= 262144)
    return 10000;
  /* Maps 2 -> 1, 1024 -> 100 (both defaults) and 262144 -> 10000 on a parabola in log
   * space (kubernetes/kubernetes#131216, crun#1767, opencontainers/cgroups#20). Evaluated
   * in the same order as the peers so that ceil() sees the same double (1024 gives exactly
   * 2.0; tests/unit/cgroups checks the anchors). */
  l = log2 ((double)shares);
  exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  return (uint64_t)ceil (pow (10, exponent));
}

uint64_t
cgroups_blkio_weight_to_io_weight (uint64_t weight)
{
  if (weight == 0)
    return 0;
  /* [10, 1000] -> [1, 10000], linear, as crun and runc convert. */
  return 1 + (weight - 10) * 9999 / 990;
}
