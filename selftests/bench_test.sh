#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench_test.sh - the benchmark (userspace/stablepipe-bench.c) in its
# --ktap mode, on the filesystem under test, so that it never rots: every
# method moves a few MiB of every source once, the consumer checksums
# what it got, and the JSON output is parsed.  No timing is asserted
# (Documentation/benchmark.rst; `make bench` measures).
#
# Needs stablepipe-bench next to this script (make -C selftests) and the
# module loaded.  Scratch files go to $STABLEPIPE_TESTDIR (default: the
# current directory).  Output: KTAP, the benchmark's own; exit status 0
# when every line passed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/stablepipe-bench" --ktap --dir "${STABLEPIPE_TESTDIR:-$PWD}"
