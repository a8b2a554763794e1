// SPDX-License-Identifier: GPL-2.0
/*
 * hostile_test - hostile input gets clean errors and changes nothing.
 *
 *  - random ioctls: random commands (the device's magic with every number,
 *    size and direction, and random others, minus the VFS's own generic
 *    ones), with arguments NULL, unmapped, kernel addresses, read-only
 *    memory, the last bytes before an unmapped page, random numbers and
 *    valid buffers of random content; as root and as nobody.  Only 0 or
 *    ENOTTY, EFAULT, EINVAL, EPERM, EBUSY, EMFILE; fds returned by NEW_FD
 *    are real and closed again;
 *  - NULL, unmapped, kernel, read-only and half-mapped buffers for read,
 *    write, readv and writev: EFAULT or a short count, and exactly the
 *    bytes counted entered or left the stream (checked by reading on);
 *  - zero and huge lengths for read, write, splice, sendfile, readv;
 *  - offsets where none are allowed: pread, pwrite, lseek, splice and
 *    sendfile with an offset for the device, copy_file_range, mmap;
 *  - pipe ends closed under a blocked splice, either way;
 *  - an instance used after its peer's close: EOF, EPIPE and SIGPIPE;
 *  - NEW_FD with bad flags and with no free fd; GET_STATS sizes;
 *    SET_CAPACITY extremes.
 * Afterwards no instance is left over (/proc/stablepipe).
 *
 * STABLEPIPE_IOCTL_ITERATIONS: random ioctls per case (default 20000,
 * 100000 on the debug kernel).
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include "sp_common.h"
#include "reliability.h"

static unsigned long iterations;

static int new_fd(int fd, unsigned int flags, unsigned int reserved)
{
	struct stablepipe_fd req = { .flags = flags, .reserved = reserved };

	return ioctl(fd, STABLEPIPE_IOC_NEW_FD, &req);
}

/* Memory to point at: a page, then an unmapped page; a read-only page. */
struct arena {
	unsigned char *rw;	/* one page, then PROT_NONE */
	unsigned char *ro;	/* one read-only page */
	unsigned char *unmapped;
};

static int arena_init(struct arena *a)
{
	unsigned char *m = mmap(NULL, 4 * SP_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	memset(m, 0x11, 4 * SP_PAGE);
	a->rw = m;
	a->ro = m + 2 * SP_PAGE;
	a->unmapped = m + 3 * SP_PAGE;
	if (mprotect(m + SP_PAGE, SP_PAGE, PROT_NONE) ||
	    mprotect(a->ro, SP_PAGE, PROT_READ) ||
	    munmap(a->unmapped, SP_PAGE))
		return -1;
	return 0;
}

static void *pick_arg(struct arena *a, uint64_t *rnd)
{
	switch (rl_below(rnd, 10)) {
	case 0:
		return NULL;
	case 1:
		return a->unmapped + rl_below(rnd, SP_PAGE);
	case 2:
		return (void *)0xffffffff81000000UL;	/* kernel text */
	case 3:
		return (void *)(0xffff888000000000UL + rl_below(rnd, 1 << 20) * 8);
	case 4:
		return a->ro + rl_below(rnd, SP_PAGE);
	case 5:	/* the last 1..16 bytes before PROT_NONE */
		return a->rw + SP_PAGE - 1 - rl_below(rnd, 16);
	case 6:
		return (void *)(uintptr_t)rl_rand(rnd);
	case 7:
		return (void *)(uintptr_t)rl_below(rnd, 65536);
	default: {	/* valid memory, random content */
		uint64_t *p = (uint64_t *)a->rw;
		unsigned int i;

		for (i = 0; i < 64; i++)
			p[i] = rl_below(rnd, 4) ? rl_rand(rnd) : rl_below(rnd, 3);
		return a->rw + 8 * rl_below(rnd, 32);
	}
	}
}

/* Commands the VFS handles itself for any file (fs/ioctl.c). */
static bool vfs_generic(unsigned int cmd)
{
	unsigned int type = _IOC_TYPE(cmd);

	if (cmd == FIONREAD)
		return false;
	if (type == 'X' || type == 0x94 || type == 'f' || type == 0x15)
		return true;
	if ((cmd & 0xffff0000) == 0 && (cmd & 0xff00) == 0x5400)
		return true;	/* FIONBIO, FIOCLEX, FIOASYNC, FIOQSIZE, TC* */
	if (cmd < 0x100)
		return true;	/* FIBMAP, FIGETBSZ */
	return false;
}

static unsigned int pick_cmd(uint64_t *rnd)
{
	static const unsigned int known[] = {
		STABLEPIPE_IOC_NEW_FD, STABLEPIPE_IOC_GET_CAPACITY,
		STABLEPIPE_IOC_SET_CAPACITY, STABLEPIPE_IOC_GET_POLICY,
		STABLEPIPE_IOC_SET_POLICY, STABLEPIPE_IOC_GET_STATS, FIONREAD,
	};
	unsigned int cmd;

	do {
		switch (rl_below(rnd, 4)) {
		case 0:
			cmd = known[rl_below(rnd, RL_ARRAY_SIZE(known))];
			break;
		case 1:	/* a known number, another size or direction */
			cmd = known[rl_below(rnd, RL_ARRAY_SIZE(known) - 1)];
			cmd = _IOC(rl_below(rnd, 4), _IOC_TYPE(cmd),
				   _IOC_NR(cmd), rl_below(rnd, 1 << 14));
			break;
		case 2:
			cmd = _IOC(rl_below(rnd, 4), STABLEPIPE_IOC_MAGIC,
				   rl_below(rnd, 256), rl_below(rnd, 1 << 14));
			break;
		default:
			cmd = (unsigned int)rl_rand(rnd);
			break;
		}
	} while (vfs_generic(cmd));
	return cmd;
}

static int random_ioctls(uint64_t seed, const char *who)
{
	uint64_t rnd = seed, calls = 0, ok = 0, fds = 0, errs[8] = { 0 };
	static const int allowed[] = { ENOTTY, EFAULT, EINVAL, EPERM, EBUSY,
				       EMFILE, ENOMEM };
	struct arena a;
	int fd, peer, r, e;
	unsigned long i;
	unsigned int cmd, k;
	void *arg;

	CHECK(arena_init(&a) == 0, "arena: %s", strerror(errno));
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	CHECK_OK(peer, new_fd(fd, O_RDWR | O_NONBLOCK, 0));
	for (i = 0; i < iterations; i++) {
		int target = rl_below(&rnd, 2) ? fd : peer;

		cmd = pick_cmd(&rnd);
		arg = pick_arg(&a, &rnd);
		errno = 0;
		r = ioctl(target, cmd, arg);
		e = errno;
		calls++;
		if (r >= 0) {
			ok++;
			if (cmd == STABLEPIPE_IOC_NEW_FD && r > 2) {
				/* a real fd of an instance: close it */
				CHECK(sp_fionread(r) >= 0,
				      "NEW_FD returned %d, not a device fd", r);
				close(r);
				fds++;
			}
			continue;
		}
		for (k = 0; k < RL_ARRAY_SIZE(allowed); k++)
			if (e == allowed[k])
				break;
		CHECK(k < RL_ARRAY_SIZE(allowed),
		      "%s: ioctl(%#x, %p): errno %d (%s)", who, cmd, arg, e,
		      strerror(e));
		errs[k]++;
	}
	/* The instance still works. */
	{
		unsigned char b[100], c[100];

		sp_fill(b, sizeof(b), 0, 9);
		while (read(fd, c, sizeof(c)) > 0)
			;	/* random SET_CAPACITY etc. left some state */
		CHECK_RET(write(fd, b, sizeof(b)), sizeof(b));
		CHECK_RET(read(peer, c, sizeof(c)), sizeof(c));
		CHECK_BYTES("after the random ioctls", c, b, sizeof(b));
	}
	close(peer);
	close(fd);
	munmap(a.rw, 3 * SP_PAGE);
	RL_ADD(ops, calls);
	ktap_print_msg("%s: %" PRIu64 " ioctls: %" PRIu64 " succeeded (%" PRIu64 " new fds), ENOTTY %" PRIu64 " EFAULT %" PRIu64 " EINVAL %" PRIu64 " EPERM %" PRIu64 " EBUSY %" PRIu64,
		       who, calls, ok, fds, errs[0], errs[1], errs[2], errs[3],
		       errs[4]);
	return KSFT_PASS;
}

static int t_ioctl_root(const void *arg)
{
	(void)arg;
	return random_ioctls(0xb7b7, "root");
}

/* nobody and nogroup (65534 on Debian; the VM has no /etc/passwd) */
static int become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return -1;
	return 0;
}

static int t_ioctl_nobody(const void *arg)
{
	(void)arg;
	if (getuid() != 0)
		return ktap_skip("not root: cannot become nobody");
	CHECK(become_nobody() == 0, "setuid(nobody): %s", strerror(errno));
	return random_ioctls(0x6e6f626f, "nobody");
}

/* ---- bad buffers ---- */

struct stream {
	int w, r;
	uint64_t in, out;	/* pattern offsets written, read */
};

static int stream_open(struct stream *s)
{
	int both[2];

	if (stablepipe2(both, O_CLOEXEC) < 0)
		return -1;
	s->r = both[0];
	s->w = both[1];
	s->in = s->out = 0;
	return fcntl(s->r, F_SETFL, O_NONBLOCK);
}

/* Put @n pattern bytes into the stream through @p (a scratch buffer). */
static int put_pat(struct stream *s, unsigned char *p, size_t n)
{
	sp_fill(p, n, s->in, 21);
	CHECK_RET(write(s->w, p, n), n);
	s->in += n;
	return KSFT_PASS;
}

/* Read everything left and check that it continues the pattern. */
static int drain_check(struct stream *s)
{
	unsigned char buf[65536];
	ssize_t n;

	while ((n = read(s->r, buf, sizeof(buf))) > 0) {
		CHECK_PAT("stream", buf, n, s->out, 21);
		s->out += n;
		RL_ADD(bytes, n);
	}
	CHECK(n < 0 && errno == EAGAIN, "read: %zd (%s)", n, strerror(errno));
	CHECK_EQ_U64(s->out, s->in, "bytes out == bytes in");
	return KSFT_PASS;
}

/* A write from @p of @len: EFAULT or a count; the stream gets that many. */
static int bad_write(struct stream *s, const void *p, size_t len,
		     size_t valid, const char *what)
{
	ssize_t n;

	errno = 0;
	n = write(s->w, p, len);
	RL_ADD(ops, 1);
	if (n < 0) {
		CHECK(errno == EFAULT, "write from %s: %s", what, strerror(errno));
		return KSFT_PASS;
	}
	CHECK((size_t)n <= valid, "write from %s returned %zd, only %zu bytes are readable",
	      what, n, valid);
	/* The bytes it took are the pattern bytes p held. */
	s->in += n;
	return KSFT_PASS;
}

static int bad_read(struct stream *s, void *p, size_t len, size_t valid,
		    const char *what)
{
	ssize_t n;

	errno = 0;
	n = read(s->r, p, len);
	RL_ADD(ops, 1);
	if (n < 0) {
		CHECK(errno == EFAULT, "read into %s: %s", what, strerror(errno));
		return KSFT_PASS;
	}
	CHECK((size_t)n <= valid, "read into %s returned %zd, only %zu bytes are writable",
	      what, n, valid);
	CHECK_PAT(what, p, n, s->out, 21);
	s->out += n;
	return KSFT_PASS;
}

static int t_bad_buffers(const void *arg)
{
	struct arena a;
	struct stream s;
	struct iovec iov[4];
	unsigned int i;
	ssize_t n;

	(void)arg;
	CHECK(arena_init(&a) == 0, "arena: %s", strerror(errno));
	CHECK(stream_open(&s) == 0, "open: %s", strerror(errno));
	for (i = 0; i < 17; i++) {
		size_t tail = 1 + i * 255 % SP_PAGE;
		unsigned char *edge = a.rw + SP_PAGE - tail;

		/* writes: nothing readable, then partly readable */
		if (bad_write(&s, NULL, 100, 0, "NULL") ||
		    bad_write(&s, a.unmapped, 100, 0, "unmapped") ||
		    bad_write(&s, (void *)0xffffffff81000000UL, 100, 0, "kernel text") ||
		    bad_write(&s, (void *)0xffff888000001000UL, 8192, 0, "direct map"))
			return KSFT_FAIL;
		sp_fill(edge, tail, s.in, 21);
		if (bad_write(&s, edge, tail + 100, tail, "a buffer running into PROT_NONE"))
			return KSFT_FAIL;
		/* reads: NULL, unmapped, kernel, read-only, half-mapped */
		if (put_pat(&s, a.rw, 3000))
			return KSFT_FAIL;
		if (bad_read(&s, NULL, 100, 0, "NULL") ||
		    bad_read(&s, a.unmapped, 100, 0, "unmapped") ||
		    bad_read(&s, (void *)0xffffffff81000000UL, 100, 0, "kernel text") ||
		    bad_read(&s, a.ro, 100, 0, "read-only memory") ||
		    bad_read(&s, edge, tail + 1000, tail, "a buffer running into PROT_NONE"))
			return KSFT_FAIL;
		/* vectors: valid, then bad */
		sp_fill(a.rw, 64, s.in, 21);
		iov[0] = (struct iovec){ a.rw, 64 };
		iov[1] = (struct iovec){ NULL, 0 };
		iov[2] = (struct iovec){ a.unmapped, 64 };
		iov[3] = (struct iovec){ a.rw, 64 };
		errno = 0;
		n = writev(s.w, iov, 4);
		CHECK(n == 64 || (n < 0 && errno == EFAULT),
		      "writev with a bad vector: %zd (%s)", n, strerror(errno));
		if (n > 0)
			s.in += n;
		iov[0] = (struct iovec){ a.rw + 1024, 32 };
		iov[1] = (struct iovec){ (void *)0xffffffff81000000UL, 32 };
		errno = 0;
		n = readv(s.r, iov, 2);
		CHECK(n == -1 ? errno == EFAULT || errno == EAGAIN : n <= 32,
		      "readv with a kernel vector: %zd (%s)", n, strerror(errno));
		if (n > 0) {
			CHECK_PAT("readv", a.rw + 1024, n, s.out, 21);
			s.out += n;
		}
		RL_ADD(ops, 2);
	}
	munmap(a.rw, 3 * SP_PAGE);
	if (drain_check(&s))
		return KSFT_FAIL;
	close(s.r);
	close(s.w);
	return KSFT_PASS;
}

/* ---- zero and huge lengths ---- */

static int t_lengths(const void *arg)
{
	unsigned char *buf = sp_malloc(1 << 20);
	struct iovec iov[8];
	struct stream s;
	struct arena a;
	int p[2], ffd, r;
	unsigned char *low;
	/*
	 * More than MAX_RW_COUNT (about 2 GiB, the kernel's clamp) but
	 * within the address space from the buffers below (vfs_read and
	 * vfs_write check access_ok() of the whole count first: SIZE_MAX/2
	 * is EFAULT before the device sees it).
	 */
	size_t huge = 1ULL << 32;
	off_t off = 0;
	ssize_t n;

	(void)arg;
	/* hide the huge length from the compiler's buffer size checks */
	__asm__("" : "+r"(huge));
	CHECK(arena_init(&a) == 0, "arena: %s", strerror(errno));
	/*
	 * One valid page then nothing, low in the address space: a huge
	 * count (clamped to MAX_RW_COUNT, about 2 GiB) passes access_ok()
	 * and runs into unmapped memory, instead of failing up front.
	 */
	low = mmap((void *)0x100000000UL, 2 * SP_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(low == (void *)0x100000000UL, "mmap at 4 GiB: %s", strerror(errno));
	CHECK_OK(r, munmap(low + SP_PAGE, SP_PAGE));
	CHECK(stream_open(&s) == 0, "open: %s", strerror(errno));
	CHECK_OK(ffd, sp_scratch_file(1 << 20, 21, 0, SP_CLEAN));
	CHECK_OK(r, pipe2(p, O_CLOEXEC));
	CHECK_RET(write(s.w, buf, 0), 0);
	CHECK_RET(write(s.w, NULL, 0), 0);
	CHECK_RET(read(s.r, NULL, 0), 0);
	CHECK_RET(splice(p[0], NULL, s.w, NULL, 0, 0), 0);
	CHECK_RET(splice(s.r, NULL, p[1], NULL, 0, 0), 0);
	CHECK_RET(sendfile(s.w, ffd, &off, 0), 0);
	memset(iov, 0, sizeof(iov));
	CHECK_RET(writev(s.w, iov, 8), 0);
	CHECK_RET(readv(s.r, iov, 8), 0);
	CHECK_RET(sp_fionread(s.r), 0);
	/*
	 * A count past the end of user space: refused up front (EFAULT) by
	 * an access_ok() that checks the size; where it checks only the
	 * start (Debian's 6.1 does), the count is clamped and the valid page
	 * goes in before the fault, exactly as into a pipe.
	 */
	errno = 0;
	n = write(s.w, low, huge << 20);
	CHECK((n == -1 && (errno == EFAULT || errno == EINVAL)) ||
	      n == (ssize_t)SP_PAGE,
	      "write of 2^52 bytes: %zd (%s)", n, strerror(errno));
	if (n == (ssize_t)SP_PAGE) {
		static unsigned char page[SP_PAGE];

		CHECK_RET(sp_read_full(s.r, page, SP_PAGE), SP_PAGE);
		CHECK_BYTES("the valid page of the 2^52-byte write", page, low,
			    SP_PAGE);
	}
	errno = 0;
	n = read(s.r, low, huge << 20);
	CHECK(n == -1 && (errno == EFAULT || errno == EINVAL || errno == EAGAIN),
	      "read of 2^52 bytes: %zd (%s)", n, strerror(errno));
	CHECK_RET(sp_fionread(s.r), 0);
	/* huge write from one valid page: that page goes in, then a fault */
	sp_fill(low, SP_PAGE, 0, 21);
	errno = 0;
	n = write(s.w, low, huge);
	CHECK(n == (ssize_t)SP_PAGE,
	      "write of 4 GiB from one valid page: %zd (%s)", n,
	      strerror(errno));
	s.in += n;
	/* huge read into one valid page: what there is */
	memset(low, 0, SP_PAGE);
	n = read(s.r, low, huge);
	CHECK(n == (ssize_t)s.in, "read of 4 GiB: %zd (%s), %" PRIu64 " buffered",
	      n, strerror(errno), s.in);
	CHECK_PAT("huge read", low, n, 0, 21);
	/* more than fits in the valid page: a short read, nothing lost */
	sp_fill(a.rw, 3000, 0, 22);
	CHECK_RET(write(s.w, a.rw, 3000), 3000);
	CHECK_RET(write(s.w, a.rw, 3000), 3000);
	n = read(s.r, low + 2000, huge);
	CHECK(n > 0 && n <= (ssize_t)(SP_PAGE - 2000),
	      "read of 6000 bytes into 2096 valid ones: %zd (%s)", n, strerror(errno));
	CHECK_PAT("short read", low + 2000, n, 0, 22);
	CHECK_RET(sp_fionread(s.r), 6000 - n);
	while (sp_fionread(s.r) > 0)
		CHECK_OK(n, read(s.r, buf, 65536));
	/* huge sendfile: what fits (the capacity, 1 MiB), the file's bytes */
	sp_set_nonblock(s.w, true);
	off = 0;
	n = sendfile(s.w, ffd, &off, huge);
	CHECK(n > 0 && off == n, "sendfile of 4 GiB: %zd (%s), offset %ld",
	      n, strerror(errno), (long)off);
	CHECK_RET(sp_read_full(s.r, buf, n), n);
	CHECK_PAT("huge sendfile", buf, n, 0, 21);
	RL_ADD(bytes, n);
	/* huge splice counts, both ways */
	CHECK_RET(write(p[1], buf, 100), 100);
	CHECK_RET(splice(p[0], NULL, s.w, NULL, huge, SPLICE_F_NONBLOCK), 100);
	CHECK_RET(splice(s.r, NULL, p[1], NULL, huge, SPLICE_F_NONBLOCK), 100);
	CHECK_RET(sp_read_full(p[0], buf + 200, 100), 100);
	CHECK_BYTES("huge splices", buf + 200, buf, 100);
	n = read(s.r, buf, 1 << 20);
	CHECK(n < 0 && errno == EAGAIN, "read of the empty device: %zd", n);
	RL_ADD(ops, 18);
	close(s.r);
	close(s.w);
	close(p[0]);
	close(p[1]);
	close(ffd);
	munmap(a.rw, 3 * SP_PAGE);
	munmap(low, SP_PAGE);
	free(buf);
	return KSFT_PASS;
}

/* ---- offsets ---- */

static int t_offsets(const void *arg)
{
	unsigned char buf[64];
	loff_t lo = 0;
	off_t o = 0;
	int fd, ffd, p[2];
	void *m;

	(void)arg;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	CHECK_OK(ffd, sp_scratch_file(65536, 21, 0, SP_CLEAN));
	CHECK_OK(o, pipe2(p, O_CLOEXEC));
	o = 0;
	memset(buf, 1, sizeof(buf));
	CHECK_ERR(pwrite(fd, buf, sizeof(buf), 0), ESPIPE);
	CHECK_ERR(pread(fd, buf, sizeof(buf), 0), ESPIPE);
	CHECK_ERR(pwrite(fd, buf, sizeof(buf), 12345), ESPIPE);
	CHECK_ERR(lseek(fd, 0, SEEK_SET), ESPIPE);
	CHECK_ERR(lseek(fd, 0, SEEK_END), ESPIPE);
	CHECK_RET(write(fd, buf, sizeof(buf)), sizeof(buf));
	/* splice: EINVAL for an offset of a file without pread (ESPIPE ok) */
	errno = 0;
	CHECK(splice(fd, &lo, p[1], NULL, 10, 0) == -1 &&
	      (errno == EINVAL || errno == ESPIPE),
	      "splice with an offset for the device (in): %s", strerror(errno));
	CHECK_RET(write(p[1], buf, 10), 10);
	errno = 0;
	CHECK(splice(p[0], NULL, fd, &lo, 10, 0) == -1 &&
	      (errno == EINVAL || errno == ESPIPE),
	      "splice with an offset for the device (out): %s", strerror(errno));
	CHECK_ERR(sendfile(ffd, fd, &o, 10), ESPIPE);
	errno = 0;
	CHECK(copy_file_range(fd, NULL, ffd, &lo, 10, 0) < 0,
	      "copy_file_range from the device succeeded");
	errno = 0;
	CHECK(copy_file_range(ffd, &lo, fd, NULL, 10, 0) < 0,
	      "copy_file_range to the device succeeded");
	m = mmap(NULL, SP_PAGE, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m == MAP_FAILED, "mmap of the device succeeded");
	/* Nothing moved: the 64 bytes and the pipe's 10 are still there. */
	CHECK_RET(sp_fionread(fd), 64);
	CHECK_RET(sp_fionread(p[0]), 10);
	RL_ADD(ops, 14);
	close(fd);
	close(ffd);
	close(p[0]);
	close(p[1]);
	return KSFT_PASS;
}

/* ---- pipe ends closed under a blocked splice ---- */

struct blocked {
	int in, out;
	size_t len;
	ssize_t ret;
	int err;
	volatile int done;
};

static void *splice_thread(void *p)
{
	struct blocked *b = p;

	errno = 0;
	b->ret = splice(b->in, NULL, b->out, NULL, b->len, 0);
	b->err = errno;
	b->done = 1;
	return NULL;
}

static int run_blocked(struct blocked *b, int close_fd, int after_close_w,
		       const char *what, ssize_t want_ret, int want_err)
{
	pthread_t t;
	unsigned int i;

	b->done = 0;
	CHECK(pthread_create(&t, NULL, splice_thread, b) == 0, "pthread_create");
	sp_msleep(200);
	CHECK(!b->done, "%s: the splice did not block (%zd, %s)", what, b->ret,
	      strerror(b->err));
	close(close_fd);
	if (after_close_w >= 0) {
		unsigned char c[8] = "data";

		/* wake it with data after the close */
		CHECK_RET(write(after_close_w, c, sizeof(c)), sizeof(c));
	}
	for (i = 0; i < 500 && !b->done; i++)
		sp_msleep(10);
	if (!b->done) {
		ktap_print_msg("%s: the splice still blocks 5 s after the close", what);
		return KSFT_FAIL;	/* the watchdog kills the thread */
	}
	pthread_join(t, NULL);
	RL_ADD(ops, 1);
	if (want_ret < 0)
		CHECK(b->ret == -1 && b->err == want_err,
		      "%s: %zd (%s), expected %s", what, b->ret,
		      strerror(b->err), strerror(want_err));
	else
		CHECK(b->ret == want_ret, "%s: %zd (%s), expected %zd", what,
		      b->ret, strerror(b->err), want_ret);
	return KSFT_PASS;
}

static int t_pipe_closed(const void *arg)
{
	struct blocked b;
	int fd, peer, p[2], r, fds[2];
	unsigned char *buf = sp_malloc(1 << 20);

	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	memset(buf, 7, 1 << 20);

	/* pipe -> device waiting for pipe data; the pipe's writer goes */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	CHECK_OK(peer, pipe2(p, O_CLOEXEC));
	b = (struct blocked){ .in = p[0], .out = fd, .len = 4096 };
	if (run_blocked(&b, p[1], -1, "pipe->device, pipe writer closed", 0, 0))
		return KSFT_FAIL;
	close(p[0]);
	close(fd);

	/* device -> pipe waiting for device data; the pipe's reader goes,
	 * then data arrives */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	CHECK_OK(peer, pipe2(p, O_CLOEXEC));
	b = (struct blocked){ .in = fd, .out = p[1], .len = 4096 };
	if (run_blocked(&b, p[0], fd, "device->pipe, pipe reader closed", -1, EPIPE))
		return KSFT_FAIL;
	CHECK_RET(sp_fionread(fd), 8);	/* the data stayed in the device */
	close(p[1]);
	close(fd);

	/* device -> pipe waiting for pipe room; the pipe's reader goes */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	CHECK_OK(peer, pipe2(p, O_CLOEXEC));
	sp_set_nonblock(p[1], true);
	while (write(p[1], buf, 65536) > 0)
		;
	sp_set_nonblock(p[1], false);
	CHECK_RET(write(fd, buf, 8192), 8192);
	sp_set_nonblock(fd, false);
	b = (struct blocked){ .in = fd, .out = p[1], .len = 8192 };
	if (run_blocked(&b, p[0], -1, "device->pipe (full), pipe reader closed", -1, EPIPE))
		return KSFT_FAIL;
	CHECK_RET(sp_fionread(fd), 8192);
	close(p[1]);
	close(fd);

	/* pipe -> device waiting for device room; the device's reader goes */
	CHECK(stablepipe2(fds, O_CLOEXEC) == 0, "stablepipe2: %s",
	      strerror(errno));
	peer = fds[0];
	fd = fds[1];
	CHECK_OK(r, sp_set_capacity(fd, 4096));
	CHECK_RET(write(fd, buf, 4096), 4096);
	CHECK_OK(r, pipe2(p, O_CLOEXEC));
	CHECK_RET(write(p[1], buf, 4096), 4096);
	b = (struct blocked){ .in = p[0], .out = fd, .len = 4096 };
	if (run_blocked(&b, peer, -1, "pipe->device (full), device reader closed", -1, EPIPE))
		return KSFT_FAIL;
	CHECK_RET(sp_fionread(p[0]), 4096);	/* the pipe kept its data */
	close(p[0]);
	close(p[1]);
	close(fd);
	free(buf);
	return KSFT_PASS;
}

/* ---- an instance after its peer's close ---- */

static int t_after_peer_close(const void *arg)
{
	unsigned char buf[4096], got[4096];
	int w, r, r2, p[2], ffd, fds[2];
	off_t off = 0;
	ssize_t n;

	(void)arg;
	sp_catch_sigpipe();
	sp_fill(buf, sizeof(buf), 0, 5);
	/* writers gone: data, then EOF; ioctls still work */
	CHECK(stablepipe2(fds, O_CLOEXEC) == 0, "stablepipe2: %s",
	      strerror(errno));
	r = fds[0];
	w = fds[1];
	CHECK_RET(write(w, buf, 1000), 1000);
	close(w);
	CHECK_RET(sp_fionread(r), 1000);
	CHECK(sp_get_capacity(r) > 0, "GET_CAPACITY after the writer's close");
	CHECK_ERR(write(r, buf, 1), EBADF);
	CHECK_RET(read(r, got, sizeof(got)), 1000);
	CHECK_BYTES("after the writer's close", got, buf, 1000);
	CHECK_RET(read(r, got, sizeof(got)), 0);
	CHECK_RET(read(r, got, sizeof(got)), 0);
	CHECK(sp_poll1(r, POLLIN, 0) & POLLHUP, "no POLLHUP without writers");
	/* a reader cannot mint a writer: end of file is final */
	CHECK_ERR(new_fd(r, O_WRONLY, 0), EBADF);
	CHECK_ERR(new_fd(r, O_RDWR, 0), EBADF);
	CHECK_RET(read(r, got, 10), 0);
	close(r);

	/* readers gone: write, splice in and sendfile get EPIPE + SIGPIPE */
	CHECK(stablepipe2(fds, O_CLOEXEC) == 0, "stablepipe2: %s",
	      strerror(errno));
	r = fds[0];
	w = fds[1];
	CHECK_OK(r2, new_fd(r, O_RDONLY, 0));
	CHECK_ERR(new_fd(w, O_RDONLY, 0), EBADF);
	close(r);
	CHECK_RET(write(w, buf, 10), 10);	/* one reader is left */
	close(r2);
	CHECK_ERR(write(w, buf, 10), EPIPE);
	CHECK_OK(n, pipe2(p, O_CLOEXEC));
	CHECK_RET(write(p[1], buf, 100), 100);
	CHECK_ERR(splice(p[0], NULL, w, NULL, 100, 0), EPIPE);
	CHECK_RET(sp_fionread(p[0]), 100);
	CHECK_OK(ffd, sp_scratch_file(8192, 5, 0, SP_CLEAN));
	CHECK_ERR(sendfile(w, ffd, &off, 8192), EPIPE);
	CHECK(sp_poll1(w, POLLOUT, 0) & POLLERR, "no POLLERR without readers");
	CHECK(sp_sigpipes >= 3, "%d SIGPIPEs for 3 EPIPEs", (int)sp_sigpipes);
	CHECK_RET(sp_fionread(w), 10);
	RL_ADD(ops, 20);
	close(w);
	close(p[0]);
	close(p[1]);
	close(ffd);
	return KSFT_PASS;
}

/* ---- NEW_FD, GET_STATS, SET_CAPACITY edge cases ---- */

static int t_edges(const void *arg)
{
	struct stablepipe_stats st;
	struct rlimit rl;
	struct arena a;
	long inst0, inst1;
	int fd, r, i, e;
	__u64 v;

	(void)arg;
	CHECK(arena_init(&a) == 0, "arena: %s", strerror(errno));
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	CHECK_ERR(new_fd(fd, O_ACCMODE, 0), EINVAL);
	CHECK_ERR(new_fd(fd, O_RDONLY | O_APPEND, 0), EINVAL);
	CHECK_ERR(new_fd(fd, O_RDONLY | O_DIRECT, 0), EINVAL);
	CHECK_ERR(new_fd(fd, 0x80000000u, 0), EINVAL);
	CHECK_ERR(new_fd(fd, O_RDONLY, 1), EINVAL);
	CHECK_ERR(ioctl(fd, STABLEPIPE_IOC_NEW_FD, a.rw + SP_PAGE - 4), EFAULT);
	/* no free fd: EMFILE, and no instance reference is leaked */
	inst0 = rl_proc_instances();
	CHECK_OK(r, getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = fd + 1;
	CHECK_OK(r, setrlimit(RLIMIT_NOFILE, &rl));
	for (i = 0; i < 100; i++)
		CHECK_ERR(new_fd(fd, O_RDONLY, 0), EMFILE);
	rl.rlim_cur = 1024;
	CHECK_OK(r, setrlimit(RLIMIT_NOFILE, &rl));
	close(fd);
	inst1 = rl_proc_instances();
	CHECK(inst0 < 0 || inst1 == inst0 - 1,
	      "instances: %ld with the fd open, %ld after closing it", inst0,
	      inst1);

	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	/* GET_STATS: too small, exactly the header, huge, at a page end */
	for (i = 0; i < 8; i++) {
		memset(&st, 0xff, sizeof(st));
		st.size = i;
		CHECK_ERR(ioctl(fd, STABLEPIPE_IOC_GET_STATS, &st), EINVAL);
	}
	memset(&st, 0xff, sizeof(st));
	st.size = 8;
	CHECK_OK(r, ioctl(fd, STABLEPIPE_IOC_GET_STATS, &st));
	CHECK(st.size == 8 && st.pages_stolen == UINT64_MAX,
	      "size 8: size %u, and it wrote past it", st.size);
	memset(&st, 0, sizeof(st));
	st.size = 0xffffffff;
	CHECK_OK(r, ioctl(fd, STABLEPIPE_IOC_GET_STATS, &st));
	CHECK(st.size <= sizeof(st), "size %u > sizeof %zu", st.size, sizeof(st));
	/* the struct runs into PROT_NONE: EFAULT */
	*(uint32_t *)(a.rw + SP_PAGE - 16) = sizeof(st);
	errno = 0;
	r = ioctl(fd, STABLEPIPE_IOC_GET_STATS, a.rw + SP_PAGE - 16);
	e = errno;
	CHECK(r == -1 && e == EFAULT, "GET_STATS into PROT_NONE: %d (%s)", r,
	      strerror(e));
	/* SET_CAPACITY extremes */
	CHECK_ERR(sp_set_capacity(fd, 0), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, UINT64_MAX), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, UINT64_MAX - 4095), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, (1ULL << 30) + 1), EINVAL);
	CHECK_OK(r, sp_set_capacity(fd, 1));
	CHECK_RET(sp_get_capacity(fd), SP_PAGE);
	CHECK_RET(write(fd, a.rw, SP_PAGE), SP_PAGE);
	CHECK_ERR(write(fd, a.rw, 1), EAGAIN);
	CHECK_OK(r, sp_set_capacity(fd, SP_PAGE));
	v = 2 * SP_PAGE;
	CHECK_OK(r, ioctl(fd, STABLEPIPE_IOC_SET_CAPACITY, &v));
	CHECK_RET(sp_get_capacity(fd), 2 * SP_PAGE);
	CHECK_RET(write(fd, a.rw, SP_PAGE), SP_PAGE);
	CHECK_ERR(sp_set_capacity(fd, SP_PAGE), EBUSY);
	/* policy */
	CHECK_ERR(sp_set_policy(fd, 2), EINVAL);
	CHECK_ERR(sp_set_policy(fd, UINT32_MAX), EINVAL);
	RL_ADD(ops, 140);
	close(fd);
	return KSFT_PASS;
}

static int t_no_leftovers(const void *arg)
{
	long n = rl_proc_instances();

	(void)arg;
	if (n < 0)
		return ktap_skip("no /proc/stablepipe");
	CHECK(n == 0, "%ld instances left after the cases", n);
	return KSFT_PASS;
}

static struct ktap_case cases[] = {
	{ "random ioctls as root", t_ioctl_root, NULL, 0 },
	{ "random ioctls as nobody", t_ioctl_nobody, NULL, 0 },
	{ "NULL, unmapped, kernel, read-only, half-mapped buffers", t_bad_buffers, NULL, 0 },
	{ "zero and huge lengths", t_lengths, NULL, 0 },
	{ "offsets where none are allowed", t_offsets, NULL, 0 },
	{ "pipe ends closed under a blocked splice", t_pipe_closed, NULL, 0 },
	{ "an instance after its peer's close", t_after_peer_close, NULL, 0 },
	{ "NEW_FD, GET_STATS, SET_CAPACITY edge cases", t_edges, NULL, 0 },
	{ "no instance left over", t_no_leftovers, NULL, 0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	rl_init();
	iterations = rl_setting("STABLEPIPE_IOCTL_ITERATIONS", 20000, 100000);
	rl_run_cases("hostile_test", cases, RL_ARRAY_SIZE(cases), 300);
}
