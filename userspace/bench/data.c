// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the data stream (a 1 MiB random pattern, each page
 * stamped with its index) and its checksum
 */
#include "bench.h"

static unsigned char *pattern;

void pattern_init(void)
{
	uint64_t x = 0x5eed5eed12345678ULL;

	pattern = xaligned(PATTERN_SIZE);
	for (size_t i = 0; i < PATTERN_SIZE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pattern + i, &x, 8);
	}
}

/*
 * The bytes [off, off + len) of the data stream, in @buf (@bufsize bytes,
 * a multiple of PATTERN_SIZE, filled with copies of the pattern): every
 * page is stamped with its page number in the stream, so that a page in
 * the wrong place, or a zeroed one, changes the checksum.  @off is a
 * multiple of the chunk, which divides PATTERN_SIZE.
 */
static const unsigned char *stream_at(unsigned char *buf, size_t bufsize,
				      uint64_t off, size_t len)
{
	unsigned char *p = buf + off % bufsize;

	for (size_t o = 0; o < len; o += page_size) {
		uint64_t stamp = ((off + o) / page_size) ^ 0xb7b7b7b700000000ULL;

		memcpy(p + o, &stamp, 8);
	}
	return p;
}

const unsigned char *stream_chunk(uint64_t off, size_t len)
{
	return stream_at(pattern, PATTERN_SIZE, off, len);
}

/*
 * Where write(2) and memcpy(3) take the data from: as large as the
 * transfer, up to 256 MiB, so that it streams from memory like the page
 * cache does rather than from a CPU cache.
 */
#define MEMSRC_MAX	(256 * MIB)
static unsigned char *memsrc;
static size_t memsrc_size;

void memsrc_init(size_t size)
{
	size_t want = min_sz((size + PATTERN_SIZE - 1) / PATTERN_SIZE *
			     PATTERN_SIZE, MEMSRC_MAX);

	if (memsrc_size >= want)
		return;
	free(memsrc);
	memsrc = xaligned(want);
	memsrc_size = want;
	for (size_t o = 0; o < want; o += PATTERN_SIZE)
		memcpy(memsrc + o, pattern, PATTERN_SIZE);
}

const unsigned char *memsrc_chunk(uint64_t off, size_t len)
{
	return stream_at(memsrc, memsrc_size, off, len);
}

/* A Fletcher-like 64-bit checksum over 64-bit words: order matters. */
static void csum_words(struct csum *c, const unsigned char *p, size_t nw)
{
	uint64_t a = c->a, b = c->b, w;

	for (size_t i = 0; i < nw; i++) {
		memcpy(&w, p + 8 * i, 8);
		a += w;
		b += a;
	}
	c->a = a;
	c->b = b;
}

void csum_update(struct csum *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t nw;

	c->n += len;
	if (c->nt) {
		size_t take = min_sz(8 - c->nt, len);

		memcpy(c->tail + c->nt, p, take);
		c->nt += take;
		p += take;
		len -= take;
		if (c->nt < 8)
			return;
		csum_words(c, c->tail, 1);
		c->nt = 0;
	}
	nw = len / 8;
	csum_words(c, p, nw);
	p += nw * 8;
	len -= nw * 8;
	if (len) {
		memcpy(c->tail, p, len);
		c->nt = len;
	}
}

uint64_t csum_final(const struct csum *c0)
{
	struct csum c = *c0;

	if (c.nt) {
		memset(c.tail + c.nt, 0, 8 - c.nt);
		csum_words(&c, c.tail, 1);
	}
	return c.a ^ (c.b * 0x9e3779b97f4a7c15ULL) ^ c.n;
}

/* The checksum of the first @size bytes of the stream. */
uint64_t stream_sum(uint64_t size)
{
	struct csum cs = { 0 };

	for (uint64_t off = 0; off < size; off += cfg.chunk) {
		size_t n = min_sz(cfg.chunk, size - off);

		csum_update(&cs, stream_chunk(off, n), n);
	}
	return csum_final(&cs);
}
