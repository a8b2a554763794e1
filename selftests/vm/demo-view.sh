# shellcheck shell=bash
# What `make demo` (check.sh --demo) shows on the terminal (sourced by
# check.sh).  Everything check.sh prints, the module's build included,
# goes to DEMO_LOG (build/demo/demo.log); the terminal, fd 3, gets one
# line per step, with the seconds passed every 10 s so that no wait is
# silent, then the demo's own text (the VM's third serial port: the
# console, with the kernel's boot, goes to console.log), then a summary.

TICKER=
DEMO_LOG=
DEMO_FINISHED=

# demo_begin LOG: from now on stdout and stderr go to LOG, the terminal
# is fd 3 (fd 4 its stderr).
demo_begin() {
	DEMO_LOG=$1
	# appended to by all (boot_once's tee too), so that none overwrites
	: >"$DEMO_LOG"
	exec 3>&1 4>&2 >>"$DEMO_LOG" 2>&1
	trap demo_abort EXIT
	echo "stablepipe demo: the module in a QEMU VM (full log: $(rel "$DEMO_LOG"))" >&3
}

# rel PATH: PATH relative to the tree, for the terminal
rel() { printf '%s\n' "${1#"$REPO"/}"; }

# step_start MSG ... step_end [RESULT]: "==> MSG:", the seconds passed
# every 10 s, then RESULT (default "done") and the time it took.
step_start() {
	STEP_T0=$SECONDS
	say "$1"
	printf '==> %s:' "$1" >&3
	(
		trap 'exit 0' TERM
		n=0
		while :; do
			sleep 10 >/dev/null 2>&1 &
			wait $!
			n=$((n + 10))
			printf ' %ds' $n >&3
		done
	) &
	TICKER=$!
}

step_end() {
	[ -n "$TICKER" ] || return 0
	kill "$TICKER" 2>/dev/null || true
	wait "$TICKER" 2>/dev/null || true
	TICKER=
	printf ' %s (%d s)\n' "${1:-done}" $((SECONDS - STEP_T0)) >&3
}

# demo_show: the VM's text (stdin) on the terminal and in the log.  Its
# first line ends the boot's step (boot_once started it), so that the
# step's line is complete before the demo's text starts.
demo_show() {
	local line
	if IFS= read -r line; then
		step_end "up"
		printf '%s\n' "$line" >>"$DEMO_LOG"
		printf '%s\n' "$line" >&3
		tee -a "$DEMO_LOG" >&3
	else
		step_end "no demo"
	fi
}

# demo_abort: at exit, unless demo_summary ran: what went wrong, and where
# to read more.
demo_abort() {
	local why
	[ -z "$DEMO_FINISHED" ] || return 0
	step_end "stopped"
	why=$(grep -E '^check.sh: (error|warning): ' "$DEMO_LOG" | tail -n1)
	{
		echo "make demo failed${why:+: ${why#check.sh: }}"
		echo "full log: $(rel "$DEMO_LOG")"
	} >&4
}

# demo_value RESULTS KEY: the figure the demo wrote as "# demo: KEY=VALUE"
demo_value() {
	tr -d '\r' <"$1" | sed -n "s/^# demo: $2=//p" | tail -n1
}

# demo_summary RESULTS CONSOLE: report (check.sh's verdict, into the log),
# then on the terminal the demo's figures and the verdict in a few lines.
# Returns report's status: non-zero if diskbuffer's output was wrong, the
# kernel reported a BUG, WARNING or Oops, or any other check failed.
demo_summary() {
	local results=$1 console=$2 out rc=0 v old stolen copied last
	out=$(report "$results" "$console") || rc=$?
	printf '%s\n' "$out"
	DEMO_FINISHED=1
	last=$(tail -n1 <<<"$out")
	{
		echo
		echo "==== what make demo showed (Linux $KVER; hashes: sha256) ===="
		v=$(demo_value "$results" plain_wrong)
		[ -z "$v" ] || printf '%-22s%s\n' "plain pipe, punched:" \
			"$v of $(demo_value "$results" plain_bytes) bytes came out wrong"
		old=$(demo_value "$results" old)
		if [ -n "$old" ] && [ "$old" = "$(demo_value "$results" ref)" ]; then
			printf '%-22s%s\n' "backup, splice_punch:" \
				"$old, as tar's own (no bug this time)"
		elif [ -n "$old" ]; then
			printf '%-22s%s\n' "backup, splice_punch:" \
				"$old, $(demo_value "$results" old_wrong)"
		fi
		v=$(demo_value "$results" new)
		if [ -n "$v" ] && [ "$v" = "$(demo_value "$results" ref)" ]; then
			printf '%-22s%s\n' "backup, diskbuffer:" \
				"$v, as tar's own: intact"
		elif [ -n "$v" ]; then
			printf '%-22s%s\n' "backup, diskbuffer:" \
				"$v: WRONG, $(demo_value "$results" new_wrong)"
		fi
		stolen=$(demo_value "$results" pages_stolen)
		copied=$(demo_value "$results" pages_copied)
		[ -z "$stolen" ] || printf '%-22s%s\n' "diskbuffer's pages:" \
			"$stolen stolen (taken over, no copy), $copied copied"
		printf '%-22s%s\n' "checks:" "$last (kernel reports, build, fsck)"
		if [ "$rc" -ne 0 ]; then
			sed -n '/^---- /,/^seconds per program:\|^skipped: /p' <<<"$out" |
				grep -v '^seconds per program:\|^skipped: '
		fi
		echo "full log: $(rel "$DEMO_LOG")"
		echo "the VM's console (the kernel's messages): $(rel "$console")"
		if [ "$rc" -eq 0 ]; then
			echo "make demo: OK"
		else
			echo "make demo: FAILED"
		fi
	} >&3
	return "$rc"
}
