/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stablepipe2() - create a stable pipe, like pipe2(2)
 *
 * fds[0] is the read end, fds[1] the write end, both on one new
 * /dev/stablepipe instance.  @flags may contain O_NONBLOCK and O_CLOEXEC.
 * Returns 0, or -1 with errno set (ENOENT when the module is not loaded).
 * STABLEPIPE_IOC_NEW_FD mints only modes within the calling file's own,
 * so it opens O_RDWR, mints both ends and closes that file.
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
	int fd, wfd, rfd, saved;

	if (flags & ~(O_NONBLOCK | O_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * NEW_FD mints only modes within the calling file's own, so start
	 * from a file that is both, mint the two ends and close it.
	 */
	fd = open(STABLEPIPE_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	req.flags = O_RDONLY | flags;
	rfd = ioctl(fd, STABLEPIPE_IOC_NEW_FD, &req);
	if (rfd < 0)
		goto err;
	req.flags = O_WRONLY | flags;
	wfd = ioctl(fd, STABLEPIPE_IOC_NEW_FD, &req);
	if (wfd < 0) {
		saved = errno;
		close(rfd);
		errno = saved;
		goto err;
	}
	close(fd);
	fds[0] = rfd;
	fds[1] = wfd;
	return 0;
err:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

#endif /* STABLEPIPE2_H */
