// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: messages, allocation, time and sizes
 */
#include "bench.h"

__attribute__((format(printf, 1, 2), noreturn))
void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(cfg.ktap ? KSFT_FAIL : 1);
}

__attribute__((format(printf, 1, 2)))
void note(const char *fmt, ...)
{
	va_list ap;

	if (cfg.quiet)
		return;
	va_start(ap, fmt);
	if (cfg.ktap) {
		char buf[512];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		printf("# %s\n", buf);
		fflush(stdout);
	} else {
		fprintf(stderr, "%s: ", prog);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

void *xaligned(size_t n)
{
	void *p;

	if (posix_memalign(&p, page_size, n))
		die("out of memory (%zu bytes)", n);
	memset(p, 0, n);	/* fault it in now, not while timing */
	return p;
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double tv_secs(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* "64M", "1g", "4096", "512k": bytes, or 0 on a bad size. */
size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	case '\0':
		break;
	default:
		return 0;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return 0;
	return (size_t)v;
}

/* "64 MiB", "1 GiB", "12 KiB", "100 B" */
const char *human(char *buf, size_t len, size_t v)
{
	if (v >= GIB && v % GIB == 0)
		snprintf(buf, len, "%zu GiB", v / GIB);
	else if (v >= MIB && v % MIB == 0)
		snprintf(buf, len, "%zu MiB", v / MIB);
	else if (v >= KIB && v % KIB == 0)
		snprintf(buf, len, "%zu KiB", v / KIB);
	else
		snprintf(buf, len, "%zu B", v);
	return buf;
}

/* "64M", "1G", "16K": short, for the table */
const char *short_size(char *buf, size_t len, size_t v)
{
	if (v >= GIB && v % GIB == 0)
		snprintf(buf, len, "%zuG", v / GIB);
	else if (v >= MIB && v % MIB == 0)
		snprintf(buf, len, "%zuM", v / MIB);
	else if (v >= KIB && v % KIB == 0)
		snprintf(buf, len, "%zuK", v / KIB);
	else
		snprintf(buf, len, "%zu", v);
	return buf;
}

ssize_t write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += n;
	}
	return done;
}

