/* Task networks end to end: preparing the host (bridge, forwarding, nftables), setting up a
 * task (record, lease, netns, links, addresses and routes, firewall sets, DNS files),
 * tearing it down idempotently, inspecting it, and reconciling after a crash. */
#include "netns-internal.h"

#include <ctype.h>
#include <dirent.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/file.h>

#define LOCK_NAME         ".lock"
#define RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"

static void
step (struct netns_host *h, const char *name)
{
  if (h->cfg.step_hook)
    h->cfg.step_hook (name, h->cfg.step_hook_data);
}

static bool
is_vlan (const struct netns_host *h)
{
  return h->cfg.topology == NETNS_TOPOLOGY_IPVLAN || h->cfg.topology == NETNS_TOPOLOGY_MACVLAN;
}

/* ------------------------------------------------------------------ locks
 * <state>/<network>/.lock: setups and teardowns hold it shared, reconcile and host
 * preparation exclusive, so reconcile never sees a setup half-way from a live process. A
 * killed process's lock goes with it. */

static int
net_lock (struct netns_host *h, int op, int *ret_fd, berth_err *err)
{
  cleanup_close int fd
      = openat (h->state_dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s/%s/" LOCK_NAME "`", h->cfg.state_dir, h->cfg.name);
  while (flock (fd, op) < 0)
    if (errno != EINTR)
      return berth_err_set (err, errno, "lock `%s/%s/" LOCK_NAME "`", h->cfg.state_dir,
                            h->cfg.name);
  *ret_fd = steal_fd (&fd);
  return 0;
}

/* ------------------------------------------------------------------ small helpers */

static int
dir_open_at (int dirfd, const char *path, int *ret, berth_err *err)
{
  int fd;
  if (mkdirat (dirfd, path, 0755) < 0 && errno != EEXIST)
    return berth_err_set (err, errno, "mkdir `%s`", path);
  fd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open `%s`", path);
  *ret = fd;
  return 0;
}

static int
dir_open (const char *path, int *ret, berth_err *err)
{
  if (berth_mkdir_p (path, 0755, err) < 0)
    return berth_err_ret (err);
  return dir_open_at (AT_FDCWD, path, ret, err);
}

static int
write_new_file_at (int dirfd, const char *name, const char *text, berth_err *err)
{
  cleanup_close int fd
      = openat (dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return berth_err_set (err, errno, "create `%s`", name);
  if (berth_write_all (fd, text, strlen (text)) < 0)
    return berth_err_set (err, errno, "write `%s`", name);
  return 0;
}

static char *
netns_path (const struct netns_host *h, const char *task_id)
{
  return xasprintf ("%s/%s", h->cfg.netns_dir, task_id);
}

static char *
link_alias (const struct netns_host *h, const char *task_id)
{
  return xasprintf ("berth:%s:%s", h->cfg.name, task_id);
}

/* ------------------------------------------------------------------ the host side */

static int
forwarding_enable (berth_err *err)
{
  char buf[4] = "";
  int fd = open ("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return berth_err_set (err, errno, "open /proc/sys/net/ipv4/ip_forward");
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n > 0 && buf[0] == '1')
    return 0;
  if (berth_write_file_at (AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", "1", 1, err) < 0)
    return berth_err_wrap (err, "enable IPv4 forwarding");
  return 0;
}

static int
bridge_prepare (struct netns_host *h, struct rtnl *r, berth_err *err)
{
  struct rtnl_batch *b = NULL;
  struct rtnl_link l;
  unsigned char mac[6];
  int rc;

  rc = rtnl_link_lookup (r, h->cfg.bridge, &l, err);
  if (rc == -ENODEV)
    {
      struct rtnl_batch cb;
      rtnl_batch_init (&cb);
      netns_mac_from_ip (h->cfg.pools[0].gateway, mac);
      if (rtnl_req_bridge_add (&cb, h->cfg.bridge, h->mtu, mac) < 0)
        return berth_err_set (err, ENOSPC, "netlink batch");
      if (rtnl_talk (r, &cb, NULL, NULL, err) < 0)
        return berth_err_ret (err);
      rc = rtnl_link_lookup (r, h->cfg.bridge, &l, err);
      if (rc == -ENODEV)
        return berth_err_set (err, ENODEV, "bridge `%s` vanished after its creation",
                              h->cfg.bridge);
    }
  if (rc < 0)
    return rc;
  if (strcmp (l.kind, "bridge") != 0)
    return berth_err_set (err, 0, "NET_BRIDGE: `%s` exists and is not a bridge (%s)", h->cfg.bridge,
                          l.kind[0] ? l.kind : "no kind");
  h->bridge_ifindex = l.ifindex;

  b = xmalloc (sizeof *b);
  rtnl_batch_init (b);
  for (size_t i = 0; i <= h->cfg.n_pools; i++)
    {
      if (b->n_ops + 2 >= RTNL_BATCH_MAX_OPS || i == h->cfg.n_pools)
        {
          if (i == h->cfg.n_pools)
            {
              if (h->cfg.task_endpoint)
                {
                  struct in_addr ep;
                  (void)netns_ip_parse (NETNS_TASK_ENDPOINT_ADDR, &ep);
                  if (rtnl_req_addr_add (b, l.ifindex, ep, 32, true) < 0)
                    rc = -ENOSPC;
                }
              if (rc >= 0 && rtnl_req_link_up (b, l.ifindex, h->cfg.bridge) < 0)
                rc = -ENOSPC;
              if (rc >= 0 && rtnl_req_bridge_tune (b, l.ifindex, h->cfg.bridge) < 0)
                rc = -ENOSPC;
            }
          if (rc < 0)
            {
              free (b);
              return berth_err_set (err, ENOSPC, "netlink batch");
            }
          rc = rtnl_talk (r, b, NULL, NULL, err);
          rtnl_batch_init (b);
          if (rc < 0 || i == h->cfg.n_pools)
            break;
        }
      if (rtnl_req_addr_add (b, l.ifindex, h->cfg.pools[i].gateway, h->cfg.pools[i].prefix_len,
                             true)
          < 0)
        rc = -ENOSPC;
    }
  free (b);
  if (rc < 0)
    return berth_err_wrap (err, "prepare bridge `%s`", h->cfg.bridge);
  return 0;
}

/* Addresses and ports of live tasks that may reach each other, to seed the sets. */
static int
open_members (struct netns_host *h, char ***ret_addrs, char ***ret_ports, berth_err *err)
{
  cleanup_strv char **ids = NULL;
  cleanup_strv char **addrs = NULL;
  cleanup_strv char **ports = NULL;

  if (netns_task_list (h, &ids, err) < 0)
    return berth_err_ret (err);
  for (char **id = ids; *id; id++)
    {
      struct netns_record rec = { 0 };
      cleanup_err berth_err e = NULL;
      char b[INET_ADDRSTRLEN], port[IFNAMSIZ];

      if (netns_record_load (h->tasks_dirfd, *id, &rec, &e) < 0)
        continue; /* unreadable: reconcile or teardown deals with it */
      if (rec.reach_tasks && rec.has_address && rec.mode == NETNS_MODE_AWSVPC)
        {
          strv_append (&addrs, netns_ip_str (rec.address, b));
          netns_host_ifname (h->cfg.name, *id, port);
          strv_append (&ports, port);
        }
      netns_record_clear (&rec);
    }
  *ret_addrs = steal_pointer (&addrs);
  *ret_ports = steal_pointer (&ports);
  return 0;
}

static int
nft_apply_all (struct netns_host *h, uint64_t hash, berth_err *err)
{
  cleanup_strv char **addrs = NULL;
  cleanup_strv char **ports = NULL;
  cleanup_free char *text = NULL;
  int rc;

  if (open_members (h, &addrs, &ports, err) < 0)
    return berth_err_ret (err);
  text = netns_nft_ruleset (&h->cfg, hash, addrs, ports);
  pthread_mutex_lock (&h->nft_lock);
  rc = netns_nft_run (h->nft, text, err);
  pthread_mutex_unlock (&h->nft_lock);
  if (rc < 0)
    return berth_err_wrap (err, "install nftables table `%s`", h->cfg.nft_table);
  return 0;
}

static int
nft_prepare (struct netns_host *h, berth_err *err)
{
  uint64_t hash = netns_nft_config_hash (&h->cfg);
  int cur;

  h->nft = nft_ctx_new (NFT_CTX_DEFAULT);
  if (h->nft == NULL)
    return berth_err_set (err, ENOMEM, "create nftables context");
  nft_ctx_buffer_output (h->nft);
  nft_ctx_buffer_error (h->nft);
  h->use_nft = true;
  cur = netns_nft_tables_current (&h->cfg, hash, err);
  if (cur < 0)
    return berth_err_wrap (err, "look up nftables table `%s`", h->cfg.nft_table);
  if (cur == 1)
    return 0;
  return nft_apply_all (h, hash, err);
}

/* 1 when berth's table of this family exists, 0 when not. */
static int
nft_table_exists (const char *table, int family, berth_err *err)
{
  struct rtnl r = { 0 };
  struct rtnl_batch b;
  cleanup_err berth_err e = NULL;
  int rc;

  rtnl_batch_init (&b);
  if (rtnl_req_nft_get (&b, NFT_MSG_GETTABLE, family, table, NULL) < 0)
    return berth_err_set (err, ENOSPC, "netlink batch");
  if (nl_open (&r, NETLINK_NETFILTER, err) < 0)
    return berth_err_ret (err);
  rc = rtnl_talk (&r, &b, NULL, NULL, &e);
  rtnl_close (&r);
  if (rc == -ENOENT)
    return 0;
  if (rc < 0)
    {
      netns_err_move (err, &e);
      return rc;
    }
  return 1;
}

/* ipvlan/macvlan traffic never crosses the host's netfilter hooks: berth's tables from an
 * earlier bridge or ptp configuration would only be rules left behind. */
static int
nft_remove_stale (struct netns_host *h, berth_err *err)
{
  cleanup_free char *cmd = NULL;
  struct nft_ctx *ctx;
  int inet, bridge, rc;

  inet = nft_table_exists (h->cfg.nft_table, NFPROTO_INET, err);
  if (inet < 0)
    return inet;
  bridge = nft_table_exists (h->cfg.nft_table, NFPROTO_BRIDGE, err);
  if (bridge < 0)
    return bridge;
  if (!inet && !bridge)
    return 0;
  ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  if (ctx == NULL)
    return berth_err_set (err, ENOMEM, "create nftables context");
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  cmd = xasprintf ("table inet %1$s {}\ndelete table inet %1$s\n"
                   "table bridge %1$s {}\ndelete table bridge %1$s\n",
                   h->cfg.nft_table);
  rc = netns_nft_run (ctx, cmd, err);
  nft_ctx_free (ctx);
  if (rc < 0)
    return berth_err_wrap (err, "remove nftables table `%s` left by an earlier configuration",
                           h->cfg.nft_table);
  return 0;
}

static int
host_prepare (struct netns_host *h, berth_err *err)
{
  struct rtnl r = { 0 };
  int rc = 0;

  if (nsfs_prepare_dir (h->cfg.netns_dir, err) < 0)
    return berth_err_ret (err);
  if (rtnl_open (&r, err) < 0)
    return berth_err_ret (err);
  switch (h->cfg.topology)
    {
    case NETNS_TOPOLOGY_BRIDGE:
      rc = bridge_prepare (h, &r, err);
      break;
    case NETNS_TOPOLOGY_PTP:
      break;
    case NETNS_TOPOLOGY_IPVLAN:
    case NETNS_TOPOLOGY_MACVLAN:
      {
        struct rtnl_link l;
        rc = rtnl_link_lookup (&r, h->cfg.host_nic, &l, err);
        if (rc == -ENODEV)
          rc = berth_err_set (err, 0, "NET_HOST_NIC: no interface `%s` on this host",
                              h->cfg.host_nic);
        if (rc < 0)
          break;
        h->nic_ifindex = l.ifindex;
        if (h->cfg.mtu == 0)
          h->mtu = l.mtu;
        else if (h->cfg.mtu > l.mtu)
          rc = berth_err_set (err, 0, "NET_MTU: %u is larger than the MTU of `%s` (%u)", h->cfg.mtu,
                              h->cfg.host_nic, l.mtu);
        break;
      }
    }
  rtnl_close (&r);
  if (rc < 0)
    return rc;
  if (is_vlan (h))
    return nft_remove_stale (h, err);
  if (forwarding_enable (err) < 0)
    return berth_err_ret (err);
  return nft_prepare (h, err);
}

int
netns_host_open (const struct netns_config *cfg, struct netns_host **ret, berth_err *err)
{
  struct netns_host *h;
  cleanup_close int lock = -1;
  cleanup_free char *state = NULL;
  bool vlan = cfg->topology == NETNS_TOPOLOGY_IPVLAN || cfg->topology == NETNS_TOPOLOGY_MACVLAN;
  int rc;

  if (netns_config_validate (cfg, err) < 0)
    return berth_err_wrap (err, "network configuration");

  h = xzalloc (sizeof *h);
  netns_config_copy (&h->cfg, cfg);
  h->cfg.nat = cfg->nat == NETNS_AUTO ? !vlan : cfg->nat;
  h->cfg.task_endpoint = cfg->task_endpoint == NETNS_AUTO ? !vlan : cfg->task_endpoint;
  h->host_nsfd = h->state_dirfd = h->tasks_dirfd = h->netns_dirfd = h->files_dirfd = -1;
  h->mtu = cfg->mtu ? cfg->mtu : NETNS_DEFAULT_MTU;
  pthread_mutex_init (&h->nft_lock, NULL);

  h->host_nsfd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (h->host_nsfd < 0)
    {
      rc = berth_err_set (err, errno, "open /proc/thread-self/ns/net");
      goto fail;
    }
  state = xasprintf ("%s/%s", cfg->state_dir, cfg->name);
  if (dir_open (state, &h->state_dirfd, err) < 0
      || dir_open_at (h->state_dirfd, "tasks", &h->tasks_dirfd, err) < 0
      || dir_open (cfg->files_dir, &h->files_dirfd, err) < 0)
    {
      rc = berth_err_ret (err);
      goto fail;
    }
  rc = net_lock (h, LOCK_EX, &lock, err);
  if (rc < 0)
    goto fail;
  rc = host_prepare (h, err);
  if (rc < 0)
    goto fail;
  rc = dir_open (cfg->netns_dir, &h->netns_dirfd, err);
  if (rc < 0)
    goto fail;
  *ret = h;
  return 0;
fail:
  netns_host_close (h);
  return rc;
}

void
netns_host_close (struct netns_host *h)
{
  if (h == NULL)
    return;
  if (h->host_nsfd >= 0)
    close (h->host_nsfd);
  if (h->state_dirfd >= 0)
    close (h->state_dirfd);
  if (h->tasks_dirfd >= 0)
    close (h->tasks_dirfd);
  if (h->netns_dirfd >= 0)
    close (h->netns_dirfd);
  if (h->files_dirfd >= 0)
    close (h->files_dirfd);
  if (h->nft)
    nft_ctx_free (h->nft);
  pthread_mutex_destroy (&h->nft_lock);
  netns_config_free (&h->cfg);
  free (h);
}

/* ------------------------------------------------------------------ per-task firewall */

static int
nft_open_set (struct netns_host *h, const char *task_id, const struct in_addr *addrs,
              size_t n_addrs, bool add, berth_err *err)
{
  char port[IFNAMSIZ], b[INET_ADDRSTRLEN];
  cleanup_free char *cmd = NULL;
  size_t len = 0;
  FILE *f;
  int rc;

  if (!h->use_nft || !h->cfg.isolate)
    return 0;
  netns_host_ifname (h->cfg.name, task_id, port);
  f = open_memstream (&cmd, &len);
  if (f == NULL)
    abort ();
  /* Removal adds first: "delete element" of an absent element fails the transaction, and
   * a teardown must succeed whether or not the setup got this far. */
  for (size_t i = 0; i < n_addrs; i++)
    {
      fprintf (f, "add element inet %s open_addrs { %s }\n", h->cfg.nft_table,
               netns_ip_str (addrs[i], b));
      if (!add)
        fprintf (f, "delete element inet %s open_addrs { %s }\n", h->cfg.nft_table, b);
    }
  if (h->cfg.topology == NETNS_TOPOLOGY_BRIDGE)
    {
      fprintf (f, "add element bridge %s open_ports { \"%s\" }\n", h->cfg.nft_table, port);
      if (!add)
        fprintf (f, "delete element bridge %s open_ports { \"%s\" }\n", h->cfg.nft_table, port);
    }
  fclose (f);
  if (len == 0)
    return 0;
  pthread_mutex_lock (&h->nft_lock);
  rc = netns_nft_run (h->nft, cmd, err);
  pthread_mutex_unlock (&h->nft_lock);
  if (rc < 0)
    return berth_err_wrap (err, "%s task `%s` %s the open set", add ? "add" : "remove", task_id,
                           add ? "to" : "from");
  return 0;
}

/* ------------------------------------------------------------------ teardown */

/* Removes whatever of the task's network exists, in the reverse order of setup; the record
 * goes last so an interrupted teardown can be run again. rec_fd is the task's locked record
 * (or -1 when it has none). delete_links: delete links outright rather than cut them
 * (reconcile, where no process may be left to let go of a namespace). */
static int
teardown_locked (struct netns_host *h, const char *task_id, int rec_fd, bool delete_links,
                 berth_err *err)
{
  struct netns_record rec = { 0 };
  bool have_rec = false, found = rec_fd >= 0;
  cleanup_free struct in_addr *leases = NULL;
  size_t n_leases = 0;
  cleanup_free char *path = netns_path (h, task_id);
  char host_if[IFNAMSIZ];
  enum netns_task_mode mode = NETNS_MODE_AWSVPC;
  int rc = -EIO;

  if (rec_fd >= 0)
    {
      cleanup_err berth_err e = NULL;
      /* A record that does not parse (a torn intent) is handled as one without content:
       * every object of the task is found from its id. */
      have_rec = netns_record_read_fd (rec_fd, task_id, &rec, &e) == 0;
      if (have_rec)
        mode = rec.mode;
      if (have_rec && rec.has_address)
        {
          leases = xmalloc (sizeof *leases);
          leases[0] = rec.address;
          n_leases = 1;
        }
      else if (mode == NETNS_MODE_AWSVPC)
        {
          /* Killed between leasing and completing the record. */
          if ((rc = ipam_lease_find (h->state_dirfd, task_id, &leases, &n_leases, err)) < 0)
            goto fail;
        }
    }

  /* Firewall set elements: only a task that may reach others has any. */
  if (h->use_nft && n_leases > 0 && (!have_rec || rec.reach_tasks))
    if ((rc = nft_open_set (h, task_id, leases, n_leases, false, err)) < 0)
      goto fail;

  /* Links are cut, not deleted: deleting a link waits for RCU (rcu_barrier in
   * netdev_run_todo, ~20 ms here), which would dominate a teardown. A link that is down
   * carries nothing (a bridge port without carrier is disabled; leaving the bridge would cost
   * another RCU wait); the kernel deletes the pair with the namespace once its name is gone
   * and no process is left in it. A process still inside keeps the namespace and the cut
   * link alive: reconcile deletes such links outright. */

  netns_host_ifname (h->cfg.name, task_id, host_if);
  if (mode == NETNS_MODE_AWSVPC)
    {
      struct rtnl r = { 0 };
      struct rtnl_batch b;

      rtnl_batch_init (&b);
      if (!is_vlan (h))
        {
          if ((delete_links ? rtnl_req_link_del (&b, host_if)
                            : rtnl_req_link_down (&b, 0, host_if, false))
              < 0)
            abort ();
          b.tolerate[0] = ENODEV;
          if ((rc = rtnl_open (&r, err)) < 0)
            goto fail;
          rc = rtnl_talk (&r, &b, NULL, NULL, err);
          rtnl_close (&r);
          if (rc < 0)
            goto fail;
        }
      else
        {
          /* The child's address must leave the parent now: ipvlan refuses an address
           * another child of the same parent holds, even a child that is down. */
          cleanup_close int nsfd = -1;
          cleanup_err berth_err e = NULL;
          if (nsfs_open (path, &nsfd, &e) == 0)
            {
              struct rtnl_link l;
              if ((rc = rtnl_open_in (&r, nsfd, h->host_nsfd, err)) < 0)
                goto fail;
              rc = rtnl_link_lookup (&r, NETNS_IFNAME, &l, err);
              if (rc == 0)
                {
                  for (size_t i = 0; i < n_leases && rc >= 0; i++)
                    {
                      rtnl_batch_init (&b);
                      if (rtnl_req_addr_del (&b, l.ifindex, leases[i],
                                             have_rec ? rec.prefix_len : 32)
                          < 0)
                        abort ();
                      b.tolerate[0] = EADDRNOTAVAIL;
                      rc = rtnl_talk (&r, &b, NULL, NULL, err);
                    }
                  rtnl_batch_init (&b);
                  if (rc >= 0
                      && (delete_links ? rtnl_req_link_del_index (&b, l.ifindex)
                                       : rtnl_req_link_down (&b, l.ifindex, NETNS_IFNAME, false))
                             < 0)
                    abort ();
                  if (rc >= 0)
                    rc = rtnl_talk (&r, &b, NULL, NULL, err);
                }
              else if (rc == -ENODEV)
                rc = 0;
              rtnl_close (&r);
              if (rc < 0)
                goto fail;
            }
        }
    }

  rc = nsfs_remove (path, err);
  if (rc < 0)
    goto fail;
  found = found || rc > 0;

  if (berth_exists_at (h->files_dirfd, task_id))
    {
      if ((rc = berth_rm_rf_at (h->files_dirfd, task_id, err)) < 0)
        goto fail;
      found = true;
    }

  for (size_t i = 0; i < n_leases; i++)
    if ((rc = ipam_lease_release (h->state_dirfd, leases[i], task_id, err)) < 0)
      goto fail;

  if (rec_fd >= 0 && (rc = netns_record_remove (h->tasks_dirfd, task_id, err)) < 0)
    goto fail;
  netns_record_clear (&rec);
  return found ? 1 : 0;
fail:
  netns_record_clear (&rec);
  berth_err_wrap (err, "tear down network of task `%s`", task_id);
  return rc;
}

int
netns_task_teardown (struct netns_host *h, const char *task_id, berth_err *err)
{
  cleanup_close int lock = -1;
  cleanup_close int rec_fd = -1;
  int rc;

  if (!netns_task_id_valid (task_id))
    return berth_err_set (err, 0, "`%s` is not a valid task id", task_id);
  if (net_lock (h, LOCK_SH, &lock, err) < 0)
    return berth_err_ret (err);
  rc = netns_record_open_locked (h->tasks_dirfd, task_id, &rec_fd, err);
  if (rc < 0 && rc != -ENOENT)
    return rc;
  return teardown_locked (h, task_id, rec_fd, false, err);
}

/* ------------------------------------------------------------------ setup */

static char *
default_hostname (const struct netns_task_spec *spec, const struct in_addr *addr)
{
  char buf[64];
  size_t n = 0;

  if (addr)
    {
      uint32_t v = netns_ip_h (*addr);
      snprintf (buf, sizeof buf, "ip-%u-%u-%u-%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                v & 255);
      return xstrdup (buf);
    }
  /* The task id, made a host name label. */
  for (const char *p = spec->task_id; *p && n < 63; p++)
    {
      char c = *p;
      if (isalnum ((unsigned char)c))
        buf[n++] = (char)tolower ((unsigned char)c);
      else if (n > 0 && buf[n - 1] != '-')
        buf[n++] = '-';
    }
  while (n > 0 && buf[n - 1] == '-')
    n--;
  buf[n] = '\0';
  return xstrdup (n ? buf : "task");
}

static int
host_resolv_load (struct netns_host *h, bool keep_loopback, struct netns_resolv *ret,
                  berth_err *err)
{
  cleanup_free char *text = NULL;
  cleanup_err berth_err e = NULL;
  size_t len = 0;

  if (berth_read_file_at (AT_FDCWD, h->cfg.host_resolv_conf, 1 << 20, &text, &len, &e) < 0)
    {
      if (berth_err_code (&e) != ENOENT)
        {
          int rc = berth_err_ret (&e);
          netns_err_move (err, &e);
          return rc;
        }
      memset (ret, 0, sizeof *ret); /* no resolv.conf on the host: nothing to copy */
      return 0;
    }

  if (netns_resolv_parse (text, len, ret, err) < 0)
    return berth_err_wrap (err, "`%s`", h->cfg.host_resolv_conf);
  if (!keep_loopback && ret->nameservers && strv_contains (ret->nameservers, "127.0.0.53"))
    {
      /* Only loopback servers, one of them systemd-resolved's stub: its upstream servers are
       * in resolved's own file, as Docker finds them. */
      bool any = false;
      for (char **n = ret->nameservers; *n; n++)
        any = any || !netns_addr_is_loopback (*n);
      if (!any)
        {
          cleanup_free char *up = NULL;
          cleanup_err berth_err e2 = NULL;
          struct netns_resolv r2;
          if (berth_read_file_at (AT_FDCWD, RESOLVED_UPSTREAM, 1 << 20, &up, &len, &e2) == 0
              && netns_resolv_parse (up, len, &r2, &e2) == 0)
            {
              strv_free (ret->nameservers);
              ret->nameservers = steal_pointer (&r2.nameservers);
              netns_resolv_clear (&r2);
            }
        }
    }
  return 0;
}

static int
files_write (struct netns_host *h, const struct netns_task_spec *spec, const char *hostname,
             const struct in_addr *addr, berth_err *err)
{
  struct netns_resolv host = { 0 };
  cleanup_free char *resolv = NULL;
  cleanup_free char *hosts = NULL;
  cleanup_free char *hostname_line = xasprintf ("%s\n", hostname);
  cleanup_free char *host_hosts = NULL;
  cleanup_close int dfd = -1;
  bool host_mode = spec->mode == NETNS_MODE_HOST;
  int rc;

  /* The host's file also gives what the task does not set: search domains, and options,
   * which task definitions have no field for (Docker does the same). */
  if (host_resolv_load (h, host_mode, &host, err) < 0)
    return berth_err_ret (err);

  resolv = netns_resolv_render (&host, spec->dns_servers, spec->dns_search, host_mode);
  netns_resolv_clear (&host);
  if (host_mode)
    {
      size_t len;
      cleanup_err berth_err e = NULL;
      if (berth_read_file_at (AT_FDCWD, h->cfg.host_hosts, 1 << 20, &host_hosts, &len, &e) < 0)
        {
          if (berth_err_code (&e) != ENOENT)
            {
              netns_err_move (err, &e);
              return berth_err_wrap (err, "read `%s`", h->cfg.host_hosts);
            }
        }
    }
  hosts = netns_hosts_render (host_hosts, hostname, addr, spec->extra_hosts, spec->n_extra_hosts);

  if (mkdirat (h->files_dirfd, spec->task_id, 0755) < 0)
    return berth_err_set (err, errno, "mkdir `%s/%s`", h->cfg.files_dir, spec->task_id);
  dfd = openat (h->files_dirfd, spec->task_id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0)
    return berth_err_set (err, errno, "open `%s/%s`", h->cfg.files_dir, spec->task_id);
  rc = write_new_file_at (dfd, "resolv.conf", resolv, err);
  if (rc >= 0)
    rc = write_new_file_at (dfd, "hosts", hosts, err);
  if (rc >= 0)
    rc = write_new_file_at (dfd, "hostname", hostname_line, err);
  return rc;
}

static int
eth0_cb (const struct nlmsghdr *nlh, void *data)
{
  return rtnl_link_found_cb (nlh, data);
}

/* The host end of a task's veth needs no IPv6: it is a bridge port, or carries the IPv4
 * gateway (ptp). With IPv6 on, each one adds link-local and multicast routes to the host's
 * IPv6 table, and every link event walks that whole table (rt6_sync_up): each setup would
 * be slower than the one before. Set before the link comes up, so nothing is configured. */
static int
host_end_no_ipv6 (const char *ifname, berth_err *err)
{
  char path[96];
  cleanup_err berth_err e = NULL;

  snprintf (path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
  if (berth_write_file_at (AT_FDCWD, path, "1", 1, &e) < 0)
    {
      if (berth_err_code (&e) == ENOENT)
        return 0; /* a kernel without IPv6 */
      netns_err_move (err, &e);
      return berth_err_wrap (err, "turn IPv6 off on `%s`", ifname);
    }
  return 0;
}

/* Links, addresses and routes of an awsvpc task. */
static int
links_build (struct netns_host *h, const char *task_id, int nsfd, struct rtnl *task_r,
             struct in_addr addr, const struct netns_pool *pool, bool reach_tasks,
             unsigned char ret_mac[6], berth_err *err)
{
  struct rtnl host_r = { 0 };
  struct rtnl_batch *b = xmalloc (sizeof *b);
  struct rtnl_link_found f = { .found = false };
  cleanup_free char *alias = link_alias (h, task_id);
  char host_if[IFNAMSIZ];
  unsigned char mac[6];
  struct in_addr any = { 0 }, ep, md, gw = pool->gateway;
  bool ptp = h->cfg.topology == NETNS_TOPOLOGY_PTP;
  bool isolated = h->cfg.isolate && !reach_tasks;
  int eth0, rc = -ENOSPC;

  (void)netns_ip_parse (NETNS_TASK_ENDPOINT_ADDR, &ep);
  (void)netns_ip_parse (NETNS_METADATA_ADDR, &md);
  netns_host_ifname (h->cfg.name, task_id, host_if);
  netns_mac_from_ip (addr, mac);

  rtnl_batch_init (b);
  switch (h->cfg.topology)
    {
    case NETNS_TOPOLOGY_BRIDGE:
    case NETNS_TOPOLOGY_PTP:
      if (rtnl_req_veth_add (b, host_if, h->mtu, ptp ? 0 : h->bridge_ifindex, NETNS_IFNAME, nsfd,
                             mac)
              < 0
          || rtnl_req_link_alias (b, host_if, alias) < 0)
        goto nospace;
      if (ptp && rtnl_req_link_get (b, host_if) < 0)
        goto nospace;
      break;
    case NETNS_TOPOLOGY_IPVLAN:
      if (rtnl_req_ipvlan_add (b, NETNS_IFNAME, h->nic_ifindex, nsfd, h->mtu, isolated) < 0)
        goto nospace;
      break;
    case NETNS_TOPOLOGY_MACVLAN:
      if (rtnl_req_macvlan_add (b, NETNS_IFNAME, h->nic_ifindex, nsfd, h->mtu, mac, isolated) < 0)
        goto nospace;
      break;
    }
  if (rtnl_open (&host_r, err) < 0)
    {
      free (b);
      return berth_err_ret (err);
    }
  rc = rtnl_talk (&host_r, b, rtnl_link_found_cb, &f, err);
  if (rc == -EEXIST && !is_vlan (h))
    {
      /* This task's link, cut by an earlier teardown, still waiting for its namespace to
       * die (the same task id set up again at once): delete it now and try once more. Only
       * a link labelled for this task and down is taken for such a leftover. */
      struct rtnl_link old;
      cleanup_err berth_err e = NULL;
      if (rtnl_link_lookup (&host_r, host_if, &old, &e) == 0 && strcmp (old.alias, alias) == 0
          && !(old.flags & IFF_UP))
        {
          struct rtnl_batch d;
          rtnl_batch_init (&d);
          if (rtnl_req_link_del (&d, host_if) < 0)
            abort ();
          d.tolerate[0] = ENODEV;
          rc = rtnl_talk (&host_r, &d, NULL, NULL, err);
          if (rc >= 0)
            {
              f.found = false;
              rc = rtnl_talk (&host_r, b, rtnl_link_found_cb, &f, err);
            }
        }
    }
  if (rc == -EXFULL && h->cfg.topology == NETNS_TOPOLOGY_BRIDGE)
    berth_err_wrap (err,
                    "bridge `%s` has no free port: a Linux bridge holds at most 1023 ports "
                    "(NET_MODE=ptp has no such limit)",
                    h->cfg.bridge);
  if (rc >= 0 && !is_vlan (h))

    {
      rc = host_end_no_ipv6 (host_if, err);
      rtnl_batch_init (b);
      if (rc >= 0 && ptp && !f.found)
        rc = berth_err_set (err, ENODEV, "link `%s` not found after its creation", host_if);
      if (rc >= 0)
        {
          if (rtnl_req_link_up (b, ptp ? f.link.ifindex : 0, host_if) < 0)
            goto nospace_host;
          /* ptp: the host end answers ARP for the gateway and routes the task's /32 to it. */
          if (ptp
              && (rtnl_req_addr_add (b, f.link.ifindex, gw, 32, false) < 0
                  || rtnl_req_route_add (b, RTNL_ROUTE_LINK, addr, 32, any, f.link.ifindex) < 0
                  || (h->cfg.task_endpoint
                      && rtnl_req_addr_add (b, f.link.ifindex, ep, 32, false) < 0)))
            goto nospace_host;
          rc = rtnl_talk (&host_r, b, NULL, NULL, err);
        }
    }
  rtnl_close (&host_r);
  if (rc < 0)
    goto out;
  step (h, "link");

  /* Inside the task: lo up, find eth0, then its address and routes. */
  f.found = false;
  rtnl_batch_init (b);
  if (rtnl_req_link_up (b, 1, "lo") < 0 || rtnl_req_link_up (b, 0, NETNS_IFNAME) < 0
      || rtnl_req_link_get (b, NETNS_IFNAME) < 0)
    goto nospace;
  rc = rtnl_talk (task_r, b, eth0_cb, &f, err);
  if (rc < 0)
    goto out;
  if (!f.found)
    {
      rc = berth_err_set (err, ENODEV, "`" NETNS_IFNAME "` missing in the task's namespace");
      goto out;
    }
  eth0 = f.link.ifindex;
  if (f.link.has_mac)
    memcpy (ret_mac, f.link.mac, 6);
  else
    memset (ret_mac, 0, 6);

  rtnl_batch_init (b);
  if (ptp)
    {
      if (rtnl_req_addr_add (b, eth0, addr, 32, false) < 0
          || rtnl_req_route_add (b, RTNL_ROUTE_LINK, gw, 32, any, eth0) < 0)
        goto nospace;
    }
  else if (rtnl_req_addr_add (b, eth0, addr, pool->prefix_len, false) < 0)
    goto nospace;
  if (rtnl_req_route_add (b, RTNL_ROUTE_VIA, any, 0, gw, eth0) < 0)
    goto nospace;
  if (h->cfg.task_endpoint && rtnl_req_route_add (b, RTNL_ROUTE_VIA, ep, 32, gw, eth0) < 0)
    goto nospace;
  if (h->cfg.block_metadata && rtnl_req_route_add (b, RTNL_ROUTE_BLACKHOLE, md, 32, any, 0) < 0)
    goto nospace;
  rc = rtnl_talk (task_r, b, NULL, NULL, err);
  if (rc >= 0)
    step (h, "address");
out:
  free (b);
  return rc;
nospace_host:
  rtnl_close (&host_r);
nospace:
  free (b);
  return berth_err_set (err, ENOSPC, "netlink batch full");
}

static struct netns_task_net *
result_from_record (struct netns_host *h, const struct netns_record *rec)
{
  struct netns_task_net *n = xzalloc (sizeof *n);
  char host_if[IFNAMSIZ];

  n->task_id = xstrdup (rec->task_id);
  n->mode = rec->mode;
  n->complete = rec->complete;
  if (rec->mode != NETNS_MODE_HOST)
    n->netns_path = netns_path (h, rec->task_id);
  if (rec->mode == NETNS_MODE_AWSVPC)
    {
      n->ifname = xstrdup (NETNS_IFNAME);
      if (!is_vlan (h))
        {
          netns_host_ifname (h->cfg.name, rec->task_id, host_if);
          n->host_ifname = xstrdup (host_if);
        }
    }
  n->has_address = rec->has_address;
  n->address = rec->address;
  n->prefix_len = rec->prefix_len;
  n->gateway = rec->gateway;
  memcpy (n->mac, rec->mac, 6);
  n->mtu = rec->mtu;
  n->reach_tasks = rec->reach_tasks;
  n->hostname = rec->hostname ? xstrdup (rec->hostname) : NULL;
  n->resolv_conf_path = xasprintf ("%s/%s/resolv.conf", h->cfg.files_dir, rec->task_id);
  n->hosts_path = xasprintf ("%s/%s/hosts", h->cfg.files_dir, rec->task_id);
  n->hostname_path = xasprintf ("%s/%s/hostname", h->cfg.files_dir, rec->task_id);
  return n;
}

static int
spec_check (struct netns_host *h, const struct netns_task_spec *spec, berth_err *err)
{
  if (spec->task_id == NULL || !netns_task_id_valid (spec->task_id))
    return berth_err_set (err, 0,
                          "`%s` is not a valid task id (letters, digits, '-', '_', "
                          "'.'; at most %d)",
                          spec->task_id ? spec->task_id : "", NETNS_TASK_ID_MAX);
  if (spec->mode != NETNS_MODE_AWSVPC && spec->mode != NETNS_MODE_HOST
      && spec->mode != NETNS_MODE_NONE)
    return berth_err_set (err, 0, "networkMode: unknown mode %d", (int)spec->mode);
  if (spec->mode == NETNS_MODE_AWSVPC && spec->reach_tasks && h->cfg.isolate
      && h->cfg.topology == NETNS_TOPOLOGY_IPVLAN)
    return berth_err_set (err, 0,
                          "this task may reach other tasks, but with NET_MODE=ipvlan and "
                          "NET_ISOLATE=on the kernel isolates all children of `%s` alike "
                          "(use macvlan, or NET_ISOLATE=off)",
                          h->cfg.host_nic);
  if (spec->mode == NETNS_MODE_HOST && spec->reach_tasks)
    return berth_err_set (err, 0,
                          "a host-mode task shares the host's network: reachTasks "
                          "does not apply");
  /* A none-mode task has only lo: accepting reachTasks would be a setting silently
   * ignored. */
  if (spec->mode == NETNS_MODE_NONE && spec->reach_tasks)
    return berth_err_set (err, 0,
                          "a task with networkMode none has no network: reachTasks "
                          "does not apply");
  return netns_dns_spec_check (spec, err);
}

int
netns_task_setup (struct netns_host *h, const struct netns_task_spec *spec,
                  struct netns_task_net **ret, berth_err *err)
{
  cleanup_close int lock = -1;
  cleanup_close int rec_fd = -1;
  cleanup_close int nsfd = -1;
  struct rtnl task_r = { 0 };
  struct netns_record rec = { 0 };
  cleanup_free char *path = NULL;
  struct in_addr addr = { 0 };
  size_t pool = 0;
  int rc;

  rc = spec_check (h, spec, err);
  if (rc < 0)
    {
      berth_err_wrap (err, "set up network of task `%s`", spec->task_id ? spec->task_id : "");
      return rc;
    }
  rc = net_lock (h, LOCK_SH, &lock, err);
  if (rc < 0)
    return rc;

  rec.task_id = xstrdup (spec->task_id);
  rec.mode = spec->mode;
  rec.topology = h->cfg.topology;
  rec.reach_tasks = spec->reach_tasks;
  rec.mtu = spec->mode == NETNS_MODE_AWSVPC ? h->mtu : 0;
  rc = netns_record_create (h->tasks_dirfd, &rec, &rec_fd, err);
  if (rc < 0)
    {
      netns_record_clear (&rec);
      berth_err_wrap (err, "set up network of task `%s`", spec->task_id);
      return rc;
    }
  step (h, "record");

  if (spec->mode == NETNS_MODE_AWSVPC)
    {
      rc = ipam_lease_acquire (h->state_dirfd, h->cfg.pools, h->cfg.n_pools, spec->task_id, &h->cfg,
                               &addr, &pool, err);
      if (rc < 0)
        goto fail;
      rec.has_address = true;
      rec.address = addr;
      rec.prefix_len = h->cfg.topology == NETNS_TOPOLOGY_PTP ? 32 : h->cfg.pools[pool].prefix_len;
      rec.gateway = h->cfg.pools[pool].gateway;
      step (h, "lease");
    }

  if (spec->mode != NETNS_MODE_HOST)
    {
      path = netns_path (h, spec->task_id);
      /* IPv4 only: eth0 without IPv6 sends no neighbour discovery or MLD, which a bridge
       * floods to every port (as Docker does for IPv4-only networks). */
      rc = nsfs_create (path, h->host_nsfd, NSFS_NO_IPV6, &nsfd, &task_r, err);
      if (rc < 0)
        goto fail;
      step (h, "netns");
    }

  if (spec->mode == NETNS_MODE_AWSVPC)
    {
      rc = links_build (h, spec->task_id, nsfd, &task_r, addr, &h->cfg.pools[pool],
                        spec->reach_tasks, rec.mac, err);
      if (rc < 0)
        goto fail;
      if (spec->reach_tasks)
        {
          rc = nft_open_set (h, spec->task_id, &addr, 1, true, err);
          if (rc < 0)
            goto fail;
        }
      step (h, "firewall");
    }
  else if (spec->mode == NETNS_MODE_NONE)
    {
      struct rtnl_batch b;
      rtnl_batch_init (&b);
      if (rtnl_req_link_up (&b, 1, "lo") < 0)
        abort ();
      rc = rtnl_talk (&task_r, &b, NULL, NULL, err);
      if (rc < 0)
        goto fail;
    }
  rtnl_close (&task_r);

  if (spec->hostname)
    rec.hostname = xstrdup (spec->hostname);
  else if (spec->mode == NETNS_MODE_HOST)
    {
      char hn[HOST_NAME_MAX + 1] = "";
      if (gethostname (hn, sizeof hn) < 0 || !netns_hostname_valid (hn))
        snprintf (hn, sizeof hn, "localhost");
      rec.hostname = xstrdup (hn);
    }
  else
    rec.hostname = default_hostname (spec, spec->mode == NETNS_MODE_AWSVPC ? &addr : NULL);
  rc = files_write (h, spec, rec.hostname, spec->mode == NETNS_MODE_AWSVPC ? &addr : NULL, err);
  if (rc < 0)
    goto fail;
  step (h, "files");

  rec.complete = true;
  rc = netns_record_update (rec_fd, &rec, err);
  if (rc < 0)
    goto fail;
  step (h, "ready");
  *ret = result_from_record (h, &rec);
  netns_record_clear (&rec);
  return 0;

fail:
  rtnl_close (&task_r);
  {
    cleanup_err berth_err e = NULL;
    /* Undo with the record still locked; a failure here leaves the record for reconcile. */
    (void)teardown_locked (h, spec->task_id, rec_fd, true, &e);
  }
  netns_record_clear (&rec);
  berth_err_wrap (err, "set up network of task `%s`", spec->task_id);
  return rc;
}

/* ------------------------------------------------------------------ inspection */

int
netns_task_get (struct netns_host *h, const char *task_id, struct netns_task_net **ret,
                berth_err *err)
{
  struct netns_record rec = { 0 };
  struct netns_task_net *n;
  int rc;

  if (!netns_task_id_valid (task_id))
    return berth_err_set (err, 0, "`%s` is not a valid task id", task_id);
  rc = netns_record_load (h->tasks_dirfd, task_id, &rec, err);
  if (rc == -ENOENT)
    return berth_err_set (err, ENOENT, "no network for task `%s`", task_id);
  if (rc < 0)
    return rc;
  n = result_from_record (h, &rec);
  netns_record_clear (&rec);
  if (n->netns_path && !nsfs_is_bound (n->netns_path))
    n->complete = false;
  if (n->host_ifname && if_nametoindex (n->host_ifname) == 0)
    n->complete = false;
  *ret = n;
  return 0;
}

static int
strcmp_p (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Names in a directory (not starting with '.'), optionally only those ending in suffix,
 * with the suffix cut off; sorted. */
static int
dir_names (int dirfd, const char *what, const char *suffix, char ***ret, berth_err *err)
{
  cleanup_strv char **names = NULL;
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d;
  struct dirent *de;
  size_t n = 0;

  if (fd < 0)
    return berth_err_set (err, errno, "open %s", what);
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return berth_err_set (err, errno, "open %s", what);
    }
  names = xzalloc (sizeof *names);
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      size_t len = strlen (de->d_name);
      if (de->d_name[0] == '.')
        continue;
      if (suffix)
        {
          if (!str_has_suffix (de->d_name, suffix))
            continue;
          len -= strlen (suffix);
        }
      names = xrealloc (names, (n + 2) * sizeof *names);
      names[n++] = xstrndup (de->d_name, len);
      names[n] = NULL;
    }
  if (errno != 0)
    {
      int e = errno;
      closedir (d);
      return berth_err_set (err, e, "read %s", what);
    }
  closedir (d);
  qsort (names, n, sizeof *names, strcmp_p);
  *ret = steal_pointer (&names);
  return 0;
}

int
netns_task_list (struct netns_host *h, char ***ret_ids, berth_err *err)
{
  cleanup_strv char **names = NULL;
  cleanup_strv char **ids = xzalloc (sizeof *ids);
  size_t n = 0;

  if (dir_names (h->tasks_dirfd, "task records", ".json", &names, err) < 0)
    return berth_err_ret (err);
  for (char **p = names; *p; p++)
    if (netns_task_id_valid (*p))
      {
        ids = xrealloc (ids, (n + 2) * sizeof *ids);
        ids[n++] = xstrdup (*p);
        ids[n] = NULL;
      }
  *ret_ids = steal_pointer (&ids);
  return 0;
}

/* ------------------------------------------------------------------ reconcile */

static bool
has_record (struct netns_host *h, const char *task_id)
{
  cleanup_free char *name = xasprintf ("%s.json", task_id);
  return berth_exists_at (h->tasks_dirfd, name);
}

struct link_sweep
{
  struct netns_host *h;
  char *const *live;
  int *doomed;
  size_t n_doomed;
};

static int
link_sweep_cb (const struct nlmsghdr *nlh, void *data)
{
  struct link_sweep *s = data;
  struct rtnl_link l;
  cleanup_free char *prefix = xasprintf ("berth:%s:", s->h->cfg.name);
  const char *task;

  if (nlh->nlmsg_type != RTM_NEWLINK || rtnl_parse_link (nlh, &l) < 0)
    return 0;
  if (!str_has_prefix (l.alias, prefix) || !str_has_prefix (l.name, NETNS_HOST_IF_PREFIX))
    return 0;
  task = l.alias + strlen (prefix);
  if (strv_contains (s->live, task) || has_record (s->h, task))
    return 0;
  s->doomed = xrealloc (s->doomed, (s->n_doomed + 1) * sizeof *s->doomed);
  s->doomed[s->n_doomed++] = l.ifindex;
  return 0;
}

int
netns_reconcile (struct netns_host *h, char *const *live_task_ids,
                 struct netns_reconcile_report *ret, berth_err *err)
{
  static char *const none[] = { NULL };
  char *const *live = live_task_ids ? live_task_ids : none;
  struct netns_reconcile_report rep = { 0 };
  cleanup_close int lock = -1;
  cleanup_strv char **ids = NULL;
  cleanup_strv char **names = NULL;
  int rc;

  if (net_lock (h, LOCK_EX, &lock, err) < 0)
    return berth_err_ret (err);

  /* 1. Records of tasks that are gone: tear each down as a teardown would. */
  if (netns_task_list (h, &ids, err) < 0)
    return berth_err_ret (err);
  for (char **id = ids; *id; id++)
    {
      cleanup_close int rec_fd = -1;
      if (strv_contains (live, *id))
        continue;
      rc = netns_record_open_locked (h->tasks_dirfd, *id, &rec_fd, err);
      if (rc == -ENOENT)
        continue;
      if (rc < 0)
        return rc;
      if (teardown_locked (h, *id, rec_fd, true, err) < 0)
        return berth_err_ret (err);
      rep.tasks++;
    }

  /* 2. Scratch files of interrupted record writes. */
  {
    int fd = openat (h->tasks_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    struct dirent *de;
    if (d == NULL)
      {
        if (fd >= 0)
          close (fd);
        return berth_err_set (err, errno, "open task records");
      }
    while ((de = readdir (d)) != NULL)
      if (de->d_name[0] == '.' && str_has_suffix (de->d_name, ".tmp")
          && unlinkat (h->tasks_dirfd, de->d_name, 0) == 0)
        rep.scratch++;
    closedir (d);
  }

  /* 3. Leases: empty ones (creator killed before writing) and those of tasks that are
   * neither live nor recorded. A live task's lease is never freed. */
  {
    int fd = openat (h->state_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    struct dirent *de;
    if (d == NULL)
      {
        if (fd >= 0)
          close (fd);
        return berth_err_set (err, errno, "open lease directory");
      }
    while ((de = readdir (d)) != NULL)
      {
        cleanup_free char *owner = NULL;
        cleanup_err berth_err e = NULL;
        if (!ipam_is_lease_name (de->d_name))
          continue;
        if (ipam_lease_owner (h->state_dirfd, de->d_name, &owner, &e) < 0)
          continue;
        if (owner && (strv_contains (live, owner) || has_record (h, owner)))
          continue;
        if (unlinkat (h->state_dirfd, de->d_name, 0) == 0)
          rep.leases++;
      }
    closedir (d);
  }

  /* 4. Bound namespaces and file directories without a task. */
  if (dir_names (h->netns_dirfd, "netns directory", NULL, &names, err) < 0)
    return berth_err_ret (err);
  for (char **n = names; *n; n++)
    {
      cleanup_free char *path = NULL;
      if (strv_contains (live, *n) || has_record (h, *n))
        continue;
      path = netns_path (h, *n);
      rc = nsfs_remove (path, err);
      if (rc < 0)
        return rc;
      rep.netns += rc > 0;
    }
  strv_free (names);
  names = NULL;
  if (dir_names (h->files_dirfd, "files directory", NULL, &names, err) < 0)
    return berth_err_ret (err);
  for (char **n = names; *n; n++)
    {
      if (strv_contains (live, *n) || has_record (h, *n))
        continue;
      if (berth_rm_rf_at (h->files_dirfd, *n, err) < 0)
        return berth_err_ret (err);
      rep.files++;
    }

  /* 5. Host links labelled for a task that is gone (a veth whose record was lost). */
  if (!is_vlan (h))
    {
      struct rtnl r = { 0 };
      struct link_sweep s = { .h = h, .live = live };
      if (rtnl_open (&r, err) < 0)
        return berth_err_ret (err);
      rc = rtnl_dump (&r, RTM_GETLINK, AF_UNSPEC, link_sweep_cb, &s, err);
      for (size_t i = 0; rc >= 0 && i < s.n_doomed; i += RTNL_BATCH_MAX_OPS)
        {
          struct rtnl_batch b;
          rtnl_batch_init (&b);
          for (size_t j = i; j < s.n_doomed && j < i + RTNL_BATCH_MAX_OPS; j++)
            {
              if (rtnl_req_link_del_index (&b, s.doomed[j]) < 0)
                abort ();
              b.tolerate[b.n_ops - 1] = ENODEV;
            }
          rc = rtnl_talk (&r, &b, NULL, NULL, err);
        }
      rtnl_close (&r);
      if (rc < 0)
        {
          free (s.doomed);
          return rc;
        }
      rep.links = s.n_doomed;
      free (s.doomed);
    }

  /* 6. The open sets hold exactly the live tasks that may reach others. */
  if (h->use_nft)
    {
      cleanup_strv char **addrs = NULL;
      cleanup_strv char **ports = NULL;
      cleanup_free char *cmd = NULL;
      size_t len = 0;
      FILE *f;

      if (open_members (h, &addrs, &ports, err) < 0)
        return berth_err_ret (err);
      f = open_memstream (&cmd, &len);
      if (f == NULL)
        abort ();
      fprintf (f, "flush set inet %s open_addrs\n", h->cfg.nft_table);
      for (char **a = addrs; a && *a; a++)
        fprintf (f, "add element inet %s open_addrs { %s }\n", h->cfg.nft_table, *a);
      if (h->cfg.topology == NETNS_TOPOLOGY_BRIDGE)
        {
          fprintf (f, "flush set bridge %s open_ports\n", h->cfg.nft_table);
          for (char **p = ports; p && *p; p++)
            fprintf (f, "add element bridge %s open_ports { \"%s\" }\n", h->cfg.nft_table, *p);
        }
      fclose (f);
      pthread_mutex_lock (&h->nft_lock);
      rc = netns_nft_run (h->nft, cmd, err);
      pthread_mutex_unlock (&h->nft_lock);
      if (rc < 0)
        return berth_err_wrap (err, "rebuild the open sets");
    }
  if (ret)
    *ret = rep;
  return 0;
}

/* ------------------------------------------------------------------ results */

void
netns_task_net_free (struct netns_task_net *n)
{
  if (n == NULL)
    return;
  free (n->task_id);
  free (n->netns_path);
  free (n->ifname);
  free (n->host_ifname);
  free (n->hostname);
  free (n->resolv_conf_path);
  free (n->hosts_path);
  free (n->hostname_path);
  free (n);
}

void
netns_task_net_freep (struct netns_task_net **n)
{
  netns_task_net_free (*n);
  *n = NULL;
}

json_object *
netns_task_net_to_json (const struct netns_task_net *n)
{
  json_object *o = json_object_new_object ();
  char b[INET_ADDRSTRLEN], m[18];

  json_object_object_add (o, "task", json_object_new_string (n->task_id));
  json_object_object_add (o, "mode", json_object_new_string (netns_mode_name (n->mode)));
  json_object_object_add (o, "complete", json_object_new_boolean (n->complete));
  if (n->netns_path)
    json_object_object_add (o, "netns", json_object_new_string (n->netns_path));
  if (n->ifname)
    json_object_object_add (o, "ifname", json_object_new_string (n->ifname));
  if (n->has_address)
    {
      json_object_object_add (o, "address", json_object_new_string (netns_ip_str (n->address, b)));
      json_object_object_add (o, "prefixLength", json_object_new_int ((int)n->prefix_len));
      json_object_object_add (o, "gateway", json_object_new_string (netns_ip_str (n->gateway, b)));
      snprintf (m, sizeof m, "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
                n->mac[3], n->mac[4], n->mac[5]);
      json_object_object_add (o, "mac", json_object_new_string (m));
    }
  if (n->mtu)
    json_object_object_add (o, "mtu", json_object_new_int ((int)n->mtu));
  if (n->host_ifname)
    json_object_object_add (o, "hostIfname", json_object_new_string (n->host_ifname));
  json_object_object_add (o, "reachTasks", json_object_new_boolean (n->reach_tasks));
  if (n->hostname)
    json_object_object_add (o, "hostname", json_object_new_string (n->hostname));
  json_object_object_add (o, "resolvConf", json_object_new_string (n->resolv_conf_path));
  json_object_object_add (o, "hosts", json_object_new_string (n->hosts_path));
  json_object_object_add (o, "hostnameFile", json_object_new_string (n->hostname_path));
  return o;
}
