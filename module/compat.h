/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels stablepipe supports, and nothing
 * else.  Each shim names the kernel change it papers over.
 */
#ifndef STABLEPIPE_COMPAT_H
#define STABLEPIPE_COMPAT_H

#include <linux/pipe_fs_i.h>

/* The slot of the oldest buffer in @pipe (6.13 added pipe_buf()). */
static inline struct pipe_buffer *sp_pipe_tail_buf(struct pipe_inode_info *pipe)
{
	return &pipe->bufs[pipe->tail & (pipe->ring_size - 1)];
}

static inline bool sp_pipe_is_empty(struct pipe_inode_info *pipe)
{
	return pipe_empty(READ_ONCE(pipe->head), READ_ONCE(pipe->tail));
}

static inline bool sp_pipe_is_full(struct pipe_inode_info *pipe)
{
	return pipe_full(READ_ONCE(pipe->head), READ_ONCE(pipe->tail),
			 READ_ONCE(pipe->max_usage));
}

#endif /* STABLEPIPE_COMPAT_H */
