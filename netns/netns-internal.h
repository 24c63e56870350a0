/* netns internals shared between the module's files and its unit tests: rtnetlink over
 * libmnl, named namespaces, IPAM leases, task records, DNS files and the nftables tables.
 * Nothing outside netns/ and tests/{unit,fuzz}/netns/ includes this header. */
#ifndef BERTH_NETNS_INTERNAL_H
#define BERTH_NETNS_INTERNAL_H

#include "netns/netns.h"

#include <linux/netlink.h>
#include <net/if.h>
#include <pthread.h>

#define NETNS_IFNAME "eth0"
/* Host ends of task veths: "bth" + 12 hex digits of a hash of network and task id; the
 * nftables rules match the prefix, so the kernel objects of a task are found by name. */
#define NETNS_HOST_IF_PREFIX     "bth"
#define NETNS_TASK_ENDPOINT_ADDR "169.254.170.2"
#define NETNS_METADATA_ADDR      "169.254.169.254"
#define NETNS_DEFAULT_MTU        1500

/* berth_err_move into an error the caller may have passed as NULL (the public functions
 * accept err == NULL: the caller then only gets the return value). */
static inline void
netns_err_move (berth_err *dst, berth_err *src)
{
  if (dst)
    berth_err_move (dst, src);
  else
    berth_err_free (src);
}

/* ------------------------------------------------------------------ addresses */

static inline uint32_t
netns_ip_h (struct in_addr a)
{
  return ntohl (a.s_addr);
}

static inline struct in_addr
netns_ip_n (uint32_t host_order)
{
  struct in_addr a = { .s_addr = htonl (host_order) };
  return a;
}

static inline uint32_t
netns_prefix_mask (unsigned prefix_len)
{
  return prefix_len == 0 ? 0 : 0xffffffffu << (32 - prefix_len);
}

/* "a.b.c.d" into buf (INET_ADDRSTRLEN). */
const char *netns_ip_str (struct in_addr a, char *buf);
/* Strict dotted quad: exactly four decimal octets, no leading zeros beyond "0". */
int netns_ip_parse (const char *s, struct in_addr *ret);
/* "a.b.c.d/len". */
int netns_cidr_parse (const char *s, struct in_addr *ret_addr, unsigned *ret_len);
bool netns_pool_contains (const struct netns_pool *p, struct in_addr a);
/* The address the pool may hand out (inside the range, not network, broadcast, gateway). */
bool netns_pool_usable (const struct netns_pool *p, struct in_addr a);
/* Pools in NET_POOLS syntax: "CIDR[,gateway=IP][,range=FIRST-LAST]" separated by spaces. */
int netns_pools_parse (const char *value, struct netns_pool **ret, size_t *ret_n, berth_err *err);
/* KEY=VALUE text as netns_config_load_file reads it (what names it in errors). */
int netns_config_parse_text (struct netns_config *cfg, const char *text, size_t len,
                             const char *what, berth_err *err);
/* Checks that do not need the host: pool shapes, overlaps, names, combinations. */

int netns_config_check (const struct netns_config *cfg, berth_err *err);
bool netns_task_id_valid (const char *id);
bool netns_hostname_valid (const char *name);
bool netns_ifname_valid (const char *name);
/* 64-bit FNV-1a, for link names derived from task ids. */
uint64_t netns_hash (const char *a, const char *b);
/* "bth" + 12 hex digits. buf >= IFNAMSIZ. */
void netns_host_ifname (const char *network, const char *task_id, char *buf);
/* Locally administered MAC derived from the address: 02:62:a:b:c:d. */
void netns_mac_from_ip (struct in_addr a, unsigned char mac[6]);
int netns_unsigned_mtu (const char *s, unsigned *ret);

/* ------------------------------------------------------------------ rtnetlink (rtnl.c)
 * One request builder per operation appends to a batch; rtnl_talk sends the batch in one
 * sendmsg and waits for every acknowledgement, so one round trip does several operations.
 * The first failure is reported with what the failed request was doing. */

struct mnl_socket;

struct rtnl
{
  struct mnl_socket *nl;
  unsigned portid;
  uint32_t seq;
};

#define RTNL_BATCH_MAX_OPS 16
#define RTNL_BATCH_SIZE    8192

struct rtnl_batch
{
  char buf[RTNL_BATCH_SIZE];
  size_t len;
  size_t n_ops;
  struct
  {
    uint32_t seq;
    char what[112];
  } ops[RTNL_BATCH_MAX_OPS];
  /* errno values that count as success for an op (EEXIST for "ensure" requests). */
  int tolerate[RTNL_BATCH_MAX_OPS];
};

struct rtnl_link
{
  int ifindex;
  char name[IFNAMSIZ];
  unsigned char mac[6];
  bool has_mac;
  unsigned mtu;
  unsigned flags;
  int master;
  char alias[128];
  char kind[16];
};

struct rtnl_addr
{
  int ifindex;
  struct in_addr addr;
  unsigned prefix_len;
};

/* Called for every object message (RTM_NEWLINK, RTM_NEWADDR...) a batch or dump receives. */
typedef int (*rtnl_msg_cb) (const struct nlmsghdr *nlh, void *data);

int rtnl_open (struct rtnl *r, berth_err *err) BERTH_WUR;
/* Any netlink bus (NETLINK_NETFILTER for the nftables probe). */
int nl_open (struct rtnl *r, int bus, berth_err *err) BERTH_WUR;
/* Opens the socket inside the namespace nsfd, then returns the thread to back_nsfd. */
int rtnl_open_in (struct rtnl *r, int nsfd, int back_nsfd, berth_err *err) BERTH_WUR;
void rtnl_close (struct rtnl *r);

void rtnl_batch_init (struct rtnl_batch *b);
int rtnl_talk (struct rtnl *r, struct rtnl_batch *b, rtnl_msg_cb cb, void *data,
               berth_err *err) BERTH_WUR;
int rtnl_dump (struct rtnl *r, int type, int family, rtnl_msg_cb cb, void *data,
               berth_err *err) BERTH_WUR;

/* Request builders. Each returns 0, or -ENOSPC when the batch is full (a programming error
 * reported as such). */
int rtnl_req_bridge_add (struct rtnl_batch *b, const char *name, unsigned mtu,
                         const unsigned char *mac) BERTH_WUR;
/* Options berth wants on its bridge (multicast snooping off), on an existing bridge. */
int rtnl_req_bridge_tune (struct rtnl_batch *b, int ifindex, const char *name) BERTH_WUR;
/* Host end host_name (down, mtu, enslaved to master_ifindex if > 0) and peer peer_name created
 * directly in the namespace peer_nsfd with peer_mac (down: set it up from inside). */
int rtnl_req_veth_add (struct rtnl_batch *b, const char *host_name, unsigned mtu,
                       int master_ifindex, const char *peer_name, int peer_nsfd,
                       const unsigned char *peer_mac) BERTH_WUR;
/* ipvlan (L2) or macvlan child of parent_ifindex, created in nsfd as name. private: the
 * children cannot reach each other (ipvlan "private" flag, macvlan private mode). */
int rtnl_req_ipvlan_add (struct rtnl_batch *b, const char *name, int parent_ifindex, int nsfd,
                         unsigned mtu, bool private_) BERTH_WUR;
int rtnl_req_macvlan_add (struct rtnl_batch *b, const char *name, int parent_ifindex, int nsfd,
                          unsigned mtu, const unsigned char *mac, bool private_) BERTH_WUR;
/* By index, or by name when ifindex <= 0. */
int rtnl_req_link_up (struct rtnl_batch *b, int ifindex, const char *name) BERTH_WUR;
/* By index, or by name when ifindex <= 0; detach: also leave the master (bridge). */
int rtnl_req_link_down (struct rtnl_batch *b, int ifindex, const char *name, bool detach) BERTH_WUR;
int rtnl_req_addr_del (struct rtnl_batch *b, int ifindex, struct in_addr addr,
                       unsigned prefix_len) BERTH_WUR;
int rtnl_req_link_alias (struct rtnl_batch *b, const char *name, const char *alias) BERTH_WUR;
int rtnl_req_link_del (struct rtnl_batch *b, const char *name) BERTH_WUR;
int rtnl_req_link_del_index (struct rtnl_batch *b, int ifindex) BERTH_WUR;
int rtnl_req_link_get (struct rtnl_batch *b, const char *name) BERTH_WUR;
int rtnl_req_addr_add (struct rtnl_batch *b, int ifindex, struct in_addr addr, unsigned prefix_len,
                       bool ensure) BERTH_WUR;
/* Kinds of route a task or host needs. */
enum rtnl_route_kind
{
  RTNL_ROUTE_VIA,       /* dst/len via gw dev oif */
  RTNL_ROUTE_LINK,      /* dst/len dev oif scope link */
  RTNL_ROUTE_BLACKHOLE, /* blackhole dst/len */
};
int rtnl_req_route_add (struct rtnl_batch *b, enum rtnl_route_kind kind, struct in_addr dst,
                        unsigned dst_len, struct in_addr gw, int oif) BERTH_WUR;
/* A new link of this kind without a parent: EINVAL if the kernel has the kind, EOPNOTSUPP
 * if not. Creates nothing. */
int rtnl_req_kind_probe (struct rtnl_batch *b, const char *kind) BERTH_WUR;
/* nfnetlink NFT_MSG_GETTABLE (set NULL) or NFT_MSG_GETSET; ENOENT when absent. */
int rtnl_req_nft_get (struct rtnl_batch *b, int msg, int family, const char *table,
                      const char *set) BERTH_WUR;

/* One link looked up by name: 0 and *ret filled, or -ENODEV (no error set) when absent. */
int rtnl_link_lookup (struct rtnl *r, const char *name, struct rtnl_link *ret,
                      berth_err *err) BERTH_WUR;
/* A callback collecting the link a request answered with. */
struct rtnl_link_found
{
  struct rtnl_link link;
  bool found;
};
int rtnl_link_found_cb (const struct nlmsghdr *nlh, void *data);

/* Parsers for replies. Return 0, or -EBADMSG on a malformed message. */
int rtnl_parse_link (const struct nlmsghdr *nlh, struct rtnl_link *ret);
int rtnl_parse_addr (const struct nlmsghdr *nlh, struct rtnl_addr *ret);
/* Walks one received buffer: dispatches objects to cb, records acknowledgements and errors
 * of the batch's ops. Exposed for the fuzz target. done is set when every op is answered
 * (batch) or NLMSG_DONE arrives (dump, b == NULL). */
int rtnl_process (const void *buf, size_t len, struct rtnl_batch *b, bool *acked, uint32_t dump_seq,
                  rtnl_msg_cb cb, void *data, bool *done, berth_err *err);

/* ------------------------------------------------------------------ namespaces (nsfs.c) */

/* Creates a network namespace bound at path (created O_EXCL) and returns an fd to it and a
 * netlink socket inside it; the thread is back in back_nsfd when it returns. */
#define NSFS_NO_IPV6 1u /* links made in the namespace get no IPv6 (lo keeps ::1) */
int nsfs_create (const char *path, int back_nsfd, unsigned flags, int *ret_nsfd,
                 struct rtnl *ret_rtnl, berth_err *err) BERTH_WUR;
/* Opens a bound namespace; -ENOENT if path is absent, -EINVAL if not an nsfs mount. */
int nsfs_open (const char *path, int *ret_nsfd, berth_err *err) BERTH_WUR;
/* Unmounts and unlinks; 1 if something was there, 0 if not. */
int nsfs_remove (const char *path, berth_err *err) BERTH_WUR;
/* Makes dir a shared mount (bind onto itself first if it is not a mount point), as
 * iproute2 does for /run/netns, so removing a bind mount reaches mount namespaces cloned
 * after it was made. */
int nsfs_prepare_dir (const char *dir, berth_err *err) BERTH_WUR;
bool nsfs_is_bound (const char *path);

/* ------------------------------------------------------------------ IPAM (ipam.c)
 * One file per leased address, named by the address, holding the task id: created with
 * O_EXCL, so two setups never share an address; released only if it still names the task. */

int ipam_lease_acquire (int dirfd, const struct netns_pool *pools, size_t n_pools,
                        const char *task_id, const struct netns_config *cfg,
                        struct in_addr *ret_addr, size_t *ret_pool, berth_err *err) BERTH_WUR;
/* 1 released, 0 absent or held by another task. */
int ipam_lease_release (int dirfd, struct in_addr addr, const char *task_id,
                        berth_err *err) BERTH_WUR;
/* Task named by a lease file; *ret NULL when empty or unreadable garbage (a killed
 * creator). -ENOENT if absent. */
int ipam_lease_owner (int dirfd, const char *name, char **ret, berth_err *err) BERTH_WUR;
/* Every lease naming task_id (after a crash before the record named its address). */
int ipam_lease_find (int dirfd, const char *task_id, struct in_addr **ret, size_t *ret_n,
                     berth_err *err) BERTH_WUR;
bool ipam_is_lease_name (const char *name);

/* ------------------------------------------------------------------ task records (record.c)
 * <state>/<network>/tasks/<task>.json: written before anything is built (intent), then
 * completed. Crash-safe without fsync: see docs/netns.md (a record only describes kernel
 * objects, which do not outlive the machine). */

struct netns_record
{
  char *task_id;
  enum netns_task_mode mode;
  enum netns_topology topology;
  bool complete;
  bool has_address;
  struct in_addr address;
  unsigned prefix_len;
  struct in_addr gateway;
  unsigned char mac[6];
  unsigned mtu;
  bool reach_tasks;
  char *hostname;
};

void netns_record_clear (struct netns_record *r);
json_object *netns_record_to_json (const struct netns_record *r);
int netns_record_from_json (json_object *o, struct netns_record *ret, berth_err *err);
/* Parses a record document (fuzzed). */
int netns_record_parse (const char *text, size_t len, struct netns_record *ret, berth_err *err);
/* Creates the record and returns it open and locked (flock) for the setup's duration;
 * -EEXIST when the task has one. */
int netns_record_create (int tasks_dirfd, const struct netns_record *r, int *ret_fd,
                         berth_err *err) BERTH_WUR;
/* Rewrites the record behind a locked fd. */
int netns_record_update (int fd, const struct netns_record *r, berth_err *err) BERTH_WUR;
/* Opens and locks a task's record, waiting for a setup or teardown holding it; -ENOENT when
 * absent (or removed by the teardown waited for). */
int netns_record_open_locked (int tasks_dirfd, const char *task_id, int *ret_fd,
                              berth_err *err) BERTH_WUR;
int netns_record_read_fd (int fd, const char *task_id, struct netns_record *ret,
                          berth_err *err) BERTH_WUR;
/* Unlocked read (get, list, reconcile under the network lock). -ENOENT when absent. */
int netns_record_load (int tasks_dirfd, const char *task_id, struct netns_record *ret,
                       berth_err *err) BERTH_WUR;
int netns_record_remove (int tasks_dirfd, const char *task_id, berth_err *err) BERTH_WUR;

/* ------------------------------------------------------------------ DNS files (dns.c) */

struct netns_resolv
{
  char **nameservers; /* textual addresses */
  char **search;
  char **options;
};

void netns_resolv_clear (struct netns_resolv *r);
/* resolv.conf(5) as glibc reads it: nameserver, search, domain, options; everything else
 * ignored as glibc does. Never fails on content; only on absurd sizes. */
int netns_resolv_parse (const char *text, size_t len, struct netns_resolv *ret, berth_err *err);
bool netns_addr_is_loopback (const char *addr);
/* The task's resolv.conf: task servers/search when given, else the host's with loopback
 * nameservers dropped (a task in its own netns cannot reach the host's 127.0.0.53) unless
 * keep_loopback (host mode). */
char *netns_resolv_render (const struct netns_resolv *host, char *const *servers,
                           char *const *search, bool keep_loopback);
int netns_dns_spec_check (const struct netns_task_spec *spec, berth_err *err);
char *netns_hosts_render (const char *base, const char *hostname, const struct in_addr *addr,
                          const struct netns_extra_host *extra, size_t n_extra);

/* ------------------------------------------------------------------ nftables (nft.c) */

struct nft_ctx;

/* Text of berth's tables for this configuration (tested without the kernel). open_addrs and
 * open_ports seed the sets (NULL-terminated). */
char *netns_nft_ruleset (const struct netns_config *cfg, uint64_t cfg_hash, char *const *open_addrs,
                         char *const *open_ports);
uint64_t netns_nft_config_hash (const struct netns_config *cfg);
int netns_nft_run (struct nft_ctx *ctx, const char *cmd, berth_err *err) BERTH_WUR;
/* 1 when the tables for this configuration hash are in place (one netlink round trip). */
int netns_nft_tables_current (const struct netns_config *cfg, uint64_t cfg_hash,
                              berth_err *err) BERTH_WUR;

/* ------------------------------------------------------------------ the host object */

struct netns_host
{
  struct netns_config cfg; /* deep copy, nat and task_endpoint resolved to 0/1 */
  int host_nsfd;           /* the namespace netns_host_open ran in */
  int state_dirfd;         /* <state>/<network> */
  int tasks_dirfd;         /* <state>/<network>/tasks */
  int netns_dirfd;
  int files_dirfd;
  int bridge_ifindex;
  int nic_ifindex;
  unsigned mtu;
  bool use_nft; /* bridge and ptp: berth's tables are in place */
  pthread_mutex_t nft_lock;
  struct nft_ctx *nft;
};

void netns_config_copy (struct netns_config *dst, const struct netns_config *src);

#endif
