/* libFuzzer target: netlink replies as berth walks them (acknowledgements, errors with
 * extended-ack attributes, dumps) and the link and address parsers. */
#include "netns/netns-internal.h"

#include <linux/rtnetlink.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
parse_cb (const struct nlmsghdr *nlh, void *data)
{
  struct rtnl_link l;
  struct rtnl_addr a;
  (void)data;
  if (rtnl_parse_link (nlh, &l) == 0 && strlen (l.name) >= IFNAMSIZ)
    abort ();
  (void)rtnl_parse_addr (nlh, &a);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Netlink messages are 4-byte aligned in the socket buffer. */
  uint32_t *buf = malloc (size + 4);
  struct rtnl_batch *b = malloc (sizeof *b);
  bool acked[RTNL_BATCH_MAX_OPS] = { false }, done = false;
  berth_err err = NULL;

  memcpy (buf, data, size);
  rtnl_batch_init (b);
  for (int i = 0; i < 4; i++)
    {
      if (rtnl_req_link_get (b, "eth0") < 0)
        abort ();
      b->ops[i].seq = (uint32_t)i;
      b->tolerate[i] = i == 1 ? ENODEV : 0;
    }
  (void)rtnl_process (buf, size, b, acked, 0, parse_cb, NULL, &done, &err);
  berth_err_free (&err);
  done = false;
  (void)rtnl_process (buf, size, NULL, NULL, 0, parse_cb, NULL, &done, &err);
  berth_err_free (&err);
  free (b);
  free (buf);
  return 0;
}
