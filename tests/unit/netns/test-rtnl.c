/* Unit tests: rtnetlink request builders (what goes on the wire) and the reply walker
 * (acknowledgements, errors with the kernel's extended-ack text, tolerated errors, objects,
 * replies to other requests, malformed input). No socket is opened. */
#include "netns/netns-internal.h"

#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

static struct nlmsghdr *
nth (struct rtnl_batch *b, size_t i)
{
  size_t off = 0;
  for (size_t k = 0; k < i; k++)
    off += NLMSG_ALIGN (((struct nlmsghdr *)(b->buf + off))->nlmsg_len);
  return (struct nlmsghdr *)(b->buf + off);
}

struct attrs
{
  const struct nlattr *tb[64];
};

static int
collect (const struct nlattr *a, void *data)
{
  struct attrs *t = data;
  if (mnl_attr_get_type (a) < 64)
    t->tb[mnl_attr_get_type (a)] = a;
  return MNL_CB_OK;
}

Test (rtnl, veth_request)
{
  struct rtnl_batch b;
  unsigned char mac[6] = { 2, 0x62, 10, 88, 0, 2 };
  struct attrs t = { 0 }, info = { 0 }, data = { 0 }, peer = { 0 };
  struct nlmsghdr *nlh;
  const struct ifinfomsg *ifi;

  rtnl_batch_init (&b);
  cr_assert_eq (rtnl_req_veth_add (&b, "bthabc", 1400, 7, "eth0", 42, mac), 0);
  cr_assert_eq (b.n_ops, 1);
  cr_assert_str_eq (b.ops[0].what, "create veth `bthabc`");
  nlh = nth (&b, 0);
  cr_assert_eq (nlh->nlmsg_type, RTM_NEWLINK);
  cr_assert_eq (nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  /* The host end comes up after IPv6 is off on it (task.c). */
  ifi = mnl_nlmsg_get_payload (nlh);
  cr_assert_eq (ifi->ifi_flags & IFF_UP, 0);

  cr_assert_geq (mnl_attr_parse (nlh, sizeof *ifi, collect, &t), 0);
  cr_assert_str_eq (mnl_attr_get_str (t.tb[IFLA_IFNAME]), "bthabc");
  cr_assert_eq (mnl_attr_get_u32 (t.tb[IFLA_MTU]), 1400);
  cr_assert_eq (mnl_attr_get_u32 (t.tb[IFLA_MASTER]), 7);
  cr_assert_eq (mnl_attr_get_u32 (t.tb[IFLA_NUM_TX_QUEUES]), 1);
  cr_assert_eq (mnl_attr_get_u32 (t.tb[IFLA_NUM_RX_QUEUES]), 1);

  cr_assert_geq (mnl_attr_parse_nested (t.tb[IFLA_LINKINFO], collect, &info), 0);
  cr_assert_str_eq (mnl_attr_get_str (info.tb[IFLA_INFO_KIND]), "veth");
  cr_assert_geq (mnl_attr_parse_nested (info.tb[IFLA_INFO_DATA], collect, &data), 0);
  /* The peer: an ifinfomsg (down: see rtnl.c), then its own attributes. */
  const struct nlattr *p = data.tb[VETH_INFO_PEER];
  const struct ifinfomsg *pi = mnl_attr_get_payload (p);
  cr_assert_eq (pi->ifi_flags, 0);
  const char *pa = (const char *)mnl_attr_get_payload (p) + NLMSG_ALIGN (sizeof *pi);
  int len = (int)(mnl_attr_get_payload_len (p) - NLMSG_ALIGN (sizeof *pi));
  for (const struct nlattr *a = (const void *)pa; mnl_attr_ok (a, len); a = mnl_attr_next (a))
    {
      len -= MNL_ALIGN (a->nla_len);
      collect (a, &peer);
    }
  cr_assert_str_eq (mnl_attr_get_str (peer.tb[IFLA_IFNAME]), "eth0");
  cr_assert_eq (mnl_attr_get_u32 (peer.tb[IFLA_NET_NS_FD]), 42);
  cr_assert_eq (memcmp (mnl_attr_get_payload (peer.tb[IFLA_ADDRESS]), mac, 6), 0);
}

Test (rtnl, route_and_address_requests)
{
  struct rtnl_batch b;
  struct in_addr gw, any = { 0 }, a;
  struct attrs t = { 0 };

  rtnl_batch_init (&b);
  (void)netns_ip_parse ("10.88.0.1", &gw);
  (void)netns_ip_parse ("10.88.0.5", &a);
  cr_assert_eq (rtnl_req_addr_add (&b, 3, a, 16, true), 0);
  cr_assert_eq (rtnl_req_route_add (&b, RTNL_ROUTE_VIA, any, 0, gw, 3), 0);
  cr_assert_eq (rtnl_req_route_add (&b, RTNL_ROUTE_BLACKHOLE, a, 32, any, 0), 0);
  cr_assert_eq (b.tolerate[0], EEXIST);
  cr_assert_eq (b.tolerate[1], 0);
  const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload (nth (&b, 0));
  cr_assert_eq (ifa->ifa_prefixlen, 16);
  cr_assert_eq (ifa->ifa_index, 3);
  cr_assert_geq (mnl_attr_parse (nth (&b, 0), sizeof *ifa, collect, &t), 0);
  cr_assert_eq (*(uint32_t *)mnl_attr_get_payload (t.tb[IFA_BROADCAST]), htonl (0x0a58ffff));
  const struct rtmsg *rtm = mnl_nlmsg_get_payload (nth (&b, 1));
  cr_assert_eq (rtm->rtm_dst_len, 0);
  cr_assert_eq (rtm->rtm_type, RTN_UNICAST);
  rtm = mnl_nlmsg_get_payload (nth (&b, 2));
  cr_assert_eq (rtm->rtm_type, RTN_BLACKHOLE);
  cr_assert_str_eq (b.ops[2].what, "add blackhole route 10.88.0.5/32");
}

Test (rtnl, batch_refuses_overflow)
{
  struct rtnl_batch b;
  rtnl_batch_init (&b);
  for (int i = 0; i < RTNL_BATCH_MAX_OPS; i++)
    cr_assert_eq (rtnl_req_link_get (&b, "x"), 0);
  cr_assert_eq (rtnl_req_link_get (&b, "x"), -ENOSPC);
  cr_assert_eq (b.n_ops, RTNL_BATCH_MAX_OPS);
}

/* ---- replies */

static size_t
put_ack (char *buf, uint32_t seq, int error, const char *ext)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct nlmsgerr *e = mnl_nlmsg_put_extra_header (nlh, sizeof *e);
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_seq = seq;
  nlh->nlmsg_flags = NLM_F_CAPPED;
  e->error = error;
  e->msg.nlmsg_seq = seq;
  if (ext)
    {
      nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
      mnl_attr_put_strz (nlh, NLMSGERR_ATTR_MSG, ext);
    }
  return NLMSG_ALIGN (nlh->nlmsg_len);
}

static size_t
put_link (char *buf, uint32_t seq, int ifindex, const char *name, const char *alias)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header (nlh, sizeof *ifi);
  unsigned char mac[6] = { 2, 0x62, 1, 2, 3, 4 };
  struct nlattr *info;
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_seq = seq;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  mnl_attr_put (nlh, IFLA_ADDRESS, 6, mac);
  mnl_attr_put_u32 (nlh, IFLA_MTU, 1500);
  mnl_attr_put_u32 (nlh, IFLA_MASTER, 4);
  if (alias)
    mnl_attr_put_strz (nlh, IFLA_IFALIAS, alias);
  info = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
  mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "veth");
  mnl_attr_nest_end (nlh, info);
  return NLMSG_ALIGN (nlh->nlmsg_len);
}

static int
count_links (const struct nlmsghdr *nlh, void *data)
{
  struct rtnl_link l;
  if (rtnl_parse_link (nlh, &l) == 0)
    (*(int *)data)++;
  return 0;
}

static struct rtnl_batch *
two_ops (void)
{
  struct rtnl_batch *b = xmalloc (sizeof *b);
  rtnl_batch_init (b);
  cr_assert_eq (rtnl_req_link_get (b, "eth0"), 0);
  cr_assert_eq (rtnl_req_link_del (b, "bthx"), 0);
  b->ops[0].seq = 100;
  b->ops[1].seq = 101;
  return b;
}

Test (rtnl, process_acks_and_objects)
{
  cleanup_free struct rtnl_batch *b = two_ops ();
  char buf[4096];
  size_t len = 0;
  bool acked[RTNL_BATCH_MAX_OPS] = { false }, done = false;
  berth_err err = NULL;
  int links = 0;

  len += put_link (buf + len, 99, 5, "stale", NULL); /* a late reply: ignored */
  len += put_link (buf + len, 100, 2, "eth0", NULL);
  len += put_ack (buf + len, 100, 0, NULL);
  cr_assert_eq (rtnl_process (buf, len, b, acked, 0, count_links, &links, &done, &err), 0);
  cr_assert_eq (links, 1);
  cr_assert (!done);
  len = put_ack (buf, 101, 0, NULL);
  cr_assert_eq (rtnl_process (buf, len, b, acked, 0, count_links, &links, &done, &err), 0);
  cr_assert (done);
}

Test (rtnl, process_error_names_the_request)
{
  cleanup_free struct rtnl_batch *b = two_ops ();
  char buf[4096];
  size_t len = 0;
  bool acked[RTNL_BATCH_MAX_OPS] = { false }, done = false;
  berth_err err = NULL;

  len += put_ack (buf + len, 100, 0, NULL);
  len += put_ack (buf + len, 101, -ENODEV, "Device not found in namespace");
  cr_assert_eq (rtnl_process (buf, len, b, acked, 0, NULL, NULL, &done, &err), -ENODEV);
  cr_assert (done);
  cr_assert_str_eq (berth_err_msg (&err),
                    "delete link `bthx`: Device not found in namespace: No such device");
  berth_err_free (&err);

  /* Tolerated, the same error is a success. */
  memset (acked, 0, sizeof acked);
  b->tolerate[1] = ENODEV;
  cr_assert_eq (rtnl_process (buf, len, b, acked, 0, NULL, NULL, &done, &err), 0);
  cr_assert (done);
}

Test (rtnl, process_dump_and_garbage)
{
  char buf[4096];
  size_t len = 0;
  bool done = false;
  berth_err err = NULL;
  int links = 0;
  struct nlmsghdr *nlh;

  len += put_link (buf + len, 7, 2, "a", "berth:berth:t1");
  len += put_link (buf + len, 7, 3, "b", NULL);
  nlh = mnl_nlmsg_put_header (buf + len);
  nlh->nlmsg_type = NLMSG_DONE;
  nlh->nlmsg_seq = 7;
  *(int *)mnl_nlmsg_put_extra_header (nlh, sizeof (int)) = 0;
  len += NLMSG_ALIGN (nlh->nlmsg_len);
  cr_assert_eq (rtnl_process (buf, len, NULL, NULL, 7, count_links, &links, &done, &err), 0);
  cr_assert_eq (links, 2);
  cr_assert (done);

  /* A length running past the buffer stops the walk without reading beyond it. */
  done = false;
  len = put_link (buf, 7, 2, "a", NULL);
  ((struct nlmsghdr *)buf)->nlmsg_len = 4000;
  cr_assert_eq (rtnl_process (buf, len, NULL, NULL, 7, count_links, &links, &done, &err), 0);
  cr_assert (!done);

  /* A short error message is refused. */
  nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_seq = 7;
  cr_assert_lt (rtnl_process (buf, nlh->nlmsg_len, NULL, NULL, 7, NULL, NULL, &done, &err), 0);
  berth_err_free (&err);
}

Test (rtnl, parse_link)
{
  char buf[1024];
  struct rtnl_link l;
  put_link (buf, 1, 9, "bth123", "berth:net:task");
  cr_assert_eq (rtnl_parse_link ((struct nlmsghdr *)buf, &l), 0);
  cr_assert_eq (l.ifindex, 9);
  cr_assert_str_eq (l.name, "bth123");
  cr_assert_str_eq (l.alias, "berth:net:task");
  cr_assert_str_eq (l.kind, "veth");
  cr_assert_eq (l.master, 4);
  cr_assert_eq (l.mtu, 1500);
  cr_assert (l.has_mac);
  cr_assert_eq (l.mac[5], 4);
  /* Without a name it is not a link berth can use. */
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  mnl_nlmsg_put_extra_header (nlh, sizeof (struct ifinfomsg));
  cr_assert_eq (rtnl_parse_link (nlh, &l), -EBADMSG);
  nlh->nlmsg_len = NLMSG_HDRLEN + 2;
  cr_assert_eq (rtnl_parse_link (nlh, &l), -EBADMSG);
}
