// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: a small JSON writer: commas and nesting are its business
 */
#include "bench.h"

static void j_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void j_sep(struct json *j, const char *key)
{
	if (j->depth) {
		if (!j->first[j->depth])
			fputc(',', j->f);
		j->first[j->depth] = false;
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (key) {
		j_str(j->f, key);
		fputs(": ", j->f);
	}
}

void j_open(struct json *j, const char *key, char c)
{
	j_sep(j, key);
	fputc(c, j->f);
	j->first[++j->depth] = true;
}

void j_close(struct json *j, char c)
{
	bool empty = j->first[j->depth];

	j->depth--;
	if (!empty) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	fputc(c, j->f);
	if (!j->depth)
		fputc('\n', j->f);
}

void j_num(struct json *j, const char *key, double v)
{
	j_sep(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

void j_u64(struct json *j, const char *key, uint64_t v)
{
	j_sep(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void j_string(struct json *j, const char *key, const char *v)
{
	j_sep(j, key);
	if (v)
		j_str(j->f, v);
	else
		fputs("null", j->f);
}

void j_bool(struct json *j, const char *key, int v)
{
	j_sep(j, key);
	fputs(v < 0 ? "null" : v ? "true" : "false", j->f);
}

