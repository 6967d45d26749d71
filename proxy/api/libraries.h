/*
 * libraries.h - the NVIDIA libraries a proxy loads for the application, and
 * the variable that names each one's path.
 *
 * The proxy must run the same copy the application would have loaded (a
 * PyTorch wheel brings its own cuBLAS, cuDNN and NCCL; another cuBLAS
 * picks other kernels and gives other bits). The client finds that copy
 * (proxy/client/reallib.c) and hands its path to the proxy in the variable;
 * the proxy records what it loaded in its state, so that a proxy started
 * by a move, wherever and by whomever, loads the same file
 * (proxy/server/libraries.c). A user's own setting of the variable wins.
 */
#ifndef XMIG_LIBRARIES_H
#define XMIG_LIBRARIES_H

#define XMIG_LIBRARIES(X) \
	X("libcublas.so.13", "XMIG_CUBLAS") \
	X("libcublasLt.so.13", "XMIG_CUBLASLT") \
	X("libcudnn.so.9", "XMIG_CUDNN") \
	X("libnccl.so.2", "XMIG_NCCL")

#endif
