/*
 * nt-copy.c - streaming-store copies for the pageable copies' bulk area.
 *
 * A pageable device-to-host copy ends with the application copying each
 * chunk out of the bulk area into its buffer. With glibc's memcpy that
 * ran at 7.0-7.3 GB/s for 4 MiB chunks on an H200 host (its threshold for
 * non-temporal stores scales with the last-level cache, 300 MiB there, so
 * each destination line was read for ownership first), and the whole copy
 * was bound by it: 7.4-8.9 GB/s against the driver's 10-17.5. Streaming
 * stores ran the same chunks at 13-15 GB/s (tests/bench/copy_out.cu) and
 * the whole copy at 12.3-13.7. Not used for copies into the bulk area:
 * there they made the host-to-device copy slower.
 */
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "nt-copy.h"

void xmig_copy_nt(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__)
	char *d = (char *)dst;   /* (C++ too: tests/bench/copy_out.cu) */
	const char *s = (const char *)src;
	size_t head;

	if (n < XMIG_NT_COPY_MIN) {
		memcpy(dst, src, n);
		return;
	}
	/* whole destination lines: the stores then fill them without a read */
	head = (64 - ((uintptr_t)d & 63)) & 63;
	memcpy(d, s, head);
	d += head;
	s += head;
	n -= head;
	for (; n >= 64; d += 64, s += 64, n -= 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));

		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
	}
	memcpy(d, s, n);
	/* (streaming stores are weakly ordered: done before the ring's next word) */
	_mm_sfence();
#else
	memcpy(dst, src, n);
#endif
}
