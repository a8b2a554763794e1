/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels stablepipe supports, and nothing
 * else.  Each shim names the kernel change it papers over.
 */
#ifndef STABLEPIPE_COMPAT_H
#define STABLEPIPE_COMPAT_H

#include <linux/mm.h>
#include <linux/pipe_fs_i.h>

/*
 * no_llseek: gone in 6.12 (6.12 include/linux/fs.h no longer defines it;
 * 6.1 fs.h:3340 had "#define no_llseek NULL").  Being NULL, it never did
 * anything: main.c leaves .llseek unset, and stream_open() clears
 * FMODE_LSEEK so that vfs_llseek() fails with -ESPIPE on every kernel.
 * No shim needed.
 */

/**
 * sp_pipe_buf() - the buffer in a ring slot of a pipe
 * @pipe: the pipe
 * @slot: the slot, a head or tail index (not yet masked)
 *
 * 6.1's pipe_fs_i.h has no pipe_buf() (6.12 pipe_fs_i.h:180 does); this
 * is the same expression.
 *
 * Context: Called with @pipe locked.
 * Return: the buffer.
 */
static inline struct pipe_buffer *sp_pipe_buf(struct pipe_inode_info *pipe,
					      unsigned int slot)
{
	return &pipe->bufs[slot & (pipe->ring_size - 1)];
}

/**
 * sp_pipe_tail_buf() - the buffer at the tail of a pipe: the next to read
 * @pipe: the pipe, not empty
 *
 * Context: Called with @pipe locked.
 * Return: the buffer.
 */
static inline struct pipe_buffer *sp_pipe_tail_buf(struct pipe_inode_info *pipe)
{
	return sp_pipe_buf(pipe, pipe->tail);
}

/**
 * sp_pipe_is_empty() - whether a pipe holds no buffer
 * @pipe: the pipe
 *
 * Reads head and tail with READ_ONCE(), for wait conditions.
 *
 * Context: Any context; @pipe need not be locked, and the answer may then
 * be stale.
 * Return: true when @pipe is empty.
 */
static inline bool sp_pipe_is_empty(struct pipe_inode_info *pipe)
{
	return pipe_empty(READ_ONCE(pipe->head), READ_ONCE(pipe->tail));
}

/**
 * sp_pipe_is_full() - whether a pipe has no free slot
 * @pipe: the pipe
 *
 * Reads head, tail and max_usage with READ_ONCE(), for wait conditions.
 *
 * Context: Any context; @pipe need not be locked, and the answer may then
 * be stale.
 * Return: true when @pipe is full.
 */
static inline bool sp_pipe_is_full(struct pipe_inode_info *pipe)
{
	return pipe_full(READ_ONCE(pipe->head), READ_ONCE(pipe->tail),
			 READ_ONCE(pipe->max_usage));
}

/**
 * sp_folio_nth_page() - a page further on in the same folio
 * @page: a page of a folio
 * @n: how many pages after @page; the result must be in the folio
 *
 * nth_page() is gone in 7.2 (7.2 include/linux/mm.h no longer defines
 * it; 6.12 mm.h:222-228 still does): folio pages are now always
 * contiguous in the memmap (7.2 mmzone.h:65-77) and folio_page() is plain
 * pointer arithmetic (7.2 page-flags.h:313).  folio_page() is right on every kernel we support
 * (6.1 page-flags.h:288 and 6.12 page-flags.h:277 define it as
 * nth_page(&folio->page, n)), so this needs no version gate.
 *
 * Return: the page @n pages after @page inside @page's folio.
 */
static inline struct page *sp_folio_nth_page(struct page *page,
					     unsigned long n)
{
	struct folio *folio = page_folio(page);

	return folio_page(folio, folio_page_idx(folio, page) + n);
}

/*
 * ->try_steal: removal from struct pipe_buf_operations was proposed
 * upstream (December 2025).  Kbuild defines SP_HAVE_TRY_STEAL when the
 * kernel's pipe_fs_i.h has pipe_buf_try_steal() (6.1 to 7.3 all do);
 * without it nothing can be stolen and every page is copied, counted as
 * copied_not_stealable.  STABLEPIPE_NO_STEAL=1 builds that variant on any
 * kernel, for testing.
 */
#ifdef SP_HAVE_TRY_STEAL
#define SP_CAN_STEAL true

/**
 * sp_pipe_buf_try_steal() - ask a buffer's owner to give up its page
 * @pipe: the pipe, locked
 * @buf: the buffer
 *
 * Return: true when the page is now the caller's (locked, out of any page
 * cache), as pipe_buf_try_steal().
 */
static inline bool sp_pipe_buf_try_steal(struct pipe_inode_info *pipe,
					 struct pipe_buffer *buf)
{
	return pipe_buf_try_steal(pipe, buf);
}
#else
#define SP_CAN_STEAL false

static inline bool sp_pipe_buf_try_steal(struct pipe_inode_info *pipe,
					 struct pipe_buffer *buf)
{
	return false;
}
#endif

/**
 * sp_folio_expected_refs() - the references a folio's owners hold
 * @folio: a folio that is not mapped into any page table
 *
 * The page cache's, one per page, and its private data's (buffer heads),
 * when it has a mapping.  folio_expected_ref_count() computes that (and
 * more: swap cache, mappings) where the kernel's mm.h has it with an
 * inline folio_mapcount() that a module may call: 6.12 and later (Debian's
 * 6.1 has a backport that calls the unexported folio_mapcount()); Kbuild
 * defines SP_HAVE_FOLIO_EXPECTED_REF_COUNT then.  Elsewhere, the same sum
 * here.
 *
 * Return: the number of references.
 */
static inline int sp_folio_expected_refs(struct folio *folio)
{
#ifdef SP_HAVE_FOLIO_EXPECTED_REF_COUNT
	return folio_expected_ref_count(folio);
#else
	int refs = 0;

	if (folio_mapping(folio))
		refs += folio_nr_pages(folio);
	if (folio_test_private(folio))
		refs++;
	return refs;
#endif
}

/**
 * sp_folio_lru_refs() - the multi-gen LRU's access count bits of a folio
 * @folio: the folio
 *
 * With the multi-gen LRU (CONFIG_LRU_GEN; Debian builds it on every
 * kernel we support and enables it by default from 6.12 on, not on 6.1)
 * folio_mark_accessed() counts accesses through file descriptors in
 * LRU_REFS_MASK bits of folio->flags after PG_referenced: 6.1 and 6.12
 * set PG_workingset at the second access and these bits from the third
 * (6.12 mm/swap.c folio_inc_refs()); 7.x sets these bits from the second
 * and PG_workingset once they are full (7.2 mmzone.h, the comment on
 * LRU_REFS_FLAGS).  Without the multi-gen LRU they stay 0.  folio->flags
 * is an unsigned long in 6.1 and 6.12 (6.12 mm_types.h:73) and a
 * memdesc_flags_t, whose word is .f, in 7.2 and 7.3 (7.2
 * mm_types.h:41); Kbuild defines SP_HAVE_MEMDESC_FLAGS then.
 * folio_lru_refs() in mm_inline.h reads the same bits but means
 * different things on 6.12 (accesses beyond the first, plus
 * PG_workingset) and 7.2 (all accesses), so it is not used.
 *
 * Context: Any.  Read without the folio lock: a racy hint.
 * Return: the LRU_REFS_MASK bits of @folio->flags, not shifted; 0 when
 * the kernel has no multi-gen LRU.
 */
static inline unsigned long sp_folio_lru_refs(const struct folio *folio)
{
#ifdef SP_HAVE_MEMDESC_FLAGS
	return READ_ONCE(folio->flags.f) & LRU_REFS_MASK;
#else
	return READ_ONCE(folio->flags) & LRU_REFS_MASK;
#endif
}

#endif /* STABLEPIPE_COMPAT_H */
