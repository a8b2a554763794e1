// SPDX-License-Identifier: GPL-2.0
/*
 * punch_test - the original reproducer (Matt Whitlock, linux-fsdevel,
 * 2023-06-27, "Corruption, possible race between splice and
 * FALLOC_FL_PUNCH_HOLE") through /dev/stablepipe.
 *
 * A file of 32 MiB of 0xFF is made cold (fsync + POSIX_FADV_DONTNEED);
 * a loop moves a chunk of it into the device and at once punches a hole
 * (PUNCH_HOLE | KEEP_SIZE) over everything moved so far, while a reader
 * thread drains the device and counts the bytes that are not 0xFF.
 * Expected: exactly 32 MiB, all 0xFF.  Run once with sendfile(2) (64 KiB
 * a call) and once with splice(2) file -> pipe -> device.
 *
 * The control runs the reproducer itself, with a plain pipe: on XFS the
 * kernels measured (6.1, 6.12, 7.2) corrupt it (pages in the pipe zeroed
 * by the punch).  It passes when it sees corruption and is skipped when
 * it does not (ext4 usually does not; then the device runs on this
 * filesystem prove less).
 *
 * A third device run repeats the splice one in a memory cgroup under
 * pressure (see t_punch_pressure()).
 *
 * STABLEPIPE_PUNCH_MIB sets the size of the device runs (default 32) and
 * of the control (default 16).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/sendfile.h>
#include "sp_common.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum how { VIA_SENDFILE, VIA_SPLICE, VIA_PLAIN_PIPE };

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define PRESSURE_MAX	(32 * SP_MIB)	/* memory.max of the cgroup */
#define PRESSURE_HOG	(24 * SP_MIB)	/* anonymous memory held (no swap) */

struct counter {
	pthread_t th;
	int fd;
	uint64_t total;
	uint64_t wrong;
	uint64_t wrong_pages;
	uint64_t first_wrong;
	int err;
};

static void *counter_fn(void *p)
{
	struct counter *c = p;
	size_t bufsz = 65536, i;
	unsigned char *buf = malloc(bufsz);
	uint64_t page = UINT64_MAX;
	ssize_t n;

	if (!buf) {
		c->err = ENOMEM;
		return NULL;
	}
	for (;;) {
		n = read(c->fd, buf, bufsz);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			c->err = errno;
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < (size_t)n; i++) {
			uint64_t off = c->total + i;

			if (buf[i] == 0xFF)
				continue;
			if (!c->wrong)
				c->first_wrong = off;
			c->wrong++;
			if (off / SP_PAGE != page) {
				page = off / SP_PAGE;
				c->wrong_pages++;
			}
		}
		c->total += n;
	}
	free(buf);
	return NULL;
}

static size_t run_size(enum how how)
{
	const char *e = getenv("STABLEPIPE_PUNCH_MIB");
	unsigned long mib = how == VIA_PLAIN_PIPE ? 16 : 32;

	if (e && *e && strtoul(e, NULL, 10) > 0)
		mib = strtoul(e, NULL, 10);
	return mib * SP_MIB;
}

static int punch(int ffd, uint64_t upto)
{
	if (fallocate(ffd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      upto) == 0)
		return 0;
	return errno == EOPNOTSUPP ? 1 : -1;
}

static int t_punch(const void *arg)
{
	enum how how = (enum how)(uintptr_t)arg;
	size_t size = run_size(how), chunk, moved;
	unsigned char probe[65536];
	struct stablepipe_stats st;
	uint64_t consumed = 0;
	int ffd, fds[2], p[2], r, calls = 0;
	struct counter c;
	ssize_t n, m;
	double t0 = sp_now();
	size_t i;

	ffd = sp_scratch_file(size, 0, 0xFF, SP_COLD);
	CHECK(ffd >= 0, "scratch file");
	if (how == VIA_PLAIN_PIPE) {
		CHECK_RET(pipe(fds), 0);
	} else {
		CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s",
		      strerror(errno));
		if (how == VIA_SPLICE)
			CHECK_RET(pipe(p), 0);
	}
	memset(&c, 0, sizeof(c));
	c.fd = fds[0];
	CHECK(pthread_create(&c.th, NULL, counter_fn, &c) == 0,
	      "pthread_create");

	while (consumed < size) {
		switch (how) {
		case VIA_SENDFILE:
			/*
			 * From the file position, one pipe's worth (64 KiB) at
			 * a time, like the reproducer's splice: asked for all
			 * that is left, sendfile would move it all in one call
			 * (the reader drains the device meanwhile) and punch
			 * only once, at the end.
			 */
			chunk = size - consumed < 65536 ? size - consumed : 65536;
			n = sendfile(fds[1], ffd, NULL, chunk);
			CHECK(n > 0, "sendfile at %" PRIu64 ": %zd (%s)",
			      consumed, n, n < 0 ? strerror(errno) : "-");
			break;
		case VIA_SPLICE:
			n = splice(ffd, NULL, p[1], NULL, size - consumed, 0);
			CHECK(n > 0, "splice file -> pipe at %" PRIu64 ": %zd (%s)",
			      consumed, n, n < 0 ? strerror(errno) : "-");
			for (moved = 0; moved < (size_t)n; moved += m) {
				m = splice(p[0], NULL, fds[1], NULL, n - moved, 0);
				CHECK(m > 0, "splice pipe -> device: %zd (%s)", m,
				      m < 0 ? strerror(errno) : "-");
			}
			break;
		default:
			n = splice(ffd, NULL, fds[1], NULL, size - consumed, 0);
			CHECK(n > 0, "splice file -> pipe at %" PRIu64 ": %zd (%s)",
			      consumed, n, n < 0 ? strerror(errno) : "-");
			break;
		}
		consumed += n;
		calls++;
		r = punch(ffd, consumed);
		CHECK(r >= 0, "fallocate(PUNCH_HOLE) up to %" PRIu64 ": %s",
		      consumed, strerror(errno));
		if (r > 0)
			return ktap_skip("PUNCH_HOLE not supported on %s",
					 sp_fs_name(sp_fs_type()));
	}
	if (how != VIA_PLAIN_PIPE && sp_get_stats(fds[1], &st) == 0)
		sp_print_stats("instance", &st);
	CHECK_RET(close(fds[1]), 0);
	pthread_join(c.th, NULL);
	ktap_print_msg("%zu MiB in %d chunks, %.1f s: %" PRIu64 " bytes read, %" PRIu64
		       " not 0xFF in %" PRIu64 " pages (first at offset %" PRIu64 ")",
		       size / SP_MIB, calls, sp_now() - t0, c.total, c.wrong,
		       c.wrong_pages, c.wrong ? c.first_wrong : 0);
	CHECK(c.err == 0, "reader: %s", strerror(c.err));
	CHECK_EQ_U64(c.total, size, "bytes read");

	/* the holes are really there: the file reads as zeros now */
	for (i = 0; i < 2; i++) {
		off_t at = i ? (off_t)(size - sizeof(probe)) : 0;
		size_t z;

		CHECK_RET(pread(ffd, probe, sizeof(probe), at), sizeof(probe));
		for (z = 0; z < sizeof(probe) && !probe[z]; z++)
			;
		CHECK(z == sizeof(probe),
		      "offset %lld of the file is not a hole after the punches",
		      (long long)(at + z));
	}

	if (how == VIA_PLAIN_PIPE) {
		if (!c.wrong)
			return ktap_skip("the kernel bug did not show with a plain pipe on %s",
					 sp_fs_name(sp_fs_type()));
		ktap_print_msg("plain pipe corrupted as expected: the device runs are meaningful here");
		return KSFT_PASS;
	}
	CHECK(c.wrong == 0, "%" PRIu64 " bytes changed inside the device",
	      c.wrong);
	return KSFT_PASS;
}

/*
 * The splice run again, in a memory cgroup (memory.max 32 MiB) where 24
 * MiB of anonymous memory is held (there is no swap): the page cache of
 * the file (created in the cgroup, so its writeback and eviction happen
 * under pressure too) has a few MiB, readahead pages are reclaimed while
 * the run goes on, and the device's pages are charged to a cgroup under
 * pressure.  KERNELS.md: such pressure made a splice-and-punch tool
 * corrupt on XFS where a cold file alone did not.  The dirty limits are
 * lowered meanwhile (sp_dirty_limits_low()): 6.12 OOM-killed the cgroup
 * while it wrote the file, with all its page cache dirty.
 */
static int t_punch_pressure(const void *arg)
{
	char dir[128], path[160], line[128];
	struct sp_dirty_limits dirty;
	int status, result;
	unsigned char *hog;
	pid_t pid;
	FILE *f;

	(void)arg;
	if (sp_fs_type() == SP_FS_TMPFS)
		return ktap_skip("tmpfs pages cannot be reclaimed without swap");
	if (access(CGROUP_ROOT "/cgroup.controllers", R_OK))
		return ktap_skip("no cgroup2 at " CGROUP_ROOT);
	sp_write_str(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
	snprintf(dir, sizeof(dir), CGROUP_ROOT "/stablepipe-punch-%d",
		 (int)getpid());
	if (mkdir(dir, 0755) && errno != EEXIST)
		return ktap_skip("mkdir %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	snprintf(line, sizeof(line), "%lu", PRESSURE_MAX);
	if (sp_write_str(path, line)) {
		rmdir(dir);
		return ktap_skip("no memory controller (%s: %s)", path,
				 strerror(errno));
	}
	if (sp_dirty_limits_low(&dirty))
		ktap_print_msg("vm.dirty_bytes: %s (the cgroup may OOM)",
			       strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		sp_dirty_limits_restore(&dirty);
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(280);
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		snprintf(line, sizeof(line), "%d", (int)getpid());
		if (sp_write_str(path, line)) {
			ktap_print_msg("joining %s: %s", dir, strerror(errno));
			_exit(KSFT_FAIL);
		}
		hog = mmap(NULL, PRESSURE_HOG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (hog == MAP_FAILED) {
			ktap_print_msg("mmap: %s", strerror(errno));
			_exit(KSFT_FAIL);
		}
		memset(hog, 0x5a, PRESSURE_HOG);
		result = t_punch((const void *)(uintptr_t)VIA_SPLICE);
		fflush(stdout);
		_exit(result);
	}
	result = waitpid(pid, &status, 0);
	sp_dirty_limits_restore(&dirty);
	CHECK(result == pid, "waitpid: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/memory.events", dir);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		ktap_print_msg("memory.events: %s", line);
	}
	if (f)
		fclose(f);
	rmdir(dir);
	CHECK(WIFEXITED(status), "the run died of signal %d%s",
	      WTERMSIG(status),
	      WTERMSIG(status) == SIGKILL ? " (OOM-killed?)" : "");
	return WEXITSTATUS(status);
}

static const struct ktap_case cases[] = {
	{ "punch behind a cold 0xFF file sent with sendfile", t_punch,
	  (const void *)(uintptr_t)VIA_SENDFILE, 300 },
	{ "punch behind a cold 0xFF file spliced file -> pipe -> device",
	  t_punch, (const void *)(uintptr_t)VIA_SPLICE, 300 },
	{ "punch behind, spliced into the device under memory pressure",
	  t_punch_pressure, NULL, 300 },
	{ "control: the reproducer with a plain pipe", t_punch,
	  (const void *)(uintptr_t)VIA_PLAIN_PIPE, 300 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	ktap_print_msg("filesystem: %s (%s)", sp_fs_name(sp_fs_type()),
		       sp_testdir());
	ktap_run_cases(cases, ARRAY_SIZE(cases), 300);
}
