/*
 * fatbin.h - registered fat binaries, kernels and __device__ variables.
 */
#ifndef XMIG_FATBIN_H
#define XMIG_FATBIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"

#define XMIG_MODULE_MAGIC 0x4d4f444cu
#define XMIG_FUNC_MAGIC 0x46554e43u

struct xmig_var;

struct xmig_module {
	uint32_t magic;
	uint64_t id;               /* ours; the server keeps it across moves */
	const void *image;         /* the fat binary in the program's memory */
	size_t size;
	bool loaded;
	struct xmig_var *vars;
};

struct xmig_func {
	uint32_t magic;
	struct xmig_module *module;
	const void *host_fun;
	char *name;
	_Atomic uint64_t server_id; /* 0 until first use */
	struct xmig_cl_kernel k;    /* valid once server_id is set */
};

struct xmig_var {
	struct xmig_var *next, *next_in_module;
	struct xmig_module *module;
	const void *host_var;
	char *name;
	size_t size;
	int constant;
	uint64_t server_id;
	uint64_t addr;             /* in the proxy addr_owner names */
	uint64_t addr_owner;       /* (xmig_cl_owner_id) */
};

void **xmig_fatbin_register(void *fat_cubin);
void xmig_fatbin_register_function(void **handle, const void *host_fun, const char *device_name);
void xmig_fatbin_register_var(void **handle, const void *host_var, const char *device_name,
			      size_t size, int constant);
void xmig_fatbin_unregister(void **handle);

/* The kernel a host stub or cudaKernel_t stands for, or NULL. */
struct xmig_func *xmig_fatbin_function(const void *p);
/* Make sure the server knows the kernel (loads its module the first time). */
cudaError_t xmig_fatbin_ready(struct xmig_thread *t, struct xmig_func *f);
/* The variable a host shadow stands for (module loaded). */
cudaError_t xmig_fatbin_variable(struct xmig_thread *t, const void *symbol, struct xmig_var **v);
/* v's address in the proxy that serves now (another after a move). */
cudaError_t xmig_fatbin_variable_address(struct xmig_thread *t, struct xmig_var *v,
					 uint64_t *addr);

#endif
