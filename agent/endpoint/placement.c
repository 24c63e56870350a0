/* Placement for berth-endpoint: what a task definition reserves (ECS's task-level cpu and
 * memory strings, or the sum of its containers) and which node gets it. */
#include "endpoint.h"

#include <strings.h>

/* "0.25", "2", "1.5" -> thousandths; at most 3 fraction digits, no sign, no exponent. */
static bool
parse_decimal_milli (const char *s, size_t n, int64_t *ret)
{
  int64_t whole = 0, frac = 0;
  size_t i = 0, fd = 0;
  bool any = false;

  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = true)
    {
      if (whole > INT64_MAX / 10000)
        return false;
      whole = whole * 10 + (s[i] - '0');
    }
  if (i < n && s[i] == '.')
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fd++, any = true)
      {
        if (fd >= 3)
          return false;
        frac = frac * 10 + (s[i] - '0');
      }
  if (!any || i != n)
    return false;
  for (; fd < 3; fd++)
    frac *= 10;
  *ret = whole * 1000 + frac;
  return true;
}

/* An ECS amount: an integer, or a string "<decimal>[ ]<unit>" where unit_scale gives the
 * multiplier of each accepted unit (NULL unit: the bare number, which must be whole). */
struct unit
{
  const char *name;
  int64_t scale;
};

static int
parse_amount (json_object *v, const char *path, const struct unit *units, const char *what,
              int64_t *ret, berth_err *err)
{
  const char *s, *end;
  size_t numlen;
  int64_t milli;

  if (json_object_is_type (v, json_type_int))
    return bjson_value_int64 (v, path, 0, INT32_MAX, ret, err);
  if (!json_object_is_type (v, json_type_string))
    return berth_err_set (err, 0, "%s: expected a string or an integer, got %s", path,
                          bjson_type_name (json_object_get_type (v)));
  s = json_object_get_string (v);
  for (end = s; (*end >= '0' && *end <= '9') || *end == '.'; end++)
    ;
  numlen = (size_t)(end - s);
  while (*end == ' ')
    end++;
  if (!parse_decimal_milli (s, numlen, &milli))
    goto bad;
  for (const struct unit *u = units; u->name; u++)
    if (strcasecmp (end, u->name) == 0)
      {
        if (u->scale == 1 && milli % 1000 != 0)
          goto bad;
        *ret = milli * u->scale / 1000;
        if (*ret > INT32_MAX)
          goto bad;
        return 0;
      }
bad:
  return berth_err_set (err, 0, "%s: \"%s\" is not %s", path, s, what);
}

static const struct unit cpu_units[] = { { "", 1 }, { "vcpu", 1024 }, { NULL, 0 } };
static const struct unit mem_units[]
    = { { "", 1 }, { "mb", 1 }, { "mib", 1 }, { "gb", 1024 }, { "gib", 1024 }, { NULL, 0 } };

int
endpoint_task_reservation (json_object *def, struct endpoint_reservation *ret, berth_err *err)
{
  struct endpoint_reservation r = { 0 };
  json_object *v, *containers;
  bool task_cpu = false, task_mem = false;
  int q;

  if ((q = bjson_expect (def, "definition", json_type_object, err)) < 0)
    return q;
  if (json_object_object_get_ex (def, "cpu", &v))
    {
      if ((q = parse_amount (v, "definition.cpu", cpu_units, "a CPU amount (\"256\", \"1 vCPU\")",
                             &r.cpu, err))
          < 0)
        return q;
      task_cpu = true;
    }
  if (json_object_object_get_ex (def, "memory", &v))
    {
      if ((q = parse_amount (v, "definition.memory", mem_units,
                             "a memory amount (\"512\", \"1GB\")", &r.memory_mib, err))
          < 0)
        return q;
      task_mem = true;
    }
  q = bjson_get (def, "definition", "containerDefinitions", json_type_array, BJSON_REQUIRED,
                 &containers, err);
  if (q < 0)
    return q;
  for (size_t i = 0; i < json_object_array_length (containers); i++)
    {
      json_object *c = json_object_array_get_idx (containers, i);
      cleanup_free char *path = bjson_path_index ("definition.containerDefinitions", i);
      int64_t cpu = 0, mem = 0, res = 0;

      if ((q = bjson_expect (c, path, json_type_object, err)) < 0
          || (q = bjson_get_int64 (c, path, "cpu", 0, 0, INT32_MAX, &cpu, err)) < 0
          || (q = bjson_get_int64 (c, path, "memory", 0, 0, INT32_MAX, &mem, err)) < 0
          || (q = bjson_get_int64 (c, path, "memoryReservation", 0, 0, INT32_MAX, &res, err)) < 0)
        return q;
      if (!task_cpu)
        r.cpu += cpu;
      if (!task_mem)
        r.memory_mib += res ? res : mem;
    }
  *ret = r;
  return 0;
}

int
endpoint_place (const struct endpoint_node_view *nodes, size_t n, const char *wanted,
                const struct endpoint_reservation *need, size_t *ret_index, berth_err *err)
{
  size_t best = SIZE_MAX, alive = 0;
  int64_t most_cpu = 0, most_mem = 0;

  if (wanted)
    {
      for (size_t i = 0; i < n; i++)
        if (strcmp (nodes[i].node_id, wanted) == 0
            || (nodes[i].hostname && strcmp (nodes[i].hostname, wanted) == 0))
          {
            *ret_index = i;
            return 0;
          }
      berth_err_set (err, 0, "no node has the id or hostname `%s`", wanted);
      return -ENOENT;
    }
  for (size_t i = 0; i < n; i++)
    {
      const struct endpoint_node_view *v = &nodes[i];
      if (!v->alive)
        continue;
      alive++;
      if (v->free_memory_mib > most_mem)
        most_mem = v->free_memory_mib;
      if (v->free_cpu > most_cpu)
        most_cpu = v->free_cpu;
      if (v->free_cpu < need->cpu || v->free_memory_mib < need->memory_mib)
        continue;
      if (best == SIZE_MAX || v->free_memory_mib > nodes[best].free_memory_mib
          || (v->free_memory_mib == nodes[best].free_memory_mib
              && (v->free_cpu > nodes[best].free_cpu
                  || (v->free_cpu == nodes[best].free_cpu
                      && strcmp (v->node_id, nodes[best].node_id) < 0))))
        best = i;
    }
  if (best != SIZE_MAX)
    {
      *ret_index = best;
      return 0;
    }
  if (alive == 0)
    {
      berth_err_set (err, 0, "no live node (%zu registered, none seen recently)", n);
      return -EAGAIN;
    }
  berth_err_set (err, 0,
                 "no node has room: the task needs %" PRId64 " CPU units and %" PRId64
                 " MiB; the most free on a live node is %" PRId64 " CPU units and %" PRId64 " MiB",
                 need->cpu, need->memory_mib, most_cpu, most_mem);
  return -ENOSPC;
}
