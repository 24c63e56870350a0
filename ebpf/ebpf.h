/* berth eBPF: BPF programs (*.bpf.c, compiled by clang at build time) and their loaders.
 * The cgroup v2 device filter lives here: an ordered OCI device rule list is compiled into a
 * hash map that one fixed program consults; docs/cgroups.md ("Devices on cgroup v2") says why. */
#ifndef BERTH_EBPF_H
#define BERTH_EBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

enum
{
  EBPF_DEV_READ = 1u << 0,
  EBPF_DEV_WRITE = 1u << 1,
  EBPF_DEV_MKNOD = 1u << 2,
};

struct ebpf_device_rule
{
  bool allow;
  char type;            /* 'a', 'b' or 'c' */
  int64_t major, minor; /* -1: any */
  unsigned access;      /* EBPF_DEV_* */
};

/* ------------------------------------------------------------------ the rule map
 * Key: (type, major, minor) with ~0 for "any". Value: for each of read, write and mknod the
 * index of the last rule with exactly that key that names the access (-1: none) and whether
 * it allows. The program looks up the four keys a device can match, takes for each access
 * the highest index found, and allows only when every requested access is allowed: the
 * last matching rule decides, per access, and no rule means deny. */
#define EBPF_DEV_ANY UINT32_MAX

struct ebpf_dev_key
{
  uint32_t type; /* 1 block, 2 char (BPF_DEVCG_DEV_*) */
  uint32_t major, minor;
};

struct ebpf_dev_value
{
  int32_t idx[3]; /* read, write, mknod */
  uint8_t allow[3];
  uint8_t pad;
};

struct ebpf_dev_entry
{
  struct ebpf_dev_key key;
  struct ebpf_dev_value value;
};

/* Compiles rules into map entries (sorted by key). -EINVAL on a malformed rule. */
int ebpf_devices_compile (const struct ebpf_device_rule *rules, size_t n,
                          struct ebpf_dev_entry **ret, size_t *ret_n);
/* What the program decides for one access, computed in C from the same entries (the model
 * the unit tests check the compiler against; the VM suite checks the kernel against it). */
bool ebpf_devices_eval (const struct ebpf_dev_entry *e, size_t n, char type, uint32_t major,
                        uint32_t minor, unsigned access);

/* ------------------------------------------------------------------ the program */

/* Whether this build carries the BPF programs (meson option `ebpf`). */
bool ebpf_supported (void);
/* Loads a device program for rules and attaches it to the cgroup v2 directory cgroup_fd
 * (BPF_F_ALLOW_MULTI). A berth device program already attached is replaced atomically
 * (BPF_F_REPLACE) and any other berth device program on the cgroup detached, so that exactly
 * one stays however many updates run. The attachment, not the caller, keeps the program
 * alive: it survives the caller's exit and goes with the cgroup. */
int ebpf_devices_install (int cgroup_fd, const struct ebpf_device_rule *rules, size_t n,
                          berth_err *err);
/* Detaches every berth device program from the cgroup. */
int ebpf_devices_remove (int cgroup_fd, berth_err *err);
/* How many berth device programs are attached to the cgroup. */
int ebpf_devices_attached (int cgroup_fd, size_t *ret, berth_err *err);
/* How many berth device programs exist in the kernel (leak checks). */
int ebpf_devices_loaded (size_t *ret, berth_err *err);

#endif
