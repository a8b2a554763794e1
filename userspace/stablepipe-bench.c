// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench - what stability costs: move one file to a consumer by
 * every method, on the same data, in one run
 *
 *	stablepipe-bench --dir /mnt/xfs --size 64M --reps 5 --json=out.json
 *
 * Methods (each delivers the file's bytes to a consumer thread that reads
 * the output pipe and throws them away, or checksums them with --verify):
 *
 *	rw               read(2) the file into a buffer, write(2) it to the pipe
 *	splice           splice(2) file -> pipe (zero copy, NOT stable)
 *	auto-sendfile    sendfile(2) file -> device, splice(2) device -> pipe
 *	auto-splice-64k  splice(2) file -> pipe P -> device -> pipe, P 64 KiB
 *	auto-splice-1m   ... P 1 MiB
 *	auto-splice-4m   ... P 4 MiB
 *	copy-*           the same with the instance's policy "copy"
 *	pipe-wr          write(2) + read(2) through a plain pipe (no file)
 *	dev-wr           write(2) + read(2) through the device (no file)
 *	memcpy           memcpy(3) of the same volume (no file, no consumer)
 *
 * Sources: "warm" (in the page cache, re-read before every run: stealing
 * takes pages out of it), "cold" (fsync + POSIX_FADV_DONTNEED before every
 * run), "mapped" (warm, and mapped by another process that touched every
 * page: the device must copy), and "mem" for the methods that read no file.
 *
 * For every run: wall time, CPU time of the whole process (producer and
 * consumer threads, getrusage(RUSAGE_SELF)), the page-cache residency of
 * the file before and after (mincore(2)), and for the device the
 * instance's statistics (STABLEPIPE_IOC_GET_STATS).  Reports the median of
 * the repetitions and their spread (min, max), ratios against "rw" and
 * "splice" of the same size and source, and one summary line per target
 * (see the man page).  Only ratios within one run mean anything.
 *
 * --ktap runs every method once on a few MiB with --verify and prints
 * KTAP: that every method moved the right bytes and that the JSON output
 * is well-formed.  It asserts nothing about time.
 */
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
static const char *prog = "stablepipe-bench";
static size_t page_size;

/* ------------------------------------------------------------------ */
/* methods and sources                                                 */

enum kind {
	K_RW,		/* read + write through a user buffer into the pipe */
	K_SPLICE,	/* splice file -> pipe */
	K_SENDFILE,	/* sendfile file -> device; splice device -> pipe */
	K_DEVSPLICE,	/* splice file -> pipe -> device; device -> pipe */
	K_PIPEWR,	/* write + read through a plain pipe */
	K_DEVWR,	/* write + read through the device */
	K_MEMCPY,	/* memcpy in user space */
};

struct method {
	const char *name;
	enum kind kind;
	int policy;		/* STABLEPIPE_POLICY_*, or -1: no device */
	size_t in_pipe;		/* K_DEVSPLICE: the pipe file -> device */
	const char *path;	/* for people */
};

static const struct method methods[] = {
	{ "rw", K_RW, -1, 0, "read(file) -> buffer -> write(pipe)" },
	{ "splice", K_SPLICE, -1, 0, "splice(file -> pipe), not stable" },
	{ "auto-sendfile", K_SENDFILE, STABLEPIPE_POLICY_AUTO, 0,
	  "sendfile(file -> dev), splice(dev -> pipe)" },
	{ "auto-splice-64k", K_DEVSPLICE, STABLEPIPE_POLICY_AUTO, 64 * KIB,
	  "splice(file -> 64 KiB pipe -> dev -> pipe)" },
	{ "auto-splice-1m", K_DEVSPLICE, STABLEPIPE_POLICY_AUTO, MIB,
	  "splice(file -> 1 MiB pipe -> dev -> pipe)" },
	{ "auto-splice-4m", K_DEVSPLICE, STABLEPIPE_POLICY_AUTO, 4 * MIB,
	  "splice(file -> 4 MiB pipe -> dev -> pipe)" },
	{ "copy-sendfile", K_SENDFILE, STABLEPIPE_POLICY_COPY, 0,
	  "sendfile(file -> dev), splice(dev -> pipe); policy copy" },
	{ "copy-splice-64k", K_DEVSPLICE, STABLEPIPE_POLICY_COPY, 64 * KIB,
	  "splice(file -> 64 KiB pipe -> dev -> pipe); policy copy" },
	{ "copy-splice-1m", K_DEVSPLICE, STABLEPIPE_POLICY_COPY, MIB,
	  "splice(file -> 1 MiB pipe -> dev -> pipe); policy copy" },
	{ "copy-splice-4m", K_DEVSPLICE, STABLEPIPE_POLICY_COPY, 4 * MIB,
	  "splice(file -> 4 MiB pipe -> dev -> pipe); policy copy" },
	{ "pipe-wr", K_PIPEWR, -1, 0, "write(pipe) + read(pipe)" },
	{ "dev-wr", K_DEVWR, STABLEPIPE_POLICY_AUTO, 0,
	  "write(dev) + read(dev)" },
	{ "memcpy", K_MEMCPY, -1, 0, "memcpy(buffer -> buffer)" },
};
#define NMETHODS	(int)(sizeof(methods) / sizeof(methods[0]))

enum source { SRC_WARM, SRC_COLD, SRC_MAPPED, SRC_MEM, NSOURCES };
static const char *const source_names[NSOURCES] = {
	"warm", "cold", "mapped", "mem"
};

static bool reads_file(const struct method *m)
{
	return m->kind <= K_DEVSPLICE;
}

static bool uses_device(const struct method *m)
{
	return m->policy >= 0;
}

static int method_index(const char *name)
{
	for (int i = 0; i < NMETHODS; i++)
		if (!strcmp(methods[i].name, name))
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* configuration and results                                           */

struct cfg {
	const char *dir;
	size_t sizes[MAX_SIZES];
	int nsizes;
	int reps;
	bool use_method[NMETHODS];
	bool use_source[NSOURCES];
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
};

struct run {
	int rep;			/* which repetition */
	double secs, user, sys;
	double prep_secs;		/* preparing the source, not timed */
	double resident_before;		/* fraction of the file's pages */
	double resident_after;		/* -1: not measured */
	uint64_t bytes;			/* what the consumer got */
	int verified;			/* -1 not checked, 0 bad, 1 good */
	bool have_stats;
	struct stablepipe_stats st;
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
	double med_user_gib, med_sys_gib;
	double ratio_rw, ratio_splice;	/* NAN when not known */
	struct stablepipe_stats tot;	/* summed over the runs */
	bool have_stats;
};

static struct row *rows;
static int nrows, rows_cap;

struct summary {
	int target;
	size_t size;
	int met;		/* 1, 0, -1 not applicable */
	char text[600];
};

static struct summary *sums;
static int nsums, sums_cap;

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

static struct env env;
static struct cfg cfg;

/* ------------------------------------------------------------------ */
/* helpers                                                             */

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(cfg.ktap ? KSFT_FAIL : 1);
}

__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
	va_list ap;

	if (cfg.quiet)
		return;
	va_start(ap, fmt);
	if (cfg.ktap) {
		char buf[512];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		printf("# %s\n", buf);
		fflush(stdout);
	} else {
		fprintf(stderr, "%s: ", prog);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void *xaligned(size_t n)
{
	void *p;

	if (posix_memalign(&p, page_size, n))
		die("out of memory (%zu bytes)", n);
	memset(p, 0, n);	/* fault it in now, not while timing */
	return p;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv_secs(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* "64M", "1g", "4096", "512k": bytes, or 0 on a bad size. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case '\0': break;
	default: return 0;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return 0;
	return (size_t)v;
}

/* "64 MiB", "1 GiB", "12 KiB", "100 B" */
static const char *human(char *buf, size_t len, size_t v)
{
	if (v >= GIB && v % GIB == 0)
		snprintf(buf, len, "%zu GiB", v / GIB);
	else if (v >= MIB && v % MIB == 0)
		snprintf(buf, len, "%zu MiB", v / MIB);
	else if (v >= KIB && v % KIB == 0)
		snprintf(buf, len, "%zu KiB", v / KIB);
	else
		snprintf(buf, len, "%zu B", v);
	return buf;
}

/* "64M", "1G", "16K": short, for the table */
static const char *short_size(char *buf, size_t len, size_t v)
{
	if (v >= GIB && v % GIB == 0)
		snprintf(buf, len, "%zuG", v / GIB);
	else if (v >= MIB && v % MIB == 0)
		snprintf(buf, len, "%zuM", v / MIB);
	else if (v >= KIB && v % KIB == 0)
		snprintf(buf, len, "%zuK", v / KIB);
	else
		snprintf(buf, len, "%zu", v);
	return buf;
}

static ssize_t write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += n;
	}
	return done;
}

/* ------------------------------------------------------------------ */
/* data: a 1 MiB random pattern, each page stamped with its file index */

static unsigned char *pattern;

static void pattern_init(void)
{
	uint64_t x = 0x5eed5eed12345678ULL;

	pattern = xaligned(PATTERN_SIZE);
	for (size_t i = 0; i < PATTERN_SIZE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pattern + i, &x, 8);
	}
}

/*
 * The bytes [off, off + len) of the data stream, in @buf (@bufsize bytes,
 * a multiple of PATTERN_SIZE, filled with copies of the pattern): every
 * page is stamped with its page number in the stream, so that a page in
 * the wrong place, or a zeroed one, changes the checksum.  @off is a
 * multiple of the chunk, which divides PATTERN_SIZE.
 */
static const unsigned char *stream_at(unsigned char *buf, size_t bufsize,
				      uint64_t off, size_t len)
{
	unsigned char *p = buf + off % bufsize;

	for (size_t o = 0; o < len; o += page_size) {
		uint64_t stamp = ((off + o) / page_size) ^ 0xb7b7b7b700000000ULL;

		memcpy(p + o, &stamp, 8);
	}
	return p;
}

static const unsigned char *stream_chunk(uint64_t off, size_t len)
{
	return stream_at(pattern, PATTERN_SIZE, off, len);
}

/*
 * Where write(2) and memcpy(3) take the data from: as large as the
 * transfer, up to 256 MiB, so that it streams from memory like the page
 * cache does rather than from a CPU cache.
 */
#define MEMSRC_MAX	(256 * MIB)
static unsigned char *memsrc;
static size_t memsrc_size;

static void memsrc_init(size_t size)
{
	size_t want = min_sz((size + PATTERN_SIZE - 1) / PATTERN_SIZE *
			     PATTERN_SIZE, MEMSRC_MAX);

	if (memsrc_size >= want)
		return;
	free(memsrc);
	memsrc = xaligned(want);
	memsrc_size = want;
	for (size_t o = 0; o < want; o += PATTERN_SIZE)
		memcpy(memsrc + o, pattern, PATTERN_SIZE);
}

static const unsigned char *memsrc_chunk(uint64_t off, size_t len)
{
	return stream_at(memsrc, memsrc_size, off, len);
}

/* A Fletcher-like 64-bit checksum over 64-bit words: order matters. */
struct csum {
	uint64_t a, b, n;
	unsigned char tail[8];
	unsigned int nt;
};

static void csum_words(struct csum *c, const unsigned char *p, size_t nw)
{
	uint64_t a = c->a, b = c->b, w;

	for (size_t i = 0; i < nw; i++) {
		memcpy(&w, p + 8 * i, 8);
		a += w;
		b += a;
	}
	c->a = a;
	c->b = b;
}

static void csum_update(struct csum *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t nw;

	c->n += len;
	if (c->nt) {
		size_t take = min_sz(8 - c->nt, len);

		memcpy(c->tail + c->nt, p, take);
		c->nt += take;
		p += take;
		len -= take;
		if (c->nt < 8)
			return;
		csum_words(c, c->tail, 1);
		c->nt = 0;
	}
	nw = len / 8;
	csum_words(c, p, nw);
	p += nw * 8;
	len -= nw * 8;
	if (len) {
		memcpy(c->tail, p, len);
		c->nt = len;
	}
}

static uint64_t csum_final(const struct csum *c0)
{
	struct csum c = *c0;

	if (c.nt) {
		memset(c.tail + c.nt, 0, 8 - c.nt);
		csum_words(&c, c.tail, 1);
	}
	return c.a ^ (c.b * 0x9e3779b97f4a7c15ULL) ^ c.n;
}

/* ------------------------------------------------------------------ */
/* the source file                                                     */

struct source_file {
	int fd;			/* O_RDWR, unlinked */
	size_t size;
	uint64_t sum;		/* checksum of its contents */
	pid_t mapper;		/* the process that maps it, or 0 */
};

static void file_create(struct source_file *sf, size_t size)
{
	char path[PATH_MAX];
	struct csum cs = { 0 };
	size_t chunk = cfg.chunk;

	snprintf(path, sizeof(path), "%s/.stablepipe-bench.%d", cfg.dir,
		 (int)getpid());
	sf->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (sf->fd < 0)
		die("create %s: %s", path, strerror(errno));
	unlink(path);
	sf->size = size;
	sf->mapper = 0;
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = min_sz(chunk, size - off);
		const unsigned char *p = stream_chunk(off, n);

		csum_update(&cs, p, n);
		if (write_all(sf->fd, p, n) < 0)
			die("write %s: %s", cfg.dir, strerror(errno));
	}
	sf->sum = csum_final(&cs);
	if (fsync(sf->fd))
		die("fsync: %s", strerror(errno));
}

static void file_destroy(struct source_file *sf)
{
	close(sf->fd);
	sf->fd = -1;
}

/* A new open file description: fresh offset and readahead state. */
static int file_reopen(const struct source_file *sf)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", sf->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	fd = dup(sf->fd);	/* no /proc: share the description */
	if (fd >= 0)
		lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Fraction of the file's pages in the page cache (mincore), or -1. */
static double file_resident(const struct source_file *sf)
{
	size_t pages = (sf->size + page_size - 1) / page_size, in = 0;
	unsigned char *vec;
	void *m;

	m = mmap(NULL, sf->size, PROT_READ, MAP_SHARED, sf->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	vec = xmalloc(pages);
	if (mincore(m, sf->size, vec) == 0) {
		for (size_t i = 0; i < pages; i++)
			in += vec[i] & 1;
	} else {
		in = SIZE_MAX;
	}
	munmap(m, sf->size);
	free(vec);
	return in == SIZE_MAX ? -1 : (double)in / pages;
}

static int file_cool(const struct source_file *sf);

/*
 * Evict the file, then read it once: into the page cache, in the folios
 * that read-ahead makes (not those that write(2) left, which can differ:
 * on XFS before 6.6 writes make small folios and read-ahead large ones).
 */
static int file_warm(const struct source_file *sf)
{
	static char *buf;
	ssize_t n;
	off_t off = 0;

	if (file_cool(sf))
		return -1;
	if (!buf)
		buf = xaligned(MIB);
	while ((size_t)off < sf->size) {
		n = pread(sf->fd, buf, MIB, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
	}
	return 0;
}

static int file_cool(const struct source_file *sf)
{
	if (fdatasync(sf->fd))
		return -1;
	errno = posix_fadvise(sf->fd, 0, 0, POSIX_FADV_DONTNEED);
	return errno ? -1 : 0;
}

/*
 * Another process maps the file (MAP_SHARED) and touches every page, so
 * that every page of it is mapped while the methods run.
 */
static int mapper_start(struct source_file *sf)
{
	int p[2];
	char c = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		volatile unsigned char sink = 0;
		unsigned char *m;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		m = mmap(NULL, sf->size, PROT_READ, MAP_SHARED | MAP_POPULATE,
			 sf->fd, 0);
		if (m == MAP_FAILED)
			_exit(1);
		for (size_t o = 0; o < sf->size; o += page_size)
			sink += m[o];
		(void)sink;
		if (write(p[1], "1", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	while (read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (c != '1') {
		waitpid(pid, NULL, 0);
		errno = EIO;
		return -1;
	}
	sf->mapper = pid;
	return 0;
}

static void mapper_stop(struct source_file *sf)
{
	if (!sf->mapper)
		return;
	kill(sf->mapper, SIGKILL);
	waitpid(sf->mapper, NULL, 0);
	sf->mapper = 0;
}

/* ------------------------------------------------------------------ */
/* one transfer                                                        */

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

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	ssize_t n;

	for (;;) {
		if (c->splice)
			n = splice(c->fd, NULL, c->null_fd, NULL, 16 * MIB,
				   SPLICE_F_MOVE);
		else
			n = read(c->fd, c->buf, c->bufsize);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->err = errno;
			c->what = c->splice ? "consumer: splice to /dev/null" :
					      "consumer: read";
			/* the producer then gets EPIPE instead of blocking */
			close(c->fd);
			c->fd = -1;
			break;
		}
		if (n == 0)
			break;
		if (c->verify && !c->splice)
			csum_update(&c->cs, c->buf, n);
		c->bytes += n;
	}
	return NULL;
}

struct xfer {
	const struct method *m;
	size_t size;
	int src;		/* the file, or -1 */
	int outr, outw;		/* the pipe the consumer reads */
	int inr, inw;		/* K_DEVSPLICE: file -> this pipe -> device */
	int devr, devw;
	size_t capacity;
	size_t in_pipe, out_pipe;
	char *buf;		/* K_RW, K_MEMCPY */
	char err[200];
};

__attribute__((format(printf, 2, 3)))
static int xfail(struct xfer *x, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
	n = strlen(x->err);
	if (e)
		snprintf(x->err + n, sizeof(x->err) - n, ": %s", strerror(e));
	return -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Splice exactly @len bytes from the device into the output pipe. */
static int drain_device(struct xfer *x, size_t len)
{
	ssize_t n;

	while (len) {
		n = splice(x->devr, NULL, x->outw, NULL, len, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xfail(x, "splice(dev -> pipe)");
		if (n == 0) {
			errno = 0;
			return xfail(x, "splice(dev -> pipe): early end of file");
		}
		len -= n;
	}
	return 0;
}

static int produce_rw(struct xfer *x)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = read(x->src, x->buf, min_sz(cfg.chunk, x->size - moved));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "read(file)%s", n ? "" : ": early end of file");
		}
		if (write_all(x->outw, x->buf, n) < 0)
			return xfail(x, "write(pipe)");
		moved += n;
	}
	return 0;
}

static int produce_splice(struct xfer *x)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = splice(x->src, NULL, x->outw, NULL, x->size - moved,
			   SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "splice(file -> pipe)%s",
				     n ? "" : ": early end of file");
		}
		moved += n;
	}
	return 0;
}

/*
 * Fill the instance to its capacity with sendfile(2), then splice all of
 * it into the output pipe; again.  One thread, like a program with one
 * loop: the device never blocks the producer.
 */
static int produce_sendfile(struct xfer *x)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = sendfile(x->devw, x->src, NULL,
			     min_sz(x->capacity, x->size - moved));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "sendfile(file -> dev)%s",
				     n ? "" : ": early end of file");
		}
		if (drain_device(x, n))
			return -1;
		moved += n;
	}
	return 0;
}

/*
 * splice(2) the file into the pipe P (up to its size), and P into the
 * instance, until the instance is full; then splice all of it into the
 * output pipe.  The capacity is at least P's size, so that whatever P
 * holds fits at once: no buffer is split (that would be copied_partial).
 */
static int produce_devsplice(struct xfer *x)
{
	size_t moved = 0, held = 0, got, left;
	ssize_t n;

	while (moved < x->size) {
		left = x->size - moved - held;
		if (left && x->capacity - held >= min_sz(x->in_pipe, left)) {
			n = splice(x->src, NULL, x->inw, NULL,
				   min_sz(x->in_pipe, left), SPLICE_F_MOVE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (!n)
					errno = 0;
				return xfail(x, "splice(file -> pipe)%s",
					     n ? "" : ": early end of file");
			}
			for (got = 0; got < (size_t)n;) {
				ssize_t k = splice(x->inr, NULL, x->devw, NULL,
						   n - got, SPLICE_F_MOVE);

				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0) {
					if (!k)
						errno = 0;
					return xfail(x, "splice(pipe -> dev)%s",
						     k ? "" : ": moved nothing");
				}
				got += k;
			}
			held += n;
			continue;
		}
		if (drain_device(x, held))
			return -1;
		moved += held;
		held = 0;
	}
	return 0;
}

static int produce_write(struct xfer *x, int fd, const char *what)
{
	for (uint64_t off = 0; off < x->size; off += cfg.chunk) {
		size_t n = min_sz(cfg.chunk, x->size - off);

		if (write_all(fd, memsrc_chunk(off, n), n) < 0)
			return xfail(x, "write(%s)", what);
	}
	return 0;
}

static int produce_memcpy(struct xfer *x, struct consumer *c)
{
	for (uint64_t off = 0; off < x->size; off += cfg.chunk) {
		size_t n = min_sz(cfg.chunk, x->size - off);

		memcpy(x->buf, memsrc_chunk(off, n), n);
		/* the copy must happen: the compiler cannot see it read */
		__asm__ __volatile__("" : : "r"(x->buf) : "memory");
		if (c->verify)
			csum_update(&c->cs, x->buf, n);
		c->bytes += n;
	}
	return 0;
}

/* F_SETPIPE_SZ to at least @size; the size set, or 0 (errno set). */
static size_t pipe_resize(int fd, size_t size)
{
	int r = fcntl(fd, F_SETPIPE_SZ, (int)size);

	if (r < 0)
		return 0;
	if ((size_t)r < size) {
		errno = ENOSPC;
		return 0;
	}
	return r;
}

static int make_pipe(int *r, int *w, size_t size, size_t *got, char *why,
		     size_t whylen)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe2: %s", strerror(errno));
		return -1;
	}
	*got = pipe_resize(p[0], size);
	if (!*got) {
		snprintf(why, whylen, "F_SETPIPE_SZ %zu: %s%s", size,
			 strerror(errno), errno == EPERM ?
			 " (above /proc/sys/fs/pipe-max-size: run as root)" : "");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	*r = p[0];
	*w = p[1];
	return 0;
}

/*
 * Set up the descriptors for @m.  Returns 0, or 1 when the method cannot
 * run here (x->err says why: a skip), or -1 on an error.
 */
static int xfer_setup(struct xfer *x, const struct method *m, size_t size,
		      const struct source_file *sf)
{
	int fds[2];
	uint32_t pol;
	uint64_t cap;

	memset(x, 0, sizeof(*x));
	x->m = m;
	x->size = size;
	x->src = x->outr = x->outw = x->inr = x->inw = x->devr = x->devw = -1;
	if (uses_device(m) && !env.have_dev) {
		snprintf(x->err, sizeof(x->err), "%s", env.dev_why);
		return 1;
	}
	if (m->kind == K_RW || m->kind == K_MEMCPY)
		x->buf = xaligned(cfg.chunk);
	if (!reads_file(m))
		memsrc_init(size);
	if (m->kind == K_DEVSPLICE &&
	    make_pipe(&x->inr, &x->inw, m->in_pipe, &x->in_pipe, x->err,
		      sizeof(x->err)))
		return 1;
	if (m->kind != K_DEVWR && m->kind != K_MEMCPY &&
	    make_pipe(&x->outr, &x->outw, cfg.out_pipe, &x->out_pipe, x->err,
		      sizeof(x->err)))
		return 1;
	if (uses_device(m)) {
		if (stablepipe2(fds, O_CLOEXEC))
			return xfail(x, "open %s", STABLEPIPE_DEV);
		x->devr = fds[0];
		x->devw = fds[1];
		pol = m->policy;
		if (ioctl(x->devw, STABLEPIPE_IOC_SET_POLICY, &pol))
			return xfail(x, "STABLEPIPE_IOC_SET_POLICY");
		cap = cfg.capacity ? cfg.capacity : max_sz(DEFAULT_CAP, x->in_pipe);
		if (ioctl(x->devw, STABLEPIPE_IOC_SET_CAPACITY, &cap))
			return xfail(x, "STABLEPIPE_IOC_SET_CAPACITY %" PRIu64, cap);
		if (ioctl(x->devw, STABLEPIPE_IOC_GET_CAPACITY, &cap))
			return xfail(x, "STABLEPIPE_IOC_GET_CAPACITY");
		x->capacity = cap;
		if (m->kind == K_DEVSPLICE && cap < x->in_pipe) {
			errno = 0;
			return xfail(x, "capacity %" PRIu64 " below the pipe's %zu",
				     cap, x->in_pipe);
		}
	}
	if (reads_file(m)) {
		x->src = file_reopen(sf);
		if (x->src < 0)
			return xfail(x, "reopen the file");
	}
	return 0;
}

static void xfer_teardown(struct xfer *x)
{
	close_fd(&x->src);
	close_fd(&x->outr);
	close_fd(&x->outw);
	close_fd(&x->inr);
	close_fd(&x->inw);
	close_fd(&x->devr);
	close_fd(&x->devw);
	free(x->buf);
	x->buf = NULL;
}

static struct row *row_get(size_t size, int source, int method)
{
	struct row *r;

	for (int i = 0; i < nrows; i++)
		if (rows[i].size == size && rows[i].source == source &&
		    rows[i].method == method)
			return &rows[i];
	if (nrows == rows_cap) {
		rows_cap = rows_cap ? 2 * rows_cap : 64;
		rows = realloc(rows, rows_cap * sizeof(*rows));
		if (!rows)
			die("out of memory");
	}
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->source = source;
	r->method = method;
	r->ratio_rw = r->ratio_splice = NAN;
	return r;
}

static volatile sig_atomic_t alarm_fired;
static const char *volatile running_what;

static void on_alarm(int sig)
{
	static const char msg[] = "a transfer took longer than --timeout: ";
	const char *w = running_what ? running_what : "?";
	int fd = cfg.ktap ? 1 : 2;

	(void)sig;
	alarm_fired = 1;
	if ((cfg.ktap && write(fd, "Bail out! ", 10) < 0) ||
	    write(fd, msg, sizeof(msg) - 1) < 0 ||
	    write(fd, w, strlen(w)) < 0 || write(fd, "\n", 1) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

/*
 * One run of @m on @sf (or on memory).  Records it in @r, or sets
 * r->skip / r->error.  Returns 0, 1 (skipped) or -1 (failed).
 */
static int run_one(struct row *r, const struct method *m,
		   struct source_file *sf, int source, int rep)
{
	struct consumer c = { .fd = -1, .null_fd = -1 };
	struct rusage ru0, ru1;
	struct run *run = &r->runs[r->nruns];
	struct xfer x;
	char what[128];
	double t0, t1, p0;
	int ret, e;

	memset(run, 0, sizeof(*run));
	run->rep = rep;
	run->verified = -1;
	run->resident_before = run->resident_after = -1;
	snprintf(what, sizeof(what), "%s %s", source_names[source], m->name);
	running_what = what;

	/* the source, as the source kind says: not timed */
	p0 = now();
	if (reads_file(m)) {
		if ((source == SRC_WARM && file_warm(sf)) ||
		    (source == SRC_COLD && file_cool(sf))) {
			snprintf(r->error, sizeof(r->error),
				 "preparing the %s source: %s",
				 source_names[source], strerror(errno));
			return -1;
		}
		run->resident_before = file_resident(sf);
	}
	run->prep_secs = now() - p0;

	ret = xfer_setup(&x, m, sf ? sf->size : r->size, sf);
	if (ret) {
		if (ret > 0)
			snprintf(r->skip, sizeof(r->skip), "%s", x.err);
		else
			snprintf(r->error, sizeof(r->error), "%s", x.err);
		xfer_teardown(&x);
		return ret > 0 ? 1 : -1;
	}
	r->in_pipe = x.in_pipe;
	r->out_pipe = x.out_pipe;
	r->capacity = x.capacity;

	c.verify = cfg.verify;
	c.bufsize = cfg.chunk;
	if (m->kind != K_MEMCPY) {
		c.fd = m->kind == K_DEVWR ? x.devr : x.outr;
		/* the consumer's end now belongs to the consumer */
		if (m->kind == K_DEVWR)
			x.devr = -1;
		else
			x.outr = -1;
		c.splice = cfg.consumer_splice && m->kind != K_DEVWR &&
			   m->kind != K_PIPEWR;
		if (c.splice) {
			c.null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (c.null_fd < 0) {
				snprintf(r->error, sizeof(r->error),
					 "open /dev/null: %s", strerror(errno));
				close(c.fd);
				xfer_teardown(&x);
				return -1;
			}
		} else {
			c.buf = xaligned(c.bufsize);
		}
	}

	if (cfg.timeout)
		alarm(cfg.timeout);
	if (m->kind != K_MEMCPY) {
		e = pthread_create(&c.thread, NULL, consumer_main, &c);
		if (e) {
			snprintf(r->error, sizeof(r->error),
				 "pthread_create: %s", strerror(e));
			close(c.fd);
			xfer_teardown(&x);
			return -1;
		}
	}
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now();
	switch (m->kind) {
	case K_RW:
		ret = produce_rw(&x);
		break;
	case K_SPLICE:
		ret = produce_splice(&x);
		break;
	case K_SENDFILE:
		ret = produce_sendfile(&x);
		break;
	case K_DEVSPLICE:
		ret = produce_devsplice(&x);
		break;
	case K_PIPEWR:
		ret = produce_write(&x, x.outw, "pipe");
		break;
	case K_DEVWR:
		ret = produce_write(&x, x.devw, "dev");
		break;
	case K_MEMCPY:
		ret = produce_memcpy(&x, &c);
		break;
	}
	/* end of file for the consumer */
	if (m->kind == K_DEVWR)
		close_fd(&x.devw);
	else
		close_fd(&x.outw);
	if (m->kind != K_MEMCPY)
		pthread_join(c.thread, NULL);
	t1 = now();
	getrusage(RUSAGE_SELF, &ru1);
	alarm(0);
	running_what = NULL;

	if (uses_device(m)) {
		int fd = x.devw >= 0 ? x.devw : x.devr >= 0 ? x.devr : c.fd;

		run->st.size = sizeof(run->st);
		if (fd >= 0 && ioctl(fd, STABLEPIPE_IOC_GET_STATS, &run->st) == 0)
			run->have_stats = true;
	}
	if (c.fd >= 0)
		close(c.fd);
	if (c.null_fd >= 0)
		close(c.null_fd);
	free(c.buf);
	if (reads_file(m))
		run->resident_after = file_resident(sf);

	if (ret == 0 && c.err) {
		errno = c.err;
		xfail(&x, "%s", c.what);
		ret = -1;
	}
	if (ret) {
		snprintf(r->error, sizeof(r->error), "%s", x.err);
		xfer_teardown(&x);
		return -1;
	}
	xfer_teardown(&x);
	run->secs = t1 - t0;
	run->user = tv_secs(ru1.ru_utime) - tv_secs(ru0.ru_utime);
	run->sys = tv_secs(ru1.ru_stime) - tv_secs(ru0.ru_stime);
	run->bytes = c.bytes;
	if (c.bytes != r->size) {
		snprintf(r->error, sizeof(r->error),
			 "the consumer got %" PRIu64 " bytes of %zu", c.bytes,
			 r->size);
		return -1;
	}
	if (cfg.verify && !c.splice) {
		uint64_t want;

		if (sf) {
			want = sf->sum;
		} else {
			struct csum cs = { 0 };

			for (uint64_t off = 0; off < r->size; off += cfg.chunk) {
				size_t n = min_sz(cfg.chunk, r->size - off);

				csum_update(&cs, stream_chunk(off, n), n);
			}
			want = csum_final(&cs);
		}
		run->verified = csum_final(&c.cs) == want;
		if (!run->verified) {
			snprintf(r->error, sizeof(r->error),
				 "the consumer's data differ from the source (checksum %016" PRIx64 ", want %016" PRIx64 ")",
				 csum_final(&c.cs), want);
			r->nruns++;
			return -1;
		}
	}
	r->nruns++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* statistics of the runs                                              */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
#define F(n) { #n, offsetof(struct stablepipe_stats, n) }
	F(pages_stolen), F(pages_copied), F(copied_user), F(copied_policy),
	F(copied_mapped), F(copied_pinned), F(copied_dirty),
	F(copied_writeback), F(copied_large_folio), F(copied_busy),
	F(copied_not_stealable), F(copied_partial), F(copied_small),
	F(bytes_in_write), F(bytes_in_splice), F(bytes_in_sendfile),
	F(bytes_out_read), F(bytes_out_splice), F(bytes_buffered),
	F(capacity),
#undef F
};
#define NSTATS		(int)(sizeof(stat_fields) / sizeof(stat_fields[0]))
#define FIRST_REASON	2	/* copied_user */
#define LAST_REASON	12	/* copied_small */

static uint64_t stat_get(const struct stablepipe_stats *st, int i)
{
	uint64_t v;

	if (stat_fields[i].off + sizeof(v) > st->size)
		return 0;
	memcpy(&v, (const char *)st + stat_fields[i].off, sizeof(v));
	return v;
}

static void stat_add(struct stablepipe_stats *t, const struct stablepipe_stats *s)
{
	for (int i = 0; i < NSTATS; i++) {
		uint64_t v;

		memcpy(&v, (char *)t + stat_fields[i].off, sizeof(v));
		v += stat_get(s, i);
		memcpy((char *)t + stat_fields[i].off, &v, sizeof(v));
	}
}

/* pages that were clean, unmapped, unpinned page cache (target 2) */
static uint64_t eligible_pages(const struct stablepipe_stats *t)
{
	uint64_t all = t->pages_stolen + t->pages_copied;
	uint64_t not = t->copied_user + t->copied_policy + t->copied_mapped +
		       t->copied_pinned + t->copied_dirty + t->copied_writeback;

	return all > not ? all - not : 0;
}

static struct row *row_find(size_t size, int source, const char *method)
{
	int mi = method_index(method);

	for (int i = 0; i < nrows; i++)
		if (rows[i].size == size && rows[i].source == source &&
		    rows[i].method == mi && rows[i].nruns && !rows[i].error[0])
			return &rows[i];
	return NULL;
}

/*
 * How much faster @r is than @base: the median over the repetitions of
 * the ratio within each repetition (the methods of one repetition run
 * close together in time, so a drift of the machine cancels out).
 */
static double paired_ratio(const struct row *r, const struct row *base)
{
	double q[MAX_REPS];
	int n = 0;

	if (!r || !base || r->error[0])
		return NAN;
	for (int i = 0; i < r->nruns; i++)
		for (int k = 0; k < base->nruns; k++)
			if (base->runs[k].rep == r->runs[i].rep &&
			    r->runs[i].secs > 0)
				q[n++] = base->runs[k].secs / r->runs[i].secs;
	return median(q, n);
}

static void aggregate(void)
{
	double v[MAX_REPS], u[MAX_REPS], s[MAX_REPS], t[MAX_REPS];

	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];

		memset(&r->tot, 0, sizeof(r->tot));
		r->tot.size = sizeof(r->tot);
		r->have_stats = false;
		r->min_mibs = INFINITY;
		r->max_mibs = 0;
		for (int k = 0; k < r->nruns; k++) {
			const struct run *run = &r->runs[k];
			double gib = (double)r->size / GIB;

			v[k] = run->secs > 0 ? r->size / run->secs / MIB : NAN;
			u[k] = run->user / gib;
			s[k] = run->sys / gib;
			t[k] = run->secs;
			if (v[k] < r->min_mibs)
				r->min_mibs = v[k];
			if (v[k] > r->max_mibs)
				r->max_mibs = v[k];
			if (run->have_stats) {
				stat_add(&r->tot, &run->st);
				r->have_stats = true;
			}
		}
		r->med_mibs = median(v, r->nruns);
		r->med_user_gib = median(u, r->nruns);
		r->med_sys_gib = median(s, r->nruns);
		r->med_secs = median(t, r->nruns);
		if (!r->nruns)
			r->min_mibs = r->max_mibs = NAN;
	}
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		/* memory methods compare with the warm file */
		int src = r->source == SRC_MEM ? SRC_WARM : r->source;
		struct row *rw = row_find(r->size, src, "rw");
		struct row *sp = row_find(r->size, src, "splice");

		r->ratio_rw = paired_ratio(r, rw);
		r->ratio_splice = paired_ratio(r, sp);
	}
}

/* ------------------------------------------------------------------ */
/* summary lines: one per target                                       */

__attribute__((format(printf, 4, 5)))
static void add_summary(int target, size_t size, int met, const char *fmt, ...)
{
	va_list ap;
	struct summary *s;

	if (nsums == sums_cap) {
		sums_cap = sums_cap ? 2 * sums_cap : 16;
		sums = realloc(sums, sums_cap * sizeof(*sums));
		if (!sums)
			die("out of memory");
	}
	s = &sums[nsums++];
	s->target = target;
	s->size = size;
	s->met = met;
	va_start(ap, fmt);
	vsnprintf(s->text, sizeof(s->text), fmt, ap);
	va_end(ap);
}

static const char *verdict(int met)
{
	return met > 0 ? "MET" : met == 0 ? "NOT MET" : "n/a";
}

/* The copy reasons of @t, largest first: "large_folio 93%, busy 1%". */
static const char *reasons(char *buf, size_t len, const struct stablepipe_stats *t,
			   int max)
{
	uint64_t all = t->pages_stolen + t->pages_copied;
	bool used[LAST_REASON + 1] = { false };
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < max; k++) {
		int best = -1;
		uint64_t bv = 0;

		for (int i = FIRST_REASON; i <= LAST_REASON; i++) {
			uint64_t v = stat_get(t, i);

			if (!used[i] && v > bv) {
				best = i;
				bv = v;
			}
		}
		if (best < 0 || !all)
			break;
		used[best] = true;
		n += snprintf(buf + n, len > n ? len - n : 0, "%s%s %.0f%%",
			      k ? ", " : "", stat_fields[best].name + 7,
			      100.0 * bv / all);
	}
	if (!buf[0])
		snprintf(buf, len, "-");
	return buf;
}

static void summarize_size(size_t size)
{
	static const char *const autos[] = {
		"auto-sendfile", "auto-splice-64k", "auto-splice-1m",
		"auto-splice-4m",
	};
	char sz[32], rs[160];
	struct row *rw, *sp, *r;
	int have_cold = 0;

	human(sz, sizeof(sz), size);

	/* 1: stable transfer, warm: >= 1.5x rw and >= 0.8x splice */
	rw = row_find(size, SRC_WARM, "rw");
	sp = row_find(size, SRC_WARM, "splice");
	if (rw && sp) {
		char text[600], who[200] = "";
		size_t n = 0, w = 0;
		int met = -1;

		n += snprintf(text + n, sizeof(text) - n,
			      "target 1, stable transfer (warm, %s):", sz);
		for (size_t i = 0; i < sizeof(autos) / sizeof(autos[0]); i++) {
			r = row_find(size, SRC_WARM, autos[i]);
			if (!r)
				continue;
			n += snprintf(text + n, sizeof(text) - n,
				      " %s %.3fx rw %.3fx splice;", autos[i],
				      r->ratio_rw, r->ratio_splice);
			if (r->ratio_rw >= 1.5 && r->ratio_splice >= 0.8) {
				w += snprintf(who + w, sizeof(who) - w, "%s%s",
					      w ? ", " : "", autos[i]);
				met = 1;
			} else if (met < 0) {
				met = 0;
			}
		}
		if (met >= 0) {
			text[--n] = '\0';	/* the last ';' */
			add_summary(1, size, met, "%s: %s%s%s (needs >= 1.50x rw and >= 0.80x splice)",
				    text, verdict(met), met > 0 ? " by " : "", who);
		}
	}

	/* 2: steal rate, cold, pipe >= 1 MiB; and what sendfile reaches */
	for (int i = 0; i < nrows; i++)
		if (rows[i].size == size && rows[i].source == SRC_COLD)
			have_cold = 1;
	for (int i = 0; i < 3 && have_cold; i++) {
		static const char *const names[] = {
			"auto-splice-1m", "auto-splice-4m", "auto-sendfile"
		};

		r = row_find(size, SRC_COLD, names[i]);
		if (r && r->have_stats)
			have_cold = 2;
	}
	if (have_cold == 2) {
		static const char *const big[] = {
			"auto-splice-1m", "auto-splice-4m", "auto-sendfile"
		};
		char text[600];
		size_t n = 0;
		int met = -1;

		n += snprintf(text + n, sizeof(text) - n,
			      "target 2, steal rate of clean unmapped pages (cold, %s):",
			      sz);
		for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
			uint64_t el;
			double rate;

			r = row_find(size, SRC_COLD, big[i]);
			if (!r || !r->have_stats)
				continue;
			el = eligible_pages(&r->tot);
			if (!el) {
				n += snprintf(text + n, sizeof(text) - n,
					      " %s no eligible pages (%s);",
					      big[i], reasons(rs, sizeof(rs), &r->tot, 2));
				continue;
			}
			rate = (double)r->tot.pages_stolen / el;
			n += snprintf(text + n, sizeof(text) - n,
				      " %s %.1f%% (copied: %s);", big[i],
				      100 * rate, reasons(rs, sizeof(rs), &r->tot, 3));
			if (i < 2)
				met = (met != 0) && rate >= 0.95;
		}
		if (n && text[n - 1] == ';')
			text[--n] = '\0';
		snprintf(text + n, sizeof(text) - n,
			 ": %s (pipe >= 1 MiB needs >= 95%%; sendfile reported)",
			 verdict(met));
		add_summary(2, size, met, "%s", text);
	}

	/* not a target: what stealing gains over copying, per source */
	for (int src = SRC_WARM; src < SRC_MEM; src++) {
		static const char *const pairs[][2] = {
			{ "auto-sendfile", "copy-sendfile" },
			{ "auto-splice-64k", "copy-splice-64k" },
			{ "auto-splice-1m", "copy-splice-1m" },
			{ "auto-splice-4m", "copy-splice-4m" },
		};
		char text[600];
		size_t n = 0;
		int any = 0;

		n += snprintf(text, sizeof(text), "steal vs copy (%s, %s):",
			      source_names[src], sz);
		for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
			struct row *a = row_find(size, src, pairs[i][0]);
			struct row *c = row_find(size, src, pairs[i][1]);
			uint64_t all;

			if (!a || !c || !a->have_stats)
				continue;
			all = a->tot.pages_stolen + a->tot.pages_copied;
			n += snprintf(text + n, sizeof(text) - n,
				      " %s %.2fx %s (%.0f%% stolen);", pairs[i][0],
				      paired_ratio(a, c), pairs[i][1],
				      all ? 100.0 * a->tot.pages_stolen / all : 0.0);
			any = 1;
		}
		if (any) {
			text[--n] = '\0';
			add_summary(0, size, -1, "%s", text);
		}
	}

	/* 3: write+read through the device >= 0.9x a plain pipe */
	{
		struct row *pw = row_find(size, SRC_MEM, "pipe-wr");
		struct row *dw = row_find(size, SRC_MEM, "dev-wr");

		if (pw && dw) {
			double q = paired_ratio(dw, pw);
			int met = q >= 0.9;

			add_summary(3, size, met,
				    "target 3, write+read through the device (%s): %.3fx a plain pipe: %s (needs >= 0.90x)",
				    sz, q, verdict(met));
		}
	}
}

/*
 * Target 4: time = fixed + per_byte * bytes, fitted by least squares on
 * the relative error (each size weighs the same); linear when every size
 * is within 25% of the line, for wall time and for CPU time.
 */
struct fit {
	double a, b, worst;
	size_t worst_size;
};

static void fit_line(const double *x, const double *y, int n, struct fit *f)
{
	double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, d;

	for (int i = 0; i < n; i++) {
		double w = 1 / (y[i] * y[i]);

		sw += w;
		sx += w * x[i];
		sy += w * y[i];
		sxx += w * x[i] * x[i];
		sxy += w * x[i] * y[i];
	}
	d = sw * sxx - sx * sx;
	f->b = d ? (sw * sxy - sx * sy) / d : 0;
	f->a = d ? (sy - f->b * sx) / sw : 0;
	f->worst = 0;
	for (int i = 0; i < n; i++) {
		double pred = f->a + f->b * x[i];
		double dev = pred > 0 ? (y[i] > pred ? y[i] - pred : pred - y[i]) / pred : INFINITY;

		if (dev > f->worst) {
			f->worst = dev;
			f->worst_size = (size_t)x[i];
		}
	}
}

static void summarize_linearity(void)
{
	for (int mi = 0; mi < NMETHODS; mi++) {
		for (int src = 0; src < NSOURCES; src++) {
			double x[MAX_SIZES], wall[MAX_SIZES], cpu[MAX_SIZES];
			char lo[32], hi[32], ws[32], wc[32], per[400];
			struct fit fw, fc;
			size_t np = 0;
			int n = 0, met;

			for (int s = 0; s < cfg.nsizes; s++) {
				struct row *r = row_find(cfg.sizes[s], src,
							 methods[mi].name);
				double u[MAX_REPS];

				if (!r)
					continue;
				/* the fastest run: what noise never adds to */
				wall[n] = cpu[n] = INFINITY;
				for (int k = 0; k < r->nruns; k++) {
					u[k] = r->runs[k].user + r->runs[k].sys;
					if (r->runs[k].secs < wall[n])
						wall[n] = r->runs[k].secs;
					if (u[k] < cpu[n])
						cpu[n] = u[k];
				}
				x[n] = r->size;
				if (cpu[n] <= 0)
					cpu[n] = 1e-6;
				np += snprintf(per + np, sizeof(per) > np ? sizeof(per) - np : 0,
					       "%s%s %.3g", n ? ", " : "",
					       short_size(lo, sizeof(lo), r->size),
					       wall[n] / r->size * GIB);
				n++;
			}
			if (n < 3)
				continue;
			fit_line(x, wall, n, &fw);
			fit_line(x, cpu, n, &fc);
			met = fw.worst <= 0.25 && fc.worst <= 0.25;
			add_summary(4, 0, met,
				    "target 4, linearity %s (%s, %s..%s, fastest of the runs): %.3g s/GiB + %.3g ms, worst %.0f%% off the line at %s (cpu %.3g s/GiB + %.3g ms, worst %.0f%% at %s); s/GiB by size: %s: %s (needs every size within 25%%)",
				    methods[mi].name, source_names[src],
				    human(lo, sizeof(lo), (size_t)x[0]),
				    human(hi, sizeof(hi), (size_t)x[n - 1]),
				    fw.b * GIB, fw.a * 1e3, 100 * fw.worst,
				    short_size(ws, sizeof(ws), fw.worst_size),
				    fc.b * GIB, fc.a * 1e3, 100 * fc.worst,
				    short_size(wc, sizeof(wc), fc.worst_size),
				    per, verdict(met));
		}
	}
}

static void summarize(void)
{
	nsums = 0;
	for (int s = 0; s < cfg.nsizes; s++)
		summarize_size(cfg.sizes[s]);
	summarize_linearity();
}

/* ------------------------------------------------------------------ */
/* output: table, CSV, JSON                                            */

static void print_header(FILE *f)
{
	char ch[32], op[32];

	fprintf(f, "stablepipe-bench %s: kernel %s, %s (%s), %d rep%s, chunk %s, output pipe %s, consumer %s%s\n",
		VERSION, env.kernel, env.fs, env.dir, cfg.reps,
		cfg.reps == 1 ? "" : "s", human(ch, sizeof(ch), cfg.chunk),
		human(op, sizeof(op), cfg.out_pipe),
		cfg.consumer_splice ? "splice to /dev/null" : "read",
		cfg.verify ? ", verified" : "");
}

static void print_table(FILE *f)
{
	char sz[16], rs[200], mm[48], rr[16], rsp[16], st[16];

	print_header(f);
	fprintf(f, "%-5s %-6s %-15s %9s %-19s %6s %8s %6s %6s %7s  %s\n",
		"size", "source", "method", "MiB/s", "(min-max)", "x rw",
		"x splice", "usr/G", "sys/G", "stolen", "copied (reasons, % of pages)");
	for (int s = 0; s < cfg.nsizes; s++) {
		for (int src = 0; src < NSOURCES; src++) {
			for (int mi = 0; mi < NMETHODS; mi++) {
				struct row *r = NULL;

				for (int i = 0; i < nrows; i++)
					if (rows[i].size == cfg.sizes[s] &&
					    rows[i].source == src &&
					    rows[i].method == mi)
						r = &rows[i];
				if (!r)
					continue;
				short_size(sz, sizeof(sz), r->size);
				if (r->skip[0] || r->error[0] || !r->nruns) {
					fprintf(f, "%-5s %-6s %-15s %s: %s\n", sz,
						source_names[src], methods[mi].name,
						r->error[0] ? "ERROR" : "skipped",
						r->error[0] ? r->error : r->skip);
					continue;
				}
				snprintf(mm, sizeof(mm), "(%.1f-%.1f)",
					 r->min_mibs, r->max_mibs);
				snprintf(rr, sizeof(rr), isnan(r->ratio_rw) ? "-" : "%.2f",
					 r->ratio_rw);
				snprintf(rsp, sizeof(rsp),
					 isnan(r->ratio_splice) ? "-" : "%.2f",
					 r->ratio_splice);
				if (r->have_stats) {
					uint64_t all = r->tot.pages_stolen +
						       r->tot.pages_copied;

					snprintf(st, sizeof(st), "%.1f%%", all ?
						 100.0 * r->tot.pages_stolen / all : 0.0);
					reasons(rs, sizeof(rs), &r->tot, 3);
				} else {
					snprintf(st, sizeof(st), "-");
					snprintf(rs, sizeof(rs), "-");
				}
				fprintf(f, "%-5s %-6s %-15s %9.1f %-19s %6s %8s %6.3f %6.3f %7s  %s\n",
					sz, source_names[src], methods[mi].name,
					r->med_mibs, mm, rr, rsp, r->med_user_gib,
					r->med_sys_gib, st, rs);
			}
		}
	}
	fprintf(f, "MiB/s: median of the runs (min-max); x rw, x splice: against those rows of the same size and source (mem rows: the warm ones); usr/G, sys/G: CPU seconds per GiB of the whole process; stolen: pages the device stole, of all it took in\n");
	for (int i = 0; i < nsums; i++)
		fprintf(f, "%s: %s\n", env.fs, sums[i].text);
}

static void csv_field(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, ",%.6g", v);
	else
		fputc(',', f);
}

static void print_csv(FILE *f)
{
	fprintf(f, "fs,size,source,method,mib_s,mib_s_min,mib_s_max,ratio_rw,ratio_splice,user_s_per_gib,sys_s_per_gib,pages_stolen,pages_copied,steal_rate,status\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		uint64_t all = r->tot.pages_stolen + r->tot.pages_copied;
		bool ok = r->nruns && !r->error[0] && !r->skip[0];

		fprintf(f, "%s,%zu,%s,%s", env.fs, r->size,
			source_names[r->source], methods[r->method].name);
		csv_field(f, ok ? r->med_mibs : NAN);
		csv_field(f, ok ? r->min_mibs : NAN);
		csv_field(f, ok ? r->max_mibs : NAN);
		csv_field(f, ok ? r->ratio_rw : NAN);
		csv_field(f, ok ? r->ratio_splice : NAN);
		csv_field(f, ok ? r->med_user_gib : NAN);
		csv_field(f, ok ? r->med_sys_gib : NAN);
		if (r->have_stats)
			fprintf(f, ",%" PRIu64 ",%" PRIu64, (uint64_t)r->tot.pages_stolen,
				(uint64_t)r->tot.pages_copied);
		else
			fputs(",,", f);
		csv_field(f, r->have_stats && all ? (double)r->tot.pages_stolen / all : NAN);
		fprintf(f, ",%s\n", r->error[0] ? "error" : r->skip[0] ? "skipped" : "ok");
	}
}

/* a small JSON writer: commas and nesting are its business */
struct json {
	FILE *f;
	int depth;
	bool first[32];
};

static void j_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void j_sep(struct json *j, const char *key)
{
	if (j->depth) {
		if (!j->first[j->depth])
			fputc(',', j->f);
		j->first[j->depth] = false;
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (key) {
		j_str(j->f, key);
		fputs(": ", j->f);
	}
}

static void j_open(struct json *j, const char *key, char c)
{
	j_sep(j, key);
	fputc(c, j->f);
	j->first[++j->depth] = true;
}

static void j_close(struct json *j, char c)
{
	bool empty = j->first[j->depth];

	j->depth--;
	if (!empty) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	fputc(c, j->f);
	if (!j->depth)
		fputc('\n', j->f);
}

static void j_num(struct json *j, const char *key, double v)
{
	j_sep(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

static void j_u64(struct json *j, const char *key, uint64_t v)
{
	j_sep(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

static void j_string(struct json *j, const char *key, const char *v)
{
	j_sep(j, key);
	if (v)
		j_str(j->f, v);
	else
		fputs("null", j->f);
}

static void j_bool(struct json *j, const char *key, int v)
{
	j_sep(j, key);
	fputs(v < 0 ? "null" : v ? "true" : "false", j->f);
}

static void j_stats(struct json *j, const char *key,
		    const struct stablepipe_stats *st)
{
	j_open(j, key, '{');
	for (int i = 0; i < NSTATS; i++)
		j_u64(j, stat_fields[i].name, stat_get(st, i));
	j_close(j, '}');
}

static void print_json(FILE *f)
{
	struct json j = { .f = f };

	j_open(&j, NULL, '{');
	j_string(&j, "tool", "stablepipe-bench");
	j_string(&j, "version", VERSION);
	j_u64(&j, "format", 1);
	j_string(&j, "kernel", env.kernel);
	j_string(&j, "fs", env.fs);
	j_string(&j, "dir", env.dir);
	j_u64(&j, "page_size", page_size);
	j_bool(&j, "device", env.have_dev);
	if (env.have_dev) {
		j_string(&j, "device_default_policy",
			 env.dev_default_policy == STABLEPIPE_POLICY_COPY ?
			 "copy" : "auto");
		j_u64(&j, "device_default_capacity", env.dev_default_capacity);
	}
	j_open(&j, "config", '{');
	j_u64(&j, "reps", cfg.reps);
	j_u64(&j, "chunk", cfg.chunk);
	j_u64(&j, "out_pipe", cfg.out_pipe);
	j_u64(&j, "capacity", cfg.capacity);
	j_string(&j, "consumer", cfg.consumer_splice ? "splice" : "read");
	j_bool(&j, "verify", cfg.verify);
	j_open(&j, "sizes", '[');
	for (int s = 0; s < cfg.nsizes; s++)
		j_u64(&j, NULL, cfg.sizes[s]);
	j_close(&j, ']');
	j_close(&j, '}');
	j_open(&j, "results", '[');
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		const struct method *m = &methods[r->method];
		bool ok = r->nruns && !r->error[0] && !r->skip[0];
		uint64_t all = r->tot.pages_stolen + r->tot.pages_copied;
		uint64_t el = eligible_pages(&r->tot);

		j_open(&j, NULL, '{');
		j_u64(&j, "size", r->size);
		j_string(&j, "source", source_names[r->source]);
		j_string(&j, "method", m->name);
		j_string(&j, "path", m->path);
		j_string(&j, "status", r->error[0] ? "error" :
			 r->skip[0] ? "skipped" : ok ? "ok" : "not run");
		if (r->error[0])
			j_string(&j, "error", r->error);
		if (r->skip[0])
			j_string(&j, "skip", r->skip);
		j_bool(&j, "device", uses_device(m));
		j_string(&j, "policy", !uses_device(m) ? NULL :
			 m->policy == STABLEPIPE_POLICY_COPY ? "copy" : "auto");
		j_u64(&j, "in_pipe", r->in_pipe);
		j_u64(&j, "out_pipe", r->out_pipe);
		j_u64(&j, "capacity", r->capacity);
		j_num(&j, "mib_s", ok ? r->med_mibs : NAN);
		j_num(&j, "mib_s_min", ok ? r->min_mibs : NAN);
		j_num(&j, "mib_s_max", ok ? r->max_mibs : NAN);
		j_num(&j, "secs", ok ? r->med_secs : NAN);
		j_num(&j, "user_s_per_gib", ok ? r->med_user_gib : NAN);
		j_num(&j, "sys_s_per_gib", ok ? r->med_sys_gib : NAN);
		j_num(&j, "ratio_rw", ok ? r->ratio_rw : NAN);
		j_num(&j, "ratio_splice", ok ? r->ratio_splice : NAN);
		j_num(&j, "steal_rate", r->have_stats && all ?
		      (double)r->tot.pages_stolen / all : NAN);
		j_num(&j, "steal_rate_eligible", r->have_stats && el ?
		      (double)r->tot.pages_stolen / el : NAN);
		if (r->have_stats)
			j_stats(&j, "stats_total", &r->tot);
		j_open(&j, "runs", '[');
		for (int k = 0; k < r->nruns; k++) {
			const struct run *run = &r->runs[k];

			j_open(&j, NULL, '{');
			j_u64(&j, "rep", run->rep + 1);
			j_num(&j, "secs", run->secs);
			j_num(&j, "user", run->user);
			j_num(&j, "sys", run->sys);
			j_num(&j, "mib_s", run->secs > 0 ?
			      r->size / run->secs / MIB : NAN);
			j_u64(&j, "bytes", run->bytes);
			j_bool(&j, "verified", run->verified);
			j_num(&j, "prep_secs", run->prep_secs);
			j_num(&j, "resident_before", run->resident_before >= 0 ?
			      run->resident_before : NAN);
			j_num(&j, "resident_after", run->resident_after >= 0 ?
			      run->resident_after : NAN);
			if (run->have_stats)
				j_stats(&j, "stats", &run->st);
			j_close(&j, '}');
		}
		j_close(&j, ']');
		j_close(&j, '}');
	}
	j_close(&j, ']');
	j_open(&j, "summary", '[');
	for (int i = 0; i < nsums; i++) {
		j_open(&j, NULL, '{');
		j_u64(&j, "target", sums[i].target);
		if (sums[i].size)
			j_u64(&j, "size", sums[i].size);
		j_bool(&j, "met", sums[i].met);
		j_string(&j, "text", sums[i].text);
		j_close(&j, '}');
	}
	j_close(&j, ']');
	j_close(&j, '}');
}

/* A strict JSON checker (RFC 8259), for --ktap. */
struct jp {
	const char *p;
	int depth;
};

static void jp_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool jp_value(struct jp *j);

static bool jp_string(struct jp *j)
{
	if (*j->p++ != '"')
		return false;
	for (;;) {
		unsigned char c = *j->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		c = *j->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, j->p++)
				if (!((*j->p >= '0' && *j->p <= '9') ||
				      (*j->p >= 'a' && *j->p <= 'f') ||
				      (*j->p >= 'A' && *j->p <= 'F')))
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
}

static bool jp_digits(struct jp *j)
{
	const char *s = j->p;

	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool jp_number(struct jp *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (!jp_digits(j))
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!jp_digits(j))
			return false;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!jp_digits(j))
			return false;
	}
	return true;
}

static bool jp_container(struct jp *j, char close, bool object)
{
	j->p++;
	if (++j->depth > 64)
		return false;
	jp_ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		jp_ws(j);
		if (object) {
			if (*j->p != '"' || !jp_string(j))
				return false;
			jp_ws(j);
			if (*j->p++ != ':')
				return false;
			jp_ws(j);
		}
		if (!jp_value(j))
			return false;
		jp_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != close)
			return false;
		j->depth--;
		return true;
	}
}

static bool jp_value(struct jp *j)
{
	switch (*j->p) {
	case '{': return jp_container(j, '}', true);
	case '[': return jp_container(j, ']', false);
	case '"': return jp_string(j);
	case 't': return !strncmp(j->p, "true", 4) && (j->p += 4);
	case 'f': return !strncmp(j->p, "false", 5) && (j->p += 5);
	case 'n': return !strncmp(j->p, "null", 4) && (j->p += 4);
	default: return jp_number(j);
	}
}

/* NULL if @s is one well-formed JSON text, else where it goes wrong. */
static const char *json_check(const char *s)
{
	struct jp j = { .p = s };

	jp_ws(&j);
	if (!jp_value(&j))
		return j.p;
	jp_ws(&j);
	return *j.p ? j.p : NULL;
}

/* ------------------------------------------------------------------ */
/* the environment                                                     */

static void detect_env(void)
{
	struct utsname u;
	struct statfs sfs;
	int fds[2];

	if (uname(&u) == 0)
		snprintf(env.kernel, sizeof(env.kernel), "%s", u.release);
	if (!realpath(cfg.dir, env.dir))
		die("%s: %s", cfg.dir, strerror(errno));
	if (cfg.label) {
		snprintf(env.fs, sizeof(env.fs), "%s", cfg.label);
	} else if (statfs(cfg.dir, &sfs) == 0) {
		switch ((unsigned long)sfs.f_type) {
		case XFS_SUPER_MAGIC: snprintf(env.fs, sizeof(env.fs), "xfs"); break;
		case EXT4_SUPER_MAGIC: snprintf(env.fs, sizeof(env.fs), "ext4"); break;
		case TMPFS_MAGIC: snprintf(env.fs, sizeof(env.fs), "tmpfs"); break;
		case BTRFS_SUPER_MAGIC: snprintf(env.fs, sizeof(env.fs), "btrfs"); break;
		default:
			snprintf(env.fs, sizeof(env.fs), "fs-0x%lx",
				 (unsigned long)sfs.f_type);
		}
	}
	env.is_root = geteuid() == 0;
	if (stablepipe2(fds, O_CLOEXEC)) {
		snprintf(env.dev_why, sizeof(env.dev_why), "%s: %s%s",
			 STABLEPIPE_DEV, strerror(errno),
			 errno == ENOENT ? " (is the module loaded?)" : "");
		return;
	}
	env.have_dev = true;
	if (ioctl(fds[1], STABLEPIPE_IOC_GET_POLICY, &env.dev_default_policy))
		env.dev_default_policy = STABLEPIPE_POLICY_AUTO;
	if (ioctl(fds[1], STABLEPIPE_IOC_GET_CAPACITY, &env.dev_default_capacity))
		env.dev_default_capacity = 0;
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------------------------------ */
/* the matrix                                                          */

static int failures, ktap_num;

static void ktap_line(struct row *r, int ret)
{
	char sz[32];
	const char *name = methods[r->method].name;

	ktap_num++;
	human(sz, sizeof(sz), r->size);
	if (ret > 0) {
		printf("ok %d %s %s # SKIP %s\n", ktap_num,
		       source_names[r->source], name, r->skip);
	} else if (ret < 0) {
		printf("# %s %s: %s\n", source_names[r->source], name, r->error);
		printf("not ok %d %s %s\n", ktap_num, source_names[r->source], name);
	} else {
		const struct run *run = &r->runs[r->nruns - 1];

		if (run->have_stats)
			printf("# %s %s: %s, checksum good; stolen %" PRIu64 ", copied %" PRIu64 " pages\n",
			       source_names[r->source], name, sz,
			       (uint64_t)run->st.pages_stolen,
			       (uint64_t)run->st.pages_copied);
		else
			printf("# %s %s: %s, checksum good\n",
			       source_names[r->source], name, sz);
		printf("ok %d %s %s\n", ktap_num, source_names[r->source], name);
	}
	fflush(stdout);
}

static void run_row(size_t size, int src, int mi, struct source_file *sf,
		    int rep)
{
	struct row *r = row_get(size, src, mi);
	int ret;

	if (r->skip[0] || r->error[0])
		return;
	ret = run_one(r, &methods[mi], sf, src, rep);
	if (cfg.ktap) {
		ktap_line(r, ret);
	} else if (ret > 0) {
		note("%s %s: skipped: %s", source_names[src], methods[mi].name,
		     r->skip);
	} else if (ret < 0) {
		note("%s %s: ERROR: %s", source_names[src], methods[mi].name,
		     r->error);
	} else {
		const struct run *run = &r->runs[r->nruns - 1];
		char sz[32];

		note("%s %s %s rep %d/%d %s: %.1f MiB/s, usr %.3fs sys %.3fs%s",
		     env.fs, human(sz, sizeof(sz), size), source_names[src],
		     rep + 1, cfg.reps, methods[mi].name,
		     size / run->secs / MIB, run->user, run->sys,
		     run->verified > 0 ? ", verified" : "");
	}
	if (ret < 0)
		failures++;
}

/*
 * Repetitions outermost: every repetition runs every size, source and
 * method once, so that a drift of the machine (an emulator shares its
 * host) touches them all alike rather than one size or method.
 */
static void run_matrix(void)
{
	struct source_file sf[MAX_SIZES];
	bool any_method = false, any_source = false;

	for (int mi = 0; mi < NMETHODS; mi++)
		if (cfg.use_method[mi] && reads_file(&methods[mi]))
			any_method = true;
	for (int src = SRC_WARM; src < SRC_MEM; src++)
		if (cfg.use_source[src])
			any_source = true;
	for (int s = 0; s < cfg.nsizes; s++) {
		sf[s].fd = -1;
		if (any_method && any_source) {
			file_create(&sf[s], cfg.sizes[s]);
			file_cool(&sf[s]);
		}
	}
	for (int rep = 0; rep < cfg.reps; rep++) {
		for (int s = 0; s < cfg.nsizes; s++) {
			size_t size = cfg.sizes[s];

			for (int src = SRC_WARM; src < SRC_MEM && sf[s].fd >= 0; src++) {
				if (!cfg.use_source[src])
					continue;
				if (src == SRC_MAPPED && mapper_start(&sf[s]))
					die("mapping the file in another process: %s",
					    strerror(errno));
				for (int mi = 0; mi < NMETHODS; mi++)
					if (cfg.use_method[mi] &&
					    reads_file(&methods[mi]))
						run_row(size, src, mi, &sf[s], rep);
				mapper_stop(&sf[s]);
			}
			/* out of the page cache until its next turn */
			if (sf[s].fd >= 0)
				file_cool(&sf[s]);
			if (!cfg.use_source[SRC_MEM])
				continue;
			for (int mi = 0; mi < NMETHODS; mi++)
				if (cfg.use_method[mi] && !reads_file(&methods[mi]))
					run_row(size, SRC_MEM, mi, NULL, rep);
		}
	}
	for (int s = 0; s < cfg.nsizes; s++)
		if (sf[s].fd >= 0)
			file_destroy(&sf[s]);
}

static int count_planned(void)
{
	int n = 0;

	for (int s = 0; s < cfg.nsizes; s++)
		for (int mi = 0; mi < NMETHODS; mi++) {
			if (!cfg.use_method[mi])
				continue;
			if (!reads_file(&methods[mi])) {
				n += cfg.use_source[SRC_MEM] ? cfg.reps : 0;
				continue;
			}
			for (int src = SRC_WARM; src < SRC_MEM; src++)
				n += cfg.use_source[src] ? cfg.reps : 0;
		}
	return n;
}

static int ktap_main(void)
{
	char *buf = NULL;
	size_t len = 0;
	const char *bad;
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	printf("1..%d\n", count_planned() + 1);
	printf("# stablepipe-bench %s --ktap: %s in %s, kernel %s: every method moves the file and the bytes are checked; no timing is asserted\n",
	       VERSION, env.fs, env.dir, env.kernel);
	fflush(stdout);
	run_matrix();
	aggregate();
	summarize();

	ktap_num++;
	f = open_memstream(&buf, &len);
	if (!f)
		die("open_memstream: %s", strerror(errno));
	print_json(f);
	fclose(f);
	bad = json_check(buf);
	if (bad) {
		printf("# JSON output not well-formed at byte %td: %.40s\n",
		       bad - buf, bad);
		printf("not ok %d json output is well-formed\n", ktap_num);
		failures++;
	} else {
		printf("# JSON output: %zu bytes, %d results, %d summary lines\n",
		       len, nrows, nsums);
		printf("ok %d json output is well-formed\n", ktap_num);
	}
	free(buf);
	/* the table and CSV must at least be printable */
	f = fopen("/dev/null", "w");
	if (f) {
		print_table(f);
		print_csv(f);
		fclose(f);
	}
	printf("# %d passed or skipped, %d failed\n", ktap_num - failures,
	       failures);
	return failures ? KSFT_FAIL : KSFT_PASS;
}

/* ------------------------------------------------------------------ */
/* options                                                             */

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [options]\n"
"  -d, --dir DIR        where the source file goes (default $STABLEPIPE_TESTDIR or .)\n"
"  -s, --size LIST      sizes, comma-separated, K/M/G suffixes (default 64M)\n"
"  -r, --reps N         repetitions of every method (default 3; median, min, max)\n"
"  -m, --methods LIST   methods (default all; --list-methods)\n"
"  -S, --sources LIST   warm,cold,mapped,mem (default all)\n"
"      --chunk SIZE     user buffer of read/write (default 128K)\n"
"      --out-pipe SIZE  the pipe the consumer reads (default 1M)\n"
"      --capacity SIZE  device capacity (default max(1M, the method's pipe))\n"
"      --consumer read|splice  read(2) the output pipe, or splice it to /dev/null\n"
"      --verify         checksum what the consumer gets against the source\n"
"      --json[=FILE]    JSON to FILE, or instead of the table on stdout\n"
"      --csv=FILE       CSV, one line per method, source and size\n"
"      --label NAME     file system name for the output (default from statfs)\n"
"      --timeout SECS   give up when one run takes longer (default 600; 0: never)\n"
"      --ktap           quick self-check (4M, 1 rep, --verify): KTAP output\n"
"  -q, --quiet          no progress on stderr\n"
"      --list-methods   the methods and what they do\n"
"  -h, --help, -V, --version\n", prog);
}

static void parse_list(const char *arg, bool *use, int n,
		       int (*lookup)(const char *), const char *what)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		die("out of memory");
	memset(use, 0, n * sizeof(*use));
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int i;

		if (!strcmp(tok, "all")) {
			for (i = 0; i < n; i++)
				use[i] = true;
			continue;
		}
		i = lookup(tok);
		if (i < 0) {
			/* a prefix: "auto" = auto-*, "copy" = copy-* */
			bool any = false;
			size_t l = strlen(tok);

			for (int k = 0; lookup == method_index && k < NMETHODS; k++)
				if (!strncmp(methods[k].name, tok, l) &&
				    methods[k].name[l] == '-') {
					use[k] = true;
					any = true;
				}
			if (!any)
				die("unknown %s '%s'", what, tok);
			continue;
		}
		use[i] = true;
	}
	free(copy);
}

static int source_index(const char *name)
{
	for (int i = 0; i < NSOURCES; i++)
		if (!strcmp(source_names[i], name))
			return i;
	return -1;
}

static size_t size_opt(const char *s, const char *what)
{
	size_t v = parse_size(s);

	if (!v)
		die("%s: bad size '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	enum { O_CHUNK = 256, O_OUTPIPE, O_CAPACITY, O_CONSUMER, O_VERIFY,
	       O_JSON, O_CSV, O_LABEL, O_TIMEOUT, O_KTAP, O_LIST };
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "methods", required_argument, NULL, 'm' },
		{ "sources", required_argument, NULL, 'S' },
		{ "chunk", required_argument, NULL, O_CHUNK },
		{ "out-pipe", required_argument, NULL, O_OUTPIPE },
		{ "capacity", required_argument, NULL, O_CAPACITY },
		{ "consumer", required_argument, NULL, O_CONSUMER },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "json", optional_argument, NULL, O_JSON },
		{ "csv", required_argument, NULL, O_CSV },
		{ "label", required_argument, NULL, O_LABEL },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "ktap", no_argument, NULL, O_KTAP },
		{ "quiet", no_argument, NULL, 'q' },
		{ "list-methods", no_argument, NULL, O_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sizes_arg = NULL, *reps_arg = NULL;
	struct sigaction sa;
	char *end;
	int c;

	page_size = sysconf(_SC_PAGESIZE);
	cfg.dir = getenv("STABLEPIPE_TESTDIR");
	if (!cfg.dir || !*cfg.dir)
		cfg.dir = ".";
	cfg.reps = 3;
	cfg.chunk = 128 * KIB;
	cfg.out_pipe = MIB;
	cfg.timeout = 600;
	for (int i = 0; i < NMETHODS; i++)
		cfg.use_method[i] = true;
	for (int i = 0; i < NSOURCES; i++)
		cfg.use_source[i] = true;

	while ((c = getopt_long(argc, argv, "d:s:r:m:S:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.dir = optarg;
			break;
		case 's':
			sizes_arg = optarg;
			break;
		case 'r':
			reps_arg = optarg;
			break;
		case 'm':
			parse_list(optarg, cfg.use_method, NMETHODS, method_index,
				   "method");
			break;
		case 'S':
			parse_list(optarg, cfg.use_source, NSOURCES, source_index,
				   "source");
			break;
		case O_CHUNK:
			cfg.chunk = size_opt(optarg, "--chunk");
			break;
		case O_OUTPIPE:
			cfg.out_pipe = size_opt(optarg, "--out-pipe");
			break;
		case O_CAPACITY:
			cfg.capacity = size_opt(optarg, "--capacity");
			break;
		case O_CONSUMER:
			if (!strcmp(optarg, "read"))
				cfg.consumer_splice = false;
			else if (!strcmp(optarg, "splice"))
				cfg.consumer_splice = true;
			else
				die("--consumer: read or splice, not '%s'", optarg);
			break;
		case O_VERIFY:
			cfg.verify = true;
			break;
		case O_JSON:
			if (optarg)
				cfg.json_path = optarg;
			else
				cfg.json_stdout = true;
			break;
		case O_CSV:
			cfg.csv_path = optarg;
			break;
		case O_LABEL:
			cfg.label = optarg;
			break;
		case O_TIMEOUT:
			cfg.timeout = strtoul(optarg, &end, 10);
			if (*end || end == optarg)
				die("--timeout: bad number '%s'", optarg);
			break;
		case O_KTAP:
			cfg.ktap = true;
			break;
		case 'q':
			cfg.quiet = true;
			break;
		case O_LIST:
			for (int i = 0; i < NMETHODS; i++)
				printf("%-16s %s%s\n", methods[i].name, methods[i].path,
				       reads_file(&methods[i]) ? "" : " (source mem)");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", prog, VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg.ktap) {
		cfg.verify = true;
		cfg.consumer_splice = false;
		if (!sizes_arg)
			sizes_arg = "4M";
		reps_arg = "1";	/* one KTAP result per method and source */
	}
	if (reps_arg) {
		long v = strtol(reps_arg, &end, 10);

		if (*end || end == reps_arg || v < 1 || v > MAX_REPS)
			die("--reps: 1 to %d, not '%s'", MAX_REPS, reps_arg);
		cfg.reps = v;
	}
	if (!sizes_arg)
		sizes_arg = "64M";
	{
		char *copy = strdup(sizes_arg), *save = NULL, *tok;

		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			size_t v = size_opt(tok, "--size");

			if (cfg.nsizes == MAX_SIZES)
				die("--size: at most %d sizes", MAX_SIZES);
			cfg.sizes[cfg.nsizes++] = (v + page_size - 1) / page_size *
						  page_size;
		}
		free(copy);
		if (!cfg.nsizes)
			die("--size: no size");
	}
	if (cfg.chunk < page_size || cfg.chunk > PATTERN_SIZE ||
	    (cfg.chunk & (cfg.chunk - 1)))
		die("--chunk: a power of two from %zu to %zu", page_size,
		    PATTERN_SIZE);
	if (cfg.verify && cfg.consumer_splice)
		die("--verify needs --consumer read (a splice to /dev/null sees no bytes)");

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	pattern_init();
	detect_env();

	if (cfg.ktap)
		return ktap_main();

	if (!env.have_dev)
		note("%s: the device methods are skipped", env.dev_why);
	run_matrix();
	aggregate();
	summarize();
	if (cfg.json_stdout) {
		print_json(stdout);
	} else {
		print_table(stdout);
	}
	if (cfg.json_path) {
		FILE *f = fopen(cfg.json_path, "w");

		if (!f)
			die("%s: %s", cfg.json_path, strerror(errno));
		print_json(f);
		if (fclose(f))
			die("%s: %s", cfg.json_path, strerror(errno));
	}
	if (cfg.csv_path) {
		FILE *f = fopen(cfg.csv_path, "w");

		if (!f)
			die("%s: %s", cfg.csv_path, strerror(errno));
		print_csv(f);
		if (fclose(f))
			die("%s: %s", cfg.csv_path, strerror(errno));
	}
	return failures ? 1 : 0;
}
