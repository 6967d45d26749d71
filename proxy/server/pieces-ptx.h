/*
 * pieces-ptx.h - the kernel that makes many small copies at once
 * (device-cuda.c, memcpy_pieces), as PTX for the driver to compile when
 * the proxy opens its GPU.
 *
 * xmig_copy_pieces(pieces, n): pieces is an array of n {dst, src, size}
 * triples of 64-bit words; block b copies pieces b, b + gridDim.x, ...,
 * its threads taking every blockDim.x-th byte. Every address, the array's
 * included, must be one the GPU reaches: device memory, or pinned host
 * memory under unified addressing. Written by hand, not by nvcc: the
 * proxy is built with gcc alone, and a byte loop needs nothing more.
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
	"}\n";

#endif
