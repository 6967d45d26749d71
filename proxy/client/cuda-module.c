/*
 * cuda-module.c - the driver API's modules and kernels (Triton, torch.compile,
 * PyTorch's NVRTC kernels): cuModuleLoadData and friends, the library API
 * (cuLibraryLoadData, CUkernel), kernel attributes and occupancy,
 * cuLaunchKernel and cuLaunchKernelEx.
 *
 * An image (cubin, PTX or fat binary) travels to the proxy once, which loads
 * it and keeps it: after a move the next proxy loads it again under the same
 * module id, so the CUmodule and CUfunction handles the application holds
 * (ours, pointing at the structs below) stay valid. A kernel's parameter
 * layout comes from the proxy (cuFuncGetParamInfo there), so kernelParams
 * are packed here into one buffer.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/xmig.h"
#include "cu-facade.h"

#define CU_MODULE_MAGIC 0x43554d4fu
#define CU_FUNC_MAGIC 0x43554655u
#define FATBIN_MAGIC 0xba55ed50u
#define FATBIN_WRAPPER_MAGIC 0x466243b1u

struct cu_func;

struct cu_module {
	uint32_t magic;
	uint64_t id;               /* the proxy's module id, kept across moves */
	struct cu_func *funcs;
};

struct cu_func {
	uint32_t magic;
	struct cu_module *module;
	struct cu_func *next;
	char *name;
	struct xmig_cl_kernel k;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

_Static_assert(sizeof(struct xmig_launch_attr) == sizeof(CUlaunchAttribute),
	       "launch attributes travel as CUlaunchAttribute");

static struct cu_module *module_of(CUmodule h)
{
	struct cu_module *m = (struct cu_module *)h;

	return m && m->magic == CU_MODULE_MAGIC ? m : NULL;
}

static struct cu_func *func_of(CUfunction h)
{
	struct cu_func *f = (struct cu_func *)h;

	return f && f->magic == CU_FUNC_MAGIC ? f : NULL;
}

const struct xmig_cl_kernel *xmig_cu_func_layout(CUfunction h)
{
	struct cu_func *f = func_of(h);

	return f ? &f->k : NULL;
}

/* ---- images --------------------------------------------------------------- */

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* An ELF image ends where its last header table or section ends. */
static size_t elf_size(const unsigned char *p)
{
	const Elf64_Ehdr *e = (const Elf64_Ehdr *)p;
	size_t end = max_size(e->e_ehsize, e->e_shoff + (size_t)e->e_shnum * e->e_shentsize);
	unsigned i;

	end = max_size(end, e->e_phoff + (size_t)e->e_phnum * e->e_phentsize);
	for (i = 0; i < e->e_shnum; i++) {
		const Elf64_Shdr *s = (const Elf64_Shdr *)(p + e->e_shoff + (size_t)i * e->e_shentsize);

		if (s->sh_type != SHT_NOBITS)
			end = max_size(end, s->sh_offset + s->sh_size);
	}
	for (i = 0; i < e->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(p + e->e_phoff + (size_t)i * e->e_phentsize);

		end = max_size(end, ph->p_offset + ph->p_filesz);
	}
	return end;
}

/*
 * What cuModuleLoadData accepts, and how long it is: a cubin (ELF), a fat
 * binary (its header says), nvcc's fat binary wrapper, or NUL-terminated PTX.
 */
static size_t image_size(const void **image)
{
	const unsigned char *p = *image;
	uint32_t magic;

	memcpy(&magic, p, sizeof(magic));
	if (magic == FATBIN_WRAPPER_MAGIC) {
		const struct { int magic, version; const void *data; void *unused; } *w = *image;

		*image = w->data;
		return image_size(image);
	}
	if (magic == FATBIN_MAGIC) {
		const struct { uint32_t magic; uint16_t version, header_size; uint64_t fat_size; } *h =
			*image;

		return h->header_size + h->fat_size;
	}
	if (!memcmp(p, ELFMAG, SELFMAG))
		return p[EI_CLASS] == ELFCLASS64 ? elf_size(p) : 0;
	return strlen((const char *)p) + 1;
}

static CUresult load(CUmodule *module, const void *image)
{
	struct cu_module *m;
	size_t size;
	cudaError_t e;

	if (!module || !image)
		return CUDA_ERROR_INVALID_VALUE;
	CU_ENTER(t);
	if (!(size = image_size(&image)))
		return CUDA_ERROR_INVALID_IMAGE;
	if (!(m = calloc(1, sizeof(*m))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->magic = CU_MODULE_MAGIC;
	m->id = xmig_cl_module_id();
	/* The proxy keeps the image; the application may free its copy on return. */
	if ((e = xmig_cl_module_send(t, m->id, image, size))) {
		free(m);
		return xmig_cu_result(e);
	}
	*module = (CUmodule)m;
	return CUDA_SUCCESS;
}

API CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	return load(module, image);
}

API CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
	return load(module, fatCubin);
}

/*
 * JIT options are not forwarded: the proxy's driver compiles with its
 * defaults. The logs asked for are given back empty; other options (hints
 * such as optimisation level or register limits) are named once.
 */
static void jit_options(const char *call, unsigned int n, CUjit_option *options, void **values)
{
	for (unsigned i = 0; i < n; i++) {
		switch (options[i]) {
		case CU_JIT_INFO_LOG_BUFFER:
		case CU_JIT_ERROR_LOG_BUFFER:
			if (values[i])
				*(char *)values[i] = '\0';
			break;
		case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
		case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
			values[i] = (void *)(uintptr_t)0;
			break;
		case CU_JIT_LOG_VERBOSE:
			break;
		default: {
			static bool said;

			if (!said) {
				said = true;
				xmig_warn("%s: JIT options are not forwarded; the driver's defaults "
					  "apply (first: option %d)", call, (int)options[i]);
			}
		}
		}
	}
}

API CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
				CUjit_option *options, void **optionValues)
{
	if (numOptions && (!options || !optionValues))
		return CUDA_ERROR_INVALID_VALUE;
	jit_options("cuModuleLoadDataEx", numOptions, options, optionValues);
	return load(module, image);
}

static CUresult load_file(CUmodule *module, const char *fname)
{
	FILE *f;
	char *buf = NULL;
	long n;
	CUresult r = CUDA_ERROR_FILE_NOT_FOUND;

	if (!module || !fname)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(f = fopen(fname, "rb")))
		return CUDA_ERROR_FILE_NOT_FOUND;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
		goto out;
	/* One byte more: a PTX file ends with its NUL here. */
	if (!(buf = calloc(1, (size_t)n + 1))) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	r = load(module, buf);
out:
	free(buf);
	fclose(f);
	return r;
}

API CUresult cuModuleLoad(CUmodule *module, const char *fname)
{
	return load_file(module, fname);
}

/*
 * The proxy's driver loads the modules, and the job's first proxy has this
 * process's environment: CUDA_MODULE_LOADING=EAGER makes it eager,
 * anything else lazy (the driver's default since CUDA 12.2). What a move's
 * new proxy does is not this process's to see; the answer stays the same.
 */
API CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode)
{
	const char *env = getenv("CUDA_MODULE_LOADING");

	if (!mode)
		return CUDA_ERROR_INVALID_VALUE;
	*mode = env && !strcmp(env, "EAGER") ? CU_MODULE_EAGER_LOADING : CU_MODULE_LAZY_LOADING;
	return CUDA_SUCCESS;
}

API CUresult cuModuleUnload(CUmodule hmod)
{
	struct cu_module *m = module_of(hmod);
	struct xmig_module_unload_req *a;
	struct cu_func *f, *next;
	cudaError_t e;

	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_MODULE_UNLOAD, sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	a->module = m->id;
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, NULL)))
		return xmig_cu_result(e);
	pthread_mutex_lock(&lock);
	for (f = m->funcs; f; f = next) {
		next = f->next;
		f->magic = 0;
		free(f->name);
		free(f->k.params);
		free(f);
	}
	m->magic = 0;
	pthread_mutex_unlock(&lock);
	free(m);
	return CUDA_SUCCESS;
}

API CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	struct cu_module *m = module_of(hmod);
	struct cu_func *f;
	cudaError_t e;
	CUresult r = CUDA_SUCCESS;

	if (!hfunc || !name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	pthread_mutex_lock(&lock);
	for (f = m->funcs; f && strcmp(f->name, name); f = f->next)
		;
	if (f)
		goto out;
	if (!(f = calloc(1, sizeof(*f))) || !(f->name = strdup(name))) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto err;
	}
	if ((e = xmig_cl_func_get(t, m->id, name, &f->k))) {
		/* The driver's word for a name the module lacks. */
		r = e == cudaErrorInvalidDeviceFunction ? CUDA_ERROR_NOT_FOUND : xmig_cu_result(e);
		goto err;
	}
	f->magic = CU_FUNC_MAGIC;
	f->module = m;
	f->next = m->funcs;
	m->funcs = f;
out:
	pthread_mutex_unlock(&lock);
	*hfunc = (CUfunction)f;
	return CUDA_SUCCESS;
err:
	pthread_mutex_unlock(&lock);
	if (f)
		free(f->name);
	free(f);
	return r;
}

/*
 * A module global's address belongs to the current proxy's copy of the
 * module: like cudaGetSymbolAddress, it is noted as not surviving a move.
 */
API CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod,
				  const char *name)
{
	struct cu_module *m = module_of(hmod);
	struct xmig_var_get_req *a;
	struct xmig_var_get_res *r;
	cudaError_t e;

	if (!name || strlen(name) >= sizeof(a->name))
		return CUDA_ERROR_INVALID_VALUE;
	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_VAR_GET, sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	a->module = m->id;
	a->size = 0;   /* unknown here: the module says */
	snprintf(a->name, sizeof(a->name), "%s", name);
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return xmig_cu_result(e);
	xmig_cl_add_device_range(r->addr, r->size);
	xmig_cl_note_symbol_address();
	if (dptr)
		*dptr = (CUdeviceptr)r->addr;
	if (bytes)
		*bytes = r->size;
	return CUDA_SUCCESS;
}

#undef cuModuleGetGlobal
API CUresult cuModuleGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name)
{
	return cuModuleGetGlobal_v2(dptr, bytes, hmod, name);
}

/*
 * ---- libraries (CUDA 12's context-independent loading: cuda.core, cuda-python) ----
 *
 * The process has one context, so a CUlibrary is its module and a CUkernel
 * the module's function: the same handles. cuLaunchKernel takes either,
 * as the driver's does, and both survive a move as modules do.
 */

static CUresult library_options(unsigned int n, CUlibraryOption *options, bool from_file)
{
	if (n && !options)
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < n; i++) {
		switch (options[i]) {
		case CU_LIBRARY_BINARY_IS_PRESERVED:
			/* (a hint: the proxy keeps its own copy anyway) */
			if (from_file)
				return CUDA_ERROR_INVALID_VALUE;
			break;
		case CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE:
			xmig_error("cuLibraryLoad: CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE is "
				   "not supported");
			return CUDA_ERROR_NOT_SUPPORTED;
		default:
			return CUDA_ERROR_INVALID_VALUE;
		}
	}
	return CUDA_SUCCESS;
}

API CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
			       void **jitOptionsValues, unsigned int numJitOptions,
			       CUlibraryOption *libraryOptions, void **libraryOptionValues,
			       unsigned int numLibraryOptions)
{
	CUresult r;

	if (numJitOptions && (!jitOptions || !jitOptionsValues))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = library_options(numLibraryOptions, libraryOptions, false)))
		return r;
	jit_options("cuLibraryLoadData", numJitOptions, jitOptions, jitOptionsValues);
	return load((CUmodule *)library, code);
}

API CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName,
				   CUjit_option *jitOptions, void **jitOptionsValues,
				   unsigned int numJitOptions, CUlibraryOption *libraryOptions,
				   void **libraryOptionValues, unsigned int numLibraryOptions)
{
	CUresult r;

	if (numJitOptions && (!jitOptions || !jitOptionsValues))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = library_options(numLibraryOptions, libraryOptions, true)))
		return r;
	jit_options("cuLibraryLoadFromFile", numJitOptions, jitOptions, jitOptionsValues);
	return load_file((CUmodule *)library, fileName);
}

API CUresult cuLibraryUnload(CUlibrary library)
{
	return cuModuleUnload((CUmodule)library);
}

API CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library)
{
	if (!pMod)
		return CUDA_ERROR_INVALID_VALUE;
	if (!module_of((CUmodule)library))
		return CUDA_ERROR_INVALID_HANDLE;
	*pMod = (CUmodule)library;
	return CUDA_SUCCESS;
}

API CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
	return cuModuleGetFunction((CUfunction *)pKernel, (CUmodule)library, name);
}

API CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library,
				const char *name)
{
	return cuModuleGetGlobal_v2(dptr, bytes, (CUmodule)library, name);
}

API CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
	if (!pFunc)
		return CUDA_ERROR_INVALID_VALUE;
	if (!func_of((CUfunction)kernel))
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);   /* (the driver's wants a context: ours starts the proxy) */
	(void)t;
	*pFunc = (CUfunction)kernel;
	return CUDA_SUCCESS;
}

API CUresult cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel)
{
	return cuFuncGetModule((CUmodule *)pLib, (CUfunction)kernel);
}

API CUresult cuKernelGetName(const char **name, CUkernel hfunc)
{
	return cuFuncGetName(name, (CUfunction)hfunc);
}

API CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset,
				  size_t *paramSize)
{
	return cuFuncGetParamInfo((CUfunction)kernel, paramIndex, paramOffset, paramSize);
}

/* The device argument: the process's one GPU, 0. */
static CUresult kernel_device(CUdevice dev)
{
	return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

API CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel,
				  CUdevice dev)
{
	CUresult r = kernel_device(dev);

	return r ? r : cuFuncGetAttribute(pi, attrib, (CUfunction)kernel);
}

API CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel,
				  CUdevice dev)
{
	CUresult r = kernel_device(dev);

	return r ? r : cuFuncSetAttribute((CUfunction)kernel, attrib, val);
}

API CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
	CUresult r = kernel_device(dev);

	return r ? r : cuFuncSetCacheConfig((CUfunction)kernel, config);
}

/* ---- kernels ------------------------------------------------------------- */

API CUresult cuFuncGetModule(CUmodule *hmod, CUfunction hfunc)
{
	struct cu_func *f = func_of(hfunc);

	if (!hmod)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	*hmod = (CUmodule)f->module;
	return CUDA_SUCCESS;
}

API CUresult cuFuncGetName(const char **name, CUfunction hfunc)
{
	struct cu_func *f = func_of(hfunc);

	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	*name = f->name;
	return CUDA_SUCCESS;
}

API CUresult cuFuncGetParamInfo(CUfunction hfunc, size_t paramIndex, size_t *paramOffset,
				size_t *paramSize)
{
	struct cu_func *f = func_of(hfunc);

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (paramIndex >= f->k.nparams)
		return CUDA_ERROR_INVALID_VALUE;
	if (paramOffset)
		*paramOffset = f->k.params[paramIndex].offset;
	if (paramSize)
		*paramSize = f->k.params[paramIndex].size;
	return CUDA_SUCCESS;
}

/* Loaded with its module, eagerly. */
API CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction hfunc)
{
	if (!state)
		return CUDA_ERROR_INVALID_VALUE;
	if (!func_of(hfunc))
		return CUDA_ERROR_INVALID_HANDLE;
	*state = CU_FUNCTION_LOADING_STATE_LOADED;
	return CUDA_SUCCESS;
}

API CUresult cuFuncLoad(CUfunction hfunc)
{
	return func_of(hfunc) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

API CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
	struct cu_func *f = func_of(hfunc);
	struct xmig_req_cudaFuncGetAttributes *a;
	struct xmig_res_cudaFuncGetAttributes *r;
	const struct cudaFuncAttributes *v;
	cudaError_t e;

	if (!pi)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_cudaFuncGetAttributes, sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	a->func = f->k.server_id;
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return xmig_cu_result(e);
	v = &r->attr;
	switch (attrib) {
	case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = v->maxThreadsPerBlock; break;
	case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *pi = (int)v->sharedSizeBytes; break;
	case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES: *pi = (int)v->constSizeBytes; break;
	case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: *pi = (int)v->localSizeBytes; break;
	case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = v->numRegs; break;
	case CU_FUNC_ATTRIBUTE_PTX_VERSION: *pi = v->ptxVersion; break;
	case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *pi = v->binaryVersion; break;
	case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA: *pi = v->cacheModeCA; break;
	case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *pi = v->maxDynamicSharedSizeBytes; break;
	case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: *pi = v->preferredShmemCarveout; break;
	case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET: *pi = v->clusterDimMustBeSet; break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH: *pi = v->requiredClusterWidth; break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT: *pi = v->requiredClusterHeight; break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH: *pi = v->requiredClusterDepth; break;
	case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
		*pi = v->nonPortableClusterSizeAllowed;
		break;
	case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
		*pi = v->clusterSchedulingPolicyPreference;
		break;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	return CUDA_SUCCESS;
}

/* CUfunction_attribute and cudaFuncAttribute number the settable ones alike. */
API CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
	struct cu_func *f = func_of(hfunc);
	struct xmig_req_cudaFuncSetAttribute *a;

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_cudaFuncSetAttribute, sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	a->func = f->k.server_id;
	a->attr = (enum cudaFuncAttribute)attrib;
	a->value = value;
	return xmig_cu_result(xmig_cl_end(t, XMIG_CALL_SYNC, NULL));
}

/* (fixed four-byte banks: see cudart-legacy.c) */
API CUresult cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig config)
{
	if (!func_of(hfunc))
		return CUDA_ERROR_INVALID_HANDLE;
	return config <= CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE ? CUDA_SUCCESS
								   : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
	struct cu_func *f = func_of(hfunc);
	struct xmig_req_cudaFuncSetCacheConfig *a;

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_cudaFuncSetCacheConfig, sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	a->func = f->k.server_id;
	a->cacheConfig = (enum cudaFuncCache)config;
	return xmig_cu_result(xmig_cl_end(t, XMIG_CALL_SYNC, NULL));
}

API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func,
								  int blockSize,
								  size_t dynamicSMemSize,
								  unsigned int flags)
{
	struct cu_func *f = func_of(func);
	struct xmig_req_cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags *a;
	struct xmig_res_cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags *r;
	cudaError_t e;

	if (!numBlocks)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	CU_ENTER(t);
	if (!(a = xmig_cl_begin(t, XMIG_OP_cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags,
				sizeof(*a))))
		return xmig_cu_result(xmig_cl_lost());
	a->func = f->k.server_id;
	a->blockSize = blockSize;
	a->dynamicSMemSize = dynamicSMemSize;
	a->flags = flags;
	if ((e = xmig_cl_end(t, XMIG_CALL_SYNC, (void **)&r)))
		return xmig_cu_result(e);
	*numBlocks = r->numBlocks;
	return CUDA_SUCCESS;
}

API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func,
							 int blockSize, size_t dynamicSMemSize)
{
	return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize,
								    dynamicSMemSize, 0);
}

/* ---- launches ----------------------------------------------------------- */

/* The parameters: kernelParams (one pointer each), or one packed buffer in extra. */
static CUresult params_of(const struct cu_func *f, void **kernelParams, void **extra,
			  const void **packed)
{
	*packed = NULL;
	if (kernelParams && extra)
		return CUDA_ERROR_INVALID_VALUE;
	if (extra)
		switch (xmig_cl_extra_buffer(extra, f->k.param_bytes, packed)) {
		case 0:
			return CUDA_SUCCESS;
		case -2:
			return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;   /* (the driver's answer) */
		default:
			return CUDA_ERROR_INVALID_VALUE;
		}
	return f->k.nparams && !kernelParams ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

static CUresult launch(CUfunction hfunc, const unsigned grid[3], const unsigned block[3],
		       unsigned shmem, CUstream stream, int per_thread, void **kernelParams,
		       void **extra, const struct xmig_launch_attr *attrs, unsigned nattrs)
{
	struct cu_func *f = func_of(hfunc);
	struct xmig_cl_launch_dims d;
	const void *packed;
	CUresult r;

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!grid[0] || !grid[1] || !grid[2] || !block[0] || !block[1] || !block[2] ||
	    (uint64_t)block[0] * block[1] * block[2] > 1024 || block[2] > 64 || grid[1] > 65535 ||
	    grid[2] > 65535)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = params_of(f, kernelParams, extra, &packed)))
		return r;
	CU_ENTER(t);
	d = (struct xmig_cl_launch_dims){ { grid[0], grid[1], grid[2] },
					  { block[0], block[1], block[2] }, shmem,
					  xmig_cl_stream_id((cudaStream_t)stream, per_thread) };
	if (nattrs)
		return xmig_cu_result(xmig_cl_launch_ex(t, &f->k, &d, attrs, nattrs,
							packed ? NULL : kernelParams, packed));
	return xmig_cu_result(xmig_cl_launch(t, &f->k, &d, packed ? NULL : kernelParams, packed));
}

static CUresult launch_kernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
			      unsigned by, unsigned bz, unsigned shmem, CUstream stream,
			      void **kernelParams, void **extra, int per_thread)
{
	return launch(f, (unsigned[3]){ gx, gy, gz }, (unsigned[3]){ bx, by, bz }, shmem, stream,
		      per_thread, kernelParams, extra, NULL, 0);
}

API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
			    unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
			    unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
			    void **kernelParams, void **extra)
{
	return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
			     sharedMemBytes, hStream, kernelParams, extra, 0);
}

API CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				 unsigned int gridDimZ, unsigned int blockDimX,
				 unsigned int blockDimY, unsigned int blockDimZ,
				 unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
				 void **extra)
{
	return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
			     sharedMemBytes, hStream, kernelParams, extra, 1);
}

static CUresult launch_ex(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
			  void **extra, int per_thread)
{
	struct xmig_launch_attr attrs[XMIG_MAX_LAUNCH_ATTRS];
	unsigned nattrs;
	CUresult r;

	if (!config)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = xmig_cu_result(xmig_cl_launch_attrs(config->attrs, config->numAttrs, attrs,
						      &nattrs))))
		return r;
	return launch(f, (unsigned[3]){ config->gridDimX, config->gridDimY, config->gridDimZ },
		      (unsigned[3]){ config->blockDimX, config->blockDimY, config->blockDimZ },
		      config->sharedMemBytes, config->hStream, per_thread, kernelParams, extra, attrs,
		      nattrs);
}

API CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
			      void **extra)
{
	return launch_ex(config, f, kernelParams, extra, 0);
}

API CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
				   void **kernelParams, void **extra)
{
	return launch_ex(config, f, kernelParams, extra, 1);
}

static CUresult launch_cooperative(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
				   unsigned bx, unsigned by, unsigned bz, unsigned shmem,
				   CUstream stream, void **kernelParams, int per_thread)
{
	struct xmig_launch_attr coop = { .id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE };

	coop.value[0] = 1;   /* value.cooperative, an int */
	return launch(f, (unsigned[3]){ gx, gy, gz }, (unsigned[3]){ bx, by, bz }, shmem, stream,
		      per_thread, kernelParams, NULL, &coop, 1);
}

API CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				       unsigned int gridDimZ, unsigned int blockDimX,
				       unsigned int blockDimY, unsigned int blockDimZ,
				       unsigned int sharedMemBytes, CUstream hStream,
				       void **kernelParams)
{
	return launch_cooperative(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
				  sharedMemBytes, hStream, kernelParams, 0);
}

API CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
					    unsigned int gridDimY, unsigned int gridDimZ,
					    unsigned int blockDimX, unsigned int blockDimY,
					    unsigned int blockDimZ, unsigned int sharedMemBytes,
					    CUstream hStream, void **kernelParams)
{
	return launch_cooperative(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
				  sharedMemBytes, hStream, kernelParams, 1);
}

API CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func,
					  const CUlaunchConfig *config)
{
	struct cu_func *f = func_of(func);
	struct xmig_launch_attr attrs[XMIG_MAX_LAUNCH_ATTRS];
	struct xmig_cl_launch_dims d;
	unsigned nattrs;
	CUresult cr;

	if (!numClusters || !config)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((cr = xmig_cu_result(xmig_cl_launch_attrs(config->attrs, config->numAttrs, attrs,
						       &nattrs))))
		return cr;
	CU_ENTER(t);
	d = (struct xmig_cl_launch_dims){
		{ config->gridDimX, config->gridDimY, config->gridDimZ },
		{ config->blockDimX, config->blockDimY, config->blockDimZ },
		config->sharedMemBytes, xmig_cl_stream_id((cudaStream_t)config->hStream, 0) };
	return xmig_cu_result(xmig_cl_max_active_clusters(t, &f->k, &d, attrs, nattrs,
							  numClusters));
}
