/*
 * driver_entry.cu - the driver API the way frameworks reach it (PyTorch's
 * c10 does exactly this): function pointers from cudaGetDriverEntryPoint,
 * then devices, the primary context and its state, attributes, the UUID,
 * and the stream-capture queries asked before each launch. No kernels.
 *
 *   driver_entry        (no arguments)
 */
#include <cuda.h>

#include "xtest.h"

static void cu_check(CUresult r, const char *what)
{
	if (r != CUDA_SUCCESS)
		xt_fail("%s returned %d", what, (int)r);
}

int main(void)
{
	xt_begin("driver_entry");
	CK(cudaFree(0));   /* the runtime makes the primary context */

	enum cudaDriverEntryPointQueryResult q;
	void *fn = (void *)1;
	CK(cudaGetDriverEntryPointByVersion("cuNoSuchFunction", &fn, 12000, cudaEnableDefault, &q));
	printf("unknown symbol: found=%d null=%d\n", q == cudaDriverEntryPointSuccess, fn == NULL);

	auto count_fn = (CUresult (*)(int *))xt_driver_fn("cuDeviceGetCount");
	auto get_fn = (CUresult (*)(CUdevice *, int))xt_driver_fn("cuDeviceGet");
	auto attr_fn = (CUresult (*)(int *, CUdevice_attribute, CUdevice))xt_driver_fn("cuDeviceGetAttribute");
	auto uuid_fn = (CUresult (*)(CUuuid *, CUdevice))xt_driver_fn("cuDeviceGetUuid");
	auto state_fn = (CUresult (*)(CUdevice, unsigned *, int *))xt_driver_fn("cuDevicePrimaryCtxGetState");
	auto retain_fn = (CUresult (*)(CUcontext *, CUdevice))xt_driver_fn("cuDevicePrimaryCtxRetain");
	auto getcur_fn = (CUresult (*)(CUcontext *))xt_driver_fn("cuCtxGetCurrent");
	auto setcur_fn = (CUresult (*)(CUcontext))xt_driver_fn("cuCtxSetCurrent");
	auto ctxdev_fn = (CUresult (*)(CUdevice *))xt_driver_fn("cuCtxGetDevice");

	int n = 0, active = -1, major = 0, minor = 0, rt_major = 0;
	unsigned flags = 99;
	CUdevice dev = -1;
	CUcontext primary = NULL, cur = NULL, cur2 = NULL;
	CUuuid uuid;
	struct cudaDeviceProp prop;

	cu_check(count_fn(&n), "cuDeviceGetCount");
	cu_check(get_fn(&dev, 0), "cuDeviceGet");
	/* the count is the machine's natively and the proxy's GPU under xmig */
	printf("devices >= 1: %d, device 0 is %d, device <count>: %s\n", n >= 1, dev,
	       get_fn(&dev, n) == CUDA_ERROR_INVALID_DEVICE ? "invalid" : "?");

	cu_check(attr_fn(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0), "attr major");
	cu_check(attr_fn(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0), "attr minor");
	CK(cudaDeviceGetAttribute(&rt_major, cudaDevAttrComputeCapabilityMajor, 0));
	printf("compute capability agrees with the runtime: %d (minor >= 0: %d)\n", major == rt_major,
	       minor >= 0);

	cu_check(uuid_fn(&uuid, 0), "cuDeviceGetUuid");
	CK(cudaGetDeviceProperties(&prop, 0));
	printf("uuid agrees with the runtime: %d\n", !memcmp(uuid.bytes, prop.uuid.bytes, 16));

	cu_check(state_fn(0, &flags, &active), "cuDevicePrimaryCtxGetState");
	printf("primary context active %d, flags %u\n", active, flags);
	cu_check(retain_fn(&primary, 0), "cuDevicePrimaryCtxRetain");
	cu_check(getcur_fn(&cur), "cuCtxGetCurrent");
	printf("current is the primary: %d\n", cur == primary && cur != NULL);
	cu_check(setcur_fn(NULL), "cuCtxSetCurrent(NULL)");
	cu_check(getcur_fn(&cur2), "cuCtxGetCurrent");
	printf("after unsetting: current null %d, cuCtxGetDevice fails %d\n", cur2 == NULL,
	       ctxdev_fn(&dev) != CUDA_SUCCESS);
	cu_check(setcur_fn(primary), "cuCtxSetCurrent");
	cu_check(ctxdev_fn(&dev), "cuCtxGetDevice");
	printf("set again: device %d\n", dev);

	enum cudaStreamCaptureStatus st = cudaStreamCaptureStatusActive;
	cudaStream_t s;
	unsigned long long id = 0;
	CK(cudaStreamCreate(&s));
	CK(cudaStreamIsCapturing(s, &st));
	printf("stream capturing: %d\n", st != cudaStreamCaptureStatusNone);
	st = cudaStreamCaptureStatusActive;
	CK(cudaStreamGetCaptureInfo(s, &st, &id));
	printf("capture info: none %d\n", st == cudaStreamCaptureStatusNone);
	enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
	CK(cudaThreadExchangeStreamCaptureMode(&mode));
	printf("capture mode was global: %d\n", mode == cudaStreamCaptureModeGlobal);
	CK(cudaThreadExchangeStreamCaptureMode(&mode));
	printf("and relaxed after: %d\n", mode == cudaStreamCaptureModeRelaxed);
	CK(cudaStreamDestroy(s));
	return xt_pass();
}
