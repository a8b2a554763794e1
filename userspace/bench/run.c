// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: one run of a method on a source, and the matrix of
 * runs (every repetition runs every size, source and method once)
 */
#include "bench.h"

static const char *volatile running_what;

void on_alarm(int sig)
{
	static const char msg[] = "a transfer took longer than --timeout: ";
	const char *w = running_what ? running_what : "?";
	int fd = cfg.ktap ? 1 : 2;

	(void)sig;
	if ((cfg.ktap && write(fd, "Bail out! ", 10) < 0) ||
	    write(fd, msg, sizeof(msg) - 1) < 0 ||
	    write(fd, w, strlen(w)) < 0 || write(fd, "\n", 1) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

/* what one transfer of the file (or of memory) measured */
struct transfer {
	double secs, user, sys;
	uint64_t bytes;
	int verified;			/* -1 not checked, 0 bad, 1 good */
	bool have_stats;
	struct counters st;
};

/*
 * One transfer of @size bytes by @m from @sf (or from memory) to a
 * consumer thread, timed.  Returns 0, 1 (skipped: r->skip says why) or
 * -1 (failed: r->error).
 */
static int transfer(struct row *r, const struct method *m,
		    struct source_file *sf, size_t size, struct transfer *t)
{
	struct consumer c = { .fd = -1, .null_fd = -1 };
	struct rusage ru0, ru1;
	struct xfer x;
	double t0, t1;
	int ret, e;

	memset(t, 0, sizeof(*t));
	t->verified = -1;
	ret = xfer_setup(&x, m, size, sf);
	if (ret) {
		if (ret > 0)
			snprintf(r->skip, sizeof(r->skip), "%s", x.err);
		else
			snprintf(r->error, sizeof(r->error), "%s", x.err);
		xfer_teardown(&x);
		return ret > 0 ? 1 : -1;
	}
	r->in_pipe = x.in_pipe;
	r->out_pipe = x.out_pipe;
	r->capacity = x.capacity;

	c.verify = cfg.verify;
	c.bufsize = cfg.chunk;
	if (m->kind != K_MEMCPY) {
		/* the consumer's end now belongs to the consumer */
		int *end = m->kind == K_DEVWR ? &x.devr :
			   consumer_of(m) == C_TCP ? &x.peer : &x.outr;

		c.fd = *end;
		*end = -1;
		c.splice = cfg.consumer_splice && consumer_of(m) == C_PIPE &&
			   m->kind != K_DEVWR && m->kind != K_PIPEWR;
		if (c.splice) {
			c.null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (c.null_fd < 0) {
				snprintf(r->error, sizeof(r->error),
					 "open /dev/null: %s", strerror(errno));
				close(c.fd);
				xfer_teardown(&x);
				return -1;
			}
		} else {
			c.buf = xaligned(c.bufsize);
		}
	}

	if (cfg.timeout)
		alarm(cfg.timeout);
	if (m->kind != K_MEMCPY) {
		e = pthread_create(&c.thread, NULL, consumer_main, &c);
		if (e) {
			snprintf(r->error, sizeof(r->error),
				 "pthread_create: %s", strerror(e));
			close(c.fd);
			free(c.buf);
			xfer_teardown(&x);
			return -1;
		}
	}
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now();
	ret = xfer_produce(&x, &c);
	/* end of file for the consumer */
	if (m->kind == K_DEVWR)
		close_fd(&x.devw);
	else if (consumer_of(m) == C_TCP)
		close_fd(&x.sock);
	else
		close_fd(&x.outw);
	if (m->kind != K_MEMCPY)
		pthread_join(c.thread, NULL);
	t1 = now();
	getrusage(RUSAGE_SELF, &ru1);
	alarm(0);

	if (uses_device(m)) {
		int fd = x.devw >= 0 ? x.devw : x.devr >= 0 ? x.devr : c.fd;

		if (fd >= 0 && counters_read(fd, &t->st) == 0)
			t->have_stats = true;
	}
	if (c.fd >= 0)
		close(c.fd);
	if (c.null_fd >= 0)
		close(c.null_fd);
	free(c.buf);

	if (ret == 0 && c.err) {
		errno = c.err;
		xfail(&x, "%s", c.what);
		ret = -1;
	}
	if (ret) {
		snprintf(r->error, sizeof(r->error), "%s", x.err);
		xfer_teardown(&x);
		return -1;
	}
	xfer_teardown(&x);
	t->secs = t1 - t0;
	t->user = tv_secs(ru1.ru_utime) - tv_secs(ru0.ru_utime);
	t->sys = tv_secs(ru1.ru_stime) - tv_secs(ru0.ru_stime);
	t->bytes = c.bytes;
	if (c.bytes != size) {
		snprintf(r->error, sizeof(r->error),
			 "the consumer got %" PRIu64 " bytes of %zu", c.bytes,
			 size);
		return -1;
	}
	if (cfg.verify && !c.splice) {
		uint64_t want = sf ? sf->sum : stream_sum(size);

		t->verified = csum_final(&c.cs) == want;
		if (!t->verified) {
			snprintf(r->error, sizeof(r->error),
				 "the consumer's data differ from the source (checksum %016"
				 PRIx64 ", want %016" PRIx64 ")",
				 csum_final(&c.cs), want);
			return -1;
		}
	}
	return 0;
}

/* Prepare @sf as @source says (not timed); 0, or -1 with errno. */
static int source_prepare(struct source_file *sf, int source)
{
	switch (source) {
	case SRC_WARM:
		return file_warm(sf);
	case SRC_COLD:
		return file_cool(sf);
	case SRC_HOT:
		/* read twice: on the LRU's active list, as a hot file is */
		return file_warm(sf) || file_read(sf) ? -1 : 0;
	}
	return 0;	/* mapped: the mapper keeps it in; mem: no file */
}

/*
 * One run of @m on @sf (or on memory): one transfer, or for the hot
 * source cfg.sends transfers of which the second and later are measured.
 * Records it in @r, or sets r->skip / r->error.  Returns 0, 1 (skipped)
 * or -1 (failed).
 */
static int run_one(struct row *r, const struct method *m,
		   struct source_file *sf, int source, int rep)
{
	struct run *run = &r->runs[r->nruns];
	int sends = source == SRC_HOT ? cfg.sends : 1;
	struct transfer t;
	char what[128];
	double p0;
	int ret = 0;

	memset(run, 0, sizeof(*run));
	run->rep = rep;
	run->verified = -1;
	run->resident_before = -1;
	run->resident_after = -1;
	snprintf(what, sizeof(what), "%s %s", source_names[source], m->name);
	running_what = what;

	p0 = now();
	if (reads_file(m)) {
		if (source_prepare(sf, source)) {
			snprintf(r->error, sizeof(r->error),
				 "preparing the %s source: %s",
				 source_names[source], strerror(errno));
			return -1;
		}
		run->resident_before = file_resident(sf);
	}
	run->prep_secs = now() - p0;

	for (int k = 0; k < sends; k++) {
		ret = transfer(r, m, sf, sf ? sf->size : r->size, &t);
		if (ret)
			break;
		if (sends > 1 && k == 0) {
			run->first_secs = t.secs;
			continue;
		}
		run->sends++;
		run->secs += t.secs;
		run->user += t.user;
		run->sys += t.sys;
		run->bytes += t.bytes;
		run->volume += r->size;
		if (t.verified >= 0)
			run->verified = run->verified != 0 && t.verified;
		if (t.have_stats) {
			counters_add(&run->st, &t.st);
			run->have_stats = true;
		}
	}
	running_what = NULL;
	if (ret)
		return ret;
	if (reads_file(m))
		run->resident_after = file_resident(sf);
	r->nruns++;
	return 0;
}

int failures;

/* One run of @mi, reported as it ends (progress, or a KTAP line). */
static void run_row(size_t size, int src, int mi, struct source_file *sf,
		    int rep)
{
	struct row *r = row_get(size, src, mi);
	int ret;

	if (r->skip[0] || r->error[0])
		return;
	ret = run_one(r, &methods[mi], sf, src, rep);
	if (cfg.ktap) {
		ktap_line(r, ret);
	} else if (ret > 0) {
		/* no device: said once, at the start */
		if (strcmp(r->skip, env.dev_why))
			note("%s %s: skipped: %s", source_names[src],
			     methods[mi].name, r->skip);
	} else if (ret < 0) {
		note("%s %s: ERROR: %s", source_names[src], methods[mi].name,
		     r->error);
	} else {
		const struct run *run = &r->runs[r->nruns - 1];
		char sz[32];

		note("%s %s %s rep %d/%d %s: %.1f MiB/s, usr %.3fs sys %.3fs%s",
		     env.fs, human(sz, sizeof(sz), size), source_names[src],
		     rep + 1, cfg.reps, methods[mi].name,
		     run->volume / run->secs / MIB, run->user, run->sys,
		     run->verified > 0 ? ", verified" : "");
	}
	if (ret < 0)
		failures++;
}

/*
 * Repetitions outermost: every repetition runs every size, source and
 * method once, so that a drift of the machine (an emulator shares its
 * host) touches them all alike rather than one size or method.
 */
void run_matrix(void)
{
	struct source_file sf[MAX_SIZES];
	bool any_method = false, any_source = false;

	for (int mi = 0; mi < NMETHODS; mi++)
		if (cfg.use_method[mi] && reads_file(&methods[mi]))
			any_method = true;
	for (int src = SRC_WARM; src < SRC_MEM; src++)
		if (cfg.use_source[src])
			any_source = true;
	for (int s = 0; s < cfg.nsizes; s++) {
		sf[s].fd = -1;
		if (any_method && any_source) {
			file_create(&sf[s], cfg.sizes[s]);
			file_cool(&sf[s]);
		}
	}
	for (int rep = 0; rep < cfg.reps; rep++) {
		for (int s = 0; s < cfg.nsizes; s++) {
			size_t size = cfg.sizes[s];

			for (int src = SRC_WARM; src < SRC_MEM && sf[s].fd >= 0; src++) {
				if (!cfg.use_source[src])
					continue;
				if (src == SRC_MAPPED && mapper_start(&sf[s]))
					die("mapping the file in another process: %s",
					    strerror(errno));
				for (int mi = 0; mi < NMETHODS; mi++)
					if (cfg.use_method[mi] &&
					    reads_file(&methods[mi]))
						run_row(size, src, mi, &sf[s], rep);
				mapper_stop(&sf[s]);
			}
			/* out of the page cache until its next turn */
			if (sf[s].fd >= 0)
				file_cool(&sf[s]);
			if (!cfg.use_source[SRC_MEM])
				continue;
			for (int mi = 0; mi < NMETHODS; mi++)
				if (cfg.use_method[mi] && !reads_file(&methods[mi]))
					run_row(size, SRC_MEM, mi, NULL, rep);
		}
	}
	for (int s = 0; s < cfg.nsizes; s++)
		if (sf[s].fd >= 0)
			file_destroy(&sf[s]);
}

int count_planned(void)
{
	int n = 0;

	for (int s = 0; s < cfg.nsizes; s++)
		for (int mi = 0; mi < NMETHODS; mi++) {
			if (!cfg.use_method[mi])
				continue;
			if (!reads_file(&methods[mi])) {
				n += cfg.use_source[SRC_MEM] ? cfg.reps : 0;
				continue;
			}
			for (int src = SRC_WARM; src < SRC_MEM; src++)
				n += cfg.use_source[src] ? cfg.reps : 0;
		}
	return n;
}

