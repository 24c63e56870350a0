/* Unit tests: a task definition's containers turned into OCI configs. Golden checks on the
 * generated JSON (capabilities, env merge, user resolution against an image's /etc files,
 * resource limits, mounts, namespaces) and every policy refusal with its message. */
#include "agent/taskdef/taskdef.h"
#include "agent/config/config.h"
#include "runtime/runtime.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/stat.h>

static char rootfs[] = "/tmp/berth-taskdef-oci.XXXXXX";
static int rootfd = -1;

static void
write_file (const char *rel, const char *text)
{
  cleanup_free char *p = xasprintf ("%s/%s", rootfs, rel);
  FILE *f = fopen (p, "w");
  cr_assert_not_null (f, "%s", p);
  fputs (text, f);
  fclose (f);
}

static void
setup (void)
{
  cleanup_free char *etc = NULL;
  cr_assert_not_null (mkdtemp (rootfs));
  etc = xasprintf ("%s/etc", rootfs);
  cr_assert_eq (mkdir (etc, 0755), 0);
  write_file ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                            "# comment\n"
                            "www:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
                            "nohome:x:1000:1000::\n"
                            "broken line\n");
  write_file ("etc/group", "root:x:0:\n"
                           "www:x:33:\n"
                           "adm:x:4:www,other\n"
                           "staff:x:50:www\n"
                           "web:x:300:\n");
  rootfd = open (rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq (rootfd, 0);
}

static void
teardown (void)
{
  cleanup_err berth_err err = NULL;
  close (rootfd);
  berth_rm_rf_at (AT_FDCWD, rootfs, &err);
}

TestSuite (oci, .init = setup, .fini = teardown);

static char *
dq (const char *s)
{
  char *r = xstrdup (s);
  for (char *p = r; *p; p++)
    if (*p == '\'')
      *p = '"';
  return r;
}

static struct taskdef *
parse (const char *json)
{
  cleanup_free char *t = dq (json);
  cleanup_err berth_err err = NULL;
  struct taskdef *td = NULL;
  cr_assert_eq (taskdef_parse (t, strlen (t), &td, &err), 0, "%s", berth_err_msg (&err));
  return td;
}

static const char *const volume_paths[] = { "/var/lib/berth/tasks/t1/volumes/data", "/srv/shared",
                                            "/var/lib/berth/tasks/t1/volumes/c" };

static struct taskdef_oci_context
context (const struct taskdef_host_policy *policy)
{
  struct taskdef_oci_context ctx = {
    .task_id = "t1",
    .rootfs = rootfs,
    .rootfs_fd = rootfd,
    .netns_path = "/run/berth/netns/t1",
    .pidns_path = "/proc/100/ns/pid",
    .ipcns_path = "/proc/100/ns/ipc",
    .shm_path = "/run/berth/tasks/t1/shm",
    .hostname = "t1-host",
    .resolv_conf_path = "/run/berth/tasks/t1/resolv.conf",
    .hosts_path = "/run/berth/tasks/t1/hosts",
    .hostname_path = "/run/berth/tasks/t1/hostname",
    .cgroup_parent = "/berth/t1",
    .init_path = "/usr/libexec/berth/berth-init",
    .volume_paths = volume_paths,
    .policy = policy,
  };
  return ctx;
}

static json_object *
spec_ok (const struct taskdef *td, size_t idx, const struct taskdef_image_config *img,
         const struct taskdef_host_policy *policy)
{
  struct taskdef_oci_context ctx = context (policy);
  cleanup_err berth_err err = NULL;
  json_object *spec = NULL;
  cr_assert_eq (taskdef_container_oci_spec (td, idx, img, &ctx, &spec, &err), 0, "%s",
                berth_err_msg (&err));
  return spec;
}

static void
spec_fails (const struct taskdef *td, size_t idx, const struct taskdef_image_config *img,
            const struct taskdef_host_policy *policy, const char *msg)
{
  struct taskdef_oci_context ctx = context (policy);
  cleanup_err berth_err err = NULL;
  json_object *spec = NULL;
  cr_assert_lt (taskdef_container_oci_spec (td, idx, img, &ctx, &spec, &err), 0,
                "converted but should fail: %s", msg);
  cr_assert_null (spec);
  cr_assert_str_eq (berth_err_msg (&err), msg);
}

/* "process.args[0]" style lookups. */
static json_object *
at (json_object *o, const char *path)
{
  cleanup_free char *copy = xstrdup (path);
  char *save = NULL;
  for (char *tok = strtok_r (copy, ".", &save); tok && o; tok = strtok_r (NULL, ".", &save))
    {
      char *br = strchr (tok, '[');
      if (br)
        *br = '\0';
      if (*tok && !json_object_object_get_ex (o, tok, &o))
        return NULL;
      while (br)
        {
          size_t i = strtoul (br + 1, NULL, 10);
          if (!json_object_is_type (o, json_type_array) || i >= json_object_array_length (o))
            return NULL;
          o = json_object_array_get_idx (o, i);
          br = strchr (br + 1, '[');
        }
    }
  return o;
}

static const char *
str (json_object *o, const char *path)
{
  json_object *v = at (o, path);
  cr_assert_not_null (v, "no %s in %s", path, bjson_to_string (o));
  return json_object_get_string (v);
}

static int64_t
num (json_object *o, const char *path)
{
  json_object *v = at (o, path);
  cr_assert_not_null (v, "no %s", path);
  return json_object_get_int64 (v);
}

static bool
has_string (json_object *arr, const char *s)
{
  for (size_t i = 0; arr && i < json_object_array_length (arr); i++)
    if (strcmp (json_object_get_string (json_object_array_get_idx (arr, i)), s) == 0)
      return true;
  return false;
}

static json_object *
mount_at (json_object *spec, const char *dest)
{
  json_object *m = at (spec, "mounts");
  for (size_t i = 0; i < json_object_array_length (m); i++)
    {
      json_object *e = json_object_array_get_idx (m, i);
      if (strcmp (str (e, "destination"), dest) == 0)
        return e;
    }
  return NULL;
}

static json_object *
namespace_of (json_object *spec, const char *type)
{
  json_object *ns = at (spec, "linux.namespaces");
  for (size_t i = 0; i < json_object_array_length (ns); i++)
    {
      json_object *e = json_object_array_get_idx (ns, i);
      if (strcmp (str (e, "type"), type) == 0)
        return e;
    }
  return NULL;
}

static char *img_env[] = { "PATH=/image/bin", "A=image", "B=image", NULL };
static char *img_entry[] = { "/entry", "-x", NULL };
static char *img_cmd[] = { "serve", "--port=80", NULL };
static char *img_labels[] = { "org.opencontainers.image.title=img", "team=image", NULL };
static const struct taskdef_image_config image = {
  .env = img_env,
  .entrypoint = img_entry,
  .cmd = img_cmd,
  .working_dir = "/app",
  .user = "www",
  .stop_signal = "SIGQUIT",
  .labels = img_labels,
};

Test (oci, defaults_from_image)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','containerDefinitions':[{'name':'app','image':'i','memory':64,"
               "'environment':[{'name':'B','value':'task'},{'name':'C','value':'task'}],"
               "'dockerLabels':{'team':'task'}}]}");
  cleanup_json json_object *s = spec_ok (td, 0, &image, NULL);
  json_object *env = at (s, "process.env");

  /* args: image Entrypoint + Cmd */
  cr_assert_str_eq (str (s, "process.args[0]"), "/entry");
  cr_assert_str_eq (str (s, "process.args[1]"), "-x");
  cr_assert_str_eq (str (s, "process.args[2]"), "serve");
  cr_assert_str_eq (str (s, "process.args[3]"), "--port=80");
  cr_assert_null (at (s, "process.args[4]"));
  /* env: image, then the task's over it; PATH from the image; HOSTNAME, HOME added */
  cr_assert (has_string (env, "PATH=/image/bin"));
  cr_assert (has_string (env, "A=image"));
  cr_assert (has_string (env, "B=task"));
  cr_assert_not (has_string (env, "B=image"));
  cr_assert (has_string (env, "C=task"));
  cr_assert (has_string (env, "HOSTNAME=t1-host"));
  cr_assert (has_string (env, "HOME=/var/www"));
  cr_assert_not (has_string (env, "TERM=xterm"));
  /* user from the image's User, resolved in its /etc/passwd, with supplementary groups */
  cr_assert_eq (num (s, "process.user.uid"), 33);
  cr_assert_eq (num (s, "process.user.gid"), 33);
  cr_assert_eq (num (s, "process.user.additionalGids[0]"), 4);
  cr_assert_eq (num (s, "process.user.additionalGids[1]"), 50);
  cr_assert_null (at (s, "process.user.additionalGids[2]"));
  cr_assert_str_eq (str (s, "process.cwd"), "/app");
  cr_assert_not (json_object_get_boolean (at (s, "process.terminal")));
  cr_assert (json_object_get_boolean (at (s, "process.noNewPrivileges")));
  /* Docker's 14 capabilities, and the seccomp profile made for them */
  {
    const char *const *defaults = runtime_default_capabilities ();
    size_t n = 0;
    for (; defaults[n]; n++)
      {
        cr_assert (has_string (at (s, "process.capabilities.bounding"), defaults[n]));
        cr_assert (has_string (at (s, "process.capabilities.effective"), defaults[n]));
        cr_assert (has_string (at (s, "process.capabilities.permitted"), defaults[n]));
      }
    cr_assert_eq (n, 14);
    cr_assert_eq (json_object_array_length (at (s, "process.capabilities.bounding")), n);
  }
  cr_assert_not_null (at (s, "linux.seccomp.defaultAction"));
  cr_assert_not_null (at (s, "linux.maskedPaths"));
  /* root and hostname */
  cr_assert_str_eq (str (s, "root.path"), rootfs);
  cr_assert_not (json_object_get_boolean (at (s, "root.readonly")));
  cr_assert_str_eq (str (s, "hostname"), "t1-host");
  cr_assert_str_eq (str (s, "linux.cgroupsPath"), "/berth/t1/ctr-app");
  /* awsvpc: the task's netns; private pid and ipc */
  cr_assert_str_eq (str (namespace_of (s, "network"), "path"), "/run/berth/netns/t1");
  cr_assert_null (at (namespace_of (s, "pid"), "path"));
  cr_assert_null (at (namespace_of (s, "ipc"), "path"));
  cr_assert_not_null (namespace_of (s, "uts"));
  cr_assert_not_null (namespace_of (s, "mount"));
  /* /etc files bound read-only */
  {
    json_object *m = mount_at (s, "/etc/resolv.conf");
    cr_assert_not_null (m);
    cr_assert_str_eq (str (m, "source"), "/run/berth/tasks/t1/resolv.conf");
    cr_assert (has_string (at (m, "options"), "ro"));
    cr_assert (has_string (at (m, "options"), "rbind"));
    cr_assert_not_null (mount_at (s, "/etc/hosts"));
    cr_assert_not_null (mount_at (s, "/etc/hostname"));
  }
  /* resources: cpu 0 -> 2 shares; memory limit in bytes */
  cr_assert_eq (num (s, "linux.resources.cpu.shares"), 2);
  cr_assert_eq (num (s, "linux.resources.memory.limit"), 64ll << 20);
  cr_assert_null (at (s, "linux.resources.memory.swap"));
  cr_assert_null (at (s, "linux.resources.memory.reservation"));
  /* annotations: image labels, task labels over them, berth's own */
  cr_assert_str_eq (str (s, "annotations.team"), "task");
  {
    json_object *a = at (s, "annotations"), *v;
    cr_assert (json_object_object_get_ex (a, "org.opencontainers.image.title", &v));
    cr_assert_str_eq (json_object_get_string (v), "img");
    cr_assert (json_object_object_get_ex (a, "io.berth.task.id", &v));
    cr_assert_str_eq (json_object_get_string (v), "t1");
    cr_assert (json_object_object_get_ex (a, "io.berth.container.name", &v));
    cr_assert_str_eq (json_object_get_string (v), "app");
  }
}

Test (oci, entrypoint_and_command_rules)
{
  cleanup_taskdef struct taskdef *td = parse (
      "{'family':'f','containerDefinitions':["
      "{'name':'a','image':'i','memory':8,'entryPoint':['/bin/sh','-c']},"
      "{'name':'b','image':'i','memory':8,'command':['echo','hi']},"
      "{'name':'c','image':'i','memory':8,'entryPoint':['/x'],'command':['y']},"
      "{'name':'d','image':'i','memory':8,'linuxParameters':{'initProcessEnabled':true}}]}");
  {
    /* entryPoint replaces the image's and drops its Cmd (Docker) */
    cleanup_json json_object *s = spec_ok (td, 0, &image, NULL);
    cr_assert_str_eq (str (s, "process.args[0]"), "/bin/sh");
    cr_assert_str_eq (str (s, "process.args[1]"), "-c");
    cr_assert_null (at (s, "process.args[2]"));
  }
  {
    cleanup_json json_object *s = spec_ok (td, 1, &image, NULL);
    cr_assert_str_eq (str (s, "process.args[0]"), "/entry");
    cr_assert_str_eq (str (s, "process.args[2]"), "echo");
    cr_assert_str_eq (str (s, "process.args[3]"), "hi");
    cr_assert_null (at (s, "process.args[4]"));
  }
  {
    cleanup_json json_object *s = spec_ok (td, 2, &image, NULL);
    cr_assert_str_eq (str (s, "process.args[0]"), "/x");
    cr_assert_str_eq (str (s, "process.args[1]"), "y");
    cr_assert_null (at (s, "process.args[2]"));
  }
  {
    /* initProcessEnabled: berth-init is pid 1, bound read-only */
    cleanup_json json_object *s = spec_ok (td, 3, &image, NULL);
    json_object *m = mount_at (s, TASKDEF_INIT_CONTAINER_PATH);
    cr_assert_str_eq (str (s, "process.args[0]"), TASKDEF_INIT_CONTAINER_PATH);
    cr_assert_str_eq (str (s, "process.args[1]"), "--");
    cr_assert_str_eq (str (s, "process.args[2]"), "/entry");
    cr_assert_not_null (m);
    cr_assert_str_eq (str (m, "source"), "/usr/libexec/berth/berth-init");
    cr_assert (has_string (at (m, "options"), "ro"));
  }
  {
    struct taskdef_image_config empty = { 0 };
    cleanup_json json_object *s = spec_ok (td, 1, &empty, NULL);
    cr_assert_str_eq (str (s, "process.args[0]"), "echo");
    spec_fails (td, 3, NULL, NULL,
                "containerDefinitions[3]: nothing to run: set command or "
                "entryPoint (the image has no Entrypoint or Cmd)");
  }
  {
    /* Without an image config: default PATH, root, / */
    cleanup_json json_object *s = spec_ok (td, 2, NULL, NULL);
    cr_assert (has_string (at (s, "process.env"),
                           "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    cr_assert (has_string (at (s, "process.env"), "HOME=/root"));
    cr_assert_eq (num (s, "process.user.uid"), 0);
    cr_assert_str_eq (str (s, "process.cwd"), "/");
  }
}

Test (oci, user_resolution)
{
  static const struct
  {
    const char *user;
    int64_t uid, gid;
    const char *home;
    const char *error;
  } cases[] = {
    { "www", 33, 33, "HOME=/var/www", NULL },
    { "33", 33, 33, "HOME=/var/www", NULL },
    { "33:300", 33, 300, NULL, NULL },
    { "www:web", 33, 300, NULL, NULL },
    { "4242", 4242, 0, "HOME=/", NULL },
    { "4242:7", 4242, 7, NULL, NULL },
    { "nohome", 1000, 1000, "HOME=/", NULL },
    { "0", 0, 0, "HOME=/root", NULL },
    { "ghost", 0, 0, NULL,
      "containerDefinitions[0].user: no user `ghost` in the image's /etc/passwd" },
    { "www:ghosts", 0, 0, NULL,
      "containerDefinitions[0].user: no group `ghosts` in the image's /etc/group" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *j
          = xasprintf ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
                       "'user':'%s','command':['x']}]}",
                       cases[i].user);
      cleanup_taskdef struct taskdef *td = parse (j);
      if (cases[i].error)
        {
          spec_fails (td, 0, NULL, NULL, cases[i].error);
          continue;
        }
      cleanup_json json_object *s = spec_ok (td, 0, NULL, NULL);
      cr_assert_eq (num (s, "process.user.uid"), cases[i].uid, "%s", cases[i].user);
      cr_assert_eq (num (s, "process.user.gid"), cases[i].gid, "%s", cases[i].user);
      if (cases[i].home)
        cr_assert (has_string (at (s, "process.env"), cases[i].home), "%s", cases[i].user);
    }
  {
    /* The image's User when the task sets none; a bad one names the image. */
    struct taskdef_image_config img = { .cmd = img_cmd, .user = "nobody" };
    cleanup_taskdef struct taskdef *td
        = parse ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8}]}");
    spec_fails (td, 0, &img, NULL, "the image's User: no user `nobody` in the image's /etc/passwd");
  }
}

Test (oci, user_lookup_stays_in_rootfs)
{
  /* The image's /etc/passwd is a symlink that climbs out of the rootfs to a file on the
   * host: it is resolved inside the rootfs, where the target does not exist. */
  cleanup_free char *p = xasprintf ("%s/etc/passwd", rootfs);
  cleanup_free char *host = xasprintf ("%s-hostpasswd", rootfs);
  cleanup_free char *target = xasprintf ("/../../../../../..%s", host);
  cleanup_taskdef struct taskdef *td = parse (
      "{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,'user':'ghost',"
      "'command':['x']},{'name':'b','image':'i','memory':8,'user':'77','command':['x']}]}");
  FILE *f = fopen (host, "w");
  cr_assert_not_null (f);
  fputs ("ghost:x:77:77::/ghost:/bin/sh\n", f);
  fclose (f);
  unlink (p);
  cr_assert_eq (symlink (target, p), 0);
  spec_fails (td, 0, NULL, NULL,
              "containerDefinitions[0].user: no user `ghost` in the image's /etc/passwd");
  {
    cleanup_json json_object *s = spec_ok (td, 1, NULL, NULL);
    cr_assert_eq (num (s, "process.user.gid"), 0);
    cr_assert (has_string (at (s, "process.env"), "HOME=/"));
  }
  unlink (host);
}

Test (oci, capabilities_and_policy)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','containerDefinitions':["
               "{'name':'a','image':'i','memory':8,'command':['x'],"
               " 'linuxParameters':{'capabilities':{'add':['CHOWN','NET_ADMIN'],'drop':['NET_RAW','"
               "KILL']}}},"
               "{'name':'b','image':'i','memory':8,'command':['x'],"
               " 'linuxParameters':{'capabilities':{'drop':['ALL'],'add':['NET_BIND_SERVICE']}}},"
               "{'name':'c','image':'i','memory':8,'command':['x'],"
               " 'linuxParameters':{'capabilities':{'add':['ALL']}}}]}");
  {
    char *allowed[] = { "net_admin", NULL };
    struct taskdef_host_policy p = { .allowed_capabilities = allowed };
    cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
    json_object *b = at (s, "process.capabilities.bounding");
    cr_assert (has_string (b, "CAP_NET_ADMIN"));
    cr_assert (has_string (b, "CAP_CHOWN"));
    cr_assert_not (has_string (b, "CAP_NET_RAW"));
    cr_assert_not (has_string (b, "CAP_KILL"));
    cr_assert_eq (json_object_array_length (b), 13);
    cr_assert (has_string (at (s, "process.capabilities.effective"), "CAP_NET_ADMIN"));
  }
  spec_fails (td, 0, NULL, NULL,
              "containerDefinitions[0].linuxParameters.capabilities.add[1]: refused by this "
              "host's policy: CAP_NET_ADMIN is beyond the default capabilities: add NET_ADMIN to "
              "ALLOWED_CAPABILITIES in berthd.conf to allow it");
  {
    cleanup_json json_object *s = spec_ok (td, 1, NULL, NULL);
    json_object *b = at (s, "process.capabilities.bounding");
    cr_assert_eq (json_object_array_length (b), 1);
    cr_assert (has_string (b, "CAP_NET_BIND_SERVICE"));
  }
  spec_fails (td, 2, NULL, NULL,
              "containerDefinitions[2].linuxParameters.capabilities.add[0]: refused by this "
              "host's policy: ALL is beyond the default capabilities: add ALL to "
              "ALLOWED_CAPABILITIES in berthd.conf to allow it");
  {
    char *allowed[] = { "ALL", NULL };
    struct taskdef_host_policy p = { .allowed_capabilities = allowed };
    cleanup_json json_object *s = spec_ok (td, 2, NULL, &p);
    cr_assert (has_string (at (s, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
    cr_assert (has_string (at (s, "process.capabilities.bounding"), "CAP_BPF"));
  }
}

Test (oci, privileged)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
               "'command':['x'],'privileged':true}]}");
  spec_fails (td, 0, NULL, NULL,
              "containerDefinitions[0].privileged: refused by this host's policy: set "
              "ALLOW_PRIVILEGED=true in berthd.conf to allow privileged containers");
  {
    struct taskdef_host_policy p = { .allow_privileged = true };
    cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
    cr_assert (has_string (at (s, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
    /* exactly the host's bounding set: a capability the host cannot grant would fail the
     * container's start */
    for (int i = 0; i < (int) cap_max_bits (); i++)
      {
        char *lower = cap_to_name ((cap_value_t) i), name[64];
        size_t k;
        for (k = 0; lower[k] && k < sizeof name - 1; k++)
          name[k] = (char) toupper ((unsigned char) lower[k]);
        name[k] = '\0';
        cap_free (lower);
        cr_assert_eq (has_string (at (s, "process.capabilities.bounding"), name),
                      prctl (PR_CAPBSET_READ, (unsigned long) i, 0, 0, 0) == 1, "%s", name);
      }
    cr_assert_null (at (s, "linux.seccomp"));
    cr_assert_null (at (s, "linux.maskedPaths"));
    cr_assert_null (at (s, "linux.readonlyPaths"));
    cr_assert (json_object_get_boolean (at (s, "linux.resources.devices[0].allow")));
    cr_assert_str_eq (str (s, "linux.resources.devices[0].access"), "rwm");
    cr_assert (has_string (at (mount_at (s, "/sys"), "options"), "rw"));
    cr_assert_not (has_string (at (mount_at (s, "/sys"), "options"), "ro"));
  }
}

Test (oci, namespaces_and_policy)
{
  {
    cleanup_taskdef struct taskdef *td
        = parse ("{'family':'f','networkMode':'host','pidMode':'task','ipcMode':'task',"
                 "'containerDefinitions':[{'name':'a','image':'i','memory':8,'command':['x']},"
                 "{'name':'b','image':'i','memory':8,'command':['x'],'disableNetworking':true}]}");
    struct taskdef_host_policy p = { .allow_host_network = true };
    spec_fails (td, 0, NULL, NULL,
                "networkMode: refused by this host's policy: host networking shares the host's "
                "network stack: set ALLOW_HOST_NETWORK=true in berthd.conf to allow it");
    {
      cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
      cr_assert_null (namespace_of (s, "network"));
      cr_assert_str_eq (str (namespace_of (s, "pid"), "path"), "/proc/100/ns/pid");
      cr_assert_str_eq (str (namespace_of (s, "ipc"), "path"), "/proc/100/ns/ipc");
      cr_assert_str_eq (str (mount_at (s, "/dev/shm"), "source"), "/run/berth/tasks/t1/shm");
      cr_assert_str_eq (str (mount_at (s, "/dev/shm"), "type"), "bind");
    }
    {
      /* disableNetworking: a new, empty network namespace */
      cleanup_json json_object *s = spec_ok (td, 1, NULL, &p);
      cr_assert_not_null (namespace_of (s, "network"));
      cr_assert_null (at (namespace_of (s, "network"), "path"));
    }
  }
  {
    cleanup_taskdef struct taskdef *td
        = parse ("{'family':'f','pidMode':'host','containerDefinitions':[{'name':'a','image':'i',"
                 "'memory':8,'command':['x']}]}");
    struct taskdef_host_policy p = { .allow_host_namespaces = true };
    spec_fails (td, 0, NULL, NULL,
                "pidMode: refused by this host's policy: host shares the host's processes: set "
                "ALLOW_HOST_NAMESPACES=true in berthd.conf to allow it");
    cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
    cr_assert_null (namespace_of (s, "pid"));
  }
  {
    cleanup_taskdef struct taskdef *td
        = parse ("{'family':'f','ipcMode':'host','containerDefinitions':[{'name':'a','image':'i',"
                 "'memory':8,'command':['x']}]}");
    spec_fails (td, 0, NULL, NULL,
                "ipcMode: refused by this host's policy: host shares the host's IPC namespace: "
                "set ALLOW_HOST_NAMESPACES=true in berthd.conf to allow it");
  }
  {
    cleanup_taskdef struct taskdef *td
        = parse ("{'family':'f','ipcMode':'none','networkMode':'none','containerDefinitions':["
                 "{'name':'a','image':'i','memory':8,'command':['x']}]}");
    cleanup_json json_object *s = spec_ok (td, 0, NULL, NULL);
    cr_assert_null (mount_at (s, "/dev/shm"));
    cr_assert_null (at (namespace_of (s, "ipc"), "path"));
    cr_assert_str_eq (str (namespace_of (s, "network"), "path"), "/run/berth/netns/t1");
  }
}

Test (oci, limits_and_rlimits)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','command':['x'],"
               "'cpu':512,'memory':256,'memoryReservation':128,"
               "'linuxParameters':{'maxSwap':100,'swappiness':10,'sharedMemorySize':32},"
               "'ulimits':[{'name':'nofile','softLimit':2048,'hardLimit':4096},"
               "{'name':'core','softLimit':-1,'hardLimit':-1}],"
               "'systemControls':[{'namespace':'net.core.somaxconn','value':'1024'}],"
               "'readonlyRootFilesystem':true,'pseudoTerminal':true,'workingDirectory':'/w',"
               "'hostname':'own'},"
               "{'name':'b','image':'i','memory':8,'command':['x'],'cpu':196608}]}");
  cleanup_json json_object *s = spec_ok (td, 0, NULL, NULL);
  cr_assert_eq (num (s, "linux.resources.cpu.shares"), 512);
  cr_assert_eq (num (s, "linux.resources.memory.limit"), 256ll << 20);
  cr_assert_eq (num (s, "linux.resources.memory.reservation"), 128ll << 20);
  cr_assert_eq (num (s, "linux.resources.memory.swap"), 356ll << 20);
  cr_assert_eq (num (s, "linux.resources.memory.swappiness"), 10);
  {
    json_object *rl = at (s, "process.rlimits");
    bool nofile = false, core = false;
    for (size_t i = 0; i < json_object_array_length (rl); i++)
      {
        json_object *e = json_object_array_get_idx (rl, i);
        if (strcmp (str (e, "type"), "RLIMIT_NOFILE") == 0)
          {
            cr_assert_not (nofile);
            nofile = true;
            cr_assert_eq (num (e, "soft"), 2048);
            cr_assert_eq (num (e, "hard"), 4096);
          }
        if (strcmp (str (e, "type"), "RLIMIT_CORE") == 0)
          {
            core = true;
            cr_assert_eq (json_object_get_uint64 (at (e, "hard")), UINT64_MAX);
          }
      }
    cr_assert (nofile && core);
  }
  {
    json_object *v;
    cr_assert (json_object_object_get_ex (at (s, "linux.sysctl"), "net.core.somaxconn", &v));
    cr_assert_str_eq (json_object_get_string (v), "1024");
  }
  cr_assert (json_object_get_boolean (at (s, "root.readonly")));
  cr_assert (json_object_get_boolean (at (s, "process.terminal")));
  cr_assert (has_string (at (s, "process.env"), "TERM=xterm"));
  cr_assert_str_eq (str (s, "process.cwd"), "/w");
  cr_assert_str_eq (str (s, "hostname"), "own");
  cr_assert (has_string (at (mount_at (s, "/dev/shm"), "options"), "size=32m"));
  {
    cleanup_json json_object *b = spec_ok (td, 1, NULL, NULL);
    cr_assert_eq (num (b, "linux.resources.cpu.shares"), 196608);
  }
}

Test (oci, volumes_tmpfs_and_policy)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','volumes':[{'name':'data'},{'name':'shared','host':{'sourcePath':"
               "'/srv/shared'}},{'name':'c'}],'containerDefinitions':["
               "{'name':'a','image':'i','memory':8,'command':['x'],"
               " 'mountPoints':[{'sourceVolume':'data','containerPath':'/data'},"
               "   {'sourceVolume':'shared','containerPath':'/shared','readOnly':true}],"
               " 'linuxParameters':{'tmpfs':[{'containerPath':'/tmp','size':16,"
               "   'mountOptions':['exec','mode=1777']}]}},"
               "{'name':'b','image':'i','memory':8,'command':['x'],"
               " 'mountPoints':[{'sourceVolume':'c','containerPath':'/data'}],"
               " 'volumesFrom':[{'sourceContainer':'a','readOnly':true}]}]}");
  char *allowed[] = { "/srv/", NULL };
  char *wrong[] = { "/srv/shared-other", "/sr", NULL };
  struct taskdef_host_policy p = { .allowed_host_paths = allowed };
  struct taskdef_host_policy q = { .allowed_host_paths = wrong };
  spec_fails (td, 0, NULL, NULL,
              "volumes[1].host.sourcePath: refused by this host's policy: `/srv/shared` is not "
              "below ALLOWED_HOST_PATHS in berthd.conf (add it there to allow this bind mount)");
  spec_fails (td, 0, NULL, &q,
              "volumes[1].host.sourcePath: refused by this host's policy: `/srv/shared` is not "
              "below ALLOWED_HOST_PATHS in berthd.conf (add it there to allow this bind mount)");
  /* b takes a's volumes: the policy applies to it too */
  spec_fails (td, 1, NULL, NULL,
              "volumes[1].host.sourcePath: refused by this host's policy: `/srv/shared` is not "
              "below ALLOWED_HOST_PATHS in berthd.conf (add it there to allow this bind mount)");
  {
    cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
    json_object *m = mount_at (s, "/data"), *t = mount_at (s, "/tmp");
    cr_assert_str_eq (str (m, "source"), volume_paths[0]);
    cr_assert_str_eq (str (m, "type"), "bind");
    cr_assert_not (has_string (at (m, "options"), "ro"));
    cr_assert (has_string (at (mount_at (s, "/shared"), "options"), "ro"));
    cr_assert_str_eq (str (t, "type"), "tmpfs");
    cr_assert_str_eq (str (t, "options[0]"), "nosuid");
    cr_assert_str_eq (str (t, "options[1]"), "nodev");
    cr_assert_str_eq (str (t, "options[2]"), "noexec");
    cr_assert_str_eq (str (t, "options[3]"), "exec");
    cr_assert_str_eq (str (t, "options[4]"), "mode=1777");
    cr_assert_str_eq (str (t, "options[5]"), "size=16m");
  }
  {
    /* b: its own /data wins; a's /shared comes read-only */
    cleanup_json json_object *s = spec_ok (td, 1, NULL, &p);
    cr_assert_str_eq (str (mount_at (s, "/data"), "source"), volume_paths[2]);
    cr_assert_str_eq (str (mount_at (s, "/shared"), "source"), volume_paths[1]);
    cr_assert (has_string (at (mount_at (s, "/shared"), "options"), "ro"));
    cr_assert_null (mount_at (s, "/tmp"));
  }
}

Test (oci, devices)
{
  cleanup_taskdef struct taskdef *td = parse (
      "{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,'command':['x'],"
      "'linuxParameters':{'devices':[{'hostPath':'/dev/null','containerPath':'/dev/mynull',"
      "'permissions':['read']}]}},"
      "{'name':'b','image':'i','memory':8,'command':['x'],"
      "'linuxParameters':{'devices':[{'hostPath':'/etc/hostname'}]}}]}");
  char *allowed[] = { "/dev/null", "/etc/hostname", NULL };
  struct taskdef_host_policy p = { .allowed_devices = allowed };
  spec_fails (td, 0, NULL, NULL,
              "containerDefinitions[0].linuxParameters.devices[0].hostPath: refused by this "
              "host's policy: `/dev/null` is not in ALLOWED_DEVICES in berthd.conf (add it there "
              "to pass the device in)");
  {
    cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
    json_object *rules = at (s, "linux.resources.devices");
    json_object *last = json_object_array_get_idx (rules, json_object_array_length (rules) - 1);
    cr_assert_str_eq (str (s, "linux.devices[0].path"), "/dev/mynull");
    cr_assert_str_eq (str (s, "linux.devices[0].type"), "c");
    cr_assert_eq (num (s, "linux.devices[0].major"), 1);
    cr_assert_eq (num (s, "linux.devices[0].minor"), 3);
    cr_assert (json_object_get_boolean (at (last, "allow")));
    cr_assert_str_eq (str (last, "access"), "r");
    cr_assert_eq (num (last, "major"), 1);
  }
  spec_fails (td, 1, NULL, &p,
              "containerDefinitions[1].linuxParameters.devices[0].hostPath: `/etc/hostname` is "
              "not a device node");
}

Test (oci, ebpf_sidecar)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','containerDefinitions':[{'name':'probe','image':'i','memory':8,"
               "'command':['x']}],'berth':{'containers':{'probe':{'ebpfSidecar':true}}}}");
  struct taskdef_host_policy p = { .allow_ebpf_sidecars = true };
  spec_fails (td, 0, NULL, NULL,
              "berth.containers.probe.ebpfSidecar: refused by this host's policy: set "
              "ALLOW_EBPF_SIDECARS=true in berthd.conf to allow eBPF sidecars");
  cleanup_json json_object *s = spec_ok (td, 0, NULL, &p);
  cr_assert (has_string (at (s, "process.capabilities.bounding"), "CAP_BPF"));
  cr_assert (has_string (at (s, "process.capabilities.bounding"), "CAP_PERFMON"));
  cr_assert_not (has_string (at (s, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
}

Test (oci, context_must_be_complete)
{
  cleanup_taskdef struct taskdef *td
      = parse ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
               "'command':['x']}]}");
  struct taskdef_oci_context ctx = context (NULL);
  cleanup_err berth_err err = NULL;
  json_object *s = NULL;
  ctx.netns_path = NULL;
  cr_assert_lt (taskdef_container_oci_spec (td, 0, NULL, &ctx, &s, &err), 0);
  cr_assert_str_eq (berth_err_msg (&err), "containerDefinitions[0]: the task's network namespace "
                                          "path is missing: Invalid argument");
  cr_assert_lt (taskdef_container_oci_spec (td, 5, NULL, &ctx, &s, &err), 0);
}

Test (oci, stop_signal_and_etc_files)
{
  cleanup_taskdef struct taskdef *td = parse (
      "{'family':'f','berth':{'hostname':'task-h','containers':{'b':{'stopSignal':'INT'}}},"
      "'containerDefinitions':["
      "{'name':'a','image':'i','memory':8,'hostname':'own','dnsServers':['10.0.0.2'],"
      " 'dnsSearchDomains':['corp','lab'],'extraHosts':[{'hostname':'db','ipAddress':'10.1.1.1'}]},"
      "{'name':'b','image':'i','memory':8}],'ipcMode':'task'}");
  struct taskdef_image_config img = { .stop_signal = "SIGUSR1" };
  struct taskdef_etc_files f;
  cleanup_err berth_err err = NULL;
  int sig;
  cr_assert_eq (taskdef_container_stop_signal (td, 0, &img, &sig, &err), 0);
  cr_assert_eq (sig, SIGUSR1);
  cr_assert_eq (taskdef_container_stop_signal (td, 0, NULL, &sig, &err), 0);
  cr_assert_eq (sig, SIGTERM);
  cr_assert_eq (taskdef_container_stop_signal (td, 1, &img, &sig, &err), 0);
  cr_assert_eq (sig, SIGINT);

  taskdef_container_etc_files (td, 0, "task-h", "nameserver 1.1.1.1\nsearch old\noptions ndots:2\n",
                               "127.0.0.1\tlocalhost\n10.0.0.5\ttask-h", &f);
  cr_assert_str_eq (f.hostname, "own");
  cr_assert_str_eq (f.hostname_file, "own\n");
  cr_assert_str_eq (f.resolv_conf, "options ndots:2\nnameserver 10.0.0.2\nsearch corp lab\n");
  cr_assert_str_eq (f.hosts,
                    "127.0.0.1\tlocalhost\n10.0.0.5\ttask-h\n127.0.1.1\town\n10.1.1.1\tdb\n");
  taskdef_etc_files_clear (&f);
  taskdef_container_etc_files (td, 1, "task-h", "nameserver 1.1.1.1\n", "", &f);
  cr_assert_str_eq (f.hostname, "task-h");
  cr_assert_null (f.hostname_file);
  cr_assert_null (f.resolv_conf);
  cr_assert_null (f.hosts);
  taskdef_etc_files_clear (&f);
  cr_assert_eq (taskdef_task_shm_size_mib (td), 64);
}

Test (oci, policy_from_config)
{
  static char *const env[] = { NULL };
  const char *text = "ALLOW_PRIVILEGED=true\nALLOWED_CAPABILITIES=NET_ADMIN\n"
                     "ALLOWED_HOST_PATHS=/srv\nALLOWED_DEVICES=/dev/fuse\n"
                     "ALLOW_EBPF_SIDECARS=yes\nALLOW_HOST_NETWORK=1\nALLOW_HOST_NAMESPACES=on\n";
  cleanup_berth_config struct berth_config *cfg = NULL;
  cleanup_err berth_err err = NULL;
  struct taskdef_host_policy p;
  cr_assert_eq (berth_config_parse (text, strlen (text), "c", env, &cfg, &err), 0);
  taskdef_policy_from_config (cfg, &p);
  cr_assert (p.allow_privileged && p.allow_ebpf_sidecars && p.allow_host_network
             && p.allow_host_namespaces);
  cr_assert_str_eq (p.allowed_capabilities[0], "NET_ADMIN");
  cr_assert_str_eq (p.allowed_host_paths[0], "/srv");
  cr_assert_str_eq (p.allowed_devices[0], "/dev/fuse");
}
