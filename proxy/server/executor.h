/* executor.h - xmig-proxy --serve-remote (executor.c). */
#ifndef XMIG_EXECUTOR_H
#define XMIG_EXECUTOR_H

/* Serve one bridge with GPU `gpu` of this node; an exit status. */
int srv_executor_main(const char *device, int gpu, const char *listen_addr);

#endif
