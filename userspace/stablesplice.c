// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libstablesplice.so - give programs that splice files into pipes stable
 * pipes, without changing them:
 *
 *	LD_PRELOAD=/usr/lib/libstablesplice.so program ...
 *
 * splice(2) from a regular file or a block device into a pipe, and
 * sendfile(2) with a pipe as out_fd, are carried out through a private
 * /dev/stablepipe instance of the calling thread: the data is copied into
 * the instance (sendfile into the device) and spliced from there into the
 * pipe, so the pipe holds pages that nobody else can change instead of
 * references to the file's page cache.  Every other call goes straight to
 * the real function.  See libstablesplice.7 for the semantics, the
 * environment and the costs.
 *
 * Outline of one call (ss_move()):
 *  1. decide: input a regular file (not on a pseudo file system, not
 *     O_DIRECT) or a block device, output a pipe; else pass through;
 *  2. the checks and the wait of the real call, in the kernel's order
 *     (EFAULT, EBADF, EINVAL before or after the wait as the running
 *     kernel does it, learnt once by a probe): sendfile(out, in, NULL, 0)
 *     is the real file->pipe path with nothing to move: it fails as the
 *     real call would (EBADF, EPIPE with SIGPIPE, EAGAIN on an O_NONBLOCK
 *     pipe) and waits for room in the pipe exactly as the real call does
 *     (a signal restarts it or ends it with EINTR, as for the real call);
 *     with SPLICE_F_NONBLOCK a poll(2) of the pipe takes its place;
 *  3. with every signal blocked and cancellation disabled from here to
 *     the end (ss_block(): no handler sees a call half done), read the
 *     file position and size the move to what the pipe can take: free
 *     pipe slots from F_GETPIPE_SZ and FIONREAD, less the offset of the
 *     file position in its page, as the kernel's own file->pipe splice
 *     does;
 *  4. sendfile(instance, in, off, n) copies the data into the instance
 *     (instance policy "copy", see below), splice(instance -> out,
 *     SPLICE_F_NONBLOCK) hands it to the pipe;
 *  5. when the pipe took less than that (it holds partly filled buffers,
 *     or another writer filled it), the file position (or *off) is set
 *     back to just after what reached the pipe and the rest is read out of
 *     the instance and thrown away: nothing stays in the instance and the
 *     call reports exactly what the pipe got;
 *  6. *off is written back as the kernel does (EFAULT when it cannot be),
 *     and the signal mask restored: what arrived meanwhile is delivered
 *     now, as at the return of the real call.
 *
 * Byte counts: the kernel puts one pipe buffer per file page (6.5 and
 * later; per folio before) into the pipe.  The instance, in policy copy,
 * packs bytes into its pages back to back; before each move the library
 * pads the instance with a few bytes that it reads out again, so that the
 * data lands at the same offset in its page as in the file.  Then the
 * pipe buffers it gets have the same boundaries as the kernel's, and a
 * call moves as many bytes as the real call would.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/magic.h>
#include <linux/stablepipe.h>

#define SS_NAME		"libstablesplice"
#define SS_DEFAULT_DEV	"/dev/stablepipe"
/* Added to the instance's capacity: identifies the instance as ours. */
#define SS_CAP_MARK	(5 * 4096ULL)
#define SS_MIN_CAP	(1024 * 1024ULL)
/* Largest capacity asked for, mark included: the module's max_capacity. */
#define SS_MAX_CAP	(16 * 1024 * 1024ULL - 65536)
#define SS_BUF_SIZE	65536
/* the kernel's MAX_RW_COUNT on 4 KiB pages */
#define SS_MAX_RW	(INT_MAX & ~4095L)
#define SS_PASS		(-2)	/* ss_move(): call the real function */

#ifndef SPLICE_F_ALL
#define SPLICE_F_ALL	(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | \
			 SPLICE_F_GIFT)
#endif
#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ	1032
#endif

#ifdef SS_FAKE_DEVICE
/*
 * TEST BUILD ONLY (tests/stablesplice-local.sh): each thread's "instance"
 * is a private pipe, opened O_RDWR through /proc/self/fd, to run the
 * wrapper's logic on a machine without the module.  A pipe holds page-cache
 * references: there is no stability here.  Capacity is the pipe's size, there is no policy
 * (nor padding: the pipe keeps the file's page layout) and no counters.
 * STABLESPLICE_DEVICE still works for "no device" (a path that is absent).
 */
static int ss_dev_ioctl(int fd, unsigned long cmd, void *arg)
{
	__u64 *v = arg;
	long n;

	switch (cmd) {
	case STABLEPIPE_IOC_GET_CAPACITY:
		n = fcntl(fd, F_GETPIPE_SZ);
		if (n < 0)
			return -1;
		*v = n + 5 * 4096ULL;
		return 0;
	case STABLEPIPE_IOC_SET_CAPACITY:
		return fcntl(fd, F_SETPIPE_SZ, (int)(*v - 5 * 4096ULL)) < 0 ?
		       -1 : 0;
	case STABLEPIPE_IOC_GET_STATS:
		return ioctl(fd, FIONREAD, &n) < 0 ? -1 : 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

/*
 * STABLESPLICE_FAKE_SIGNAL=N: raise SIGUSR1 between the move into the
 * instance and the move out, every Nth time (tests of that window).
 */
static unsigned long ss_fake_every, ss_fake_count;

static void ss_fake_init(void)
{
	const char *v = getenv("STABLESPLICE_FAKE_SIGNAL");

	ss_fake_every = v ? strtoul(v, NULL, 10) : 0;
}

static void ss_fake_window(void)
{
	if (ss_fake_every &&
	    __atomic_add_fetch(&ss_fake_count, 1, __ATOMIC_RELAXED) %
	    ss_fake_every == 0)
		raise(SIGUSR1);
}

/* A private pipe, reopened through /proc as one O_RDWR descriptor. */
static int ss_dev_open(const char *path)
{
	char name[64];
	int p[2], fd;

	if (strcmp(path, "/dev/stablepipe") && access(path, F_OK))
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	snprintf(name, sizeof(name), "/proc/self/fd/%d", p[0]);
	fd = open(name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	close(p[0]);
	close(p[1]);
	return fd;
}
#else
#define ss_dev_ioctl ioctl
#define ss_dev_open(path) open((path), O_RDWR | O_NONBLOCK | O_CLOEXEC)
#define ss_fake_init() do { } while (0)
#define ss_fake_window() do { } while (0)
#endif

typedef ssize_t (*splice_fn)(int, loff_t *, int, loff_t *, size_t,
			     unsigned int);
typedef ssize_t (*sendfile_fn)(int, int, off_t *, size_t);
typedef ssize_t (*sendfile64_fn)(int, int, off64_t *, size_t);

static splice_fn real_splice;
static sendfile_fn real_sendfile;
static sendfile64_fn real_sendfile64;

/* ---- configuration, read once ---- */

static pthread_once_t ss_once = PTHREAD_ONCE_INIT;
static int ss_disabled;		/* STABLESPLICE_DISABLE=1 */
static int ss_verbose;		/* STABLESPLICE_VERBOSE=1 */
static int ss_stats_on;		/* STABLESPLICE_STATS=1 */
static int ss_policy = STABLEPIPE_POLICY_COPY;	/* STABLESPLICE_POLICY */
static const char *ss_dev = SS_DEFAULT_DEV;	/* STABLESPLICE_DEVICE */
static long ss_page = 4096;
static pthread_key_t ss_key;
static int ss_key_ok;

/* set once the device cannot be opened: everything passes through */
static int ss_nodev;
static int ss_said_nodev, ss_said_active, ss_said_other;
/* 1: the kernel checks len before the wait (6.12, 7.2; not 6.1); -1: unknown */
static int ss_full_len_check = -1;

/* ---- per-thread state ---- */

struct ss_thread {
	int fd;			/* the instance, or -1 */
	unsigned int gen;	/* ss_gen when it was opened */
	int track;		/* policy copy: @tail is known */
	unsigned long tail;	/* bytes ever put into the instance, mod page */
	uint64_t cap;		/* its capacity: also the mark that it is ours */
	int cap_fixed;		/* raising it failed: do not try again */
	char *buf;		/* scratch for padding and draining */
	/*
	 * cache of ss_pseudo_fs(): the last device found to be a real file
	 * system, the last found pseudo (each one store: a signal handler's
	 * call in between cannot pair one device with the other's answer)
	 */
	dev_t fs_real, fs_pseudo;
	struct ss_thread *prev, *next;	/* ss_threads, under ss_lock */
	int listed;
};

static __thread struct ss_thread ss_self
	__attribute__((tls_model("initial-exec"))) = { .fd = -1 };

static pthread_mutex_t ss_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ss_thread *ss_threads;	/* threads with an instance */
static unsigned int ss_gen = 1;		/* bumped in a forked child */

/* ---- statistics ---- */

struct ss_counts {
	uint64_t calls;		/* splice/sendfile calls seen */
	uint64_t wrapped;	/* of them, carried through the device */
	uint64_t passed;	/* passed through to the real function */
	uint64_t bytes;		/* bytes that reached pipes through the device */
	uint64_t short_moves;	/* the pipe took less than the instance got */
	uint64_t reread;	/* bytes given back to the file by those */
	uint64_t padded;	/* alignment padding written (and read) */
	uint64_t instances;	/* instances opened */
	uint64_t discarded;	/* instances closed with bytes maybe left */
};

static struct ss_counts ss_counts;
/* device counters of instances already closed */
static struct stablepipe_stats ss_dev_done;

#define ss_add(field, n) \
	__atomic_fetch_add(&ss_counts.field, (n), __ATOMIC_RELAXED)

static void ss_say(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void ss_say(const char *fmt, ...)
{
	char buf[512];
	int n, saved = errno;
	va_list ap;

	n = snprintf(buf, sizeof(buf), SS_NAME "[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0)
		errno = saved;
	errno = saved;
}

static int ss_env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

/* ---- raw system calls (never our own wrappers) ---- */

static ssize_t sys_sendfile(int out, int in, loff_t *off, size_t count)
{
#ifdef SYS_sendfile64
	return syscall(SYS_sendfile64, out, in, off, count);
#else
	return syscall(SYS_sendfile, out, in, off, count);
#endif
}

static ssize_t sys_splice(int in, loff_t *off_in, int out, loff_t *off_out,
			  size_t len, unsigned int flags)
{
	return syscall(SYS_splice, in, off_in, out, off_out, len, flags);
}

static void ss_add_stats(struct stablepipe_stats *sum,
			 const struct stablepipe_stats *st)
{
	const __u64 *s = &st->pages_stolen;
	__u64 *d = &sum->pages_stolen;
	size_t i, n = (sizeof(*st) - offsetof(struct stablepipe_stats,
					       pages_stolen)) / sizeof(__u64);

	/* bytes_buffered and capacity are states, not counts: skip them */
	for (i = 0; i < n; i++) {
		if (&d[i] == &sum->bytes_buffered || &d[i] == &sum->capacity)
			continue;
		d[i] += s[i];
	}
}

static int ss_get_stats(int fd, struct stablepipe_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ss_dev_ioctl(fd, STABLEPIPE_IOC_GET_STATS, st);
}

/* Is @t->fd still our instance?  The program may have closed it. */
static int ss_is_ours(const struct ss_thread *t)
{
	__u64 cap = 0;

	if (t->fd < 0 || t->gen != ss_gen)
		return 0;
	return ss_dev_ioctl(t->fd, STABLEPIPE_IOC_GET_CAPACITY, &cap) == 0 &&
	       cap == t->cap;
}

static void ss_unlist(struct ss_thread *t)
{
	if (!t->listed)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		ss_threads = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->listed = 0;
}

/*
 * Close @t's instance (when it is still ours), counting its device
 * counters into ss_dev_done.  Called with ss_lock held.
 */
static void ss_close_locked(struct ss_thread *t, int count)
{
	struct stablepipe_stats st;

	if (ss_is_ours(t)) {
		if (count && ss_get_stats(t->fd, &st) == 0)
			ss_add_stats(&ss_dev_done, &st);
		close(t->fd);
	}
	ss_unlist(t);
	t->fd = -1;
}

/* pthread key destructor: the thread exits. */
static void ss_thread_exit(void *p)
{
	struct ss_thread *t = p;

	pthread_mutex_lock(&ss_lock);
	ss_close_locked(t, 1);
	pthread_mutex_unlock(&ss_lock);
	free(t->buf);
	t->buf = NULL;
}

static void ss_atfork_prepare(void)
{
	pthread_mutex_lock(&ss_lock);
}

static void ss_atfork_parent(void)
{
	pthread_mutex_unlock(&ss_lock);
}

/*
 * In the child: the instances are the parent's (shared open files) and
 * those of threads that do not exist here.  Close them all; the child
 * opens its own when it needs one.  Its statistics start from zero.
 */
static void ss_atfork_child(void)
{
	struct ss_thread *t, *next;

	for (t = ss_threads; t; t = next) {
		next = t->next;
		ss_close_locked(t, 0);
	}
	ss_threads = NULL;
	ss_gen++;
	memset(&ss_counts, 0, sizeof(ss_counts));
	memset(&ss_dev_done, 0, sizeof(ss_dev_done));
	ss_self.tail = 0;
	pthread_mutex_unlock(&ss_lock);
}

static void ss_init(void)
{
	const char *v;

	real_splice = (splice_fn)dlsym(RTLD_NEXT, "splice");
	real_sendfile = (sendfile_fn)dlsym(RTLD_NEXT, "sendfile");
	real_sendfile64 = (sendfile64_fn)dlsym(RTLD_NEXT, "sendfile64");
	ss_disabled = ss_env_on("STABLESPLICE_DISABLE");
	ss_verbose = ss_env_on("STABLESPLICE_VERBOSE");
	ss_stats_on = ss_env_on("STABLESPLICE_STATS");
	v = getenv("STABLESPLICE_DEVICE");
	if (v && *v)
		ss_dev = v;
	v = getenv("STABLESPLICE_POLICY");
	if (v && !strcmp(v, "auto"))
		ss_policy = STABLEPIPE_POLICY_AUTO;
	if (sysconf(_SC_PAGESIZE) > 0)
		ss_page = sysconf(_SC_PAGESIZE);
	ss_fake_init();
	if (ss_disabled)
		return;
	ss_key_ok = pthread_key_create(&ss_key, ss_thread_exit) == 0;
	pthread_atfork(ss_atfork_prepare, ss_atfork_parent, ss_atfork_child);
}

__attribute__((constructor)) static void ss_constructor(void)
{
	pthread_once(&ss_once, ss_init);
}

/* The summary of STABLESPLICE_STATS=1, at exit. */
__attribute__((destructor)) static void ss_destructor(void)
{
	struct stablepipe_stats sum, st;
	struct ss_counts c;
	struct ss_thread *t;

	if (!ss_stats_on || ss_disabled)
		return;
	c = ss_counts;
	if (!c.calls)
		return;
	pthread_mutex_lock(&ss_lock);
	sum = ss_dev_done;
	for (t = ss_threads; t; t = t->next)
		if (ss_is_ours(t) && ss_get_stats(t->fd, &st) == 0)
			ss_add_stats(&sum, &st);
	pthread_mutex_unlock(&ss_lock);
	ss_say("%llu calls: %llu through %s, %llu passed through; %llu bytes to pipes; %llu short moves gave %llu bytes back to their files; %llu bytes of padding; %llu instances, %llu discarded%s",
	       (unsigned long long)c.calls, (unsigned long long)c.wrapped,
	       ss_dev, (unsigned long long)c.passed,
	       (unsigned long long)c.bytes,
	       (unsigned long long)c.short_moves,
	       (unsigned long long)c.reread,
	       (unsigned long long)c.padded,
	       (unsigned long long)c.instances,
	       (unsigned long long)c.discarded,
	       ss_nodev ? " (no device: everything passed through)" : "");
	ss_say("device: pages_stolen %llu pages_copied %llu (policy %llu dirty %llu mapped %llu large_folio %llu partial %llu small %llu hot %llu other %llu) bytes_in_sendfile %llu bytes_in_write %llu bytes_out_splice %llu bytes_out_read %llu",
	       (unsigned long long)sum.pages_stolen,
	       (unsigned long long)sum.pages_copied,
	       (unsigned long long)sum.copied_policy,
	       (unsigned long long)sum.copied_dirty,
	       (unsigned long long)sum.copied_mapped,
	       (unsigned long long)sum.copied_large_folio,
	       (unsigned long long)sum.copied_partial,
	       (unsigned long long)sum.copied_small,
	       (unsigned long long)sum.copied_hot,
	       (unsigned long long)(sum.copied_user + sum.copied_pinned +
				    sum.copied_writeback + sum.copied_busy +
				    sum.copied_not_stealable),
	       (unsigned long long)sum.bytes_in_sendfile,
	       (unsigned long long)sum.bytes_in_write,
	       (unsigned long long)sum.bytes_out_splice,
	       (unsigned long long)sum.bytes_out_read);
}

/* ---- the instance of this thread ---- */

/* The lowest fd to put the instance at: well above what programs use. */
static int ss_fd_base(void)
{
	struct rlimit rl;
	rlim_t base = 512;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < base)
		base = rl.rlim_cur / 2;
	return base < 10 ? 10 : (int)base;
}

static uint64_t ss_cap_for(long pipe_size)
{
	uint64_t cap = SS_MIN_CAP;

	if ((uint64_t)pipe_size > cap)
		cap = ((uint64_t)pipe_size + 65535) & ~65535ULL;
	if (cap > SS_MAX_CAP)
		cap = SS_MAX_CAP;
	return cap + SS_CAP_MARK;
}

/*
 * Signals are blocked (and cancellation disabled) while the library
 * changes the thread's instance or moves data through it: a handler never
 * sees it half done (a handler's own splice(2) is carried, through the
 * same instance, before or after), SIGPIPE from the move out of the
 * instance comes after the file position has been set right, and no
 * siglongjmp() can leave bytes in the instance.  What arrives meanwhile
 * is delivered when the mask is restored, as after the plain system
 * call.
 */
struct ss_mask {
	sigset_t old;
	int cancel;
};

static void ss_block(struct ss_mask *m)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &m->old);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &m->cancel);
}

static void ss_unblock(struct ss_mask *m)
{
	int saved = errno;

	pthread_setcancelstate(m->cancel, NULL);
	pthread_sigmask(SIG_SETMASK, &m->old, NULL);
	errno = saved;
}

/*
 * ss_open_failed() - getting an instance failed: @what, with errno @err.
 * An error that says the device is not there or not ours (or not ours to
 * open) passes every later call through; any other passes this call only,
 * and the next one tries again.  EPERM from STABLEPIPE_IOC_SET_CAPACITY
 * is the per-user limit (user_pages_soft, user_pages_hard) or
 * max_capacity: a state of the moment that the user's other instances
 * closing ends, not a missing device.
 */
static void ss_open_failed(const char *what, int err)
{
	int set_capacity = !strcmp(what, "STABLEPIPE_IOC_SET_CAPACITY");

	if (err == ENOENT || err == ENXIO || err == ENODEV || err == EACCES ||
	    (err == EPERM && !set_capacity) || err == ENOTTY || err == EINVAL) {
		__atomic_store_n(&ss_nodev, 1, __ATOMIC_RELAXED);
		if (ss_verbose && !__atomic_exchange_n(&ss_said_nodev, 1,
						       __ATOMIC_RELAXED))
			ss_say("%s: %s: %s; splice(2) and sendfile(2) pass through unchanged",
			       ss_dev, what, strerror(err));
	} else if (ss_verbose && !__atomic_exchange_n(&ss_said_other, 1,
						      __ATOMIC_RELAXED)) {
		ss_say("%s: %s: %s%s; this call (and others like it) passes through unchanged",
		       ss_dev, what, strerror(err),
		       err == EPERM && set_capacity ?
		       " (the user's limit: user_pages_soft, max_capacity)" : "");
	}
}

/* The instance is there and big enough for @pipe_size. */
static int ss_instance_ok(const struct ss_thread *t, long pipe_size)
{
	return ss_is_ours(t) &&
	       (t->cap - SS_CAP_MARK >= (uint64_t)pipe_size ||
		t->cap >= SS_MAX_CAP + SS_CAP_MARK || t->cap_fixed);
}

/* ss_instance() with signals blocked. */
static int ss_instance_blocked(struct ss_thread *t, long pipe_size)
{
	__u32 policy = ss_policy;
	__u64 cap;
	int fd, hi;

	if (t->fd >= 0) {
		if (ss_is_ours(t)) {
			if (t->cap - SS_CAP_MARK < (uint64_t)pipe_size &&
			    t->cap < SS_MAX_CAP + SS_CAP_MARK && !t->cap_fixed) {
				cap = ss_cap_for(pipe_size);
				if (ss_dev_ioctl(t->fd,
						 STABLEPIPE_IOC_SET_CAPACITY,
						 &cap) == 0)
					t->cap = cap;
				else
					t->cap_fixed = 1;
			}
			return t->fd;
		}
		/* closed or replaced by the program, or inherited: forget it */
		pthread_mutex_lock(&ss_lock);
		ss_unlist(t);
		pthread_mutex_unlock(&ss_lock);
		t->fd = -1;
	}
	if (__atomic_load_n(&ss_nodev, __ATOMIC_RELAXED))
		return -1;
	fd = ss_dev_open(ss_dev);
	if (fd < 0) {
		ss_open_failed("open", errno);
		return -1;
	}
	hi = fcntl(fd, F_DUPFD_CLOEXEC, ss_fd_base());
	/* RLIMIT_NOFILE below the base: anything but 0-2 */
	if (hi < 0 && fd <= STDERR_FILENO)
		hi = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	} else if (fd <= STDERR_FILENO) {
		/* no room above 2 (not a missing device): this call passes */
		ss_open_failed("F_DUPFD_CLOEXEC", EMFILE);
		close(fd);
		return -1;
	}
	t->track = ss_dev_ioctl(fd, STABLEPIPE_IOC_SET_POLICY, &policy) == 0 &&
		   policy == STABLEPIPE_POLICY_COPY;
	cap = ss_cap_for(pipe_size);
	if (ss_dev_ioctl(fd, STABLEPIPE_IOC_SET_CAPACITY, &cap) < 0) {
		cap = SS_MIN_CAP + SS_CAP_MARK;
		if (ss_dev_ioctl(fd, STABLEPIPE_IOC_SET_CAPACITY, &cap) < 0) {
			ss_open_failed("STABLEPIPE_IOC_SET_CAPACITY", errno);
			close(fd);
			return -1;
		}
	}
	if (!t->buf)
		t->buf = malloc(SS_BUF_SIZE);
	t->cap = cap;
	t->cap_fixed = 0;
	t->fd = fd;
	t->gen = ss_gen;
	t->tail = 0;
	pthread_mutex_lock(&ss_lock);
	t->prev = NULL;
	t->next = ss_threads;
	if (ss_threads)
		ss_threads->prev = t;
	ss_threads = t;
	t->listed = 1;
	pthread_mutex_unlock(&ss_lock);
	if (ss_key_ok)
		pthread_setspecific(ss_key, t);
	ss_add(instances, 1);
	if (ss_verbose && !__atomic_exchange_n(&ss_said_active, 1,
					       __ATOMIC_RELAXED))
		ss_say("splice(2) and sendfile(2) from files into pipes go through %s (policy %s)",
		       ss_dev, ss_policy == STABLEPIPE_POLICY_COPY ? "copy" : "auto");
	return fd;
}

/*
 * This thread's instance, opened on first use: O_RDWR (it never sees end
 * of file nor EPIPE), O_NONBLOCK (the library never waits on it), close-on-
 * exec, at a high descriptor.  Returns it, or -1 (pass through).
 */
static int ss_instance(struct ss_thread *t, long pipe_size)
{
	struct ss_mask m;
	int fd;

	if (t->fd >= 0 && ss_instance_ok(t, pipe_size))
		return t->fd;
	ss_block(&m);
	fd = ss_instance_blocked(t, pipe_size);
	ss_unblock(&m);
	return fd;
}

/* Read everything out of the instance (it never blocks: O_NONBLOCK). */
static uint64_t ss_drain(struct ss_thread *t)
{
	char small[512], *buf = t->buf ? t->buf : small;
	size_t len = t->buf ? SS_BUF_SIZE : sizeof(small);
	uint64_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(t->fd, buf, len);
		if (n > 0) {
			total += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return total;
	}
}

/*
 * The instance could not be emptied (a read of it failed): bytes may be
 * left in it, which must never reach a pipe ahead of a later call's.
 * Close it; the next call opens a new one.  Called with signals blocked
 * (ss_block()), so no handler can be holding ss_lock.
 */
static void ss_discard(struct ss_thread *t)
{
	pthread_mutex_lock(&ss_lock);
	ss_close_locked(t, 1);
	pthread_mutex_unlock(&ss_lock);
	ss_add(discarded, 1);
}

/*
 * Policy copy packs bytes back to back in the instance's pages, going on
 * where the last bytes ended (t->tail).  Pad it so that the next byte
 * lands at @pos's offset in its page; the padding is read out at once.
 * Returns -1 when it had to discard the instance (see ss_discard()).
 */
static int ss_align(struct ss_thread *t, loff_t pos)
{
	static char zeros[65536];	/* never written: stays in .bss */
	unsigned long pad;
	ssize_t n;

	if (!t->track || ss_page > (long)sizeof(zeros))
		return 0;
	pad = ((unsigned long)pos - t->tail) & (ss_page - 1);
	if (!pad)
		return 0;
	do {
		n = write(t->fd, zeros, pad);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		t->tail = (t->tail + n) & (ss_page - 1);
	if (n != (ssize_t)pad) {
		/* cannot happen (the instance is empty); stop tracking */
		t->track = 0;
	}
	ss_add(padded, pad);
	if (ss_drain(t) != (n > 0 ? (uint64_t)n : 0)) {
		ss_discard(t);
		return -1;
	}
	return 0;
}

/* ---- which calls are ours ---- */

/* File systems whose "regular files" are not page-cache data. */
static int ss_pseudo_fs(struct ss_thread *t, int fd, dev_t dev)
{
	struct statfs sfs;
	int pseudo;

	if (dev && t->fs_real == dev)
		return 0;
	if (dev && t->fs_pseudo == dev)
		return 1;
	if (fstatfs(fd, &sfs) < 0)
		return 1;
	switch ((unsigned long)sfs.f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case BPF_FS_MAGIC:
	case 0x62656570:	/* configfs */
	case 0xde5e81e4:	/* efivarfs */
	case PSTOREFS_MAGIC:
	case 0x65735543:	/* fusectl */
	case 0x42494e4d:	/* binfmt_misc */
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
	case 0x19800202:	/* mqueue */
	case NSFS_MAGIC:
		pseudo = 1;
		break;
	default:
		pseudo = 0;
	}
	if (pseudo)
		t->fs_pseudo = dev;
	else
		t->fs_real = dev;
	return pseudo;
}

/*
 * Does this kernel check the range of a file->pipe splice (its offset and
 * whole len, rw_verify_area()) before it waits for room in the pipe (6.12
 * and 7.2 do), rather than after (6.1)?  Learnt once, with an empty memfd
 * and a full private pipe: a splice from offset -1 fails with EINVAL on
 * the former, EAGAIN on the latter.  A len of SIZE_MAX would not tell in
 * a 32-bit process on a 64-bit kernel, which sees it as 4 GiB - 1, not as
 * a negative count.
 */
static int ss_kernel_checks_len(void)
{
	int v = __atomic_load_n(&ss_full_len_check, __ATOMIC_RELAXED);
	static const char fill[4096];
	loff_t off = -1;
	int p[2], m;

	if (v >= 0)
		return v;
	m = memfd_create("libstablesplice-probe", MFD_CLOEXEC);
	if (m < 0)
		return 1;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		close(m);
		return 1;
	}
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	v = sys_splice(m, &off, p[1], NULL, 1, SPLICE_F_NONBLOCK) < 0 &&
	    errno == EINVAL;
	close(p[0]);
	close(p[1]);
	close(m);
	__atomic_store_n(&ss_full_len_check, v, __ATOMIC_RELAXED);
	return v;
}

/*
 * sendfile(out, in, NULL, 0) is the real file->pipe path with nothing to
 * move: the checks of the output (EBADF), EPIPE with SIGPIPE, and the
 * wait for room in the pipe (EAGAIN on an O_NONBLOCK pipe; a signal
 * restarts it or gives EINTR, as for the real call).  The file position
 * is only read.
 */
static int ss_wait_room(int out, int in, int cancellable)
{
	int old = 0;
	ssize_t r;

	if (cancellable)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
	r = sys_sendfile(out, in, NULL, 0);
	if (cancellable)
		pthread_setcanceltype(old, NULL);
	return r < 0 ? -1 : 0;
}

/*
 * SPLICE_F_NONBLOCK: the same without the wait.  Returns 0 when the pipe
 * has room, else -1 with errno.
 */
static int ss_check_room(int out, int in)
{
	struct pollfd pfd = { .fd = out, .events = POLLOUT };
	int fl;

	if (poll(&pfd, 1, 0) < 0)
		return -1;
	if (pfd.revents & POLLERR)	/* no reader: EPIPE and SIGPIPE */
		return ss_wait_room(out, in, 0);
	if (pfd.revents & POLLOUT)
		return 0;
	fl = fcntl(out, F_GETFL);
	errno = fl >= 0 && (fl & O_ACCMODE) == O_RDONLY ? EBADF : EAGAIN;
	return -1;
}

/* *@p without faulting: -1 with EFAULT where the kernel would say so. */
static int ss_peek(const loff_t *p, loff_t *v)
{
	struct iovec local = { v, sizeof(*v) };
	struct iovec remote = { (void *)p, sizeof(*v) };
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);

	if (n == (ssize_t)sizeof(*v))
		return 0;
	if (n >= 0 || errno == EFAULT)
		return -1;	/* (a partial read: the rest is unmapped) */
	*v = *p;	/* process_vm_readv not allowed here */
	return 0;
}

/*
 * *@p = @v without faulting: -1 where the kernel's copy back would fail
 * (a read-only page: the kernel moves the data, then says EFAULT).
 */
static int ss_poke(loff_t *p, loff_t v)
{
	struct iovec local = { &v, sizeof(v) };
	struct iovec remote = { p, sizeof(v) };
	ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);

	if (n == (ssize_t)sizeof(v))
		return 0;
	if (n >= 0 || errno == EFAULT)
		return -1;
	*p = v;		/* process_vm_writev not allowed here */
	return 0;
}

enum ss_mode { SS_SPLICE, SS_SENDFILE };

/*
 * The end of a call that read *@offp: write it back as the kernel does,
 * splice(2) when it succeeds, sendfile(2) whatever the outcome, and turn
 * the result into EFAULT when that fails.
 */
static ssize_t ss_finish(loff_t *offp, loff_t off, enum ss_mode mode,
			 ssize_t ret)
{
	int saved = errno;

	if (!offp || (mode == SS_SPLICE && ret < 0))
		return ret;
	if (ss_poke(offp, ret > 0 ? off + ret : off)) {
		errno = EFAULT;
		return -1;
	}
	errno = saved;
	return ret;
}

/*
 * Move up to @len bytes from @in (at *@offp, or its file position when
 * @offp is NULL) into the pipe @out through the thread's instance.
 * Returns what the real call would, or SS_PASS: call the real function.
 */
static ssize_t ss_move(int in, loff_t *offp, int out, size_t len,
		       unsigned int flags, enum ss_mode mode)
{
	struct ss_thread *t = &ss_self;
	int nonblock = flags & SPLICE_F_NONBLOCK, in_flags, dev, early;
	long pipe_size, pg = ss_page, slots;
	ssize_t r, s, ret;
	loff_t o = 0, o0 = 0, pos;
	struct ss_mask m;
	struct stat st;
	size_t x;
	int bytes;

	if (__atomic_load_n(&ss_nodev, __ATOMIC_RELAXED))
		return SS_PASS;
	if (fstat(in, &st) < 0)
		return SS_PASS;
	if (S_ISREG(st.st_mode)) {
		if (ss_pseudo_fs(t, in, st.st_dev))
			return SS_PASS;
	} else if (!S_ISBLK(st.st_mode)) {
		return SS_PASS;
	}
	in_flags = fcntl(in, F_GETFL);
	if (in_flags < 0 || (in_flags & (O_DIRECT | O_PATH)))
		return SS_PASS;	/* O_DIRECT data is copied anyway */
	/*
	 * A file that cannot seek (nonseekable_open(), FUSE streams): the
	 * real call reads at its position, the instance path cannot.
	 */
	if (lseek(in, 0, SEEK_CUR) < 0)
		return SS_PASS;
	pipe_size = fcntl(out, F_GETPIPE_SZ);
	if (pipe_size <= 0)
		return SS_PASS;	/* not a pipe */
	dev = ss_instance(t, pipe_size);
	if (dev < 0)
		return SS_PASS;
	/*
	 * A len that the real call rejects before it looks at the pipe
	 * (newer kernels for splice, every kernel for sendfile): let it.
	 */
	if ((ssize_t)len < 0 &&
	    (mode == SS_SENDFILE || ss_kernel_checks_len()))
		return SS_PASS;
	ss_add(wrapped, 1);

	/*
	 * The real call's checks, in its order: EFAULT for *off_in (both
	 * system calls copy it in first), EBADF, then EINVAL for the range
	 * (sendfile; splice on 6.12, 7.2), then the wait for room, then
	 * (splice on 6.1) EINVAL for the range.
	 */
	early = mode == SS_SENDFILE || ss_kernel_checks_len();
	if (offp && ss_peek(offp, &o)) {
		errno = EFAULT;
		return -1;
	}
	o0 = o;
	if ((in_flags & O_ACCMODE) == O_WRONLY) {
		errno = EBADF;
		ret = -1;
		goto out;
	}
	/* (without off, a range past LLONG_MAX needs the file position) */
	if (!offp && early && len > (size_t)LLONG_MAX / 2)
		o = lseek(in, 0, SEEK_CUR);
	if (early && (o < 0 || len > (size_t)(LLONG_MAX - o))) {
		errno = EINVAL;
		ret = -1;
		goto out;
	}
	if (nonblock ? ss_check_room(out, in) :
		       ss_wait_room(out, in, mode == SS_SPLICE)) {
		/* splice past s_maxbytes gives 0, sendfile EOVERFLOW */
		ret = mode == SS_SPLICE && errno == EOVERFLOW ? 0 : -1;
		goto out;
	}
	if (offp && o < 0) {
		errno = EINVAL;
		ret = -1;
		goto out;
	}
	for (;;) {
		/*
		 * From here to the end of the move, no signal handler runs
		 * (see ss_block()); one that ran during the wait may have
		 * spliced too, through the instance, which it may have
		 * replaced: take the file position and the instance now.
		 */
		ss_block(&m);
		/* (another thread may have closed or reused t->fd meanwhile) */
		dev = ss_instance_blocked(t, pipe_size);
		if (dev < 0) {
			ss_unblock(&m);
			return SS_PASS;	/* the real call checks and waits */
		}
		if (!offp) {
			o = lseek(in, 0, SEEK_CUR);
			if (o < 0) {
				ret = -1;
				goto out_blocked;
			}
			/* a range past LLONG_MAX: EINVAL where it is checked */
			if (early && len > (size_t)(LLONG_MAX - o)) {
				errno = EINVAL;
				ret = -1;
				goto out_blocked;
			}
		}
		/* what the pipe can take: its free slots, less our page offset */
		if (ioctl(out, FIONREAD, &bytes) < 0)
			bytes = 0;
		slots = (pipe_size - bytes) / pg;
		if (slots < 1)
			slots = 1;
		x = slots * pg - ((unsigned long)o & (pg - 1));
		if (x > len)
			x = len;
		if (x > t->cap - SS_CAP_MARK)
			x = t->cap - SS_CAP_MARK;
		if (x > SS_MAX_RW)
			x = SS_MAX_RW;
		if (ss_align(t, o)) {
			dev = ss_instance_blocked(t, pipe_size);
			if (dev < 0) {
				ss_unblock(&m);
				return SS_PASS;
			}
		}

		/* file -> instance */
		pos = o;
		r = sys_sendfile(dev, in, offp ? &pos : NULL, x);
		if (r < 0) {
			/* splice at or past s_maxbytes gives 0, sendfile EOVERFLOW */
			ret = mode == SS_SPLICE && errno == EOVERFLOW ? 0 : -1;
			goto out_blocked;
		}
		t->tail = (t->tail + r) & (pg - 1);
		if (r == 0) {		/* end of file */
			ret = 0;
			goto out_blocked;
		}

		ss_fake_window();
		/* instance -> pipe */
		s = sys_splice(dev, NULL, out, NULL, r, SPLICE_F_NONBLOCK);
		if (s == r) {
			ss_add(bytes, r);
			ret = r;
			goto out_blocked;
		}

		/*
		 * The pipe took less: give the rest back to the file and
		 * empty the instance.
		 */
		{
			int err = errno;
			ssize_t sent = s > 0 ? s : 0;
			uint64_t drained;

			if (!offp)
				lseek(in, o + sent, SEEK_SET);
			drained = ss_drain(t);
			ss_add(short_moves, 1);
			ss_add(reread, drained);
			/* (a read of the instance failed: never reuse it) */
			if (drained != (uint64_t)(r - sent))
				ss_discard(t);
			if (sent) {
				ss_add(bytes, sent);
				ret = sent;
				goto out_blocked;
			}
			errno = err;
			if (err != EAGAIN || nonblock) {
				ret = -1;
				goto out_blocked;
			}
		}
		ss_unblock(&m);
		/* another writer filled the pipe: wait again */
		if (ss_wait_room(out, in, mode == SS_SPLICE)) {
			ret = -1;
			goto out;
		}
	}
out_blocked:
	/* *off_in is written before a handler can look at it */
	ret = ss_finish(offp, o0, mode, ret);
	ss_unblock(&m);
	return ret;
out:
	return ss_finish(offp, o0, mode, ret);
}

/* ---- the interposed functions ---- */

static int ss_ready(void)
{
	pthread_once(&ss_once, ss_init);
	return !ss_disabled;
}

ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out,
	       size_t len, unsigned int flags)
{
	int saved = errno;
	ssize_t r;

	if (!ss_ready() || !len || off_out || (flags & ~SPLICE_F_ALL))
		goto pass;
	ss_add(calls, 1);
	r = ss_move(fd_in, off_in, fd_out, len, flags, SS_SPLICE);
	if (r != SS_PASS) {
		if (r >= 0)
			errno = saved;
		return r;
	}
	errno = saved;
	ss_add(passed, 1);
pass:
	if (real_splice)
		return real_splice(fd_in, off_in, fd_out, off_out, len, flags);
	return sys_splice(fd_in, off_in, fd_out, off_out, len, flags);
}

static ssize_t ss_sendfile(int out_fd, int in_fd, loff_t *offset,
			   size_t count, int *passed)
{
	int saved = errno;
	ssize_t r;

	*passed = 1;
	if (!ss_ready() || !count)
		return 0;
	ss_add(calls, 1);
	r = ss_move(in_fd, offset, out_fd, count, 0, SS_SENDFILE);
	if (r != SS_PASS) {
		*passed = 0;
		if (r >= 0)
			errno = saved;
		return r;
	}
	errno = saved;
	ss_add(passed, 1);
	return 0;
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	int passed;
	ssize_t r = ss_sendfile(out_fd, in_fd, (loff_t *)offset, count,
				&passed);

	if (!passed)
		return r;
	if (real_sendfile64)
		return real_sendfile64(out_fd, in_fd, offset, count);
	return sys_sendfile(out_fd, in_fd, (loff_t *)offset, count);
}

ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	int passed = 1;
	ssize_t r = 0;

	/* off_t is 64 bits wide on every 64-bit ABI; else pass through */
	if (sizeof(off_t) == sizeof(loff_t))
		r = ss_sendfile(out_fd, in_fd, (loff_t *)offset, count,
				&passed);
	if (!passed)
		return r;
	if (real_sendfile)
		return real_sendfile(out_fd, in_fd, offset, count);
	return sys_sendfile(out_fd, in_fd, (loff_t *)offset, count);
}
