/* libFuzzer target: OCI linux.resources from an untrusted config.json, through the parser, the
 * per-host check (against hybrid and unified managers built from fixed texts, no kernel), the
 * v1 device translation and the eBPF rule compiler with its decision model. */
#include "cgroups/internal.h"
#include "ebpf/ebpf.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char hybrid_cgroup[] = "4:memory:/p\n3:cpu,cpuacct:/\n2:pids:/\n1:devices:/\n0::/\n";
static const char hybrid_mi[]
    = "1 0 0:1 / /sys/fs/cgroup/memory rw - cgroup c rw,memory\n"
      "2 0 0:2 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup c rw,cpu,cpuacct\n"
      "3 0 0:3 / /sys/fs/cgroup/pids rw - cgroup c rw,pids\n"
      "4 0 0:4 / /sys/fs/cgroup/devices rw - cgroup c rw,devices\n"
      "5 0 0:5 / /sys/fs/cgroup/unified rw - cgroup2 c rw\n";
static const char unified_cgroup[] = "0::/berthd.service\n";
static const char unified_mi[] = "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 c rw\n";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct cgroups_manager *hybrid, *unified;
  json_object *o = NULL;
  struct cgroups_resources *r = NULL;
  berth_err err = NULL;

  if (hybrid == NULL)
    {
      if (cg_manager_build (hybrid_cgroup, hybrid_mi, NULL, false, &hybrid, &err) < 0
          || cg_manager_build (unified_cgroup, unified_mi, "berth", false, &unified, &err) < 0)
        abort ();
      strv_append (&unified->h[0].ctrl, "cpu");
      strv_append (&unified->h[0].ctrl, "memory");
      strv_append (&unified->h[0].ctrl, "pids");
      strv_append (&unified->h[0].ctrl, "io");
      strv_append (&unified->h[0].ctrl, "hugetlb");
    }
  if (bjson_parse ((const char *)data, size, "fuzz", &o, &err) < 0)
    goto out;
  if (cgroups_resources_parse (o, "linux.resources", &r, &err) < 0)
    goto out;
  {
    char **c = cg_resources_controllers (r);
    strv_free (c);
  }
  (void)cg_resources_check (hybrid, r, &err);
  berth_err_free (&err);
  (void)cg_resources_check (unified, r, &err);
  berth_err_free (&err);
  if (r->n_devices && r->n_devices <= 64)
    {
      char **lines = NULL;
      struct ebpf_device_rule *er = xzalloc (r->n_devices * sizeof *er);
      struct ebpf_dev_entry *e = NULL;
      size_t ne = 0;

      if (cg_devices_v1_lines (r->devices, r->n_devices, "d", &lines, &err) == 0)
        strv_free (lines);
      berth_err_free (&err);
      for (size_t i = 0; i < r->n_devices; i++)
        er[i] = (struct ebpf_device_rule){ r->devices[i].allow, r->devices[i].type,
                                           r->devices[i].major, r->devices[i].minor,
                                           r->devices[i].access };
      if (ebpf_devices_compile (er, r->n_devices, &e, &ne) == 0)
        {
          /* the map decides as the reference does */
          for (size_t i = 0; i < r->n_devices; i++)
            {
              uint32_t ma = r->devices[i].major < 0 ? 7 : (uint32_t)r->devices[i].major;
              uint32_t mi = r->devices[i].minor < 0 ? 9 : (uint32_t)r->devices[i].minor;
              for (unsigned acc = 1; acc <= 7; acc++)
                for (int t = 0; t < 2; t++)
                  if (ebpf_devices_eval (e, ne, "bc"[t], ma, mi, acc)
                      != cg_devices_allowed (r->devices, r->n_devices, "bc"[t], ma, mi, acc))
                    abort ();
            }
          free (e);
        }
      free (er);
    }
out:
  cgroups_resources_free (r);
  if (o)
    json_object_put (o);
  berth_err_free (&err);
  return 0;
}
