/* The berthd <-> berth-shim protocol: one JSON object per SOCK_SEQPACKET message, file
 * descriptors attached with SCM_RIGHTS. Requests carry "id" and "op"; the shim answers each
 * with {"id", "ok", ...} or {"id", "ok": false, "error"} and pushes {"event": ...} messages
 * (container exits, exec exits) to every connected client. docs/shim.md describes it. */
#ifndef BERTH_SHIM_PROTOCOL_H
#define BERTH_SHIM_PROTOCOL_H

#define SHIM_PROTOCOL_VERSION 1
#define SHIM_SOCKET_NAME      "shim.sock"
#define SHIM_PID_NAME         "shim.pid"

#endif
