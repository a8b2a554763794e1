// SPDX-License-Identifier: GPL-2.0
/*
 * semantics_test - the pipe-like semantics of /dev/stablepipe: instances,
 * readers and writers, EOF and EPIPE, blocking and O_NONBLOCK, write
 * atomicity, capacity, poll, splice in and out, sendfile, signals, and
 * every ioctl with its errors.  Each case checks the bytes that moved.
 *
 * Assumptions where the specification leaves room (each repeated at the
 * case that relies on it):
 *  - An instance opened O_RDONLY that never had a writer is at EOF at
 *    once (read returns 0, poll says POLLHUP): "no writer" means none now,
 *    not "none yet" as for FIFOs.
 *  - STABLEPIPE_IOC_NEW_FD creates only access modes within the calling
 *    fd's own (else EBADF); flags with the access mode 3 (O_ACCMODE) are
 *    not a valid access mode: EINVAL.
 *  - A command with the magic and number of a stablepipe ioctl but another
 *    size or direction is an unknown command: ENOTTY.
 *  - GET_STATS with .size larger than the kernel's struct: the kernel
 *    fills its own size and reports it; this header's struct is taken to
 *    be the kernel's.  With the ioctl number of a longer struct it also
 *    zeroes the caller's bytes after its own, up to .size; .size beyond
 *    the size encoded in the number counts as that size.
 *  - Setting a capacity equal to the bytes buffered is allowed (only a
 *    capacity below them is EBUSY).
 *  - With O_NONBLOCK on the device, splice from an empty pipe (that has a
 *    writer) into the device is EAGAIN, as with SPLICE_F_NONBLOCK.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include "sp_common.h"

#define CAP_DEFAULT	(1024 * 1024)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int new_fd(int fd, unsigned int flags)
{
	struct stablepipe_fd req = { .flags = flags };

	return ioctl(fd, STABLEPIPE_IOC_NEW_FD, &req);
}

/* ---- a helper thread that does one thing after a delay ---- */

enum delayed_op { D_WRITE, D_CLOSE, D_READ };

struct delayed {
	pthread_t th;
	unsigned int ms;
	enum delayed_op op;
	int fd;
	void *buf;
	size_t len;
	ssize_t ret;
	int err;
};

static void *delayed_fn(void *p)
{
	struct delayed *d = p;
	sigset_t all;

	/* Signals (SIGALRM, SIGPIPE) are for the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sp_msleep(d->ms);
	switch (d->op) {
	case D_WRITE:
		d->ret = sp_write_full(d->fd, d->buf, d->len);
		break;
	case D_CLOSE:
		d->ret = close(d->fd);
		break;
	case D_READ:
		d->ret = sp_read_full(d->fd, d->buf, d->len);
		break;
	}
	d->err = errno;
	return NULL;
}

static int delayed_start(struct delayed *d, enum delayed_op op, int fd,
			 void *buf, size_t len, unsigned int ms)
{
	d->op = op;
	d->fd = fd;
	d->buf = buf;
	d->len = len;
	d->ms = ms;
	d->ret = -1;
	d->err = 0;
	return pthread_create(&d->th, NULL, delayed_fn, d);
}

/* Reads @len bytes (or to EOF) in reads of at most @chunk bytes. */
struct reader {
	pthread_t th;
	int fd;
	unsigned char *buf;
	size_t len;
	size_t chunk;
	size_t got;
	int err;
};

static void *reader_fn(void *p)
{
	struct reader *r = p;
	sigset_t all;
	ssize_t n;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (r->got < r->len) {
		size_t want = r->len - r->got;

		if (want > r->chunk)
			want = r->chunk;
		n = read(r->fd, r->buf + r->got, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r->err = errno;
			break;
		}
		if (n == 0)
			break;
		r->got += n;
	}
	return NULL;
}

static int reader_start(struct reader *r, int fd, size_t len, size_t chunk)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->len = len;
	r->chunk = chunk;
	r->buf = sp_malloc(len);
	return pthread_create(&r->th, NULL, reader_fn, r);
}

/* ---- instances, read and write ---- */

static int t_independent(const void *arg)
{
	unsigned char *a = sp_pat_buf(5000, 0, 1), *b = sp_pat_buf(3000, 0, 2);
	unsigned char got[8192];
	int fa, fb;

	(void)arg;
	CHECK_OK(fa, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_OK(fb, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_RET(write(fa, a, 5000), 5000);
	CHECK_RET(sp_fionread(fa), 5000);
	CHECK_RET(sp_fionread(fb), 0);
	CHECK_RET(write(fb, b, 3000), 3000);
	CHECK_RET(read(fa, got, sizeof(got)), 5000);
	CHECK_PAT("instance A", got, 5000, 0, 1);
	CHECK_RET(read(fb, got, sizeof(got)), 3000);
	CHECK_PAT("instance B", got, 3000, 0, 2);
	return KSFT_PASS;
}

static int t_write_read(const void *arg)
{
	unsigned char *buf = sp_pat_buf(10000, 0, 3), got[20000];
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(write(fds[1], buf, 10000), 10000);
	CHECK_RET(sp_fionread(fds[0]), 10000);
	/* read returns what is there, up to count */
	CHECK_RET(read(fds[0], got, 3000), 3000);
	CHECK_RET(sp_fionread(fds[0]), 7000);
	CHECK_RET(read(fds[0], got + 3000, sizeof(got) - 3000), 7000);
	CHECK_PAT("read back", got, 10000, 0, 3);
	CHECK_RET(sp_fionread(fds[0]), 0);
	return KSFT_PASS;
}

static int t_eof_after_writer_close(const void *arg)
{
	unsigned char *buf = sp_pat_buf(5000, 0, 4), got[8192];
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(write(fds[1], buf, 5000), 5000);
	CHECK_RET(close(fds[1]), 0);
	/* buffered data first, then EOF, and EOF stays */
	CHECK_RET(sp_read_full(fds[0], got, sizeof(got)), 5000);
	CHECK_PAT("data before EOF", got, 5000, 0, 4);
	CHECK_RET(read(fds[0], got, sizeof(got)), 0);
	CHECK_RET(read(fds[0], got, sizeof(got)), 0);
	return KSFT_PASS;
}

static int t_eof_needs_all_writers(const void *arg)
{
	unsigned char *buf = sp_pat_buf(100, 0, 5), got[256];
	int fds[2], w2, rev;

	(void)arg;
	CHECK(stablepipe2(fds, O_NONBLOCK) == 0, "stablepipe2: %s",
	      strerror(errno));
	CHECK_OK(w2, new_fd(fds[1], O_WRONLY));
	CHECK_RET(close(fds[1]), 0);
	/* one writer left: no EOF */
	CHECK_ERR(read(fds[0], got, sizeof(got)), EAGAIN);
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK(rev == 0, "revents 0x%x with a writer and no data", rev);
	CHECK_RET(write(w2, buf, 100), 100);
	CHECK_RET(close(w2), 0);
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK((rev & (POLLIN | POLLHUP)) == (POLLIN | POLLHUP),
	      "revents 0x%x: want POLLIN|POLLHUP (data, no writer)", rev);
	CHECK_RET(read(fds[0], got, sizeof(got)), 100);
	CHECK_PAT("data of the second writer", got, 100, 0, 5);
	CHECK_RET(read(fds[0], got, sizeof(got)), 0);
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK((rev & POLLHUP) && !(rev & POLLIN),
	      "revents 0x%x: want POLLHUP without POLLIN", rev);
	return KSFT_PASS;
}

static int t_blocking_read_wakes(const void *arg)
{
	unsigned char *buf = sp_pat_buf(5000, 0, 6), got[8192];
	struct delayed d;
	double t0;
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(write(fds[1], buf, 3000), 3000);
	CHECK_RET(read(fds[0], got, sizeof(got)), 3000);
	/* the writer thread writes 2000 more after 200 ms, and closes */
	CHECK(delayed_start(&d, D_WRITE, fds[1], buf + 3000, 2000, 200) == 0,
	      "pthread_create");
	t0 = sp_now();
	CHECK_RET(sp_read_full(fds[0], got + 3000, 2000), 2000);
	CHECK(sp_now() - t0 >= 0.1, "read returned after %.3f s, before the write",
	      sp_now() - t0);
	pthread_join(d.th, NULL);
	CHECK(d.ret == 2000, "writer thread: %zd (%s)", d.ret, strerror(d.err));
	CHECK_PAT("data", got, 5000, 0, 6);
	/* now a blocked read must wake with EOF when the last writer goes */
	CHECK(delayed_start(&d, D_CLOSE, fds[1], NULL, 0, 200) == 0,
	      "pthread_create");
	t0 = sp_now();
	CHECK_RET(read(fds[0], got, sizeof(got)), 0);
	CHECK(sp_now() - t0 >= 0.1, "EOF after %.3f s, before the close",
	      sp_now() - t0);
	pthread_join(d.th, NULL);
	return KSFT_PASS;
}

static int t_rdwr_alone_no_eof(const void *arg)
{
	unsigned char *buf = sp_pat_buf(100, 0, 7), got[256];
	int fd, rev;

	(void)arg;
	/* an O_RDWR fd is a reader and a writer: no EOF, no EPIPE */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK));
	CHECK_ERR(read(fd, got, sizeof(got)), EAGAIN);
	rev = sp_poll1(fd, POLLIN | POLLOUT, 0);
	CHECK(rev == POLLOUT, "revents 0x%x, want POLLOUT only", rev);
	CHECK_RET(write(fd, buf, 100), 100);
	CHECK_RET(read(fd, got, sizeof(got)), 100);
	CHECK_PAT("O_RDWR loop-back", got, 100, 0, 7);
	CHECK_ERR(read(fd, got, sizeof(got)), EAGAIN);
	return KSFT_PASS;
}

static int t_rdonly_alone_eof(const void *arg)
{
	unsigned char got[16];
	int fd, rev;

	(void)arg;
	/*
	 * Assumption: "no writer" means none now; an instance that never
	 * had one is at EOF at once (unlike a FIFO, open never waits).
	 */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDONLY));
	CHECK_RET(read(fd, got, sizeof(got)), 0);
	rev = sp_poll1(fd, POLLIN, 0);
	CHECK((rev & POLLHUP) && !(rev & POLLIN), "revents 0x%x, want POLLHUP",
	      rev);
	CHECK_RET(close(fd), 0);
	/* and a lone writer sees POLLERR */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_WRONLY));
	rev = sp_poll1(fd, POLLOUT, 0);
	CHECK(rev & POLLERR, "revents 0x%x, want POLLERR (no reader)", rev);
	return KSFT_PASS;
}

static int t_espipe(const void *arg)
{
	unsigned char *buf = sp_pat_buf(100, 0, 8), got[128];
	int fd;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_ERR(lseek(fd, 0, SEEK_SET), ESPIPE);
	CHECK_ERR(lseek(fd, 0, SEEK_CUR), ESPIPE);
	CHECK_ERR(lseek(fd, 0, SEEK_END), ESPIPE);
	CHECK_ERR(pwrite(fd, buf, 100, 0), ESPIPE);
	CHECK_RET(sp_fionread(fd), 0);		/* pwrite moved nothing */
	CHECK_RET(write(fd, buf, 100), 100);
	CHECK_ERR(pread(fd, got, 10, 0), ESPIPE);
	CHECK_RET(sp_fionread(fd), 100);	/* pread consumed nothing */
	CHECK_RET(read(fd, got, sizeof(got)), 100);
	CHECK_PAT("data", got, 100, 0, 8);
	return KSFT_PASS;
}

static int t_nonblock_read(const void *arg)
{
	unsigned char *buf = sp_pat_buf(10, 0, 9), got[64];
	int fds[2], fl;

	(void)arg;
	CHECK(stablepipe2(fds, O_NONBLOCK) == 0, "stablepipe2: %s",
	      strerror(errno));
	CHECK_OK(fl, fcntl(fds[0], F_GETFL));
	CHECK(fl & O_NONBLOCK, "read end lacks O_NONBLOCK (flags 0%o)", fl);
	CHECK_OK(fl, fcntl(fds[1], F_GETFL));
	CHECK(fl & O_NONBLOCK, "write end lacks O_NONBLOCK (flags 0%o)", fl);
	CHECK_ERR(read(fds[0], got, sizeof(got)), EAGAIN);
	CHECK_RET(write(fds[1], buf, 10), 10);
	CHECK_RET(read(fds[0], got, sizeof(got)), 10);
	CHECK_PAT("data", got, 10, 0, 9);
	CHECK_ERR(read(fds[0], got, sizeof(got)), EAGAIN);
	/* O_NONBLOCK set later with fcntl counts too */
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(sp_set_nonblock(fds[0], true), 0);
	CHECK_ERR(read(fds[0], got, sizeof(got)), EAGAIN);
	return KSFT_PASS;
}

/* ---- EPIPE and SIGPIPE ---- */

static int t_epipe_no_reader(const void *arg)
{
	unsigned char *buf = sp_pat_buf(2 * CAP_DEFAULT, 0, 10), got[256];
	int w, r, fds[2];

	(void)arg;
	sp_catch_sigpipe();
	CHECK_OK(w, open(STABLEPIPE_DEV, O_WRONLY));
	CHECK_ERR(write(w, buf, 100), EPIPE);
	CHECK(sp_sigpipes == 1, "%d SIGPIPEs, want 1", (int)sp_sigpipes);
	/* a blocking write larger than the capacity must not wait either */
	CHECK_ERR(write(w, buf, 2 * CAP_DEFAULT), EPIPE);
	CHECK(sp_sigpipes == 2, "%d SIGPIPEs, want 2", (int)sp_sigpipes);
	CHECK_RET(sp_fionread(w), 0);
	/* a write-only fd cannot mint a reader: EPIPE is final */
	CHECK_ERR(new_fd(w, O_RDONLY), EBADF);
	CHECK_RET(close(w), 0);
	/* a reader that goes away */
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	w = fds[1];
	r = fds[0];
	CHECK_RET(write(w, buf, 100), 100);
	CHECK_RET(read(r, got, sizeof(got)), 100);
	CHECK_PAT("data once a reader exists", got, 100, 0, 10);
	CHECK_RET(close(r), 0);
	CHECK_ERR(write(w, buf, 100), EPIPE);
	CHECK(sp_sigpipes == 3, "%d SIGPIPEs, want 3", (int)sp_sigpipes);
	return KSFT_PASS;
}

static int t_sigpipe_kills(const void *arg)
{
	int status, w;
	pid_t pid;

	(void)arg;
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		alarm(20);
		w = open(STABLEPIPE_DEV, O_WRONLY);
		if (w < 0)
			_exit(2);
		if (write(w, "x", 1) < 0)
			_exit(3);
		_exit(4);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE,
	      "writer without a reader: status 0x%x, want death by SIGPIPE",
	      status);
	return KSFT_PASS;
}

static int t_blocked_write_wakes_epipe(const void *arg)
{
	unsigned char *buf = sp_pat_buf(8192 + 4096, 0, 11);
	struct delayed d;
	int fds[2];

	(void)arg;
	sp_catch_sigpipe();
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(sp_set_capacity(fds[1], 8192), 0);
	CHECK_RET(write(fds[1], buf, 8192), 8192);
	CHECK_RET(sp_fionread(fds[1]), 8192);
	/* full: the next write blocks until the last reader goes away */
	CHECK(delayed_start(&d, D_CLOSE, fds[0], NULL, 0, 200) == 0,
	      "pthread_create");
	CHECK_ERR(write(fds[1], buf + 8192, 4096), EPIPE);
	pthread_join(d.th, NULL);
	CHECK(sp_sigpipes >= 1, "no SIGPIPE");
	CHECK_RET(sp_fionread(fds[1]), 8192);
	return KSFT_PASS;
}

/* ---- O_NONBLOCK writes, capacity, atomicity ---- */

static int t_nonblock_fill(const void *arg)
{
	size_t chunk = 65536, total = 0, got = 0;
	unsigned char *buf, *in;
	int fds[2], rev;
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, O_NONBLOCK) == 0, "stablepipe2: %s",
	      strerror(errno));
	CHECK_RET(sp_get_capacity(fds[1]), CAP_DEFAULT);
	buf = sp_pat_buf(2 * CAP_DEFAULT, 0, 12);
	for (;;) {
		n = write(fds[1], buf + total, chunk);
		if (n < 0)
			break;
		CHECK(n > 0, "write returned 0");
		total += n;
		CHECK(total <= CAP_DEFAULT, "%zu bytes accepted, capacity %d",
		      total, CAP_DEFAULT);
	}
	CHECK(errno == EAGAIN, "write: %s, want EAGAIN", strerror(errno));
	CHECK_EQ_U64(total, CAP_DEFAULT, "bytes accepted before EAGAIN");
	CHECK_RET(sp_fionread(fds[0]), CAP_DEFAULT);
	CHECK_ERR(write(fds[1], buf, 1), EAGAIN);
	rev = sp_poll1(fds[1], POLLOUT, 0);
	CHECK(!(rev & POLLOUT), "full, yet revents 0x%x has POLLOUT", rev);
	in = sp_malloc(2 * CAP_DEFAULT);
	for (;;) {
		n = read(fds[0], in + got, 2 * CAP_DEFAULT - got);
		if (n <= 0)
			break;
		got += n;
	}
	CHECK(n < 0 && errno == EAGAIN, "read: %zd (%s), want EAGAIN", n,
	      strerror(errno));
	CHECK_EQ_U64(got, CAP_DEFAULT, "bytes read back");
	CHECK_PAT("a full instance", in, got, 0, 12);
	return KSFT_PASS;
}

static int t_nonblock_partial_atomic(const void *arg)
{
	size_t cap = CAP_DEFAULT, total = cap + 5000;
	unsigned char *buf = sp_pat_buf(total + 8192, 0, 13);
	unsigned char *in = sp_malloc(total);
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, O_NONBLOCK) == 0, "stablepipe2: %s",
	      strerror(errno));
	CHECK_RET(write(fds[1], buf, cap - 1000), cap - 1000);
	/* more than PIPE_BUF: what fits */
	CHECK_RET(write(fds[1], buf + cap - 1000, 8192), 1000);
	CHECK_RET(sp_fionread(fds[0]), cap);
	CHECK_RET(read(fds[0], in, 5000), 5000);
	/* exactly PIPE_BUF and it fits */
	CHECK_RET(write(fds[1], buf + cap, 4096), 4096);
	/* 904 bytes of room: 2000 <= PIPE_BUF is all or nothing */
	CHECK_ERR(write(fds[1], buf + cap + 4096, 2000), EAGAIN);
	CHECK_RET(sp_fionread(fds[0]), cap - 904);
	CHECK_RET(write(fds[1], buf + cap + 4096, 904), 904);
	CHECK_RET(sp_fionread(fds[0]), cap);
	CHECK_ERR(write(fds[1], buf, 1), EAGAIN);
	CHECK_RET(sp_read_full(fds[0], in + 5000, total - 5000), total - 5000);
	CHECK_PAT("stream of partial writes", in, total, 0, 13);
	CHECK_ERR(read(fds[0], in, 1), EAGAIN);
	return KSFT_PASS;
}

static int t_blocking_write_all(const void *arg)
{
	size_t len = 512 * 1024;
	unsigned char *buf = sp_pat_buf(len, 0, 14);
	struct reader r;
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(sp_set_capacity(fds[1], 65536), 0);
	CHECK(reader_start(&r, fds[0], len, 7000) == 0, "pthread_create");
	/* one write(2) of 8x the capacity: it must wait and write it all */
	CHECK_RET(write(fds[1], buf, len), len);
	CHECK_RET(close(fds[1]), 0);
	pthread_join(r.th, NULL);
	CHECK(r.err == 0, "reader: %s", strerror(r.err));
	CHECK_EQ_U64(r.got, len, "bytes the reader got");
	CHECK_PAT("one big blocking write", r.buf, len, 0, 14);
	return KSFT_PASS;
}

/* Writers of fixed-size records; the reader checks none was split. */
#define AT_WRITERS	4

struct at_writer {
	pthread_t th;
	int fd;
	unsigned int id;
	size_t rec;
	unsigned int nrec;
	int short_writes;
	int err;
};

static void at_record(unsigned char *p, size_t rec, unsigned int id,
		      unsigned int seq)
{
	sp_fill(p, rec, 0, 1 + id * 64 + seq);
	p[0] = (unsigned char)(id + 1);
	p[1] = (unsigned char)seq;
}

static void *at_writer_fn(void *p)
{
	struct at_writer *w = p;
	unsigned char *rec = malloc(w->rec);
	unsigned int s;
	ssize_t n;

	if (!rec) {
		w->err = ENOMEM;
		return NULL;
	}
	for (s = 0; s < w->nrec; s++) {
		at_record(rec, w->rec, w->id, s);
		n = write(w->fd, rec, w->rec);
		if (n < 0) {
			w->err = errno;
			break;
		}
		if ((size_t)n != w->rec)
			w->short_writes++;
	}
	free(rec);
	return NULL;
}

static int t_write_atomic(const void *arg)
{
	size_t rec = (size_t)(uintptr_t)arg, total, got = 0, i, bad = 0;
	unsigned int nrec = rec >= 4096 ? 32 : 64, next[AT_WRITERS] = { 0 };
	struct at_writer w[AT_WRITERS];
	unsigned char *in, *want;
	uint32_t lcg = 12345;
	int fds[2];
	unsigned int k;
	ssize_t n;

	total = (size_t)AT_WRITERS * nrec * rec;
	in = sp_malloc(total);
	want = sp_malloc(rec);
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	/* a small capacity: writers often wait for room for a whole record */
	CHECK_RET(sp_set_capacity(fds[1], 2 * rec), 0);
	for (k = 0; k < AT_WRITERS; k++) {
		w[k] = (struct at_writer){ .fd = fds[1], .id = k, .rec = rec,
					   .nrec = nrec };
		CHECK(pthread_create(&w[k].th, NULL, at_writer_fn, &w[k]) == 0,
		      "pthread_create");
	}
	/* odd-sized reads leave odd amounts of room */
	while (got < total) {
		size_t want_n;

		lcg = lcg * 1103515245 + 12345;
		want_n = 1 + (lcg >> 8) % 5000;
		if (want_n > total - got)
			want_n = total - got;
		n = read(fds[0], in + got, want_n);
		CHECK(n > 0, "read: %zd (%s) after %zu of %zu bytes", n,
		      n < 0 ? strerror(errno) : "EOF", got, total);
		got += n;
	}
	for (k = 0; k < AT_WRITERS; k++) {
		pthread_join(w[k].th, NULL);
		CHECK(!w[k].err && !w[k].short_writes,
		      "writer %u: %s, %d short writes", k, strerror(w[k].err),
		      w[k].short_writes);
	}
	for (i = 0; i < total; i += rec) {
		unsigned int id = in[i] - 1u, seq = in[i + 1];

		if (id >= AT_WRITERS || seq != (next[id] & 0xff)) {
			if (!bad)
				ktap_print_msg("record at offset %zu: writer %u seq %u, not a record start (next seqs %u %u %u %u)",
					       i, id, seq, next[0], next[1],
					       next[2], next[3]);
			bad++;
			continue;
		}
		at_record(want, rec, id, next[id]);
		if (sp_cmp("record", in + i, want, rec, i)) {
			if (!bad)
				ktap_print_msg("record at offset %zu (writer %u seq %u) was split or mixed",
					       i, id, seq);
			bad++;
		}
		next[id]++;
	}
	CHECK(bad == 0, "%zu of %zu records of %zu bytes were not atomic", bad,
	      total / rec, rec);
	return KSFT_PASS;
}

/* ---- poll ---- */

static int t_poll_states(const void *arg)
{
	size_t cap = CAP_DEFAULT, total = 0, got = 0;
	unsigned char *buf = sp_pat_buf(cap + 100, 0, 15);
	unsigned char *in = sp_malloc(cap + 100);
	int fds[2], rev;
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK(rev == 0, "empty: read end revents 0x%x, want 0", rev);
	rev = sp_poll1(fds[1], POLLOUT, 0);
	CHECK(rev == POLLOUT, "empty: write end revents 0x%x, want POLLOUT",
	      rev);
	CHECK_RET(write(fds[1], buf, 100), 100);
	total = 100;
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK(rev == POLLIN, "data: read end revents 0x%x, want POLLIN", rev);
	CHECK_RET(sp_set_nonblock(fds[1], true), 0);
	while ((n = write(fds[1], buf + total, cap + 100 - total)) > 0)
		total += n;
	CHECK_EQ_U64(total, cap, "bytes buffered when full");
	rev = sp_poll1(fds[1], POLLOUT, 0);
	CHECK(rev == 0, "full: write end revents 0x%x, want 0", rev);
	/* POLLOUT means room for PIPE_BUF (4096) bytes */
	CHECK_RET(read(fds[0], in, 4095), 4095);
	got = 4095;
	rev = sp_poll1(fds[1], POLLOUT, 0);
	CHECK(rev == 0, "4095 bytes of room: revents 0x%x, want 0", rev);
	CHECK_RET(read(fds[0], in + got, 1), 1);
	got++;
	rev = sp_poll1(fds[1], POLLOUT, 0);
	CHECK(rev == POLLOUT, "4096 bytes of room: revents 0x%x, want POLLOUT",
	      rev);
	CHECK_RET(close(fds[1]), 0);
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK(rev == (POLLIN | POLLHUP),
	      "data, no writer: revents 0x%x, want POLLIN|POLLHUP", rev);
	CHECK_RET(sp_read_full(fds[0], in + got, cap + 100 - got), total - got);
	CHECK_PAT("data read around the polls", in, total, 0, 15);
	rev = sp_poll1(fds[0], POLLIN, 0);
	CHECK(rev == POLLHUP, "empty, no writer: revents 0x%x, want POLLHUP",
	      rev);
	/* a writer whose last reader is gone */
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(close(fds[0]), 0);
	rev = sp_poll1(fds[1], POLLOUT, 0);
	CHECK(rev & POLLERR, "no reader: write end revents 0x%x, want POLLERR",
	      rev);
	return KSFT_PASS;
}

static int t_poll_wakeup(const void *arg)
{
	size_t cap = 65536, total = 0;
	unsigned char *buf = sp_pat_buf(cap + 3000, 0, 16);
	unsigned char got[8192];
	struct delayed d;
	int fds[2], rev;
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK(delayed_start(&d, D_WRITE, fds[1], buf, 3000, 200) == 0,
	      "pthread_create");
	rev = sp_poll1(fds[0], POLLIN, 20000);
	CHECK(rev == POLLIN, "poll for data: revents 0x%x, want POLLIN", rev);
	pthread_join(d.th, NULL);
	CHECK_RET(read(fds[0], got, sizeof(got)), 3000);
	CHECK_PAT("data that woke poll", got, 3000, 0, 16);

	CHECK_RET(sp_set_capacity(fds[1], cap), 0);
	CHECK_RET(sp_set_nonblock(fds[1], true), 0);
	while (total < cap &&
	       (n = write(fds[1], buf + 3000 + total, cap - total)) > 0)
		total += n;
	CHECK_EQ_U64(total, cap, "bytes buffered when full");
	CHECK_ERR(write(fds[1], buf, 1), EAGAIN);
	CHECK(delayed_start(&d, D_READ, fds[0], got, 8192, 200) == 0,
	      "pthread_create");
	rev = sp_poll1(fds[1], POLLOUT, 20000);
	CHECK(rev == POLLOUT, "poll for room: revents 0x%x, want POLLOUT", rev);
	pthread_join(d.th, NULL);
	CHECK(d.ret == 8192, "reader thread: %zd", d.ret);
	CHECK_PAT("data read to make room", got, 8192, 3000, 16);
	return KSFT_PASS;
}

static int t_fionread(const void *arg)
{
	unsigned char *buf = sp_pat_buf(14097, 0, 17), *in = sp_malloc(14097);
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(sp_fionread(fds[0]), 0);
	CHECK_RET(write(fds[1], buf, 1), 1);
	CHECK_RET(write(fds[1], buf + 1, 4096), 4096);
	CHECK_RET(write(fds[1], buf + 4097, 10000), 10000);
	CHECK_RET(sp_fionread(fds[0]), 14097);
	CHECK_RET(sp_fionread(fds[1]), 14097);
	CHECK_RET(read(fds[0], in, 97), 97);
	CHECK_RET(sp_fionread(fds[0]), 14000);
	CHECK_RET(sp_read_full(fds[0], in + 97, 14000), 14000);
	CHECK_RET(sp_fionread(fds[0]), 0);
	CHECK_PAT("data", in, 14097, 0, 17);
	return KSFT_PASS;
}

/* ---- STABLEPIPE_IOC_NEW_FD ---- */

static int t_new_fd_modes(const void *arg)
{
	static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
	static const int extras[] = { 0, O_NONBLOCK, O_CLOEXEC,
				      O_NONBLOCK | O_CLOEXEC };
	unsigned char buf[8], got[16];
	unsigned int i, j, seed = 20;
	int base, fd, fl, fdfl;

	(void)arg;
	CHECK_OK(base, open(STABLEPIPE_DEV, O_RDWR));
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		for (j = 0; j < ARRAY_SIZE(extras); j++, seed++) {
			int flags = modes[i] | extras[j];

			CHECK_OK(fd, new_fd(base, flags));
			CHECK_OK(fl, fcntl(fd, F_GETFL));
			CHECK_OK(fdfl, fcntl(fd, F_GETFD));
			CHECK((fl & O_ACCMODE) == modes[i],
			      "flags 0%o: access mode 0%o", flags,
			      fl & O_ACCMODE);
			CHECK(!(fl & O_NONBLOCK) == !(extras[j] & O_NONBLOCK),
			      "flags 0%o: F_GETFL 0%o", flags, fl);
			CHECK(!(fdfl & FD_CLOEXEC) == !(extras[j] & O_CLOEXEC),
			      "flags 0%o: F_GETFD 0%o", flags, fdfl);
			sp_fill(buf, sizeof(buf), 0, seed);
			if (modes[i] != O_RDONLY) {
				/* written through the new fd, read on base */
				CHECK_RET(write(fd, buf, sizeof(buf)),
					  sizeof(buf));
				CHECK_RET(read(base, got, sizeof(got)),
					  sizeof(buf));
				CHECK_PAT("new fd -> base", got, sizeof(buf),
					  0, seed);
			} else {
				CHECK_ERR(write(fd, buf, sizeof(buf)), EBADF);
			}
			if (modes[i] != O_WRONLY) {
				CHECK_RET(write(base, buf, sizeof(buf)),
					  sizeof(buf));
				CHECK_RET(read(fd, got, sizeof(got)),
					  sizeof(buf));
				CHECK_PAT("base -> new fd", got, sizeof(buf),
					  0, seed);
			} else {
				CHECK_ERR(read(fd, got, sizeof(got)), EBADF);
			}
			CHECK_RET(close(fd), 0);
		}
	}
	return KSFT_PASS;
}

/* NEW_FD mints only modes within the calling fd's own */
static int t_new_fd_within_mode(const void *arg)
{
	static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
	unsigned char buf[8] = "injected", got[16];
	unsigned int i, j;
	int base, from, fd, fl;

	(void)arg;
	sp_catch_sigpipe();
	CHECK_OK(base, open(STABLEPIPE_DEV, O_RDWR));
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		CHECK_OK(from, new_fd(base, modes[i]));
		for (j = 0; j < ARRAY_SIZE(modes); j++) {
			bool ok = modes[i] == O_RDWR || modes[j] == modes[i];

			if (!ok) {
				CHECK_ERR(new_fd(from, modes[j]), EBADF);
				CHECK_ERR(new_fd(from, modes[j] | O_CLOEXEC),
					  EBADF);
				continue;
			}
			CHECK_OK(fd, new_fd(from, modes[j]));
			CHECK_OK(fl, fcntl(fd, F_GETFL));
			CHECK((fl & O_ACCMODE) == modes[j],
			      "from 0%o: mode 0%o", modes[i], fl & O_ACCMODE);
			CHECK_RET(close(fd), 0);
		}
		CHECK_RET(close(from), 0);
	}
	/* the opened fds themselves obey the same rule */
	CHECK_OK(from, open(STABLEPIPE_DEV, O_RDONLY));
	CHECK_ERR(new_fd(from, O_WRONLY), EBADF);
	CHECK_ERR(new_fd(from, O_RDWR), EBADF);
	CHECK_RET(close(from), 0);
	/* a reader handed the read end cannot inject data */
	CHECK_OK(from, new_fd(base, O_RDONLY));
	CHECK_RET(close(base), 0);
	CHECK_ERR(new_fd(from, O_WRONLY), EBADF);
	CHECK_ERR(write(from, buf, sizeof(buf)), EBADF);
	CHECK_RET(read(from, got, sizeof(got)), 0);	/* EOF is final */
	CHECK_RET(close(from), 0);
	return KSFT_PASS;
}

static int t_new_fd_invalid(const void *arg)
{
	static const unsigned int bad[] = {
		O_APPEND, O_CREAT, O_TRUNC, O_EXCL, O_NOCTTY, O_SYNC, O_DSYNC,
		O_DIRECT, O_NOATIME, O_NOFOLLOW, O_DIRECTORY, O_PATH, O_ASYNC,
		O_RDWR | O_APPEND, O_WRONLY | O_TRUNC, 1u << 30, 1u << 31,
		O_ACCMODE,	/* access mode 3 is none of the three */
	};
	struct stablepipe_fd req;
	unsigned char *buf = sp_pat_buf(100, 0, 33), got[128];
	int base, probe, p;
	unsigned int i;

	(void)arg;
	CHECK_OK(base, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_OK(probe, dup(base));	/* the next free fd number */
	CHECK_RET(close(probe), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		req = (struct stablepipe_fd){ .flags = bad[i] };
		errno = 0;
		if (ioctl(base, STABLEPIPE_IOC_NEW_FD, &req) != -1 ||
		    errno != EINVAL) {
			ktap_print_msg("NEW_FD flags 0x%x: %s, want EINVAL",
				       bad[i], strerror(errno));
			return KSFT_FAIL;
		}
	}
	req = (struct stablepipe_fd){ .flags = O_RDONLY, .reserved = 1 };
	CHECK_ERR(ioctl(base, STABLEPIPE_IOC_NEW_FD, &req), EINVAL);
	req = (struct stablepipe_fd){ .flags = O_RDWR, .reserved = 1u << 31 };
	CHECK_ERR(ioctl(base, STABLEPIPE_IOC_NEW_FD, &req), EINVAL);
	CHECK_OK(p, dup(base));
	CHECK(p == probe, "a failed NEW_FD leaked an fd (next fd %d, was %d)",
	      p, probe);
	/* the instance still works */
	CHECK_RET(write(base, buf, 100), 100);
	CHECK_RET(read(base, got, sizeof(got)), 100);
	CHECK_PAT("data after the failed ioctls", got, 100, 0, 33);
	return KSFT_PASS;
}

static int fdinfo_rw(int fd, uint64_t readers, uint64_t writers)
{
	uint64_t r = ~0ULL, w = ~0ULL;

	CHECK(sp_fdinfo_u64(fd, "readers", &r) == 0,
	      "no readers: line in /proc/self/fdinfo/%d", fd);
	CHECK(sp_fdinfo_u64(fd, "writers", &w) == 0,
	      "no writers: line in /proc/self/fdinfo/%d", fd);
	CHECK(r == readers && w == writers,
	      "fdinfo readers %" PRIu64 " writers %" PRIu64 ", want %" PRIu64
	      " and %" PRIu64, r, w, readers, writers);
	return KSFT_PASS;
}

#define CHECK_RW(fd, r, w)						\
	CHECK(fdinfo_rw((fd), (r), (w)) == KSFT_PASS,			\
	      "reader/writer counts (see above)")

static int t_reader_writer_counts(const void *arg)
{
	unsigned char *buf = sp_pat_buf(100, 0, 34), got[128];
	int w, r, rw, d, base;

	(void)arg;
	sp_catch_sigpipe();
	CHECK_OK(w, open(STABLEPIPE_DEV, O_WRONLY));
	CHECK_RW(w, 0, 1);
	CHECK_ERR(write(w, buf, 100), EPIPE);
	CHECK_RET(close(w), 0);
	CHECK_OK(base, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_RW(base, 1, 1);
	CHECK_OK(w, new_fd(base, O_WRONLY));
	CHECK_RW(base, 1, 2);
	CHECK_OK(r, new_fd(base, O_RDONLY));
	CHECK_RW(r, 2, 2);
	CHECK_OK(rw, new_fd(base, O_RDWR));
	CHECK_RW(r, 3, 3);
	CHECK_RET(close(base), 0);
	CHECK_RW(r, 2, 2);
	CHECK_RET(write(w, buf, 100), 100);
	CHECK_OK(d, dup(rw));		/* same open file: no new reader */
	CHECK_RW(r, 2, 2);
	CHECK_RET(close(w), 0);
	CHECK_RW(r, 2, 1);
	CHECK_RET(close(rw), 0);	/* d keeps the open file */
	CHECK_RW(r, 2, 1);
	CHECK_RET(close(d), 0);
	CHECK_RW(r, 1, 0);
	CHECK_RET(read(r, got, sizeof(got)), 100);
	CHECK_PAT("data", got, 100, 0, 34);
	CHECK_RET(read(r, got, sizeof(got)), 0);
	return KSFT_PASS;
}

static int t_fork_child_reads(const void *arg)
{
	size_t len = 100000;
	unsigned char *buf = sp_pat_buf(len, 0, 35);
	int fds[2], c, fdfl, status;
	pid_t pid;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_OK(c, new_fd(fds[0], O_RDONLY | O_CLOEXEC));
	CHECK_OK(fdfl, fcntl(c, F_GETFD));
	CHECK(fdfl & FD_CLOEXEC, "O_CLOEXEC fd lacks FD_CLOEXEC");
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		unsigned char *in = malloc(2 * len);
		ssize_t n;

		alarm(60);
		close(fds[1]);	/* else the child would be a writer too */
		close(fds[0]);
		if (!in)
			_exit(2);
		n = sp_read_full(c, in, 2 * len);
		if (n != (ssize_t)len) {
			ktap_print_msg("child read %zd bytes, want %zu", n, len);
			_exit(1);
		}
		_exit(sp_cmp_pat("child's data", in, len, 0, 35) ? 1 : 0);
	}
	CHECK_RET(close(c), 0);
	CHECK_RET(close(fds[0]), 0);	/* the child is the only reader */
	CHECK_RET(sp_write_full(fds[1], buf, len), len);
	CHECK_RET(close(fds[1]), 0);	/* EOF for the child */
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child status 0x%x", status);
	return KSFT_PASS;
}

/* ---- capacity, policy, stats ---- */

static int t_capacity(const void *arg)
{
	uint64_t max = sp_module_param("max_capacity", 16 * SP_MIB);
	unsigned char *buf = sp_pat_buf(40000, 0, 36), *in = sp_malloc(40000);
	struct stablepipe_stats st;
	int fd;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK));
	CHECK_RET(sp_get_capacity(fd), CAP_DEFAULT);
	CHECK_RET(sp_get_stats(fd, &st), 0);
	CHECK_EQ_U64(st.capacity, CAP_DEFAULT, "stats.capacity");
	CHECK_ERR(sp_set_capacity(fd, 0), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, (1ULL << 30) + 1), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, 1ULL << 32), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, UINT64_MAX), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, UINT64_MAX - 4094), EINVAL);
	CHECK_RET(sp_get_capacity(fd), CAP_DEFAULT);
	CHECK_RET(sp_set_capacity(fd, 1), 0);
	CHECK_RET(sp_get_capacity(fd), 4096);
	CHECK_RET(sp_set_capacity(fd, 5000), 0);
	CHECK_RET(sp_get_capacity(fd), 8192);
	/* the capacity bounds the data */
	CHECK_RET(write(fd, buf, 20000), 8192);
	CHECK_RET(sp_fionread(fd), 8192);
	CHECK_ERR(write(fd, buf + 8192, 1), EAGAIN);
	CHECK_ERR(sp_set_capacity(fd, 4096), EBUSY);
	CHECK_RET(sp_get_capacity(fd), 8192);
	/* assumption: equal to the bytes buffered is not "below" them */
	CHECK_RET(sp_set_capacity(fd, 8192), 0);
	CHECK_RET(sp_set_capacity(fd, 10000), 0);
	CHECK_RET(sp_get_capacity(fd), 12288);
	CHECK_RET(write(fd, buf + 8192, 20000), 4096);
	CHECK_RET(sp_fionread(fd), 12288);
	CHECK_RET(sp_read_full(fd, in, 40000), 12288);
	CHECK_PAT("data bounded by the capacity", in, 12288, 0, 36);
	CHECK_RET(sp_set_capacity(fd, 4096), 0);
	CHECK_RET(sp_get_capacity(fd), 4096);

	if (!sp_have_cap(CAP_SYS_RESOURCE)) {
		ktap_print_msg("no CAP_SYS_RESOURCE: not setting a capacity above max_capacity");
		return KSFT_PASS;
	}
	if (max + 4096 <= (1ULL << 30)) {
		CHECK_RET(sp_set_capacity(fd, max + 4096), 0);
		CHECK_RET(sp_get_capacity(fd), max + 4096);
	}
	CHECK_RET(sp_set_capacity(fd, 1ULL << 30), 0);
	CHECK_RET(sp_get_capacity(fd), 1ULL << 30);
	return KSFT_PASS;
}

static int t_capacity_eperm(const void *arg)
{
	uint64_t max = sp_module_param("max_capacity", 16 * SP_MIB);
	int fd;

	(void)arg;
	if (max >= (1ULL << 30))
		return ktap_skip("max_capacity %" PRIu64 " leaves nothing above it",
				 max);
	if (sp_have_cap(CAP_SYS_RESOURCE) && sp_drop_cap(CAP_SYS_RESOURCE) < 0)
		return ktap_skip("cannot drop CAP_SYS_RESOURCE: %s",
				 strerror(errno));
	CHECK(!sp_have_cap(CAP_SYS_RESOURCE), "CAP_SYS_RESOURCE still there");
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR));
	ktap_print_msg("max_capacity %" PRIu64, max);
	CHECK_ERR(sp_set_capacity(fd, ((max + 4095) & ~4095ULL) + 4096), EPERM);
	CHECK_RET(sp_get_capacity(fd), CAP_DEFAULT);
	CHECK_RET(sp_set_capacity(fd, max & ~4095ULL), 0);
	CHECK_RET(sp_get_capacity(fd), max & ~4095ULL);
	return KSFT_PASS;
}

static int t_policy(const void *arg)
{
	unsigned char *buf = sp_pat_buf(10000, 0, 37), *in = sp_malloc(10000);
	__u32 pol = 99;
	int fd, other, nfd;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_OK(other, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_AUTO, "default policy");
	CHECK_RET(sp_set_policy(fd, STABLEPIPE_POLICY_COPY), 0);
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_COPY, "policy after SET COPY");
	CHECK_ERR(sp_set_policy(fd, 2), EINVAL);
	CHECK_ERR(sp_set_policy(fd, UINT32_MAX), EINVAL);
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_COPY, "policy after bad SETs");
	/* per instance, shared by the fds of one instance */
	CHECK_RET(ioctl(other, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_AUTO, "policy of another instance");
	CHECK_OK(nfd, new_fd(fd, O_RDONLY));
	CHECK_RET(ioctl(nfd, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_COPY, "policy seen by a NEW_FD fd");
	CHECK_RET(write(fd, buf, 10000), 10000);
	CHECK_RET(sp_read_full(nfd, in, 10000), 10000);
	CHECK_PAT("data under POLICY_COPY", in, 10000, 0, 37);
	CHECK_RET(sp_set_policy(fd, STABLEPIPE_POLICY_AUTO), 0);
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_AUTO, "policy after SET AUTO");
	return KSFT_PASS;
}

static bool all_bytes(const unsigned char *p, size_t from, size_t to,
		      unsigned char v)
{
	size_t i;

	for (i = from; i < to; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* GET_STATS as built against a struct of @size bytes */
#define STATS_IOC(size)	_IOC(_IOC_READ | _IOC_WRITE, STABLEPIPE_IOC_MAGIC, \
			     _IOC_NR(STABLEPIPE_IOC_GET_STATS), (size))

static int t_stats_sizes(const void *arg)
{
	const size_t sz = sizeof(struct stablepipe_stats);
	union {
		struct stablepipe_stats st;
		unsigned char b[sizeof(struct stablepipe_stats) + 64];
	} u;
	unsigned char *buf = sp_pat_buf(10000, 0, 38), *in = sp_malloc(10000);
	int fd;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR));
	memset(&u, 0xAA, sizeof(u));
	u.st.size = sz;
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &u.st), 0);
	CHECK_EQ_U64(u.st.size, sz, "stats.size");
	CHECK_EQ_U64(u.st.version, STABLEPIPE_STATS_VERSION, "stats.version");
	CHECK_EQ_U64(u.st.capacity, CAP_DEFAULT, "stats.capacity");
	CHECK_EQ_U64(u.st.bytes_buffered, 0, "stats.bytes_buffered");
	CHECK_EQ_U64(u.st.pages_stolen + u.st.pages_copied, 0, "page counts");
	CHECK(all_bytes(u.b, sz, sizeof(u), 0xAA),
	      "bytes after the struct were written");

	CHECK_RET(write(fd, buf, 10000), 10000);
	CHECK_RET(sp_get_stats(fd, &u.st), 0);
	CHECK_EQ_U64(u.st.bytes_in_write, 10000, "stats.bytes_in_write");
	CHECK_EQ_U64(u.st.bytes_buffered, 10000, "stats.bytes_buffered");

	/* the smallest size: just .size and .version */
	memset(&u, 0xAA, sizeof(u));
	u.st.size = 8;
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &u.st), 0);
	CHECK_EQ_U64(u.st.size, 8, "stats.size for size 8");
	CHECK_EQ_U64(u.st.version, STABLEPIPE_STATS_VERSION, "stats.version");
	CHECK(all_bytes(u.b, 8, sizeof(u), 0xAA),
	      "size 8: bytes after the first 8 were written");

	memset(&u, 0xAA, sizeof(u));
	u.st.size = 16;
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &u.st), 0);
	CHECK_EQ_U64(u.st.size, 16, "stats.size for size 16");
	CHECK_EQ_U64(u.st.pages_stolen, 0, "stats.pages_stolen for size 16");
	CHECK(all_bytes(u.b, 16, sizeof(u), 0xAA),
	      "size 16: bytes after the first 16 were written");

	/* larger than the kernel knows: it fills its own size */
	memset(&u, 0xAA, sizeof(u));
	u.st.size = sizeof(u);
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &u.st), 0);
	CHECK_EQ_U64(u.st.size, sz, "stats.size for a larger struct");
	CHECK_EQ_U64(u.st.bytes_buffered, 10000, "stats.bytes_buffered");
	CHECK(all_bytes(u.b, sz, sizeof(u), 0xAA),
	      "bytes beyond the kernel's struct were written");

	/*
	 * A program built against an older, shorter struct: its own ioctl
	 * number (the size is part of it) works, and nothing after its
	 * struct is written.
	 */
	memset(&u, 0xAA, sizeof(u));
	u.st.size = 16;
	CHECK_RET(ioctl(fd, STATS_IOC(16), &u.st), 0);
	CHECK_EQ_U64(u.st.size, 16, "stats.size, 16-byte struct");
	CHECK_EQ_U64(u.st.version, STABLEPIPE_STATS_VERSION, "stats.version");
	CHECK_EQ_U64(u.st.pages_stolen, 0, "stats.pages_stolen, 16-byte struct");
	CHECK(all_bytes(u.b, 16, sizeof(u), 0xAA),
	      "16-byte struct: bytes after it were written");

	/*
	 * A program built against a newer, longer struct: its own number
	 * works; the kernel fills its own fields and zeroes the rest.
	 */
	memset(&u, 0xAA, sizeof(u));
	u.st.size = sz + 32;
	CHECK_RET(ioctl(fd, STATS_IOC(sz + 32), &u.st), 0);
	CHECK_EQ_U64(u.st.size, sz, "stats.size, longer struct");
	CHECK_EQ_U64(u.st.bytes_buffered, 10000, "stats.bytes_buffered");
	CHECK(all_bytes(u.b, sz, sz + 32, 0),
	      "longer struct: the fields the kernel does not know are not 0");
	CHECK(all_bytes(u.b, sz + 32, sizeof(u), 0xAA),
	      "longer struct: bytes after it were written");
	/* .size beyond the number's size: only the number's size is touched */
	memset(&u, 0xAA, sizeof(u));
	u.st.size = sizeof(u);
	CHECK_RET(ioctl(fd, STATS_IOC(sz + 32), &u.st), 0);
	CHECK(all_bytes(u.b, sz, sz + 32, 0), "fields after ours are not 0");
	CHECK(all_bytes(u.b, sz + 32, sizeof(u), 0xAA),
	      "bytes beyond the number's size were written");
	/* a number whose size cannot hold .size and .version */
	u.st.size = sz;
	CHECK_ERR(ioctl(fd, STATS_IOC(4), &u.st), EINVAL);
	u.st.size = 16;
	CHECK_ERR(ioctl(fd, STATS_IOC(7), &u.st), EINVAL);

	u.st.size = 7;
	CHECK_ERR(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &u.st), EINVAL);
	u.st.size = 0;
	CHECK_ERR(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &u.st), EINVAL);

	CHECK_RET(sp_read_full(fd, in, 10000), 10000);
	CHECK_PAT("data", in, 10000, 0, 38);
	CHECK_RET(sp_get_stats(fd, &u.st), 0);
	CHECK_EQ_U64(u.st.bytes_out_read, 10000, "stats.bytes_out_read");
	CHECK_EQ_U64(u.st.bytes_buffered, 0, "stats.bytes_buffered");
	return KSFT_PASS;
}

static int t_ioctl_efault(const void *arg)
{
	static const struct {
		unsigned long cmd;
		const char *name;
	} cmds[] = {
		{ FIONREAD, "FIONREAD" },
		{ STABLEPIPE_IOC_NEW_FD, "NEW_FD" },
		{ STABLEPIPE_IOC_GET_CAPACITY, "GET_CAPACITY" },
		{ STABLEPIPE_IOC_SET_CAPACITY, "SET_CAPACITY" },
		{ STABLEPIPE_IOC_GET_POLICY, "GET_POLICY" },
		{ STABLEPIPE_IOC_SET_POLICY, "SET_POLICY" },
		{ STABLEPIPE_IOC_GET_STATS, "GET_STATS" },
	};
	void *const ptrs[] = { NULL, (void *)1 };
	unsigned char *buf = sp_pat_buf(100, 0, 39), got[128];
	__u32 pol = 0;
	unsigned int i, j;
	int fd, probe, p;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_OK(probe, dup(fd));
	CHECK_RET(close(probe), 0);
	CHECK_RET(write(fd, buf, 100), 100);
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		for (j = 0; j < ARRAY_SIZE(ptrs); j++) {
			errno = 0;
			if (ioctl(fd, cmds[i].cmd, ptrs[j]) != -1 ||
			    errno != EFAULT) {
				ktap_print_msg("%s with pointer %p: %s, want EFAULT",
					       cmds[i].name, ptrs[j],
					       strerror(errno));
				return KSFT_FAIL;
			}
		}
	}
	CHECK_OK(p, dup(fd));
	CHECK(p == probe, "a failed NEW_FD leaked an fd");
	CHECK_RET(sp_get_capacity(fd), CAP_DEFAULT);
	CHECK_RET(ioctl(fd, STABLEPIPE_IOC_GET_POLICY, &pol), 0);
	CHECK_EQ_U64(pol, STABLEPIPE_POLICY_AUTO, "policy");
	CHECK_RET(read(fd, got, sizeof(got)), 100);
	CHECK_PAT("data", got, 100, 0, 39);
	return KSFT_PASS;
}

static int t_ioctl_enotty(const void *arg)
{
	static const struct {
		unsigned long cmd;
		const char *name;
	} cmds[] = {
		{ _IO(STABLEPIPE_IOC_MAGIC, 0), "_IO(magic, 0)" },
		{ _IO(STABLEPIPE_IOC_MAGIC, 99), "_IO(magic, 99)" },
		{ _IOWR(STABLEPIPE_IOC_MAGIC, 7, __u64), "_IOWR(magic, 7)" },
		/* assumption: another size or direction is another command */
		{ _IOR(STABLEPIPE_IOC_MAGIC, 2, __u32), "GET_CAPACITY with __u32" },
		{ _IOR(STABLEPIPE_IOC_MAGIC, 1, struct stablepipe_fd),
		  "NEW_FD as _IOR" },
		/* GET_STATS takes any size, but only as _IOWR */
		{ _IOR(STABLEPIPE_IOC_MAGIC, 6, struct stablepipe_stats),
		  "GET_STATS as _IOR" },
		{ _IO(STABLEPIPE_IOC_MAGIC, 6), "GET_STATS as _IO" },
		{ 0x5401, "TCGETS" },
		/* the magic 0.1.0 first used (nsfs's and remoteproc's) */
		{ _IOWR(0xB7, 6, struct stablepipe_stats), "GET_STATS, magic 0xB7" },
		{ _IOR(0xB7, 2, __u64), "GET_CAPACITY, magic 0xB7" },
		{ _IOW(0xB7, 1, struct stablepipe_fd), "NEW_FD, magic 0xB7" },
	};
	unsigned char *buf = sp_pat_buf(100, 0, 40), got[128];
	__u64 scratch[64];
	unsigned int i;
	int fd;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR));
	CHECK_RET(write(fd, buf, 100), 100);
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(scratch, 0, sizeof(scratch));
		errno = 0;
		if (ioctl(fd, cmds[i].cmd, scratch) != -1 || errno != ENOTTY) {
			ktap_print_msg("ioctl %s (0x%lx): %s, want ENOTTY",
				       cmds[i].name, cmds[i].cmd,
				       strerror(errno));
			return KSFT_FAIL;
		}
	}
	CHECK_RET(sp_fionread(fd), 100);
	CHECK_RET(read(fd, got, sizeof(got)), 100);
	CHECK_PAT("data", got, 100, 0, 40);
	return KSFT_PASS;
}

/* ---- splice into the device, sendfile ---- */

static int t_splice_in(const void *arg)
{
	unsigned char *buf = sp_pat_buf(24096, 0, 41), *in = sp_malloc(24096);
	size_t done = 0;
	int fds[2], p[2];
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(pipe(p), 0);
	CHECK_RET(write(p[1], buf, 20000), 20000);
	while (done < 20000) {
		n = splice(p[0], NULL, fds[1], NULL, 100000, 0);
		CHECK(n > 0 && done + n <= 20000, "splice: %zd (%s) after %zu",
		      n, n < 0 ? strerror(errno) : "-", done);
		done += n;
	}
	CHECK_RET(sp_fionread(fds[0]), 20000);
	CHECK_RET(sp_fionread(p[0]), 0);
	/* part of a pipe buffer: the rest stays in the pipe, in order */
	CHECK_RET(write(p[1], buf + 20000, 4096), 4096);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 1000, 0), 1000);
	CHECK_RET(sp_fionread(p[0]), 3096);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 100000, 0), 3096);
	CHECK_RET(sp_read_full(fds[0], in, 24096), 24096);
	CHECK_PAT("data spliced in", in, 24096, 0, 41);
	return KSFT_PASS;
}

static int t_splice_in_nonblock(const void *arg)
{
	unsigned char *buf = sp_pat_buf(8192 + 4096 + 100, 0, 42);
	unsigned char *in = sp_malloc(8192);
	struct delayed d;
	int fds[2], p[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(pipe(p), 0);
	/* empty pipe with a writer */
	CHECK_ERR(splice(p[0], NULL, fds[1], NULL, 4096, SPLICE_F_NONBLOCK),
		  EAGAIN);
	CHECK_RET(sp_set_nonblock(fds[1], true), 0);
	CHECK_ERR(splice(p[0], NULL, fds[1], NULL, 4096, 0), EAGAIN);
	CHECK_RET(sp_set_nonblock(fds[1], false), 0);
	/* full device */
	CHECK_RET(sp_set_capacity(fds[1], 8192), 0);
	CHECK_RET(write(fds[1], buf, 8192), 8192);
	CHECK_RET(write(p[1], buf + 8192, 4096), 4096);
	CHECK_ERR(splice(p[0], NULL, fds[1], NULL, 4096, SPLICE_F_NONBLOCK),
		  EAGAIN);
	CHECK_RET(sp_set_nonblock(fds[1], true), 0);
	CHECK_ERR(splice(p[0], NULL, fds[1], NULL, 4096, 0), EAGAIN);
	CHECK_RET(sp_set_nonblock(fds[1], false), 0);
	CHECK_RET(sp_fionread(p[0]), 4096);
	CHECK_RET(sp_fionread(fds[0]), 8192);
	/* blocking: waits until a reader makes room */
	CHECK(delayed_start(&d, D_READ, fds[0], in, 8192, 200) == 0,
	      "pthread_create");
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 4096, 0), 4096);
	pthread_join(d.th, NULL);
	CHECK(d.ret == 8192, "reader thread: %zd", d.ret);
	CHECK_PAT("data that was in the full device", in, 8192, 0, 42);
	CHECK_RET(sp_read_full(fds[0], in, 4096), 4096);
	CHECK_PAT("data spliced once there was room", in, 4096, 8192, 42);
	/* empty pipe without a writer: 0 */
	CHECK_RET(close(p[1]), 0);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 4096, 0), 0);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 4096, SPLICE_F_NONBLOCK), 0);
	/* ... even into a full device: end of file, not a wait for room */
	CHECK_RET(write(fds[1], buf, 8192), 8192);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 4096, SPLICE_F_NONBLOCK), 0);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 4096, 0), 0);
	return KSFT_PASS;
}

static int t_splice_in_blocks(const void *arg)
{
	unsigned char *buf = sp_pat_buf(5000, 0, 43), *in = sp_malloc(5000);
	struct delayed d;
	size_t done = 0;
	int fds[2], p[2];
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(pipe(p), 0);
	CHECK(delayed_start(&d, D_WRITE, p[1], buf, 5000, 200) == 0,
	      "pthread_create");
	while (done < 5000) {
		n = splice(p[0], NULL, fds[1], NULL, 100000, 0);
		CHECK(n > 0, "splice: %zd (%s) after %zu bytes", n,
		      n < 0 ? strerror(errno) : "-", done);
		done += n;
	}
	pthread_join(d.th, NULL);
	CHECK_RET(sp_read_full(fds[0], in, 5000), 5000);
	CHECK_PAT("data spliced after waiting", in, 5000, 0, 43);
	return KSFT_PASS;
}

static int t_splice_in_epipe(const void *arg)
{
	unsigned char *buf = sp_pat_buf(4096, 0, 44), *in = sp_malloc(4096);
	int w, p[2];

	(void)arg;
	sp_catch_sigpipe();
	CHECK_OK(w, open(STABLEPIPE_DEV, O_WRONLY));
	CHECK_RET(pipe(p), 0);
	CHECK_RET(write(p[1], buf, 4096), 4096);
	CHECK_ERR(splice(p[0], NULL, w, NULL, 4096, 0), EPIPE);
	CHECK(sp_sigpipes == 1, "%d SIGPIPEs, want 1", (int)sp_sigpipes);
	/* nothing was taken from the pipe */
	CHECK_RET(sp_fionread(p[0]), 4096);
	CHECK_RET(read(p[0], in, 4096), 4096);
	CHECK_PAT("data left in the pipe", in, 4096, 0, 44);
	return KSFT_PASS;
}

static int t_sendfile(const void *arg)
{
	size_t len = 300000;
	unsigned char in[5000];
	struct reader r;
	off_t off = 0, prev;
	int fds[2], ffd, calls = 0;
	ssize_t n;

	(void)arg;
	ffd = sp_scratch_file(len, 45, 0, SP_CLEAN);
	CHECK(ffd >= 0, "scratch file");
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(sp_set_capacity(fds[1], 65536), 0);
	CHECK(reader_start(&r, fds[0], len, 8192) == 0, "pthread_create");
	while ((size_t)off < len) {
		prev = off;
		n = sendfile(fds[1], ffd, &off, len - off);
		CHECK(n > 0, "sendfile: %zd (%s) at offset %lld", n,
		      n < 0 ? strerror(errno) : "-", (long long)prev);
		CHECK(off == prev + n, "offset %lld after %zd bytes from %lld",
		      (long long)off, n, (long long)prev);
		calls++;
	}
	CHECK_RET(lseek(ffd, 0, SEEK_CUR), 0);	/* file position untouched */
	CHECK_RET(close(fds[1]), 0);
	pthread_join(r.th, NULL);
	ktap_print_msg("%zu bytes in %d sendfile calls (capacity 64 KiB)", len,
		       calls);
	CHECK(r.err == 0, "reader: %s", strerror(r.err));
	CHECK_EQ_U64(r.got, len, "bytes the reader got");
	CHECK_PAT("data sent", r.buf, len, 0, 45);

	/* NULL offset: the file position is used and advanced */
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(sendfile(fds[1], ffd, NULL, 5000), 5000);
	CHECK_RET(lseek(ffd, 0, SEEK_CUR), 5000);
	CHECK_RET(read(fds[0], in, sizeof(in)), 5000);
	CHECK_PAT("data sent from the file position", in, 5000, 0, 45);
	return KSFT_PASS;
}

/* ---- splice out of the device ---- */

static int t_splice_out(const void *arg)
{
	unsigned char *buf = sp_pat_buf(15000, 0, 46), *in = sp_malloc(15000);
	size_t done = 0;
	int fds[2], p[2];
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(pipe(p), 0);
	CHECK_RET(write(fds[1], buf, 10000), 10000);
	while (done < 10000) {
		n = splice(fds[0], NULL, p[1], NULL, 100000, 0);
		CHECK(n > 0 && done + n <= 10000, "splice: %zd (%s) after %zu",
		      n, n < 0 ? strerror(errno) : "-", done);
		done += n;
	}
	CHECK_RET(sp_fionread(fds[0]), 0);
	CHECK_RET(sp_fionread(p[0]), 10000);
	CHECK_RET(write(fds[1], buf + 10000, 5000), 5000);
	CHECK_RET(splice(fds[0], NULL, p[1], NULL, 1000, 0), 1000);
	CHECK_RET(sp_fionread(fds[0]), 4000);
	CHECK_RET(splice(fds[0], NULL, p[1], NULL, 100000, 0), 4000);
	CHECK_RET(sp_read_full(p[0], in, 15000), 15000);
	CHECK_PAT("data spliced out", in, 15000, 0, 46);
	return KSFT_PASS;
}

static int t_splice_out_nonblock(const void *arg)
{
	unsigned char *buf = sp_pat_buf(100, 0, 47), in[128];
	int fds[2], p[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(pipe(p), 0);
	CHECK_ERR(splice(fds[0], NULL, p[1], NULL, 4096, SPLICE_F_NONBLOCK),
		  EAGAIN);
	CHECK_RET(sp_set_nonblock(fds[0], true), 0);
	CHECK_ERR(splice(fds[0], NULL, p[1], NULL, 4096, 0), EAGAIN);
	CHECK_RET(sp_set_nonblock(fds[0], false), 0);
	CHECK_RET(write(fds[1], buf, 100), 100);
	CHECK_RET(close(fds[1]), 0);
	CHECK_RET(splice(fds[0], NULL, p[1], NULL, 4096, 0), 100);
	CHECK_RET(splice(fds[0], NULL, p[1], NULL, 4096, 0), 0);	/* EOF */
	CHECK_RET(splice(fds[0], NULL, p[1], NULL, 4096, SPLICE_F_NONBLOCK), 0);
	CHECK_RET(read(p[0], in, sizeof(in)), 100);
	CHECK_PAT("data spliced out", in, 100, 0, 47);
	return KSFT_PASS;
}

static int t_splice_out_blocks(const void *arg)
{
	unsigned char *buf = sp_pat_buf(3000, 0, 48), in[4096];
	struct delayed d;
	size_t done = 0;
	int fds[2], p[2];
	ssize_t n;

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(pipe(p), 0);
	CHECK(delayed_start(&d, D_WRITE, fds[1], buf, 3000, 200) == 0,
	      "pthread_create");
	while (done < 3000) {
		n = splice(fds[0], NULL, p[1], NULL, 100000, 0);
		CHECK(n > 0, "splice: %zd (%s) after %zu", n,
		      n < 0 ? strerror(errno) : "-", done);
		done += n;
	}
	pthread_join(d.th, NULL);
	CHECK_RET(read(p[0], in, sizeof(in)), 3000);
	CHECK_PAT("data spliced out after waiting", in, 3000, 0, 48);
	/* and a blocked splice wakes with 0 when the last writer goes */
	CHECK(delayed_start(&d, D_CLOSE, fds[1], NULL, 0, 200) == 0,
	      "pthread_create");
	CHECK_RET(splice(fds[0], NULL, p[1], NULL, 100000, 0), 0);
	pthread_join(d.th, NULL);
	return KSFT_PASS;
}

/* ---- signals during a blocking read ---- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int set_alarm_handler(int flags, unsigned int period_ms)
{
	struct itimerval it = {
		.it_interval = { period_ms / 1000, (period_ms % 1000) * 1000 },
		.it_value = { period_ms / 1000, (period_ms % 1000) * 1000 },
	};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	alarms = 0;
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return -1;
	return setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_timer(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
}

static int t_read_eintr(const void *arg)
{
	unsigned char *buf = sp_pat_buf(100, 0, 49), in[128];
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	CHECK_RET(set_alarm_handler(0, 200), 0);	/* no SA_RESTART */
	CHECK_ERR(read(fds[0], in, sizeof(in)), EINTR);
	stop_timer();
	CHECK(alarms >= 1, "EINTR without a signal?");
	/* the instance is intact */
	CHECK_RET(write(fds[1], buf, 100), 100);
	CHECK_RET(read(fds[0], in, sizeof(in)), 100);
	CHECK_PAT("data after EINTR", in, 100, 0, 49);
	return KSFT_PASS;
}

static int t_read_restart(const void *arg)
{
	unsigned char *buf = sp_pat_buf(5000, 0, 50), in[8192];
	struct delayed d;
	int fds[2];

	(void)arg;
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	/* the writer thread blocks all signals: they hit the reader */
	CHECK(delayed_start(&d, D_WRITE, fds[1], buf, 5000, 700) == 0,
	      "pthread_create");
	CHECK_RET(set_alarm_handler(SA_RESTART, 50), 0);
	CHECK_RET(read(fds[0], in, sizeof(in)), 5000);
	stop_timer();
	pthread_join(d.th, NULL);
	ktap_print_msg("%d SIGALRMs during the read", (int)alarms);
	CHECK(alarms >= 2, "only %d signals: the read was not interrupted",
	      (int)alarms);
	CHECK_PAT("data of the restarted read", in, 5000, 0, 50);
	return KSFT_PASS;
}

/* Write @val to the module parameter @name; returns 0 or -errno. */
static int sp_param_write(const char *name, const char *val)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/module/stablepipe/parameters/%s",
		 name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * default_capacity accepts 1 byte to 1 GiB, rounded up to a page; 0 would
 * make every write spin, so it is refused.
 */
static int t_param_default_capacity(const void *arg)
{
	uint64_t saved = sp_module_param("default_capacity", 0);
	char buf[32];
	int fd, ret;

	(void)arg;
	CHECK(saved, "default_capacity unreadable");
	CHECK((ret = sp_param_write("default_capacity", "0")) == -EINVAL,
	      "writing 0 gave %d", ret);
	CHECK((ret = sp_param_write("default_capacity", "1073741825")) ==
	      -EINVAL, "writing 1 GiB + 1 gave %d", ret);
	CHECK((ret = sp_param_write("default_capacity", "5000")) == 0,
	      "writing 5000 gave %d", ret);
	CHECK_EQ_U64(sp_module_param("default_capacity", 0), 8192,
		     "default_capacity after writing 5000");
	CHECK_OK(fd, open("/dev/stablepipe", O_RDWR));
	CHECK_EQ_U64((uint64_t)sp_get_capacity(fd), 8192,
		     "capacity of a new instance");
	close(fd);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)saved);
	CHECK(sp_param_write("default_capacity", buf) == 0, "restore");
	CHECK_EQ_U64(sp_module_param("default_capacity", 0), saved,
		     "default_capacity restored");
	return KSFT_PASS;
}

#define CASE(fn)		{ #fn, fn, NULL, 0 }
#define CASE_ARG(name, fn, a)	{ name, fn, (const void *)(uintptr_t)(a), 0 }

static const struct ktap_case cases[] = {
	CASE(t_independent),
	CASE(t_write_read),
	CASE(t_eof_after_writer_close),
	CASE(t_eof_needs_all_writers),
	CASE(t_blocking_read_wakes),
	CASE(t_rdwr_alone_no_eof),
	CASE(t_rdonly_alone_eof),
	CASE(t_espipe),
	CASE(t_nonblock_read),
	CASE(t_epipe_no_reader),
	CASE(t_sigpipe_kills),
	CASE(t_blocked_write_wakes_epipe),
	CASE(t_nonblock_fill),
	CASE(t_nonblock_partial_atomic),
	CASE(t_blocking_write_all),
	CASE_ARG("t_write_atomic 4096-byte records", t_write_atomic, 4096),
	CASE_ARG("t_write_atomic 1000-byte records", t_write_atomic, 1000),
	CASE(t_poll_states),
	CASE(t_poll_wakeup),
	CASE(t_fionread),
	CASE(t_new_fd_modes),
	CASE(t_new_fd_within_mode),
	CASE(t_new_fd_invalid),
	CASE(t_reader_writer_counts),
	CASE(t_fork_child_reads),
	CASE(t_capacity),
	CASE(t_capacity_eperm),
	CASE(t_param_default_capacity),
	CASE(t_policy),
	CASE(t_stats_sizes),
	CASE(t_ioctl_efault),
	CASE(t_ioctl_enotty),
	CASE(t_splice_in),
	CASE(t_splice_in_nonblock),
	CASE(t_splice_in_blocks),
	CASE(t_splice_in_epipe),
	CASE(t_sendfile),
	CASE(t_splice_out),
	CASE(t_splice_out_nonblock),
	CASE(t_splice_out_blocks),
	CASE(t_read_eintr),
	CASE(t_read_restart),
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	ktap_run_cases(cases, ARRAY_SIZE(cases), 60);
}
