/* rtnetlink over libmnl, in the iproute2 style: one request builder per operation, batched
 * into one sendmsg and acknowledged one by one; reply parsers for links and addresses. The
 * kernel's extended ack text, when it sends one, goes into the error message. */
#include "netns-internal.h"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/veth.h>
#include <sched.h>

#define RECV_BUF 32768

/* ------------------------------------------------------------------ sockets */

int
nl_open (struct rtnl *r, int bus, berth_err *err)
{
  int one = 1;
  struct mnl_socket *nl = mnl_socket_open2 (bus, SOCK_CLOEXEC);

  if (nl == NULL)
    return berth_err_set (err, errno, "open netlink socket");
  if (mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int e = errno;
      mnl_socket_close (nl);
      return berth_err_set (err, e, "bind netlink socket");
    }
  /* Extended acks carry the kernel's reason ("Unknown device type"); capped acks keep a
   * failed request's payload out of the reply. Both are optional: older kernels lack them. */
  (void)mnl_socket_setsockopt (nl, NETLINK_EXT_ACK, &one, sizeof one);
  (void)mnl_socket_setsockopt (nl, NETLINK_CAP_ACK, &one, sizeof one);
  r->nl = nl;
  r->portid = mnl_socket_get_portid (nl);
  r->seq = (uint32_t)berth_now_ns ();
  return 0;
}

int
rtnl_open (struct rtnl *r, berth_err *err)
{
  return nl_open (r, NETLINK_ROUTE, err);
}

int
rtnl_open_in (struct rtnl *r, int nsfd, int back_nsfd, berth_err *err)
{
  int ret;

  if (setns (nsfd, CLONE_NEWNET) < 0)
    return berth_err_set (err, errno, "enter network namespace");
  ret = rtnl_open (r, err);
  /* A thread left in a task's namespace would build the next task's links in the wrong
   * place; there is no safe way on. */
  if (setns (back_nsfd, CLONE_NEWNET) < 0)
    abort ();
  return ret;
}

void
rtnl_close (struct rtnl *r)
{
  if (r->nl)
    mnl_socket_close (r->nl);
  r->nl = NULL;
}

/* ------------------------------------------------------------------ batches */

void
rtnl_batch_init (struct rtnl_batch *b)
{
  b->len = 0;
  b->n_ops = 0;
}

/* Every request fits in 1 KiB; a batch refuses a request when less is left. */
#define REQ_ROOM 1024

static struct nlmsghdr *req_begin (struct rtnl_batch *b, uint16_t type, uint16_t flags,
                                   size_t extra_len, const char *fmt, ...) BERTH_PRINTF (5, 6);

static struct nlmsghdr *
req_begin (struct rtnl_batch *b, uint16_t type, uint16_t flags, size_t extra_len, const char *fmt,
           ...)
{
  struct nlmsghdr *nlh;
  va_list ap;

  if (b->n_ops >= RTNL_BATCH_MAX_OPS || RTNL_BATCH_SIZE - b->len < REQ_ROOM)
    return NULL;
  nlh = mnl_nlmsg_put_header (b->buf + b->len);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  memset (mnl_nlmsg_put_extra_header (nlh, extra_len), 0, extra_len);
  va_start (ap, fmt);
  vsnprintf (b->ops[b->n_ops].what, sizeof b->ops[b->n_ops].what, fmt, ap);
  va_end (ap);
  b->tolerate[b->n_ops] = 0;
  return nlh;
}

static int
req_end (struct rtnl_batch *b, struct nlmsghdr *nlh)
{
  if (nlh->nlmsg_len > REQ_ROOM)
    abort (); /* a builder overran its room: a bug, not an input error */
  b->len += NLMSG_ALIGN (nlh->nlmsg_len);
  b->n_ops++;
  return 0;
}

static struct ifinfomsg *
link_header (struct nlmsghdr *nlh)
{
  struct ifinfomsg *ifi = mnl_nlmsg_get_payload (nlh);
  ifi->ifi_family = AF_UNSPEC;
  return ifi;
}

static bool
put_str (struct nlmsghdr *nlh, uint16_t type, const char *s)
{
  return mnl_attr_put_strz_check (nlh, REQ_ROOM, type, s);
}

static bool
put_u32 (struct nlmsghdr *nlh, uint16_t type, uint32_t v)
{
  return mnl_attr_put_u32_check (nlh, REQ_ROOM, type, v);
}

static bool
put_bytes (struct nlmsghdr *nlh, uint16_t type, const void *p, size_t n)
{
  return mnl_attr_put_check (nlh, REQ_ROOM, type, n, p);
}

#define CHECK(x)                                                                                   \
  do                                                                                               \
    {                                                                                              \
      if (!(x))                                                                                    \
        return -ENOSPC;                                                                            \
    }                                                                                              \
  while (0)

/* Multicast snooping off: tasks do not use multicast, and with snooping on every port that
 * comes up walks the bridge's multicast state (__br_multicast_enable_port_ctx), which makes
 * each setup slower the more tasks there are. Multicast is then flooded like broadcast, and
 * berth's bridge table drops it between isolated tasks all the same. */
static bool
bridge_options (struct nlmsghdr *nlh)
{
  struct nlattr *data = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_INFO_DATA);
  if (data == NULL || !mnl_attr_put_u8_check (nlh, REQ_ROOM, IFLA_BR_MCAST_SNOOPING, 0))
    return false;
  mnl_attr_nest_end (nlh, data);
  return true;
}

int
rtnl_req_bridge_add (struct rtnl_batch *b, const char *name, unsigned mtu, const unsigned char *mac)
{
  struct nlmsghdr *nlh = req_begin (b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                                    sizeof (struct ifinfomsg), "create bridge `%s`", name);
  struct ifinfomsg *ifi;
  struct nlattr *info;

  if (nlh == NULL)
    return -ENOSPC;
  ifi = link_header (nlh);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  CHECK (put_str (nlh, IFLA_IFNAME, name));
  if (mtu)
    CHECK (put_u32 (nlh, IFLA_MTU, mtu));
  /* A bridge whose address was never set takes the lowest of its ports' and changes it as
   * tasks come and go, leaving stale gateway entries in the tasks' ARP caches. */
  if (mac)
    CHECK (put_bytes (nlh, IFLA_ADDRESS, mac, 6));
  CHECK ((info = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_LINKINFO)));
  CHECK (put_str (nlh, IFLA_INFO_KIND, "bridge"));
  CHECK (bridge_options (nlh));
  mnl_attr_nest_end (nlh, info);
  return req_end (b, nlh);
}

int
rtnl_req_bridge_tune (struct rtnl_batch *b, int ifindex, const char *name)
{
  struct nlmsghdr *nlh = req_begin (b, RTM_NEWLINK, 0, sizeof (struct ifinfomsg),
                                    "set options of bridge `%s`", name);
  struct nlattr *info;

  if (nlh == NULL)
    return -ENOSPC;
  link_header (nlh)->ifi_index = ifindex;
  CHECK ((info = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_LINKINFO)));
  CHECK (put_str (nlh, IFLA_INFO_KIND, "bridge"));
  CHECK (bridge_options (nlh));
  mnl_attr_nest_end (nlh, info);
  return req_end (b, nlh);
}

int
rtnl_req_veth_add (struct rtnl_batch *b, const char *host_name, unsigned mtu, int master_ifindex,
                   const char *peer_name, int peer_nsfd, const unsigned char *peer_mac)
{
  struct nlmsghdr *nlh = req_begin (b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                                    sizeof (struct ifinfomsg), "create veth `%s`", host_name);
  struct ifinfomsg *peer;
  struct nlattr *info, *data, *peer_attr;

  if (nlh == NULL)
    return -ENOSPC;
  /* Down: the caller turns IPv6 off on the host end before it comes up (see task.c). */
  link_header (nlh);
  CHECK (put_str (nlh, IFLA_IFNAME, host_name));
  if (mtu)
    CHECK (put_u32 (nlh, IFLA_MTU, mtu));
  /* One queue each way, from the start: veth sizes its queues by the CPU count and then
   * cuts them down to one, and each cut waits for an RCU grace period. */
  CHECK (put_u32 (nlh, IFLA_NUM_TX_QUEUES, 1));
  CHECK (put_u32 (nlh, IFLA_NUM_RX_QUEUES, 1));
  if (master_ifindex > 0)
    CHECK (put_u32 (nlh, IFLA_MASTER, (uint32_t)master_ifindex));
  CHECK ((info = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_LINKINFO)));
  CHECK (put_str (nlh, IFLA_INFO_KIND, "veth"));
  CHECK ((data = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_INFO_DATA)));
  CHECK ((peer_attr = mnl_attr_nest_start_check (nlh, REQ_ROOM, VETH_INFO_PEER)));
  /* VETH_INFO_PEER carries a whole link message body: an ifinfomsg, then attributes. The peer
   * cannot be created up: veth_open() of the peer runs before the pair is linked and fails
   * with ENOTCONN; it is set up from inside the namespace instead. */
  CHECK (nlh->nlmsg_len + NLMSG_ALIGN (sizeof *peer) < REQ_ROOM);
  peer = (struct ifinfomsg *)((char *)nlh + nlh->nlmsg_len);
  memset (peer, 0, NLMSG_ALIGN (sizeof *peer));
  peer->ifi_family = AF_UNSPEC;
  nlh->nlmsg_len += NLMSG_ALIGN (sizeof *peer);
  CHECK (put_str (nlh, IFLA_IFNAME, peer_name));
  CHECK (put_u32 (nlh, IFLA_NET_NS_FD, (uint32_t)peer_nsfd));
  if (mtu)
    CHECK (put_u32 (nlh, IFLA_MTU, mtu));
  CHECK (put_u32 (nlh, IFLA_NUM_TX_QUEUES, 1));
  CHECK (put_u32 (nlh, IFLA_NUM_RX_QUEUES, 1));
  if (peer_mac)
    CHECK (put_bytes (nlh, IFLA_ADDRESS, peer_mac, 6));
  mnl_attr_nest_end (nlh, peer_attr);
  mnl_attr_nest_end (nlh, data);
  mnl_attr_nest_end (nlh, info);
  return req_end (b, nlh);
}

static int
vlan_child_add (struct rtnl_batch *b, const char *kind, const char *name, int parent_ifindex,
                int nsfd, unsigned mtu, const unsigned char *mac, bool private_)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof (struct ifinfomsg),
                   "create %s `%s` on interface %d", kind, name, parent_ifindex);
  struct ifinfomsg *ifi;
  struct nlattr *info, *data;

  if (nlh == NULL)
    return -ENOSPC;
  ifi = link_header (nlh);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  CHECK (put_str (nlh, IFLA_IFNAME, name));
  CHECK (put_u32 (nlh, IFLA_LINK, (uint32_t)parent_ifindex));
  CHECK (put_u32 (nlh, IFLA_NET_NS_FD, (uint32_t)nsfd));
  if (mtu)
    CHECK (put_u32 (nlh, IFLA_MTU, mtu));
  if (mac)
    CHECK (put_bytes (nlh, IFLA_ADDRESS, mac, 6));
  CHECK ((info = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_LINKINFO)));
  CHECK (put_str (nlh, IFLA_INFO_KIND, kind));
  CHECK ((data = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_INFO_DATA)));
  if (strcmp (kind, "ipvlan") == 0)
    {
      CHECK (mnl_attr_put_u16_check (nlh, REQ_ROOM, IFLA_IPVLAN_MODE, IPVLAN_MODE_L2));
      if (private_)
        CHECK (mnl_attr_put_u16_check (nlh, REQ_ROOM, IFLA_IPVLAN_FLAGS, IPVLAN_F_PRIVATE));
    }
  else
    CHECK (put_u32 (nlh, IFLA_MACVLAN_MODE, private_ ? MACVLAN_MODE_PRIVATE : MACVLAN_MODE_BRIDGE));
  mnl_attr_nest_end (nlh, data);
  mnl_attr_nest_end (nlh, info);
  return req_end (b, nlh);
}

int
rtnl_req_ipvlan_add (struct rtnl_batch *b, const char *name, int parent_ifindex, int nsfd,
                     unsigned mtu, bool private_)
{
  return vlan_child_add (b, "ipvlan", name, parent_ifindex, nsfd, mtu, NULL, private_);
}

int
rtnl_req_macvlan_add (struct rtnl_batch *b, const char *name, int parent_ifindex, int nsfd,
                      unsigned mtu, const unsigned char *mac, bool private_)
{
  return vlan_child_add (b, "macvlan", name, parent_ifindex, nsfd, mtu, mac, private_);
}

int
rtnl_req_link_up (struct rtnl_batch *b, int ifindex, const char *name)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_NEWLINK, 0, sizeof (struct ifinfomsg), "set `%s` up", name);
  struct ifinfomsg *ifi;

  if (nlh == NULL)
    return -ENOSPC;
  ifi = link_header (nlh);
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (ifindex <= 0)
    CHECK (put_str (nlh, IFLA_IFNAME, name));
  return req_end (b, nlh);
}

int
rtnl_req_link_down (struct rtnl_batch *b, int ifindex, const char *name, bool detach)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_NEWLINK, 0, sizeof (struct ifinfomsg), "set `%s` down", name);
  struct ifinfomsg *ifi;

  if (nlh == NULL)
    return -ENOSPC;
  ifi = link_header (nlh);
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = 0;
  ifi->ifi_change = IFF_UP;
  if (ifindex <= 0)
    CHECK (put_str (nlh, IFLA_IFNAME, name));
  if (detach)
    CHECK (put_u32 (nlh, IFLA_MASTER, 0));
  return req_end (b, nlh);
}

int
rtnl_req_addr_del (struct rtnl_batch *b, int ifindex, struct in_addr addr, unsigned prefix_len)
{
  char buf[INET_ADDRSTRLEN];
  struct nlmsghdr *nlh
      = req_begin (b, RTM_DELADDR, 0, sizeof (struct ifaddrmsg), "delete address %s/%u on link %d",
                   netns_ip_str (addr, buf), prefix_len, ifindex);
  struct ifaddrmsg *ifa;

  if (nlh == NULL)
    return -ENOSPC;
  ifa = mnl_nlmsg_get_payload (nlh);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)prefix_len;
  ifa->ifa_index = (unsigned)ifindex;
  CHECK (put_bytes (nlh, IFA_LOCAL, &addr, 4));
  return req_end (b, nlh);
}

int
rtnl_req_link_alias (struct rtnl_batch *b, const char *name, const char *alias)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_NEWLINK, 0, sizeof (struct ifinfomsg), "label `%s`", name);
  if (nlh == NULL)
    return -ENOSPC;
  link_header (nlh);
  CHECK (put_str (nlh, IFLA_IFNAME, name));
  CHECK (put_str (nlh, IFLA_IFALIAS, alias));
  return req_end (b, nlh);
}

int
rtnl_req_link_del (struct rtnl_batch *b, const char *name)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_DELLINK, 0, sizeof (struct ifinfomsg), "delete link `%s`", name);
  if (nlh == NULL)
    return -ENOSPC;
  link_header (nlh);
  CHECK (put_str (nlh, IFLA_IFNAME, name));
  return req_end (b, nlh);
}

int
rtnl_req_link_del_index (struct rtnl_batch *b, int ifindex)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_DELLINK, 0, sizeof (struct ifinfomsg), "delete link %d", ifindex);
  if (nlh == NULL)
    return -ENOSPC;
  link_header (nlh)->ifi_index = ifindex;
  return req_end (b, nlh);
}

int
rtnl_req_link_get (struct rtnl_batch *b, const char *name)
{
  struct nlmsghdr *nlh
      = req_begin (b, RTM_GETLINK, 0, sizeof (struct ifinfomsg), "look up link `%s`", name);
  if (nlh == NULL)
    return -ENOSPC;
  link_header (nlh);
  CHECK (put_str (nlh, IFLA_IFNAME, name));
  return req_end (b, nlh);
}

int
rtnl_req_addr_add (struct rtnl_batch *b, int ifindex, struct in_addr addr, unsigned prefix_len,
                   bool ensure)
{
  char buf[INET_ADDRSTRLEN];
  struct nlmsghdr *nlh
      = req_begin (b, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof (struct ifaddrmsg),
                   "add address %s/%u on link %d", netns_ip_str (addr, buf), prefix_len, ifindex);
  struct ifaddrmsg *ifa;

  if (nlh == NULL)
    return -ENOSPC;
  ifa = mnl_nlmsg_get_payload (nlh);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)prefix_len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = (unsigned)ifindex;
  CHECK (put_bytes (nlh, IFA_LOCAL, &addr, 4));
  CHECK (put_bytes (nlh, IFA_ADDRESS, &addr, 4));
  if (prefix_len <= 30)
    {
      struct in_addr brd = netns_ip_n (netns_ip_h (addr) | ~netns_prefix_mask (prefix_len));
      CHECK (put_bytes (nlh, IFA_BROADCAST, &brd, 4));
    }
  if (ensure)
    b->tolerate[b->n_ops] = EEXIST;
  return req_end (b, nlh);
}

int
rtnl_req_route_add (struct rtnl_batch *b, enum rtnl_route_kind kind, struct in_addr dst,
                    unsigned dst_len, struct in_addr gw, int oif)
{
  char d[INET_ADDRSTRLEN];
  struct nlmsghdr *nlh = req_begin (
      b, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof (struct rtmsg), "add %sroute %s/%u",
      kind == RTNL_ROUTE_BLACKHOLE ? "blackhole " : "", netns_ip_str (dst, d), dst_len);
  struct rtmsg *rtm;

  if (nlh == NULL)
    return -ENOSPC;
  rtm = mnl_nlmsg_get_payload (nlh);
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = (unsigned char)dst_len;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = kind == RTNL_ROUTE_LINK ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rtm->rtm_type = kind == RTNL_ROUTE_BLACKHOLE ? RTN_BLACKHOLE : RTN_UNICAST;
  if (dst_len > 0)
    CHECK (put_bytes (nlh, RTA_DST, &dst, 4));
  if (kind == RTNL_ROUTE_VIA)
    CHECK (put_bytes (nlh, RTA_GATEWAY, &gw, 4));
  if (kind != RTNL_ROUTE_BLACKHOLE)
    CHECK (put_u32 (nlh, RTA_OIF, (uint32_t)oif));
  return req_end (b, nlh);
}

int
rtnl_req_kind_probe (struct rtnl_batch *b, const char *kind)
{
  struct nlmsghdr *nlh = req_begin (b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                                    sizeof (struct ifinfomsg), "probe link kind %s", kind);
  struct nlattr *info;

  if (nlh == NULL)
    return -ENOSPC;
  link_header (nlh);
  CHECK (put_str (nlh, IFLA_IFNAME, "bthkindprobe"));
  CHECK ((info = mnl_attr_nest_start_check (nlh, REQ_ROOM, IFLA_LINKINFO)));
  CHECK (put_str (nlh, IFLA_INFO_KIND, kind));
  mnl_attr_nest_end (nlh, info);
  return req_end (b, nlh);
}

int
rtnl_req_nft_get (struct rtnl_batch *b, int msg, int family, const char *table, const char *set)
{
  struct nlmsghdr *nlh = req_begin (b, (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | msg), 0,
                                    sizeof (struct nfgenmsg), "look up nftables %s `%s%s%s`",
                                    set ? "set" : "table", table, set ? " " : "", set ? set : "");
  struct nfgenmsg *g;

  if (nlh == NULL)
    return -ENOSPC;
  g = mnl_nlmsg_get_payload (nlh);
  g->nfgen_family = (uint8_t)family;
  g->version = NFNETLINK_V0;
  if (set)
    {
      CHECK (put_str (nlh, NFTA_SET_TABLE, table));
      CHECK (put_str (nlh, NFTA_SET_NAME, set));
    }
  else
    CHECK (put_str (nlh, NFTA_TABLE_NAME, table));
  return req_end (b, nlh);
}

/* ------------------------------------------------------------------ replies */

struct attr_table
{
  const struct nlattr *tb[IFLA_MAX + 1 > IFA_MAX + 1 ? IFLA_MAX + 1 : IFA_MAX + 1];
  unsigned max;
};

static int
attr_collect (const struct nlattr *attr, void *data)
{
  struct attr_table *t = data;
  unsigned type = mnl_attr_get_type (attr);
  if (type <= t->max)
    t->tb[type] = attr;
  return MNL_CB_OK;
}

static bool
attr_string (const struct nlattr *a, char *buf, size_t len)
{
  size_t n;
  if (a == NULL)
    return false;
  n = mnl_attr_get_payload_len (a);
  if (n == 0)
    return false;
  const char *s = mnl_attr_get_payload (a);
  n = strnlen (s, n);
  if (n >= len)
    return false;
  memcpy (buf, s, n);
  buf[n] = '\0';
  return true;
}

int
rtnl_parse_link (const struct nlmsghdr *nlh, struct rtnl_link *ret)
{
  struct attr_table t = { .max = IFLA_MAX };
  const struct ifinfomsg *ifi;
  struct rtnl_link l = { 0 };

  if (mnl_nlmsg_get_payload_len (nlh) < sizeof *ifi)
    return -EBADMSG;
  ifi = mnl_nlmsg_get_payload (nlh);
  if (mnl_attr_parse (nlh, sizeof *ifi, attr_collect, &t) < 0)
    return -EBADMSG;
  l.ifindex = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  if (!attr_string (t.tb[IFLA_IFNAME], l.name, sizeof l.name))
    return -EBADMSG;
  if (t.tb[IFLA_ADDRESS] && mnl_attr_get_payload_len (t.tb[IFLA_ADDRESS]) == 6)
    {
      memcpy (l.mac, mnl_attr_get_payload (t.tb[IFLA_ADDRESS]), 6);
      l.has_mac = true;
    }
  if (t.tb[IFLA_MTU] && mnl_attr_validate (t.tb[IFLA_MTU], MNL_TYPE_U32) == 0)
    l.mtu = mnl_attr_get_u32 (t.tb[IFLA_MTU]);
  if (t.tb[IFLA_MASTER] && mnl_attr_validate (t.tb[IFLA_MASTER], MNL_TYPE_U32) == 0)
    l.master = (int)mnl_attr_get_u32 (t.tb[IFLA_MASTER]);
  (void)attr_string (t.tb[IFLA_IFALIAS], l.alias, sizeof l.alias);
  if (t.tb[IFLA_LINKINFO])
    {
      const struct nlattr *a;
      mnl_attr_for_each_nested (a, t.tb[IFLA_LINKINFO]) if (mnl_attr_get_type (a)
                                                            == IFLA_INFO_KIND) (void)
          attr_string (a, l.kind, sizeof l.kind);
    }
  *ret = l;
  return 0;
}

int
rtnl_parse_addr (const struct nlmsghdr *nlh, struct rtnl_addr *ret)
{
  struct attr_table t = { .max = IFA_MAX };
  const struct ifaddrmsg *ifa;
  const struct nlattr *a;

  if (mnl_nlmsg_get_payload_len (nlh) < sizeof *ifa)
    return -EBADMSG;
  ifa = mnl_nlmsg_get_payload (nlh);
  if (ifa->ifa_family != AF_INET || ifa->ifa_prefixlen > 32)
    return -EAFNOSUPPORT;
  if (mnl_attr_parse (nlh, sizeof *ifa, attr_collect, &t) < 0)
    return -EBADMSG;
  a = t.tb[IFA_LOCAL] ? t.tb[IFA_LOCAL] : t.tb[IFA_ADDRESS];
  if (a == NULL || mnl_attr_get_payload_len (a) != 4)
    return -EBADMSG;
  ret->ifindex = (int)ifa->ifa_index;
  ret->prefix_len = ifa->ifa_prefixlen;
  memcpy (&ret->addr, mnl_attr_get_payload (a), 4);
  return 0;
}

static int
extack_cb (const struct nlattr *attr, void *data)
{
  const char **msg = data;
  if (mnl_attr_get_type (attr) == NLMSGERR_ATTR_MSG
      && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) == 0)
    *msg = mnl_attr_get_str (attr);
  return MNL_CB_OK;
}

static ssize_t
op_index (const struct rtnl_batch *b, uint32_t seq)
{
  for (size_t i = 0; b && i < b->n_ops; i++)
    if (b->ops[i].seq == seq)
      return (ssize_t)i;
  return -1;
}

/* A kernel error field as a positive errno; INT_MIN (which no kernel sends) cannot be negated. */
static int
errno_of (int e)
{
  if (e == INT32_MIN)
    return EPROTO;
  return e < 0 ? -e : e;
}

/* The next whole message of a received buffer, or NULL. Not mnl_nlmsg_ok(): it compares
 * (int) nlmsg_len with the length left, so a length of 2^31 or more passes and the walk
 * jumps out of the buffer (found by fuzz-netns-netlink). */
static const struct nlmsghdr *
msg_next (const char **p, size_t *left)
{
  const struct nlmsghdr *nlh = (const void *)*p;
  size_t step;

  if (*left < sizeof *nlh || nlh->nlmsg_len < sizeof *nlh || nlh->nlmsg_len > *left)
    return NULL;
  step = NLMSG_ALIGN ((size_t)nlh->nlmsg_len);
  if (step > *left)
    step = *left;
  *p += step;
  *left -= step;
  return nlh;
}

int
rtnl_process (const void *buf, size_t len, struct rtnl_batch *b, bool *acked, uint32_t dump_seq,
              rtnl_msg_cb cb, void *data, bool *done, berth_err *err)
{
  const char *p = buf;
  size_t left = len;
  int ret = 0;

  for (const struct nlmsghdr *nlh; (nlh = msg_next (&p, &left)) != NULL;)
    {
      ssize_t op = b ? op_index (b, nlh->nlmsg_seq) : -1;
      bool ours = b ? op >= 0 : nlh->nlmsg_seq == dump_seq;

      if (!ours)
        continue; /* a late reply to an earlier request on this socket */
      if (nlh->nlmsg_type == NLMSG_ERROR)
        {
          const struct nlmsgerr *e;
          const char *ext = NULL;
          int code;

          if (mnl_nlmsg_get_payload_len (nlh) < sizeof *e)
            return berth_err_set (err, EBADMSG, "short netlink error message");
          e = mnl_nlmsg_get_payload (nlh);
          code = errno_of (e->error);
          if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
            {
              /* With NETLINK_CAP_ACK only the request's header follows the error, unless
               * the kernel says otherwise (NLM_F_CAPPED). */
              size_t off = sizeof *e;
              if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                off = sizeof (e->error) + NLMSG_ALIGN (e->msg.nlmsg_len);
              if (off <= mnl_nlmsg_get_payload_len (nlh))
                (void)mnl_attr_parse (nlh, (unsigned)off, extack_cb, &ext);
            }
          if (b == NULL)
            {
              *done = true;
              if (code != 0)
                return berth_err_set (err, code, "netlink dump%s%s", ext ? ": " : "",
                                      ext ? ext : "");
              continue;
            }
          acked[op] = true;
          if (code != 0 && code != b->tolerate[op] && ret == 0)
            {
              if (ext && *ext)
                ret = berth_err_set (err, code, "%s: %s", b->ops[op].what, ext);
              else
                ret = berth_err_set (err, code, "%s", b->ops[op].what);
            }
          continue;
        }
      if (nlh->nlmsg_type == NLMSG_DONE)
        {
          if (b == NULL)
            {
              *done = true;
              if (mnl_nlmsg_get_payload_len (nlh) >= sizeof (int))
                {
                  int code;
                  memcpy (&code, mnl_nlmsg_get_payload (nlh), sizeof code);
                  if (code < 0)
                    return berth_err_set (err, errno_of (code), "netlink dump");
                }
            }
          continue;
        }
      if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
        continue;
      if (cb && ret == 0)
        {
          int r = cb (nlh, data);
          if (r < 0)
            ret = r;
        }
    }
  if (b)
    {
      bool all = true;
      for (size_t i = 0; i < b->n_ops; i++)
        all = all && acked[i];
      *done = all;
    }
  return ret;
}

int
rtnl_talk (struct rtnl *r, struct rtnl_batch *b, rtnl_msg_cb cb, void *data, berth_err *err)
{
  cleanup_free char *rbuf = NULL;
  bool acked[RTNL_BATCH_MAX_OPS] = { false };
  bool done = false;
  size_t off = 0;
  int ret = 0;

  if (b->n_ops == 0)
    return 0;
  for (size_t i = 0; i < b->n_ops; i++)
    {
      struct nlmsghdr *nlh = (struct nlmsghdr *)(b->buf + off);
      nlh->nlmsg_seq = b->ops[i].seq = ++r->seq;
      off += NLMSG_ALIGN (nlh->nlmsg_len);
    }
  if (mnl_socket_sendto (r->nl, b->buf, b->len) < 0)
    return berth_err_set (err, errno, "%s: send", b->ops[0].what);
  rbuf = xmalloc (RECV_BUF);
  while (!done)
    {
      cleanup_err berth_err e = NULL;
      ssize_t n = mnl_socket_recvfrom (r->nl, rbuf, RECV_BUF);
      int rr;

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_err_set (err, errno, "%s: receive", b->ops[0].what);
        }
      rr = rtnl_process (rbuf, (size_t)n, b, acked, 0, cb, data, &done, &e);
      if (rr < 0 && ret == 0)
        {
          ret = rr;
          netns_err_move (err, &e);
        }
    }
  return ret;
}

int
rtnl_dump (struct rtnl *r, int type, int family, rtnl_msg_cb cb, void *data, berth_err *err)
{
  char req[NLMSG_HDRLEN + NLMSG_ALIGN (sizeof (struct rtgenmsg)) + 64];
  cleanup_free char *rbuf = NULL;
  struct nlmsghdr *nlh;
  bool done = false;
  int ret = 0;

  memset (req, 0, sizeof req);
  nlh = mnl_nlmsg_put_header (req);
  nlh->nlmsg_type = (uint16_t)type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++r->seq;
  /* RTM_GETLINK and RTM_GETADDR dumps both start with a struct whose first byte is the
   * family; ifinfomsg is the larger of the two, and the kernel reads only what it needs. */
  {
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header (nlh, sizeof *ifi);
    ifi->ifi_family = (unsigned char)family;
  }
  if (mnl_socket_sendto (r->nl, nlh, nlh->nlmsg_len) < 0)
    return berth_err_set (err, errno, "netlink dump: send");
  rbuf = xmalloc (RECV_BUF);
  while (!done)
    {
      cleanup_err berth_err e = NULL;
      ssize_t n = mnl_socket_recvfrom (r->nl, rbuf, RECV_BUF);
      int rr;

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_err_set (err, errno, "netlink dump: receive");
        }
      rr = rtnl_process (rbuf, (size_t)n, NULL, NULL, nlh->nlmsg_seq, cb, data, &done, &e);
      if (rr < 0 && ret == 0)
        {
          ret = rr;
          netns_err_move (err, &e);
        }
    }
  return ret;
}

int
rtnl_link_found_cb (const struct nlmsghdr *nlh, void *data)
{
  struct rtnl_link_found *f = data;
  if (nlh->nlmsg_type == RTM_NEWLINK && rtnl_parse_link (nlh, &f->link) == 0)
    f->found = true;
  return 0;
}

int
rtnl_link_lookup (struct rtnl *r, const char *name, struct rtnl_link *ret, berth_err *err)
{
  struct rtnl_batch b;
  struct rtnl_link_found f = { .found = false };
  int rc;

  rtnl_batch_init (&b);
  if (rtnl_req_link_get (&b, name) < 0)
    return berth_err_set (err, ENOSPC, "netlink batch");
  b.tolerate[0] = ENODEV;
  rc = rtnl_talk (r, &b, rtnl_link_found_cb, &f, err);
  if (rc < 0)
    return rc;
  if (!f.found)
    return -ENODEV;
  *ret = f.link;
  return 0;
}
