// SPDX-License-Identifier: GPL-2.0
/*
 * fake-device.c - diskbuffer.c built against a stand-in for the device,
 * for tests on a machine without the module.  TEST BUILD ONLY.
 *
 * stablepipe2() becomes pipe2(): the device path of diskbuffer (sendfile
 * into the write end with explicit offsets, EAGAIN and FIONREAD resync,
 * closing the write end at end of input, EOF on the read end, splice or
 * read to stdout) runs against a plain pipe of 64 KiB while diskbuffer
 * believes the capacity is 1 MiB (GET_CAPACITY fails), so short counts and
 * EAGAIN happen all the time.
 *
 * A plain pipe holds references to the temporary file's page-cache
 * folios, which is the very bug the device exists for; so punching is a
 * no-op here unless FAKE_PUNCH=1 is in the environment (then this is the
 * original diskbuffer's unsafe pattern, and may corrupt its output).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/stablepipe.h>

#define STABLEPIPE2_H
#define STABLEPIPE_DEV "/dev/stablepipe(fake: pipe2)"

static inline int stablepipe2(int fds[2], int flags)
{
	if (pipe2(fds, flags) < 0)
		return -1;
	(void)fcntl(fds[1], F_SETPIPE_SZ, 65536);
	return 0;
}

static int fake_fallocate(int fd, int mode, off_t off, off_t len)
{
	static int real = -1;

	if (real < 0)
		real = getenv("FAKE_PUNCH") && *getenv("FAKE_PUNCH") == '1';
	return real ? fallocate(fd, mode, off, len) : 0;
}
#define fallocate fake_fallocate

#include "../diskbuffer.c"
