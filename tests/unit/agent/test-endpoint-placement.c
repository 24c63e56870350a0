/* Unit tests of berth-endpoint's placement: what a task definition reserves (ECS amounts)
 * and which node gets it. */
#include "agent/endpoint/endpoint.h"

#include <criterion/criterion.h>

static json_object *
parse (const char *text)
{
  json_object *o = NULL;
  berth_err err = NULL;
  cr_assert_eq (bjson_parse (text, strlen (text), "test", &o, &err), 0, "%s", text);
  return o;
}

static struct endpoint_reservation
reserve (const char *text)
{
  cleanup_json json_object *d = parse (text);
  struct endpoint_reservation r = { -1, -1 };
  berth_err err = NULL;
  cr_assert_eq (endpoint_task_reservation (d, &r, &err), 0, "%s: %s", text, berth_err_msg (&err));
  return r;
}

static void
reserve_fails (const char *text, const char *needle)
{
  cleanup_json json_object *d = parse (text);
  struct endpoint_reservation r;
  berth_err err = NULL;
  cr_assert_lt (endpoint_task_reservation (d, &r, &err), 0, "accepted %s", text);
  cr_assert (strstr (berth_err_msg (&err), needle) != NULL, "\"%s\" lacks \"%s\"",
             berth_err_msg (&err), needle);
  berth_err_free (&err);
}

#define C(extra) "{\"name\":\"c\",\"image\":\"busybox\"" extra "}"

Test (placement, task_level_amounts)
{
  struct endpoint_reservation r;
  r = reserve ("{\"family\":\"f\",\"cpu\":\"256\",\"memory\":\"512\",\"containerDefinitions\":[" C (
      ",\"cpu\":9") "]}");
  cr_assert_eq (r.cpu, 256);
  cr_assert_eq (r.memory_mib, 512);
  cr_assert_str_eq (r.arch, "");
  r = reserve (
      "{\"family\":\"f\",\"cpu\":\"1 vCPU\",\"memory\":\"1 GB\",\"containerDefinitions\":[" C (
          "") "]}");
  cr_assert_eq (r.cpu, 1024);
  cr_assert_eq (r.memory_mib, 1024);
  r = reserve ("{\"family\":\"f\",\"cpu\":\"0.25 vcpu\",\"memory\":\"0.5GB\","
               "\"containerDefinitions\":[" C ("") "]}");
  cr_assert_eq (r.cpu, 256);
  cr_assert_eq (r.memory_mib, 512);
}

Test (placement, container_sums)
{
  struct endpoint_reservation r;
  r = reserve ("{\"family\":\"f\",\"containerDefinitions\":["
               "{\"name\":\"a\",\"image\":\"busybox\",\"cpu\":100,\"memory\":64},"
               "{\"name\":\"b\",\"image\":\"busybox\",\"cpu\":28,\"memory\":256,"
               "\"memoryReservation\":32}]}");
  cr_assert_eq (r.cpu, 128);
  cr_assert_eq (r.memory_mib, 96, "memoryReservation counts where set");
}

Test (placement, runtime_platform)
{
  struct endpoint_reservation r;
  r = reserve (
      "{\"family\":\"f\",\"memory\":\"128\",\"runtimePlatform\":{\"cpuArchitecture\":\"ARM64\","
      "\"operatingSystemFamily\":\"LINUX\"},\"containerDefinitions\":[" C ("") "]}");
  cr_assert_str_eq (r.arch, "aarch64", "any architecture may be placed, whatever the endpoint's");
  r = reserve (
      "{\"family\":\"f\",\"memory\":\"128\",\"runtimePlatform\":{\"cpuArchitecture\":\"X86_64\"},"
      "\"containerDefinitions\":[" C ("") "]}");
  cr_assert_str_eq (r.arch, "x86_64");
  reserve_fails (
      "{\"family\":\"f\",\"memory\":\"128\",\"runtimePlatform\":{\"cpuArchitecture\":\"MIPS\"},"
      "\"containerDefinitions\":[" C ("") "]}",
      "definition.runtimePlatform.cpuArchitecture: \"MIPS\"");
  reserve_fails ("{\"family\":\"f\",\"memory\":\"128\",\"runtimePlatform\":{"
                 "\"operatingSystemFamily\":\"WINDOWS_"
                 "SERVER_2022_CORE\"},\"containerDefinitions\":[" C ("") "]}",
                 "operatingSystemFamily");
}

Test (placement, definitions_validated_by_the_node_parser)
{
  reserve_fails (
      "{\"family\":\"f\",\"memory\":\"128\",\"cpu\":\"lots\",\"containerDefinitions\":[" C (
          "") "]}",
      "definition: cpu");
  reserve_fails (
      "{\"family\":\"f\",\"memory\":\"128\",\"containerDefinitions\":[" C (",\"secrets\":[]") "]}",
      "definition: containerDefinitions[0].secrets");
  reserve_fails (
      "{\"family\":\"f\",\"memory\":\"128\",\"containerDefinitions\":[{\"name\":\"c\"}]}",
      "definition: containerDefinitions[0].image");
  reserve_fails ("[]", "definition: expected an object");
}

static const struct endpoint_node_view nodes[] = {
  { .node_id = "n-a",
    .hostname = "alpha",
    .arch = "x86_64",
    .alive = true,
    .free_cpu = 1024,
    .free_memory_mib = 2000 },
  { .node_id = "n-b",
    .hostname = "beta",
    .arch = "x86_64",
    .alive = true,
    .free_cpu = 2048,
    .free_memory_mib = 8000 },
  { .node_id = "n-c",
    .hostname = "gamma",
    .arch = "x86_64",
    .alive = false,
    .free_cpu = 8192,
    .free_memory_mib = 64000 },
  { .node_id = "n-d",
    .hostname = "delta",
    .arch = "aarch64",
    .alive = true,
    .free_cpu = 512,
    .free_memory_mib = 8000 },
};

Test (placement, most_free_live_node_that_fits)
{
  struct endpoint_reservation need = { .cpu = 256, .memory_mib = 512 };
  berth_err err = NULL;
  size_t i = 99;

  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 1, "beta: most memory among live nodes, more CPU than delta");
  need.cpu = 1024;
  need.memory_mib = 4000;
  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 1);
  need.cpu = 2048;
  need.memory_mib = 8001;
  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), -ENOSPC);
  cr_assert (strstr (berth_err_msg (&err), "no node has room") != NULL);
  cr_assert (strstr (berth_err_msg (&err), "2048 CPU units and 8000 MiB") != NULL, "%s",
             berth_err_msg (&err));
  berth_err_free (&err);
}

Test (placement, ties_break_on_cpu_then_id)
{
  static const struct endpoint_node_view tie[] = {
    { .node_id = "n-2", .alive = true, .free_cpu = 1024, .free_memory_mib = 4000 },
    { .node_id = "n-1", .alive = true, .free_cpu = 1024, .free_memory_mib = 4000 },
    { .node_id = "n-0", .alive = true, .free_cpu = 512, .free_memory_mib = 4000 },
  };
  struct endpoint_reservation need = { 0 };
  berth_err err = NULL;
  size_t i;
  cr_assert_eq (endpoint_place (tie, 3, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 1);
}

Test (placement, named_node)
{
  struct endpoint_reservation need = { .cpu = 100000, .memory_mib = 100000 };
  berth_err err = NULL;
  size_t i;

  cr_assert_eq (endpoint_place (nodes, 4, "gamma", &need, &i, &err), 0,
                "by hostname, even full or silent");
  cr_assert_eq (i, 2);
  cr_assert_eq (endpoint_place (nodes, 4, "n-d", &need, &i, &err), 0);
  cr_assert_eq (i, 3);
  cr_assert_eq (endpoint_place (nodes, 4, "omega", &need, &i, &err), -ENOENT);
  cr_assert (strstr (berth_err_msg (&err), "omega") != NULL);
  berth_err_free (&err);
}

Test (placement, no_live_node)
{
  struct endpoint_reservation need = { .cpu = 1, .memory_mib = 1 };
  berth_err err = NULL;
  size_t i;
  cr_assert_eq (endpoint_place (nodes + 2, 1, NULL, &need, &i, &err), -EAGAIN);
  cr_assert (strstr (berth_err_msg (&err), "no live node") != NULL);
  cr_assert_eq (endpoint_place (NULL, 0, NULL, &need, &i, &err), -EAGAIN);
  berth_err_free (&err);
}

Test (placement, architecture)
{
  struct endpoint_reservation need = { .cpu = 100, .memory_mib = 100, .arch = "aarch64" };
  berth_err err = NULL;
  size_t i;

  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 3, "the only aarch64 node, though beta has more room");
  cr_assert_eq (endpoint_place (nodes, 4, "beta", &need, &i, &err), -EINVAL);
  cr_assert (strstr (berth_err_msg (&err),
                     "node `beta` is x86_64; the task's runtimePlatform needs aarch64")
                 != NULL,
             "%s", berth_err_msg (&err));
  need.cpu = 4096;
  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), -ENOSPC);
  strcpy (need.arch, "riscv64");
  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), -EAGAIN);
  cr_assert (strstr (berth_err_msg (&err), "no live riscv64 node") != NULL);
  berth_err_free (&err);
}
