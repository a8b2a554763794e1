#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# diskbuffer_exit_test.sh - diskbuffer's exit status, and that it always
# ends, where a backup script relies on both (KTAP; issue 17):
#
#  - a consumer that reads exactly all the bytes and leaves without
#    waiting for end of file (head -c): exit 0, every one of ROUNDS runs
#    (default 100), with the device and without; in every other round
#    the producer keeps its end open 0.1 s after the data, so that the
#    consumer has surely left first (diskbuffer exited 74 then);
#  - the temporary file on a small tmpfs (8 MiB) and more input than
#    fits: with --keep a message and exit 73 at once; where holes cannot
#    be punched (DISKBUFFER_SHIM=nopunch) the file is emptied and used
#    again whenever the consumer has caught up: exit 0, byte-exact;
#  - fstatvfs failing (DISKBUFFER_SHIM=nostatvfs): a warning, exit 0,
#    byte-exact (it used to wait forever for a limit of 0).
#
# The faults come from diskbuffer_shim.so by LD_PRELOAD into
# diskbuffer_dynamic; a hard timeout around every diskbuffer turns a
# hang into a failure (exit status 137).  Scratch files go to
# $STABLEPIPE_TESTDIR (default: the current directory); input, output and
# the small tmpfs are in /tmp.
#
# Needs, next to this script: diskbuffer, diskbuffer_dynamic,
# diskbuffer_shim.so, slowcat (make -C selftests); the module loaded.
# Exit status: 0, or 1 if anything failed.
# shellcheck disable=SC2002 # cat FILE |: stdin must be a pipe
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
DB=$HERE/diskbuffer
DYN=$HERE/diskbuffer_dynamic
SHIM=$HERE/diskbuffer_shim.so
SLOW=$HERE/slowcat
TESTDIR=${STABLEPIPE_TESTDIR:-$PWD}
ROUNDS=${DISKBUFFER_EXIT_ROUNDS:-100}
SMALL=200000			# bytes per round
TO=60				# seconds any one program may run

cd / || exit 1
W=$(mktemp -d /tmp/dbexit.XXXXXX) || exit 1
D=$TESTDIR/dbexit.$$
M=$W/small			# the 8 MiB tmpfs
mkdir -p "$D" "$M" || exit 1

# shellcheck source-path=SCRIPTDIR source=ktap_helpers.sh
. "$HERE/ktap_helpers.sh"
KTAP_LOG=$W/err			# diskbuffer's stderr, shown on a failure

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	for p in $(pidof diskbuffer diskbuffer_dynamic slowcat 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
	umount "$M" 2>/dev/null
	rm -rf "$W" "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

sum() { sha256sum | cut -d' ' -f1; }

# ---- the consumer takes exactly all and leaves ----
t_exact() {	# DESC COMMAND...
	desc=$1
	shift
	i=0 why=
	while [ $i -lt "$ROUNDS" ]; do
		i=$((i + 1))
		# even rounds: the producer holds its end open 0.1 s longer,
		# so that the consumer leaves before diskbuffer sees the end of
		# input (the race that the odd rounds may or may not
		# hit: under TCG they never did in 100 rounds)
		if [ $((i % 2)) = 0 ]; then
			cat "$W/small.in"
			sleep 0.1
		else
			cat "$W/small.in"
		fi |
			{ timeout -s KILL $TO "$@" 2>"$W/err"; echo $? >"$W/rc"; } |
			head -c $SMALL >"$W/out"
		read -r rc <"$W/rc"	# (no process: 100 rounds under TCG)
		if [ "$rc" != 0 ]; then
			why="round $i: exit status $rc"
			break
		fi
	done
	cmp -s "$W/small.in" "$W/out" || why="${why:+$why; }the output differs from the input"
	result "$desc: exit 0 in all $ROUNDS rounds" "$why"
}

# ---- more input than the filesystem holds ----
t_keep_full() {
	rm -f "$M/kept" "$W/rc"
	t0=$(date +%s)
	{ timeout -s KILL $TO "$DB" --keep "$M/kept" <"$W/in" 2>"$W/err"; echo $? >"$W/rc"; } |
		cat >/dev/null
	t=$(($(date +%s) - t0))
	rc=$(cat "$W/rc")
	why=
	[ "$rc" = 73 ] || why="exit status $rc, not 73 (137: it hung)"
	grep -q 'No space left on device; --keep keeps every byte' "$W/err" ||
		why="$why; no message about the space"
	[ $t -le 20 ] || why="$why; it took $t s"
	result "--keep on a full 8 MiB tmpfs: a message and exit 73 (in $t s)" "${why#; }"
	rm -f "$M/kept"
}

t_nopunch_full() {
	rm -f "$W/rc"
	{ DISKBUFFER_SHIM=nopunch LD_PRELOAD=$SHIM timeout -s KILL $TO \
		"$DYN" --stats "$M" <"$W/in" 2>"$W/err"; echo $? >"$W/rc"; } |
		timeout -s KILL $TO "$SLOW" -r 16M | sum >"$W/sum"
	rc=$(cat "$W/rc")
	why=
	[ "$rc" = 0 ] || why="exit status $rc (137: it hung)"
	[ "$(cat "$W/sum")" = "$INSUM" ] || why="$why; the output differs from the input"
	[ "$(grep -c 'cannot punch holes' "$W/err")" = 1 ] ||
		why="$why; not one warning about punching"
	# the limit counts the whole file: it never fills the filesystem
	grep -q 'waiting for space' "$W/err" && why="$why; the filesystem filled up"
	grep -q 'device=stablepipe' "$W/err" || why="$why; the device was not used"
	result "no punching on an 8 MiB tmpfs, $MIB MiB through: the file is reused, exit 0, byte-exact" "${why#; }"
}

# ---- fstatvfs fails ----
t_nostatvfs() {
	rm -f "$W/rc"
	head -c $((4 << 20)) "$W/in" >"$W/in4"
	cat "$W/in4" |
		{ DISKBUFFER_SHIM=nostatvfs LD_PRELOAD=$SHIM timeout -s KILL $TO \
			"$DYN" "$D" 2>"$W/err"; echo $? >"$W/rc"; } | sum >"$W/sum"
	rc=$(cat "$W/rc")
	why=
	[ "$rc" = 0 ] || why="exit status $rc (137: it hung)"
	[ "$(cat "$W/sum")" = "$(sum <"$W/in4")" ] || why="$why; the output differs from the input"
	[ "$(grep -c 'warning: statvfs on' "$W/err")" = 1 ] || why="$why; not one warning"
	result "fstatvfs fails: one warning, exit 0, byte-exact" "${why#; }"
}

echo "TAP version 13"
for f in "$DB" "$DYN" "$SHIM" "$SLOW"; do
	[ -e "$f" ] || { echo "Bail out! no $f (make -C selftests)"; exit 1; }
done
[ -e /dev/stablepipe ] || { echo "Bail out! no /dev/stablepipe (module not loaded)"; exit 1; }
MIB=24
head -c $((MIB << 20)) /dev/urandom >"$W/in" || { echo "Bail out! no input data"; exit 1; }
head -c $SMALL "$W/in" >"$W/small.in"
INSUM=$(sum <"$W/in")
mount -t tmpfs -o size=8m tmpfs "$M" || { echo "Bail out! cannot mount a tmpfs"; exit 1; }
echo "1..5"
t_exact "consumer reads exactly all ($SMALL bytes) and leaves, with the device" "$DB" "$D"
t_exact "consumer reads exactly all ($SMALL bytes) and leaves, --no-device" "$DB" --no-device "$D"
t_keep_full
t_nopunch_full
t_nostatvfs
exit $failed
