// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench --buffers: diskbuffer against what users would pick
 * instead, on one stream: mbuffer with a file-backed buffer (-T), pv
 * with a large buffer (-B), and a plain pipe (no buffer).
 *
 *	producer thread -> pipe -> TOOL -> pipe -> consumer (this thread)
 *
 * The producer writes the stream as fast as the tool takes it; the
 * consumer reads it as fast as it can ("fast") or at --slow-rate bytes a
 * second ("slow"), and checksums it.  For each run: the end-to-end time
 * (until the consumer reads end of file), the time until the producer
 * is done (its last write returned: what a buffer is for), the tool's
 * peak resident memory (wait4's ru_maxrss), the peak of the memory the
 * system could not reclaim (MemTotal - MemAvailable, sampled every 50
 * ms, above what it was before), the tool's CPU time, and whether the
 * consumer got the stream byte for byte.
 */
#include "bench.h"

enum { BUF_PIPE, BUF_DISKBUFFER, BUF_MBUFFER, BUF_PV, NBUF };
static const char *const buf_names[NBUF] = {
	"pipe", "diskbuffer", "mbuffer", "pv"
};

enum { FAST, SLOW, NCONSUMERS };

static const char *const consumer_names[NCONSUMERS] = { "fast", "slow" };

struct buf_run {
	double end_secs, producer_secs, cpu_secs;
	double rss_mib, mem_mib;
	bool exact;
};

struct buf_row {
	int tool, consumer;
	int nruns;
	struct buf_run runs[MAX_REPS];
	char skip[200], error[200];
	double med_mibs, min_mibs, max_mibs, med_end, med_producer;
	double med_rss, med_mem, med_cpu;
};

static struct buf_row brows[NBUF * NCONSUMERS];
static int nbrows;
static bool use_tool[NBUF];
static char mbuffer_file[PATH_MAX + 64];

static int buf_index(const char *name)
{
	for (int i = 0; i < NBUF; i++)
		if (!strcmp(buf_names[i], name))
			return i;
	return -1;
}

/* The tool's command line; NULL for the plain pipe. */
static void tool_argv(int tool, char **argv, char *mem, size_t memlen)
{
	snprintf(mem, memlen, "%zuk", cfg.buffer_mem / KIB);
	switch (tool) {
	case BUF_DISKBUFFER:
		argv[0] = "diskbuffer";
		argv[1] = (char *)cfg.dir;
		argv[2] = NULL;
		break;
	case BUF_MBUFFER:
		argv[0] = "mbuffer";
		argv[1] = "-q";
		argv[2] = "-m";
		argv[3] = mem;
		argv[4] = "-T";
		argv[5] = mbuffer_file;
		argv[6] = NULL;
		break;
	case BUF_PV:
		argv[0] = "pv";
		argv[1] = "-q";
		argv[2] = "-B";
		argv[3] = mem;
		argv[4] = NULL;
		break;
	default:
		argv[0] = NULL;
	}
}

/* Whether @name is a program on $PATH. */
static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (access(buf, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

struct producer {
	int fd;
	double t0, done;
	int err;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	for (uint64_t off = 0; off < cfg.stream_size; off += cfg.chunk) {
		size_t n = min_sz(cfg.chunk, cfg.stream_size - off);

		if (write_all(p->fd, stream_chunk(off, n), n) < 0) {
			p->err = errno;
			break;
		}
	}
	p->done = now() - p->t0;
	close(p->fd);
	return NULL;
}

struct sampler {
	pthread_t thread;
	volatile bool stop;
	long long base_kib, peak_kib;	/* MemTotal - MemAvailable */
};

static long long mem_used_kib(void)
{
	long long total = -1, avail = -1, v;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %lld", &v) == 1)
			total = v;
		else if (sscanf(line, "MemAvailable: %lld", &v) == 1)
			avail = v;
	}
	fclose(f);
	return total >= 0 && avail >= 0 ? total - avail : -1;
}

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	while (!s->stop) {
		long long v = mem_used_kib();

		if (v > s->peak_kib)
			s->peak_kib = v;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/*
 * One run of @tool with @consumer.  Returns 0, 1 (skipped: why in
 * @why) or -1 (failed: @why).
 */
static int buf_run_one(int tool, int consumer, struct buf_run *br,
		       char *why, size_t whylen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	struct producer p = { .fd = -1 };
	struct sampler s = { 0 };
	struct csum cs = { 0 };
	char *argv[8], mem[32];
	struct rusage ru = { 0 };
	pthread_t producer;
	uint64_t got = 0;
	pid_t pid = 0;
	char *buf;
	double t;
	int st = 0, ret = 0;
	ssize_t n;

	memset(br, 0, sizeof(*br));
	tool_argv(tool, argv, mem, sizeof(mem));
	if (argv[0] && !on_path(argv[0])) {
		snprintf(why, whylen, "%s is not installed (not on $PATH)", argv[0]);
		return 1;
	}
	if (pipe2(out, O_CLOEXEC) || (argv[0] && pipe2(in, O_CLOEXEC))) {
		snprintf(why, whylen, "pipe2: %s", strerror(errno));
		return -1;
	}
	sync();		/* the last run's dirty pages are not this one's */
	s.base_kib = mem_used_kib();
	s.peak_kib = s.base_kib;
	fflush(stdout);
	fflush(stderr);
	if (argv[0]) {
		pid = fork();
		if (pid < 0) {
			snprintf(why, whylen, "fork: %s", strerror(errno));
			return -1;
		}
		if (pid == 0) {
			dup2(in[0], 0);
			dup2(out[1], 1);
			execvp(argv[0], argv);
			_exit(127);
		}
		close(in[0]);
		close(out[1]);
		p.fd = in[1];
	} else {
		p.fd = out[1];
	}
	buf = xaligned(cfg.chunk);
	pthread_create(&s.thread, NULL, sampler_main, &s);
	p.t0 = now();
	pthread_create(&producer, NULL, producer_main, &p);
	for (;;) {
		n = read(out[0], buf, cfg.chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		csum_update(&cs, buf, n);
		got += n;
		if (consumer == SLOW) {
			double due = p.t0 + (double)got / cfg.slow_rate;

			t = now();
			if (due > t) {
				struct timespec ts = {
					(time_t)(due - t),
					(long)((due - t - (time_t)(due - t)) * 1e9)
				};

				nanosleep(&ts, NULL);
			}
		}
	}
	br->end_secs = now() - p.t0;
	close(out[0]);
	if (pid > 0 && wait4(pid, &st, 0, &ru) < 0)
		st = -1;
	/* done: the tool has read everything, or is gone (EPIPE) */
	pthread_join(producer, NULL);
	s.stop = true;
	pthread_join(s.thread, NULL);
	free(buf);
	br->producer_secs = p.done;
	br->cpu_secs = tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime);
	br->rss_mib = ru.ru_maxrss / 1024.0;
	br->mem_mib = s.base_kib >= 0 ? (s.peak_kib - s.base_kib) / 1024.0 : NAN;
	br->exact = got == cfg.stream_size &&
		    csum_final(&cs) == stream_sum(cfg.stream_size);
	if (pid > 0 && (!WIFEXITED(st) || WEXITSTATUS(st))) {
		snprintf(why, whylen, "%s exited with status %d", argv[0],
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		ret = -1;
	} else if (p.err) {
		snprintf(why, whylen, "the producer's write: %s", strerror(p.err));
		ret = -1;
	} else if (!br->exact) {
		snprintf(why, whylen, "the consumer got %" PRIu64 " bytes of %zu%s",
			 got, cfg.stream_size, got == cfg.stream_size ?
			 ", and they differ from the stream" : "");
		ret = -1;
	}
	unlink(mbuffer_file);
	return ret;
}

static struct buf_row *brow_get(int tool, int consumer)
{
	for (int i = 0; i < nbrows; i++)
		if (brows[i].tool == tool && brows[i].consumer == consumer)
			return &brows[i];
	brows[nbrows].tool = tool;
	brows[nbrows].consumer = consumer;
	return &brows[nbrows++];
}

static const struct buf_row *brow_find(int tool, int consumer)
{
	for (int i = 0; i < nbrows; i++)
		if (brows[i].tool == tool && brows[i].consumer == consumer &&
		    brows[i].nruns && !brows[i].error[0] && !brows[i].skip[0])
			return &brows[i];
	return NULL;
}

static void buf_aggregate(void)
{
	double v[MAX_REPS], e[MAX_REPS], p[MAX_REPS], r[MAX_REPS];
	double m[MAX_REPS], c[MAX_REPS];

	for (int i = 0; i < nbrows; i++) {
		struct buf_row *b = &brows[i];

		b->min_mibs = INFINITY;
		b->max_mibs = 0;
		for (int k = 0; k < b->nruns; k++) {
			const struct buf_run *br = &b->runs[k];

			v[k] = cfg.stream_size / br->end_secs / MIB;
			e[k] = br->end_secs;
			p[k] = br->producer_secs;
			r[k] = br->rss_mib;
			m[k] = br->mem_mib;
			c[k] = br->cpu_secs;
			b->min_mibs = fmin(b->min_mibs, v[k]);
			b->max_mibs = fmax(b->max_mibs, v[k]);
		}
		b->med_mibs = median(v, b->nruns);
		b->med_end = median(e, b->nruns);
		b->med_producer = median(p, b->nruns);
		b->med_rss = median(r, b->nruns);
		b->med_mem = median(m, b->nruns);
		b->med_cpu = median(c, b->nruns);
	}
}

/* @a's @what over @b's, paired by repetition (median) */
static double buf_ratio(const struct buf_row *a, const struct buf_row *b,
			bool producer)
{
	double q[MAX_REPS];
	int n = 0;

	if (!a || !b)
		return NAN;
	for (int k = 0; k < a->nruns && k < b->nruns; k++)
		q[n++] = producer ? a->runs[k].producer_secs / b->runs[k].producer_secs :
				    b->runs[k].end_secs / a->runs[k].end_secs;
	return median(q, n);
}

/* targets 6 and 7 (Documentation/benchmark.rst) */
static void buf_summarize(void)
{
	const struct buf_row *d = brow_find(BUF_DISKBUFFER, FAST);
	const struct buf_row *mb = brow_find(BUF_MBUFFER, FAST);
	double q;
	int met;

	if (d && mb) {
		q = buf_ratio(d, mb, false);
		met = q >= 1.0;
		add_summary(6, cfg.stream_size, met,
			    "target 6, fast consumer: diskbuffer %.1f MiB/s, mbuffer -T %.1f MiB/s: %.3fx (paired): %s (needs >= 1.00x)",
			    d->med_mibs, mb->med_mibs, q, verdict(met));
	}
	d = brow_find(BUF_DISKBUFFER, SLOW);
	mb = brow_find(BUF_MBUFFER, SLOW);
	if (d && mb) {
		q = buf_ratio(d, mb, true);
		met = q <= 1.0;
		add_summary(7, cfg.stream_size, met,
			    "target 7, slow consumer: diskbuffer's producer done after %.2f s, mbuffer -T's after %.2f s: %.3fx (paired): %s (needs <= 1.00x)",
			    d->med_producer, mb->med_producer, q, verdict(met));
	}
}

static void buf_table(FILE *f)
{
	char ss[32], rate[32], mem[32], mm[48];

	fprintf(f, "stablepipe-bench %s --buffers: kernel %s, %s (%s), %s stream, %d rep%s; slow consumer %s/s; mbuffer -m %s -T FILE, pv -B %s\n",
		VERSION, env.kernel, env.fs, env.dir,
		human(ss, sizeof(ss), cfg.stream_size), cfg.reps,
		cfg.reps == 1 ? "" : "s", human(rate, sizeof(rate), cfg.slow_rate),
		human(mem, sizeof(mem), cfg.buffer_mem), mem);
	fprintf(f, "%-11s %-8s %9s %-19s %10s %8s %8s %8s %7s  %s\n", "tool",
		"consumer", "MiB/s", "(min-max)", "producer s", "end s",
		"rss MiB", "mem MiB", "cpu s", "exact");
	for (int c = 0; c < NCONSUMERS; c++)
		for (int t = 0; t < NBUF; t++) {
			const struct buf_row *b = NULL;

			for (int i = 0; i < nbrows; i++)
				if (brows[i].tool == t && brows[i].consumer == c)
					b = &brows[i];
			if (!b)
				continue;
			if (b->skip[0] || b->error[0] || !b->nruns) {
				fprintf(f, "%-11s %-8s %s: %s\n", buf_names[t],
					consumer_names[c],
					b->error[0] ? "ERROR" : "skipped",
					b->error[0] ? b->error : b->skip);
				continue;
			}
			snprintf(mm, sizeof(mm), "(%.1f-%.1f)", b->min_mibs,
				 b->max_mibs);
			fprintf(f, "%-11s %-8s %9.1f %-19s %10.2f %8.2f %8.1f %8.1f %7.2f  %s\n",
				buf_names[t], consumer_names[c], b->med_mibs, mm,
				b->med_producer, b->med_end, b->med_rss,
				b->med_mem, b->med_cpu, "yes");
		}
	fprintf(f, "MiB/s: stream / end-to-end time (median, min-max); producer s: until the producer's last write returned; rss MiB: the tool's peak resident memory; mem MiB: peak of MemTotal - MemAvailable above the start (page cache that can be dropped not counted); cpu s: the tool's\n");
	for (int i = 0; i < nsums; i++)
		fprintf(f, "%s: %s\n", env.fs, sums[i].text);
}

static void buf_json(FILE *f)
{
	struct json j = { .f = f };

	j_open(&j, NULL, '{');
	j_string(&j, "tool", "stablepipe-bench");
	j_string(&j, "version", VERSION);
	j_string(&j, "mode", "buffers");
	j_string(&j, "kernel", env.kernel);
	j_string(&j, "fs", env.fs);
	j_string(&j, "dir", env.dir);
	j_u64(&j, "stream", cfg.stream_size);
	j_u64(&j, "slow_rate", cfg.slow_rate);
	j_u64(&j, "buffer_mem", cfg.buffer_mem);
	j_u64(&j, "reps", cfg.reps);
	j_open(&j, "results", '[');
	for (int i = 0; i < nbrows; i++) {
		const struct buf_row *b = &brows[i];
		bool ok = b->nruns && !b->error[0] && !b->skip[0];

		j_open(&j, NULL, '{');
		j_string(&j, "buffer", buf_names[b->tool]);
		j_string(&j, "consumer", consumer_names[b->consumer]);
		j_string(&j, "status", b->error[0] ? "error" :
			 b->skip[0] ? "skipped" : "ok");
		if (b->error[0] || b->skip[0])
			j_string(&j, "why", b->error[0] ? b->error : b->skip);
		j_num(&j, "mib_s", ok ? b->med_mibs : NAN);
		j_num(&j, "producer_secs", ok ? b->med_producer : NAN);
		j_num(&j, "end_secs", ok ? b->med_end : NAN);
		j_num(&j, "rss_mib", ok ? b->med_rss : NAN);
		j_num(&j, "mem_mib", ok ? b->med_mem : NAN);
		j_num(&j, "cpu_secs", ok ? b->med_cpu : NAN);
		j_open(&j, "runs", '[');
		for (int k = 0; k < b->nruns; k++) {
			const struct buf_run *br = &b->runs[k];

			j_open(&j, NULL, '{');
			j_num(&j, "end_secs", br->end_secs);
			j_num(&j, "producer_secs", br->producer_secs);
			j_num(&j, "rss_mib", br->rss_mib);
			j_num(&j, "mem_mib", br->mem_mib);
			j_num(&j, "cpu_secs", br->cpu_secs);
			j_bool(&j, "exact", br->exact);
			j_close(&j, '}');
		}
		j_close(&j, ']');
		j_close(&j, '}');
	}
	j_close(&j, ']');
	json_summary(&j);
	j_close(&j, '}');
}

static void buf_csv(FILE *f)
{
	fprintf(f, "fs,stream,buffer,consumer,mib_s,producer_secs,end_secs,rss_mib,mem_mib,cpu_secs,status\n");
	for (int i = 0; i < nbrows; i++) {
		const struct buf_row *b = &brows[i];
		bool ok = b->nruns && !b->error[0] && !b->skip[0];

		fprintf(f, "%s,%zu,%s,%s", env.fs, cfg.stream_size,
			buf_names[b->tool], consumer_names[b->consumer]);
		if (ok)
			fprintf(f, ",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g", b->med_mibs,
				b->med_producer, b->med_end, b->med_rss,
				b->med_mem, b->med_cpu);
		else
			fputs(",,,,,,", f);
		fprintf(f, ",%s\n", b->error[0] ? "error" : b->skip[0] ? "skipped" : "ok");
	}
}

/* One run of @tool with @consumer, recorded and reported. */
static void buf_run(int tool, int consumer, int rep)
{
	struct buf_row *b = brow_get(tool, consumer);
	struct buf_run *br = &b->runs[b->nruns];
	char why[200] = "";
	int ret;

	if (b->skip[0] || b->error[0])
		return;
	ret = buf_run_one(tool, consumer, br, why, sizeof(why));
	if (ret > 0)
		snprintf(b->skip, sizeof(b->skip), "%s", why);
	else if (ret < 0)
		snprintf(b->error, sizeof(b->error), "%s", why);
	else
		b->nruns++;
	if (ret < 0)
		failures++;
	if (cfg.ktap) {
		ktap_num++;
		if (ret > 0) {
			printf("ok %d buffers %s %s # SKIP %s\n", ktap_num,
			       buf_names[tool], consumer_names[consumer], why);
		} else {
			if (ret < 0)
				printf("# %s %s: %s\n", buf_names[tool],
				       consumer_names[consumer], why);
			else
				printf("# %s %s: the stream byte for byte; producer done after %.2f s, end after %.2f s\n",
				       buf_names[tool], consumer_names[consumer],
				       br->producer_secs, br->end_secs);
			printf("%sok %d buffers %s %s\n", ret ? "not " : "",
			       ktap_num, buf_names[tool], consumer_names[consumer]);
		}
		fflush(stdout);
	} else if (ret) {
		note("%s %s: %s: %s", buf_names[tool], consumer_names[consumer],
		     ret > 0 ? "skipped" : "ERROR", why);
	} else {
		note("%s rep %d/%d %s, %s consumer: %.1f MiB/s, producer done after %.2f s, rss %.1f MiB",
		     env.fs, rep + 1, cfg.reps, buf_names[tool],
		     consumer_names[consumer], cfg.stream_size / br->end_secs / MIB,
		     br->producer_secs, br->rss_mib);
	}
}

static void write_file(const char *path, void (*print)(FILE *))
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("%s: %s", path, strerror(errno));
	print(f);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}

/* The tools of --buffers LIST; every run; the reports.  Exit status. */
int buffers_main(void)
{
	char *copy = strdup(cfg.buffers), *save = NULL, *tok;

	if (!copy)
		die("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i = buf_index(tok);

		if (!strcmp(tok, "all")) {
			for (i = 0; i < NBUF; i++)
				use_tool[i] = true;
			continue;
		}
		if (i < 0)
			die("--buffers: unknown tool '%s' (diskbuffer, mbuffer, pv, pipe)",
			    tok);
		use_tool[i] = true;
	}
	free(copy);
	snprintf(mbuffer_file, sizeof(mbuffer_file), "%s/.stablepipe-bench-mbuffer.%d",
		 env.dir, (int)getpid());
	if (cfg.ktap) {
		char ss[32];
		int planned = 0;

		for (int t = 0; t < NBUF; t++)
			planned += use_tool[t] * NCONSUMERS;
		printf("TAP version 13\n1..%d\n", planned);
		printf("# stablepipe-bench %s --ktap --buffers: %s stream through each tool in %s, fast and slow consumer; the bytes are checked, no timing is asserted\n",
		       VERSION, human(ss, sizeof(ss), cfg.stream_size), env.dir);
		fflush(stdout);
	}
	for (int rep = 0; rep < cfg.reps; rep++)
		for (int c = 0; c < NCONSUMERS; c++)
			for (int t = 0; t < NBUF; t++)
				if (use_tool[t])
					buf_run(t, c, rep);
	if (cfg.ktap) {
		printf("# %d passed or skipped, %d failed\n", ktap_num - failures,
		       failures);
		return failures ? KSFT_FAIL : KSFT_PASS;
	}
	buf_aggregate();
	buf_summarize();
	if (cfg.json_stdout)
		buf_json(stdout);
	else
		buf_table(stdout);
	if (cfg.json_path)
		write_file(cfg.json_path, buf_json);
	if (cfg.csv_path)
		write_file(cfg.csv_path, buf_csv);
	return failures ? 1 : 0;
}
