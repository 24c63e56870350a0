/* CVE-2019-5736: a container process that can open /proc/PID/exe of a runtime process (or of
 * its own process before execve, through a "#!/proc/self/exe" interpreter) could write to
 * the runtime's binary on the host. The runtime re-executes itself from a memfd copy sealed
 * against writes, so that /proc/PID/exe of every process it makes is that copy. */
#include "runtime/internal.h"

#include <sys/mman.h>
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

int
runtime_exe_seal (char **argv, berth_err *err)
{
  cleanup_close int exe = -1, memfd = -1;
  struct stat st;
  off_t off = 0;
  int seals;

  exe = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (exe < 0)
    return berth_err_set (err, errno, "open /proc/self/exe");
  seals = fcntl (exe, F_GET_SEALS);
  if (seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS)
    return 0;

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
