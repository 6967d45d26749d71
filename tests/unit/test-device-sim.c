/*
 * test-device-sim.c - the sim device's memory backings on their own: a
 * held backing outlives its mem_unmap (the address goes, the bytes stay
 * exportable and counted) until the last mem_drop, as the CUDA backend's
 * must; a move's prelude exports its handles after letting the job go on,
 * and the job may free one meanwhile.
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

	dev->close(d);
	rmdir(dir);
	return unit_done();
}
