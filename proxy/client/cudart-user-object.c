/*
 * cudart-user-object.c - user objects (cudaUserObjectCreate, the driver's
 * cuUserObject*): a destructor and a reference count, kept here, in the
 * application's process, where the destructor must run; graphs and
 * executable graphs hold references by their ids. cuda.core ties the
 * Python objects a graph needs to the graph this way. The proxy never
 * sees them, so they stay as they are across moves.
 *
 * CUDA runs a destructor on an internal thread once the last reference is
 * gone and the work of the graphs that held it is done; here it runs on
 * the thread that dropped the last reference, after the device's work is
 * done where an executable graph held it (its launches may still run).
 */
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>

#include "client.h"
#include "cudart-user-object.h"

#define API __attribute__((visibility("default")))

struct user_object {
	void *ptr;
	cudaHostFn_t destroy;
	unsigned refs;
};

/* References a graph (exec false) or an executable graph holds. */
struct holding {
	uint64_t owner;
	bool exec;
	struct user_object *obj;
	unsigned count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct holding *holds;
static size_t nholds, capholds;

static struct user_object *object_of(cudaUserObject_t o)
{
	return (struct user_object *)o;
}

/* A count of references as CUDA takes one: nonzero and at most INT_MAX. */
static bool count_ok(unsigned count)
{
	return count && count <= INT_MAX;
}

/* Whether n more references fit next to have (lock held): a count that wrapped would free early. */
static bool room_for(unsigned have, unsigned n)
{
	return have <= UINT_MAX - n;
}

/* count references dropped (lock held); true when the object is to be destroyed. */
static bool drop_locked(struct user_object *o, unsigned count)
{
	o->refs -= count;
	return o->refs == 0;
}

static void destroy(struct user_object *o)
{
	o->destroy(o->ptr);
	free(o);
}

/* What owner holds of o (lock held), or NULL. */
static struct holding *holding_locked(uint64_t owner, bool exec, const struct user_object *o)
{
	for (size_t i = 0; i < nholds; i++)
		if (holds[i].owner == owner && holds[i].exec == exec && holds[i].obj == o)
			return &holds[i];
	return NULL;
}

static int hold_locked(uint64_t owner, bool exec, struct user_object *o, unsigned count)
{
	struct holding *h = holding_locked(owner, exec, o);

	if (h) {
		h->count += count;
		return 0;
	}
	if (nholds == capholds) {
		size_t cap = capholds ? 2 * capholds : 16;
		struct holding *n = realloc(holds, cap * sizeof(*n));

		if (!n)
			return -1;
		holds = n;
		capholds = cap;
	}
	holds[nholds++] = (struct holding){ owner, exec, o, count };
	return 0;
}

API cudaError_t cudaUserObjectCreate(cudaUserObject_t *object_out, void *ptr, cudaHostFn_t fn,
				     unsigned int initialRefcount, unsigned int flags)
{
	struct user_object *o;

	if (!object_out || !fn || !count_ok(initialRefcount) ||
	    flags != cudaUserObjectNoDestructorSync)
		return cudaErrorInvalidValue;
	if (!(o = malloc(sizeof(*o))))
		return cudaErrorMemoryAllocation;
	*o = (struct user_object){ ptr, fn, initialRefcount };
	*object_out = (cudaUserObject_t)o;
	return cudaSuccess;
}

API cudaError_t cudaUserObjectRetain(cudaUserObject_t object, unsigned int count)
{
	bool ok;

	if (!object || !count_ok(count))
		return cudaErrorInvalidValue;
	pthread_mutex_lock(&lock);
	if ((ok = room_for(object_of(object)->refs, count)))
		object_of(object)->refs += count;
	pthread_mutex_unlock(&lock);
	return ok ? cudaSuccess : cudaErrorInvalidValue;
}

API cudaError_t cudaUserObjectRelease(cudaUserObject_t object, unsigned int count)
{
	struct user_object *o = object_of(object);
	bool gone;

	if (!o || !count_ok(count))
		return cudaErrorInvalidValue;
	pthread_mutex_lock(&lock);
	if (o->refs < count) {
		pthread_mutex_unlock(&lock);
		return cudaErrorInvalidValue;
	}
	gone = drop_locked(o, count);
	pthread_mutex_unlock(&lock);
	if (gone)
		destroy(o);
	return cudaSuccess;
}

/* The graph is the proxy's: asked there whether it is one (its node count). */
static cudaError_t graph_known(cudaGraph_t graph)
{
	size_t n;

	return graph ? cudaGraphGetNodes(graph, NULL, &n) : cudaErrorInvalidValue;
}

API cudaError_t cudaGraphRetainUserObject(cudaGraph_t graph, cudaUserObject_t object,
					  unsigned int count, unsigned int flags)
{
	struct user_object *o = object_of(object);
	struct holding *h;
	cudaError_t e;
	int r;

	if (!o || !count_ok(count) || (flags & ~(unsigned)cudaGraphUserObjectMove))
		return cudaErrorInvalidValue;
	if ((e = graph_known(graph)))
		return e;
	pthread_mutex_lock(&lock);
	h = holding_locked((uint64_t)(uintptr_t)graph, false, o);
	/* (moved: the caller's references become the graph's) */
	if (((flags & cudaGraphUserObjectMove) ? o->refs < count : !room_for(o->refs, count)) ||
	    (h && !room_for(h->count, count))) {
		pthread_mutex_unlock(&lock);
		return cudaErrorInvalidValue;
	}
	r = hold_locked((uint64_t)(uintptr_t)graph, false, o, count);
	if (!r && !(flags & cudaGraphUserObjectMove))
		o->refs += count;
	pthread_mutex_unlock(&lock);
	return r ? cudaErrorMemoryAllocation : cudaSuccess;
}

/*
 * References the graph does not hold: refused (the H200's driver answered
 * success to one such release, with an effect on the object not seen).
 */
API cudaError_t cudaGraphReleaseUserObject(cudaGraph_t graph, cudaUserObject_t object,
					   unsigned int count)
{
	struct user_object *o = object_of(object);
	struct holding *h;
	bool gone = false;

	if (!o || !count_ok(count) || !graph)
		return cudaErrorInvalidValue;
	pthread_mutex_lock(&lock);
	h = holding_locked((uint64_t)(uintptr_t)graph, false, o);
	if (!h || h->count < count) {
		pthread_mutex_unlock(&lock);
		return cudaErrorInvalidValue;
	}
	if (!(h->count -= count))
		*h = holds[--nholds];
	gone = drop_locked(o, count);
	pthread_mutex_unlock(&lock);
	if (gone)
		destroy(o);
	return cudaSuccess;
}

void xmig_user_objects_instantiated(uint64_t graph, uint64_t exec)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0, n = nholds; i < n; i++)
		if (holds[i].owner == graph && !holds[i].exec &&
		    !hold_locked(exec, true, holds[i].obj, holds[i].count))
			holds[i].obj->refs += holds[i].count;
	pthread_mutex_unlock(&lock);
}

/*
 * The references owner held, dropped (it is gone); the objects no longer
 * referenced destroyed, after the device's work where an executable graph
 * held them.
 */
void xmig_user_objects_owner_gone(uint64_t owner, bool exec)
{
	struct user_object **dead = NULL;
	size_t ndead = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = nholds; i-- > 0;) {
		struct user_object **more;

		if (holds[i].owner != owner || holds[i].exec != exec)
			continue;
		/* (without memory for the list, an object to destroy is left: never a double run) */
		if (drop_locked(holds[i].obj, holds[i].count) &&
		    (more = realloc(dead, (ndead + 1) * sizeof(*dead)))) {
			dead = more;
			dead[ndead++] = holds[i].obj;
		}
		holds[i] = holds[--nholds];
	}
	pthread_mutex_unlock(&lock);
	if (ndead && exec)
		cudaDeviceSynchronize();
	for (size_t i = 0; i < ndead; i++)
		destroy(dead[i]);
	free(dead);
}
