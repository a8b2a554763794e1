// SPDX-License-Identifier: GPL-2.0
/*
 * limits_test - an unprivileged user stays within the capacity limit and
 * its memory cgroup, and never sees another instance's data.
 *
 *  - as nobody: SET_CAPACITY above max_capacity is EPERM, up to it works,
 *    above 1 GiB is EINVAL; a full instance takes no more (EAGAIN); root
 *    without CAP_SYS_RESOURCE is held to the same limit, but may lower a
 *    capacity that is above it;
 *  - memory cgroup: buffered data is charged to the writer's cgroup
 *    (memory.current grows with it); a user in a cgroup with memory.max
 *    filling instances far beyond it gets ENOMEM or is OOM-killed inside
 *    its cgroup - memory.current never passes memory.max, nobody outside
 *    the cgroup is killed, and the instance data is freed with the
 *    process.  The same when the instances are filled by splice(2) from
 *    a pipe that write(2) filled: its anonymous pages are copied, not
 *    stolen (stealing one uncharges it from the cgroup);  The memory cgroup OOM killer prints a stack dump: while
 *    that can happen the console log level is lowered and the kernel log
 *    is checked here instead (any report other than the OOM kill fails);
 *  - isolation: nobody's new instances are empty (EAGAIN, FIONREAD 0,
 *    bytes_buffered 0) while root's hold data, and nobody cannot reach
 *    root's instance through /proc/PID/fd or read its fdinfo;
 *  - per-user limits (user_pages_soft, user_pages_hard, set low here and
 *    restored): nobody filling 400 instances holds at most the soft limit
 *    plus three pages per instance (new instances get two pages of
 *    capacity over it), cannot raise a capacity over it (EPERM), and its
 *    charge leaves with its instances; root is exempt, root without
 *    CAP_SYS_RESOURCE and CAP_SYS_ADMIN is not; past the hard limit an
 *    open fails with ENFILE and raising a capacity with EPERM.  The
 *    memory cgroup cases run with user_pages_soft off.
 *
 * Needs root (to become nobody) and, for the cgroup case, cgroup2 with
 * the memory controller at /sys/fs/cgroup.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/prctl.h>
#include "sp_common.h"
#include "reliability.h"


/* nobody and nogroup (65534 on Debian; the VM has no /etc/passwd) */
static const uid_t nobody_uid = 65534;
static const gid_t nobody_gid = 65534;

static int become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(nobody_gid) || setuid(nobody_uid))
		return -1;
	return 0;
}

static int t_capacity(const void *arg)
{
	uint64_t max = sp_module_param("max_capacity", 16 * SP_MIB);
	unsigned char *buf = sp_malloc(SP_MIB);
	ssize_t n;
	uint64_t total = 0;
	int fd, r;

	(void)arg;
	if (getuid())
		return ktap_skip("not root");
	memset(buf, 'n', SP_MIB);
	/* root without CAP_SYS_RESOURCE first */
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	if (sp_have_cap(CAP_SYS_RESOURCE)) {
		CHECK_OK(r, sp_set_capacity(fd, max + 4 * SP_PAGE));	/* allowed */
		CHECK_OK(r, sp_drop_cap(CAP_SYS_RESOURCE));
		CHECK_ERR(sp_set_capacity(fd, max + 5 * SP_PAGE), EPERM);
		/* lowering is allowed, even above max_capacity (pipe_set_size()) */
		CHECK_OK(r, sp_set_capacity(fd, max + 2 * SP_PAGE));
		CHECK_RET(sp_get_capacity(fd), max + 2 * SP_PAGE);
		CHECK_ERR(sp_set_capacity(fd, max + 3 * SP_PAGE), EPERM);
		CHECK_RET(sp_get_capacity(fd), max + 2 * SP_PAGE);
	}
	close(fd);
	CHECK(become_nobody() == 0, "setuid(nobody): %s", strerror(errno));
	CHECK(!sp_have_cap(CAP_SYS_RESOURCE), "nobody has CAP_SYS_RESOURCE");
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC));
	CHECK_ERR(sp_set_capacity(fd, max + 1), EPERM);
	CHECK_ERR(sp_set_capacity(fd, max + SP_PAGE), EPERM);
	CHECK_ERR(sp_set_capacity(fd, 1ULL << 30), EPERM);
	CHECK_ERR(sp_set_capacity(fd, (1ULL << 30) + 1), EINVAL);
	CHECK_ERR(sp_set_capacity(fd, UINT64_MAX), EINVAL);
	CHECK_OK(r, sp_set_capacity(fd, max));
	CHECK_RET(sp_get_capacity(fd), max);
	/* fill it: exactly max bytes, then EAGAIN */
	for (;;) {
		n = write(fd, buf, SP_MIB);
		if (n < 0)
			break;
		total += n;
	}
	CHECK(errno == EAGAIN, "filling: %s", strerror(errno));
	CHECK_EQ_U64(total, max, "bytes taken by a full instance");
	CHECK_ERR(write(fd, buf, 1), EAGAIN);
	RL_ADD(ops, 16 + total / SP_MIB);
	close(fd);
	free(buf);
	return KSFT_PASS;
}

/* ---- memory cgroup ---- */

static long long cg_read(const char *cg, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	return rl_read_ll(path, -1);
}

/* "KEY N" of a flat-keyed cgroup file. */
static long long cg_key(const char *cg, const char *file, const char *key)
{
	char path[256], line[128];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			v = strtoll(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/*
 * One step of the filler through a pipe: write(2) 64 KiB into the pipe
 * (its pages are anonymous pipe pages, charged to the cgroup), then
 * splice the pipe into the instance.  Returns what splice(2) returns.
 */
static ssize_t fill_via_pipe(int fd, int p[2], const unsigned char *buf)
{
	int queued = 0;
	ssize_t n;

	if (ioctl(p[0], FIONREAD, &queued) || queued < 65536) {
		n = write(p[1], buf, 65536 - queued);
		if (n < 0 && errno != EAGAIN)
			return -1;
	}
	return splice(p[0], NULL, fd, NULL, 65536, SPLICE_F_NONBLOCK);
}

/*
 * Child in @cg as nobody: fill instances of @cap bytes up to @total, by
 * write(2) or (@via_pipe) by splice(2) from a pipe filled by write(2).
 */
static void filler(const char *cg, uint64_t cap, uint64_t total, int report,
		   bool via_pipe)
{
	unsigned char *buf = sp_malloc(SP_MIB);
	uint64_t done = 0;
	int fd, code = 0, p[2];
	ssize_t n = 0;

	memset(buf, 'f', SP_MIB);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (sp_cg_enter(cg) || become_nobody())
		_exit(10);
	if (via_pipe && pipe2(p, O_NONBLOCK))
		_exit(15);
	while (done < total) {
		fd = open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK);
		if (fd < 0) {
			code = errno == ENOMEM ? 3 : 11;
			break;
		}
		if (sp_set_capacity(fd, cap)) {
			code = 12;
			break;
		}
		while (done < total) {
			n = via_pipe ? fill_via_pipe(fd, p, buf) :
				       write(fd, buf, SP_MIB);
			if (n < 0)
				break;
			done += n;
			if (write(report, &done, sizeof(done)) != sizeof(done))
				_exit(13);
		}
		if (n < 0 && errno == ENOMEM) {
			code = 3;	/* the limit, as ENOMEM */
			break;
		}
		if (n < 0 && errno != EAGAIN) {
			code = 14;
			break;
		}
		/* EAGAIN: full, keep it open and take another */
	}
	if (write(report, &done, sizeof(done)) != sizeof(done))
		_exit(13);
	/* Hold everything until the parent has looked. */
	pause();
	_exit(code);
}

/* arg: 0 charge, 1 over by write(2), 2 over by splice(2) from a pipe */
static int memcg_case(const void *arg)
{
	const bool over = arg != NULL, via_pipe = (uintptr_t)arg == 2;
	const uint64_t limit = 48 * SP_MIB, cap = 16 * SP_MIB;
	uint64_t total = over ? 8 * limit : 24 * SP_MIB, done = 0, last = 0;
	long long base, cur, peak = 0, max, ooms, kills;
	unsigned int kmsg_ooms = 0;
	char cg[128], buf[64];
	int rp[2], status, kmsg = -1, level = -1, reports;
	pid_t pid, bystander;
	double deadline;
	ssize_t n;

	if (getuid())
		return ktap_skip("not root");
	if (sp_cg_setup(cg, sizeof(cg), via_pipe ? "stablepipe-limits-pipe" :
				     over ? "stablepipe-limits-over" :
					    "stablepipe-limits-charge"))
		return ktap_skip("no cgroup2 memory controller at " SP_CGROOT);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)limit);
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/memory.max", cg);
		CHECK(rl_write_file(path, buf) == 0, "memory.max: %s", strerror(errno));
		snprintf(path, sizeof(path), "%s/memory.swap.max", cg);
		rl_write_file(path, "0");
	}
	/* someone outside the cgroup, who must survive */
	bystander = fork();
	CHECK(bystander >= 0, "fork: %s", strerror(errno));
	if (bystander == 0) {
		unsigned char *m = sp_malloc(16 * SP_MIB);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		memset(m, 1, 16 * SP_MIB);
		pause();
		_exit(0);
	}
	if (over) {
		kmsg = rl_kmsg_open();
		level = rl_console_level(1);	/* the OOM killer's stack dump */
	}
	CHECK_OK(n, pipe2(rp, O_CLOEXEC));
	base = cg_read(cg, "memory.current");
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(rp[0]);
		filler(cg, cap, total, rp[1], via_pipe);
	}
	close(rp[1]);
	deadline = sp_now() + 120;
	/* follow the child's progress until its last report or its death */
	while (sp_now() < deadline) {
		struct pollfd pf = { .fd = rp[0], .events = POLLIN };

		cur = cg_read(cg, "memory.current");
		if (cur > peak)
			peak = cur;
		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = read(rp[0], &done, sizeof(done));
		if (n <= 0)
			break;		/* killed: EOF */
		if (done == last || done >= total)
			break;		/* its final report */
		last = done;
	}
	cur = cg_read(cg, "memory.current");
	if (cur > peak)
		peak = cur;
	max = cg_read(cg, "memory.max");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (over) {
		/* the OOM kill's messages come with the kill: let them out */
		sp_msleep(500);
		rl_console_level(level);
	}
	ooms = cg_key(cg, "memory.events", "oom");
	kills = cg_key(cg, "memory.events", "oom_kill");
	reports = rl_kmsg_scan(kmsg, "Killed process", true, &kmsg_ooms);
	if (kmsg >= 0)
		close(kmsg);
	ktap_print_msg("memory.max %lld: the child put %" PRIu64 " of %" PRIu64 " bytes in; memory.current %lld before, peak %lld; oom events %lld, oom kills %lld; child %s %d",
		       max, done, total, base, peak, ooms, kills,
		       WIFSIGNALED(status) ? "killed by signal" : "exit code",
		       WIFSIGNALED(status) ? WTERMSIG(status) :
		       WEXITSTATUS(status));
	/* the bystander outside the cgroup lives */
	CHECK(kill(bystander, 0) == 0, "the process outside the cgroup is gone");
	kill(bystander, SIGKILL);
	waitpid(bystander, NULL, 0);
	CHECK(reports == 0, "%d kernel reports besides the OOM kill (see above)", reports);
	CHECK(peak <= max + 2 * (long long)SP_MIB,
	      "memory.current %lld went past memory.max %lld", peak, max);
	RL_ADD(ops, done / SP_MIB);
	if (!over) {
		/* everything fit: it is charged */
		CHECK_EQ_U64(done, total, "bytes the child buffered");
		CHECK(peak - base >= (long long)(total - total / 8),
		      "memory.current grew by %lld for %" PRIu64 " buffered bytes: not charged to the cgroup?",
		      peak - base, total);
	} else {
		CHECK(done < total, "the child buffered %" PRIu64 " bytes in a %lld-byte cgroup",
		      done, max);
		CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 3) ||
		      kills > 0,
		      "the child neither got ENOMEM nor was OOM-killed in its cgroup");
	}
	/* the child's instances are gone with it; the charge with them */
	for (n = 0; n < 100 && cg_read(cg, "memory.current") > base + (long long)SP_MIB; n++)
		sp_msleep(20);
	cur = cg_read(cg, "memory.current");
	CHECK(cur <= base + (long long)SP_MIB,
	      "memory.current %lld after the child exited (%lld before)", cur, base);
	close(rp[0]);
	rmdir(cg);
	return KSFT_PASS;
}

/*
 * The memory cgroup cases test memory.max, not the per-user limit that
 * their 16 MiB instances would soon reach (4097 pages each against the
 * default user_pages_soft of 16384): it is off while they run.
 */
static int t_memcg(const void *arg)
{
	uint64_t soft = sp_module_param("user_pages_soft", 16384);
	int ret;

	if (soft && sp_module_param_set("user_pages_soft", 0))
		ktap_print_msg("cannot turn user_pages_soft off: %s",
			       strerror(errno));
	ret = memcg_case(arg);
	if (soft)
		sp_module_param_set("user_pages_soft", soft);
	return ret;
}

/* ---- isolation ---- */

static int t_isolation(const void *arg)
{
	unsigned char secret[8192], got[8192];
	struct stablepipe_stats st;
	char path[128];
	int fd, p[2], i, r, status;
	pid_t pid;

	(void)arg;
	if (getuid())
		return ktap_skip("not root");
	memset(secret, 'S', sizeof(secret));
	CHECK_OK(fd, open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
	CHECK_RET(write(fd, secret, sizeof(secret)), sizeof(secret));
	CHECK_OK(r, pipe2(p, O_CLOEXEC));
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int mine, other;

		close(fd);	/* what nobody could inherit, it does not */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (become_nobody())
			_exit(20);
		prctl(PR_SET_DUMPABLE, 1);
		for (i = 0; i < 50; i++) {
			mine = open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK);
			if (mine < 0)
				_exit(21);
			if (read(mine, got, sizeof(got)) != -1 || errno != EAGAIN)
				_exit(22);
			if (sp_fionread(mine) != 0)
				_exit(23);
			if (sp_get_stats(mine, &st) || st.bytes_buffered)
				_exit(24);
			/* its own data, and only that, also through a pipe */
			memset(got, 'n', 100);
			if (write(mine, got, 100) != 100 ||
			    splice(mine, NULL, p[1], NULL, 100, 0) != 100 ||
			    read(p[0], got, sizeof(got)) != 100 ||
			    memchr(got, 'S', 100) || got[99] != 'n')
				_exit(25);
			close(mine);
		}
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getppid(), fd);
		other = open(path, O_RDWR);
		if (other >= 0)
			_exit(26);
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)getppid(), fd);
		if (open(path, O_RDONLY) >= 0)
			_exit(27);
		_exit(0);
	}
	close(p[1]);
	close(p[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "nobody: check %d failed (21 open, 22 read, 23 FIONREAD, 24 stats, 25 own data, 26 /proc/PID/fd, 27 fdinfo)",
	      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	/* root's data is intact */
	CHECK_RET(sp_read_full(fd, got, sizeof(got)), sizeof(got));
	CHECK_BYTES("root's instance", got, secret, sizeof(secret));
	RL_ADD(ops, 300);
	close(fd);
	return KSFT_PASS;
}

/* ---- per-user limits (user_pages_soft, user_pages_hard) ---- */

/*
 * Small settings, so that a few hundred instances show the bound and
 * cost little whether or not the module enforces it: a default capacity
 * of 64 KiB (an instance is charged 64 KiB / 4 KiB + 1 = 17 pages) and
 * a limit of 256 pages.
 */
#define UL_CAP		(64 * SP_KIB)
#define UL_LIMIT	256
#define UL_N		400
#define UL_MIN_CAP	(2 * SP_PAGE)	/* a new instance over the soft limit */

/* The pages an instance of capacity @cap is charged and may hold. */
static uint64_t ul_pages(uint64_t cap)
{
	return cap / SP_PAGE + 1;
}

struct ul_report {
	int stage;		/* where the child stopped; 100: done */
	int opened;		/* instances opened */
	int open_errno;		/* errno of the open that failed, or 0 */
	int full;		/* instances with the default capacity */
	int minimal;		/* with UL_MIN_CAP */
	int other;		/* with another capacity */
	int full_after_minimal;	/* default capacity after a minimal one */
	int fdinfo_missing;
	uint64_t bytes;		/* bytes the instances took */
	uint64_t pages;		/* pages they held (fdinfo "pages") */
	int raise_errno;	/* raising the last one by two pages: 0 or errno */
	int lower_ret;		/* then, emptied, lowering it to a page */
};

static struct ul_saved {
	uint64_t soft, hard, cap;
} ul_saved;

static void ul_save(void)
{
	ul_saved.soft = sp_module_param("user_pages_soft", 16384);
	ul_saved.hard = sp_module_param("user_pages_hard", 0);
	ul_saved.cap = sp_module_param("default_capacity", SP_MIB);
}

static void ul_restore(void)
{
	sp_module_param_set("user_pages_soft", ul_saved.soft);
	sp_module_param_set("user_pages_hard", ul_saved.hard);
	sp_module_param_set("default_capacity", ul_saved.cap);
}

/*
 * Child: as nobody (@as_nobody), else as root without CAP_SYS_RESOURCE and
 * CAP_SYS_ADMIN, open up to @n instances and fill each with write(2)
 * until EAGAIN, keeping them all open; then raise the last one's capacity
 * by two pages, empty it and lower its capacity to a page.  Reports in @r
 * (shared memory) and exits.
 */
static void __attribute__((noreturn))
ul_child(struct ul_report *r, bool as_nobody, int n)
{
	unsigned char *buf = sp_malloc(UL_CAP);
	int fd = -1, i;
	uint64_t pages;
	int64_t cap;
	ssize_t k;

	memset(r, 0, sizeof(*r));
	memset(buf, 'u', UL_CAP);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	r->stage = 1;
	if (as_nobody ? become_nobody() :
	    sp_drop_cap(CAP_SYS_RESOURCE) || sp_drop_cap(CAP_SYS_ADMIN))
		_exit(1);
	/* setuid() made it undumpable: /proc/self/fdinfo is root's then */
	prctl(PR_SET_DUMPABLE, 1);
	for (i = 0; i < n; i++) {
		r->stage = 2;
		k = open(STABLEPIPE_DEV, O_RDWR | O_NONBLOCK);
		if (k < 0) {
			r->open_errno = errno;
			break;
		}
		fd = (int)k;
		r->opened++;
		cap = sp_get_capacity(fd);
		if (cap == (int64_t)UL_CAP) {
			r->full++;
			if (r->minimal)
				r->full_after_minimal++;
		} else if (cap == (int64_t)UL_MIN_CAP) {
			r->minimal++;
		} else {
			r->other++;
		}
		r->stage = 3;
		while ((k = write(fd, buf, UL_CAP)) > 0)
			r->bytes += k;
		if (errno != EAGAIN)
			_exit(3);
		if (sp_fdinfo_u64(fd, "pages", &pages))
			r->fdinfo_missing++;
		else
			r->pages += pages;
	}
	r->stage = 4;
	if (fd < 0)
		_exit(4);
	cap = sp_get_capacity(fd);
	r->raise_errno = sp_set_capacity(fd, cap + 2 * SP_PAGE) ? errno : 0;
	while (read(fd, buf, UL_CAP) > 0)
		;
	r->lower_ret = sp_set_capacity(fd, SP_PAGE) ? errno : 0;
	r->stage = 100;
	_exit(0);
}

/* Runs ul_child() and waits for it; 0 when it got to the end. */
static int ul_run(struct ul_report *r, bool as_nobody, int n)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		ul_child(r, as_nobody, n);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) || r->stage != 100) {
		ktap_print_msg("child (%s) stopped at stage %d, %s %d",
			       as_nobody ? "nobody" : "root without caps",
			       r->stage, WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) :
			       WTERMSIG(status));
		return -1;
	}
	ktap_print_msg("%s: %d opened (errno %d), %d of %" PRIu64 " bytes, %d of %" PRIu64 ", %d other; %" PRIu64 " bytes, %" PRIu64 " pages held; raise: %s, lower: %s",
		       as_nobody ? "nobody" : "root without caps", r->opened,
		       r->open_errno, r->full, (uint64_t)UL_CAP, r->minimal,
		       (uint64_t)UL_MIN_CAP, r->other, r->bytes, r->pages,
		       strerror(r->raise_errno), strerror(r->lower_ret));
	return 0;
}

/*
 * arg NULL: user_pages_soft.  Nobody opening and filling 400 instances
 * gets the default capacity while its charge stays within the soft limit,
 * then only two-page instances: it holds at most the soft limit plus
 * three pages per instance, and cannot raise a capacity (EPERM) but can
 * lower one.  Root keeps full instances (CAP_SYS_RESOURCE, CAP_SYS_ADMIN);
 * root without them is held to its own charge.  The charge goes with the
 * instances: nobody's next instance is full again.
 */
static int ul_soft(struct ul_report *r)
{
	const int full = UL_LIMIT / ul_pages(UL_CAP), nroot = 20;
	int rootfd[20], i;

	CHECK_OK(i, sp_module_param_set("user_pages_hard", 0));
	CHECK_OK(i, sp_module_param_set("user_pages_soft", UL_LIMIT));
	CHECK(ul_run(r, true, UL_N) == 0, "nobody's child failed");
	CHECK(r->open_errno == 0, "open %d failed: %s", r->opened + 1,
	      strerror(r->open_errno));
	CHECK(!r->fdinfo_missing, "no pages: line in fdinfo");
	CHECK_EQ_U64(r->opened, UL_N, "instances nobody opened");
	CHECK_EQ_U64(r->full, full, "instances of the default capacity");
	CHECK_EQ_U64(r->full_after_minimal, 0,
		     "instances of the default capacity after a minimal one");
	CHECK_EQ_U64(r->minimal, UL_N - full, "instances of two pages");
	CHECK_EQ_U64(r->bytes, full * UL_CAP + (UL_N - full) * UL_MIN_CAP,
		     "bytes nobody's instances took");
	CHECK(r->pages <= UL_LIMIT + (UL_N - full) * ul_pages(UL_MIN_CAP),
	      "nobody's instances hold %" PRIu64 " pages: soft limit %d + %d x %" PRIu64,
	      r->pages, UL_LIMIT, UL_N - full, ul_pages(UL_MIN_CAP));
	CHECK(r->raise_errno == EPERM, "raising a capacity over the soft limit: %s",
	      strerror(r->raise_errno));
	CHECK(r->lower_ret == 0, "lowering a capacity over the soft limit: %s",
	      strerror(r->lower_ret));

	/* the charge left with the instances */
	CHECK(ul_run(r, true, 1) == 0, "nobody's second child failed");
	CHECK_EQ_U64(r->full, 1, "nobody's next instance has the default capacity");

	/* root is exempt, root without the capabilities is not */
	if (!sp_have_cap(CAP_SYS_RESOURCE) || !sp_have_cap(CAP_SYS_ADMIN)) {
		ktap_print_msg("root lacks CAP_SYS_RESOURCE or CAP_SYS_ADMIN: exemption not checked");
		return KSFT_PASS;
	}
	for (i = 0; i < nroot; i++) {
		CHECK_OK(rootfd[i], open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC));
		CHECK_RET(sp_get_capacity(rootfd[i]), (int64_t)UL_CAP);
	}
	CHECK_OK(i, sp_set_capacity(rootfd[0], 2 * UL_CAP));
	CHECK(ul_run(r, false, 2) == 0, "root's child failed");
	CHECK_EQ_U64(r->minimal, 2, "root without the capabilities: two-page instances");
	CHECK(r->raise_errno == EPERM, "root without the capabilities raising: %s",
	      strerror(r->raise_errno));
	for (i = 0; i < nroot; i++)
		close(rootfd[i]);
	RL_ADD(ops, 3 * UL_N);
	return KSFT_PASS;
}

/*
 * arg non-NULL: user_pages_hard (no soft limit).  Nobody opens instances
 * until its charge would pass the hard limit: that open fails with
 * ENFILE, as pipe(2) does; raising a capacity past it is EPERM.
 */
static int ul_hard(struct ul_report *r)
{
	const int full = UL_LIMIT / ul_pages(UL_CAP);
	int i;

	CHECK_OK(i, sp_module_param_set("user_pages_soft", 0));
	CHECK_OK(i, sp_module_param_set("user_pages_hard", UL_LIMIT));
	CHECK(ul_run(r, true, UL_N) == 0, "nobody's child failed");
	CHECK_EQ_U64(r->opened, full, "instances opened under the hard limit");
	CHECK(r->open_errno == ENFILE, "the open past the hard limit: %s",
	      strerror(r->open_errno));
	CHECK_EQ_U64(r->full, full, "instances of the default capacity");
	CHECK(r->pages <= UL_LIMIT, "%" PRIu64 " pages held, hard limit %d",
	      r->pages, UL_LIMIT);
	CHECK(r->raise_errno == EPERM, "raising a capacity past the hard limit: %s",
	      strerror(r->raise_errno));
	CHECK(r->lower_ret == 0, "lowering a capacity: %s",
	      strerror(r->lower_ret));
	RL_ADD(ops, 3 * full);
	return KSFT_PASS;
}

static int t_user_pages(const void *arg)
{
	struct ul_report *r;
	int ret;

	if (getuid())
		return ktap_skip("not root");
	CHECK(access("/sys/module/stablepipe/parameters/user_pages_soft", W_OK) == 0 &&
	      access("/sys/module/stablepipe/parameters/user_pages_hard", W_OK) == 0,
	      "no user_pages_soft and user_pages_hard parameters to set");
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED, "mmap: %s", strerror(errno));
	ul_save();
	if (sp_module_param_set("default_capacity", UL_CAP)) {
		ret = KSFT_FAIL;
		ktap_print_msg("setting default_capacity: %s", strerror(errno));
	} else {
		ret = arg ? ul_hard(r) : ul_soft(r);
	}
	ul_restore();
	munmap(r, sizeof(*r));
	return ret;
}

static struct ktap_case cases[] = {
	{ "nobody: max_capacity, 1 GiB, full instance", t_capacity, NULL, 0 },
	{ "memory cgroup: buffered data is charged to the writer", t_memcg, NULL, 0 },
	{ "memory cgroup: memory.max holds (ENOMEM or OOM kill inside)", t_memcg, (void *)1, 0 },
	{ "memory cgroup: memory.max holds for pipe pages spliced in", t_memcg, (void *)2, 0 },
	{ "nobody never sees another instance's data", t_isolation, NULL, 0 },
	{ "nobody: user_pages_soft bounds hundreds of instances", t_user_pages, NULL, 0 },
	{ "nobody: user_pages_hard fails the open (ENFILE) and raising (EPERM)", t_user_pages, (void *)1, 0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	rl_init();
	rl_run_cases("limits_test", cases, RL_ARRAY_SIZE(cases), 300);
}
