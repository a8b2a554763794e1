// SPDX-License-Identifier: GPL-2.0
/*
 * Data leaving an instance: read(2) copies to user memory; splice(2) into
 * a pipe hands the instance's folios over without copying.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include "compat.h"
#include "stablepipe.h"
#include "trace.h"

/**
 * sp_read_iter() - read(2) from an instance: the file's read_iter
 * @iocb: the I/O control block; its file's private_data is the instance
 * @to: the user memory to copy to
 *
 * Under the instance's lock: copies what is buffered, up to the size of
 * @to, consumes it and wakes the writers; or, when nothing is buffered
 * and no writer is left, returns end of file (decided under that lock,
 * see sp_at_eof()).  Otherwise waits with no lock held and looks again.
 * The file is nonblocking when %IOCB_NOWAIT or %O_NONBLOCK is set.
 *
 * Context: Process context; may sleep.  Takes and releases the instance's
 * lock, and may fault on @to while holding it.
 * Return: the bytes read, fewer than asked when less was buffered or a
 * fault stopped the copy; 0 for an empty read or at end of file (nothing
 * buffered, no writer left); -EAGAIN when nonblocking and nothing is
 * buffered; -ERESTARTSYS when a signal interrupted the wait; -EFAULT when
 * nothing could be copied.
 */
ssize_t sp_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct sp_instance *sp = iocb->ki_filp->private_data;
	bool nonblock = (iocb->ki_flags & IOCB_NOWAIT) ||
			(iocb->ki_filp->f_flags & O_NONBLOCK);
	size_t done = 0, n, off, copied;
	struct sp_seg *seg;
	bool eof;
	int ret;

	if (!iov_iter_count(to))
		return 0;
	for (;;) {
		mutex_lock(&sp->lock);
		if (sp->bytes)
			break;
		eof = sp_at_eof(sp);
		mutex_unlock(&sp->lock);
		if (eof)
			return 0;
		ret = sp_wait_for_data(sp, nonblock);
		if (ret)
			return ret;
	}
	list_for_each_entry(seg, &sp->segs, list) {
		for (off = 0; off < seg->len && iov_iter_count(to); off += n) {
			size_t pos = seg->off + off;

			n = min_t(size_t, seg->len - off,
				  PAGE_SIZE - (pos & ~PAGE_MASK));
			copied = copy_page_to_iter(folio_page(seg->folio,
							      pos >> PAGE_SHIFT),
						   pos & ~PAGE_MASK, n, to);
			done += copied;
			if (copied < n)
				goto out;
		}
		if (!iov_iter_count(to))
			break;
	}
out:
	if (done) {
		sp_consume(sp, done);
		sp_count(sp, SP_BYTES_OUT_READ, done);
		trace_stablepipe_emit(sp, SP_BYTES_OUT_READ, done);
	}
	mutex_unlock(&sp->lock);
	if (!done)
		return -EFAULT;
	sp_wake_writers(sp);
	return done;
}

/**
 * sp_emit_to_pipe() - hand bytes of an instance to a pipe without copying
 * @sp: the instance
 * @pipe: the pipe
 * @len: the most bytes to hand over
 *
 * Adds one pipe buffer per page (or part of a page) of the instance's
 * segments, from the head, until @len bytes are handed over, the pipe is
 * full or the instance is empty, then consumes the bytes handed over.
 * Each buffer holds its own folio reference, taken here and dropped by
 * the pipe when the buffer is released; the segments keep theirs.
 *
 * The buffers use the kernel's nosteal_pipe_buf_ops, never operations of
 * this module: a pipe may hold them long after the module is unloaded.
 * So nobody can steal or merge into our pages; a consumer copies them.
 *
 * Context: Called with @pipe locked and @sp->lock held.
 * Return: the bytes handed over; when none, 0 (the pipe was full or the
 * instance empty) or add_to_pipe()'s error: -EPIPE, after it raised
 * SIGPIPE, when the pipe has no reader.
 */
static ssize_t sp_emit_to_pipe(struct sp_instance *sp,
			       struct pipe_inode_info *pipe, size_t len)
{
	struct pipe_buffer buf;
	struct sp_seg *seg;
	size_t done = 0, off, pos, n;
	ssize_t ret = 0;

	list_for_each_entry(seg, &sp->segs, list) {
		for (off = 0; off < seg->len && done < len; off += n) {
			if (sp_pipe_is_full(pipe))
				goto out;
			pos = seg->off + off;
			n = min3(seg->len - off, len - done,
				 PAGE_SIZE - (pos & ~PAGE_MASK));
			buf = (struct pipe_buffer) {
				.page	= folio_page(seg->folio,
						     pos >> PAGE_SHIFT),
				.offset	= pos & ~PAGE_MASK,
				.len	= n,
				.ops	= &nosteal_pipe_buf_ops,
			};
			folio_get(seg->folio);
			/* On failure add_to_pipe() releases the buffer. */
			ret = add_to_pipe(pipe, &buf);
			if (ret < 0)
				goto out;
			done += n;
		}
		if (done == len)
			break;
	}
out:
	if (done) {
		sp_consume(sp, done);
		sp_count(sp, SP_BYTES_OUT_SPLICE, done);
		trace_stablepipe_emit(sp, SP_BYTES_OUT_SPLICE, done);
		return done;
	}
	return ret;
}

/**
 * sp_splice_read() - splice(2) from an instance into a pipe
 * @in: a file of the instance
 * @ppos: ignored: the instance is a stream
 * @pipe: the pipe to fill
 * @len: the most bytes to move
 * @flags: %SPLICE_F_NONBLOCK is honoured (as is %O_NONBLOCK on @in);
 *	the others are ignored
 *
 * Hands the instance's folios to @pipe without copying (see
 * sp_emit_to_pipe()): as many bytes as are buffered and the pipe takes,
 * up to @len.  One round that moves something ends the call; then the
 * instance's writers are woken.
 *
 * Locking: the splice core calls us with @pipe locked (a no-op for the
 * private pipe of sendfile).  We never sleep with it held: to wait for
 * data or for pipe space we drop it, and retake it before touching the
 * pipe, so a task splicing @pipe into this instance can always make
 * progress.  The instance's lock is taken after the pipe's.
 *
 * Context: Process context; may sleep.  Called with @pipe locked; returns
 * with it locked.
 * Return: the bytes moved; 0 when @len is 0, or at end of file (nothing
 * buffered, no writer left); -EPIPE (after raising SIGPIPE) when @pipe
 * has no reader; -EAGAIN when nonblocking and the pipe is full or nothing
 * is buffered; -ERESTARTSYS when a signal interrupted a wait.
 */
ssize_t sp_splice_read(struct file *in, loff_t *ppos,
		       struct pipe_inode_info *pipe, size_t len,
		       unsigned int flags)
{
	struct sp_instance *sp = in->private_data;
	bool nonblock = (flags & SPLICE_F_NONBLOCK) ||
			(in->f_flags & O_NONBLOCK);
	ssize_t ret;
	bool eof;

	if (!len)
		return 0;
	for (;;) {
		if (!READ_ONCE(pipe->readers)) {
			send_sig(SIGPIPE, current, 0);
			return -EPIPE;
		}
		if (sp_pipe_is_full(pipe)) {
			if (nonblock)
				return -EAGAIN;
			pipe_unlock(pipe);
			ret = wait_event_interruptible(pipe->wr_wait,
						       !sp_pipe_is_full(pipe) ||
						       !READ_ONCE(pipe->readers));
			pipe_lock(pipe);
			if (ret)
				return -ERESTARTSYS;
			continue;
		}
		mutex_lock(&sp->lock);
		if (sp->bytes) {
			ret = sp_emit_to_pipe(sp, pipe, len);
			mutex_unlock(&sp->lock);
			if (ret)
				break;
			continue;
		}
		/* End of file is decided under the lock: see sp_at_eof(). */
		eof = sp_at_eof(sp);
		mutex_unlock(&sp->lock);
		if (eof)
			return 0;
		if (nonblock)
			return -EAGAIN;
		pipe_unlock(pipe);
		ret = sp_wait_for_data(sp, false);
		pipe_lock(pipe);
		if (ret < 0)
			return ret;
	}
	sp_wake_writers(sp);
	return ret;
}
