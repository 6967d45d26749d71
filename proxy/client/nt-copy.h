/*
 * nt-copy.h - copies whose destination lines are not worth reading first:
 * a pageable device-to-host copy's chunks out of the ring's bulk area into
 * the application's buffer.
 */
#ifndef XMIG_NT_COPY_H
#define XMIG_NT_COPY_H

#include <stddef.h>

/* Below this many bytes, memcpy (a small destination stays in cache). */
#define XMIG_NT_COPY_MIN (256u << 10)

/* memcpy(dst, src, n), with streaming stores from XMIG_NT_COPY_MIN bytes
 * on x86-64; they are fenced (visible to the proxy) on return. */
void xmig_copy_nt(void *dst, const void *src, size_t n);

#endif
