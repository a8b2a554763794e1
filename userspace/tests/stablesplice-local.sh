#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stablesplice-local.sh - tests of libstablesplice.so that need no module
#
# Builds the library twice: as it ships, and as the fake-device test build
# (-DSS_FAKE_DEVICE: each thread's "instance" is a private pipe, which has
# no stability but lets the wrapper's logic run), and the selftest
# selftests/stablesplice_test.c.  Runs the selftest against the fake
# build: the transcripts of splice(2)/sendfile(2) with and without the
# library must agree, threads, fork, exec and fd reuse must work; the
# cases that need the module skip.  Then the real build must pass every
# call through unchanged when the device is absent.
#
# Environment: CC (default cc), STABLEPIPE_TESTDIR (scratch files,
# default a temporary directory under /tmp).
# Exit status: 0 when nothing failed.

set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$here/..
CC=${CC:-cc}
T=$(mktemp -d /tmp/stablesplice-local.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
export STABLEPIPE_TESTDIR=${STABLEPIPE_TESTDIR:-$T}
flags=(-O2 -Wall -Wextra -Werror -I"$src/../uapi" -I"$src")

"$CC" "${flags[@]}" -fPIC -shared -pthread -DSS_FAKE_DEVICE \
	-o "$T/libfake.so" "$src/stablesplice.c" -ldl || exit 1
"$CC" "${flags[@]}" -fPIC -shared -pthread \
	-o "$T/libstablesplice.so" "$src/stablesplice.c" -ldl || exit 1
"$CC" -O2 -Wall -Wextra -I"$src/../uapi" -I"$src" -pthread \
	-o "$T/stablesplice_test" "$src/../selftests/stablesplice_test.c" || exit 1

fail=0
echo "# the fake-device build against the real calls"
STABLESPLICE_TEST_LIB=$T/libfake.so STABLESPLICE_TEST_FAKE=1 \
	"$T/stablesplice_test" || fail=1

echo "# the real build without a device: everything passes through"
(cd "$STABLEPIPE_TESTDIR" &&
	STABLESPLICE_DISABLE=1 LD_PRELOAD=$T/libstablesplice.so \
		"$T/stablesplice_test" semantics >"$T/real.txt" &&
	STABLESPLICE_DEVICE=/nonexistent STABLESPLICE_VERBOSE=1 \
		LD_PRELOAD=$T/libstablesplice.so \
		"$T/stablesplice_test" semantics >"$T/nodev.txt" 2>"$T/nodev.err") ||
	{ echo "not ok: a semantics run failed"; fail=1; }
if diff <(grep -v '^#' "$T/real.txt") <(grep -v '^#' "$T/nodev.txt") >/dev/null &&
	[ "$(grep -c 'pass through unchanged' "$T/nodev.err")" = 1 ]; then
	echo "ok no device: $(grep -vc '^#' "$T/real.txt") calls unchanged, said so once"
else
	echo "not ok no device: transcripts differ or the message is missing"
	fail=1
fi
exit $fail
