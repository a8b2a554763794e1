// SPDX-License-Identifier: GPL-2.0
/*
 * diskbuffer - an unbounded pipe buffer backed by an unlinked temporary file
 *
 *	tar -c /home | diskbuffer /var/tmp | xz -9e | upload
 *
 * Data flows stdin -> temporary file -> /dev/stablepipe -> stdout.  The
 * temporary file is punched out behind the data as soon as the device owns
 * it, so disk space is released as the consumer makes progress, and all
 * of it when the process dies (the file never has a name).
 *
 * The device is what makes punching safe.  splice(2) from the file into a
 * pipe would leave references to page-cache folios in the pipe, and
 * punching the file behind them can zero bytes that the consumer has not
 * read yet: the linux-fsdevel report of June 2023 about the original
 * diskbuffer.  Bytes that splice(2) or sendfile(2) has moved into
 * /dev/stablepipe are the device's own when the call returns.  Without
 * the device, the bytes go through user memory (pread + write).  The
 * temporary file is spliced only into a private pipe of 1 or 2 MiB that
 * nobody else can reach, and from there into the device, so that whole
 * large folios reach the device and can be stolen (sendfile's own pipe
 * has 16 slots); the file is punched only below what the device holds,
 * never below what that pipe holds.
 *
 * One thread, one ppoll(2) loop.  Every step moves at most CHUNK bytes
 * (a private pipe's worth into the device) and never blocks on a pipe: splice(2) gets SPLICE_F_NONBLOCK, the
 * device's files are O_NONBLOCK, and a pipe on stdout that we write(2) to
 * is reopened through /proc as a description of our own, made non-blocking
 * without touching the one we share with the shell.  The loop sleeps only
 * in ppoll: without a timeout when it waits for a descriptor; for at most
 * a second for --progress, or when nothing but free disk space can let it
 * go on (the disk is full, or --defer holds a full buffer back).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "stablepipe2.h"

#ifndef VERSION
#define VERSION "0.1"
#endif

#define CHUNK		((size_t)1 << 20)	/* most bytes one step moves */
#define MIN_LIMIT	((off_t)64 << 10)	/* buffer at least this much */
#define RECHECK_EVERY	((off_t)64 << 20)	/* statvfs again after this */
#define PIPE_WANT	(1 << 20)		/* F_SETPIPE_SZ on our pipes */
#define SENDFILE_MAX	((size_t)0x7ffff000)	/* MAX_RW_COUNT */
#define PRIV_PIPE_MAX	(2 << 20)		/* the private pipe tmp -> device */
#define PRIV_PIPE_MIN	(1 << 20)		/* ... or at least this */
#define DEV_WANT	((__u64)2 << 20)	/* device capacity it asks for */

static const char *prog = "diskbuffer";

struct buf {
	char *data;
	size_t size;
	size_t head;		/* first byte still to go */
	size_t tail;		/* one past the last */
};

static size_t buf_len(const struct buf *b)
{
	return b->tail - b->head;
}

enum out_kind { OUT_PIPE, OUT_SOCKET, OUT_OTHER };

struct db {
	/* options */
	bool defer, keep, stats, progress, no_device;
	const char *where;	/* TMPDIR or the --keep file, for messages */
	bool where_env;		/* where is $TMPDIR's */

	/*
	 * the temporary file: [punched, sent) is on disk, [sent, in) to go;
	 * input byte i is at offset i - base (see reuse_tmp)
	 */
	int tmp;
	off_t blksz;		/* punch in multiples of this */
	bool punch;
	off_t base;		/* input bytes before the file's offset 0 */
	off_t in;		/* bytes written to tmp: all the input so far */
	off_t sent;		/* bytes taken out of tmp */
	off_t punched;		/* tmp is a hole below this */
	off_t peak;		/* most of in - sent ever */

	/* how much we may hold: half the free space (see update_limit) */
	off_t limit;
	off_t next_recheck;	/* in-offset of the next statvfs */
	off_t full_checked_at;	/* in-offset of the last statvfs when full */
	bool nospace;		/* tmp gave ENOSPC/EDQUOT/EFBIG: wait */
	bool efbig;		/* ... EFBIG: empty tmp once all is sent */
	off_t nospace_punched;	/* punched when that happened */
	bool warned_nospace, warned_full, warned_punch, warned_statvfs;

	/* stdin */
	bool in_pipe;		/* splice into tmp; else read + pwrite */
	bool in_eof;
	int in_err;		/* errno of a failed input step, or 0 */
	struct buf ibuf;	/* read from stdin, not yet in tmp */

	/* /dev/stablepipe */
	bool dev;
	int drd, dwr;		/* read and write ends; -1 once closed */
	bool dev_wait;		/* sendfile said EAGAIN: wait for POLLOUT */
	bool dev_eof;
	off_t dev_bytes;	/* bytes in the instance, by our count */
	off_t dev_cap;
	off_t dev_in;		/* bytes ever sent into it */
	int prd, pwr;		/* private pipe tmp -> device; -1 without */
	off_t pp_size;		/* its size, a power of two */
	off_t piped;		/* tmp's [sent, sent + piped) is in it */
	const char *nodev_why;	/* why the device is not used */

	/* stdout */
	enum out_kind out_kind;
	bool out_splice;	/* device -> stdout by splice(2) */
	int out_fd;		/* for write(2): our own description if we can */
	bool out_small;		/* blocking pipe: PIPE_BUF after each POLLOUT */
	bool out_wait;		/* wait for POLLOUT on stdout */
	bool out_gone;		/* the reader left with all it was sent */
	off_t out;		/* bytes written to stdout */
	struct buf obuf;	/* taken from tmp or the device, not yet out */

	/* status line */
	double t0, last_t, next_tick;
	off_t last_in, last_out;
	bool tty, line_shown;
	int line_len;
};

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* End a status line that is on the terminal before printing anything. */
static void end_line(struct db *db)
{
	if (db && db->line_shown) {
		fputc('\n', stderr);
		db->line_shown = false;
		db->line_len = 0;
	}
}

static void vmsg(struct db *db, const char *fmt, va_list ap)
{
	end_line(db);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 2, 3)))
static void msg(struct db *db, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(db, fmt, ap);
	va_end(ap);
}

static void fmt_size(char *s, size_t size, double v)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = -1;

	if (v < 1024) {
		snprintf(s, size, "%.0f B", v);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(s, size, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s",
		 v, unit[u]);
}

static void show_status(struct db *db, bool final)
{
	char in[32], out[32], held[32], rin[32], rout[32], line[256];
	double t = now(), dt = t - db->last_t, el = t - db->t0;
	unsigned long s = (unsigned long)el;
	int len;

	if (final || dt < 0.001) {	/* averages at the end */
		dt = el > 0.001 ? el : 0.001;
		db->last_in = db->last_out = 0;
	}
	fmt_size(in, sizeof(in), db->in);
	fmt_size(out, sizeof(out), db->out);
	fmt_size(held, sizeof(held), db->in - db->out);
	fmt_size(rin, sizeof(rin), (db->in - db->last_in) / dt);
	fmt_size(rout, sizeof(rout), (db->out - db->last_out) / dt);
	len = snprintf(line, sizeof(line),
		       "%lu:%02lu:%02lu in %s [%s/s] out %s [%s/s] buffered %s",
		       s / 3600, s / 60 % 60, s % 60, in, rin, out, rout, held);
	db->last_t = t;
	db->last_in = db->in;
	db->last_out = db->out;

	if (db->progress && db->tty) {
		fprintf(stderr, "\r%s: %s%*s", prog, line,
			db->line_len > len ? db->line_len - len : 0, "");
		db->line_shown = true;
		if (len > db->line_len)	/* what the terminal shows now */
			db->line_len = len;
		if (final)
			end_line(db);
	} else {
		fprintf(stderr, "%s: %s\n", prog, line);
	}
	if (db->progress)
		db->next_tick = t + 1.0;
}

static void print_stats(struct db *db)
{
	struct stablepipe_stats st = { .size = sizeof(st) };
	static const struct { const char *name; size_t off; } reason[] = {
#define R(f) { #f, offsetof(struct stablepipe_stats, f) }
		R(copied_user), R(copied_policy), R(copied_mapped),
		R(copied_pinned), R(copied_dirty), R(copied_writeback),
		R(copied_large_folio), R(copied_busy),
		R(copied_not_stealable), R(copied_partial), R(copied_small),
		R(copied_hot),
#undef R
	};

	end_line(db);
	fprintf(stderr, "%s: in=%jd out=%jd peak_buffered=%jd punched=%jd time=%.3f\n",
		prog, (intmax_t)db->in, (intmax_t)db->out, (intmax_t)db->peak,
		(intmax_t)db->punched, now() - db->t0);
	if (!db->dev || db->drd < 0) {
		fprintf(stderr, "%s: device=none\n", prog);
		return;
	}
	if (ioctl(db->drd, STABLEPIPE_IOC_GET_STATS, &st) < 0) {
		fprintf(stderr, "%s: device=stablepipe stats_error=%s\n",
			prog, strerror(errno));
		return;
	}
	fprintf(stderr, "%s: device=stablepipe pages_stolen=%llu pages_copied=%llu",
		prog, (unsigned long long)st.pages_stolen,
		(unsigned long long)st.pages_copied);
	for (size_t i = 0; i < sizeof(reason) / sizeof(reason[0]); i++) {
		__u64 v;

		if (reason[i].off + sizeof(v) > st.size)
			break;
		memcpy(&v, (char *)&st + reason[i].off, sizeof(v));
		if (v)
			fprintf(stderr, " %s=%llu", reason[i].name,
				(unsigned long long)v);
	}
	fputc('\n', stderr);
}

/* Every exit after setup comes through here. */
static _Noreturn void finish(struct db *db, int status)
{
	if (db->progress)
		show_status(db, true);
	if (db->stats)
		print_stats(db);
	exit(status);
}

__attribute__((format(printf, 3, 4)))
static _Noreturn void fatal(struct db *db, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(db, fmt, ap);
	va_end(ap);
	finish(db, status);
}

static bool in_done(const struct db *db)
{
	return db->in_eof && !buf_len(&db->ibuf);
}

/* The offset in tmp of input byte @pos. */
static off_t tmp_off(const struct db *db, off_t pos)
{
	return pos - db->base;
}

/*
 * Bytes in tmp not yet taken out, at most @max: never a cast of in - sent
 * to size_t, which is 0 at every multiple of 4 GiB where size_t has 32 bits.
 */
static size_t unsent(const struct db *db, size_t max)
{
	off_t n = db->in - db->sent;

	return n < (off_t)max ? (size_t)n : max;
}

/*
 * What the limit is held against: the bytes not yet sent, or where holes
 * are not punched (and the file is not kept) the whole file.
 */
static off_t held_bytes(const struct db *db)
{
	if (db->punch || db->keep)
		return db->in - db->sent;
	return db->in - db->base;
}

static off_t room_in(const struct db *db)
{
	return db->limit - held_bytes(db) - (off_t)buf_len(&db->ibuf);
}

/*
 * Hold at most half of the space that would be free if we held nothing:
 * half of (free + what we hold).  What we hold is the file's blocks, or
 * with --keep only the part not yet sent (the rest stays anyway).  Blocks
 * beyond the data (XFS's speculative preallocation) count against the
 * limit too.  If statvfs fails, the last limit stays, but at least
 * MIN_LIMIT: a limit of 0 would never read stdin.
 */
static void update_limit(struct db *db)
{
	struct statvfs sv;
	struct stat st;
	off_t held, extra = 0;

	db->next_recheck = db->in + RECHECK_EVERY;
	if (fstatvfs(db->tmp, &sv) < 0) {
		if (!db->warned_statvfs) {
			db->warned_statvfs = true;
			msg(db, "warning: statvfs on %s: %s; buffering at most "
			    "%jd KiB", db->where, strerror(errno),
			    (intmax_t)((db->limit > MIN_LIMIT ? db->limit :
					MIN_LIMIT) >> 10));
		}
		if (db->limit < MIN_LIMIT)
			db->limit = MIN_LIMIT;
		return;
	}
	if (db->keep || fstat(db->tmp, &st) < 0) {
		held = db->in - db->sent;
	} else {
		held = (off_t)st.st_blocks * 512;
		if (held > held_bytes(db))
			extra = held - held_bytes(db);
	}
	db->limit = ((off_t)sv.f_bavail * (off_t)sv.f_frsize + held) / 2 - extra;
	if (db->limit < MIN_LIMIT)
		db->limit = MIN_LIMIT;
}

/*
 * Bytes up to db->sent were read back from tmp.  If write-back of tmp
 * ever failed, a page may have been evicted and read again from the disk
 * with what was there before: the output would be wrong.  The error
 * that fsync would report (errseq, per open file) is what tells; a
 * range past the data asks for it without waiting for any write-back.
 */
static void check_writeback(struct db *db)
{
	off_t past = (tmp_off(db, db->in) | ((4 << 20) - 1)) + 1;

	if (sync_file_range(db->tmp, past, 1, SYNC_FILE_RANGE_WAIT_BEFORE) == 0)
		return;
	if (errno == EINVAL || errno == ENOSYS || errno == ESPIPE ||
	    errno == EINTR)
		return;		/* no answer, not a write-back error */
	fatal(db, EX_IOERR, "%s: write-back of the temporary file failed: "
	      "%s; what is read back from it cannot be trusted",
	      db->where, strerror(errno));
}

/*
 * Bytes below db->sent are somebody else's now: check that what was read
 * back was what we wrote, then release their blocks.
 */
static void punch_behind(struct db *db)
{
	off_t end = db->base + (tmp_off(db, db->sent) & ~(db->blksz - 1));

	check_writeback(db);
	if (!db->punch || end <= db->punched)
		return;
	if (fallocate(db->tmp, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      tmp_off(db, db->punched), end - db->punched) == 0) {
		db->punched = end;
		return;
	}
	switch (errno) {
	case EINTR:
	case EAGAIN:
	case ENOSPC:		/* an extent split may need a block: later */
	case EDQUOT:
		return;
	case EOPNOTSUPP:
	case ENOSYS:
		msg(db, "warning: the file system of %s cannot punch holes; "
		    "temporary space is released only when the consumer has "
		    "caught up", db->where);
		break;
	default:
		msg(db, "warning: punching the temporary file: %s; "
		    "temporary space is released only when the consumer has "
		    "caught up", strerror(errno));
		break;
	}
	db->punch = false;
}

static void note_in(struct db *db)
{
	off_t held = db->in - db->sent;

	if (held > db->peak)
		db->peak = held;
	if (held_bytes(db) >= db->limit && db->in != db->full_checked_at) {
		db->full_checked_at = db->in;
		update_limit(db);
	} else if (db->in >= db->next_recheck) {
		update_limit(db);
	}
}

/*
 * Writing tmp gave ENOSPC, EDQUOT or EFBIG (RLIMIT_FSIZE, or the largest
 * file the file system has): wait for the consumer to free space (or,
 * for EFBIG, to take all of tmp so that reuse_tmp can empty it).  With
 * --keep nothing can be freed: stop.
 */
static void no_space(struct db *db, int err)
{
	if (db->keep)
		fatal(db, EX_CANTCREAT, "%s: %s; --keep keeps every byte, so "
		      "no space can be freed", db->where, strerror(err));
	if (err == EFBIG) {
		if (db->in == db->base)
			fatal(db, EX_IOERR, "%s: the temporary file: %s",
			      db->where, strerror(err));
		db->efbig = true;
	}
	db->nospace = true;
	db->nospace_punched = db->punched;
	if (!db->warned_nospace) {
		db->warned_nospace = true;
		msg(db, "warning: %s: %s; waiting for space", db->where,
		    strerror(err));
	}
}

/*
 * Where holes cannot be punched (or the file may grow no further), empty
 * tmp once all of it has been taken out, and start again at offset 0.
 */
static void reuse_tmp(struct db *db)
{
	if (db->keep || db->sent != db->in || db->in == db->base ||
	    (db->punch && !db->efbig))
		return;
	if (ftruncate(db->tmp, 0) < 0)
		fatal(db, EX_IOERR, "%s: emptying the temporary file: %s",
		      db->where, strerror(errno));
	db->base = db->in;
	db->punched = db->in;
	db->efbig = false;
	db->nospace = false;
	update_limit(db);
}

/* The producer failed: pass on what arrived, then exit with an error. */
static void input_failed(struct db *db, int err, const char *what)
{
	msg(db, "%s: %s", what, strerror(err));
	db->in_err = err;
	db->in_eof = true;
	db->ibuf.head = db->ibuf.tail = 0;
}

/* stdin -> tmp: one step.  @ready: poll said stdin has news. */
static void ingest(struct db *db, bool ready)
{
	off_t room = room_in(db);
	size_t len = room <= 0 ? 0 : room < (off_t)CHUNK ? (size_t)room : CHUNK;
	ssize_t n;

	if (db->in_pipe) {
		off_t off = tmp_off(db, db->in);

		if (!ready || len == 0)
			return;
		n = splice(STDIN_FILENO, NULL, db->tmp, &off, len,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			db->in += n;
			note_in(db);
		} else if (n == 0) {
			db->in_eof = true;
		} else if (errno == ENOSPC || errno == EDQUOT ||
			   errno == EFBIG) {
			no_space(db, errno);
		} else if (errno == EINVAL) {
			db->in_pipe = false;	/* no splice here: read() */
		} else if (errno != EAGAIN && errno != EINTR) {
			input_failed(db, errno, "splice from stdin");
		}
		return;
	}

	if (!buf_len(&db->ibuf)) {
		if (!ready || len == 0)
			return;
		if (len > db->ibuf.size)
			len = db->ibuf.size;
		n = read(STDIN_FILENO, db->ibuf.data, len);
		if (n > 0) {
			db->ibuf.head = 0;
			db->ibuf.tail = n;
		} else if (n == 0) {
			db->in_eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			input_failed(db, errno, "stdin");
		}
	}
	while (buf_len(&db->ibuf) && !db->nospace) {
		n = pwrite(db->tmp, db->ibuf.data + db->ibuf.head,
			   buf_len(&db->ibuf), tmp_off(db, db->in));
		if (n > 0) {
			db->ibuf.head += n;
			db->in += n;
			note_in(db);
		} else if (n < 0 && (errno == ENOSPC || errno == EDQUOT ||
				     errno == EFBIG)) {
			no_space(db, errno);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			input_failed(db, n < 0 ? errno : EIO,
				     "writing the temporary file");
		}
	}
	if (!buf_len(&db->ibuf))
		db->ibuf.head = db->ibuf.tail = 0;
}

/* Resynchronise our count of the bytes in the device with FIONREAD. */
static void dev_resync(struct db *db)
{
	int v;

	if (ioctl(db->drd, FIONREAD, &v) == 0)
		db->dev_bytes = v;
}

/*
 * Close the private pipe.  What it held is dropped: those bytes are below
 * nothing we counted as sent, so they are read from tmp again.
 */
static void priv_pipe_close(struct db *db)
{
	if (db->pwr >= 0)
		close(db->pwr);
	if (db->prd >= 0)
		close(db->prd);
	db->pwr = db->prd = -1;
	db->piped = 0;
}

static void dev_close(struct db *db)
{
	if (db->dwr >= 0)
		close(db->dwr);
	if (db->drd >= 0)
		close(db->drd);
	db->dwr = db->drd = -1;
	db->dev = false;
	priv_pipe_close(db);
}

/* The device refused what we sent into it: fall back, or give up. */
static void push_failed(struct db *db, const char *how)
{
	switch (errno) {
	case EINTR:
		return;
	case EAGAIN:		/* our count was off: ask, then wait */
		dev_resync(db);
		db->dev_wait = true;
		return;
	case EINVAL:
	case ENOSYS:
	case EOPNOTSUPP:
		if (db->dev_in == 0) {
			msg(db, "warning: %s into %s: %s; copying through "
			    "user memory", how, STABLEPIPE_DEV,
			    strerror(errno));
			dev_close(db);
			db->nodev_why = how;
			return;
		}
		__attribute__((fallthrough));
	default:
		fatal(db, EX_IOERR, "%s into %s: %s", how, STABLEPIPE_DEV,
		      strerror(errno));
	}
}

/* The device took @n bytes from tmp's db->sent on: they are its own now. */
static void pushed(struct db *db, off_t n)
{
	db->sent += n;
	db->dev_bytes += n;
	db->dev_in += n;
	punch_behind(db);	/* the device owns [.., sent) now */
}

/*
 * Room in the device that push() waits for: with the private pipe, room
 * for a chunk of its size (or for all that is left), so that it does not
 * split large folios to fill the last pages of room; else any room.  An
 * empty device has that room (setup_priv_pipe()).
 */
static bool push_ready(const struct db *db)
{
	off_t want = 1;

	if (!db->dev || db->dwr < 0 || db->dev_wait || db->in <= db->sent)
		return false;
	if (db->prd >= 0)
		want = db->in - db->sent < db->pp_size ? db->in - db->sent :
							 db->pp_size;
	return db->dev_cap - db->dev_bytes >= want;
}

/*
 * tmp -> private pipe -> device: top up the pipe, move what fits into the
 * device, then punch behind it.
 *
 * A large folio is stolen only when the pipe holds all of it and it all
 * fits in the device in one splice; otherwise it is copied
 * (copied_large_folio).  Large folios are naturally aligned in the file:
 * none larger than the pipe crosses a multiple of its size, so both
 * splices end at such a multiple when there is one to end at.  When there
 * is none (the last bytes of the input so far, or no room for a whole
 * chunk), they take what there is: never wait for data that may not come.
 * Readahead makes folios of up to 2 MiB on 7.2 (6.1 stays at 128 KiB
 * with the default read_ahead_kb); a folio larger than the pipe is
 * copied.
 *
 * The pipe holds page-cache references to tmp's [sent, sent + piped):
 * nothing punches there (punch_behind() stops at sent), and it is empty
 * whenever sent == in, before the device's write end is closed.
 */
static void push_piped(struct db *db)
{
	/* offsets in tmp (tmp_off()), where large folios are aligned */
	off_t sent = tmp_off(db, db->sent), in = tmp_off(db, db->in);
	off_t start = sent + db->piped, end, room, align = db->pp_size;
	off_t want = sent + align < in ? sent + align : in;
	ssize_t n;

	end = want & ~(align - 1);
	if (end <= start && !db->piped)
		end = want;
	while (end > start) {
		n = splice(db->tmp, &start, db->pwr, NULL,
			   (size_t)(end - start),
			   SPLICE_F_NONBLOCK);
		if (n > 0) {
			db->piped += n;
			continue;
		}
		if (n == 0)
			fatal(db, EX_IOERR, "%s: the temporary file shrank",
			      db->where);
		if (errno == EINVAL && !db->piped) {
			priv_pipe_close(db);	/* no splice from tmp */
			return;
		}
		if (errno != EAGAIN && errno != EINTR)
			fatal(db, EX_IOERR, "reading the temporary file: %s",
			      strerror(errno));
		break;
	}
	if (!db->piped)
		return;
	room = db->dev_cap - db->dev_bytes;
	if (room <= 0)
		return;
	want = db->piped < room ? db->piped : room;
	end = (sent + want) & ~(align - 1);
	if (end > sent)
		want = end - sent;
	n = splice(db->prd, NULL, db->dwr, NULL, (size_t)want,
		   SPLICE_F_NONBLOCK);
	if (n > 0) {
		db->piped -= n;
		pushed(db, n);
		return;
	}
	if (n == 0)	/* the pipe has a writer, us: cannot happen */
		fatal(db, EX_SOFTWARE, "splice into %s: 0 bytes",
		      STABLEPIPE_DEV);
	push_failed(db, "splice");
}

/* tmp -> device: one step, then punch behind it. */
static void push(struct db *db)
{
	off_t room = db->dev_cap - db->dev_bytes, off = tmp_off(db, db->sent);
	size_t len = unsent(db, SENDFILE_MAX);
	ssize_t n;

	if (db->prd >= 0) {
		push_piped(db);
		/* done, unless it dropped the pipe: no splice from tmp */
		if (db->prd >= 0 || !db->dev)
			return;
	}
	if (room <= 0)
		return;
	if ((off_t)len > room)
		len = (size_t)room;
	if (len > SENDFILE_MAX)
		len = SENDFILE_MAX;
	n = sendfile(db->dwr, db->tmp, &off, len);
	if (n > 0) {
		pushed(db, n);
		return;
	}
	if (n == 0)
		fatal(db, EX_IOERR, "%s: the temporary file shrank", db->where);
	push_failed(db, "sendfile");
}

static _Noreturn void consumer_gone(struct db *db)
{
	fatal(db, EX_IOERR, "stdout: %s (%jd bytes not delivered%s)",
	      strerror(EPIPE), (intmax_t)(db->in - db->out),
	      in_done(db) ? "" : ", input not finished");
}

/* Input taken that has not reached stdout. */
static bool undelivered(const struct db *db)
{
	return db->in + (off_t)buf_len(&db->ibuf) > db->out;
}

/*
 * The reader of the pipe on stdout has gone (POLLERR, or EPIPE with
 * nothing to write).  A consumer may read exactly what it wants (head -c,
 * tar -x) and leave before our end of file: an error only if a byte
 * it did not get is or comes in.  Read on to the input's end to know.
 */
static void reader_left(struct db *db)
{
	db->out_gone = true;
	db->out_wait = false;
	if (undelivered(db))
		consumer_gone(db);
}

/* obuf -> stdout, as much as goes now. */
static void out_flush(struct db *db)
{
	while (buf_len(&db->obuf)) {
		size_t len = buf_len(&db->obuf);
		const char *p = db->obuf.data + db->obuf.head;
		ssize_t n;

		if (db->out_small && len > PIPE_BUF)
			len = PIPE_BUF;
		if (db->out_kind == OUT_SOCKET)
			n = send(db->out_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(db->out_fd, p, len);
		if (n > 0) {
			db->obuf.head += n;
			db->out += n;
			if (db->out_small) {
				db->out_wait = true;
				break;
			}
			continue;
		}
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
			db->out_wait = true;
			break;
		}
		if (errno == EINTR)
			break;
		if (errno == EPIPE)
			consumer_gone(db);
		fatal(db, EX_IOERR, "stdout: %s", strerror(errno));
	}
	if (!buf_len(&db->obuf))
		db->obuf.head = db->obuf.tail = 0;
}

/* Device or tmp -> stdout: one step. */
static void drain(struct db *db)
{
	ssize_t n;

	if (buf_len(&db->obuf)) {
		out_flush(db);
		return;
	}
	if (!db->dev) {
		/* No device: copy through user memory, then punch. */
		size_t len = unsent(db, db->obuf.size);

		if (!len)
			return;
		n = pread(db->tmp, db->obuf.data, len, tmp_off(db, db->sent));
		if (n > 0) {
			db->obuf.head = 0;
			db->obuf.tail = n;
			db->sent += n;
			punch_behind(db);	/* the bytes are in obuf */
			out_flush(db);
		} else if (n == 0) {
			fatal(db, EX_IOERR, "%s: the temporary file shrank",
			      db->where);
		} else if (errno != EINTR) {
			fatal(db, EX_IOERR, "reading the temporary file: %s",
			      strerror(errno));
		}
		return;
	}

	if (db->out_splice) {
		n = splice(db->drd, NULL, STDOUT_FILENO, NULL, CHUNK,
			   SPLICE_F_NONBLOCK);
		if (n > 0) {
			db->out += n;
			db->dev_bytes = db->dev_bytes > n ? db->dev_bytes - n : 0;
			return;
		}
		if (n == 0) {
			db->dev_eof = true;
			return;
		}
		switch (errno) {
		case EINTR:
			return;
		case EAGAIN:	/* stdout full, or the device empty? */
			dev_resync(db);
			/* At end of file an empty device gives 0, not EAGAIN. */
			if (db->dev_bytes > 0 || db->dwr < 0)
				db->out_wait = true;
			return;
		case EPIPE:	/* checked before our end of file */
			reader_left(db);
			return;
		case EINVAL:	/* e.g. O_APPEND: fall back to read+write */
			db->out_splice = false;
			return;
		default:
			fatal(db, EX_IOERR, "splice to stdout: %s",
			      strerror(errno));
		}
	}

	n = read(db->drd, db->obuf.data, db->obuf.size);
	if (n > 0) {
		db->obuf.head = 0;
		db->obuf.tail = n;
		db->dev_bytes = db->dev_bytes > n ? db->dev_bytes - n : 0;
		out_flush(db);
	} else if (n == 0) {
		db->dev_eof = true;
	} else if (errno == EAGAIN) {
		dev_resync(db);
	} else if (errno != EINTR) {
		fatal(db, EX_IOERR, "reading %s: %s", STABLEPIPE_DEV,
		      strerror(errno));
	}
}

static bool finished(const struct db *db)
{
	if (db->out_gone)
		return in_done(db) && !undelivered(db);
	if (db->dev)
		return db->dev_eof && !buf_len(&db->obuf);
	return in_done(db) && db->sent == db->in && !buf_len(&db->obuf);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s [OPTION]... [TMPDIR]\n"
"       %s [OPTION]... --keep FILE\n"
"Copy standard input to standard output through an unbounded buffer in an\n"
"unlinked temporary file in TMPDIR (default: $TMPDIR, else /tmp), whose\n"
"space is released as the data moves on.\n"
"\n"
"      --defer       write nothing to stdout until stdin reaches end of file\n"
"      --keep FILE   buffer in FILE (created; it must not exist) and keep it\n"
"      --stats       print a summary on stderr at exit\n"
"      --progress    show a status line on stderr, updated every second\n"
"      --no-device   do not use " STABLEPIPE_DEV "\n"
"  -h, --help        show this help and exit\n"
"      --version     show the version and exit\n"
"\n"
"SIGUSR1 prints the status line once.  See diskbuffer(1).\n",
		prog, prog);
}

/* One line, as every tool of stablepipe says it, and exit 64. */
__attribute__((format(printf, 1, 2)))
static _Noreturn void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; try '%s --help'\n", prog);
	exit(EX_USAGE);
}

/* An unlinked file in @dir; O_TMPFILE if the file system has it. */
static int open_tmp(const char *dir)
{
	char *path;
	int fd, err;

	fd = open(dir, O_RDWR | O_TMPFILE | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd;
	if (asprintf(&path, "%s/.diskbuffer.XXXXXX", dir) < 0)
		return -1;
	fd = mkostemp(path, O_CLOEXEC);
	err = errno;
	if (fd >= 0 && unlink(path) < 0) {
		err = errno;
		close(fd);
		fd = -1;
	}
	free(path);
	errno = err;
	return fd;
}

static void grow_pipe(int fd)
{
	int sz = fcntl(fd, F_GETPIPE_SZ);

	if (sz >= 0 && sz < PIPE_WANT)
		(void)fcntl(fd, F_SETPIPE_SZ, PIPE_WANT);
}

/*
 * A description of the pipe on stdout of our own, so that we can make it
 * non-blocking without changing the one we share with others.
 */
static void setup_out_pipe(struct db *db, const struct stat *st)
{
	struct stat st2;
	int fl = fcntl(STDOUT_FILENO, F_GETFL), fd;

	db->out_fd = STDOUT_FILENO;
	if (fl >= 0 && (fl & O_NONBLOCK))
		return;
	fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st2) == 0 && st2.st_dev == st->st_dev &&
	    st2.st_ino == st->st_ino) {
		db->out_fd = fd;
		return;
	}
	if (fd >= 0)
		close(fd);
	db->out_small = true;
}

/*
 * The private pipe of push_piped(): PRIV_PIPE_MAX bytes, room for the
 * largest folio readahead makes, or PRIV_PIPE_MIN, or none (sendfile
 * then, as without it): an unprivileged user gets at most
 * /proc/sys/fs/pipe-max-size (1 MiB by default), and small pipes once
 * over pipe-user-pages-soft.  The device is asked for DEV_WANT, room for
 * a chunk of the larger pipe; it may say no (max_capacity, the user's
 * limits), and one smaller than the pipe would make push_ready() wait
 * for room it never has.  No more than that: what the device holds is
 * punched early, and XFS then keeps more speculative preallocation
 * (diskbuffer_test.sh found the drained file at the device's capacity
 * plus 0.94 MiB, for capacities of 1, 2 and 4 MiB).
 */
static void setup_priv_pipe(struct db *db)
{
	__u64 cap = DEV_WANT;
	int p[2], size;

	db->prd = db->pwr = -1;
	db->piped = 0;
	if (!db->dev)
		return;
	if (db->dev_cap < (off_t)cap &&
	    ioctl(db->drd, STABLEPIPE_IOC_SET_CAPACITY, &cap) == 0)
		db->dev_cap = (off_t)cap;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return;
	size = -1;
	if (db->dev_cap >= PRIV_PIPE_MAX)
		size = fcntl(p[1], F_SETPIPE_SZ, PRIV_PIPE_MAX);
	if (size < PRIV_PIPE_MAX)
		size = fcntl(p[1], F_SETPIPE_SZ, PRIV_PIPE_MIN);
	if (size < PRIV_PIPE_MIN || (size & (size - 1)) ||
	    db->dev_cap < (off_t)size) {
		close(p[0]);
		close(p[1]);
		return;
	}
	db->prd = p[0];
	db->pwr = p[1];
	db->pp_size = size;
}

static void setup(struct db *db, const char *dir, const char *keep_file)
{
	struct stat st;
	struct statvfs sv;
	int fd;

	/*
	 * A closed stdin or stdout is the caller's error (66, 73), whatever
	 * else is closed; then never let one of our files land on 2.
	 */
	if (fcntl(STDIN_FILENO, F_GETFD) < 0) {
		if (fcntl(STDERR_FILENO, F_GETFD) == 0)
			msg(NULL, "stdin: %s", strerror(EBADF));
		exit(EX_NOINPUT);
	}
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		if (fcntl(STDERR_FILENO, F_GETFD) == 0)
			msg(NULL, "stdout: %s", strerror(EBADF));
		exit(EX_CANTCREAT);
	}
	if (fcntl(STDERR_FILENO, F_GETFD) < 0 &&
	    open("/dev/null", O_WRONLY) != STDERR_FILENO)
		exit(EX_OSERR);
	if (fstat(STDIN_FILENO, &st) < 0) {
		msg(NULL, "stdin: %s", strerror(errno));
		exit(EX_NOINPUT);
	}
	db->in_pipe = S_ISFIFO(st.st_mode);
	if (db->in_pipe)
		grow_pipe(STDIN_FILENO);
	if (fstat(STDOUT_FILENO, &st) < 0) {
		msg(NULL, "stdout: %s", strerror(errno));
		exit(EX_CANTCREAT);
	}
	db->out_fd = STDOUT_FILENO;
	if (S_ISFIFO(st.st_mode)) {
		db->out_kind = OUT_PIPE;
		grow_pipe(STDOUT_FILENO);
		setup_out_pipe(db, &st);
	} else if (S_ISSOCK(st.st_mode)) {
		db->out_kind = OUT_SOCKET;
	} else {
		db->out_kind = OUT_OTHER;	/* file, tty: write() */
	}

	if (keep_file) {
		db->where = keep_file;
		fd = open(keep_file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	} else {
		db->where = dir;
		fd = open_tmp(dir);
	}
	if (fd < 0) {
		msg(NULL, "%s%s: %s", db->where,
		    db->where_env ? " (from $TMPDIR)" : "", strerror(errno));
		exit(EX_CANTCREAT);
	}
	db->tmp = fd;
	db->punch = !db->keep;
	db->blksz = 4096;
	if (fstat(fd, &st) == 0 && st.st_blksize > 0 &&
	    !(st.st_blksize & (st.st_blksize - 1)))
		db->blksz = st.st_blksize;
	if (fstatvfs(fd, &sv) == 0 && sv.f_frsize > (unsigned long)db->blksz &&
	    !(sv.f_frsize & (sv.f_frsize - 1)))
		db->blksz = sv.f_frsize;
	update_limit(db);

	db->ibuf.size = db->obuf.size = CHUNK;
	db->ibuf.data = malloc(CHUNK);
	db->obuf.data = malloc(CHUNK);
	if (!db->ibuf.data || !db->obuf.data) {
		msg(NULL, "%s", strerror(ENOMEM));
		exit(EX_OSERR);
	}

	db->drd = db->dwr = -1;
	if (db->no_device) {
		db->nodev_why = "--no-device";
	} else {
		int fds[2];
		__u64 cap;

		if (stablepipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
			db->dev = true;
			db->drd = fds[0];
			db->dwr = fds[1];
			db->dev_cap = CHUNK;
			if (ioctl(db->drd, STABLEPIPE_IOC_GET_CAPACITY, &cap) == 0 &&
			    cap > 0 && cap <= INT_MAX)
				db->dev_cap = (off_t)cap;
		} else if (errno == ENOENT || errno == ENODEV || errno == ENXIO) {
			db->nodev_why = "absent";
			msg(NULL, "warning: %s is not available (module not "
			    "loaded?); copying through user memory",
			    STABLEPIPE_DEV);
		} else {
			db->nodev_why = "error";
			msg(NULL, "warning: %s: %s; copying through user memory",
			    STABLEPIPE_DEV, strerror(errno));
		}
	}
	db->out_splice = db->dev && db->out_kind == OUT_PIPE;
	setup_priv_pipe(db);
}

int main(int argc, char *argv[])
{
	/* long options only, besides -h: values above any character */
	enum { OPT_DEFER = 256, OPT_KEEP, OPT_STATS, OPT_PROGRESS,
	       OPT_NO_DEVICE, OPT_HELP, OPT_VERSION };
	static const struct option opts[] = {
		{ "defer",	no_argument,		NULL, OPT_DEFER },
		{ "keep",	required_argument,	NULL, OPT_KEEP },
		{ "stats",	no_argument,		NULL, OPT_STATS },
		{ "progress",	no_argument,		NULL, OPT_PROGRESS },
		{ "no-device",	no_argument,		NULL, OPT_NO_DEVICE },
		{ "help",	no_argument,		NULL, OPT_HELP },
		{ "version",	no_argument,		NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	struct db db = { .tmp = -1 };
	const char *dir = NULL, *keep_file = NULL;
	sigset_t block, pollmask;
	struct sigaction sa = { .sa_handler = on_usr1 };
	int c;

	if (argv[0] && *argv[0]) {
		const char *slash = strrchr(argv[0], '/');

		prog = slash ? slash + 1 : argv[0];
	}
	opterr = 0;	/* our messages, not getopt's: see bad_usage() */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_DEFER: db.defer = true; break;
		case OPT_STATS: db.stats = true; break;
		case OPT_PROGRESS: db.progress = true; break;
		case OPT_NO_DEVICE: db.no_device = true; break;
		case OPT_KEEP:
			if (keep_file)
				bad_usage("--keep given twice");
			keep_file = optarg;
			db.keep = true;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		case OPT_VERSION:
			printf("%s %s\n", prog, VERSION);
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		case ':':
			bad_usage("option '%s' needs an argument",
				  argv[optind - 1]);
		default:
			/* optopt: a short option's character, else 0 or
			 * the long option's value, and optind is past it
			 */
			if (optopt > 0 && optopt < 256)
				bad_usage("invalid option '-%c'", optopt);
			bad_usage("invalid option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		dir = argv[optind++];
	if (optind < argc)
		bad_usage("too many arguments");
	if (keep_file && dir)
		bad_usage("--keep FILE and TMPDIR exclude each other");
	if (!dir) {
		dir = getenv("TMPDIR");
		db.where_env = dir && *dir;
		if (!db.where_env)
			dir = "/tmp";
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* ulimit -f: EFBIG instead */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &pollmask);
	sigdelset(&pollmask, SIGUSR1);	/* delivered only inside ppoll */

	db.t0 = db.last_t = now();
	db.next_tick = db.t0 + 1.0;
	db.tty = isatty(STDERR_FILENO);
	setup(&db, dir, keep_file);

	for (;;) {
		struct pollfd pfd[4];
		int nfd = 0, in_i = -1, dw_i = -1, out_i = -1, dr_i = -1;
		bool out_open, can_push, can_drain, stuck;
		struct timespec ts, *tsp = NULL;
		double timeout = -1;
		int r;

		if (usr1) {
			usr1 = 0;
			show_status(&db, false);
		}
		if (db.progress && now() >= db.next_tick)
			show_status(&db, false);
		if (db.nospace && db.punched > db.nospace_punched)
			db.nospace = false;	/* space came back: retry */
		reuse_tmp(&db);
		if (db.out_gone && undelivered(&db))
			consumer_gone(&db);

		/* All the input is in the device: let it see end of file. */
		if (db.dev && db.dwr >= 0 && in_done(&db) && db.sent == db.in) {
			close(db.dwr);
			db.dwr = -1;
		}
		if (finished(&db))
			break;

		out_open = !db.defer || in_done(&db);
		can_push = push_ready(&db);
		can_drain = out_open && !db.out_wait && !db.out_gone &&
			    (buf_len(&db.obuf) ||
			     (db.dev ? db.dev_bytes > 0 : db.in > db.sent));

		if (!db.in_eof && !buf_len(&db.ibuf) && !db.nospace &&
		    room_in(&db) > 0) {
			in_i = nfd;
			pfd[nfd++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		}
		if (db.dev && db.dwr >= 0 && db.dev_wait) {
			dw_i = nfd;
			pfd[nfd++] = (struct pollfd){ db.dwr, POLLOUT, 0 };
		}
		if (!db.out_gone && (db.out_wait || db.out_kind == OUT_PIPE)) {
			/* events 0 on a pipe: POLLERR tells the reader left */
			out_i = nfd;
			pfd[nfd++] = (struct pollfd){ STDOUT_FILENO,
				db.out_wait ? POLLOUT : 0, 0 };
		}
		if (db.dev && out_open && !db.out_wait && !db.out_gone &&
		    !buf_len(&db.obuf) && db.dev_bytes == 0 && !db.dev_eof) {
			dr_i = nfd;
			pfd[nfd++] = (struct pollfd){ db.drd, POLLIN, 0 };
		}

		/*
		 * Waits that no descriptor ends: the disk is full, or
		 * --defer holds a full buffer back.  Look again every second.
		 */
		stuck = db.nospace || (db.defer && !in_done(&db) &&
				       room_in(&db) <= 0);
		if (stuck && db.defer && !db.nospace && !db.warned_full) {
			char held[32];

			db.warned_full = true;
			fmt_size(held, sizeof(held), db.in - db.sent);
			msg(&db, "warning: buffer full (%s) and --defer holds "
			    "it back; waiting for space in %s", held, db.where);
		}
		if (can_push || can_drain || (buf_len(&db.ibuf) && !db.nospace)) {
			timeout = 0;
		} else {
			if (db.progress) {	/* overdue: at once */
				timeout = db.next_tick - now();
				if (timeout < 0)
					timeout = 0;
			}
			if (stuck && (timeout < 0 || timeout > 1.0))
				timeout = 1.0;
			if (nfd == 0 && timeout < 0)
				timeout = 1.0;	/* cannot happen; never hang */
		}
		if (timeout >= 0) {
			if (timeout < 0.0005)
				timeout = 0;
			ts.tv_sec = (time_t)timeout;
			ts.tv_nsec = (long)((timeout - ts.tv_sec) * 1e9);
			tsp = &ts;
		}
		r = ppoll(pfd, nfd, tsp, &pollmask);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal(&db, EX_OSERR, "ppoll: %s", strerror(errno));
		}
		if (r == 0 && stuck && timeout > 0) {
			db.nospace = false;
			update_limit(&db);
		}

		if (out_i >= 0 && pfd[out_i].revents) {
			db.out_wait = false;	/* writable, or let write tell */
			if (db.out_kind == OUT_PIPE &&
			    (pfd[out_i].revents & POLLERR))
				reader_left(&db);
		}
		if (dw_i >= 0 && pfd[dw_i].revents)
			db.dev_wait = false;

		if (in_i >= 0 ? pfd[in_i].revents != 0 : buf_len(&db.ibuf) != 0)
			ingest(&db, in_i >= 0);
		if (push_ready(&db))
			push(&db);
		out_open = !db.defer || in_done(&db);
		if (out_open && !db.out_wait && !db.out_gone &&
		    (buf_len(&db.obuf) || (dr_i >= 0 && pfd[dr_i].revents) ||
		     (db.dev ? db.dev_bytes > 0 : db.in > db.sent)))
			drain(&db);
	}

	if (db.out_fd != STDOUT_FILENO)
		close(db.out_fd);
	if (close(STDOUT_FILENO) < 0 && errno != EINTR)
		fatal(&db, EX_IOERR, "stdout: %s", strerror(errno));
	finish(&db, db.in_err ? EX_IOERR : EX_OK);
}
