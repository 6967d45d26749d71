/*
 * pieces-ptx.h - the kernels that make many copies at once (device-cuda.c:
 * memcpy_pieces, memcpy_chunks), as PTX for the driver to compile when the
 * proxy opens its GPU. Written by hand, not by nvcc: the proxy is built
 * with gcc alone, and two copy loops need nothing more.
 *
 * Both take an array of n {dst, src, size} triples of 64-bit words, which
 * the GPU must reach (pinned host memory under unified addressing), and
 * block b copies entries b, b + gridDim.x, ...
 *
 * xmig_copy_pieces(pieces, n): small copies, byte by byte (thread t takes
 * every blockDim.x-th byte); an address may be device memory or pinned
 * host memory.
 *
 * xmig_copy_chunks(chunks, n): device memory to device memory in 16-byte
 * words (every address and size a multiple of 16); thread t takes word t,
 * t + blockDim.x, ..., four at a time, loaded before any is stored, so that
 * a thread has four loads in flight.
 */
#ifndef XMIG_PIECES_PTX_H
#define XMIG_PIECES_PTX_H

static const char pieces_ptx[] =
	".version 6.0\n"
	".target sm_50\n"
	".address_size 64\n"
	"\n"
	".visible .entry xmig_copy_pieces(.param .u64 pieces, .param .u64 n)\n"
	"{\n"
	"	.reg .pred %p<3>;\n"
	"	.reg .b16 %h<2>;\n"
	"	.reg .b32 %r<5>;\n"
	"	.reg .b64 %rd<14>;\n"
	"\n"
	"	ld.param.u64 %rd1, [pieces];\n"
	"	ld.param.u64 %rd2, [n];\n"
	"	mov.u32 %r1, %ctaid.x;\n"
	"	cvt.u64.u32 %rd3, %r1;\n"
	"	mov.u32 %r2, %nctaid.x;\n"
	"	cvt.u64.u32 %rd4, %r2;\n"
	"	mov.u32 %r3, %tid.x;\n"
	"	cvt.u64.u32 %rd5, %r3;\n"
	"	mov.u32 %r4, %ntid.x;\n"
	"	cvt.u64.u32 %rd6, %r4;\n"
	"$piece:\n"
	"	setp.ge.u64 %p1, %rd3, %rd2;\n"
	"	@%p1 bra $done;\n"
	"	mad.lo.u64 %rd7, %rd3, 24, %rd1;\n"
	"	ld.global.u64 %rd8, [%rd7];\n"
	"	ld.global.u64 %rd9, [%rd7+8];\n"
	"	ld.global.u64 %rd10, [%rd7+16];\n"
	"	mov.u64 %rd11, %rd5;\n"
	"$byte:\n"
	"	setp.ge.u64 %p2, %rd11, %rd10;\n"
	"	@%p2 bra $next;\n"
	"	add.u64 %rd12, %rd9, %rd11;\n"
	"	ld.global.u8 %h1, [%rd12];\n"
	"	add.u64 %rd13, %rd8, %rd11;\n"
	"	st.global.u8 [%rd13], %h1;\n"
	"	add.u64 %rd11, %rd11, %rd6;\n"
	"	bra $byte;\n"
	"$next:\n"
	"	add.u64 %rd3, %rd3, %rd4;\n"
	"	bra $piece;\n"
	"$done:\n"
	"	ret;\n"
	"}\n"
	"\n"
	".visible .entry xmig_copy_chunks(.param .u64 chunks, .param .u64 n)\n"
	"{\n"
	"	.reg .pred %p<4>;\n"
	"	.reg .b32 %r<5>;\n"
	"	.reg .b32 %v<16>;\n"
	"	.reg .b64 %rd<20>;\n"
	"\n"
	"	ld.param.u64 %rd1, [chunks];\n"
	"	ld.param.u64 %rd2, [n];\n"
	"	mov.u32 %r1, %ctaid.x;\n"
	"	cvt.u64.u32 %rd3, %r1;\n"
	"	mov.u32 %r2, %nctaid.x;\n"
	"	cvt.u64.u32 %rd4, %r2;\n"
	"	mov.u32 %r3, %tid.x;\n"
	"	cvt.u64.u32 %rd5, %r3;\n"
	"	mov.u32 %r4, %ntid.x;\n"
	"	cvt.u64.u32 %rd6, %r4;\n"
	"	shl.b64 %rd5, %rd5, 4;\n"          /* the thread's first byte */
	"	shl.b64 %rd6, %rd6, 4;\n"          /* st: the block's bytes per word */
	"	shl.b64 %rd7, %rd6, 2;\n"          /* 4 st */
	"	mul.lo.u64 %rd8, %rd6, 3;\n"       /* 3 st */
	"$chunk:\n"
	"	setp.ge.u64 %p1, %rd3, %rd2;\n"
	"	@%p1 bra $cdone;\n"
	"	mad.lo.u64 %rd9, %rd3, 24, %rd1;\n"
	"	ld.global.u64 %rd10, [%rd9];\n"    /* dst */
	"	ld.global.u64 %rd11, [%rd9+8];\n"  /* src */
	"	ld.global.u64 %rd12, [%rd9+16];\n" /* size */
	"	mov.u64 %rd13, %rd5;\n"            /* off */
	"$quad:\n"
	"	add.u64 %rd14, %rd13, %rd8;\n"
	"	setp.ge.u64 %p2, %rd14, %rd12;\n"  /* off + 3 st: the fourth word past the end? */
	"	@%p2 bra $single;\n"
	"	add.u64 %rd15, %rd11, %rd13;\n"
	"	add.u64 %rd16, %rd15, %rd6;\n"
	"	add.u64 %rd17, %rd16, %rd6;\n"
	"	add.u64 %rd18, %rd17, %rd6;\n"
	"	ld.global.v4.u32 {%v0, %v1, %v2, %v3}, [%rd15];\n"
	"	ld.global.v4.u32 {%v4, %v5, %v6, %v7}, [%rd16];\n"
	"	ld.global.v4.u32 {%v8, %v9, %v10, %v11}, [%rd17];\n"
	"	ld.global.v4.u32 {%v12, %v13, %v14, %v15}, [%rd18];\n"
	"	add.u64 %rd15, %rd10, %rd13;\n"
	"	add.u64 %rd16, %rd15, %rd6;\n"
	"	add.u64 %rd17, %rd16, %rd6;\n"
	"	add.u64 %rd18, %rd17, %rd6;\n"
	"	st.global.v4.u32 [%rd15], {%v0, %v1, %v2, %v3};\n"
	"	st.global.v4.u32 [%rd16], {%v4, %v5, %v6, %v7};\n"
	"	st.global.v4.u32 [%rd17], {%v8, %v9, %v10, %v11};\n"
	"	st.global.v4.u32 [%rd18], {%v12, %v13, %v14, %v15};\n"
	"	add.u64 %rd13, %rd13, %rd7;\n"
	"	bra $quad;\n"
	"$single:\n"
	"	setp.ge.u64 %p3, %rd13, %rd12;\n"
	"	@%p3 bra $cnext;\n"
	"	add.u64 %rd15, %rd11, %rd13;\n"
	"	ld.global.v4.u32 {%v0, %v1, %v2, %v3}, [%rd15];\n"
	"	add.u64 %rd15, %rd10, %rd13;\n"
	"	st.global.v4.u32 [%rd15], {%v0, %v1, %v2, %v3};\n"
	"	add.u64 %rd13, %rd13, %rd6;\n"
	"	bra $single;\n"
	"$cnext:\n"
	"	add.u64 %rd3, %rd3, %rd4;\n"
	"	bra $chunk;\n"
	"$cdone:\n"
	"	ret;\n"
	"}\n";

#endif
