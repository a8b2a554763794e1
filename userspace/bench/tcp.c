// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the socket consumer: a TCP connection over loopback,
 * what a file server sends on.  The consumer thread reads the receiving
 * end; the methods tcp-* send the file into the other.
 */
#include "bench.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/*
 * A connected pair of TCP sockets on 127.0.0.1.  Returns 0, or 1 with
 * @why set when there is no loopback (an initramfs that did not bring lo
 * up: `ip link set lo up`).
 */
int tcp_pair(int *send_fd, int *recv_fd, char *why, size_t whylen)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, s = -1, r = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		goto fail;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		goto fail;
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	r = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (r < 0)
		goto fail;
	close(l);
	*send_fd = s;
	*recv_fd = r;
	return 0;
fail:
	snprintf(why, whylen, "TCP over 127.0.0.1: %s%s", strerror(errno),
		 errno == ENETUNREACH || errno == EADDRNOTAVAIL ?
		 " (is lo up? ip link set lo up)" : "");
	if (l >= 0)
		close(l);
	if (s >= 0)
		close(s);
	return 1;
}

/* read(2) the file into a buffer, send(2) it: the copying baseline */
int produce_tcp_rw(struct xfer *x)
{
	return produce_read_write(x, x->sock, "send(socket)");
}

/* sendfile(2) file -> socket: the page cache's pages by reference */
int produce_tcp_sendfile(struct xfer *x)
{
	size_t moved = 0;
	ssize_t n;

	while (moved < x->size) {
		n = sendfile(x->sock, x->src, NULL, x->size - moved);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return xfail(x, "sendfile(file -> socket)%s",
				     n ? "" : ": early end of file");
		}
		moved += n;
	}
	return 0;
}
