# SPDX-License-Identifier: GPL-2.0
#
# KTAP results for the shell tests, sourced after HERE is set:
#
#   . "$HERE/ktap_helpers.sh"
#
# The test prints its own plan ("1..N") and ends with `exit $failed`.
# ok, not_ok and skip number the results; result decides between ok and
# not ok and, on a failure, shows the file KTAP_LOG (when set and not
# empty) as diagnostics: the stderr of the program under test.
# shellcheck shell=sh disable=SC2034 # failed is the caller's exit status

n=0 failed=0
ok()     { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n $1"; }
skip()   { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
diag()   { sed 's/^/# /' "$@"; }
# result DESC WHY: ok if WHY is empty, else not ok with WHY as diagnostic
result() {
	if [ -z "$2" ]; then
		ok "$1"
	else
		not_ok "$1"
		echo "# $2"
		[ -n "${KTAP_LOG:-}" ] && [ -s "$KTAP_LOG" ] && diag "$KTAP_LOG"
	fi
	return 0
}
