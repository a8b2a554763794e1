// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe: a pipe-like character device whose contents are stable.
 *
 * Module init and exit, the misc device, its file_operations and ioctls.
 * See Documentation/stablepipe.rst.
 */
#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pipe_fs_i.h>
#include <linux/poll.h>
#include <linux/sizes.h>
#include <asm/ioctls.h>
#include <linux/uaccess.h>
#include "stablepipe.h"

#ifndef STABLEPIPE_VERSION
#define STABLEPIPE_VERSION "0.0-dev"
#endif

unsigned long sp_default_capacity = SZ_1M;

/**
 * sp_capacity_set() - set the default_capacity module parameter
 * @val: the new value, as written to the parameter
 * @kp: the parameter; its arg is the unsigned long to set
 *
 * A capacity must hold at least one byte and at most %SP_CAPACITY_MAX; it
 * is rounded up to a page.  Instances that exist keep their capacity.
 *
 * Return: 0, kstrtoul()'s error, or -EINVAL when out of range.
 */
static int sp_capacity_set(const char *val, const struct kernel_param *kp)
{
	unsigned long capacity;
	int ret = kstrtoul(val, 0, &capacity);

	if (ret)
		return ret;
	if (!capacity || capacity > SP_CAPACITY_MAX)
		return -EINVAL;
	WRITE_ONCE(*(unsigned long *)kp->arg, PAGE_ALIGN(capacity));
	return 0;
}

static const struct kernel_param_ops sp_capacity_ops = {
	.set = sp_capacity_set,
	.get = param_get_ulong,
};
module_param_cb(default_capacity, &sp_capacity_ops, &sp_default_capacity,
		0644);
MODULE_PARM_DESC(default_capacity,
		 "Capacity in bytes of a new instance, 1 byte to 1 GiB, rounded up to a page (default 1 MiB)");

unsigned long sp_max_capacity = SZ_16M;
module_param_named(max_capacity, sp_max_capacity, ulong, 0644);
MODULE_PARM_DESC(max_capacity,
		 "Largest capacity a user without CAP_SYS_RESOURCE may set (default 16 MiB)");

/*
 * Per-user limits in pages, with the defaults of fs/pipe.c's
 * pipe_user_pages_soft and pipe_user_pages_hard (the values of
 * /proc/sys/fs/pipe-user-pages-soft and -hard at boot): the kernel does
 * not export those variables, so changing the sysctls does not change
 * these.  0 is no limit.  See sp_instance_new() and sp_set_capacity().
 */
unsigned long sp_user_pages_soft = PIPE_DEF_BUFFERS * INR_OPEN_CUR;
module_param_named(user_pages_soft, sp_user_pages_soft, ulong, 0644);
MODULE_PARM_DESC(user_pages_soft,
		 "Pages all of a user's instances may hold (the sum of capacity / PAGE_SIZE + 1) before its new instances get a capacity of 2 pages and raising a capacity fails; 0: no limit (default 16384, as pipe-user-pages-soft)");

unsigned long sp_user_pages_hard;
module_param_named(user_pages_hard, sp_user_pages_hard, ulong, 0644);
MODULE_PARM_DESC(user_pages_hard,
		 "Pages all of a user's instances may hold before its opens fail; 0: no limit (default 0, as pipe-user-pages-hard)");

unsigned int sp_default_policy = STABLEPIPE_POLICY_AUTO;

static const char * const sp_policy_names[] = {
	[STABLEPIPE_POLICY_AUTO] = "auto",
	[STABLEPIPE_POLICY_COPY] = "copy",
};

static int sp_policy_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(sp_policy_names, val);

	if (i < 0)
		return i;
	WRITE_ONCE(sp_default_policy, i);
	return 0;
}

static int sp_policy_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  sp_policy_names[READ_ONCE(sp_default_policy)]);
}

static const struct kernel_param_ops sp_policy_ops = {
	.set = sp_policy_set,
	.get = sp_policy_get,
};
module_param_cb(default_policy, &sp_policy_ops, NULL, 0644);
MODULE_PARM_DESC(default_policy,
		 "Ingest policy of a new instance: auto (steal when safe, copy otherwise) or copy");

static const struct file_operations sp_fops;

/**
 * sp_open() - open(2) of /dev/stablepipe: a new instance
 * @inode: the misc device's inode
 * @file: the new file; its private_data becomes the instance
 *
 * Each open() makes a new, empty instance whose one reference the file
 * owns (dropped by sp_release()), and counts the file as a reader and/or
 * a writer by its access mode.  The file is a stream: no seeking, and
 * reads and writes ignore the position.  The instance's capacity is
 * charged to the caller's user (sp_instance_new()).
 *
 * Context: Process context; may sleep.
 * Return: 0; -ENOMEM; -ENFILE when the caller's user is over the
 * user_pages_hard parameter.
 */
static int sp_open(struct inode *inode, struct file *file)
{
	struct sp_instance *sp = sp_instance_new();

	if (IS_ERR(sp))
		return PTR_ERR(sp);
	file->private_data = sp;
	sp_attach(sp, file->f_mode);
	return stream_open(inode, file);
}

/**
 * sp_release() - the last close of a file of an instance
 * @inode: the file's inode (the misc device's, or the anonymous inode of
 *	STABLEPIPE_IOC_NEW_FD)
 * @file: the file
 *
 * Stops counting the file as a reader and/or a writer, which wakes the
 * instance's waiters, and drops the file's instance reference: the last
 * one frees the instance and the data still in it.
 *
 * Context: Process context.  Takes and releases the instance's lock.
 * Return: 0.
 */
static int sp_release(struct inode *inode, struct file *file)
{
	struct sp_instance *sp = file->private_data;

	sp_detach(sp, file->f_mode);
	sp_instance_put(sp);
	return 0;
}

/**
 * sp_poll() - poll(2), select(2) and epoll on a file of an instance
 * @file: the file
 * @wait: the poll table; both wait queues of the instance are added
 *
 * For a file open for reading: %EPOLLIN when data is buffered, %EPOLLHUP
 * when no writer is left.  For a file open for writing: %EPOLLOUT when
 * %PAGE_SIZE bytes fit (the room sp_splice_write() waits for; a capacity
 * is at least a page), %EPOLLERR when no reader is left.
 *
 * Context: Process context.  Takes no lock: the counts are read with
 * READ_ONCE(), the writers before the bytes.
 * Return: the mask of ready events.
 */
static __poll_t sp_poll(struct file *file, poll_table *wait)
{
	struct sp_instance *sp = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &sp->rd_wait, wait);
	poll_wait(file, &sp->wr_wait, wait);

	if (file->f_mode & FMODE_READ) {
		unsigned int writers = READ_ONCE(sp->writers);

		/*
		 * Writers before bytes: a writer commits its bytes before its
		 * close drops the count, both under sp->lock, so no writer
		 * seen here means all their bytes are seen below.  The other
		 * order could report EPOLLHUP alone with data buffered.
		 */
		smp_rmb();
		if (READ_ONCE(sp->bytes))
			mask |= EPOLLIN | EPOLLRDNORM;
		if (!writers)
			mask |= EPOLLHUP;
	}
	if (file->f_mode & FMODE_WRITE) {
		/*
		 * A page of room, as sp_splice_write() waits for (and as a
		 * pipe is writable with a free slot); write(2) needs at most
		 * PIPE_BUF <= PAGE_SIZE.  With 64 KiB pages, PIPE_BUF here
		 * would make an epoll loop splicing in spin on EAGAIN.
		 */
		if (sp_room(sp) >= min_t(size_t, PAGE_SIZE,
					 READ_ONCE(sp->capacity)))
			mask |= EPOLLOUT | EPOLLWRNORM;
		if (!READ_ONCE(sp->readers))
			mask |= EPOLLERR;
	}
	return mask;
}

/**
 * sp_ioctl_new_fd() - STABLEPIPE_IOC_NEW_FD: another file on the same instance
 * @from: the caller's file of the instance
 * @arg: the caller's struct stablepipe_fd: flags, an access mode
 *	(%O_RDONLY, %O_WRONLY or %O_RDWR) with %O_NONBLOCK and %O_CLOEXEC;
 *	reserved must be 0
 *
 * The access mode must be within @from's own: a file open only for
 * reading mints only readers, one open only for writing only writers, an
 * %O_RDWR file any mode.  So once no file of an instance can write, none
 * ever will (end of file is final), and likewise for readers (%EPIPE).
 *
 * The new file is an anonymous inode file with the same file operations.
 * It holds its own instance reference, taken here and dropped by its
 * sp_release(), and is counted as a reader and/or a writer by its mode.
 * On failure no reference is left taken and no descriptor allocated.
 *
 * Context: Process context; may sleep.  Takes and releases @sp->lock.
 * Return: the new file descriptor; -EFAULT when @arg cannot be read;
 * -EINVAL for unknown flags, a nonzero reserved field or an invalid access
 * mode; -EBADF when the access mode asks for reading or writing that @from
 * is not open for; -EMFILE, -ENOMEM or another error from getting a descriptor or
 * the file.
 */
static long sp_ioctl_new_fd(struct file *from,
			    struct stablepipe_fd __user *arg)
{
	struct sp_instance *sp = from->private_data;
	struct stablepipe_fd req;
	struct file *file;
	fmode_t mode;
	int fd;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.reserved ||
	    (req.flags & ~(O_ACCMODE | O_NONBLOCK | O_CLOEXEC)) ||
	    (req.flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	/*
	 * No more than the caller's own access: a reader handed the read
	 * end must not inject data, nor a writer drain the instance.
	 */
	mode = (req.flags & O_ACCMODE) == O_WRONLY ? FMODE_WRITE :
	       (req.flags & O_ACCMODE) == O_RDWR ? FMODE_READ | FMODE_WRITE :
	       FMODE_READ;
	if (mode & ~from->f_mode)
		return -EBADF;

	fd = get_unused_fd_flags(req.flags & O_CLOEXEC);
	if (fd < 0)
		return fd;
	/*
	 * The new file holds its own instance reference, dropped by
	 * sp_release(); anon_inode_getfile() pins this module for it.
	 */
	sp_instance_get(sp);
	file = anon_inode_getfile("[stablepipe]", &sp_fops, sp,
				  req.flags & (O_ACCMODE | O_NONBLOCK));
	if (IS_ERR(file)) {
		sp_instance_put(sp);
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	stream_open(file_inode(file), file);
	sp_attach(sp, file->f_mode);
	fd_install(fd, file);
	return fd;
}

/**
 * sp_ioctl() - ioctl(2) on a file of an instance
 * @file: the file
 * @cmd: %FIONREAD or a STABLEPIPE_IOC_* command
 * @arg: the command's user pointer
 *
 * %FIONREAD stores the bytes buffered (at most %INT_MAX) in an int.  The
 * STABLEPIPE_IOC_* commands are described in man/stablepipe.4.  Each
 * command is matched exactly, except STABLEPIPE_IOC_GET_STATS, which is
 * matched on type, number and direction, whatever size it encodes.  32-bit
 * callers get the same through compat_ptr_ioctl().
 *
 * Context: Process context; may sleep and fault.
 * Return: 0 or, for STABLEPIPE_IOC_NEW_FD, a file descriptor; -ENOTTY for
 * an unknown @cmd; -EFAULT when @arg cannot be accessed; -EINVAL for an
 * invalid policy; the errors of sp_set_capacity(), sp_stats_fill() and
 * sp_ioctl_new_fd().
 */
static long sp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct sp_instance *sp = file->private_data;
	void __user *uarg = (void __user *)arg;
	u64 capacity;
	u32 policy;

	/*
	 * GET_STATS is extensible: its number encodes the size of the
	 * caller's struct, which may be older (shorter) or newer (longer)
	 * than ours.  Match it on type, number and direction only; the
	 * struct's size field, capped at the encoded size, says how much
	 * the caller knows.
	 */
	if (_IOC_TYPE(cmd) == _IOC_TYPE(STABLEPIPE_IOC_GET_STATS) &&
	    _IOC_NR(cmd) == _IOC_NR(STABLEPIPE_IOC_GET_STATS)) {
		if (_IOC_DIR(cmd) != _IOC_DIR(STABLEPIPE_IOC_GET_STATS))
			return -ENOTTY;
		return sp_stats_fill(sp, uarg, _IOC_SIZE(cmd));
	}

	switch (cmd) {
	case FIONREAD:
		return put_user((int)min_t(size_t, READ_ONCE(sp->bytes), INT_MAX),
				(int __user *)uarg);
	case STABLEPIPE_IOC_NEW_FD:
		return sp_ioctl_new_fd(file, uarg);
	case STABLEPIPE_IOC_GET_CAPACITY:
		capacity = READ_ONCE(sp->capacity);
		return put_user(capacity, (u64 __user *)uarg);
	case STABLEPIPE_IOC_SET_CAPACITY:
		if (get_user(capacity, (u64 __user *)uarg))
			return -EFAULT;
		return sp_set_capacity(sp, capacity);
	case STABLEPIPE_IOC_GET_POLICY:
		policy = READ_ONCE(sp->policy);
		return put_user(policy, (u32 __user *)uarg);
	case STABLEPIPE_IOC_SET_POLICY:
		if (get_user(policy, (u32 __user *)uarg))
			return -EFAULT;
		if (policy >= ARRAY_SIZE(sp_policy_names))
			return -EINVAL;
		sp_set_policy(sp, policy);
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations sp_fops = {
	.owner		= THIS_MODULE,
	.open		= sp_open,
	.release	= sp_release,
	.read_iter	= sp_read_iter,
	.write_iter	= sp_write_iter,
	.splice_read	= sp_splice_read,
	.splice_write	= sp_splice_write,
	.poll		= sp_poll,
	.unlocked_ioctl	= sp_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.show_fdinfo	= sp_show_fdinfo,
};

static struct miscdevice sp_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "stablepipe",
	.fops	= &sp_fops,
	.mode	= 0666,
};

/**
 * sp_init() - module init: the segment cache, the counters, the misc device
 *
 * Return: 0, or the error of the step that failed, with the steps before
 * it undone.
 */
static int __init sp_init(void)
{
	int ret;

	ret = sp_seg_cache_init();
	if (ret)
		return ret;
	ret = sp_stats_init();
	if (ret)
		goto err_cache;
	ret = misc_register(&sp_misc);
	if (ret)
		goto err_stats;
	return 0;

err_stats:
	sp_stats_exit();
err_cache:
	sp_seg_cache_exit();
	return ret;
}

/**
 * sp_exit() - module exit: undo sp_init()
 *
 * The module cannot be unloaded while a file of an instance is open, so
 * no instance or segment is left.  Pipe buffers that hold the instances'
 * pages outlive it: they use the kernel's operations.
 */
static void __exit sp_exit(void)
{
	misc_deregister(&sp_misc);
	sp_stats_exit();
	sp_seg_cache_exit();
}

module_init(sp_init);
module_exit(sp_exit);

MODULE_DESCRIPTION("Pipe-like device whose contents cannot change after they enter it");
MODULE_AUTHOR("The stablepipe developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(STABLEPIPE_VERSION);
