#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The stablepipe demonstration, `make demo`: selftests/vm/check.sh --demo
# boots the test VM, loads the module and runs this as /demo/run.sh in
# /mnt/xfs (busybox sh), with /demo on PATH: diskbuffer, and two helpers
# built from selftests/ (make -C userspace demo-bins): splice_punch, the
# original diskbuffer's splice-and-punch data path, and slowcat, a slow
# consumer.
#
#  1. The kernel behaviour: the loop of the June 2023 linux-fsdevel report
#     (splice a cold file into a pipe, punch holes behind what was spliced)
#     and the bytes that came out wrong.
#  2. A backup through a disk buffer that has little memory, so that its
#     temporary file on XFS is written back and read again: the old way
#     (splice_punch) against diskbuffer, each checked against a direct tar.
#
# Settings: DEMO_MIB (size of the tree, default 128), DEMO_MEM (the
# buffer's memory.max, default 32M), DEMO_RATE (the consumer, default 16M
# a second), DEMO_RESULTS (a file for the figures as KEY=VALUE lines,
# which check.sh sums up at the end; default none).
#
# Exit status: 0 when diskbuffer's output was intact, 1 when it was not
# (the plain pipe's corruption is what the demo shows, not a failure).
set -u

MIB=${DEMO_MIB:-128}
MEM=${DEMO_MEM:-32M}
RATE=${DEMO_RATE:-16M}
RESULTS=${DEMO_RESULTS:-/dev/null}
HERE=$PWD
CG=/sys/fs/cgroup/stablepipe-demo
T=$(mktemp -d /tmp/demo.XXXXXX) || exit 1
ticker=

cleanup() {
	rmdir "$CG" 2>/dev/null
	rm -rf "$T" "$HERE/demo-ones" "$HERE/demo-tree" "$HERE/demo-tmp"
}
trap cleanup EXIT

short() { cut -c1-16; }		# the start of a SHA-256 is enough to see
now() { cut -d. -f1 /proc/uptime; }
result() { echo "$1=$2" >>"$RESULTS"; }

# working MSG ... done_working: "   MSG:", then every 10 s the seconds
# passed, so that no wait is silent; done_working ends the line with the
# time it took.  The ticker's sleep, which outlives it by up to 10 s, holds
# neither stdout (the pipe to the terminal ends with this script) nor a
# directory on /mnt/xfs (init.sh unmounts it next).
working() {
	t0=$(now)
	printf '   %s:' "$1"
	(
		cd / || exit	# nothing left in the filesystem when killed
		n=0
		while sleep 10 >/dev/null 2>&1; do
			n=$((n + 10))
			printf ' %ds' $n
		done
	) &
	ticker=$!
}

done_working() {
	kill "$ticker" 2>/dev/null
	wait "$ticker" 2>/dev/null
	echo " done ($(($(now) - t0)) s)"
}

# small_memory CMD...: run CMD in a memory cgroup of $MEM (if there is one)
small_memory() {
	if [ -w "$CG/cgroup.procs" ]; then
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"
	else
		"$@"
	fi
}

echo
echo "stablepipe demo: Linux $(uname -r), XFS on $HERE"
echo

# ---- 1. the bug ----
echo "1. The bug: splice a file into a pipe, then punch a hole behind what was"
echo "   spliced (the loop of the June 2023 linux-fsdevel report), 32 MiB of 0xFF:"
working "splice_punch --file ones | tr -d '\\377' | wc -c"
head -c $((32 << 20)) /dev/zero | tr '\000' '\377' >"$HERE/demo-ones"
sync
echo 3 >/proc/sys/vm/drop_caches		# the file is cold, as in the report
wrong=$(splice_punch --file "$HERE/demo-ones" 2>/dev/null | tr -d '\377' | wc -c)
done_working
result plain_wrong "$wrong"
result plain_bytes $((32 << 20))
if [ "$wrong" -gt 0 ]; then
	echo "   => $wrong bytes came out not 0xFF (zeroed in the pipe); should be 0."
else
	echo "   => 0 bytes wrong: the bug did not show this time."
fi
echo

# ---- 2. a backup through a disk buffer ----
echo "2. A backup: tar -c of a $MIB MiB tree | BUFFER | a consumer that reads"
echo "   ${RATE%M} MiB/s | sha256sum.  BUFFER keeps its temporary file on XFS and gets"
echo "   ${MEM%M} MiB of memory, so the file is written back and read again."
working "making a $MIB MiB tree"
mkdir -p "$HERE/demo-tree/photos" "$HERE/demo-tree/docs" "$HERE/demo-tmp"
i=0
while [ $i -lt $((MIB / 2)) ]; do
	head -c $((2 << 20)) /dev/urandom >"$HERE/demo-tree/photos/img$i.jpg"
	i=$((i + 1))
done
result secs_files $(($(now) - t0))
seq 1 100000 >"$HERE/demo-tree/docs/notes.txt"
if [ -d /sys/fs/cgroup ] && [ ! -d "$CG" ]; then
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
	mkdir "$CG" 2>/dev/null && echo "$MEM" >"$CG/memory.max"
fi
# little dirty data, so that the small cgroup can always reclaim (6.12
# OOM-kills it otherwise); the VM is thrown away afterwards
echo $((8 << 20)) >/proc/sys/vm/dirty_bytes
echo $((2 << 20)) >/proc/sys/vm/dirty_background_bytes
cd "$HERE/demo-tree" || exit 1
tar -c . | tee "$T/ref.tar" | sha256sum | short >"$T/direct"
done_working
ref=$(cat "$T/direct")
result ref "$ref"
echo "     sha256 $ref: tar alone, the reference"

# differ: what the consumer found (slowcat -C's line in $T/cmp)
differ() {
	sed -n 's/^slowcat: \([0-9]*\) bytes (reference \([0-9]*\)), \([0-9]*\) wrong in \([0-9]*\) pages.*/\1 \2 \3 \4/p' "$T/cmp" | {
		read -r total reflen wrong pages
		if [ -z "${total:-}" ]; then
			echo "the consumer did not say what differs"
		elif [ "$total" != "$reflen" ]; then
			echo "$total bytes came out instead of $reflen"
		else
			echo "$wrong bytes in $pages pages differ"
		fi
	}
}

# BUFFER [ARGS]: the pipeline; the consumer compares with the reference
backup() {
	tar -c . | small_memory "$@" 2>"$T/err" |
		slowcat -r "$RATE" -b 20K -C "$T/ref.tar" 2>"$T/cmp" | sha256sum | short
}

working "tar | splice_punch (the old way) | consumer"
old=$(backup splice_punch "$HERE/demo-tmp")
done_working
result old "$old"
if [ "$old" = "$ref" ]; then
	echo "     sha256 $old: the same (the bug did not show this time)"
else
	bad=$(differ)
	echo "     sha256 $old: WRONG, $bad"
	result old_wrong "$bad"
fi

working "tar | diskbuffer | consumer"
new=$(backup diskbuffer --stats "$HERE/demo-tmp")	# stats: results.log
done_working
result new "$new"
if [ "$new" = "$ref" ]; then
	echo "     sha256 $new: the same, intact"
else
	bad=$(differ)
	echo "     sha256 $new: WRONG, $bad"
	result new_wrong "$bad"
fi
stats=$(sed -n 's/.* device=stablepipe \(pages_stolen=[0-9]*\) \(pages_copied=[0-9]*\).*/\1 \2/p' "$T/err")
result pages_stolen "$(echo "$stats" | sed -n 's/.*pages_stolen=\([0-9]*\).*/\1/p')"
result pages_copied "$(echo "$stats" | sed -n 's/.*pages_copied=\([0-9]*\).*/\1/p')"
result stats "$(tr '\n' ' ' <"$T/err")"

echo
echo "diskbuffer moves the temporary file into /dev/stablepipe with sendfile(2),"
echo "which owns the bytes when the call returns, and punches the file only then."
[ "$new" = "$ref" ]
