/*
 * session.c - the proxy's connection to its client's fd keeper (keeper.h).
 * Requests are serialised: one at a time on the connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../channel/keeper.h"
#include "server.h"

static int keeper_call(struct srv *s, uint32_t op, uint64_t a, uint64_t b,
		       struct xmig_keeper_reply *rep, int *fd)
{
	struct xmig_keeper_req req = { XMIG_KEEPER_MAGIC, op, a, b };
	int fds[1], nfds = 0;
	ssize_t n;

	*fd = -1;
	pthread_mutex_lock(&s->session_lock);
	if (xmig_write_all(s->session_fd, &req, sizeof(req)) < 0) {
		pthread_mutex_unlock(&s->session_lock);
		return xmig_error_errno("lost the client's keeper");
	}
	/* libuv watches this socket too, and made it non-blocking: wait here. */
	for (;;) {
		struct pollfd pfd = { .fd = s->session_fd, .events = POLLIN };

		n = xmig_sock_recv_fds(s->session_fd, rep, sizeof(*rep), fds, &nfds, 1);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		poll(&pfd, 1, -1);
	}
	pthread_mutex_unlock(&s->session_lock);
	if (n != (ssize_t)sizeof(*rep) || rep->magic != XMIG_KEEPER_MAGIC) {
		if (nfds)
			close(fds[0]);
		return xmig_error("lost the client's keeper (short reply)");
	}
	if (nfds)
		*fd = fds[0];
	return 0;
}

int srv_session_attach(struct srv *s)
{
	struct xmig_keeper_reply rep;
	struct stat st;
	void *seg;
	int fd;

	s->session_fd = xmig_sock_connect(s->keeper_path);
	if (s->session_fd < 0)
		return xmig_error_errno("cannot reach the client's keeper at %s", s->keeper_path);
	if (keeper_call(s, XMIG_KEEPER_ATTACH, s->attach_id, (uint64_t)getpid(), &rep, &fd) < 0)
		return -1;
	if (rep.status || fd < 0)
		return xmig_error("the client refused the attach: %s", strerror((int)-rep.status));
	/* (the whole segment of this build: a shorter one would leave rings unmapped) */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != rep.c || rep.c != XMIG_SEGMENT_SIZE) {
		close(fd);
		return xmig_error("the client's channel segment has an unexpected size");
	}
	/* Reserve both windows first: nothing of ours may land there. */
	if (mmap((void *)rep.a, XMIG_HOST_WINDOW_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0) ==
	    MAP_FAILED) {
		close(fd);
		return xmig_error_errno("cannot reserve the host window at %#llx",
					(unsigned long long)rep.a);
	}
	seg = mmap((void *)(rep.a + XMIG_SEGMENT_OFFSET), rep.c, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, 0);
	if (seg == MAP_FAILED) {
		close(fd);
		return xmig_error_errno("cannot map the channel segment");
	}
	s->shm_fd = fd;
	s->hdr = seg;
	if (s->hdr->magic != XMIG_SHM_MAGIC || s->hdr->version != XMIG_SHM_VERSION ||
	    s->hdr->size != XMIG_SEGMENT_SIZE)
		return xmig_error("the client speaks another channel version (client and proxy "
				  "come from different xmig builds)");
	return 0;
}

int srv_session_region_fd(struct srv *s, uint64_t addr, uint64_t *size, uint64_t *ino)
{
	struct xmig_keeper_reply rep;
	struct stat st;
	int fd;

	if (keeper_call(s, XMIG_KEEPER_REGION_AT, addr, 0, &rep, &fd) < 0)
		return -1;
	if (rep.status || fd < 0) {
		xmig_error("the client has no pinned region at %#llx", (unsigned long long)addr);
		return -1;
	}
	if (rep.a != addr) {
		close(fd);
		xmig_error("pinned region mismatch at %#llx", (unsigned long long)addr);
		return -1;
	}
	*size = rep.b;
	*ino = rep.c;
	/* (the fd itself must be the region the reply describes) */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != rep.c || (uint64_t)st.st_size < rep.b) {
		close(fd);
		xmig_error("pinned region at %#llx: the client sent another file",
			   (unsigned long long)addr);
		return -1;
	}
	return fd;
}

int srv_session_region(struct srv *s, uint64_t index, struct xmig_host_region_info *info)
{
	struct xmig_keeper_reply rep;
	int fd;

	if (keeper_call(s, XMIG_KEEPER_REGION, index, 0, &rep, &fd) < 0)
		return -1;
	if (fd >= 0)
		close(fd);   /* srv_host_register asks for it again by address */
	if (rep.status)
		return -1;
	info->addr = rep.a;
	info->size = rep.b;
	info->ino = rep.c;
	info->flags = (unsigned)rep.d;
	return 0;
}

int srv_session_stderr(struct srv *s)
{
	struct xmig_keeper_reply rep;
	int fd;

	if (keeper_call(s, XMIG_KEEPER_STDERR, 0, 0, &rep, &fd) < 0 || fd < 0)
		return -1;
	/* Our messages go where the application's (and its first proxy's) go. */
	dup2(fd, 2);
	close(fd);
	return 0;
}
