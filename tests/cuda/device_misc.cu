/*
 * device_misc.cu - small device queries older and newer programs make:
 * shared memory bank configuration (deprecated: set does nothing, get
 * gives four-byte banks on every GPU since Maxwell), a stream's device,
 * the device named by its PCI bus id (with and without the domain, in
 * either case; another id refused), and the driver's counterparts through
 * cudaGetDriverEntryPoint.
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
	return xt_pass();
}
