/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stablepipe-bench's internal header: the methods and sources, the
 * configuration, the results, and what each file of userspace/bench/
 * offers the others (see main.c for what the benchmark does).
 */
#ifndef STABLEPIPE_BENCH_H
#define STABLEPIPE_BENCH_H

#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <linux/magic.h>
#include "stablepipe2.h"

#ifndef VERSION
#define VERSION "0.1"
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define KIB		((size_t)1 << 10)
#define MIB		((size_t)1 << 20)
#define GIB		((size_t)1 << 30)
#define PATTERN_SIZE	MIB		/* the data repeats, stamped per page */
#define MAX_SIZES	32
#define MAX_REPS	99
#define DEFAULT_CAP	MIB		/* the module's default_capacity */
#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ	1031
#endif

extern const char *prog;
extern size_t page_size;

/* ------------------------------------------------------------------ */
/* methods and sources (methods.c)                                     */

enum kind {
	K_RW,		/* read + write through a user buffer into the pipe */
	K_SPLICE,	/* splice file -> pipe */
	K_SENDFILE,	/* sendfile file -> device; splice device -> pipe */
	K_DEVSPLICE,	/* splice file -> pipe -> device; device -> pipe */
	K_TCP_RW,	/* read file + send to a TCP socket */
	K_TCP_SENDFILE,	/* sendfile file -> socket */
	K_TCP_DEVSPLICE, /* splice file -> pipe -> device -> pipe -> socket */
	K_PIPEWR,	/* write + read through a plain pipe */
	K_DEVWR,	/* write + read through the device */
	K_MEMCPY,	/* memcpy in user space */
};

/* what the consumer thread reads */
enum consumer_kind { C_PIPE, C_TCP };

struct method {
	const char *name;
	enum kind kind;
	int policy;		/* STABLEPIPE_POLICY_*, or -1: no device */
	size_t in_pipe;		/* K_*DEVSPLICE: the pipe file -> device */
	const char *path;	/* for people */
};

#define NMETHODS	17
extern const struct method methods[NMETHODS];

/*
 * warm: read back before every run; cold: evicted; mapped: mapped by
 * another process; hot: read twice, then sent cfg.sends times (the
 * second and later sends are measured); mem: no file.
 */
enum source { SRC_WARM, SRC_COLD, SRC_MAPPED, SRC_HOT, SRC_MEM, NSOURCES };
extern const char *const source_names[NSOURCES];

bool reads_file(const struct method *m);
bool uses_device(const struct method *m);
enum consumer_kind consumer_of(const struct method *m);
int method_index(const char *name);
int source_index(const char *name);

/* ------------------------------------------------------------------ */
/* configuration, environment (env.c) and results                      */

struct cfg {
	const char *dir;
	size_t sizes[MAX_SIZES];
	int nsizes;
	int reps;
	bool use_method[NMETHODS];
	bool use_source[NSOURCES];
	int sends;		/* SRC_HOT: transfers of the file per run */
	size_t chunk;		/* user buffer of read/write */
	size_t out_pipe;	/* the pipe the consumer reads */
	size_t capacity;	/* of the instance; 0: max(1 MiB, in pipe) */
	bool consumer_splice;	/* splice the output pipe to /dev/null */
	bool verify;
	bool ktap;
	bool quiet;
	bool json_stdout;
	const char *json_path;
	const char *csv_path;
	const char *label;	/* file system name in the output */
	unsigned int timeout;	/* seconds one run may take; 0: none */
	/* --buffers (buffers.c) */
	const char *buffers;	/* tools to compare, or NULL */
	size_t stream_size;
	size_t slow_rate;	/* bytes per second of the slow consumer */
	size_t buffer_mem;	/* mbuffer -m, pv -B */
};

struct env {
	char kernel[128];
	char fs[32];
	char dir[PATH_MAX];
	bool have_dev;
	char dev_why[160];
	uint32_t dev_default_policy;
	uint64_t dev_default_capacity;
	bool is_root;
};

extern struct env env;
extern struct cfg cfg;

void detect_env(void);

/*
 * The device's counters of one instance, by name: read from
 * /proc/self/fdinfo (every counter the module has, copied_hot included
 * where it counts it), else by STABLEPIPE_IOC_GET_STATS.  The names are
 * registered as they are first seen (stats.c); copied_* are the reasons.
 */
#define MAX_COUNTERS	40

struct counters {
	uint64_t v[MAX_COUNTERS];
};

extern const char *counter_names[MAX_COUNTERS];
extern int ncounters;

void counters_init(void);
int counters_read(int fd, struct counters *c);
void counters_add(struct counters *t, const struct counters *s);
uint64_t counter(const struct counters *c, const char *name);
bool counter_is_reason(int i);
uint64_t eligible_pages(const struct counters *t);
double steal_rate(const struct counters *t);
const char *reasons(char *buf, size_t len, const struct counters *t, int max);

struct run {
	int rep;			/* which repetition */
	int sends;			/* transfers measured (SRC_HOT: sends - 1) */
	double secs, user, sys;		/* of the measured transfers */
	double first_secs;		/* SRC_HOT: the first send, not measured */
	double prep_secs;		/* preparing the source, not timed */
	double resident_before;		/* fraction of the file's pages */
	double resident_after;		/* -1: not measured */
	uint64_t volume;		/* bytes the measured transfers moved */
	uint64_t bytes;			/* what the consumer got */
	int verified;			/* -1 not checked, 0 bad, 1 good */
	bool have_stats;
	struct counters st;		/* of the measured transfers */
};

struct row {
	size_t size;
	int source;
	int method;
	int nruns;
	struct run runs[MAX_REPS];
	char skip[200];		/* why the method could not run here */
	char error[200];	/* the first failure */
	size_t in_pipe;		/* pipe sizes and capacity actually used */
	size_t out_pipe;
	size_t capacity;
	/* filled by aggregate() */
	double med_mibs, min_mibs, max_mibs, med_secs;
	double med_user_gib, med_sys_gib, med_cpu_gib;
	double med_resident_after;	/* NAN when not measured */
	double ratio_rw, ratio_splice;	/* NAN when not known */
	struct counters tot;		/* summed over the runs */
	bool have_stats;
};

extern struct row *rows;
extern int nrows;

struct row *row_get(size_t size, int source, int method);
struct row *row_find(size_t size, int source, const char *method);
bool row_ok(const struct row *r);
double median(double *v, int n);
double paired_ratio(const struct row *r, const struct row *base);
void aggregate(void);

struct summary {
	int target;
	size_t size;
	int met;		/* 1, 0, -1 not applicable */
	char text[600];
};

extern struct summary *sums;
extern int nsums;

__attribute__((format(printf, 4, 5)))
void add_summary(int target, size_t size, int met, const char *fmt, ...);
const char *verdict(int met);
void summarize(void);

/* the three strategies of each workload (strategies.c) */
struct strategy_row {
	size_t size;
	enum consumer_kind consumer;
	int source;
	/* reference, copy always, steal or copy, read+write */
	const struct row *r[4];
};

#define NSTRATEGIES	4
extern const char *const strategy_names[NSTRATEGIES];
int strategy_rows(struct strategy_row *out, int max);
void summarize_strategies(void);

/* ------------------------------------------------------------------ */
/* helpers (util.c)                                                    */

__attribute__((format(printf, 1, 2), noreturn))
void die(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void note(const char *fmt, ...);
void *xmalloc(size_t n);
void *xaligned(size_t n);
double now(void);
double tv_secs(struct timeval tv);
size_t parse_size(const char *s);
const char *human(char *buf, size_t len, size_t v);
const char *short_size(char *buf, size_t len, size_t v);
ssize_t write_all(int fd, const void *buf, size_t len);

static inline size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static inline size_t max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* ------------------------------------------------------------------ */
/* the data stream and its checksum (data.c)                           */

struct csum {
	uint64_t a, b, n;
	unsigned char tail[8];
	unsigned int nt;
};

void pattern_init(void);
const unsigned char *stream_chunk(uint64_t off, size_t len);
void memsrc_init(size_t size);
const unsigned char *memsrc_chunk(uint64_t off, size_t len);
void csum_update(struct csum *c, const void *buf, size_t len);
uint64_t csum_final(const struct csum *c0);
uint64_t stream_sum(uint64_t size);

/* ------------------------------------------------------------------ */
/* the source file (source.c)                                          */

struct source_file {
	int fd;			/* O_RDWR, unlinked */
	size_t size;
	uint64_t sum;		/* checksum of its contents */
	pid_t mapper;		/* the process that maps it, or 0 */
};

void file_create(struct source_file *sf, size_t size);
void file_destroy(struct source_file *sf);
int file_reopen(const struct source_file *sf);
double file_resident(const struct source_file *sf);
int file_read(const struct source_file *sf);
int file_warm(const struct source_file *sf);
int file_cool(const struct source_file *sf);
int mapper_start(struct source_file *sf);
void mapper_stop(struct source_file *sf);

/* ------------------------------------------------------------------ */
/* one transfer (methods.c, tcp.c) and the runs (run.c)                */

struct consumer {
	pthread_t thread;
	int fd;			/* what it reads */
	bool splice;		/* splice to /dev/null instead of read */
	int null_fd;
	bool verify;
	char *buf;
	size_t bufsize;
	uint64_t bytes;
	struct csum cs;
	int err;		/* errno of a failure, or 0 */
	const char *what;
};

void *consumer_main(void *arg);

struct xfer {
	const struct method *m;
	size_t size;
	int src;		/* the file, or -1 */
	int outr, outw;		/* the pipe the consumer reads */
	int inr, inw;		/* K_*DEVSPLICE: file -> this pipe -> device */
	int devr, devw;
	int sock;		/* C_TCP: the producer's end */
	int peer;		/* C_TCP: the consumer's end */
	size_t capacity;
	size_t in_pipe, out_pipe;
	char *buf;		/* K_RW, K_TCP_RW, K_MEMCPY */
	char err[200];
};

__attribute__((format(printf, 2, 3)))
int xfail(struct xfer *x, const char *fmt, ...);
void close_fd(int *fd);
int xfer_setup(struct xfer *x, const struct method *m, size_t size,
	       const struct source_file *sf);
void xfer_teardown(struct xfer *x);
int xfer_produce(struct xfer *x, struct consumer *c);
int drain_device(struct xfer *x, size_t len);
int produce_read_write(struct xfer *x, int out, const char *what);
int produce_devsplice(struct xfer *x);

int tcp_pair(int *send_fd, int *recv_fd, char *why, size_t whylen);
int produce_tcp_rw(struct xfer *x);
int produce_tcp_sendfile(struct xfer *x);

extern int failures;
void on_alarm(int sig);
void run_matrix(void);
int count_planned(void);

/* ------------------------------------------------------------------ */
/* reports: table, CSV, JSON (report-*.c, json-*.c), --ktap (ktap.c)   */

struct json {
	FILE *f;
	int depth;
	bool first[32];
};

void j_open(struct json *j, const char *key, char c);
void j_close(struct json *j, char c);
void j_num(struct json *j, const char *key, double v);
void j_u64(struct json *j, const char *key, uint64_t v);
void j_string(struct json *j, const char *key, const char *v);
void j_bool(struct json *j, const char *key, int v);
const char *json_check(const char *s);

void print_table(FILE *f);
void print_strategies(FILE *f);
void print_csv(FILE *f);
void print_json(FILE *f);
void json_strategies(struct json *j);
void json_summary(struct json *j);

extern int ktap_num;
void ktap_line(struct row *r, int ret);
int ktap_main(void);

/* --buffers: diskbuffer against mbuffer and pv (buffers.c) */
int buffers_main(void);

#endif /* STABLEPIPE_BENCH_H */
