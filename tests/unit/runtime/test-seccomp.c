/* Unit tests: seccomp profile compilation. The compiled program is run by a small classic
 * BPF interpreter over made-up syscalls, so the tests check what the kernel would decide. */
#include "runtime/internal.h"

#include <criterion/criterion.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>

struct call
{
  uint32_t arch;
  int nr;
  uint64_t args[6];
};

/* Runs prog over one seccomp_data, as the kernel's seccomp does. */
static uint32_t
run_bpf (const struct rt_bpf *b, const struct call *c)
{
  struct seccomp_data d = { .nr = c->nr, .arch = c->arch };
  uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };
  memcpy (d.args, c->args, sizeof d.args);

  for (size_t pc = 0; pc < b->len; pc++)
    {
      const struct sock_filter *f = &b->insns[pc];
      uint32_t k = f->k;
      switch (f->code)
        {
        case BPF_LD | BPF_W | BPF_ABS:
          cr_assert (k + 4 <= sizeof d && k % 4 == 0, "bad load offset %u", k);
          memcpy (&A, (const char *)&d + k, 4);
          break;
        case BPF_LD | BPF_MEM:
          A = M[k];
          break;
        case BPF_LDX | BPF_MEM:
          X = M[k];
          break;
        case BPF_LD | BPF_IMM:
          A = k;
          break;
        case BPF_LDX | BPF_IMM:
          X = k;
          break;
        case BPF_ST:
          M[k] = A;
          break;
        case BPF_STX:
          M[k] = X;
          break;
        case BPF_ALU | BPF_AND | BPF_K:
          A &= k;
          break;
        case BPF_ALU | BPF_OR | BPF_K:
          A |= k;
          break;
        case BPF_ALU | BPF_AND | BPF_X:
          A &= X;
          break;
        case BPF_MISC | BPF_TAX:
          X = A;
          break;
        case BPF_MISC | BPF_TXA:
          A = X;
          break;
        case BPF_JMP | BPF_JA:
          pc += k;
          break;
        case BPF_JMP | BPF_JEQ | BPF_K:
          pc += (A == k) ? f->jt : f->jf;
          break;
        case BPF_JMP | BPF_JGT | BPF_K:
          pc += (A > k) ? f->jt : f->jf;
          break;
        case BPF_JMP | BPF_JGE | BPF_K:
          pc += (A >= k) ? f->jt : f->jf;
          break;
        case BPF_JMP | BPF_JSET | BPF_K:
          pc += (A & k) ? f->jt : f->jf;
          break;
        case BPF_JMP | BPF_JEQ | BPF_X:
          pc += (A == X) ? f->jt : f->jf;
          break;
        case BPF_JMP | BPF_JGT | BPF_X:
          pc += (A > X) ? f->jt : f->jf;
          break;
        case BPF_JMP | BPF_JGE | BPF_X:
          pc += (A >= X) ? f->jt : f->jf;
          break;
        case BPF_RET | BPF_K:
          return k;
        case BPF_RET | BPF_A:
          return A;
        default:
          cr_assert_fail ("instruction 0x%x at %zu not handled by the test interpreter", f->code,
                          pc);
        }
    }
  cr_assert_fail ("program fell off its end");
  return 0;
}

/* libseccomp asks the running kernel which actions it has (seccomp(2), which valgrind does
 * not know); the tests pin the API level so that they compile the same everywhere. */
static void
pin_api (void)
{
  seccomp_api_set (6);
}

static void
compile (json_object *profile, struct rt_bpf *b)
{
  pin_api ();
  cleanup_err berth_err err = NULL;
  cr_assert_eq (rt_seccomp_compile (profile, "linux.seccomp", b, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_gt (b->len, 0);
}

static json_object *
parse (const char *s)
{
  json_object *o = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_eq (bjson_parse (s, strlen (s), "test", &o, &err), 0, "%s", berth_err_msg (&err));
  return o;
}

#define ERRNO(e) (SECCOMP_RET_ERRNO | (e))
#define NR(name) seccomp_syscall_resolve_name_arch (SCMP_ARCH_X86_64, name)

#ifdef __x86_64__
Test (seccomp, default_profile_decides_like_moby)
{
  cleanup_json json_object *p = runtime_default_seccomp (NULL);
  struct rt_bpf b = { 0 };
  compile (p, &b);

  struct call read_call = { AUDIT_ARCH_X86_64, NR ("read") };
  cr_assert_eq (run_bpf (&b, &read_call), SECCOMP_RET_ALLOW);
  struct call mount_call = { AUDIT_ARCH_X86_64, NR ("mount") };
  cr_assert_eq (run_bpf (&b, &mount_call), ERRNO (EPERM));
  struct call kexec = { AUDIT_ARCH_X86_64, NR ("kexec_load") };
  cr_assert_eq (run_bpf (&b, &kexec), ERRNO (EPERM));
  /* clone3: ENOSYS so that libc falls back to clone. */
  struct call clone3 = { AUDIT_ARCH_X86_64, NR ("clone3") };
  cr_assert_eq (run_bpf (&b, &clone3), ERRNO (ENOSYS));
  /* clone without namespace flags is allowed; with CLONE_NEWUSER it is not. */
  struct call clone_thread = { AUDIT_ARCH_X86_64, NR ("clone"), { 0x3d0f00 } };
  cr_assert_eq (run_bpf (&b, &clone_thread), SECCOMP_RET_ALLOW);
  struct call clone_userns = { AUDIT_ARCH_X86_64, NR ("clone"), { 0x10000000 | 17 } };
  cr_assert_eq (run_bpf (&b, &clone_userns), ERRNO (EPERM));
  /* socket(AF_VSOCK) is refused, AF_INET is not. */
  struct call vsock = { AUDIT_ARCH_X86_64, NR ("socket"), { 40 } };
  cr_assert_eq (run_bpf (&b, &vsock), ERRNO (EPERM));
  struct call inet = { AUDIT_ARCH_X86_64, NR ("socket"), { 2 } };
  cr_assert_eq (run_bpf (&b, &inet), SECCOMP_RET_ALLOW);
  /* A syscall number no profile has heard of: ENOSYS, not EPERM. */
  struct call future = { AUDIT_ARCH_X86_64, 1000 };
  cr_assert_eq (run_bpf (&b, &future), ERRNO (ENOSYS));
  /* x32 and i386 are filtered too. */
  struct call x32_read = { AUDIT_ARCH_X86_64, (int)(0x40000000u | 0) };
  cr_assert_eq (run_bpf (&b, &x32_read), SECCOMP_RET_ALLOW);
  struct call x32_future = { AUDIT_ARCH_X86_64, (int)(0x40000000u | 1000) };
  cr_assert_eq (run_bpf (&b, &x32_future), ERRNO (ENOSYS));
  struct call i386_read = { AUDIT_ARCH_I386, 3 };
  cr_assert_eq (run_bpf (&b, &i386_read), SECCOMP_RET_ALLOW);
  struct call i386_mount = { AUDIT_ARCH_I386, 21 };
  cr_assert_eq (run_bpf (&b, &i386_mount), ERRNO (EPERM));
  struct call i386_future = { AUDIT_ARCH_I386, 1000 };
  cr_assert_eq (run_bpf (&b, &i386_future), ERRNO (ENOSYS));
  rt_bpf_free (&b);
}

Test (seccomp, sys_admin_profile_allows_mount_and_clone3)
{
  const char *caps[] = { "CAP_SYS_ADMIN", NULL };
  cleanup_json json_object *p = runtime_default_seccomp (caps);
  struct rt_bpf b = { 0 };
  compile (p, &b);
  struct call mount_call = { AUDIT_ARCH_X86_64, NR ("mount") };
  cr_assert_eq (run_bpf (&b, &mount_call), SECCOMP_RET_ALLOW);
  struct call clone3 = { AUDIT_ARCH_X86_64, NR ("clone3") };
  cr_assert_eq (run_bpf (&b, &clone3), SECCOMP_RET_ALLOW);
  struct call clone_userns = { AUDIT_ARCH_X86_64, NR ("clone"), { 0x10000000 | 17 } };
  cr_assert_eq (run_bpf (&b, &clone_userns), SECCOMP_RET_ALLOW);
  rt_bpf_free (&b);
}

Test (seccomp, allow_by_default_keeps_unknown_calls_allowed)
{
  cleanup_json json_object *p
      = parse ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getcwd\"],"
               "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13}]}");
  struct rt_bpf b = { 0 };
  compile (p, &b);
  struct call getcwd_call = { AUDIT_ARCH_X86_64, NR ("getcwd") };
  cr_assert_eq (run_bpf (&b, &getcwd_call), ERRNO (EACCES));
  struct call future = { AUDIT_ARCH_X86_64, 1000 };
  cr_assert_eq (run_bpf (&b, &future), SECCOMP_RET_ALLOW);
  rt_bpf_free (&b);
}

Test (seccomp, same_argument_twice_means_either)
{
  cleanup_json json_object *p = parse (
      "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"personality\"],"
      "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
      "{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}]}");
  struct rt_bpf b = { 0 };
  compile (p, &b);
  struct call p0 = { AUDIT_ARCH_X86_64, NR ("personality"), { 0 } };
  struct call p8 = { AUDIT_ARCH_X86_64, NR ("personality"), { 8 } };
  struct call p9 = { AUDIT_ARCH_X86_64, NR ("personality"), { 9 } };
  cr_assert_eq (run_bpf (&b, &p0), SECCOMP_RET_ALLOW);
  cr_assert_eq (run_bpf (&b, &p8), SECCOMP_RET_ALLOW);
  cr_assert_eq (run_bpf (&b, &p9), ERRNO (EPERM));
  rt_bpf_free (&b);
}

Test (seccomp, masked_eq_and_kill_process)
{
  cleanup_json json_object *p = parse (
      "{\"defaultAction\":\"SCMP_ACT_KILL_PROCESS\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
      "\"syscalls\":[{\"names\":[\"exit_group\"],\"action\":\"SCMP_ACT_ALLOW\"},"
      "{\"names\":[\"write\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":2,\"value\":"
      "255,\"valueTwo\":1,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}");
  struct rt_bpf b = { 0 };
  compile (p, &b);
  struct call w1 = { AUDIT_ARCH_X86_64, NR ("write"), { 1, 0, 0x101 } };
  struct call w2 = { AUDIT_ARCH_X86_64, NR ("write"), { 1, 0, 2 } };
  cr_assert_eq (run_bpf (&b, &w1), SECCOMP_RET_ALLOW);
  cr_assert_eq (run_bpf (&b, &w2), SECCOMP_RET_KILL_PROCESS);
  rt_bpf_free (&b);
}
#endif

static void
expect_error (const char *profile, const char *needle)
{
  cleanup_json json_object *p = parse (profile);
  cleanup_err berth_err err = NULL;
  struct rt_bpf b = { 0 };
  pin_api ();
  cr_assert_lt (rt_seccomp_compile (p, "linux.seccomp", &b, &err), 0, "accepted %s", profile);
  cr_assert (strstr (berth_err_msg (&err), needle), "`%s` does not contain `%s`",
             berth_err_msg (&err), needle);
}

Test (seccomp, bad_profiles_name_the_field)
{
  expect_error ("{}", "linux.seccomp.defaultAction: required");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", "linux.seccomp.defaultAction: unknown");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", "listener");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/x.sock\"}",
                "linux.seccomp.listenerPath");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"x86_64\"]}",
                "linux.seccomp.architectures[0]");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_NEW\"]}",
                "linux.seccomp.flags[0]");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,"
                "\"op\":\"SCMP_CMP_EQ\"}]}]}",
                "linux.seccomp.syscalls[0].args[0].index");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":1,\"value\":1,"
                "\"op\":\"SCMP_CMP_XX\"}]}]}",
                "linux.seccomp.syscalls[0].args[0].op");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                "\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":1}]}",
                "linux.seccomp.syscalls[0].action");
  expect_error ("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[],"
                "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                "linux.seccomp.syscalls[0].names");
}
