#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench_test.sh - the benchmark (userspace/bench/) in its --ktap mode, on
# the filesystem under test, so that it never rots: every method moves a
# few MiB of every source once (the hot source: 3 sends), the pipe and
# the TCP consumer alike, the consumer checksums what it got, and the
# JSON output is parsed; then --buffers streams 8 MiB through a plain
# pipe and through diskbuffer, with a fast and a slow consumer, and
# checks the bytes.  No timing is asserted (Documentation/benchmark.rst;
# `make bench` measures).
#
# Needs stablepipe-bench and diskbuffer next to this script (make -C
# selftests) and the module loaded.  Scratch files go to
# $STABLEPIPE_TESTDIR (default: the current directory).  Output: KTAP,
# the benchmark's own (two documents); exit status 0 when every line
# passed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${STABLEPIPE_TESTDIR:-$PWD}
# the TCP consumer needs loopback; an initramfs leaves lo down
ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || true

rc=0
"$HERE/stablepipe-bench" --ktap --sends 3 --dir "$DIR" || rc=$?
PATH="$HERE:$PATH" "$HERE/stablepipe-bench" --ktap --buffers pipe,diskbuffer \
	--stream 8M --slow-rate 32M --dir "$DIR" || rc=$?
exit "$rc"
