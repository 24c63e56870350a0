/* Unit tests: the shared secure defaults (capabilities, seccomp profile, paths, spec). */
#include "runtime/runtime.h"

#include <criterion/criterion.h>

static json_object *
get (json_object *o, const char *key)
{
  json_object *v = NULL;
  cr_assert (json_object_object_get_ex (o, key, &v), "missing %s", key);
  return v;
}

static bool
array_has_string (json_object *a, const char *s)
{
  for (size_t i = 0; i < json_object_array_length (a); i++)
    if (strcmp (json_object_get_string (json_object_array_get_idx (a, i)), s) == 0)
      return true;
  return false;
}

/* The rule of the profile that names syscall `name` and passes `filter`, or NULL. */
static json_object *
find_rule (json_object *profile, const char *name, bool with_args)
{
  json_object *syscalls = get (profile, "syscalls");
  for (size_t i = 0; i < json_object_array_length (syscalls); i++)
    {
      json_object *r = json_object_array_get_idx (syscalls, i), *args = NULL;
      bool has_args = json_object_object_get_ex (r, "args", &args);
      if (has_args != with_args)
        continue;
      if (array_has_string (get (r, "names"), name))
        return r;
    }
  return NULL;
}

Test (defaults, docker_capabilities)
{
  const char *const *caps = runtime_default_capabilities ();
  size_t n = 0;
  for (; caps[n]; n++)
    ;
  cr_assert_eq (n, 14);
  cr_assert (strv_contains ((char *const *)caps, "CAP_NET_BIND_SERVICE"));
  cr_assert (strv_contains ((char *const *)caps, "CAP_AUDIT_WRITE"));
  cr_assert_not (strv_contains ((char *const *)caps, "CAP_SYS_ADMIN"));
  cr_assert_not (strv_contains ((char *const *)caps, "CAP_NET_ADMIN"));
}

Test (defaults, seccomp_profile_denies_with_eperm_on_native_arches)
{
  cleanup_json json_object *p = runtime_default_seccomp (NULL);
  cr_assert_str_eq (json_object_get_string (get (p, "defaultAction")), "SCMP_ACT_ERRNO");
  cr_assert_eq (json_object_get_int (get (p, "defaultErrnoRet")), EPERM);
#ifdef __x86_64__
  json_object *arches = get (p, "architectures");
  cr_assert_eq (json_object_array_length (arches), 3);
  cr_assert (array_has_string (arches, "SCMP_ARCH_X86_64"));
  cr_assert (array_has_string (arches, "SCMP_ARCH_X86"));
  cr_assert (array_has_string (arches, "SCMP_ARCH_X32"));
  cr_assert_not_null (find_rule (p, "arch_prctl", false));
  cr_assert_null (find_rule (p, "set_tls", false));
#endif
  cr_assert_not_null (find_rule (p, "read", false));
  /* Not allowed without the capability that makes them safe. */
  cr_assert_null (find_rule (p, "mount", false));
  cr_assert_null (find_rule (p, "unshare", false));
  cr_assert_null (find_rule (p, "kexec_load", false));
  cr_assert_null (find_rule (p, "open_by_handle_at", false));
  cr_assert_null (find_rule (p, "reboot", false));
  /* chroot comes with CAP_SYS_CHROOT, one of the defaults. */
  cr_assert_not_null (find_rule (p, "chroot", false));
}

Test (defaults, clone3_is_enosys_without_sys_admin)
{
  cleanup_json json_object *p = runtime_default_seccomp (NULL);
  json_object *r = find_rule (p, "clone3", false);
  cr_assert_not_null (r);
  cr_assert_str_eq (json_object_get_string (get (r, "action")), "SCMP_ACT_ERRNO");
  cr_assert_eq (json_object_get_int (get (r, "errnoRet")), ENOSYS);
  /* clone without namespace flags only. */
  r = find_rule (p, "clone", true);
  cr_assert_not_null (r);
  json_object *a = json_object_array_get_idx (get (r, "args"), 0);
  cr_assert_str_eq (json_object_get_string (get (a, "op")), "SCMP_CMP_MASKED_EQ");
  cr_assert_eq (json_object_get_uint64 (get (a, "value")), 0x7E020000u);
}

Test (defaults, sys_admin_opens_the_gated_calls)
{
  const char *caps[] = { "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", NULL };
  cleanup_json json_object *p = runtime_default_seccomp (caps);
  json_object *r = find_rule (p, "clone3", false);
  cr_assert_not_null (r);
  cr_assert_str_eq (json_object_get_string (get (r, "action")), "SCMP_ACT_ALLOW");
  cr_assert_null (find_rule (p, "clone", true));
  cr_assert_not_null (find_rule (p, "mount", false));
  cr_assert_not_null (find_rule (p, "kcmp", false));
  cr_assert_null (find_rule (p, "chroot", false));
}

Test (defaults, socket_refuses_vsock)
{
  cleanup_json json_object *p = runtime_default_seccomp (NULL);
  json_object *r = find_rule (p, "socket", true);
  cr_assert_not_null (r);
  json_object *a = json_object_array_get_idx (get (r, "args"), 0);
  cr_assert_eq (json_object_get_int (get (a, "value")), 40);
  cr_assert_str_eq (json_object_get_string (get (a, "op")), "SCMP_CMP_NE");
  cr_assert_null (find_rule (p, "socket", false));
}

Test (defaults, spec_has_the_secure_defaults)
{
  cleanup_json json_object *s = runtime_spec_default ();
  json_object *process = get (s, "process"), *lnx = get (s, "linux");
  json_object *caps = get (process, "capabilities");

  cr_assert_str_eq (json_object_get_string (get (s, "ociVersion")), RUNTIME_SPEC_CONFIG_VERSION);
  cr_assert (json_object_get_boolean (get (process, "noNewPrivileges")));
  cr_assert_eq (json_object_array_length (get (caps, "bounding")), 14);
  cr_assert_eq (json_object_array_length (get (caps, "effective")), 14);
  cr_assert_eq (json_object_array_length (get (caps, "permitted")), 14);
  cr_assert_not (json_object_object_get_ex (caps, "inheritable", NULL));
  cr_assert_not (json_object_object_get_ex (caps, "ambient", NULL));
  cr_assert (array_has_string (get (lnx, "maskedPaths"), "/proc/kcore"));
  cr_assert (array_has_string (get (lnx, "maskedPaths"), "/sys/firmware"));
  cr_assert (array_has_string (get (lnx, "readonlyPaths"), "/proc/sys"));
  cr_assert (array_has_string (get (lnx, "readonlyPaths"), "/proc/sysrq-trigger"));
  cr_assert_str_eq (json_object_get_string (get (get (lnx, "seccomp"), "defaultAction")),
                    "SCMP_ACT_ERRNO");
  cr_assert_eq (json_object_array_length (get (lnx, "namespaces")), 6);
  cr_assert_eq (json_object_array_length (get (s, "mounts")), 7);
}

Test (defaults, spec_is_a_new_object_each_time)
{
  cleanup_json json_object *a = runtime_spec_default ();
  cleanup_json json_object *b = runtime_spec_default ();
  json_object_object_add (a, "hostname", json_object_new_string ("changed"));
  cr_assert_str_eq (json_object_get_string (get (b, "hostname")), "berth");
}

Test (defaults, devices_and_rules)
{
  size_t n, nr;
  const struct runtime_device *d = runtime_default_devices (&n);
  const struct runtime_device_rule *r = runtime_default_device_rules (&nr);
  cr_assert_eq (n, 6);
  cr_assert_str_eq (d[0].path, "/dev/null");
  cr_assert_eq (d[0].major, 1);
  cr_assert_eq (d[0].minor, 3);
  /* Every default device is allowed by a rule. */
  for (size_t i = 0; i < n; i++)
    {
      bool ok = false;
      for (size_t j = 0; j < nr; j++)
        ok = ok
             || (r[j].type == d[i].type && r[j].major == d[i].major
                 && (r[j].minor == d[i].minor || r[j].minor == -1) && strchr (r[j].access, 'r')
                 && strchr (r[j].access, 'w'));
      cr_assert (ok, "%s has no allow rule", d[i].path);
    }
}
