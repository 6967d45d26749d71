/*
 * sim-kernels.h - kernels of the sim test device, written in C.
 *
 * The sim device (XMIG_DEVICE=sim) keeps device memory in host RAM mapped at
 * the device addresses themselves, so a device pointer found in a kernel's
 * parameters can be dereferenced directly here. It cannot run GPU code: each
 * kernel that a test program launches has a C implementation below,
 * selected by the kernel's mangled name. A launch of a kernel missing from
 * the table fails loudly (cudaErrorInvalidDeviceFunction plus a message).
 *
 * The sim device is a test double. It exists so that the control plane, the
 * call channel and every migration path run in CI without a GPU.
 */
#ifndef XMIG_SIM_KERNELS_H
#define XMIG_SIM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_dim3 {
	unsigned x, y, z;
};

struct sim_launch {
	struct sim_dim3 grid, block;
	size_t shmem;                 /* dynamic shared memory, bytes */
	/* Address of a __device__/__constant__ variable of the kernel's module. */
	void *(*global)(const struct sim_launch *l, const char *name);
	void *module;                 /* for global() */
	struct sim_dim3 cluster;      /* thread block cluster dimensions (0 or 1: none) */
};

/*
 * A kernel: params points at the packed parameter buffer, laid out as the
 * CUDA ABI lays out the kernel's parameter list (each parameter at its
 * natural alignment), i.e. exactly like a C struct with one member per
 * parameter. Returns 0, or a cudaError_t value for a fault (e.g. 719
 * cudaErrorLaunchFailure for an out-of-range index the kernel detects).
 */
typedef int (*sim_kernel_fn)(const struct sim_launch *l, const void *params);

struct sim_param {
	uint32_t offset, size;
};

struct sim_kernel {
	const char *name;             /* mangled device name, e.g. "_Z6vecAddPKfS0_Pfi" */
	sim_kernel_fn fn;
	const struct sim_param *params;
	unsigned nparams;
	uint32_t param_bytes;         /* sizeof the parameter struct */
};

/* Describe one parameter of a parameter struct. */
#define SIM_PARAM(type, field) \
	{ (uint32_t)offsetof(type, field), (uint32_t)sizeof(((type *)0)->field) }

/*
 * A library double's call (blas-sim.c, ccl/nccl-sim.c) given to stream s: run by the caller
 * at once (*recorded false), or, while s captures, recorded in the capture
 * with a copy of len bytes of arg, to be run on them at each launch of the
 * graph (*recorded true). 0, or a cudaError_t. A call returns 0, or its
 * library's failing status. hold (or NULL) is told of each copy of the
 * record that a graph or an executable graph takes (by +1) and of each
 * one freed with it (by -1), as a library keeps count of the graphs that
 * hold its work (NCCL's communicators do).
 */
typedef int (*sim_call_fn)(const void *arg);
typedef void (*sim_hold_fn)(const void *arg, int by);
int xmig_sim_capture_call(void *dev, void *s, sim_call_fn call, sim_hold_fn hold, const void *arg,
			  size_t len, bool *recorded);

/* The table, terminated by an entry with name == NULL. */
extern const struct sim_kernel sim_kernels[];

const struct sim_kernel *sim_kernel_find(const char *name);

#endif
