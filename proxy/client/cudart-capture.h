/*
 * cudart-capture.h - what the runtime facade's other files ask of its
 * stream capture (cudart-capture.c).
 */
#ifndef XMIG_CUDART_CAPTURE_H
#define XMIG_CUDART_CAPTURE_H

#include <stdbool.h>

/* Has this process a capture begun and not ended (then a stream may be capturing)? */
__attribute__((visibility("hidden"))) bool xmig_capturing(void);

#endif
