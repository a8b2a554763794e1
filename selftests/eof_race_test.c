// SPDX-License-Identifier: GPL-2.0
/*
 * eof_race_test - end of file only at the real end (issue 13, item 4).
 *
 * Each round a writer thread writes N bytes and closes its end while the
 * reader, started at the same moment, reads to end of file.  The reader
 * must get all N bytes: a 0 (end of file) before the last byte means
 * that EOF was decided from a stale "nothing buffered" and a fresh "no
 * writer left".  Three paths:
 *
 *  - read(2) from the device;
 *  - splice(2) from the device into a pipe;
 *  - splice(2) from a pipe into the device, where the pipe's writer
 *    writes and closes (the 0 comes from the device's splice_write).
 *
 * Rounds: $SP_EOF_ROUNDS (default 3000, 10000 on the debug kernel); each
 * case also stops after $SP_EOF_SECONDS seconds (default 4, 20 on the
 * debug kernel) so that the run stays short on TCG.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include "sp_common.h"
#include "reliability.h"

enum eof_mode { EOF_READ, EOF_SPLICE_OUT, EOF_SPLICE_IN };

struct eof_round {
	pthread_barrier_t start, done;
	int wfd;		/* the writer's end: device or pipe */
	size_t len;
	unsigned int seed;
	bool stop;
	ssize_t wret;
	int werr;
};

static void *eof_writer(void *p)
{
	struct eof_round *r = p;
	unsigned char *buf = sp_malloc(4 * SP_PAGE);

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (r->stop)
			break;
		sp_fill(buf, r->len, 0, r->seed);
		errno = 0;
		r->wret = write(r->wfd, buf, r->len);
		r->werr = errno;
		close(r->wfd);
		pthread_barrier_wait(&r->done);
	}
	free(buf);
	return NULL;
}

static uint64_t eof_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The reader's side of one round; returns the bytes it got before EOF. */
static ssize_t eof_read_side(enum eof_mode mode, int rfd, int p[2],
			     unsigned char *got, size_t cap)
{
	size_t total = 0;
	ssize_t n, m;

	for (;;) {
		switch (mode) {
		case EOF_READ:
			n = read(rfd, got + total, cap - total);
			break;
		case EOF_SPLICE_OUT:
			n = splice(rfd, NULL, p[1], NULL, cap - total, 0);
			if (n > 0) {
				m = sp_read_full(p[0], got + total, n);
				if (m != n)
					return -1;
			}
			break;
		default:	/* EOF_SPLICE_IN: pipe p[0] into device rfd */
			n = splice(p[0], NULL, rfd, NULL, cap - total, 0);
			break;
		}
		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)total;
		total += n;
		RL_ADD(ops, 1);
	}
}

static int t_eof_race(const void *arg)
{
	enum eof_mode mode = (enum eof_mode)(uintptr_t)arg;
	unsigned long rounds = rl_setting("SP_EOF_ROUNDS", 3000, 10000);
	unsigned long secs = rl_setting("SP_EOF_SECONDS", 4, 20);
	unsigned char *got = sp_malloc(8 * SP_PAGE);
	struct eof_round r = { 0 };
	uint64_t deadline = eof_now_ms() + secs * 1000;
	unsigned long i, short_eofs = 0;
	pthread_t th;
	int dev[2], p[2];
	ssize_t n;

	CHECK(!pthread_barrier_init(&r.start, NULL, 2), "barrier");
	CHECK(!pthread_barrier_init(&r.done, NULL, 2), "barrier");
	CHECK(!pthread_create(&th, NULL, eof_writer, &r), "pthread_create");
	for (i = 0; i < rounds && eof_now_ms() < deadline; i++) {
		/* 1 byte, under a page, a page, over a page, two pages */
		static const size_t lens[] = { 1, 1000, 4096, 5000, 8192 };

		r.len = lens[i % RL_ARRAY_SIZE(lens)];
		r.seed = i % 250;
		if (mode == EOF_SPLICE_IN) {
			/* the device is the reader's sink; a pipe is the race */
			CHECK_OK(dev[0], open(STABLEPIPE_DEV, O_RDWR));
			CHECK_RET(pipe(p), 0);
			r.wfd = p[1];
		} else {
			CHECK_RET(stablepipe2(dev, 0), 0);
			r.wfd = dev[1];
			if (mode == EOF_SPLICE_OUT)
				CHECK_RET(pipe(p), 0);
		}
		pthread_barrier_wait(&r.start);
		n = eof_read_side(mode, dev[0], p, got, 8 * SP_PAGE);
		pthread_barrier_wait(&r.done);
		CHECK(r.wret == (ssize_t)r.len, "round %lu: write %zu: %zd (%s)",
		      i, r.len, r.wret, strerror(r.werr));
		CHECK(n >= 0, "round %lu: %s", i, strerror(errno));
		if (mode == EOF_SPLICE_IN) {
			/* what reached the device, then the pipe's rest */
			n = sp_read_full(dev[0], got, n);
			CHECK_RET(close(p[0]), 0);
		} else if (mode == EOF_SPLICE_OUT) {
			CHECK_RET(close(p[0]), 0);
			CHECK_RET(close(p[1]), 0);
		}
		if ((size_t)n != r.len) {
			if (!short_eofs)
				ktap_print_msg("round %lu: %zu bytes written and closed, the reader saw EOF after %zd",
					       i, r.len, n);
			short_eofs++;
		} else {
			CHECK_PAT("data", got, r.len, 0, r.seed);
			RL_ADD(bytes, r.len);
		}
		CHECK_RET(close(dev[0]), 0);
	}
	r.stop = true;
	pthread_barrier_wait(&r.start);
	pthread_join(th, NULL);
	ktap_print_msg("%lu rounds, %lu ended early", i, short_eofs);
	CHECK(short_eofs == 0, "EOF before the last byte in %lu of %lu rounds",
	      short_eofs, i);
	CHECK(i >= 100, "only %lu rounds in the time allowed", i);
	return KSFT_PASS;
}

static const struct ktap_case cases[] = {
	{ "eof_race read", t_eof_race, (const void *)EOF_READ, 0 },
	{ "eof_race splice device to pipe", t_eof_race,
	  (const void *)EOF_SPLICE_OUT, 0 },
	{ "eof_race splice pipe to device", t_eof_race,
	  (const void *)EOF_SPLICE_IN, 0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	rl_init();
	rl_run_cases("eof_race_test", cases, RL_ARRAY_SIZE(cases), 120);
}
