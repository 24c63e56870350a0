/* CVE-2019-5736: a container process that can open /proc/PID/exe of a runtime process (or of
 * its own process before execve, through a "#!/proc/self/exe" interpreter) could write to
 * the runtime's binary on the host. The runtime re-executes itself from a read-only view of
 * its binary, so that /proc/PID/exe of every process it makes cannot be opened for writing:
 * first a detached read-only bind mount of the binary (no copy, as runc 1.2 does), else a
 * memfd copy sealed against writes. A binary already on a read-only mount needs neither. */
#include "runtime/internal.h"

#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

/* A detached bind mount of the binary alone, made read-only, and executed through its fd:
 * the mount lives as long as the process uses it and appears in no mount table. */
static int
exec_from_readonly_bind (int exe, char **argv)
{
  struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
  int tree = open_tree (exe, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0)
    return -errno;
  if (mount_setattr (tree, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
    {
      int e = -errno;
      close (tree);
      return e;
    }
  syscall (SYS_execveat, tree, "", argv, environ, AT_EMPTY_PATH);
  {
    int e = -errno;
    close (tree);
    return e;
  }
}

int
runtime_exe_seal (char **argv, berth_err *err)
{
  cleanup_close int exe = -1, memfd = -1;
  struct statvfs sv;
  struct stat st;
  off_t off = 0;
  int seals;

  exe = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (exe < 0)
    return berth_err_set (err, errno, "open /proc/self/exe");
  seals = fcntl (exe, F_GET_SEALS);
  if (seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS)
    return 0;
  /* Already read-only where it is mounted (re-executed, or installed on a read-only root). */
  if (fstatvfs (exe, &sv) == 0 && (sv.f_flag & ST_RDONLY))
    return 0;
  /* Returns only on failure (EPERM without CAP_SYS_ADMIN, ENOSYS before 5.12): copy instead. */
  exec_from_readonly_bind (exe, argv);

  /* MFD_EXEC: with vm.memfd_noexec set, a memfd is not executable unless asked for. */
  memfd = memfd_create ("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (memfd < 0 && errno == EINVAL)
    memfd = memfd_create ("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd < 0)
    return berth_err_set (err, errno, "memfd_create");
  if (fstat (exe, &st) < 0)
    return berth_err_set (err, errno, "stat /proc/self/exe");
  while (off < st.st_size)
    {
      ssize_t n = sendfile (memfd, exe, &off, (size_t)(st.st_size - off));
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_err_set (err, errno, "copy the runtime's binary to a memfd");
        }
      if (n == 0)
        return berth_err_set (err, EIO, "copy the runtime's binary: short read");
    }
  if (fcntl (memfd, F_ADD_SEALS, REQUIRED_SEALS | F_SEAL_EXEC) < 0
      && (errno != EINVAL || fcntl (memfd, F_ADD_SEALS, REQUIRED_SEALS) < 0))
    return berth_err_set (err, errno, "seal the runtime's memfd");
  syscall (SYS_execveat, memfd, "", argv, environ, AT_EMPTY_PATH);
  return berth_err_set (err, errno, "re-execute from the sealed memfd");
}
