#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# diskbuffer-local.sh [DISKBUFFER] - tests of diskbuffer that need no module
#
# Everything here runs diskbuffer --no-device (copy through user memory),
# except:
#  - "fake device" tests: diskbuffer.c built by tests/fake-device.c against
#    pipe2() instead of /dev/stablepipe, to run the device-path state
#    machine (sendfile, EAGAIN, close at EOF, splice/read out) here;
#  - "auto fallback": plain diskbuffer, only when /dev/stablepipe is absent.
#
# Environment: DISKBUFFER_TESTDIR (scratch parent, default /tmp),
# DISKBUFFER_SIZE_MIB (random data size, default 64), CC (default cc),
# DISKBUFFER_BIG_MIB (if set, also stream that many MiB through).
#
# Output: KTAP-ish "ok N name" / "not ok N name", then "N passed, N failed".
# Exit status: 0 when nothing failed.
#
# shellcheck disable=SC2002 # cat FILE |: those tests need stdin to be a pipe

set -u
here=$(cd "$(dirname "$0")" && pwd)
DB=$(realpath "${1:-$here/../diskbuffer}")
SIZE_MIB=${DISKBUFFER_SIZE_MIB:-64}
CC=${CC:-cc}
T=$(mktemp -d "${DISKBUFFER_TESTDIR:-/tmp}/diskbuffer-test.XXXXXX") || exit 1
BG=()

cleanup() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

n=0 pass=0 fail=0 skip=0
echo "KTAP version 1"
ok()     { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $1"; }
notok()  { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $1${2:+ # $2}"; }
skipit() { n=$((n + 1)); skip=$((skip + 1)); echo "ok $n $1 # SKIP ${2:-}"; }
diag()   { sed 's/^/# /' "$@" | head -20; }
check()  { if [ "$2" = 0 ]; then ok "$1"; else notok "$1" "${3:-}"; diag "$T/err" 2>/dev/null; fi; }

[ -x "$DB" ] || { echo "Bail out! no executable $DB"; exit 1; }

# TO: kill anything that hangs
TO=(timeout -k 5 60)

head -c "$((SIZE_MIB << 20))" /dev/urandom > "$T/in" || { echo "Bail out! no data"; exit 1; }
head -c 1000000 /dev/urandom > "$T/small"
mkdir "$T/tmp"

# rt NAME ARGS...: round trip of $T/in, stdin pipe -> stdout pipe
rt_pipe_pipe() {
	local name=$1; shift
	rm -f "$T/out"
	cat "$T/in" | "${TO[@]}" "$@" 2>"$T/err" | cat > "$T/out"
	local st=("${PIPESTATUS[@]}")
	[ "${st[1]}" = 0 ] && cmp -s "$T/in" "$T/out"
	check "$name" $? "rc=${st[1]}, output $(stat -c %s "$T/out") bytes"
}
rt_file_file() {
	local name=$1; shift
	rm -f "$T/out"
	"${TO[@]}" "$@" < "$T/in" > "$T/out" 2>"$T/err"
	local rc=$?
	[ $rc = 0 ] && cmp -s "$T/in" "$T/out"
	check "$name" $? "rc=$rc"
}
rt_pipe_file() {
	local name=$1; shift
	rm -f "$T/out"
	cat "$T/in" | "${TO[@]}" "$@" > "$T/out" 2>"$T/err"
	local st=("${PIPESTATUS[@]}")
	[ "${st[1]}" = 0 ] && cmp -s "$T/in" "$T/out"
	check "$name" $? "rc=${st[1]}"
}
rt_file_pipe() {
	local name=$1; shift
	rm -f "$T/out"
	"${TO[@]}" "$@" < "$T/in" 2>"$T/err" | cat > "$T/out"
	local st=("${PIPESTATUS[@]}")
	[ "${st[0]}" = 0 ] && cmp -s "$T/in" "$T/out"
	check "$name" $? "rc=${st[0]}"
}
zero_len() {
	local name=$1; shift
	: | "${TO[@]}" "$@" 2>"$T/err" | cat > "$T/out"
	local st=("${PIPESTATUS[@]}")
	"${TO[@]}" "$@" < /dev/null > "$T/out2" 2>>"$T/err"
	local rc2=$?
	[ "${st[1]}" = 0 ] && [ ! -s "$T/out" ] && [ $rc2 = 0 ] && [ ! -s "$T/out2" ]
	check "$name" $? "rc=${st[1]},$rc2"
}
# consumer leaves early: non-zero, no hang; finite and endless input
early_exit() {
	local name=$1; shift
	local st1 st2 st3
	cat "$T/in" | "${TO[@]}" "$@" 2>"$T/err" | head -c 1000 > /dev/null
	st1=${PIPESTATUS[1]}
	yes | "${TO[@]}" "$@" 2>>"$T/err" | head -c 1000 > /dev/null
	st2=${PIPESTATUS[1]}
	# --defer never writes: it must notice the reader is gone (POLLERR)
	yes | "${TO[@]}" "$@" --defer 2>>"$T/err" | true
	st3=${PIPESTATUS[1]}
	[ "$st1" != 0 ] && [ "$st1" != 124 ] && [ "$st1" != 137 ] &&
	[ "$st2" = 74 ] && [ "$st3" = 74 ]
	check "$name" $? "rc=$st1,$st2,$st3 (74 expected; 124/137: hung)"
}

# consumer reads exactly all the bytes and leaves without waiting for end
# of file (head -c, tar -x): always exit 0 (POLLERR and EPIPE raced with
# the input's end of file, and gave 74 in about one run of five)
exact_consumer() {
	local name=$1 rounds=$2 i rc bad=""
	shift 2
	for i in $(seq "$rounds"); do
		cat "$T/small" | "${TO[@]}" "$@" 2>"$T/err" | head -c 1000000 > "$T/out"
		rc=${PIPESTATUS[1]}
		if [ "$rc" != 0 ] || ! cmp -s "$T/small" "$T/out"; then
			bad="round $i: rc=$rc"
			break
		fi
	done
	[ -z "$bad" ]
	check "$name ($rounds rounds)" $? "$bad"
}

ND=("$DB" --no-device)

# ---- round trips ----
rt_pipe_pipe "round trip ${SIZE_MIB} MiB: stdin pipe, stdout pipe" "${ND[@]}" "$T/tmp"
rt_file_file "round trip: stdin file, stdout file" "${ND[@]}" "$T/tmp"
rt_pipe_file "round trip: stdin pipe, stdout file" "${ND[@]}" "$T/tmp"
rt_file_pipe "round trip: stdin file, stdout pipe" "${ND[@]}" "$T/tmp"
zero_len "zero-length input (pipe and /dev/null)" "${ND[@]}" "$T/tmp"

# stdout a terminal (script(1) gives a pty); no newlines, so no CRLF
if command -v script > /dev/null; then
	head -c 200000 /dev/zero | tr '\0' a > "$T/as"
	"${TO[@]}" script -qec "${ND[*]} $T/tmp < $T/as" /dev/null > "$T/tty.out" 2>"$T/err"
	rc=$?
	[ $rc = 0 ] && [ "$(tr -cd a < "$T/tty.out" | wc -c)" = 200000 ]
	check "stdout a terminal" $? "rc=$rc, $(tr -cd a < "$T/tty.out" | wc -c) bytes"
else
	skipit "stdout a terminal" "no script(1)"
fi

# ---- --defer: nothing comes out before end of input ----
rm -f "$T/fin" "$T/out" "$T/stop"; mkfifo "$T/fin"
"${TO[@]}" "${ND[@]}" --defer "$T/tmp" < "$T/fin" > "$T/out" 2>"$T/err" & pid=$!; BG+=("$pid")
( cat "$T/small"; while [ ! -e "$T/stop" ]; do sleep 0.05; done ) > "$T/fin" &
sleep 1
early=$(stat -c %s "$T/out")
touch "$T/stop"; wait $pid; rc=$?
[ "$early" = 0 ] && [ $rc = 0 ] && cmp -s "$T/small" "$T/out"
check "--defer holds output until EOF" $? "early=$early rc=$rc"
rt_pipe_pipe "--defer round trip" "${ND[@]}" --defer "$T/tmp"

# ---- --keep ----
rm -f "$T/kept"
cat "$T/in" | "${TO[@]}" "${ND[@]}" --keep "$T/kept" 2>"$T/err" | cat > "$T/out"
st=("${PIPESTATUS[@]}")
[ "${st[1]}" = 0 ] && cmp -s "$T/in" "$T/out" && cmp -s "$T/in" "$T/kept"
check "--keep FILE: output and FILE equal the input" $? "rc=${st[1]}"
echo precious > "$T/kept2"
"${TO[@]}" "${ND[@]}" --keep "$T/kept2" < "$T/small" > "$T/out" 2>"$T/err"
rc=$?
[ $rc = 73 ] && [ "$(cat "$T/kept2")" = precious ] && [ ! -s "$T/out" ]
check "--keep refuses an existing FILE (73), leaves it alone" $? "rc=$rc"

# ---- --stats ----
cat "$T/in" | "${TO[@]}" "${ND[@]}" --stats "$T/tmp" 2>"$T/err" > /dev/null
rc=${PIPESTATUS[1]}
sz=$((SIZE_MIB << 20))
grep -Eq "^diskbuffer: in=$sz out=$sz peak_buffered=[0-9]+ punched=[0-9]+ time=[0-9]+\.[0-9]{3}$" "$T/err" &&
grep -Eq '^diskbuffer: device=none$' "$T/err" && [ "$rc" = 0 ] &&
[ "$(wc -l < "$T/err")" = 2 ]
check "--stats summary format" $? "rc=$rc"

# ---- usage and creation errors ----
bad=""
for args in "--bogus" "$T/tmp $T/tmp" "--keep" "--keep $T/k1 $T/tmp" \
	    "--keep $T/k1 --keep $T/k2" "-x"; do
	# shellcheck disable=SC2086 # $args: split into arguments
	"${TO[@]}" "$DB" $args < /dev/null > /dev/null 2>"$T/err"
	rc=$?
	[ $rc = 64 ] || bad="$bad [$args]=$rc"
done
[ -e "$T/k1" ] && bad="$bad k1-created"
[ -z "$bad" ]
check "usage errors exit 64" $? "$bad"
"${TO[@]}" "$DB" --help > "$T/out" 2>"$T/err" && grep -q -- --keep "$T/out" &&
	"${TO[@]}" "$DB" --version | grep -Eq '^diskbuffer [0-9]'
check "--help and --version exit 0" $?
"${TO[@]}" "${ND[@]}" "$T/nonexistent" < /dev/null > /dev/null 2>"$T/err"; rc1=$?
TMPDIR="$T/nonexistent" "${TO[@]}" "${ND[@]}" < /dev/null > /dev/null 2>>"$T/err"; rc2=$?
[ $rc1 = 73 ] && [ $rc2 = 73 ]
check "missing TMPDIR (argument and \$TMPDIR) exits 73" $? "rc=$rc1,$rc2"
# a closed stdin is 66, a closed stdout 73, however many others are closed
"${TO[@]}" "${ND[@]}" "$T/tmp" <&- 2>&- > /dev/null; rc1=$?
"${TO[@]}" "${ND[@]}" "$T/tmp" <&- > /dev/null 2>"$T/err"; rc2=$?
"${TO[@]}" "${ND[@]}" "$T/tmp" < /dev/null >&- 2>&-; rc3=$?
[ $rc1 = 66 ] && [ $rc2 = 66 ] && [ $rc3 = 73 ]
check "closed stdin exits 66, closed stdout 73 (with stderr closed too)" $? "rc=$rc1,$rc2,$rc3"

# ---- producer and consumer failures ----
early_exit "consumer exits early: non-zero, no hang" "${ND[@]}" "$T/tmp"
exact_consumer "consumer reads exactly all and leaves: exit 0" 50 "${ND[@]}" "$T/tmp"
"${TO[@]}" "${ND[@]}" "$T/tmp" < / > "$T/out" 2>"$T/err"
rc=$?
[ $rc = 74 ] && [ ! -s "$T/out" ]
check "read error on stdin (a directory) exits 74" $? "rc=$rc"

# ---- temporary space: on disk while held, released as it moves on ----
# Runs with TMPDIR in the environment, which also checks that it is used.
rm -f "$T/fin" "$T/fout" "$T/go" "$T/stop" "$T/out"; mkfifo "$T/fin" "$T/fout"
mkdir -p "$T/envtmp"
TMPDIR="$T/envtmp" "${TO[@]}" "${ND[@]}" < "$T/fin" > "$T/fout" 2>"$T/err" & pid=$!; BG+=("$pid")
( cat "$T/in"; while [ ! -e "$T/stop" ]; do sleep 0.05; done ) > "$T/fin" &
( while [ ! -e "$T/go" ]; do sleep 0.05; done; exec cat > "$T/out" ) < "$T/fout" &
# the timeout(1) wrapper is $pid; diskbuffer is its child
dbpid=""
for _ in $(seq 100); do
	dbpid=$(pgrep -P "$pid" -x diskbuffer) && break; sleep 0.05
done
tmpfd=""
for _ in $(seq 100); do
	for f in "/proc/$dbpid/fd/"*; do
		case "$(readlink "$f" 2>/dev/null)" in
		"$T/envtmp/"*"(deleted)") tmpfd=$f ;;
		esac
	done
	[ -n "$tmpfd" ] && break; sleep 0.05
done
held=0
for _ in $(seq 200); do	# wait until most of the input is on disk
	held=$(( $(stat -L -c %b "$tmpfd" 2>/dev/null || echo 0) * 512 ))
	[ $held -ge $(( (SIZE_MIB << 20) * 3 / 4 )) ] && break; sleep 0.05
done
touch "$T/go"
for _ in $(seq 400); do
	[ "$(stat -c %s "$T/out" 2>/dev/null)" = $((SIZE_MIB << 20)) ] && break
	sleep 0.05
done
left=$(( $(stat -L -c %b "$tmpfd" 2>/dev/null || echo 99999999) * 512 ))
touch "$T/stop"; wait $pid; rc=$?
[ -n "$tmpfd" ] && [ $held -ge $(( (SIZE_MIB << 20) * 3 / 4 )) ] &&
[ $left -le $((256 << 10)) ] && [ $rc = 0 ] && cmp -s "$T/in" "$T/out"
check "temp space in \$TMPDIR held, then released (punched)" $? \
	"fd=${tmpfd:-none} held=$held left=$left rc=$rc"

# ---- --progress and SIGUSR1 ----
( for _ in 1 2 3; do head -c 100000 "$T/in"; sleep 0.8; done ) |
	"${TO[@]}" "${ND[@]}" --progress "$T/tmp" 2>"$T/err" > /dev/null
rc=${PIPESTATUS[1]}
lines=$(grep -Ec '^diskbuffer: [0-9]+:[0-9]{2}:[0-9]{2} in .* out .* buffered ' "$T/err")
[ "$rc" = 0 ] && [ "$lines" -ge 2 ]
check "--progress prints status lines" $? "rc=$rc lines=$lines"

rm -f "$T/fin" "$T/stop"; mkfifo "$T/fin"
"${TO[@]}" "${ND[@]}" "$T/tmp" < "$T/fin" > /dev/null 2>"$T/err" & pid=$!; BG+=("$pid")
( head -c 12345 "$T/in"; while [ ! -e "$T/stop" ]; do sleep 0.05; done ) > "$T/fin" &
dbpid=""
for _ in $(seq 100); do
	dbpid=$(pgrep -P "$pid" -x diskbuffer) && break; sleep 0.05
done
sleep 0.3
[ -n "$dbpid" ] && kill -USR1 "$dbpid"
sleep 0.3
touch "$T/stop"; wait $pid; rc=$?
[ $rc = 0 ] && grep -Eq '^diskbuffer: .* in 12.1 KiB .* buffered ' "$T/err"
check "SIGUSR1 prints a status line" $? "rc=$rc"

# ---- the file size limit (ulimit -f): a message, not SIGXFSZ ----
# 4 MiB of file for the whole input: the file is emptied and used again
# whenever the consumer has caught up
rm -f "$T/out"
cat "$T/in" | "${TO[@]}" bash -c 'ulimit -f 4096 && exec "$@"' - "${ND[@]}" "$T/tmp" 2>"$T/err" | cat > "$T/out"
st=("${PIPESTATUS[@]}")
[ "${st[1]}" = 0 ] && cmp -s "$T/in" "$T/out"
check "ulimit -f 4 MiB: the file is reused, byte-exact, exit 0" $? "rc=${st[1]}"
rm -f "$T/kept"
cat "$T/in" | "${TO[@]}" bash -c 'ulimit -f 4096 && exec "$@"' - "${ND[@]}" --keep "$T/kept" 2>"$T/err" > /dev/null
rc=${PIPESTATUS[1]}
[ "$rc" = 73 ] && grep -q 'File too large; --keep' "$T/err"
check "ulimit -f with --keep: a message and exit 73" $? "rc=$rc"

# ---- fault injection with LD_PRELOAD ----
cat > "$T/inject.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <sys/types.h>
/* INJECT=nopunch: fallocate fails EOPNOTSUPP.
 * INJECT=nospace: the first 3 writes into the temporary file fail ENOSPC.
 * INJECT=nostatvfs: fstatvfs fails EIO.
 * INJECT=wberr: sync_file_range reports a write-back error (EIO). */
static int mode(const char *m)
{
	const char *e = getenv("INJECT");
	return e && !__builtin_strcmp(e, m);
}
int fallocate(int fd, int m, off_t o, off_t l)
{
	(void)fd; (void)m; (void)o; (void)l;
	if (mode("nopunch")) { errno = EOPNOTSUPP; return -1; }
	errno = ENOSYS; return -1;
}
int fallocate64(int fd, int m, off64_t o, off64_t l)
{
	(void)o; (void)l;
	return fallocate(fd, m, 0, 0);
}
int fstatvfs(int fd, struct statvfs *b)
{
	static int (*real)(int, struct statvfs *);
	if (mode("nostatvfs")) { errno = EIO; return -1; }
	if (!real) real = dlsym(RTLD_NEXT, "fstatvfs");
	return real(fd, b);
}
int fstatvfs64(int fd, struct statvfs64 *b)
{
	static int (*real)(int, struct statvfs64 *);
	if (mode("nostatvfs")) { errno = EIO; return -1; }
	if (!real) real = dlsym(RTLD_NEXT, "fstatvfs64");
	return real(fd, b);
}
int sync_file_range(int fd, off64_t o, off64_t n, unsigned int fl)
{
	static int (*real)(int, off64_t, off64_t, unsigned int);
	if (mode("wberr")) { errno = EIO; return -1; }
	if (!real) real = dlsym(RTLD_NEXT, "sync_file_range");
	return real(fd, o, n, fl);
}
static int left = 3;
ssize_t splice(int in, loff_t *oi, int out, loff_t *oo, size_t len, unsigned fl)
{
	static ssize_t (*real)(int, loff_t *, int, loff_t *, size_t, unsigned);
	if (!real) real = dlsym(RTLD_NEXT, "splice");
	if (mode("nospace") && in == 0 && oo && left > 0) {
		left--; errno = ENOSPC; return -1;
	}
	return real(in, oi, out, oo, len, fl);
}
EOF
if $CC -shared -fPIC -o "$T/inject.so" "$T/inject.c" -ldl 2>"$T/err"; then
	cat "$T/in" | INJECT=nopunch LD_PRELOAD="$T/inject.so" "${TO[@]}" "${ND[@]}" "$T/tmp" 2>"$T/err" | cat > "$T/out"
	st=("${PIPESTATUS[@]}")
	[ "${st[1]}" = 0 ] && cmp -s "$T/in" "$T/out" &&
	[ "$(grep -c 'cannot punch holes' "$T/err")" = 1 ]
	check "no punch-hole support: one warning, carries on" $? "rc=${st[1]}"

	cat "$T/small" | INJECT=nospace LD_PRELOAD="$T/inject.so" "${TO[@]}" "${ND[@]}" "$T/tmp" 2>"$T/err" | cat > "$T/out"
	st=("${PIPESTATUS[@]}")
	[ "${st[1]}" = 0 ] && cmp -s "$T/small" "$T/out" &&
	[ "$(grep -c 'No space left on device; waiting' "$T/err")" = 1 ]
	check "ENOSPC on the temp file: waits, then carries on" $? "rc=${st[1]}"

	rm -f "$T/kept"
	cat "$T/small" | INJECT=nospace LD_PRELOAD="$T/inject.so" "${TO[@]}" "${ND[@]}" --keep "$T/kept" 2>"$T/err" > /dev/null
	rc=${PIPESTATUS[1]}
	[ "$rc" = 73 ] && grep -q 'No space left on device; --keep keeps every byte' "$T/err"
	check "ENOSPC with --keep: a message and exit 73, no wait" $? "rc=$rc"

	cat "$T/small" | INJECT=nostatvfs LD_PRELOAD="$T/inject.so" "${TO[@]}" "${ND[@]}" "$T/tmp" 2>"$T/err" | cat > "$T/out"
	st=("${PIPESTATUS[@]}")
	[ "${st[1]}" = 0 ] && cmp -s "$T/small" "$T/out" &&
	[ "$(grep -c 'statvfs on .*buffering at most 64 KiB' "$T/err")" = 1 ]
	check "fstatvfs fails: one warning, 64 KiB buffer, carries on" $? "rc=${st[1]}"

	cat "$T/small" | INJECT=wberr LD_PRELOAD="$T/inject.so" "${TO[@]}" "${ND[@]}" "$T/tmp" 2>"$T/err" | cat > "$T/out"
	st=("${PIPESTATUS[@]}")
	[ "${st[1]}" = 74 ] && grep -q 'write-back of the temporary file failed: Input/output error' "$T/err" &&
	[ ! -s "$T/out" ]
	check "write-back error on the temp file: exit 74 before any byte goes out" $? "rc=${st[1]}"
else
	for t in "no punch-hole support: one warning, carries on" \
		 "ENOSPC on the temp file: waits, then carries on" \
		 "ENOSPC with --keep: a message and exit 73, no wait" \
		 "fstatvfs fails: one warning, 64 KiB buffer, carries on" \
		 "write-back error on the temp file: exit 74 before any byte goes out"; do
		skipit "$t" "cannot build preload"
	done
fi

# ---- the device path's state machine, against pipe2() ----
if $CC -std=c11 -O2 -Wall -Wextra -Werror -I"$here/../../uapi" -o "$T/diskbuffer" \
	"$here/fake-device.c" 2>"$T/err"; then
	FD="$T/diskbuffer"	# named diskbuffer, for the messages
	rt_pipe_pipe "fake device: stdin pipe, stdout pipe (sendfile, splice)" "$FD" "$T/tmp"
	rt_file_file "fake device: stdin file, stdout file (sendfile, read)" "$FD" "$T/tmp"
	rt_pipe_pipe "fake device: --defer" "$FD" --defer "$T/tmp"
	zero_len "fake device: zero-length input" "$FD" "$T/tmp"
	early_exit "fake device: consumer exits early" "$FD" "$T/tmp"
	exact_consumer "fake device: consumer reads exactly all and leaves: exit 0" 50 "$FD" "$T/tmp"
else
	diag "$T/err"
	notok "fake device build"
fi

# ---- without the module, diskbuffer falls back by itself ----
if [ ! -e /dev/stablepipe ]; then
	rt_pipe_pipe "auto fallback without /dev/stablepipe" "$DB" "$T/tmp"
	[ "$(grep -c 'not available' "$T/err")" = 1 ]
	check "auto fallback: exactly one warning" $?
else
	skipit "auto fallback without /dev/stablepipe" "the device exists here"
fi

# ---- optional: a long stream ----
if [ -n "${DISKBUFFER_BIG_MIB:-}" ]; then
	head -c "$((DISKBUFFER_BIG_MIB << 20))" /dev/urandom |
		tee >(sha256sum > "$T/sum.in") |
		timeout 3600 "${ND[@]}" "$T/tmp" 2>"$T/err" | sha256sum > "$T/sum.out"
	st=("${PIPESTATUS[@]}")
	sleep 1
	[ "${st[2]}" = 0 ] && cmp -s "$T/sum.in" "$T/sum.out"
	check "stream of $DISKBUFFER_BIG_MIB MiB" $? "rc=${st[2]}"
fi

echo "# $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
