/*
 * xmig.h - the one public header of libxmig (cf. uv.h).
 *
 * libxmig is what the xmig CLI, the proxy server and the client facade share:
 * logging and errors, the control protocol (NDJSON framed JSON-RPC 2.0),
 * Unix-socket helpers with peer-credential checks, and the job registry under
 * the runtime directory. Lifetimes are explicit: every *_open/_new has a
 * matching *_close/_free, and nothing here keeps hidden global state except
 * the log settings.
 */
#ifndef XMIG_H
#define XMIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#define XMIG_VERSION "0.1.0"
/* Bumped whenever a control method changes incompatibly. */
#define XMIG_PROTOCOL 1

/*
 * Exit statuses of every xmig command (documented in xmig(1)).
 * `xmig run` execs the program, so its status is the program's own,
 * except XMIG_EXIT_NOEXEC/NOTFOUND_CMD when the exec itself fails.
 */
enum xmig_exit {
	XMIG_EXIT_OK = 0,
	XMIG_EXIT_FAIL = 1,         /* the operation failed (a move rolled back) */
	XMIG_EXIT_USAGE = 2,        /* bad options or arguments */
	XMIG_EXIT_NOTFOUND = 3,     /* unknown job, rank, GPU or node */
	XMIG_EXIT_REFUSED = 4,      /* precheck or permission refused it */
	XMIG_EXIT_UNAVAILABLE = 5,  /* a proxy or node could not be reached */
	XMIG_EXIT_BADINPUT = 6,     /* an input file is malformed */
	XMIG_EXIT_STATIC_RUNTIME = 7, /* under xmig run: the program has the CUDA
				       * runtime linked statically (see xmig-run(1)) */
	XMIG_EXIT_NOEXEC = 126,     /* xmig run: program found, not executable */
	XMIG_EXIT_NOCMD = 127,      /* xmig run: program not found */
};

/* ---- logging and errors (log.c, error.c) ---------------------------- */

enum xmig_log_level { XMIG_LOG_ERROR, XMIG_LOG_WARN, XMIG_LOG_INFO, XMIG_LOG_DEBUG };

/* Prefix for every message ("xmig", "xmig-proxy[123]"). Not copied. */
void xmig_log_init(const char *prefix);
void xmig_log_set_level(enum xmig_log_level level);
enum xmig_log_level xmig_log_level(void);
void xmig_log(enum xmig_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define xmig_debug(...) \
	do { if (xmig_log_level() >= XMIG_LOG_DEBUG) xmig_log(XMIG_LOG_DEBUG, __VA_ARGS__); } while (0)
#define xmig_info(...) xmig_log(XMIG_LOG_INFO, __VA_ARGS__)
#define xmig_warn(...) xmig_log(XMIG_LOG_WARN, __VA_ARGS__)

/* XMIG_MOVE_TRACE=1: a stamped line of a move's timeline on stderr (log.c). */
bool xmig_move_tracing(void);
void xmig_move_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* git's idiom: `return xmig_error("...")` logs and returns -1. */
int xmig_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, appending ": strerror(errno)". */
int xmig_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error logged (its text, no prefix) into buf; NULL if none yet. */
const char *xmig_log_last_error(char *buf, size_t len);
_Noreturn void xmig_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- small utilities (util.c) -------------------------------------- */

uint64_t xmig_now_ns(void);          /* CLOCK_MONOTONIC */
/* ns from now on clock, as the timed waits of pthreads take a deadline. */
struct timespec xmig_timespec_in(clockid_t clock, uint64_t ns);
double xmig_wall_seconds(void);      /* CLOCK_REALTIME, seconds */
/* "1.5 GiB", "512 MiB", "12 KiB", "100 B" into buf. */
const char *xmig_format_bytes(uint64_t bytes, char *buf, size_t len);
/* "3d4h", "2h05m", "4m12s", "9s" into buf. */
const char *xmig_format_duration(double seconds, char *buf, size_t len);
/* Parse "8GiB", "512M", "1g", "4096"; -1 on error. */
int xmig_parse_bytes(const char *s, uint64_t *out);
/* Parse a decimal integer in [min,max]; -1 on error. */
int xmig_parse_long(const char *s, long min, long max, long *out);
/* Start time of a process in clock ticks since boot (pid-reuse guard). */
uint64_t xmig_proc_start_time(pid_t pid);
/* When pid started, wall clock seconds (0 if unknown). */
double xmig_proc_start_wall(pid_t pid);
/* Is pid alive and still the process started at start_time (0 = any)? */
bool xmig_proc_alive(pid_t pid, uint64_t start_time);
/* mkdir -p with mode for the created components. */
int xmig_mkdir_p(const char *path, mode_t mode);
/* Read a whole file (NUL-terminated); caller frees. NULL + errno on error. */
char *xmig_read_file(const char *path, size_t *len);
/* The same, failing with EFBIG past max bytes (an endless /dev/zero). */
char *xmig_read_file_max(const char *path, size_t max, size_t *len);
/* Write a file atomically (tmp + rename). */
int xmig_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
const char *xmig_hostname(void);
/* The directory of this program's executable (libexec/xmig for the proxy). */
const char *xmig_self_dir(void);
/*
 * Is entry ("NAME=value") a setting of the job that the NVIDIA libraries
 * read (CUDA_*, CUBLAS_*, CUDNN_*, NCCL_*...), so that its GPU context
 * takes it to another node? Not the GPU numbering, nor file locations:
 * those are the node's.
 */
bool xmig_env_for_libraries(const char *entry);
/* Is the variable NAME set to 1 (a debugging switch such as XMIG_MOVE_TRACE)? */
bool xmig_env_flag(const char *name);
/* Is XMIG_FAULT set to NAME? (a fault the tests inject) */
bool xmig_fault(const char *name);
/* 64-bit content hash (XXH3) for checksums of chunks and fat binaries. */
uint64_t xmig_hash64(const void *data, size_t len);
/* Bytes as lowercase hex digits, and back (malloc'd; NULL: no memory, or not hex). */
char *xmig_hex_encode(const void *data, size_t len);
unsigned char *xmig_hex_decode(const char *hex, size_t *len);
/* The same hash over pieces that arrive one after the other (NULL: no memory). */
struct xmig_hash;
struct xmig_hash *xmig_hash_begin(void);
void xmig_hash_add(struct xmig_hash *h, const void *data, size_t len);
uint64_t xmig_hash_end(struct xmig_hash *h);   /* and frees h */
/*
 * A message head, then a payload followed by its XXH3 (8 bytes), hashed
 * piece by piece as it is written or read (a small one goes in one
 * writev). read (the payload and its XXH3): 0 intact, -2 damaged (all of
 * it read: the stream stays in step), -1 the stream broke.
 */
int xmig_write_checked(int fd, const void *head, size_t head_len, const void *buf, size_t len);
int xmig_read_checked(int fd, void *buf, size_t len);

/* ---- control protocol: NDJSON framing + JSON-RPC 2.0 (rpc.c) -------- */

/* A control message is one JSON object on one line, at most this long. */
#define XMIG_RPC_MAX_LINE (1u << 20)

enum xmig_rpc_code {
	XMIG_RPC_PARSE_ERROR = -32700,
	XMIG_RPC_INVALID_REQUEST = -32600,
	XMIG_RPC_METHOD_NOT_FOUND = -32601,
	XMIG_RPC_INVALID_PARAMS = -32602,
	XMIG_RPC_INTERNAL_ERROR = -32603,
	/* implementation-defined server errors */
	XMIG_RPC_PERMISSION = -32001,
	XMIG_RPC_BUSY = -32002,
	XMIG_RPC_STATE = -32003,      /* not allowed in the current state */
	XMIG_RPC_REFUSED = -32004,    /* precheck refused */
	XMIG_RPC_NOTFOUND = -32005,
	XMIG_RPC_FAILED = -32006,
	XMIG_RPC_TOO_LARGE = -32007,
	XMIG_RPC_AGAIN = -32008,      /* not now: nothing done, the caller may try again */
};

/* Incremental line splitter for a byte stream (the server side of a socket). */
struct xmig_ndjson {
	char *buf;
	size_t len, cap;
	bool discarding;  /* inside an over-long line: drop until '\n' */
};
void xmig_ndjson_init(struct xmig_ndjson *nd);
void xmig_ndjson_free(struct xmig_ndjson *nd);
/*
 * Feed bytes; calls on_line(line, len, arg) for each complete line and
 * on_oversize(arg) once for each line longer than XMIG_RPC_MAX_LINE.
 */
void xmig_ndjson_feed(struct xmig_ndjson *nd, const char *data, size_t len,
		      void (*on_line)(const char *line, size_t len, void *arg),
		      void (*on_oversize)(void *arg), void *arg);

/* Envelopes. All return new references. */
json_t *xmig_rpc_request(const char *method, json_t *params /* stolen, may be NULL */, json_int_t id);
json_t *xmig_rpc_result(json_t *id /* borrowed, may be NULL */, json_t *result /* stolen */);
json_t *xmig_rpc_error(json_t *id /* borrowed */, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One compact line with '\n'; caller frees. */
char *xmig_rpc_dump_line(const json_t *msg);

/*
 * Client side of the control protocol: a blocking connection to one proxy.
 * xmig_rpc_call() sends a request and waits for the matching response (with a
 * timeout in ms, -1 = none). On a JSON-RPC error it returns -1 and fills
 * *err_code and *err_msg (caller frees msg); on I/O failure -1 with code 0.
 */
struct xmig_conn;
struct xmig_conn *xmig_conn_open(const char *socket_path);
/* Over a connected stream socket (takes fd). */
struct xmig_conn *xmig_conn_from_fd(int fd);
void xmig_conn_close(struct xmig_conn *c);
int xmig_conn_fd(const struct xmig_conn *c);
int xmig_rpc_call(struct xmig_conn *c, const char *method, json_t *params /* stolen */,
		  int timeout_ms, json_t **result, int *err_code, char **err_msg);
/*
 * The two halves of xmig_rpc_call, to have requests to several proxies in
 * flight at once. send: 0 (*id and *wait_ms, the timeout for wait, which
 * answers as call), or -1 without memory to make the request.
 */
int xmig_rpc_send(struct xmig_conn *c, const char *method, json_t *params /* stolen */,
		  int timeout_ms, json_int_t *id, int *wait_ms);
int xmig_rpc_wait(struct xmig_conn *c, json_int_t id, int timeout_ms, json_t **result,
		  int *err_code, char **err_msg);
/* Progress notifications ({"method":"progress",...}) seen while waiting. */
void xmig_conn_on_notify(struct xmig_conn *c,
			 void (*fn)(const char *method, json_t *params, void *arg), void *arg);

/* ---- sockets (sock.c) ---------------------------------------------- */

int xmig_sock_listen(const char *path, mode_t mode);  /* unlinks a stale path */
int xmig_sock_connect(const char *path);
/* Peer credentials of a connected Unix socket. */
int xmig_sock_peer(int fd, pid_t *pid, uid_t *uid, gid_t *gid);
/* May this peer control a job owned by owner? (same uid, or root) */
bool xmig_sock_peer_allowed(uid_t peer, uid_t owner);
/* Send/receive data with up to `nfds` file descriptors (SCM_RIGHTS). */
ssize_t xmig_sock_send_fds(int sock, const void *data, size_t len, const int *fds, int nfds);
ssize_t xmig_sock_recv_fds(int sock, void *data, size_t len, int *fds, int *nfds, int maxfds);
/* Write everything / read exactly len (0 on EOF before any byte). */
int xmig_write_all(int fd, const void *buf, size_t len);
/* Write every byte of n buffers (iov is consumed). */
struct iovec;
int xmig_writev_all(int fd, struct iovec *iov, int n);
ssize_t xmig_read_full(int fd, void *buf, size_t len);

/* ---- runtime directory and job registry (registry.c) ------------------ */

/*
 * $XMIG_RUNTIME_DIR, else /run/xmig for root, else $XDG_RUNTIME_DIR/xmig,
 * else /tmp/xmig-$UID. Returned string is static.
 */
const char *xmig_runtime_dir(void);
/* Directory of one job: <runtime>/jobs/<job>. */
int xmig_job_dir(const char *job, char *buf, size_t len);
/* Valid job names: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
bool xmig_job_name_valid(const char *job);
/* Create <runtime>/jobs/<n> for the smallest free n >= 1; name into buf. */
int xmig_job_allocate(char *buf, size_t len);
/* Create the directory of a named job (exists is fine). */
int xmig_job_create(const char *job);
/* Control socket of the proxy serving client pid `pid` in job `job`. */
int xmig_proxy_socket_path(const char *job, pid_t client_pid, char *buf, size_t len);

/* One live proxy found under the runtime directory. */
struct xmig_proxy_ref {
	char job[80];
	pid_t client_pid;
	char socket[512];
};
/* All proxies, or those of one job (job != NULL); caller frees *out. */
int xmig_registry_list(const char *job, struct xmig_proxy_ref **out, size_t *n);
/*
 * Remove the job directory if it holds no socket any more; what dead
 * processes left in it goes first (handover marks whose command is gone,
 * keepers' sockets of applications gone, standbys' and offers' sockets of
 * proxies gone). A process that makes the directory and then a file in it
 * retries once the directory is gone (a prune may come in between).
 */
void xmig_registry_prune(const char *job);
/*
 * A move's handover mark, <job dir>/handover.<token>: the old proxy makes it
 * just before it hands the job over; the move's command reads it when the
 * move fails (no mark: no handover, whatever became of the new proxy) and
 * removes it. token: the move's, [0-9a-f]{32}. It names the command (pid,
 * and its start time), so that a command killed after the handover leaves
 * no mark behind for ever: a prune removes it once that process is gone
 * (command 0, not known: kept).
 */
int xmig_handover_mark(const char *job, const char *token, pid_t command);
bool xmig_handover_marked(const char *job, const char *token);
void xmig_handover_unmark(const char *job, const char *token);
/* Suspended processes of a job (or all): their records, an array (new ref). */
json_t *xmig_registry_suspended(const char *job);

/* ---- nodes (nodes.c) ---------------------------------------------------- */

/*
 * nodes.conf: one node per line, "#" comments:
 *
 *   NAME ADDRESS [PREFIX...]
 *
 * ADDRESS is where data streams reach the node (IPv4 or IPv6 literal, or a
 * host name); PREFIX is the command that runs a program there ("ssh -T
 * node3", "srun --overlap -w node3 --", "ip netns exec n3"); none: run it
 * directly (this node). File: --nodes FILE, else $XMIG_NODES, else
 * /etc/xmig/nodes.conf. No file: a cluster of this node alone.
 */
struct xmig_node {
	char name[64];
	char address[256];
	char **prefix;          /* argv, NULL-terminated; prefix[0] == NULL: none */
};

struct xmig_nodes {
	struct xmig_node *nodes;
	size_t n;
	char path[512];         /* where they came from ("" if no file) */
};

/* Load the node list (path NULL: the default). -1 with a message on error. */
int xmig_nodes_load(const char *path, struct xmig_nodes *out);
void xmig_nodes_free(struct xmig_nodes *nodes);
const struct xmig_node *xmig_nodes_find(const struct xmig_nodes *nodes, const char *name);
/* Is this node `name`? ($XMIG_NODE, else the host name) */
bool xmig_node_is_self(const char *name);
/*
 * Run argv on node (through its prefix), feeding `input` (may be NULL) to
 * its stdin; its stdout into *out (malloc'd, NUL-terminated). Returns the
 * exit status, or -1 if it could not be run.
 */
int xmig_node_run(const struct xmig_node *node, char *const argv[], const char *input, char **out);

/* ---- device references ("gpu2", "node3:gpu2", "2") (target.c) ---------- */

struct xmig_target {
	char node[64];   /* empty: this node */
	int gpu;         /* -1: unspecified */
};
int xmig_target_parse(const char *s, struct xmig_target *t);

/* ---- what keeps a process from moving (move-limits.c) ---------------- */

enum xmig_move_reach {
	XMIG_MOVE_ANYWHERE,   /* nothing it holds keeps it */
	XMIG_MOVE_IN_NODE,    /* to another GPU of its node only */
	XMIG_MOVE_NOWHERE,    /* not now */
};
/*
 * How far a process may move now, from its item of `xmig ps --json`, and
 * why not further (into why, when not anywhere; why may be NULL). xmig
 * migrate, xmig ps and the live planner read it, so that they agree.
 */
enum xmig_move_reach xmig_move_limit(json_t *item, char *why, size_t len);

#endif /* XMIG_H */
