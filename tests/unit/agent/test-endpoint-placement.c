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

Test (placement, task_level_amounts)
{
  struct endpoint_reservation r;
  r = reserve ("{\"cpu\":\"256\",\"memory\":\"512\",\"containerDefinitions\":[{\"cpu\":9}]}");
  cr_assert_eq (r.cpu, 256);
  cr_assert_eq (r.memory_mib, 512);
  r = reserve ("{\"cpu\":\"1 vCPU\",\"memory\":\"1GB\",\"containerDefinitions\":[]}");
  cr_assert_eq (r.cpu, 1024);
  cr_assert_eq (r.memory_mib, 1024);
  r = reserve ("{\"cpu\":\".25 vcpu\",\"memory\":\"0.5 GB\",\"containerDefinitions\":[]}");
  cr_assert_eq (r.cpu, 256);
  cr_assert_eq (r.memory_mib, 512);
  r = reserve ("{\"cpu\":2048,\"memory\":300,\"containerDefinitions\":[]}");
  cr_assert_eq (r.cpu, 2048);
  cr_assert_eq (r.memory_mib, 300);
}

Test (placement, container_sums)
{
  struct endpoint_reservation r;
  r = reserve ("{\"containerDefinitions\":[{\"cpu\":100,\"memory\":64},"
               "{\"cpu\":28,\"memory\":256,\"memoryReservation\":32},{}]}");
  cr_assert_eq (r.cpu, 128);
  cr_assert_eq (r.memory_mib, 96, "memoryReservation counts where set");
  r = reserve ("{\"cpu\":\"512\",\"containerDefinitions\":[{\"cpu\":100,\"memory\":64}]}");
  cr_assert_eq (r.cpu, 512);
  cr_assert_eq (r.memory_mib, 64);
}

Test (placement, bad_amounts)
{
  reserve_fails ("{\"cpu\":\"lots\",\"containerDefinitions\":[]}", "definition.cpu: \"lots\"");
  reserve_fails ("{\"cpu\":\"1.5\",\"containerDefinitions\":[]}", "definition.cpu");
  reserve_fails ("{\"cpu\":\"-1\",\"containerDefinitions\":[]}", "definition.cpu");
  reserve_fails ("{\"memory\":\"1TB\",\"containerDefinitions\":[]}", "definition.memory");
  reserve_fails ("{\"memory\":true,\"containerDefinitions\":[]}",
                 "definition.memory: expected a string or an integer");
  reserve_fails ("{\"containerDefinitions\":[{\"cpu\":\"1\"}]}",
                 "definition.containerDefinitions[0].cpu");
  reserve_fails ("{\"containerDefinitions\":[{\"memory\":-5}]}",
                 "definition.containerDefinitions[0].memory");
  reserve_fails ("{\"family\":\"x\"}", "containerDefinitions: required");
}

static const struct endpoint_node_view nodes[] = {
  { "n-a", "alpha", true, 1024, 2000 },
  { "n-b", "beta", true, 2048, 8000 },
  { "n-c", "gamma", false, 8192, 64000 }, /* not alive */
  { "n-d", "delta", true, 512, 8000 },
};

Test (placement, most_free_live_node_that_fits)
{
  struct endpoint_reservation need = { 256, 512 };
  berth_err err = NULL;
  size_t i = 99;

  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 1, "beta: most memory among live nodes, more CPU than delta");
  need.cpu = 1024;
  need.memory_mib = 4000;
  cr_assert_eq (endpoint_place (nodes, 4, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 1);
  need.cpu = 600;
  need.memory_mib = 100;
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
    { "n-2", NULL, true, 1024, 4000 },
    { "n-1", NULL, true, 1024, 4000 },
    { "n-0", NULL, true, 512, 4000 },
  };
  struct endpoint_reservation need = { 0, 0 };
  berth_err err = NULL;
  size_t i;
  cr_assert_eq (endpoint_place (tie, 3, NULL, &need, &i, &err), 0);
  cr_assert_eq (i, 1);
}

Test (placement, named_node)
{
  struct endpoint_reservation need = { 100000, 100000 };
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
  struct endpoint_reservation need = { 1, 1 };
  berth_err err = NULL;
  size_t i;
  cr_assert_eq (endpoint_place (nodes + 2, 1, NULL, &need, &i, &err), -EAGAIN);
  cr_assert (strstr (berth_err_msg (&err), "no live node") != NULL);
  cr_assert_lt (endpoint_place (NULL, 0, NULL, &need, &i, &err), 0);
  berth_err_free (&err);
}
