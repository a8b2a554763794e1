// SPDX-License-Identifier: GPL-2.0
/*
 * Data entering an instance: write(2) copies from user memory; splice(2)
 * from a pipe and sendfile(2) take each pipe buffer either by stealing
 * its folio, when nobody else can see or change it, or by copying it.
 *
 * When a call returns, the instance holds no reference to any folio that
 * is still in a page cache, mapped, pinned or shared: a stolen folio has
 * left its page cache (the owner's try_steal did that) and nobody else
 * holds a lasting reference; everything else is a private copy.  A
 * stolen folio stays on its LRU list: reclaim and compaction may take a
 * reference to it for a moment, and can neither free it (it has no
 * mapping) nor migrate it (our reference is not one they expect), as
 * for a page-cache folio that a pipe holds.
 *
 * Only page-cache folios are stolen, so everything an instance holds is
 * charged to a memory cgroup: its private pages to the caller's
 * (%GFP_KERNEL_ACCOUNT), a stolen folio to the cgroup it was charged to
 * when it was read into the page cache.  Anonymous pipe pages are copied:
 * stealing one would uncharge it (anon_pipe_buf_try_steal()).
 */
#include <linux/highmem.h>
#include <linux/memcontrol.h>
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

/**
 * sp_copy_from_user() - copy bytes from user memory into private pages
 * @sp: the instance
 * @from: the source; advanced by the bytes copied
 * @count: bytes to copy; the caller made sure they fit
 *
 * Counts one copied_user page for each private page written to (a page
 * that two writes fill counts twice) and the bytes in bytes_in_write.
 * Stops at the first short copy (a fault) or failed allocation.
 *
 * Context: Process context; may sleep and fault.  Called with @sp->lock
 * held.
 * Return: the bytes copied, fewer than @count on a fault or when memory
 * ran out; when nothing was copied, -EFAULT on a fault, -ENOMEM when no
 * page could be allocated, 0 when @count is 0.
 */
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

/**
 * sp_write_iter() - write(2) into an instance: the file's write_iter
 * @iocb: the I/O control block; its file's private_data is the instance
 * @from: the user memory to copy from
 *
 * Copies into private pages; nothing is stolen.  Writes of at most
 * %PIPE_BUF bytes are atomic, as for pipes: they wait until all of it fits
 * (a capacity is at least a page).  Longer writes take whatever room
 * there is and wait for more.  Readers are woken after each step that
 * made progress.  Waits happen with no lock held; the instance's lock is
 * held only while copying.  The file is
 * nonblocking when %IOCB_NOWAIT or %O_NONBLOCK is set.
 *
 * Context: Process context; may sleep and fault.  Takes and releases the
 * instance's lock.
 * Return: the bytes written, which may be fewer than asked when a signal,
 * a nonblocking file, a fault, lack of memory or the last reader's close
 * stopped the write after some progress; otherwise 0 for an empty write,
 * or -EAGAIN, -EPIPE (after raising SIGPIPE), -ERESTARTSYS, -EFAULT or
 * -ENOMEM.
 */
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
		if (!sp->readers) {
			/*
			 * The last reader left after the unlocked check in
			 * sp_wait_for_room(): nobody can read these bytes.
			 */
			send_sig(SIGPIPE, current, 0);
			ret = -EPIPE;
		} else if (sp_room(sp) >= min(need, sp->capacity)) {
			ret = sp_copy_from_user(sp, from,
						min(sp_room(sp),
						    iov_iter_count(from)));
		}
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

/**
 * sp_buf_pages() - source pages touched by the first bytes of a buffer
 * @buf: the pipe buffer
 * @len: bytes from @buf's start; at least 1
 *
 * Return: the number of pages that those bytes touch.
 */
static unsigned long sp_buf_pages(const struct pipe_buffer *buf, size_t len)
{
	return ((buf->offset + len - 1) >> PAGE_SHIFT) -
	       (buf->offset >> PAGE_SHIFT) + 1;
}

/**
 * sp_copy_buffer() - copy the first bytes of a pipe buffer into private pages
 * @sp: the instance
 * @buf: the pipe buffer, already confirmed; it is not changed
 * @len: bytes to copy from @buf's start; the caller made sure they fit
 * @why: the counter of the copied source pages (a SP_COPIED_* reason)
 *
 * A buffer may span several pages of a large folio (before 6.5 a
 * page-cache buffer did): each source page is mapped on its own.
 *
 * Context: Process context; may sleep.  Called with the pipe locked and
 * @sp->lock held.
 * Return: the bytes copied, fewer than @len only when memory ran out
 * (0 when none could be allocated).
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

/**
 * sp_buf_folio_offset() - offset of a pipe buffer's first byte in its folio
 * @buf: the pipe buffer
 *
 * Return: the offset in bytes from the start of the folio.
 */
static size_t sp_buf_folio_offset(const struct pipe_buffer *buf)
{
	struct folio *folio = page_folio(buf->page);

	return folio_page_idx(folio, buf->page) * PAGE_SIZE + buf->offset;
}

/**
 * sp_folio_run() - how many buffers, from the tail of a pipe, hold a whole folio
 * @pipe: the pipe, not empty
 * @limit: the most bytes the caller may take
 *
 * A page is stolen with the buffer that holds it.  A large folio can only
 * be stolen whole, so every byte of it must be in the pipe, in order, in
 * consecutive buffers from the tail, all with the same operations: one
 * buffer on 6.1, where a page-cache buffer may span a folio; one per page
 * since 6.5.
 *
 * Context: Called with @pipe locked.
 * Return: 1 when the tail buffer's folio is not large (whatever @limit);
 * for a large page-cache folio the number of buffers, or 0 when they
 * don't hold the whole folio or it exceeds @limit bytes; 0 for any other
 * large folio.
 */
static unsigned int sp_folio_run(struct pipe_inode_info *pipe, size_t limit)
{
	const struct pipe_buffer *first = sp_pipe_tail_buf(pipe), *buf;
	struct folio *folio = page_folio(first->page);
	size_t size = folio_size(folio), pos = 0;
	unsigned int slot, n = 0;

	if (!folio_test_large(folio))
		return 1;
	/*
	 * Only page-cache folios are taken whole.  An anonymous large folio
	 * (vmsplice(2) with SPLICE_F_GIFT) is never stolen by the kernel
	 * itself, and dropping the other buffers' references would let its
	 * page_count() == 1 test pass.
	 */
	if (size > limit || folio_test_anon(folio) || !folio_mapping(folio))
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

/**
 * sp_expected_refs() - the references a stealable folio has
 * @folio: the folio, not mapped
 * @nbufs: the pipe buffers that hold it, one reference each
 *
 * Besides the buffers' references, its owners': the page cache's and its
 * private data's (sp_folio_expected_refs()).  Anybody else's reference
 * makes the folio busy.
 *
 * Return: the number of references.
 */
static int sp_expected_refs(struct folio *folio, unsigned int nbufs)
{
	return nbufs + sp_folio_expected_refs(folio);
}

/**
 * sp_folio_is_callers() - is a folio charged to the caller's memory cgroup?
 * @folio: a page-cache folio
 *
 * Compares pointers only: a folio that moves to another cgroup meanwhile
 * makes a stale answer, never a dereference.  Without memory cgroups (not
 * built, or disabled at boot) both sides are %NULL and every folio is the
 * caller's.
 *
 * Context: Process context.
 * Return: true when @folio is charged to the memory cgroup of
 * current->mm, or when there are no memory cgroups.
 */
static bool sp_folio_is_callers(struct folio *folio)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(current->mm);
	bool ours;

	rcu_read_lock();
	ours = folio_memcg(folio) == memcg;
	rcu_read_unlock();
	mem_cgroup_put(memcg);
	return ours;
}

/**
 * sp_folio_is_hot() - has a page-cache folio been used before this splice?
 * @folio: a page-cache folio that a pipe buffer holds
 *
 * Reads what the LRU already knows of the folio's use.  The read that
 * filled the pipe marked it accessed once (filemap_read() on 6.1,
 * filemap_splice_read() from 6.5 on call folio_mark_accessed() on each
 * folio they put in the pipe), so a folio that readahead just brought in
 * for this splice has PG_referenced and nothing more.  One more access,
 * before or since, leaves a mark that one access does not:
 *
 * - the active/inactive LRU (6.1): the second access queues the folio
 *   for activation (PG_active; while it waits in the per-cpu batch, the
 *   batch's reference makes it copied_busy); PG_workingset means it was
 *   active once, or refaulted after eviction while active;
 * - the multi-gen LRU (6.12 on): PG_workingset from the second access on
 *   6.12, access count bits (sp_folio_lru_refs()) on 7.x; a refault of a
 *   folio that was accessed often sets PG_workingset again.
 *
 * POSIX_FADV_NOREUSE cannot be seen here: it is FMODE_NOREUSE on the
 * struct file (6.3 on), and a pipe buffer leads to the folio and its
 * mapping, never to the file that filled the pipe; the kernel itself uses
 * it only for page-table accesses (vma_has_recency()).  POSIX_FADV_DONTNEED
 * takes clean unmapped folios out of the page cache, and deactivates
 * those it cannot, clearing these marks.
 *
 * The flags are read without the folio lock, and may change right after:
 * a hint for a policy, never a condition of safety (try_steal decides
 * that).
 *
 * Return: true when @folio was used beyond the access that put it in the
 * pipe.
 */
static bool sp_folio_is_hot(struct folio *folio)
{
	return folio_test_active(folio) || folio_test_workingset(folio) ||
	       (folio_test_referenced(folio) && sp_folio_lru_refs(folio));
}

/**
 * sp_steal_verdict() - steal the buffer at the tail of a pipe, or copy it?
 * @sp: the instance, whose policy is read
 * @pipe: the pipe, not empty; its tail buffer is whole (the caller takes
 *	all of it)
 * @limit: the most bytes the caller may take
 * @run: set to the number of buffers from the tail that hold the tail
 *	buffer's folio, once the checks get that far (always when
 *	%SP_PAGES_STOLEN or %SP_COPIED_HOT is returned); left alone for the
 *	earlier verdicts
 *
 * In order: the copy policy; a buffer under half a page; a folio that is
 * mapped, maybe DMA-pinned, dirty or under writeback; a folio that is not
 * in a regular file's page cache (an anonymous pipe page, an anonymous or
 * a shmem folio); a large folio that the pipe does not hold whole within @limit
 * (sp_folio_run()); a hot folio (sp_folio_is_hot()), which stealing would
 * take out of a page cache that is going to need it again; a folio with
 * more references than sp_expected_refs() allows.  The checks are made
 * without the folio lock and only classify: the owner's try_steal, under
 * the folio lock, decides, and sp_steal_run() copies when it refuses.
 *
 * Context: Called with @pipe locked and @sp->lock held.
 * Return: %SP_PAGES_STOLEN when stealing may be tried, else the
 * SP_COPIED_* reason to copy.
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
	/*
	 * Only page-cache folios of regular files are stolen: they stay
	 * charged to the memory cgroup they were charged to when read in.
	 * An anonymous pipe page (write(2) into a pipe) has no mapping:
	 * anon_pipe_buf_try_steal() would uncharge it from the writer's
	 * cgroup, expecting the thief to charge it again, which no exported
	 * API lets a module do.  Copied instead, the copy is charged to the
	 * caller (%GFP_KERNEL_ACCOUNT).  User pages that vmsplice(2) put in
	 * a pipe are anonymous or file pages, usually caught as mapped
	 * above.
	 * A shmem folio's data lives only in the page cache: taking a clean
	 * one out would leave a hole in the file (tmpfs keeps them dirty).
	 * And nothing is stolen from a kernel without ->try_steal (compat.h).
	 * A stolen folio keeps its memory cgroup charge until it is freed:
	 * one charged to another cgroup than the caller's (cache another
	 * container read in, or root's) is copied, or the caller could pin
	 * memory that someone else pays for (sp_folio_is_callers()).
	 */
	if (!SP_CAN_STEAL || !folio_mapping(folio) || folio_test_anon(folio) ||
	    folio_test_swapbacked(folio) || !sp_folio_is_callers(folio))
		return SP_COPIED_NOT_STEALABLE;
	*run = sp_folio_run(pipe, limit);
	if (!*run)
		return SP_COPIED_LARGE_FOLIO;
	if (sp_folio_is_hot(folio))
		return SP_COPIED_HOT;
	/*
	 * Capacity counts pages: the stolen folio is held whole, however
	 * few of its bytes the buffers hold.  Without a page left for each
	 * of its pages, copy into what room the private tail page has.
	 */
	if (sp->pages + folio_nr_pages(folio) > sp_max_pages(sp->capacity))
		return SP_COPIED_PARTIAL;
	if (folio_ref_count(folio) > sp_expected_refs(folio, *run))
		return SP_COPIED_BUSY;
	return SP_PAGES_STOLEN;
}

/**
 * sp_pipe_drop_tail() - release the buffer at the tail of a pipe, move past it
 * @pipe: the pipe, not empty
 *
 * Context: Called with @pipe locked.
 */
static void sp_pipe_drop_tail(struct pipe_inode_info *pipe)
{
	pipe_buf_release(pipe, sp_pipe_tail_buf(pipe));
	pipe->tail++;
}

/**
 * sp_copy_run() - copy whole buffers at the tail of a pipe and drop them
 * @sp: the instance
 * @pipe: the pipe, holding at least @n buffers, all confirmed
 * @n: the buffers to copy; the caller made sure their bytes fit
 * @why: the counter of the copied source pages (a SP_COPIED_* reason)
 *
 * Each buffer copied whole is released and the tail moves past it.  When
 * memory runs out, the buffer being copied keeps the bytes not yet copied
 * (its offset and length are advanced) and stays in the pipe, with the
 * ones after it.
 *
 * Context: Process context; may sleep.  Called with @pipe locked and
 * @sp->lock held.
 * Return: the bytes copied: fewer than the buffers held when memory ran
 * out, 0 when no page could be allocated.
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

/**
 * sp_steal_run() - steal the folio that buffers at the tail of a pipe hold
 * @sp: the instance
 * @pipe: the pipe; its @n buffers from the tail are confirmed and hold
 *	one folio, whole when @n > 1 (see sp_folio_run())
 * @n: the number of those buffers
 *
 * Steals the folio whole, or copies the @n buffers (with sp_copy_run())
 * when the owner's try_steal refuses: counted as copied_busy when the
 * folio has unexpected references, else as copied_not_stealable.
 *
 * References: each buffer holds one.  The owner's try_steal accepts no
 * reference besides the page cache's and the one of the buffer it is
 * given, so the other @n - 1 buffers' references are dropped first (the
 * first buffer keeps the folio alive), and taken back if it refuses.
 * Nobody else can see those buffers meanwhile: we hold the pipe lock.
 * On success the first buffer's reference becomes the instance's and the
 * other buffers are dropped without a release of their own.
 *
 * Context: Process context; may sleep.  Called with @pipe locked and
 * @sp->lock held.
 * Return: the bytes taken: all the buffers' bytes when stolen; when the
 * owner refused, the bytes copied, which are fewer (0 when no page could
 * be allocated) if memory ran out; or -ENOMEM when the folio was stolen
 * but no segment could be allocated for it: then the buffers stay in the
 * pipe, with their references, and the folio has already left its page
 * cache.
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
	if (!sp_pipe_buf_try_steal(pipe, first)) {
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

/**
 * sp_take() - take the buffer at the tail of a pipe, or part of it
 * @sp: the instance
 * @pipe: the pipe, not empty
 * @limit: the most bytes to take; they fit in @sp
 *
 * A buffer longer than @limit is copied in part (counted as
 * copied_partial) and keeps the rest.  A whole buffer is stolen or copied
 * as sp_steal_verdict() says; when it is stolen, or copied as hot, and
 * starts a large folio that the next buffers complete, those are taken
 * too.  An empty buffer is dropped.
 *
 * Context: Process context; may sleep.  Called with @pipe locked and
 * @sp->lock held.
 * Return: the bytes taken (0 only for an empty buffer, which is dropped),
 * or a negative error: the buffer's confirm error, or -ENOMEM when no
 * byte could be taken for want of memory.
 */
static ssize_t sp_take(struct sp_instance *sp, struct pipe_inode_info *pipe,
		       size_t limit)
{
	struct pipe_buffer *buf = sp_pipe_tail_buf(pipe);
	size_t want = min(buf->len, limit), got;
	unsigned int i, run = 1;
	enum sp_stat why;
	ssize_t ret;

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
	/*
	 * Confirm only what is taken: all of a run to steal or a hot folio
	 * to copy whole (its later buffers, on their own, would look like a
	 * folio held in part), else one.
	 */
	if (why != SP_PAGES_STOLEN && why != SP_COPIED_HOT)
		run = 1;
	for (i = 0; i < run; i++) {
		ret = pipe_buf_confirm(pipe, sp_pipe_buf(pipe, pipe->tail + i));
		if (ret)
			return ret;
	}
	if (why == SP_PAGES_STOLEN) {
		/*
		 * 0: the owner refused and no page could be allocated for
		 * the copy.  The buffer is still at the tail; returning 0
		 * would make sp_ingest_pipe() try it again, and again.
		 */
		ret = sp_steal_run(sp, pipe, run);
		return ret ? ret : -ENOMEM;
	}
	got = sp_copy_run(sp, pipe, run, why);
	return got ? got : -ENOMEM;
}

/**
 * sp_ingest_pipe() - move bytes out of a pipe into an instance
 * @sp: the instance
 * @pipe: the pipe
 * @len: the most bytes to move; the caller made sure they fit
 *
 * Takes buffers from the tail with sp_take() until @len bytes are moved
 * or the pipe is empty.
 *
 * Context: Process context; may sleep.  Called with @pipe locked and
 * @sp->lock held.
 * Return: the bytes moved, fewer than @len when the pipe ran empty or an
 * error stopped it after some progress; or the error when nothing was
 * moved; 0 when the pipe held no data.
 */
static ssize_t sp_ingest_pipe(struct sp_instance *sp,
			      struct pipe_inode_info *pipe, size_t len)
{
	ssize_t done = 0, ret;
	size_t room;

	while (done < len && !pipe_empty(pipe->head, pipe->tail)) {
		/* A steal can take more pages than bytes: look again. */
		room = min_t(size_t, len - done, sp_room(sp));
		if (!room)
			break;
		ret = sp_take(sp, pipe, room);
		if (ret < 0)
			return done ? done : ret;
		done += ret;
	}
	return done;
}

/**
 * sp_wake_pipe_writers() - tell a pipe's writers that it has room
 * @pipe: the pipe
 *
 * Context: Process context.  Called with @pipe unlocked.
 */
static void sp_wake_pipe_writers(struct pipe_inode_info *pipe)
{
	wake_up_interruptible_sync_poll(&pipe->wr_wait, EPOLLOUT | EPOLLWRNORM);
	kill_fasync(&pipe->fasync_writers, SIGIO, POLL_OUT);
}

/**
 * sp_splice_write() - splice(2) from a pipe, and sendfile(2)
 * @pipe: the pipe to take from; for sendfile(2) the splice core's private
 *	per-task pipe, current->splice_pipe
 * @out: a file of the instance
 * @ppos: ignored: the instance is a stream
 * @len: the most bytes to move
 * @flags: %SPLICE_F_NONBLOCK is honoured (as is %O_NONBLOCK on @out);
 *	the others are ignored
 *
 * Waits for pipe data (an empty pipe with no writer is end of file), then
 * for room for min(@len, %PAGE_SIZE) bytes, then moves at most @len
 * bytes, or what fits, out of @pipe with sp_ingest_pipe(): each whole
 * buffer is stolen or copied.  One round that moves something ends the
 * call.  The bytes are counted in
 * bytes_in_sendfile for the private pipe, else in bytes_in_splice.
 *
 * Locking: the splice core calls this with @pipe unlocked; we take the
 * pipe's mutex ourselves, then sp->lock.  Waits for room and for pipe data
 * happen with neither held, so a task splicing the instance into this
 * same pipe is never blocked behind our sleep.
 *
 * Context: Process context; may sleep.  Called with no lock held.
 * Return: the bytes moved; 0 when @len is 0, or when @pipe is empty and
 * has no writer left; -EAGAIN when nonblocking and there is no room or no
 * pipe data; -EPIPE (after raising SIGPIPE) when the instance has no
 * reader; -ERESTARTSYS when a signal interrupted a wait; -ENOMEM or a
 * pipe buffer's confirm error when nothing was moved.
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
	bool eof;

	if (!len)
		return 0;
	for (;;) {
		/*
		 * The pipe first, as splice_from_pipe_next() does: an empty
		 * pipe with no writer is end of file, whatever the instance's
		 * room.  Then room, waited for with no lock held.
		 */
		pipe_lock(pipe);
		if (!pipe_empty(pipe->head, pipe->tail)) {
			pipe_unlock(pipe);
			ret = sp_wait_for_room(sp,
					       min_t(size_t, len, PAGE_SIZE),
					       nonblock);
			if (ret)
				return ret;
			pipe_lock(pipe);
		}
		if (pipe_empty(pipe->head, pipe->tail)) {
			/*
			 * End of file under the pipe's mutex, which its
			 * writers hold to write and pipe_release() to drop
			 * the count, as pipe_read() decides it.
			 */
			eof = !pipe->writers;
			pipe_unlock(pipe);
			if (eof)
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
