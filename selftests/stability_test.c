// SPDX-License-Identifier: GPL-2.0
/*
 * stability_test - data in /dev/stablepipe does not change when its source
 * changes after the call that put it there returned.
 *
 * The matrix:
 *   ingest:  splice file -> pipe -> device, sendfile file -> device,
 *            write(2) from a MAP_SHARED mapping of the file
 *   change:  pwrite new bytes over the file, stores through a MAP_SHARED
 *            mapping, ftruncate(100) and back to the full size,
 *            fallocate(PUNCH_HOLE | KEEP_SIZE) over every other page,
 *            then over all of it
 *   source:  warm (just written, dirty), clean (fsync'ed, cached),
 *            cold (fsync + POSIX_FADV_DONTNEED: read back from disk)
 *   output:  read(2) the device after the change, or splice the device
 *            into a pipe before the change and read the pipe after it
 *   size:    8 KiB, 64 KiB, 1 MiB (1 MiB crosses large folios on XFS)
 * Every byte read is compared with the original, position-dependent,
 * never-zero pattern; the changed file is checked too (the change must
 * have happened, or the case proves nothing).
 *
 * Controls: the same with a plain pipe (splice file -> pipe, change, read
 * the pipe) must show the change for pwrite, shared-mapping stores and
 * truncation: that is the kernel's behaviour this device exists to fix,
 * and it shows that the test can see it.  Punching holes reaches pages
 * already in a pipe only through large folios (XFS, cold files), so that
 * control only reports what it saw.
 */
#define _GNU_SOURCE
#include <sys/sendfile.h>
#include "sp_common.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum ingest { IN_SPLICE, IN_SENDFILE, IN_WRITE, IN_NR };
enum change { CH_PWRITE, CH_MMAP, CH_TRUNC, CH_PUNCH, CH_NR };
enum output { OUT_READ, OUT_SPLICE_FIRST, OUT_NR };

static const char *const ingest_names[] = { "splice", "sendfile", "write" };
static const char *const change_names[] = { "pwrite", "mmap-store",
					    "truncate", "punch-hole" };
static const char *const output_names[] = { "read-after",
					    "spliced-out-before" };
static const size_t sizes[] = { 8192, 65536, 1048576 };

struct scase {
	enum ingest in;
	enum change ch;
	enum sp_state st;
	enum output out;
	size_t size;
	unsigned int seed;
	bool control;		/* plain pipe instead of the device */
};

#define NR_STABLE	(IN_NR * CH_NR * 3 * OUT_NR * ARRAY_SIZE(sizes))
#define NR_CONTROL	(CH_NR * 3)
#define NR_CASES	(NR_STABLE + NR_CONTROL)

static struct scase params[NR_CASES];
static struct ktap_case cases[NR_CASES];

/* Moves @size bytes of @ffd from offset 0 into @dev; 0 or -1. */
static int ingest(enum ingest in, int ffd, int dev, size_t size)
{
	size_t moved;
	ssize_t n, m;
	void *map;
	int p[2];

	switch (in) {
	case IN_SPLICE: {
		loff_t off = 0;

		if (pipe(p) < 0)
			return -1;
		while ((size_t)off < size) {
			n = splice(ffd, &off, p[1], NULL,
				   size - off < 65536 ? size - off : 65536, 0);
			if (n <= 0) {
				ktap_print_msg("splice file -> pipe at %lld: %zd (%s)",
					       (long long)off, n, strerror(errno));
				return -1;
			}
			for (moved = 0; moved < (size_t)n; moved += m) {
				m = splice(p[0], NULL, dev, NULL, n - moved, 0);
				if (m <= 0) {
					ktap_print_msg("splice pipe -> device: %zd (%s)",
						       m, strerror(errno));
					return -1;
				}
			}
		}
		close(p[0]);
		close(p[1]);
		return 0;
	}
	case IN_SENDFILE: {
		off_t off = 0;

		while ((size_t)off < size) {
			n = sendfile(dev, ffd, &off, size - off);
			if (n <= 0) {
				ktap_print_msg("sendfile at %lld: %zd (%s)",
					       (long long)off, n, strerror(errno));
				return -1;
			}
		}
		return 0;
	}
	case IN_WRITE:
		map = mmap(NULL, size, PROT_READ, MAP_SHARED, ffd, 0);
		if (map == MAP_FAILED) {
			ktap_print_msg("mmap: %s", strerror(errno));
			return -1;
		}
		n = sp_write_full(dev, map, size);
		munmap(map, size);
		if (n != (ssize_t)size) {
			ktap_print_msg("write from the mapping: %zd (%s)", n,
				       strerror(errno));
			return -1;
		}
		return 0;
	default:
		return -1;
	}
}

static int punch(int ffd, size_t off, size_t len)
{
	if (!len)
		return 0;
	if (fallocate(ffd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		ktap_print_msg("fallocate(PUNCH_HOLE, %zu, %zu): %s", off, len,
			       strerror(errno));
	return -1;
}

/* Changes the file; 0, -1, or 1 when the filesystem cannot do it. */
static int change(enum change ch, int ffd, size_t size, unsigned int nseed)
{
	unsigned char *buf;
	size_t off;
	void *map;
	ssize_t n;

	switch (ch) {
	case CH_PWRITE:
		buf = sp_pat_buf(size, 0, nseed);
		n = pwrite(ffd, buf, size, 0);
		free(buf);
		if (n != (ssize_t)size) {
			ktap_print_msg("pwrite: %zd (%s)", n, strerror(errno));
			return -1;
		}
		return 0;
	case CH_MMAP:
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ffd,
			   0);
		if (map == MAP_FAILED) {
			ktap_print_msg("mmap: %s", strerror(errno));
			return -1;
		}
		sp_fill(map, size, 0, nseed);
		munmap(map, size);
		return 0;
	case CH_TRUNC:
		if (ftruncate(ffd, 100) < 0 || ftruncate(ffd, size) < 0) {
			ktap_print_msg("ftruncate: %s", strerror(errno));
			return -1;
		}
		return 0;
	case CH_PUNCH:
		/*
		 * Every other page first: punching part of a large folio
		 * that someone still references zeroes that part in place
		 * (the reproducer's corruption); punching whole folios just
		 * drops them from the cache.  Then all of it.
		 */
		for (off = SP_PAGE; off <= size; off += 2 * SP_PAGE) {
			if (punch(ffd, off, off + SP_PAGE <= size ?
					    SP_PAGE : size - off))
				return errno == EOPNOTSUPP ? 1 : -1;
		}
		if (punch(ffd, 0, size))
			return errno == EOPNOTSUPP ? 1 : -1;
		return 0;
	default:
		return -1;
	}
}

/* What the file holds after @ch. */
static void changed_content(unsigned char *want, enum change ch, size_t size,
			    unsigned int seed, unsigned int nseed)
{
	switch (ch) {
	case CH_PWRITE:
	case CH_MMAP:
		sp_fill(want, size, 0, nseed);
		break;
	case CH_TRUNC:
		sp_fill(want, 100, 0, seed);
		memset(want + 100, 0, size - 100);
		break;
	default:
		memset(want, 0, size);
		break;
	}
}

/* The change really reached the file (else the case proves nothing). */
static int check_file_changed(int ffd, const struct scase *c,
			      unsigned int nseed)
{
	unsigned char *want = sp_malloc(c->size), *got = sp_malloc(c->size);
	ssize_t n = pread(ffd, got, c->size, 0);

	CHECK(n == (ssize_t)c->size, "pread of the changed file: %zd (%s)", n,
	      strerror(errno));
	changed_content(want, c->ch, c->size, c->seed, nseed);
	CHECK(sp_cmp("the file after the change", got, want, c->size, 0) == 0,
	      "the change did not reach the file");
	free(want);
	free(got);
	return KSFT_PASS;
}

/* A pipe that holds @size bytes of page-sized buffers. */
static int roomy_pipe(int p[2], size_t size)
{
	int want = size < 65536 ? 65536 : (int)(2 * size), got;

	if (pipe(p) < 0)
		return -1;
	got = fcntl(p[1], F_SETPIPE_SZ, want);
	if (got < 0)
		got = fcntl(p[1], F_SETPIPE_SZ, (int)size);
	if (got < (int)size) {
		ktap_print_msg("F_SETPIPE_SZ %zu: %s", size, strerror(errno));
		return -1;
	}
	return 0;
}

static int t_stable(const void *arg)
{
	const struct scase *c = arg;
	unsigned int nseed = c->seed + 100;
	struct stablepipe_stats st;
	unsigned char *in = sp_malloc(c->size);
	int ffd, fds[2], q[2], r;
	size_t done;
	ssize_t n;

	ffd = sp_scratch_file(c->size, c->seed, 0, c->st);
	CHECK(ffd >= 0, "scratch file");
	CHECK(stablepipe2(fds, 0) == 0, "stablepipe2: %s", strerror(errno));
	if (sp_get_capacity(fds[1]) < (int64_t)c->size)
		CHECK_RET(sp_set_capacity(fds[1], c->size), 0);
	CHECK(ingest(c->in, ffd, fds[1], c->size) == 0, "ingest (see above)");
	CHECK_RET(sp_fionread(fds[0]), c->size);

	if (c->out == OUT_SPLICE_FIRST) {
		CHECK(roomy_pipe(q, c->size) == 0, "output pipe");
		for (done = 0; done < c->size; done += n) {
			n = splice(fds[0], NULL, q[1], NULL, c->size - done,
				   SPLICE_F_NONBLOCK);
			CHECK(n > 0, "splice device -> pipe after %zu of %zu bytes: %zd (%s)",
			      done, c->size, n, n < 0 ? strerror(errno) : "-");
		}
		CHECK_RET(sp_fionread(fds[0]), 0);
	}

	r = change(c->ch, ffd, c->size, nseed);
	CHECK(r >= 0, "changing the file (see above)");
	if (r > 0)
		return ktap_skip("%s not supported on %s",
				 change_names[c->ch], sp_fs_name(sp_fs_type()));
	CHECK(check_file_changed(ffd, c, nseed) == KSFT_PASS,
	      "the file did not change as intended");

	n = sp_read_full(c->out == OUT_READ ? fds[0] : q[0], in, c->size);
	CHECK(n == (ssize_t)c->size, "read %zd of %zu bytes (%s)", n, c->size,
	      strerror(errno));
	if (sp_cmp_pat(c->out == OUT_READ ? "device after the change" :
		       "pipe spliced from the device before the change",
		       in, c->size, 0, c->seed)) {
		if (sp_get_stats(fds[0], &st) == 0)
			sp_print_stats("instance", &st);
		ktap_print_msg("the data changed after it entered the device");
		return KSFT_FAIL;
	}
	if (c->out == OUT_READ)
		CHECK_RET(sp_fionread(fds[0]), 0);
	return KSFT_PASS;
}

/* Plain pipe: the change must show (see the top of the file). */
static int t_control(const void *arg)
{
	const struct scase *c = arg;
	unsigned int nseed = c->seed + 100;
	unsigned char *in = sp_malloc(c->size);
	unsigned char *want = sp_malloc(c->size);
	size_t i, changed = 0, as_file = 0;
	loff_t off = 0;
	int ffd, p[2], r;
	ssize_t n;

	ffd = sp_scratch_file(c->size, c->seed, 0, c->st);
	CHECK(ffd >= 0, "scratch file");
	CHECK(roomy_pipe(p, c->size) == 0, "pipe");
	while ((size_t)off < c->size) {
		n = splice(ffd, &off, p[1], NULL, c->size - off, 0);
		CHECK(n > 0, "splice file -> pipe at %lld: %zd (%s)",
		      (long long)off, n, n < 0 ? strerror(errno) : "-");
	}
	r = change(c->ch, ffd, c->size, nseed);
	CHECK(r >= 0, "changing the file (see above)");
	if (r > 0)
		return ktap_skip("%s not supported on %s",
				 change_names[c->ch], sp_fs_name(sp_fs_type()));
	CHECK(check_file_changed(ffd, c, nseed) == KSFT_PASS,
	      "the file did not change as intended");
	CHECK_RET(sp_read_full(p[0], in, c->size), c->size);
	changed_content(want, c->ch, c->size, c->seed, nseed);
	for (i = 0; i < c->size; i++) {
		if (in[i] != sp_pat(i, c->seed))
			changed++;
		if (in[i] == want[i] && want[i] != sp_pat(i, c->seed))
			as_file++;
	}
	ktap_print_msg("plain pipe, %s %s: %zu of %zu bytes changed after they were spliced (%zu now equal the changed file)",
		       sp_state_name(c->st), change_names[c->ch], changed,
		       c->size, as_file);
	if (c->ch == CH_PUNCH && !changed)
		return ktap_skip("punching did not reach the pipe here (not asserted)");
	CHECK(changed > 0,
	      "a plain pipe kept the old bytes: this kernel or filesystem copies on splice, so the stable cases prove nothing");
	return KSFT_PASS;
}

static const char *size_name(size_t size)
{
	return size == 8192 ? "8K" : size == 65536 ? "64K" : "1M";
}

int main(void)
{
	unsigned int n = 0, in, ch, st, out, sz;

	for (sz = 0; sz < ARRAY_SIZE(sizes); sz++)
	for (in = 0; in < IN_NR; in++)
	for (ch = 0; ch < CH_NR; ch++)
	for (st = SP_DIRTY; st <= SP_COLD; st++)
	for (out = 0; out < OUT_NR; out++) {
		params[n] = (struct scase){
			.in = in, .ch = ch, .st = st, .out = out,
			.size = sizes[sz], .seed = 1 + n % 150,
		};
		snprintf(cases[n].name, sizeof(cases[n].name),
			 "%s %s %s-source %s %s", ingest_names[in],
			 change_names[ch], sp_state_name(st), output_names[out],
			 size_name(sizes[sz]));
		cases[n].fn = t_stable;
		cases[n].arg = &params[n];
		n++;
	}
	for (ch = 0; ch < CH_NR; ch++)
	for (st = SP_DIRTY; st <= SP_COLD; st++) {
		params[n] = (struct scase){
			.ch = ch, .st = st, .size = 65536,
			.seed = 1 + n % 150, .control = true,
		};
		snprintf(cases[n].name, sizeof(cases[n].name),
			 "control: plain pipe %s %s-source 64K",
			 change_names[ch], sp_state_name(st));
		cases[n].fn = t_control;
		cases[n].arg = &params[n];
		n++;
	}

	ktap_print_header();
	sp_require_device();
	ktap_print_msg("filesystem: %s (%s)", sp_fs_name(sp_fs_type()),
		       sp_testdir());
	ktap_run_cases(cases, n, 60);
}
