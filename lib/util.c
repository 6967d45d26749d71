/* util.c - clocks, sizes, durations, process checks and file helpers. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "xmig.h"

uint64_t xmig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct timespec xmig_timespec_in(clockid_t clock, uint64_t ns)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000ull);
	ts.tv_nsec += (long)(ns % 1000000000ull);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

double xmig_wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *xmig_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (v < 10.0 && v != (double)(uint64_t)v)
		snprintf(buf, len, "%.1f %s", v, units[u]);
	else
		snprintf(buf, len, "%.0f %s", v, units[u]);
	return buf;
}

const char *xmig_format_duration(double seconds, char *buf, size_t len)
{
	unsigned long s = seconds < 0 ? 0 : (unsigned long)seconds;

	if (s >= 86400)
		snprintf(buf, len, "%lud%luh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%luh%02lum", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%lum%02lus", s / 60, s % 60);
	else
		snprintf(buf, len, "%lus", s);
	return buf;
}

int xmig_parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = 1ull << 10; end++; break;
	case 'M': mul = 1ull << 20; end++; break;
	case 'G': mul = 1ull << 30; end++; break;
	case 'T': mul = 1ull << 40; end++; break;
	default: return -1;
	}
	if (mul > 1) {
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	} else if (*end == 'B' || *end == 'b') {
		end++;
	}
	if (*end)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int xmig_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

uint64_t xmig_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	char *p;
	int fd, i;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2;
	/* Field 3 is the state; start time is field 22. */
	for (i = 3; i < 22 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

bool xmig_proc_alive(pid_t pid, uint64_t start_time)
{
	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	if (start_time) {
		uint64_t now = xmig_proc_start_time(pid);
		/* 0: /proc unreadable; trust kill() then. */
		if (now && now != start_time)
			return false;
	}
	/* A zombie is not alive. */
	{
		char path[64], buf[512], *p;
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = '\0';
				p = strrchr(buf, ')');
				if (p && (p[2] == 'Z' || p[2] == 'X'))
					return false;
			}
		}
	}
	return true;
}

int xmig_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

char *xmig_read_file(const char *path, size_t *len)
{
	return xmig_read_file_max(path, SIZE_MAX, len);
}

char *xmig_read_file_max(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	if (!buf)
		goto err;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				goto err;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto err;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			goto err;
		}
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
err:
	{
		int e = errno;
		free(buf);
		close(fd);
		errno = e;
	}
	return NULL;
}

int xmig_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (xmig_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

const char *xmig_hostname(void)
{
	static char name[256];
	const char *e = getenv("XMIG_NODE");

	if (e && *e)
		return e;
	if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
		snprintf(name, sizeof(name), "localhost");
	return name;
}

uint64_t xmig_hash64(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/* By table, not printf: a GPT's cuDNN log has hundreds of kilobytes of elements. */
char *xmig_hex_encode(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;
	char *s = malloc(2 * len + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * len] = '\0';
	return s;
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

unsigned char *xmig_hex_decode(const char *hex, size_t *len)
{
	size_t n = hex ? strlen(hex) : 1;
	unsigned char *p;

	if (n % 2 || !(p = malloc(n / 2 + 1)))
		return NULL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(p);
			return NULL;
		}
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return p;
}

/* XXH3's streaming state gives what the one-shot hash gives for the whole. */
struct xmig_hash *xmig_hash_begin(void)
{
	XXH3_state_t *st = XXH3_createState();

	if (st)
		XXH3_64bits_reset(st);
	return (struct xmig_hash *)st;
}

void xmig_hash_add(struct xmig_hash *h, const void *data, size_t len)
{
	XXH3_64bits_update((XXH3_state_t *)h, data, len);
}

uint64_t xmig_hash_end(struct xmig_hash *h)
{
	uint64_t v = XXH3_64bits_digest((XXH3_state_t *)h);

	XXH3_freeState((XXH3_state_t *)h);
	return v;
}

/*
 * A payload with its XXH3 after it: each piece is hashed just before it is
 * written (or just after it is read), while it is still in the cache, so
 * the check costs no pass of its own over the bytes.
 */
#define CHECKED_PIECE (1u << 20)

int xmig_write_checked(int fd, const void *head, size_t head_len, const void *buf, size_t len)
{
	struct iovec iov[3] = { { (void *)head, head_len }, { (void *)buf, len }, { NULL, 0 } };
	struct xmig_hash *h;
	uint64_t sum;

	/* small: one system call (and one packet), as before there was a checksum */
	if (len <= CHECKED_PIECE) {
		sum = xmig_hash64(buf, len);
		iov[2] = (struct iovec){ &sum, sizeof(sum) };
		return xmig_writev_all(fd, iov, 3);
	}
	if (!(h = xmig_hash_begin()))
		return -1;
	if (head_len && xmig_write_all(fd, head, head_len) < 0)
		goto err;
	for (size_t off = 0, n; off < len; off += n) {
		n = len - off < CHECKED_PIECE ? len - off : CHECKED_PIECE;
		xmig_hash_add(h, (const char *)buf + off, n);
		if (xmig_write_all(fd, (const char *)buf + off, n) < 0)
			goto err;
	}
	sum = xmig_hash_end(h);
	return xmig_write_all(fd, &sum, sizeof(sum));
err:
	xmig_hash_end(h);
	return -1;
}

int xmig_read_checked(int fd, void *buf, size_t len)
{
	struct xmig_hash *h = xmig_hash_begin();
	uint64_t sum, want;

	if (!h)
		return -1;
	for (size_t off = 0, n; off < len; off += n) {
		n = len - off < CHECKED_PIECE ? len - off : CHECKED_PIECE;
		if (xmig_read_full(fd, (char *)buf + off, n) != (ssize_t)n) {
			xmig_hash_end(h);
			return -1;
		}
		xmig_hash_add(h, (char *)buf + off, n);
	}
	sum = xmig_hash_end(h);
	if (xmig_read_full(fd, &want, sizeof(want)) != (ssize_t)sizeof(want))
		return -1;
	return sum == want ? 0 : -2;
}

double xmig_proc_start_wall(pid_t pid)
{
	uint64_t ticks = xmig_proc_start_time(pid);
	char *stat = xmig_read_file("/proc/stat", NULL), *b;
	double btime = 0;

	if (stat && (b = strstr(stat, "\nbtime ")))
		btime = strtod(b + 7, NULL);
	free(stat);
	if (!ticks || !btime)
		return 0;
	return btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

bool xmig_env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] == '1';
}

bool xmig_fault(const char *name)
{
	const char *v = getenv("XMIG_FAULT");

	return v && !strcmp(v, name);
}

const char *xmig_self_dir(void)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(dir, sizeof(dir), ".");
		return dir;
	}
	exe[n] = '\0';
	/* dirname() works in place: copy out of exe, never onto itself. */
	snprintf(dir, sizeof(dir), "%s", dirname(exe));
	return dir;
}

bool xmig_env_for_libraries(const char *entry)
{
	static const char *const read[] = { "CUDA_", "CUBLAS_", "CUBLASLT_", "CUDNN_", "NCCL_",
					    "NVIDIA_TF32_OVERRIDE=" };
	/* the node's own: which GPUs, in what order, and where files are */
	static const char *const nodes[] = { "CUDA_VISIBLE_DEVICES=", "CUDA_DEVICE_ORDER=",
					     "CUDA_HOME=", "CUDA_PATH=" };
	bool ours = false;

	if (!strchr(entry, '='))
		return false;
	for (size_t i = 0; i < sizeof(read) / sizeof(read[0]); i++)
		ours |= !strncmp(entry, read[i], strlen(read[i]));
	for (size_t i = 0; ours && i < sizeof(nodes) / sizeof(nodes[0]); i++)
		ours = strncmp(entry, nodes[i], strlen(nodes[i])) != 0;
	return ours;
}
