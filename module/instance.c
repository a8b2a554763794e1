// SPDX-License-Identifier: GPL-2.0
/*
 * The FIFO of an instance: segments, capacity, reader and writer counts,
 * and the waits for room and data.  It knows nothing of files or pipes.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include "stablepipe.h"

static struct kmem_cache *sp_seg_cache;

struct sp_instance *sp_instance_new(void)
{
	struct sp_instance *sp;

	sp = kzalloc(sizeof(*sp), GFP_KERNEL_ACCOUNT);
	if (!sp)
		return NULL;
	refcount_set(&sp->refs, 1);
	init_waitqueue_head(&sp->rd_wait);
	init_waitqueue_head(&sp->wr_wait);
	mutex_init(&sp->lock);
	INIT_LIST_HEAD(&sp->segs);
	sp->capacity = PAGE_ALIGN(READ_ONCE(sp_default_capacity));
	sp->policy = READ_ONCE(sp_default_policy);
	sp_instances_add(1);
	return sp;
}

void sp_instance_get(struct sp_instance *sp)
{
	refcount_inc(&sp->refs);
}

static void sp_seg_free(struct sp_seg *seg)
{
	list_del(&seg->list);
	folio_put(seg->folio);
	kmem_cache_free(sp_seg_cache, seg);
}

void sp_instance_put(struct sp_instance *sp)
{
	struct sp_seg *seg, *next;

	if (!refcount_dec_and_test(&sp->refs))
		return;
	/* Last file is gone: nobody else can see @sp, no lock needed. */
	list_for_each_entry_safe(seg, next, &sp->segs, list)
		sp_seg_free(seg);
	sp_buffered_add(-(long)sp->bytes);
	sp_instances_add(-1);
	mutex_destroy(&sp->lock);
	kfree(sp);
}

/* Count a file of access @mode as a reader and/or a writer. */
void sp_attach(struct sp_instance *sp, fmode_t mode)
{
	mutex_lock(&sp->lock);
	if (mode & FMODE_READ)
		WRITE_ONCE(sp->readers, sp->readers + 1);
	if (mode & FMODE_WRITE)
		WRITE_ONCE(sp->writers, sp->writers + 1);
	mutex_unlock(&sp->lock);
}

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

size_t sp_room(const struct sp_instance *sp)
{
	size_t bytes = READ_ONCE(sp->bytes), cap = READ_ONCE(sp->capacity);

	return cap > bytes ? cap - bytes : 0;
}

void sp_wake_readers(struct sp_instance *sp)
{
	wake_up_interruptible_poll(&sp->rd_wait, EPOLLIN | EPOLLRDNORM);
}

void sp_wake_writers(struct sp_instance *sp)
{
	wake_up_interruptible_poll(&sp->wr_wait, EPOLLOUT | EPOLLWRNORM);
}

/*
 * sp_wait_for_room - wait until @need bytes fit, or a reason not to
 *
 * Called with no lock held.  Returns 0 when there was room at the time of
 * the check (another writer may take it before the caller locks), -EPIPE
 * (after raising SIGPIPE) when no reader is left, -EAGAIN or -ERESTARTSYS.
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

/*
 * sp_wait_for_data - wait until data is buffered or no writer is left
 *
 * Called with no lock held.  Returns 1 when data is buffered, 0 at end of
 * file, -EAGAIN or -ERESTARTSYS.
 */
int sp_wait_for_data(struct sp_instance *sp, bool nonblock)
{
	for (;;) {
		if (READ_ONCE(sp->bytes))
			return 1;
		if (!READ_ONCE(sp->writers))
			return 0;
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(sp->rd_wait,
					     READ_ONCE(sp->bytes) ||
					     !READ_ONCE(sp->writers)))
			return -ERESTARTSYS;
	}
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

/*
 * sp_writable_tail - the private segment that the next copied bytes go to
 * @space: set to the free bytes after the segment's data (at least one)
 *
 * Reuses the tail segment when it is a private page with room, else adds
 * a new private page.  Called with sp->lock held.  The bytes written there
 * become data only through sp_commit().
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
	*space = PAGE_SIZE;
	return seg;
}

/* Make @len more bytes of @seg (just written after its data) readable. */
void sp_commit(struct sp_instance *sp, struct sp_seg *seg, size_t len)
{
	seg->len += len;
	WRITE_ONCE(sp->bytes, sp->bytes + len);
	sp_buffered_add(len);
}

/*
 * sp_append_folio - append a stolen folio range to the FIFO
 *
 * Takes over the caller's reference to @folio on success.  Called with
 * sp->lock held.
 */
int sp_append_folio(struct sp_instance *sp, struct folio *folio,
		    unsigned int off, unsigned int len)
{
	struct sp_seg *seg = sp_seg_new(folio, off, false);

	if (!seg)
		return -ENOMEM;
	list_add_tail(&seg->list, &sp->segs);
	sp_commit(sp, seg, len);
	return 0;
}

/* Drop @len bytes from the head of the FIFO.  Called with sp->lock held. */
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
			sp_seg_free(seg);
	}
}

int sp_set_capacity(struct sp_instance *sp, u64 capacity)
{
	int ret = 0;

	if (!capacity || capacity > SP_CAPACITY_MAX)
		return -EINVAL;
	capacity = PAGE_ALIGN(capacity);
	if (capacity > READ_ONCE(sp_max_capacity) &&
	    !capable(CAP_SYS_RESOURCE))
		return -EPERM;
	mutex_lock(&sp->lock);
	if (capacity < sp->bytes)
		ret = -EBUSY;
	else
		WRITE_ONCE(sp->capacity, capacity);
	mutex_unlock(&sp->lock);
	sp_wake_writers(sp);
	return ret;
}

int sp_seg_cache_init(void)
{
	sp_seg_cache = KMEM_CACHE(sp_seg, SLAB_ACCOUNT);
	return sp_seg_cache ? 0 : -ENOMEM;
}

void sp_seg_cache_exit(void)
{
	kmem_cache_destroy(sp_seg_cache);
}
