/* Capabilities, rlimits and the process identity: what the host can grant (checked before
 * any process exists, so a request the host cannot honour fails with a clear error) and the
 * switch to the container's user and capability sets in the child (syscalls only). */
#include "runtime/internal.h"

#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int
rt_cap_last (void)
{
  int n = cap_max_bits ();
  return n > 0 ? n - 1 : CAP_LAST_CAP;
}

uint64_t
rt_cap_host_bounding (void)
{
  uint64_t set = 0;
  int last = rt_cap_last ();
  for (int c = 0; c <= last && c < 64; c++)
    if (prctl (PR_CAPBSET_READ, c, 0, 0, 0) == 1)
      set |= UINT64_C (1) << c;
  return set;
}

/* The child side. Order matters:
 *  - the bounding set is reduced while we still have CAP_SETPCAP;
 *  - PR_SET_KEEPCAPS keeps the permitted set across the uid change;
 *  - groups, then gid, then uid (after setresuid we could not change groups any more);
 *  - then the exact effective/permitted/inheritable sets, then ambient (which must be a
 *    subset of permitted and inheritable). */
void
rt_child_apply_user (struct rt_init *init)
{
  const struct rt_process *p = init->process;
  const struct rt_user *u = &p->user;

  if (init->apply_caps)
    {
      uint64_t bounding = p->caps[RT_CAP_BOUNDING];
      for (int c = 0; c <= init->cap_last && c < 64; c++)
        if (!(bounding & (UINT64_C (1) << c)) && cap_drop_bound ((cap_value_t)c) < 0
            && errno != EINVAL)
          rt_child_fail (init, errno, "drop capability %d from the bounding set", c);
    }
  /* Without process.capabilities the sets are left to the kernel's rules for a uid change
     (runc and crun do the same): a non-root user ends with none. */
  if (init->apply_caps && prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    rt_child_fail (init, errno, "prctl PR_SET_KEEPCAPS");
  /* In a user namespace joined with setgroups denied, setgroups fails with EPERM; the
     groups list is then what it is and only an explicit request is an error. */
  if (syscall (SYS_setgroups, u->n_gids, u->gids) < 0 && !(errno == EPERM && u->n_gids == 0))
    rt_child_fail (init, errno, "setgroups (process.user.additionalGids)");
  if (syscall (SYS_setresgid, u->gid, u->gid, u->gid) < 0)
    rt_child_fail (init, errno, "setresgid %u (process.user.gid)", (unsigned)u->gid);
  if (syscall (SYS_setresuid, u->uid, u->uid, u->uid) < 0)
    rt_child_fail (init, errno, "setresuid %u (process.user.uid)", (unsigned)u->uid);
  if (init->apply_caps && prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    rt_child_fail (init, errno, "prctl PR_SET_KEEPCAPS");
  if (init->apply_caps)
    {
      uint64_t ambient = p->caps[RT_CAP_AMBIENT];
      if (cap_set_proc (init->caps) < 0)
        rt_child_fail (init, errno, "set capabilities (process.capabilities)");
      for (int c = 0; c <= init->cap_last && c < 64; c++)
        if ((ambient & (UINT64_C (1) << c)) && cap_set_ambient ((cap_value_t)c, CAP_SET) < 0)
          rt_child_fail (init, errno,
                         "raise ambient capability %d (process.capabilities.ambient: it must be "
                         "permitted and inheritable too)",
                         c);
    }
}
