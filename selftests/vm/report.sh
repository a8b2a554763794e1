# shellcheck shell=bash
# Results of a VM run (sourced by check.sh).

# Console lines that are kernel reports (with printk.time=1 every kernel
# line carries a "[   12.345678]" stamp; test output does not).
KERNEL_REPORT='\[ *[0-9]+\.[0-9]+\].*(BUG:|WARNING:|Oops|KASAN|UBSAN|Call Trace|invoked oom-killer|possible circular locking|possible recursive locking|INFO: task .* blocked|kmemleak: .*suspected|general protection fault|Kernel panic|VFS: Busy inodes)'

# parse_results RESULTS: count the KTAP lines of the VM's result channel.
# Prints failure details, then a last line "counts PASS FAIL SKIP DONE".
#   ok N ...            passed (skipped if it carries "# SKIP")
#   not ok N ...        failed (skipped if it carries "# SKIP")
#   other "# SKIP" line skipped (e.g. "1..0 # SKIP reason")
#   "# fs=F prog=P" ... "# exit=RC fs=F prog=P": a program exiting neither 0
#   nor 4 (kselftest skip) without any "not ok" counts one failure; one
#   exiting 4 without any result counts one skip.
parse_results() {
	tr -d '\r' <"$1" | awk '
	function where() { return prog == "" ? "" : " (fs=" fs " prog=" prog ")" }
	/^[ \t]*(not )?ok [0-9]+/ {
		if ($0 ~ /# SKIP/) { skip++; results++; next }
		if ($0 ~ /^[ \t]*not ok/) {
			fail++; bad++; results++
			sub(/^[ \t]*/, ""); print "  " $0 where()
		} else { pass++; results++ }
		next
	}
	/# SKIP/ { skip++; results++; next }
	/^# fs=[^ ]* prog=/ {
		fs = $2; sub(/^fs=/, "", fs); prog = $3; sub(/^prog=/, "", prog)
		bad = 0; results = 0; next
	}
	/^# exit=[0-9]+ fs=/ {
		rc = $2; sub(/^exit=/, "", rc)
		if (rc != 0 && rc != 4 && bad == 0) {
			fail++; print "  " prog " exited " rc " on " fs " without a \"not ok\" line"
		}
		if (rc == 4 && results == 0) skip++
		prog = ""; next
	}
	/^STABLEPIPE-VM-DONE/ { done = 1 }
	END {
		if (!done) {
			fail++
			printf "  the VM did not finish (timeout or crash)"
			if (prog != "") printf ", while running %s on %s", prog, fs
			print ""
		}
		printf "counts %d %d %d %d\n", pass, fail, skip, done
	}'
}

# skip_summary RESULTS SKIP: the line "skipped: SKIP", with how many each
# program skipped (counted as parse_results counts them) and, when tests
# skipped for want of fault injection or kmemleak in this kernel, a line
# that points to make check-debug, whose kernel has them.  The reasons
# are in RESULTS, on the "# SKIP" lines.
skip_summary() {
	tr -d '\r' <"$1" | awk -v total="$2" '
	/^# fs=[^ ]* prog=/ { prog = $3; sub(/^prog=/, "", prog); results = 0; next }
	/^# exit=[0-9]+ fs=/ {
		if ($2 == "exit=4" && results == 0) n[prog]++
		prog = ""; next
	}
	/^[ \t]*(not )?ok [0-9]+/ && !/# SKIP/ { results++; next }
	/# SKIP/ {
		results++
		n[prog == "" ? "the harness" : prog]++
		if ($0 ~ /CONFIG_(FAULT_INJECTION|DEBUG_KMEMLEAK)/) debug++
	}
	END {
		line = "skipped: " total
		sep = " ("
		for (p in n) { line = line sep p " " n[p]; sep = ", " }
		if (sep == ", ") line = line ")"
		print line
		if (debug)
			printf "  %d of them need CONFIG_FAULT_INJECTION or CONFIG_DEBUG_KMEMLEAK, which this kernel lacks: make check-debug runs them\n", debug
	}'
}

# prog_times RESULTS: one line with the seconds each program took, summed
# over the filesystems, slowest first (from the "secs=" of the exit lines).
prog_times() {
	tr -d '\r' <"$1" | sed -n 's/^# exit=[0-9]* fs=[^ ]* prog=\([^ ]*\) secs=\([0-9]*\)$/\1 \2/p' |
		awk '{ t[$1] += $2 } END { for (p in t) print t[p], p }' |
		sort -rn | awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1 } END { if (NR) print "" }'
}

# count_reports: count the kernel reports among "LINENO:LINE" lines of the
# console that match KERNEL_REPORT. A "Call Trace" within 60 lines of
# another match belongs to that report (a WARNING, a BUG, ...).
count_reports() {
	awk -F: '
	NF == 0 { next }
	/Call Trace/ { if (last == "" || $1 - last > 60) n++; next }
	{ n++; last = $1 }
	END { print n + 0 }'
}

# report RESULTS CONSOLE: print the summary; the very last line is
# "N passed, N failed". Adds EXTRA_PASS/EXTRA_FAIL (host-side checks, with
# EXTRA_FAILURES describing the failures). Returns 0 only if nothing failed.
report() {
	local results=$1 console=$2 out counts pass fail skip lines reports times
	out=$(parse_results "$results")
	counts=$(tail -n1 <<<"$out")
	read -r _ pass fail skip _ <<<"$counts"
	pass=$((pass + EXTRA_PASS))
	fail=$((fail + EXTRA_FAIL))
	lines=$(tr -d '\r' <"$console" | grep -nE "$KERNEL_REPORT" || true)
	reports=$(count_reports <<<"$lines")
	echo
	echo "==== stablepipe VM test summary (kernel $KVER) ===="
	if [ -n "$lines" ]; then
		echo "---- kernel reports (console: $console) ----"
		# shellcheck disable=SC2001 # per line: ${//} has no ^ for each line
		sed 's/^[0-9]*://' <<<"$lines"
	fi
	fail=$((fail + reports))
	if [ "$fail" -gt 0 ]; then
		echo "---- failures (results: $results) ----"
		sed '$d' <<<"$out"
		[ -n "$EXTRA_FAILURES" ] && printf '%s' "$EXTRA_FAILURES"
		[ "$reports" -gt 0 ] &&
			echo "  $reports kernel report(s), listed above"
	fi
	times=$(prog_times "$results")
	[ -n "$times" ] && echo "seconds per program: $times"
	skip_summary "$results" "$skip"
	echo "kernel reports: $reports"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
