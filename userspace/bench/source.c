// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the source file and how it is prepared (warm, cold,
 * mapped by another process)
 */
#include "bench.h"

void file_create(struct source_file *sf, size_t size)
{
	char path[PATH_MAX];
	struct csum cs = { 0 };
	size_t chunk = cfg.chunk;

	snprintf(path, sizeof(path), "%s/.stablepipe-bench.%d", cfg.dir,
		 (int)getpid());
	sf->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (sf->fd < 0)
		die("create %s: %s", path, strerror(errno));
	unlink(path);
	sf->size = size;
	sf->mapper = 0;
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = min_sz(chunk, size - off);
		const unsigned char *p = stream_chunk(off, n);

		csum_update(&cs, p, n);
		if (write_all(sf->fd, p, n) < 0)
			die("write %s: %s", cfg.dir, strerror(errno));
	}
	sf->sum = csum_final(&cs);
	if (fsync(sf->fd))
		die("fsync: %s", strerror(errno));
}

void file_destroy(struct source_file *sf)
{
	close(sf->fd);
	sf->fd = -1;
}

/* A new open file description: fresh offset and readahead state. */
int file_reopen(const struct source_file *sf)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", sf->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	fd = dup(sf->fd);	/* no /proc: share the description */
	if (fd >= 0)
		lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Fraction of the file's pages in the page cache (mincore), or -1. */
double file_resident(const struct source_file *sf)
{
	size_t pages = (sf->size + page_size - 1) / page_size, in = 0;
	unsigned char *vec;
	void *m;

	m = mmap(NULL, sf->size, PROT_READ, MAP_SHARED, sf->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	vec = xmalloc(pages);
	if (mincore(m, sf->size, vec) == 0) {
		for (size_t i = 0; i < pages; i++)
			in += vec[i] & 1;
	} else {
		in = SIZE_MAX;
	}
	munmap(m, sf->size);
	free(vec);
	return in == SIZE_MAX ? -1 : (double)in / pages;
}

/*
 * Evict the file, then read it once: into the page cache, in the folios
 * that read-ahead makes (not those that write(2) left, which can differ:
 * on XFS before 6.6 writes make small folios and read-ahead large ones).
 */
int file_warm(const struct source_file *sf)
{
	if (file_cool(sf))
		return -1;
	return file_read(sf);
}

/*
 * read(2) the whole file once (into the page cache, or, when it is there,
 * marking its pages accessed: a second read makes them active).
 */
int file_read(const struct source_file *sf)
{
	static char *buf;
	ssize_t n;
	off_t off = 0;

	if (!buf)
		buf = xaligned(MIB);
	while ((size_t)off < sf->size) {
		n = pread(sf->fd, buf, MIB, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
	}
	return 0;
}

int file_cool(const struct source_file *sf)
{
	if (fdatasync(sf->fd))
		return -1;
	errno = posix_fadvise(sf->fd, 0, 0, POSIX_FADV_DONTNEED);
	return errno ? -1 : 0;
}

/*
 * Another process maps the file (MAP_SHARED) and touches every page, so
 * that every page of it is mapped while the methods run.
 */
int mapper_start(struct source_file *sf)
{
	int p[2];
	char c = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		volatile unsigned char sink = 0;
		unsigned char *m;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		m = mmap(NULL, sf->size, PROT_READ, MAP_SHARED | MAP_POPULATE,
			 sf->fd, 0);
		if (m == MAP_FAILED)
			_exit(1);
		for (size_t o = 0; o < sf->size; o += page_size)
			sink += m[o];
		(void)sink;
		if (write(p[1], "1", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	while (read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (c != '1') {
		waitpid(pid, NULL, 0);
		errno = EIO;
		return -1;
	}
	sf->mapper = pid;
	return 0;
}

void mapper_stop(struct source_file *sf)
{
	if (!sf->mapper)
		return;
	kill(sf->mapper, SIGKILL);
	waitpid(sf->mapper, NULL, 0);
	sf->mapper = 0;
}

