// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: a strict JSON checker (RFC 8259), for --ktap
 */
#include "bench.h"

struct jp {
	const char *p;
	int depth;
};

static void jp_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool jp_value(struct jp *j);

static bool jp_string(struct jp *j)
{
	if (*j->p++ != '"')
		return false;
	for (;;) {
		unsigned char c = *j->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		c = *j->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, j->p++)
				if (!((*j->p >= '0' && *j->p <= '9') ||
				      (*j->p >= 'a' && *j->p <= 'f') ||
				      (*j->p >= 'A' && *j->p <= 'F')))
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
}

static bool jp_digits(struct jp *j)
{
	const char *s = j->p;

	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool jp_number(struct jp *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (!jp_digits(j))
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!jp_digits(j))
			return false;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!jp_digits(j))
			return false;
	}
	return true;
}

static bool jp_container(struct jp *j, char close, bool object)
{
	j->p++;
	if (++j->depth > 64)
		return false;
	jp_ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		jp_ws(j);
		if (object) {
			if (*j->p != '"' || !jp_string(j))
				return false;
			jp_ws(j);
			if (*j->p++ != ':')
				return false;
			jp_ws(j);
		}
		if (!jp_value(j))
			return false;
		jp_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != close)
			return false;
		j->depth--;
		return true;
	}
}

static bool jp_value(struct jp *j)
{
	switch (*j->p) {
	case '{': return jp_container(j, '}', true);
	case '[': return jp_container(j, ']', false);
	case '"': return jp_string(j);
	case 't': return !strncmp(j->p, "true", 4) && (j->p += 4);
	case 'f': return !strncmp(j->p, "false", 5) && (j->p += 5);
	case 'n': return !strncmp(j->p, "null", 4) && (j->p += 4);
	default: return jp_number(j);
	}
}

/* NULL if @s is one well-formed JSON text, else where it goes wrong. */
const char *json_check(const char *s)
{
	struct jp j = { .p = s };

	jp_ws(&j);
	if (!jp_value(&j))
		return j.p;
	jp_ws(&j);
	return *j.p ? j.p : NULL;
}
