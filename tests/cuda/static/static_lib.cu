/*
 * static_lib.cu - a shared library with the CUDA runtime linked statically
 * (as cuBLAS, cuFFT and others ship): loaded by uses_static_lib.c, it must
 * be named when xmig stops the program.
 */
#include <cuda_runtime.h>

extern "C" int static_lib_touch(void)
{
	return (int)cudaFree(0);
}
