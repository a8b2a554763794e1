// SPDX-License-Identifier: GPL-2.0
/*
 * diskbuffer_shim.c - faults for diskbuffer_exit_test.sh, by LD_PRELOAD
 * into diskbuffer_dynamic (diskbuffer linked dynamically: the one the VM
 * runs otherwise is static).
 *
 *   DISKBUFFER_SHIM=nostatvfs  fstatvfs() fails with EIO
 *   DISKBUFFER_SHIM=nopunch    fallocate() fails with EOPNOTSUPP, as on
 *                              a file system that cannot punch holes
 *
 * Anything else: the calls pass through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

typedef int statvfs_fn(int fd, struct statvfs *buf);
typedef int statvfs64_fn(int fd, struct statvfs64 *buf);
typedef int fallocate_fn(int fd, int mode, off_t off, off_t len);
typedef int fallocate64_fn(int fd, int mode, off64_t off, off64_t len);

static int shim(const char *mode)
{
	const char *e = getenv("DISKBUFFER_SHIM");

	return e && strcmp(e, mode) == 0;
}

/* libc's @name; abort if there is none (the test then fails loudly) */
static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

int fstatvfs(int fd, struct statvfs *buf)
{
	if (shim("nostatvfs")) {
		errno = EIO;
		return -1;
	}
	return ((statvfs_fn *)real("fstatvfs"))(fd, buf);
}

int fstatvfs64(int fd, struct statvfs64 *buf)
{
	if (shim("nostatvfs")) {
		errno = EIO;
		return -1;
	}
	return ((statvfs64_fn *)real("fstatvfs64"))(fd, buf);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (shim("nopunch") && (mode & FALLOC_FL_PUNCH_HOLE)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return ((fallocate_fn *)real("fallocate"))(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	if (shim("nopunch") && (mode & FALLOC_FL_PUNCH_HOLE)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return ((fallocate64_fn *)real("fallocate64"))(fd, mode, off, len);
}
