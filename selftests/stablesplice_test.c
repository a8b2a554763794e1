// SPDX-License-Identifier: GPL-2.0
/*
 * stablesplice_test - libstablesplice.so (userspace/stablesplice.c), the
 * LD_PRELOAD library that carries splice(2) and sendfile(2) from files
 * into pipes through /dev/stablepipe.
 *
 * This program is linked dynamically (LD_PRELOAD needs that).  Run without
 * arguments it is a KTAP test that runs copies of itself, with the library
 * preloaded, with it disabled (STABLESPLICE_DISABLE=1) or without it, in
 * one of these modes:
 *
 *   semantics        a matrix of splice(2) and sendfile(2) calls (input
 *                    kinds, offsets, lengths, flags, pipe states, blocking,
 *                    signals, streams): one transcript line per call with
 *                    its return value, errno, file position, *off, the
 *                    bytes that reached the pipe and SIGPIPEs.  The driver
 *                    compares the transcripts of the two runs: the wrapped
 *                    and the real calls must agree line for line.
 *   threads N        N threads splice their own files concurrently
 *   fork             splices, a fork between calls, an exec
 *   reuse            the program closes or replaces the library's fd
 *   fdscan           print the number of /dev/stablepipe fds
 *   closerange       the program closes every fd above its own
 *   lowfd            stdin, stdout, stderr closed, RLIMIT_NOFILE 8
 *   reenter          a SIGUSR1 handler splices the same file into the
 *                    same pipe while the program does
 *   sigpipe          the reader goes away in the middle of a call
 *   tool DIR         the seed's tool (the original diskbuffer's data path):
 *                    stdin -> unlinked temporary file in DIR -> stdout by
 *                    splice, punching holes behind what was sent
 *   consume FILE LEN the seed reproducer's loop (linux-fsdevel, 2023-06-27):
 *                    splice FILE to stdout, punch from 0 to what was sent
 *
 * The punch cases run tool and consume under memory pressure (a cgroup
 * v2 with memory.max) so that the file is written back, evicted and read
 * again: without the library the output is expected to be wrong on XFS
 * (the case is skipped, with what was measured, when it comes out right);
 * with the library it must be byte-exact.
 *
 * Environment: STABLESPLICE_TEST_LIB (the library; default: the
 * libstablesplice.so next to this program), STABLEPIPE_TESTDIR (scratch
 * files), STABLESPLICE_TEST_FAKE=1 (the library is the fake-device test
 * build: cases that need the real device are skipped).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <grp.h>
#include <libgen.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include "sp_common.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define SEED		7
#define FSIZE		300000UL	/* not a multiple of the page size */
#define STRM_SIZE	(SP_MIB + 12345)
#define CGROUP_ROOT	"/sys/fs/cgroup"

static char self_path[PATH_MAX];
static char lib_path[PATH_MAX];
static int fake;

static ssize_t raw_splice(int in, loff_t *oi, int out, loff_t *oo, size_t len,
			  unsigned int flags)
{
	return syscall(SYS_splice, in, oi, out, oo, len, flags);
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- /dev/stablepipe descriptors of this process ---- */

/* Descriptors open when the program started (not the library's). */
static unsigned char inherited[4096 / 8];

static void note_inherited(void)
{
	int fd;

	for (fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			inherited[fd / 8] |= 1 << (fd % 8);
}

static bool is_instance_fd(int fd)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	if (!strcmp(link, STABLEPIPE_DEV))
		return true;
	/* the fake device build: private pipes at high descriptors */
	return fake && fd >= 100 && fd < 4096 &&
	       !(inherited[fd / 8] & (1 << (fd % 8))) &&
	       !strncmp(link, "pipe:", 5);
}

/* Count them; *bad gets those on 0-2 or without FD_CLOEXEC. */
static int count_instance_fds(int *bad)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, fd;

	if (bad)
		*bad = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d) || !is_instance_fd(fd))
			continue;
		n++;
		if (bad && (fd <= 2 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC)))
			(*bad)++;
	}
	closedir(d);
	return n;
}

/* The highest instance fd, or -1. */
static int find_instance_fd(void)
{
	int fd, best = -1;

	for (fd = 3; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0 && is_instance_fd(fd))
			best = fd;
	return best;
}

/* ---- running copies of ourselves ---- */

/*
 * A copy of environ with @set applied: "KEY=VALUE" sets, "KEY" removes.
 */
static char **make_env(const char *const *set)
{
	extern char **environ;
	size_t n = 0, i, j, k = 0;
	char **env;

	while (environ[n])
		n++;
	for (j = 0; set && set[j]; j++)
		;
	env = sp_malloc((n + j + 1) * sizeof(*env));
	for (i = 0; i < n; i++) {
		bool drop = false;

		for (j = 0; set && set[j]; j++) {
			size_t kl = strcspn(set[j], "=");

			if (!strncmp(environ[i], set[j], kl) &&
			    environ[i][kl] == '=')
				drop = true;
		}
		if (!drop)
			env[k++] = environ[i];
	}
	for (j = 0; set && set[j]; j++)
		if (strchr(set[j], '='))
			env[k++] = (char *)set[j];
	env[k] = NULL;
	return env;
}

/*
 * Start this program with @argv and the environment changes @set; its
 * stdin, stdout, stderr are @in, @out, @err (-1: /dev/null, inherited,
 * inherited).  With @cgroup, it joins that cgroup first.
 */
static pid_t spawn(const char *const argv[], const char *const *set, int in,
		   int out, int err, const char *cgroup)
{
	char **env = make_env(set), path[PATH_MAX], pid[32];
	pid_t p, parent = getpid();

	fflush(stdout);
	fflush(stderr);
	p = fork();
	if (p < 0) {
		free(env);
		return -1;
	}
	if (p == 0) {
		/* dies with the case (the watchdog kills only the case) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(97);
		if (cgroup) {
			snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
			snprintf(pid, sizeof(pid), "%d", (int)getpid());
			if (sp_write_str(path, pid))
				_exit(98);
		}
		if (in < 0)
			in = open("/dev/null", O_RDONLY);
		if (in != 0)
			dup2(in, 0);
		if (out >= 0 && out != 1)
			dup2(out, 1);
		if (err >= 0 && err != 2)
			dup2(err, 2);
		execve(self_path, (char *const *)argv, env);
		_exit(127);
	}
	free(env);
	return p;
}

static int wait_status(pid_t p)
{
	int st;

	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* The whole content of @fd (a memfd), NUL-terminated. */
static char *slurp(int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	char *s;

	if (len < 0)
		len = 0;
	s = sp_malloc(len + 1);
	if (pread(fd, s, len, 0) != len)
		len = 0;
	s[len] = '\0';
	return s;
}

/* Run a mode to completion; stdout and stderr come back as strings. */
static int run_capture(const char *const argv[], const char *const *set,
		       char **out, char **err)
{
	int o = memfd_create("out", MFD_CLOEXEC), e = memfd_create("err", MFD_CLOEXEC);
	pid_t p;
	int st;

	if (o < 0 || e < 0)
		return -1;
	p = spawn(argv, set, -1, o, e, NULL);
	st = p < 0 ? -1 : wait_status(p);
	*out = slurp(o);
	*err = slurp(e);
	close(o);
	close(e);
	return st;
}

static void print_lines(const char *prefix, const char *s, int max)
{
	char line[512];
	int n = 0;

	while (*s && n < max) {
		size_t l = strcspn(s, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)(l < 400 ? l : 400), s);
		ktap_print_msg("%s%s", prefix, line);
		s += l;
		if (*s)
			s++;
		n++;
	}
}

static const char *lib_env(void)
{
	static char buf[PATH_MAX + 16];

	snprintf(buf, sizeof(buf), "LD_PRELOAD=%s", lib_path);
	return buf;
}

/* ====================================================================
 * mode semantics: the transcript
 * ==================================================================== */

static volatile sig_atomic_t usr1s;

static void on_usr1(int sig)
{
	(void)sig;
	usr1s++;
}

struct kind {
	const char *name;
	int fd;
	uint64_t size;
	bool wrapped;	/* a kind the library carries (file, block device) */
};

static struct kind kinds[8];
static int nkinds;
static int aux_fd;	/* 4096 bytes for pipe states */
static unsigned char *bigbuf;	/* 2 MiB: pipe contents and expectations */
static unsigned char *wantbuf;

enum pstate {
	P_EMPTY, P_W100, P_PARTIAL3, P_PARTIAL15, P_ONESLOT, P_ONESLOT_PART,
	P_FULL, P_SLOT1, P_BIG, P_NOREADER, P_NBFULL, P_NBEMPTY, P_READEND,
	P_NSTATES
};

static const char *const pstate_names[] = {
	"empty", "w100", "partial3", "partial15", "oneslot", "oneslot-part",
	"full", "1slot-pipe", "1mib-pipe", "noreader", "nb-full", "nb-empty",
	"read-end",
};

struct pipe_setup {
	int p[2];
	int out;		/* the fd passed as output */
	size_t prefix;		/* bytes in the pipe before the call */
	bool reader;		/* p[0] open */
};

/* Set up a pipe in state @s; wantbuf[0 .. prefix) is what it holds. */
static int pipe_state(enum pstate s, struct pipe_setup *ps)
{
	unsigned char *w = wantbuf;
	loff_t ao;
	int i;

	memset(ps, 0, sizeof(*ps));
	if (pipe2(ps->p, O_CLOEXEC) < 0)
		return -1;
	ps->out = ps->p[1];
	ps->reader = true;
	fcntl(ps->p[1], F_SETPIPE_SZ, 65536);
	switch (s) {
	case P_EMPTY:
	case P_READEND:
		break;
	case P_W100:
		memset(w, 'a', 100);
		sp_write_full(ps->p[1], w, 100);
		ps->prefix = 100;
		break;
	case P_PARTIAL3:
	case P_PARTIAL15:
		/* separate buffers: a write, a splice (never merged), ... */
		for (i = 0; i < (s == P_PARTIAL3 ? 3 : 15); i++) {
			if (i % 2 == 0) {
				memset(w + ps->prefix, 'b' + i, 100);
				sp_write_full(ps->p[1], w + ps->prefix, 100);
			} else {
				ao = 100 * i;
				raw_splice(aux_fd, &ao, ps->p[1], NULL, 100, 0);
				pread(aux_fd, w + ps->prefix, 100, 100 * i);
			}
			ps->prefix += 100;
		}
		break;
	case P_ONESLOT:
		memset(w, 'd', 61440);
		sp_write_full(ps->p[1], w, 61440);
		ps->prefix = 61440;
		break;
	case P_ONESLOT_PART:
		memset(w, 'e', 61440);
		sp_write_full(ps->p[1], w, 61440);
		sp_read_full(ps->p[0], bigbuf, 1000);
		memmove(w, w + 1000, 60440);
		ps->prefix = 60440;
		break;
	case P_FULL:
	case P_NBFULL:
		memset(w, 'f', 65536);
		if (s == P_NBFULL)
			sp_set_nonblock(ps->p[1], true);
		sp_write_full(ps->p[1], w, 65536);
		ps->prefix = 65536;
		break;
	case P_SLOT1:
		fcntl(ps->p[1], F_SETPIPE_SZ, 4096);
		break;
	case P_BIG:
		fcntl(ps->p[1], F_SETPIPE_SZ, 1 << 20);
		break;
	case P_NOREADER:
		close(ps->p[0]);
		ps->p[0] = -1;
		ps->reader = false;
		break;
	case P_NBEMPTY:
		sp_set_nonblock(ps->p[1], true);
		break;
	default:
		break;
	}
	if (s == P_READEND)
		ps->out = ps->p[0];
	return 0;
}

static void pipe_close(struct pipe_setup *ps)
{
	if (ps->p[0] >= 0)
		close(ps->p[0]);
	close(ps->p[1]);
}

/* Read what the pipe holds (without waiting). */
static ssize_t pipe_contents(struct pipe_setup *ps, unsigned char *buf,
			     size_t max)
{
	size_t got = 0;
	ssize_t n;

	if (ps->p[0] < 0)
		return 0;
	sp_set_nonblock(ps->p[0], true);
	while (got < max) {
		n = read(ps->p[0], buf + got, max - got);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

enum special {
	S_NONE, S_OFF_OUT, S_EFAULT, S_WRONLY, S_ZERO_LEN,
	S_RO_OFF,	/* *off in a read-only page: data moves, then EFAULT */
	S_WRONLY_EFAULT,	/* both: which error comes first */
	S_APPEND,	/* the input opened O_RDWR | O_APPEND */
};

struct call {
	bool sendfile;
	const struct kind *k;
	bool ptr;		/* offset by pointer (else the file position) */
	int64_t pos;
	size_t len;
	unsigned int flags;
	enum pstate st;
	enum special sp;
};

static const char *len_name(size_t len, char *buf, size_t n)
{
	if (len == SIZE_MAX)
		return "SIZE_MAX";
	if (len == (size_t)SSIZE_MAX)
		return "SSIZE_MAX";
	if (len == INT_MAX)
		return "INT_MAX";
	snprintf(buf, n, "%zu", len);
	return buf;
}

static int transcript_bad;

/* Run one call and print its transcript line. */
static void run_call(const struct call *c)
{
	struct pipe_setup ps;
	char lb[32], data[96];
	int in = c->k->fd, in_w = -1, e = 0, sigs;
	int64_t fpos_before = c->ptr ? 12345 : c->pos, fpos;
	loff_t off = c->pos;
	ssize_t r, got;
	int inpipe = -1;
	loff_t *ro_off = NULL;

	if (c->sp == S_RO_OFF) {
		ro_off = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ro_off == MAP_FAILED) {
			printf("mmap: %s\n", strerror(errno));
			return;
		}
		*ro_off = c->pos;
		mprotect(ro_off, 4096, PROT_READ);
	}
	if (pipe_state(c->st, &ps) < 0) {
		printf("pipe: %s\n", strerror(errno));
		return;
	}
	if (c->sp == S_WRONLY || c->sp == S_WRONLY_EFAULT || c->sp == S_APPEND) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->k->fd);
		in_w = open(path, c->sp == S_APPEND ? O_RDWR | O_APPEND | O_CLOEXEC :
			    O_WRONLY | O_CLOEXEC);
		in = in_w;
	}
	if (c->k->size && fpos_before >= 0)
		lseek(in, fpos_before, SEEK_SET);
	sigs = sp_sigpipes;
	/* errno is not touched by a call that succeeds: a sentinel */
	errno = EXDEV;
	if (c->sendfile) {
		r = sendfile(ps.out, in, c->sp == S_EFAULT ||
			     c->sp == S_WRONLY_EFAULT ? (off_t *)8 :
			     ro_off ? (off_t *)ro_off :
			     c->ptr ? (off_t *)&off : NULL,
			     c->sp == S_ZERO_LEN ? 0 : c->len);
	} else {
		loff_t oo = 0;

		r = splice(in, c->sp == S_EFAULT ||
			   c->sp == S_WRONLY_EFAULT ? (loff_t *)8 :
			   ro_off ? ro_off : c->ptr ? &off : NULL, ps.out,
			   c->sp == S_OFF_OUT ? &oo : NULL,
			   c->sp == S_ZERO_LEN ? 0 : c->len, c->flags);
	}
	e = errno;
	if (ro_off) {
		off = *ro_off;
		munmap(ro_off, 4096);
	}
	fpos = c->k->size ? lseek(in, 0, SEEK_CUR) : -1;
	if (ps.p[0] >= 0 && ioctl(ps.p[0], FIONREAD, &inpipe) < 0)
		inpipe = -1;
	got = pipe_contents(&ps, bigbuf, 2 * SP_MIB);

	/* expected: the prefix, then the file's bytes at pos */
	snprintf(data, sizeof(data), "-");
	if (ps.reader && c->sp != S_RO_OFF) {
		size_t want = ps.prefix + (r > 0 ? r : 0);

		if (r > 0 && c->k->size &&
		    pread(c->k->fd, wantbuf + ps.prefix, r, c->pos) != r)
			snprintf(data, sizeof(data), "pread-failed");
		else if ((size_t)got != want)
			snprintf(data, sizeof(data), "BAD: %zd bytes in the pipe, %zu expected",
				 got, want);
		else if (c->k->size && memcmp(bigbuf, wantbuf, want))
			snprintf(data, sizeof(data), "BAD: the bytes differ");
		else
			snprintf(data, sizeof(data), "ok");
		if (strncmp(data, "ok", 2) && strcmp(data, "-"))
			transcript_bad++;
	}
	printf("%s %s %s pos=%" PRId64 " len=%s flags=%#x pipe=%s%s: ret=%zd errno=%d fpos=%" PRId64
	       " off=%lld inpipe=%d data=%s sigpipe=%d\n",
	       c->sendfile ? "sendfile" : "splice", c->k->name,
	       c->ptr ? "ptr" : "cur", c->pos, len_name(c->len, lb, sizeof(lb)),
	       c->flags, pstate_names[c->st],
	       c->sp == S_OFF_OUT ? " off_out" : c->sp == S_EFAULT ? " efault" :
	       c->sp == S_WRONLY ? " wronly-in" : c->sp == S_ZERO_LEN ? " zero-len" :
	       c->sp == S_RO_OFF ? " ro-off" :
	       c->sp == S_WRONLY_EFAULT ? " wronly-in efault" :
	       c->sp == S_APPEND ? " append-in" : "",
	       r, e, fpos, c->ptr ? (long long)off : -1LL, inpipe, data,
	       (int)(sp_sigpipes - sigs));
	pipe_close(&ps);
	if (in_w >= 0)
		close(in_w);
}

/* ---- blocking calls, released by a helper thread ---- */

enum bevent { B_READ, B_SIGNAL, B_SIGNAL_RESTART, B_CLOSE_READER };

static const char *const bevent_names[] = {
	"reader-frees-a-slot", "signal-no-restart", "signal-sa-restart",
	"reader-closes",
};

struct blocker {
	pthread_t th;
	pid_t tid;		/* the thread that blocks */
	pthread_t main;
	volatile int armed;
	enum bevent ev;
	int rfd;
	unsigned char buf[4096];
	ssize_t got;
};

/* Wait until thread @tid sleeps (state S) twice in a row, or 10 s. */
static void wait_sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	int fd, in_row = 0, i;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	for (i = 0; i < 1000 && in_row < 2; i++) {
		sp_msleep(10);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		in_row = p && p[1] == ' ' && p[2] == 'S' ? in_row + 1 : 0;
	}
}

static void *blocker_fn(void *arg)
{
	struct blocker *b = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!b->armed)
		sp_msleep(1);
	wait_sleeping(b->tid);
	switch (b->ev) {
	case B_READ:
		b->got = sp_read_full(b->rfd, b->buf, sizeof(b->buf));
		break;
	case B_SIGNAL:
		pthread_kill(b->main, SIGUSR1);
		break;
	case B_SIGNAL_RESTART:
		pthread_kill(b->main, SIGUSR1);
		sp_msleep(100);
		wait_sleeping(b->tid);
		b->got = sp_read_full(b->rfd, b->buf, sizeof(b->buf));
		break;
	case B_CLOSE_READER:
		close(b->rfd);
		break;
	}
	return NULL;
}

static void run_blocking(bool use_sendfile, bool ptr, int64_t pos,
			 enum bevent ev)
{
	const struct kind *k = &kinds[0];
	struct sigaction sa;
	struct blocker b;
	struct pipe_setup ps;
	loff_t off = pos;
	ssize_t r, got;
	int e, sigs, usr;
	int64_t fpos;
	char data[64] = "-";

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = ev == B_SIGNAL_RESTART ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	pipe_state(P_FULL, &ps);
	memset(&b, 0, sizeof(b));
	b.tid = gettid_();
	b.main = pthread_self();
	b.ev = ev;
	b.rfd = ps.p[0];
	b.got = -1;
	pthread_create(&b.th, NULL, blocker_fn, &b);
	lseek(k->fd, ptr ? 12345 : pos, SEEK_SET);
	sigs = sp_sigpipes;
	usr = usr1s;
	b.armed = 1;
	errno = 0;
	if (use_sendfile)
		r = sendfile(ps.p[1], k->fd, ptr ? (off_t *)&off : NULL, 100000);
	else
		r = splice(k->fd, ptr ? &off : NULL, ps.p[1], NULL, 100000, 0);
	e = r < 0 ? errno : 0;
	pthread_join(b.th, NULL);
	fpos = lseek(k->fd, 0, SEEK_CUR);
	if (ev != B_CLOSE_READER) {
		/* the helper's 4096 bytes, then the rest of the pipe */
		size_t want;

		memcpy(bigbuf, b.buf, b.got > 0 ? b.got : 0);
		got = (b.got > 0 ? b.got : 0) +
		      pipe_contents(&ps, bigbuf + (b.got > 0 ? b.got : 0),
				    SP_MIB);
		want = 65536 + (r > 0 ? r : 0);
		memset(wantbuf, 'f', 65536);
		if (r > 0)
			pread(k->fd, wantbuf + 65536, r, pos);
		snprintf(data, sizeof(data), "%s",
			 (size_t)got == want && !memcmp(bigbuf, wantbuf, want) ?
			 "ok" : "BAD");
		if (strcmp(data, "ok"))
			transcript_bad++;
	} else {
		ps.p[0] = -1;
	}
	printf("blocking %s %s pos=%" PRId64 " full pipe, %s: ret=%zd errno=%d fpos=%" PRId64
	       " off=%lld data=%s sigpipe=%d usr1=%d\n",
	       use_sendfile ? "sendfile" : "splice", ptr ? "ptr" : "cur", pos,
	       bevent_names[ev], r, e, fpos, ptr ? (long long)off : -1LL,
	       data, (int)(sp_sigpipes - sigs), (int)(usr1s - usr));
	pipe_close(&ps);
	signal(SIGUSR1, SIG_DFL);
}

/* ---- a whole file through a pipe, drained by another thread ---- */

struct drainer {
	pthread_t th;
	int fd;
	unsigned char *buf;
	size_t max, got;
};

static void *drainer_fn(void *arg)
{
	static const size_t sizes[] = { 1, 100, 4096, 65536, 5000, 300 };
	struct drainer *d = arg;
	unsigned int i = 0;
	ssize_t n;

	for (;;) {
		size_t want = sizes[i++ % ARRAY_SIZE(sizes)];

		if (want > d->max - d->got)
			want = d->max - d->got;
		if (!want)
			want = 1;	/* the end of file, or too much data */
		n = read(d->fd, d->got < d->max ? d->buf + d->got : bigbuf,
			 want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (d->got < d->max)
			d->got += n;
		else
			d->got += n, d->max = 0;	/* overflow: mark */
	}
	return NULL;
}

static void run_stream(bool use_sendfile, bool ptr, bool nonblock)
{
	static const size_t lens[] = { 1000, 70000, 4096, 1 << 20, 12345 };
	const struct kind *k = &kinds[0];
	struct drainer d;
	int p[2], bad_inv = 0, calls = 0, again = 0;
	uint64_t total = 0;
	loff_t off = 0;
	unsigned char *want;
	ssize_t r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	memset(&d, 0, sizeof(d));
	d.fd = p[0];
	d.max = STRM_SIZE + 1;
	d.buf = sp_malloc(d.max);
	pthread_create(&d.th, NULL, drainer_fn, &d);
	lseek(k->fd, 0, SEEK_SET);
	for (;;) {
		size_t len = lens[calls % ARRAY_SIZE(lens)];
		int64_t before = ptr ? off : lseek(k->fd, 0, SEEK_CUR), after;

		if (use_sendfile)
			r = sendfile(p[1], k->fd, ptr ? (off_t *)&off : NULL, len);
		else
			r = splice(k->fd, ptr ? &off : NULL, p[1], NULL, len,
				   nonblock ? SPLICE_F_NONBLOCK : 0);
		if (r < 0 && errno == EAGAIN && nonblock) {
			sp_poll1(p[1], POLLOUT, 1000);
			again++;
			continue;
		}
		if (r <= 0)
			break;
		after = ptr ? off : lseek(k->fd, 0, SEEK_CUR);
		if (after - before != r || (size_t)r > len)
			bad_inv++;
		total += r;
		calls++;
	}
	close(p[1]);
	pthread_join(d.th, NULL);
	close(p[0]);
	want = sp_malloc(k->size);
	pread(k->fd, want, k->size, 0);
	printf("stream %s %s%s: last ret=%zd total=%" PRIu64 " invariants=%s data=%s\n",
	       use_sendfile ? "sendfile" : "splice", ptr ? "ptr" : "cur",
	       nonblock ? " nonblock" : "", r, total, bad_inv ? "BAD" : "ok",
	       d.got == k->size && total == k->size &&
	       !memcmp(d.buf, want, k->size) ? "ok" : "BAD");
	if (bad_inv || d.got != k->size || total != k->size ||
	    memcmp(d.buf, want, k->size))
		transcript_bad++;
	printf("# stream %s: %d calls, %d EAGAIN\n",
	       use_sendfile ? "sendfile" : "splice", calls, again);
	free(want);
	free(d.buf);
}

/* The block device the test directory is on, or -1. */
static int open_bdev(uint64_t *size)
{
	struct stat st, bst;
	struct dirent *e;
	char path[PATH_MAX];
	int fd = -1;
	DIR *d;

	if (stat(sp_testdir(), &st) < 0 || !major(st.st_dev))
		return -1;
	d = opendir("/dev");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		if (stat(path, &bst) == 0 && S_ISBLK(bst.st_mode) &&
		    bst.st_rdev == st.st_dev) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			break;
		}
	}
	closedir(d);
	if (fd >= 0 && ioctl(fd, BLKGETSIZE64, size) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int make_memfd(size_t size, unsigned int seed)
{
	unsigned char *buf = sp_pat_buf(size, 0, seed);
	int fd = memfd_create("stablesplice-test", MFD_CLOEXEC);

	if (fd >= 0 && pwrite(fd, buf, size, 0) != (ssize_t)size) {
		close(fd);
		fd = -1;
	}
	free(buf);
	return fd;
}

#define BIG_OFF		((5ULL << 30) + 1000)

/*
 * @size bytes of pattern at @at and 2 MiB at 0, a hole between.  No call
 * reads the hole: on 6.1 a splice from a tmpfs hole packs zeros into the
 * pipe's buffers back to back (a short transfer of the library's is then
 * shorter than the plain call's: libstablesplice.7, CAVEATS).
 */
static int make_sparse_memfd(uint64_t at, size_t size, unsigned int seed)
{
	unsigned char *buf = sp_pat_buf(size, 0, seed);
	unsigned char *low = sp_pat_buf(2 * SP_MIB, 0, seed + 1);
	int fd = memfd_create("stablesplice-sparse", MFD_CLOEXEC);

	if (fd >= 0 && (pwrite(fd, buf, size, at) != (ssize_t)size ||
			pwrite(fd, low, 2 * SP_MIB, 0) != (ssize_t)(2 * SP_MIB))) {
		close(fd);
		fd = -1;
	}
	free(buf);
	free(low);
	return fd;
}

static int mode_semantics(void)
{
	static const size_t lens_a[] = { 1, 100, 4096, 5000, 65536, 200000,
					 SIZE_MAX, SSIZE_MAX, INT_MAX,
					 0x7ffff000, 0x80000000UL,
					 (1UL << 32) + 5 };
	static const size_t lens_b[] = { 100, 5000, 65536, SIZE_MAX };
	static const unsigned int flags_b[] = {
		0, SPLICE_F_NONBLOCK, SPLICE_F_MORE,
		SPLICE_F_MOVE | SPLICE_F_GIFT,
		SPLICE_F_NONBLOCK | SPLICE_F_MORE,
	};
	struct kind *k;
	struct call c;
	uint64_t bsize = 0;
	int64_t pos_a[7];
	int64_t pos_b[] = { 0, 100, 5000 };
	int i, j, l, f, s, ptr, sf, fd;

	bigbuf = sp_malloc(4 * SP_MIB);
	wantbuf = sp_malloc(4 * SP_MIB);
	sp_catch_sigpipe();
	aux_fd = make_memfd(4096, 99);
	k = &kinds[nkinds++];
	*k = (struct kind){ "file", sp_scratch_file(FSIZE, SEED, 0, SP_DIRTY),
			    FSIZE, true };
	k = &kinds[nkinds++];
	*k = (struct kind){ "memfd", make_memfd(FSIZE, SEED + 1), FSIZE, true };
	/* data past 4 GiB: 64-bit offsets (a sparse memfd, zeros before) */
	k = &kinds[nkinds++];
	*k = (struct kind){ "sparse5g", make_sparse_memfd(BIG_OFF, FSIZE,
							  SEED + 3),
			    BIG_OFF + FSIZE, true };
	fd = open_bdev(&bsize);
	if (fd >= 0) {
		k = &kinds[nkinds++];
		*k = (struct kind){ "bdev", fd, bsize, true };
	}
	for (i = 0; i < nkinds; i++)
		if (kinds[i].fd < 0) {
			printf("cannot make input %s: %s\n", kinds[i].name,
			       strerror(errno));
			return 1;
		}
	printf("# inputs:");
	for (i = 0; i < nkinds; i++)
		printf(" %s (%" PRIu64 " bytes)", kinds[i].name, kinds[i].size);
	printf("\n");

	/* A: every kind, offset, length; an empty pipe, flags 0 */
	for (sf = 0; sf < 2; sf++)
		for (i = 0; i < nkinds; i++) {
			k = &kinds[i];
			pos_a[0] = 0;
			pos_a[1] = 100;
			pos_a[2] = 4096;
			pos_a[3] = 5000;
			pos_a[4] = k->size - 100;
			pos_a[5] = k->size;
			pos_a[6] = k->size + 5000;
			for (ptr = 0; ptr < 2; ptr++)
				for (j = 0; j < 7; j++)
					for (l = 0; l < (int)ARRAY_SIZE(lens_a); l++) {
						c = (struct call){ sf, k, ptr, pos_a[j],
								   lens_a[l], 0, P_EMPTY,
								   S_NONE };
						run_call(&c);
					}
		}
	/* B: pipe states and flags (never a call that would block) */
	for (i = 0; i < nkinds; i++)
		for (s = 0; s < P_NSTATES; s++)
			for (f = 0; f < (int)ARRAY_SIZE(flags_b) + 1; f++) {
				bool sendf = f == (int)ARRAY_SIZE(flags_b);
				unsigned int fl = sendf ? 0 : flags_b[f];

				if (s == P_FULL && !(fl & SPLICE_F_NONBLOCK))
					continue;
				if (i > 0 && f > 1 && !sendf)
					continue;	/* all flags on the file only */
				for (ptr = 0; ptr < 2; ptr++)
					for (j = 0; j < 3; j++)
						for (l = 0; l < (int)ARRAY_SIZE(lens_b); l++) {
							c = (struct call){ sendf, &kinds[i], ptr,
									   pos_b[j], lens_b[l], fl,
									   s, S_NONE };
							run_call(&c);
						}
			}
	/* C: errors */
	for (sf = 0; sf < 2; sf++)
		for (s = 0; s < 2; s++)
			for (f = 0; f < 2; f++) {
				enum pstate st = s ? P_NBFULL : P_EMPTY;
				unsigned int fl = f ? SPLICE_F_NONBLOCK : 0;
				enum special sps[] = { S_OFF_OUT, S_EFAULT, S_WRONLY, S_ZERO_LEN,
						       S_RO_OFF, S_WRONLY_EFAULT, S_APPEND };

				for (j = 0; j < (int)ARRAY_SIZE(sps); j++) {
					if (sf && sps[j] == S_OFF_OUT)
						continue;
					c = (struct call){ sf, &kinds[0],
							   sps[j] == S_EFAULT || sps[j] == S_RO_OFF ||
							   sps[j] == S_WRONLY_EFAULT,
							   100, 5000, fl, st, sps[j] };
					run_call(&c);
				}
				/* negative offsets, bad flags */
				c = (struct call){ sf, &kinds[0], true, -1, 5000, fl, st, S_NONE };
				run_call(&c);
				c.pos = -4096;
				run_call(&c);
				c.pos = INT64_MAX - 10;
				run_call(&c);
				if (!sf) {
					c = (struct call){ false, &kinds[0], false, 0, 5000,
							   fl | 0x100, st, S_NONE };
					run_call(&c);
				}
			}
	/* D: the calls that wait, and what ends the wait */
	for (sf = 0; sf < 2; sf++)
		for (ptr = 0; ptr < 2; ptr++)
			for (j = 0; j < 2; j++)
				for (i = 0; i < 4; i++)
					run_blocking(sf, ptr, j ? 100 : 0, i);
	/* E: whole files, with a reader thread */
	{
		int sfd = sp_scratch_file(STRM_SIZE, SEED + 2, 0, SP_DIRTY);

		kinds[0].fd = sfd;
		kinds[0].size = STRM_SIZE;
		for (sf = 0; sf < 2; sf++)
			for (ptr = 0; ptr < 2; ptr++)
				run_stream(sf, ptr, false);
		run_stream(false, false, true);
	}
	printf("# instance fds: %d\n", count_instance_fds(NULL));
	printf("# %d transcript lines with bad data\n", transcript_bad);
	fflush(stdout);
	return transcript_bad ? 1 : 0;
}

/* Pass-through inputs the library must not touch (run in both runs). */
static int mode_passthrough(void)
{
	unsigned char buf[8192], want[8192];
	int p[2], q[2], fd, i, e;
	ssize_t r, n;
	loff_t off;

	sp_catch_sigpipe();
	/* a pipe as input */
	if (pipe2(p, O_CLOEXEC) || pipe2(q, O_CLOEXEC))
		return 1;
	sp_set_nonblock(q[0], true);	/* a failed splice must not hang us */
	sp_fill(want, sizeof(want), 0, 3);
	sp_write_full(p[1], want, 5000);
	r = splice(p[0], NULL, q[1], NULL, 3000, 0);
	n = sp_read_full(q[0], buf, sizeof(buf));
	printf("pipe->pipe: ret=%zd got=%zd data=%s\n", r, n,
	       n == 3000 && !memcmp(buf, want, 3000) ? "ok" : "BAD");
	off = 0;
	r = splice(p[0], &off, q[1], NULL, 100, 0);
	printf("pipe->pipe with off_in: ret=%zd errno=%d\n", r, r < 0 ? errno : 0);
	/* a char device, a pseudo file system */
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	r = splice(fd, NULL, q[1], NULL, 5000, 0);
	e = r < 0 ? errno : 0;	/* 6.1 cannot splice from /dev/zero */
	n = sp_read_full(q[0], buf, sizeof(buf));
	for (i = 0; i < n && !buf[i]; i++)
		;
	printf("/dev/zero: ret=%zd errno=%d got=%zd zeros=%d\n", r, e, n, i);
	close(fd);
	fd = open("/proc/sys/kernel/ostype", O_RDONLY | O_CLOEXEC);
	r = splice(fd, NULL, q[1], NULL, 5000, 0);
	e = r < 0 ? errno : 0;
	n = sp_read_full(q[0], buf, sizeof(buf));
	printf("/proc/sys/kernel/ostype: ret=%zd errno=%d got=%zd data=%.*s\n", r,
	       e, n, (int)(n > 0 ? n - 1 : 0), buf);
	close(fd);
	/* a socket in, a socket out, an O_PATH descriptor */
	{
		int sv[2], a = make_memfd(10000, 5), o;
		char path[64];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
			sp_write_full(sv[0], want, 3000);
			r = splice(sv[1], NULL, q[1], NULL, 5000, SPLICE_F_NONBLOCK);
			e = r < 0 ? errno : 0;
			n = sp_read_full(q[0], buf, sizeof(buf));
			printf("socket->pipe: ret=%zd errno=%d got=%zd data=%s\n", r, e, n,
			       n == 3000 && !memcmp(buf, want, 3000) ? "ok" : "BAD");
			off = 0;
			r = sendfile(sv[0], a, (off_t *)&off, 7000);
			e = r < 0 ? errno : 0;
			n = sp_read_full(sv[1], buf, r > 0 ? r : 0);
			printf("sendfile memfd->socket: ret=%zd errno=%d off=%lld got=%zd\n",
			       r, e, (long long)off, n);
			close(sv[0]);
			close(sv[1]);
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", a);
		o = open(path, O_PATH | O_CLOEXEC);
		r = splice(o, NULL, q[1], NULL, 5000, 0);
		printf("O_PATH->pipe: ret=%zd errno=%d\n", r, r < 0 ? errno : 0);
		close(o);
		close(a);
	}
	/* a file into a file (not a pipe): sendfile */
	{
		int a = make_memfd(10000, 4), b = memfd_create("b", MFD_CLOEXEC);

		r = sendfile(b, a, NULL, 7000);
		printf("sendfile memfd->memfd: ret=%zd size=%lld\n", r,
		       (long long)lseek(b, 0, SEEK_END));
		close(a);
		close(b);
	}
	printf("# instance fds: %d\n", count_instance_fds(NULL));
	return 0;
}

/* ====================================================================
 * modes threads, fork, reuse, fdscan
 * ==================================================================== */

struct worker {
	pthread_t th;
	int id;
	int fd;			/* its file */
	size_t size;
	pthread_barrier_t *bar;
	int err;
	char msg[160];
};

/* Splice all of @fd into a fresh pipe, read it back, compare. */
static int splice_all(int fd, size_t size, unsigned int seed, bool ptr,
		      pthread_barrier_t *bar, char *msg, size_t msglen)
{
	unsigned char *got = sp_malloc(size + 1);
	size_t have = 0, sent = 0;
	loff_t off = 0;
	int p[2], first = 1;
	ssize_t r, n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	lseek(fd, 0, SEEK_SET);
	while (sent < size) {
		r = splice(fd, ptr ? &off : NULL, p[1], NULL,
			   (sent % 3 + 1) * 40000, 0);
		if (r <= 0) {
			snprintf(msg, msglen, "splice at %zu: %zd (%s)", sent, r,
				 r < 0 ? strerror(errno) : "EOF");
			break;
		}
		sent += r;
		if (first && bar) {
			pthread_barrier_wait(bar);	/* fds are counted */
			pthread_barrier_wait(bar);
		}
		first = 0;
		while (have < sent) {
			n = read(p[0], got + have, sent - have);
			if (n <= 0)
				break;
			have += n;
		}
	}
	close(p[0]);
	close(p[1]);
	if (sent == size && have == size &&
	    sp_cmp_pat("spliced data", got, size, 0, seed) == 0) {
		free(got);
		return 0;
	}
	if (!*msg)
		snprintf(msg, msglen, "sent %zu, read %zu of %zu, or wrong bytes",
			 sent, have, size);
	free(got);
	return -1;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	w->err = splice_all(w->fd, w->size, SEED + w->id, w->id % 2, w->bar,
			    w->msg, sizeof(w->msg));
	return NULL;
}

static int mode_threads(int n)
{
	struct worker *w = calloc(n, sizeof(*w));
	pthread_barrier_t bar;
	int i, during, after, bad, fails = 0;

	pthread_barrier_init(&bar, NULL, n + 1);
	for (i = 0; i < n; i++) {
		w[i].id = i + 1;
		w[i].size = 4 * SP_MIB + 1000 * i;
		w[i].fd = sp_scratch_file(w[i].size, SEED + w[i].id, 0, SP_DIRTY);
		w[i].bar = &bar;
		if (w[i].fd < 0)
			return 1;
	}
	for (i = 0; i < n; i++)
		pthread_create(&w[i].th, NULL, worker_fn, &w[i]);
	pthread_barrier_wait(&bar);	/* each has spliced once */
	during = count_instance_fds(&bad);
	pthread_barrier_wait(&bar);
	for (i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].err) {
			printf("# thread %d: %s\n", w[i].id, w[i].msg);
			fails++;
		}
	}
	after = count_instance_fds(NULL);
	printf("threads=%d failed=%d instance-fds-during=%d bad-fds=%d instance-fds-after-exit=%d\n",
	       n, fails, during, bad, after);
	return fails || during != n || bad || after ? 1 : 0;
}

/* A thread with an instance of its own, alive across the parent's fork. */
struct idler {
	pthread_t th;
	pthread_barrier_t bar;
	int ok;
};

static void *idler_fn(void *arg)
{
	struct idler *d = arg;
	int f = sp_scratch_file(100000, SEED + 9, 0, SP_DIRTY);
	char msg[160] = "";

	d->ok = f >= 0 && !splice_all(f, 100000, SEED + 9, false, NULL, msg,
				      sizeof(msg));
	pthread_barrier_wait(&d->bar);	/* its instance is open */
	pthread_barrier_wait(&d->bar);	/* the parent has forked */
	close(f);
	return NULL;
}

static int mode_fork(void)
{
	struct idler idle = { 0 };
	const size_t size = 2 * SP_MIB;
	int fd = sp_scratch_file(size, SEED, 0, SP_DIRTY);
	int p[2], st, st2, before, child_fds, bad;
	unsigned char *got = sp_malloc(size);
	size_t have = 0, sent = 0;
	char msg[160] = "";
	pid_t pid;
	ssize_t r, n;

	if (fd < 0 || pipe2(p, O_CLOEXEC) < 0)
		return 1;
	/* the first half, before the fork */
	while (sent < size / 2) {
		r = splice(fd, NULL, p[1], NULL, size / 2 - sent > 50000 ? 50000 :
			   size / 2 - sent, 0);
		if (r <= 0)
			return 1;
		sent += r;
		while (have < sent && (n = read(p[0], got + have, sent - have)) > 0)
			have += n;
	}
	pthread_barrier_init(&idle.bar, NULL, 2);
	pthread_create(&idle.th, NULL, idler_fn, &idle);
	pthread_barrier_wait(&idle.bar);
	/* ours and the other thread's */
	before = count_instance_fds(NULL);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* the parent's instance must be gone; ours comes on first use */
		int at_fork = count_instance_fds(NULL), rc;
		int cfd;
		char path[64];
		const char *argv[] = { "stablesplice_test", "fdscan", NULL };

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		cfd = open(path, O_RDONLY | O_CLOEXEC);	/* own file position */
		rc = splice_all(cfd, size, SEED, true, NULL, msg, sizeof(msg));
		child_fds = count_instance_fds(&bad);
		printf("child: instance-fds-at-fork=%d splice=%s instance-fds-after=%d bad-fds=%d\n",
		       at_fork, rc ? msg : "ok", child_fds, bad);
		fflush(stdout);
		if (at_fork || rc || child_fds != 1 || bad)
			_exit(1);
		/* close-on-exec: the new image sees none */
		execv(self_path, (char *const *)argv);
		_exit(127);
	}
	pthread_barrier_wait(&idle.bar);
	pthread_join(idle.th, NULL);
	/* the parent goes on with its own instance, from the file position */
	while (sent < size) {
		r = splice(fd, NULL, p[1], NULL, 65536, 0);
		if (r <= 0)
			break;
		sent += r;
		while (have < sent && (n = read(p[0], got + have, sent - have)) > 0)
			have += n;
	}
	st = wait_status(pid);
	printf("parent: instance-fds-before-fork=%d (2 threads) thread=%s sent=%zu data=%s after=%d child-exit=%d\n",
	       before, idle.ok ? "ok" : "BAD", sent, have == size && !sp_cmp_pat("parent", got, size, 0, SEED) ?
	       "ok" : "BAD", count_instance_fds(NULL),
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	/* posix_spawn (a vfork: no fork handlers run): nothing inherited */
	{
		const char *argv[] = { "stablesplice_test", "fdscan", NULL };
		extern char **environ;
		pid_t sp;

		fflush(stdout);
		if (posix_spawn(&sp, self_path, NULL, NULL, (char *const *)argv,
				environ))
			return 1;
		st2 = wait_status(sp);
		printf("posix_spawn: exit=%d\n",
		       WIFEXITED(st2) ? WEXITSTATUS(st2) : 128 + WTERMSIG(st2));
	}
	return have == size && sent == size && before == 2 && idle.ok &&
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	       WIFEXITED(st2) && WEXITSTATUS(st2) == 0 ? 0 : 1;
}

static int mode_fdscan(void)
{
	int n = count_instance_fds(NULL);

	printf("exec: instance-fds=%d\n", n);
	return n ? 1 : 0;
}

/* The program closes the library's fd, or puts a file of its own there. */
static int mode_reuse(void)
{
	const size_t size = 256 * 1024;
	int fd = sp_scratch_file(size, SEED, 0, SP_DIRTY);
	int mine, inst, bad = 0, i;
	unsigned char buf[8192];
	char msg[160] = "";
	struct stat st;

	if (fd < 0 || splice_all(fd, size, SEED, false, NULL, msg, sizeof(msg))) {
		printf("first splice: %s\n", msg);
		return 1;
	}
	inst = find_instance_fd();
	printf("instance fd found: %s\n", inst >= 10 ? "yes, >= 10" : "NO");
	if (inst < 0)
		return 1;
	/* a file of the program's at the library's fd number */
	mine = sp_scratch_file(8192, 0, 'Z', SP_DIRTY);
	if (mine < 0 || dup2(mine, inst) != inst)
		return 1;
	close(mine);
	if (splice_all(fd, size, SEED, true, NULL, msg, sizeof(msg)))
		bad++;
	fstat(inst, &st);
	pread(inst, buf, sizeof(buf), 0);
	for (i = 0; i < (int)sizeof(buf) && buf[i] == 'Z'; i++)
		;
	printf("replaced: splice=%s the program's file: size=%lld intact=%s\n",
	       bad ? msg : "ok", (long long)st.st_size,
	       st.st_size == 8192 && i == (int)sizeof(buf) ? "yes" : "NO");
	if (st.st_size != 8192 || i != (int)sizeof(buf))
		bad++;
	/* the program closes it */
	inst = find_instance_fd();
	if (inst < 0)
		return 1;
	close(inst);
	if (splice_all(fd, size, SEED, false, NULL, msg, sizeof(msg)))
		bad++;
	printf("closed: splice=%s instance-fds=%d\n", bad ? msg : "ok",
	       count_instance_fds(NULL));
	if (count_instance_fds(NULL) != 1)
		bad++;
	return bad ? 1 : 0;
}

/*
 * The program closes every descriptor above its own (closefrom(3),
 * close_range(2)): the library notices and opens another.
 */
static int mode_closerange(void)
{
	const size_t size = 256 * 1024;
	int fd = sp_scratch_file(size, SEED, 0, SP_DIRTY);
	char msg[160] = "";
	int bad = 0, n, i;

	if (fd < 0 || splice_all(fd, size, SEED, false, NULL, msg, sizeof(msg))) {
		printf("first splice: %s\n", msg);
		return 1;
	}
	for (i = 0; i < 2; i++) {
		/* first everything above fd, then close-on-exec only */
		if (syscall(SYS_close_range, fd + 1, ~0U, i ? 4U : 0U) < 0) {
			printf("close_range: %s\n", strerror(errno));
			return 1;
		}
		if (splice_all(fd, size, SEED, i, NULL, msg, sizeof(msg)))
			bad++;
		n = count_instance_fds(NULL);
		printf("close_range %s: splice=%s instance-fds=%d\n",
		       i ? "CLOEXEC" : "close", bad ? msg : "ok", n);
		if (n != 1)
			bad++;
	}
	return bad ? 1 : 0;
}

/*
 * stdin, stdout and stderr closed, RLIMIT_NOFILE 8: the device opens at
 * fd 0 and cannot move to the library's usual high numbers.  It must go
 * above 2, and 0-2 stay closed.  Reports on @out (fd 6).
 */
static int mode_lowfd(void)
{
	const size_t size = 20000;
	struct rlimit rl;
	unsigned char *got = sp_malloc(size);
	int fd, p[2], out, inst = -1, n = 0, i, bad = 0;
	size_t have = 0;
	ssize_t r, m;

	syscall(SYS_close_range, 3, ~0U, 0);	/* known numbers from here */
	fd = sp_scratch_file(size, SEED, 0, SP_DIRTY);	/* 3 */
	if (fd != 3 || pipe2(p, O_CLOEXEC) < 0 || p[0] != 4)
		return 2;
	out = dup(1);					/* 6 */
	if (out != 6)
		return 2;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 8;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 2;
	close(0);
	close(1);
	close(2);
	lseek(fd, 0, SEEK_SET);
	sp_set_nonblock(p[0], true);
	while (have < size) {
		r = splice(fd, NULL, p[1], NULL, size - have, 0);
		if (r <= 0)
			break;
		while ((m = read(p[0], got + have, size - have)) > 0)
			have += m;
	}
	for (i = 0; i < 8; i++) {
		if (fcntl(i, F_GETFD) < 0)
			continue;
		n++;
		if (i > 6)
			inst = i;
	}
	if (have != size || sp_cmp_pat("lowfd", got, size, 0, SEED))
		bad++;
	/* open: 3 4 5 6 and the instance; 0-2 still closed */
	if (inst < 0 || n != 5 || !(fcntl(inst, F_GETFD) & FD_CLOEXEC))
		bad++;
	dprintf(out, "lowfd: data=%s open-fds=%d instance-fd=%d cloexec=%s 0-2-closed=%s\n",
		have == size ? "ok" : "BAD", n, inst,
		inst >= 0 && (fcntl(inst, F_GETFD) & FD_CLOEXEC) ? "yes" : "no",
		fcntl(0, F_GETFD) < 0 && fcntl(1, F_GETFD) < 0 &&
		fcntl(2, F_GETFD) < 0 ? "yes" : "NO");
	return bad ? 1 : 0;
}

/* ---- signal handlers that splice ---- */

static int re_fd = -1, re_pipe = -1;
static volatile sig_atomic_t re_calls, re_moved;

/* SIGUSR1: 100 bytes more from the same file into the same pipe */
static void on_usr1_splice(int sig)
{
	int saved = errno;
	ssize_t r;

	(void)sig;
	r = splice(re_fd, NULL, re_pipe, NULL, 100, SPLICE_F_NONBLOCK);
	re_calls++;
	if (r > 0)
		re_moved += r;
	errno = saved;
}

struct flooder {
	pthread_t th;
	pthread_t target;
	volatile int stop;
	long sent;
};

/*
 * One SIGUSR1, then wait until its handler has run, then 200 us: the
 * signals land at any moment of the program's calls, but the program
 * always gets to run between two handlers.  (A signal every 20 us, not
 * waiting, starved it on the slow debug kernel: each handler outlasted
 * the interval, and the next signal was pending when it returned.)
 */
static void *flood_fn(void *arg)
{
	struct flooder *f = arg;
	struct timespec ts = { 0, 200000 };
	sig_atomic_t seen;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!f->stop) {
		seen = re_calls;
		pthread_kill(f->target, SIGUSR1);
		f->sent++;
		while (re_calls == seen && !f->stop)
			nanosleep(&ts, NULL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/*
 * A signal handler splices from the same file (its file position) into
 * the same pipe, at any moment, while the program splices: what comes
 * out of the pipe must be the file, in order, once.  The fake device
 * build with STABLESPLICE_FAKE_SIGNAL=N also raises SIGUSR1 between its
 * move into the instance and the move out, every Nth move.
 */
static int mode_reenter(void)
{
	const size_t size = 4 * SP_MIB;
	int fd = sp_scratch_file(size, SEED, 0, SP_DIRTY);
	unsigned char *got = sp_malloc(size + SP_MIB);
	struct flooder f = { 0 };
	struct sigaction sa;
	size_t have = 0;
	int p[2], calls = 0;
	ssize_t r, n;

	if (fd < 0 || pipe2(p, O_CLOEXEC) < 0)
		return 1;
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	sp_set_nonblock(p[0], true);
	re_fd = fd;
	re_pipe = p[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1_splice;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	lseek(fd, 0, SEEK_SET);
	f.target = pthread_self();
	pthread_create(&f.th, NULL, flood_fn, &f);
	for (;;) {
		r = splice(fd, NULL, p[1], NULL, 5000, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		calls++;
		while ((n = read(p[0], got + have, size + SP_MIB - have)) > 0)
			have += n;
	}
	f.stop = 1;
	pthread_join(f.th, NULL);
	signal(SIGUSR1, SIG_IGN);
	while ((n = read(p[0], got + have, size + SP_MIB - have)) > 0)
		have += n;
	printf("reenter: last ret=%zd calls=%d signals=%ld handler-calls=%d handler-bytes=%d read=%zu data=%s\n",
	       r, calls, f.sent, (int)re_calls, (int)re_moved, have,
	       have == size && !sp_cmp_pat("reenter", got, size, 0, SEED) ?
	       "ok" : "BAD (lost, duplicated or reordered)");
	return have == size && !sp_cmp_pat("reenter", got, size, 0, SEED) &&
	       r == 0 ? 0 : 1;
}

static int sp_reader = -1;

static void on_usr1_close(int sig)
{
	(void)sig;
	close(sp_reader);
	sp_reader = -1;
}

/*
 * The reader goes away while a call is under way (the fake device build
 * with STABLESPLICE_FAKE_SIGNAL=1: SIGUSR1, whose handler closes the only
 * reader, comes between the move into the instance and the move out).
 * SIGPIPE is the default: the process may die of it, but then the file
 * position it shares with its parent must not have moved; or the call
 * returns, and the position moved by what it returned.
 */
static int mode_sigpipe(void)
{
	const size_t size = 100000;
	int fd = sp_scratch_file(size, SEED, 0, SP_DIRTY), st;
	loff_t pos;
	pid_t pid;

	if (fd < 0)
		return 1;
	lseek(fd, 0, SEEK_SET);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		int p[2];
		ssize_t r;

		signal(SIGPIPE, SIG_DFL);
		if (pipe2(p, O_CLOEXEC) < 0)
			_exit(100);
		sp_reader = p[0];
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1_close;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		r = splice(fd, NULL, p[1], NULL, 5000, 0);
		_exit(r == 5000 ? 0 : r < 0 ? 110 + (errno & 63) : 101);
	}
	st = wait_status(pid);
	pos = lseek(fd, 0, SEEK_CUR);
	printf("sigpipe: child %s %d, shared file position %lld\n",
	       WIFSIGNALED(st) ? "killed by signal" : "exit",
	       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), (long long)pos);
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGPIPE && pos == 0 ? 0 : 1;
	return WEXITSTATUS(st) == 0 && pos == 5000 ? 0 : 1;
}

/* ====================================================================
 * mode userlimit: the per-user limit refuses a capacity for a while
 * ==================================================================== */

/* splice @len bytes of @fd at its position into a new pipe; 0 if right */
static int userlimit_splice(int fd, size_t len)
{
	unsigned char want[8192], got[8192];
	loff_t pos = lseek(fd, 0, SEEK_CUR);
	int p[2], ret = 1;

	if (len > sizeof(want) || pos < 0 || pipe2(p, O_CLOEXEC) < 0)
		return 1;
	if (pread(fd, want, len, pos) == (ssize_t)len &&
	    splice(fd, NULL, p[1], NULL, len, 0) == (ssize_t)len &&
	    sp_read_full(p[0], got, len) == (ssize_t)len)
		ret = memcmp(want, got, len) != 0;
	close(p[0]);
	close(p[1]);
	return ret;
}

/*
 * Run by t_userlimit as root, with user_pages_soft set to 400 pages: as
 * nobody, hold a 1 MiB instance (257 pages), so that the library's
 * instance gets 2 pages and raising its capacity fails with EPERM; splice
 * (the call passes through); close the instance that held the pages;
 * splice again, which the library now carries.
 */
static int mode_userlimit(void)
{
	int fd = sp_scratch_file(65536, SEED, 0, SP_CLEAN), hog;

	if (fd < 0)
		return 1;
	lseek(fd, 0, SEEK_SET);
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) {
		perror("userlimit: dropping to nobody");
		return 100;
	}
	hog = open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC);
	if (hog < 0) {
		perror("userlimit: " STABLEPIPE_DEV);
		return 101;
	}
	if (userlimit_splice(fd, 4096))
		return 102;
	close(hog);
	if (userlimit_splice(fd, 4096))
		return 103;
	printf("# userlimit: 8192 bytes spliced as uid %d\n", (int)getuid());
	return 0;
}

/* ====================================================================
 * modes tool and consume: the seed's programs
 * ==================================================================== */

static int64_t io_read_bytes(void)
{
	char line[128];
	long long v = -1;
	FILE *f = fopen("/proc/self/io", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "read_bytes: %lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/*
 * The original diskbuffer's data path: stdin (a pipe) into an unlinked
 * temporary file by splice, the file into stdout (a pipe) by splice, and
 * after each splice out a hole punched over what has been sent (in whole
 * blocks).  One poll(2) loop, no limit on what is buffered.
 */
static int mode_tool(const char *dir)
{
	int64_t in = 0, out = 0, punched = 0, blk = 4096;
	int tmp, in_eof = 0;
	struct stat st;

	signal(SIGPIPE, SIG_IGN);
	tmp = open(dir, O_RDWR | O_TMPFILE | O_EXCL | O_CLOEXEC, 0600);
	if (tmp < 0) {
		fprintf(stderr, "tool: O_TMPFILE in %s: %s\n", dir, strerror(errno));
		return 73;
	}
	if (fstat(tmp, &st) == 0 && st.st_blksize > blk)
		blk = st.st_blksize;
	while (!in_eof || out < in) {
		struct pollfd pfd[2];
		int n = 0, ii = -1, oi = -1;
		ssize_t r;

		if (!in_eof) {
			ii = n;
			pfd[n++] = (struct pollfd){ 0, POLLIN, 0 };
		}
		if (out < in) {
			oi = n;
			pfd[n++] = (struct pollfd){ 1, POLLOUT, 0 };
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 71;
		}
		if (ii >= 0 && pfd[ii].revents) {
			loff_t off = in;

			r = splice(0, NULL, tmp, &off, 1 << 20,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE);
			if (r > 0)
				in += r;
			else if (r == 0)
				in_eof = 1;
			else if (errno != EAGAIN && errno != EINTR)
				return 74;
		}
		if (oi >= 0 && pfd[oi].revents) {
			loff_t off = out;

			r = splice(tmp, &off, 1, NULL, in - out,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE);
			if (r > 0) {
				int64_t end;

				out += r;
				end = out & ~(blk - 1);
				if (end > punched &&
				    fallocate(tmp, FALLOC_FL_PUNCH_HOLE |
					      FALLOC_FL_KEEP_SIZE, punched,
					      end - punched) == 0)
					punched = end;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				fprintf(stderr, "tool: splice out: %s\n",
					r ? strerror(errno) : "EOF");
				return 74;
			}
		}
	}
	fprintf(stderr, "tool: in=%lld out=%lld punched=%lld read_bytes=%lld\n",
		(long long)in, (long long)out, (long long)punched,
		(long long)io_read_bytes());
	return 0;
}

/* The report's consume.c, FILE as an argument and LEN for SIZE_MAX. */
static int mode_consume(const char *path, size_t len)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int64_t consumed = 0;

	if (fd < 0)
		return 66;
	for (;;) {
		ssize_t n = splice(fd, NULL, 1, NULL, len, 0);

		if (n < 0) {
			fprintf(stderr, "consume: splice: %s\n", strerror(errno));
			return 74;
		}
		if (n == 0)
			break;
		consumed += n;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			      consumed) < 0) {
			fprintf(stderr, "consume: fallocate: %s\n", strerror(errno));
			return 71;
		}
	}
	fprintf(stderr, "consume: %lld bytes read_bytes=%lld\n",
		(long long)consumed, (long long)io_read_bytes());
	return 0;
}

/* ====================================================================
 * the KTAP driver
 * ==================================================================== */

static bool real_device(void)
{
	int fd;

	if (fake)
		return false;
	fd = open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Compare two transcripts, ignoring "#" lines; report the first difference. */
static int compare_transcripts(const char *a, const char *b, int *lines)
{
	*lines = 0;
	for (;;) {
		size_t la, lb;

		while (*a == '#')
			a += strcspn(a, "\n") + (a[strcspn(a, "\n")] ? 1 : 0);
		while (*b == '#')
			b += strcspn(b, "\n") + (b[strcspn(b, "\n")] ? 1 : 0);
		if (!*a && !*b)
			return 0;
		la = strcspn(a, "\n");
		lb = strcspn(b, "\n");
		if (la != lb || memcmp(a, b, la)) {
			ktap_print_msg("first difference, at line %d:", *lines + 1);
			ktap_print_msg("  real:    %.*s", (int)la, a);
			ktap_print_msg("  wrapped: %.*s", (int)lb, b);
			return -1;
		}
		(*lines)++;
		a += la + (a[la] ? 1 : 0);
		b += lb + (b[lb] ? 1 : 0);
	}
}

static int count_matches(const char *s, const char *pat)
{
	int n = 0;

	while ((s = strstr(s, pat))) {
		n++;
		s += strlen(pat);
	}
	return n;
}

/* "N calls: M through" from STABLESPLICE_STATS=1; -1 if absent. */
static long wrapped_calls(const char *err)
{
	const char *p = strstr(err, " calls: ");
	long n;

	if (!p || sscanf(p, " calls: %ld through", &n) != 1)
		return -1;
	return n;
}

static int t_semantics(const void *arg)
{
	const char *mode = arg;
	const char *argv[] = { "stablesplice_test", mode, NULL };
	const char *real_env[] = { lib_env(), "STABLESPLICE_DISABLE=1", NULL };
	const char *wrap_env[] = { lib_env(), "STABLESPLICE_STATS=1",
				   "STABLESPLICE_DISABLE", NULL };
	char *ro, *re, *wo, *we;
	int rs, ws, lines;
	double t0 = sp_now(), t1;
	long calls;

	rs = run_capture(argv, real_env, &ro, &re);
	t1 = sp_now();
	ws = run_capture(argv, wrap_env, &wo, &we);
	ktap_print_msg("%s: real run %.1f s, wrapped run %.1f s", mode, t1 - t0,
		       sp_now() - t1);
	print_lines("real: ", strstr(ro, "# ") ? strstr(ro, "# ") : "", 1);
	if (*re)
		print_lines("real stderr: ", re, 5);
	print_lines("wrapped stderr: ", we, 5);
	CHECK(WIFEXITED(rs) && WEXITSTATUS(rs) == 0,
	      "the real run failed (status %#x): its own data checks", rs);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	      "the wrapped run failed (status %#x): its own data checks", ws);
	CHECK(compare_transcripts(ro, wo, &lines) == 0,
	      "the transcripts differ (see above)");
	ktap_print_msg("%d calls, same results with and without the library", lines);
	calls = wrapped_calls(we);
	if (!strcmp(mode, "semantics"))
		CHECK(calls > 100, "the library carried %ld calls (STABLESPLICE_STATS)", calls);
	else
		CHECK(calls == 0, "the library carried %ld calls, expected none", calls);
	free(ro);
	free(re);
	free(wo);
	free(we);
	return KSFT_PASS;
}

/* No device: everything passes through, VERBOSE says so once. */
static int t_nodevice(const void *arg)
{
	const char *argv[] = { "stablesplice_test", "semantics", NULL };
	const char *real_env[] = { lib_env(), "STABLESPLICE_DISABLE=1", NULL };
	const char *nodev_env[] = { lib_env(), "STABLESPLICE_DEVICE=/nonexistent/stablepipe",
				    "STABLESPLICE_VERBOSE=1", "STABLESPLICE_STATS=1",
				    "STABLESPLICE_DISABLE", NULL };
	char *ro, *re, *no, *ne;
	int rs, ns, lines;

	(void)arg;
	rs = run_capture(argv, real_env, &ro, &re);
	ns = run_capture(argv, nodev_env, &no, &ne);
	print_lines("stderr: ", ne, 4);
	CHECK(WIFEXITED(rs) && WEXITSTATUS(rs) == 0, "real run failed (%#x)", rs);
	CHECK(WIFEXITED(ns) && WEXITSTATUS(ns) == 0, "no-device run failed (%#x)", ns);
	CHECK(compare_transcripts(ro, no, &lines) == 0, "the transcripts differ");
	CHECK(count_matches(ne, "pass through unchanged") == 1,
	      "STABLESPLICE_VERBOSE=1 said \"pass through unchanged\" %d times, expected once",
	      count_matches(ne, "pass through unchanged"));
	CHECK(strstr(no, "# instance fds: 0") != NULL, "an instance fd without a device?");
	ktap_print_msg("%d calls passed through unchanged", lines);
	free(ro);
	free(re);
	free(no);
	free(ne);
	return KSFT_PASS;
}

static int t_mode(const void *arg)
{
	const char *const *argv = arg;
	const char *env[] = { lib_env(), "STABLESPLICE_DISABLE", NULL };
	char *o, *e;
	int st;

	st = run_capture(argv, env, &o, &e);
	print_lines("", o, 20);
	print_lines("stderr: ", e, 5);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", argv[1], st);
	free(o);
	free(e);
	return KSFT_PASS;
}

/* "K passed through" from STABLESPLICE_STATS=1; -1 if absent. */
static long passed_calls(const char *err)
{
	const char *p = strstr(err, " calls: ");
	long n, k;

	if (!p || sscanf(p, " calls: %ld through %*s %ld passed", &n, &k) != 2)
		return -1;
	return k;
}

/*
 * A handler splices while the program does: the data is right, and the
 * handler's calls are carried through the device too.
 */
static int t_reenter(const void *arg)
{
	const char *argv[] = { "stablesplice_test", "reenter", NULL };
	const char *env[] = { lib_env(), "STABLESPLICE_STATS=1", "STABLESPLICE_DISABLE",
			      fake ? "STABLESPLICE_FAKE_SIGNAL=3" : NULL, NULL };
	char *o, *e;
	long calls, passed;
	int st;

	(void)arg;
	st = run_capture(argv, env, &o, &e);
	print_lines("", o, 5);
	print_lines("stderr: ", e, 5);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reenter: status %#x", st);
	calls = wrapped_calls(e);
	passed = passed_calls(e);
	CHECK(calls > 100, "the library carried %ld calls", calls);
	CHECK(passed == 0, "%ld calls (from the handler) passed through", passed);
	free(o);
	free(e);
	return KSFT_PASS;
}

/*
 * The per-user limit refuses the library's capacity (EPERM): that call
 * passes through, and once the user's pages are free again the next one
 * is carried.  EPERM there is not "no device" for the whole process.
 */
static int t_userlimit(const void *arg)
{
	const char *argv[] = { "stablesplice_test", "userlimit", NULL };
	const char *env[] = { lib_env(), "STABLESPLICE_STATS=1", "STABLESPLICE_VERBOSE=1",
			      "STABLESPLICE_DISABLE", NULL };
	uint64_t soft = sp_module_param("user_pages_soft", UINT64_MAX);
	long calls, passed;
	char *o, *e;
	int st;

	(void)arg;
	if (!real_device())
		return ktap_skip("needs the module (the fake device has no user limits)");
	if (geteuid() != 0 || soft == UINT64_MAX)
		return ktap_skip("needs root and the user_pages_soft parameter");
	CHECK(sp_module_param_set("user_pages_soft", 400) == 0,
	      "cannot set user_pages_soft: %s", strerror(errno));
	st = run_capture(argv, env, &o, &e);
	sp_module_param_set("user_pages_soft", soft);
	print_lines("", o, 3);
	print_lines("stderr: ", e, 5);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "userlimit: status %#x", st);
	calls = wrapped_calls(e);
	passed = passed_calls(e);
	CHECK(passed == 1, "%ld calls passed through, expected 1 (the refused one)", passed);
	CHECK(calls == 1, "the library carried %ld calls, expected 1 (after the limit)", calls);
	CHECK(strstr(e, "user_pages_soft") != NULL,
	      "STABLESPLICE_VERBOSE=1 did not name the limit");
	free(o);
	free(e);
	return KSFT_PASS;
}

/* The reader closes in the middle of a call (the fake build's hook). */
static int t_sigpipe(const void *arg)
{
	const char *argv[] = { "stablesplice_test", "sigpipe", NULL };
	const char *env[] = { lib_env(), "STABLESPLICE_DISABLE",
			      "STABLESPLICE_FAKE_SIGNAL=1", NULL };
	char *o, *e;
	int st;

	(void)arg;
	if (!fake)
		return ktap_skip("needs the fake device build's signal hook");
	st = run_capture(argv, env, &o, &e);
	print_lines("", o, 5);
	print_lines("stderr: ", e, 5);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the file position moved by bytes that never reached the pipe (status %#x)",
	      st);
	free(o);
	free(e);
	return KSFT_PASS;
}

/* STABLESPLICE_STATS=1 prints the device's counters. */
static int t_stats(const void *arg)
{
	/* threads: each thread's counters are summed when it exits */
	const char *argv[] = { "stablesplice_test", "threads", "4", NULL };
	const char *env[] = { lib_env(), "STABLESPLICE_STATS=1", "STABLESPLICE_DISABLE", NULL };
	unsigned long long out_splice = 0, in_sendfile = 0, bytes = 0;
	char *o, *e, *p;
	int st;

	(void)arg;
	if (!real_device())
		return ktap_skip("needs the module (the fake device has no counters)");
	st = run_capture(argv, env, &o, &e);
	print_lines("", e, 4);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	p = strstr(e, " bytes to pipes");
	CHECK(p && sscanf(strstr(e, "passed through; "), "passed through; %llu", &bytes) == 1,
	      "no summary line");
	p = strstr(e, "bytes_in_sendfile ");
	CHECK(p && sscanf(p, "bytes_in_sendfile %llu", &in_sendfile) == 1, "no device line");
	p = strstr(e, "bytes_out_splice ");
	CHECK(p && sscanf(p, "bytes_out_splice %llu", &out_splice) == 1, "no bytes_out_splice");
	/* mode_threads: thread i (0-based) splices 4 MiB + 1000 i bytes */
	CHECK_EQ_U64(bytes, 4 * (4 * SP_MIB) + 6000, "bytes to pipes");
	CHECK_EQ_U64(out_splice, bytes, "the device's bytes_out_splice");
	CHECK(in_sendfile >= bytes, "bytes_in_sendfile %llu < %llu", in_sendfile, bytes);
	free(o);
	free(e);
	return KSFT_PASS;
}

/* ---- the punch cases ---- */

enum punch_prog { PP_TOOL, PP_CONSUME };

struct punch_arg {
	enum punch_prog prog;
	bool lib;
	bool steal;	/* STABLESPLICE_POLICY=auto */
};

#define TOOL_MIB	96
#define CONSUME_MIB	64
#define PRESSURE_MAX	(32 * SP_MIB)

struct producer {
	pthread_t th;
	int fd;
	size_t size;
	int err;
};

static void *producer_fn(void *arg)
{
	struct producer *p = arg;
	unsigned char *buf = sp_malloc(SP_MIB);
	size_t done;

	for (done = 0; done < p->size; done += SP_MIB) {
		sp_fill(buf, SP_MIB, done, SEED);
		if (sp_write_full(p->fd, buf, SP_MIB) != (ssize_t)SP_MIB) {
			p->err = errno;
			break;
		}
	}
	close(p->fd);
	free(buf);
	return NULL;
}

/* A memory cgroup with memory.max; "" when there is none (why in @why). */
static void make_cgroup(char *dir, size_t len, char *why, size_t wlen)
{
	char path[PATH_MAX], val[32];

	*dir = '\0';
	if (access(CGROUP_ROOT "/cgroup.controllers", R_OK)) {
		snprintf(why, wlen, "no cgroup2 at " CGROUP_ROOT);
		return;
	}
	sp_write_str(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
	snprintf(dir, len, CGROUP_ROOT "/stablesplice-%d", (int)getpid());
	if (mkdir(dir, 0755) && errno != EEXIST) {
		snprintf(why, wlen, "mkdir %s: %s", dir, strerror(errno));
		*dir = '\0';
		return;
	}
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	snprintf(val, sizeof(val), "%zu", (size_t)PRESSURE_MAX);
	if (sp_write_str(path, val)) {
		snprintf(why, wlen, "%s: %s", path, strerror(errno));
		rmdir(dir);
		*dir = '\0';
	}
}

/* what dirty_limit(true) saved, for dirty_limit(false) */
static struct sp_dirty_limits dirty_saved = { { -1, -1, -1, -1 } };

/* sp_dirty_limits_low() while a small cgroup writes (6.12 OOM-kills it) */
static void dirty_limit(bool low)
{
	if (low)
		sp_dirty_limits_low(&dirty_saved);
	else
		sp_dirty_limits_restore(&dirty_saved);
}

static void cgroup_events(const char *dir)
{
	char path[PATH_MAX], line[128], all[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.events", dir);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = ' ';
		strncat(all, line, sizeof(all) - strlen(all) - 1);
	}
	if (f)
		fclose(f);
	ktap_print_msg("memory.events: %s", all);
}

static int t_punch(const void *arg)
{
	const struct punch_arg *pa = arg;
	size_t size = (pa->prog == PP_TOOL ? TOOL_MIB : CONSUME_MIB) * SP_MIB;
	char cg[PATH_MAX], why[PATH_MAX + 64] = "", file[PATH_MAX], lenarg[32];
	const char *env_lib[] = { lib_env(), "STABLESPLICE_STATS=1",
				  "STABLESPLICE_DISABLE", pa->steal ?
				  "STABLESPLICE_POLICY=auto" : "STABLESPLICE_POLICY",
				  NULL };
	const char *env_plain[] = { "LD_PRELOAD", "STABLESPLICE_DISABLE", NULL };
	const char *argv_tool[] = { "stablesplice_test", "tool", sp_testdir(), NULL };
	const char *argv_consume[] = { "stablesplice_test", "consume", file, lenarg, NULL };
	unsigned char *buf = sp_malloc(SP_MIB), *want = sp_malloc(SP_MIB);
	uint64_t total = 0, wrong = 0, wrong_pages = 0, first = 0, page = UINT64_MAX;
	struct producer prod = { 0 };
	enum sp_fs fs = sp_fs_type();
	int out[2], in[2] = { -1, -1 }, errfd, st, ffd = -1;
	double t0 = sp_now();
	char *err;
	pid_t pid;
	ssize_t n;
	size_t i;
	long calls;

	if (pa->lib && !real_device())
		return ktap_skip("needs the module (the fake device is not stable)");
	if (fs == SP_FS_TMPFS && !pa->lib)
		return ktap_skip("tmpfs: its pages cannot be evicted (no swap), nor are they large here");
	if (fs != SP_FS_TMPFS)
		make_cgroup(cg, sizeof(cg), why, sizeof(why));
	else
		*cg = '\0';
	if (!*cg && fs != SP_FS_TMPFS) {
		if (!pa->lib)
			return ktap_skip("no memory pressure possible: %s", why);
		ktap_print_msg("no memory pressure: %s", why);
	}
	signal(SIGPIPE, SIG_IGN);	/* a tool that dies: an error, not a kill */
	CHECK(pipe2(out, O_CLOEXEC) == 0, "pipe2");
	errfd = memfd_create("stderr", MFD_CLOEXEC);
	CHECK(errfd >= 0, "memfd_create");
	if (pa->prog == PP_CONSUME) {
		ffd = sp_scratch_file(size, SEED, 0, SP_COLD);
		CHECK(ffd >= 0, "scratch file");
	} else {
		CHECK(pipe2(in, O_CLOEXEC) == 0, "pipe2");
	}
	if (*cg)
		dirty_limit(true);
	if (pa->prog == PP_TOOL) {
		pid = spawn(argv_tool, pa->lib ? env_lib : env_plain, in[0], out[1],
			    errfd, *cg ? cg : NULL);
		close(in[0]);
		prod.fd = in[1];
		prod.size = size;
		pthread_create(&prod.th, NULL, producer_fn, &prod);
		/* everything goes into the temporary file before we read */
		pthread_join(prod.th, NULL);
		if (prod.err)
			ktap_print_msg("producer: %s", strerror(prod.err));
		for (i = 0; i < 500; i++) {
			int q = -1;

			if (ioctl(in[1], FIONREAD, &q) < 0 || q == 0)
				break;
			sp_msleep(10);
		}
	} else {
		snprintf(file, sizeof(file), "/proc/%d/fd/%d", (int)getpid(), ffd);
		/* the report used SIZE_MAX; 6.12 and 7.2 reject len > SSIZE_MAX */
		snprintf(lenarg, sizeof(lenarg), "%lu", 1UL << 30);
		pid = spawn(argv_consume, pa->lib ? env_lib : env_plain, -1, out[1],
			    errfd, *cg ? cg : NULL);
	}
	if (pid <= 0 && *cg)
		dirty_limit(false);
	CHECK(pid > 0, "spawn: %s", strerror(errno));
	close(out[1]);
	for (;;) {
		/*
		 * Five pages at a time: the pipe refills by five pages and the
		 * punches end inside large folios (64 KiB reads made them end
		 * on folio boundaries on 6.12: diskbuffer_seed_test.sh).
		 */
		n = read(out[0], buf, 20 * 1024);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sp_fill(want, n, total, SEED);
		if (memcmp(buf, want, n))
			for (i = 0; i < (size_t)n; i++) {
				if (buf[i] == want[i])
					continue;
				if (!wrong)
					first = total + i;
				wrong++;
				if ((total + i) / SP_PAGE != page) {
					page = (total + i) / SP_PAGE;
					wrong_pages++;
				}
			}
		total += n;
	}
	close(out[0]);
	st = wait_status(pid);
	if (*cg)
		dirty_limit(false);
	err = slurp(errfd);
	close(errfd);
	if (ffd >= 0)
		close(ffd);
	print_lines("", err, 4);
	if (*cg) {
		cgroup_events(cg);
		rmdir(cg);
	}
	ktap_print_msg("%s%s%s, %zu MiB on %s%s: %" PRIu64 " bytes out, %" PRIu64
		       " wrong in %" PRIu64 " pages (first at %" PRIu64 "), %.1f s",
		       pa->prog == PP_TOOL ? "seed tool" : "seed reproducer",
		       pa->lib ? " with the library" : " without the library",
		       pa->steal ? " (policy auto)" : "",
		       size / SP_MIB, sp_fs_name(fs),
		       *cg ? ", memory.max 32 MiB" : "", total, wrong, wrong_pages,
		       wrong ? first : 0, sp_now() - t0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the %s exited with status %#x%s",
	      pa->prog == PP_TOOL ? "tool" : "reproducer", st,
	      WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? " (OOM-killed?)" : "");
	CHECK_EQ_U64(total, size, "bytes out");
	if (!pa->lib) {
		const char *rb = strstr(err, "read_bytes=");
		long long reread = -1;

		if (rb)
			sscanf(rb, "read_bytes=%lld", &reread);
		if (!wrong)
			return ktap_skip("the control came out right on %s (%lld MiB read back from disk): the kernel bug did not show",
					 sp_fs_name(fs), reread < 0 ? -1 : reread >> 20);
		ktap_print_msg("the control is corrupted, as expected without the library");
		return KSFT_PASS;
	}
	calls = wrapped_calls(err);
	CHECK(calls > 0, "the library carried %ld calls (STABLESPLICE_STATS)", calls);
	CHECK(wrong == 0, "%" PRIu64 " bytes wrong with the library", wrong);
	free(err);
	free(buf);
	free(want);
	return KSFT_PASS;
}

static const char *const argv_threads[] = { "stablesplice_test", "threads", "16", NULL };
static const char *const argv_fork[] = { "stablesplice_test", "fork", NULL };
static const char *const argv_reuse[] = { "stablesplice_test", "reuse", NULL };
static const char *const argv_closerange[] = { "stablesplice_test", "closerange", NULL };
static const char *const argv_lowfd[] = { "stablesplice_test", "lowfd", NULL };
static const struct punch_arg pa_tool_ctl = { PP_TOOL, false, false };
static const struct punch_arg pa_tool_lib = { PP_TOOL, true, false };
static const struct punch_arg pa_cons_ctl = { PP_CONSUME, false, false };
static const struct punch_arg pa_cons_lib = { PP_CONSUME, true, false };
static const struct punch_arg pa_cons_auto = { PP_CONSUME, true, true };

static const struct ktap_case cases[] = {
	{ "semantics: splice and sendfile, wrapped == real (transcripts)",
	  t_semantics, "semantics", 300 },
	{ "pass-through inputs and outputs are left alone", t_semantics,
	  "passthrough", 60 },
	{ "no device: everything passes through, VERBOSE says so once",
	  t_nodevice, NULL, 300 },
	{ "16 threads splice concurrently, one instance each, closed at exit",
	  t_mode, argv_threads, 120 },
	{ "fork between calls, then exec, posix_spawn: no instance shared or leaked",
	  t_mode, argv_fork, 60 },
	{ "the program closes or replaces the library's fd", t_mode,
	  argv_reuse, 60 },
	{ "the program closes every fd above its own (close_range)", t_mode,
	  argv_closerange, 60 },
	{ "stdin, stdout, stderr closed and RLIMIT_NOFILE 8: never on 0-2",
	  t_mode, argv_lowfd, 60 },
	{ "a signal handler splices the same file meanwhile: in order, carried",
	  t_reenter, NULL, 120 },
	{ "the reader goes away mid-call: no offset moved for undelivered bytes",
	  t_sigpipe, NULL, 60 },
	{ "STABLESPLICE_STATS=1 prints the device's counters", t_stats, NULL, 60 },
	{ "the per-user limit refuses a capacity: that call passes, later ones are carried",
	  t_userlimit, NULL, 60 },
	{ "seed tool under memory pressure, control without the library",
	  t_punch, &pa_tool_ctl, 300 },
	{ "seed tool under memory pressure, with the library: byte-exact",
	  t_punch, &pa_tool_lib, 300 },
	{ "seed reproducer under memory pressure, control without the library",
	  t_punch, &pa_cons_ctl, 300 },
	{ "seed reproducer under memory pressure, with the library: byte-exact",
	  t_punch, &pa_cons_lib, 300 },
	{ "the same with STABLESPLICE_POLICY=auto (pages stolen): byte-exact",
	  t_punch, &pa_cons_auto, 300 },
};

int main(int argc, char *argv[])
{
	const char *e = getenv("STABLESPLICE_TEST_LIB");
	ssize_t n;

	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	fake = getenv("STABLESPLICE_TEST_FAKE") &&
	       !strcmp(getenv("STABLESPLICE_TEST_FAKE"), "1");
	note_inherited();
	if (argc >= 2) {
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
		if (!strcmp(argv[1], "semantics"))
			return mode_semantics();
		if (!strcmp(argv[1], "passthrough"))
			return mode_passthrough();
		if (!strcmp(argv[1], "threads") && argc == 3)
			return mode_threads(atoi(argv[2]));
		if (!strcmp(argv[1], "fork"))
			return mode_fork();
		if (!strcmp(argv[1], "fdscan"))
			return mode_fdscan();
		if (!strcmp(argv[1], "reuse"))
			return mode_reuse();
		if (!strcmp(argv[1], "closerange"))
			return mode_closerange();
		if (!strcmp(argv[1], "lowfd"))
			return mode_lowfd();
		if (!strcmp(argv[1], "reenter"))
			return mode_reenter();
		if (!strcmp(argv[1], "sigpipe"))
			return mode_sigpipe();
		if (!strcmp(argv[1], "userlimit"))
			return mode_userlimit();
		if (!strcmp(argv[1], "tool") && argc == 3)
			return mode_tool(argv[2]);
		if (!strcmp(argv[1], "consume") && argc == 4)
			return mode_consume(argv[2], strtoull(argv[3], NULL, 0));
		fprintf(stderr, "usage: %s [semantics | passthrough | threads N | fork | fdscan | reuse | closerange | lowfd | reenter | sigpipe | userlimit | tool DIR | consume FILE LEN]\n",
			argv[0]);
		return 64;
	}
	ktap_print_header();
	if (e && *e) {
		snprintf(lib_path, sizeof(lib_path), "%s", e);
	} else {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", self_path);
		snprintf(lib_path, sizeof(lib_path), "%s/libstablesplice.so",
			 dirname(dir));
	}
	if (access(lib_path, R_OK))
		ktap_exit_skip_all("%s: %s", lib_path, strerror(errno));
	if (!fake)
		sp_require_device();
	ktap_print_msg("library %s; filesystem %s (%s)%s", lib_path,
		       sp_fs_name(sp_fs_type()), sp_testdir(),
		       fake ? "; FAKE device build: no stability" : "");
	ktap_run_cases(cases, ARRAY_SIZE(cases), 300);
}
