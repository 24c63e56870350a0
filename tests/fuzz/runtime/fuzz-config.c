/* libFuzzer target: config.json (and exec's process.json) parsing and validation, mount
 * options, and the seccomp compiler of small profiles, on hostile input. */
#include "runtime/internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  json_object *doc = NULL, *process = NULL;
  struct rt_config *c = NULL;
  struct rt_process *p = NULL;
  berth_err err = NULL;

  if (bjson_parse ((const char *) data, size, "config.json", &doc, &err) < 0)
    {
      berth_err_free (&err);
      return 0;
    }
  if (rt_config_parse (doc, &c, &err) == 0)
    {
      json_object *rules;
      /* libseccomp is slow; small profiles keep the fuzzer fast and still reach every path
         of berth's own code (actions, operators, architectures, the ENOSYS prologue). */
      if (c->seccomp
          && (!json_object_object_get_ex (c->seccomp, "syscalls", &rules)
              || json_object_get_type (rules) != json_type_array
              || json_object_array_length (rules) <= 8))
        {
          struct rt_bpf b = { 0 };
          if (rt_seccomp_compile (c->seccomp, "linux.seccomp", &b, &err) == 0)
            rt_bpf_free (&b);
          berth_err_free (&err);
        }
      rt_config_free (c);
    }
  berth_err_free (&err);
  if (json_object_object_get_ex (doc, "process", &process)
      && rt_process_parse (process, "process", &p, &err) == 0)
    rt_process_free (p);
  berth_err_free (&err);
  json_object_put (doc);
  return 0;
}
