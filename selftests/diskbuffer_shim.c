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

static int shim(const char *mode)
{
	const char *e = getenv("DISKBUFFER_SHIM");

	return e && strcmp(e, mode) == 0;
}

/* the next definition of @name (libc's), or NULL */
static void *real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

int fstatvfs(int fd, struct statvfs *buf)
{
	int (*f)(int, struct statvfs *);

	if (shim("nostatvfs")) {
		errno = EIO;
		return -1;
	}
	f = (int (*)(int, struct statvfs *))real("fstatvfs");
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(fd, buf);
}

int fstatvfs64(int fd, struct statvfs64 *buf)
{
	int (*f)(int, struct statvfs64 *);

	if (shim("nostatvfs")) {
		errno = EIO;
		return -1;
	}
	f = (int (*)(int, struct statvfs64 *))real("fstatvfs64");
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(fd, buf);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	int (*f)(int, int, off_t, off_t);

	if (shim("nopunch") && (mode & FALLOC_FL_PUNCH_HOLE)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	f = (int (*)(int, int, off_t, off_t))real("fallocate");
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	int (*f)(int, int, off64_t, off64_t);

	if (shim("nopunch") && (mode & FALLOC_FL_PUNCH_HOLE)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	f = (int (*)(int, int, off64_t, off64_t))real("fallocate64");
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(fd, mode, off, len);
}
