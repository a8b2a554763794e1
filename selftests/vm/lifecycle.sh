#!/bin/sh
# shellcheck disable=SC2317 # functions run through t()
# KTAP tests of the stablepipe module's life cycle, run inside the test VM
# by init.sh (busybox sh). Leaves the module loaded when all goes well.
# usage: lifecycle.sh /path/to/stablepipe.ko
KO=${1:-/stablepipe.ko}
MOD=stablepipe
DEV=/dev/stablepipe
PROC=/proc/stablepipe
n=0
failed=0

# t DESCRIPTION COMMAND...: one KTAP result, ok if COMMAND succeeds; its
# output is shown as KTAP diagnostics when it fails.
t() {
	desc=$1
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n $desc"
	else
		echo "not ok $n $desc"
		[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
		failed=1
	fi
}

not() { ! "$@"; }
loaded() { grep -q "^$MOD " /proc/modules; }
mode_is() {	# FILE MODE
	m=$(stat -c %A "$1") || return
	[ "$m" = "$2" ] || { echo "mode is $m"; return 1; }
}
open_close() { (exec 3<>"$DEV" && exec 3>&-); }
can_read() { [ -r "$1" ] && cat "$1" >/dev/null; }

echo "TAP version 13"
echo "1..13"
t "insmod $KO" insmod "$KO"
t "$MOD is listed in /proc/modules" loaded
t "$DEV is a character device" test -c "$DEV"
t "$DEV has mode crw-rw-rw-" mode_is "$DEV" crw-rw-rw-
t "$PROC exists and is readable" can_read "$PROC"
t "open and close $DEV" open_close

# Hold $DEV open in this shell: the module must refuse to unload.
if open_close 2>/dev/null; then
	exec 3<>"$DEV"
	t "rmmod $MOD fails while $DEV is open" not rmmod "$MOD"
	t "$MOD is still listed while $DEV is open" loaded
	exec 3>&-
else
	t "rmmod $MOD fails while $DEV is open (cannot open $DEV)" false
	t "$MOD is still listed while $DEV is open (cannot open $DEV)" false
fi

t "rmmod $MOD succeeds after close" rmmod "$MOD"
t "$DEV is gone after rmmod" not test -e "$DEV"
t "$PROC is gone after rmmod" not test -e "$PROC"
t "insmod $KO again" insmod "$KO"
t "$DEV is back" test -c "$DEV"
exit $failed
