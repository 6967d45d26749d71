/*
 * test-device-sim.c - the sim device's memory backings on their own: a
 * held backing outlives its mem_unmap (the address goes, the bytes stay
 * exportable and counted) until the last mem_drop, as the CUDA backend's
 * must; a move's prelude exports its handles after letting the job go on,
 * and the job may free one meanwhile. And its stream capture: what a
 * capturing stream is given is recorded, not run, a stream joins a capture
 * by waiting for its event, the executable graph runs the records; what
 * CUDA refuses in a capture is refused, and the capture fails.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proxy/server/device.h"
#include "unit.h"

static const struct xmig_device_ops *dev = &xmig_device_sim;

static uint64_t used(void *d)
{
	struct xmig_gpu_info info;

	return dev->info(d, &info) ? ~0ull : info.total_bytes - info.free_bytes;
}

/* The bytes behind an exported fd, read through a mapping of it. */
static int exported_byte(int fd, size_t size, size_t at)
{
	unsigned char *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int v;

	if (p == MAP_FAILED)
		return -1;
	v = p[at];
	munmap(p, size);
	return v;
}

static bool all(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_capture(void *d, uint64_t window, uint64_t size)
{
	unsigned char *x = (unsigned char *)(uintptr_t)window, *y = x + 4096;
	void *m = NULL, *s1 = NULL, *s2 = NULL, *e = NULL, *g = NULL, *ge = NULL;
	int status = -1;
	uint64_t id1 = 0, id2 = 0;
	size_t nodes = 0;

	if (dev->mem_map(d, window, size, &m) || dev->stream_create(d, 0, 0, &s1) ||
	    dev->stream_create(d, 0, 0, &s2) || dev->event_create(d, 0, &e)) {
		CHECK(0, "capture: set-up");
		return;
	}
	memset(x, 1, 8192);
	CHECK(dev->capture_info(d, s1, &status, &id1) == 0 && status == cudaStreamCaptureStatusNone &&
	      id1 == 0, "capture: none at first");
	CHECK(dev->capture_begin(d, s1) == 0, "capture: begun on s1");
	CHECK(dev->capture_begin(d, s1) == cudaErrorIllegalState, "capture: not twice on a stream");
	CHECK(dev->memset_async(d, window, 7, 4096, s1) == 0 && dev->event_record(d, e, s1, 0) == 0 &&
	      dev->stream_wait_event(d, s2, e, 0) == 0 &&
	      dev->memcpy_async(d, window + 4096, window, 4096, s2) == 0 &&
	      dev->event_record(d, e, s2, 0) == 0 && dev->stream_wait_event(d, s1, e, 0) == 0 &&
	      dev->memset_wide(d, window + 8192 - 16, 0x03030303u, 4, 4, s1) == 0,
	      "capture: a fill, a fork to s2, a copy there, the join, a wide fill");
	CHECK(all(x, 8192, 1), "capture: ... none of them ran");
	CHECK(dev->capture_info(d, s1, &status, &id1) == 0 && status == cudaStreamCaptureStatusActive &&
	      dev->capture_info(d, s2, &status, &id2) == 0 && status == cudaStreamCaptureStatusActive &&
	      id1 && id1 == id2, "capture: s2 joined s1's capture (one id)");
	CHECK(dev->capture_end(d, s2, &g) == cudaErrorStreamCaptureUnmatched && !g,
	      "capture: ended only where it began");
	CHECK(dev->capture_end(d, s1, &g) == 0 && g, "capture: ended on s1, a graph");
	CHECK(dev->capture_info(d, s2, &status, &id2) == 0 && status == cudaStreamCaptureStatusNone,
	      "capture: s2 is not capturing any more");
	CHECK(dev->graph_nodes(d, g, &nodes) == 0 && nodes == 3, "capture: 3 nodes (%zu)", nodes);
	CHECK(dev->graph_instantiate(d, g, 0, &ge) == 0 && ge, "capture: instantiated");
	CHECK(dev->graph_destroy(d, g) == 0, "capture: the graph destroyed, the executable kept");
	CHECK(dev->graph_launch(d, ge, s2, false) == 0 && all(x, 4096, 7) && all(y, 4096 - 16, 7) &&
	      all(y + 4096 - 16, 16, 3), "capture: launched, the records ran in order");
	memset(x, 1, 8192);
	CHECK(dev->graph_launch(d, ge, s1, true) == 0 && all(x, 8192, 1),
	      "capture: an upload runs nothing");
	CHECK(dev->graph_launch(d, ge, s1, false) == 0 && all(x, 4096, 7) && all(y, 4096 - 16, 7),
	      "capture: launched again");

	g = NULL;
	CHECK(dev->capture_begin(d, s1) == 0 && dev->stream_sync(d, s1) ==
	      cudaErrorStreamCaptureUnsupported && dev->capture_end(d, s1, &g) ==
	      cudaErrorStreamCaptureInvalidated && !g,
	      "capture: a synchronize of a capturing stream is refused, and the capture fails");
	CHECK(dev->capture_begin(d, s1) == 0 && dev->graph_launch(d, ge, s1, false) ==
	      cudaErrorStreamCaptureUnsupported && dev->capture_end(d, s1, &g) ==
	      cudaErrorStreamCaptureInvalidated && !g,
	      "capture: a graph launched into it is refused, and the capture fails");
	CHECK(dev->capture_begin(d, s1) == 0 && dev->ctx_sync(d) == cudaErrorStreamCaptureUnsupported &&
	      dev->capture_end(d, s1, &g) == cudaErrorStreamCaptureInvalidated && !g &&
	      dev->ctx_sync(d) == 0, "capture: a device synchronize is refused while one runs");
	CHECK(dev->capture_begin(d, s1) == 0 && dev->event_record(d, e, s1, 0) == 0 &&
	      dev->event_sync(d, e) == cudaErrorStreamCaptureUnsupported &&
	      dev->capture_end(d, s1, &g) == cudaErrorStreamCaptureInvalidated,
	      "capture: waiting for an event recorded in it is refused, and the capture fails");
	dev->graph_exec_destroy(d, ge);
	dev->event_destroy(d, e);
	dev->stream_destroy(d, s1);
	dev->stream_destroy(d, s2);
	dev->mem_unmap(d, window, size, m);
}

int main(void)
{
	char dir[] = "/tmp/xmig-test-device-sim.XXXXXX";
	const uint64_t size = 2 << 20;
	void *d = NULL, *a = NULL, *b = NULL;
	uint64_t window, base;
	int fd = -1;
	void *probe;

	if (!mkdtemp(dir))
		return 1;
	setenv("XMIG_RUNTIME_DIR", dir, 1);
	setenv("XMIG_SIM_GPUS", "1", 1);
	setenv("XMIG_SIM_MEM", "64MiB", 1);
	/* a window where nothing is mapped: reserve one, hand it over */
	probe = mmap(NULL, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (probe == MAP_FAILED)
		return 1;
	munmap(probe, 64 << 20);
	window = (uint64_t)(uintptr_t)probe;
	CHECK(dev->open(0, window, 64 << 20, &d) == 0, "the sim GPU opens");
	if (!d)
		return unit_done();
	base = used(d);

	CHECK(dev->mem_map(d, window, size, &a) == 0, "a backing is mapped");
	memset((void *)(uintptr_t)window, 0x5a, size);
	CHECK(used(d) == base + size, "... and counted");
	CHECK(dev->mem_hold && dev->mem_drop, "the sim device lends backings out");
	CHECK(dev->mem_hold(d, a) == 0, "a hold is taken");
	CHECK(dev->mem_unmap(d, window, size, a) == 0, "the job frees it while held");
	CHECK(used(d) == base + size, "... its bytes are still counted");
	CHECK(dev->mem_export(d, a, &fd) == 0 && fd >= 0, "... and it exports after the free");
	CHECK(fd >= 0 && exported_byte(fd, size, size - 1) == 0x5a,
	      "... with the bytes it held");
	dev->mem_drop(d, a);
	CHECK(used(d) == base, "the last drop gives the bytes back");
	CHECK(fd >= 0 && exported_byte(fd, size, 0) == 0x5a,
	      "an export taken before the drop keeps its own reference");
	if (fd >= 0)
		close(fd);

	CHECK(dev->mem_map(d, window, size, &b) == 0, "the address maps again after the free");
	CHECK(dev->mem_hold(d, b) == 0 && dev->mem_hold(d, b) == 0, "two holds are taken");
	dev->mem_drop(d, b);
	dev->mem_drop(d, b);
	CHECK(used(d) == base + size, "dropping holds of a mapped backing frees nothing");
	memset((void *)(uintptr_t)window, 1, size);
	CHECK(*(volatile char *)(uintptr_t)(window + size - 1) == 1, "... it is still mapped");
	CHECK(dev->mem_unmap(d, window, size, b) == 0 && used(d) == base,
	      "unmapped without a hold, it is gone at once");

	test_capture(d, window, size);
	dev->close(d);
	rmdir(dir);
	return unit_done();
}
