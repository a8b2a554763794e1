// SPDX-License-Identifier: GPL-2.0
/*
 * The FIFO of an instance: segments, capacity, reader and writer counts,
 * and the waits for room and data.  It knows nothing of files or pipes.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/hashtable.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include "stablepipe.h"

static struct kmem_cache *sp_seg_cache;

/*
 * Per-user limits, as fs/pipe.c has them for pipes (account_pipe_buffers()
 * and user_struct.pipe_bufs, which a module cannot reach): one count per
 * user of the pages that all the instances it opened may hold, which is
 * the sum of sp_max_pages() of their capacities.  Like a pipe's slots, the
 * capacity is charged, not what is buffered: at open and by SET_CAPACITY,
 * uncharged when the instance is freed.  The user is the opener's real
 * UID (current_uid(), as current_user() for pipes), a kuid_t, so one user
 * is one count across user namespaces.
 */

/**
 * struct sp_user - the charge of one user's instances
 * @node:	link in sp_users, under sp_users_lock
 * @uid:	the user
 * @refs:	one per instance that the user opened
 * @pages:	sp_max_pages() of those instances' capacities, summed
 */
struct sp_user {
	struct hlist_node node;
	kuid_t uid;
	refcount_t refs;
	atomic_long_t pages;
};

static DEFINE_HASHTABLE(sp_users, 6);
static DEFINE_SPINLOCK(sp_users_lock);

/*
 * References are taken and dropped under sp_users_lock, and the last one
 * removes the entry: an entry in sp_users has at least one.
 */
static struct sp_user *sp_user_find(kuid_t uid)
{
	struct sp_user *u;

	lockdep_assert_held(&sp_users_lock);
	hash_for_each_possible(sp_users, u, node, __kuid_val(uid)) {
		if (uid_eq(u->uid, uid)) {
			refcount_inc(&u->refs);
			return u;
		}
	}
	return NULL;
}

/* The caller's user, with a reference; %NULL when out of memory. */
static struct sp_user *sp_user_get(void)
{
	kuid_t uid = current_uid();
	struct sp_user *u, *new;

	spin_lock(&sp_users_lock);
	u = sp_user_find(uid);
	spin_unlock(&sp_users_lock);
	if (u)
		return u;
	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return NULL;
	new->uid = uid;
	refcount_set(&new->refs, 1);
	atomic_long_set(&new->pages, 0);
	spin_lock(&sp_users_lock);
	u = sp_user_find(uid);
	if (!u) {
		hash_add(sp_users, &new->node, __kuid_val(uid));
		u = new;
		new = NULL;
	}
	spin_unlock(&sp_users_lock);
	kfree(new);
	return u;
}

static void sp_user_put(struct sp_user *u)
{
	bool last;

	spin_lock(&sp_users_lock);
	last = refcount_dec_and_test(&u->refs);
	if (last)
		hash_del(&u->node);
	spin_unlock(&sp_users_lock);
	if (last)
		kfree(u);
}

/* Add @pages (or take them, when negative); return the user's new total. */
static long sp_user_charge(struct sp_user *u, long pages)
{
	return atomic_long_add_return(pages, &u->pages);
}

/* A limit of 0 is no limit, as for pipe-user-pages-soft and -hard. */
static bool sp_user_over(long pages, unsigned long limit)
{
	return limit && pages > 0 && (unsigned long)pages > limit;
}

/* Exempt from the per-user limits, as pipe_is_unprivileged_user() says. */
static bool sp_user_unprivileged(void)
{
	return !capable(CAP_SYS_RESOURCE) && !capable(CAP_SYS_ADMIN);
}

/**
 * sp_instance_new() - allocate an empty instance
 *
 * The new instance has no segments, no readers and no writers (the caller
 * counts its file with sp_attach()), the capacity of the default_capacity
 * parameter rounded up to a page and the policy of default_policy.  It is
 * counted in the module-wide number of instances.
 *
 * Its capacity is charged to the caller's user, as alloc_pipe_info()
 * charges a new pipe's slots: when that takes the user over the
 * user_pages_soft parameter, the capacity is %SP_CAPACITY_MIN instead (or
 * the default, if smaller); when the user is still over user_pages_hard,
 * the open fails.  Neither applies to a caller with %CAP_SYS_RESOURCE or
 * %CAP_SYS_ADMIN.
 *
 * Context: Process context; may sleep (%GFP_KERNEL_ACCOUNT).
 * Return: the instance, holding one reference that the caller owns (it is
 * dropped with sp_instance_put()); ERR_PTR(-ENOMEM) when out of memory;
 * ERR_PTR(-ENFILE) when the user is over user_pages_hard, the error
 * pipe(2) gives for its own hard limit.
 */
struct sp_instance *sp_instance_new(void)
{
	size_t cap = PAGE_ALIGN(READ_ONCE(sp_default_capacity)), min;
	struct sp_instance *sp;
	long pages;

	sp = kzalloc(sizeof(*sp), GFP_KERNEL_ACCOUNT);
	if (!sp)
		return ERR_PTR(-ENOMEM);
	sp->user = sp_user_get();
	if (!sp->user) {
		kfree(sp);
		return ERR_PTR(-ENOMEM);
	}
	pages = sp_user_charge(sp->user, sp_max_pages(cap));
	if (sp_user_over(pages, READ_ONCE(sp_user_pages_soft)) &&
	    sp_user_unprivileged()) {
		min = min_t(size_t, cap, SP_CAPACITY_MIN);
		pages = sp_user_charge(sp->user, (long)sp_max_pages(min) -
						 (long)sp_max_pages(cap));
		cap = min;
	}
	if (sp_user_over(pages, READ_ONCE(sp_user_pages_hard)) &&
	    sp_user_unprivileged()) {
		sp_user_charge(sp->user, -(long)sp_max_pages(cap));
		sp_user_put(sp->user);
		kfree(sp);
		return ERR_PTR(-ENFILE);
	}
	refcount_set(&sp->refs, 1);
	init_waitqueue_head(&sp->rd_wait);
	init_waitqueue_head(&sp->wr_wait);
	mutex_init(&sp->lock);
	INIT_LIST_HEAD(&sp->segs);
	sp->capacity = cap;
	sp->policy = READ_ONCE(sp_default_policy);
	sp_instances_add(1);
	return sp;
}

/**
 * sp_instance_get() - take another reference to an instance
 * @sp: the instance; the caller must already hold a reference to it
 *
 * Each open file holds one reference; sp_instance_put() drops it.
 *
 * Context: Any context.
 */
void sp_instance_get(struct sp_instance *sp)
{
	refcount_inc(&sp->refs);
}

static void sp_seg_free(struct sp_instance *sp, struct sp_seg *seg)
{
	WRITE_ONCE(sp->pages, sp->pages - folio_nr_pages(seg->folio));
	list_del(&seg->list);
	folio_put(seg->folio);
	kmem_cache_free(sp_seg_cache, seg);
}

/* Recompute @sp->tail_free after the tail segment changed. */
static void sp_tail_update(struct sp_instance *sp)
{
	struct sp_seg *seg;
	size_t free = 0;

	if (!list_empty(&sp->segs)) {
		seg = list_last_entry(&sp->segs, struct sp_seg, list);
		if (seg->private)
			free = PAGE_SIZE - seg->off - seg->len;
	}
	WRITE_ONCE(sp->tail_free, free);
}

/**
 * sp_instance_put() - drop a reference to an instance
 * @sp: the instance; the caller's reference is gone on return
 *
 * Dropping the last reference frees @sp: each segment is freed and drops
 * its folio reference, the bytes still buffered leave the module-wide
 * bytes_buffered, the instance leaves the module-wide count and its
 * capacity is uncharged from its user.  The caller must already have
 * detached its file with sp_detach().
 *
 * Context: Process context.  Must not be called with @sp->lock held.
 */
void sp_instance_put(struct sp_instance *sp)
{
	struct sp_seg *seg, *next;

	if (!refcount_dec_and_test(&sp->refs))
		return;
	/* Last file is gone: nobody else can see @sp, no lock needed. */
	list_for_each_entry_safe(seg, next, &sp->segs, list)
		sp_seg_free(sp, seg);
	sp_buffered_add(-(long)sp->bytes);
	sp_instances_add(-1);
	sp_user_charge(sp->user, -(long)sp_max_pages(sp->capacity));
	sp_user_put(sp->user);
	mutex_destroy(&sp->lock);
	kfree(sp);
}

/**
 * sp_attach() - count a file as a reader and/or a writer of an instance
 * @sp: the instance
 * @mode: the file's f_mode: %FMODE_READ counts a reader, %FMODE_WRITE a
 *	writer
 *
 * Undone by sp_detach() with the same @mode.
 *
 * Context: Process context.  Takes and releases @sp->lock.
 */
void sp_attach(struct sp_instance *sp, fmode_t mode)
{
	mutex_lock(&sp->lock);
	if (mode & FMODE_READ)
		WRITE_ONCE(sp->readers, sp->readers + 1);
	if (mode & FMODE_WRITE)
		WRITE_ONCE(sp->writers, sp->writers + 1);
	mutex_unlock(&sp->lock);
}

/**
 * sp_detach() - stop counting a file as a reader and/or a writer
 * @sp: the instance
 * @mode: the f_mode that sp_attach() was given for the file
 *
 * Wakes every reader and writer waiting on @sp: losing the last writer
 * means end of file for readers, losing the last reader EPIPE for
 * writers.  Drops no reference: the caller still holds its own.
 *
 * Context: Process context.  Takes and releases @sp->lock; wakes the
 * waiters after releasing it.
 */
void sp_detach(struct sp_instance *sp, fmode_t mode)
{
	mutex_lock(&sp->lock);
	if (mode & FMODE_READ)
		WRITE_ONCE(sp->readers, sp->readers - 1);
	if (mode & FMODE_WRITE)
		WRITE_ONCE(sp->writers, sp->writers - 1);
	mutex_unlock(&sp->lock);
	/* The last writer means EOF, the last reader EPIPE: wake both. */
	wake_up_interruptible_all(&sp->rd_wait);
	wake_up_interruptible_all(&sp->wr_wait);
}

/**
 * sp_room() - free space in an instance
 * @sp: the instance
 *
 * Capacity is counted both in bytes and in pages: the bytes buffered stay
 * within @sp->capacity, and the pages the segments hold within
 * sp_max_pages() of it.  The room is the smaller of the bytes left and
 * what copies can still fill: the free tail of a private tail page plus
 * a page for each page left.  Stealing needs a whole page left for each
 * page it takes (sp_steal_verdict()).
 *
 * Reads the fields with READ_ONCE(): without @sp->lock the answer may
 * already be stale, and writers recheck it under the lock.
 *
 * Context: Any context; @sp->lock may or may not be held.
 * Return: the bytes that fit before @sp is full, 0 when it is full.
 */
size_t sp_room(const struct sp_instance *sp)
{
	size_t bytes = READ_ONCE(sp->bytes), cap = READ_ONCE(sp->capacity);
	size_t pages = READ_ONCE(sp->pages), max = sp_max_pages(cap);
	size_t fill = READ_ONCE(sp->tail_free);

	if (cap <= bytes)
		return 0;
	if (pages < max)
		fill += (max - pages) * PAGE_SIZE;
	return min(cap - bytes, fill);
}

/**
 * sp_wake_readers() - wake the tasks waiting for data in an instance
 * @sp: the instance
 *
 * Wakes the waiters of @sp->rd_wait (readers in sp_wait_for_data() and
 * pollers) with %EPOLLIN | %EPOLLRDNORM.
 *
 * Context: Any context.  Callers call it after releasing @sp->lock.
 */
void sp_wake_readers(struct sp_instance *sp)
{
	wake_up_interruptible_poll(&sp->rd_wait, EPOLLIN | EPOLLRDNORM);
}

/**
 * sp_wake_writers() - wake the tasks waiting for room in an instance
 * @sp: the instance
 *
 * Wakes the waiters of @sp->wr_wait (writers in sp_wait_for_room() and
 * pollers) with %EPOLLOUT | %EPOLLWRNORM.
 *
 * Context: Any context.  Callers call it after releasing @sp->lock.
 */
void sp_wake_writers(struct sp_instance *sp)
{
	wake_up_interruptible_poll(&sp->wr_wait, EPOLLOUT | EPOLLWRNORM);
}

/**
 * sp_wait_for_room() - wait until some bytes fit, or a reason not to
 * @sp: the instance
 * @need: bytes that must fit; capped at the capacity, so that a write
 *	larger than the instance waits only for an empty one
 * @nonblock: fail with -EAGAIN instead of sleeping
 *
 * The check is made without @sp->lock: another writer may take the room
 * before the caller locks, and callers recheck under the lock.
 *
 * Context: Process context; sleeps interruptibly unless @nonblock.  Called
 * with no lock held: neither @sp->lock nor any pipe's mutex.
 * Return: 0 when there was room at the time of the check; -EPIPE, after
 * raising SIGPIPE, when no reader is left; -EAGAIN when @nonblock and
 * there is no room; -ERESTARTSYS when a signal interrupted the wait.
 */
int sp_wait_for_room(struct sp_instance *sp, size_t need, bool nonblock)
{
	need = min(need, READ_ONCE(sp->capacity));
	for (;;) {
		if (!READ_ONCE(sp->readers)) {
			send_sig(SIGPIPE, current, 0);
			return -EPIPE;
		}
		if (sp_room(sp) >= need)
			return 0;
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(sp->wr_wait,
					     !READ_ONCE(sp->readers) ||
					     sp_room(sp) >= need))
			return -ERESTARTSYS;
	}
}

/**
 * sp_at_eof() - is an instance at end of file?
 * @sp: the instance
 *
 * End of file is decided under @sp->lock, which orders every write before
 * the close of its file: a writer commits its bytes and drops its count
 * under the lock, so seeing no writer there means seeing all its bytes.
 * Deciding it from two unlocked loads, @sp->bytes then @sp->writers,
 * could see the bytes before a write and the writers after its close.
 *
 * Context: Called with @sp->lock held.
 * Return: true when nothing is buffered and no writer is left.
 */
bool sp_at_eof(const struct sp_instance *sp)
{
	lockdep_assert_held(&sp->lock);
	return !sp->bytes && !sp->writers;
}

/**
 * sp_wait_for_data() - wait until data is buffered or no writer is left
 * @sp: the instance
 * @nonblock: fail with -EAGAIN instead of sleeping
 *
 * Only waits: it decides nothing.  The check is made without @sp->lock,
 * so the caller locks and looks again: another reader may have taken the
 * data, and end of file is decided only under the lock (sp_at_eof()).
 *
 * Context: Process context; sleeps interruptibly unless @nonblock.  Called
 * with no lock held: neither @sp->lock nor any pipe's mutex.
 * Return: 0 when data is buffered or no writer is left at the time of the
 * check; -EAGAIN when @nonblock and neither is true; -ERESTARTSYS when a
 * signal interrupted the wait.
 */
int sp_wait_for_data(struct sp_instance *sp, bool nonblock)
{
	if (READ_ONCE(sp->bytes) || !READ_ONCE(sp->writers))
		return 0;
	if (nonblock)
		return -EAGAIN;
	if (wait_event_interruptible(sp->rd_wait,
				     READ_ONCE(sp->bytes) ||
				     !READ_ONCE(sp->writers)))
		return -ERESTARTSYS;
	return 0;
}

static struct sp_seg *sp_seg_new(struct folio *folio, unsigned int off,
				 bool private)
{
	struct sp_seg *seg;

	seg = kmem_cache_alloc(sp_seg_cache, GFP_KERNEL_ACCOUNT);
	if (!seg)
		return NULL;
	seg->folio = folio;
	seg->off = off;
	seg->len = 0;
	seg->private = private;
	return seg;
}

/**
 * sp_writable_tail() - the private segment that the next copied bytes go to
 * @sp: the instance
 * @space: set to the free bytes after the segment's data (at least one)
 *
 * Reuses the tail segment when it is a private page with room, else adds
 * a new, empty private page at the tail, which then holds the only
 * reference to that page.  The bytes written after the segment's data
 * become data only through sp_commit().  Capacity is the caller's
 * business: this function does not look at it.
 *
 * Context: Process context; may sleep (%GFP_KERNEL_ACCOUNT).  Called with
 * @sp->lock held.
 * Return: the segment, or %NULL when a page or a segment could not be
 * allocated (@space is then not set).
 */
struct sp_seg *sp_writable_tail(struct sp_instance *sp, size_t *space)
{
	struct sp_seg *seg;
	struct page *page;

	if (!list_empty(&sp->segs)) {
		seg = list_last_entry(&sp->segs, struct sp_seg, list);
		if (seg->private && seg->off + seg->len < PAGE_SIZE) {
			*space = PAGE_SIZE - seg->off - seg->len;
			return seg;
		}
	}
	page = alloc_page(GFP_KERNEL_ACCOUNT);
	if (!page)
		return NULL;
	seg = sp_seg_new(page_folio(page), 0, true);
	if (!seg) {
		__free_page(page);
		return NULL;
	}
	list_add_tail(&seg->list, &sp->segs);
	WRITE_ONCE(sp->pages, sp->pages + 1);
	sp_tail_update(sp);
	*space = PAGE_SIZE;
	return seg;
}

/**
 * sp_commit() - make bytes written after a segment's data readable
 * @sp: the instance
 * @seg: a segment of @sp; the @len bytes after its data are written
 * @len: bytes to add to @seg, to @sp->bytes and to bytes_buffered
 *
 * Wakes nobody: the caller calls sp_wake_readers() after unlocking.
 *
 * Context: Called with @sp->lock held.
 */
void sp_commit(struct sp_instance *sp, struct sp_seg *seg, size_t len)
{
	seg->len += len;
	WRITE_ONCE(sp->bytes, sp->bytes + len);
	sp_buffered_add(len);
	sp_tail_update(sp);
}

/**
 * sp_append_folio() - append a stolen folio range to the FIFO
 * @sp: the instance
 * @folio: the folio; nobody else may see or change it any more
 * @off: offset of the range's first byte in @folio
 * @len: bytes in the range; they become readable at once
 *
 * The new segment is not private: later copies never write into @folio.
 * Capacity is the caller's business: this function does not look at it.
 *
 * Context: Process context; may sleep (%GFP_KERNEL_ACCOUNT).  Called with
 * @sp->lock held.
 * Return: 0, and the caller's reference to @folio is now the segment's;
 * or -ENOMEM, and the caller keeps its reference.
 */
int sp_append_folio(struct sp_instance *sp, struct folio *folio,
		    unsigned int off, unsigned int len)
{
	struct sp_seg *seg = sp_seg_new(folio, off, false);

	if (!seg)
		return -ENOMEM;
	list_add_tail(&seg->list, &sp->segs);
	WRITE_ONCE(sp->pages, sp->pages + folio_nr_pages(folio));
	sp_commit(sp, seg, len);
	return 0;
}

/**
 * sp_consume() - drop bytes from the head of the FIFO
 * @sp: the instance
 * @len: bytes to drop; at most @sp->bytes
 *
 * Emptied segments are freed and drop their folio reference, except an
 * emptied private page that is the only segment and still has room: it
 * takes the next copied bytes.  Wakes nobody: the caller calls
 * sp_wake_writers() after unlocking.
 *
 * Context: Called with @sp->lock held.
 */
void sp_consume(struct sp_instance *sp, size_t len)
{
	struct sp_seg *seg;
	size_t n;

	WRITE_ONCE(sp->bytes, sp->bytes - len);
	sp_buffered_add(-(long)len);
	while (len) {
		seg = list_first_entry(&sp->segs, struct sp_seg, list);
		n = min_t(size_t, len, seg->len);
		seg->off += n;
		seg->len -= n;
		len -= n;
		/* An emptied private tail page may still take new bytes. */
		if (!seg->len && !(seg->private && list_is_singular(&sp->segs) &&
				   seg->off < PAGE_SIZE))
			sp_seg_free(sp, seg);
	}
	sp_tail_update(sp);
}

/**
 * sp_set_capacity() - set an instance's capacity (STABLEPIPE_IOC_SET_CAPACITY)
 * @sp: the instance
 * @capacity: the new capacity in bytes, rounded up to a page
 *
 * As pipe_set_size() for a pipe, the limits apply to raising the
 * capacity only: above the max_capacity parameter it needs
 * %CAP_SYS_RESOURCE; and the user that opened @sp is charged the change,
 * which fails when it takes the user over the user_pages_soft or the
 * user_pages_hard parameter, unless the caller has %CAP_SYS_RESOURCE or
 * %CAP_SYS_ADMIN.  Lowering it passes both checks, even to a capacity
 * still above max_capacity.  Once @capacity has passed the range check,
 * the writers of @sp are woken, whether or not the capacity changed.
 *
 * Context: Process context.  Takes and releases @sp->lock.
 * Return: 0; -EINVAL when @capacity is 0 or above %SP_CAPACITY_MAX;
 * -EPERM when it raises the capacity above the max_capacity parameter and
 * the caller lacks %CAP_SYS_RESOURCE, or would take the user over a limit;
 * -EBUSY when more bytes are buffered than the new capacity holds, or
 * more pages held than sp_max_pages() of it.
 */
int sp_set_capacity(struct sp_instance *sp, u64 capacity)
{
	long old, new, pages;
	int ret = 0;

	if (!capacity || capacity > SP_CAPACITY_MAX)
		return -EINVAL;
	capacity = PAGE_ALIGN(capacity);
	mutex_lock(&sp->lock);
	if (capacity > sp->capacity &&
	    capacity > READ_ONCE(sp_max_capacity) &&
	    !capable(CAP_SYS_RESOURCE)) {
		ret = -EPERM;
		goto out;
	}
	old = sp_max_pages(sp->capacity);
	new = sp_max_pages(capacity);
	if (capacity < sp->bytes || new < sp->pages) {
		ret = -EBUSY;
		goto out;
	}
	pages = sp_user_charge(sp->user, new - old);
	if (new > old &&
	    (sp_user_over(pages, READ_ONCE(sp_user_pages_hard)) ||
	     sp_user_over(pages, READ_ONCE(sp_user_pages_soft))) &&
	    sp_user_unprivileged()) {
		sp_user_charge(sp->user, old - new);
		ret = -EPERM;
		goto out;
	}
	WRITE_ONCE(sp->capacity, capacity);
out:
	mutex_unlock(&sp->lock);
	sp_wake_writers(sp);
	return ret;
}

/**
 * sp_set_policy() - set an instance's ingest policy (STABLEPIPE_IOC_SET_POLICY)
 * @sp: the instance
 * @policy: %STABLEPIPE_POLICY_AUTO or %STABLEPIPE_POLICY_COPY, checked
 *	by the caller
 *
 * Written under @sp->lock, which the ingest path holds while it reads the
 * policy (sp_steal_verdict()): a splice in progress finishes under the
 * policy it started with, the next one sees the new one.  WRITE_ONCE()
 * for STABLEPIPE_IOC_GET_POLICY, which reads it without the lock.
 *
 * Context: Process context.  Takes and releases @sp->lock.
 */
void sp_set_policy(struct sp_instance *sp, u32 policy)
{
	mutex_lock(&sp->lock);
	WRITE_ONCE(sp->policy, policy);
	mutex_unlock(&sp->lock);
}

/**
 * sp_seg_cache_init() - create the slab cache of struct sp_seg
 *
 * Context: Module init.
 * Return: 0, or -ENOMEM.
 */
int sp_seg_cache_init(void)
{
	sp_seg_cache = KMEM_CACHE(sp_seg, SLAB_ACCOUNT);
	return sp_seg_cache ? 0 : -ENOMEM;
}

/**
 * sp_seg_cache_exit() - destroy the slab cache of struct sp_seg
 *
 * Context: Module exit or failed init, when no segment is left.
 */
void sp_seg_cache_exit(void)
{
	kmem_cache_destroy(sp_seg_cache);
}
