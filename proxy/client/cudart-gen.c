/*
 * cudart-gen.c - client stubs of the generic functions, generated from
 * proxy/api/cudart.def (see api.h for the notation). For an entry
 *
 *   XMIG_FN(cudaStreamQuery, SYNC, PTSZ, (STREAM, cudaStream_t, stream))
 *
 * this defines cudaStreamQuery() and cudaStreamQuery_ptsz(): check the
 * arguments, resolve kernels, pack the request, post it or wait for the
 * reply, unpack the out-values, remember the error.
 */
#define _GNU_SOURCE
#include <string.h>

#include <cuda_runtime_api.h>

#include "client.h"
#include "fatbin.h"

#define XMIG_CLI_PARAM_VAL(T, N) T N
#define XMIG_CLI_PARAM_STREAM(T, N) T N
#define XMIG_CLI_PARAM_EVENT(T, N) T N
#define XMIG_CLI_PARAM_FUNC(T, N) T N
#define XMIG_CLI_PARAM_OUT(T, N) T N
#define XMIG_CLI_PARAM_OUTOPT(T, N) T N
#define XMIG_CLI_PARAM_OUTSTREAM(T, N) T N
#define XMIG_CLI_PARAM_OUTEVENT(T, N) T N
#define XMIG_CLI_PARAM_NONE(T, N) void

/* Before the request is built: argument checks and kernel resolution. */
#define XMIG_CLI_CHECK_VAL(T, N)
#define XMIG_CLI_CHECK_STREAM(T, N)
#define XMIG_CLI_CHECK_EVENT(T, N)
#define XMIG_CLI_CHECK_OUTOPT(T, N)
#define XMIG_CLI_CHECK_NONE(T, N)
#define XMIG_CLI_CHECK_OUT(T, N) \
	if (!N) return xmig_cl_record(t_, cudaErrorInvalidValue);
#define XMIG_CLI_CHECK_OUTSTREAM(T, N) XMIG_CLI_CHECK_OUT(T, N)
#define XMIG_CLI_CHECK_OUTEVENT(T, N) XMIG_CLI_CHECK_OUT(T, N)
#define XMIG_CLI_CHECK_FUNC(T, N) \
	struct xmig_func *f_##N = xmig_fatbin_function(N); \
	if (!f_##N) return xmig_cl_record(t_, cudaErrorInvalidDeviceFunction); \
	if ((e_ = xmig_fatbin_ready(t_, f_##N))) return xmig_cl_record(t_, e_);

#define XMIG_CLI_PACK_VAL(T, N) a_->N = N;
#define XMIG_CLI_PACK_STREAM(T, N) a_->N = xmig_cl_stream_id(N, pt_);
#define XMIG_CLI_PACK_EVENT(T, N) a_->N = xmig_cl_event_id(N);
#define XMIG_CLI_PACK_FUNC(T, N) a_->N = f_##N->server_id;
#define XMIG_CLI_PACK_OUT(T, N)
#define XMIG_CLI_PACK_OUTOPT(T, N)
#define XMIG_CLI_PACK_OUTSTREAM(T, N)
#define XMIG_CLI_PACK_OUTEVENT(T, N)
#define XMIG_CLI_PACK_NONE(T, N)

#define XMIG_CLI_UNPACK_VAL(T, N)
#define XMIG_CLI_UNPACK_STREAM(T, N)
#define XMIG_CLI_UNPACK_EVENT(T, N)
#define XMIG_CLI_UNPACK_FUNC(T, N)
#define XMIG_CLI_UNPACK_NONE(T, N)
#define XMIG_CLI_UNPACK_OUT(T, N) memcpy(N, &r_->N, sizeof(*N));
#define XMIG_CLI_UNPACK_OUTOPT(T, N) if (N) memcpy(N, &r_->N, sizeof(*N));
#define XMIG_CLI_UNPACK_OUTSTREAM(T, N) *N = xmig_cl_stream_handle(r_->N);
#define XMIG_CLI_UNPACK_OUTEVENT(T, N) *N = xmig_cl_event_handle(r_->N);

#define XMIG_STUB(fname, name, call, ptflag, ...)                                        \
	__attribute__((visibility("default")))                                           \
	cudaError_t fname(XMIG_LIST(XMIG_CLI_PARAM, __VA_ARGS__))                        \
	{                                                                                \
		const int pt_ = (ptflag);                                                \
		struct xmig_thread *t_;                                                  \
		struct xmig_req_##name *a_;                                              \
		struct xmig_res_##name *r_ = NULL;                                       \
		cudaError_t e_ = xmig_cl_enter(&t_);                                     \
		(void)pt_;                                                               \
		if (e_)                                                                  \
			return e_;                                                       \
		XMIG_EACH(XMIG_CLI_CHECK, __VA_ARGS__)                                   \
		a_ = xmig_cl_begin(t_, XMIG_OP_##name, sizeof(*a_));                     \
		if (!a_)                                                                 \
			return xmig_cl_lost();                                           \
		XMIG_EACH(XMIG_CLI_PACK, __VA_ARGS__)                                    \
		e_ = xmig_cl_end(t_, XMIG_CALL_##call, (void **)&r_);                    \
		if (e_ == cudaSuccess && r_) {                                           \
			XMIG_EACH(XMIG_CLI_UNPACK, __VA_ARGS__)                          \
		}                                                                        \
		return xmig_cl_record(t_, e_);                                           \
	}

#define XMIG_STUB_NOPT(name, call, ...)
#define XMIG_STUB_PTSZ(name, call, ...) XMIG_STUB(name##_ptsz, name, call, 1, __VA_ARGS__)

#define XMIG_FN(name, call, pt, ...)                               \
	XMIG_STUB(name, name, call, 0, __VA_ARGS__)                \
	XMIG_STUB_##pt(name, call, __VA_ARGS__)
#include "../api/cudart.def"
#undef XMIG_FN
