/* keyring-probe: prints the serial of the calling process's session keyring (statically
 * linked, so that it runs inside a busybox container too). */
#include <linux/keyctl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int
main (void)
{
  long id = syscall (SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  if (id < 0)
    {
      perror ("keyctl");
      return 1;
    }
  printf ("%ld\n", id);
  return 0;
}
