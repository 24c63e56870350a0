/* The systemd notification protocol (sd_notify(3)): READY=1, STATUS=..., WATCHDOG=1 as
 * datagrams to $NOTIFY_SOCKET. A few lines of socket code; berth does not link libsystemd
 * for it (Bottlerocket-like hosts ship the protocol, not always the library's headers). */
#ifndef BERTH_AGENT_NOTIFY_H
#define BERTH_AGENT_NOTIFY_H

#include "common/common.h"

/* 0 when NOTIFY_SOCKET is unset (not under systemd), 1 when sent, negative on error. */
int berth_notify (const char *state);
/* The watchdog interval systemd asked for (WATCHDOG_USEC, for this pid), or 0. */
uint64_t berth_notify_watchdog_ns (void);

#endif
