// SPDX-License-Identifier: GPL-2.0
/*
 * splice_punch - what the original diskbuffer did, for control runs
 *
 *	splice_punch [TMPDIR]		producer | splice_punch | consumer
 *	splice_punch --file FILE	splice_punch --file FILE | consumer
 *	splice_punch -h | --help
 *
 * DO NOT USE IT FOR DATA: it shows the kernel behaviour that
 * /dev/stablepipe exists for, and its output can be wrong.
 *
 * Without --file: stdin goes into an unlinked temporary file in TMPDIR
 * (default $TMPDIR, else /tmp) by splice(2) (read(2) + pwrite(2) when
 * stdin is not a pipe); the file goes to stdout, which must be a pipe,
 * by splice(2), that is by reference to the file's page cache; and after
 * every splice the file is punched (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE) up
 * to what has been sent, block-aligned.  One poll(2) loop, like the
 * original tool; no limit on the buffered bytes.
 *
 * With --file: the loop of the June 2023 linux-fsdevel report
 * ("Corruption, possible race between splice and FALLOC_FL_PUNCH_HOLE"):
 * splice FILE into stdout (a pipe) and punch FILE from 0 up to what has
 * been spliced, after each call.  FILE is opened read-write and is
 * punched out entirely.
 *
 * Punching can zero the part of a large page-cache folio that is still
 * referenced by the pipe, so the consumer may read zeroes: on XFS when
 * the file's pages were read back from disk (readahead builds large
 * folios), e.g. a cold file, or a temporary file that memory pressure
 * wrote back and evicted.  At exit it prints one line on stderr:
 * "splice_punch: in=N out=N punched=N".
 *
 * Exit status: 0; 64 usage (one line on stderr, as diskbuffer says it);
 * 66 FILE cannot be opened; 73 no temporary file; 74 I/O error (also
 * EPIPE); 71 another system call failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <sys/stat.h>

#define CHUNK	(1 << 20)

static int64_t in, out, punched;
static const char *tmpdir_what;	/* TMPDIR, for messages */

static void report(void)
{
	fprintf(stderr, "splice_punch: in=%" PRId64 " out=%" PRId64
		" punched=%" PRId64 "\n", in, out, punched);
}

static void die(int status, const char *what)
{
	fprintf(stderr, "splice_punch: %s: %s\n", what, strerror(errno));
	report();
	exit(status);
}

/* Punch [punched, upto & ~(blk-1)) out of @fd, like the original. */
static void punch(int fd, int64_t upto, int64_t blk)
{
	int64_t end = upto & ~(blk - 1);

	if (end <= punched)
		return;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      punched, end - punched) < 0)
		die(EX_OSERR, "fallocate(PUNCH_HOLE)");
	punched = end;
}

/* The report's consume.c, with the file as an argument. */
static int file_mode(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0)
		die(EX_NOINPUT, path);
	for (;;) {
		/* the report asks for SIZE_MAX; newer kernels say EINVAL */
		ssize_t n = splice(fd, NULL, STDOUT_FILENO, NULL, 1 << 30, 0);

		if (n < 0)
			die(EX_IOERR, "splice");
		if (n == 0)
			break;
		in += n;
		out += n;
		/* as in the report: from 0 up to everything spliced so far */
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      0, out) < 0)
			die(EX_OSERR, "fallocate(PUNCH_HOLE)");
		punched = out;
	}
	report();
	return 0;
}

static int tool_mode(const char *dir)
{
	struct stat st;
	int tmp, in_pipe, in_eof = 0;
	int64_t blk = 4096;
	char *buf = NULL;

	if (fstat(STDOUT_FILENO, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		fprintf(stderr, "splice_punch: stdout must be a pipe\n");
		return EX_USAGE;
	}
	if (fstat(STDIN_FILENO, &st) < 0)
		die(EX_NOINPUT, "stdin");
	in_pipe = S_ISFIFO(st.st_mode);
	tmp = open(dir, O_RDWR | O_TMPFILE | O_EXCL, 0600);
	if (tmp < 0)
		die(EX_CANTCREAT, tmpdir_what);
	if (fstat(tmp, &st) == 0 && st.st_blksize > blk)
		blk = st.st_blksize;
	if (!in_pipe && !(buf = malloc(CHUNK)))
		die(EX_OSERR, "malloc");

	while (!in_eof || out < in) {
		struct pollfd pfd[2];
		int n = 0, ii = -1, oi = -1;
		ssize_t r;

		if (!in_eof) {
			ii = n;
			pfd[n++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		}
		if (out < in) {
			oi = n;
			pfd[n++] = (struct pollfd){ STDOUT_FILENO, POLLOUT, 0 };
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(EX_OSERR, "poll");
		}
		if (ii >= 0 && pfd[ii].revents) {
			if (in_pipe) {
				loff_t off = in;

				r = splice(STDIN_FILENO, NULL, tmp, &off, CHUNK,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (r > 0)
					in += r;
			} else {
				r = read(STDIN_FILENO, buf, CHUNK);
				if (r > 0 && pwrite(tmp, buf, r, in) != r)
					die(EX_IOERR, "pwrite");
				if (r > 0)
					in += r;
			}
			if (r == 0)
				in_eof = 1;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				die(EX_IOERR, "stdin");
		}
		if (oi >= 0 && pfd[oi].revents) {
			loff_t off = out;

			/* by reference: the pipe gets the file's pages */
			r = splice(tmp, &off, STDOUT_FILENO, NULL, in - out,
				   SPLICE_F_NONBLOCK);
			if (r > 0) {
				out += r;
				punch(tmp, out, blk);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				die(EX_IOERR, "splice to stdout");
			}
		}
	}
	report();
	return 0;
}

/* One line, as diskbuffer says it; @fmt has one %s, for @arg. */
__attribute__((format(printf, 1, 0)))
static int bad_usage(const char *fmt, const char *arg)
{
	fputs("splice_punch: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("; try 'splice_punch --help'\n", stderr);
	return EX_USAGE;
}

int main(int argc, char *argv[])
{
	const char *dir;
	char *what;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: splice_punch [TMPDIR]\n"
		       "       splice_punch --file FILE\n"
		       "The original diskbuffer's splice-and-punch data path, whose\n"
		       "output can be wrong: for tests only, never for data.\n");
		return fflush(stdout) ? EX_IOERR : 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--file")) {
		if (argc == 2)
			return bad_usage("option '%s' needs an argument", argv[1]);
		if (argc > 3)
			return bad_usage("unexpected argument '%s'", argv[3]);
		return file_mode(argv[2]);
	}
	if (argc >= 2 && argv[1][0] == '-')
		return bad_usage("invalid option '%s'", argv[1]);
	if (argc > 2)
		return bad_usage("unexpected argument '%s'", argv[2]);
	dir = argc == 2 ? argv[1] : getenv("TMPDIR");
	tmpdir_what = dir;
	if (argc == 1 && dir && *dir &&
	    asprintf(&what, "%s (from $TMPDIR)", dir) >= 0)
		tmpdir_what = what;
	if (!dir || !*dir)
		tmpdir_what = dir = "/tmp";
	return tool_mode(dir);
}
