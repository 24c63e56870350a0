/* The device rule compiler: an ordered OCI rule list -> the entries of the map that
 * devices.bpf.c consults, and a C model of the program's decision for tests. */
#include "ebpf/ebpf.h"

static int
key_cmp (const void *a, const void *b)
{
  const struct ebpf_dev_entry *x = a, *y = b;
  if (x->key.type != y->key.type)
    return x->key.type < y->key.type ? -1 : 1;
  if (x->key.major != y->key.major)
    return x->key.major < y->key.major ? -1 : 1;
  if (x->key.minor != y->key.minor)
    return x->key.minor < y->key.minor ? -1 : 1;
  return 0;
}

static struct ebpf_dev_entry *
entry_for (struct ebpf_dev_entry **v, size_t *n, const struct ebpf_dev_key *k)
{
  struct ebpf_dev_entry *e;
  for (size_t i = 0; i < *n; i++)
    if ((*v)[i].key.type == k->type && (*v)[i].key.major == k->major
        && (*v)[i].key.minor == k->minor)
      return &(*v)[i];
  *v = xrealloc (*v, (*n + 1) * sizeof **v);
  e = &(*v)[(*n)++];
  memset (e, 0, sizeof *e);
  e->key = *k;
  for (int b = 0; b < 3; b++)
    e->value.idx[b] = -1;
  return e;
}

int
ebpf_devices_compile (const struct ebpf_device_rule *rules, size_t n, struct ebpf_dev_entry **ret,
                      size_t *ret_n)
{
  struct ebpf_dev_entry *v = NULL;
  size_t nv = 0;

  if (n > INT32_MAX)
    return -E2BIG;
  for (size_t i = 0; i < n; i++)
    {
      const struct ebpf_device_rule *r = &rules[i];
      uint32_t types[2];
      size_t nt = 0;

      if ((r->access & ~(unsigned)(EBPF_DEV_READ | EBPF_DEV_WRITE | EBPF_DEV_MKNOD)) != 0
          || r->access == 0 || r->major < -1 || r->major > UINT32_MAX - 1 || r->minor < -1
          || r->minor > UINT32_MAX - 1)
        {
          free (v);
          return -EINVAL;
        }
      switch (r->type)
        {
        case 'a':
          types[nt++] = 1;
          types[nt++] = 2;
          break;
        case 'b':
          types[nt++] = 1;
          break;
        case 'c':
          types[nt++] = 2;
          break;
        default:
          free (v);
          return -EINVAL;
        }
      for (size_t t = 0; t < nt; t++)
        {
          struct ebpf_dev_key k = {
            .type = types[t],
            .major = r->major < 0 ? EBPF_DEV_ANY : (uint32_t)r->major,
            .minor = r->minor < 0 ? EBPF_DEV_ANY : (uint32_t)r->minor,
          };
          struct ebpf_dev_entry *e = entry_for (&v, &nv, &k);
          for (int b = 0; b < 3; b++)
            if (r->access & (1u << b))
              {
                e->value.idx[b] = (int32_t)i;
                e->value.allow[b] = r->allow;
              }
        }
    }
  if (nv)
    qsort (v, nv, sizeof *v, key_cmp);
  *ret = v;
  *ret_n = nv;
  return 0;
}

static const struct ebpf_dev_entry *
lookup (const struct ebpf_dev_entry *e, size_t n, uint32_t type, uint32_t major, uint32_t minor)
{
  struct ebpf_dev_entry k = { .key = { type, major, minor } };
  return n ? bsearch (&k, e, n, sizeof *e, key_cmp) : NULL;
}

bool
ebpf_devices_eval (const struct ebpf_dev_entry *e, size_t n, char type, uint32_t major,
                   uint32_t minor, unsigned access)
{
  uint32_t t = type == 'b' ? 1 : type == 'c' ? 2 : 0;
  const uint32_t majors[4] = { major, major, EBPF_DEV_ANY, EBPF_DEV_ANY };
  const uint32_t minors[4] = { minor, EBPF_DEV_ANY, minor, EBPF_DEV_ANY };
  int32_t best[3] = { -1, -1, -1 };
  bool allow[3] = { false, false, false };

  if (t == 0)
    return false;
  for (int i = 0; i < 4; i++)
    {
      const struct ebpf_dev_entry *x = lookup (e, n, t, majors[i], minors[i]);
      if (x == NULL)
        continue;
      for (int b = 0; b < 3; b++)
        if (x->value.idx[b] > best[b])
          {
            best[b] = x->value.idx[b];
            allow[b] = x->value.allow[b];
          }
    }
  for (int b = 0; b < 3; b++)
    if ((access & (1u << b)) && !(best[b] >= 0 && allow[b]))
      return false;
  return true;
}
