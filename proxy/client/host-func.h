/*
 * host-func.h - what the client library's other files ask of its host
 * functions (host-func.c).
 */
#ifndef XMIG_HOST_FUNC_H
#define XMIG_HOST_FUNC_H

#include <stdbool.h>

#include "../channel/shm.h"

/* Is the calling thread running one of the application's host functions? */
__attribute__((visibility("hidden"))) bool xmig_host_func_running_here(void);
/* The channel's shared header (client.c), once connected. */
__attribute__((visibility("hidden"))) struct xmig_shm_header *xmig_cl_header(void);

#endif
