// SPDX-License-Identifier: GPL-2.0
/*
 * stress_test - many instances, each used by several threads at once,
 * carry self-checking streams through every ingest and output path while
 * other threads change the source files; every byte is verified.
 *
 * Per instance: W writer threads (NEW_FD write-only peers), one reader
 * thread (a NEW_FD read-only peer), one control thread.  Global: two
 * mutator threads.
 *
 * Writers produce records (reliability.h: header with writer, sequence
 * number and checksums, payload a function of those) in batches: each
 * batch is pwrite()n to the writer's source file in the test directory,
 * then sometimes written back and dropped from the page cache (clean,
 * unmapped pages: the stealing path; on XFS large folios, which whole
 * 64 KiB-aligned records can take whole), then each record goes into the
 * instance by one of:
 *   write(2) from memory;  write(2) from a MAP_SHARED mapping of the file;
 *   splice(2) file -> pipe -> instance;  sendfile(2) file -> instance;
 *   vmsplice(2) memory -> pipe -> instance (user-page buffers);
 *   write(2) memory -> pipe -> instance (anonymous pipe buffers).
 * Records of at most PIPE_BUF bytes written with write(2) are atomic and
 * go in concurrently (a read lock); any other record goes in under the
 * instance's write lock, so records never interleave.
 *
 * As soon as the call that put a record in returned, its bytes in the
 * source file belong to the mutators, which, while the record may still
 * sit in the instance (stolen or copied) and other records of the same
 * pages are being spliced: pwrite() other bytes over them, punch holes
 * in their page-aligned interior, store through a MAP_SHARED mapping,
 * write back and drop the range from the page cache; once a file has
 * had all its records taken in, they truncate it (to a random size, then
 * to 0).  None of that may show in the stream: punching and truncating
 * zero partial large folios in place, pwrite and stores change cached
 * pages in place - the kernel's own pipes let all of that through.
 *
 * Readers take the stream out with read(2) of random sizes and with
 * splice(2) into a pipe, sleeping at random so that instances fill up
 * and writers block.  Control threads meanwhile query and change the
 * instance: GET_STATS (checking bytes_buffered <= capacity and
 * in - out == buffered), FIONREAD, poll, fdinfo, SET_CAPACITY,
 * SET_POLICY, NEW_FD.
 *
 * At the end every writer's records were read exactly once, in order,
 * each byte as written, then EOF.
 *
 * Settings: STABLEPIPE_STRESS_SECONDS (default 5, 40 on the debug kernel:
 * 2 minutes over the three filesystems of a VM run), _INSTANCES
 * (default 4), _WRITERS (per instance, default 3); or the options
 * -d SECONDS -i INSTANCES -w WRITERS.
 */
#define _GNU_SOURCE
#include <sys/sendfile.h>
#include <sys/uio.h>
#include "sp_common.h"
#include "reliability.h"

#define MAX_PAYLOAD	(256 * SP_KIB)
#define FILE_MAX	(3 * SP_MIB)
#define PIPE_SIZE	(512 * SP_KIB)

static unsigned int seconds, ninst, nwriters;
static volatile int stop_writers, stop_control;

/* ---- source files and the mutators ---- */

struct sfile {
	int fd;
	int refs;
	bool retired;
	pthread_rwlock_t lock;	/* truncation vs. the other mutations */
};

static struct sfile *sfile_new(void)
{
	struct sfile *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];

	if (!f)
		return NULL;
	snprintf(path, sizeof(path), "%s/stablepipe-stress-XXXXXX", sp_testdir());
	f->fd = mkstemp(path);
	if (f->fd < 0) {
		ktap_print_msg("mkstemp %s: %s", path, strerror(errno));
		free(f);
		return NULL;
	}
	unlink(path);
	f->refs = 1;
	pthread_rwlock_init(&f->lock, NULL);
	return f;
}

static void sfile_get(struct sfile *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

static void sfile_put(struct sfile *f)
{
	if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL))
		return;
	close(f->fd);
	pthread_rwlock_destroy(&f->lock);
	free(f);
}

struct mutation {
	struct sfile *f;
	off_t off;
	size_t len;
	bool retire;
};

#define QLEN	8192

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mutation q[QLEN];
	unsigned int head, tail;
	bool done;
	uint64_t counts[6], dropped;
} mq = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void mq_push(struct sfile *f, off_t off, size_t len, bool retire)
{
	pthread_mutex_lock(&mq.lock);
	if (mq.head - mq.tail < QLEN) {
		sfile_get(f);
		mq.q[mq.head++ % QLEN] = (struct mutation){ f, off, len, retire };
		pthread_cond_signal(&mq.cond);
	} else {
		mq.dropped++;
	}
	pthread_mutex_unlock(&mq.lock);
}

static void mutate(struct mutation *m, uint64_t *rnd)
{
	struct sfile *f = m->f;
	unsigned char junk[4096];
	off_t a, b, ps;
	size_t done, n;
	unsigned char *map;
	int kind;

	if (m->retire) {
		pthread_rwlock_wrlock(&f->lock);
		f->retired = true;
		if (ftruncate(f->fd, rl_below(rnd, FILE_MAX)) == 0)
			(void)!ftruncate(f->fd, 0);
		pthread_rwlock_unlock(&f->lock);
		__atomic_fetch_add(&mq.counts[5], 1, __ATOMIC_RELAXED);
		return;
	}
	pthread_rwlock_rdlock(&f->lock);
	if (f->retired)
		goto out;
	kind = rl_below(rnd, 5);
	switch (kind) {
	case 0:	/* pwrite other bytes over it */
		memset(junk, 0xee, sizeof(junk));
		for (done = 0; done < m->len; done += n) {
			n = m->len - done < sizeof(junk) ? m->len - done : sizeof(junk);
			if (pwrite(f->fd, junk, n, m->off + done) != (ssize_t)n)
				break;
		}
		break;
	case 1:	/* punch its page-aligned interior (never a neighbour's byte) */
		a = (m->off + SP_PAGE - 1) & ~(off_t)(SP_PAGE - 1);
		b = (m->off + m->len) & ~(off_t)(SP_PAGE - 1);
		if (b > a)
			fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  a, b - a);
		break;
	case 2:	/* store through a shared mapping */
		ps = m->off & ~(off_t)(SP_PAGE - 1);
		n = m->off + m->len - ps;
		map = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, ps);
		if (map != MAP_FAILED) {
			memset(map + (m->off - ps), 0x00, m->len);
			munmap(map, n);
		}
		break;
	case 3:	/* write back and drop it from the page cache */
		sync_file_range(f->fd, m->off, m->len, SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER);
		posix_fadvise(f->fd, m->off, m->len, POSIX_FADV_DONTNEED);
		break;
	default:
		break;
	}
	__atomic_fetch_add(&mq.counts[kind], 1, __ATOMIC_RELAXED);
out:
	pthread_rwlock_unlock(&f->lock);
}

static void *mutator(void *arg)
{
	uint64_t rnd = 0x6d75 + (uintptr_t)arg;
	struct mutation m;

	for (;;) {
		pthread_mutex_lock(&mq.lock);
		while (mq.head == mq.tail && !mq.done)
			pthread_cond_wait(&mq.cond, &mq.lock);
		if (mq.head == mq.tail) {
			pthread_mutex_unlock(&mq.lock);
			return NULL;
		}
		m = mq.q[mq.tail++ % QLEN];
		pthread_mutex_unlock(&mq.lock);
		mutate(&m, &rnd);
		sfile_put(m.f);
		RL_ADD(ops, 1);
	}
}

/* ---- instances ---- */

enum path { P_WRITE, P_WRITE_MAP, P_SPLICE_FILE, P_SENDFILE, P_VMSPLICE,
	    P_PIPE_WRITE, P_NR };
static const char *const path_names[] = {
	"write", "write from mmap", "splice from file", "sendfile",
	"vmsplice+splice", "pipe write+splice",
};

struct inst {
	unsigned int id;
	int owner;		/* O_WRONLY: control's ioctls */
	int rfd;
	pthread_rwlock_t order;	/* rd: atomic writes; wr: everything else */
	uint64_t sent[RL_MAX_WRITERS];
	struct rl_parser parser;
	uint64_t reads, splices, ctl_ops;
	int failed;
	char why[320];
};

static struct inst *insts;

#define INST_FAIL(in, ...)						\
	do {								\
		if (!(in)->failed)					\
			snprintf((in)->why, sizeof((in)->why), __VA_ARGS__); \
		(in)->failed = 1;					\
	} while (0)

struct writer {
	struct inst *in;
	unsigned int id;
	int fd;			/* O_WRONLY NEW_FD peer */
	int pp[2];
	uint64_t rnd, seq;
	struct sfile *f;
	unsigned char *map;	/* the file, PROT_READ, FILE_MAX */
	off_t pos;
	unsigned char *buf;
	uint64_t by_path[P_NR], bytes;
};

static int writer_new_file(struct writer *w)
{
	if (w->f) {
		munmap(w->map, FILE_MAX);
		mq_push(w->f, 0, 0, true);	/* truncate it when its turn comes */
		sfile_put(w->f);
	}
	w->f = sfile_new();
	if (!w->f)
		return -1;
	w->map = mmap(NULL, FILE_MAX, PROT_READ, MAP_SHARED, w->f->fd, 0);
	if (w->map == MAP_FAILED)
		return -1;
	w->pos = 0;
	return 0;
}

/* Move exactly @len bytes from the pipe into the instance. */
static int drain_pipe(struct writer *w, size_t len)
{
	ssize_t n;

	while (len) {
		n = splice(w->pp[0], NULL, w->fd, NULL, len, 0);
		if (n <= 0)
			return -1;
		len -= n;
	}
	return 0;
}

/* Put record @r (at @off of the file, @total bytes, copy in w->buf). */
static int ingest(struct writer *w, enum path p, off_t off, size_t total)
{
	bool atomic = (p == P_WRITE || p == P_WRITE_MAP) && total <= PIPE_BUF;
	struct iovec iov;
	size_t done = 0;
	loff_t lo;
	off_t o;
	ssize_t n;
	int ret = 0;

	if (atomic)
		pthread_rwlock_rdlock(&w->in->order);
	else
		pthread_rwlock_wrlock(&w->in->order);
	switch (p) {
	case P_WRITE:
	case P_WRITE_MAP:
		n = write(w->fd, p == P_WRITE ? w->buf : w->map + off, total);
		if (n != (ssize_t)total) {
			if (atomic || n <= 0) {
				INST_FAIL(w->in, "writer %u: %s of %zu bytes: %zd (%s)",
					  w->id, path_names[p], total, n,
					  strerror(errno));
				ret = -1;
				break;
			}
			/* a blocking write of more than PIPE_BUF: all of it */
			INST_FAIL(w->in, "writer %u: blocking %s of %zu bytes returned %zd",
				  w->id, path_names[p], total, n);
			ret = -1;
		}
		break;
	case P_SPLICE_FILE:
		lo = off;
		while (done < total) {
			n = splice(w->f->fd, &lo, w->pp[1], NULL, total - done, 0);
			if (n <= 0 || drain_pipe(w, n)) {
				INST_FAIL(w->in, "writer %u: splice file -> pipe -> instance: %s",
					  w->id, strerror(errno));
				ret = -1;
				break;
			}
			done += n;
		}
		break;
	case P_SENDFILE:
		o = off;
		while (done < total) {
			n = sendfile(w->fd, w->f->fd, &o, total - done);
			if (n <= 0) {
				INST_FAIL(w->in, "writer %u: sendfile: %zd (%s)",
					  w->id, n, strerror(errno));
				ret = -1;
				break;
			}
			done += n;
		}
		break;
	case P_VMSPLICE:
	case P_PIPE_WRITE:
		while (done < total) {
			if (p == P_VMSPLICE) {
				iov.iov_base = w->buf + done;
				iov.iov_len = total - done;
				n = vmsplice(w->pp[1], &iov, 1, 0);
			} else {
				n = write(w->pp[1], w->buf + done, total - done);
			}
			if (n <= 0 || drain_pipe(w, n)) {
				INST_FAIL(w->in, "writer %u: %s: %s", w->id,
					  path_names[p], strerror(errno));
				ret = -1;
				break;
			}
			done += n;
		}
		break;
	default:
		break;
	}
	pthread_rwlock_unlock(&w->in->order);
	return ret;
}

static size_t pick_len(uint64_t *rnd, bool *aligned)
{
	unsigned int c = rl_below(rnd, 20);

	*aligned = false;
	if (c < 12)	/* small: most of them atomic writes */
		return rl_below(rnd, PIPE_BUF - RL_HDR + 1);
	if (c < 18)
		return PIPE_BUF + rl_below(rnd, 60 * SP_KIB);
	if (c < 19)
		return 64 * SP_KIB + rl_below(rnd, MAX_PAYLOAD - 64 * SP_KIB);
	*aligned = true;	/* a whole, aligned 64/128/256 KiB */
	return (64 * SP_KIB << rl_below(rnd, 3)) - RL_HDR;
}

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct { off_t off; size_t total; uint64_t seq; } batch[16];
	unsigned int nb, i;
	off_t start;
	size_t len;
	bool aligned;

	while (!stop_writers && !w->in->failed) {
		if (!w->f || w->pos > (off_t)(FILE_MAX - 16 * (MAX_PAYLOAD + RL_HDR) / 4)) {
			if (writer_new_file(w)) {
				INST_FAIL(w->in, "writer %u: new source file: %s",
					  w->id, strerror(errno));
				break;
			}
		}
		/* A batch of records into the file. */
		start = w->pos;
		for (nb = 0; nb < 1 + rl_below(&w->rnd, 16); nb++) {
			len = pick_len(&w->rnd, &aligned);
			if (aligned)
				w->pos = (w->pos + len + RL_HDR - 1) /
					 (len + RL_HDR) * (len + RL_HDR);
			if (w->pos + RL_HDR + len > FILE_MAX)
				break;
			batch[nb].off = w->pos;
			batch[nb].total = RL_HDR + len;
			batch[nb].seq = w->seq + nb;
			rl_make_record(w->buf, w->in->id, w->id, batch[nb].seq, len);
			if (pwrite(w->f->fd, w->buf, RL_HDR + len, w->pos) !=
			    (ssize_t)(RL_HDR + len)) {
				INST_FAIL(w->in, "writer %u: pwrite of the source: %s",
					  w->id, strerror(errno));
				return NULL;
			}
			w->pos += RL_HDR + len;
		}
		if (!nb) {
			w->pos = FILE_MAX;	/* full: next file */
			continue;
		}
		if (rl_below(&w->rnd, 2)) {	/* clean, cold: stealable */
			fdatasync(w->f->fd);
			posix_fadvise(w->f->fd, start, w->pos - start,
				      POSIX_FADV_DONTNEED);
		}
		for (i = 0; i < nb; i++) {
			enum path p = rl_below(&w->rnd, P_NR);

			if (p == P_WRITE || p == P_VMSPLICE || p == P_PIPE_WRITE)
				rl_make_record(w->buf, w->in->id, w->id,
					       batch[i].seq,
					       batch[i].total - RL_HDR);
			if (ingest(w, p, batch[i].off, batch[i].total))
				return NULL;
			w->seq++;
			w->in->sent[w->id] = w->seq;
			w->by_path[p]++;
			w->bytes += batch[i].total;
			RL_ADD(ops, 1);
			/* Its source bytes are free game now. */
			mq_push(w->f, batch[i].off, batch[i].total, false);
		}
	}
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct inst *in = arg;
	unsigned char *buf = sp_malloc(PIPE_SIZE);
	uint64_t rnd = 0x7264 + in->id;
	int pp[2];
	size_t len, got;
	ssize_t n, m;

	if (pipe2(pp, O_CLOEXEC) || fcntl(pp[1], F_SETPIPE_SZ, PIPE_SIZE) < 0) {
		INST_FAIL(in, "reader: pipe: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		len = 1 + rl_below(&rnd, rl_below(&rnd, 2) ? 8192 : PIPE_SIZE);
		if (rl_below(&rnd, 2)) {
			n = read(in->rfd, buf, len);
			in->reads++;
		} else {
			n = splice(in->rfd, NULL, pp[1], NULL, len, 0);
			in->splices++;
			for (got = 0; n > 0 && got < (size_t)n; got += m) {
				m = read(pp[0], buf + got, n - got);
				if (m <= 0) {
					INST_FAIL(in, "reader: read of the pipe: %s",
						  strerror(errno));
					goto out;
				}
			}
		}
		if (n < 0) {
			INST_FAIL(in, "reader: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (rl_parser_feed(&in->parser, buf, n)) {
			INST_FAIL(in, "reader: %s", in->parser.error);
			break;
		}
		RL_ADD(ops, 1);
		if (rl_below(&rnd, 16) == 0)
			sp_msleep(rl_below(&rnd, 20));
	}
out:
	/* keep the writers from blocking forever if we gave up */
	close(in->rfd);
	in->rfd = -1;
	close(pp[0]);
	close(pp[1]);
	free(buf);
	return NULL;
}

static void *control_thread(void *arg)
{
	static const uint64_t caps[] = { 64 * SP_KIB, 256 * SP_KIB, SP_MIB,
					 4 * SP_MIB };
	struct inst *in = arg;
	uint64_t rnd = 0x6374 + in->id, in_b, out_b;
	struct stablepipe_stats st;
	/* owner is write-only: NEW_FD mints within it */
	struct stablepipe_fd req = { .flags = O_WRONLY | O_CLOEXEC };
	char val[64];
	int r;

	while (!stop_control && !in->failed) {
		switch (rl_below(&rnd, 7)) {
		case 0:
			if (sp_get_stats(in->owner, &st)) {
				INST_FAIL(in, "control: GET_STATS: %s", strerror(errno));
				break;
			}
			in_b = st.bytes_in_write + st.bytes_in_splice +
			       st.bytes_in_sendfile;
			out_b = st.bytes_out_read + st.bytes_out_splice;
			if (st.bytes_buffered > st.capacity ||
			    in_b - out_b != st.bytes_buffered ||
			    st.pages_copied != sp_copied_sum(&st))
				INST_FAIL(in, "control: inconsistent stats: buffered %llu capacity %llu in %" PRIu64 " out %" PRIu64 " copied %llu (sum %" PRIu64 ")",
					  (unsigned long long)st.bytes_buffered,
					  (unsigned long long)st.capacity, in_b,
					  out_b, (unsigned long long)st.pages_copied,
					  sp_copied_sum(&st));
			break;
		case 1:
			if (sp_fionread(in->owner) < 0)
				INST_FAIL(in, "control: FIONREAD: %s", strerror(errno));
			break;
		case 2:
			sp_poll1(in->owner, POLLOUT, 0);
			break;
		case 3:
			sp_fdinfo_str(in->owner, "bytes_buffered", val, sizeof(val));
			break;
		case 4:
			r = sp_set_capacity(in->owner, caps[rl_below(&rnd, 4)]);
			if (r && errno != EBUSY)
				INST_FAIL(in, "control: SET_CAPACITY: %s", strerror(errno));
			break;
		case 5:
			if (sp_set_policy(in->owner, rl_below(&rnd, 2)))
				INST_FAIL(in, "control: SET_POLICY: %s", strerror(errno));
			break;
		default:
			r = ioctl(in->owner, STABLEPIPE_IOC_NEW_FD, &req);
			if (r < 0)
				INST_FAIL(in, "control: NEW_FD: %s", strerror(errno));
			else
				close(r);
			break;
		}
		in->ctl_ops++;
		sp_msleep(1 + rl_below(&rnd, 3));
	}
	return NULL;
}

static int t_stress(const void *arg)
{
	unsigned int i, j, nw = ninst * nwriters;
	struct writer *ws = calloc(nw, sizeof(*ws));
	pthread_t *tw = calloc(nw, sizeof(*tw));
	pthread_t *tr = calloc(ninst, sizeof(*tr));
	pthread_t *tc = calloc(ninst, sizeof(*tc));
	pthread_t tm[2];
	struct stablepipe_stats st, sum = { 0 };
	struct stablepipe_fd req;
	uint64_t records = 0, bytes = 0, by_path[P_NR] = { 0 };
	double start = sp_now();
	pthread_rwlockattr_t rwa;
	int failed = 0;

	(void)arg;
	signal(SIGPIPE, SIG_IGN);	/* a reader that gives up: EPIPE */
	insts = calloc(ninst, sizeof(*insts));
	CHECK(ws && tw && tr && tc && insts, "out of memory");
	for (i = 0; i < ninst; i++) {
		struct inst *in = &insts[i];

		in->id = i;
		/* writers first, or atomic writes starve the others */
		pthread_rwlockattr_init(&rwa);
		pthread_rwlockattr_setkind_np(&rwa,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&in->order, &rwa);
		rl_parser_init(&in->parser, i, nwriters, MAX_PAYLOAD);
		{
			int both[2];

			CHECK(stablepipe2(both, O_CLOEXEC) == 0,
			      "stablepipe2: %s", strerror(errno));
			in->rfd = both[0];
			in->owner = both[1];
		}
		for (j = 0; j < nwriters; j++) {
			struct writer *w = &ws[i * nwriters + j];

			w->in = in;
			w->id = j;
			w->rnd = 0x5354 + i * 100 + j;
			w->buf = sp_malloc(RL_HDR + MAX_PAYLOAD);
			req = (struct stablepipe_fd){ .flags = O_WRONLY | O_CLOEXEC };
			CHECK_OK(w->fd, ioctl(in->owner, STABLEPIPE_IOC_NEW_FD, &req));
			CHECK(pipe2(w->pp, O_CLOEXEC) == 0, "pipe: %s",
			      strerror(errno));
			CHECK(fcntl(w->pp[1], F_SETPIPE_SZ, PIPE_SIZE) >= 0,
			      "F_SETPIPE_SZ: %s", strerror(errno));
		}
	}
	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&tm[i], NULL, mutator, (void *)(uintptr_t)i) == 0,
		      "pthread_create");
	for (i = 0; i < ninst; i++) {
		CHECK(pthread_create(&tr[i], NULL, reader_thread, &insts[i]) == 0,
		      "pthread_create");
		CHECK(pthread_create(&tc[i], NULL, control_thread, &insts[i]) == 0,
		      "pthread_create");
	}
	for (i = 0; i < nw; i++)
		CHECK(pthread_create(&tw[i], NULL, writer_thread, &ws[i]) == 0,
		      "pthread_create");

	while (sp_now() < start + seconds) {
		for (i = 0; i < ninst; i++)
			failed |= insts[i].failed;
		if (failed)
			break;
		sp_msleep(100);
	}
	stop_writers = 1;
	for (i = 0; i < nw; i++) {
		pthread_join(tw[i], NULL);
		close(ws[i].fd);
		if (ws[i].f) {
			munmap(ws[i].map, FILE_MAX);
			mq_push(ws[i].f, 0, 0, true);
			sfile_put(ws[i].f);
		}
		for (j = 0; j < P_NR; j++)
			by_path[j] += ws[i].by_path[j];
	}
	stop_control = 1;
	for (i = 0; i < ninst; i++) {
		pthread_join(tc[i], NULL);
		if (!sp_get_stats(insts[i].owner, &st)) {
			sum.pages_stolen += st.pages_stolen;
			sum.pages_copied += st.pages_copied;
			sum.copied_user += st.copied_user;
			sum.copied_policy += st.copied_policy;
			sum.copied_mapped += st.copied_mapped;
			sum.copied_dirty += st.copied_dirty;
			sum.copied_writeback += st.copied_writeback;
			sum.copied_large_folio += st.copied_large_folio;
			sum.copied_busy += st.copied_busy;
			sum.copied_not_stealable += st.copied_not_stealable;
			sum.copied_partial += st.copied_partial;
			sum.copied_small += st.copied_small;
			sum.copied_hot += st.copied_hot;
			sum.bytes_in_write += st.bytes_in_write;
			sum.bytes_in_splice += st.bytes_in_splice;
			sum.bytes_in_sendfile += st.bytes_in_sendfile;
			sum.bytes_out_read += st.bytes_out_read;
			sum.bytes_out_splice += st.bytes_out_splice;
		}
		close(insts[i].owner);	/* the last writer: EOF */
	}
	for (i = 0; i < ninst; i++) {
		struct inst *in = &insts[i];

		pthread_join(tr[i], NULL);
		if (!in->failed && rl_parser_finish(&in->parser, in->sent))
			INST_FAIL(in, "%s", in->parser.error);
		if (in->failed) {
			ktap_print_msg("instance %u: %s", i, in->why);
			failed = 1;
		}
		records += in->parser.records;
		bytes += in->parser.bytes;
		rl_parser_free(&in->parser);
	}
	pthread_mutex_lock(&mq.lock);
	mq.done = true;
	pthread_cond_broadcast(&mq.cond);
	pthread_mutex_unlock(&mq.lock);
	for (i = 0; i < 2; i++)
		pthread_join(tm[i], NULL);

	RL_ADD(bytes, bytes);
	ktap_print_msg("%u instances x %u writers, %.0f s: %" PRIu64 " records, %" PRIu64 " bytes verified",
		       ninst, nwriters, sp_now() - start, records, bytes);
	ktap_print_msg("records by path: write %" PRIu64 ", write from mmap %" PRIu64 ", splice from file %" PRIu64
		       ", sendfile %" PRIu64 ", vmsplice %" PRIu64 ", pipe write %" PRIu64,
		       by_path[0], by_path[1], by_path[2], by_path[3],
		       by_path[4], by_path[5]);
	ktap_print_msg("mutations: pwrite %" PRIu64 ", punch %" PRIu64 ", mmap store %" PRIu64
		       ", writeback+drop %" PRIu64 ", none %" PRIu64 ", truncated files %" PRIu64 " (dropped: %" PRIu64 ")",
		       mq.counts[0], mq.counts[1], mq.counts[2], mq.counts[3],
		       mq.counts[4], mq.counts[5], mq.dropped);
	sp_print_stats("all instances", &sum);
	CHECK(!failed, "a stream was wrong or a call failed (see above)");
	CHECK(records > 0, "no record went through");
	return KSFT_PASS;
}

static struct ktap_case cases[] = {
	{ "stress: instances x writers, every path, sources changing", t_stress, NULL, 0 },
};

int main(int argc, char **argv)
{
	int opt;

	ktap_print_header();
	sp_require_device();
	rl_init();
	seconds = rl_setting("STABLEPIPE_STRESS_SECONDS", 5, 40);
	ninst = rl_setting("STABLEPIPE_STRESS_INSTANCES", 4, 4);
	nwriters = rl_setting("STABLEPIPE_STRESS_WRITERS", 3, 3);
	while ((opt = getopt(argc, argv, "d:i:w:")) != -1) {
		switch (opt) {
		case 'd':
			seconds = strtoul(optarg, NULL, 0);
			break;
		case 'i':
			ninst = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			nwriters = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-d seconds] [-i instances] [-w writers]\n",
				argv[0]);
			return 2;
		}
	}
	if (!ninst)
		ninst = 1;
	if (!nwriters || nwriters > RL_MAX_WRITERS)
		nwriters = nwriters ? RL_MAX_WRITERS : 1;
	snprintf(cases[0].name, sizeof(cases[0].name),
		 "stress: %u instances x %u writers for %u s, every path, sources changing",
		 ninst, nwriters, seconds);
	rl_run_cases("stress_test", cases, 1, seconds + 300);
}
