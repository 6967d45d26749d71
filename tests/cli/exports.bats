#!/usr/bin/env bats
# exports.bats - each facade exports every dynamic symbol of the library it
# stands in for (else loading a program fails), and an unsupported function
# fails loudly, once, with the library's not-supported error.

load ../helpers

setup() { xmig_setup; }

defined() {   # the dynamic symbols a library defines, one per line, sorted
	nm -D --defined-only "$1" | awk '{ print $3 }' | sed 's/@.*//' | LC_ALL=C sort -u
}

missing() {   # symbols of list $1 that library $2 lacks
	LC_ALL=C comm -23 <(LC_ALL=C sort -u "$1") <(defined "$2")
}

@test "exports: the runtime facade defines every symbol of the recorded libcudart.so.13" {
	run missing "$ROOT/proxy/api/syms/libcudart.so.13.syms" "$B/lib/xmig/facade/libcudart.so.13"
	assert_success
	assert_output ""
}

@test "exports: ... and of the real libcudart.so.13 installed here, with its version node" {
	real=${CUDA_HOME:-/usr/local/cuda}/lib64/libcudart.so.13
	[ -e "$real" ] || skip "no libcudart.so.13 at $real"
	defined "$real" | grep -v '^libcudart.so.13$' >"$BATS_TEST_TMPDIR/real"
	run missing "$BATS_TEST_TMPDIR/real" "$B/lib/xmig/facade/libcudart.so.13"
	assert_output ""
	run sh -c "nm -D --defined-only '$B/lib/xmig/facade/libcudart.so.13' | grep -c ' T cudaMalloc@@libcudart.so.13$'"
	assert_output 1
}

@test "exports: the driver facade defines every symbol of the recorded libcuda.so.1 (driver 580)" {
	run missing "$ROOT/proxy/api/syms/libcuda.so.1.syms" "$B/lib/xmig/facade/libcuda.so.1"
	assert_output ""
}

@test "exports: ... and of the libcuda.so.1 (or stub) installed here" {
	real=$(ldconfig -p | awk '/libcuda\.so\.1 /{ print $NF; exit }')
	[ -n "$real" ] || real=${CUDA_HOME:-/usr/local/cuda}/lib64/stubs/libcuda.so
	[ -e "$real" ] || skip "no libcuda.so.1 here"
	defined "$real" >"$BATS_TEST_TMPDIR/real"
	run missing "$BATS_TEST_TMPDIR/real" "$B/lib/xmig/facade/libcuda.so.1"
	assert_output ""
}

@test "exports: an unsupported function logs one line naming it and returns 801" {
	[ -x "$B/tests/unsupported" ] || skip "test program not built"
	run --separate-stderr "$XMIG" run -- "$B/tests/unsupported"
	assert_success
	assert_output "cudaGraphAddMemAllocNode -> 801
cudaGraphAddMemAllocNode -> 801
cuGraphAddMemAllocNode -> 801"
	assert_equal "$stderr" "xmig: error: cudaGraphAddMemAllocNode is not supported
xmig: error: cuGraphAddMemAllocNode is not supported"
}

# The libraries that link their own copy of the runtime: cuBLAS, cuBLASLt,
# cuDNN, NCCL. Their facades keep a program loadable and answer versions.
@test "exports: the cuBLAS, cuBLASLt, cuDNN and NCCL facades define every recorded symbol" {
	for so in libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2; do
		run missing "$ROOT/proxy/api/syms/$so.syms" "$B/lib/xmig/facade/$so"
		assert_output ""
		[ "$(wc -l <"$ROOT/proxy/api/syms/$so.syms")" -gt 10 ]
	done
}

@test "exports: xmig run preloads every facade, the runtime first" {
	run "$XMIG" run -- sh -c 'echo "$LD_PRELOAD"'
	assert_success
	f=$(cd "$B/lib/xmig/facade" && pwd -P)
	assert_output "$f/libcudart.so.13:$f/libcublas.so.13:$f/libcublasLt.so.13:$f/libcudnn.so.9:$f/libnccl.so.2"
}

@test "exports: an unforwarded cuBLAS or NCCL call fails loudly with its library's status" {
	cat >"$BATS_TEST_TMPDIR/t.c" <<-'C'
	#include <stdio.h>
	#include <dlfcn.h>
	int main(void) {
		void *b = dlopen("libcublas.so.13", RTLD_NOW), *n = dlopen("libnccl.so.2", RTLD_NOW);
		if (!b || !n) { printf("dlopen: %s\n", dlerror()); return 1; }
		int (*create)(void **) = (int (*)(void **))dlsym(b, "cublasSaxpy_v2");
		int (*ver)(int *) = (int (*)(int *))dlsym(n, "ncclGetVersion");
		int (*alloc)(void **, size_t) = (int (*)(void **, size_t))dlsym(n, "ncclMemAlloc");
		void *h, *p; int v = 0;
		printf("cublasSaxpy_v2 -> %d\n", create(&h));
		int r = ver(&v);
		printf("ncclGetVersion -> %d %d\n", r, v > 20000);
		printf("ncclMemAlloc -> %d\n", alloc(&p, 4096));
		return 0;
	}
	C
	cc -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" -ldl || skip "no C compiler"
	run --separate-stderr "$XMIG" run -- "$BATS_TEST_TMPDIR/t"
	assert_success
	assert_output "cublasSaxpy_v2 -> 15
ncclGetVersion -> 0 1
ncclMemAlloc -> 5"
	assert_equal "$stderr" "xmig: error: cublasSaxpy_v2 is not supported
xmig: error: ncclMemAlloc is not supported"
}
