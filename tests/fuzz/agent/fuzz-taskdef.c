/* libFuzzer target: the ECS task definition parser, and for a definition it accepts, the
 * start order, the /etc files and the OCI conversion of every container (with a policy
 * that allows everything, so the conversion runs as far as it can). */
#include "agent/taskdef/taskdef.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int rootfd = -1;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char *all[] = { "ALL", NULL };
  static char *paths[] = { "/", NULL };
  static const struct taskdef_host_policy policy = {
    .allow_privileged = true,
    .allowed_capabilities = all,
    .allow_ebpf_sidecars = true,
    .allow_host_network = true,
    .allow_host_namespaces = true,
    .allowed_host_paths = paths,
  };
  static char *img_cmd[] = { "sh", NULL };
  static const struct taskdef_image_config image = { .cmd = img_cmd, .user = "0" };
  struct taskdef *td = NULL;
  berth_err err = NULL;

  if (rootfd < 0)
    {
      /* An empty rootfs: no /etc/passwd, so only numeric users resolve. */
      char dir[] = "/tmp/berth-fuzz-taskdef.XXXXXX";
      if (mkdtemp (dir) == NULL)
        abort ();
      rootfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      rmdir (dir);
      if (rootfd < 0)
        abort ();
    }
  if (taskdef_parse ((const char *)data, size, &td, &err) == 0)
    {
      size_t *order = xzalloc ((td->n_containers + 1) * sizeof (size_t));
      const char **vols = xzalloc ((td->n_volumes + 1) * sizeof (char *));
      struct taskdef_oci_context ctx = {
        .task_id = "fuzz",
        .rootfs = "/nonexistent/rootfs",
        .rootfs_fd = rootfd,
        .netns_path = "/run/berth/netns/fuzz",
        .pidns_path = "/proc/1/ns/pid",
        .ipcns_path = "/proc/1/ns/ipc",
        .shm_path = "/run/berth/fuzz/shm",
        .hostname = "fuzz",
        .cgroup_parent = "/berth/fuzz",
        .init_path = "/usr/libexec/berth/berth-init",
        .volume_paths = vols,
        .policy = &policy,
      };
      for (size_t i = 0; i < td->n_volumes; i++)
        vols[i] = "/var/lib/berth/fuzz/volume";
      taskdef_start_order (td, order);
      (void)taskdef_task_shm_size_mib (td);
      for (size_t i = 0; i < td->n_containers; i++)
        {
          struct taskdef_etc_files f;
          json_object *spec = NULL;
          int sig;
          taskdef_container_etc_files (td, i, "fuzz", "nameserver 10.0.0.2\nsearch a\n",
                                       "127.0.0.1 localhost\n", &f);
          taskdef_etc_files_clear (&f);
          if (taskdef_container_oci_spec (td, i, &image, &ctx, &spec, &err) == 0)
            json_object_put (spec);
          (void)taskdef_container_stop_signal (td, i, &image, &sig, &err);
        }
      free (order);
      free (vols);
      taskdef_free (td);
    }
  berth_err_free (&err);
  return 0;
}
