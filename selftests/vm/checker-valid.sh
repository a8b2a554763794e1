#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Stand-in for the kernel's scripts/checker-valid.sh, written for the
# stablepipe VM harness. Since 7.x the kernel's top Makefile runs
#   $(srctree)/scripts/checker-valid.sh $(CHECK) $(CHECKFLAGS)
# and builds as if C=0 (with only a make warning) unless it prints "1".
# Debian's linux-kbuild packages do not ship the script, so kernels.sh
# (unpack_fixup) puts this one in the unpacked kbuild scripts directory.
#
# usage: checker-valid.sh CHECKER [FLAG...]
# Prints 1 if CHECKER (sparse) can be run and copes with what current
# kernel headers use (__typeof_unqual__), else 0. Exits 0 either way.
checker=${1:-}

if [ -z "$checker" ] || ! command -v "$checker" >/dev/null 2>&1; then
	echo 0
	exit 0
fi

dir=$(mktemp -d 2>/dev/null) || { echo 0; exit 0; }
trap 'rm -rf "$dir"' EXIT

cat >"$dir/probe.c" <<'PROBE'
static inline long probe(const volatile long *p)
{
	__typeof_unqual__(*p) copy = *p;

	return copy;
}
PROBE

# sparse reports problems as "error: ..." lines but may still exit 0,
# so the verdict comes from what it prints.
if "$@" "$dir/probe.c" >"$dir/out" 2>&1 &&
	! grep -qi 'error' "$dir/out"; then
	echo 1
else
	echo 0
fi
