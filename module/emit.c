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

ssize_t sp_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct sp_instance *sp = iocb->ki_filp->private_data;
	bool nonblock = (iocb->ki_flags & IOCB_NOWAIT) ||
			(iocb->ki_filp->f_flags & O_NONBLOCK);
	size_t done = 0, n, off, copied;
	struct sp_seg *seg;
	int ret;

	if (!iov_iter_count(to))
		return 0;
	for (;;) {
		ret = sp_wait_for_data(sp, nonblock);
		if (ret <= 0)
			return ret;
		mutex_lock(&sp->lock);
		if (sp->bytes)
			break;
		mutex_unlock(&sp->lock);	/* another reader was first */
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

/*
 * Hand up to @len bytes to @pipe, one buffer per page, each with its own
 * folio reference.  Called with the pipe locked and sp->lock held.
 *
 * The buffers use the kernel's nosteal_pipe_buf_ops, never operations of
 * this module: a pipe may hold them long after the module is unloaded.
 * So nobody can steal or merge into our pages; a consumer copies them.
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

/*
 * sp_splice_read - splice(2) from the instance into a pipe
 *
 * The splice core calls us with @pipe locked (a no-op for the private
 * pipe of sendfile).  We never sleep with it held: to wait for data or
 * for pipe space we drop it, and retake it before touching the pipe, so
 * a task splicing @pipe into this instance can always make progress.
 */
ssize_t sp_splice_read(struct file *in, loff_t *ppos,
		       struct pipe_inode_info *pipe, size_t len,
		       unsigned int flags)
{
	struct sp_instance *sp = in->private_data;
	bool nonblock = (flags & SPLICE_F_NONBLOCK) ||
			(in->f_flags & O_NONBLOCK);
	ssize_t ret;

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
		if (!READ_ONCE(sp->bytes)) {
			if (!READ_ONCE(sp->writers))
				return 0;
			if (nonblock)
				return -EAGAIN;
			pipe_unlock(pipe);
			ret = sp_wait_for_data(sp, false);
			pipe_lock(pipe);
			if (ret < 0)
				return ret;
			continue;
		}
		mutex_lock(&sp->lock);
		ret = sp_emit_to_pipe(sp, pipe, len);
		mutex_unlock(&sp->lock);
		if (ret)
			break;
	}
	sp_wake_writers(sp);
	return ret;
}
