#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# diskbuffer_seed_test.sh - the June 2023 linux-fsdevel report ("Corruption,
# possible race between splice and FALLOC_FL_PUNCH_HOLE"), in a pipeline
#
# A fast producer writes a random stream into a buffering tool whose
# consumer starts late and then reads slowly, so that the tool's temporary
# file (on the filesystem under test, $STABLEPIPE_TESTDIR) holds the whole
# stream; then the temporary file is written back and evicted, and read
# back from disk while the consumer drains it (readahead builds large
# folios, the case where punching a hole zeroes data still in a pipe):
#
#   cold      the consumer waits until the tool holds the whole input, then
#             sync and drop_caches, then it reads;
#   pressure  the tool runs in a memory cgroup (memory.max
#             $DISKBUFFER_SEED_MEM, default 32M) that is far smaller than
#             the stream, so the kernel writes the file back and evicts it
#             as it grows (with vm.dirty_bytes at 8 MiB meanwhile: 6.12
#             OOM-kills a cgroup this small that holds more dirty pages).
#
# The consumer reads DISKBUFFER_SEED_BLOCK (default 20K, five pages) at a
# time: the tool's pipe then refills by five pages, and the punches end
# inside large folios.  (Reading 64 KiB at a time, the splice-and-punch
# path came out right on 6.12: the punches ended on folio boundaries.)
#
# Each runs twice: the control is splice_punch (the original diskbuffer's
# data path: temporary file -> stdout pipe by splice, punch behind), which
# must come out WRONG on XFS (and is a SKIP elsewhere when it does not);
# then diskbuffer, which must be byte-exact (SHA-256 and a byte compare),
# through /dev/stablepipe.  A diskbuffer run is a SKIP rather than a pass
# when the temporary file was not read back from disk (pgpgin), since it
# then proves nothing.  tmpfs is skipped: without swap its pages are never
# written back.
#
# Settings: DISKBUFFER_SEED_MIB (stream size, default 128),
# DISKBUFFER_SEED_MEM (memory.max, default 32M), DISKBUFFER_SEED_RATE
# (consumer rate, default 32M a second).
#
# Output: KTAP.  Exit status: 0 (skips allowed), 1 if anything failed.
# shellcheck disable=SC2317 # functions run indirectly
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
DB=$HERE/diskbuffer
SLOW=$HERE/slowcat
SP=$HERE/splice_punch
TESTDIR=${STABLEPIPE_TESTDIR:-$PWD}
MIB=${DISKBUFFER_SEED_MIB:-128}
MEM=${DISKBUFFER_SEED_MEM:-32M}
RATE=${DISKBUFFER_SEED_RATE:-32M}
BLOCK=${DISKBUFFER_SEED_BLOCK:-20K}
CG_ROOT=/sys/fs/cgroup
CG=$CG_ROOT/diskbuffer-seed-$$
TO=300				# seconds any one pipeline may take

# Nothing may keep the filesystem under test busy once we are done (busybox
# timeout leaves a watcher behind for a second): work from /.
cd / || exit 1
W=$(mktemp -d /tmp/dbseed.XXXXXX) || exit 1	# input, logs (not under test)
D=$TESTDIR/dbseed.$$				# the temporary files' directory
mkdir -p "$D" || exit 1

# shellcheck source-path=SCRIPTDIR source=ktap_helpers.sh
. "$HERE/ktap_helpers.sh"

DIRTY=/proc/sys/vm/dirty_bytes DIRTY_BG=/proc/sys/vm/dirty_background_bytes
DIRTY_SAVED=
dirty_limit() {	# low | restore
	if [ "$1" = low ]; then
		DIRTY_SAVED="$(cat $DIRTY) $(cat $DIRTY_BG) $(cat /proc/sys/vm/dirty_ratio) $(cat /proc/sys/vm/dirty_background_ratio)"
		echo $((8 << 20)) >$DIRTY
		echo $((2 << 20)) >$DIRTY_BG
	elif [ -n "$DIRTY_SAVED" ]; then
		# shellcheck disable=SC2086 # four numbers
		set -- $DIRTY_SAVED
		# writing one of bytes/ratio zeroes the other: restore what was set
		if [ "$1" != 0 ]; then echo "$1" >$DIRTY; else echo "$3" >/proc/sys/vm/dirty_ratio; fi
		if [ "$2" != 0 ]; then echo "$2" >$DIRTY_BG; else echo "$4" >/proc/sys/vm/dirty_background_ratio; fi
		DIRTY_SAVED=
	fi
}

cleanup() {
	[ -e "$W/go" ] || touch "$W/go"
	dirty_limit restore
	[ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	rm -rf "$W" "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fs_type() {
	case $(stat -f -c %t "$TESTDIR") in
	58465342) echo xfs ;;
	ef53) echo ext4 ;;
	1021994 | 01021994) echo tmpfs ;;
	*) echo other ;;
	esac
}

pgpgin() { sed -n 's/^pgpgin //p' /proc/vmstat; }	# KiB read from disks

# tmp_size PROG: the size of the O_TMPFILE that the process named PROG
# holds in $D, or -1.
tmp_size() {
	for p in $(pidof "$1"); do
		for f in /proc/"$p"/fd/*; do
			case $(readlink "$f" 2>/dev/null) in
			"$D"/*) stat -L -c %s "$f" 2>/dev/null && return ;;
			esac
		done
	done
	echo -1
}

cgroup_setup() {
	[ -r "$CG_ROOT/cgroup.controllers" ] || return 1
	echo +memory >"$CG_ROOT/cgroup.subtree_control" 2>/dev/null
	mkdir "$CG" 2>/dev/null || return 1
	echo "$MEM" >"$CG/memory.max" 2>/dev/null || { rmdir "$CG"; return 1; }
}

# run TOOL MODE: one pipeline; sets WRONG (bytes wrong, -1: no result),
# RC (the tool's exit status), READ_BACK (MiB read from disk while the
# consumer drained), HELD (bytes the tool held when the consumer started).
run() {
	tool=$1 mode=$2
	rm -f "$W/go" "$W/rc" "$W/tool.err" "$W/slow.err" "$W/sum"
	case $tool in
	splice_punch) cmd="$SP $D" name=splice_punch ;;
	diskbuffer) cmd="$DB --stats $D" name=diskbuffer ;;
	esac
	if [ "$mode" = pressure ]; then
		# only the tool is in the cgroup (and so its page cache)
		# shellcheck disable=SC2016 # the inner sh expands them
		cmd="sh -c 'echo \$\$ >$CG/cgroup.procs && exec \"\$@\"' sh $cmd"
	fi
	# the consumer compares as it goes (-C) and hashes what it passes on
	# shellcheck disable=SC2002 # cat FILE |: stdin must be a pipe
	cat "$W/in" |
		{ eval "timeout -s KILL $TO $cmd" 2>"$W/tool.err"; echo $? >"$W/rc"; } |
		timeout -s KILL $TO "$SLOW" -w "$W/go" -r "$RATE" -b "$BLOCK" -C "$W/in" 2>"$W/slow.err" |
		sha256sum >"$W/sum" &
	job=$!
	# the consumer starts when the tool holds the whole input
	i=0
	while [ "$(tmp_size "$name")" -lt $((MIB << 20)) ] && [ $i -lt $((TO * 10)) ]; do
		[ -e "$W/rc" ] && break	# the tool is gone
		sleep 0.1
		i=$((i + 1))
	done
	HELD=$(tmp_size "$name")
	if [ "$mode" = cold ]; then
		sync
		echo 3 >/proc/sys/vm/drop_caches
	fi
	before=$(pgpgin)
	touch "$W/go"
	wait $job
	READ_BACK=$((($(pgpgin) - before) >> 10))
	RC=$(cat "$W/rc" 2>/dev/null || echo none)
	WRONG=$(sed -n 's/.*), \([0-9]*\) wrong in .*/\1/p' "$W/slow.err")
	[ -n "$WRONG" ] || WRONG=-1
	SUM_OK=0
	[ "$(cut -d' ' -f1 "$W/sum")" = "$INSUM" ] && SUM_OK=1
	diag "$W/tool.err" "$W/slow.err"
	echo "# held $HELD bytes when the consumer started; read back from disk: $READ_BACK MiB"
	if [ "$mode" = pressure ]; then
		tr '\n' ' ' <"$CG/memory.events" | sed 's/^/# memory.events: /'
		echo
	fi
}

# control MODE: splice_punch must come out wrong on XFS
control() {
	desc="control: splice_punch ($1), $MIB MiB on $FS: output must be WRONG"
	run splice_punch "$1"
	if [ "$RC" != 0 ] || [ "$WRONG" -lt 0 ]; then
		not_ok "$desc # the run failed (rc=$RC)"
	elif [ "$WRONG" -gt 0 ] && [ $SUM_OK = 0 ]; then
		ok "$desc"
	elif [ "$FS" = xfs ]; then
		not_ok "$desc # it came out right: the conditions did not reproduce the bug"
	else
		skip "$desc" "the bug did not show on $FS (read back $READ_BACK MiB)"
	fi
}

# stable MODE: diskbuffer must be byte-exact, with the file read back
stable() {
	desc="diskbuffer ($1), $MIB MiB on $FS: byte-exact"
	run diskbuffer "$1"
	if [ "$RC" != 0 ] || [ "$WRONG" != 0 ] || [ $SUM_OK = 0 ]; then
		not_ok "$desc # rc=$RC, $WRONG bytes wrong, sha256 $([ $SUM_OK = 1 ] && echo equal || echo differs)"
	elif [ "$READ_BACK" -lt $((MIB / 2)) ]; then
		skip "$desc" "only $READ_BACK MiB were read back from disk: the conditions of the bug were not met"
	else
		ok "$desc"
	fi
}

echo "TAP version 13"
FS=$(fs_type)
echo "# filesystem: $FS ($TESTDIR), kernel $(uname -r); stream $MIB MiB, consumer $RATE/s in $BLOCK reads, memory.max $MEM"
echo "1..4"
if [ "$FS" = tmpfs ]; then
	for c in "control (cold)" "diskbuffer (cold)" "control (pressure)" "diskbuffer (pressure)"; do
		skip "$c" "tmpfs pages are not written back (no swap)"
	done
	exit 0
fi
for f in "$DB" "$SLOW" "$SP"; do
	[ -x "$f" ] || { echo "Bail out! no $f (make -C selftests)"; exit 1; }
done
if [ ! -e /dev/stablepipe ] && [ -f /stablepipe.ko ] && ! grep -q '^stablepipe ' /proc/modules; then
	echo "# the module is not loaded (left unloaded by an earlier test?): insmod /stablepipe.ko"
	insmod /stablepipe.ko && sleep 1
fi
[ -e /dev/stablepipe ] || { echo "Bail out! no /dev/stablepipe"; exit 1; }
head -c $((MIB << 20)) /dev/urandom >"$W/in" || { echo "Bail out! no input"; exit 1; }
INSUM=$(sha256sum <"$W/in" | cut -d' ' -f1)

control cold
stable cold
if cgroup_setup; then
	dirty_limit low
	control pressure
	stable pressure
	dirty_limit restore
else
	skip "control (pressure)" "no memory cgroup at $CG_ROOT"
	skip "diskbuffer (pressure)" "no memory cgroup at $CG_ROOT"
fi
exit $failed
