/*
 * device_misc.cu - small device queries older and newer programs make:
 * shared memory bank configuration (deprecated: set does nothing, get
 * gives four-byte banks on every GPU since Maxwell), a stream's device,
 * the device named by its PCI bus id (with and without the domain, in
 * either case; another id refused), and the driver's counterparts through
 * cudaGetDriverEntryPoint; peer access and peer copies of the device to
 * itself (plain, async and 3D), and those naming another device or host
 * memory refused.
 *
 *   device_misc
 */
#include <ctype.h>

#include <cuda.h>

#include "xtest.h"

int main(void)
{
	enum cudaSharedMemConfig bank;
	cudaStream_t s;
	char bus[32], upper[32], *dom;
	int dev = -1, dev2 = -1, dev3 = -1;
	CUsharedconfig cubank;
	CUdevice cudev = -1;
	typedef CUresult (*get_bank_fn)(CUsharedconfig *);
	typedef CUresult (*by_bus_fn)(CUdevice *, const char *);

	xt_begin("device_misc");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	CK(cudaDeviceSetSharedMemConfig(cudaSharedMemBankSizeEightByte));
	CK(cudaDeviceGetSharedMemConfig(&bank));
	CK(cudaFuncSetSharedMemConfig((const void *)xt_affine, cudaSharedMemBankSizeFourByte));
#pragma GCC diagnostic pop
	if (((get_bank_fn)xt_driver_fn("cuCtxGetSharedMemConfig"))(&cubank) != CUDA_SUCCESS)
		xt_fail("cuCtxGetSharedMemConfig failed");
	printf("shared memory banks after asking for eight bytes: %s (driver: %d)\n",
	       bank == cudaSharedMemBankSizeFourByte ? "four bytes" : "not four bytes",
	       (int)cubank);

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaStreamGetDevice(s, &dev));
	CK(cudaStreamGetDevice(0, &dev2));
	printf("a stream's device: %d; the default stream's: %d\n", dev, dev2);
	CK(cudaStreamDestroy(s));

	CK(cudaDeviceGetPCIBusId(bus, sizeof(bus), 0));
	CK(cudaDeviceGetByPCIBusId(&dev, bus));
	for (size_t i = 0; i <= strlen(bus); i++)
		upper[i] = (char)toupper((unsigned char)bus[i]);
	dom = strchr(upper, ':');
	CK(cudaDeviceGetByPCIBusId(&dev2, dom ? dom + 1 : upper));
	if (((by_bus_fn)xt_driver_fn("cuDeviceGetByPCIBusId"))(&cudev, bus) != CUDA_SUCCESS)
		xt_fail("cuDeviceGetByPCIBusId failed");
	printf("the device of its own PCI bus id: %d, upper case without the domain: %d, "
	       "driver: %d\n", dev, dev2, (int)cudev);
	printf("another bus id: %s\n",
	       cudaGetErrorName(cudaDeviceGetByPCIBusId(&dev3, "0000:ff:1f.0")));
	(void)cudaGetLastError();

	/* Peers: the one device and itself (whatever other GPUs the machine has). */
	{
		char *a, *b, h[4] = { 0 };
		int can = -1;
		struct cudaMemcpy3DPeerParms p = {};

		CK(cudaMalloc(&a, 1 << 16));
		CK(cudaMalloc(&b, 1 << 16));
		CK(cudaMemset(a, 7, 1 << 16));
		CK(cudaMemset(b, 0, 1 << 16));
		CK(cudaDeviceCanAccessPeer(&can, 0, 0));
		printf("peer access to itself: can %d, enable %s, with flags %s, disable %s\n", can,
		       cudaGetErrorName(cudaDeviceEnablePeerAccess(0, 0)),
		       cudaGetErrorName(cudaDeviceEnablePeerAccess(0, 1)),
		       cudaGetErrorName(cudaDeviceDisablePeerAccess(0)));
		CK(cudaMemcpyPeer(b, 0, a, 0, 1 << 12));
		CK(cudaMemcpyPeerAsync(b + (1 << 12), 0, a, 0, 1 << 12, 0));
		p.srcPtr = make_cudaPitchedPtr(a, 1024, 1024, 4);
		p.dstPtr = make_cudaPitchedPtr(b + (1 << 13), 1024, 1024, 4);
		p.extent = make_cudaExtent(512, 4, 1);
		CK(cudaMemcpy3DPeer(&p));
		CK(cudaMemcpy(&h[0], b + 4095, 1, cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(&h[1], b + (1 << 12) + 4095, 1, cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(&h[2], b + (1 << 13) + 3 * 1024 + 511, 1, cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(&h[3], b + (1 << 13) + 3 * 1024 + 512, 1, cudaMemcpyDeviceToHost));
		printf("peer copies to itself: %d %d, 3D %d then %d past the extent\n", h[0], h[1], h[2],
		       h[3]);
		printf("to device -1: %s; from host memory: %s; 3D to device -1: %s\n",
		       cudaGetErrorName(cudaMemcpyPeer(b, -1, a, 0, 16)),
		       cudaGetErrorName(cudaMemcpyPeer(b, 0, h, 0, 1)),
		       (p.dstDevice = -1, cudaGetErrorName(cudaMemcpy3DPeer(&p))));
		(void)cudaGetLastError();
		CK(cudaFree(a));
		CK(cudaFree(b));
	}
	return xt_pass();
}
