// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: CSV output, one line per size, source and method
 */
#include "bench.h"

static void csv_field(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, ",%.6g", v);
	else
		fputc(',', f);
}

void print_csv(FILE *f)
{
	/* columns are only ever added at the end (bench.sh reads $16) */
	fprintf(f, "fs,size,source,method,mib_s,mib_s_min,mib_s_max,ratio_rw,ratio_splice,user_s_per_gib,sys_s_per_gib,pages_stolen,pages_copied,steal_rate,status,cpu_s_per_gib,resident_after,copied_hot\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		bool ok = row_ok(r);

		fprintf(f, "%s,%zu,%s,%s", env.fs, r->size,
			source_names[r->source], methods[r->method].name);
		csv_field(f, ok ? r->med_mibs : NAN);
		csv_field(f, ok ? r->min_mibs : NAN);
		csv_field(f, ok ? r->max_mibs : NAN);
		csv_field(f, ok ? r->ratio_rw : NAN);
		csv_field(f, ok ? r->ratio_splice : NAN);
		csv_field(f, ok ? r->med_user_gib : NAN);
		csv_field(f, ok ? r->med_sys_gib : NAN);
		if (r->have_stats)
			fprintf(f, ",%" PRIu64 ",%" PRIu64,
				counter(&r->tot, "pages_stolen"),
				counter(&r->tot, "pages_copied"));
		else
			fputs(",,", f);
		csv_field(f, r->have_stats ? steal_rate(&r->tot) : NAN);
		fprintf(f, ",%s", r->error[0] ? "error" : r->skip[0] ? "skipped" : "ok");
		csv_field(f, ok ? r->med_cpu_gib : NAN);
		csv_field(f, ok ? r->med_resident_after : NAN);
		if (r->have_stats)
			fprintf(f, ",%" PRIu64 "\n", counter(&r->tot, "copied_hot"));
		else
			fputs(",\n", f);
	}
}

