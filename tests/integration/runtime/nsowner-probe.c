/* nsowner-probe: for each namespace file given (e.g. /proc/PID/ns/mnt), prints the inode of
 * the user namespace that owns it (ioctl NS_GET_USERNS), one per line. Statically linked, so
 * that it runs inside a busybox container too. */
#include <fcntl.h>
#include <linux/nsfs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      struct stat st;
      int fd = open (argv[i], O_RDONLY | O_CLOEXEC), owner;

      if (fd < 0)
        {
          perror (argv[i]);
          return 1;
        }
      owner = ioctl (fd, NS_GET_USERNS);
      if (owner < 0 || fstat (owner, &st) < 0)
        {
          perror (argv[i]);
          return 1;
        }
      printf ("%lu\n", (unsigned long)st.st_ino);
      close (owner);
      close (fd);
    }
  return 0;
}
