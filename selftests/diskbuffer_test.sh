#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# diskbuffer_test.sh - diskbuffer (userspace/diskbuffer.c) with
# /dev/stablepipe, on the filesystem under test (KTAP)
#
# The temporary files go to $STABLEPIPE_TESTDIR (default: the current
# directory), so the VM harness runs this on XFS, ext4 and tmpfs.  Every
# round trip compares the SHA-256 of the output with the input's: random
# data, DISKBUFFER_TEST_MIB MiB (default 32).  DISKBUFFER_TEST_TIMING=0
# (make check-debug) asserts no speed.  Input, output and logs live
# in /tmp, not on the filesystem under test.
#
# Needs, next to this script: diskbuffer and slowcat (make -C selftests).
# The module must be loaded; the test "without the module" unloads it and
# loads $STABLEPIPE_KO (default /stablepipe.ko, the VM's) again, and is
# skipped when that file is not there.
#
# Output: KTAP.  Exit status: 0 (skips allowed), 1 if anything failed.
# shellcheck disable=SC2016,SC2317 # eval'd strings; functions run by wait_until
# shellcheck disable=SC2002 # cat FILE |: those tests need stdin to be a pipe
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
DB=$HERE/diskbuffer
SLOW=$HERE/slowcat
TESTDIR=${STABLEPIPE_TESTDIR:-$PWD}
MIB=${DISKBUFFER_TEST_MIB:-32}
SIZE=$((MIB << 20))
KO=${STABLEPIPE_KO:-/stablepipe.ko}
TO=120				# seconds any one program may run

# Nothing may keep the filesystem under test busy once we are done (busybox
# timeout leaves a watcher behind for a second): work from /.
cd / || exit 1
W=$(mktemp -d /tmp/dbtest.XXXXXX) || exit 1	# input, output, logs
D=$TESTDIR/dbtest.$$				# the temporary files' directory
mkdir -p "$D" || exit 1

# shellcheck source-path=SCRIPTDIR source=ktap_helpers.sh
. "$HERE/ktap_helpers.sh"
KTAP_LOG=$W/err			# diskbuffer's stderr, shown on a failure

cleanup() {
	touch "$W/stop" "$W/go" 2>/dev/null
	sleep 0.2
	for p in $(pidof diskbuffer slowcat 2>/dev/null); do kill "$p" 2>/dev/null; done
	[ -f "$KO" ] && ! grep -q '^stablepipe ' /proc/modules && insmod "$KO"
	rm -rf "$W" "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

sum() { sha256sum | cut -d' ' -f1; }
mib() { echo $((($1 + 524288) >> 20)); }
# bytes in use on the filesystem under test (statfs)
fs_used() {
	stat -f -c '%b %f %S' "$TESTDIR" | {
		read -r b f s
		echo $(((b - f) * s))
	}
}
# tmp_fd PID DIR: /proc/PID/fd/N for PID's file in DIR
tmp_fd() {
	for f in /proc/"$1"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		"$2"/*) echo "$f"; return 0 ;;
		esac
	done
	return 1
}
size_of() { stat -L -c %s "$1" 2>/dev/null || echo -1; }
blocks_of() { echo $(($(stat -L -c %b "$1" 2>/dev/null || echo 0) * 512)); }
# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s
wait_until() {
	t=$(($1 * 10))
	shift
	until "$@"; do
		t=$((t - 1))
		[ $t -gt 0 ] || return 1
		sleep 0.1
	done
}
# stat_of NAME: NAME=value from diskbuffer's --stats lines in $W/err
stat_of() { grep -o " $1=[0-9]*" "$W/err" | head -n1 | cut -d= -f2; }
proc_of() { sed -n "s/^$2 //p" "$1"; }
dev_line() { grep '^diskbuffer: device=' "$W/err"; }

# through KIND RATE COMMAND...: the input (KIND pipe: through cat; file:
# as stdin) -> COMMAND -> slowcat -r RATE (0: no limit) -> sha256sum.
# Sets RC (COMMAND's exit status) and SUM; COMMAND's stderr in $W/err.
through() {
	kind=$1 rate=$2
	shift 2
	rm -f "$W/rc" "$W/err"
	if [ "$kind" = pipe ]; then
		cat "$W/in" |
			{ timeout -s KILL $TO "$@" 2>"$W/err"; echo $? >"$W/rc"; } |
			timeout -s KILL $TO "$SLOW" -r "$rate" | sum >"$W/sum"
	else
		{ timeout -s KILL $TO "$@" <"$W/in" 2>"$W/err"; echo $? >"$W/rc"; } |
			timeout -s KILL $TO "$SLOW" -r "$rate" | sum >"$W/sum"
	fi
	RC=$(cat "$W/rc" 2>/dev/null || echo none)
	SUM=$(cat "$W/sum")
}

# start_fed COMMAND...: run COMMAND in the background with stdin a FIFO
# that gets the input and then stays open until $W/stop exists, stdout
# $W/out (or $W/fout, a FIFO, when OUT_FIFO=1), stderr $W/err.  Sets PID.
start_fed() {
	rm -f "$W/fin" "$W/fout" "$W/stop" "$W/go" "$W/out" "$W/err"
	mkfifo "$W/fin"
	out=$W/out
	if [ "${OUT_FIFO:-0}" = 1 ]; then
		mkfifo "$W/fout"
		out=$W/fout
	fi
	timeout -s KILL $TO "$@" <"$W/fin" >"$out" 2>"$W/err" &
	PID=$!
	(cat "$W/in"; while [ ! -e "$W/stop" ]; do sleep 0.05; done) >"$W/fin" &
}
has_all() { [ "$(size_of "$1")" -ge "$SIZE" ]; }
out_has() { [ "$(size_of "$W/out")" -ge "$1" ]; }
used_at_most() { sync; [ "$(fs_used)" -le "$1" ]; }

# ---- fast producer, slow consumer ----
t_slow() {	# KIND
	through "$1" 8M "$DB" --stats "$D"
	peak=$(stat_of peak_buffered)
	why=
	[ "$RC" = 0 ] || why="exit status $RC"
	[ "$SUM" = "$INSUM" ] || why="$why; the output differs from the input"
	# DISKBUFFER_TEST_TIMING=0 (make check-debug): diskbuffer itself may
	# be slower than the consumer there (KASAN under TCG: under 8 MiB/s on
	# ext4), and then there is nothing to get ahead of; the bytes are
	# still checked.
	if [ "${DISKBUFFER_TEST_TIMING:-1}" = 0 ]; then
		echo "# DISKBUFFER_TEST_TIMING=0: getting ahead not asserted (peak_buffered=${peak:-?})"
	elif [ "${peak:-0}" -lt $((SIZE / 2)) ]; then
		why="$why; peak_buffered=${peak:-?}: the producer did not get ahead"
	fi
	dev_line | grep -q 'device=stablepipe' || why="$why; the device was not used"
	result "stdin a $1, fast producer, consumer at 8 MiB/s: byte-exact (peak buffered $(mib "${peak:-0}") MiB)" "${why#; }"
}

# ---- --defer ----
t_defer_holds() {
	start_fed "$DB" --defer "$D"
	fd=
	wait_until 30 eval 'fd=$(tmp_fd $PID "$D")' &&
		wait_until 30 has_all "$fd"
	held=$(size_of "$fd")
	sleep 0.5
	early=$(size_of "$W/out")
	touch "$W/stop"
	wait $PID
	rc=$?
	why=
	[ "$held" -ge "$SIZE" ] || why="the temporary file never held the input ($held bytes)"
	[ "$early" = 0 ] || why="$why; $early bytes came out before end of input"
	[ $rc = 0 ] || why="$why; exit status $rc"
	[ "$(sum <"$W/out")" = "$INSUM" ] || why="$why; the output differs from the input"
	result "--defer: nothing on stdout (a file) before end of input, then byte-exact" "${why#; }"
}

t_defer_pipe() {
	through pipe 16M "$DB" --defer --stats "$D"
	why=
	[ "$RC" = 0 ] || why="exit status $RC"
	[ "$SUM" = "$INSUM" ] || why="$why; the output differs from the input"
	result "--defer, stdout a pipe, consumer at 16 MiB/s: byte-exact" "${why#; }"
}

# ---- --keep ----
t_keep() {
	rm -f "$D/kept"
	through pipe 16M "$DB" --stats --keep "$D/kept"
	why=
	[ "$RC" = 0 ] || why="exit status $RC"
	[ "$SUM" = "$INSUM" ] || why="$why; the output differs from the input"
	[ -f "$D/kept" ] || why="$why; no $D/kept"
	[ "$(sum <"$D/kept")" = "$INSUM" ] || why="$why; the kept file differs from the input"
	b=$(blocks_of "$D/kept")
	[ "$b" -ge "$SIZE" ] || why="$why; the kept file has holes ($b bytes allocated)"
	punched=$(stat_of punched)
	[ "${punched:-x}" = 0 ] || why="$why; punched=${punched:-?}"
	result "--keep FILE: output and FILE equal the input, nothing punched" "${why#; }"
	rm -f "$D/kept"
}

t_keep_exists() {
	echo precious >"$D/kept2"
	timeout -s KILL $TO "$DB" --keep "$D/kept2" <"$W/in" >"$W/out" 2>"$W/err"
	rc=$?
	why=
	[ $rc = 73 ] || why="exit status $rc, not 73 (EX_CANTCREAT)"
	[ "$(cat "$D/kept2")" = precious ] || why="$why; the file was changed"
	[ -s "$W/out" ] && why="$why; something came out"
	result "--keep FILE refuses an existing FILE (73) and leaves it alone" "${why#; }"
	rm -f "$D/kept2"
}

# ---- $TMPDIR ----
t_tmpdir_env() {
	mkdir -p "$D/env"
	start_fed env TMPDIR="$D/env" "$DB"
	fd=
	wait_until 30 eval 'fd=$(tmp_fd $PID "$D/env")'
	link=$(readlink "$fd" 2>/dev/null)
	# shellcheck disable=SC2012 # a listing for the log, not parsed
	[ -n "$link" ] || ls -l "/proc/$PID/fd/" | diag
	touch "$W/stop"
	wait $PID
	rc=$?
	why=
	case $link in
	"$D/env/"*"(deleted)") ;;
	*) why="the temporary file is '$link', not an unlinked file in $D/env" ;;
	esac
	[ $rc = 0 ] || why="$why; exit status $rc"
	[ "$(sum <"$W/out")" = "$INSUM" ] || why="$why; the output differs from the input"
	result "\$TMPDIR is used (temporary file ${link:-none}), byte-exact" "${why#; }"
}

t_tmpdir_arg() {
	rm -f "$W/err"
	TMPDIR=$D/nonexistent timeout -s KILL $TO "$DB" "$D" <"$W/in" 2>"$W/err" | sum >"$W/sum"
	s1=$(cat "$W/sum")
	TMPDIR=$D/nonexistent timeout -s KILL $TO "$DB" </dev/null >/dev/null 2>>"$W/err"
	rc2=$?
	why=
	[ "$s1" = "$INSUM" ] || why="with TMPDIR given, \$TMPDIR (missing) was used"
	[ $rc2 = 73 ] || why="$why; a missing \$TMPDIR gave $rc2, not 73"
	grep -qF "$D/nonexistent (from \$TMPDIR): " "$W/err" ||
		why="$why; the message does not say the directory came from \$TMPDIR"
	result "TMPDIR argument wins over \$TMPDIR; a missing \$TMPDIR exits 73, saying so" "${why#; }"
}

# ---- usage ----
t_usage() {
	why=
	for a in --bogus -x --keep; do
		timeout -s KILL $TO "$DB" $a </dev/null >/dev/null 2>"$W/err"
		rc=$?
		[ $rc = 64 ] || why="$why; $a: exit status $rc, not 64"
		[ "$(wc -l <"$W/err")" = 1 ] &&
			grep -q "^diskbuffer: .*; try 'diskbuffer --help'\$" "$W/err" ||
			why="$why; $a: '$(tr '\n' '|' <"$W/err")' is not one line naming diskbuffer"
	done
	timeout -s KILL $TO "$DB" -h </dev/null 2>"$W/err" | grep -q -- '--keep' ||
		why="$why; -h does not print the usage"
	result "a bad option exits 64 with one line; -h prints the usage" "${why#; }"
}

# ---- disk space ----
t_space() {
	sync
	used0=$(fs_used)
	OUT_FIFO=1 start_fed "$DB" --stats "$D"
	timeout -s KILL $TO "$SLOW" -w "$W/go" -r 16M <"$W/fout" >"$W/out" &
	cons=$!
	fd=
	wait_until 30 eval 'fd=$(tmp_fd $PID "$D")' &&
		wait_until 30 has_all "$fd"
	used1=$(fs_used)
	held=$(blocks_of "$fd")
	touch "$W/go"
	wait_until 60 out_has $((SIZE / 2))
	used_half=$(fs_used)
	wait_until 60 out_has "$SIZE"
	# All of it is out, diskbuffer still runs (stdin is open).  XFS keeps
	# its speculative preallocation beyond end of file (for the writes to
	# come; trimmed at close or after minutes): allow for SIZE/8 of it.
	slack=$((1 << 20))
	[ "$(stat -f -c %t "$TESTDIR")" = 58465342 ] && slack=$((slack + SIZE / 8))
	wait_until 10 used_at_most $((used0 + slack))
	used2=$(fs_used)
	left=$(blocks_of "$fd")
	touch "$W/stop"
	wait $PID
	rc=$?
	wait $cons
	echo "# statfs: used +$(mib $((used1 - used0))) MiB with the consumer stalled (file: $(mib "$held") MiB)," \
		"+$(mib $((used_half - used0))) MiB half-way, +$(mib $((used2 - used0))) MiB when drained (file: $left bytes; allowed: $slack)"
	why=
	[ -n "$fd" ] || why="no temporary file found"
	[ $((used1 - used0)) -ge $((SIZE * 3 / 4)) ] || why="$why; the data was not on disk while the consumer was stalled"
	[ "$held" -ge $((SIZE * 3 / 4)) ] || why="$why; the temporary file held only $held bytes"
	[ "$used_half" -lt "$used1" ] || why="$why; nothing was released half-way"
	[ $((used2 - used0)) -le $slack ] || why="$why; $((used2 - used0)) bytes still used when drained"
	[ "$left" -le $((slack - (768 << 10))) ] || why="$why; the file still has $left bytes when drained"
	[ $rc = 0 ] || why="$why; exit status $rc"
	[ "$(stat_of punched)" = "$SIZE" ] || why="$why; --stats: punched=$(stat_of punched)"
	[ "$(sum <"$W/out")" = "$INSUM" ] || why="$why; the output differs from the input"
	result "disk space (statfs) is released as the data drains, while diskbuffer runs" "${why#; }"
}

# ---- the consumer goes away ----
t_early() {
	rm -f "$W/err"
	cat "$W/in" | { timeout -s KILL $TO "$DB" "$D" 2>>"$W/err"; echo $? >"$W/rc"; } |
		head -c 1000 >/dev/null
	rc1=$(cat "$W/rc")
	yes | { timeout -s KILL $TO "$DB" "$D" 2>>"$W/err"; echo $? >"$W/rc"; } |
		head -c 1000 >/dev/null
	rc2=$(cat "$W/rc")
	why=
	[ "$rc1" = 74 ] || why="finite input: exit status $rc1, not 74 (EX_IOERR; 137: hung)"
	[ "$rc2" = 74 ] || why="$why; endless input: exit status $rc2, not 74"
	result "consumer exits early (finite and endless input): exit 74, no hang" "${why#; }"
}

t_early_full() {
	sync
	used0=$(fs_used)
	rm -f "$W/go" "$W/rc" "$W/err"
	cat "$W/in" | { timeout -s KILL $TO "$DB" "$D" 2>"$W/err"; echo $? >"$W/rc"; } |
		{ while [ ! -e "$W/go" ]; do sleep 0.05; done; head -c 1000 >/dev/null; } &
	job=$!
	fd=''
	wait_until 30 eval 'pid=$(pidof diskbuffer) && fd=$(tmp_fd $pid "$D")' &&
		wait_until 30 has_all "$fd"
	used1=$(fs_used)
	touch "$W/go"
	wait $job
	rc=$(cat "$W/rc" 2>/dev/null || echo none)
	wait_until 10 used_at_most $((used0 + (1 << 20)))
	used2=$(fs_used)
	echo "# statfs: used +$(mib $((used1 - used0))) MiB before the consumer left, +$(mib $((used2 - used0))) MiB after"
	why=
	[ $((used1 - used0)) -ge $((SIZE * 3 / 4)) ] || why="the buffer was not full when the consumer left"
	[ "$rc" = 74 ] || why="$why; exit status $rc, not 74"
	[ $((used2 - used0)) -le $((1 << 20)) ] || why="$why; $((used2 - used0)) bytes not released"
	pidof diskbuffer >/dev/null && why="$why; a diskbuffer process is left"
	result "consumer exits with $MIB MiB buffered: exit 74, temporary space released" "${why#; }"
}

# ---- counters: the data went through the device ----
t_counters() {	# OUT: pipe (splice out) or file (read out)
	cp /proc/stablepipe "$W/p0"
	if [ "$1" = pipe ]; then
		through file 0 "$DB" --stats "$D"
		out_ok=$SUM out_field=bytes_out_splice
	else
		rm -f "$W/out"
		timeout -s KILL $TO "$DB" --stats "$D" <"$W/in" >"$W/out" 2>"$W/err"
		RC=$?
		out_ok=$(sum <"$W/out") out_field=bytes_out_read
	fi
	cp /proc/stablepipe "$W/p1"
	stolen=$(stat_of pages_stolen) copied=$(stat_of pages_copied)
	in=$(stat_of in) out=$(stat_of out)
	# the private pipe (splice), or sendfile where it could not be had
	d_in=$(($(proc_of "$W/p1" bytes_in_sendfile) + $(proc_of "$W/p1" bytes_in_splice) -
		$(proc_of "$W/p0" bytes_in_sendfile) - $(proc_of "$W/p0" bytes_in_splice)))
	d_out=$(($(proc_of "$W/p1" $out_field) - $(proc_of "$W/p0" $out_field)))
	d_pages=$(($(proc_of "$W/p1" pages_stolen) + $(proc_of "$W/p1" pages_copied) -
		   $(proc_of "$W/p0" pages_stolen) - $(proc_of "$W/p0" pages_copied)))
	dev_line | diag
	echo "# /proc/stablepipe deltas: bytes_in_sendfile + bytes_in_splice $d_in, $out_field $d_out, pages $d_pages"
	why=
	[ "$RC" = 0 ] || why="exit status $RC"
	[ "$out_ok" = "$INSUM" ] || why="$why; the output differs from the input"
	[ "${in:-x}" = "$SIZE" ] && [ "${out:-x}" = "$SIZE" ] || why="$why; --stats: in=${in:-?} out=${out:-?}"
	[ $((${stolen:-0} + ${copied:-0})) -ge $((SIZE / 4096)) ] ||
		why="$why; --stats: pages_stolen=${stolen:-?} pages_copied=${copied:-?}"
	[ "$d_in" = "$SIZE" ] || why="$why; bytes_in_sendfile + bytes_in_splice grew by $d_in"
	[ "$d_out" = "$SIZE" ] || why="$why; $out_field grew by $d_out"
	[ "$d_pages" -ge $((SIZE / 4096)) ] || why="$why; stolen+copied grew by $d_pages"
	result "counters (--stats, /proc/stablepipe): all bytes went through the device, stdout a $1" "${why#; }"
}

# ---- without the module ----
t_nomodule() {
	desc="without the module: one warning, byte-exact, device=none; module loaded again"
	if [ ! -f "$KO" ]; then
		skip "$desc" "no $KO to load again (STABLEPIPE_KO)"
		return
	fi
	if ! rmmod stablepipe 2>"$W/err"; then
		result "$desc" "rmmod stablepipe failed: $(cat "$W/err")"
		return
	fi
	through pipe 16M "$DB" --stats "$D"
	insmod "$KO" 2>"$W/insmod.err"
	irc=$?
	wait_until 5 test -e /dev/stablepipe
	warnings=$(grep -c '^diskbuffer: warning' "$W/err")
	why=
	[ "$RC" = 0 ] || why="exit status $RC"
	[ "$SUM" = "$INSUM" ] || why="$why; the output differs from the input"
	[ "$warnings" = 1 ] && grep -q 'not available' "$W/err" ||
		why="$why; $warnings warnings instead of one 'not available'"
	dev_line | grep -q 'device=none' || why="$why; --stats does not say device=none"
	[ $irc = 0 ] && [ -e /dev/stablepipe ] || why="$why; insmod $KO failed: $(cat "$W/insmod.err")"
	result "$desc" "${why#; }"
}

echo "TAP version 13"
echo "# filesystem: $(stat -f -c %T "$TESTDIR") ($TESTDIR), $MIB MiB of random data"
for f in "$DB" "$SLOW"; do
	[ -x "$f" ] || { echo "Bail out! no $f (make -C selftests)"; exit 1; }
done
if [ ! -e /dev/stablepipe ] && [ -f "$KO" ] && ! grep -q '^stablepipe ' /proc/modules; then
	echo "# the module is not loaded (left unloaded by an earlier test?): insmod $KO"
	insmod "$KO" && wait_until 5 test -e /dev/stablepipe
fi
[ -e /dev/stablepipe ] || { echo "Bail out! no /dev/stablepipe (module not loaded)"; exit 1; }
head -c "$SIZE" /dev/urandom >"$W/in" || { echo "Bail out! no input data"; exit 1; }
INSUM=$(sum <"$W/in")
echo "1..16"
t_slow pipe
t_slow file
t_defer_holds
t_defer_pipe
t_keep
t_keep_exists
t_tmpdir_env
t_tmpdir_arg
t_usage
t_space
t_early
t_early_full
t_counters pipe
t_counters file
t_nomodule
# after the reload: the device works again
through pipe 0 "$DB" --stats "$D"
why=
[ "$RC" = 0 ] && [ "$SUM" = "$INSUM" ] || why="exit status $RC, sha256 $([ "$SUM" = "$INSUM" ] && echo equal || echo differs)"
dev_line | grep -q 'device=stablepipe' || why="$why; the device was not used"
result "after the module is loaded again, diskbuffer uses the device" "${why#; }"
exit $failed
