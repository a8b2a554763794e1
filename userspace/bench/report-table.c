// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the text table
 */
#include "bench.h"

static void print_header(FILE *f)
{
	char ch[32], op[32];

	fprintf(f, "stablepipe-bench %s: kernel %s, %s (%s), %d rep%s, chunk %s, output pipe %s, consumer %s%s\n",
		VERSION, env.kernel, env.fs, env.dir, cfg.reps,
		cfg.reps == 1 ? "" : "s", human(ch, sizeof(ch), cfg.chunk),
		human(op, sizeof(op), cfg.out_pipe),
		cfg.consumer_splice ? "splice to /dev/null" : "read",
		cfg.verify ? ", verified" : "");
}

void print_table(FILE *f)
{
	char sz[16], rs[200], mm[48], rr[16], rsp[16], st[16];
	int no_dev = 0;

	print_header(f);
	fprintf(f, "%-5s %-6s %-15s %9s %-19s %6s %8s %6s %6s %7s  %s\n",
		"size", "source", "method", "MiB/s", "(min-max)", "x rw",
		"x splice", "usr/G", "sys/G", "stolen", "copied (reasons, % of pages)");
	for (int s = 0; s < cfg.nsizes; s++) {
		for (int src = 0; src < NSOURCES; src++) {
			for (int mi = 0; mi < NMETHODS; mi++) {
				struct row *r = NULL;

				for (int i = 0; i < nrows; i++)
					if (rows[i].size == cfg.sizes[s] &&
					    rows[i].source == src &&
					    rows[i].method == mi)
						r = &rows[i];
				if (!r)
					continue;
				short_size(sz, sizeof(sz), r->size);
				if (!env.have_dev && !strcmp(r->skip, env.dev_why)) {
					no_dev++;	/* said once, below */
					continue;
				}
				if (r->skip[0] || r->error[0] || !r->nruns) {
					fprintf(f, "%-5s %-6s %-15s %s: %s\n", sz,
						source_names[src], methods[mi].name,
						r->error[0] ? "ERROR" : "skipped",
						r->error[0] ? r->error : r->skip);
					continue;
				}
				snprintf(mm, sizeof(mm), "(%.1f-%.1f)",
					 r->min_mibs, r->max_mibs);
				snprintf(rr, sizeof(rr), isnan(r->ratio_rw) ? "-" : "%.2f",
					 r->ratio_rw);
				snprintf(rsp, sizeof(rsp),
					 isnan(r->ratio_splice) ? "-" : "%.2f",
					 r->ratio_splice);
				if (r->have_stats) {
					double sr = steal_rate(&r->tot);

					snprintf(st, sizeof(st), "%.1f%%",
						 isnan(sr) ? 0.0 : 100 * sr);
					reasons(rs, sizeof(rs), &r->tot, 3);
				} else {
					snprintf(st, sizeof(st), "-");
					snprintf(rs, sizeof(rs), "-");
				}
				fprintf(f, "%-5s %-6s %-15s %9.1f %-19s %6s %8s %6.3f %6.3f %7s  %s\n",
					sz, source_names[src], methods[mi].name,
					r->med_mibs, mm, rr, rsp, r->med_user_gib,
					r->med_sys_gib, st, rs);
			}
		}
	}
	if (no_dev)
		fprintf(f, "%d rows of the device's methods skipped: %s\n", no_dev,
			env.dev_why);
	fprintf(f, "MiB/s: median of the runs (min-max); x rw, x splice: against those rows of the same size and source (mem rows: the warm ones; tcp-* rows: tcp-rw and tcp-sendfile); hot: sends 2 to %d of a file read twice; usr/G, sys/G: CPU seconds per GiB of the whole process; stolen: pages the device stole, of all it took in\n",
		cfg.sends);
	print_strategies(f);
	for (int i = 0; i < nsums; i++)
		fprintf(f, "%s: %s\n", env.fs, sums[i].text);
}

