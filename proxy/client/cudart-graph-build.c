/*
 * cudart-graph-build.c - CUDA graphs built node by node (cudaGraphCreate,
 * cudaGraphAdd*Node, their edges, inspection and settings).
 *
 * The graph is kept here, as the application built it. Where the proxy
 * needs it (an instantiation, an update) it is captured there once, on a
 * stream of this facade: the nodes in an order their edges allow, each
 * one's dependencies set just before it (CAPTURE_DEPS: the capture's open
 * ends kept and set by number), so the proxy's graph has the same edges,
 * and its log replays after a move as any captured graph's does. A child
 * graph is captured in place, between its parent node's edges; an empty
 * node only joins edges: the proxy's graph has no node for either.
 *
 * An executable graph made from a built graph keeps a copy of its nodes'
 * settings: cudaGraphExec*NodeSetParams changes the copy, captures it and
 * updates the executable graph from that (cudaGraphExecUpdate, in the
 * proxy). Served nodes: kernel, memcpy, memset, host, child graph, empty,
 * event record and event wait (captured as external records and waits,
 * the nodes a capture makes of them); the others (memory allocation,
 * conditional, batch copies) fail loudly, as does adding nodes to a
 * captured graph.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "../../lib/xmig.h"
#include "client.h"
#include "cudart-facade.h"
#include "cudart-graph-build.h"
#include "fatbin.h"
#include "graph-kernel.h"

enum copy_form { COPY_3D, COPY_1D };

struct gbuild;

#define GNODE_MAGIC 0x6e6f6465u    /* "node" */
#define GBUILD_MAGIC 0x67726170u   /* "grap" */

struct gnode {
	uint32_t magic;
	struct gbuild *owner;
	size_t at;                         /* its place in owner->nodes */
	uint64_t serial;                   /* never reused, unlike its address */
	uint64_t orig;                     /* a copy's: the serial of the node it copies */
	enum cudaGraphNodeType type;
	struct gnode **deps;
	size_t ndeps;
	union {
		struct {
			struct xmig_graph_kernel g;  /* args: ptrs; layout: &layout */
			struct xmig_cl_kernel layout;/* a copy (params malloc'd) */
			unsigned char *args;         /* packed, as the kernel takes them */
			void **ptrs;                 /* one pointer into args each (GetParams) */
		} k;
		struct {
			enum copy_form form;
			struct cudaMemcpy3DParms p;  /* COPY_3D */
			void *dst;                   /* COPY_1D: */
			const void *src;
			size_t count;
			enum cudaMemcpyKind kind;
		} c;
		struct cudaMemsetParams m;
		struct cudaHostNodeParams h;
		struct gbuild *child;
		cudaEvent_t ev;                  /* an event record or wait node's */
	} p;
};

struct gbuild {
	uint32_t magic;
	struct gnode **nodes;              /* in the order they were added */
	size_t n;
	uint64_t made;                     /* the proxy's graph captured from it, or 0 */
	bool handed_out;                   /* its handles are the application's (in `live`) */
	struct gnode *parent;              /* the child graph node it is embedded in, or NULL */
};

/* (recursive: a capture made under it calls the facade's graph functions, which take it) */
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static uint64_t last_serial;       /* (under lock) */

static dim3 dim3_of(const unsigned v[3])
{
	return (dim3){ v[0], v[1], v[2] };
}

/* ---- handles: which pointers are ours (a captured graph's are the proxy's ids) ---- */

static const void **live;              /* sorted */
static size_t nlive, live_cap;

static size_t live_at(const void *p)
{
	size_t lo = 0, hi = nlive;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if ((uintptr_t)live[mid] < (uintptr_t)p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool is_live(const void *p)
{
	size_t i = live_at(p);

	return p && i < nlive && live[i] == p;
}

static int live_add(const void *p)
{
	size_t i = live_at(p);

	if (nlive == live_cap) {
		size_t cap = live_cap ? 2 * live_cap : 64;
		const void **v = realloc(live, cap * sizeof(*v));

		if (!v)
			return -1;
		live = v;
		live_cap = cap;
	}
	memmove(live + i + 1, live + i, (nlive - i) * sizeof(*live));
	live[i] = p;
	nlive++;
	return 0;
}

static void live_del(const void *p)
{
	size_t i = live_at(p);

	if (i < nlive && live[i] == p)
		memmove(live + i, live + i + 1, (--nlive - i) * sizeof(*live));
}

/* (a live handle is one of ours, so reading its first field is safe: graphs and nodes differ there) */
static struct gbuild *graph_of(cudaGraph_t g)
{
	return is_live(g) && ((struct gbuild *)g)->magic == GBUILD_MAGIC ? (struct gbuild *)g : NULL;
}

static struct gnode *node_of(cudaGraphNode_t n)
{
	return is_live(n) && ((struct gnode *)n)->magic == GNODE_MAGIC ? (struct gnode *)n : NULL;
}

/*
 * What a call on graph g, not one built here, answers: a captured graph's
 * (the proxy's id) is not served, said loudly; NULL, or one of our nodes
 * given as a graph, is an invalid value.
 */
static cudaError_t not_built(cudaGraph_t g, const char *what)
{
	if (!g || is_live(g))
		return cudaErrorInvalidValue;
	xmig_cl_unsupported(what);
	return cudaErrorNotSupported;
}

bool xmig_graph_built(cudaGraph_t g)
{
	bool r;

	pthread_mutex_lock(&lock);
	r = graph_of(g) != NULL;
	pthread_mutex_unlock(&lock);
	return r;
}

/* ---- nodes' settings ------------------------------------------------------- */

static void graph_free(struct gbuild *b);

/* What a node's settings hold: freed (the node keeps its type). */
static void settings_free(struct gnode *n)
{
	if (n->type == cudaGraphNodeTypeKernel) {
		free(n->p.k.args);
		free(n->p.k.ptrs);
		free(n->p.k.layout.params);
	} else if (n->type == cudaGraphNodeTypeGraph) {
		graph_free(n->p.child);
	}
}

static void node_free(struct gnode *n)
{
	if (!n)
		return;
	settings_free(n);
	free(n->deps);
	free(n);
}

/*
 * A kernel node's settings into *n: the arguments copied, as CUDA copies
 * them at the call, with their layout.
 */
static cudaError_t kernel_set(struct gnode *n, const struct xmig_graph_kernel *k)
{
	const struct xmig_cl_kernel *l = k->layout;
	unsigned char *args = NULL;
	void **ptrs = NULL;
	struct { uint32_t offset, size; } *params = NULL;

	if (!k->grid[0] || !k->grid[1] || !k->grid[2] || !k->block[0] || !k->block[1] ||
	    !k->block[2])
		return cudaErrorInvalidConfiguration;
	if (l->nparams && !k->args && !k->packed)
		return cudaErrorInvalidValue;
	if ((l->param_bytes && !(args = malloc(l->param_bytes))) ||
	    (l->nparams && (!(ptrs = malloc(l->nparams * sizeof(*ptrs))) ||
			    !(params = malloc(l->nparams * sizeof(*params)))))) {
		free(args);
		free(ptrs);
		return cudaErrorMemoryAllocation;
	}
	/* (packed: the whole buffer, as the kernel takes it) */
	if (k->packed && l->param_bytes)
		memcpy(args, k->packed, l->param_bytes);
	for (uint32_t i = 0; i < l->nparams; i++) {
		if (!k->packed)
			memcpy(args + l->params[i].offset, k->args[i], l->params[i].size);
		ptrs[i] = args + l->params[i].offset;
		params[i].offset = l->params[i].offset;
		params[i].size = l->params[i].size;
	}
	settings_free(n);
	n->type = cudaGraphNodeTypeKernel;
	n->p.k.g = *k;
	n->p.k.layout = *l;
	n->p.k.layout.params = (void *)params;
	n->p.k.args = args;
	n->p.k.ptrs = ptrs;
	n->p.k.g.args = ptrs;
	n->p.k.g.packed = NULL;   /* (the node's copy is one pointer an argument, as any) */
	n->p.k.g.layout = &n->p.k.layout;
	return cudaSuccess;
}

static cudaError_t rt_launch(const struct xmig_graph_kernel *k, cudaStream_t s)
{
	return cudaLaunchKernel(k->func, dim3_of(k->grid), dim3_of(k->block), k->args, k->shmem, s);
}

/* A runtime kernel node's settings: the kernel's layout is its fat binary's. */
static cudaError_t rt_kernel_set(struct gnode *n, const struct cudaKernelNodeParams *p)
{
	struct xmig_thread *t;
	struct xmig_func *f;
	const void *packed = NULL;
	cudaError_t e;

	if (!p)
		return cudaErrorInvalidValue;
	if (!(f = xmig_fatbin_function(p->func)))
		return cudaErrorInvalidDeviceFunction;
	if ((e = xmig_cl_enter(&t)) || (e = xmig_fatbin_ready(t, f)))
		return e;
	if ((p->kernelParams && p->extra) ||
	    (p->extra && xmig_cl_extra_buffer(p->extra, f->k.param_bytes, &packed)))
		return cudaErrorInvalidValue;
	return kernel_set(n, &(struct xmig_graph_kernel){
		.func = p->func, .grid = { p->gridDim.x, p->gridDim.y, p->gridDim.z },
		.block = { p->blockDim.x, p->blockDim.y, p->blockDim.z },
		.shmem = p->sharedMemBytes, .args = p->extra ? NULL : p->kernelParams,
		.packed = packed, .layout = &f->k, .launch = rt_launch });
}

static cudaError_t copy3d_set(struct gnode *n, const struct cudaMemcpy3DParms *p)
{
	if (!p)
		return cudaErrorInvalidValue;
	if (p->srcArray || p->dstArray) {
		xmig_cl_unsupported("a graph's memcpy node with CUDA arrays");
		return cudaErrorNotSupported;
	}
	if (!p->extent.width || !p->extent.height || !p->extent.depth)
		return cudaErrorInvalidValue;
	settings_free(n);
	n->type = cudaGraphNodeTypeMemcpy;
	n->p.c = (__typeof__(n->p.c)){ .form = COPY_3D, .p = *p };
	return cudaSuccess;
}

static cudaError_t copy1d_set(struct gnode *n, void *dst, const void *src, size_t count,
			      enum cudaMemcpyKind kind)
{
	if (!count || !dst || !src || (unsigned)kind > cudaMemcpyDefault)
		return cudaErrorInvalidValue;
	settings_free(n);
	n->type = cudaGraphNodeTypeMemcpy;
	n->p.c = (__typeof__(n->p.c)){ .form = COPY_1D, .dst = dst, .src = src, .count = count,
				   .kind = kind };
	return cudaSuccess;
}

static cudaError_t memset_set(struct gnode *n, const struct cudaMemsetParams *p)
{
	if (!p || !p->dst || (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4) ||
	    !p->width || !p->height ||
	    (p->height > 1 && p->pitch < (size_t)p->width * p->elementSize))
		return cudaErrorInvalidValue;
	settings_free(n);
	n->type = cudaGraphNodeTypeMemset;
	n->p.m = *p;
	return cudaSuccess;
}

static cudaError_t host_set(struct gnode *n, const struct cudaHostNodeParams *p)
{
	if (!p || !p->fn)
		return cudaErrorInvalidValue;
	settings_free(n);
	n->type = cudaGraphNodeTypeHost;
	n->p.h = *p;
	return cudaSuccess;
}

/* An event record node (record) or an event wait node's event. */
static cudaError_t event_set(struct gnode *n, cudaEvent_t ev, bool record)
{
	if (!ev)
		return cudaErrorInvalidValue;
	settings_free(n);
	n->type = record ? cudaGraphNodeTypeEventRecord : cudaGraphNodeTypeWaitEvent;
	n->p.ev = ev;
	return cudaSuccess;
}

/* ---- graphs: made, copied, freed -------------------------------------------- */

/*
 * The proxy's graph captured from b is stale: dropped (b changed, or
 * goes), and so are those of the graphs b is embedded in (a child graph
 * handed out by cudaGraphChildGraphNodeGetGraph changes its node).
 */
static void unmake(struct gbuild *b)
{
	for (; b; b = b->parent ? b->parent->owner : NULL)
		if (b->made) {
			cudaGraphDestroy((cudaGraph_t)(uintptr_t)b->made);
			b->made = 0;
		}
}

static void graph_free(struct gbuild *b)
{
	if (!b)
		return;
	unmake(b);
	for (size_t i = 0; i < b->n; i++) {
		if (b->handed_out)
			live_del(b->nodes[i]);
		node_free(b->nodes[i]);
	}
	if (b->handed_out)
		live_del(b);
	free(b->nodes);
	free(b);
}

static struct gbuild *graph_new(bool handed_out)
{
	struct gbuild *b = calloc(1, sizeof(*b));

	if (b && handed_out && live_add(b)) {
		free(b);
		return NULL;
	}
	if (b) {
		b->magic = GBUILD_MAGIC;
		b->handed_out = handed_out;
	}
	return b;
}

/* A copy of b, node for node (each copy's orig: the serial of the node it copies). */
static struct gbuild *graph_clone(const struct gbuild *b, bool handed_out)
{
	struct gbuild *c = graph_new(handed_out);

	if (!c || (b->n && !(c->nodes = calloc(b->n, sizeof(*c->nodes)))))
		goto err;
	for (size_t i = 0; i < b->n; i++) {
		const struct gnode *o = b->nodes[i];
		struct gnode *n = calloc(1, sizeof(*n));

		if (!n)
			goto err;
		*n = *o;
		n->owner = c;
		n->serial = ++last_serial;
		n->orig = o->serial;
		n->deps = NULL;
		c->nodes[c->n++] = n;
		if (o->type == cudaGraphNodeTypeKernel) {
			n->type = cudaGraphNodeTypeEmpty;   /* (until its settings are whole) */
			if (kernel_set(n, &o->p.k.g))
				goto err;
		} else if (o->type == cudaGraphNodeTypeGraph) {
			if (!(n->p.child = graph_clone(o->p.child, handed_out))) {
				n->type = cudaGraphNodeTypeEmpty;
				goto err;
			}
			n->p.child->parent = n;
		}
		if (handed_out && live_add(n))
			goto err;
		if (o->ndeps && !(n->deps = malloc(o->ndeps * sizeof(*n->deps))))
			goto err;
		n->ndeps = o->ndeps;
		for (size_t j = 0; j < o->ndeps; j++)
			n->deps[j] = NULL;
	}
	/* the edges, once every copy exists */
	for (size_t i = 0; i < b->n; i++)
		for (size_t j = 0; j < b->nodes[i]->ndeps; j++)
			c->nodes[i]->deps[j] = c->nodes[b->nodes[i]->deps[j]->at];
	return c;
err:
	/* (each node made so far is whole enough to free; one not yet live: live_del finds nothing) */
	graph_free(c);
	return NULL;
}

/* ---- capturing a built graph in the proxy ----------------------------------- */

static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;
static cudaStream_t make_stream;

struct make {
	uint64_t stream;                   /* make_stream's logical id */
	uint32_t sets;                     /* open-end sets kept so far */
	uint32_t pending;                  /* to keep at the next CAPTURE_DEPS (0: none) */
};

/* Keep the pending set, then make the open ends the union of sets slots[0..n). */
static cudaError_t set_deps(struct make *m, const uint32_t *slots, size_t n)
{
	const size_t most = (XMIG_REQ_MAX - sizeof(struct xmig_capture_deps_req)) / sizeof(*slots);
	struct xmig_capture_deps_req *a;
	struct xmig_thread *t;
	cudaError_t e;

	/* (one request holds them: past that it could not be sent, and the channel would seem lost) */
	if (n > most)
		return xmig_error("a graph node with %zu dependencies (at most %zu here)", n, most),
		       cudaErrorNotSupported;
	if ((e = xmig_cl_enter(&t)))
		return e;
	if (!(a = xmig_cl_begin(t, XMIG_OP_CAPTURE_DEPS, (uint32_t)(sizeof(*a) + n * sizeof(*slots)))))
		return xmig_cl_lost();
	a->stream = m->stream;
	a->save = m->pending;
	a->set = 1;
	a->n = (uint32_t)n;
	if (n)
		memcpy(a->slots, slots, n * sizeof(*slots));
	m->pending = 0;
	/* (posted, as the nodes' own work is: a failure shows at the capture's end, see make) */
	return xmig_cl_end(t, XMIG_CALL_ASYNC, NULL);
}

/* One node's work on the capturing stream. */
static cudaError_t issue_work(struct make *m, const struct gnode *n)
{
	struct xmig_thread *t;
	cudaError_t e;

	switch (n->type) {
	case cudaGraphNodeTypeKernel:
		return n->p.k.g.launch(&n->p.k.g, make_stream);
	case cudaGraphNodeTypeMemcpy:
		if (n->p.c.form == COPY_1D)
			return cudaMemcpyAsync(n->p.c.dst, n->p.c.src, n->p.c.count, n->p.c.kind,
					       make_stream);
		return cudaMemcpy3DAsync(&n->p.c.p, make_stream);
	case cudaGraphNodeTypeMemset:
		if ((e = xmig_cl_enter(&t)))
			return e;
		return xmig_cl_fill_rows(t, n->p.m.dst,
					 n->p.m.height > 1 ? n->p.m.pitch
							   : (size_t)n->p.m.width * n->p.m.elementSize,
					 n->p.m.value, n->p.m.elementSize, n->p.m.width, n->p.m.height,
					 m->stream);
	case cudaGraphNodeTypeHost:
		return cudaLaunchHostFunc(make_stream, n->p.h.fn, n->p.h.userData);
	/* (external: a node of the graph, as CUDA's capture makes one, not a join of streams) */
	case cudaGraphNodeTypeEventRecord:
		return cudaEventRecordWithFlags(n->p.ev, make_stream, cudaEventRecordExternal);
	case cudaGraphNodeTypeWaitEvent:
		return cudaStreamWaitEvent(make_stream, n->p.ev, cudaEventWaitExternal);
	default:
		return cudaErrorInvalidValue;
	}
}

/*
 * Which order the nodes go in: each after its dependencies, else in the
 * order they were added. A cycle: cudaErrorInvalidValue.
 */
static cudaError_t order_of(const struct gbuild *b, size_t *order)
{
	size_t n = b->n ? b->n : 1, edges = 0, head = 0, tail = 0;
	size_t *pending = calloc(n, sizeof(*pending)), *first = calloc(n + 1, sizeof(*first));
	size_t *next, *out = NULL;
	cudaError_t e = cudaSuccess;

	/* each node's dependents, in one array (first[i] .. first[i + 1]) */
	for (size_t i = 0; pending && first && i < b->n; i++)
		for (size_t k = 0; k < b->nodes[i]->ndeps; k++, edges++)
			first[b->nodes[i]->deps[k]->at + 1]++;
	if (!pending || !first || !(out = malloc((edges ? edges : 1) * sizeof(*out))) ||
	    !(next = calloc(n, sizeof(*next)))) {
		free(pending);
		free(first);
		free(out);
		return cudaErrorMemoryAllocation;
	}
	for (size_t i = 0; i < b->n; i++)
		first[i + 1] += first[i];
	for (size_t i = 0; i < b->n; i++) {
		pending[i] = b->nodes[i]->ndeps;
		for (size_t k = 0; k < b->nodes[i]->ndeps; k++) {
			size_t d = b->nodes[i]->deps[k]->at;

			out[first[d] + next[d]++] = i;
		}
	}
	/* the ready nodes, first come first placed (order doubles as the queue) */
	for (size_t i = 0; i < b->n; i++)
		if (!pending[i])
			order[tail++] = i;
	while (head < tail)
		for (size_t i = order[head++], k = first[i]; k < first[i + 1]; k++)
			if (!--pending[out[k]])
				order[tail++] = out[k];
	if (tail < b->n) {
		xmig_error("a CUDA graph with a cycle in its edges");
		e = cudaErrorInvalidValue;
	}
	free(pending);
	free(first);
	free(out);
	free(next);
	return e;
}

/*
 * b's nodes captured, those without dependencies after the sets base[0..nbase);
 * the sets of its last nodes (depended on by none) in *sinks (malloc'd).
 */
static cudaError_t issue(struct make *m, const struct gbuild *b, const uint32_t *base,
			 size_t nbase, uint32_t **sinks, size_t *nsinks)
{
	size_t *order = malloc((b->n ? b->n : 1) * sizeof(*order)), ns = 0;
	uint32_t *slot = calloc(b->n ? b->n : 1, sizeof(*slot)), *deps = NULL, *out;
	bool *depended = calloc(b->n ? b->n : 1, sizeof(*depended));
	cudaError_t e;

	*sinks = NULL;
	*nsinks = 0;
	if (!order || !slot || !depended) {
		e = cudaErrorMemoryAllocation;
		goto out;
	}
	if ((e = order_of(b, order)))
		goto out;
	for (size_t o = 0; o < b->n && !e; o++) {
		const struct gnode *n = b->nodes[order[o]];
		const uint32_t *d = base;
		size_t nd = nbase;

		if (n->ndeps) {
			uint32_t *v = realloc(deps, n->ndeps * sizeof(*v));

			if (!v) {
				e = cudaErrorMemoryAllocation;
				break;
			}
			deps = v;
			for (size_t j = 0; j < n->ndeps; j++) {
				size_t at = n->deps[j]->at;

				depended[at] = true;
				deps[j] = slot[at];
			}
			d = deps;
			nd = n->ndeps;
		}
		if (n->type == cudaGraphNodeTypeGraph) {
			uint32_t *cs;
			size_t ncs;

			if (!(e = issue(m, n->p.child, d, nd, &cs, &ncs)))
				e = set_deps(m, cs, ncs);
			free(cs);
		} else if (!(e = set_deps(m, d, nd)) && n->type != cudaGraphNodeTypeEmpty) {
			e = issue_work(m, n);
		}
		slot[order[o]] = m->pending = ++m->sets;
	}
	if (e)
		goto out;
	if (!(out = malloc((b->n + nbase + 1) * sizeof(*out)))) {
		e = cudaErrorMemoryAllocation;
		goto out;
	}
	for (size_t i = 0; i < b->n; i++)
		if (!depended[i])
			out[ns++] = slot[i];
	if (!b->n)   /* (an empty child graph passes its parent's edges on) */
		for (size_t i = 0; i < nbase; i++)
			out[ns++] = base[i];
	*sinks = out;
	*nsinks = ns;
out:
	free(order);
	free(slot);
	free(depended);
	free(deps);
	return e;
}

/* Capture b in the proxy: the id of the graph made there. */
static cudaError_t make(const struct gbuild *b, uint64_t *id)
{
	struct make m = { 0 };
	struct xmig_thread *t;
	cudaGraph_t g = NULL;
	uint32_t *sinks = NULL;
	size_t nsinks;
	cudaError_t e, end, earlier;

	*id = 0;
	if ((e = xmig_cl_enter(&t)))
		return e;
	pthread_mutex_lock(&make_lock);
	if (!make_stream && (e = cudaStreamCreateWithFlags(&make_stream, cudaStreamNonBlocking)))
		goto out;
	m.stream = xmig_cl_stream_id(make_stream, 0);
	/* (an earlier failure of the application's own posted work stays its own) */
	earlier = xmig_cl_peek_async_error(t);
	if ((e = cudaStreamBeginCapture(make_stream, cudaStreamCaptureModeRelaxed)))
		goto out;
	e = issue(&m, b, NULL, 0, &sinks, &nsinks);
	free(sinks);
	end = cudaStreamEndCapture(make_stream, &g);
	/* what the posted requests of this capture met: the capture's failure */
	if (!earlier && !e && !end && (e = xmig_cl_take_async_error(t)))
		cudaGraphDestroy(g);
	else if (!e)
		e = end;
	else if (!end)
		cudaGraphDestroy(g);
	if (!e)
		*id = (uint64_t)(uintptr_t)g;
out:
	pthread_mutex_unlock(&make_lock);
	return e;
}

cudaError_t xmig_graph_made(cudaGraph_t g, uint64_t *id)
{
	struct gbuild *b;
	cudaError_t e = cudaSuccess;

	pthread_mutex_lock(&lock);
	if (!(b = graph_of(g)))
		e = cudaErrorInvalidValue;
	else if (!b->made)
		e = make(b, &b->made);
	*id = e ? 0 : b->made;
	pthread_mutex_unlock(&lock);
	return e;
}

/* ---- executable graphs' copies of their nodes ------------------------------- */

struct gexec {
	uint64_t exec;
	struct gbuild *copy;
};

static struct gexec *execs;
static size_t nexecs;

static struct gexec *exec_of(uint64_t exec)
{
	for (size_t i = 0; i < nexecs; i++)
		if (execs[i].exec == exec)
			return &execs[i];
	return NULL;
}

cudaError_t xmig_graph_exec_made(uint64_t exec, cudaGraph_t g)
{
	struct gbuild *b, *c = NULL;
	struct gexec *v;
	cudaError_t e = cudaErrorMemoryAllocation;

	pthread_mutex_lock(&lock);
	if (!(b = graph_of(g))) {
		e = cudaErrorInvalidValue;
	} else if ((c = graph_clone(b, false)) &&
		   (v = realloc(execs, (nexecs + 1) * sizeof(*v)))) {
		execs = v;
		execs[nexecs++] = (struct gexec){ exec, c };
		e = cudaSuccess;
	} else {
		graph_free(c);
	}
	pthread_mutex_unlock(&lock);
	return e;
}

/* (a's and b's nodes paired in the order they were added; their children alike) */
static enum cudaGraphExecUpdateResult shape_of(const struct gbuild *a, const struct gbuild *b)
{
	if (a->n != b->n)
		return cudaGraphExecUpdateErrorTopologyChanged;
	for (size_t i = 0; i < a->n; i++) {
		const struct gnode *na = a->nodes[i], *nb = b->nodes[i];
		enum cudaGraphExecUpdateResult r;

		if (na->type != nb->type)
			return cudaGraphExecUpdateErrorNodeTypeChanged;
		if (na->ndeps != nb->ndeps)
			return cudaGraphExecUpdateErrorTopologyChanged;
		for (size_t j = 0; j < na->ndeps; j++) {
			size_t k = 0;

			while (k < nb->ndeps && nb->deps[k]->at != na->deps[j]->at)
				k++;
			if (k == nb->ndeps)
				return cudaGraphExecUpdateErrorTopologyChanged;
		}
		if (na->type == cudaGraphNodeTypeGraph &&
		    (r = shape_of(na->p.child, nb->p.child)) != cudaGraphExecUpdateSuccess)
			return r;
	}
	return cudaGraphExecUpdateSuccess;
}

enum cudaGraphExecUpdateResult xmig_graph_exec_update_shape(uint64_t exec, cudaGraph_t g)
{
	enum cudaGraphExecUpdateResult r = cudaGraphExecUpdateSuccess;
	struct gbuild *b;
	struct gexec *x;

	pthread_mutex_lock(&lock);
	if ((x = exec_of(exec)) && (b = graph_of(g)))
		r = shape_of(x->copy, b);
	pthread_mutex_unlock(&lock);
	return r;
}

/*
 * Updated from g: the copy takes g's settings, node for node (as the
 * update paired them); the nodes named stay those of the graph it was
 * instantiated from. Updated from a captured graph (or out of memory
 * here), the copy is dropped: set anew, it would take back the update.
 */
void xmig_graph_exec_updated(uint64_t exec, cudaGraph_t g)
{
	struct gbuild *b, *c = NULL;
	struct gexec *x;

	pthread_mutex_lock(&lock);
	if ((x = exec_of(exec))) {
		if ((b = graph_of(g)) && b->n == x->copy->n && (c = graph_clone(b, false)))
			for (size_t i = 0; i < c->n; i++)
				c->nodes[i]->orig = x->copy->nodes[i]->orig;
		graph_free(x->copy);
		if (c)
			x->copy = c;
		else
			*x = execs[--nexecs];
	}
	pthread_mutex_unlock(&lock);
}

void xmig_graph_exec_gone(uint64_t exec)
{
	struct gexec *x;

	pthread_mutex_lock(&lock);
	if ((x = exec_of(exec))) {
		graph_free(x->copy);
		*x = execs[--nexecs];
	}
	pthread_mutex_unlock(&lock);
}

typedef cudaError_t (*setter_fn)(struct gnode *n, const void *arg);

/*
 * One node of an executable graph set anew: its copy changed, captured,
 * and the executable graph updated from that; left as it was on failure.
 */
static cudaError_t exec_set(cudaGraphExec_t exec, cudaGraphNode_t node,
			    enum cudaGraphNodeType type, setter_fn set, const void *arg)
{
	struct gnode *n, *copy = NULL, saved;
	struct gexec *x;
	uint64_t tmp = 0;
	uint32_t result;
	cudaError_t e;

	pthread_mutex_lock(&lock);
	if (!(n = node_of(node)) || n->type != type) {
		e = cudaErrorInvalidValue;
		goto out;
	}
	if (!(x = exec_of((uint64_t)(uintptr_t)exec))) {
		xmig_cl_unsupported("cudaGraphExec*NodeSetParams on an executable graph "
				    "instantiated or updated from a captured graph");
		e = cudaErrorNotSupported;
		goto out;
	}
	for (size_t i = 0; i < x->copy->n && !copy; i++)
		if (x->copy->nodes[i]->orig == n->serial)
			copy = x->copy->nodes[i];
	if (!copy) {
		e = cudaErrorInvalidValue;   /* (not a node of the graph it was made from) */
		goto out;
	}
	/* (its settings kept in saved; as an empty node, set() frees nothing of them) */
	saved = *copy;
	copy->type = cudaGraphNodeTypeEmpty;
	if ((e = set(copy, arg))) {
		*copy = saved;
		goto out;
	}
	if ((e = make(x->copy, &tmp)))
		goto undo;
	e = xmig_graph_exec_update_in_proxy((uint64_t)(uintptr_t)exec, tmp, &result);
	cudaGraphDestroy((cudaGraph_t)(uintptr_t)tmp);
	if (e)
		goto undo;
	settings_free(&saved);
	goto out;
undo:
	settings_free(copy);
	*copy = saved;
out:
	pthread_mutex_unlock(&lock);
	return e;
}

/* ---- the API ----------------------------------------------------------------- */


/*
 * A runtime call's answer: an error is also kept as the thread's last
 * error, as every runtime call keeps it (cudaGetLastError).
 */
#define answer xmig_cl_record_here

API cudaError_t cudaGraphCreate(cudaGraph_t *graph, unsigned int flags)
{
	struct gbuild *b;

	if (!graph || flags)
		return answer(cudaErrorInvalidValue);
	pthread_mutex_lock(&lock);
	b = graph_new(true);
	pthread_mutex_unlock(&lock);
	if (!b)
		return answer(cudaErrorMemoryAllocation);
	*graph = (cudaGraph_t)b;
	return cudaSuccess;
}

/* (a child graph handed out is its node's: it goes with the node, not alone) */
cudaError_t xmig_graph_built_destroy(cudaGraph_t g)
{
	struct gbuild *b;
	cudaError_t e = cudaErrorInvalidValue;

	pthread_mutex_lock(&lock);
	if ((b = graph_of(g)) && !b->parent) {
		graph_free(b);
		e = cudaSuccess;
	}
	pthread_mutex_unlock(&lock);
	return e;
}

API cudaError_t cudaGraphClone(cudaGraph_t *clone, cudaGraph_t original)
{
	struct gbuild *b, *c = NULL;
	cudaError_t e = cudaSuccess;

	if (!clone)
		return answer(cudaErrorInvalidValue);
	pthread_mutex_lock(&lock);
	if ((b = graph_of(original)))
		c = graph_clone(b, true);
	else
		e = not_built(original, "cudaGraphClone of a captured graph");
	pthread_mutex_unlock(&lock);
	if (b && !c)
		return answer(cudaErrorMemoryAllocation);
	if (c)
		*clone = (cudaGraph_t)c;
	return answer(e);
}

API cudaError_t cudaGraphNodeFindInClone(cudaGraphNode_t *found, cudaGraphNode_t original,
					 cudaGraph_t clone)
{
	struct gbuild *c;
	struct gnode *o;
	cudaError_t e = cudaErrorInvalidValue;

	if (!found)
		return answer(e);
	pthread_mutex_lock(&lock);
	/* (by serial: a node made since at a removed original's address is not it) */
	if ((c = graph_of(clone)) && (o = node_of(original)))
		for (size_t i = 0; i < c->n && e; i++)
			if (c->nodes[i]->orig == o->serial) {
				*found = (cudaGraphNode_t)c->nodes[i];
				e = cudaSuccess;
			}
	pthread_mutex_unlock(&lock);
	return answer(e);
}

/*
 * A new node of graph, after deps: set(node, arg) gives its settings.
 * Refused for a captured graph (its nodes are the proxy's).
 */
static cudaError_t add_node(cudaGraphNode_t *out, cudaGraph_t graph, const cudaGraphNode_t *deps,
			    size_t ndeps, setter_fn set, const void *arg)
{
	struct gbuild *b;
	struct gnode *n = NULL, **v;
	cudaError_t e = cudaErrorInvalidValue;

	if (!out || (ndeps && !deps))
		return e;
	pthread_mutex_lock(&lock);
	if (!(b = graph_of(graph))) {
		e = not_built(graph, "adding a node to a captured CUDA graph");
		goto out;
	}
	for (size_t i = 0; i < ndeps; i++) {
		struct gnode *d = node_of(deps[i]);

		if (!d || d->owner != b)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (deps[j] == deps[i])
				goto out;   /* (named twice: CUDA refuses it too) */
	}
	e = cudaErrorMemoryAllocation;
	if (!(n = calloc(1, sizeof(*n))) || (ndeps && !(n->deps = malloc(ndeps * sizeof(*n->deps)))))
		goto out;
	n->magic = GNODE_MAGIC;
	n->serial = ++last_serial;
	n->type = cudaGraphNodeTypeEmpty;
	if ((e = set(n, arg)))
		goto out;
	e = cudaErrorMemoryAllocation;
	if (!(v = realloc(b->nodes, (b->n + 1) * sizeof(*v))))
		goto out;
	b->nodes = v;
	if (live_add(n))
		goto out;
	n->owner = b;
	n->at = b->n;
	n->ndeps = ndeps;
	for (size_t i = 0; i < ndeps; i++)
		n->deps[i] = (struct gnode *)deps[i];
	b->nodes[b->n++] = n;
	unmake(b);
	*out = (cudaGraphNode_t)n;
	n = NULL;
	e = cudaSuccess;
out:
	node_free(n);
	pthread_mutex_unlock(&lock);
	return e;
}

static cudaError_t set_kernel(struct gnode *n, const void *arg)
{
	return rt_kernel_set(n, arg);
}

static cudaError_t set_graph_kernel(struct gnode *n, const void *arg)
{
	return kernel_set(n, arg);
}

static cudaError_t set_copy3d(struct gnode *n, const void *arg)
{
	return copy3d_set(n, arg);
}

struct copy1d { void *dst; const void *src; size_t count; enum cudaMemcpyKind kind; };

static cudaError_t set_copy1d(struct gnode *n, const void *arg)
{
	const struct copy1d *c = arg;

	return copy1d_set(n, c->dst, c->src, c->count, c->kind);
}

static cudaError_t set_memset(struct gnode *n, const void *arg)
{
	return memset_set(n, arg);
}

static cudaError_t set_host(struct gnode *n, const void *arg)
{
	return host_set(n, arg);
}

static cudaError_t set_empty(struct gnode *n, const void *arg)
{
	n->type = cudaGraphNodeTypeEmpty;
	return cudaSuccess;
}

static cudaError_t set_event_record(struct gnode *n, const void *arg)
{
	return event_set(n, (cudaEvent_t)arg, true);
}

static cudaError_t set_event_wait(struct gnode *n, const void *arg)
{
	return event_set(n, (cudaEvent_t)arg, false);
}

/* (under lock: the child is one of ours, copied as CUDA copies it) */
static cudaError_t set_child(struct gnode *n, const void *arg)
{
	struct gbuild *c = graph_of((cudaGraph_t)arg);

	if (!c) {
		xmig_cl_unsupported("a child graph node of a captured graph");
		return arg ? cudaErrorNotSupported : cudaErrorInvalidValue;
	}
	if (!(n->p.child = graph_clone(c, true)))
		return cudaErrorMemoryAllocation;
	n->p.child->parent = n;
	n->type = cudaGraphNodeTypeGraph;
	return cudaSuccess;
}

API cudaError_t cudaGraphAddKernelNode(cudaGraphNode_t *node, cudaGraph_t graph,
				       const cudaGraphNode_t *deps, size_t ndeps,
				       const struct cudaKernelNodeParams *p)
{
	return answer(add_node(node, graph, deps, ndeps, set_kernel, p));
}

API cudaError_t cudaGraphAddMemcpyNode(cudaGraphNode_t *node, cudaGraph_t graph,
				       const cudaGraphNode_t *deps, size_t ndeps,
				       const struct cudaMemcpy3DParms *p)
{
	return answer(add_node(node, graph, deps, ndeps, set_copy3d, p));
}

API cudaError_t cudaGraphAddMemcpyNode1D(cudaGraphNode_t *node, cudaGraph_t graph,
					 const cudaGraphNode_t *deps, size_t ndeps, void *dst,
					 const void *src, size_t count, enum cudaMemcpyKind kind)
{
	return answer(add_node(node, graph, deps, ndeps, set_copy1d,
			&(struct copy1d){ dst, src, count, kind }));
}

API cudaError_t cudaGraphAddMemsetNode(cudaGraphNode_t *node, cudaGraph_t graph,
				       const cudaGraphNode_t *deps, size_t ndeps,
				       const struct cudaMemsetParams *p)
{
	return answer(add_node(node, graph, deps, ndeps, set_memset, p));
}

API cudaError_t cudaGraphAddHostNode(cudaGraphNode_t *node, cudaGraph_t graph,
				     const cudaGraphNode_t *deps, size_t ndeps,
				     const struct cudaHostNodeParams *p)
{
	return answer(add_node(node, graph, deps, ndeps, set_host, p));
}

API cudaError_t cudaGraphAddEmptyNode(cudaGraphNode_t *node, cudaGraph_t graph,
				      const cudaGraphNode_t *deps, size_t ndeps)
{
	return answer(add_node(node, graph, deps, ndeps, set_empty, NULL));
}

API cudaError_t cudaGraphAddChildGraphNode(cudaGraphNode_t *node, cudaGraph_t graph,
					   const cudaGraphNode_t *deps, size_t ndeps,
					   cudaGraph_t child)
{
	return answer(add_node(node, graph, deps, ndeps, set_child, child));
}

API cudaError_t cudaGraphAddEventRecordNode(cudaGraphNode_t *node, cudaGraph_t graph,
					    const cudaGraphNode_t *deps, size_t ndeps,
					    cudaEvent_t event)
{
	return answer(add_node(node, graph, deps, ndeps, set_event_record, event));
}

API cudaError_t cudaGraphAddEventWaitNode(cudaGraphNode_t *node, cudaGraph_t graph,
					  const cudaGraphNode_t *deps, size_t ndeps, cudaEvent_t event)
{
	return answer(add_node(node, graph, deps, ndeps, set_event_wait, event));
}

/* A node's settings read (fn under lock, the node of type `type`). */
static cudaError_t with_node(cudaGraphNode_t node, enum cudaGraphNodeType type,
			     cudaError_t (*fn)(struct gnode *n, void *arg), void *arg)
{
	struct gnode *n;
	cudaError_t e = cudaErrorInvalidValue;

	pthread_mutex_lock(&lock);
	if ((n = node_of(node)) && n->type == type && arg)
		e = fn(n, arg);
	pthread_mutex_unlock(&lock);
	return e;
}

/* A node's settings changed: the graph's capture is stale. */
static cudaError_t set_node(cudaGraphNode_t node, enum cudaGraphNodeType type, setter_fn set,
			    const void *arg)
{
	struct gnode *n;
	cudaError_t e = cudaErrorInvalidValue;

	pthread_mutex_lock(&lock);
	if ((n = node_of(node)) && n->type == type && (e = set(n, arg)) == cudaSuccess)
		unmake(n->owner);
	pthread_mutex_unlock(&lock);
	return e;
}

static cudaError_t kernel_get(struct gnode *n, void *arg)
{
	const struct xmig_graph_kernel *k = &n->p.k.g;

	if (k->launch != rt_launch)
		return cudaErrorInvalidValue;   /* (the driver's: read through cuGraphKernelNodeGetParams) */
	*(struct cudaKernelNodeParams *)arg = (struct cudaKernelNodeParams){
		.func = (void *)k->func, .gridDim = dim3_of(k->grid), .blockDim = dim3_of(k->block),
		.sharedMemBytes = k->shmem, .kernelParams = n->p.k.ptrs, .extra = NULL };
	return cudaSuccess;
}

API cudaError_t cudaGraphKernelNodeGetParams(cudaGraphNode_t node, struct cudaKernelNodeParams *p)
{
	return answer(with_node(node, cudaGraphNodeTypeKernel, kernel_get, p));
}

API cudaError_t cudaGraphKernelNodeSetParams(cudaGraphNode_t node,
					     const struct cudaKernelNodeParams *p)
{
	return answer(set_node(node, cudaGraphNodeTypeKernel, set_kernel, p));
}

/* A 1D copy as CUDA hands it back: a 3D copy of count bytes, one row. */
static cudaError_t copy_get(struct gnode *n, void *arg)
{
	struct cudaMemcpy3DParms *p = arg;

	if (n->p.c.form == COPY_3D) {
		*p = n->p.c.p;
		return cudaSuccess;
	}
	*p = (struct cudaMemcpy3DParms){
		.srcPtr = { (void *)n->p.c.src, n->p.c.count, n->p.c.count, 1 },
		.dstPtr = { n->p.c.dst, n->p.c.count, n->p.c.count, 1 },
		.extent = { n->p.c.count, 1, 1 }, .kind = n->p.c.kind };
	return cudaSuccess;
}

API cudaError_t cudaGraphMemcpyNodeGetParams(cudaGraphNode_t node, struct cudaMemcpy3DParms *p)
{
	return answer(with_node(node, cudaGraphNodeTypeMemcpy, copy_get, p));
}

API cudaError_t cudaGraphMemcpyNodeSetParams(cudaGraphNode_t node,
					     const struct cudaMemcpy3DParms *p)
{
	return answer(set_node(node, cudaGraphNodeTypeMemcpy, set_copy3d, p));
}

API cudaError_t cudaGraphMemcpyNodeSetParams1D(cudaGraphNode_t node, void *dst, const void *src,
					       size_t count, enum cudaMemcpyKind kind)
{
	return answer(set_node(node, cudaGraphNodeTypeMemcpy, set_copy1d,
			&(struct copy1d){ dst, src, count, kind }));
}

static cudaError_t memset_get(struct gnode *n, void *arg)
{
	*(struct cudaMemsetParams *)arg = n->p.m;
	return cudaSuccess;
}

API cudaError_t cudaGraphMemsetNodeGetParams(cudaGraphNode_t node, struct cudaMemsetParams *p)
{
	return answer(with_node(node, cudaGraphNodeTypeMemset, memset_get, p));
}

API cudaError_t cudaGraphMemsetNodeSetParams(cudaGraphNode_t node, const struct cudaMemsetParams *p)
{
	return answer(set_node(node, cudaGraphNodeTypeMemset, set_memset, p));
}

static cudaError_t host_get(struct gnode *n, void *arg)
{
	*(struct cudaHostNodeParams *)arg = n->p.h;
	return cudaSuccess;
}

API cudaError_t cudaGraphHostNodeGetParams(cudaGraphNode_t node, struct cudaHostNodeParams *p)
{
	return answer(with_node(node, cudaGraphNodeTypeHost, host_get, p));
}

API cudaError_t cudaGraphHostNodeSetParams(cudaGraphNode_t node, const struct cudaHostNodeParams *p)
{
	return answer(set_node(node, cudaGraphNodeTypeHost, set_host, p));
}

static cudaError_t event_get(struct gnode *n, void *arg)
{
	*(cudaEvent_t *)arg = n->p.ev;
	return cudaSuccess;
}

API cudaError_t cudaGraphEventRecordNodeGetEvent(cudaGraphNode_t node, cudaEvent_t *event)
{
	return answer(with_node(node, cudaGraphNodeTypeEventRecord, event_get, event));
}

API cudaError_t cudaGraphEventRecordNodeSetEvent(cudaGraphNode_t node, cudaEvent_t event)
{
	return answer(set_node(node, cudaGraphNodeTypeEventRecord, set_event_record, event));
}

API cudaError_t cudaGraphEventWaitNodeGetEvent(cudaGraphNode_t node, cudaEvent_t *event)
{
	return answer(with_node(node, cudaGraphNodeTypeWaitEvent, event_get, event));
}

API cudaError_t cudaGraphEventWaitNodeSetEvent(cudaGraphNode_t node, cudaEvent_t event)
{
	return answer(set_node(node, cudaGraphNodeTypeWaitEvent, set_event_wait, event));
}

/* The embedded graph itself, as CUDA hands it out (a change to it changes the node). */
static cudaError_t child_get(struct gnode *n, void *arg)
{
	*(cudaGraph_t *)arg = (cudaGraph_t)n->p.child;
	return cudaSuccess;
}

API cudaError_t cudaGraphChildGraphNodeGetGraph(cudaGraphNode_t node, cudaGraph_t *graph)
{
	return answer(with_node(node, cudaGraphNodeTypeGraph, child_get, graph));
}

API cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, enum cudaGraphNodeType *type)
{
	struct gnode *n;

	if (!type)
		return answer(cudaErrorInvalidValue);
	pthread_mutex_lock(&lock);
	if ((n = node_of(node)))
		*type = n->type;
	pthread_mutex_unlock(&lock);
	if (!n)
		xmig_cl_unsupported("cudaGraphNodeGetType of a captured graph's node");
	return answer(n ? cudaSuccess : cudaErrorInvalidValue);
}

/* Answer a list as CUDA does: *count entries at most filled, the rest NULL, *count the truth. */
static void hand_out(struct gnode *const *v, size_t n, cudaGraphNode_t *out, size_t *count)
{
	if (!out) {
		*count = n;
		return;
	}
	for (size_t i = 0; i < *count; i++)
		out[i] = i < n ? (cudaGraphNode_t)v[i] : NULL;
	if (*count > n)
		*count = n;
}

cudaError_t xmig_graph_built_nodes(cudaGraph_t g, cudaGraphNode_t *nodes, size_t *count)
{
	struct gbuild *b;

	pthread_mutex_lock(&lock);
	if ((b = graph_of(g)))
		hand_out(b->nodes, b->n, nodes, count);
	pthread_mutex_unlock(&lock);
	return b ? cudaSuccess : cudaErrorInvalidValue;
}

API cudaError_t cudaGraphGetRootNodes(cudaGraph_t graph, cudaGraphNode_t *roots, size_t *count)
{
	struct gnode **v = NULL;
	struct gbuild *b;
	size_t n = 0;
	cudaError_t e = cudaSuccess;

	if (!count)
		return answer(cudaErrorInvalidValue);
	pthread_mutex_lock(&lock);
	if (!(b = graph_of(graph)))
		e = not_built(graph, "cudaGraphGetRootNodes of a captured graph");
	else if (b->n && !(v = malloc(b->n * sizeof(*v))))
		e = cudaErrorMemoryAllocation;
	for (size_t i = 0; !e && i < b->n; i++)
		if (!b->nodes[i]->ndeps)
			v[n++] = b->nodes[i];
	if (!e)
		hand_out(v, n, roots, count);
	pthread_mutex_unlock(&lock);
	free(v);
	return answer(e);
}

/* A node's dependencies (depends 0) or dependents (1); edge data all plain. */
static cudaError_t edges_of(cudaGraphNode_t node, bool dependents, cudaGraphNode_t *out,
			    cudaGraphEdgeData *edges, size_t *count)
{
	struct gnode *n, **v = NULL;
	size_t k = 0;
	cudaError_t e = cudaSuccess;

	if (!count || (edges && !out))
		return cudaErrorInvalidValue;
	pthread_mutex_lock(&lock);
	if (!(n = node_of(node))) {
		e = cudaErrorInvalidValue;
	} else if (!dependents) {
		hand_out(n->deps, n->ndeps, out, count);
	} else if (!(v = malloc((n->owner->n ? n->owner->n : 1) * sizeof(*v)))) {
		e = cudaErrorMemoryAllocation;
	} else {
		for (size_t i = 0; i < n->owner->n; i++)
			for (size_t j = 0; j < n->owner->nodes[i]->ndeps; j++)
				if (n->owner->nodes[i]->deps[j] == n) {
					v[k++] = n->owner->nodes[i];
					break;
				}
		hand_out(v, k, out, count);
	}
	pthread_mutex_unlock(&lock);
	free(v);
	if (!e && out && edges)
		memset(edges, 0, *count * sizeof(*edges));
	return e;
}

API cudaError_t cudaGraphNodeGetDependencies(cudaGraphNode_t node, cudaGraphNode_t *deps,
					     cudaGraphEdgeData *edges, size_t *count)
{
	return answer(edges_of(node, false, deps, edges, count));
}

API cudaError_t cudaGraphNodeGetDependentNodes(cudaGraphNode_t node, cudaGraphNode_t *deps,
					       cudaGraphEdgeData *edges, size_t *count)
{
	return answer(edges_of(node, true, deps, edges, count));
}

API cudaError_t cudaGraphGetEdges(cudaGraph_t graph, cudaGraphNode_t *from, cudaGraphNode_t *to,
				  cudaGraphEdgeData *edges, size_t *count)
{
	struct gbuild *b;
	size_t k = 0;
	cudaError_t e = cudaSuccess;

	if (!count || (!from != !to) || (edges && !from))
		return answer(cudaErrorInvalidValue);
	pthread_mutex_lock(&lock);
	if (!(b = graph_of(graph)))
		e = not_built(graph, "cudaGraphGetEdges of a captured graph");
	for (size_t i = 0; b && i < b->n; i++)
		for (size_t j = 0; j < b->nodes[i]->ndeps; j++, k++)
			if (from && k < *count) {
				from[k] = (cudaGraphNode_t)b->nodes[i]->deps[j];
				to[k] = (cudaGraphNode_t)b->nodes[i];
				if (edges)
					edges[k] = (cudaGraphEdgeData){ 0 };
			}
	pthread_mutex_unlock(&lock);
	if (e)
		return answer(e);
	if (from)
		for (size_t i = k; i < *count; i++)
			from[i] = to[i] = NULL;
	if (!from || *count > k)
		*count = k;
	return cudaSuccess;
}

static bool plain_edges(const cudaGraphEdgeData *edges, size_t n)
{
	static const cudaGraphEdgeData plain;

	for (size_t i = 0; edges && i < n; i++)
		if (memcmp(&edges[i], &plain, sizeof(plain)))
			return false;
	return true;
}

/* Edges from[i] -> to[i] added (add) or removed, all of them or none. */
static cudaError_t change_edges(cudaGraph_t graph, const cudaGraphNode_t *from,
				const cudaGraphNode_t *to, const cudaGraphEdgeData *edges,
				size_t n, bool add)
{
	struct gbuild *b;
	cudaError_t e = cudaErrorInvalidValue;
	size_t i, j;

	if (n && (!from || !to))
		return e;
	if (!plain_edges(edges, n)) {
		xmig_cl_unsupported("graph edges with edge data (programmatic launches)");
		return cudaErrorNotSupported;
	}
	pthread_mutex_lock(&lock);
	if (!(b = graph_of(graph))) {
		e = not_built(graph, "changing a captured graph's edges");
		goto out;
	}
	/*
	 * all checked first: each edge's ends ours, distinct; present (remove)
	 * or not (add); and named once (a second time it would be added twice,
	 * or removed once it is gone)
	 */
	for (i = 0; i < n; i++) {
		struct gnode *f = node_of(from[i]), *t = node_of(to[i]);

		if (!f || !t || f == t || f->owner != b || t->owner != b)
			goto out;
		for (j = 0; j < t->ndeps && t->deps[j] != f; j++)
			;
		if ((j < t->ndeps) == add)
			goto out;
		for (j = 0; j < i; j++)
			if (from[j] == from[i] && to[j] == to[i])
				goto out;
	}
	for (i = 0; i < n; i++) {
		struct gnode *f = (struct gnode *)from[i], *t = (struct gnode *)to[i];

		if (add) {
			struct gnode **v = realloc(t->deps, (t->ndeps + 1) * sizeof(*v));

			if (!v) {
				/* (none: those added so far are each their node's last) */
				while (i-- > 0)
					((struct gnode *)to[i])->ndeps--;
				e = cudaErrorMemoryAllocation;
				goto out;
			}
			t->deps = v;
			t->deps[t->ndeps++] = f;
		} else {
			for (j = 0; t->deps[j] != f; j++)
				;
			t->deps[j] = t->deps[--t->ndeps];
		}
	}
	unmake(b);
	e = cudaSuccess;
out:
	pthread_mutex_unlock(&lock);
	return e;
}

API cudaError_t cudaGraphAddDependencies(cudaGraph_t graph, const cudaGraphNode_t *from,
					 const cudaGraphNode_t *to, const cudaGraphEdgeData *edges,
					 size_t n)
{
	return answer(change_edges(graph, from, to, edges, n, true));
}

API cudaError_t cudaGraphRemoveDependencies(cudaGraph_t graph, const cudaGraphNode_t *from,
					    const cudaGraphNode_t *to,
					    const cudaGraphEdgeData *edges, size_t n)
{
	return answer(change_edges(graph, from, to, edges, n, false));
}

/* The node and its edges go. */
API cudaError_t cudaGraphDestroyNode(cudaGraphNode_t node)
{
	struct gnode *n;
	struct gbuild *b;

	pthread_mutex_lock(&lock);
	if ((n = node_of(node))) {
		b = n->owner;
		for (size_t i = 0; i < b->n; i++) {
			struct gnode *o = b->nodes[i];

			for (size_t j = 0; j < o->ndeps; j++)
				if (o->deps[j] == n)
					o->deps[j--] = o->deps[--o->ndeps];
		}
		size_t at = n->at;

		/* (the order of addition kept) */
		memmove(b->nodes + at, b->nodes + at + 1, (--b->n - at) * sizeof(*b->nodes));
		for (size_t i = at; i < b->n; i++)
			b->nodes[i]->at = i;
		live_del(n);
		node_free(n);
		unmake(b);
	}
	pthread_mutex_unlock(&lock);
	return answer(n ? cudaSuccess : cudaErrorInvalidValue);
}

/* (an executable graph's copy: its child copied too, not handed out) */
static cudaError_t set_exec_child(struct gnode *n, const void *arg)
{
	struct gbuild *c = graph_of((cudaGraph_t)arg);

	if (!c)
		return cudaErrorInvalidValue;
	if (!(n->p.child = graph_clone(c, false)))
		return cudaErrorMemoryAllocation;
	n->p.child->parent = n;
	n->type = cudaGraphNodeTypeGraph;
	return cudaSuccess;
}

/* ---- executable graphs' nodes set anew ------------------------------------- */

API cudaError_t cudaGraphExecKernelNodeSetParams(cudaGraphExec_t exec, cudaGraphNode_t node,
						 const struct cudaKernelNodeParams *p)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeKernel, set_kernel, p));
}

API cudaError_t cudaGraphExecMemcpyNodeSetParams(cudaGraphExec_t exec, cudaGraphNode_t node,
						 const struct cudaMemcpy3DParms *p)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeMemcpy, set_copy3d, p));
}

API cudaError_t cudaGraphExecMemcpyNodeSetParams1D(cudaGraphExec_t exec, cudaGraphNode_t node,
						   void *dst, const void *src, size_t count,
						   enum cudaMemcpyKind kind)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeMemcpy, set_copy1d,
			&(struct copy1d){ dst, src, count, kind }));
}

API cudaError_t cudaGraphExecMemsetNodeSetParams(cudaGraphExec_t exec, cudaGraphNode_t node,
						 const struct cudaMemsetParams *p)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeMemset, set_memset, p));
}

API cudaError_t cudaGraphExecHostNodeSetParams(cudaGraphExec_t exec, cudaGraphNode_t node,
					       const struct cudaHostNodeParams *p)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeHost, set_host, p));
}

API cudaError_t cudaGraphExecEventRecordNodeSetEvent(cudaGraphExec_t exec, cudaGraphNode_t node,
						     cudaEvent_t event)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeEventRecord, set_event_record, event));
}

API cudaError_t cudaGraphExecEventWaitNodeSetEvent(cudaGraphExec_t exec, cudaGraphNode_t node,
						   cudaEvent_t event)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeWaitEvent, set_event_wait, event));
}

/* (CUDA asks the child to have the node's child's shape: the update refuses it otherwise) */
API cudaError_t cudaGraphExecChildGraphNodeSetParams(cudaGraphExec_t exec, cudaGraphNode_t node,
						     cudaGraph_t child)
{
	return answer(exec_set(exec, node, cudaGraphNodeTypeGraph, set_exec_child, child));
}

/* ---- the generic entry points (CUDA 12.2's cudaGraphNodeParams) ----------------- */

/* The kinds' own settings are the older structures' layouts. */
_Static_assert(sizeof(struct cudaKernelNodeParamsV2) == sizeof(struct cudaKernelNodeParams),
	       "kernel node settings: one layout");
_Static_assert(sizeof(struct cudaMemsetParamsV2) == sizeof(struct cudaMemsetParams),
	       "memset node settings: one layout");
_Static_assert(sizeof(struct cudaHostNodeParamsV2) == sizeof(struct cudaHostNodeParams),
	       "host node settings: one layout");

static cudaError_t generic_unsupported(enum cudaGraphNodeType type)
{
	xmig_cl_unsupported(type == cudaGraphNodeTypeMemAlloc || type == cudaGraphNodeTypeMemFree
			    ? "graph memory nodes"
			    : type == cudaGraphNodeTypeConditional ? "graph conditional nodes"
			    : "graph nodes of this type (semaphores, batch memory operations)");
	return cudaErrorNotSupported;
}

API cudaError_t cudaGraphAddNode(cudaGraphNode_t *node, cudaGraph_t graph,
				 const cudaGraphNode_t *deps, const cudaGraphEdgeData *edges,
				 size_t ndeps, struct cudaGraphNodeParams *p)
{
	if (!p)
		return answer(cudaErrorInvalidValue);
	if (!plain_edges(edges, ndeps)) {
		xmig_cl_unsupported("graph edges with edge data (programmatic launches)");
		return answer(cudaErrorNotSupported);
	}
	switch (p->type) {
	case cudaGraphNodeTypeKernel:
		return answer(cudaGraphAddKernelNode(node, graph, deps, ndeps,
					      (const struct cudaKernelNodeParams *)&p->kernel));
	case cudaGraphNodeTypeMemcpy:
		if (p->memcpy.flags)
			return answer(cudaErrorInvalidValue);
		return answer(cudaGraphAddMemcpyNode(node, graph, deps, ndeps, &p->memcpy.copyParams));
	case cudaGraphNodeTypeMemset:
		return answer(cudaGraphAddMemsetNode(node, graph, deps, ndeps,
					      (const struct cudaMemsetParams *)&p->memset));
	case cudaGraphNodeTypeHost:
		return answer(cudaGraphAddHostNode(node, graph, deps, ndeps,
					    (const struct cudaHostNodeParams *)&p->host));
	case cudaGraphNodeTypeGraph:
		if (p->graph.ownership != cudaGraphChildGraphOwnershipClone) {
			xmig_cl_unsupported("a child graph moved into its node (not copied)");
			return answer(cudaErrorNotSupported);
		}
		return answer(cudaGraphAddChildGraphNode(node, graph, deps, ndeps, p->graph.graph));
	case cudaGraphNodeTypeEmpty:
		return answer(cudaGraphAddEmptyNode(node, graph, deps, ndeps));
	case cudaGraphNodeTypeEventRecord:
		return answer(cudaGraphAddEventRecordNode(node, graph, deps, ndeps, p->eventRecord.event));
	case cudaGraphNodeTypeWaitEvent:
		return answer(cudaGraphAddEventWaitNode(node, graph, deps, ndeps, p->eventWait.event));
	default:
		return answer(generic_unsupported(p->type));
	}
}

API cudaError_t cudaGraphNodeSetParams(cudaGraphNode_t node, struct cudaGraphNodeParams *p)
{
	if (!p)
		return answer(cudaErrorInvalidValue);
	switch (p->type) {
	case cudaGraphNodeTypeKernel:
		return answer(cudaGraphKernelNodeSetParams(node,
						    (const struct cudaKernelNodeParams *)&p->kernel));
	case cudaGraphNodeTypeMemcpy:
		return answer(p->memcpy.flags ? cudaErrorInvalidValue
				       : cudaGraphMemcpyNodeSetParams(node, &p->memcpy.copyParams));
	case cudaGraphNodeTypeMemset:
		return answer(cudaGraphMemsetNodeSetParams(node, (const struct cudaMemsetParams *)&p->memset));
	case cudaGraphNodeTypeHost:
		return answer(cudaGraphHostNodeSetParams(node, (const struct cudaHostNodeParams *)&p->host));
	case cudaGraphNodeTypeEventRecord:
		return answer(cudaGraphEventRecordNodeSetEvent(node, p->eventRecord.event));
	case cudaGraphNodeTypeWaitEvent:
		return answer(cudaGraphEventWaitNodeSetEvent(node, p->eventWait.event));
	case cudaGraphNodeTypeGraph:
	case cudaGraphNodeTypeEmpty:
		return answer(cudaErrorInvalidValue);   /* (nothing of theirs may be set so) */
	default:
		return answer(generic_unsupported(p->type));
	}
}

API cudaError_t cudaGraphExecNodeSetParams(cudaGraphExec_t exec, cudaGraphNode_t node,
					   struct cudaGraphNodeParams *p)
{
	if (!p)
		return answer(cudaErrorInvalidValue);
	switch (p->type) {
	case cudaGraphNodeTypeKernel:
		return answer(cudaGraphExecKernelNodeSetParams(exec, node, (const struct cudaKernelNodeParams *)
								    &p->kernel));
	case cudaGraphNodeTypeMemcpy:
		return answer(p->memcpy.flags ? cudaErrorInvalidValue
				       : cudaGraphExecMemcpyNodeSetParams(exec, node,
									  &p->memcpy.copyParams));
	case cudaGraphNodeTypeMemset:
		return answer(cudaGraphExecMemsetNodeSetParams(exec, node, (const struct cudaMemsetParams *)
								    &p->memset));
	case cudaGraphNodeTypeHost:
		return answer(cudaGraphExecHostNodeSetParams(exec, node, (const struct cudaHostNodeParams *)
								  &p->host));
	case cudaGraphNodeTypeGraph:
		return answer(cudaGraphExecChildGraphNodeSetParams(exec, node, p->graph.graph));
	case cudaGraphNodeTypeEventRecord:
		return answer(cudaGraphExecEventRecordNodeSetEvent(exec, node, p->eventRecord.event));
	case cudaGraphNodeTypeWaitEvent:
		return answer(cudaGraphExecEventWaitNodeSetEvent(exec, node, p->eventWait.event));
	case cudaGraphNodeTypeEmpty:
		return answer(cudaErrorInvalidValue);
	default:
		return answer(generic_unsupported(p->type));
	}
}

/* ---- the driver facade's kernel nodes (graph-kernel.h) ------------------------ */

XMIG_FACADE_API cudaError_t xmig_facade_graph_add_kernel(cudaGraphNode_t *node, cudaGraph_t graph,
							 const cudaGraphNode_t *deps, size_t ndeps,
							 const struct xmig_graph_kernel *k)
{
	return k ? add_node(node, graph, deps, ndeps, set_graph_kernel, k) : cudaErrorInvalidValue;
}

static cudaError_t graph_kernel_get(struct gnode *n, void *arg)
{
	*(struct xmig_graph_kernel *)arg = n->p.k.g;
	return cudaSuccess;
}

XMIG_FACADE_API cudaError_t xmig_facade_graph_kernel_get(cudaGraphNode_t node,
							 struct xmig_graph_kernel *k)
{
	return with_node(node, cudaGraphNodeTypeKernel, graph_kernel_get, k);
}

XMIG_FACADE_API cudaError_t xmig_facade_graph_kernel_set(cudaGraphNode_t node,
							 const struct xmig_graph_kernel *k)
{
	return k ? set_node(node, cudaGraphNodeTypeKernel, set_graph_kernel, k)
		 : cudaErrorInvalidValue;
}

XMIG_FACADE_API cudaError_t xmig_facade_graph_exec_kernel_set(cudaGraphExec_t exec,
							      cudaGraphNode_t node,
							      const struct xmig_graph_kernel *k)
{
	return k ? exec_set(exec, node, cudaGraphNodeTypeKernel, set_graph_kernel, k)
		 : cudaErrorInvalidValue;
}
