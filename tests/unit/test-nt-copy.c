/*
 * test-nt-copy.c - xmig_copy_nt copies exactly n bytes, whatever the
 * alignment of either side, below and above its streaming threshold,
 * and writes nothing around them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/client/nt-copy.c"
#include "unit.h"

#define GUARD 128

static const size_t sizes[] = { 0, 1, 63, 64, 65, 4095, XMIG_NT_COPY_MIN - 1, XMIG_NT_COPY_MIN,
				XMIG_NT_COPY_MIN + 1, XMIG_NT_COPY_MIN + 63, (4u << 20), (4u << 20) + 13 };
static const unsigned offsets[] = { 0, 1, 7, 15, 16, 31, 33, 48, 63 };

#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NOFFS (sizeof(offsets) / sizeof(offsets[0]))

int main(void)
{
	size_t cap = (4u << 20) + 13 + 2 * GUARD + 64;
	uint8_t *src = aligned_alloc(64, cap), *dst = aligned_alloc(64, cap);

	if (!src || !dst)
		return 1;
	for (size_t i = 0; i < cap; i++)
		src[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t k = 0; k < NSIZES; k++) {
		size_t n = sizes[k];
		int bad = 0;

		for (size_t a = 0; a < NOFFS; a++)
			for (size_t b = 0; b < NOFFS; b += 3) {
				uint8_t *d = dst + GUARD + offsets[a];
				const uint8_t *s = src + offsets[b];

				memset(dst, 0xa5, cap);
				xmig_copy_nt(d, s, n);
				if (memcmp(d, s, n))
					bad++;
				for (uint8_t *p = dst; p < d; p++)
					bad += *p != 0xa5;
				for (uint8_t *p = d + n; p < dst + cap; p++)
					bad += *p != 0xa5;
			}
		CHECK(!bad, "%zu bytes at %zu destination and %zu source offsets: copied exactly, "
		      "nothing written around them", n, NOFFS, (NOFFS + 2) / 3);
	}
	free(src);
	free(dst);
	return unit_done();
}
