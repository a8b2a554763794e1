// SPDX-License-Identifier: GPL-2.0
/*
 * lifetime_test - instances and the module come and go cleanly.
 *
 *  - open/close storms: threads opening /dev/stablepipe, making NEW_FD
 *    peers, dup()ing, forking, writing, splicing out and closing in random
 *    order; afterwards no instance and no buffered byte is left
 *    (/proc/stablepipe);
 *  - rmmod is refused (EWOULDBLOCK/EBUSY) while a file of the device is
 *    open and while only a NEW_FD peer is; it is allowed while a pipe
 *    still holds buffers spliced out of an instance, which stay readable
 *    (they use the kernel's pipe_buf_operations);
 *  - load/unload cycles (STABLEPIPE_LOAD_CYCLES, default 100) with data
 *    moved through each incarnation, without growth of slab or vmalloc
 *    memory.
 *
 * The rmmod and load cases need the module file /stablepipe.ko (the test
 * VM's); elsewhere they are skipped.  The module is loaded again whatever
 * happens.
 *
 * STABLEPIPE_STORM_SECONDS: length of the storm (default 3, 20 on the
 * debug kernel).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/sendfile.h>
#include "sp_common.h"
#include "reliability.h"

static unsigned int storm_seconds;
static unsigned int load_cycles;

static int new_fd(int fd, int flags)
{
	struct stablepipe_fd req = { .flags = (unsigned int)flags };

	return ioctl(fd, STABLEPIPE_IOC_NEW_FD, &req);
}

/* ---- storm ---- */

struct storm_arg {
	unsigned int id;
	double deadline;
	uint64_t ops;
	int failed;
	char why[160];
};

#define STORM_FAIL(a, ...)						\
	do {								\
		snprintf((a)->why, sizeof((a)->why), __VA_ARGS__);	\
		(a)->failed = 1;					\
		return NULL;						\
	} while (0)

static void *storm_thread(void *p)
{
	struct storm_arg *a = p;
	uint64_t rnd = 0x1234 + a->id;
	unsigned char buf[8192];
	int fds[8], n, i, pfd[2];
	ssize_t r;

	memset(buf, 0x5a, sizeof(buf));
	while (sp_now() < a->deadline) {
		n = 0;
		fds[n] = open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC);
		if (fds[n] < 0)
			STORM_FAIL(a, "open: %s", strerror(errno));
		n++;
		a->ops++;
		while (n < 8 && rl_below(&rnd, 3)) {
			/* NEW_FD mints only modes within the source fd's */
			int src = fds[rl_below(&rnd, n)], want, have;

			have = fcntl(src, F_GETFL) & O_ACCMODE;
			switch (rl_below(&rnd, 4)) {
			case 0:
				want = O_RDONLY;
				fds[n] = new_fd(src, O_RDONLY | O_CLOEXEC);
				break;
			case 1:
				want = O_WRONLY;
				fds[n] = new_fd(src, O_WRONLY | O_NONBLOCK);
				break;
			case 2:
				want = O_RDWR;
				fds[n] = new_fd(src, O_RDWR);
				break;
			default:
				want = have;
				fds[n] = dup(src);
				break;
			}
			if (want != have && have != O_RDWR) {
				if (fds[n] >= 0 || errno != EBADF)
					STORM_FAIL(a, "NEW_FD 0%o from 0%o: %d (%s), want EBADF",
						   want, have, fds[n],
						   strerror(errno));
				a->ops++;
				continue;
			}
			if (fds[n] < 0)
				STORM_FAIL(a, "NEW_FD/dup: %s", strerror(errno));
			n++;
			a->ops++;
		}
		/* Some data, sometimes more than fits, never waiting. */
		if (rl_below(&rnd, 2)) {
			sp_set_nonblock(fds[0], true);
			r = write(fds[0], buf, 1 + rl_below(&rnd, sizeof(buf)));
			if (r < 0 && errno != EAGAIN)
				STORM_FAIL(a, "write: %s", strerror(errno));
			a->ops++;
		}
		/* Splice some of it out into a pipe closed later or now. */
		if (rl_below(&rnd, 3) == 0 && pipe2(pfd, O_CLOEXEC) == 0) {
			r = splice(fds[0], NULL, pfd[1], NULL, 4096,
				   SPLICE_F_NONBLOCK);
			if (r < 0 && errno != EAGAIN)
				STORM_FAIL(a, "splice out: %s", strerror(errno));
			a->ops++;
			close(pfd[1]);
			if (rl_below(&rnd, 2))
				while (read(pfd[0], buf, sizeof(buf)) > 0)
					;
			close(pfd[0]);
			memset(buf, 0x5a, sizeof(buf));
		}
		if (rl_below(&rnd, 16) == 0) {
			pid_t pid = fork();

			if (pid == 0) {
				/* The child closes its copies in its order. */
				for (i = n - 1; i >= 0; i--)
					close(fds[i]);
				_exit(0);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
		/* Close in a random order. */
		while (n) {
			i = rl_below(&rnd, n);
			if (close(fds[i]))
				STORM_FAIL(a, "close: %s", strerror(errno));
			fds[i] = fds[--n];
			a->ops++;
		}
	}
	return NULL;
}

static int wait_instances(long want, long *got)
{
	int i;

	for (i = 0; i < 200; i++) {	/* closes are synchronous; be lenient */
		*got = rl_proc_instances();
		if (*got == want)
			return 0;
		sp_msleep(10);
	}
	return -1;
}

static int t_storm(const void *arg)
{
	unsigned int nthreads = (unsigned int)(uintptr_t)arg, i;
	struct storm_arg *a = calloc(nthreads, sizeof(*a));
	pthread_t *th = calloc(nthreads, sizeof(*th));
	double deadline = sp_now() + storm_seconds;
	uint64_t ops = 0;
	long before, after;
	int failed = 0;

	CHECK(a && th, "out of memory");
	before = rl_proc_instances();
	for (i = 0; i < nthreads; i++) {
		a[i].id = i;
		a[i].deadline = deadline;
		CHECK(pthread_create(&th[i], NULL, storm_thread, &a[i]) == 0,
		      "pthread_create");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		ops += a[i].ops;
		if (a[i].failed) {
			ktap_print_msg("thread %u: %s", i, a[i].why);
			failed = 1;
		}
	}
	RL_ADD(ops, ops);
	ktap_print_msg("%u threads, %u s: %" PRIu64 " operations", nthreads,
		       storm_seconds, ops);
	CHECK(!failed, "a storm thread failed (see above)");
	if (before >= 0)
		CHECK(wait_instances(before, &after) == 0,
		      "instances: %ld before the storm, %ld after it", before,
		      after);
	return KSFT_PASS;
}

/* ---- rmmod refused while in use ---- */

static int need_module_file(void)
{
	if (access(RL_KO, R_OK))
		return ktap_skip("no %s (only in the test VM)", RL_KO);
	if (!rl_module_loaded())
		return ktap_skip("the module is not loaded");
	return KSFT_PASS;
}

/* rmmod must fail; if it did not, load the module again and fail. */
static int expect_busy(const char *what)
{
	int e;

	errno = 0;
	if (rl_unload_module() == 0) {
		ktap_print_msg("rmmod succeeded while %s", what);
		if (rl_load_module())
			ktap_print_msg("and loading it again failed: %s",
				       strerror(errno));
		rl_wait_device(2000);
		return KSFT_FAIL;
	}
	e = errno;
	CHECK(e == EWOULDBLOCK || e == EBUSY,
	      "rmmod while %s: errno %d (%s), expected EWOULDBLOCK or EBUSY",
	      what, e, strerror(e));
	CHECK(rl_module_loaded(), "module gone after a refused rmmod");
	RL_ADD(ops, 1);
	return KSFT_PASS;
}

static int t_rmmod_open(const void *arg)
{
	int fd, ret;

	(void)arg;
	ret = need_module_file();
	if (ret != KSFT_PASS)
		return ret;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	ret = expect_busy("/dev/stablepipe is open");
	close(fd);
	return ret;
}

static int t_rmmod_peer(const void *arg)
{
	int fd, peer, ret;
	char c = 'x';

	(void)arg;
	ret = need_module_file();
	if (ret != KSFT_PASS)
		return ret;
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	CHECK_OK(peer, new_fd(fd, O_RDONLY | O_CLOEXEC));
	CHECK_RET(write(fd, &c, 1), 1);
	close(fd);
	ret = expect_busy("only a NEW_FD peer is open");
	if (ret == KSFT_PASS) {
		CHECK_RET(read(peer, &c, 1), 1);
		CHECK_RET(read(peer, &c, 1), 0);	/* no writer: EOF */
	}
	close(peer);
	return ret;
}

/*
 * Buffers spliced out of an instance into a pipe outlive every file of the
 * device.  They use the kernel's own pipe_buf_operations, so the module
 * may be unloaded while a pipe holds them; the pipe must still deliver
 * the bytes afterwards (with operations inside the module this oopsed).
 */
static int t_rmmod_pipe(const void *arg)
{
	unsigned char buf[3 * 4096], out[3 * 4096];
	int fd, p[2], ret;

	(void)arg;
	ret = need_module_file();
	if (ret != KSFT_PASS)
		return ret;
	sp_fill(buf, sizeof(buf), 0, 7);
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	CHECK_OK(ret, pipe2(p, O_CLOEXEC));
	CHECK_RET(write(fd, buf, sizeof(buf)), sizeof(buf));
	CHECK_RET(splice(fd, NULL, p[1], NULL, sizeof(buf), 0), sizeof(buf));
	close(fd);
	CHECK(rl_unload_module() == 0, "rmmod with only a pipe left: %s",
	      strerror(errno));
	RL_ADD(ops, 1);
	CHECK_RET(sp_read_full(p[0], out, sizeof(out)), sizeof(out));
	close(p[0]);
	close(p[1]);
	CHECK_PAT("pipe read after rmmod", out, sizeof(out), 0, 7);
	CHECK(rl_load_module() == 0, "insmod: %s", strerror(errno));
	CHECK(rl_wait_device(5000), "no %s after insmod", STABLEPIPE_DEV);
	RL_ADD(ops, 1);
	return KSFT_PASS;
}

/* ---- load/unload cycles ---- */

/* A line "Name:   N kB" of /proc/meminfo, in kB (-1 if missing). */
static long long meminfo_kb(const char *name)
{
	char line[256];
	size_t nl = strlen(name);
	long long v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, nl) && line[nl] == ':') {
			v = strtoll(line + nl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void drop_caches(void)
{
	sync();
	rl_write_file("/proc/sys/vm/drop_caches", "3");
}

/* One incarnation: an instance, a few pages through it, both ways. */
static int use_once(unsigned int cycle)
{
	unsigned char buf[16384], got[16384];
	int fd, p[2], r;

	sp_fill(buf, sizeof(buf), cycle * 16384ULL, 3);
	CHECK(rl_wait_device(5000), "no %s after loading", STABLEPIPE_DEV);
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	CHECK_OK(r, pipe2(p, O_CLOEXEC));
	CHECK_RET(write(fd, buf, sizeof(buf)), sizeof(buf));
	CHECK_RET(splice(fd, NULL, p[1], NULL, 8192, 0), 8192);
	CHECK_RET(read(fd, got + 8192, 8192), 8192);
	CHECK_RET(sp_read_full(p[0], got, 8192), 8192);
	close(p[0]);
	close(p[1]);
	close(fd);
	CHECK(sp_cmp_pat("cycle", got, sizeof(got), cycle * 16384ULL, 3) == 0,
	      "cycle %u: data differs", cycle);
	RL_ADD(bytes, sizeof(got));
	RL_ADD(ops, 6);
	return KSFT_PASS;
}

static int t_load_cycles(const void *arg)
{
	long long slab0, vm0, slab1, vm1;
	unsigned int i;
	int ret;

	(void)arg;
	ret = need_module_file();
	if (ret != KSFT_PASS)
		return ret;
	/* One cycle first: what the first unload frees is not a leak. */
	CHECK(rl_unload_module() == 0, "rmmod: %s", strerror(errno));
	CHECK(rl_load_module() == 0, "insmod: %s", strerror(errno));
	ret = use_once(0);
	if (ret != KSFT_PASS)
		return ret;
	drop_caches();
	slab0 = meminfo_kb("Slab");
	vm0 = meminfo_kb("VmallocUsed");
	for (i = 1; i <= load_cycles; i++) {
		if (rl_unload_module()) {
			ktap_print_msg("cycle %u: rmmod: %s", i, strerror(errno));
			return KSFT_FAIL;
		}
		if (rl_module_loaded()) {
			ktap_print_msg("cycle %u: still loaded after rmmod", i);
			return KSFT_FAIL;
		}
		if (rl_load_module()) {
			ktap_print_msg("cycle %u: insmod: %s", i, strerror(errno));
			return KSFT_FAIL;
		}
		ret = use_once(i);
		if (ret != KSFT_PASS)
			return ret;
		RL_ADD(ops, 2);
	}
	drop_caches();
	slab1 = meminfo_kb("Slab");
	vm1 = meminfo_kb("VmallocUsed");
	ktap_print_msg("%u load/unload cycles: Slab %lld -> %lld kB, VmallocUsed %lld -> %lld kB",
		       load_cycles, slab0, slab1, vm0, vm1);
	/* A leak of one page per cycle would show as 400 kB. */
	CHECK(vm1 - vm0 < 256, "vmalloc grew by %lld kB", vm1 - vm0);
	CHECK(slab1 - slab0 < 1024, "slab grew by %lld kB", slab1 - slab0);
	CHECK(rl_proc_instances() == 0, "instances after the cycles: %ld",
	      rl_proc_instances());
	return KSFT_PASS;
}

static struct ktap_case cases[] = {
	{ "open/close storm, 2 threads", t_storm, (void *)2, 0 },
	{ "open/close storm, 8 threads", t_storm, (void *)8, 0 },
	{ "rmmod refused while /dev/stablepipe is open", t_rmmod_open, NULL, 0 },
	{ "rmmod refused while only a NEW_FD peer is open", t_rmmod_peer, NULL, 0 },
	{ "rmmod with a pipe holding spliced-out buffers, which stay readable", t_rmmod_pipe, NULL, 0 },
	{ "load/unload cycles without growth", t_load_cycles, NULL, 0 },
};

int main(void)
{
	unsigned int i;

	ktap_print_header();
	sp_require_device();
	rl_init();
	storm_seconds = rl_setting("STABLEPIPE_STORM_SECONDS", 3, 20);
	load_cycles = rl_setting("STABLEPIPE_LOAD_CYCLES", 100, 100);
	ktap_set_plan(RL_ARRAY_SIZE(cases));
	for (i = 0; i < RL_ARRAY_SIZE(cases); i++) {
		ktap_run_case(&cases[i], 120 + 2 * storm_seconds + load_cycles * 2);
		/* Whatever a case did, leave the module loaded. */
		if (!rl_module_loaded() && access(RL_KO, R_OK) == 0) {
			ktap_print_msg("the module is not loaded: loading %s", RL_KO);
			if (rl_load_module())
				ktap_print_msg("insmod: %s", strerror(errno));
			rl_wait_device(5000);
		}
	}
	rl_print_figures("lifetime_test");
	ktap_finished();
}
