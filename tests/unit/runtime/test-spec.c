/* Unit tests: config.json parsing and validation (every refusal names its JSON path) and
 * mount option parsing. */
#include "runtime/internal.h"

#include <criterion/criterion.h>
#include <sched.h>
#include <sys/mount.h>

static json_object *
parse_json (const char *s)
{
  json_object *o = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_eq (bjson_parse (s, strlen (s), "test", &o, &err), 0, "%s", berth_err_msg (&err));
  return o;
}

/* The default spec with one change applied by a json-c edit. */
typedef void (*edit_fn) (json_object *spec);

static json_object *
linux_of (json_object *spec)
{
  json_object *l;
  cr_assert (json_object_object_get_ex (spec, "linux", &l));
  return l;
}

static json_object *
process_of (json_object *spec)
{
  json_object *p;
  cr_assert (json_object_object_get_ex (spec, "process", &p));
  return p;
}

static struct rt_config *
parse_ok (json_object *spec)
{
  struct rt_config *c = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_eq (rt_config_parse (spec, &c, &err), 0, "%s", berth_err_msg (&err));
  return c;
}

static void
parse_fails (json_object *spec, const char *needle)
{
  struct rt_config *c = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_lt (rt_config_parse (spec, &c, &err), 0, "accepted, expected `%s`", needle);
  cr_assert_null (c);
  cr_assert (strstr (berth_err_msg (&err), needle), "`%s` does not contain `%s`",
             berth_err_msg (&err), needle);
}

Test (spec, default_spec_parses)
{
  cleanup_json json_object *s = runtime_spec_default ();
  cleanup_config struct rt_config *c = parse_ok (s);
  cr_assert_str_eq (c->oci_version, RUNTIME_SPEC_CONFIG_VERSION);
  cr_assert_str_eq (c->root_path, "rootfs");
  cr_assert (c->root_readonly);
  cr_assert_str_eq (c->hostname, "berth");
  cr_assert (c->process->no_new_privs);
  cr_assert_eq (c->process->caps[RT_CAP_BOUNDING], 0xa80425fbULL);
  cr_assert_eq (c->process->caps[RT_CAP_INHERITABLE], 0);
  cr_assert_eq (c->process->n_rlimits, 1);
  cr_assert_eq (c->process->rlimits[0].resource, RLIMIT_NOFILE);
  cr_assert (c->ns[RT_NS_PID].present && c->ns[RT_NS_NET].present && c->ns[RT_NS_MOUNT].present
             && c->ns[RT_NS_CGROUP].present && !c->ns[RT_NS_USER].present);
  cr_assert_eq (c->n_mounts, 7);
  cr_assert_eq (c->mounts[6].kind, RT_MOUNT_CGROUP);
  cr_assert_not_null (c->seccomp);
  cr_assert_not_null (c->resources);
  cr_assert_eq (c->rootfs_propagation, 0);
}

Test (spec, unknown_properties_are_ignored)
{
  cleanup_json json_object *s = runtime_spec_default ();
  json_object_object_add (s, "org.example.future", json_object_new_int (1));
  json_object_object_add (process_of (s), "someNewField", json_object_new_string ("x"));
  json_object_object_add (s, "windows", json_object_new_object ());
  cleanup_config struct rt_config *c = parse_ok (s);
}

Test (spec, refusals_name_the_json_path)
{
  json_object *s;
#define CASE(edit, needle)                                                                         \
  do                                                                                               \
    {                                                                                              \
      s = runtime_spec_default ();                                                                 \
      edit;                                                                                        \
      parse_fails (s, needle);                                                                     \
      json_object_put (s);                                                                         \
    }                                                                                              \
  while (0)

  CASE (json_object_object_add (s, "ociVersion", json_object_new_string ("2.0")),
        "ociVersion: `2.0` is not a runtime-spec 1.x version");
  CASE (json_object_object_del (s, "root"), "root: required but missing");
  CASE (json_object_object_add (process_of (s), "cwd", json_object_new_string ("rel")),
        "process.cwd: `rel` is not an absolute path");
  CASE (json_object_object_add (process_of (s), "args", json_object_new_array ()),
        "process.args: must name the program to run");
  CASE (json_object_array_add (json_object_object_get (process_of (s), "env"),
                               json_object_new_string ("NOEQUALS")),
        "process.env[2]: `NOEQUALS` is not NAME=VALUE");
  CASE (json_object_object_add (json_object_object_get (process_of (s), "user"), "uid",
                                json_object_new_int (-1)),
        "process.user.uid: -1 is negative");
  CASE (json_object_object_add (json_object_object_get (process_of (s), "user"), "umask",
                                json_object_new_int (01000)),
        "process.user.umask: 512 is not a file mode mask");
  CASE (json_object_array_add (
            json_object_object_get (json_object_object_get (process_of (s), "capabilities"),
                                    "effective"),
            json_object_new_string ("cap_chown")),
        "process.capabilities.effective[14]: `cap_chown` is not a capability name");
  CASE (json_object_array_add (json_object_object_get (process_of (s), "rlimits"),
                               parse_json ("{\"type\":\"RLIMIT_NOPE\",\"soft\":1,\"hard\":1}")),
        "process.rlimits[1].type: unknown rlimit `RLIMIT_NOPE`");
  CASE (json_object_array_add (json_object_object_get (process_of (s), "rlimits"),
                               parse_json ("{\"type\":\"RLIMIT_CORE\",\"soft\":2,\"hard\":1}")),
        "process.rlimits[1].soft: 2 is above the hard limit 1");
  CASE (json_object_object_add (process_of (s), "oomScoreAdj", json_object_new_int (1001)),
        "process.oomScoreAdj: 1001 is out of range");
  CASE (json_object_object_add (process_of (s), "ioPriority",
                                parse_json ("{\"class\":\"IOPRIO_CLASS_BE\",\"priority\":8}")),
        "process.ioPriority.priority: 8 is out of range");
  CASE (json_object_object_add (process_of (s), "scheduler",
                                parse_json ("{\"policy\":\"SCHED_NOPE\"}")),
        "process.scheduler.policy: unknown or unsupported policy `SCHED_NOPE`");
  CASE (json_object_array_add (json_object_object_get (linux_of (s), "namespaces"),
                               parse_json ("{\"type\":\"ipc\"}")),
        "linux.namespaces[6].type: namespace `ipc` is listed twice");
  CASE (json_object_array_add (json_object_object_get (linux_of (s), "namespaces"),
                               parse_json ("{\"type\":\"user\"}")),
        "linux.uidMappings: a new user namespace needs mappings");
  CASE (json_object_object_add (linux_of (s), "uidMappings",
                                parse_json ("[{\"containerID\":0,\"hostID\":1000,\"size\":0}]")),
        "linux.uidMappings[0].size: must be at least 1");
  CASE (json_object_object_add (linux_of (s), "sysctl", parse_json ("{\"vm.swappiness\":\"1\"}")),
        "linux.sysctl.vm.swappiness: `vm.swappiness` is not a namespaced sysctl");
  CASE (json_object_object_add (linux_of (s), "sysctl",
                                parse_json ("{\"net/../../kernel/x\":\"1\"}")),
        "is not a sysctl name");
  CASE (json_object_object_add (linux_of (s), "rootfsPropagation", json_object_new_string ("x")),
        "linux.rootfsPropagation: unknown propagation `x`");
  CASE (json_object_object_add (linux_of (s), "maskedPaths", parse_json ("[\"/a/../b\"]")),
        "linux.maskedPaths[0]: `/a/../b` is not an absolute path");
  CASE (json_object_object_add (linux_of (s), "devices",
                                parse_json ("[{\"path\":\"/dev/x\",\"type\":\"q\"}]")),
        "linux.devices[0].type: `q` is not one of c, b, u, p");
  CASE (json_object_object_add (linux_of (s), "intelRdt", json_object_new_object ()),
        "linux.intelRdt: Intel RDT is not supported by berth");
  CASE (json_object_object_add (linux_of (s), "personality",
                                parse_json ("{\"domain\":\"LINUX\",\"flags\":[\"X\"]}")),
        "linux.personality.flags: no personality flags are defined");
  CASE (json_object_object_add (linux_of (s), "timeOffsets",
                                parse_json ("{\"monotonic\":{\"secs\":1}}")),
        "linux.timeOffsets: need a new time namespace");
  CASE (json_object_object_add (s, "hooks", parse_json ("{\"prestart\":[{\"path\":\"x\"}]}")),
        "hooks.prestart[0].path: `x` is not an absolute path");
  CASE (json_object_object_add (s, "hooks",
                                parse_json ("{\"poststop\":[{\"path\":\"/x\",\"timeout\":0}]}")),
        "hooks.poststop[0].timeout: 0 is out of range");
  CASE (json_object_array_add (json_object_object_get (s, "mounts"),
                               parse_json ("{\"destination\":\"/a/../../x\",\"type\":\"tmpfs\"}")),
        "mounts[7].destination: `/a/../../x` contains `..`");
  CASE (json_object_array_add (json_object_object_get (s, "mounts"),
                               parse_json ("{\"destination\":\"/x\"}")),
        "mounts[7].type: required for a mount that is not a bind mount");
  CASE (json_object_array_add (json_object_object_get (s, "mounts"),
                               parse_json ("{\"destination\":\"/x\",\"options\":[\"bind\"]}")),
        "mounts[7].source: required for a bind mount");
  CASE (
      json_object_object_add (s, "hostname",
                              json_object_new_string ("0123456789012345678901234567890123456789"
                                                      "0123456789012345678901234567890123456789")),
      "hostname: longer than 64 bytes");
#undef CASE
}

Test (spec, hostname_needs_a_uts_namespace)
{
  cleanup_json json_object *s = runtime_spec_default ();
  json_object_object_add (linux_of (s), "namespaces",
                          parse_json ("[{\"type\":\"mount\"},{\"type\":\"pid\"}]"));
  parse_fails (s, "hostname: setting it needs a uts namespace");
  json_object_object_del (s, "hostname");
  cleanup_config struct rt_config *c = parse_ok (s);
  cr_assert_null (c->hostname);
}

Test (spec, relative_destination_is_under_root_and_namespace_paths_are_kept)
{
  cleanup_json json_object *s = runtime_spec_default ();
  json_object_array_add (json_object_object_get (s, "mounts"),
                         parse_json ("{\"destination\":\"data\",\"type\":\"tmpfs\"}"));
  json_object_object_add (linux_of (s), "namespaces",
                          parse_json ("[{\"type\":\"mount\"},{\"type\":\"uts\"},"
                                      "{\"type\":\"network\",\"path\":\"/run/netns/x\"}]"));
  cleanup_config struct rt_config *c = parse_ok (s);
  cr_assert_str_eq (c->mounts[7].destination, "/data");
  cr_assert_str_eq (c->ns[RT_NS_NET].path, "/run/netns/x");
  cr_assert_null (c->ns[RT_NS_UTS].path);
  cr_assert_not (c->ns[RT_NS_PID].present);
}

Test (spec, process_for_exec)
{
  cleanup_json json_object *p
      = parse_json ("{\"args\":[\"/bin/sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,\"gid\":2,"
                    "\"additionalGids\":[3,4]},\"terminal\":true,\"consoleSize\":{\"height\":24,"
                    "\"width\":80},\"scheduler\":{\"policy\":\"SCHED_BATCH\",\"nice\":5},"
                    "\"ioPriority\":{\"class\":\"IOPRIO_CLASS_IDLE\",\"priority\":7}}");
  struct rt_process *pr = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_eq (rt_process_parse (p, "process", &pr, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (pr->user.uid, 1);
  cr_assert_eq (pr->user.n_gids, 2);
  cr_assert_eq (pr->user.gids[1], 4);
  cr_assert (pr->terminal && pr->has_console_size && pr->console_width == 80);
  cr_assert (pr->has_scheduler && pr->sched.nice == 5);
  cr_assert (pr->has_ioprio);
  cr_assert_not (pr->has_caps);
  cr_assert_not_null (pr->env);
  cr_assert_null (pr->env[0]);
  rt_process_free (pr);
}

/* ------------------------------------------------------------------ mount options */

static struct rt_mount
options (const char *type, const char *const *opts)
{
  struct rt_mount m = { .type = (char *)type };
  cleanup_err berth_err err = NULL;
  cr_assert_eq (rt_mount_options_parse (&m, (char *const *)opts, "mounts[0].options", &err), 0,
                "%s", berth_err_msg (&err));
  return m;
}

static void
mount_free (struct rt_mount *m)
{
  for (size_t i = 0; i < m->n_params; i++)
    {
      free (m->params[i].key);
      free (m->params[i].value);
    }
  free (m->params);
  strv_free (m->ignored);
}

Test (mount_options, filesystem_attributes_and_parameters)
{
  const char *opts[] = { "nosuid",   "noexec",      "nodev",       "ro", "strictatime",
                         "mode=755", "size=65536k", "newinstance", NULL };
  struct rt_mount m = options ("tmpfs", opts);
  cr_assert_eq (m.kind, RT_MOUNT_FS);
  cr_assert_eq (m.attr_set, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV
                                | MOUNT_ATTR_RDONLY | MOUNT_ATTR_STRICTATIME);
  cr_assert_eq (m.n_params, 3);
  cr_assert_str_eq (m.params[0].key, "mode");
  cr_assert_str_eq (m.params[0].value, "755");
  cr_assert_str_eq (m.params[2].key, "newinstance");
  cr_assert_null (m.params[2].value);
  mount_free (&m);
}

Test (mount_options, later_options_win)
{
  const char *opts[] = { "ro", "rw", "noatime", "relatime", "nosuid", "suid", NULL };
  struct rt_mount m = options ("tmpfs", opts);
  cr_assert_eq (m.attr_set & MOUNT_ATTR_RDONLY, 0);
  cr_assert (m.attr_clr & MOUNT_ATTR_RDONLY);
  cr_assert_eq (m.attr_set & MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME);
  cr_assert (m.attr_clr & MOUNT_ATTR__ATIME);
  cr_assert (m.attr_clr & MOUNT_ATTR_NOSUID);
  mount_free (&m);
}

Test (mount_options, binds_recursive_attributes_and_propagation)
{
  const char *opts[] = { "rbind", "ro", "rnosuid", "rslave", NULL };
  struct rt_mount m = options (NULL, opts);
  cr_assert_eq (m.kind, RT_MOUNT_BIND);
  cr_assert (m.recursive);
  cr_assert_eq (m.attr_set, MOUNT_ATTR_RDONLY);
  cr_assert_eq (m.rattr_set, MOUNT_ATTR_NOSUID);
  cr_assert_eq (m.propagation, MS_SLAVE);
  cr_assert (m.propagation_recursive);
  mount_free (&m);

  const char *bind_type[] = { "private", NULL };
  m = options ("bind", bind_type);
  cr_assert_eq (m.kind, RT_MOUNT_BIND);
  cr_assert_not (m.recursive);
  cr_assert_eq (m.propagation, MS_PRIVATE);
  cr_assert_not (m.propagation_recursive);
  mount_free (&m);
}

Test (mount_options, filesystem_options_on_a_bind_are_reported)
{
  const char *opts[] = { "bind", "mode=755", "sync", NULL };
  struct rt_mount m = options (NULL, opts);
  cr_assert_eq (m.n_params, 0);
  cr_assert_eq (strv_len (m.ignored), 2);
  cr_assert_str_eq (m.ignored[0], "mounts[0].options[1]: `mode=755` has no effect on a bind mount");
  mount_free (&m);
}

Test (mount_options, refusals)
{
  static const struct
  {
    const char *type;
    const char *opt;
    const char *needle;
  } cases[] = {
    { "tmpfs", "remount", "mounts[0].options[0]: remounting is not an OCI mount operation" },
    { "tmpfs", "idmap", "idmapped mounts are not supported" },
    { NULL, "ridmap", "idmapped mounts are not supported" },
    { "tmpfs", "tmpcopyup", "tmpcopyup is not supported" },
    { "tmpfs", "x-systemd.automount", "is a mount helper option" },
    { "cgroup", "bind", "a cgroup mount cannot be a bind mount" },
    { "cgroup", "memory", "`memory` is not an option of cgroup mounts" },
    { "tmpfs", "", "mounts[0].options[0]: empty option" },
    { "tmpfs", "=x", "has no parameter name" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      const char *opts[] = { cases[i].opt, NULL };
      struct rt_mount m = { .type = (char *)cases[i].type };
      cleanup_err berth_err err = NULL;
      cr_assert_lt (rt_mount_options_parse (&m, (char *const *)opts, "mounts[0].options", &err), 0,
                    "accepted `%s`", cases[i].opt);
      cr_assert (strstr (berth_err_msg (&err), cases[i].needle), "`%s` does not contain `%s`",
                 berth_err_msg (&err), cases[i].needle);
      mount_free (&m);
    }
}

Test (mount_options, cgroup_mount_takes_attributes)
{
  const char *opts[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };
  struct rt_mount m = options ("cgroup", opts);
  cr_assert_eq (m.kind, RT_MOUNT_CGROUP);
  cr_assert (m.attr_set & MOUNT_ATTR_RDONLY);
  mount_free (&m);
}

Test (signals, names_numbers_and_realtime)
{
  int s;
  cr_assert_eq (runtime_signal_parse ("KILL", &s), 0);
  cr_assert_eq (s, SIGKILL);
  cr_assert_eq (runtime_signal_parse ("SIGTERM", &s), 0);
  cr_assert_eq (s, SIGTERM);
  cr_assert_eq (runtime_signal_parse ("sigusr1", &s), 0);
  cr_assert_eq (s, SIGUSR1);
  cr_assert_eq (runtime_signal_parse ("9", &s), 0);
  cr_assert_eq (s, 9);
  cr_assert_eq (runtime_signal_parse ("RTMIN+2", &s), 0);
  cr_assert_eq (s, SIGRTMIN + 2);
  cr_assert_lt (runtime_signal_parse ("0", &s), 0);
  cr_assert_lt (runtime_signal_parse ("NOPE", &s), 0);
  cr_assert_lt (runtime_signal_parse ("999", &s), 0);
}

Test (ids, container_ids)
{
  cr_assert (rt_id_valid ("web-1_x.y+z"));
  cr_assert_not (rt_id_valid (""));
  cr_assert_not (rt_id_valid ("."));
  cr_assert_not (rt_id_valid (".."));
  cr_assert_not (rt_id_valid (".seccomp-cache"));
  cr_assert_not (rt_id_valid ("a/b"));
  cr_assert_not (rt_id_valid ("a b"));
}
