// SPDX-License-Identifier: GPL-2.0
/*
 * limits_test - an unprivileged user stays within the capacity limit and
 * its memory cgroup, and never sees another instance's data.
 *
 *  - as nobody: SET_CAPACITY above max_capacity is EPERM, up to it works,
 *    above 1 GiB is EINVAL; a full instance takes no more (EAGAIN); root
 *    without CAP_SYS_RESOURCE is held to the same limit;
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
 *    root's instance through /proc/PID/fd or read its fdinfo.
 *
 * Needs root (to become nobody) and, for the cgroup case, cgroup2 with
 * the memory controller at /sys/fs/cgroup.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/prctl.h>
#include "sp_common.h"
#include "reliability.h"

#define CGROOT	"/sys/fs/cgroup"

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
		CHECK_OK(r, sp_set_capacity(fd, max + SP_PAGE));	/* allowed */
		CHECK_OK(r, sp_drop_cap(CAP_SYS_RESOURCE));
		CHECK_ERR(sp_set_capacity(fd, max + 2 * SP_PAGE), EPERM);
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
	RL_ADD(ops, 12 + total / SP_MIB);
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

static int cg_setup(char *cg, size_t len, const char *name)
{
	char buf[256];

	if (access(CGROOT "/cgroup.subtree_control", W_OK))
		return -1;
	rl_write_file(CGROOT "/cgroup.subtree_control", "+memory");
	snprintf(cg, len, CGROOT "/%s", name);
	rmdir(cg);
	if (mkdir(cg, 0755) && errno != EEXIST)
		return -1;
	snprintf(buf, sizeof(buf), "%s/memory.max", cg);
	return access(buf, W_OK);
}

static int cg_enter(const char *cg)
{
	char path[256], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return rl_write_file(path, pid);
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
	if (cg_enter(cg) || become_nobody())
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
static int t_memcg(const void *arg)
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
	if (cg_setup(cg, sizeof(cg), via_pipe ? "stablepipe-limits-pipe" :
				     over ? "stablepipe-limits-over" :
					    "stablepipe-limits-charge"))
		return ktap_skip("no cgroup2 memory controller at " CGROOT);
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

static struct ktap_case cases[] = {
	{ "nobody: max_capacity, 1 GiB, full instance", t_capacity, NULL, 0 },
	{ "memory cgroup: buffered data is charged to the writer", t_memcg, NULL, 0 },
	{ "memory cgroup: memory.max holds (ENOMEM or OOM kill inside)", t_memcg, (void *)1, 0 },
	{ "memory cgroup: memory.max holds for pipe pages spliced in", t_memcg, (void *)2, 0 },
	{ "nobody never sees another instance's data", t_isolation, NULL, 0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	rl_init();
	rl_run_cases("limits_test", cases, RL_ARRAY_SIZE(cases), 300);
}
