/* Placement for berth-endpoint: what a task definition reserves (ECS's task-level cpu and
 * memory strings, or the sum of its containers) and which node gets it. */
#include "endpoint.h"

#include "agent/taskdef/taskdef.h"

/* ECS runtimePlatform.cpuArchitecture -> the node attribute "arch" (uname -m). */
static const struct
{
  const char *ecs, *uname;
} arches[] = { { "X86_64", "x86_64" }, { "ARM64", "aarch64" } };

static int
runtime_platform (json_object *def, char *ret_arch, size_t len, berth_err *err)
{
  json_object *rp;
  const char *s;
  int r;

  ret_arch[0] = '\0';
  r = bjson_get (def, "definition", "runtimePlatform", json_type_object, 0, &rp, err);
  if (r <= 0)
    return r;
  r = bjson_get_string (rp, "definition.runtimePlatform", "operatingSystemFamily", 0, &s, err);
  if (r < 0)
    return r;
  if (r > 0 && strcmp (s, "LINUX") != 0)
    return berth_err_set (err, 0,
                          "definition.runtimePlatform.operatingSystemFamily: \"%s\": berth "
                          "nodes run LINUX",
                          s);
  r = bjson_get_string (rp, "definition.runtimePlatform", "cpuArchitecture", 0, &s, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; i < ARRAY_SIZE (arches); i++)
    if (strcmp (s, arches[i].ecs) == 0)
      {
        snprintf (ret_arch, len, "%s", arches[i].uname);
        return 0;
      }
  return berth_err_set (err, 0,
                        "definition.runtimePlatform.cpuArchitecture: \"%s\" is not X86_64 or "
                        "ARM64",
                        s);
}

int
endpoint_task_reservation (json_object *def, struct endpoint_reservation *ret, berth_err *err)
{
  cleanup_json json_object *copy = NULL;
  struct endpoint_reservation r = { 0 };
  struct taskdef *td = NULL;
  uint32_t cpu;
  uint64_t mem;
  int q;

  if ((q = bjson_expect (def, "definition", json_type_object, err)) < 0
      || (q = runtime_platform (def, r.arch, sizeof (r.arch), err)) < 0)
    return q;
  /* The node's own parser decides what a definition means, so placement reserves exactly
   * what the node's resource ledger will. runtimePlatform is left out of that check: the
   * parser holds it against the architecture berth-endpoint was built for, while here it
   * chooses among nodes of any architecture. */
  copy = json_object_new_object ();
  json_object_object_foreach (def, key, val)
    if (strcmp (key, "runtimePlatform") != 0)
      json_object_object_add (copy, key, json_object_get (val));
  q = taskdef_parse_json (copy, &td, err);
  if (q < 0)
    return berth_err_wrap (err, "definition");
  taskdef_resources (td, &cpu, &mem);
  taskdef_free (td);
  r.cpu = cpu;
  r.memory_mib = mem > INT64_MAX ? INT64_MAX : (int64_t)mem;
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
            if (need->arch[0] && (nodes[i].arch == NULL || strcmp (nodes[i].arch, need->arch) != 0))
              {
                berth_err_set (err, 0, "node `%s` is %s; the task's runtimePlatform needs %s",
                               wanted, nodes[i].arch ? nodes[i].arch : "of unknown architecture",
                               need->arch);
                return -EINVAL;
              }
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
      if (need->arch[0] && (v->arch == NULL || strcmp (v->arch, need->arch) != 0))
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
      if (need->arch[0])
        berth_err_set (err, 0, "no live %s node (%zu registered)", need->arch, n);
      else
        berth_err_set (err, 0, "no live node (%zu registered, none seen recently)", n);
      return -EAGAIN;
    }
  berth_err_set (err, 0,
                 "no node has room: the task needs %" PRId64 " CPU units and %" PRId64
                 " MiB; the most free on a live node is %" PRId64 " CPU units and %" PRId64 " MiB",
                 need->cpu, need->memory_mib, most_cpu, most_mem);
  return -ENOSPC;
}
