/* berth's nftables tables, through libnftables: one `inet` table (NAT for egress, isolation
 * by address, metadata and endpoint rules, anti-spoofing for ptp) and, on a bridge, one
 * `bridge` table (isolation by port, which a task cannot spoof). Only berth's own tables are
 * ever created, replaced or changed; other rules on the host are never touched. */
#include "netns-internal.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <nftables/libnftables.h>

/* Bump when the generated ruleset changes shape, so running hosts replace their tables. */
#define RULESET_VERSION "1"

uint64_t
netns_nft_config_hash (const struct netns_config *cfg)
{
  cleanup_free char *s = NULL;
  char b1[INET_ADDRSTRLEN];
  size_t len = 0;
  FILE *f = open_memstream (&s, &len);

  if (f == NULL)
    abort ();
  fprintf (f, "v" RULESET_VERSION " %s %s %s nat=%d iso=%d md=%d ep=%d", cfg->nft_table,
           netns_topology_name (cfg->topology), cfg->bridge ? cfg->bridge : "", cfg->nat != 0,
           cfg->isolate, cfg->block_metadata, cfg->task_endpoint != 0);
  for (size_t i = 0; i < cfg->n_pools; i++)
    fprintf (f, " %s/%u", netns_ip_str (cfg->pools[i].subnet, b1), cfg->pools[i].prefix_len);
  fclose (f);
  return netns_hash ("nft", s);
}

static void
pools_set (FILE *f, const struct netns_config *cfg)
{
  char b[INET_ADDRSTRLEN];
  fputs ("{ ", f);
  for (size_t i = 0; i < cfg->n_pools; i++)
    fprintf (f, "%s%s/%u", i ? ", " : "", netns_ip_str (cfg->pools[i].subnet, b),
             cfg->pools[i].prefix_len);
  fputs (" }", f);
}

static void
elements (FILE *f, char *const *v, bool quote)
{
  if (v == NULL || *v == NULL)
    return;
  fputs ("\t\telements = { ", f);
  for (char *const *p = v; *p; p++)
    fprintf (f, "%s%s%s%s", p == v ? "" : ", ", quote ? "\"" : "", *p, quote ? "\"" : "");
  fputs (" }\n", f);
}

/* nat and task_endpoint are resolved (0/1) by the caller. */
char *
netns_nft_ruleset (const struct netns_config *cfg, uint64_t cfg_hash, char *const *open_addrs,
                   char *const *open_ports)
{
  char *s = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&s, &len);
  const char *t = cfg->nft_table;

  if (f == NULL)
    abort ();
  /* "table x {}" then "delete table x" makes the replacement work whether or not the table
   * exists; all of it is one transaction, so there is no moment without the rules. */
  fprintf (f, "table inet %s {}\ndelete table inet %s\n", t, t);
  fprintf (f, "table inet %s {\n", t);
  fprintf (f, "\tset cfg_%016" PRIx64 " {\n\t\ttype ipv4_addr\n\t}\n", cfg_hash);
  fprintf (f, "\tset open_addrs {\n\t\ttype ipv4_addr\n");
  elements (f, open_addrs, false);
  fprintf (f, "\t}\n");

  if (cfg->topology == NETNS_TOPOLOGY_PTP)
    {
      /* Strict reverse-path check on task links: a task cannot send from another task's
       * address (each task's /32 is routed through its own link). */
      fprintf (f, "\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy "
                  "accept;\n");
      fprintf (f, "\t\tiifname \"" NETNS_HOST_IF_PREFIX "*\" fib saddr . iif oif missing drop\n");
      fprintf (f, "\t}\n");
    }

  fprintf (f, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
  if (cfg->block_metadata)
    {
      fprintf (f, "\t\tip saddr ");
      pools_set (f, cfg);
      fprintf (f, " ip daddr " NETNS_METADATA_ADDR " drop\n");
    }
  fprintf (f, "\t}\n");

  fprintf (f, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy "
              "accept;\n");
  if (cfg->block_metadata)
    {
      fprintf (f, "\t\tip saddr ");
      pools_set (f, cfg);
      fprintf (f, " ip daddr " NETNS_METADATA_ADDR " drop\n");
    }
  if (cfg->task_endpoint)
    {
      /* The endpoint is served on the host; never forward it elsewhere. */
      fprintf (f, "\t\tip saddr ");
      pools_set (f, cfg);
      fprintf (f, " ip daddr " NETNS_TASK_ENDPOINT_ADDR " drop\n");
    }
  if (cfg->isolate)
    {
      fprintf (f, "\t\tip saddr ");
      pools_set (f, cfg);
      fprintf (f, " ip daddr ");
      pools_set (f, cfg);
      fprintf (f, " ip saddr @open_addrs ip daddr @open_addrs accept\n");
      fprintf (f, "\t\tip saddr ");
      pools_set (f, cfg);
      fprintf (f, " ip daddr ");
      pools_set (f, cfg);
      fprintf (f, " drop\n");
    }
  fprintf (f, "\t}\n");

  fprintf (f, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy "
              "accept;\n");
  if (cfg->nat)
    {
      fprintf (f, "\t\tip saddr ");
      pools_set (f, cfg);
      fprintf (f, " ip daddr != ");
      pools_set (f, cfg);
      fprintf (f, " masquerade\n");
    }
  fprintf (f, "\t}\n}\n");

  if (cfg->topology == NETNS_TOPOLOGY_BRIDGE)
    {
      /* Bridged frames between two task ports never reach the inet hooks unless
       * br_netfilter is loaded; the bridge family sees them, by port, whatever the task
       * puts in its source address. */
      fprintf (f, "table bridge %s {}\ndelete table bridge %s\n", t, t);
      fprintf (f, "table bridge %s {\n", t);
      fprintf (f, "\tset cfg_%016" PRIx64 " {\n\t\ttype ipv4_addr\n\t}\n", cfg_hash);
      fprintf (f, "\tset open_ports {\n\t\ttype ifname\n");
      elements (f, open_ports, true);
      fprintf (f, "\t}\n");
      fprintf (f, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy "
                  "accept;\n");
      if (cfg->isolate)
        {
          fprintf (f, "\t\tiifname @open_ports oifname @open_ports accept\n");
          fprintf (f, "\t\tiifname \"" NETNS_HOST_IF_PREFIX "*\" oifname \"" NETNS_HOST_IF_PREFIX
                      "*\" drop\n");
        }
      fprintf (f, "\t}\n}\n");
    }
  else
    {
      /* A bridge table left from an earlier NET_MODE=bridge configuration. */
      fprintf (f, "table bridge %s {}\ndelete table bridge %s\n", t, t);
    }
  fclose (f);
  return s;
}

int
netns_nft_run (struct nft_ctx *ctx, const char *cmd, berth_err *err)
{
  int r = nft_run_cmd_from_buffer (ctx, cmd);
  const char *msg = nft_ctx_get_error_buffer (ctx);

  if (r != 0)
    {
      cleanup_free char *m = xstrdup (msg ? msg : "");
      size_t n = strlen (m);
      while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        m[--n] = '\0';
      return berth_err_set (err, 0, "nftables: %s", n ? m : "command failed");
    }
  return 0;
}

int
netns_nft_tables_current (const struct netns_config *cfg, uint64_t cfg_hash, berth_err *err)
{
  struct rtnl r = { 0 };
  struct rtnl_batch *b = xmalloc (sizeof *b);
  cleanup_err berth_err e = NULL;
  char marker[32];
  int ret;

  snprintf (marker, sizeof marker, "cfg_%016" PRIx64, cfg_hash);
  rtnl_batch_init (b);
  if (rtnl_req_nft_get (b, NFT_MSG_GETSET, NFPROTO_INET, cfg->nft_table, marker) < 0
      || (cfg->topology == NETNS_TOPOLOGY_BRIDGE
          && rtnl_req_nft_get (b, NFT_MSG_GETSET, NFPROTO_BRIDGE, cfg->nft_table, marker) < 0))
    {
      free (b);
      return berth_err_set (err, ENOSPC, "netlink batch");
    }
  if (nl_open (&r, NETLINK_NETFILTER, err) < 0)
    {
      free (b);
      return berth_err_ret (err);
    }
  ret = rtnl_talk (&r, b, NULL, NULL, &e);
  rtnl_close (&r);
  free (b);
  if (ret == -ENOENT)
    return 0;
  if (ret < 0)
    {
      netns_err_move (err, &e);
      return ret;
    }
  return 1;
}
