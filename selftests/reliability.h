/* SPDX-License-Identifier: GPL-2.0 */
/*
 * reliability.h - helpers of the reliability tests (stress_test,
 * fault_test, signal_test, hostile_test, lifetime_test, limits_test):
 *
 *  - settings from the environment, with longer defaults on the debug
 *    kernel (the reliability lane, `make check-debug`);
 *  - the lane's figures: operations, bytes verified, faults injected,
 *    signals delivered, summed across the case children in shared memory
 *    and printed as one line per program that selftests/vm/report.sh adds
 *    up:  "# reliability: prog=P fs=F ops=N bytes=N faults=N signals=N";
 *  - self-checking records (sequence numbers, checksums) and a stream
 *    parser that verifies every byte;
 *  - the kernel log (/dev/kmsg) and kmemleak, for checks of their own;
 *  - fault injection through debugfs (failslab, fail_page_alloc,
 *    fail_usercopy), aimed with task-filter and make-it-fail.
 *
 * Include after sp_common.h.
 */
#ifndef STABLEPIPE_RELIABILITY_H
#define STABLEPIPE_RELIABILITY_H

#include <pthread.h>
#include <sys/utsname.h>

#define RL_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- settings ---- */

/* The debug kernel of selftests/vm/debug-kernel.sh (or any with kmemleak). */
static inline bool rl_debug_kernel(void)
{
	struct utsname u;

	if (!uname(&u) && strstr(u.release, "spdebug"))
		return true;
	return access("/sys/kernel/debug/kmemleak", F_OK) == 0;
}

/* $@name as a number, else @def_debug on the debug kernel, else @def. */
static inline unsigned long rl_setting(const char *name, unsigned long def,
				       unsigned long def_debug)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (v && *v) {
		errno = 0;
		n = strtoul(v, &end, 0);
		if (!errno && !*end)
			return n;
		ktap_print_msg("%s=%s is not a number: ignored", name, v);
	}
	return rl_debug_kernel() ? def_debug : def;
}

/* ---- the lane's figures, shared with the case children ---- */

struct rl_figures {
	uint64_t ops;		/* system calls on the device checked */
	uint64_t bytes;		/* bytes read back and verified */
	uint64_t faults;	/* faults injected */
	uint64_t signals;	/* signals delivered to blocked calls */
};

static struct rl_figures *rl_fig;
static struct rl_figures rl_fig_local;	/* until rl_init() */

static inline void rl_init(void)
{
	void *p = mmap(NULL, sizeof(struct rl_figures), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	rl_fig = p == MAP_FAILED ? &rl_fig_local : p;
	memset(rl_fig, 0, sizeof(*rl_fig));
}

#define RL_ADD(field, n)						\
	__atomic_fetch_add(&(rl_fig ? rl_fig : &rl_fig_local)->field,	\
			   (uint64_t)(n), __ATOMIC_RELAXED)

static inline void rl_print_figures(const char *prog)
{
	struct rl_figures *f = rl_fig ? rl_fig : &rl_fig_local;

	printf("# reliability: prog=%s fs=%s ops=%" PRIu64 " bytes=%" PRIu64
	       " faults=%" PRIu64 " signals=%" PRIu64 "\n", prog,
	       sp_fs_name(sp_fs_type()), f->ops, f->bytes, f->faults,
	       f->signals);
	fflush(stdout);
}

/* ktap_run_cases() with the figures line before the totals. */
static inline __attribute__((noreturn))
void rl_run_cases(const char *prog, const struct ktap_case *cases,
		  unsigned int n, unsigned int def_timeout)
{
	unsigned int i;

	ktap_set_plan(n);
	for (i = 0; i < n; i++)
		ktap_run_case(&cases[i], def_timeout);
	rl_print_figures(prog);
	ktap_finished();
}

/* ---- pseudo-random numbers (splitmix64: seedable, thread-local) ---- */

static inline uint64_t rl_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rl_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return rl_mix(*state);
}

/* Uniform in [0, n) (n > 0; the bias is irrelevant here). */
static inline uint64_t rl_below(uint64_t *state, uint64_t n)
{
	return rl_rand(state) % n;
}

/* ---- a pattern stream that repeats a file of @period bytes ---- */

/* Byte @pos of the stream is pattern byte @pos % @period of seed @seed. */
static inline void rl_fill_wrapped(unsigned char *buf, size_t len, uint64_t pos,
				   uint64_t period, unsigned int seed)
{
	size_t n;

	while (len) {
		n = period - pos % period;
		n = n < len ? n : len;
		sp_fill(buf, n, pos % period, seed);
		buf += n;
		pos += n;
		len -= n;
	}
}

/* Wrong bytes in @buf, stream bytes @pos.. (the first run is printed). */
static inline size_t rl_cmp_wrapped(const char *what, const unsigned char *buf,
				    size_t len, uint64_t pos, uint64_t period,
				    unsigned int seed)
{
	size_t n, wrong = 0;

	while (len) {
		n = period - pos % period;
		n = n < len ? n : len;
		wrong += sp_cmp_pat(what, buf, n, pos % period, seed);
		buf += n;
		pos += n;
		len -= n;
	}
	return wrong;
}

/* ---- self-checking records ---- */

/*
 * A record: a 32-byte header, then @len payload bytes that are a function
 * of (stream, writer, seq) only.  The header carries a checksum of the
 * payload and one of itself, so a reader verifies each record twice: by
 * the checksums, and byte by byte against the regenerated payload.
 */
#define RL_MAGIC	0x53505243u	/* "SPRC" */

struct rl_rec {
	uint32_t magic;
	uint16_t stream;	/* instance number */
	uint16_t writer;	/* writer number in the instance */
	uint64_t seq;		/* 0, 1, 2, ... per writer */
	uint32_t len;		/* payload bytes */
	uint32_t hsum;		/* checksum of the header with hsum = 0 */
	uint64_t psum;		/* FNV-1a of the payload */
};

#define RL_HDR		sizeof(struct rl_rec)

static inline uint64_t rl_fnv(const unsigned char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static inline uint32_t rl_hdr_sum(const struct rl_rec *r)
{
	struct rl_rec c = *r;

	c.hsum = 0;
	return (uint32_t)rl_mix(rl_fnv((const unsigned char *)&c, sizeof(c)));
}

static inline void rl_payload(unsigned char *p, size_t len, unsigned int stream,
			      unsigned int writer, uint64_t seq)
{
	uint64_t st = ((uint64_t)stream << 48) ^ ((uint64_t)writer << 40) ^
		      seq * 0x2545f4914f6cdd1dULL, v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			v = rl_rand(&st);
		p[i] = (unsigned char)(v >> ((i & 7) * 8));
	}
}

/* Write the record (header and payload) to @buf (RL_HDR + len bytes). */
static inline void rl_make_record(unsigned char *buf, unsigned int stream,
				  unsigned int writer, uint64_t seq,
				  uint32_t len)
{
	struct rl_rec r = {
		.magic = RL_MAGIC, .stream = (uint16_t)stream,
		.writer = (uint16_t)writer, .seq = seq, .len = len,
	};

	rl_payload(buf + RL_HDR, len, stream, writer, seq);
	r.psum = rl_fnv(buf + RL_HDR, len);
	r.hsum = rl_hdr_sum(&r);
	memcpy(buf, &r, sizeof(r));
}

#define RL_MAX_WRITERS	16

/*
 * The reader's side: feed it the bytes of one instance in order; it
 * checks each record (magic, header sum, payload sum, every payload byte,
 * stream number, per-writer sequence) and counts them.
 */
struct rl_parser {
	unsigned int stream;
	unsigned int nwriters;
	uint64_t next_seq[RL_MAX_WRITERS];
	uint64_t records;
	uint64_t bytes;		/* stream bytes consumed */
	unsigned char *buf;	/* the record being assembled */
	unsigned char *want;
	size_t have, cap;
	bool failed;
	char error[256];
};

static inline void rl_parser_init(struct rl_parser *p, unsigned int stream,
				  unsigned int nwriters, size_t max_payload)
{
	memset(p, 0, sizeof(*p));
	p->stream = stream;
	p->nwriters = nwriters;
	p->cap = RL_HDR + max_payload;
	p->buf = sp_malloc(p->cap);
	p->want = sp_malloc(p->cap);
}

static inline void rl_parser_free(struct rl_parser *p)
{
	free(p->buf);
	free(p->want);
	p->buf = p->want = NULL;
}

static inline __attribute__((format(printf, 2, 3)))
int rl_parser_fail(struct rl_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->error, sizeof(p->error), fmt, ap);
		va_end(ap);
		p->failed = true;
	}
	return -1;
}

/* One complete record in p->buf: check it. */
static inline int rl_parser_check(struct rl_parser *p)
{
	struct rl_rec r;
	uint64_t at = p->bytes - p->have;

	memcpy(&r, p->buf, sizeof(r));
	if (r.hsum != rl_hdr_sum(&r))
		return rl_parser_fail(p, "stream %u offset %" PRIu64 ": header checksum wrong (writer %u seq %" PRIu64 ")",
				      p->stream, at, r.writer, r.seq);
	if (rl_fnv(p->buf + RL_HDR, r.len) != r.psum)
		return rl_parser_fail(p, "stream %u offset %" PRIu64 ": payload checksum wrong (writer %u seq %" PRIu64 " len %u)",
				      p->stream, at, r.writer, r.seq, r.len);
	rl_payload(p->want, r.len, r.stream, r.writer, r.seq);
	if (memcmp(p->want, p->buf + RL_HDR, r.len)) {
		sp_cmp("payload", p->buf + RL_HDR, p->want, r.len, at + RL_HDR);
		return rl_parser_fail(p, "stream %u offset %" PRIu64 ": payload bytes wrong (writer %u seq %" PRIu64 ")",
				      p->stream, at, r.writer, r.seq);
	}
	if (r.seq != p->next_seq[r.writer])
		return rl_parser_fail(p, "stream %u offset %" PRIu64 ": writer %u: seq %" PRIu64 ", expected %" PRIu64 " (%s)",
				      p->stream, at, r.writer, r.seq,
				      p->next_seq[r.writer],
				      r.seq < p->next_seq[r.writer] ?
				      "duplicated" : "lost records");
	p->next_seq[r.writer]++;
	p->records++;
	return 0;
}

/* Feed @len bytes; -1 (p->error says why) at the first bad byte. */
static inline int rl_parser_feed(struct rl_parser *p, const unsigned char *d,
				 size_t len)
{
	struct rl_rec r;
	size_t need, n;

	if (p->failed)
		return -1;
	while (len) {
		need = RL_HDR;
		if (p->have >= RL_HDR) {
			memcpy(&r, p->buf, sizeof(r));
			need = RL_HDR + r.len;
		}
		n = need - p->have < len ? need - p->have : len;
		memcpy(p->buf + p->have, d, n);
		p->have += n;
		p->bytes += n;
		d += n;
		len -= n;
		if (p->have == RL_HDR) {
			memcpy(&r, p->buf, sizeof(r));
			if (r.magic != RL_MAGIC || r.hsum != rl_hdr_sum(&r) ||
			    r.stream != p->stream || r.writer >= p->nwriters ||
			    RL_HDR + (size_t)r.len > p->cap)
				return rl_parser_fail(p, "stream %u offset %" PRIu64 ": no valid record header here (magic %#x stream %u writer %u len %u)",
						      p->stream, p->bytes - RL_HDR,
						      r.magic, r.stream, r.writer,
						      r.len);
			if (r.len)
				continue;
		}
		if (p->have >= RL_HDR) {
			memcpy(&r, p->buf, sizeof(r));
			if (p->have == RL_HDR + r.len) {
				if (rl_parser_check(p))
					return -1;
				p->have = 0;
			}
		}
	}
	return 0;
}

/* At EOF: no partial record, and writer w sent exactly @sent[w] records. */
static inline int rl_parser_finish(struct rl_parser *p, const uint64_t *sent)
{
	unsigned int w;

	if (p->failed)
		return -1;
	if (p->have)
		return rl_parser_fail(p, "stream %u: %zu bytes of a partial record at EOF",
				      p->stream, p->have);
	for (w = 0; w < p->nwriters; w++)
		if (p->next_seq[w] != sent[w])
			return rl_parser_fail(p, "stream %u writer %u: %" PRIu64 " records read, %" PRIu64 " written",
					      p->stream, w, p->next_seq[w],
					      sent[w]);
	return 0;
}

/* ---- sysfs, procfs, debugfs files ---- */

static inline int rl_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int saved;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* The first line of @path in @buf; -1 if unreadable. */
static inline int rl_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static inline long long rl_read_ll(const char *path, long long def)
{
	char buf[64];

	if (rl_read_file(path, buf, sizeof(buf)))
		return def;
	return strtoll(buf, NULL, 0);
}

/* "instances N" of /proc/stablepipe, or -1. */
static inline long rl_proc_instances(void)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/stablepipe", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "instances %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- the kernel log ---- */

/*
 * Kernel reports, as selftests/vm/report.sh counts them on the console;
 * a test that provokes an expected report of its own (the OOM killer's
 * stack dump) hides it from the console and checks the log itself.
 */
static const char *const rl_report_words[] = {
	"BUG:", "WARNING:", "Oops", "KASAN", "UBSAN", "Call Trace",
	"possible circular locking", "possible recursive locking",
	"blocked for more than", "suspected memory leak",
	"general protection fault", "Kernel panic", "Busy inodes",
	"inconsistent lock state", "lock held when returning",
	"sleeping function called from invalid context",
};

/* /dev/kmsg, positioned after the last record (-1 if not readable). */
static inline int rl_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Read the records logged since rl_kmsg_open(); print those that contain
 * @show (if not NULL) and count those that contain a report word, except
 * those inside an OOM report when @oom_ok (from "invoked oom-killer" to
 * "Killed process"/"oom_reaper"). Returns the count of report lines.
 */
static inline int rl_kmsg_scan(int fd, const char *show, bool oom_ok,
			       unsigned int *ooms)
{
	char rec[2048], *msg;
	bool in_oom = false;
	int reports = 0;
	unsigned int i;
	ssize_t n;

	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE)	/* overwritten: go on */
				continue;
			break;		/* EAGAIN: the end */
		}
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = '\0';
		if (strstr(msg, "invoked oom-killer")) {
			in_oom = true;
			if (ooms)
				(*ooms)++;
		}
		if (show && strstr(msg, show))
			ktap_print_msg("kernel: %s", msg);
		if (!(oom_ok && in_oom)) {
			for (i = 0; i < RL_ARRAY_SIZE(rl_report_words); i++)
				if (strstr(msg, rl_report_words[i]))
					break;
			if (i < RL_ARRAY_SIZE(rl_report_words)) {
				reports++;
				ktap_print_msg("kernel report: %s", msg);
			}
		}
		if (in_oom && (strstr(msg, "Killed process") ||
			       strstr(msg, "oom_reaper") ||
			       strstr(msg, "Out of memory and no killable")))
			in_oom = false;
	}
	return reports;
}

/* Console log level (the first field of /proc/sys/kernel/printk), or -1. */
static inline int rl_console_level(int set)
{
	char buf[64];
	int old;

	if (rl_read_file("/proc/sys/kernel/printk", buf, sizeof(buf)))
		return -1;
	old = atoi(buf);
	if (set >= 0) {
		snprintf(buf, sizeof(buf), "%d", set);
		if (rl_write_file("/proc/sys/kernel/printk", buf))
			return -1;
	}
	return old;
}

/* ---- kmemleak ---- */

#define RL_KMEMLEAK	"/sys/kernel/debug/kmemleak"

static inline bool rl_have_kmemleak(void)
{
	return access(RL_KMEMLEAK, W_OK) == 0;
}

/*
 * Scan for leaks (twice: kmemleak reports an object only when two scans,
 * at least 5 s apart, found it unreferenced) and print what is reported.
 * Returns the number of suspected leaks, -1 without kmemleak.
 */
static inline int rl_kmemleak_scan(void)
{
	char line[512];
	int leaks = 0, lines = 0;
	FILE *f;

	if (!rl_have_kmemleak())
		return -1;
	rl_write_file(RL_KMEMLEAK, "scan");
	sleep(6);
	rl_write_file(RL_KMEMLEAK, "scan");
	f = fopen(RL_KMEMLEAK, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "unreferenced object"))
			leaks++;
		if (lines++ < 60)
			ktap_print_msg("kmemleak: %s", line);
	}
	fclose(f);
	return leaks;
}

/* ---- fault injection (Documentation/fault-injection) ---- */

#define RL_DEBUGFS	"/sys/kernel/debug"
#define RL_TIMES	1000000000LL

struct rl_fault {
	const char *name;	/* failslab, fail_page_alloc, fail_usercopy */
	bool present;
};

static inline int rl_fault_set(const char *name, const char *knob,
			       const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), RL_DEBUGFS "/%s/%s", name, knob);
	if (access(path, F_OK))
		return 0;	/* a knob this attribute does not have */
	if (rl_write_file(path, val)) {
		ktap_print_msg("writing %s to %s: %s", val, path,
			       strerror(errno));
		return -1;
	}
	return 0;
}

static inline bool rl_fault_present(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), RL_DEBUGFS "/%s/probability", name);
	return access(path, W_OK) == 0;
}

/*
 * Arm @name: fail with @percent probability every call of a task that has
 * make-it-fail set (task-filter), sleeping allocations included, order 0
 * pages included, silently (verbose 0: a stack dump per fault would read
 * as a kernel report).
 */
static inline int rl_fault_arm(const char *name, unsigned int percent)
{
	char val[32];

	snprintf(val, sizeof(val), "%u", percent);
	if (rl_fault_set(name, "task-filter", "Y") ||
	    rl_fault_set(name, "verbose", "0") ||
	    rl_fault_set(name, "interval", "1") ||
	    rl_fault_set(name, "space", "0") ||
	    rl_fault_set(name, "ignore-gfp-wait", "N") ||
	    rl_fault_set(name, "ignore-gfp-highmem", "N") ||
	    rl_fault_set(name, "min-order", "0") ||
	    rl_fault_set(name, "cache-filter", "N"))
		return -1;
	snprintf(val, sizeof(val), "%lld", RL_TIMES);
	if (rl_fault_set(name, "times", val))
		return -1;
	snprintf(val, sizeof(val), "%u", percent);
	return rl_fault_set(name, "probability", val);
}

/* Disarm @name; returns the number of faults it injected. */
static inline long long rl_fault_disarm(const char *name)
{
	char path[256];
	long long left;

	rl_fault_set(name, "probability", "0");
	snprintf(path, sizeof(path), RL_DEBUGFS "/%s/times", name);
	left = rl_read_ll(path, RL_TIMES);
	rl_fault_set(name, "times", "1");
	return left >= 0 && left <= RL_TIMES ? RL_TIMES - left : 0;
}

/*
 * This thread's /proc/thread-self/make-it-fail.  The file is opened once
 * per thread, while the flag is still 0: with the flag set, opening it
 * again (to clear the flag) would itself fail with ENOMEM, and the flag
 * would stick - a page fault of the test's own then loops for ever
 * ("VM_FAULT_OOM leaked out to the #PF handler").  Writing to an open
 * proc file allocates nothing.
 */
static __thread int rl_mif_fd = -1;

static inline int rl_make_it_fail(bool on)
{
	int i;

	if (rl_mif_fd < 0) {
		rl_mif_fd = open("/proc/thread-self/make-it-fail",
				 O_WRONLY | O_CLOEXEC);
		if (rl_mif_fd < 0)
			return -1;
	}
	for (i = 0; i < 1000; i++)
		if (pwrite(rl_mif_fd, on ? "1" : "0", 1, 0) == 1)
			return 0;
	return -1;
}

/* ---- module loading ---- */

#define RL_KO	"/stablepipe.ko"

static inline bool rl_module_loaded(void)
{
	return access("/sys/module/stablepipe", F_OK) == 0;
}

static inline int rl_load_module(void)
{
	int fd = open(RL_KO, O_RDONLY | O_CLOEXEC), ret, saved;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

static inline int rl_unload_module(void)
{
	return syscall(SYS_delete_module, "stablepipe", O_NONBLOCK);
}

/* Wait up to @ms for /dev/stablepipe to appear (devtmpfs, after insmod). */
static inline bool rl_wait_device(unsigned int ms)
{
	unsigned int i;

	for (i = 0; i < ms; i += 10) {
		if (access(STABLEPIPE_DEV, F_OK) == 0)
			return true;
		sp_msleep(10);
	}
	return false;
}

#endif /* STABLEPIPE_RELIABILITY_H */
