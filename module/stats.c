// SPDX-License-Identifier: GPL-2.0
/*
 * Counting: per-cpu module-wide counters and per-instance counters, shown
 * in /proc/stablepipe, /proc/PID/fdinfo/FD and STABLEPIPE_IOC_GET_STATS.
 * Counting never decides policy.
 */
#include <linux/atomic.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/stddef.h>
#include <linux/uaccess.h>
#include "stablepipe.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

struct sp_counters {
	u64 v[SP_NR_STATS];
};

static struct sp_counters __percpu *sp_global;
static atomic_long_t sp_bytes_buffered;
static atomic_t sp_instances;

/* One table drives /proc, fdinfo and the ioctl. */
static const struct {
	const char *name;
	size_t offset;		/* in struct stablepipe_stats */
} sp_stat_fields[SP_NR_STATS] = {
#define SP_FIELD(stat, field) \
	[stat] = { #field, offsetof(struct stablepipe_stats, field) }
	SP_FIELD(SP_PAGES_STOLEN, pages_stolen),
	SP_FIELD(SP_COPIED_USER, copied_user),
	SP_FIELD(SP_COPIED_POLICY, copied_policy),
	SP_FIELD(SP_COPIED_MAPPED, copied_mapped),
	SP_FIELD(SP_COPIED_PINNED, copied_pinned),
	SP_FIELD(SP_COPIED_DIRTY, copied_dirty),
	SP_FIELD(SP_COPIED_WRITEBACK, copied_writeback),
	SP_FIELD(SP_COPIED_LARGE_FOLIO, copied_large_folio),
	SP_FIELD(SP_COPIED_BUSY, copied_busy),
	SP_FIELD(SP_COPIED_NOT_STEALABLE, copied_not_stealable),
	SP_FIELD(SP_COPIED_PARTIAL, copied_partial),
	SP_FIELD(SP_COPIED_SMALL, copied_small),
	SP_FIELD(SP_COPIED_HOT, copied_hot),
	SP_FIELD(SP_BYTES_IN_WRITE, bytes_in_write),
	SP_FIELD(SP_BYTES_IN_SPLICE, bytes_in_splice),
	SP_FIELD(SP_BYTES_IN_SENDFILE, bytes_in_sendfile),
	SP_FIELD(SP_BYTES_OUT_READ, bytes_out_read),
	SP_FIELD(SP_BYTES_OUT_SPLICE, bytes_out_splice),
#undef SP_FIELD
};

/**
 * sp_count() - add to a counter of an instance and to the module-wide one
 * @sp: the instance
 * @stat: the counter
 * @n: pages or bytes, as @stat counts
 *
 * The module-wide counters are per-cpu, summed by /proc/stablepipe.
 *
 * Context: Called with @sp->lock held (lockdep checks it).
 */
void sp_count(struct sp_instance *sp, enum sp_stat stat, u64 n)
{
	lockdep_assert_held(&sp->lock);
	sp->stats[stat] += n;
	this_cpu_add(sp_global->v[stat], n);
}

/**
 * sp_buffered_add() - change the module-wide count of buffered bytes
 * @bytes: bytes that entered (positive) or left (negative) an instance
 *
 * Context: Any context.
 */
void sp_buffered_add(long bytes)
{
	atomic_long_add(bytes, &sp_bytes_buffered);
}

/**
 * sp_instances_add() - change the module-wide count of instances
 * @n: 1 for a new instance, -1 for a freed one
 *
 * Context: Any context.
 */
void sp_instances_add(int n)
{
	atomic_add(n, &sp_instances);
}

static u64 sp_copied(const u64 *v)
{
	u64 sum = 0;
	int i;

	for (i = SP_FIRST_COPIED; i <= SP_LAST_COPIED; i++)
		sum += v[i];
	return sum;
}

/* Fill @st from the counters @v. */
static void sp_stats_from(struct stablepipe_stats *st, const u64 *v)
{
	int i;

	for (i = 0; i < SP_NR_STATS; i++)
		*(u64 *)((char *)st + sp_stat_fields[i].offset) = v[i];
	st->pages_copied = sp_copied(v);
}

/**
 * sp_stats_fill() - STABLEPIPE_IOC_GET_STATS
 * @sp: the instance
 * @ustats: the caller's struct stablepipe_stats, whose size field says
 *	how many bytes of it the caller knows
 * @ioc_size: the size encoded in the caller's ioctl number
 *	(_IOC_SIZE()), the most bytes of @ustats that may be touched
 *
 * The caller's size is the size field, capped at @ioc_size.  Copies
 * min(that, sizeof(struct stablepipe_stats)) bytes to @ustats, with size
 * set to the bytes copied and version to %STABLEPIPE_STATS_VERSION, and
 * zeroes the caller's bytes after ours when its struct is longer (fields
 * this module does not know read as 0), as copy_struct_to_user() does.
 * So older (shorter) and newer (longer) callers, each with the ioctl
 * number of its own struct, both work.
 *
 * Context: Process context; may fault.  Takes and releases @sp->lock; the
 * user memory is accessed without it.
 * Return: 0; -EFAULT when @ustats cannot be read or written; -EINVAL when
 * the caller's size does not cover the size and version fields.
 */
int sp_stats_fill(struct sp_instance *sp,
		  struct stablepipe_stats __user *ustats, u32 ioc_size)
{
	struct stablepipe_stats st = { 0 };
	u32 usize, size;

	if (ioc_size < offsetofend(struct stablepipe_stats, version))
		return -EINVAL;
	if (get_user(usize, &ustats->size))
		return -EFAULT;
	usize = min(usize, ioc_size);
	if (usize < offsetofend(struct stablepipe_stats, version))
		return -EINVAL;
	size = min_t(u32, usize, sizeof(st));

	mutex_lock(&sp->lock);
	sp_stats_from(&st, sp->stats);
	st.bytes_buffered = sp->bytes;
	st.capacity = sp->capacity;
	mutex_unlock(&sp->lock);
	st.size = size;
	st.version = STABLEPIPE_STATS_VERSION;
	if (copy_to_user(ustats, &st, size))
		return -EFAULT;
	if (usize > size && clear_user((char __user *)ustats + size,
				       usize - size))
		return -EFAULT;
	return 0;
}

static void sp_stats_print(struct seq_file *m, const char *sep,
			   const struct stablepipe_stats *st)
{
	int i;

	seq_printf(m, "pages_stolen%s%llu\n", sep, st->pages_stolen);
	seq_printf(m, "pages_copied%s%llu\n", sep, st->pages_copied);
	for (i = SP_FIRST_COPIED; i < SP_NR_STATS; i++)
		seq_printf(m, "%s%s%llu\n", sp_stat_fields[i].name, sep,
			   *(u64 *)((char *)st + sp_stat_fields[i].offset));
	seq_printf(m, "bytes_buffered%s%llu\n", sep, st->bytes_buffered);
}

/**
 * sp_show_fdinfo() - the instance's lines in /proc/PID/fdinfo/FD
 * @m: the fdinfo file
 * @file: a file of /dev/stablepipe or of STABLEPIPE_IOC_NEW_FD
 *
 * Prints the instance's counters, bytes buffered, capacity, policy and
 * numbers of readers and writers, read in one go under the lock.
 *
 * Context: Process context.  Takes and releases the instance's lock.
 */
void sp_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct sp_instance *sp = file->private_data;
	struct stablepipe_stats st = { 0 };
	unsigned int readers, writers;
	size_t pages;
	u32 policy;

	mutex_lock(&sp->lock);
	sp_stats_from(&st, sp->stats);
	st.bytes_buffered = sp->bytes;
	st.capacity = sp->capacity;
	readers = sp->readers;
	writers = sp->writers;
	pages = sp->pages;
	policy = sp->policy;
	mutex_unlock(&sp->lock);

	sp_stats_print(m, ":\t", &st);
	seq_printf(m, "capacity:\t%llu\n", st.capacity);
	seq_printf(m, "pages:\t%zu\n", pages);
	seq_printf(m, "policy:\t%s\n",
		   policy == STABLEPIPE_POLICY_COPY ? "copy" : "auto");
	seq_printf(m, "readers:\t%u\nwriters:\t%u\n", readers, writers);
}

static int sp_proc_show(struct seq_file *m, void *v)
{
	struct stablepipe_stats st = { 0 };
	u64 sum[SP_NR_STATS] = { 0 };
	int cpu, i;

	for_each_possible_cpu(cpu) {
		const struct sp_counters *c = per_cpu_ptr(sp_global, cpu);

		for (i = 0; i < SP_NR_STATS; i++)
			sum[i] += c->v[i];
	}
	sp_stats_from(&st, sum);
	st.bytes_buffered = max(0L, atomic_long_read(&sp_bytes_buffered));
	sp_stats_print(m, " ", &st);
	seq_printf(m, "instances %d\n", atomic_read(&sp_instances));
	return 0;
}

/**
 * sp_stats_init() - allocate the module-wide counters, create /proc/stablepipe
 *
 * Context: Module init.
 * Return: 0, or -ENOMEM (with nothing left allocated).
 */
int sp_stats_init(void)
{
	sp_global = alloc_percpu(struct sp_counters);
	if (!sp_global)
		return -ENOMEM;
	if (!proc_create_single("stablepipe", 0444, NULL, sp_proc_show)) {
		free_percpu(sp_global);
		return -ENOMEM;
	}
	return 0;
}

/**
 * sp_stats_exit() - remove /proc/stablepipe, free the module-wide counters
 *
 * Context: Module exit or failed init.
 */
void sp_stats_exit(void)
{
	remove_proc_entry("stablepipe", NULL);
	free_percpu(sp_global);
}
