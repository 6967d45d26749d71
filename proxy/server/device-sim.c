/*
 * device-sim.c - the sim test device (XMIG_DEVICE=sim).
 *
 * A software stand-in for a GPU so that the control plane, the call channel
 * and every migration path run in CI without one. It is labelled as a test
 * device everywhere and is never the default.
 *
 * - Device memory is a memfd mapped AT the device address, so kernels (C
 *   functions, sim-kernels.c) dereference device pointers directly and a
 *   backing can be handed to another proxy like a CUDA IPC handle.
 * - Work runs eagerly, in the order the server issues it: a valid execution
 *   of CUDA's stream semantics, since every dependency points backwards.
 * - XMIG_SIM_GPUS=N GPUs per node (default 2; 0: a node without GPUs), each of XMIG_SIM_MEM bytes
 *   (default 16 GiB). Memory in use is accounted per GPU across the proxies
 *   of the node in <runtime>/sim/gpu<N>/<pid>, so free memory is real.
 * - CUDA_VISIBLE_DEVICES picks and orders them as it does the driver's
 *   (indices; the list ends at the first entry that names none), so the
 *   numbering of a job started under a scheduler's can be tested; UUIDs,
 *   bus ids and the accounting are the machine's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/xmig.h"
#include "blas.h"
#include "dnn-backends.h"
#include "blaslt.h"
#include "../../ccl/ccl.h"
#include "device.h"
#include "sim-kernels.h"

#define SIM_GRANULARITY (2ull << 20)

struct sim_var {
	char *name;
	uint64_t size;
	void *addr;
};

struct sim_module {
	struct sim_var *vars;
	size_t nvars;
	struct sim_func **funcs;   /* handed out by func_get: the module's, as in CUDA */
	size_t nfuncs;
	pthread_mutex_t lock;
};

struct sim_func {
	const struct sim_kernel *k;
	struct sim_module *mod;
	int max_dyn_smem;
	uint32_t param_end;   /* the end of its last parameter */
};

struct sim_event {
	unsigned flags;
	bool recorded;
	uint64_t t_ns;
	uint64_t capture;   /* recorded in this capture (id; 0: none) */
};

struct sim_stream {
	unsigned flags;
	int priority;
	uint64_t capture;   /* capturing into this capture (id; 0: none, or ended) */
};

/* What a capture recorded, in issue order (see "stream capture" below). */
enum sim_node_kind { SIM_NODE_KERNEL, SIM_NODE_COPY, SIM_NODE_FILL, SIM_NODE_CALL };

struct sim_node {
	enum sim_node_kind kind;
	struct sim_func *f;
	sim_call_fn call;            /* a library double's call, on params */
	sim_hold_fn hold;            /* told of each copy of the call's record */
	struct xmig_dim3 grid, block;
	struct sim_dim3 cluster;
	size_t shmem, param_bytes;
	void *params;                /* a copy */
	uint64_t dst, src, count;    /* count: bytes, or elements of width */
	uint32_t value;
	unsigned width;              /* a fill's element: 1, 2 or 4 bytes */
};

struct sim_graph {
	uint64_t id;                 /* the capture's */
	struct sim_stream *origin;
	bool invalid;                /* something captured could not be: the capture fails */
	struct sim_node *nodes;
	size_t n;
	/* the open ends, set by capture_set_deps (nopen SIZE_MAX: the last node, as after a record) */
	uint64_t *open;
	size_t nopen;
};

struct sim_mem {
	int fd;
	uint64_t size;
	int holds;       /* lent out for an export: see mem_hold in device.h */
	bool unmapped;
};

struct sim_dev {
	int gpu;                     /* as the proxy counts (CUDA_VISIBLE_DEVICES) */
	int phys;                    /* the machine's */
	uint64_t window, window_size;
	uint64_t used;               /* device bytes mapped by this proxy */
	pthread_mutex_t lock;
	char acct_path[PATH_MAX];
	int acct_fd;
	struct sim_stream legacy, per_thread;
	size_t limits[16];
	struct sim_graph **captures; /* in progress */
	size_t ncaptures;
	uint64_t capture_seq;
};

static uint64_t sim_total_bytes(void)
{
	const char *e = getenv("XMIG_SIM_MEM");
	uint64_t v;

	if (e && xmig_parse_bytes(e, &v) == 0 && v > 0)
		return v;
	return 16ull << 30;
}

/* The GPUs of the machine. */
static int sim_machine_gpus(void)
{
	const char *e = getenv("XMIG_SIM_GPUS");
	long v = 2;

	if (e && xmig_parse_long(e, 0, 64, &v) < 0)
		v = 2;
	return (int)v;
}

/* The machine's index of visible GPU gpu; -1 if there is none. */
static int sim_physical(int gpu)
{
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	int n = sim_machine_gpus(), k = 0;
	bool seen[64] = { false };
	char *list, *tok, *save;

	if (!cvd)
		return gpu >= 0 && gpu < n ? gpu : -1;
	if (gpu < 0 || !(list = strdup(cvd)))
		return -1;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long v;

		if (xmig_parse_long(tok, 0, n - 1, &v) < 0 || seen[v])
			break;   /* the driver stops at the first entry that names no GPU */
		seen[v] = true;
		if (k++ == gpu) {
			free(list);
			return (int)v;
		}
	}
	free(list);
	return -1;
}

static int sim_count(int *n)
{
	*n = 0;
	while (sim_physical(*n) >= 0)
		(*n)++;
	return 0;
}

/* ---- memory accounting shared by the proxies of one node ------------- */

static void acct_dir(int gpu, char *buf, size_t len)
{
	snprintf(buf, len, "%s/sim/gpu%d", xmig_runtime_dir(), gpu);
}

static uint64_t acct_used_by_others(int gpu, pid_t self)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	uint64_t sum = 0;
	DIR *d;

	acct_dir(gpu, dir, sizeof(dir));
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end, *txt;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!xmig_proc_alive((pid_t)pid, 0)) {
			unlink(path);   /* a proxy that died leaves no debt */
			continue;
		}
		txt = xmig_read_file(path, NULL);
		if (txt) {
			sum += strtoull(txt, NULL, 10);
			free(txt);
		}
	}
	closedir(d);
	return sum;
}

static void acct_write(struct sim_dev *d)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%-20llu\n", (unsigned long long)d->used);

	/* Fixed width: readers never see a half-written number. */
	if (d->acct_fd >= 0 && pwrite(d->acct_fd, buf, (size_t)n, 0) != n)
		xmig_warn("sim device: cannot account memory in %s: %s", d->acct_path,
			  strerror(errno));
}

/* ---- device ---------------------------------------------------------- */

static int sim_info_of(int gpu, struct xmig_gpu_info *info)
{
	uint64_t total = sim_total_bytes(), other;
	int phys = sim_physical(gpu);

	if (phys < 0)
		return cudaErrorInvalidDevice;
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "xmig sim device (test only)");
	snprintf(info->uuid, sizeof(info->uuid), "SIM-%s-%d", xmig_hostname(), phys);
	snprintf(info->pci_bus_id, sizeof(info->pci_bus_id), "0000:%02x:00.0", phys + 1);
	info->major = 9;
	info->minor = 0;
	info->total_bytes = total;
	other = acct_used_by_others(phys, 0);
	info->free_bytes = other >= total ? 0 : total - other;
	info->multiprocessors = 4;
	return 0;
}

static int sim_open(int gpu, uint64_t window, uint64_t window_size, void **out)
{
	struct sim_dev *d;
	char dir[PATH_MAX];
	int phys = sim_physical(gpu);

	if (phys < 0)
		return cudaErrorInvalidDevice;
	/* Reserve the window so nothing else lands there. */
	if (mmap((void *)window, window_size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0) ==
	    MAP_FAILED) {
		xmig_error_errno("sim device: cannot reserve the device window at %#llx",
				 (unsigned long long)window);
		return cudaErrorMemoryAllocation;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return cudaErrorMemoryAllocation;
	d->gpu = gpu;
	d->phys = phys;
	d->acct_fd = -1;
	d->window = window;
	d->window_size = window_size;
	pthread_mutex_init(&d->lock, NULL);
	acct_dir(phys, dir, sizeof(dir));
	if (xmig_mkdir_p(dir, 0777) == 0) {
		chmod(dir, 01777);
		snprintf(d->acct_path, sizeof(d->acct_path), "%s/%d", dir, (int)getpid());
		d->acct_fd = open(d->acct_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		acct_write(d);
	}
	d->limits[cudaLimitStackSize] = 1024;
	d->limits[cudaLimitMallocHeapSize] = 8 << 20;
	d->limits[cudaLimitPrintfFifoSize] = 1 << 20;
	*out = d;
	return 0;
}

static void graph_free(struct sim_graph *g);

static void sim_close(void *dev)
{
	struct sim_dev *d = dev;

	if (!d)
		return;
	/* (captures never ended: their records go too) */
	while (d->ncaptures)
		graph_free(d->captures[--d->ncaptures]);
	free(d->captures);
	if (d->acct_path[0])
		unlink(d->acct_path);
	if (d->acct_fd >= 0)
		close(d->acct_fd);
	munmap((void *)d->window, d->window_size);
	free(d);
}

static int sim_bind_thread(void *dev)
{
	return 0;
}

static int sim_info(void *dev, struct xmig_gpu_info *info)
{
	struct sim_dev *d = dev;
	int r = sim_info_of(d->gpu, info);

	if (r == 0) {
		uint64_t other = acct_used_by_others(d->phys, getpid());
		uint64_t used = other + d->used;

		info->free_bytes = used >= info->total_bytes ? 0 : info->total_bytes - used;
	}
	return r;
}

static int sim_properties(void *dev, struct cudaDeviceProp *p)
{
	struct xmig_gpu_info info;
	int r = sim_info(dev, &info);

	if (r)
		return r;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", info.name);
	p->totalGlobalMem = info.total_bytes;
	p->sharedMemPerBlock = 48 << 10;
	p->regsPerBlock = 65536;
	p->warpSize = 32;
	p->memPitch = INT32_MAX;
	p->maxThreadsPerBlock = 1024;
	p->maxThreadsDim[0] = 1024;
	p->maxThreadsDim[1] = 1024;
	p->maxThreadsDim[2] = 64;
	p->maxGridSize[0] = INT32_MAX;
	p->maxGridSize[1] = 65535;
	p->maxGridSize[2] = 65535;
	p->totalConstMem = 64 << 10;
	p->major = info.major;
	p->minor = info.minor;
	p->textureAlignment = 512;
	p->multiProcessorCount = info.multiprocessors;
	p->integrated = 0;
	p->canMapHostMemory = 1;
	p->hostRegisterSupported = 1;
	p->hostRegisterReadOnlySupported = 1;
	p->canUseHostPointerForRegisteredMem = 1;
	p->concurrentKernels = 1;
	p->pciBusID = ((struct sim_dev *)dev)->phys + 1;
	p->asyncEngineCount = 2;
	p->unifiedAddressing = 1;
	p->memoryPoolsSupported = 1;
	p->memoryBusWidth = 5120;
	p->l2CacheSize = 50 << 20;
	p->maxThreadsPerMultiProcessor = 2048;
	p->sharedMemPerMultiprocessor = 228 << 10;
	p->regsPerMultiprocessor = 65536;
	p->sharedMemPerBlockOptin = 227 << 10;
	p->maxBlocksPerMultiProcessor = 32;
	return 0;
}

static int sim_attribute(void *dev, int attr, int *value)
{
	struct cudaDeviceProp p;
	int r = sim_properties(dev, &p);

	if (r)
		return r;
	switch (attr) {
	case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
	case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
	case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
	case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
	case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
	case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
	case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
	case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
	case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
	case cudaDevAttrTotalConstantMemory: *value = (int)p.totalConstMem; break;
	case cudaDevAttrWarpSize: *value = p.warpSize; break;
	case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
	case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
	case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
	case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
	case cudaDevAttrMaxRegistersPerBlock: *value = p.regsPerBlock; break;
	case cudaDevAttrConcurrentKernels: *value = 1; break;
	case cudaDevAttrUnifiedAddressing: *value = 1; break;
	case cudaDevAttrCanMapHostMemory: *value = 1; break;
	/* (the application's own memory registered: the proxy maps it at its address) */
	case cudaDevAttrHostRegisterSupported: *value = 1; break;
	case cudaDevAttrHostRegisterReadOnlySupported: *value = 1; break;
	case cudaDevAttrCanUseHostPointerForRegisteredMem: *value = 1; break;
	case cudaDevAttrIntegrated: *value = 0; break;
	case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
	case cudaDevAttrPciBusId: *value = p.pciBusID; break;
	case cudaDevAttrPciDeviceId: *value = 0; break;
	case cudaDevAttrPciDomainId: *value = 0; break;
	case cudaDevAttrAsyncEngineCount: *value = p.asyncEngineCount; break;
	case cudaDevAttrMaxSharedMemoryPerMultiprocessor:
		*value = (int)p.sharedMemPerMultiprocessor;
		break;
	case cudaDevAttrMaxBlocksPerMultiprocessor: *value = p.maxBlocksPerMultiProcessor; break;
	/* (the proxy serves stream-ordered allocation on any device) */
	case cudaDevAttrMemoryPoolsSupported: *value = 1; break;
	case cudaDevAttrComputeMode: *value = 0; break;
	default:
		return cudaErrorInvalidValue;
	}
	return 0;
}

static int sim_driver_version(int *v)
{
	*v = CUDART_VERSION;
	return 0;
}

/* ---- memory ---------------------------------------------------------- */

static int sim_mem_map_fd(struct sim_dev *d, int fd, uint64_t va, uint64_t size)
{
	void *p = mmap((void *)va, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);

	return p == MAP_FAILED ? -1 : 0;
}

static int sim_mem_map(void *dev, uint64_t va, uint64_t size, void **out)
{
	struct sim_dev *d = dev;
	struct xmig_gpu_info info;
	struct sim_mem *m;
	int fd;

	sim_info(d, &info);
	if (size > info.free_bytes)
		return cudaErrorMemoryAllocation;
	fd = memfd_create("xmig-sim-device", MFD_CLOEXEC);
	if (fd < 0)
		return cudaErrorMemoryAllocation;
	if (ftruncate(fd, (off_t)size) < 0 || sim_mem_map_fd(d, fd, va, size) < 0) {
		close(fd);
		return cudaErrorMemoryAllocation;
	}
	m = calloc(1, sizeof(*m));
	m->fd = fd;
	m->size = size;
	pthread_mutex_lock(&d->lock);
	d->used += size;
	acct_write(d);
	pthread_mutex_unlock(&d->lock);
	*out = m;
	return 0;
}

static void sim_mem_release(struct sim_dev *d, struct sim_mem *m)
{
	close(m->fd);
	pthread_mutex_lock(&d->lock);
	d->used -= m->size;
	acct_write(d);
	pthread_mutex_unlock(&d->lock);
	free(m);
}

static int sim_mem_unmap(void *dev, uint64_t va, uint64_t size, void *mem)
{
	struct sim_dev *d = dev;
	struct sim_mem *m = mem;

	/* Back to a reservation, not a hole another mapping could take. */
	mmap((void *)va, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
	     -1, 0);
	pthread_mutex_lock(&d->lock);
	m->unmapped = true;
	if (m->holds) {   /* the memory itself goes when the last hold does */
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	pthread_mutex_unlock(&d->lock);
	sim_mem_release(d, m);
	return 0;
}

static int sim_mem_hold(void *dev, void *mem)
{
	struct sim_dev *d = dev;

	pthread_mutex_lock(&d->lock);
	((struct sim_mem *)mem)->holds++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void sim_mem_drop(void *dev, void *mem)
{
	struct sim_dev *d = dev;
	struct sim_mem *m = mem;
	bool last;

	pthread_mutex_lock(&d->lock);
	last = --m->holds == 0 && m->unmapped;
	pthread_mutex_unlock(&d->lock);
	if (last)
		sim_mem_release(d, m);
}

static int sim_mem_info(void *dev, uint64_t *free_b, uint64_t *total)
{
	struct xmig_gpu_info info;
	int r = sim_info(dev, &info);

	if (r)
		return r;
	*free_b = info.free_bytes;
	*total = info.total_bytes;
	return 0;
}

static int sim_mem_export(void *dev, void *mem, int *fd)
{
	*fd = fcntl(((struct sim_mem *)mem)->fd, F_DUPFD_CLOEXEC, 3);
	return *fd < 0 ? cudaErrorMemoryAllocation : 0;
}

static int sim_mem_import(void *dev, int fd, uint64_t va, uint64_t size, void **out)
{
	struct sim_dev *d = dev;
	struct sim_mem *m;

	if (sim_mem_map_fd(d, fd, va, size) < 0) {
		close(fd);
		return cudaErrorMemoryAllocation;
	}
	m = calloc(1, sizeof(*m));
	m->fd = fd;
	m->size = size;
	/* Shared with the exporter: accounted once, by whoever holds it last. */
	pthread_mutex_lock(&d->lock);
	d->used += size;
	acct_write(d);
	pthread_mutex_unlock(&d->lock);
	*out = m;
	return 0;
}

static int sim_va_reserve(void *dev, uint64_t size, uint64_t *va)
{
	void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return cudaErrorMemoryAllocation;
	*va = (uint64_t)(uintptr_t)p;
	return 0;
}

static int sim_va_release(void *dev, uint64_t va, uint64_t size)
{
	munmap((void *)va, size);
	return 0;
}

static int sim_host_register(void *dev, void *addr, uint64_t size, unsigned flags)
{
	return 0;
}

static int sim_host_unregister(void *dev, void *addr)
{
	return 0;
}

/* ---- stream capture: what a capturing stream is given is recorded -------- */

/*
 * Work runs eagerly here, in issue order. A capture records the kernels,
 * copies and fills given to a capturing stream instead of running them,
 * and a launch of the executable graph runs them in that order (one that
 * every dependency of the captured graph allows). A stream that waits for
 * an event recorded in a capture joins it. What would wait for captured
 * work (a synchronize or query of a capturing stream or of an event
 * recorded in a capture, a device synchronize) fails and invalidates the
 * capture, as in CUDA.
 */
static struct sim_graph *capture_by_id(struct sim_dev *d, uint64_t id)
{
	for (size_t i = 0; id && i < d->ncaptures; i++)
		if (d->captures[i]->id == id)
			return d->captures[i];
	return NULL;
}

static struct sim_graph *capture_of(struct sim_dev *d, void *s)
{
	struct sim_stream *st = s;
	struct sim_graph *g = st ? capture_by_id(d, st->capture) : NULL;

	if (st && !g)
		st->capture = 0;   /* (that capture ended) */
	return g;
}

static int record(struct sim_graph *g, const struct sim_node *nd)
{
	struct sim_node copy = *nd, *n;

	if (g->invalid)
		return cudaErrorStreamCaptureInvalidated;
	copy.params = NULL;
	if (nd->param_bytes) {
		if (!(copy.params = malloc(nd->param_bytes)))
			goto oom;
		memcpy(copy.params, nd->params, nd->param_bytes);
	}
	if (!(n = realloc(g->nodes, (g->n + 1) * sizeof(*n)))) {
		free(copy.params);
		goto oom;
	}
	g->nodes = n;
	g->nodes[g->n++] = copy;
	g->nopen = SIZE_MAX;
	if (copy.kind == SIM_NODE_CALL && copy.hold)
		copy.hold(copy.params, 1);
	return 0;
oom:
	g->invalid = true;
	return cudaErrorMemoryAllocation;
}

int xmig_sim_capture_call(void *dev, void *s, sim_call_fn call, sim_hold_fn hold, const void *arg,
			  size_t len, bool *recorded)
{
	struct sim_graph *g = s ? capture_of(dev, s) : NULL;

	*recorded = g != NULL;
	return g ? record(g, &(struct sim_node){ .kind = SIM_NODE_CALL, .call = call, .hold = hold,
						  .params = (void *)arg, .param_bytes = len })
		 : 0;
}

/* A wait for captured work: CUDA refuses it and invalidates the capture. */
static int captured_wait(struct sim_graph *g)
{
	g->invalid = true;
	return cudaErrorStreamCaptureUnsupported;
}

/* ---- streams and events --------------------------------------------- */

static int sim_stream_create(void *dev, unsigned flags, int priority, void **s)
{
	struct sim_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return cudaErrorMemoryAllocation;
	st->flags = flags;
	st->priority = priority < -5 ? -5 : priority > 0 ? 0 : priority;
	*s = st;
	return 0;
}

static int sim_stream_destroy(void *dev, void *s)
{
	free(s);
	return 0;
}

static void *sim_stream_special(void *dev, enum xmig_stream_kind kind)
{
	struct sim_dev *d = dev;

	return kind == XMIG_DEV_STREAM_LEGACY ? &d->legacy : &d->per_thread;
}

/* synchronize and query: the work is done, unless it is a capture's */
static int sim_stream_wait(void *dev, void *s)
{
	struct sim_graph *g = capture_of(dev, s);

	return g ? captured_wait(g) : 0;
}

/* A wait for an event recorded in a capture joins the capture. */
static int sim_stream_wait_event(void *dev, void *s, void *e, unsigned flags)
{
	struct sim_graph *g = capture_by_id(dev, ((struct sim_event *)e)->capture);
	struct sim_stream *st = s;

	if (!g)
		return 0;
	if (capture_of(dev, s) && st->capture != g->id)
		return cudaErrorStreamCaptureMerge;
	st->capture = g->id;
	return 0;
}

/*
 * A host function runs now, in issue order, or at each launch of the graph
 * that captured it: on the proxy's worker, so the job's other calls wait
 * until it returns (CUDA would run them meanwhile; a host function that
 * waits for one of them hangs here, not on a GPU).
 */
struct sim_host_call {
	void (*fn)(void *arg);
	void *arg;
};

static int call_host(const void *p)
{
	const struct sim_host_call *h = p;

	h->fn(h->arg);
	return 0;
}

static int sim_host_func(void *dev, void *s, void (*fn)(void *arg), void *arg)
{
	struct sim_host_call h = { fn, arg };
	bool recorded;
	int r = xmig_sim_capture_call(dev, s, call_host, NULL, &h, sizeof(h), &recorded);

	if (r || recorded)
		return r;
	fn(arg);
	return 0;
}

static int sim_priority_range(void *dev, int *least, int *greatest)
{
	*least = 0;
	*greatest = -5;
	return 0;
}

static int sim_event_create(void *dev, unsigned flags, void **e)
{
	struct sim_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return cudaErrorMemoryAllocation;
	ev->flags = flags;
	*e = ev;
	return 0;
}

static int sim_event_destroy(void *dev, void *e)
{
	free(e);
	return 0;
}

/* An external record captured: the graph's node records the event at each launch. */
static int record_at_launch(const void *arg)
{
	struct sim_event *ev = *(struct sim_event *const *)arg;

	ev->capture = 0;
	ev->recorded = true;
	ev->t_ns = xmig_now_ns();
	return 0;
}

static int sim_event_record(void *dev, void *e, void *s, unsigned flags)
{
	struct sim_event *ev = e;
	struct sim_graph *g = capture_of(dev, s);
	bool recorded;

	if (g && (flags & cudaEventRecordExternal))
		return g->invalid ? cudaErrorStreamCaptureInvalidated
				  : xmig_sim_capture_call(dev, s, record_at_launch, NULL, &ev,
							  sizeof(ev), &recorded);
	ev->capture = g ? g->id : 0;
	if (g)
		return g->invalid ? cudaErrorStreamCaptureInvalidated : 0;
	ev->recorded = true;
	ev->t_ns = xmig_now_ns();
	return 0;
}

static int sim_event_sync(void *dev, void *e)
{
	struct sim_graph *g = capture_by_id(dev, ((struct sim_event *)e)->capture);

	return g ? captured_wait(g) : 0;
}

static int sim_event_elapsed(void *dev, float *ms, void *start, void *end)
{
	struct sim_event *a = start, *b = end;

	if ((a->flags | b->flags) & cudaEventDisableTiming)
		return cudaErrorInvalidResourceHandle;
	if (!a->recorded || !b->recorded)
		return cudaErrorInvalidResourceHandle;
	*ms = (float)((double)((int64_t)(b->t_ns - a->t_ns)) / 1e6);
	return 0;
}

/* ---- copies ---------------------------------------------------------- */

static int sim_memcpy_async(void *dev, uint64_t dst, uint64_t src, uint64_t size, void *s)
{
	struct sim_graph *g = capture_of(dev, s);

	if (g)
		return record(g, &(struct sim_node){ .kind = SIM_NODE_COPY, .dst = dst, .src = src,
						    .count = size });
	memmove((void *)dst, (const void *)src, size);
	return 0;
}

static int sim_memcpy_batch(void *dev, const uint64_t *dst, const uint64_t *src,
			    const uint64_t *size, size_t n)
{
	for (size_t i = 0; i < n; i++)
		memmove((void *)dst[i], (const void *)src[i], size[i]);
	return 0;
}

static int sim_memset_async(void *dev, uint64_t dst, uint8_t value, uint64_t size, void *s)
{
	struct sim_graph *g = capture_of(dev, s);

	if (g)
		return record(g, &(struct sim_node){ .kind = SIM_NODE_FILL, .dst = dst, .value = value,
						    .count = size, .width = 1 });
	memset((void *)dst, value, size);
	return 0;
}

static int sim_ctx_sync(void *dev)
{
	struct sim_dev *d = dev;

	for (size_t i = 0; i < d->ncaptures; i++)
		captured_wait(d->captures[i]);
	return d->ncaptures ? cudaErrorStreamCaptureUnsupported : 0;
}

/* ---- modules and kernels -------------------------------------------- */

/*
 * The sim device's kernels are C functions found by name, whatever the
 * image: a link of PTX is the PTX, one after the other (PTX only, as a
 * linker of text alone could say).
 */
static int sim_link(void *dev, const struct xmig_link_opt *opts, unsigned nopts,
		    const struct xmig_link_piece *in, unsigned nin, void **out, size_t *out_len,
		    char *info, size_t info_len, char *errlog, size_t errlog_len)
{
	size_t n = 1;
	char *p;

	for (unsigned i = 0; i < nin; i++) {
		if (in[i].type != 1 /* CU_JIT_INPUT_PTX */) {
			snprintf(errlog, errlog_len, "the sim device links PTX only (%s)", in[i].name);
			return 200;   /* CUDA_ERROR_INVALID_IMAGE */
		}
		n += in[i].size + 1;
	}
	if (!(*out = p = malloc(n)))
		return 2;         /* CUDA_ERROR_OUT_OF_MEMORY */
	for (unsigned i = 0; i < nin; i++) {
		/* (each text without its NUL, then a newline) */
		size_t len = strnlen(in[i].data, in[i].size);

		memcpy(p, in[i].data, len);
		p += len;
		*p++ = '\n';
	}
	*p++ = '\0';
	*out_len = (size_t)(p - (char *)*out);
	snprintf(info, info_len, "sim: %u PTX input%s linked", nin, nin == 1 ? "" : "s");
	return 0;
}

static int sim_module_load(void *dev, const void *image, size_t size, void **mod)
{
	struct sim_module *m = calloc(1, sizeof(*m));

	if (!m)
		return cudaErrorMemoryAllocation;
	pthread_mutex_init(&m->lock, NULL);
	*mod = m;
	return 0;
}

static int sim_module_unload(void *dev, void *mod)
{
	struct sim_module *m = mod;
	size_t i;

	for (i = 0; i < m->nvars; i++) {
		free(m->vars[i].name);
		free(m->vars[i].addr);
	}
	free(m->vars);
	for (i = 0; i < m->nfuncs; i++)
		free(m->funcs[i]);
	free(m->funcs);
	free(m);
	return 0;
}

static struct sim_var *module_var(struct sim_module *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nvars; i++)
		if (!strcmp(m->vars[i].name, name))
			return &m->vars[i];
	return NULL;
}

static void *launch_global(const struct sim_launch *l, const char *name)
{
	struct sim_module *m = l->module;
	struct sim_var *v;

	pthread_mutex_lock(&m->lock);
	v = module_var(m, name);
	pthread_mutex_unlock(&m->lock);
	if (!v) {
		/* A kernel wants a variable the program never registered. */
		xmig_error("sim device: kernel uses unknown __device__ variable '%s'", name);
		abort();
	}
	return v->addr;
}

/* A function handle lives as long as its module (its unload frees it). */
static int own_func(struct sim_module *m, struct sim_func *f)
{
	struct sim_func **n;

	pthread_mutex_lock(&m->lock);
	n = realloc(m->funcs, (m->nfuncs + 1) * sizeof(*n));
	if (n) {
		m->funcs = n;
		m->funcs[m->nfuncs++] = f;
	}
	pthread_mutex_unlock(&m->lock);
	return n ? 0 : -1;
}

static int sim_func_get(void *dev, void *mod, const char *name, void **fn,
			struct xmig_param_layout *layout)
{
	const struct sim_kernel *k = sim_kernel_find(name);
	struct sim_func *f;
	unsigned i;

	if (!k) {
		static char last[256];

		/* Once per kernel: a program retries a failing launch in a loop. */
		if (strncmp(last, name, sizeof(last) - 1)) {
			snprintf(last, sizeof(last), "%s", name);
			xmig_error("sim device: kernel '%s' has no C implementation in the sim "
				   "test device (proxy/server/sim-kernels.c)", name);
		}
		return cudaErrorInvalidDeviceFunction;
	}
	f = calloc(1, sizeof(*f));
	layout->params = calloc(k->nparams ? k->nparams : 1, sizeof(*layout->params));
	if (!f || !layout->params || own_func(mod, f) < 0) {
		free(f);
		free(layout->params);
		layout->params = NULL;
		return cudaErrorMemoryAllocation;
	}
	f->k = k;
	f->mod = mod;
	f->max_dyn_smem = 48 << 10;
	layout->nparams = k->nparams;
	/* (the end of the last parameter, as the driver counts: not the struct's padded size) */
	layout->param_bytes = 0;
	for (i = 0; i < k->nparams; i++) {
		layout->params[i].offset = k->params[i].offset;
		layout->params[i].size = k->params[i].size;
		if (k->params[i].offset + k->params[i].size > layout->param_bytes)
			layout->param_bytes = k->params[i].offset + k->params[i].size;
	}
	f->param_end = layout->param_bytes;
	*fn = f;
	return 0;
}

static int sim_var_get(void *dev, void *mod, const char *name, uint64_t size, uint64_t *addr,
		       uint64_t *actual)
{
	struct sim_module *m = mod;
	struct sim_var *v;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	v = module_var(m, name);
	if (!v) {
		struct sim_var *nv = realloc(m->vars, (m->nvars + 1) * sizeof(*nv));

		if (!nv || !size) {
			r = nv ? cudaErrorInvalidSymbol : cudaErrorMemoryAllocation;
			if (nv)
				m->vars = nv;
			goto out;
		}
		m->vars = nv;
		v = &m->vars[m->nvars++];
		v->name = strdup(name);
		v->size = size;
		/* Like a GPU's module globals: zeroed, outside the device window. */
		if (posix_memalign(&v->addr, 256, size) != 0) {
			m->nvars--;
			r = cudaErrorMemoryAllocation;
			goto out;
		}
		memset(v->addr, 0, size);
	}
	*addr = (uint64_t)(uintptr_t)v->addr;
	*actual = v->size;
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int sim_func_attributes(void *dev, void *fn, struct cudaFuncAttributes *a)
{
	struct sim_func *f = fn;

	memset(a, 0, sizeof(*a));
	a->maxThreadsPerBlock = 1024;
	a->numRegs = 32;
	a->ptxVersion = 90;
	a->binaryVersion = 90;
	a->maxDynamicSharedSizeBytes = f->max_dyn_smem;
	return 0;
}

static int sim_func_set_attribute(void *dev, void *fn, int attr, int value)
{
	struct sim_func *f = fn;

	if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
		if (value < 0 || value > (227 << 10))
			return cudaErrorInvalidValue;
		f->max_dyn_smem = value;
	}
	return 0;
}

static int sim_occupancy(void *dev, void *fn, int block, size_t smem, unsigned flags, int *blocks)
{
	*blocks = block > 0 ? 2048 / block : 0;
	return 0;
}

static int kernel_check(struct sim_func *f, struct xmig_dim3 grid, struct xmig_dim3 block,
			size_t shmem, size_t param_bytes)
{
	if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
		return cudaErrorInvalidConfiguration;
	if ((uint64_t)block.x * block.y * block.z > 1024 || block.z > 64)
		return cudaErrorInvalidValue;   /* what CUDA 13 on Hopper says */
	if (shmem > (size_t)f->max_dyn_smem)
		return cudaErrorInvalidValue;
	if (param_bytes < f->param_end)
		return cudaErrorInvalidValue;
	return 0;
}

static int run_kernel(struct sim_func *f, struct xmig_dim3 grid, struct xmig_dim3 block,
		      size_t shmem, void *params, size_t param_bytes, struct sim_dim3 cluster)
{
	struct sim_launch l;
	int r = kernel_check(f, grid, block, shmem, param_bytes);

	if (r)
		return r;
	l.grid = (struct sim_dim3){ grid.x, grid.y, grid.z };
	l.block = (struct sim_dim3){ block.x, block.y, block.z };
	l.shmem = shmem;
	l.cluster = cluster;
	l.global = launch_global;
	l.module = f->mod;
	if (param_bytes < f->k->param_bytes) {
		/* (the C struct's padded tail: never read, but there to read) */
		void *whole = calloc(1, f->k->param_bytes);

		if (!whole)
			return cudaErrorMemoryAllocation;
		memcpy(whole, params, param_bytes);
		r = f->k->fn(&l, whole);
		free(whole);
		return r;
	}
	return f->k->fn(&l, params);
}

/* A launch, or its record in the stream's capture (checked first, as CUDA does). */
static int launch_or_record(struct sim_dev *d, struct sim_func *f, struct xmig_dim3 grid,
			    struct xmig_dim3 block, size_t shmem, void *s, void *params,
			    size_t param_bytes, struct sim_dim3 cluster)
{
	struct sim_graph *g = capture_of(d, s);
	int r;

	if (!g)
		return run_kernel(f, grid, block, shmem, params, param_bytes, cluster);
	if ((r = kernel_check(f, grid, block, shmem, param_bytes)))
		return r;
	return record(g, &(struct sim_node){ .kind = SIM_NODE_KERNEL, .f = f, .grid = grid,
					     .block = block, .cluster = cluster, .shmem = shmem,
					     .params = params, .param_bytes = param_bytes });
}

static int sim_launch(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
		      size_t shmem, void *s, void *params, size_t param_bytes)
{
	return launch_or_record(dev, fn, grid, block, shmem, s, params, param_bytes,
				(struct sim_dim3){ 1, 1, 1 });
}

/*
 * Launch attributes: work runs eagerly and in order here, so cooperative
 * launches, programmatic serialisation, priorities and scheduling hints
 * hold as they are; clusters are passed to the kernel. Anything else is
 * not simulated and says so.
 */
static int sim_attrs(const struct xmig_launch_attr *attrs, unsigned nattrs, struct xmig_dim3 grid,
		     struct sim_dim3 *cluster)
{
	unsigned i;

	*cluster = (struct sim_dim3){ 1, 1, 1 };
	for (i = 0; i < nattrs; i++) {
		const uint32_t *v = (const uint32_t *)attrs[i].value;

		switch (attrs[i].id) {
		case 0:   /* IGNORE */
		case 2:   /* COOPERATIVE */
		case 5:   /* CLUSTER_SCHEDULING_POLICY_PREFERENCE */
		case 6:   /* PROGRAMMATIC_STREAM_SERIALIZATION */
		case 8:   /* PRIORITY */
			break;
		case 4:   /* CLUSTER_DIMENSION */
			*cluster = (struct sim_dim3){ v[0], v[1], v[2] };
			if (!v[0] || !v[1] || !v[2] || v[0] * v[1] * v[2] > 16 || grid.x % v[0] ||
			    grid.y % v[1] || grid.z % v[2])
				return cudaErrorInvalidClusterSize;
			break;
		default:
			xmig_error("sim device: launch attribute %u is not simulated", attrs[i].id);
			return cudaErrorNotSupported;
		}
	}
	return 0;
}

static int sim_launch_ex(void *dev, void *fn, struct xmig_dim3 grid, struct xmig_dim3 block,
			 size_t shmem, void *s, void *params, size_t param_bytes,
			 const struct xmig_launch_attr *attrs, unsigned nattrs)
{
	struct sim_dim3 cluster;
	int r = sim_attrs(attrs, nattrs, grid, &cluster);

	return r ? r : launch_or_record(dev, fn, grid, block, shmem, s, params, param_bytes, cluster);
}

/* As many clusters as fit when each SM holds sim_occupancy()'s blocks. */
static int sim_occupancy_clusters(void *dev, void *fn, struct xmig_dim3 grid,
				  struct xmig_dim3 block, size_t shmem,
				  const struct xmig_launch_attr *attrs, unsigned nattrs, int *clusters)
{
	struct sim_dim3 c;
	struct xmig_gpu_info info;
	int per_sm, r = sim_attrs(attrs, nattrs, grid, &c);

	if (r || (r = sim_info(dev, &info)) ||
	    (r = sim_occupancy(dev, fn, (int)(block.x * block.y * block.z), shmem, 0, &per_sm)))
		return r;
	*clusters = info.multiprocessors * per_sm / (int)(c.x * c.y * c.z);
	return 0;
}

static void fill(uint64_t dst, uint32_t value, unsigned width, uint64_t count)
{
	if (width == 1)
		memset((void *)dst, (int)value, count);
	for (uint64_t i = 0; width == 2 && i < count; i++)
		((uint16_t *)dst)[i] = (uint16_t)value;
	for (uint64_t i = 0; width == 4 && i < count; i++)
		((uint32_t *)dst)[i] = value;
}

static int sim_memset_wide(void *dev, uint64_t dst, uint32_t value, unsigned width,
			   uint64_t count, void *s)
{
	struct sim_graph *g = capture_of(dev, s);

	if (g)
		return record(g, &(struct sim_node){ .kind = SIM_NODE_FILL, .dst = dst, .value = value,
						    .count = count, .width = width });
	fill(dst, value, width, count);
	return 0;
}

/* ---- stream capture: the capture, its graph, the executable graph ---------- */

static void graph_free(struct sim_graph *g)
{
	for (size_t i = 0; g && i < g->n; i++) {
		if (g->nodes[i].kind == SIM_NODE_CALL && g->nodes[i].hold)
			g->nodes[i].hold(g->nodes[i].params, -1);
		free(g->nodes[i].params);
	}
	if (g) {
		free(g->nodes);
		free(g->open);
	}
	free(g);
}

static int sim_capture_begin(void *dev, void *s)
{
	struct sim_dev *d = dev;
	struct sim_graph *g, **n;

	if (capture_of(d, s))
		return cudaErrorIllegalState;
	if (!(g = calloc(1, sizeof(*g))))
		return cudaErrorMemoryAllocation;
	if (!(n = realloc(d->captures, (d->ncaptures + 1) * sizeof(*n)))) {
		free(g);
		return cudaErrorMemoryAllocation;
	}
	d->captures = n;
	g->id = ++d->capture_seq;
	g->origin = s;
	g->nopen = SIZE_MAX;
	d->captures[d->ncaptures++] = g;
	((struct sim_stream *)s)->capture = g->id;
	return 0;
}

static int sim_capture_end(void *dev, void *s, void **graph)
{
	struct sim_dev *d = dev;
	struct sim_graph *g = capture_of(d, s);
	size_t i;

	*graph = NULL;
	if (!g)
		return cudaErrorIllegalState;
	if (g->origin != s)
		return cudaErrorStreamCaptureUnmatched;
	for (i = 0; d->captures[i] != g; i++)
		;
	d->captures[i] = d->captures[--d->ncaptures];
	((struct sim_stream *)s)->capture = 0;   /* (the streams it joined see it ended) */
	if (g->invalid) {
		graph_free(g);
		return cudaErrorStreamCaptureInvalidated;
	}
	*graph = g;
	return 0;
}

static int sim_capture_info(void *dev, void *s, int *status, uint64_t *id)
{
	struct sim_graph *g = capture_of(dev, s);

	*status = !g ? cudaStreamCaptureStatusNone : g->invalid ? cudaStreamCaptureStatusInvalidated
								 : cudaStreamCaptureStatusActive;
	*id = g ? g->id : 0;
	return 0;
}

/* The executable graph: a copy of the graph's records. */
static int sim_graph_instantiate(void *dev, void *graph, uint64_t flags, void **exec)
{
	struct sim_graph *g = graph, *e = calloc(1, sizeof(*e));

	*exec = NULL;
	if (!e)
		return cudaErrorMemoryAllocation;
	e->id = g->id;
	for (size_t i = 0; i < g->n; i++)
		if (record(e, &g->nodes[i])) {
			graph_free(e);
			return cudaErrorMemoryAllocation;
		}
	*exec = e;
	return 0;
}

/* Run the records in order. Into a capturing stream, CUDA refuses it (and the capture fails). */
static int sim_graph_launch(void *dev, void *exec, void *s, bool upload)
{
	struct sim_graph *e = exec, *g = capture_of(dev, s);
	int r = 0;

	if (g)
		return captured_wait(g);
	for (size_t i = 0; !upload && !r && i < e->n; i++) {
		const struct sim_node *n = &e->nodes[i];

		if (n->kind == SIM_NODE_KERNEL)
			r = run_kernel(n->f, n->grid, n->block, n->shmem, n->params, n->param_bytes,
				       n->cluster);
		else if (n->kind == SIM_NODE_COPY)
			memmove((void *)n->dst, (const void *)n->src, n->count);
		else if (n->kind == SIM_NODE_CALL)
			r = n->call(n->params) ? cudaErrorLaunchFailure : 0;
		else
			fill(n->dst, n->value, n->width, n->count);
	}
	return r;
}

/*
 * The executable graph takes the graph's records, node for node: as many,
 * each of the same kind (a library double's, the same call); else refused,
 * the executable graph left as it was, as CUDA does.
 */
static int sim_graph_exec_update(void *dev, void *exec, void *graph, int *result)
{
	struct sim_graph *e = exec, *g = graph, *fresh;
	struct sim_node *nodes;
	size_t i;
	int r;

	*result = cudaGraphExecUpdateErrorTopologyChanged;
	if (e->n != g->n)
		return cudaErrorGraphExecUpdateFailure;
	for (i = 0; i < g->n; i++)
		if (e->nodes[i].kind != g->nodes[i].kind || e->nodes[i].call != g->nodes[i].call) {
			*result = cudaGraphExecUpdateErrorNodeTypeChanged;
			return cudaErrorGraphExecUpdateFailure;
		}
	if ((r = sim_graph_instantiate(dev, g, 0, (void **)&fresh))) {
		*result = cudaGraphExecUpdateError;
		return r;
	}
	nodes = e->nodes;
	e->nodes = fresh->nodes;
	fresh->nodes = nodes;   /* (as many: freed with it) */
	graph_free(fresh);
	*result = cudaGraphExecUpdateSuccess;
	return 0;
}

/*
 * Captured work runs in issue order here: the open end is the last node,
 * or those set since (a graph built node by node; they order nothing
 * here, the nodes having come in an order its edges allow).
 */
static int sim_capture_deps(void *dev, void *s, uint64_t *nodes, size_t max, size_t *n)
{
	struct sim_graph *g = capture_of(dev, s);

	if (!g)
		return cudaErrorInvalidValue;
	if (g->nopen != SIZE_MAX) {
		if ((*n = g->nopen) > max)
			return cudaErrorNotSupported;
		memcpy(nodes, g->open, g->nopen * sizeof(*nodes));
		return 0;
	}
	*n = g->n && max ? 1 : 0;
	if (*n)
		nodes[0] = g->id << 32 | g->n;   /* (opaque, as the driver's) */
	return 0;
}

/* As the driver: each node must be one of this capture's. */
static int sim_capture_set_deps(void *dev, void *s, const uint64_t *nodes, size_t n)
{
	struct sim_graph *g = capture_of(dev, s);
	uint64_t *v = NULL;

	if (!g)
		return cudaErrorIllegalState;
	for (size_t i = 0; i < n; i++)
		if (nodes[i] >> 32 != g->id || !(nodes[i] & 0xffffffffu) ||
		    (nodes[i] & 0xffffffffu) > g->n)
			return cudaErrorInvalidValue;
	if (n && !(v = malloc(n * sizeof(*v))))
		return cudaErrorMemoryAllocation;
	if (n)
		memcpy(v, nodes, n * sizeof(*v));
	free(g->open);
	g->open = v;
	g->nopen = n;
	return 0;
}

static int sim_capture_nodes(void *dev, void *s, size_t *n)
{
	struct sim_graph *g = capture_of(dev, s);

	if (!g)
		return cudaErrorInvalidValue;
	*n = g->n;
	return 0;
}

static int sim_graph_nodes(void *dev, void *graph, size_t *n)
{
	*n = ((struct sim_graph *)graph)->n;
	return 0;
}

static int sim_graph_destroy(void *dev, void *graph)
{
	graph_free(graph);
	return 0;
}

static int sim_set_limit(void *dev, int limit, size_t value)
{
	struct sim_dev *d = dev;

	if (limit < 0 || limit >= 16)
		return cudaErrorUnsupportedLimit;
	d->limits[limit] = value;
	return 0;
}

static int sim_get_limit(void *dev, int limit, size_t *value)
{
	struct sim_dev *d = dev;

	if (limit < 0 || limit >= 16)
		return cudaErrorUnsupportedLimit;
	*value = d->limits[limit];
	return 0;
}

const struct xmig_device_ops xmig_device_sim = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.bind_thread = sim_bind_thread,
	.count = sim_count,
	.info = sim_info,
	.info_of = sim_info_of,
	.attribute = sim_attribute,
	.properties = sim_properties,
	.driver_version = sim_driver_version,
	.granularity = SIM_GRANULARITY,
	.mem_map = sim_mem_map,
	.mem_unmap = sim_mem_unmap,
	.mem_info = sim_mem_info,
	.mem_export = sim_mem_export,
	.mem_hold = sim_mem_hold,
	.mem_drop = sim_mem_drop,
	.mem_import = sim_mem_import,
	.va_reserve = sim_va_reserve,
	.va_release = sim_va_release,
	.host_register = sim_host_register,
	.host_unregister = sim_host_unregister,
	.stream_create = sim_stream_create,
	.stream_destroy = sim_stream_destroy,
	.stream_special = sim_stream_special,
	.stream_sync = sim_stream_wait,
	.stream_query = sim_stream_wait,
	.stream_wait_event = sim_stream_wait_event,
	/* (its cuBLASLt and cuDNN doubles run at once, or not at all) */
	.capture_libraries = XMIG_CAPTURES_BLAS | XMIG_CAPTURES_CCL | XMIG_CAPTURES_HOST_COPIES |
			     XMIG_CAPTURES_HOST_FUNCS,
	.capture_begin = sim_capture_begin,
	.capture_end = sim_capture_end,
	.capture_info = sim_capture_info,
	.capture_nodes = sim_capture_nodes,
	.capture_deps = sim_capture_deps,
	.capture_set_deps = sim_capture_set_deps,
	.graph_instantiate = sim_graph_instantiate,
	.graph_launch = sim_graph_launch,
	.graph_destroy = sim_graph_destroy,
	.graph_nodes = sim_graph_nodes,
	.graph_exec_destroy = sim_graph_destroy,
	.graph_exec_update = sim_graph_exec_update,
	.priority_range = sim_priority_range,
	.host_func = sim_host_func,
	.link = sim_link,
	.event_create = sim_event_create,
	.event_destroy = sim_event_destroy,
	.event_record = sim_event_record,
	.event_sync = sim_event_sync,
	.event_query = sim_event_sync,
	.event_elapsed = sim_event_elapsed,
	.memcpy_async = sim_memcpy_async,
	.memcpy_batch = sim_memcpy_batch,
	.memset_async = sim_memset_async,
	.ctx_sync = sim_ctx_sync,
	.module_load = sim_module_load,
	.module_unload = sim_module_unload,
	.func_get = sim_func_get,
	.var_get = sim_var_get,
	.func_attributes = sim_func_attributes,
	.func_set_attribute = sim_func_set_attribute,
	.occupancy = sim_occupancy,
	.launch = sim_launch,
	.set_limit = sim_set_limit,
	.get_limit = sim_get_limit,
	.blas_create = xmig_blas_sim_create,
	.blas_destroy = xmig_blas_sim_destroy,
	.blas_set = xmig_blas_sim_set,
	.blas_gemm = xmig_blas_sim_gemm,
	XMIG_DNN_OPS(xmig_dnn_sim),
	.launch_ex = sim_launch_ex,
	.occupancy_clusters = sim_occupancy_clusters,
	.tensor_map_encode = NULL,   /* TMA descriptors need the real driver */
	.memset_wide = sim_memset_wide,
	.blaslt_create = xmig_blaslt_sim_create,
	.blaslt_destroy = xmig_blaslt_sim_destroy,
	.blaslt_heuristic = xmig_blaslt_sim_heuristic,
	.blaslt_matmul = xmig_blaslt_sim_matmul,
	.ccl = &ccl_backend_sim,
};
