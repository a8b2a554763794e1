/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stablepipe2() - create a stable pipe, like pipe2(2)
 *
 * fds[0] is the read end, fds[1] the write end, both on one new
 * /dev/stablepipe instance.  @flags may contain O_NONBLOCK and O_CLOEXEC.
 * Returns 0, or -1 with errno set (ENOENT when the module is not loaded).
 */
#ifndef STABLEPIPE2_H
#define STABLEPIPE2_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/stablepipe.h>

#define STABLEPIPE_DEV "/dev/stablepipe"

static inline int stablepipe2(int fds[2], int flags)
{
	struct stablepipe_fd req = { 0 };
	int wfd, rfd, saved;

	if (flags & ~(O_NONBLOCK | O_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	wfd = open(STABLEPIPE_DEV, O_WRONLY | flags);
	if (wfd < 0)
		return -1;
	req.flags = O_RDONLY | flags;
	rfd = ioctl(wfd, STABLEPIPE_IOC_NEW_FD, &req);
	if (rfd < 0) {
		saved = errno;
		close(wfd);
		errno = saved;
		return -1;
	}
	fds[0] = rfd;
	fds[1] = wfd;
	return 0;
}

#endif /* STABLEPIPE2_H */
