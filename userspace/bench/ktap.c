// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: --ktap, the self-check that make check runs
 */
#include "bench.h"

int ktap_num;

/* The KTAP line of one run of @r that returned @ret (run.c). */
void ktap_line(struct row *r, int ret)
{
	char sz[32];
	const char *name = methods[r->method].name;

	ktap_num++;
	human(sz, sizeof(sz), r->size);
	if (ret > 0) {
		printf("ok %d %s %s # SKIP %s\n", ktap_num,
		       source_names[r->source], name, r->skip);
	} else if (ret < 0) {
		printf("# %s %s: %s\n", source_names[r->source], name, r->error);
		printf("not ok %d %s %s\n", ktap_num, source_names[r->source], name);
	} else {
		const struct run *run = &r->runs[r->nruns - 1];

		if (run->have_stats)
			printf("# %s %s: %s, checksum good; stolen %" PRIu64 ", copied %" PRIu64 " pages\n",
			       source_names[r->source], name, sz,
			       counter(&run->st, "pages_stolen"),
			       counter(&run->st, "pages_copied"));
		else
			printf("# %s %s: %s, checksum good\n",
			       source_names[r->source], name, sz);
		printf("ok %d %s %s\n", ktap_num, source_names[r->source], name);
	}
	fflush(stdout);
}

int ktap_main(void)
{
	char *buf = NULL;
	size_t len = 0;
	const char *bad;
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	printf("1..%d\n", count_planned() + 1);
	printf("# stablepipe-bench %s --ktap: %s in %s, kernel %s: every method moves the file and the bytes are checked; no timing is asserted\n",
	       VERSION, env.fs, env.dir, env.kernel);
	fflush(stdout);
	run_matrix();
	aggregate();
	summarize();

	ktap_num++;
	f = open_memstream(&buf, &len);
	if (!f)
		die("open_memstream: %s", strerror(errno));
	print_json(f);
	fclose(f);
	bad = json_check(buf);
	if (bad) {
		printf("# JSON output not well-formed at byte %td: %.40s\n",
		       bad - buf, bad);
		printf("not ok %d json output is well-formed\n", ktap_num);
		failures++;
	} else {
		printf("# JSON output: %zu bytes, %d results, %d summary lines\n",
		       len, nrows, nsums);
		printf("ok %d json output is well-formed\n", ktap_num);
	}
	free(buf);
	/* the table and CSV must at least be printable */
	f = fopen("/dev/null", "w");
	if (f) {
		print_table(f);
		print_csv(f);
		fclose(f);
	}
	printf("# %d passed or skipped, %d failed\n", ktap_num - failures,
	       failures);
	return failures ? KSFT_FAIL : KSFT_PASS;
}

