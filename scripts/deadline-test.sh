#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: scripts/deadline-test.sh        (`make test` runs it)
#
# Proof that `make test` always ends with a verdict: scripts/test-all.sh
# runs one VM step that hangs on purpose (init.sh's STABLEPIPE_VM_HANG=1)
# under a short deadline.  The step must be stopped at the deadline and
# counted failed, the summary must still be printed with "N passed, N
# failed" last, test-all.sh must exit non-zero, on time, and no QEMU of
# that step may be left running.  Its files go to build/deadline-test/.
# KTAP on stdout; exit 0 only if all passed.
set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

DEADLINE=${DEADLINE_TEST_SECONDS:-150}
WORK=$SP_REPO/build/deadline-test
rm -rf "$WORK"
mkdir -p "$WORK"

ktap_plan 5
say "a hung VM under TEST_DEADLINE=$DEADLINE"
t0=$SECONDS
TEST_DEADLINE=$DEADLINE TEST_LOGS=$WORK/logs VM_OUT=$WORK/vm \
	VM_APPEND=STABLEPIPE_VM_HANG=1 TESTS=semantics_test FS=tmpfs \
	VM_TIMEOUT=3600 "$SP_REPO/scripts/test-all.sh" check-bookworm \
	>"$WORK/test-all.log" 2>&1
rc=$?
took=$((SECONDS - t0))
say "test-all.sh exited $rc after ${took}s"
tail -n 4 "$WORK/test-all.log" | diag

check "test-all.sh exits non-zero" test "$rc" -ne 0
check "it ends within 60 s of the deadline" test "$took" -le $((DEADLINE + 60))
if grep -q 'STABLEPIPE_VM_HANG=1: hanging' "$WORK/logs/check-bookworm.log" 2>/dev/null &&
	grep -Eq '^check-bookworm +FAILED \(stopped at the deadline\)' "$WORK/test-all.log"; then
	ok "the hung VM's step is stopped at the deadline and counted failed"
else
	not_ok "the hung VM's step is stopped at the deadline and counted failed"
fi
check "the last line is \"0 passed, 1 failed\"" \
	test "$(tail -n1 "$WORK/test-all.log")" = "0 passed, 1 failed"
if pgrep -f "qemu-system.*$WORK/vm" >/dev/null; then
	not_ok "no QEMU of the step is left running"
	pkill -KILL -f "qemu-system.*$WORK/vm"
else
	ok "no QEMU of the step is left running"
fi
ktap_end
