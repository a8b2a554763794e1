// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: summary lines, one per target
 */
#include "bench.h"

struct summary *sums;
int nsums;
static int sums_cap;

void add_summary(int target, size_t size, int met, const char *fmt, ...)
{
	va_list ap;
	struct summary *s;

	if (nsums == sums_cap) {
		sums_cap = sums_cap ? 2 * sums_cap : 16;
		sums = realloc(sums, sums_cap * sizeof(*sums));
		if (!sums)
			die("out of memory");
	}
	s = &sums[nsums++];
	s->target = target;
	s->size = size;
	s->met = met;
	va_start(ap, fmt);
	vsnprintf(s->text, sizeof(s->text), fmt, ap);
	va_end(ap);
}

const char *verdict(int met)
{
	return met > 0 ? "MET" : met == 0 ? "NOT MET" : "n/a";
}

static void summarize_size(size_t size)
{
	static const char *const autos[] = {
		"auto-sendfile", "auto-splice-64k", "auto-splice-1m",
		"auto-splice-4m",
	};
	char sz[32], rs[160];
	struct row *rw, *sp, *r;
	int have_cold = 0;

	human(sz, sizeof(sz), size);

	/* 1: stable transfer, warm: >= 1.5x rw and >= 0.8x splice */
	rw = row_find(size, SRC_WARM, "rw");
	sp = row_find(size, SRC_WARM, "splice");
	if (rw && sp) {
		char text[600], who[200] = "";
		size_t n = 0, w = 0;
		int met = -1;

		n += snprintf(text + n, sizeof(text) - n,
			      "target 1, stable transfer (warm, %s):", sz);
		for (size_t i = 0; i < ARRAY_SIZE(autos); i++) {
			r = row_find(size, SRC_WARM, autos[i]);
			if (!r)
				continue;
			n += snprintf(text + n, sizeof(text) - n,
				      " %s %.3fx rw %.3fx splice;", autos[i],
				      r->ratio_rw, r->ratio_splice);
			if (r->ratio_rw >= 1.5 && r->ratio_splice >= 0.8) {
				w += snprintf(who + w, sizeof(who) - w, "%s%s",
					      w ? ", " : "", autos[i]);
				met = 1;
			} else if (met < 0) {
				met = 0;
			}
		}
		if (met >= 0) {
			text[--n] = '\0';	/* the last ';' */
			add_summary(1, size, met, "%s: %s%s%s (needs >= 1.50x rw and >= 0.80x splice)",
				    text, verdict(met), met > 0 ? " by " : "", who);
		}
	}

	/* 2: steal rate, cold, pipe >= 1 MiB; and what sendfile reaches */
	for (int i = 0; i < nrows; i++)
		if (rows[i].size == size && rows[i].source == SRC_COLD)
			have_cold = 1;
	for (int i = 0; i < 3 && have_cold; i++) {
		static const char *const names[] = {
			"auto-splice-1m", "auto-splice-4m", "auto-sendfile"
		};

		r = row_find(size, SRC_COLD, names[i]);
		if (r && r->have_stats)
			have_cold = 2;
	}
	if (have_cold == 2) {
		static const char *const big[] = {
			"auto-splice-1m", "auto-splice-4m", "auto-sendfile"
		};
		char text[600];
		size_t n = 0;
		int met = -1;

		n += snprintf(text + n, sizeof(text) - n,
			      "target 2, steal rate of clean unmapped pages (cold, %s):",
			      sz);
		for (size_t i = 0; i < ARRAY_SIZE(big); i++) {
			uint64_t el;
			double rate;

			r = row_find(size, SRC_COLD, big[i]);
			if (!r || !r->have_stats)
				continue;
			el = eligible_pages(&r->tot);
			if (!el) {
				n += snprintf(text + n, sizeof(text) - n,
					      " %s no eligible pages (%s);",
					      big[i], reasons(rs, sizeof(rs), &r->tot, 2));
				continue;
			}
			rate = (double)counter(&r->tot, "pages_stolen") / el;
			n += snprintf(text + n, sizeof(text) - n,
				      " %s %.1f%% (copied: %s);", big[i],
				      100 * rate, reasons(rs, sizeof(rs), &r->tot, 3));
			if (i < 2)
				met = (met != 0) && rate >= 0.95;
		}
		if (n && text[n - 1] == ';')
			text[--n] = '\0';
		snprintf(text + n, sizeof(text) - n,
			 ": %s (pipe >= 1 MiB needs >= 95%%; sendfile reported)",
			 verdict(met));
		add_summary(2, size, met, "%s", text);
	}

	/* not a target: what stealing gains over copying, per source */
	for (int src = SRC_WARM; src < SRC_MEM; src++) {
		static const char *const pairs[][2] = {
			{ "auto-sendfile", "copy-sendfile" },
			{ "auto-splice-64k", "copy-splice-64k" },
			{ "auto-splice-1m", "copy-splice-1m" },
			{ "auto-splice-4m", "copy-splice-4m" },
			{ "tcp-auto-splice", "tcp-copy-splice" },
		};
		char text[600];
		size_t n = 0;
		int any = 0;

		n += snprintf(text, sizeof(text), "steal vs copy (%s, %s):",
			      source_names[src], sz);
		for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
			struct row *a = row_find(size, src, pairs[i][0]);
			struct row *c = row_find(size, src, pairs[i][1]);
			double sr;

			if (!a || !c || !a->have_stats)
				continue;
			sr = steal_rate(&a->tot);
			n += snprintf(text + n, sizeof(text) - n,
				      " %s %.2fx %s (%.0f%% stolen);", pairs[i][0],
				      paired_ratio(a, c), pairs[i][1],
				      isnan(sr) ? 0.0 : 100 * sr);
			any = 1;
		}
		if (any) {
			text[--n] = '\0';
			add_summary(0, size, -1, "%s", text);
		}
	}

	/* 3: write+read through the device >= 0.9x a plain pipe */
	{
		struct row *pw = row_find(size, SRC_MEM, "pipe-wr");
		struct row *dw = row_find(size, SRC_MEM, "dev-wr");

		if (pw && dw) {
			double q = paired_ratio(dw, pw);
			int met = q >= 0.9;

			add_summary(3, size, met,
				    "target 3, write+read through the device (%s): %.3fx a plain pipe: %s (needs >= 0.90x)",
				    sz, q, verdict(met));
		}
	}
}

/*
 * Target 4: time = fixed + per_byte * bytes, fitted by least squares on
 * the relative error (each size weighs the same); linear when every size
 * is within 25% of the line, for wall time and for CPU time.
 */
struct fit {
	double a, b, worst;
	size_t worst_size;
};

static void fit_line(const double *x, const double *y, int n, struct fit *f)
{
	double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, d;

	for (int i = 0; i < n; i++) {
		double w = 1 / (y[i] * y[i]);

		sw += w;
		sx += w * x[i];
		sy += w * y[i];
		sxx += w * x[i] * x[i];
		sxy += w * x[i] * y[i];
	}
	d = sw * sxx - sx * sx;
	f->b = d ? (sw * sxy - sx * sy) / d : 0;
	f->a = d ? (sy - f->b * sx) / sw : 0;
	f->worst = 0;
	for (int i = 0; i < n; i++) {
		double pred = f->a + f->b * x[i];
		double dev = pred > 0 ? (y[i] > pred ? y[i] - pred : pred - y[i]) / pred : INFINITY;

		if (dev > f->worst) {
			f->worst = dev;
			f->worst_size = (size_t)x[i];
		}
	}
}

static void summarize_linearity(void)
{
	for (int mi = 0; mi < NMETHODS; mi++) {
		for (int src = 0; src < NSOURCES; src++) {
			double x[MAX_SIZES], wall[MAX_SIZES], cpu[MAX_SIZES];
			char lo[32], hi[32], ws[32], wc[32], per[400];
			struct fit fw, fc;
			size_t np = 0;
			int n = 0, met;

			for (int s = 0; s < cfg.nsizes; s++) {
				struct row *r = row_find(cfg.sizes[s], src,
							 methods[mi].name);
				double u[MAX_REPS];

				if (!r)
					continue;
				/* the fastest run: what noise never adds to */
				wall[n] = INFINITY;
				cpu[n] = INFINITY;
				for (int k = 0; k < r->nruns; k++) {
					u[k] = r->runs[k].user + r->runs[k].sys;
					if (r->runs[k].secs < wall[n])
						wall[n] = r->runs[k].secs;
					if (u[k] < cpu[n])
						cpu[n] = u[k];
				}
				x[n] = r->size;
				if (cpu[n] <= 0)
					cpu[n] = 0.000001;
				np += snprintf(per + np, sizeof(per) > np ? sizeof(per) - np : 0,
					       "%s%s %.3g", n ? ", " : "",
					       short_size(lo, sizeof(lo), r->size),
					       wall[n] / r->size * GIB);
				n++;
			}
			if (n < 3)
				continue;
			fit_line(x, wall, n, &fw);
			fit_line(x, cpu, n, &fc);
			met = fw.worst <= 0.25 && fc.worst <= 0.25;
			add_summary(4, 0, met,
				    "target 4, linearity %s (%s, %s..%s, fastest of the runs): %.3g s/GiB + %.3g ms, worst %.0f%% off the line at %s (cpu %.3g s/GiB + %.3g ms, worst %.0f%% at %s); s/GiB by size: %s: %s (needs every size within 25%%)",
				    methods[mi].name, source_names[src],
				    human(lo, sizeof(lo), (size_t)x[0]),
				    human(hi, sizeof(hi), (size_t)x[n - 1]),
				    fw.b * GIB, fw.a * 1e3, 100 * fw.worst,
				    short_size(ws, sizeof(ws), fw.worst_size),
				    fc.b * GIB, fc.a * 1e3, 100 * fc.worst,
				    short_size(wc, sizeof(wc), fc.worst_size),
				    per, verdict(met));
		}
	}
}

void summarize(void)
{
	nsums = 0;
	for (int s = 0; s < cfg.nsizes; s++)
		summarize_size(cfg.sizes[s]);
	summarize_linearity();
	summarize_strategies();
}

