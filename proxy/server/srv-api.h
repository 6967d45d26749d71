/*
 * srv-api.h - prototypes of the server's implementations of the generic
 * functions (cudart.def), derived from the table:
 *
 *   XMIG_FN(cudaStreamWaitEvent, ASYNC, PTSZ, (STREAM, cudaStream_t, stream),
 *           (EVENT, cudaEvent_t, event), (VAL, unsigned int, flags))
 * gives
 *   int srv_cudaStreamWaitEvent(struct xmig_call *c, struct srv_stream *stream,
 *                               struct srv_event *event, unsigned int flags);
 *
 * Handles arrive translated (never NULL); OUT arguments point into the reply.
 */
#ifndef XMIG_SRV_API_H
#define XMIG_SRV_API_H

#include "server.h"

#define XMIG_SRV_PARAM_VAL(T, N) T N
#define XMIG_SRV_PARAM_STREAM(T, N) struct srv_stream *N
#define XMIG_SRV_PARAM_EVENT(T, N) struct srv_event *N
#define XMIG_SRV_PARAM_FUNC(T, N) struct srv_func *N
#define XMIG_SRV_PARAM_OUT(T, N) T N
#define XMIG_SRV_PARAM_OUTOPT(T, N) T N
#define XMIG_SRV_PARAM_OUTSTREAM(T, N) uint64_t *N
#define XMIG_SRV_PARAM_OUTEVENT(T, N) uint64_t *N
#define XMIG_SRV_PARAM_NONE(T, N) int N

#define XMIG_FN(name, call, pt, ...) \
	int srv_##name(struct xmig_call *c, XMIG_LIST(XMIG_SRV_PARAM, __VA_ARGS__));
#include "../api/cudart.def"
#undef XMIG_FN

#endif
