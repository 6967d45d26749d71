/*
 * graph_nodes.cu - a CUDA graph built node by node (cudaGraphCreate,
 * cudaGraphAdd*Node), inspected, launched round after round and changed
 * between rounds, in the graph and in its executable graph.
 *
 * The graph (edges left to right; C and A are its roots):
 *
 *   A copy in (pinned) -> B affine(x,3,1) -+-> D mix(z,x,y,7) ------+-> F empty -> G mix(z,w,z,k)
 *   C memset y = v -------------------------+                        |
 *                          B -> E child graph: E1 copy w = x,        |
 *                                              E2 affine(w,5,2) -----+
 *   G -> H copy out (pinned) -> I host node: checks the copy out against
 *   its own model, then writes the next round's input in place.
 *
 * What it checks: the nodes, roots, edges, types and settings read back;
 * each round's output (the host node); after half the rounds the
 * executable graph's G and C set anew (cudaGraphExecKernelNodeSetParams,
 * cudaGraphExecMemsetNodeSetParams), and later the graph's G set anew and
 * the executable graph updated from it (cudaGraphExecUpdate), then the
 * executable graph's child graph (cudaGraphExecChildGraphNodeSetParams)
 * and G through the generic cudaGraphExecNodeSetParams; a clone without
 * its host node (cudaGraphNodeFindInClone, cudaGraphDestroyNode, an edge
 * removed and put back, an empty node added by cudaGraphAddNode) launched
 * once and read back.
 *
 *   graph_nodes [--iters N (6)] [--sleep-ms N (0)] [--device-only] [--bad-input]
 *
 * --bad-input: only what misused calls return, one line each (for xmig's
 * tests: a dependency of another graph, a node given as a graph, a node
 * named twice, a cycle made by an added edge, an edge removed that is not
 * there, an edge named twice, a node added to no graph, an embedded child
 * graph destroyed alone, a removed node looked for in a clone, updates
 * from graphs of another shape, a node added to a captured graph, a
 * kernel node of no kernel; and, not misuse, a chain of 2000 fills whose
 * edges run against the order the nodes were added in, and a child graph
 * changed through its node after its parent was instantiated).
 *
 * --device-only: A copies from device memory and H to device memory, and
 * there is no host node I: the program checks each round after the launch
 * (a graph that touches no host memory moves to another node too).
 *
 * Rounds are --sleep-ms apart after the line "looping" (the moves of the
 * migrate tests come there).
 */
#include <cuda.h>
#include <unistd.h>

#include <stddef.h>

#include "xtest.h"

#define N 5003
#define BLOCK 128

__global__ void gr_mix(uint32_t *dst, const uint32_t *a, const uint32_t *b, int n, uint32_t k)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		dst[i] = xf_mix(a[i], b[i], k);
}

struct rig {
	uint32_t *x, *y, *z, *w;     /* device */
	uint32_t *src, *dst;         /* where A copies from and H to: in and out, or (--device-only) device */
	uint32_t *in, *out;          /* pinned */
	uint32_t k, v;               /* G's mix constant and C's fill value, as the graph has them */
	uint32_t e_mul, e_add;       /* the child graph's affine step */
	long rounds;                 /* checked by the host node */
	int failures;
	uint64_t digest;             /* of every output checked */
};

static uint32_t model(const struct rig *r, uint32_t in)
{
	uint32_t x = xf_affine(in, 3, 1), z = xf_mix(x, r->v, 7), w = xf_affine(x, r->e_mul, r->e_add);

	return xf_mix(w, z, r->k);
}

static void host_node(void *arg);

/* --device-only: what the host node does, after the launch */
static void check_round(struct rig *r)
{
	if (r->src == r->in)
		return;
	CK(cudaMemcpy(r->out, r->dst, N * 4, cudaMemcpyDeviceToHost));
	host_node(r);
	CK(cudaMemcpy(r->src, r->in, N * 4, cudaMemcpyHostToDevice));
}

static void host_node(void *arg)
{
	struct rig *r = (struct rig *)arg;

	for (int i = 0; i < N; i++) {
		uint32_t want = model(r, r->in[i]);

		if (r->out[i] != want) {
			if (!r->failures++)
				printf("FAIL graph_nodes: round %ld, element %d: %u, want %u\n",
				       r->rounds, i, r->out[i], want);
			return;
		}
	}
	r->digest = xt_hash(r->out, N * 4) ^ (r->digest * 31);
	for (int i = 0; i < N; i++)
		r->in[i] = r->out[i] ^ (uint32_t)(i * 2654435761u + (uint32_t)r->rounds);
	r->rounds++;
}

struct nodes {
	cudaGraphNode_t a, b, c, d, e, f, g, h, i;
};

/* G's settings with mix constant *k (kernel arguments point at the rig's fields). */
static cudaKernelNodeParams g_params(struct rig *r, void **args, uint32_t *k)
{
	static int n = N;
	cudaKernelNodeParams p = {};

	args[0] = &r->z;
	args[1] = &r->w;
	args[2] = &r->z;
	args[3] = &n;
	args[4] = k;
	p.func = (void *)gr_mix;
	p.gridDim = dim3(xt_blocks(N, BLOCK));
	p.blockDim = dim3(BLOCK);
	p.kernelParams = args;
	return p;
}

static cudaMemsetParams c_params(struct rig *r, uint32_t v)
{
	cudaMemsetParams p = {};

	p.dst = r->y;
	p.value = v;
	p.elementSize = 4;
	p.width = N;
	p.height = 1;
	return p;
}

/* E's graph: w = x, then w = w * mul + add (the kernel's arguments copied at the call). */
static cudaGraph_t child_graph(struct rig *r, uint32_t mul, uint32_t add)
{
	static int count = N;
	cudaGraph_t child;
	cudaGraphNode_t e1, e2;
	void *args[] = { &r->w, &count, &mul, &add };
	cudaKernelNodeParams kp = {};

	CK(cudaGraphCreate(&child, 0));
	CK(cudaGraphAddMemcpyNode1D(&e1, child, NULL, 0, r->w, r->x, N * 4,
				    cudaMemcpyDeviceToDevice));
	kp.func = (void *)xt_affine;
	kp.gridDim = dim3(xt_blocks(N, BLOCK));
	kp.blockDim = dim3(BLOCK);
	kp.kernelParams = args;
	CK(cudaGraphAddKernelNode(&e2, child, &e1, 1, &kp));
	return child;
}

static cudaGraph_t build(struct rig *r, struct nodes *n)
{
	static int count = N;
	static uint32_t three = 3, one = 1, seven = 7;
	cudaGraph_t g, child;
	cudaGraphNode_t deps[2];
	void *b_args[] = { &r->x, &count, &three, &one };
	void *d_args[] = { &r->z, &r->x, &r->y, &count, &seven };
	void *g_args[5];
	cudaKernelNodeParams kp = {};
	cudaMemsetParams mp = c_params(r, r->v);
	cudaHostNodeParams hp = {};

	CK(cudaGraphCreate(&g, 0));
	CK(cudaGraphAddMemcpyNode1D(&n->a, g, NULL, 0, r->x, r->src, N * 4, cudaMemcpyDefault));
	kp.func = (void *)xt_affine;
	kp.gridDim = dim3(xt_blocks(N, BLOCK));
	kp.blockDim = dim3(BLOCK);
	kp.kernelParams = b_args;
	CK(cudaGraphAddKernelNode(&n->b, g, &n->a, 1, &kp));
	three = 99;   /* (the node took the arguments' values at the call) */
	CK(cudaGraphAddMemsetNode(&n->c, g, NULL, 0, &mp));
	deps[0] = n->b;
	deps[1] = n->c;
	kp.func = (void *)gr_mix;
	kp.kernelParams = d_args;
	CK(cudaGraphAddKernelNode(&n->d, g, deps, 2, &kp));

	child = child_graph(r, 5, 2);
	CK(cudaGraphAddChildGraphNode(&n->e, g, &n->b, 1, child));
	CK(cudaGraphDestroy(child));   /* (the node holds a copy) */

	deps[0] = n->d;
	deps[1] = n->e;
	CK(cudaGraphAddEmptyNode(&n->f, g, deps, 2));
	kp = g_params(r, g_args, &r->k);
	CK(cudaGraphAddKernelNode(&n->g, g, &n->f, 1, &kp));
	CK(cudaGraphAddMemcpyNode1D(&n->h, g, &n->g, 1, r->dst, r->z, N * 4, cudaMemcpyDefault));
	n->i = NULL;
	if (r->src != r->in)
		return g;
	hp.fn = host_node;
	hp.userData = r;
	CK(cudaGraphAddHostNode(&n->i, g, &n->h, 1, &hp));
	return g;
}

static const char *type_name(cudaGraphNodeType t)
{
	switch (t) {
	case cudaGraphNodeTypeKernel: return "kernel";
	case cudaGraphNodeTypeMemcpy: return "memcpy";
	case cudaGraphNodeTypeMemset: return "memset";
	case cudaGraphNodeTypeHost: return "host";
	case cudaGraphNodeTypeGraph: return "graph";
	case cudaGraphNodeTypeEmpty: return "empty";
	default: return "other";
	}
}

/* Which of the nine a handle is (a letter), or '?'. */
static char letter(const struct nodes *n, cudaGraphNode_t h)
{
	const cudaGraphNode_t *v = &n->a;

	for (int i = 0; i < 9; i++)
		if (v[i] == h)
			return (char)('A' + i);
	return '?';
}

static void print_list(const char *what, const struct nodes *n, const cudaGraphNode_t *v,
		       size_t k)
{
	char s[16] = "";

	for (size_t i = 0; i < k && i < 15; i++)
		s[i] = letter(n, v[i]);
	s[k < 15 ? k : 15] = 0;
	/* (the order CUDA lists them in is its own: sorted here) */
	for (size_t i = 0; s[i]; i++)
		for (size_t j = i + 1; s[j]; j++)
			if (s[j] < s[i]) {
				char c = s[i];

				s[i] = s[j];
				s[j] = c;
			}
	printf("%s: %s\n", what, s);
}

static void inspect(cudaGraph_t g, const struct nodes *n, struct rig *r)
{
	cudaGraphNode_t v[16];
	cudaGraphEdgeData ed[16];
	size_t k;
	cudaGraphNodeType t;
	cudaKernelNodeParams kp;
	cudaMemsetParams mp;
	cudaMemcpy3DParms cp = {};
	cudaHostNodeParams hp;
	cudaGraph_t child;

	CK(cudaGraphGetNodes(g, NULL, &k));
	printf("nodes: %zu\n", k);
	k = 16;
	CK(cudaGraphGetNodes(g, v, &k));
	print_list("all", n, v, k);
	k = 16;
	CK(cudaGraphGetRootNodes(g, v, &k));
	print_list("roots", n, v, k);
	k = 16;
	CK(cudaGraphNodeGetDependencies(n->d, v, ed, &k));
	print_list("D depends on", n, v, k);
	k = 16;
	CK(cudaGraphNodeGetDependentNodes(n->b, v, NULL, &k));
	print_list("B is depended on by", n, v, k);
	CK(cudaGraphGetEdges(g, NULL, NULL, NULL, &k));
	printf("edges: %zu\n", k);
	printf("types:");
	for (const cudaGraphNode_t *p = &n->a; p <= &n->i && *p; p++) {
		CK(cudaGraphNodeGetType(*p, &t));
		printf(" %s", type_name(t));
	}
	printf("\n");
	CK(cudaGraphKernelNodeGetParams(n->b, &kp));
	printf("B: %s, grid %u, block %u, mul %u add %u\n",
	       kp.func == (void *)xt_affine ? "xt_affine" : "?", kp.gridDim.x, kp.blockDim.x,
	       *(uint32_t *)kp.kernelParams[2], *(uint32_t *)kp.kernelParams[3]);
	CK(cudaGraphMemsetNodeGetParams(n->c, &mp));
	printf("C: value %#x, element %u, width %zu, height %zu, dst %s\n", mp.value,
	       mp.elementSize, mp.width, mp.height, mp.dst == r->y ? "y" : "?");
	CK(cudaGraphMemcpyNodeGetParams(n->h, &cp));
	printf("H: %zu bytes, %s, to %s\n", cp.extent.width * cp.extent.height * cp.extent.depth,
	       cp.kind == cudaMemcpyDefault ? "either way" : "?",
	       cp.dstPtr.ptr == r->dst ? "the output" : "?");
	if (n->i) {
		CK(cudaGraphHostNodeGetParams(n->i, &hp));
		printf("I: %s\n", hp.fn == host_node && hp.userData == r ? "host_node(rig)" : "?");
	}
	CK(cudaGraphChildGraphNodeGetGraph(n->e, &child));
	CK(cudaGraphGetNodes(child, NULL, &k));
	printf("E: a graph of %zu nodes\n", k);
}

/*
 * Event nodes: a wait node on an event another stream records behind its
 * fill of y, then the graph's fill of y, then a record node; read back;
 * the executable graph's record node set to another event. An event's
 * elapsed time can be read only once it was recorded.
 */
static void event_nodes(struct rig *r, cudaStream_t s)
{
	cudaStream_t other;
	cudaEvent_t before, start, after, after2, got;
	cudaGraph_t g;
	cudaGraphNode_t w, f, rec;
	cudaGraphExec_t exec;
	cudaMemsetParams mp = c_params(r, 0x11223344);
	enum cudaGraphNodeType tw, tr;
	uint32_t y[2];
	float ms;

	CK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&before, cudaEventDisableTiming));
	CK(cudaEventCreate(&start));
	CK(cudaEventCreate(&after));
	CK(cudaEventCreate(&after2));
	CK(cudaGraphCreate(&g, 0));
	CK(cudaGraphAddEventWaitNode(&w, g, NULL, 0, before));
	CK(cudaGraphAddMemsetNode(&f, g, &w, 1, &mp));
	CK(cudaGraphAddEventRecordNode(&rec, g, &f, 1, after));
	CK(cudaGraphNodeGetType(w, &tw));
	CK(cudaGraphNodeGetType(rec, &tr));
	CK(cudaGraphEventWaitNodeGetEvent(w, &got));
	printf("event nodes: wait (type %d) on the event given: %s; record (type %d)\n", (int)tw,
	       got == before ? "yes" : "no", (int)tr);
	CK(cudaGraphInstantiate(&exec, g, 0));
	CK(cudaMemsetAsync(r->y, 0x55, N * 4, other));
	CK(cudaEventRecord(before, other));
	CK(cudaEventRecord(start, s));
	CK(cudaGraphLaunch(exec, s));
	CK(cudaEventSynchronize(after));
	CK(cudaMemcpy(y, r->y, sizeof(y), cudaMemcpyDeviceToHost));
	printf("launched: y %08x %08x (the graph's fill after the other stream's); the record "
	       "node's event: %s\n", y[0], y[1],
	       cudaGetErrorName(cudaEventElapsedTime(&ms, start, after)));
	CK(cudaGraphExecEventRecordNodeSetEvent(exec, rec, after2));
	CK(cudaEventRecord(start, s));
	CK(cudaGraphLaunch(exec, s));
	CK(cudaStreamSynchronize(s));
	CK(cudaGraphEventRecordNodeGetEvent(rec, &got));
	printf("the executable graph's record node set to another event: %s; the graph's node "
	       "keeps its own: %s\n", cudaGetErrorName(cudaEventElapsedTime(&ms, start, after2)),
	       got == after ? "yes" : "no");
	CK(cudaGraphExecDestroy(exec));
	CK(cudaGraphDestroy(g));
	CK(cudaEventDestroy(before));
	CK(cudaEventDestroy(start));
	CK(cudaEventDestroy(after));
	CK(cudaEventDestroy(after2));
	CK(cudaStreamDestroy(other));
}

static void bad_input(struct rig *r, struct nodes *n, cudaStream_t s)
{
	cudaGraph_t g = build(r, n), other, captured;
	cudaGraphNode_t x, twice[2] = { n->a, n->a }, from = n->i ? n->i : n->h, to = n->a;
	cudaGraphExec_t exec;
	cudaKernelNodeParams kp = {};

	CK(cudaGraphCreate(&other, 0));
	printf("a dependency of another graph: %s\n",
	       cudaGetErrorName(cudaGraphAddEmptyNode(&x, other, &n->a, 1)));
	printf("a node given as a graph: %s\n",
	       cudaGetErrorName(cudaGraphAddEmptyNode(&x, (cudaGraph_t)n->a, NULL, 0)));
	printf("a dependency named twice: %s\n",
	       cudaGetErrorName(cudaGraphAddEmptyNode(&x, g, twice, 2)));
	printf("an edge that is not there, removed: %s\n",
	       cudaGetErrorName(cudaGraphRemoveDependencies(g, &n->c, &n->b, NULL, 1)));
	{
		cudaGraphNode_t f2[2] = { n->a, n->a }, t2[2] = { n->b, n->b };
		size_t before = 0, after = 0;

		CK(cudaGraphGetEdges(g, NULL, NULL, NULL, &before));
		printf("an edge named twice, removed: %s\n",
		       cudaGetErrorName(cudaGraphRemoveDependencies(g, f2, t2, NULL, 2)));
		t2[0] = t2[1] = n->c;
		printf("an edge named twice, added: %s\n",
		       cudaGetErrorName(cudaGraphAddDependencies(g, f2, t2, NULL, 2)));
		CK(cudaGraphGetEdges(g, NULL, NULL, NULL, &after));
		printf("edges after: %s\n", after == before ? "as before" : "changed");
	}
	printf("a node added to no graph: %s\n",
	       cudaGetErrorName(cudaGraphAddEmptyNode(&x, NULL, NULL, 0)));
	{
		cudaGraph_t embedded, clone;
		cudaGraphNode_t gone, found;
		cudaGraphExec_t ge;
		cudaGraphExecUpdateResultInfo info;
		cudaError_t e;

		CK(cudaGraphChildGraphNodeGetGraph(n->e, &embedded));
		printf("an embedded child graph destroyed alone: %s\n",
		       cudaGetErrorName(cudaGraphDestroy(embedded)));
		CK(cudaGraphAddEmptyNode(&gone, other, NULL, 0));
		CK(cudaGraphClone(&clone, other));
		CK(cudaGraphDestroyNode(gone));
		printf("a removed node found in a clone: %s\n",
		       cudaGetErrorName(cudaGraphNodeFindInClone(&found, gone, clone)));
		/* an update from a graph of another shape, or of another node type */
		CK(cudaGraphInstantiate(&ge, clone, 0));
		CK(cudaGraphAddEmptyNode(&x, clone, NULL, 0));
		e = cudaGraphExecUpdate(ge, clone, &info);
		printf("an update from a graph with one node more: %s (%s)\n", cudaGetErrorName(e),
		       info.result == cudaGraphExecUpdateErrorTopologyChanged ? "topology changed" : "?");
		CK(cudaGraphDestroy(clone));
		CK(cudaGraphCreate(&clone, 0));
		{
			cudaMemsetParams mp = c_params(r, 0);

			CK(cudaGraphAddMemsetNode(&x, clone, NULL, 0, &mp));
		}
		e = cudaGraphExecUpdate(ge, clone, &info);
		printf("an update from a graph whose node is a fill: %s (%s)\n", cudaGetErrorName(e),
		       info.result == cudaGraphExecUpdateErrorNodeTypeChanged ? "node type changed" : "?");
		(void)cudaGetLastError();
		CK(cudaGraphExecDestroy(ge));
		CK(cudaGraphDestroy(clone));
	}
	CK(cudaGraphAddDependencies(g, &from, &to, NULL, 1));
	printf("a cycle, instantiated: %s\n", cudaGetErrorName(cudaGraphInstantiate(&exec, g, 0)));
	kp.func = (void *)bad_input;   /* (a host function, not a kernel) */
	kp.gridDim = dim3(1);
	kp.blockDim = dim3(1);
	printf("a kernel node of no kernel: %s\n",
	       cudaGetErrorName(cudaGraphAddKernelNode(&x, other, NULL, 0, &kp)));
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
	CK(cudaMemsetAsync(r->y, 0, 16, s));
	CK(cudaStreamEndCapture(s, &captured));
	printf("a node added to a captured graph: %s\n",
	       cudaGetErrorName(cudaGraphAddEmptyNode(&x, captured, NULL, 0)));
	(void)cudaGetLastError();
	CK(cudaGraphDestroy(captured));
	{
		/* (not misuse: a large graph, its nodes added in reverse of their order) */
		enum { CHAIN = 2000 };
		static cudaGraphNode_t v[CHAIN];
		cudaGraph_t big;
		cudaMemsetParams mp = c_params(r, 0);
		uint32_t got[2];

		CK(cudaGraphCreate(&big, 0));
		for (int i = 0; i < CHAIN; i++) {
			mp.value = (uint32_t)(CHAIN - 1 - i);   /* node i runs CHAIN-1-i'th */
			CK(cudaGraphAddMemsetNode(&v[i], big, NULL, 0, &mp));
		}
		for (int i = CHAIN - 1; i > 0; i--)
			CK(cudaGraphAddDependencies(big, &v[i], &v[i - 1], NULL, 1));
		CK(cudaGraphInstantiate(&exec, big, 0));
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		CK(cudaMemcpy(got, r->y, sizeof(got), cudaMemcpyDeviceToHost));
		printf("a chain of %d fills added last-first: the last to run left %u %u\n", CHAIN,
		       got[0], got[1]);
		CK(cudaGraphExecDestroy(exec));
		CK(cudaGraphDestroy(big));
	}
	{
		/* (not misuse: a kernel node with its arguments packed in `extra`, as cuLaunchKernel takes them) */
		struct { uint32_t *x; int n; uint32_t mul, add; } packed = { r->y, 2, 3, 1 };
		/* (the parameters' end, not the struct's padded size: the driver refuses more) */
		size_t size = offsetof(decltype(packed), add) + sizeof(uint32_t), big = sizeof(packed);
		void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
				  &size, CU_LAUNCH_PARAM_END };
		cudaGraph_t pg;
		cudaGraphNode_t fill, k;
		cudaMemsetParams mp = c_params(r, 5);
		uint32_t got[2];

		CK(cudaGraphCreate(&pg, 0));
		CK(cudaGraphAddMemsetNode(&fill, pg, NULL, 0, &mp));
		kp = cudaKernelNodeParams{};
		kp.func = (void *)xt_affine;
		kp.gridDim = dim3(1);
		kp.blockDim = dim3(32);
		kp.extra = extra;
		CK(cudaGraphAddKernelNode(&k, pg, &fill, 1, &kp));
		packed.mul = 99;   /* (the node took the buffer at the call) */
		CK(cudaGraphInstantiate(&exec, pg, 0));
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		CK(cudaMemcpy(got, r->y, sizeof(got), cudaMemcpyDeviceToHost));
		printf("a kernel node with its arguments in extra: 5 became %u %u\n", got[0], got[1]);
		extra[3] = &big;
		printf("... with 4 bytes more than its parameters: %s\n",
		       cudaGetErrorName(cudaGraphAddKernelNode(&k, pg, NULL, 0, &kp)));
		extra[3] = &size;
		kp.kernelParams = extra;   /* (both: refused) */
		printf("... and with kernelParams too: %s\n",
		       cudaGetErrorName(cudaGraphAddKernelNode(&k, pg, NULL, 0, &kp)));
		CK(cudaGraphExecDestroy(exec));
		CK(cudaGraphDestroy(pg));
	}
	{
		/*
		 * (not misuse: a child graph changed through its node, after its
		 * parent was instantiated once; the next instantiation has it)
		 */
		cudaGraph_t parent, child, embedded;
		cudaGraphNode_t node, fill;
		cudaMemsetParams mp = c_params(r, 11);
		size_t one = 1;
		uint32_t got[2];

		CK(cudaGraphCreate(&parent, 0));
		CK(cudaGraphCreate(&child, 0));
		CK(cudaGraphAddMemsetNode(&fill, child, NULL, 0, &mp));
		CK(cudaGraphAddChildGraphNode(&node, parent, NULL, 0, child));
		CK(cudaGraphDestroy(child));
		CK(cudaGraphInstantiate(&exec, parent, 0));
		CK(cudaGraphExecDestroy(exec));
		CK(cudaGraphChildGraphNodeGetGraph(node, &embedded));
		CK(cudaGraphGetNodes(embedded, &fill, &one));
		mp.value = 12;
		CK(cudaGraphMemsetNodeSetParams(fill, &mp));
		CK(cudaGraphInstantiate(&exec, parent, 0));
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		CK(cudaMemcpy(got, r->y, sizeof(got), cudaMemcpyDeviceToHost));
		printf("a child graph changed through its node: the parent fills %u %u\n", got[0],
		       got[1]);
		CK(cudaGraphExecDestroy(exec));
		CK(cudaGraphDestroy(parent));
	}
	CK(cudaGraphDestroy(other));
	CK(cudaGraphDestroy(g));
}

int main(int argc, char **argv)
{
	long iters = 6, sleep_ms = 0;
	bool device_only = false, bad = false;
	struct rig r = {};
	struct nodes n;
	cudaGraph_t g, clone;
	cudaGraphExec_t exec, exec2;
	cudaGraphNode_t cg, ci, ch;
	cudaStream_t s;
	cudaGraphExecUpdateResultInfo info;
	void *g_args[5];
	cudaKernelNodeParams kp;
	cudaMemsetParams mp;
	uint32_t k2 = 11, k3 = 13, *check;

	xt_begin("graph_nodes");
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--device-only"))
			device_only = true;
		else if (!strcmp(argv[i], "--bad-input"))
			bad = true;
		else if (!xt_opt_long(argc, argv, &i, "--iters", 2, 100000, &iters) &&
			 !xt_opt_long(argc, argv, &i, "--sleep-ms", 0, 60000, &sleep_ms))
			xt_fail("unknown option %s", argv[i]);

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaMalloc(&r.x, N * 4));
	CK(cudaMalloc(&r.y, N * 4));
	CK(cudaMalloc(&r.z, N * 4));
	CK(cudaMalloc(&r.w, N * 4));
	CK(cudaMallocHost(&r.in, N * 4));
	CK(cudaMallocHost(&r.out, N * 4));
	for (int i = 0; i < N; i++)
		r.in[i] = (uint32_t)i * 7919u + 17u;
	r.k = 3;
	r.v = 0x01020304;
	r.e_mul = 5;
	r.e_add = 2;
	r.src = r.in;
	r.dst = r.out;
	if (device_only) {
		CK(cudaMalloc(&r.src, N * 4));
		CK(cudaMalloc(&r.dst, N * 4));
		CK(cudaMemcpy(r.src, r.in, N * 4, cudaMemcpyHostToDevice));
	}

	if (bad) {
		bad_input(&r, &n, s);
		return xt_pass();
	}
	g = build(&r, &n);
	inspect(g, &n, &r);
	CK(cudaGraphInstantiate(&exec, g, 0));
	printf("looping\n");
	for (long it = 0; it < iters; it++) {
		if (it == iters / 2) {
			/* the executable graph's G and C set anew; the graph keeps its own */
			kp = g_params(&r, g_args, &k2);
			CK(cudaGraphExecKernelNodeSetParams(exec, n.g, &kp));
			mp = c_params(&r, 0x0a0b0c0d);
			CK(cudaGraphExecMemsetNodeSetParams(exec, n.c, &mp));
			r.k = k2;
			r.v = 0x0a0b0c0d;
			printf("round %ld: the executable graph's mix and fill set anew\n", it);
		}
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		check_round(&r);
		if (sleep_ms)
			usleep((useconds_t)sleep_ms * 1000);
	}
	printf("rounds %ld checked\n", r.rounds);

	/* the graph's G set anew (its C still as built): a second instantiation, then the update */
	kp = g_params(&r, g_args, &k3);
	CK(cudaGraphKernelNodeSetParams(n.g, &kp));
	CK(cudaGraphKernelNodeGetParams(n.g, &kp));
	printf("G now mixes with %u\n", *(uint32_t *)kp.kernelParams[4]);
	r.k = k3;
	r.v = 0x01020304;
	CK(cudaGraphInstantiate(&exec2, g, 0));
	CK(cudaGraphLaunch(exec2, s));
	CK(cudaStreamSynchronize(s));
	check_round(&r);
	CK(cudaGraphExecDestroy(exec2));
	CK(cudaGraphExecUpdate(exec, g, &info));
	printf("update: result %d\n", (int)info.result);
	CK(cudaGraphLaunch(exec, s));
	CK(cudaStreamSynchronize(s));
	check_round(&r);
	printf("rounds %ld checked\n", r.rounds);

	/* the executable graph's child graph, then G through the generic entry point */
	{
		cudaGraph_t child2 = child_graph(&r, 9, 4);
		cudaGraphNodeParams np = {};
		uint32_t k4 = 17;

		CK(cudaGraphExecChildGraphNodeSetParams(exec, n.e, child2));
		CK(cudaGraphDestroy(child2));
		r.e_mul = 9;
		r.e_add = 4;
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		check_round(&r);
		np.type = cudaGraphNodeTypeKernel;
		kp = g_params(&r, g_args, &k4);
		memcpy(&np.kernel, &kp, sizeof(kp));
		CK(cudaGraphExecNodeSetParams(exec, n.g, &np));
		r.k = k4;
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
		check_round(&r);
		printf("the executable graph's child set anew (affine 9, 4), then G (mix %u): "
		       "rounds %ld checked\n", k4, r.rounds);
		/* (the graph itself as it was: mix 13, affine 5, 2) */
		r.k = k3;
		r.e_mul = 5;
		r.e_add = 2;
	}

	/* a clone without its host node; an edge out and back in; launched once */
	CK(cudaGraphClone(&clone, g));
	CK(cudaGraphNodeFindInClone(&cg, n.g, clone));
	CK(cudaGraphNodeFindInClone(&ch, n.h, clone));
	if (n.i) {
		CK(cudaGraphNodeFindInClone(&ci, n.i, clone));
		CK(cudaGraphDestroyNode(ci));
	}
	CK(cudaGraphRemoveDependencies(clone, &cg, &ch, NULL, 1));
	CK(cudaGraphAddDependencies(clone, &cg, &ch, NULL, 1));
	{
		cudaGraphNodeParams np = {};
		cudaGraphNode_t ce;

		np.type = cudaGraphNodeTypeEmpty;   /* (through the generic entry point) */
		CK(cudaGraphAddNode(&ce, clone, &ch, NULL, 1, &np));
	}
	{
		size_t k;

		CK(cudaGraphGetNodes(clone, NULL, &k));
		printf("clone: %zu nodes\n", k);
	}
	CK(cudaGraphInstantiate(&exec2, clone, 0));
	CK(cudaGraphLaunch(exec2, s));
	CK(cudaStreamSynchronize(s));
	if (device_only)
		CK(cudaMemcpy(r.out, r.dst, N * 4, cudaMemcpyDeviceToHost));
	check = (uint32_t *)xt_malloc(N * 4);
	for (int i = 0; i < N; i++)
		check[i] = model(&r, r.in[i]);
	if (memcmp(check, r.out, N * 4))
		xt_fail("the clone's output is not the model's");
	printf("clone's output: %016llx\n", (unsigned long long)xt_hash(r.out, N * 4));
	event_nodes(&r, s);

	if (r.failures)
		return 1;
	printf("digest %016llx\n", (unsigned long long)r.digest);
	CK(cudaGraphExecDestroy(exec));
	CK(cudaGraphExecDestroy(exec2));
	CK(cudaGraphDestroy(clone));
	CK(cudaGraphDestroy(g));
	return xt_pass();
}
