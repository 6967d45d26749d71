/*
 * snapshot.c - a frozen proxy's state in a directory, and back.
 *
 *   DIR/manifest.json     the state manifest (state.c) plus where every
 *                         byte is and its XXH3 checksum; written last, so
 *                         a directory without it is not a snapshot
 *   DIR/memory.bin        device memory, allocation after allocation, in
 *                         chunks of at most 64 MiB, each checksummed
 *   DIR/vars.bin          contents of __device__ variables
 *   DIR/module-<id>.bin   fat binaries
 *
 * A restore checks every chunk before it is used and stops at the first
 * bad one: the job stays where it was (suspended), the snapshot untouched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "snapshot.h"
#include "state.h"
#include "xfer.h"

#define CHUNK (64ull << 20)

struct staging {
	void *buf;
	bool registered;
};

static int staging_open(struct srv *s, struct staging *st)
{
	if (posix_memalign(&st->buf, 4096, CHUNK) != 0)
		return -1;
	/* Pinned, so the copies are DMA; works unregistered too, only slower. */
	st->registered = s->dev->host_register(s->devh, st->buf, CHUNK, 0) == 0;
	return 0;
}

static void staging_close(struct srv *s, struct staging *st)
{
	if (st->registered)
		s->dev->host_unregister(s->devh, st->buf);
	free(st->buf);
}

static int copy_sync(struct srv *s, uint64_t dst, uint64_t src, uint64_t n)
{
	int r = s->dev->memcpy_async(s->devh, dst, src, n, s->legacy.h);

	return r ? r : s->dev->stream_sync(s->devh, s->legacy.h);
}

static char *hex64(uint64_t v, char *buf)
{
	snprintf(buf, 17, "%016" PRIx64, v);
	return buf;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return xmig_write_file_atomic(path, data, len, 0600);
}

/*
 * The directory's entries to disk: the manifest renamed into place is what
 * makes the snapshot, and a suspended job's proxy is gone once this returns.
 */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

static void notify(struct ctl_conn *cc, const char *phase, uint64_t done, uint64_t total)
{
	if (cc)
		ctl_notify(cc, "progress", json_pack("{s:s, s:I, s:I}", "phase", phase, "done",
						     (json_int_t)done, "total", (json_int_t)total));
}

json_t *srv_snapshot_write(struct srv *s, struct ctl_conn *cc, const char *dir, char *why,
			   size_t len)
{
	json_t *m = NULL, *chunks = json_array(), *images = json_array(), *vars, *o;
	struct staging st = { 0 };
	char path[PATH_MAX], h[17];
	uint64_t off = 0, total = s->mem.mapped, t0 = xmig_now_ns();
	size_t i;
	int fd = -1;
	char *text = NULL;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(why, len, "cannot create %s: %s", dir, strerror(errno));
		goto err;
	}
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (access(path, F_OK) == 0) {
		snprintf(why, len, "%s already holds a snapshot", dir);
		goto err;
	}
	m = srv_state_manifest(s);
	if (staging_open(s, &st) < 0) {
		snprintf(why, len, "out of host memory for staging");
		goto err;
	}
	snprintf(path, sizeof(path), "%s/memory.bin", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
		goto err;
	}
	for (i = 0; i < s->mem.nallocs; i++) {
		const struct srv_alloc *a = &s->mem.allocs[i];

		for (uint64_t o2 = 0; o2 < a->size; o2 += CHUNK) {
			uint64_t n = a->size - o2 < CHUNK ? a->size - o2 : CHUNK;

			if (copy_sync(s, (uint64_t)(uintptr_t)st.buf, a->va + o2, n) ||
			    xmig_write_all(fd, st.buf, n) < 0) {
				snprintf(why, len, "copying device memory out failed: %s",
					 strerror(errno));
				goto err;
			}
			json_array_append_new(chunks, json_pack("{s:I, s:I, s:I, s:I, s:s}",
				"alloc", (json_int_t)i, "offset", (json_int_t)o2, "size",
				(json_int_t)n, "file_offset", (json_int_t)off,
				"xxh3", hex64(xmig_hash64(st.buf, n), h)));
			off += n;
			notify(cc, "snapshot", off, total);
		}
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
		goto err;
	}
	fd = -1;
	json_array_foreach(json_object_get(m, "modules"), i, o) {
		uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id"));
		struct srv_module *mod = srv_table_get(&s->modules, id);
		char name[64];

		snprintf(name, sizeof(name), "module-%" PRIu64 ".bin", id);
		if (write_file(dir, name, mod->image, mod->size) < 0) {
			snprintf(why, len, "cannot write %s/%s: %s", dir, name, strerror(errno));
			goto err;
		}
		json_array_append_new(images, json_pack("{s:I, s:s}", "id", (json_int_t)id, "file",
							 name));
	}
	/* Variables: small; one buffer. */
	vars = json_object_get(m, "vars");
	{
		uint64_t vtotal = 0, voff = 0;
		char *vbuf;

		json_array_foreach(vars, i, o)
			vtotal += (uint64_t)json_integer_value(json_object_get(o, "size"));
		vbuf = malloc(vtotal ? vtotal : 1);
		if (!vbuf)
			goto err;
		json_array_foreach(vars, i, o) {
			uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id"));
			struct srv_var *v = srv_table_get(&s->vars, id);

			if (copy_sync(s, (uint64_t)(uintptr_t)(vbuf + voff), v->addr, v->size)) {
				free(vbuf);
				snprintf(why, len, "cannot read variable %s", v->name);
				goto err;
			}
			/* (the entry is the variable's own, shared: this copy gets the file's keys) */
			o = json_copy(o);
			json_array_set_new(vars, i, o);
			json_object_set_new(o, "file_offset", json_integer((json_int_t)voff));
			json_object_set_new(o, "xxh3", json_string(hex64(xmig_hash64(vbuf + voff,
											v->size), h)));
			voff += v->size;
		}
		if (write_file(dir, "vars.bin", vbuf, vtotal) < 0) {
			free(vbuf);
			snprintf(why, len, "cannot write %s/vars.bin: %s", dir, strerror(errno));
			goto err;
		}
		free(vbuf);
	}
	json_object_set_new(m, "memory", json_pack("{s:s, s:I, s:o}", "file", "memory.bin",
						   "bytes", (json_int_t)off, "chunks", chunks));
	chunks = NULL;
	json_object_set_new(m, "images", images);
	images = NULL;
	json_object_set_new(m, "created", json_real(xmig_wall_seconds()));
	text = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text || write_file(dir, "manifest.json", text, strlen(text)) < 0 ||
	    sync_dir(dir) < 0) {
		snprintf(why, len, "cannot write %s/manifest.json: %s", dir, strerror(errno));
		goto err;
	}
	free(text);
	staging_close(s, &st);
	json_decref(m);
	return json_pack("{s:s, s:I, s:I, s:f}", "dir", dir, "device_bytes",
			 (json_int_t)s->mem.bytes, "written_bytes", (json_int_t)off, "seconds",
			 (double)(xmig_now_ns() - t0) / 1e9);
err:
	free(text);
	if (fd >= 0)
		close(fd);
	if (st.buf)
		staging_close(s, &st);
	json_decref(chunks);
	json_decref(images);
	json_decref(m);
	return NULL;
}

/* ---- restore ------------------------------------------------------------- */

struct dir_images {
	const char *dir;
	json_t *images;
};

static void *read_image(void *arg, uint64_t id, uint64_t size)
{
	struct dir_images *d = arg;
	json_t *o;
	size_t i, n;

	json_array_foreach(d->images, i, o) {
		char path[PATH_MAX];
		const char *file = json_string_value(json_object_get(o, "file"));
		char *data;

		if ((uint64_t)json_integer_value(json_object_get(o, "id")) != id || !file ||
		    strchr(file, '/'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->dir, file);
		/* (a file larger than the image is not read whole: memory.bin named here, say) */
		data = xmig_read_file_max(path, size, &n);
		if (data && n != size) {
			free(data);
			return NULL;
		}
		return data;   /* the state replay checks its hash */
	}
	return NULL;
}

static int hash_ok(const void *p, uint64_t n, json_t *o)
{
	char h[17];
	const char *want = json_string_value(json_object_get(o, "xxh3"));

	return want && !strcmp(want, hex64(xmig_hash64(p, n), h));
}

json_t *srv_snapshot_restore(struct srv *s, struct ctl_conn *cc, const char *dir, int *code,
			     char *why, size_t len)
{
	char path[PATH_MAX];
	json_t *m, *o, *chunks;
	struct staging st = { 0 };
	struct dir_images di = { dir, NULL };
	uint64_t done = 0, total, t0 = xmig_now_ns();
	char *vbuf = NULL;
	size_t i, vlen = 0, at = 0;   /* where the next chunk must start: allocation at, offset next */
	uint64_t next = 0;
	int fd = -1, r;

	*code = XMIG_RPC_FAILED;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	m = json_load_file(path, 0, NULL);
	if (!m) {
		*code = XMIG_RPC_NOTFOUND;
		snprintf(why, len, "no snapshot in %s (no readable manifest.json)", dir);
		return NULL;
	}
	if ((r = srv_state_check(s, m, true, why, len)) < 0) {
		*code = r == -2 ? XMIG_RPC_REFUSED : XMIG_RPC_FAILED;
		goto err;
	}
	chunks = json_object_get(json_object_get(m, "memory"), "chunks");
	total = (uint64_t)json_integer_value(json_object_get(json_object_get(m, "memory"), "bytes"));
	if (srv_state_restore_memory(s, m, true) < 0 || staging_open(s, &st) < 0) {
		snprintf(why, len, "cannot map the job's memory on GPU %d", s->gpu);
		goto err;
	}
	snprintf(path, sizeof(path), "%s/memory.bin", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "cannot read %s: %s", path, strerror(errno));
		goto err;
	}
	json_array_foreach(chunks, i, o) {
		uint64_t ai = (uint64_t)json_integer_value(json_object_get(o, "alloc"));
		uint64_t off = (uint64_t)json_integer_value(json_object_get(o, "offset"));
		uint64_t n = (uint64_t)json_integer_value(json_object_get(o, "size"));
		uint64_t foff = (uint64_t)json_integer_value(json_object_get(o, "file_offset"));

		/*
		 * (as written: every allocation in order, each byte once; a chunk
		 * elsewhere, twice or missing would leave memory as the new
		 * proxy found it, and the job would go on with it)
		 */
		if (!srv_mem_next_byte(&s->mem, &at, &next) || !n || n > CHUNK || ai != at ||
		    off != next || n > s->mem.allocs[ai].size - off) {
			snprintf(why, len, "chunk %zu of the snapshot is malformed", i);
			goto err;
		}
		next += n;
		if (pread(fd, st.buf, n, (off_t)foff) != (ssize_t)n) {
			snprintf(why, len, "chunk %zu of the snapshot is truncated", i);
			goto err;
		}
		if (!hash_ok(st.buf, n, o)) {
			snprintf(why, len, "chunk %zu of %s is corrupt (checksum mismatch); the "
				 "snapshot is left as it is", i, path);
			goto err;
		}
		if (copy_sync(s, s->mem.allocs[ai].va + off, (uint64_t)(uintptr_t)st.buf, n)) {
			snprintf(why, len, "copying chunk %zu to the GPU failed", i);
			goto err;
		}
		done += n;
		notify(cc, "restore", done, total);
	}
	if (srv_mem_next_byte(&s->mem, &at, &next)) {
		snprintf(why, len, "the snapshot lacks the memory at %#llx (its chunks end before it)",
			 (unsigned long long)(s->mem.allocs[at].va + next));
		goto err;
	}
	close(fd);
	fd = -1;
	di.images = json_object_get(m, "images");
	if (srv_state_restore_objects(s, m, read_image, &di) < 0) {
		snprintf(why, len, "cannot recreate the job's objects from %s", dir);
		goto err;
	}
	snprintf(path, sizeof(path), "%s/vars.bin", dir);
	vbuf = xmig_read_file(path, &vlen);
	json_array_foreach(json_object_get(m, "vars"), i, o) {
		uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id"));
		uint64_t voff = (uint64_t)json_integer_value(json_object_get(o, "file_offset"));
		struct srv_var *v = srv_table_get(&s->vars, id);

		if (!vbuf || !v || voff > vlen || v->size > vlen - voff ||
		    !hash_ok(vbuf + voff, v->size, o) ||
		    copy_sync(s, v->addr, (uint64_t)(uintptr_t)(vbuf + voff), v->size)) {
			snprintf(why, len, "variable %zu of the snapshot is missing or corrupt", i);
			goto err;
		}
	}
	free(vbuf);
	vbuf = NULL;
	if (srv_restore_host_regions(s) < 0) {
		snprintf(why, len, "cannot map the job's pinned memory again");
		goto err;
	}
	if (srv_graph_restore(s, m) < 0) {
		snprintf(why, len, "cannot make the job's CUDA graphs again");
		goto err;
	}
	staging_close(s, &st);
	json_decref(m);
	return json_pack("{s:s, s:I, s:f}", "dir", dir, "restored_bytes", (json_int_t)done,
			 "seconds", (double)(xmig_now_ns() - t0) / 1e9);
err:
	free(vbuf);
	if (fd >= 0)
		close(fd);
	if (st.buf)
		staging_close(s, &st);
	json_decref(m);
	return NULL;
}
