/*
 * cuda-link.c - the driver's JIT linker (cuLinkCreate, cuLinkAddData,
 * cuLinkAddFile, cuLinkComplete, cuLinkDestroy), as Numba uses it for
 * every kernel. The inputs are gathered here; cuLinkComplete sends the
 * job to the proxy, whose driver links it for the GPU it has
 * (proxy/server/srv-link.c), and takes back the cubin and the logs, which
 * it writes where the application's options asked. The cubin is then the
 * application's to load as any image.
 *
 * Options that hold numbers travel; the logs and the wall time are
 * answered here; options that name memory of the application's
 * (global symbol tables, referenced kernel names) fail loudly.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/xmig.h"
#include "cu-facade.h"

#define LINK_MAGIC 0x4c4e4b58u   /* "XKNL" */

struct cu_link {
	uint32_t magic;
	uint64_t id;
	/* the options as given: the driver writes its answers into them at cuLinkComplete */
	void **values;
	int info_buf, info_size, error_buf, error_size, wall_time;   /* their index, or -1 */
	struct xmig_link_opt opts[64];
	unsigned nopts;
	unsigned char *job;          /* head, options, inputs: struct xmig_link_job */
	size_t len, cap;
	unsigned ninputs;
	unsigned char *result;       /* cubin, info log, error log (after cuLinkComplete) */
};

static struct cu_link *link_of(CUlinkState s)
{
	struct cu_link *l = (struct cu_link *)s;

	return l && l->magic == LINK_MAGIC ? l : NULL;
}

static bool numeric(CUjit_option o)
{
	switch (o) {
	case CU_JIT_MAX_REGISTERS: case CU_JIT_THREADS_PER_BLOCK: case CU_JIT_OPTIMIZATION_LEVEL:
	case CU_JIT_TARGET_FROM_CUCONTEXT: case CU_JIT_TARGET: case CU_JIT_FALLBACK_STRATEGY:
	case CU_JIT_GENERATE_DEBUG_INFO: case CU_JIT_LOG_VERBOSE: case CU_JIT_GENERATE_LINE_INFO:
	case CU_JIT_CACHE_MODE: case CU_JIT_NEW_SM3X_OPT: case CU_JIT_FAST_COMPILE:
	case CU_JIT_POSITION_INDEPENDENT_CODE: case CU_JIT_MIN_CTA_PER_SM:
	case CU_JIT_MAX_THREADS_PER_BLOCK: case CU_JIT_OVERRIDE_DIRECTIVE_VALUES:
		return true;
	default:
		return false;
	}
}

static int append(struct cu_link *l, const void *p, size_t n)
{
	size_t padded = (n + 7) & ~(size_t)7;

	if (l->len + padded > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		unsigned char *j;

		while (cap < l->len + padded)
			cap *= 2;
		if (!(j = realloc(l->job, cap)))
			return -1;
		l->job = j;
		l->cap = cap;
	}
	memcpy(l->job + l->len, p, n);
	memset(l->job + l->len + n, 0, padded - n);
	l->len += padded;
	return 0;
}

API CUresult cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues,
			     CUlinkState *stateOut)
{
	static _Atomic uint64_t next_id = 1;
	struct cu_link *l;

	if (!stateOut || (numOptions && (!options || !optionValues)))
		return CUDA_ERROR_INVALID_VALUE;
	CU_ENTER(t);
	if (!(l = calloc(1, sizeof(*l))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	l->magic = LINK_MAGIC;
	l->id = atomic_fetch_add(&next_id, 1);
	l->values = optionValues;
	l->info_buf = l->info_size = l->error_buf = l->error_size = l->wall_time = -1;
	for (unsigned i = 0; i < numOptions; i++) {
		switch (options[i]) {
		case CU_JIT_INFO_LOG_BUFFER: l->info_buf = (int)i; continue;
		case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES: l->info_size = (int)i; continue;
		case CU_JIT_ERROR_LOG_BUFFER: l->error_buf = (int)i; continue;
		case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES: l->error_size = (int)i; continue;
		case CU_JIT_WALL_TIME: l->wall_time = (int)i; continue;
		default:
			break;
		}
		if (!numeric(options[i]) || l->nopts == 64) {
			free(l);
			xmig_cl_unsupported("cuLinkCreate with a JIT option that names memory "
					    "(global symbols, kernel names)");
			return CUDA_ERROR_NOT_SUPPORTED;
		}
		l->opts[l->nopts++] = (struct xmig_link_opt){ (uint32_t)options[i], 0,
							      (uint64_t)(uintptr_t)optionValues[i] };
	}
	*stateOut = (CUlinkState)l;
	return CUDA_SUCCESS;
}

API CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size,
			      const char *name, unsigned int numOptions, CUjit_option *options,
			      void **optionValues)
{
	struct cu_link *l = link_of(state);
	struct xmig_link_input in;
	const char *n = name ? name : "";

	if (!l || !data || !size || (unsigned)type > CU_JIT_INPUT_LIBRARY)
		return CUDA_ERROR_INVALID_VALUE;
	if (numOptions) {
		xmig_cl_unsupported("cuLinkAddData with options of its own");
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	in = (struct xmig_link_input){ (uint32_t)type, (uint32_t)strlen(n), size };
	if (append(l, &in, sizeof(in)) < 0 || append(l, n, in.name_len) < 0 ||
	    append(l, data, size) < 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	l->ninputs++;
	return CUDA_SUCCESS;
}

API CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path,
			      unsigned int numOptions, CUjit_option *options, void **optionValues)
{
	struct stat st;
	void *data;
	CUresult r;
	int fd;

	if (!link_of(state) || !path)
		return CUDA_ERROR_INVALID_VALUE;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return CUDA_ERROR_FILE_NOT_FOUND;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || !(data = malloc((size_t)st.st_size))) {
		close(fd);
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (xmig_read_full(fd, data, (size_t)st.st_size) != (ssize_t)st.st_size)
		r = CUDA_ERROR_FILE_NOT_FOUND;
	else
		r = cuLinkAddData_v2(state, type, data, (size_t)st.st_size, path, numOptions,
				     options, optionValues);
	close(fd);
	free(data);
	return r;
}

/* One phase of the job's LINK; *res the reply. */
static cudaError_t link_call(struct xmig_thread *t, const struct cu_link *l, uint32_t phase,
			     uint64_t total, uint64_t offset, uint64_t size,
			     struct xmig_link_res *res)
{
	struct xmig_link_req *a = xmig_cl_begin(t, XMIG_OP_LINK, sizeof(*a));
	struct xmig_link_res *r;
	cudaError_t e;

	if (!a)
		return xmig_cl_lost();
	*a = (struct xmig_link_req){ l->id, phase, 0, total, offset, size };
	e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r);
	if (res)
		*res = e ? (struct xmig_link_res){ 0 } : *r;
	return e;
}

/* A log into the application's buffer (NUL-terminated, cut to fit), its size option answered. */
static void give_log(struct cu_link *l, int buf, int size, const unsigned char *log, size_t n)
{
	size_t room;

	if (buf < 0 || size < 0 || !l->values[buf])
		return;
	room = (size_t)(uintptr_t)l->values[size];
	if (!room)
		return;
	if (n > room - 1)
		n = room - 1;
	memcpy(l->values[buf], log, n);
	((char *)l->values[buf])[n] = '\0';
	l->values[size] = (void *)(uintptr_t)n;
}

API CUresult cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
	struct cu_link *l = link_of(state);
	struct xmig_link_job head;
	struct xmig_link_res res = { 0 };
	uint64_t t0 = xmig_now_ns(), all, off;
	unsigned char *job;
	size_t total;
	cudaError_t e;

	if (!l || !cubinOut || !sizeOut || !l->ninputs)
		return CUDA_ERROR_INVALID_VALUE;
	CU_ENTER(t);
	/* (the head and options before the inputs gathered so far) */
	head = (struct xmig_link_job){ l->nopts, l->ninputs,
		l->info_size >= 0 ? (uint64_t)(uintptr_t)l->values[l->info_size] : 0,
		l->error_size >= 0 ? (uint64_t)(uintptr_t)l->values[l->error_size] : 0 };
	total = sizeof(head) + l->nopts * sizeof(l->opts[0]) + l->len;
	if (!(job = malloc(total)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	memcpy(job, &head, sizeof(head));
	memcpy(job + sizeof(head), l->opts, l->nopts * sizeof(l->opts[0]));
	memcpy(job + sizeof(head) + l->nopts * sizeof(l->opts[0]), l->job, l->len);
	/*
	 * The job lives in the proxy between its calls: a move in between
	 * leaves it with the old proxy, so the new one is sent it again.
	 */
	for (int attempt = 0;; attempt++) {
		uint64_t owner = xmig_cl_owner_id();

		if ((e = xmig_cl_bulk_idle(t)))
			goto out;
		for (off = 0; off < total && !e; off += XMIG_BULK_HALF) {
			uint64_t n = total - off < XMIG_BULK_HALF ? total - off : XMIG_BULK_HALF;

			memcpy(t->ring->bulk, job + off, n);
			e = link_call(t, l, XMIG_LINK_PUT, total, off, n, NULL);
		}
		if (!e)
			e = link_call(t, l, XMIG_LINK_RUN, 0, 0, 0, &res);
		all = res.cubin_size + res.info_size + res.error_size;
		free(l->result);
		l->result = NULL;
		if (!e && !(l->result = malloc(all ? all : 1)))
			e = cudaErrorMemoryAllocation;
		for (off = 0; off < all && !e; off += XMIG_BULK_HALF) {
			uint64_t n = all - off < XMIG_BULK_HALF ? all - off : XMIG_BULK_HALF;

			if (!(e = link_call(t, l, XMIG_LINK_GET, 0, off, n, NULL)))
				memcpy(l->result + off, t->ring->bulk, n);
		}
		if (!e)
			break;
		if (e != cudaErrorInvalidValue || xmig_cl_owner_id() == owner || attempt == 3)
			goto out;
		link_call(t, l, XMIG_LINK_DROP, 0, 0, 0, NULL);
	}
	give_log(l, l->info_buf, l->info_size, l->result + res.cubin_size, res.info_size);
	give_log(l, l->error_buf, l->error_size, l->result + res.cubin_size + res.info_size,
		 res.error_size);
	if (l->wall_time >= 0) {
		float ms = (float)((xmig_now_ns() - t0) / 1e6);
		uintptr_t bits = 0;

		memcpy(&bits, &ms, sizeof(ms));
		l->values[l->wall_time] = (void *)bits;
	}
	if (!res.status) {
		*cubinOut = l->result;
		*sizeOut = res.cubin_size;
	}
out:
	link_call(t, l, XMIG_LINK_DROP, 0, 0, 0, NULL);
	free(job);
	return e ? xmig_cu_result(e) : (CUresult)res.status;
}

API CUresult cuLinkDestroy(CUlinkState state)
{
	struct cu_link *l = link_of(state);

	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	l->magic = 0;
	free(l->job);
	free(l->result);
	free(l);
	return CUDA_SUCCESS;
}

/* The ABI of CUDA 5.5 to 6.5: the same arguments. */
#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile
API CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
			  CUlinkState *stateOut)
{
	return cuLinkCreate_v2(numOptions, options, optionValues, stateOut);
}

API CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
			   const char *name, unsigned int numOptions, CUjit_option *options,
			   void **optionValues)
{
	return cuLinkAddData_v2(state, type, data, size, name, numOptions, options, optionValues);
}

API CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
			   unsigned int numOptions, CUjit_option *options, void **optionValues)
{
	return cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}
