/* cgroup v2 device filter (BPF_PROG_TYPE_CGROUP_DEVICE). The rules are data, not code: the
 * map "berth_dev_rules" holds what ebpf_devices_compile() made of the OCI rule list (see
 * ebpf.h for its meaning); the map is frozen after it is filled, so the program a cgroup
 * runs never changes; an update attaches a new program in its place. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ANY 0xffffffffu

struct dev_key
{
  __u32 type, major, minor;
};

struct dev_value
{
  __s32 idx[3]; /* read, write, mknod */
  __u8 allow[3];
  __u8 pad;
};

struct
{
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (max_entries, 1); /* set from the rule count before load */
  __type (key, struct dev_key);
  __type (value, struct dev_value);
} berth_dev_rules SEC (".maps");

static __always_inline void
consider (__u32 type, __u32 major, __u32 minor, __s32 *best, __u8 *allow)
{
  struct dev_key k = { .type = type, .major = major, .minor = minor };
  struct dev_value *v = bpf_map_lookup_elem (&berth_dev_rules, &k);
  if (!v)
    return;
#pragma unroll
  for (int b = 0; b < 3; b++)
    if (v->idx[b] > best[b])
      {
        best[b] = v->idx[b];
        allow[b] = v->allow[b];
      }
}

SEC ("cgroup/dev")
int
berth_devices (struct bpf_cgroup_dev_ctx *ctx)
{
  __u32 type = ctx->access_type & 0xffff;
  __u32 acc = ctx->access_type >> 16;
  __s32 best[3] = { -1, -1, -1 };
  __u8 allow[3] = { 0, 0, 0 };
  /* kernel access bits -> the map's order: read, write, mknod */
  __u32 want[3]
      = { acc & BPF_DEVCG_ACC_READ, acc & BPF_DEVCG_ACC_WRITE, acc & BPF_DEVCG_ACC_MKNOD };

  consider (type, ctx->major, ctx->minor, best, allow);
  consider (type, ctx->major, ANY, best, allow);
  consider (type, ANY, ctx->minor, best, allow);
  consider (type, ANY, ANY, best, allow);
#pragma unroll
  for (int b = 0; b < 3; b++)
    if (want[b] && !(best[b] >= 0 && allow[b]))
      return 0;
  return 1;
}

char LICENSE[] SEC ("license") = "GPL";
