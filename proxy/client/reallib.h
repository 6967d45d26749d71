/* reallib.h - where the application's real copy of a library is (reallib.c). */
#ifndef XMIG_REALLIB_H
#define XMIG_REALLIB_H

#include <stddef.h>

/*
 * The file the dynamic linker would have given this process for SONAME had
 * xmig's facade not been there: a copy already loaded by path (PyTorch
 * preloads its wheel's libraries so), else the first hit in the run paths
 * of a loaded object that needs it ($ORIGIN expanded), else in the
 * application's own LD_LIBRARY_PATH (without the facade directory
 * FACADE). 0 and the path in OUT, or -1 when none of these has it (the
 * proxy then searches the usual places itself).
 */
int xmig_real_library(const char *soname, const char *facade, char *out, size_t len);

#endif
