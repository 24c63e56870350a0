/* berthd's local API: JSON messages over a root-only SOCK_SEQPACKET unix socket
 * (docs/local-api.md), served on the event loop. The berth CLI is its client. */
#ifndef BERTH_AGENT_API_H
#define BERTH_AGENT_API_H

#include "agent/engine/engine.h"

struct api_server;

int api_server_open (struct berth_loop *loop, struct engine *engine, const char *path,
                     struct api_server **ret, berth_err *err);
void api_server_free (struct api_server *s);

#endif
