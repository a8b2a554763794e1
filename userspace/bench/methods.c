// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the methods: how each moves the file to the consumer
 */
#include "bench.h"

const struct method methods[NMETHODS] = {
	{ "rw", K_RW, -1, 0, "read(file) -> buffer -> write(pipe)" },
	{ "splice", K_SPLICE, -1, 0, "splice(file -> pipe), not stable" },
	{ "auto-sendfile", K_SENDFILE, STABLEPIPE_POLICY_AUTO, 0,
	  "sendfile(file -> dev), splice(dev -> pipe)" },
	{ "auto-splice-64k", K_DEVSPLICE, STABLEPIPE_POLICY_AUTO, 64 * KIB,
	  "splice(file -> 64 KiB pipe -> dev -> pipe)" },
	{ "auto-splice-1m", K_DEVSPLICE, STABLEPIPE_POLICY_AUTO, MIB,
	  "splice(file -> 1 MiB pipe -> dev -> pipe)" },
	{ "auto-splice-4m", K_DEVSPLICE, STABLEPIPE_POLICY_AUTO, 4 * MIB,
	  "splice(file -> 4 MiB pipe -> dev -> pipe)" },
	{ "copy-sendfile", K_SENDFILE, STABLEPIPE_POLICY_COPY, 0,
	  "sendfile(file -> dev), splice(dev -> pipe); policy copy" },
	{ "copy-splice-64k", K_DEVSPLICE, STABLEPIPE_POLICY_COPY, 64 * KIB,
	  "splice(file -> 64 KiB pipe -> dev -> pipe); policy copy" },
	{ "copy-splice-1m", K_DEVSPLICE, STABLEPIPE_POLICY_COPY, MIB,
	  "splice(file -> 1 MiB pipe -> dev -> pipe); policy copy" },
	{ "copy-splice-4m", K_DEVSPLICE, STABLEPIPE_POLICY_COPY, 4 * MIB,
	  "splice(file -> 4 MiB pipe -> dev -> pipe); policy copy" },
	{ "tcp-rw", K_TCP_RW, -1, 0, "read(file) -> buffer -> send(socket)" },
	{ "tcp-sendfile", K_TCP_SENDFILE, -1, 0,
	  "sendfile(file -> socket), not stable" },
	{ "tcp-auto-splice", K_TCP_DEVSPLICE, STABLEPIPE_POLICY_AUTO, MIB,
	  "splice(file -> 1 MiB pipe -> dev -> pipe -> socket)" },
	{ "tcp-copy-splice", K_TCP_DEVSPLICE, STABLEPIPE_POLICY_COPY, MIB,
	  "splice(file -> 1 MiB pipe -> dev -> pipe -> socket); policy copy" },
	{ "pipe-wr", K_PIPEWR, -1, 0, "write(pipe) + read(pipe)" },
	{ "dev-wr", K_DEVWR, STABLEPIPE_POLICY_AUTO, 0,
	  "write(dev) + read(dev)" },
	{ "memcpy", K_MEMCPY, -1, 0, "memcpy(buffer -> buffer)" },
};

_Static_assert(ARRAY_SIZE(methods) == NMETHODS,
	       "NMETHODS is the number of methods");

const char *const source_names[NSOURCES] = {
	"warm", "cold", "mapped", "hot", "mem"
};

bool reads_file(const struct method *m)
{
	return m->kind != K_PIPEWR && m->kind != K_DEVWR && m->kind != K_MEMCPY;
}

enum consumer_kind consumer_of(const struct method *m)
{
	return m->kind == K_TCP_RW || m->kind == K_TCP_SENDFILE ||
	       m->kind == K_TCP_DEVSPLICE ? C_TCP : C_PIPE;
}

bool uses_device(const struct method *m)
{
	return m->policy >= 0;
}

int method_index(const char *name)
{
	for (int i = 0; i < NMETHODS; i++)
		if (!strcmp(methods[i].name, name))
			return i;
	return -1;
}

int source_index(const char *name)
{
	for (int i = 0; i < NSOURCES; i++)
		if (!strcmp(source_names[i], name))
			return i;
	return -1;
}

void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	ssize_t n;

	for (;;) {
		if (c->splice)
			n = splice(c->fd, NULL, c->null_fd, NULL, 16 * MIB,
				   SPLICE_F_MOVE);
		else
			n = read(c->fd, c->buf, c->bufsize);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->err = errno;
			c->what = c->splice ? "consumer: splice to /dev/null" :
					      "consumer: read";
			/* the producer then gets EPIPE instead of blocking */
			close(c->fd);
			c->fd = -1;
			break;
		}
		if (n == 0)
			break;
		if (c->verify && !c->splice)
			csum_update(&c->cs, c->buf, n);
		c->bytes += n;
	}
	return NULL;
}

__attribute__((format(printf, 2, 3)))
int xfail(struct xfer *x, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
	n = strlen(x->err);
	if (e)
		snprintf(x->err + n, sizeof(x->err) - n, ": %s", strerror(e));
	return -1;
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* splice(2) exactly @len bytes from the pipe @in to @out; 0 or -1 (errno) */
static int splice_all(int in, int out, size_t len)
{
	ssize_t n;

	while (len) {
		n = splice(in, NULL, out, NULL, len, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EPIPE;
			return -1;
		}
		len -= n;
	}
	return 0;
}

/*
 * Splice exactly @len bytes from the device into the output pipe, and
 * (tcp) from there into the socket.
 */
int drain_device(struct xfer *x, size_t len)
{
	ssize_t n;

	while (len) {
		n = splice(x->devr, NULL, x->outw, NULL, len, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xfail(x, "splice(dev -> pipe)");
		if (n == 0) {
			errno = 0;
			return xfail(x, "splice(dev -> pipe): early end of file");
		}
		if (x->sock >= 0 && splice_all(x->outr, x->sock, n))
			return xfail(x, "splice(pipe -> socket)");
		len -= n;
	}
	return 0;
}

/*
 * read(2) the file into a buffer of cfg.chunk, write(2) it to @out (the
 * output pipe, or the socket of the tcp-* methods): the copying baseline.
 * @what names the write in errors.
 */
int produce_read_write(struct xfer *x, int out, const char *what)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = read(x->src, x->buf, min_sz(cfg.chunk, x->size - moved));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "read(file)%s", n ? "" : ": early end of file");
		}
		if (write_all(out, x->buf, n) < 0)
			return xfail(x, "%s", what);
		moved += n;
	}
	return 0;
}

static int produce_splice(struct xfer *x)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = splice(x->src, NULL, x->outw, NULL, x->size - moved,
			   SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "splice(file -> pipe)%s",
				     n ? "" : ": early end of file");
		}
		moved += n;
	}
	return 0;
}

/*
 * Fill the instance to its capacity with sendfile(2), then splice all of
 * it into the output pipe; again.  One thread, like a program with one
 * loop: the device never blocks the producer.
 */
static int produce_sendfile(struct xfer *x)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = sendfile(x->devw, x->src, NULL,
			     min_sz(x->capacity, x->size - moved));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "sendfile(file -> dev)%s",
				     n ? "" : ": early end of file");
		}
		if (drain_device(x, n))
			return -1;
		moved += n;
	}
	return 0;
}

/*
 * splice(2) the file into the pipe P (up to its size), and P into the
 * instance, until the instance is full; then splice all of it into the
 * output pipe.  The capacity is at least P's size, so that whatever P
 * holds fits at once: no buffer is split (that would be copied_partial).
 */
int produce_devsplice(struct xfer *x)
{
	size_t moved = 0, held = 0, got, left;
	ssize_t n;

	while (moved < x->size) {
		left = x->size - moved - held;
		if (left && x->capacity - held >= min_sz(x->in_pipe, left)) {
			n = splice(x->src, NULL, x->inw, NULL,
				   min_sz(x->in_pipe, left), SPLICE_F_MOVE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (!n)
					errno = 0;
				return xfail(x, "splice(file -> pipe)%s",
					     n ? "" : ": early end of file");
			}
			for (got = 0; got < (size_t)n;) {
				ssize_t k = splice(x->inr, NULL, x->devw, NULL,
						   n - got, SPLICE_F_MOVE);

				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0) {
					if (!k)
						errno = 0;
					return xfail(x, "splice(pipe -> dev)%s",
						     k ? "" : ": moved nothing");
				}
				got += k;
			}
			held += n;
			continue;
		}
		if (drain_device(x, held))
			return -1;
		moved += held;
		held = 0;
	}
	return 0;
}

static int produce_write(struct xfer *x, int fd, const char *what)
{
	for (uint64_t off = 0; off < x->size; off += cfg.chunk) {
		size_t n = min_sz(cfg.chunk, x->size - off);

		if (write_all(fd, memsrc_chunk(off, n), n) < 0)
			return xfail(x, "write(%s)", what);
	}
	return 0;
}

static int produce_memcpy(struct xfer *x, struct consumer *c)
{
	for (uint64_t off = 0; off < x->size; off += cfg.chunk) {
		size_t n = min_sz(cfg.chunk, x->size - off);

		memcpy(x->buf, memsrc_chunk(off, n), n);
		/* the copy must happen: the compiler cannot see it read */
		__asm__ __volatile__("" : : "r"(x->buf) : "memory");
		if (c->verify)
			csum_update(&c->cs, x->buf, n);
		c->bytes += n;
	}
	return 0;
}

/* F_SETPIPE_SZ to at least @size; the size set, or 0 (errno set). */
static size_t pipe_resize(int fd, size_t size)
{
	int r = fcntl(fd, F_SETPIPE_SZ, (int)size);

	if (r < 0)
		return 0;
	if ((size_t)r < size) {
		errno = ENOSPC;
		return 0;
	}
	return r;
}

static int make_pipe(int *r, int *w, size_t size, size_t *got, char *why,
		     size_t whylen)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe2: %s", strerror(errno));
		return -1;
	}
	*got = pipe_resize(p[0], size);
	if (!*got) {
		snprintf(why, whylen, "F_SETPIPE_SZ %zu: %s%s", size,
			 strerror(errno), errno == EPERM ?
			 " (above /proc/sys/fs/pipe-max-size: run as root)" : "");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	*r = p[0];
	*w = p[1];
	return 0;
}

/*
 * Set up the descriptors for @m.  Returns 0, or 1 when the method cannot
 * run here (x->err says why: a skip), or -1 on an error.
 */
int xfer_setup(struct xfer *x, const struct method *m, size_t size,
	       const struct source_file *sf)
{
	int fds[2];
	uint32_t pol;
	uint64_t cap;

	*x = (struct xfer){
		.m = m, .size = size, .src = -1, .outr = -1, .outw = -1,
		.inr = -1, .inw = -1, .devr = -1, .devw = -1, .sock = -1,
		.peer = -1,
	};
	if (uses_device(m) && !env.have_dev) {
		snprintf(x->err, sizeof(x->err), "%s", env.dev_why);
		return 1;
	}
	if (m->kind == K_RW || m->kind == K_TCP_RW || m->kind == K_MEMCPY)
		x->buf = xaligned(cfg.chunk);
	if (!reads_file(m))
		memsrc_init(size);
	if ((m->kind == K_DEVSPLICE || m->kind == K_TCP_DEVSPLICE) &&
	    make_pipe(&x->inr, &x->inw, m->in_pipe, &x->in_pipe, x->err,
		      sizeof(x->err)))
		return 1;
	/* the pipe the consumer reads, or (tcp) the one before the socket */
	if (m->kind != K_DEVWR && m->kind != K_MEMCPY &&
	    m->kind != K_TCP_RW && m->kind != K_TCP_SENDFILE &&
	    make_pipe(&x->outr, &x->outw, cfg.out_pipe, &x->out_pipe, x->err,
		      sizeof(x->err)))
		return 1;
	if (consumer_of(m) == C_TCP &&
	    tcp_pair(&x->sock, &x->peer, x->err, sizeof(x->err)))
		return 1;
	if (uses_device(m)) {
		if (stablepipe2(fds, O_CLOEXEC))
			return xfail(x, "open %s", STABLEPIPE_DEV);
		x->devr = fds[0];
		x->devw = fds[1];
		pol = m->policy;
		if (ioctl(x->devw, STABLEPIPE_IOC_SET_POLICY, &pol))
			return xfail(x, "STABLEPIPE_IOC_SET_POLICY");
		cap = cfg.capacity ? cfg.capacity : max_sz(DEFAULT_CAP, x->in_pipe);
		if (ioctl(x->devw, STABLEPIPE_IOC_SET_CAPACITY, &cap))
			return xfail(x, "STABLEPIPE_IOC_SET_CAPACITY %" PRIu64, cap);
		if (ioctl(x->devw, STABLEPIPE_IOC_GET_CAPACITY, &cap))
			return xfail(x, "STABLEPIPE_IOC_GET_CAPACITY");
		x->capacity = cap;
		if (x->in_pipe && cap < x->in_pipe) {
			errno = 0;
			return xfail(x, "capacity %" PRIu64 " below the pipe's %zu",
				     cap, x->in_pipe);
		}
	}
	if (reads_file(m)) {
		x->src = file_reopen(sf);
		if (x->src < 0)
			return xfail(x, "reopen the file");
	}
	return 0;
}

void xfer_teardown(struct xfer *x)
{
	close_fd(&x->src);
	close_fd(&x->outr);
	close_fd(&x->outw);
	close_fd(&x->inr);
	close_fd(&x->inw);
	close_fd(&x->devr);
	close_fd(&x->devw);
	close_fd(&x->sock);
	close_fd(&x->peer);
	free(x->buf);
	x->buf = NULL;
}

/*
 * Run the producer of x->m; the consumer @c reads what it produces
 * (K_MEMCPY: @c only counts and checksums).  Returns 0 or -1 (x->err).
 */
int xfer_produce(struct xfer *x, struct consumer *c)
{
	switch (x->m->kind) {
	case K_RW:
		return produce_read_write(x, x->outw, "write(pipe)");
	case K_SPLICE:
		return produce_splice(x);
	case K_SENDFILE:
		return produce_sendfile(x);
	case K_DEVSPLICE:
	case K_TCP_DEVSPLICE:
		return produce_devsplice(x);
	case K_TCP_RW:
		return produce_tcp_rw(x);
	case K_TCP_SENDFILE:
		return produce_tcp_sendfile(x);
	case K_PIPEWR:
		return produce_write(x, x->outw, "pipe");
	case K_DEVWR:
		return produce_write(x, x->devw, "dev");
	case K_MEMCPY:
		return produce_memcpy(x, c);
	}
	errno = EINVAL;
	return xfail(x, "unknown method");
}
