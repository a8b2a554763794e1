/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints: one per ingest decision (stolen, or copied and why) and
 * one per output.  perf trace -e 'stablepipe:*', or bpftrace.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM stablepipe

#if !defined(STABLEPIPE_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define STABLEPIPE_TRACE_H

#include <linux/tracepoint.h>
#include "stablepipe.h"

/* Let perf and bpftrace resolve the enum values in the formats. */
TRACE_DEFINE_ENUM(SP_PAGES_STOLEN);
TRACE_DEFINE_ENUM(SP_COPIED_USER);
TRACE_DEFINE_ENUM(SP_COPIED_POLICY);
TRACE_DEFINE_ENUM(SP_COPIED_MAPPED);
TRACE_DEFINE_ENUM(SP_COPIED_PINNED);
TRACE_DEFINE_ENUM(SP_COPIED_DIRTY);
TRACE_DEFINE_ENUM(SP_COPIED_WRITEBACK);
TRACE_DEFINE_ENUM(SP_COPIED_LARGE_FOLIO);
TRACE_DEFINE_ENUM(SP_COPIED_BUSY);
TRACE_DEFINE_ENUM(SP_COPIED_NOT_STEALABLE);
TRACE_DEFINE_ENUM(SP_COPIED_PARTIAL);
TRACE_DEFINE_ENUM(SP_COPIED_SMALL);
TRACE_DEFINE_ENUM(SP_COPIED_HOT);
TRACE_DEFINE_ENUM(SP_BYTES_OUT_READ);
TRACE_DEFINE_ENUM(SP_BYTES_OUT_SPLICE);

TRACE_EVENT(stablepipe_ingest,
	    TP_PROTO(const struct sp_instance *sp, enum sp_stat how,
		     unsigned long pages, size_t bytes),
	    TP_ARGS(sp, how, pages, bytes),
	    TP_STRUCT__entry(__field(const void *, sp)
			     __field(int, how)
			     __field(unsigned long, pages)
			     __field(size_t, bytes)),
	    TP_fast_assign(__entry->sp = sp;
			   __entry->how = how;
			   __entry->pages = pages;
			   __entry->bytes = bytes;),
	    TP_printk("sp=%p how=%s pages=%lu bytes=%zu", __entry->sp,
		      __print_symbolic(__entry->how,
				       { SP_PAGES_STOLEN, "stolen" },
				       { SP_COPIED_USER, "copied_user" },
				       { SP_COPIED_POLICY, "copied_policy" },
				       { SP_COPIED_MAPPED, "copied_mapped" },
				       { SP_COPIED_PINNED, "copied_pinned" },
				       { SP_COPIED_DIRTY, "copied_dirty" },
				       { SP_COPIED_WRITEBACK, "copied_writeback" },
				       { SP_COPIED_LARGE_FOLIO, "copied_large_folio" },
				       { SP_COPIED_BUSY, "copied_busy" },
				       { SP_COPIED_NOT_STEALABLE, "copied_not_stealable" },
				       { SP_COPIED_PARTIAL, "copied_partial" },
				       { SP_COPIED_SMALL, "copied_small" },
				       { SP_COPIED_HOT, "copied_hot" }),
		      __entry->pages, __entry->bytes)
);

TRACE_EVENT(stablepipe_emit,
	    TP_PROTO(const struct sp_instance *sp, enum sp_stat path,
		     size_t bytes),
	    TP_ARGS(sp, path, bytes),
	    TP_STRUCT__entry(__field(const void *, sp)
			     __field(int, path)
			     __field(size_t, bytes)),
	    TP_fast_assign(__entry->sp = sp;
			   __entry->path = path;
			   __entry->bytes = bytes;),
	    TP_printk("sp=%p path=%s bytes=%zu", __entry->sp,
		      __print_symbolic(__entry->path,
				       { SP_BYTES_OUT_READ, "read" },
				       { SP_BYTES_OUT_SPLICE, "splice" }),
		      __entry->bytes)
);

#endif /* STABLEPIPE_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
