/*
 * real-lib.h - finding NVIDIA's own copy of a library for the proxy
 * (cuBLAS, cuBLASLt, cuDNN): never one of xmig's facades of the same name.
 */
#ifndef XMIG_REAL_LIB_H
#define XMIG_REAL_LIB_H

/* $ENV if set, then SONAME on the library path, in $CUDA_HOME/lib64 and in
 * /usr/local/cuda/lib64; NULL, having said why (naming WHAT), if none. */
void *xmig_open_real_library(const char *env, const char *soname, const char *what);

#endif
