/*
 * api.h - turn the function tables (*.def) into code.
 *
 * Each forwarded function is described once, as data:
 *
 *   XMIG_FN(name, call, pt, (KIND, type, arg), ...)
 *
 *   call  ASYNC  posted without waiting; an error surfaces later, as an
 *                asynchronous CUDA error does
 *         SYNC   waits for the server's status and out-values
 *         SYNCW  synchronising: waits, and also reports an error left by an
 *                earlier posted call
 *   pt    PTSZ   also export name_ptsz, where stream 0 is the per-thread
 *                default stream; NOPT otherwise
 *   KIND  VAL       passed by value
 *         STREAM    a cudaStream_t, carried as its logical id
 *         EVENT     a cudaEvent_t, carried as its logical id
 *         FUNC      a kernel (host stub or cudaKernel_t), carried as the
 *                   server's function id (its module is loaded on demand)
 *         OUT       pointer to one value the server fills (NULL: invalid value)
 *         OUTOPT    the same, NULL allowed
 *         OUTSTREAM pointer to a new cudaStream_t
 *         OUTEVENT  pointer to a new cudaEvent_t
 *         NONE      no arguments at all: (NONE, void, _)
 *
 * From one entry, api.h derives the op id, the request and reply layouts,
 * the client stub (proxy/client/cudart-gen.c), the server's unpacking and
 * handle translation (proxy/server/dispatch.c) and the prototype of the
 * server's implementation, srv_<name>(), written by hand in
 * proxy/server/ where the semantics live.
 */
#ifndef XMIG_API_H
#define XMIG_API_H

#define XMIG_CAT(a, b) XMIG_CAT_(a, b)
#define XMIG_CAT_(a, b) a##b
#define XMIG_EXPAND(...) __VA_ARGS__

/* Apply ctx_KIND(type, name) to one (KIND, type, name) tuple. */
#define XMIG_ARG(ctx, tup) XMIG_ARG_(ctx, XMIG_EXPAND tup)
#define XMIG_ARG_(ctx, ...) XMIG_ARG__(ctx, __VA_ARGS__)
#define XMIG_ARG__(ctx, K, T, N) ctx##_##K(T, N)

#define XMIG_NARGS(...) XMIG_NARGS_(__VA_ARGS__, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define XMIG_NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, N, ...) N

/* Statements: ctx applied to each tuple in turn. */
#define XMIG_EACH(ctx, ...) XMIG_CAT(XMIG_EACH_, XMIG_NARGS(__VA_ARGS__))(ctx, __VA_ARGS__)
#define XMIG_EACH_1(c, a) XMIG_ARG(c, a)
#define XMIG_EACH_2(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_1(c, __VA_ARGS__)
#define XMIG_EACH_3(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_2(c, __VA_ARGS__)
#define XMIG_EACH_4(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_3(c, __VA_ARGS__)
#define XMIG_EACH_5(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_4(c, __VA_ARGS__)
#define XMIG_EACH_6(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_5(c, __VA_ARGS__)
#define XMIG_EACH_7(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_6(c, __VA_ARGS__)
#define XMIG_EACH_8(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_7(c, __VA_ARGS__)
#define XMIG_EACH_9(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_8(c, __VA_ARGS__)
#define XMIG_EACH_10(c, a, ...) XMIG_ARG(c, a) XMIG_EACH_9(c, __VA_ARGS__)

/* Comma-separated: ctx applied to each tuple (for parameter lists). */
#define XMIG_LIST(ctx, ...) XMIG_CAT(XMIG_LIST_, XMIG_NARGS(__VA_ARGS__))(ctx, __VA_ARGS__)
#define XMIG_LIST_1(c, a) XMIG_ARG(c, a)
#define XMIG_LIST_2(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_1(c, __VA_ARGS__)
#define XMIG_LIST_3(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_2(c, __VA_ARGS__)
#define XMIG_LIST_4(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_3(c, __VA_ARGS__)
#define XMIG_LIST_5(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_4(c, __VA_ARGS__)
#define XMIG_LIST_6(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_5(c, __VA_ARGS__)
#define XMIG_LIST_7(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_6(c, __VA_ARGS__)
#define XMIG_LIST_8(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_7(c, __VA_ARGS__)
#define XMIG_LIST_9(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_8(c, __VA_ARGS__)
#define XMIG_LIST_10(c, a, ...) XMIG_ARG(c, a), XMIG_LIST_9(c, __VA_ARGS__)

/* The pointee type of an OUT argument's pointer type. */
#define XMIG_POINTEE(T) __typeof__(*(T)0)

/* ---- request layout: one field per argument that travels ---- */
#define XMIG_REQ_VAL(T, N) T N;
#define XMIG_REQ_STREAM(T, N) uint64_t N;
#define XMIG_REQ_EVENT(T, N) uint64_t N;
#define XMIG_REQ_FUNC(T, N) uint64_t N;
#define XMIG_REQ_OUT(T, N)
#define XMIG_REQ_OUTOPT(T, N)
#define XMIG_REQ_OUTSTREAM(T, N)
#define XMIG_REQ_OUTEVENT(T, N)
#define XMIG_REQ_NONE(T, N)

/* ---- reply layout: one field per out-value ---- */
#define XMIG_RES_VAL(T, N)
#define XMIG_RES_STREAM(T, N)
#define XMIG_RES_EVENT(T, N)
#define XMIG_RES_FUNC(T, N)
#define XMIG_RES_OUT(T, N) XMIG_POINTEE(T) N;
#define XMIG_RES_OUTOPT(T, N) XMIG_POINTEE(T) N;
#define XMIG_RES_OUTSTREAM(T, N) uint64_t N;
#define XMIG_RES_OUTEVENT(T, N) uint64_t N;
#define XMIG_RES_NONE(T, N)

#endif
