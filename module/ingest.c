// SPDX-License-Identifier: GPL-2.0
/*
 * Data entering an instance: write(2) copies from user memory; splice(2)
 * from a pipe and sendfile(2) take each pipe buffer either by stealing
 * its folio, when nobody else can see or change it, or by copying it.
 *
 * When a call returns, the instance holds no reference to any folio that
 * is still in a page cache, mapped, pinned or shared: a stolen folio has
 * left its page cache (the owner's try_steal did that) and nobody else
 * holds a reference; everything else is a private copy.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include "compat.h"
#include "stablepipe.h"
#include "trace.h"

/* Writes up to PIPE_BUF bytes are atomic, as for pipes. */
static size_t sp_atomic_need(size_t count)
{
	return count <= PIPE_BUF ? count : 1;
}

/* Copy up to @count bytes from @from; called with sp->lock held. */
static ssize_t sp_copy_from_user(struct sp_instance *sp, struct iov_iter *from,
				 size_t count)
{
	size_t done = 0, space, n, copied;
	unsigned long pages = 0;
	struct sp_seg *seg = NULL;

	while (done < count) {
		seg = sp_writable_tail(sp, &space);
		if (!seg)
			break;
		n = min(space, count - done);
		copied = copy_page_from_iter(folio_page(seg->folio, 0),
					     seg->off + seg->len, n, from);
		if (copied) {
			sp_commit(sp, seg, copied);
			pages++;
		}
		done += copied;
		if (copied < n)
			break;
	}
	if (pages) {
		sp_count(sp, SP_COPIED_USER, pages);
		sp_count(sp, SP_BYTES_IN_WRITE, done);
		trace_stablepipe_ingest(sp, SP_COPIED_USER, pages, done);
	}
	if (done)
		return done;
	return count ? (seg ? -EFAULT : -ENOMEM) : 0;
}

ssize_t sp_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct sp_instance *sp = iocb->ki_filp->private_data;
	bool nonblock = (iocb->ki_flags & IOCB_NOWAIT) ||
			(iocb->ki_filp->f_flags & O_NONBLOCK);
	size_t total = iov_iter_count(from), need = sp_atomic_need(total);
	ssize_t done = 0, ret = 0;

	while (iov_iter_count(from)) {
		ret = sp_wait_for_room(sp, need, nonblock);
		if (ret)
			break;
		mutex_lock(&sp->lock);
		if (sp_room(sp) >= min(need, sp->capacity))
			ret = sp_copy_from_user(sp, from,
						min(sp_room(sp),
						    iov_iter_count(from)));
		mutex_unlock(&sp->lock);
		if (ret < 0)
			break;
		if (ret > 0) {
			done += ret;
			sp_wake_readers(sp);
		}
		ret = 0;
	}
	return done ? done : ret;
}

/* Source pages touched by the first @len bytes of @buf. */
static unsigned long sp_buf_pages(const struct pipe_buffer *buf, size_t len)
{
	return ((buf->offset + len - 1) >> PAGE_SHIFT) -
	       (buf->offset >> PAGE_SHIFT) + 1;
}

/*
 * Copy the first @len bytes of @buf into private pages; returns the bytes
 * copied, fewer only when memory ran out.  A buffer may span several pages
 * of a large folio (before 6.5 a page-cache buffer did).
 */
static size_t sp_copy_buffer(struct sp_instance *sp,
			     const struct pipe_buffer *buf, size_t len,
			     enum sp_stat why)
{
	size_t done = 0, space, n, soff;
	struct page *src;
	struct sp_seg *seg;
	void *s, *d;

	while (done < len) {
		seg = sp_writable_tail(sp, &space);
		if (!seg)
			break;
		soff = buf->offset + done;
		src = sp_folio_nth_page(buf->page, soff >> PAGE_SHIFT);
		soff &= ~PAGE_MASK;
		n = min3(space, len - done, PAGE_SIZE - soff);
		s = kmap_local_page(src);
		d = kmap_local_folio(seg->folio, seg->off + seg->len);
		memcpy(d, s + soff, n);
		kunmap_local(d);
		kunmap_local(s);
		sp_commit(sp, seg, n);
		done += n;
	}
	if (done) {
		sp_count(sp, why, sp_buf_pages(buf, done));
		trace_stablepipe_ingest(sp, why, sp_buf_pages(buf, done), done);
	}
	return done;
}

/* Offset of the first byte of @buf in its folio. */
static size_t sp_buf_folio_offset(const struct pipe_buffer *buf)
{
	struct folio *folio = page_folio(buf->page);

	return folio_page_idx(folio, buf->page) * PAGE_SIZE + buf->offset;
}

/*
 * sp_folio_run - how many buffers, from the tail of @pipe, hold a whole folio
 *
 * A page is stolen with the buffer that holds it.  A large folio can only
 * be stolen whole, so every byte of it must be in the pipe, in order, in
 * consecutive buffers from the tail: one buffer on 6.1, where a page-cache
 * buffer may span a folio; one per page since 6.5.  Returns the number of
 * buffers, or 0 when they don't hold the whole folio or it exceeds @limit
 * bytes.  Called with the pipe locked.
 */
static unsigned int sp_folio_run(struct pipe_inode_info *pipe, size_t limit)
{
	const struct pipe_buffer *first = sp_pipe_tail_buf(pipe), *buf;
	struct folio *folio = page_folio(first->page);
	size_t size = folio_size(folio), pos = 0;
	unsigned int slot, n = 0;

	if (!folio_test_large(folio))
		return 1;
	if (size > limit)
		return 0;
	for (slot = pipe->tail; pos < size && slot != pipe->head; slot++) {
		buf = sp_pipe_buf(pipe, slot);
		if (buf->ops != first->ops || page_folio(buf->page) != folio ||
		    sp_buf_folio_offset(buf) != pos)
			return 0;
		pos += buf->len;
		n++;
	}
	return pos == size ? n : 0;
}

/*
 * References a stealable folio has: one for each of the @nbufs pipe buffers
 * that hold it, its page cache's, its private data's.
 */
static int sp_expected_refs(struct folio *folio, unsigned int nbufs)
{
	int refs = nbufs;

	if (folio_mapping(folio))
		refs += folio_nr_pages(folio);
	if (folio_test_private(folio))
		refs++;
	return refs;
}

/*
 * Why the buffer at the tail of @pipe must be copied rather than stolen,
 * or SP_PAGES_STOLEN when stealing may be tried; then @run is the number
 * of buffers from the tail that hold its folio.  The checks are unlocked
 * and only classify: the owner's try_steal, under the folio lock, decides.
 */
static enum sp_stat sp_steal_verdict(const struct sp_instance *sp,
				     struct pipe_inode_info *pipe,
				     size_t limit, unsigned int *run)
{
	const struct pipe_buffer *buf = sp_pipe_tail_buf(pipe);
	struct folio *folio = page_folio(buf->page);

	if (sp->policy == STABLEPIPE_POLICY_COPY)
		return SP_COPIED_POLICY;
	if (buf->len < PAGE_SIZE / 2)
		return SP_COPIED_SMALL;
	if (folio_mapped(folio))
		return SP_COPIED_MAPPED;
	if (folio_maybe_dma_pinned(folio))
		return SP_COPIED_PINNED;
	if (folio_test_dirty(folio))
		return SP_COPIED_DIRTY;
	if (folio_test_writeback(folio))
		return SP_COPIED_WRITEBACK;
	*run = sp_folio_run(pipe, limit);
	if (!*run)
		return SP_COPIED_LARGE_FOLIO;
	if (folio_ref_count(folio) > sp_expected_refs(folio, *run))
		return SP_COPIED_BUSY;
	return SP_PAGES_STOLEN;
}

/* Release the buffer at the tail of @pipe and move the tail past it. */
static void sp_pipe_drop_tail(struct pipe_inode_info *pipe)
{
	pipe_buf_release(pipe, sp_pipe_tail_buf(pipe));
	pipe->tail++;
}

/*
 * Copy the @n whole buffers at the tail of @pipe and drop them.  Returns
 * the bytes copied; on a short copy the rest stays in the pipe.
 */
static size_t sp_copy_run(struct sp_instance *sp, struct pipe_inode_info *pipe,
			  unsigned int n, enum sp_stat why)
{
	struct pipe_buffer *buf;
	size_t done = 0, got;

	while (n--) {
		buf = sp_pipe_tail_buf(pipe);
		got = sp_copy_buffer(sp, buf, buf->len, why);
		done += got;
		if (got < buf->len) {
			buf->offset += got;
			buf->len -= got;
			break;
		}
		sp_pipe_drop_tail(pipe);
	}
	return done;
}

/*
 * sp_steal_run - steal the folio that the @n buffers at the tail of @pipe
 * hold, whole, or copy the buffers if its owner refuses
 *
 * Returns the bytes taken, or -ENOMEM with the buffers left in the pipe.
 *
 * References: each buffer holds one.  The owner's try_steal accepts no
 * reference besides the page cache's and the one of the buffer it is
 * given, so the other n - 1 buffers' references are dropped first (the
 * first buffer keeps the folio alive), and taken back if it refuses.
 * Nobody else can see those buffers meanwhile: we hold the pipe lock.
 * On success the first buffer's reference becomes the instance's and the
 * other buffers are dropped without a release of their own.
 */
static ssize_t sp_steal_run(struct sp_instance *sp,
			    struct pipe_inode_info *pipe, unsigned int n)
{
	struct pipe_buffer *first = sp_pipe_tail_buf(pipe);
	struct folio *folio = page_folio(first->page);
	unsigned long pages = sp_buf_pages(first, first->len);
	size_t off = sp_buf_folio_offset(first), len = first->len;
	unsigned int i;

	if (n > 1) {
		/* A whole large folio: all its pages and bytes. */
		pages = folio_nr_pages(folio);
		len = folio_size(folio);
		folio_put_refs(folio, n - 1);
	}
	if (!pipe_buf_try_steal(pipe, first)) {
		if (n > 1)
			folio_ref_add(folio, n - 1);
		return sp_copy_run(sp, pipe, n,
				   folio_ref_count(folio) >
				   sp_expected_refs(folio, n) ?
				   SP_COPIED_BUSY : SP_COPIED_NOT_STEALABLE);
	}
	/* try_steal left the folio locked, out of its page cache. */
	folio_unlock(folio);
	if (sp_append_folio(sp, folio, off, len)) {
		if (n > 1)
			folio_ref_add(folio, n - 1);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		first = sp_pipe_tail_buf(pipe);
		first->ops = NULL;
		pipe->tail++;
	}
	sp_count(sp, SP_PAGES_STOLEN, pages);
	trace_stablepipe_ingest(sp, SP_PAGES_STOLEN, pages, len);
	return len;
}

/*
 * Take the buffer at the tail of @pipe, or up to @limit bytes of it, and
 * when it starts a large folio that the next buffers complete, those too.
 * Returns the bytes taken (0 for an empty buffer) or a negative error.
 * Called with the pipe locked and sp->lock held.
 */
static ssize_t sp_take(struct sp_instance *sp, struct pipe_inode_info *pipe,
		       size_t limit)
{
	struct pipe_buffer *buf = sp_pipe_tail_buf(pipe);
	size_t want = min(buf->len, limit), got;
	unsigned int i, run = 1;
	enum sp_stat why;
	int ret;

	if (!want) {
		if (!buf->len)
			sp_pipe_drop_tail(pipe);
		return 0;
	}
	if (want < buf->len) {
		ret = pipe_buf_confirm(pipe, buf);
		if (ret)
			return ret;
		got = sp_copy_buffer(sp, buf, want, SP_COPIED_PARTIAL);
		buf->offset += got;
		buf->len -= got;
		return got ? got : -ENOMEM;
	}
	why = sp_steal_verdict(sp, pipe, limit, &run);
	for (i = 0; i < run; i++) {
		ret = pipe_buf_confirm(pipe, sp_pipe_buf(pipe, pipe->tail + i));
		if (ret)
			return ret;
	}
	if (why == SP_PAGES_STOLEN)
		return sp_steal_run(sp, pipe, run);
	got = sp_copy_run(sp, pipe, 1, why);
	return got ? got : -ENOMEM;
}

/*
 * Move up to @len bytes out of @pipe.  Called with the pipe locked and
 * sp->lock held; the caller made sure @len bytes fit.
 */
static ssize_t sp_ingest_pipe(struct sp_instance *sp,
			      struct pipe_inode_info *pipe, size_t len)
{
	ssize_t done = 0, ret;

	while (done < len && !pipe_empty(pipe->head, pipe->tail)) {
		ret = sp_take(sp, pipe, len - done);
		if (ret < 0)
			return done ? done : ret;
		done += ret;
	}
	return done;
}

static void sp_wake_pipe_writers(struct pipe_inode_info *pipe)
{
	wake_up_interruptible_sync_poll(&pipe->wr_wait, EPOLLOUT | EPOLLWRNORM);
	kill_fasync(&pipe->fasync_writers, SIGIO, POLL_OUT);
}

/*
 * sp_splice_write - splice(2) from a pipe, and sendfile(2) (the core then
 * passes its private per-task pipe, current->splice_pipe)
 *
 * Locking: we take the pipe's mutex ourselves, then sp->lock.  Waits for
 * room and for pipe data happen with neither held, so a task splicing the
 * instance into this same pipe is never blocked behind our sleep.
 */
ssize_t sp_splice_write(struct pipe_inode_info *pipe, struct file *out,
			loff_t *ppos, size_t len, unsigned int flags)
{
	struct sp_instance *sp = out->private_data;
	bool nonblock = (flags & SPLICE_F_NONBLOCK) ||
			(out->f_flags & O_NONBLOCK);
	enum sp_stat path = pipe == current->splice_pipe ?
			    SP_BYTES_IN_SENDFILE : SP_BYTES_IN_SPLICE;
	ssize_t ret;

	if (!len)
		return 0;
	for (;;) {
		ret = sp_wait_for_room(sp, min_t(size_t, len, PAGE_SIZE),
				       nonblock);
		if (ret)
			return ret;

		pipe_lock(pipe);
		if (pipe_empty(pipe->head, pipe->tail)) {
			pipe_unlock(pipe);
			if (!READ_ONCE(pipe->writers))
				return 0;
			if (nonblock)
				return -EAGAIN;
			if (wait_event_interruptible(pipe->rd_wait,
						     !sp_pipe_is_empty(pipe) ||
						     !READ_ONCE(pipe->writers)))
				return -ERESTARTSYS;
			continue;
		}
		mutex_lock(&sp->lock);
		if (!sp->readers) {
			ret = -EPIPE;
			send_sig(SIGPIPE, current, 0);
		} else {
			ret = sp_room(sp);
			if (ret)
				ret = sp_ingest_pipe(sp, pipe,
						     min_t(size_t, len, ret));
			if (ret > 0)
				sp_count(sp, path, ret);
		}
		mutex_unlock(&sp->lock);
		pipe_unlock(pipe);
		if (ret)
			break;
		/* Another writer took the room between the wait and the lock. */
	}
	if (ret > 0) {
		sp_wake_pipe_writers(pipe);
		sp_wake_readers(sp);
	}
	return ret;
}
