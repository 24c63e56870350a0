/* The berth CLI's client of berthd's local API (docs/local-api.md). */
#ifndef BERTH_CLI_CLIENT_H
#define BERTH_CLI_CLIENT_H

#include "common/common.h"

#define BERTH_DEFAULT_API_SOCKET "/run/berth/berthd.sock"

struct api_client
{
  int fd;
  int64_t next_id;
};

/* BERTH_API_SOCKET, else the default. */
int api_client_connect (struct api_client *c, berth_err *err);
void api_client_close (struct api_client *c);
/* Sends op with args (consumed), waits for its answer. An answer with ok=false becomes an
 * error with the daemon's message. Events arriving meanwhile are dropped. */
int api_client_call (struct api_client *c, const char *op, json_object *args, const int *fds,
                     size_t n_fds, json_object **ret, int *ret_fd, berth_err *err);
/* The next pushed event (blocking). */
int api_client_next_event (struct api_client *c, json_object **ret, berth_err *err);

#endif
