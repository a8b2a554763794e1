// SPDX-License-Identifier: GPL-2.0
/*
 * memcg_test - the device steals only page-cache folios charged to the
 * caller's own memory cgroup.
 *
 * A stolen folio keeps its memory cgroup charge until it is freed.  If a
 * process could steal folios that another cgroup read in (another
 * container's cache, or root's), it could pin memory that the other
 * cgroup pays for and cannot reclaim.  So:
 *  - a file read in by a process in cgroup A, spliced into an instance by
 *    a process in cgroup B: nothing is stolen, every page is copied
 *    (copied_not_stealable), and the copy is charged to B;
 *  - a file that a process in A reads in by splicing it: pages are
 *    stolen.  (Not the first file: A's read and B's splice have made its
 *    folios hot, and policy auto copies hot folios as copied_hot.)
 *
 * Needs root and cgroup2 with the memory controller at /sys/fs/cgroup.
 * Skips on tmpfs, whose folios are never stolen.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "ktap.h"
#include "sp_common.h"
#include "stablepipe2.h"

#define FILE_SIZE	((loff_t)(256 * SP_KIB))

/*
 * In a child that joins @cg: read the whole file (its folios are charged
 * to @cg if they were not cached), or splice it through a 1 MiB pipe into
 * a new instance and report the instance's counters in @st (shared).
 */
static int in_cgroup(const char *cg, int file, bool send,
		     struct stablepipe_stats *st)
{
	int status, fds[2], p[2];
	static char buf[FILE_SIZE];
	loff_t off = 0;
	pid_t pid;
	ssize_t n;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (sp_cg_enter(cg))
			_exit(2);
		if (!send)
			_exit(pread(file, buf, FILE_SIZE, 0) == FILE_SIZE ? 0 : 3);
		if (stablepipe2(fds, 0) || pipe(p) ||
		    fcntl(p[1], F_SETPIPE_SZ, (int)SP_MIB) < 0)
			_exit(4);
		while (off < FILE_SIZE) {
			n = splice(file, &off, p[1], NULL, FILE_SIZE - off, 0);
			if (n <= 0)
				_exit(5);
			if (splice(p[0], NULL, fds[1], NULL, n, 0) != n)
				_exit(6);
		}
		if (sp_get_stats(fds[0], st))
			_exit(7);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ktap_print_msg("the child in %s failed (status %#x)", cg, status);
		return -1;
	}
	return 0;
}

static int t_memcg(const void *arg)
{
	char a[256], b[256];
	struct stablepipe_stats *st;
	int file, own = -1, ret = KSFT_FAIL;

	(void)arg;
	if (sp_fs_type() == SP_FS_TMPFS)
		return ktap_skip("tmpfs folios are never stolen");
	if (sp_cg_setup(a, sizeof(a), "sp-memcg-a") ||
	    sp_cg_setup(b, sizeof(b), "sp-memcg-b"))
		return ktap_skip("no cgroup2 memory controller at " SP_CGROOT);
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(st != MAP_FAILED, "mmap");
	file = sp_scratch_file(FILE_SIZE, 7, 0, SP_COLD);
	CHECK(file >= 0, "scratch file");

	/* A reads the file in: its folios are charged to A. */
	if (in_cgroup(a, file, false, st))
		goto out;
	/* B splices it in: nothing is stolen, all copied. */
	if (in_cgroup(b, file, true, st))
		goto out;
	sp_print_stats("from cgroup B", st);
	if (st->pages_stolen || !st->copied_not_stealable) {
		ktap_print_msg("B stole %llu pages charged to A (copied_not_stealable %llu)",
			       (unsigned long long)st->pages_stolen,
			       (unsigned long long)st->copied_not_stealable);
		goto out;
	}
	/* A splices a cold file in: its own folios are stolen. */
	own = sp_scratch_file(FILE_SIZE, 8, 0, SP_COLD);
	if (own < 0 || in_cgroup(a, own, true, st))
		goto out;
	sp_print_stats("from cgroup A", st);
	if (!st->pages_stolen) {
		ktap_print_msg("A stole nothing of its own cache");
		goto out;
	}
	ret = KSFT_PASS;
out:
	if (own >= 0)
		close(own);
	close(file);
	munmap(st, sizeof(*st));
	rmdir(a);
	rmdir(b);
	return ret;
}

static const struct ktap_case cases[] = {
	{ "only folios charged to the caller's memory cgroup are stolen",
	  t_memcg, NULL, 0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	ktap_run_cases(cases, sizeof(cases) / sizeof(cases[0]), 60);
}
