// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: measurement: medians, spreads and paired ratios of the
 * runs
 */
#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row *rows;
int nrows;
static int rows_cap;

/* The row of @size, @source and @method; a new one if there is none. */
struct row *row_get(size_t size, int source, int method)
{
	struct row *r;

	for (int i = 0; i < nrows; i++)
		if (rows[i].size == size && rows[i].source == source &&
		    rows[i].method == method)
			return &rows[i];
	if (nrows == rows_cap) {
		rows_cap = rows_cap ? 2 * rows_cap : 64;
		rows = realloc(rows, rows_cap * sizeof(*rows));
		if (!rows)
			die("out of memory");
	}
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->source = source;
	r->method = method;
	r->ratio_rw = NAN;
	r->ratio_splice = NAN;
	return r;
}

/* it ran, and without an error */
bool row_ok(const struct row *r)
{
	return r && r->nruns && !r->error[0] && !r->skip[0];
}

struct row *row_find(size_t size, int source, const char *method)
{
	int mi = method_index(method);

	for (int i = 0; i < nrows; i++)
		if (rows[i].size == size && rows[i].source == source &&
		    rows[i].method == mi && rows[i].nruns && !rows[i].error[0])
			return &rows[i];
	return NULL;
}

/*
 * How much faster @r is than @base: the median over the repetitions of
 * the ratio within each repetition (the methods of one repetition run
 * close together in time, so a drift of the machine cancels out).
 */
double paired_ratio(const struct row *r, const struct row *base)
{
	double q[MAX_REPS];
	int n = 0;

	if (!r || !base || r->error[0])
		return NAN;
	for (int i = 0; i < r->nruns; i++)
		for (int k = 0; k < base->nruns; k++)
			if (base->runs[k].rep == r->runs[i].rep &&
			    r->runs[i].secs > 0)
				q[n++] = base->runs[k].secs / r->runs[i].secs;
	return median(q, n);
}

void aggregate(void)
{
	double v[MAX_REPS], u[MAX_REPS], s[MAX_REPS], t[MAX_REPS];
	double c[MAX_REPS], res[MAX_REPS];

	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		int nres = 0;

		memset(&r->tot, 0, sizeof(r->tot));
		r->have_stats = false;
		r->min_mibs = INFINITY;
		r->max_mibs = 0;
		for (int k = 0; k < r->nruns; k++) {
			const struct run *run = &r->runs[k];
			double gib = (double)run->volume / GIB;

			v[k] = run->secs > 0 ? run->volume / run->secs / MIB : NAN;
			u[k] = run->user / gib;
			s[k] = run->sys / gib;
			c[k] = (run->user + run->sys) / gib;
			t[k] = run->secs;
			if (run->resident_after >= 0)
				res[nres++] = run->resident_after;
			if (v[k] < r->min_mibs)
				r->min_mibs = v[k];
			if (v[k] > r->max_mibs)
				r->max_mibs = v[k];
			if (run->have_stats) {
				counters_add(&r->tot, &run->st);
				r->have_stats = true;
			}
		}
		r->med_mibs = median(v, r->nruns);
		r->med_user_gib = median(u, r->nruns);
		r->med_sys_gib = median(s, r->nruns);
		r->med_cpu_gib = median(c, r->nruns);
		r->med_secs = median(t, r->nruns);
		r->med_resident_after = median(res, nres);
		if (!r->nruns)
			r->min_mibs = NAN;
		if (!r->nruns)
			r->max_mibs = NAN;
	}
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		/* memory methods compare with the warm file */
		int src = r->source == SRC_MEM ? SRC_WARM : r->source;
		/* the copying and the by-reference path of the same consumer */
		bool tcp = consumer_of(&methods[r->method]) == C_TCP;
		struct row *rw = row_find(r->size, src, tcp ? "tcp-rw" : "rw");
		struct row *sp = row_find(r->size, src,
					  tcp ? "tcp-sendfile" : "splice");

		r->ratio_rw = paired_ratio(r, rw);
		r->ratio_splice = paired_ratio(r, sp);
	}
}
