/*
 * blas-warm.h - what the standby's run-ahead of the job's GEMMs
 * (blas-warm.c) and cuBLASLt matmuls (blaslt-warm.c) share: scratch
 * memory of the standby's own, outside the job's, with a stream of its
 * own, and the shapes' hex form in the prelude.
 */
#ifndef XMIG_BLAS_WARM_H
#define XMIG_BLAS_WARM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct srv;

/*
 * A shape needing more scratch than this (or than srv_warm_cap says) is
 * left for the job's first step.
 */
#define SCRATCH_MAX (256ull << 20)
/* On the sim device a matrix product is computed on the CPU: small ones only. */
#define SIM_FMA_MAX (1ull << 24)

/* n bytes placed at *at (256-byte aligned, as fast kernels want): where; *at goes past them. */
static inline uint64_t srv_warm_place(uint64_t *at, uint64_t n)
{
	uint64_t here = *at;

	*at += (n + 255) & ~255ull;
	return here;
}

struct srv_warm_scratch {
	uint64_t va, size;
	void *mem, *stream;
};

/* The scratch a shape may use: SCRATCH_MAX, or a quarter of the GPU's free memory. */
uint64_t srv_warm_cap(struct srv *s);
/* need bytes (rounded up to the granularity) mapped at w->va, and a stream: 0 or a status. */
int srv_warm_scratch_open(struct srv *s, uint64_t need, struct srv_warm_scratch *w);
/* Wait for its stream (that status), then free it all. */
int srv_warm_scratch_close(struct srv *s, struct srv_warm_scratch *w);

/*
 * Bytes a matrix spans: lines of ld elements of elem bytes, batch of them
 * stride elements apart; SCRATCH_MAX + 1 past the limit, or for a
 * negative stride (no product overflows on the way).
 */
uint64_t srv_warm_span(uint64_t elem, uint64_t ld, uint64_t lines, int64_t batch, int64_t stride);

/* Bytes of one element of a cudaDataType; 0: one not run ahead. */
uint64_t srv_warm_type_bytes(int type);

json_t *srv_warm_hex(const void *b, size_t n);
/* hex's bytes into b, if it is hex of exactly n bytes: true; else b is left. */
bool srv_warm_unhex(const char *hex, void *b, size_t n);

#endif
