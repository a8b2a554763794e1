/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sp_common.h - helpers shared by the stablepipe selftests: checks that
 * print what went wrong, data patterns and byte comparison, scratch files
 * in $STABLEPIPE_TESTDIR (default: the current directory), counters.
 *
 * Every program defines _GNU_SOURCE before including this.
 */
#ifndef STABLEPIPE_SP_COMMON_H
#define STABLEPIPE_SP_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include <linux/stablepipe.h>
#include "stablepipe2.h"
#include "ktap.h"

#define SP_PAGE		4096UL
#define SP_KIB		1024UL
#define SP_MIB		(1024UL * 1024UL)

/* ---- checks: print file:line, the expression and errno, then fail ---- */

#define CHECK(cond, fmt, ...)						\
	do {								\
		if (!(cond)) {						\
			ktap_print_msg("%s:%d: %s: check failed: %s: " fmt, \
				       __FILE__, __LINE__, __func__, #cond, \
				       ##__VA_ARGS__);			\
			return KSFT_FAIL;				\
		}							\
	} while (0)

/* @call must succeed (return >= 0); its value is left in @var. */
#define CHECK_OK(var, call)						\
	do {								\
		errno = 0;						\
		(var) = (call);						\
		if ((long)(var) < 0) {					\
			ktap_print_msg("%s:%d: %s: %s failed: %s (errno %d)", \
				       __FILE__, __LINE__, __func__, #call, \
				       strerror(errno), errno);		\
			return KSFT_FAIL;				\
		}							\
	} while (0)

/* @call must fail with errno @err. */
#define CHECK_ERR(call, err)						\
	do {								\
		long __r;						\
		int __e;						\
		errno = 0;						\
		__r = (long)(call);					\
		__e = errno;						\
		if (__r != -1 || __e != (err)) {			\
			ktap_print_msg("%s:%d: %s: %s: expected -1 errno %d (%s), got %ld errno %d (%s)", \
				       __FILE__, __LINE__, __func__, #call, \
				       (err), strerror(err), __r, __e,	\
				       strerror(__e));			\
			return KSFT_FAIL;				\
		}							\
	} while (0)

/* @call must return exactly @want. */
#define CHECK_RET(call, want)						\
	do {								\
		long __r;						\
		int __e;						\
		errno = 0;						\
		__r = (long)(call);					\
		__e = errno;						\
		if (__r != (long)(want)) {				\
			ktap_print_msg("%s:%d: %s: %s: expected %ld, got %ld (errno %d: %s)", \
				       __FILE__, __LINE__, __func__, #call, \
				       (long)(want), __r, __e,		\
				       __r < 0 ? strerror(__e) : "-");	\
			return KSFT_FAIL;				\
		}							\
	} while (0)

/* Two unsigned 64-bit values must be equal. */
#define CHECK_EQ_U64(got, want, what)					\
	do {								\
		uint64_t __g = (uint64_t)(got), __w = (uint64_t)(want);	\
		if (__g != __w) {					\
			ktap_print_msg("%s:%d: %s: %s: expected %" PRIu64 ", got %" PRIu64, \
				       __FILE__, __LINE__, __func__, (what), \
				       __w, __g);			\
			return KSFT_FAIL;				\
		}							\
	} while (0)

/* ---- data: position-dependent, never-zero pattern ---- */

/*
 * The byte at stream offset @off for pattern @seed: depends on the offset
 * inside the page and on the page index (a misplaced or repeated page
 * shows), never 0 (a zeroed page shows), and patterns whose seeds differ
 * by 1..254 (mod 255) differ in every byte.
 */
static inline unsigned char sp_pat(uint64_t off, unsigned int seed)
{
	return (unsigned char)(((off % 251) + (off / SP_PAGE) * 7 + seed) %
			       255 + 1);
}

static inline void sp_fill(unsigned char *buf, size_t len, uint64_t off,
			   unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = sp_pat(off + i, seed);
}

/*
 * Compare @len bytes @got with @want at stream offset @base; on a mismatch
 * print the first and last wrong offsets, the first wrong byte (expected,
 * got) and the number of wrong bytes.  Returns the number of wrong bytes.
 */
static inline size_t sp_cmp(const char *what, const unsigned char *got,
			    const unsigned char *want, size_t len,
			    uint64_t base)
{
	size_t i, wrong = 0, first = 0, last = 0, zero = 0;

	if (!memcmp(got, want, len))
		return 0;
	for (i = 0; i < len; i++) {
		if (got[i] == want[i])
			continue;
		if (!wrong)
			first = i;
		last = i;
		wrong++;
		if (!got[i])
			zero++;
	}
	ktap_print_msg("%s: %zu of %zu bytes wrong (%zu of them 0x00); first at offset %" PRIu64
		       " (expected 0x%02x, got 0x%02x), last at offset %" PRIu64,
		       what, wrong, len, zero, base + first, want[first],
		       got[first], base + last);
	return wrong;
}

/* Compare @got with pattern @seed at stream offset @base. */
static inline size_t sp_cmp_pat(const char *what, const unsigned char *got,
				size_t len, uint64_t base, unsigned int seed)
{
	unsigned char *want;
	size_t wrong;

	if (len > (size_t)SSIZE_MAX)
		return len;
	want = malloc(len ? len : 1);
	if (!want) {
		ktap_print_msg("%s: out of memory", what);
		return len ? len : 1;
	}
	sp_fill(want, len, base, seed);
	wrong = sp_cmp(what, got, want, len, base);
	free(want);
	return wrong;
}

#define CHECK_PAT(what, buf, len, base, seed)				\
	CHECK(sp_cmp_pat((what), (buf), (len), (base), (seed)) == 0,	\
	      "data differs from the pattern (see above)")

#define CHECK_BYTES(what, got, want, len)				\
	CHECK(sp_cmp((what), (got), (want), (len), 0) == 0,		\
	      "data differs (see above)")

static inline void *sp_malloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p) {
		ktap_print_msg("out of memory (%zu bytes)", len);
		exit(KSFT_FAIL);
	}
	return p;
}

/* A buffer holding pattern @seed from stream offset @off. */
static inline unsigned char *sp_pat_buf(size_t len, uint64_t off,
					unsigned int seed)
{
	unsigned char *p = sp_malloc(len);

	sp_fill(p, len, off, seed);
	return p;
}

/* ---- I/O loops ---- */

/* Read until @len bytes, EOF or an error; returns bytes read or -1. */
static inline ssize_t sp_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, (char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -1;
		}
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static inline ssize_t sp_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -1;
		}
		done += n;
	}
	return done;
}

static inline int sp_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

static inline int sp_fionread(int fd)
{
	int n = -1;

	if (ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

static inline void sp_msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline double sp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* revents of @fd for @events after a poll with @timeout_ms (-1 on error). */
static inline int sp_poll1(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	return r ? p.revents : 0;
}

/* ---- the device ---- */

/*
 * Exit 4 ("1..0 # SKIP") unless /dev/stablepipe can be opened; call after
 * ktap_print_header().
 */
static inline void sp_require_device(void)
{
	int fd = open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ktap_exit_skip_all("%s: %s (is the stablepipe module loaded?)",
				   STABLEPIPE_DEV, strerror(errno));
	close(fd);
}

static inline int sp_get_stats(int fd, struct stablepipe_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(fd, STABLEPIPE_IOC_GET_STATS, st);
}

static inline int sp_set_capacity(int fd, uint64_t cap)
{
	__u64 v = cap;

	return ioctl(fd, STABLEPIPE_IOC_SET_CAPACITY, &v);
}

static inline int64_t sp_get_capacity(int fd)
{
	__u64 v = 0;

	if (ioctl(fd, STABLEPIPE_IOC_GET_CAPACITY, &v) < 0)
		return -1;
	return (int64_t)v;
}

static inline int sp_set_policy(int fd, uint32_t policy)
{
	__u32 v = policy;

	return ioctl(fd, STABLEPIPE_IOC_SET_POLICY, &v);
}

static inline void sp_print_stats(const char *what,
				  const struct stablepipe_stats *st)
{
	ktap_print_msg("%s: stolen %llu copied %llu (user %llu policy %llu mapped %llu pinned %llu dirty %llu writeback %llu large_folio %llu busy %llu not_stealable %llu partial %llu small %llu hot %llu)",
		       what, (unsigned long long)st->pages_stolen,
		       (unsigned long long)st->pages_copied,
		       (unsigned long long)st->copied_user,
		       (unsigned long long)st->copied_policy,
		       (unsigned long long)st->copied_mapped,
		       (unsigned long long)st->copied_pinned,
		       (unsigned long long)st->copied_dirty,
		       (unsigned long long)st->copied_writeback,
		       (unsigned long long)st->copied_large_folio,
		       (unsigned long long)st->copied_busy,
		       (unsigned long long)st->copied_not_stealable,
		       (unsigned long long)st->copied_partial,
		       (unsigned long long)st->copied_small,
		       (unsigned long long)st->copied_hot);
	ktap_print_msg("%s: bytes in write %llu splice %llu sendfile %llu, out read %llu splice %llu, buffered %llu, capacity %llu",
		       what, (unsigned long long)st->bytes_in_write,
		       (unsigned long long)st->bytes_in_splice,
		       (unsigned long long)st->bytes_in_sendfile,
		       (unsigned long long)st->bytes_out_read,
		       (unsigned long long)st->bytes_out_splice,
		       (unsigned long long)st->bytes_buffered,
		       (unsigned long long)st->capacity);
}

/* The sum of the copied_* reasons this header knows. */
static inline uint64_t sp_copied_sum(const struct stablepipe_stats *st)
{
	return st->copied_user + st->copied_policy + st->copied_mapped +
	       st->copied_pinned + st->copied_dirty + st->copied_writeback +
	       st->copied_large_folio + st->copied_busy +
	       st->copied_not_stealable + st->copied_partial +
	       st->copied_small + st->copied_hot;
}

/* ---- scratch files ---- */

static inline const char *sp_testdir(void)
{
	const char *d = getenv("STABLEPIPE_TESTDIR");

	return d && *d ? d : ".";
}

enum sp_fs { SP_FS_OTHER, SP_FS_XFS, SP_FS_EXT4, SP_FS_TMPFS };

static inline enum sp_fs sp_fs_type(void)
{
	struct statfs sfs;

	if (statfs(sp_testdir(), &sfs) < 0)
		return SP_FS_OTHER;
	switch ((unsigned long)sfs.f_type) {
	case XFS_SUPER_MAGIC:
		return SP_FS_XFS;
	case EXT4_SUPER_MAGIC:	/* also ext2/ext3 */
		return SP_FS_EXT4;
	case TMPFS_MAGIC:
		return SP_FS_TMPFS;
	}
	return SP_FS_OTHER;
}

static inline const char *sp_fs_name(enum sp_fs fs)
{
	switch (fs) {
	case SP_FS_XFS:
		return "xfs";
	case SP_FS_EXT4:
		return "ext4";
	case SP_FS_TMPFS:
		return "tmpfs";
	default:
		return "other";
	}
}

/* How warm a scratch file's page cache is when a case starts. */
enum sp_state {
	SP_DIRTY,	/* just written: dirty pages in the page cache */
	SP_CLEAN,	/* fsync'ed: clean pages still in the page cache */
	SP_COLD,	/* fsync + POSIX_FADV_DONTNEED: read back from disk */
};

static inline const char *sp_state_name(enum sp_state s)
{
	return s == SP_DIRTY ? "warm" : s == SP_CLEAN ? "clean" : "cold";
}

/* Write back and drop @fd's page cache (tmpfs keeps it: no backing store). */
static inline int sp_make_cold(int fd)
{
	if (fsync(fd) < 0)
		return -1;
	errno = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return errno ? -1 : 0;
}

/*
 * An unlinked O_RDWR scratch file in the test directory holding @size
 * bytes of pattern @seed (or of the byte @fill when @seed is 0), left in
 * page-cache state @state.  Returns the fd, or -1 (with a message).
 */
static inline int sp_scratch_file(size_t size, unsigned int seed, int fill,
				  enum sp_state state)
{
	size_t chunk = SP_MIB, done, n;
	char path[PATH_MAX];
	unsigned char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/stablepipe-test-XXXXXX",
		 sp_testdir());
	fd = mkstemp(path);
	if (fd < 0) {
		ktap_print_msg("mkstemp %s: %s", path, strerror(errno));
		return -1;
	}
	unlink(path);
	buf = sp_malloc(chunk);
	for (done = 0; done < size; done += n) {
		n = size - done < chunk ? size - done : chunk;
		if (seed)
			sp_fill(buf, n, done, seed);
		else
			memset(buf, fill, n);
		if (pwrite(fd, buf, n, done) != (ssize_t)n) {
			ktap_print_msg("writing the scratch file: %s",
				       strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
	}
	free(buf);
	if (state != SP_DIRTY && fsync(fd) < 0) {
		ktap_print_msg("fsync: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (state == SP_COLD && sp_make_cold(fd) < 0) {
		ktap_print_msg("making the file cold: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- /proc/self/fdinfo ---- */

/*
 * The value of the line "@name:\t..." of /proc/self/fdinfo/@fd, copied to
 * @val (without the newline).  Returns 0, or -1 when there is no such line.
 */
static inline int sp_fdinfo_str(int fd, const char *name, char *val,
				size_t vlen)
{
	char path[64], line[256];
	size_t nl = strlen(name);
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, name, nl) || line[nl] != ':')
			continue;
		v = line + nl + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(val, vlen, "%s", v);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static inline int sp_fdinfo_u64(int fd, const char *name, uint64_t *val)
{
	char buf[64], *end;

	if (sp_fdinfo_str(fd, name, buf, sizeof(buf)))
		return -1;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (errno || end == buf || *end)
		return -1;
	return 0;
}

/* ---- signals, capabilities ---- */

static volatile sig_atomic_t sp_sigpipes;

static inline void sp_on_sigpipe(int sig)
{
	(void)sig;
	sp_sigpipes++;
}

/* Count SIGPIPEs in sp_sigpipes instead of dying of them. */
static inline void sp_catch_sigpipe(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sp_on_sigpipe;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sp_sigpipes = 0;
}

static inline bool sp_have_cap(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[cap / 32].effective & (1U << (cap % 32));
}

/* Drop @cap from this process's effective set (the permitted set keeps it). */
static inline int sp_drop_cap(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[cap / 32].effective &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &hdr, data);
}

/* /sys/module/stablepipe/parameters/@name as a number; @def if unreadable. */
static inline uint64_t sp_module_param(const char *name, uint64_t def)
{
	char path[128], buf[64], *end;
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/stablepipe/parameters/%s",
		 name);
	f = fopen(path, "re");
	if (!f)
		return def;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return def;
	}
	fclose(f);
	errno = 0;
	v = strtoull(buf, &end, 0);
	if (errno || end == buf)
		return def;
	return v;
}

/* Writes @val to /sys/module/stablepipe/parameters/@name; 0 or -1. */
static inline int sp_module_param_set(const char *name, uint64_t val)
{
	char path[128], buf[32];
	int fd, ret = -1;

	snprintf(path, sizeof(path), "/sys/module/stablepipe/parameters/%s",
		 name);
	snprintf(buf, sizeof(buf), "%" PRIu64, val);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf))
		ret = 0;
	close(fd);
	return ret;
}

/*
 * Low dirty limits while a small memory cgroup writes a file: 6.12 (not
 * 6.1) OOM-kills a cgroup whose page cache is all dirty before writeback
 * catches up (punch_test, stablesplice_test).  vm.dirty_bytes 8 MiB,
 * background 2 MiB; for a memory cgroup the kernel scales them to its
 * share of memory.  Writing a *_bytes file zeroes the matching *_ratio
 * (and back), so sp_dirty_limits_restore() writes back whichever of the
 * two was set.
 */
struct sp_dirty_limits {
	long long val[4];	/* bytes, background_bytes, ratio, background_ratio */
};

static const char *const sp_dirty_files[4] = {
	"/proc/sys/vm/dirty_bytes", "/proc/sys/vm/dirty_background_bytes",
	"/proc/sys/vm/dirty_ratio", "/proc/sys/vm/dirty_background_ratio",
};

/* Writes @val to the file at @path (a sysctl, a cgroup file); 0 or -1. */
static inline int sp_write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* ---- memory cgroups (cgroup2) ---- */

#define SP_CGROOT	"/sys/fs/cgroup"

/*
 * A fresh cgroup @name under SP_CGROOT, with the memory controller turned
 * on for the root's children; its path goes to @cg (@len bytes).
 * Returns 0, or -1 when there is no writable cgroup2 memory controller.
 */
static inline int sp_cg_setup(char *cg, size_t len, const char *name)
{
	char buf[PATH_MAX];

	if (access(SP_CGROOT "/cgroup.subtree_control", W_OK))
		return -1;
	sp_write_str(SP_CGROOT "/cgroup.subtree_control", "+memory");
	snprintf(cg, len, SP_CGROOT "/%s", name);
	rmdir(cg);
	if (mkdir(cg, 0755) && errno != EEXIST)
		return -1;
	snprintf(buf, sizeof(buf), "%s/memory.max", cg);
	return access(buf, W_OK);
}

/* Moves the calling process into the cgroup @cg; 0 or -1. */
static inline int sp_cg_enter(const char *cg)
{
	char path[PATH_MAX], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return sp_write_str(path, pid);
}

/* Saves the current limits in @saved and sets the low ones; 0 or -1. */
static inline int sp_dirty_limits_low(struct sp_dirty_limits *saved)
{
	int i;
	FILE *f;

	for (i = 0; i < 4; i++) {
		f = fopen(sp_dirty_files[i], "re");
		if (!f || fscanf(f, "%lld", &saved->val[i]) != 1)
			saved->val[i] = -1;
		if (f)
			fclose(f);
	}
	if (sp_write_str(sp_dirty_files[0], "8388608") ||
	    sp_write_str(sp_dirty_files[1], "2097152"))
		return -1;
	return 0;
}

static inline void sp_dirty_limits_restore(const struct sp_dirty_limits *saved)
{
	char val[32];
	int i, which;

	for (i = 0; i < 2; i++) {
		which = saved->val[i] > 0 ? i : i + 2;
		if (saved->val[which] < 0)
			continue;
		snprintf(val, sizeof(val), "%lld", saved->val[which]);
		sp_write_str(sp_dirty_files[which], val);
	}
}

#endif /* STABLEPIPE_SP_COMMON_H */
