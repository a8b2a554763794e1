// SPDX-License-Identifier: GPL-2.0
/*
 * bidir_test - two threads splice both ways through ONE pipe P:
 *	thread A: splice(P -> device)
 *	thread B: splice(device -> P)
 * on one O_RDWR device fd, seeded with a 256 KiB position-dependent
 * pattern.  Each thread holds one side's lock while it needs the other
 * side; a lock-order or wake-up bug dead-locks here.  Lengths are random
 * (1 byte .. 128 KiB), so pipe buffers are split and partly taken.
 *
 * Checks: no deadlock (the runner's watchdog, and a stall detector: one
 * of the two can always progress, since P (64 KiB) cannot hold the whole
 * ring and the device (1 MiB) can), both threads made progress, no
 * errors; after stopping both, draining the device (non-blocking reads
 * until EAGAIN) and then P must give back exactly 256 KiB that are a
 * rotation of the original pattern: nothing lost, duplicated, reordered
 * or changed.
 *
 * The threads are stopped with SIGUSR1 (no SA_RESTART) so that blocked
 * splices return EINTR: an interrupted splice must not lose data.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include "sp_common.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define RING		(256 * 1024)
#define SEED		77
#define RUN_SECS	2.0
#define STALL_SECS	1.0

struct variant {
	unsigned int flags;	/* splice flags */
	bool copy_policy;
};

struct side {
	pthread_t th;
	bool to_dev;		/* A: P -> dev; B: dev -> P */
	int in, out;
	unsigned int flags;
	uint32_t lcg;
	atomic_bool *stop;
	atomic_ullong ops;
	atomic_ullong bytes;
	atomic_bool done;
	int err;
	const char *what;
};

static void on_usr1(int sig)
{
	(void)sig;
}

static void *side_fn(void *arg)
{
	struct side *s = arg;
	struct pollfd pf[2];
	size_t len;
	ssize_t n;

	while (!atomic_load(s->stop)) {
		s->lcg = s->lcg * 1103515245 + 12345;
		len = 1 + (s->lcg >> 8) % (128 * 1024);
		n = splice(s->in, NULL, s->out, NULL, len, s->flags);
		if (n > 0) {
			atomic_fetch_add(&s->ops, 1);
			atomic_fetch_add(&s->bytes, n);
			continue;
		}
		if (n == 0) {
			s->err = -1;	/* EOF: impossible, both ends are open */
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || !(s->flags & SPLICE_F_NONBLOCK)) {
			s->err = errno;
			break;
		}
		pf[0] = (struct pollfd){ .fd = s->in, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->out, .events = POLLOUT };
		poll(pf, 2, 20);
	}
	atomic_store(&s->done, true);
	return NULL;
}

static int check_rotation(const unsigned char *out, size_t n)
{
	unsigned char *pat = sp_pat_buf(n, 0, SEED), *want;
	size_t k, best_k = 0, best_len = 0, l;

	for (k = 0; k < n; k++) {
		if (out[0] != pat[k])
			continue;
		if (!memcmp(out, pat + k, n - k) && !memcmp(out + n - k, pat, k)) {
			ktap_print_msg("the ring came back rotated by %zu bytes", k);
			free(pat);
			return KSFT_PASS;
		}
		for (l = 0; l < n && out[l] == pat[(k + l) % n]; l++)
			;
		if (l > best_len) {
			best_len = l;
			best_k = k;
		}
	}
	want = sp_malloc(n);
	for (k = 0; k < n; k++)
		want[k] = pat[(best_k + k) % n];
	ktap_print_msg("not a rotation of the pattern; best guess: rotated by %zu, first %zu bytes right",
		       best_k, best_len);
	sp_cmp("ring", out, want, n, 0);
	return KSFT_FAIL;
}

static ssize_t drain(int fd, unsigned char *buf, size_t room)
{
	size_t got = 0;
	ssize_t n;

	if (sp_set_nonblock(fd, true) < 0)
		return -1;
	while (got < room) {
		n = read(fd, buf + got, room - got);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		got += n;
	}
	return got;
}

static int t_bidir(const void *arg)
{
	const struct variant *v = arg;
	unsigned char *buf = sp_pat_buf(RING, 0, SEED);
	unsigned char *out = sp_malloc(2 * RING);
	unsigned long long last_ops = 0, ops;
	struct stablepipe_stats st;
	atomic_bool stop = false;
	struct side a, b;
	struct sigaction sa;
	double t0, last, now;
	bool stalled = false;
	ssize_t n1, n2;
	int dev, p[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART: splices get EINTR */
	sigemptyset(&sa.sa_mask);
	CHECK_RET(sigaction(SIGUSR1, &sa, NULL), 0);

	CHECK_OK(dev, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_RET(pipe(p), 0);
	if (v->copy_policy)
		CHECK_RET(sp_set_policy(dev, STABLEPIPE_POLICY_COPY), 0);
	CHECK_RET(sp_write_full(dev, buf, RING), RING);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a = (struct side){ .to_dev = true, .in = p[0], .out = dev,
			   .flags = v->flags, .lcg = 1, .stop = &stop,
			   .what = "A (pipe -> device)" };
	b = (struct side){ .to_dev = false, .in = dev, .out = p[1],
			   .flags = v->flags, .lcg = 2, .stop = &stop,
			   .what = "B (device -> pipe)" };
	CHECK(pthread_create(&a.th, NULL, side_fn, &a) == 0, "pthread_create");
	CHECK(pthread_create(&b.th, NULL, side_fn, &b) == 0, "pthread_create");

	t0 = last = sp_now();
	while ((now = sp_now()) - t0 < RUN_SECS) {
		sp_msleep(20);
		ops = atomic_load(&a.ops) + atomic_load(&b.ops);
		if (ops != last_ops) {
			last_ops = ops;
			last = now;
		} else if (now - last > STALL_SECS) {
			stalled = true;
			break;
		}
		if (atomic_load(&a.done) || atomic_load(&b.done))
			break;
	}
	atomic_store(&stop, true);
	t0 = sp_now();
	while (!atomic_load(&a.done) || !atomic_load(&b.done)) {
		if (!atomic_load(&a.done))
			pthread_kill(a.th, SIGUSR1);
		if (!atomic_load(&b.done))
			pthread_kill(b.th, SIGUSR1);
		sp_msleep(10);
		CHECK(sp_now() - t0 < 20,
		      "threads do not stop: A %s, B %s (stuck in the kernel?)",
		      atomic_load(&a.done) ? "stopped" : "running",
		      atomic_load(&b.done) ? "stopped" : "running");
	}
	pthread_join(a.th, NULL);
	pthread_join(b.th, NULL);
	ktap_print_msg("A: %llu splices, %llu bytes; B: %llu splices, %llu bytes",
		       (unsigned long long)atomic_load(&a.ops),
		       (unsigned long long)atomic_load(&a.bytes),
		       (unsigned long long)atomic_load(&b.ops),
		       (unsigned long long)atomic_load(&b.bytes));
	if (sp_get_stats(dev, &st) == 0)
		sp_print_stats("instance", &st);
	CHECK(!stalled, "no progress for %.1f s with both threads running: deadlock",
	      STALL_SECS);
	CHECK(a.err == 0, "%s: %s", a.what,
	      a.err < 0 ? "unexpected EOF" : strerror(a.err));
	CHECK(b.err == 0, "%s: %s", b.what,
	      b.err < 0 ? "unexpected EOF" : strerror(b.err));
	CHECK(atomic_load(&a.ops) > 0 && atomic_load(&b.ops) > 0,
	      "a thread never moved anything");

	n1 = drain(dev, out, 2 * RING);
	CHECK(n1 >= 0, "draining the device: %s", strerror(errno));
	n2 = drain(p[0], out + n1, 2 * RING - n1);
	CHECK(n2 >= 0, "draining the pipe: %s", strerror(errno));
	ktap_print_msg("drained %zd bytes from the device, %zd from the pipe",
		       n1, n2);
	CHECK_EQ_U64(n1 + n2, RING, "bytes in the ring at the end");
	CHECK(check_rotation(out, RING) == KSFT_PASS,
	      "the ring's bytes were lost, duplicated or reordered");
	return KSFT_PASS;
}

static const struct variant blocking = { 0, false };
static const struct variant nonblocking = { SPLICE_F_NONBLOCK, false };
static const struct variant blocking_copy = { 0, true };

static const struct ktap_case cases[] = {
	{ "blocking splices both ways through one pipe", t_bidir, &blocking,
	  0 },
	{ "SPLICE_F_NONBLOCK splices both ways with poll", t_bidir,
	  &nonblocking, 0 },
	{ "blocking splices both ways, policy COPY", t_bidir, &blocking_copy,
	  0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	ktap_run_cases(cases, ARRAY_SIZE(cases), 60);
}
