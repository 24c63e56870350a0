/* seccomp: compiles an OCI linux.seccomp object into a classic BPF program with libseccomp,
 * prefixed by berth's own check that makes syscalls newer than the profile fail with ENOSYS
 * (as runc does for moby's profiles), and loads a compiled program with seccomp(2). */
#include "runtime/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* A program larger than this cannot be loaded anyway (BPF_MAXINSNS). */
#define MAX_INSNS       4096
#define X32_SYSCALL_BIT 0x40000000u

struct action_name
{
  const char *name;
  uint32_t action; /* SCMP_ACT_* without data */
  bool takes_errno;
};

static const struct action_name actions[] = {
  { "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false },
  { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
  { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
  { "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
  { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO (0), true },
  { "SCMP_ACT_TRACE", SCMP_ACT_TRACE (0), true },
  { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
  { "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};

static const struct
{
  const char *name;
  enum scmp_compare op;
} operators[] = {
  { "SCMP_CMP_NE", SCMP_CMP_NE },
  { "SCMP_CMP_LT", SCMP_CMP_LT },
  { "SCMP_CMP_LE", SCMP_CMP_LE },
  { "SCMP_CMP_EQ", SCMP_CMP_EQ },
  { "SCMP_CMP_GE", SCMP_CMP_GE },
  { "SCMP_CMP_GT", SCMP_CMP_GT },
  { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const struct
{
  const char *name;
  unsigned flag;
} filter_flags[] = {
  { "SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC },
  { "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
  { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
};

/* "SCMP_ACT_ERRNO" + errno: the libseccomp action, or an error naming path. */
static int
parse_action (const char *name, bool has_errno, uint32_t errno_ret, uint32_t default_errno,
              const char *path, const char *errno_key, uint32_t *ret, berth_err *err)
{
  if (strcmp (name, "SCMP_ACT_NOTIFY") == 0)
    return berth_err_set (err, 0,
                          "%s: SCMP_ACT_NOTIFY needs a seccomp listener, which berth does not "
                          "support",
                          path);
  for (size_t i = 0; i < ARRAY_SIZE (actions); i++)
    if (strcmp (actions[i].name, name) == 0)
      {
        if (!actions[i].takes_errno)
          {
            if (has_errno)
              return berth_err_set (err, 0, "%s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take %s",
                                    path, errno_key);
            *ret = actions[i].action;
            return 0;
          }
        if (!has_errno)
          errno_ret = default_errno;
        if (errno_ret > 0xffff)
          return berth_err_set (err, 0, "%s: %s %" PRIu32 " is out of range", path, errno_key,
                                errno_ret);
        *ret = actions[i].action | (errno_ret & 0xffff);
        return 0;
      }
  return berth_err_set (err, 0, "%s: unknown seccomp action `%s`", path, name);
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token. */
static int
parse_arch (const char *name, const char *path, uint32_t *ret, berth_err *err)
{
  char lower[32];
  size_t n;
  uint32_t token;

  if (!str_has_prefix (name, "SCMP_ARCH_") || (n = strlen (name + 10)) == 0 || n >= sizeof lower)
    return berth_err_set (err, 0, "%s: `%s` is not a seccomp architecture", path, name);
  for (size_t i = 0; i <= n; i++)
    lower[i] = (char)tolower ((unsigned char)name[10 + i]);
  token = seccomp_arch_resolve_name (lower);
  if (token == 0)
    return berth_err_set (err, 0, "%s: architecture `%s` is not supported by this libseccomp", path,
                          name);
  *ret = token;
  return 0;
}

static int
add_rule_conditions (scmp_filter_ctx ctx, uint32_t action, int nr, struct scmp_arg_cmp *args,
                     size_t n_args, const char *path, const char *name, berth_err *err)
{
  bool same_index = false;
  int r;

  for (size_t i = 0; i < n_args; i++)
    for (size_t k = i + 1; k < n_args; k++)
      same_index = same_index || args[i].arg == args[k].arg;
  /* libseccomp cannot AND two conditions on one argument; Docker profiles use that to mean
     OR (one rule per condition), which is what runc and crun do too. */
  if (same_index)
    {
      for (size_t i = 0; i < n_args; i++)
        {
          r = seccomp_rule_add_array (ctx, action, nr, 1, &args[i]);
          if (r == -EEXIST)
            continue;
          if (r < 0)
            return berth_err_set (err, -r, "%s: add rule for `%s`", path, name);
        }
      return 0;
    }
  r = seccomp_rule_add_array (ctx, action, nr, (unsigned)n_args, args);
  /* -EEXIST: an identical rule is already there; -EOPNOTSUPP: libseccomp refuses to filter
     on the arguments of a multiplexed pseudo-call (x86's socketcall), like runc we allow the
     whole call there rather than fail the container. */
  if (r == -EEXIST)
    return 0;
  if (r < 0)
    return berth_err_set (err, -r, "%s: add rule for `%s`", path, name);
  return 0;
}

struct arch_max
{
  uint32_t token;
  int max; /* highest syscall number the profile names, -1: none */
};

static int
compile_rules (scmp_filter_ctx ctx, json_object *seccomp, uint32_t default_action,
               struct arch_max *arches, size_t n_arches, berth_err *err)
{
  json_object *syscalls;
  int r = bjson_get (seccomp, "linux.seccomp", "syscalls", json_type_array, 0, &syscalls, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; i < json_object_array_length (syscalls); i++)
    {
      json_object *rule = json_object_array_get_idx (syscalls, i), *args_json;
      cleanup_free char *rp = bjson_path_index ("linux.seccomp.syscalls", i);
      cleanup_strv char **names = NULL;
      struct scmp_arg_cmp args[6];
      size_t n_args = 0;
      const char *action_name;
      uint32_t action, errno_ret = 0;
      int has_errno;

      if ((r = bjson_expect (rule, rp, json_type_object, err)) < 0
          || (r = bjson_get_strv (rule, rp, "names", BJSON_REQUIRED, &names, err)) < 0
          || (r = bjson_get_string (rule, rp, "action", BJSON_REQUIRED, &action_name, err)) < 0)
        return r;
      if (names[0] == NULL)
        return berth_err_set (err, 0, "%s.names: empty", rp);
      has_errno = bjson_get_uint32 (rule, rp, "errnoRet", 0, &errno_ret, err);
      if (has_errno < 0)
        return has_errno;
      {
        cleanup_free char *ap = bjson_path_key (rp, "action");
        r = parse_action (action_name, has_errno > 0, errno_ret, EPERM, ap, "errnoRet", &action,
                          err);
        if (r < 0)
          return r;
      }
      r = bjson_get (rule, rp, "args", json_type_array, 0, &args_json, err);
      if (r < 0)
        return r;
      if (r > 0)
        {
          cleanup_free char *ap = bjson_path_key (rp, "args");
          if (json_object_array_length (args_json) > 6)
            return berth_err_set (err, 0, "%s: more than 6 conditions", ap);
          for (size_t k = 0; k < json_object_array_length (args_json); k++)
            {
              json_object *a = json_object_array_get_idx (args_json, k);
              cleanup_free char *ip = bjson_path_index (ap, k);
              uint64_t index, value, value2 = 0;
              const char *op;
              bool found = false;

              if ((r = bjson_expect (a, ip, json_type_object, err)) < 0
                  || (r = bjson_get_uint64 (a, ip, "index", BJSON_REQUIRED, 5, &index, err)) < 0
                  || (r
                      = bjson_get_uint64 (a, ip, "value", BJSON_REQUIRED, UINT64_MAX, &value, err))
                         < 0
                  || (r = bjson_get_uint64 (a, ip, "valueTwo", 0, UINT64_MAX, &value2, err)) < 0
                  || (r = bjson_get_string (a, ip, "op", BJSON_REQUIRED, &op, err)) < 0)
                return r;
              for (size_t o = 0; o < ARRAY_SIZE (operators); o++)
                if (strcmp (operators[o].name, op) == 0)
                  {
                    args[n_args] = (struct scmp_arg_cmp){ .arg = (unsigned)index,
                                                          .op = operators[o].op,
                                                          .datum_a = value,
                                                          .datum_b = value2 };
                    found = true;
                  }
              if (!found)
                return berth_err_set (err, 0, "%s.op: unknown operator `%s`", ip, op);
              n_args++;
            }
        }

      for (size_t k = 0; names[k]; k++)
        {
          int nr = seccomp_syscall_resolve_name (names[k]);
          /* A name libseccomp does not know is a syscall this host's kernel headers do not
             have either; runc and crun skip it the same way. The ENOSYS check below covers
             numbers past the profile's highest one. */
          if (nr == __NR_SCMP_ERROR)
            continue;
          for (size_t a = 0; a < n_arches; a++)
            {
              int anr = seccomp_syscall_resolve_name_arch (arches[a].token, names[k]);
              if (anr >= 0 && anr > arches[a].max)
                arches[a].max = anr;
            }
          /* Same action as the default: nothing to add (libseccomp refuses such rules). */
          if (action == default_action)
            continue;
          r = add_rule_conditions (ctx, action, nr, args, n_args, rp, names[k], err);
          if (r < 0)
            return r;
        }
    }
  return 0;
}

static uint32_t
audit_arch_of (uint32_t token)
{
  /* libseccomp's tokens are the AUDIT_ARCH_* values, except x32 which shares x86_64's. */
  if (token == SCMP_ARCH_X32)
    return AUDIT_ARCH_X86_64;
  return token;
}

#define STMT(code, k) ((struct sock_filter){ (unsigned short)(code), 0, 0, (k) })
#define JUMP(code, k, jt, jf)                                                                      \
  ((struct sock_filter){ (unsigned short)(code), (unsigned char)(jt), (unsigned char)(jf), (k) })

/* The ENOSYS prologue: for each architecture, syscall numbers above the highest one the
 * profile names return ENOSYS; everything else falls through to libseccomp's program, which
 * starts right after the prologue's final "ret ENOSYS". */
static size_t
build_enosys_prologue (const struct arch_max *arches, size_t n_arches, struct sock_filter *out,
                       size_t cap)
{
  struct sock_filter buf[64];
  size_t n = 0;
  size_t jumps_to_enosys[32], n_enosys = 0, jumps_to_cont[32], n_cont = 0;
  bool done[16] = { false };

  if (n_arches > 16)
    return 0;
  buf[n++] = STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch));
  for (size_t a = 0; a < n_arches; a++)
    {
      uint32_t audit = audit_arch_of (arches[a].token);
      int native_max = -1, x32_max = -1;
      bool has_native = false, has_x32 = false;
      size_t skip_at;

      if (done[a])
        continue;
      /* Gather every token that shares this audit arch (x86_64 and x32). */
      for (size_t b = a; b < n_arches; b++)
        if (audit_arch_of (arches[b].token) == audit)
          {
            done[b] = true;
            if (arches[b].token == SCMP_ARCH_X32)
              {
                has_x32 = true;
                x32_max = arches[b].max;
              }
            else
              {
                has_native = true;
                native_max = arches[b].max;
              }
          }
      if (n + 8 > ARRAY_SIZE (buf) || n_enosys + 2 > ARRAY_SIZE (jumps_to_enosys)
          || n_cont + 3 > ARRAY_SIZE (jumps_to_cont))
        return 0;
      skip_at = n;
      buf[n++] = JUMP (BPF_JMP | BPF_JEQ | BPF_K, audit, 0, 0); /* jf patched below */
      buf[n++] = STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr));
      if (audit == AUDIT_ARCH_X86_64)
        {
          /* jset X32 bit: x32 check is 2 ahead, native check is next. */
          buf[n++] = JUMP (BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 2, 0);
          if (has_native && native_max >= 0)
            {
              jumps_to_enosys[n_enosys++] = n;
              buf[n++] = JUMP (BPF_JMP | BPF_JGT | BPF_K, (uint32_t)native_max, 0, 0);
            }
          else
            buf[n++] = STMT (BPF_JMP | BPF_JA, 0);
          jumps_to_cont[n_cont++] = n;
          buf[n++] = STMT (BPF_JMP | BPF_JA, 0);
          if (has_x32 && x32_max >= 0)
            {
              jumps_to_enosys[n_enosys++] = n;
              buf[n++] = JUMP (BPF_JMP | BPF_JGT | BPF_K, (uint32_t)x32_max, 0, 0);
            }
          else
            buf[n++] = STMT (BPF_JMP | BPF_JA, 0);
        }
      else if (native_max >= 0)
        {
          jumps_to_enosys[n_enosys++] = n;
          buf[n++] = JUMP (BPF_JMP | BPF_JGT | BPF_K, (uint32_t)native_max, 0, 0);
        }
      jumps_to_cont[n_cont++] = n;
      buf[n++] = STMT (BPF_JMP | BPF_JA, 0);
      /* Not this architecture: continue with the next check; A still holds the arch. */
      buf[skip_at].jf = (unsigned char)(n - skip_at - 1);
      /* The next arch check needs the arch in A again. */
      buf[n++] = STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch));
    }
  {
    size_t enosys_at, cont_at;
    jumps_to_cont[n_cont++] = n;
    buf[n++] = STMT (BPF_JMP | BPF_JA, 0); /* unknown architecture: libseccomp decides */
    enosys_at = n;
    buf[n++] = STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
    cont_at = n;
    for (size_t i = 0; i < n_enosys; i++)
      {
        /* jgt max: true -> ENOSYS, false -> continue */
        buf[jumps_to_enosys[i]].jt = (unsigned char)(enosys_at - jumps_to_enosys[i] - 1);
        buf[jumps_to_enosys[i]].jf = 0;
      }
    for (size_t i = 0; i < n_cont; i++)
      buf[jumps_to_cont[i]].k = (uint32_t)(cont_at - jumps_to_cont[i] - 1);
    /* The jgt's false branch falls onto the "ja cont" that follows it. */
  }
  if (n > cap)
    return 0;
  memcpy (out, buf, n * sizeof buf[0]);
  return n;
}

int
rt_seccomp_compile (json_object *seccomp, const char *path, struct rt_bpf *ret, berth_err *err)
{
  scmp_filter_ctx ctx = NULL;
  cleanup_close int memfd = -1;
  cleanup_strv char **arch_names = NULL;
  cleanup_strv char **flags = NULL;
  struct arch_max arches[24];
  size_t n_arches = 0;
  const char *default_name, *listener;
  uint32_t default_action, default_errno = EPERM;
  struct sock_filter *prog = NULL;
  struct stat st;
  unsigned load_flags = 0;
  size_t n_pro = 0;
  int has_errno, r;

  (void)path;
  if ((r = bjson_get_string (seccomp, "linux.seccomp", "defaultAction", BJSON_REQUIRED,
                             &default_name, err))
      < 0)
    return r;
  has_errno
      = bjson_get_uint32 (seccomp, "linux.seccomp", "defaultErrnoRet", 0, &default_errno, err);
  if (has_errno < 0)
    return has_errno;
  if ((r = parse_action (default_name, has_errno > 0, default_errno, EPERM,
                         "linux.seccomp.defaultAction", "defaultErrnoRet", &default_action, err))
      < 0)
    return r;
  if (has_errno == 0)
    default_errno = EPERM;
  r = bjson_get_string (seccomp, "linux.seccomp", "listenerPath", 0, &listener, err);
  if (r < 0)
    return r;
  if (r > 0 && *listener)
    return berth_err_set (err, 0,
                          "linux.seccomp.listenerPath: seccomp listeners are not supported by "
                          "berth");
  r = bjson_get_strv (seccomp, "linux.seccomp", "flags", 0, &flags, err);
  if (r < 0)
    return r;
  for (size_t i = 0; flags && flags[i]; i++)
    {
      bool found = false;
      for (size_t k = 0; k < ARRAY_SIZE (filter_flags); k++)
        if (strcmp (filter_flags[k].name, flags[i]) == 0)
          {
            load_flags |= filter_flags[k].flag;
            found = true;
          }
      if (!found)
        return berth_err_set (err, 0, "linux.seccomp.flags[%zu]: `%s` is not supported", i,
                              flags[i]);
    }

  ctx = seccomp_init (default_action);
  /* NULL: libseccomp refuses the action (it checks what the running kernel supports). */
  if (ctx == NULL)
    return berth_err_set (err, 0,
                          "linux.seccomp.defaultAction: `%s` is not supported by this kernel "
                          "and libseccomp",
                          default_name);
  /* The program is exported and loaded by berth, after no_new_privs is handled. */
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

  arches[n_arches++] = (struct arch_max){ seccomp_arch_native (), -1 };
  r = bjson_get_strv (seccomp, "linux.seccomp", "architectures", 0, &arch_names, err);
  if (r < 0)
    goto out;
  for (size_t i = 0; arch_names && arch_names[i]; i++)
    {
      cleanup_free char *ip = xasprintf ("linux.seccomp.architectures[%zu]", i);
      uint32_t token = 0;
      bool dup = false;
      r = parse_arch (arch_names[i], ip, &token, err);
      if (r < 0)
        goto out;
      for (size_t k = 0; k < n_arches; k++)
        dup = dup || arches[k].token == token;
      if (dup)
        continue;
      if (n_arches == ARRAY_SIZE (arches))
        {
          r = berth_err_set (err, 0, "%s: too many architectures", ip);
          goto out;
        }
      r = seccomp_arch_add (ctx, token);
      if (r < 0 && r != -EEXIST)
        {
          r = berth_err_set (err, -r, "%s: add architecture `%s`", ip, arch_names[i]);
          goto out;
        }
      arches[n_arches++] = (struct arch_max){ token, -1 };
    }

  r = compile_rules (ctx, seccomp, default_action, arches, n_arches, err);
  if (r < 0)
    goto out;

  memfd = memfd_create ("berth-seccomp", MFD_CLOEXEC);
  if (memfd < 0)
    {
      r = berth_err_set (err, errno, "memfd_create");
      goto out;
    }
  r = seccomp_export_bpf (ctx, memfd);
  if (r < 0)
    {
      r = berth_err_set (err, -r, "linux.seccomp: export the BPF program");
      goto out;
    }
  if (fstat (memfd, &st) < 0)
    {
      r = berth_err_set (err, errno, "fstat seccomp program");
      goto out;
    }
  if (st.st_size <= 0 || st.st_size % (off_t)sizeof (struct sock_filter) != 0)
    {
      r = berth_err_set (err, 0, "linux.seccomp: libseccomp exported a malformed program");
      goto out;
    }
  {
    size_t n_lib = (size_t)st.st_size / sizeof (struct sock_filter);
    prog = xmalloc ((n_lib + 64) * sizeof (struct sock_filter));
    /* Syscalls newer than the profile fail with ENOSYS only where an unknown call would be
       denied anyway: with an allowing default they stay allowed. */
    if (default_action != SCMP_ACT_ALLOW && default_action != SCMP_ACT_LOG)
      {
        n_pro = build_enosys_prologue (arches, n_arches, prog, 64);
        if (n_pro == 0)
          {
            r = berth_err_set (err, 0,
                               "linux.seccomp: too many architectures for berth's "
                               "ENOSYS check");
            goto out;
          }
      }
    if (n_pro + n_lib > MAX_INSNS)
      {
        r = berth_err_set (err, 0,
                           "linux.seccomp: the program has %zu instructions, more than "
                           "the kernel's limit of %d",
                           n_pro + n_lib, MAX_INSNS);
        goto out;
      }
    if (pread (memfd, prog + n_pro, (size_t)st.st_size, 0) != st.st_size)
      {
        r = berth_err_set (err, errno ? errno : EIO, "read seccomp program");
        goto out;
      }
    ret->insns = steal_pointer (&prog);
    ret->len = n_pro + n_lib;
    ret->flags = load_flags;
  }
  r = 0;
out:
  free (prog);
  seccomp_release (ctx);
  return r;
}

void
rt_bpf_free (struct rt_bpf *b)
{
  free (b->insns);
  b->insns = NULL;
  b->len = 0;
}

int
rt_seccomp_load (const struct rt_bpf *b)
{
  struct sock_fprog prog = { .len = (unsigned short)b->len, .filter = b->insns };
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, b->flags, &prog) < 0)
    return -errno;
  return 0;
}

/* ------------------------------------------------------------------ cache
 * libseccomp takes tens of milliseconds to compile moby's profile, and a host runs the same
 * few profiles over and over. A compiled program is kept in the state root, under the hash of
 * everything that decides it (the profile as JSON, libseccomp's version, the architecture,
 * this format), and the whole key is stored in the entry and compared on use: a hash
 * collision costs a compile, never a wrong filter. The directory is the runtime's own
 * (0700, root); entries are replaced atomically. */

#define CACHE_MAGIC       "berth-seccomp-cache-1"
#define CACHE_MAX_ENTRIES 256
#define CACHE_MAX_FILE    (2u << 20)

struct cache_header
{
  char magic[24];
  uint32_t key_len, insns, flags, pad;
};

static uint64_t
fnv1a64 (const char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
  return h;
}

static char *
cache_key (json_object *seccomp)
{
  const struct scmp_version *v = seccomp_version ();
  return xasprintf ("%s\n%u.%u.%u\n%u\n%s", CACHE_MAGIC, v->major, v->minor, v->micro,
                    seccomp_arch_native (), bjson_to_string (seccomp));
}

static bool
cache_lookup (int dirfd, const char *name, const char *key, size_t key_len, struct rt_bpf *ret)
{
  cleanup_free char *data = NULL;
  struct cache_header h;
  size_t len;

  if (berth_read_file_at (dirfd, name, CACHE_MAX_FILE, &data, &len, NULL) < 0 || len < sizeof h)
    return false;
  memcpy (&h, data, sizeof h);
  if (memcmp (h.magic, CACHE_MAGIC, sizeof CACHE_MAGIC) != 0 || h.key_len != key_len || h.insns == 0
      || h.insns > MAX_INSNS || len != sizeof h + key_len + h.insns * sizeof (struct sock_filter)
      || memcmp (data + sizeof h, key, key_len) != 0)
    return false;
  ret->len = h.insns;
  ret->insns = xmemdup (data + sizeof h + key_len, h.insns * sizeof (struct sock_filter));
  ret->flags = h.flags;
  return true;
}

static void
cache_store (int dirfd, const char *name, const char *key, size_t key_len, const struct rt_bpf *b)
{
  struct cache_header h
      = { .key_len = (uint32_t)key_len, .insns = (uint32_t)b->len, .flags = b->flags };
  size_t len = sizeof h + key_len + b->len * sizeof (struct sock_filter);
  cleanup_free char *data = xmalloc (len);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  size_t n = 0;

  /* A bounded cache: past the limit, new profiles are compiled each time. */
  d = fdopendir (dup (dirfd));
  while (d && (de = readdir (d)) != NULL)
    n += de->d_name[0] != '.';
  if (n >= CACHE_MAX_ENTRIES)
    return;
  memcpy (h.magic, CACHE_MAGIC, sizeof CACHE_MAGIC);
  memcpy (data, &h, sizeof h);
  memcpy (data + sizeof h, key, key_len);
  memcpy (data + sizeof h + key_len, b->insns, b->len * sizeof (struct sock_filter));
  /* A failed store only means the next container compiles again. */
  berth_write_file_replace_at (dirfd, name, data, len, 0600, NULL);
}

int
rt_seccomp_compile_cached (int cache_dirfd, json_object *seccomp, struct rt_bpf *ret,
                           berth_err *err)
{
  cleanup_free char *key = NULL;
  char name[32];
  size_t key_len;
  int r;

  if (cache_dirfd < 0)
    return rt_seccomp_compile (seccomp, "linux.seccomp", ret, err);
  key = cache_key (seccomp);
  key_len = strlen (key);
  snprintf (name, sizeof name, "%016" PRIx64 ".bpf", fnv1a64 (key, key_len));
  if (cache_lookup (cache_dirfd, name, key, key_len, ret))
    return 0;
  r = rt_seccomp_compile (seccomp, "linux.seccomp", ret, err);
  if (r < 0)
    return r;
  cache_store (cache_dirfd, name, key, key_len, ret);
  return 0;
}
