// SPDX-License-Identifier: GPL-2.0
/*
 * signal_test - signals hitting blocked reads, writes, splices and
 * sendfiles lose and duplicate nothing, and EINTR and restarts behave as
 * they do for pipes.
 *
 * A writer process moves a pattern stream (an 8 MiB file's pattern,
 * repeated) into an instance of small
 * capacity (write(2), splice(2) from a pipe, or sendfile(2) from a file),
 * a reader process takes it out (read(2), or splice(2) into a pipe and
 * read(2) from there) and checks every byte.  Each has an interval timer
 * (ITIMER_REAL, 2-3 ms) whose SIGALRM handler is installed with or without
 * SA_RESTART; both sleep at random so that each of them often blocks.
 *
 * Rules, as for pipes:
 *  - with SA_RESTART no call fails with EINTR (they restart);
 *  - without it a call that moved nothing fails with EINTR, one that moved
 *    something returns its count;
 *  - a write(2) of at most PIPE_BUF bytes is never split;
 *  - sendfile's offset advances by exactly what it returns;
 *  - the reader gets every byte the writer was told went in, in order,
 *    then EOF.
 *
 * STABLEPIPE_SIGNAL_SECONDS: seconds per case (default 1, 4 on the debug
 * kernel).
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include "sp_common.h"
#include "reliability.h"

enum in_path { IN_WRITE, IN_SPLICE, IN_SENDFILE, IN_NR };
enum out_path { OUT_READ, OUT_SPLICE, OUT_NR };

static const char *const in_names[] = { "write", "splice", "sendfile" };
static const char *const out_names[] = { "read", "splice" };

#define SEED		33
#define FILE_SIZE	(8 * SP_MIB)

static unsigned int seconds;

struct sparam {
	enum in_path in;
	enum out_path out;
	bool restart;
};

struct shared {
	uint64_t written, read;
	uint64_t eintr_w, eintr_r, partial_w, partial_r;
	uint64_t signals_w, signals_r;
	char why_w[256], why_r[256];
};

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int arm_timer(bool restart, uint64_t seed)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		return -1;
	it.it_interval.tv_sec = 0;
	it.it_interval.tv_usec = 2000 + seed % 1000;
	it.it_value = it.it_interval;
	return setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm_timer(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
}

#define FAIL_CHILD(why, ...)						\
	do {								\
		snprintf(why, sizeof(sh->why_w), __VA_ARGS__);		\
		_exit(1);						\
	} while (0)

/* An interrupted call's result: true to retry, false to give up. */
static bool interrupted(ssize_t n, int e, bool restart, uint64_t *eintr,
			char *why, struct shared *sh, const char *what)
{
	if (n >= 0)
		return false;
	if (e != EINTR)
		FAIL_CHILD(why, "%s: %s", what, strerror(e));
	if (restart)
		FAIL_CHILD(why, "%s: EINTR although SA_RESTART is set", what);
	(*eintr)++;
	return true;
}

static void writer(const struct sparam *p, int dev, int ffd,
		   struct shared *sh, double deadline)
{
	unsigned char *buf = sp_malloc(256 * SP_KIB);
	uint64_t rnd = 0x5157 + p->in * 7 + p->restart, pos = 0;
	int pp[2] = { -1, -1 };
	size_t len, done;
	off_t off;
	ssize_t n;
	int e;

	signal(SIGPIPE, SIG_IGN);	/* a reader that failed: EPIPE */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (p->in == IN_SPLICE && pipe2(pp, O_CLOEXEC))
		FAIL_CHILD(sh->why_w, "pipe: %s", strerror(errno));
	if (arm_timer(p->restart, rnd))
		FAIL_CHILD(sh->why_w, "timer: %s", strerror(errno));
	while (sp_now() < deadline) {
		len = rl_below(&rnd, 4) ? 1 + rl_below(&rnd, PIPE_BUF) :
					  1 + rl_below(&rnd, 256 * SP_KIB);
		if (p->in != IN_WRITE && len > 64 * SP_KIB)
			len = 64 * SP_KIB;
		if (p->in == IN_SENDFILE && pos % FILE_SIZE + len > FILE_SIZE)
			len = FILE_SIZE - pos % FILE_SIZE;
		rl_fill_wrapped(buf, len, pos, FILE_SIZE, SEED);
		switch (p->in) {
		case IN_WRITE:
			done = 0;
			while (done < len) {
				errno = 0;
				n = write(dev, buf + done, len - done);
				e = errno;
				RL_ADD(ops, 1);
				if (interrupted(n, e, p->restart, &sh->eintr_w,
						sh->why_w, sh, "write"))
					continue;
				if (len - done <= PIPE_BUF &&
				    (size_t)n != len - done)
					FAIL_CHILD(sh->why_w, "write of %zu <= PIPE_BUF bytes returned %zd",
						   len - done, n);
				if ((size_t)n < len - done)
					sh->partial_w++;
				done += n;
			}
			break;
		case IN_SPLICE:
			if (sp_write_full(pp[1], buf, len) != (ssize_t)len)
				FAIL_CHILD(sh->why_w, "write to the pipe: %s",
					   strerror(errno));
			done = 0;
			while (done < len) {
				errno = 0;
				n = splice(pp[0], NULL, dev, NULL, len - done, 0);
				e = errno;
				RL_ADD(ops, 1);
				if (interrupted(n, e, p->restart, &sh->eintr_w,
						sh->why_w, sh, "splice in"))
					continue;
				if (n == 0)
					FAIL_CHILD(sh->why_w, "splice in returned 0");
				if ((size_t)n < len - done)
					sh->partial_w++;
				done += n;
			}
			break;
		case IN_SENDFILE:
			done = 0;
			while (done < len) {
				off = (pos + done) % FILE_SIZE;
				errno = 0;
				n = sendfile(dev, ffd, &off, len - done);
				e = errno;
				RL_ADD(ops, 1);
				if (n < 0 && off != (off_t)((pos + done) % FILE_SIZE))
					FAIL_CHILD(sh->why_w, "sendfile failed (%s) and moved its offset",
						   strerror(e));
				if (interrupted(n, e, p->restart, &sh->eintr_w,
						sh->why_w, sh, "sendfile"))
					continue;
				if (n == 0)
					FAIL_CHILD(sh->why_w, "sendfile returned 0");
				if (off != (off_t)((pos + done) % FILE_SIZE + n))
					FAIL_CHILD(sh->why_w, "sendfile returned %zd but moved its offset by %ld",
						   n, (long)(off - (pos + done) % FILE_SIZE));
				if ((size_t)n < len - done)
					sh->partial_w++;
				done += n;
			}
			break;
		default:
			break;
		}
		pos += len;
		sh->written = pos;
		if (rl_below(&rnd, 8) == 0)
			sp_msleep(rl_below(&rnd, 5));
	}
	disarm_timer();
	sh->signals_w = alarms;
	_exit(0);
}

static void reader(const struct sparam *p, int dev, struct shared *sh)
{
	unsigned char *buf = sp_malloc(256 * SP_KIB);
	uint64_t rnd = 0x7265 + p->out * 5 + p->restart, pos = 0;
	int pp[2] = { -1, -1 };
	size_t len, got;
	ssize_t n, m;
	int e;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (p->out == OUT_SPLICE && pipe2(pp, O_CLOEXEC))
		FAIL_CHILD(sh->why_r, "pipe: %s", strerror(errno));
	if (arm_timer(p->restart, rnd))
		FAIL_CHILD(sh->why_r, "timer: %s", strerror(errno));
	for (;;) {
		len = 1 + rl_below(&rnd, rl_below(&rnd, 4) ? 8192 : 256 * SP_KIB);
		if (p->out == OUT_SPLICE && len > 64 * SP_KIB)
			len = 64 * SP_KIB;
		errno = 0;
		if (p->out == OUT_READ)
			n = read(dev, buf, len);
		else
			n = splice(dev, NULL, pp[1], NULL, len, 0);
		e = errno;
		RL_ADD(ops, 1);
		if (interrupted(n, e, p->restart, &sh->eintr_r, sh->why_r, sh,
				p->out == OUT_READ ? "read" : "splice out"))
			continue;
		if (n == 0)
			break;
		if ((size_t)n < len)
			sh->partial_r++;
		if (p->out == OUT_SPLICE) {
			for (got = 0; got < (size_t)n; got += m) {
				m = read(pp[0], buf + got, n - got);
				if (m < 0 && errno == EINTR && !p->restart) {
					m = 0;
					continue;
				}
				if (m <= 0)
					FAIL_CHILD(sh->why_r, "read of the pipe: %zd (%s)",
						   m, strerror(errno));
			}
		}
		if (rl_cmp_wrapped("signal stream", buf, n, pos, FILE_SIZE, SEED))
			FAIL_CHILD(sh->why_r, "wrong bytes at stream offset %" PRIu64
				   " (see above)", pos);
		pos += n;
		sh->read = pos;
		RL_ADD(bytes, n);
		if (rl_below(&rnd, 8) == 0)
			sp_msleep(rl_below(&rnd, 5));
	}
	disarm_timer();
	sh->signals_r = alarms;
	_exit(0);
}

static int t_signals(const void *arg)
{
	const struct sparam *p = arg;
	struct shared *sh;
	int w, r, ffd = -1, st_w, st_r;
	pid_t pw, pr;
	double deadline;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	if (p->in == IN_SENDFILE)
		CHECK_OK(ffd, sp_scratch_file(FILE_SIZE, SEED, 0, SP_CLEAN));
	{
		int both[2];

		CHECK(stablepipe2(both, O_CLOEXEC) == 0, "stablepipe2: %s",
		      strerror(errno));
		r = both[0];
		w = both[1];
	}
	CHECK_OK(st_w, sp_set_capacity(w, 16 * SP_KIB));
	deadline = sp_now() + seconds;
	pw = fork();
	CHECK(pw >= 0, "fork: %s", strerror(errno));
	if (pw == 0) {
		close(r);
		writer(p, w, ffd, sh, deadline);
	}
	pr = fork();
	CHECK(pr >= 0, "fork: %s", strerror(errno));
	if (pr == 0) {
		close(w);
		reader(p, r, sh);
	}
	close(w);
	close(r);
	waitpid(pw, &st_w, 0);
	waitpid(pr, &st_r, 0);
	ktap_print_msg("%s -> %s, %s: %" PRIu64 " bytes; signals: writer %" PRIu64 ", reader %" PRIu64
		       "; EINTR: writer %" PRIu64 ", reader %" PRIu64 "; short counts: writer %" PRIu64 ", reader %" PRIu64,
		       in_names[p->in], out_names[p->out],
		       p->restart ? "SA_RESTART" : "no SA_RESTART", sh->read,
		       sh->signals_w, sh->signals_r, sh->eintr_w, sh->eintr_r,
		       sh->partial_w, sh->partial_r);
	RL_ADD(signals, sh->signals_w + sh->signals_r);
	CHECK(WIFEXITED(st_w) && WEXITSTATUS(st_w) == 0, "writer: %s",
	      sh->why_w[0] ? sh->why_w : "died");
	CHECK(WIFEXITED(st_r) && WEXITSTATUS(st_r) == 0, "reader: %s",
	      sh->why_r[0] ? sh->why_r : "died");
	CHECK_EQ_U64(sh->read, sh->written, "bytes read == bytes written");
	CHECK(sh->signals_w + sh->signals_r > 0, "no signal was delivered");
	if (ffd >= 0)
		close(ffd);
	return KSFT_PASS;
}

#define NR_CASES	(IN_NR * OUT_NR * 2)

static struct sparam params[NR_CASES];
static struct ktap_case cases[NR_CASES];

int main(void)
{
	unsigned int i = 0, in, out, rs;

	ktap_print_header();
	sp_require_device();
	rl_init();
	seconds = rl_setting("STABLEPIPE_SIGNAL_SECONDS", 1, 4);
	for (rs = 0; rs < 2; rs++)
		for (in = 0; in < IN_NR; in++)
			for (out = 0; out < OUT_NR; out++, i++) {
				params[i] = (struct sparam){ in, out, rs == 0 };
				snprintf(cases[i].name, sizeof(cases[i].name),
					 "%s -> %s under SIGALRM every 2 ms, %s",
					 in_names[in], out_names[out],
					 rs == 0 ? "SA_RESTART" : "no SA_RESTART");
				cases[i].fn = t_signals;
				cases[i].arg = &params[i];
			}
	rl_run_cases("signal_test", cases, NR_CASES, 60 + 4 * seconds);
}
