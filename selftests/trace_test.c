// SPDX-License-Identifier: GPL-2.0
/*
 * trace_test - the stablepipe tracepoints report every ingest decision
 * and every output, with the bytes that moved.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "ktap.h"
#include "sp_common.h"
#include "stablepipe2.h"

#define TRACEFS "/sys/kernel/tracing"

static int tracefs_write(const char *file, const char *val)
{
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

/* Sum the "bytes=" of trace lines containing @what; count them in @n. */
static uint64_t trace_sum(const char *buf, const char *what, unsigned int *n)
{
	const char *line = buf, *end, *b;
	uint64_t sum = 0;

	*n = 0;
	for (; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		b = memmem(line, end - line, what, strlen(what));
		if (!b)
			continue;
		b = memmem(b, end - b, "bytes=", 6);
		if (!b)
			continue;
		sum += strtoull(b + 6, NULL, 10);
		(*n)++;
	}
	return sum;
}

static int t_events(const void *arg)
{
	static char trace[1 << 20];
	unsigned char *data = sp_pat_buf(75536, 0, 7), *out = sp_malloc(75536);
	int fds[2], p[2], fd;
	unsigned int n;
	ssize_t len = 0, r;
	uint64_t sum;

	(void)arg;
	if (access(TRACEFS "/events", F_OK) &&
	    mount("nodev", TRACEFS, "tracefs", 0, NULL)) {
		ktap_print_msg("no tracefs: %s", strerror(errno));
		return KSFT_SKIP;
	}
	CHECK(!access(TRACEFS "/events/stablepipe/stablepipe_ingest/format",
		      R_OK), "no stablepipe_ingest event");
	CHECK(!tracefs_write("trace", ""), "clear the trace buffer");
	CHECK(!tracefs_write("events/stablepipe/enable", "1"), "enable");

	CHECK(!stablepipe2(fds, 0), "stablepipe2: %s", strerror(errno));
	CHECK(pipe(p) == 0, "pipe");
	/* 10000 bytes by write(2): copied from user memory. */
	CHECK_RET(write(fds[1], data, 10000), 10000);
	/* 16 whole anonymous pipe pages spliced in: copied, never stolen. */
	CHECK_RET(write(p[1], data + 10000, 65536), 65536);
	CHECK_RET(splice(p[0], NULL, fds[1], NULL, 65536, 0), 65536);
	while (len < 75536) {
		CHECK_OK(r, read(fds[0], out + len, 75536 - len));
		CHECK(r > 0, "early EOF");
		len += r;
	}
	CHECK(!tracefs_write("events/stablepipe/enable", "0"), "disable");
	CHECK_BYTES("data read back", out, data, 75536);

	CHECK_OK(fd, open(TRACEFS "/trace", O_RDONLY));
	len = 0;
	while ((r = read(fd, trace + len, sizeof(trace) - 1 - len)) > 0)
		len += r;
	trace[len] = 0;
	close(fd);

	sum = trace_sum(trace, "how=copied_user", &n);
	ktap_print_msg("copied_user: %u events, %llu bytes", n,
		       (unsigned long long)sum);
	CHECK(sum == 10000, "copied_user bytes %llu", (unsigned long long)sum);
	sum = trace_sum(trace, "how=copied_not_stealable", &n);
	ktap_print_msg("copied_not_stealable: %u events, %llu bytes", n,
		       (unsigned long long)sum);
	CHECK(sum == 65536 && n == 16,
	      "copied_not_stealable: %u events, %llu bytes", n,
	      (unsigned long long)sum);
	sum = trace_sum(trace, "how=stolen", &n);
	CHECK(n == 0, "stolen: %u events, %llu bytes", n,
	      (unsigned long long)sum);
	sum = trace_sum(trace, "path=read", &n);
	ktap_print_msg("read: %u events, %llu bytes", n,
		       (unsigned long long)sum);
	CHECK(sum == 75536, "read bytes %llu", (unsigned long long)sum);
	free(data);
	free(out);
	return KSFT_PASS;
}

static const struct ktap_case cases[] = {
	{ "tracepoints report ingest decisions and output", t_events, NULL, 0 },
};

int main(void)
{
	ktap_print_header();
	sp_require_device();
	ktap_run_cases(cases, sizeof(cases) / sizeof(cases[0]), 60);
}
