/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stablepipe internals shared by the module's files.
 *
 * One struct sp_instance per open() of /dev/stablepipe: a FIFO of
 * segments, each a byte range of a folio that only the instance owns.
 */
#ifndef STABLEPIPE_H
#define STABLEPIPE_H

#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/sizes.h>
#include <linux/wait.h>
#include <linux/stablepipe.h>

/* Counters; the order is the order of /proc/stablepipe (see stats.c). */
enum sp_stat {
	SP_PAGES_STOLEN,
	SP_COPIED_USER,
	SP_COPIED_POLICY,
	SP_COPIED_MAPPED,
	SP_COPIED_PINNED,
	SP_COPIED_DIRTY,
	SP_COPIED_WRITEBACK,
	SP_COPIED_LARGE_FOLIO,
	SP_COPIED_BUSY,
	SP_COPIED_NOT_STEALABLE,
	SP_COPIED_PARTIAL,
	SP_COPIED_SMALL,
	SP_COPIED_HOT,
	SP_BYTES_IN_WRITE,
	SP_BYTES_IN_SPLICE,
	SP_BYTES_IN_SENDFILE,
	SP_BYTES_OUT_READ,
	SP_BYTES_OUT_SPLICE,
	SP_NR_STATS
};

#define SP_FIRST_COPIED	SP_COPIED_USER
#define SP_LAST_COPIED	SP_COPIED_HOT

struct sp_user;

/**
 * struct sp_seg - a byte range of a folio, owned by an instance
 * @list:	link in sp_instance.segs
 * @folio:	holds one folio reference, dropped when the segment is freed
 * @off:	offset of the first unread byte in @folio
 * @len:	unread bytes
 * @private:	we allocated @folio: bytes after @off + @len are free and
 *		may be filled by later copies (never true for stolen folios)
 */
struct sp_seg {
	struct list_head list;
	struct folio *folio;
	unsigned int off;
	unsigned int len;
	bool private;
};

/*
 * struct sp_instance - one stable pipe
 *
 * @lock guards everything below it.  Lock order: a pipe's mutex (taken by
 * the splice core or by us) before @lock.  Nobody sleeps waiting for room
 * or data while holding @lock or any pipe's mutex.
 * @pages counts the pages that the segments hold (a stolen folio counts
 * all its pages, a private page one, however few bytes they hold) and is
 * kept at most sp_max_pages(@capacity); @tail_free is the room left in
 * the tail segment when it is a private page that copies may fill.
 * @readers, @writers, @bytes, @pages and @tail_free are also read without
 * @lock in wait and
 * poll conditions, @capacity and @policy by the GET ioctls; writers use
 * WRITE_ONCE, under @lock.  Those unlocked reads only
 * decide whether to sleep: end of file is decided under @lock
 * (sp_at_eof()).
 * @user is the user that opened the instance, charged sp_max_pages() of
 * @capacity (sp_user_charge()); set at open, never changed.
 */
struct sp_instance {
	refcount_t refs;		/* one per open file */
	wait_queue_head_t rd_wait;	/* readers wait for data or EOF */
	wait_queue_head_t wr_wait;	/* writers wait for room */

	struct mutex lock;		/* see above */
	struct list_head segs;
	size_t bytes;
	size_t pages;			/* pages the segments hold */
	size_t tail_free;		/* free bytes in a private tail page */
	size_t capacity;
	unsigned int readers;
	unsigned int writers;
	u32 policy;
	u64 stats[SP_NR_STATS];
	struct sp_user *user;		/* charged for @capacity */
};

/* The largest capacity anybody may set, in bytes. */
#define SP_CAPACITY_MAX	SZ_1G

/*
 * The capacity of a new instance whose user is over user_pages_soft, in
 * bytes: two pages, as a new pipe then gets two slots
 * (PIPE_MIN_DEF_BUFFERS in fs/pipe.c).
 */
#define SP_CAPACITY_MIN	(2 * PAGE_SIZE)

/*
 * The most pages an instance may hold: its capacity in pages, plus one for
 * the partly consumed head page that data written up to the capacity can
 * span.  @capacity is a multiple of PAGE_SIZE.
 */
static inline size_t sp_max_pages(size_t capacity)
{
	return (capacity >> PAGE_SHIFT) + 1;
}

/* instance.c */
struct sp_instance *sp_instance_new(void);
void sp_instance_get(struct sp_instance *sp);
void sp_instance_put(struct sp_instance *sp);
void sp_attach(struct sp_instance *sp, fmode_t mode);
void sp_detach(struct sp_instance *sp, fmode_t mode);
size_t sp_room(const struct sp_instance *sp);
int sp_wait_for_room(struct sp_instance *sp, size_t need, bool nonblock);
bool sp_at_eof(const struct sp_instance *sp);
int sp_wait_for_data(struct sp_instance *sp, bool nonblock);
struct sp_seg *sp_writable_tail(struct sp_instance *sp, size_t *space);
int sp_append_folio(struct sp_instance *sp, struct folio *folio,
		    unsigned int off, unsigned int len);
void sp_commit(struct sp_instance *sp, struct sp_seg *seg, size_t len);
void sp_consume(struct sp_instance *sp, size_t len);
int sp_set_capacity(struct sp_instance *sp, u64 capacity);
void sp_set_policy(struct sp_instance *sp, u32 policy);
void sp_wake_readers(struct sp_instance *sp);
void sp_wake_writers(struct sp_instance *sp);
int sp_seg_cache_init(void);
void sp_seg_cache_exit(void);

extern unsigned long sp_default_capacity;
extern unsigned long sp_max_capacity;
extern unsigned int sp_default_policy;
extern unsigned long sp_user_pages_soft;
extern unsigned long sp_user_pages_hard;

/* ingest.c */
ssize_t sp_write_iter(struct kiocb *iocb, struct iov_iter *from);
ssize_t sp_splice_write(struct pipe_inode_info *pipe, struct file *out,
			loff_t *ppos, size_t len, unsigned int flags);

/* emit.c */
ssize_t sp_read_iter(struct kiocb *iocb, struct iov_iter *to);
ssize_t sp_splice_read(struct file *in, loff_t *ppos,
		       struct pipe_inode_info *pipe, size_t len,
		       unsigned int flags);

/* stats.c */
void sp_count(struct sp_instance *sp, enum sp_stat stat, u64 n);
void sp_buffered_add(long bytes);
void sp_instances_add(int n);
int sp_stats_fill(struct sp_instance *sp, struct stablepipe_stats __user *ustats,
		  u32 ioc_size);
void sp_show_fdinfo(struct seq_file *m, struct file *file);
int sp_stats_init(void);
void sp_stats_exit(void);

#endif /* STABLEPIPE_H */
