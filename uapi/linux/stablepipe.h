/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * stablepipe: a pipe-like character device whose contents are stable.
 *
 * Every open() of /dev/stablepipe creates an independent instance: a
 * bounded FIFO of bytes.  Data entering it by write(2), splice(2) from a
 * pipe or sendfile(2) is owned by the instance when the call returns
 * (source pages are stolen when nobody else can see them, copied
 * otherwise).  Data leaves by read(2) or by zero-copy splice(2) into a
 * pipe.  See Documentation/stablepipe.rst.
 */
#ifndef _UAPI_LINUX_STABLEPIPE_H
#define _UAPI_LINUX_STABLEPIPE_H

#include <linux/types.h>
#include <linux/ioctl.h>

/*
 * 0xBB: free in Documentation/userspace-api/ioctl/ioctl-number.rst of 6.1
 * and 6.12, and as a magic in the 7.2 uapi headers.  (0.1.0 first used
 * 0xB7, which is nsfs's and remoteproc's.)
 */
#define STABLEPIPE_IOC_MAGIC	0xBB

/* Ingest policy of an instance. */
#define STABLEPIPE_POLICY_AUTO	0	/* steal when safe, copy otherwise */
#define STABLEPIPE_POLICY_COPY	1	/* always copy */

/*
 * struct stablepipe_fd - argument of STABLEPIPE_IOC_NEW_FD
 * @flags: O_RDONLY, O_WRONLY or O_RDWR, optionally ORed with O_NONBLOCK
 *	and O_CLOEXEC.  Any other bit is -EINVAL.
 * @reserved: must be zero.
 *
 * The ioctl returns a new file descriptor on the same instance.
 */
struct stablepipe_fd {
	__u32 flags;
	__u32 reserved;
};

/*
 * struct stablepipe_stats - counters of one instance, or of the module
 *
 * The caller sets @size to sizeof(its struct); the kernel fills at most
 * that many bytes, sets @size to the number of bytes it filled and
 * @version to STABLEPIPE_STATS_VERSION.  New fields are only ever added
 * at the end.  Page counts are in units of PAGE_SIZE source pages (see
 * Documentation/stablepipe.rst for the exact rules).
 */
struct stablepipe_stats {
	__u32 size;
	__u32 version;
	__u64 pages_stolen;
	__u64 pages_copied;		/* sum of the copied_* reasons */
	__u64 copied_user;		/* write(2): data came from user memory */
	__u64 copied_policy;		/* policy is STABLEPIPE_POLICY_COPY */
	__u64 copied_mapped;		/* page is mapped into a process */
	__u64 copied_pinned;		/* page may be pinned for DMA */
	__u64 copied_dirty;		/* page is dirty */
	__u64 copied_writeback;		/* page is under writeback */
	__u64 copied_large_folio;	/* buffer covers part of a large folio */
	__u64 copied_busy;		/* someone else holds a reference */
	__u64 copied_not_stealable;	/* the buffer's owner refused */
	__u64 copied_partial;		/* only part of the buffer fitted */
	__u64 copied_small;		/* buffer holds under half a page */
	__u64 bytes_in_write;
	__u64 bytes_in_splice;		/* splice(2) from a pipe */
	__u64 bytes_in_sendfile;	/* sendfile(2) */
	__u64 bytes_out_read;
	__u64 bytes_out_splice;
	__u64 bytes_buffered;		/* now */
	__u64 capacity;			/* bytes; 0 in the module-wide stats */
	/* appended later: the struct was 168 bytes before it */
	__u64 copied_hot;		/* recently used: left in the page cache */
};

#define STABLEPIPE_STATS_VERSION	1

/* Return a new fd on the same instance; the return value is the fd. */
#define STABLEPIPE_IOC_NEW_FD		_IOW(STABLEPIPE_IOC_MAGIC, 1, struct stablepipe_fd)
/* Capacity in bytes (__u64).  SET rounds up to PAGE_SIZE. */
#define STABLEPIPE_IOC_GET_CAPACITY	_IOR(STABLEPIPE_IOC_MAGIC, 2, __u64)
#define STABLEPIPE_IOC_SET_CAPACITY	_IOW(STABLEPIPE_IOC_MAGIC, 3, __u64)
/* Ingest policy (__u32, STABLEPIPE_POLICY_*). */
#define STABLEPIPE_IOC_GET_POLICY	_IOR(STABLEPIPE_IOC_MAGIC, 4, __u32)
#define STABLEPIPE_IOC_SET_POLICY	_IOW(STABLEPIPE_IOC_MAGIC, 5, __u32)
/* Counters of this instance. */
#define STABLEPIPE_IOC_GET_STATS	_IOWR(STABLEPIPE_IOC_MAGIC, 6, struct stablepipe_stats)

#endif /* _UAPI_LINUX_STABLEPIPE_H */
