/* netns: berth's task networking, the one header the rest of berth includes.
 * Every task gets a named network namespace, its own IPv4 address from a pool, per-task
 * resolv.conf/hosts/hostname, and isolation from other tasks unless allowed (awsvpc style). */
#ifndef BERTH_NETNS_H
#define BERTH_NETNS_H

#include "common/common.h"

#include <netinet/in.h>

/* ------------------------------------------------------------------ host configuration
 * From berthd's KEY=VALUE configuration (keys NET_*, see docs/netns.md). Fill a config with
 * netns_config_init() and netns_config_set(), or directly; netns_config_validate() checks it
 * against this host before anything is built. */

enum netns_topology
{
  NETNS_TOPOLOGY_BRIDGE = 0, /* veth into a berth bridge holding the gateway address */
  NETNS_TOPOLOGY_PTP,        /* veth, routed /32 point-to-point (the CNI ptp pattern) */
  NETNS_TOPOLOGY_IPVLAN,     /* ipvlan L2 on a host NIC: real lab addresses */
  NETNS_TOPOLOGY_MACVLAN,    /* macvlan on a host NIC: real lab addresses */
};

/* For settings whose default depends on the topology. */
#define NETNS_AUTO (-1)

struct netns_pool
{
  struct in_addr subnet; /* network address; host byte order never appears in the API */
  unsigned prefix_len;   /* 1..30 */
  struct in_addr gateway;
  struct in_addr first, last; /* inclusive allocation range inside subnet */
};

struct netns_config
{
  char *name;                   /* NET_NAME: names the IPAM directory (default "berth") */
  enum netns_topology topology; /* NET_MODE: bridge|ptp|ipvlan|macvlan (default bridge) */
  char *bridge;                 /* NET_BRIDGE: bridge name (default "berth0") */
  char *host_nic;               /* NET_HOST_NIC: parent for ipvlan/macvlan */
  struct netns_pool *pools;     /* NET_POOLS */
  size_t n_pools;
  unsigned mtu;           /* NET_MTU: 0 = 1500, or the host NIC's for ipvlan/macvlan */
  int nat;                /* NET_NAT: NETNS_AUTO = on for bridge/ptp */
  bool isolate;           /* NET_ISOLATE: tasks cannot reach each other (default on) */
  bool block_metadata;    /* NET_BLOCK_METADATA: blackhole 169.254.169.254 (default on) */
  int task_endpoint;      /* NET_TASK_ENDPOINT: route 169.254.170.2 (AUTO = on for
                             bridge/ptp) */
  char *netns_dir;        /* NET_NETNS_DIR: netns bind mounts (/run/berth/netns) */
  char *files_dir;        /* NET_FILES_DIR: per-task DNS files (/run/berth/network) */
  char *state_dir;        /* NET_STATE_DIR: leases and records (/var/lib/berth/ipam) */
  char *host_resolv_conf; /* NET_HOST_RESOLV_CONF (/etc/resolv.conf) */
  char *host_hosts;       /* NET_HOST_HOSTS: host-mode tasks start from it (/etc/hosts) */
  char *nft_table;        /* NET_NFT_TABLE: berth's own nftables tables ("berth") */

  /* Called between the steps of a setup with the step's name ("record", "lease", "netns",
   * "link", "address", "firewall", "files", "ready"); the CLI's --stop-at uses it to stop
   * at a known point so the tests can kill -9 there. Not set from KEY=VALUE. */
  void (*step_hook) (const char *step, void *userdata);
  void *step_hook_data;
};

/* Defaults; free with netns_config_free(). */
void netns_config_init (struct netns_config *cfg);
void netns_config_free (struct netns_config *cfg);
/* One KEY=VALUE setting. An empty value restores the default. Unknown NET_* keys and bad
 * values are errors naming the key. */
int netns_config_set (struct netns_config *cfg, const char *key, const char *value, berth_err *err);
/* Reads a KEY=VALUE file ('#' comments, blank lines). Only NET_* keys are taken: the rest
 * belongs to other parts of berthd. */
int netns_config_load_file (struct netns_config *cfg, const char *path, berth_err *err);
/* The NET_* keys this module understands, NULL-terminated. */
const char *const *netns_config_keys (void);
/* Checks the configuration and this host: overlapping pools, gateway outside its pool,
 * a pool overlapping an address already on a host interface, missing host NIC, a topology
 * the kernel lacks, settings that cannot be honoured together. Builds nothing. */
int netns_config_validate (const struct netns_config *cfg, berth_err *err);

/* ------------------------------------------------------------------ the host side
 * A prepared host: validated configuration, directories, bridge with gateway addresses,
 * IPv4 forwarding, berth's nftables tables. Open once (berthd: at start). Every function
 * below may be called from several threads at once on the same netns_host (each call uses
 * its own netlink sockets and locks); the calling thread's network namespace is restored
 * before a call returns. */

struct netns_host;

int netns_host_open (const struct netns_config *cfg, struct netns_host **ret, berth_err *err);
void netns_host_close (struct netns_host *h);

/* ------------------------------------------------------------------ tasks
 * err may be NULL in the calls below; the return value still says what happened
 * (-EEXIST from netns_task_setup, -ENOENT from netns_task_get). */


enum netns_task_mode
{
  NETNS_MODE_AWSVPC = 0, /* own netns and address */
  NETNS_MODE_HOST,       /* the host's network namespace */
  NETNS_MODE_NONE,       /* own netns with only lo */
};

struct netns_extra_host
{
  const char *hostname;
  const char *address; /* IPv4 or IPv6 */
};

/* What the task asks for (networkMode, hostname, dnsServers, dnsSearchDomains, extraHosts). */
struct netns_task_spec
{
  const char *task_id; /* [A-Za-z0-9][A-Za-z0-9_.-]*, at most NETNS_TASK_ID_MAX */
  enum netns_task_mode mode;
  const char *hostname;     /* NULL: ip-A-B-C-D (awsvpc), the host's (host), task id */
  char *const *dns_servers; /* NULL or empty: from the host's resolv.conf */
  char *const *dns_search;  /* NULL: from the host's resolv.conf */
  const struct netns_extra_host *extra_hosts;
  size_t n_extra_hosts;
  bool reach_tasks; /* may reach (and be reached by) other tasks that also allow it */
};

#define NETNS_TASK_ID_MAX 128

/* A task network as built (or as found on disk and in the kernel). */
struct netns_task_net
{
  char *task_id;
  enum netns_task_mode mode;
  bool complete;    /* false: a setup was interrupted; tear it down */
  char *netns_path; /* for OCI linux.namespaces[].path; NULL in host mode */
  char *ifname;     /* "eth0" in awsvpc mode, else NULL */
  bool has_address;
  struct in_addr address;
  unsigned prefix_len;
  struct in_addr gateway;
  unsigned char mac[6];
  unsigned mtu;
  char *host_ifname; /* bridge/ptp: the host end of the veth; else NULL */
  bool reach_tasks;
  char *hostname;
  /* Bind-mount these read-only at /etc/resolv.conf, /etc/hosts, /etc/hostname. */
  char *resolv_conf_path;
  char *hosts_path;
  char *hostname_path;
};

void netns_task_net_free (struct netns_task_net *n);
#define cleanup_task_net __attribute__ ((cleanup (netns_task_net_freep)))
void netns_task_net_freep (struct netns_task_net **n);

/* Builds the task's network. Fails with EEXIST when the task already has one (use
 * netns_task_get to adopt it); on any failure nothing of it is left behind. */
int netns_task_setup (struct netns_host *h, const struct netns_task_spec *spec,
                      struct netns_task_net **ret, berth_err *err);
/* Removes everything the task's network holds: firewall set elements, links, netns, files,
 * lease (released only if it still names this task), record. Idempotent: returns 1 when
 * something was removed, 0 when there was nothing. */
int netns_task_teardown (struct netns_host *h, const char *task_id, berth_err *err);
/* Reads the task's record and checks the kernel: complete is false if the setup never
 * finished or its namespace or link is gone (after a reboot). -ENOENT: no such task. */
int netns_task_get (struct netns_host *h, const char *task_id, struct netns_task_net **ret,
                    berth_err *err);
/* Task ids with a record, sorted. */
int netns_task_list (struct netns_host *h, char ***ret_ids, berth_err *err);

struct netns_reconcile_report
{
  size_t tasks;   /* records of dead tasks torn down */
  size_t leases;  /* leases freed whose task is gone (or empty: creator killed) */
  size_t netns;   /* netns bind mounts without a task */
  size_t files;   /* per-task file directories without a task */
  size_t links;   /* host links labelled for a dead task */
  size_t scratch; /* interrupted record writes */
};

/* After a crash: removes everything held for tasks not in live_task_ids (NULL-terminated).
 * Call only once every task source has reported: an address a live task holds is never
 * freed, so a task missing from the list would lose its network. Waits for setups in
 * progress in other processes to finish. Firewall sets are rebuilt from live records. */
int netns_reconcile (struct netns_host *h, char *const *live_task_ids,
                     struct netns_reconcile_report *ret, berth_err *err);

const char *netns_topology_name (enum netns_topology t);
const char *netns_mode_name (enum netns_task_mode m);
int netns_mode_parse (const char *s, enum netns_task_mode *ret);
/* JSON of a task network, as `berth network inspect` prints it. */
json_object *netns_task_net_to_json (const struct netns_task_net *n);

#endif
