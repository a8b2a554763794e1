// SPDX-License-Identifier: GPL-2.0
/*
 * fault_test - allocation and user-copy failures inside the module's calls
 * lose, duplicate and change nothing, and leak nothing.
 *
 * failslab and fail_page_alloc (and fail_usercopy) are armed through
 * debugfs with task-filter: only a thread whose
 * /proc/thread-self/make-it-fail is 1 gets faults, and the writer and the
 * reader set it just around their calls on the device (buffers are
 * touched first, pipes filled and files cached before), so the faults hit
 * the module's allocations (instances, segments, private pages) and the
 * copies, not the test's own page faults or the filesystems' I/O.
 *
 * Each stream case moves a pattern stream through one ingest path (write,
 * splice from a pipe of anonymous buffers, splice from a pipe of
 * page-cache buffers of a clean file - the stealing path -, sendfile from
 * a clean file) and one output path (read, splice into a pipe), checks
 * that every call returned a count or ENOMEM (EFAULT under fail_usercopy),
 * that a failed splice left its data in the pipe, and every byte read.
 * Then open and NEW_FD under faults leave no instance behind, and a
 * kmemleak scan (on kernels with kmemleak) reports nothing.
 *
 * Skipped without CONFIG_FAULT_INJECTION_DEBUG_FS (the debug kernel of
 * `make check-debug` has it; Debian's kernels do not).
 *
 * STABLEPIPE_FAULT_SECONDS: seconds per stream case (default 2, 6 on the
 * debug kernel); STABLEPIPE_FAULT_PERCENT: fault probability (default 10).
 */
#define _GNU_SOURCE
#include <sys/sendfile.h>
#include "sp_common.h"
#include "reliability.h"

enum in_path { IN_WRITE, IN_SPLICE_ANON, IN_SPLICE_FILE, IN_SENDFILE, IN_NR };
enum out_path { OUT_READ, OUT_SPLICE, OUT_NR };

static const char *const in_names[] = { "write", "splice (anonymous pipe buffers)",
					"splice (page-cache buffers)", "sendfile" };
static const char *const out_names[] = { "read", "splice" };

#define SEED		41
#define FILE_SIZE	(4 * SP_MIB)
#define CHUNK		(128 * SP_KIB)
#define STEP_MAX	(64 * (int)SP_KIB)	/* bytes per step through a pipe */

static unsigned int seconds, percent;
static const char *const attrs[] = { "failslab", "fail_page_alloc" };

struct fparam {
	enum in_path in;
	enum out_path out;
	bool usercopy;		/* fail_usercopy instead of the allocators */
	unsigned int policy;
};

/* The stream repeats the file: byte @pos is pattern byte pos % FILE_SIZE. */
static void fill_stream(unsigned char *buf, size_t len, uint64_t pos)
{
	rl_fill_wrapped(buf, len, pos, FILE_SIZE, SEED);
}

static size_t cmp_stream(const unsigned char *buf, size_t len, uint64_t pos)
{
	return rl_cmp_wrapped("fault stream", buf, len, pos, FILE_SIZE, SEED);
}

struct side {
	const struct fparam *p;
	int dev, ffd;
	double deadline;
	uint64_t bytes, calls, enomem, efault, partial;
	volatile uint64_t *written;	/* the writer's total, for the reader */
	volatile int *writer_done;
	int failed;
	char why[256];
};

#define SIDE_FAIL(s, ...)						\
	do {								\
		rl_make_it_fail(false);					\
		snprintf((s)->why, sizeof((s)->why), __VA_ARGS__);	\
		(s)->failed = 1;					\
		return NULL;						\
	} while (0)

/* A failed call's errno: ENOMEM (EFAULT under usercopy) may be retried. */
static bool retryable(struct side *s, int e)
{
	if (e == ENOMEM) {
		s->enomem++;
		return true;
	}
	if (e == EFAULT && s->p->usercopy) {
		s->efault++;
		return true;
	}
	return false;
}

static void *writer(void *arg)
{
	struct side *s = arg;
	unsigned char *buf = sp_malloc(CHUNK);
	uint64_t rnd = 0xfa17 + s->p->in, pos = 0;
	int pp[2];
	size_t len, done, inpipe;
	loff_t loff;
	off_t off;
	ssize_t n;
	int e;

	if (pipe2(pp, O_CLOEXEC))
		SIDE_FAIL(s, "pipe: %s", strerror(errno));
	/*
	 * The writer fills its pipe itself and then empties it into the
	 * device, so all of a step must fit: from the page cache, one buffer
	 * per page, and 64 KiB at an unaligned offset are 17 pages - one more
	 * than a default pipe's 16 slots (the fill would wait for room for
	 * ever).  Anonymous buffers are merged, 64 KiB take 16 slots.
	 */
	if (s->p->in == IN_SPLICE_FILE &&
	    fcntl(pp[1], F_SETPIPE_SZ, 2 * STEP_MAX) < 2 * STEP_MAX)
		SIDE_FAIL(s, "F_SETPIPE_SZ %d: %s", 2 * STEP_MAX,
			  strerror(errno));
	if (rl_make_it_fail(false))
		SIDE_FAIL(s, "/proc/thread-self/make-it-fail: %s", strerror(errno));
	while (sp_now() < s->deadline) {
		len = 1 + rl_below(&rnd, rl_below(&rnd, 2) ? 8192 : CHUNK);
		if (pos % FILE_SIZE + len > FILE_SIZE)
			len = FILE_SIZE - pos % FILE_SIZE;
		/* Prepare outside the fault window. */
		fill_stream(buf, len, pos);
		inpipe = 0;
		if (s->p->in == IN_SPLICE_ANON || s->p->in == IN_SPLICE_FILE) {
			if (len > STEP_MAX)
				len = STEP_MAX;
			if (s->p->in == IN_SPLICE_ANON) {
				n = sp_write_full(pp[1], buf, len);
			} else {
				loff = pos % FILE_SIZE;
				for (n = 0; n < (ssize_t)len; n += e) {
					e = splice(s->ffd, &loff, pp[1], NULL,
						   len - n, 0);
					if (e <= 0)
						break;
				}
			}
			if (n != (ssize_t)len)
				SIDE_FAIL(s, "filling the pipe: %zd (%s)", n,
					  strerror(errno));
			inpipe = len;
		}
		for (done = 0; done < len;) {
			rl_make_it_fail(true);
			errno = 0;
			switch (s->p->in) {
			case IN_WRITE:
				n = write(s->dev, buf + done, len - done);
				break;
			case IN_SENDFILE:
				off = (pos + done) % FILE_SIZE;
				n = sendfile(s->dev, s->ffd, &off, len - done);
				break;
			default:
				n = splice(pp[0], NULL, s->dev, NULL,
					   len - done, 0);
				break;
			}
			e = errno;
			rl_make_it_fail(false);
			s->calls++;
			if (n < 0) {
				if (!retryable(s, e))
					SIDE_FAIL(s, "%s: %s", in_names[s->p->in],
						  strerror(e));
			} else if (n == 0) {
				SIDE_FAIL(s, "%s returned 0", in_names[s->p->in]);
			} else {
				if ((size_t)n < len - done)
					s->partial++;
				done += n;
			}
			/* What did not go in is still in the pipe. */
			if (inpipe && sp_fionread(pp[0]) != (int)(len - done))
				SIDE_FAIL(s, "%s: %zu bytes should be left in the pipe, it holds %d",
					  in_names[s->p->in], len - done,
					  sp_fionread(pp[0]));
		}
		pos += len;
		*s->written = pos;
		s->bytes = pos;
	}
	close(pp[0]);
	close(pp[1]);
	free(buf);
	return NULL;
}

static void *reader(void *arg)
{
	struct side *s = arg;
	unsigned char *buf = sp_malloc(CHUNK);
	uint64_t rnd = 0x4ead + s->p->out, pos = 0;
	int pp[2];
	size_t len, got;
	ssize_t n, m;
	int e;

	if (pipe2(pp, O_CLOEXEC))
		SIDE_FAIL(s, "pipe: %s", strerror(errno));
	memset(buf, 0, CHUNK);	/* no page faults inside the window */
	if (rl_make_it_fail(false))
		SIDE_FAIL(s, "/proc/thread-self/make-it-fail: %s", strerror(errno));
	for (;;) {
		len = 1 + rl_below(&rnd, rl_below(&rnd, 2) ? 8192 : CHUNK);
		if (s->p->out == OUT_SPLICE && len > STEP_MAX)
			len = STEP_MAX;
		rl_make_it_fail(true);
		errno = 0;
		if (s->p->out == OUT_READ)
			n = read(s->dev, buf, len);
		else
			n = splice(s->dev, NULL, pp[1], NULL, len, 0);
		e = errno;
		rl_make_it_fail(false);
		s->calls++;
		if (n < 0) {
			if (!retryable(s, e))
				SIDE_FAIL(s, "%s: %s", out_names[s->p->out],
					  strerror(e));
			continue;
		}
		if (n == 0)
			break;
		if ((size_t)n < len)
			s->partial++;
		if (s->p->out == OUT_SPLICE)
			for (got = 0; got < (size_t)n; got += m) {
				m = read(pp[0], buf + got, n - got);
				if (m <= 0)
					SIDE_FAIL(s, "read of the pipe: %s",
						  strerror(errno));
			}
		if (cmp_stream(buf, n, pos))
			SIDE_FAIL(s, "wrong bytes at stream offset %" PRIu64
				  " (see above)", pos);
		pos += n;
		s->bytes = pos;
	}
	close(pp[0]);
	close(pp[1]);
	free(buf);
	return NULL;
}

static bool have_fault_injection(void)
{
	return rl_fault_present("failslab") &&
	       rl_fault_present("fail_page_alloc") &&
	       access("/proc/self/make-it-fail", W_OK) == 0;
}

/* What arm() armed, for disarm() to count. */
static bool armed_usercopy;

static long long arm(const struct fparam *p)
{
	unsigned int i;

	armed_usercopy = p->usercopy;
	if (p->usercopy)
		return rl_fault_arm("fail_usercopy", percent);
	for (i = 0; i < RL_ARRAY_SIZE(attrs); i++)
		if (rl_fault_arm(attrs[i], percent))
			return -1;
	return 0;
}

/* Disarm what arm() armed; returns the faults it injected. */
static long long disarm(void)
{
	long long n = 0;
	unsigned int i;

	if (armed_usercopy)
		return rl_fault_disarm("fail_usercopy");
	for (i = 0; i < RL_ARRAY_SIZE(attrs); i++)
		n += rl_fault_disarm(attrs[i]);
	return n;
}

static int t_stream(const void *arg)
{
	const struct fparam *p = arg;
	struct side w = { 0 }, r = { 0 };
	struct stablepipe_stats st;
	volatile uint64_t written = 0;
	volatile int wdone = 0;
	pthread_t tw, tr;
	int dev, rfd, ffd = -1, stats;
	long long injected;
	long inst0;

	if (!have_fault_injection())
		return ktap_skip("no failslab/fail_page_alloc in debugfs (CONFIG_FAULT_INJECTION_DEBUG_FS)");
	if (p->usercopy && !rl_fault_present("fail_usercopy"))
		return ktap_skip("no fail_usercopy (CONFIG_FAULT_INJECTION_USERCOPY)");
	inst0 = rl_proc_instances();
	if (p->in == IN_SPLICE_FILE || p->in == IN_SENDFILE) {
		CHECK_OK(ffd, sp_scratch_file(FILE_SIZE, SEED, 0, SP_CLEAN));
	}
	{
		int both[2];

		CHECK(stablepipe2(both, O_CLOEXEC) == 0, "stablepipe2: %s",
		      strerror(errno));
		rfd = both[0];
		dev = both[1];
	}
	CHECK_OK(inst0, sp_set_policy(dev, p->policy));
	inst0 = rl_proc_instances() - 1;
	w.p = r.p = p;
	w.dev = dev;
	r.dev = rfd;
	w.ffd = ffd;
	w.deadline = sp_now() + seconds;
	w.written = r.written = &written;
	w.writer_done = r.writer_done = &wdone;
	CHECK(arm(p) == 0, "arming the fault injection failed");
	CHECK(pthread_create(&tr, NULL, reader, &r) == 0, "pthread_create");
	CHECK(pthread_create(&tw, NULL, writer, &w) == 0, "pthread_create");
	pthread_join(tw, NULL);
	close(dev);	/* EOF for the reader */
	pthread_join(tr, NULL);
	injected = disarm();
	stats = sp_get_stats(rfd, &st) ? errno : 0;
	close(rfd);
	if (ffd >= 0)
		close(ffd);
	RL_ADD(faults, injected);
	RL_ADD(ops, w.calls + r.calls);
	RL_ADD(bytes, r.bytes);
	ktap_print_msg("%s -> %s: %lld faults injected; writer: %" PRIu64 " calls, %" PRIu64 " ENOMEM, %" PRIu64
		       " EFAULT, %" PRIu64 " short; reader: %" PRIu64 " calls, %" PRIu64 " EFAULT, %" PRIu64 " short; %" PRIu64 " bytes verified",
		       in_names[p->in], out_names[p->out], injected, w.calls,
		       w.enomem, w.efault, w.partial, r.calls, r.efault,
		       r.partial, r.bytes);
	CHECK(!w.failed, "writer: %s", w.why);
	CHECK(!r.failed, "reader: %s", r.why);
	CHECK_EQ_U64(r.bytes, w.bytes, "bytes read == bytes written");
	/* The failed calls counted nothing. */
	CHECK(!stats, "GET_STATS: %s", strerror(stats));
	ktap_print_msg("instance: %llu pages stolen, %llu copied",
		       (unsigned long long)st.pages_stolen,
		       (unsigned long long)st.pages_copied);
	CHECK_EQ_U64(st.bytes_in_write + st.bytes_in_splice +
		     st.bytes_in_sendfile, w.bytes, "bytes counted in");
	CHECK_EQ_U64(st.bytes_out_read + st.bytes_out_splice, r.bytes,
		     "bytes counted out");
	CHECK(injected > 0, "no fault was injected");
	CHECK(inst0 < 0 || rl_proc_instances() == inst0,
	      "instances: %ld before, %ld after", inst0, rl_proc_instances());
	return KSFT_PASS;
}

/* open and NEW_FD under faults: each call works or fails with ENOMEM. */
static int t_open(const void *arg)
{
	uint64_t calls = 0, enomem = 0;
	struct stablepipe_fd req = { .flags = O_RDONLY };
	long long injected;
	double deadline = sp_now() + seconds;
	long inst0;
	int fd, peer, e;

	(void)arg;
	if (!have_fault_injection())
		return ktap_skip("no failslab/fail_page_alloc in debugfs (CONFIG_FAULT_INJECTION_DEBUG_FS)");
	inst0 = rl_proc_instances();
	CHECK(arm(&(struct fparam){ 0 }) == 0, "arming the fault injection failed");
	while (sp_now() < deadline) {
		rl_make_it_fail(true);
		fd = open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC);
		e = errno;
		rl_make_it_fail(false);
		calls++;
		if (fd < 0) {
			CHECK(e == ENOMEM, "open: %s", strerror(e));
			enomem++;
			continue;
		}
		rl_make_it_fail(true);
		peer = ioctl(fd, STABLEPIPE_IOC_NEW_FD, &req);
		e = errno;
		rl_make_it_fail(false);
		calls++;
		if (peer < 0) {
			CHECK(e == ENOMEM || e == ENFILE, "NEW_FD: %s", strerror(e));
			enomem++;
		} else {
			close(peer);
		}
		close(fd);
	}
	injected = disarm();
	RL_ADD(faults, injected);
	RL_ADD(ops, calls);
	ktap_print_msg("%" PRIu64 " calls, %" PRIu64 " failed with ENOMEM, %lld faults injected",
		       calls, enomem, injected);
	CHECK(inst0 < 0 || rl_proc_instances() == inst0,
	      "instances: %ld before, %ld after", inst0, rl_proc_instances());
	CHECK(injected > 0, "no fault was injected");
	return KSFT_PASS;
}

static int t_kmemleak(const void *arg)
{
	int leaks;

	(void)arg;
	if (!rl_have_kmemleak())
		return ktap_skip("no kmemleak (CONFIG_DEBUG_KMEMLEAK)");
	leaks = rl_kmemleak_scan();
	CHECK(leaks == 0, "kmemleak suspects %d leaks (see above)", leaks);
	return KSFT_PASS;
}

#define NR_STREAMS	(IN_NR * OUT_NR + 2)

static struct fparam params[NR_STREAMS];
static struct ktap_case cases[NR_STREAMS + 2];

int main(void)
{
	unsigned int n = 0, in, out;

	ktap_print_header();
	sp_require_device();
	rl_init();
	seconds = rl_setting("STABLEPIPE_FAULT_SECONDS", 2, 6);
	percent = rl_setting("STABLEPIPE_FAULT_PERCENT", 10, 10);
	for (in = 0; in < IN_NR; in++)
		for (out = 0; out < OUT_NR; out++, n++) {
			params[n] = (struct fparam){ in, out, false,
						     STABLEPIPE_POLICY_AUTO };
			snprintf(cases[n].name, sizeof(cases[n].name),
				 "%s -> %s under failslab and fail_page_alloc",
				 in_names[in], out_names[out]);
		}
	params[n] = (struct fparam){ IN_SPLICE_FILE, OUT_READ, false,
				     STABLEPIPE_POLICY_COPY };
	snprintf(cases[n++].name, sizeof(cases[0].name),
		 "splice (page-cache buffers), policy copy -> read under failslab and fail_page_alloc");
	params[n] = (struct fparam){ IN_WRITE, OUT_READ, true,
				     STABLEPIPE_POLICY_AUTO };
	snprintf(cases[n++].name, sizeof(cases[0].name),
		 "write -> read under fail_usercopy");
	for (in = 0; in < n; in++) {
		cases[in].fn = t_stream;
		cases[in].arg = &params[in];
	}
	snprintf(cases[n].name, sizeof(cases[0].name),
		 "open and NEW_FD under failslab and fail_page_alloc");
	cases[n++].fn = t_open;
	snprintf(cases[n].name, sizeof(cases[0].name),
		 "kmemleak: no leak suspected after the faults");
	cases[n++].fn = t_kmemleak;
	rl_run_cases("fault_test", cases, n, 120 + 2 * seconds);
}
