/*
 * cudart-facade.h - what the files of the libcudart facade that record
 * each call's status share (cudart.c, cudart-mempool.c): how a call starts
 * and how it returns, so cudaGetLastError sees it.
 */
#ifndef XMIG_CUDART_FACADE_H
#define XMIG_CUDART_FACADE_H

#include "client.h"

#define API __attribute__((visibility("default")))

/* Start the proxy if need be and find this thread's ring, or return the error. */
#define ENTER(t)                                      \
	struct xmig_thread *t;                        \
	do {                                          \
		cudaError_t e_ = xmig_cl_enter(&t);   \
		if (e_)                               \
			return e_;                    \
	} while (0)

/* The status, recorded for cudaGetLastError / cudaPeekAtLastError. */
#define RETURN(t, e) return xmig_cl_record((t), (e))

#endif
