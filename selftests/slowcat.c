// SPDX-License-Identifier: GPL-2.0
/*
 * slowcat - a slow consumer for the diskbuffer tests and the demo
 *
 *	slowcat [-r RATE] [-b BLOCK] [-w FILE] [-C REF] [-q]
 *	slowcat -h | --help
 *
 * Copies stdin to stdout, reading at most RATE bytes a second (suffixes
 * K and M: KiB, MiB; default: no limit), BLOCK bytes a read (default
 * 64K).  -w FILE: read nothing until FILE exists (a stalled consumer).
 * -C REF: compare the stream with the file REF as it passes and, at the
 * end, print on stderr how many bytes and 4 KiB pages differ (and how
 * many of the wrong bytes are 0x00); exit 1 if anything differs,
 * including the length.  -q: write nothing to stdout.
 *
 * Exit status: 0, 1 (the stream differs from REF), 2 (I/O error), 64
 * (usage: one line on stderr, as diskbuffer says it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static const char usage[] =
	"Usage: slowcat [-r RATE] [-b BLOCK] [-w FILE] [-C REF] [-q]\n"
	"Copy stdin to stdout at most RATE bytes a second (K, M: KiB, MiB),\n"
	"BLOCK bytes a read; -w FILE: wait for FILE first; -C REF: compare\n"
	"with REF and report the difference on stderr; -q: no output.\n";

/* One line, as diskbuffer says it, and exit 64. */
__attribute__((format(printf, 1, 2)))
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("slowcat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; try 'slowcat --help'\n", stderr);
	exit(EX_USAGE);
}

static uint64_t size_arg(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end || end == s)
		bad_usage("bad size '%s'", s);
	return v;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "slowcat: write: %s\n", strerror(errno));
			exit(2);
		}
		p += n;
		len -= n;
	}
}

int main(int argc, char *argv[])
{
	uint64_t rate = 0, block = 64 << 10, total = 0, wrong = 0, zero = 0;
	uint64_t pages = 0, first = 0, last_page = UINT64_MAX, reflen = 0;
	const char *wait_file = NULL, *ref = NULL;
	char *buf, *rbuf = NULL;
	int c, rfd = -1, quiet = 0;
	double t0;

	static const struct option opts[] = {
		{ "help", no_argument, NULL, 256 },	/* above any -c */
		{ NULL, 0, NULL, 0 }
	};
	opterr = 0;	/* bad_usage() says it, in one line */
	while ((c = getopt_long(argc, argv, ":hr:b:w:C:q", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rate = size_arg(optarg); break;
		case 'b':
			block = size_arg(optarg);
			if (!block || block > (64 << 20))
				bad_usage("bad block size '%s' (1 to 64M)", optarg);
			break;
		case 'w': wait_file = optarg; break;
		case 'C': ref = optarg; break;
		case 'q': quiet = 1; break;
		case 'h':
		case 256:
			fputs(usage, stdout);
			return fflush(stdout) ? 2 : 0;
		case ':':
			bad_usage("option '-%c' needs an argument", optopt);
			break;
		default:
			if (optopt > 0 && optopt < 256)
				bad_usage("invalid option '-%c'", optopt);
			bad_usage("invalid option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	buf = malloc(block);
	if (ref) {
		rbuf = malloc(block);
		rfd = open(ref, O_RDONLY);
		if (rfd < 0) {
			fprintf(stderr, "slowcat: %s: %s\n", ref, strerror(errno));
			return 2;
		}
	}
	if (!buf || (ref && !rbuf))
		return 2;
	while (wait_file && access(wait_file, F_OK))
		nap(0.02);

	t0 = now();
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, block), r = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "slowcat: read: %s\n", strerror(errno));
			return 2;
		}
		if (n == 0)
			break;
		if (ref) {
			r = pread(rfd, rbuf, n, total);
			if (r < 0)
				r = 0;
			for (ssize_t i = r == n && !memcmp(buf, rbuf, n) ? n : 0;
			     i < n; i++) {
				uint64_t off = total + i;

				if (i < r && buf[i] == rbuf[i])
					continue;
				if (!wrong)
					first = off;
				wrong++;
				zero += !buf[i];
				if (off / PAGE != last_page) {
					last_page = off / PAGE;
					pages++;
				}
			}
		}
		if (!quiet)
			write_all(STDOUT_FILENO, buf, n);
		total += n;
		if (rate)
			nap((double)total / rate - (now() - t0));
	}
	if (!ref)
		return 0;
	{
		off_t end = lseek(rfd, 0, SEEK_END);

		reflen = end < 0 ? 0 : (uint64_t)end;
	}
	fprintf(stderr, "slowcat: %" PRIu64 " bytes (reference %" PRIu64 "), %"
		PRIu64 " wrong in %" PRIu64 " pages (%" PRIu64 " of them 0x00)",
		total, reflen, wrong, pages, zero);
	if (wrong)
		fprintf(stderr, ", first at offset %" PRIu64, first);
	fprintf(stderr, ", %.1f s\n", now() - t0);
	return wrong || total != reflen ? 1 : 0;
}
