// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the JSON report
 */
#include "bench.h"

/* every counter the module reported, by its name */
static void j_stats(struct json *j, const char *key, const struct counters *st)
{
	j_open(j, key, '{');
	for (int i = 0; i < ncounters; i++)
		j_u64(j, counter_names[i], st->v[i]);
	j_close(j, '}');
}

void print_json(FILE *f)
{
	struct json j = { .f = f };

	j_open(&j, NULL, '{');
	j_string(&j, "tool", "stablepipe-bench");
	j_string(&j, "version", VERSION);
	j_u64(&j, "format", 1);
	j_string(&j, "kernel", env.kernel);
	j_string(&j, "fs", env.fs);
	j_string(&j, "dir", env.dir);
	j_u64(&j, "page_size", page_size);
	j_bool(&j, "device", env.have_dev);
	if (env.have_dev) {
		j_string(&j, "device_default_policy",
			 env.dev_default_policy == STABLEPIPE_POLICY_COPY ?
			 "copy" : "auto");
		j_u64(&j, "device_default_capacity", env.dev_default_capacity);
	}
	j_open(&j, "config", '{');
	j_u64(&j, "reps", cfg.reps);
	j_u64(&j, "sends", cfg.sends);
	j_u64(&j, "chunk", cfg.chunk);
	j_u64(&j, "out_pipe", cfg.out_pipe);
	j_u64(&j, "capacity", cfg.capacity);
	j_string(&j, "consumer", cfg.consumer_splice ? "splice" : "read");
	j_bool(&j, "verify", cfg.verify);
	j_open(&j, "sizes", '[');
	for (int s = 0; s < cfg.nsizes; s++)
		j_u64(&j, NULL, cfg.sizes[s]);
	j_close(&j, ']');
	j_close(&j, '}');
	j_open(&j, "results", '[');
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		const struct method *m = &methods[r->method];
		bool ok = row_ok(r);
		uint64_t el = eligible_pages(&r->tot);

		j_open(&j, NULL, '{');
		j_u64(&j, "size", r->size);
		j_string(&j, "source", source_names[r->source]);
		j_string(&j, "method", m->name);
		j_string(&j, "consumer", consumer_of(m) == C_TCP ? "tcp" : "pipe");
		j_string(&j, "path", m->path);
		j_string(&j, "status", r->error[0] ? "error" :
			 r->skip[0] ? "skipped" : ok ? "ok" : "not run");
		if (r->error[0])
			j_string(&j, "error", r->error);
		if (r->skip[0])
			j_string(&j, "skip", r->skip);
		j_bool(&j, "device", uses_device(m));
		j_string(&j, "policy", !uses_device(m) ? NULL :
			 m->policy == STABLEPIPE_POLICY_COPY ? "copy" : "auto");
		j_u64(&j, "in_pipe", r->in_pipe);
		j_u64(&j, "out_pipe", r->out_pipe);
		j_u64(&j, "capacity", r->capacity);
		j_num(&j, "mib_s", ok ? r->med_mibs : NAN);
		j_num(&j, "mib_s_min", ok ? r->min_mibs : NAN);
		j_num(&j, "mib_s_max", ok ? r->max_mibs : NAN);
		j_num(&j, "secs", ok ? r->med_secs : NAN);
		j_num(&j, "user_s_per_gib", ok ? r->med_user_gib : NAN);
		j_num(&j, "sys_s_per_gib", ok ? r->med_sys_gib : NAN);
		j_num(&j, "cpu_s_per_gib", ok ? r->med_cpu_gib : NAN);
		j_num(&j, "resident_after", ok ? r->med_resident_after : NAN);
		j_num(&j, "ratio_rw", ok ? r->ratio_rw : NAN);
		j_num(&j, "ratio_splice", ok ? r->ratio_splice : NAN);
		j_num(&j, "steal_rate", r->have_stats ? steal_rate(&r->tot) : NAN);
		j_num(&j, "steal_rate_eligible", r->have_stats && el ?
		      (double)counter(&r->tot, "pages_stolen") / el : NAN);
		if (r->have_stats)
			j_stats(&j, "stats_total", &r->tot);
		j_open(&j, "runs", '[');
		for (int k = 0; k < r->nruns; k++) {
			const struct run *run = &r->runs[k];

			j_open(&j, NULL, '{');
			j_u64(&j, "rep", run->rep + 1);
			j_num(&j, "secs", run->secs);
			j_num(&j, "user", run->user);
			j_num(&j, "sys", run->sys);
			j_num(&j, "mib_s", run->secs > 0 ?
			      run->volume / run->secs / MIB : NAN);
			j_u64(&j, "bytes", run->bytes);
			if (r->source == SRC_HOT) {
				/* the measured sends: the second and later */
				j_u64(&j, "sends", run->sends);
				j_num(&j, "first_secs", run->first_secs);
			}
			j_bool(&j, "verified", run->verified);
			j_num(&j, "prep_secs", run->prep_secs);
			j_num(&j, "resident_before", run->resident_before >= 0 ?
			      run->resident_before : NAN);
			j_num(&j, "resident_after", run->resident_after >= 0 ?
			      run->resident_after : NAN);
			if (run->have_stats)
				j_stats(&j, "stats", &run->st);
			j_close(&j, '}');
		}
		j_close(&j, ']');
		j_close(&j, '}');
	}
	j_close(&j, ']');
	json_strategies(&j);
	json_summary(&j);
	j_close(&j, '}');
}

/* "summary": the targets' lines (summary.c), in --json and --buffers --json */
void json_summary(struct json *j)
{
	j_open(j, "summary", '[');
	for (int i = 0; i < nsums; i++) {
		j_open(j, NULL, '{');
		j_u64(j, "target", sums[i].target);
		if (sums[i].size)
			j_u64(j, "size", sums[i].size);
		j_bool(j, "met", sums[i].met);
		j_string(j, "text", sums[i].text);
		j_close(j, '}');
	}
	j_close(j, ']');
}
