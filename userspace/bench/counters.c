// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the device's counters of an instance, by name
 *
 * Read from /proc/self/fdinfo/FD, which lists every counter the module
 * has ("copied_busy:\t3"), so that a counter a newer module adds (such
 * as copied_hot) is reported without a new struct here.  Without /proc,
 * STABLEPIPE_IOC_GET_STATS with this program's struct, which the module
 * fills as far as both know.
 */
#include "bench.h"

/* the counters of STABLEPIPE_IOC_GET_STATS, in its order (the JSON's) */
static const struct {
	const char *name;
	size_t off;
} ioc_fields[] = {
#define F(n) { #n, offsetof(struct stablepipe_stats, n) }
	F(pages_stolen), F(pages_copied), F(copied_user), F(copied_policy),
	F(copied_mapped), F(copied_pinned), F(copied_dirty),
	F(copied_writeback), F(copied_large_folio), F(copied_busy),
	F(copied_not_stealable), F(copied_partial), F(copied_small),
	F(bytes_in_write), F(bytes_in_splice), F(bytes_in_sendfile),
	F(bytes_out_read), F(bytes_out_splice), F(bytes_buffered),
	F(capacity), F(copied_hot),
#undef F
};

#define NIOC_FIELDS	((int)ARRAY_SIZE(ioc_fields))

const char *counter_names[MAX_COUNTERS];
int ncounters;

void counters_init(void)
{
	for (int i = 0; i < NIOC_FIELDS; i++)
		counter_names[ncounters++] = ioc_fields[i].name;
}

/* The index of @name, registered if new; -1 when the table is full. */
static int counter_index(const char *name, bool add)
{
	char *copy;

	for (int i = 0; i < ncounters; i++)
		if (!strcmp(counter_names[i], name))
			return i;
	if (!add || ncounters == MAX_COUNTERS)
		return -1;
	copy = strdup(name);
	if (!copy)
		die("out of memory");
	counter_names[ncounters] = copy;
	return ncounters++;
}

uint64_t counter(const struct counters *c, const char *name)
{
	int i = counter_index(name, false);

	return i < 0 ? 0 : c->v[i];
}

bool counter_is_reason(int i)
{
	return !strncmp(counter_names[i], "copied_", 7);
}

/*
 * fdinfo: the known counters, and any copied_* reason (a newer module's);
 * not the instance's other lines (pages, policy, readers...).
 */
static int counters_fdinfo(int fd, struct counters *c)
{
	char path[64], line[256], name[128];
	unsigned long long v;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int i;

		if (sscanf(line, "%127[a-z_]:%llu", name, &v) != 2)
			continue;
		i = counter_index(name, !strncmp(name, "copied_", 7));
		if (i < 0)
			continue;
		c->v[i] = v;
		n++;
	}
	fclose(f);
	return n ? 0 : -1;
}

static int counters_ioctl(int fd, struct counters *c)
{
	struct stablepipe_stats st = { .size = sizeof(st) };

	if (ioctl(fd, STABLEPIPE_IOC_GET_STATS, &st))
		return -1;
	for (int i = 0; i < NIOC_FIELDS; i++)
		if (ioc_fields[i].off + sizeof(uint64_t) <= st.size)
			memcpy(&c->v[i], (char *)&st + ioc_fields[i].off,
			       sizeof(uint64_t));
	return 0;
}

/* The counters of the instance @fd is a file of: 0, or -1. */
int counters_read(int fd, struct counters *c)
{
	memset(c, 0, sizeof(*c));
	if (counters_fdinfo(fd, c) == 0)
		return 0;
	return counters_ioctl(fd, c);
}

void counters_add(struct counters *t, const struct counters *s)
{
	for (int i = 0; i < MAX_COUNTERS; i++)
		t->v[i] += s->v[i];
}

/*
 * Pages that were clean, unmapped, unpinned page cache (target 2), and
 * that the policy let the device steal: copied_hot (a cache-friendly
 * policy keeping a hot file's pages) is a choice, like copied_policy.
 */
uint64_t eligible_pages(const struct counters *t)
{
	static const char *const not[] = {
		"copied_user", "copied_policy", "copied_mapped",
		"copied_pinned", "copied_dirty", "copied_writeback",
		"copied_hot",
	};
	uint64_t all = counter(t, "pages_stolen") + counter(t, "pages_copied");
	uint64_t no = 0;

	for (size_t i = 0; i < ARRAY_SIZE(not); i++)
		no += counter(t, not[i]);
	return all > no ? all - no : 0;
}

/* stolen of all pages, or NAN */
double steal_rate(const struct counters *t)
{
	uint64_t s = counter(t, "pages_stolen");
	uint64_t all = s + counter(t, "pages_copied");

	return all ? (double)s / all : NAN;
}

/* The copy reasons of @t, largest first: "large_folio 93%, busy 1%". */
const char *reasons(char *buf, size_t len, const struct counters *t, int max)
{
	uint64_t all = counter(t, "pages_stolen") + counter(t, "pages_copied");
	bool used[MAX_COUNTERS] = { false };
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < max; k++) {
		int best = -1;
		uint64_t bv = 0;

		for (int i = 0; i < ncounters; i++) {
			if (!counter_is_reason(i) || used[i] || t->v[i] <= bv)
				continue;
			best = i;
			bv = t->v[i];
		}
		if (best < 0 || !all)
			break;
		used[best] = true;
		n += snprintf(buf + n, len > n ? len - n : 0, "%s%s %.0f%%",
			      k ? ", " : "", counter_names[best] + 7,
			      100.0 * bv / all);
	}
	if (!buf[0])
		snprintf(buf, len, "-");
	return buf;
}
