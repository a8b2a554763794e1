// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the three strategies side by side, for each workload
 *
 * The 2026 debate on splice (make splice to a pipe always copy from the
 * page cache) weighs three ways to hand file data to a consumer:
 *
 *	reference      splice(2)/sendfile(2) by reference: today's splice,
 *		       zero copy and not stable
 *	copy always    the proposal; here the device with policy "copy"
 *	steal or copy  the device with policy "auto": steal what nobody
 *		       else can see, copy the rest
 *
 * and read(2) + write(2)/send(2) is the copy in user space that programs
 * do without splice.  A workload is a consumer (a pipe, a TCP socket)
 * and a source (warm, cold, hot: see run.c).
 */
#include "bench.h"

const char *const strategy_names[NSTRATEGIES] = {
	"reference", "copy always", "steal or copy", "read+write"
};

/* the method of each strategy, per consumer */
static const char *const strategy_methods[2][NSTRATEGIES] = {
	[C_PIPE] = { "splice", "copy-splice-1m", "auto-splice-1m", "rw" },
	[C_TCP] = { "tcp-sendfile", "tcp-copy-splice", "tcp-auto-splice",
		    "tcp-rw" },
};

static const int strategy_sources[] = { SRC_WARM, SRC_COLD, SRC_HOT };

/* The workloads of which at least two strategies ran, in @out. */
int strategy_rows(struct strategy_row *out, int max)
{
	int n = 0;

	for (int s = 0; s < cfg.nsizes; s++)
		for (int c = C_PIPE; c <= C_TCP; c++)
			for (size_t k = 0; k < sizeof(strategy_sources) /
					       sizeof(strategy_sources[0]); k++) {
				struct strategy_row sr = {
					.size = cfg.sizes[s], .consumer = c,
					.source = strategy_sources[k],
				};
				int have = 0;

				for (int i = 0; i < NSTRATEGIES; i++) {
					struct row *r = row_find(sr.size, sr.source,
								 strategy_methods[c][i]);

					sr.r[i] = row_ok(r) ? r : NULL;
					have += !!sr.r[i];
				}
				if (have >= 2 && n < max)
					out[n++] = sr;
			}
	return n;
}

static const char *workload(char *buf, size_t len, const struct strategy_row *w)
{
	if (w->source == SRC_HOT)
		snprintf(buf, len, "%s, hot x%d", w->consumer == C_TCP ? "tcp" : "pipe",
			 cfg.sends);
	else
		snprintf(buf, len, "%s, %s", w->consumer == C_TCP ? "tcp" : "pipe",
			 source_names[w->source]);
	return buf;
}

/* "MiB/s cpu/G res" of one strategy, or dashes */
static void cell(char *buf, size_t len, const struct row *r, bool res)
{
	char rb[16] = "";

	if (!r) {
		snprintf(buf, len, "%7s %5s%s", "-", "-", res ? "     -" : "");
		return;
	}
	if (res)
		snprintf(rb, sizeof(rb), isnan(r->med_resident_after) ?
			 "     -" : " %4.0f%%", 100 * r->med_resident_after);
	snprintf(buf, len, "%7.1f %5.2f%s", r->med_mibs, r->med_cpu_gib, rb);
}

static void ratio(char *buf, size_t len, const struct row *a, const struct row *b)
{
	double q = paired_ratio(a, b);

	snprintf(buf, len, isnan(q) ? "-" : "%.2f", q);
}

void print_strategies(FILE *f)
{
	struct strategy_row w[3 * 2 * MAX_SIZES];
	int n = strategy_rows(w, ARRAY_SIZE(w));
	char name[32], c[4][40], rs[120], q[3][16], sz[16];

	if (!n)
		return;
	fprintf(f, "\nThe three strategies, per workload: reference = splice/sendfile by reference (not stable); copy always = the device, policy copy; steal or copy = the device, policy auto; read+write = the copy in user space\n");
	fprintf(f, "%-5s %-15s %-20s %-20s %-20s %-13s %5s %5s %5s  %s\n", "size",
		"workload", "reference", "copy always", "steal or copy",
		"read+write", "c/ref", "a/ref", "a/c", "steal or copy: stolen, copied");
	fprintf(f, "%-5s %-15s %-20s %-20s %-20s %-13s\n", "", "",
		"  MiB/s cpu/G   res", "  MiB/s cpu/G   res",
		"  MiB/s cpu/G   res", "  MiB/s cpu/G");
	for (int i = 0; i < n; i++) {
		const struct row *a = w[i].r[2];
		double sr;

		for (int k = 0; k < NSTRATEGIES; k++)
			cell(c[k], sizeof(c[k]), w[i].r[k], k < 3);
		ratio(q[0], sizeof(q[0]), w[i].r[1], w[i].r[0]);
		ratio(q[1], sizeof(q[1]), w[i].r[2], w[i].r[0]);
		ratio(q[2], sizeof(q[2]), w[i].r[2], w[i].r[1]);
		if (a && a->have_stats) {
			sr = steal_rate(&a->tot);
			snprintf(rs, sizeof(rs), "%.1f%%, ", isnan(sr) ? 0 : 100 * sr);
			reasons(rs + strlen(rs), sizeof(rs) - strlen(rs), &a->tot, 3);
		} else {
			snprintf(rs, sizeof(rs), "-");
		}
		fprintf(f, "%-5s %-15s %-20s %-20s %-20s %-13s %5s %5s %5s  %s\n",
			short_size(sz, sizeof(sz), w[i].size),
			workload(name, sizeof(name), &w[i]), c[0], c[1], c[2],
			c[3], q[0], q[1], q[2], rs);
	}
	fprintf(f, "MiB/s: median; cpu/G: CPU seconds (user + system) per GiB; res: the file's pages in the page cache after the run (median); c/ref, a/ref, a/c: paired throughput ratios of copy always, steal or copy to reference, of steal or copy to copy always\n\n");
}

void json_strategies(struct json *j)
{
	struct strategy_row w[3 * 2 * MAX_SIZES];
	int n = strategy_rows(w, ARRAY_SIZE(w));
	static const char *const keys[NSTRATEGIES] = {
		"reference", "copy_always", "steal_or_copy", "read_write"
	};

	j_open(j, "strategies", '[');
	for (int i = 0; i < n; i++) {
		j_open(j, NULL, '{');
		j_u64(j, "size", w[i].size);
		j_string(j, "consumer", w[i].consumer == C_TCP ? "tcp" : "pipe");
		j_string(j, "source", source_names[w[i].source]);
		if (w[i].source == SRC_HOT)
			j_u64(j, "sends", cfg.sends);
		for (int k = 0; k < NSTRATEGIES; k++) {
			const struct row *r = w[i].r[k];

			j_open(j, keys[k], '{');
			j_string(j, "method", strategy_methods[w[i].consumer][k]);
			j_num(j, "mib_s", r ? r->med_mibs : NAN);
			j_num(j, "cpu_s_per_gib", r ? r->med_cpu_gib : NAN);
			j_num(j, "resident_after", r ? r->med_resident_after : NAN);
			if (r && r->have_stats) {
				j_num(j, "steal_rate", steal_rate(&r->tot));
				j_u64(j, "copied_hot", counter(&r->tot, "copied_hot"));
			}
			j_close(j, '}');
		}
		j_num(j, "ratio_copy_reference", paired_ratio(w[i].r[1], w[i].r[0]));
		j_num(j, "ratio_auto_reference", paired_ratio(w[i].r[2], w[i].r[0]));
		j_num(j, "ratio_auto_copy", paired_ratio(w[i].r[2], w[i].r[1]));
		j_close(j, '}');
	}
	j_close(j, ']');
}

/*
 * One line per workload (the debate's numbers), and target 5: a hot file
 * sent again and again costs with "auto" at most 1.05x what it costs with
 * "copy", and stays >= 90% resident.
 */
void summarize_strategies(void)
{
	struct strategy_row w[3 * 2 * MAX_SIZES];
	int n = strategy_rows(w, ARRAY_SIZE(w));
	char name[32], sz[32], rs[160];

	for (int i = 0; i < n; i++) {
		const struct row *ref = w[i].r[0], *cp = w[i].r[1], *au = w[i].r[2];

		if (!ref || !cp || !au)
			continue;
		human(sz, sizeof(sz), w[i].size);
		workload(name, sizeof(name), &w[i]);
		add_summary(0, w[i].size, -1,
			    "strategies (%s, %s): copy always %.2fx reference, steal or copy %.2fx reference and %.2fx copy always (throughput); cpu s/GiB %.2f, %.2f, %.2f",
			    name, sz, paired_ratio(cp, ref), paired_ratio(au, ref),
			    paired_ratio(au, cp), ref->med_cpu_gib,
			    cp->med_cpu_gib, au->med_cpu_gib);
		if (w[i].source == SRC_HOT) {
			/* cost: auto's seconds over copy's, paired */
			double cost = paired_ratio(cp, au);
			double res = au->med_resident_after;
			int met = cost <= 1.05 && res >= 0.9;

			add_summary(5, w[i].size, met,
				    "target 5, hot file sent %d times (%s, %s): steal or copy costs %.3fx copy always, %.0f%% resident after (copy always %.0f%%); copied: %s: %s (needs <= 1.05x and >= 90%%)",
				    cfg.sends, name, sz, cost, 100 * res,
				    100 * cp->med_resident_after,
				    au->have_stats ? reasons(rs, sizeof(rs), &au->tot, 3) : "-",
				    verdict(met));
		}
	}
}
