/* Unit tests of the cgroups module's logic: parsers of /proc/self/cgroup and mountinfo,
 * layout and root decisions, linux.resources parsing and its errors, the shares/weight
 * conversions, and the device rule semantics (reference, v1 translation, eBPF map). */
#include <criterion/criterion.h>

#include "cgroups/internal.h"
#include "ebpf/ebpf.h"

/* ------------------------------------------------------------------ fixtures: real hosts */

/* This development machine: hybrid, the supervisor's memory cgroup. */
static const char hybrid_cgroup[] = "9:name=systemd:/\n"
                                    "8:pids:/\n"
                                    "7:blkio:/\n"
                                    "6:freezer:/\n"
                                    "5:devices:/\n"
                                    "4:memory:/process_api/bb9e\n"
                                    "3:cpuset:/\n"
                                    "2:cpuacct:/\n"
                                    "1:cpu:/\n"
                                    "0::/\n";
static const char hybrid_mountinfo[]
    = "20 1 253:0 / / rw,relatime - ext4 /dev/vda rw\n"
      "30 20 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
      "33 30 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
      "34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "35 30 0:31 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
      "36 30 0:32 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
      "37 30 0:33 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
      "38 30 0:34 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
      "39 30 0:35 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
      "40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* A systemd host on cgroup v2 with Delegate=yes. */
static const char unified_cgroup[] = "0::/system.slice/berthd.service\n";
static const char unified_mountinfo[]
    = "25 1 0:22 / / rw - ext4 /dev/sda1 rw\n"
      "35 25 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n";

/* Legacy, cpu and cpuacct co-mounted, inside a container whose memory mount shows only its own
 * cgroup (a bind of /docker/abc). */
static const char legacy_cgroup[] = "4:memory:/docker/abc\n"
                                    "3:cpu,cpuacct:/docker/abc\n"
                                    "2:pids:/docker/abc\n";
static const char legacy_mountinfo[]
    = "100 1 0:50 / / rw - overlay overlay rw\n"
      "101 100 0:51 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
      "102 100 0:52 / /sys/fs/cgroup/cpu\\054cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "103 100 0:53 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";

static struct cgroups_manager *
build (const char *proc, const char *mi, const char *root)
{
  struct cgroups_manager *m = NULL;
  berth_err err = NULL;
  int r = cg_manager_build (proc, mi, root, false, &m, &err);
  cr_assert_eq (r, 0, "build: %s", berth_err_msg (&err));
  return m;
}

static const struct cg_hier *
hier (const struct cgroups_manager *m, const char *key)
{
  for (size_t i = 0; i < m->n_h; i++)
    if (strcmp (m->h[i].key, key) == 0)
      return &m->h[i];
  cr_assert_fail ("no hierarchy %s", key);
  return NULL;
}

/* ------------------------------------------------------------------ paths */

Test (paths, normalize)
{
  struct
  {
    const char *in, *out;
  } ok[] = {
    { "/a//b/", "a/b" }, { "a/./b", "a/b" }, { "///x", "x" }, { "cgrouptest", "cgrouptest" }
  };
  const char *bad[] = { "a/../b", "..", "a;b", "/", "", "./" };

  for (size_t i = 0; i < ARRAY_SIZE (ok); i++)
    {
      cleanup_free char *n = NULL;
      berth_err err = NULL;
      cr_assert_eq (cg_path_normalize (ok[i].in, false, &n, &err), 0);
      cr_assert_str_eq (n, ok[i].out);
    }
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      cleanup_free char *n = NULL;
      berth_err err = NULL;
      cr_assert_lt (cg_path_normalize (bad[i], false, &n, &err), 0, "%s accepted", bad[i]);
      berth_err_free (&err);
    }
}

Test (paths, join)
{
  cleanup_free char *a = cg_path_join ("/", "x/y");
  cleanup_free char *b = cg_path_join ("/p/q", "x");
  cleanup_free char *c = cg_path_join ("/p", "");
  cr_assert_str_eq (a, "/x/y");
  cr_assert_str_eq (b, "/p/q/x");
  cr_assert_str_eq (c, "/p");
}

/* ------------------------------------------------------------------ parsers */

Test (proc, cgroup_lines)
{
  struct cg_proc_line *l = NULL;
  size_t n = 0;
  berth_err err = NULL;
  cr_assert_eq (cg_parse_proc_cgroup (hybrid_cgroup, &l, &n, &err), 0);
  cr_assert_eq (n, 10);
  cr_assert_str_eq (l[5].controllers, "memory");
  cr_assert_str_eq (l[5].path, "/process_api/bb9e");
  cr_assert_str_eq (l[9].controllers, "");
  cg_proc_lines_free (l, n);

  cr_assert_eq (cg_parse_proc_cgroup ("0::/gone (deleted)\n", &l, &n, &err), 0);
  cr_assert_str_eq (l[0].path, "/gone");
  cg_proc_lines_free (l, n);

  cr_assert_lt (cg_parse_proc_cgroup ("garbage\n", &l, &n, &err), 0);
  berth_err_free (&err);
  cr_assert_lt (cg_parse_proc_cgroup ("1:cpu:relative\n", &l, &n, &err), 0);
  berth_err_free (&err);
}

Test (proc, mountinfo)
{
  struct cg_mount *mt = NULL;
  size_t n = 0;
  berth_err err = NULL;
  cr_assert_eq (cg_parse_mountinfo (legacy_mountinfo, &mt, &n, &err), 0);
  cr_assert_eq (n, 3);
  cr_assert_str_eq (mt[0].root, "/docker/abc");
  cr_assert_str_eq (mt[1].mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
  cr_assert_str_eq (mt[1].options, "rw,cpu,cpuacct");
  cr_assert_not (mt[2].unified);
  cg_mounts_free (mt, n);
  cr_assert_lt (cg_parse_mountinfo ("1 2 3\n", &mt, &n, &err), 0);
  berth_err_free (&err);
}

/* ------------------------------------------------------------------ layouts and roots */

Test (manager, hybrid_default_root_is_own_cgroup)
{
  struct cgroups_manager *m = build (hybrid_cgroup, hybrid_mountinfo, NULL);
  cr_assert_eq (cgroups_manager_layout (m), CGROUPS_LAYOUT_HYBRID);
  cr_assert_eq (m->n_h, 10);
  cr_assert_str_eq (hier (m, "memory")->root, "/process_api/bb9e");
  cr_assert_str_eq (hier (m, "cpu")->root, "/");
  cr_assert_str_eq (hier (m, "unified")->name, "unified");
  cr_assert_str_eq (hier (m, "name=systemd")->name, "systemd");
  cr_assert (cgroups_manager_has_controller (m, "pids"));
  cr_assert_not (cgroups_manager_has_controller (m, "net_cls"));
  /* a named hierarchy provides no controller */
  cr_assert_not (cgroups_manager_has_controller (m, "name=systemd"));
  cgroups_manager_free (m);
}

Test (manager, relative_and_absolute_roots)
{
  struct cgroups_manager *m = build (hybrid_cgroup, hybrid_mountinfo, "berth");
  cr_assert_str_eq (hier (m, "memory")->root, "/process_api/bb9e/berth");
  cr_assert_str_eq (hier (m, "pids")->root, "/berth");
  cgroups_manager_free (m);
  m = build (hybrid_cgroup, hybrid_mountinfo, "/ops/berth/");
  cr_assert_str_eq (hier (m, "memory")->root, "/ops/berth");
  cgroups_manager_free (m);
}

Test (manager, unified)
{
  struct cgroups_manager *m = build (unified_cgroup, unified_mountinfo, NULL);
  cr_assert_eq (cgroups_manager_layout (m), CGROUPS_LAYOUT_UNIFIED);
  cr_assert_eq (m->n_h, 1);
  cr_assert_eq (m->unified, 0);
  cr_assert_str_eq (m->h[0].root, "/system.slice/berthd.service");
  cr_assert_str_eq (m->h[0].name, "");
  cgroups_manager_free (m);
}

Test (manager, legacy_in_container)
{
  struct cgroups_manager *m = build (legacy_cgroup, legacy_mountinfo, NULL);
  const struct cg_hier *mem, *cpu;
  cleanup_free char *rel = NULL, *dir = NULL;
  cr_assert_eq (cgroups_manager_layout (m), CGROUPS_LAYOUT_LEGACY);
  cr_assert_eq (m->unified, -1);
  mem = hier (m, "memory");
  cpu = hier (m, "cpu,cpuacct");
  cr_assert (cg_hier_has (cpu, "cpuacct"));
  /* the memory mount shows /docker/abc at its mountpoint */
  rel = cg_hier_rel (mem, "/docker/abc/berth/c1");
  cr_assert_str_eq (rel, "berth/c1");
  dir = cg_host_dir (m, (size_t)(mem - m->h), "/docker/abc");
  cr_assert_str_eq (dir, "/sys/fs/cgroup/memory");
  cr_assert_null (cg_hier_rel (mem, "/docker/other"));
  cgroups_manager_free (m);
}

Test (manager, root_outside_the_mount_is_refused)
{
  struct cgroups_manager *m = NULL;
  berth_err err = NULL;
  cr_assert_lt (cg_manager_build (legacy_cgroup, legacy_mountinfo, "/elsewhere", false, &m, &err),
                0);
  cr_assert (strstr (berth_err_msg (&err), "outside"));
  berth_err_free (&err);
}

Test (manager, nothing_mounted)
{
  struct cgroups_manager *m = NULL;
  berth_err err = NULL;
  cr_assert_lt (cg_manager_build ("1:name=systemd:/\n", "", NULL, false, &m, &err), 0);
  berth_err_free (&err);
}

/* ------------------------------------------------------------------ resources */

static struct cgroups_resources *
parse_ok (const char *text)
{
  cleanup_json json_object *o = json_tokener_parse (text);
  struct cgroups_resources *r = NULL;
  berth_err err = NULL;
  cr_assert_not_null (o, "bad JSON %s", text);
  cr_assert_eq (cgroups_resources_parse (o, "linux.resources", &r, &err), 0, "%s: %s", text,
                berth_err_msg (&err));
  return r;
}

static void
parse_fails (const char *text, const char *needle)
{
  cleanup_json json_object *o = json_tokener_parse (text);
  struct cgroups_resources *r = NULL;
  berth_err err = NULL;
  cr_assert_not_null (o, "bad JSON %s", text);
  cr_assert_lt (cgroups_resources_parse (o, "linux.resources", &r, &err), 0, "%s accepted", text);
  cr_assert (strstr (berth_err_msg (&err), needle), "`%s` does not name `%s`", berth_err_msg (&err),
             needle);
  berth_err_free (&err);
}

Test (resources, full_document)
{
  struct cgroups_resources *r = parse_ok (
      "{\"devices\": [{\"allow\": false, \"access\": \"rwm\"}, {\"allow\": true, \"type\": \"c\","
      " \"major\": 1, \"minor\": 3, \"access\": \"rw\"}],"
      " \"memory\": {\"limit\": 1000000, \"reservation\": 500000, \"swap\": 2000000,"
      "   \"swappiness\": 10, \"disableOOMKiller\": false, \"checkBeforeUpdate\": true},"
      " \"cpu\": {\"shares\": 1024, \"quota\": 50000, \"period\": 100000, \"cpus\": \"0-1\","
      "   \"mems\": \"0\", \"idle\": 1, \"burst\": 1000},"
      " \"pids\": {\"limit\": 64},"
      " \"blockIO\": {\"weight\": 500, \"weightDevice\": [{\"major\": 8, \"minor\": 0, \"weight\": "
      "300}],"
      "   \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 1048576}]},"
      " \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}],"
      " \"rdma\": {\"mlx5_1\": {\"hcaHandles\": 3}},"
      " \"network\": {\"classID\": 1048577, \"priorities\": [{\"name\": \"eth0\", \"priority\": "
      "5}]},"
      " \"unified\": {\"memory.high\": \"1G\", \"io.latency\": \"8:0 target=1000\"}}");
  cleanup_strv char **ctrl = cg_resources_controllers (r);

  cr_assert (r->has_mem_limit && r->mem_limit == 1000000);
  cr_assert (r->has_mem_swap && r->mem_swap == 2000000);
  cr_assert (r->mem_check_before_update);
  cr_assert (r->has_cpu_shares && r->cpu_shares == 1024);
  cr_assert_str_eq (r->cpuset_cpus, "0-1");
  cr_assert_eq (r->n_devices, 2);
  cr_assert_eq (r->devices[0].type, 'a');
  cr_assert_eq (r->devices[0].major, -1);
  cr_assert_eq (r->devices[1].access, CG_ACC_R | CG_ACC_W);
  cr_assert_eq (r->n_weight_dev, 1);
  cr_assert_eq (r->n_throttle[CG_THROTTLE_READ_BPS], 1);
  cr_assert_eq (r->throttle[CG_THROTTLE_READ_BPS][0].rate, 1048576);
  cr_assert_str_eq (r->hugepages[0].page_size, "2MB");
  cr_assert_eq (r->n_rdma, 1);
  cr_assert (r->rdma[0].has_handles && !r->rdma[0].has_objects);
  cr_assert_eq (r->n_unified, 2);
  for (const char *c = "cpu"; c; c = NULL)
    cr_assert (strv_contains (ctrl, c));
  cr_assert (strv_contains (ctrl, "cpuset") && strv_contains (ctrl, "memory")
             && strv_contains (ctrl, "pids") && strv_contains (ctrl, "io")
             && strv_contains (ctrl, "hugetlb") && strv_contains (ctrl, "rdma"));
  cgroups_resources_free (r);
}

Test (resources, zero_and_null_mean_unset)
{
  struct cgroups_resources *r = parse_ok (
      "{\"memory\": {\"limit\": 0, \"swap\": null}, \"cpu\": {\"quota\": 0, \"period\": 0,"
      " \"cpus\": \"\"}, \"pids\": {\"limit\": 0}, \"blockIO\": null}");
  cr_assert_not (r->has_mem_limit);
  cr_assert_not (r->has_mem_swap);
  cr_assert_not (r->has_cpu_quota);
  cr_assert_not (r->has_cpu_period);
  cr_assert_null (r->cpuset_cpus);
  /* the runtime spec: pids.limit <= 0 is "no limit", which is a limit being set */
  cr_assert (r->has_pids_limit && r->pids_limit == -1);
  cgroups_resources_free (r);
  r = parse_ok ("{\"cpu\": {\"quota\": -1}}");
  cr_assert (r->has_cpu_quota && r->cpu_quota == -1);
  cgroups_resources_free (r);
}

Test (resources, errors_name_the_field)
{
  parse_fails ("{\"memroy\": {}}", "linux.resources.memroy: unknown field");
  parse_fails ("{\"memory\": {\"limt\": 1}}", "linux.resources.memory.limt");
  parse_fails ("{\"memory\": {\"limit\": \"1G\"}}", "linux.resources.memory.limit");
  parse_fails ("{\"memory\": {\"limit\": 2000, \"swap\": 1000}}", "linux.resources.memory.swap");
  parse_fails ("{\"memory\": {\"swappiness\": 101}}", "linux.resources.memory.swappiness");
  parse_fails ("{\"cpu\": {\"shares\": 1}}", "linux.resources.cpu.shares");
  parse_fails ("{\"cpu\": {\"shares\": 300000}}", "linux.resources.cpu.shares");
  parse_fails ("{\"cpu\": {\"quota\": 999}}", "linux.resources.cpu.quota");
  parse_fails ("{\"cpu\": {\"period\": 2000000}}", "linux.resources.cpu.period");
  parse_fails ("{\"cpu\": {\"cpus\": \"0-1;rm\"}}", "linux.resources.cpu.cpus");
  parse_fails ("{\"cpu\": {\"idle\": 2}}", "linux.resources.cpu.idle");
  parse_fails ("{\"devices\": [{\"allow\": true, \"type\": \"x\"}]}",
               "linux.resources.devices[0].type");
  parse_fails ("{\"devices\": [{\"allow\": true, \"access\": \"rwx\"}]}",
               "linux.resources.devices[0].access");
  parse_fails ("{\"devices\": [{\"type\": \"c\"}]}", "linux.resources.devices[0].allow");
  parse_fails ("{\"blockIO\": {\"weight\": 5}}", "linux.resources.blockIO.weight");
  parse_fails ("{\"blockIO\": {\"weightDevice\": [{\"major\": 8, \"minor\": 0}]}}",
               "linux.resources.blockIO.weightDevice[0]");
  parse_fails ("{\"blockIO\": {\"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 0}]}}",
               "linux.resources.blockIO.throttleWriteIOPSDevice[0].rate");
  parse_fails ("{\"hugepageLimits\": [{\"pageSize\": \"2M\", \"limit\": 1}]}",
               "linux.resources.hugepageLimits[0].pageSize");
  parse_fails ("{\"hugepageLimits\": [{\"pageSize\": \"../2MB\", \"limit\": 1}]}",
               "linux.resources.hugepageLimits[0].pageSize");
  parse_fails ("{\"rdma\": {\"mlx\": {}}}", "linux.resources.rdma.mlx");
  parse_fails ("{\"unified\": {\"../memory.max\": \"1\"}}",
               "linux.resources.unified.../memory.max");
  parse_fails ("{\"unified\": {\"cgroup.procs\": \"1\"}}", "linux.resources.unified.cgroup.procs");
  parse_fails ("{\"unified\": {\"memory.max\": 1}}", "linux.resources.unified.memory.max");
  parse_fails ("{\"unified\": {\"nodot\": \"1\"}}", "linux.resources.unified.nodot");
  parse_fails ("{\"network\": {\"priorities\": [{\"name\": \"a b\", \"priority\": 1}]}}",
               "linux.resources.network.priorities[0].name");
  parse_fails ("[]", "linux.resources");
}

Test (resources, built_in_code)
{
  struct cgroups_resources *r = cgroups_resources_new ();
  cgroups_resources_set_memory_limit (r, 512 << 20);
  cgroups_resources_set_cpu_quota (r, 50000, 100000);
  cgroups_resources_set_cpu_shares (r, 1);
  cgroups_resources_set_pids_limit (r, 0);
  cr_assert_eq (cgroups_resources_allow_device (r, 'c', 1, 3, "rwm"), 0);
  cr_assert_eq (cgroups_resources_deny_device (r, 'b', -1, -1, "m"), 0);
  cr_assert_lt (cgroups_resources_allow_device (r, 'x', 1, 3, "rwm"), 0);
  cr_assert_lt (cgroups_resources_allow_device (r, 'c', 1, 3, "rwq"), 0);
  cr_assert_lt (cgroups_resources_allow_device (r, 'c', -2, 3, "r"), 0);
  cr_assert (r->has_mem_limit && r->mem_limit == 512 << 20);
  cr_assert_eq (r->cpu_shares, 2);
  cr_assert_eq (r->pids_limit, -1);
  cr_assert_eq (r->n_devices, 2);
  cr_assert (r->has_devices);
  cgroups_resources_free (r);
}

/* ------------------------------------------------------------------ checks against a host */

static void
check_fails (struct cgroups_manager *m, const char *text, const char *needle)
{
  struct cgroups_resources *r = parse_ok (text);
  berth_err err = NULL;
  cr_assert_lt (cg_resources_check (m, r, &err), 0, "%s accepted", text);
  cr_assert (strstr (berth_err_msg (&err), needle), "`%s` does not name `%s`", berth_err_msg (&err),
             needle);
  berth_err_free (&err);
  cgroups_resources_free (r);
}

static void
check_ok (struct cgroups_manager *m, const char *text)
{
  struct cgroups_resources *r = parse_ok (text);
  berth_err err = NULL;
  cr_assert_eq (cg_resources_check (m, r, &err), 0, "%s: %s", text, berth_err_msg (&err));
  cgroups_resources_free (r);
}

Test (check, what_v2_cannot_honour)
{
  struct cgroups_manager *m = build (unified_cgroup, unified_mountinfo, NULL);
  /* controllers of a v2 root come from cgroup.controllers; give it the usual set */
  strv_append (&m->h[0].ctrl, "cpu");
  strv_append (&m->h[0].ctrl, "memory");
  strv_append (&m->h[0].ctrl, "pids");
  strv_append (&m->h[0].ctrl, "io");
  check_fails (m, "{\"memory\": {\"kernel\": 1000000}}", "linux.resources.memory.kernel");
  check_fails (m, "{\"memory\": {\"kernelTCP\": 1000000}}", "linux.resources.memory.kernelTCP");
  check_fails (m, "{\"memory\": {\"swappiness\": 0}}", "linux.resources.memory.swappiness");
  check_fails (m, "{\"memory\": {\"disableOOMKiller\": true}}", "memory.disableOOMKiller");
  check_fails (m, "{\"memory\": {\"useHierarchy\": false}}", "memory.useHierarchy");
  check_fails (m, "{\"memory\": {\"swap\": 1000000}}", "linux.resources.memory.swap");
  check_fails (m, "{\"cpu\": {\"realtimeRuntime\": 100}}", "cpu.realtimeRuntime");
  check_fails (m, "{\"cpu\": {\"realtimePeriod\": 100}}", "cpu.realtimePeriod");
  check_fails (m, "{\"blockIO\": {\"leafWeight\": 100}}", "blockIO.leafWeight");
  check_fails (m, "{\"network\": {\"classID\": 1}}", "linux.resources.network");
  check_fails (m, "{\"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 1}]}",
               "hugetlb controller is not available");
  check_fails (m, "{\"cpu\": {\"cpus\": \"0\"}}", "cpuset controller");
  check_ok (m,
            "{\"memory\": {\"disableOOMKiller\": false, \"useHierarchy\": true, \"limit\": 1000,"
            " \"swap\": 3000}, \"cpu\": {\"shares\": 512}, \"unified\": {\"memory.high\": \"1\"}}");
  cgroups_manager_free (m);
}

Test (check, what_hybrid_cannot_honour)
{
  struct cgroups_manager *m = build (hybrid_cgroup, hybrid_mountinfo, NULL);
  check_fails (m, "{\"network\": {\"classID\": 1}}", "net_cls controller is not available");
  check_fails (m, "{\"rdma\": {\"mlx\": {\"hcaHandles\": 1}}}", "rdma controller");
  check_ok (m, "{\"memory\": {\"swappiness\": 0, \"disableOOMKiller\": true, \"swap\": -1},"
               " \"cpu\": {\"realtimeRuntime\": 100}, \"blockIO\": {\"weight\": 100},"
               " \"devices\": [], \"unified\": {\"hugetlb.2MB.max\": \"0\"}}");
  cgroups_manager_free (m);
  m = build (legacy_cgroup, legacy_mountinfo, NULL);
  check_fails (m, "{\"unified\": {\"memory.max\": \"1\"}}", "linux.resources.unified");
  check_fails (m, "{\"devices\": []}", "devices controller");
  check_fails (m, "{\"blockIO\": {\"weight\": 100}}", "io/blkio controller");
  cgroups_manager_free (m);
}

/* ------------------------------------------------------------------ conversions */

Test (convert, shares_to_weight)
{
  uint64_t prev = 0;
  cr_assert_eq (cgroups_cpu_shares_to_weight (0), 0);
  cr_assert_eq (cgroups_cpu_shares_to_weight (2), 1);
  cr_assert_eq (cgroups_cpu_shares_to_weight (1024), 100);
  cr_assert_eq (cgroups_cpu_shares_to_weight (262144), 10000);
  cr_assert_eq (cgroups_cpu_shares_to_weight (1023), 100);
  cr_assert_eq (cgroups_cpu_shares_to_weight (1025), 101);
  for (uint64_t s = 2; s <= 262144; s++)
    {
      uint64_t w = cgroups_cpu_shares_to_weight (s);
      cr_assert (w >= prev && w >= 1 && w <= 10000, "shares %" PRIu64 " -> %" PRIu64, s, w);
      prev = w;
    }
}

Test (convert, blkio_weight)
{
  cr_assert_eq (cgroups_blkio_weight_to_io_weight (0), 0);
  cr_assert_eq (cgroups_blkio_weight_to_io_weight (10), 1);
  cr_assert_eq (cgroups_blkio_weight_to_io_weight (1000), 10000);
  cr_assert_eq (cgroups_blkio_weight_to_io_weight (500), 1 + 490 * 9999 / 990);
}

/* ------------------------------------------------------------------ devices */

#define R(allow, type, ma, mi, acc)                                                                \
  {                                                                                                \
    allow, type, ma, mi, acc                                                                       \
  }
#define RWM (CG_ACC_R | CG_ACC_W | CG_ACC_M)

Test (devices, reference_meaning)
{
  const struct cg_dev_rule rules[] = {
    R (false, 'a', -1, -1, RWM),
    R (true, 'c', 1, -1, CG_ACC_R | CG_ACC_W),
    R (false, 'c', 1, 7, CG_ACC_W),
    R (true, 'b', -1, -1, CG_ACC_M),
  };
  size_t n = ARRAY_SIZE (rules);
  cr_assert (cg_devices_allowed (rules, n, 'c', 1, 3, CG_ACC_R | CG_ACC_W));
  cr_assert_not (cg_devices_allowed (rules, n, 'c', 1, 3, CG_ACC_M));
  cr_assert (cg_devices_allowed (rules, n, 'c', 1, 7, CG_ACC_R));
  cr_assert_not (cg_devices_allowed (rules, n, 'c', 1, 7, CG_ACC_R | CG_ACC_W));
  cr_assert (cg_devices_allowed (rules, n, 'b', 8, 0, CG_ACC_M));
  cr_assert_not (cg_devices_allowed (rules, n, 'b', 8, 0, CG_ACC_R));
  cr_assert_not (cg_devices_allowed (rules, n, 'c', 4, 0, CG_ACC_R));
  cr_assert_not (cg_devices_allowed (NULL, 0, 'c', 1, 3, CG_ACC_R));
}

Test (devices, v1_lines_for_the_usual_list)
{
  const struct cg_dev_rule rules[] = {
    R (false, 'a', -1, -1, RWM),
    R (true, 'c', 1, 3, RWM),
    R (true, 'c', 136, -1, RWM),
    R (true, 'a', 5, 1, CG_ACC_R),
  };
  char **lines = NULL;
  berth_err err = NULL;
  cr_assert_eq (cg_devices_v1_lines (rules, ARRAY_SIZE (rules), "devices", &lines, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_str_eq (lines[0], "deny:a");
  cr_assert_str_eq (lines[1], "allow:c 1:3 rwm");
  cr_assert_str_eq (lines[2], "allow:c 136:* rwm");
  cr_assert_str_eq (lines[3], "allow:b 5:1 r");
  cr_assert_str_eq (lines[4], "allow:c 5:1 r");
  cr_assert_null (lines[5]);
  strv_free (lines);
}

Test (devices, v1_allow_all_then_deny)
{
  const struct cg_dev_rule rules[] = { R (true, 'a', -1, -1, RWM), R (false, 'c', 1, 7, RWM) };
  char **lines = NULL;
  berth_err err = NULL;
  cr_assert_eq (cg_devices_v1_lines (rules, 2, "devices", &lines, &err), 0);
  cr_assert_str_eq (lines[0], "allow:a");
  cr_assert_str_eq (lines[1], "deny:c 1:7 rwm");
  strv_free (lines);
}

Test (devices, v1_refuses_what_it_cannot_express)
{
  /* default deny, a wildcard allow, then a narrower deny: v1's exception list cannot hold it */
  const struct cg_dev_rule rules[] = {
    R (false, 'a', -1, -1, RWM),
    R (true, 'c', -1, -1, RWM),
    R (false, 'c', 1, 7, CG_ACC_W),
  };
  char **lines = NULL;
  berth_err err = NULL;
  cr_assert_lt (cg_devices_v1_lines (rules, 3, "linux.resources.devices", &lines, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "linux.resources.devices[2]"), "%s",
             berth_err_msg (&err));
  berth_err_free (&err);
}

/* Random rule lists: the eBPF map the compiler makes decides exactly as the reference does,
 * on every device the rules can tell apart. */
Test (devices, ebpf_map_matches_reference)
{
  unsigned seed = 12345;
  const int64_t nums[] = { -1, 1, 3, 5, 7 };

  for (int round = 0; round < 3000; round++)
    {
      struct cg_dev_rule rules[8];
      struct ebpf_device_rule er[8];
      struct ebpf_dev_entry *e = NULL;
      size_t n = 1 + (size_t)(rand_r (&seed) % 8), ne = 0;

      for (size_t i = 0; i < n; i++)
        {
          rules[i].allow = rand_r (&seed) % 2;
          rules[i].type = "abc"[rand_r (&seed) % 3];
          rules[i].major = nums[rand_r (&seed) % 5];
          rules[i].minor = nums[rand_r (&seed) % 5];
          rules[i].access = 1 + (unsigned)(rand_r (&seed) % 7);
          er[i] = (struct ebpf_device_rule){ rules[i].allow, rules[i].type, rules[i].major,
                                             rules[i].minor, rules[i].access };
        }
      cr_assert_eq (ebpf_devices_compile (er, n, &e, &ne), 0);
      for (int t = 0; t < 2; t++)
        for (size_t a = 1; a < 5; a++)
          for (size_t b = 1; b < 5; b++)
            for (unsigned acc = 1; acc <= 7; acc++)
              {
                char type = "bc"[t];
                uint32_t ma = (uint32_t)nums[a] + (a == 4 ? 100 : 0);
                uint32_t mi = (uint32_t)nums[b] + (b == 4 ? 100 : 0);
                bool want = cg_devices_allowed (rules, n, type, ma, mi, acc);
                bool got = ebpf_devices_eval (e, ne, type, ma, mi, acc);
                cr_assert_eq (got, want, "round %d: %c %u:%u acc %u", round, type, ma, mi, acc);
              }
      free (e);
    }
}

/* Random rule lists: the v1 translation either produces writes (starting with the mode) or
 * refuses naming a rule; it accepts the common shapes. The kernel itself checks the writes in
 * tests/integration/cgroups (devices). */
Test (devices, v1_accepts_only_faithful_lists)
{
  unsigned seed = 777;
  const int64_t nums[] = { -1, 1, 3 };
  int accepted = 0;

  for (int round = 0; round < 2000; round++)
    {
      struct cg_dev_rule rules[6];
      size_t n = 1 + (size_t)(rand_r (&seed) % 6);
      char **lines = NULL;
      berth_err err = NULL;

      for (size_t i = 0; i < n; i++)
        {
          rules[i].allow = rand_r (&seed) % 2;
          rules[i].type = "abc"[rand_r (&seed) % 3];
          rules[i].major = nums[rand_r (&seed) % 3];
          rules[i].minor = nums[rand_r (&seed) % 3];
          rules[i].access = rand_r (&seed) % 4 == 0 ? RWM : 1 + (unsigned)(rand_r (&seed) % 7);
        }
      if (cg_devices_v1_lines (rules, n, "d", &lines, &err) == 0)
        {
          accepted++;
          cr_assert_not_null (lines[0]);
          strv_free (lines);
        }
      else
        {
          cr_assert (strstr (berth_err_msg (&err), "d["), "%s", berth_err_msg (&err));
          berth_err_free (&err);
        }
    }
  cr_assert_gt (accepted, 100);
}
