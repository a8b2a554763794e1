#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: scripts/lint.sh [GATE...]          (`make lint`)
#
# Hygiene gates, KTAP on stdout, findings as "# " diagnostics under the
# failing line; exit 1 if any gate failed.  GATEs (default: all):
#
#   checkpatch  checkpatch.pl --no-tree --strict -f on module/*.[ch] and
#               uapi/linux/*.h (one line per file), and on userspace/bench/
#               (one line) less the kernel-only rules (USER_IGNORES)
#   sparse      make module C=2 W=1 against the linux-headers-amd64 tree:
#               no warning or error in the output
#   uapi        uapi/linux/stablepipe.h compiles alone, twice included, as
#               C (c90, c11) and C++ (c++98, c++17), -Wall -Wextra
#               -pedantic -Werror, and with -Wpadded (no ABI holes)
#   werror      userspace/ and selftests/ build with -Wall -Wextra -Werror
#   i386        the userspace tools build as i386 (gcc -m32, -Werror) and
#               diskbuffer passes its local tests (tests/diskbuffer-local.sh,
#               16 MiB, with the fake device) as i386, and so does
#               libstablesplice (tests/stablesplice-local.sh): the .deb is
#               Architecture: any, and off_t is wider than size_t there
#   version     VERSION, dkms.conf, Kbuild agree; the tools' --version
#               prints VERSION
#   cppcheck    cppcheck --enable=warning,portability on userspace/ and
#               selftests/
#   docutils    Documentation/*.rst: docutils --strict --halt=warning
#   kerneldoc   the kernel's scripts/kernel-doc -Wall -none on module/*.[ch]:
#               any warning fails (an undescribed or misnamed parameter,
#               a missing Return: or short description, text before the
#               @parameters)
#   mandoc      mandoc -T lint -W warning on man/* and userspace/*.1
#   manpage     man/stablepipe.4 describes every stablepipe_stats field,
#               every ioctl with its number, every module parameter
#   shell       shellcheck -x on every shell script: *.sh, and files whose
#               #! line runs sh or bash (.ci/run)
#
# Missing tools are installed with apt-get (as root).  checkpatch.pl,
# spelling.txt and const_structs.checkpatch come from Debian's
# /usr/src/linux-source-6.1.tar.xz (package linux-source-6.1), kernel-doc
# from /usr/src/linux-source-6.12.tar.xz (linux-source-6.12: 6.1's has no
# -Wall), extracted once into $STABLEPIPE_CACHE/kernel-scripts/VERSION/.
# Builds happen in copies under build/lint/, never in the source tree.
set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

ALL="checkpatch sparse uapi werror i386 version cppcheck docutils kerneldoc mandoc manpage shell"
GATES=${*:-$ALL}
WORK=$SP_REPO/build/lint
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$SP_REPO" || exit 1

# ---- tools ----------------------------------------------------------------------
need=(make gcc g++ perl xz-utils cpio)
for g in $GATES; do
	case $g in
	checkpatch) need+=(linux-source-6.1) ;;
	kerneldoc) need+=(linux-source-6.12) ;;
	sparse) need+=(sparse linux-headers-amd64) ;;
	uapi) need+=(linux-libc-dev) ;;
	i386) need+=(gcc-multilib) ;;
	cppcheck) need+=(cppcheck) ;;
	docutils) need+=(python3-docutils) ;;
	mandoc) need+=(mandoc) ;;
	shell) need+=(shellcheck) ;;
	esac
done
ensure_packages "${need[@]}"

# kernel_scripts SERIES FILE...: the kernel's scripts/FILE... from the
# linux-source-SERIES tarball, extracted once and cached by the package's
# version; sets KSCRIPTS to their folder.
kernel_scripts() {
	local series=$1 ver dir tmp f have=1
	shift
	ver=$(dpkg-query -W -f='${Version}' "linux-source-$series" 2>/dev/null)
	dir=$SP_CACHE/kernel-scripts/${ver:-unknown-$series}
	[ -f "$dir/.complete" ] || have=
	for f in "$@"; do
		[ -s "$dir/$f" ] || have=
	done
	if [ -z "$have" ]; then
		say "extracting $* from /usr/src/linux-source-$series.tar.xz"
		mkdir -p "$SP_CACHE/kernel-scripts" || return 1
		tmp=$(mktemp -d "$SP_CACHE/kernel-scripts/tmp.XXXXXX") || return 1
		tar -xJf "/usr/src/linux-source-$series.tar.xz" -C "$tmp" \
			--strip-components=2 \
			"${@/#/linux-source-$series/scripts/}" ||
			{ rm -rf "$tmp"; return 1; }
		for f in "$@"; do
			[ -s "$tmp/$f" ] || { rm -rf "$tmp"; return 1; }
		done
		touch "$tmp/.complete"
		rm -rf "$dir"
		mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"	# lost a race: fine
	fi
	KSCRIPTS=$dir
}

# checkpatch rules that are the kernel's alone: user space has uint64_t and
# PRIu64, no __printf() or __noreturn, volatile for what a signal handler
# shares; user-visible strings are never split (LONG_LINE_STRING)
USER_IGNORES=PREFER_KERNEL_TYPES,CAMELCASE,PREFER_DEFINED_ATTRIBUTE_MACRO,VOLATILE,LONG_LINE_STRING

# count of the gates' test lines, for the plan
n_tests=0
cp_files=(module/*.c module/*.h uapi/linux/*.h)
rst_files=(Documentation/*.rst)
man_files=()
for f in man/* userspace/*.1; do [ -f "$f" ] && man_files+=("$f"); done
for g in $GATES; do
	case $g in
	checkpatch) n_tests=$((n_tests + ${#cp_files[@]} + 1)) ;;
	uapi) n_tests=$((n_tests + 5)) ;;
	werror) n_tests=$((n_tests + 2)) ;;
	i386) n_tests=$((n_tests + 2)) ;;
	version) n_tests=$((n_tests + 2)) ;;
	docutils) n_tests=$((n_tests + ${#rst_files[@]})) ;;
	mandoc) n_tests=$((n_tests + ${#man_files[@]})) ;;
	sparse|cppcheck|kerneldoc|manpage|shell) n_tests=$((n_tests + 1)) ;;
	*) die "unknown gate $g (gates: $ALL)" ;;
	esac
done
ktap_plan $n_tests
say "stablepipe $SP_VERSION lint: $GATES"

# result NAME LOGFILE: ok when LOGFILE is empty, else not ok with it as diag
result() {
	if [ -s "$2" ]; then
		not_ok "$1"
		diag <"$2"
	else
		ok "$1"
	fi
}

# timed GATE: start a gate's clock; the end prints its seconds
T0=0
gate_start() { T0=$(date +%s%N); }
gate_end() { say "$1: $(( ($(date +%s%N) - T0) / 1000000 )) ms"; }

# ---- checkpatch ---------------------------------------------------------------
gate_checkpatch() {
	local f out=$WORK/checkpatch.out
	gate_start
	if ! kernel_scripts 6.1 checkpatch.pl spelling.txt \
		const_structs.checkpatch; then
		for f in "${cp_files[@]}" userspace/bench; do
			not_ok "checkpatch $f # could not extract checkpatch.pl"
		done
		return
	fi
	for f in "${cp_files[@]}"; do
		perl "$KSCRIPTS/checkpatch.pl" --no-tree --strict --show-types \
			--terse --no-summary -f "$f" >"$out" 2>&1
		result "checkpatch $f" "$out"
	done
	# user space: its own types (uint64_t, PRIu64), no __printf()
	perl "$KSCRIPTS/checkpatch.pl" --no-tree --strict --show-types --terse \
		--no-summary --ignore "$USER_IGNORES" -f userspace/bench/*.[ch] \
		>"$out" 2>/dev/null
	result "checkpatch userspace/bench" "$out"
	gate_end checkpatch
}

# ---- sparse -------------------------------------------------------------------
gate_sparse() {
	local kver src=$WORK/sparse out=$WORK/sparse.log rc
	gate_start
	kver=$(headers_kver)
	dkms_source "$src"
	make -C "$src" module C=2 W=1 KDIR="/lib/modules/$kver/build" \
		>"$out" 2>&1
	rc=$?
	grep -E '(warning|error|note):' "$out" >"$WORK/sparse.findings"
	[ $rc -eq 0 ] || echo "make exited $rc" >>"$WORK/sparse.findings"
	result "sparse: make module C=2 W=1 ($kver)" "$WORK/sparse.findings"
	gate_end sparse
}

# ---- uapi header --------------------------------------------------------------
gate_uapi() {
	local tu=$WORK/uapi.c std cc out=$WORK/uapi.out
	gate_start
	cat >"$tu" <<-'EOF'
	#include <linux/stablepipe.h>
	#include <linux/stablepipe.h>
	struct stablepipe_stats sp_st;
	struct stablepipe_fd sp_fd;
	unsigned long sp_cmds[] = { STABLEPIPE_IOC_NEW_FD,
		STABLEPIPE_IOC_GET_STATS, STABLEPIPE_POLICY_COPY };
	EOF
	for std in c90 c11 c++98 c++17; do
		case $std in c++*) cc="g++ -x c++" ;; *) cc="gcc -x c" ;; esac
		$cc -std=$std -Wall -Wextra -pedantic -Werror -I uapi \
			-fsyntax-only "$tu" >"$out" 2>&1 ||
			echo "(compiler failed)" >>"$out"
		result "uapi header alone, $std -Wall -Wextra -pedantic -Werror" "$out"
	done
	gcc -x c -std=c11 -Wall -Wextra -pedantic -Wpadded -Werror -I uapi \
		-fsyntax-only "$tu" >"$out" 2>&1 || echo "(compiler failed)" >>"$out"
	result "uapi header has no padding holes (-Wpadded)" "$out"
	gate_end uapi
}

# copy_tree: userspace/, selftests/ and uapi/ into $WORK/tree, cleaned
copy_tree() {
	[ -d "$WORK/tree" ] && return
	copy_sources "$WORK/tree" uapi userspace selftests VERSION
	make -s -C "$WORK/tree/userspace" clean >/dev/null 2>&1
	make -s -C "$WORK/tree/selftests" clean >/dev/null 2>&1
}

# ---- -Werror builds -----------------------------------------------------------
gate_werror() {
	local d out
	gate_start
	copy_tree
	for d in userspace selftests; do
		out=$WORK/werror-$d.log
		# CFLAGS from the environment: the Makefiles add -Wall -Wextra
		if CFLAGS="-O2 -g -Werror" make -C "$WORK/tree/$d" >"$out" 2>&1; then
			grep -E 'warning:|error:' "$out" >"$out.findings"
		else
			grep -E 'warning:|error:|Error|No rule' "$out" >"$out.findings"
			[ -s "$out.findings" ] || tail -n 20 "$out" >"$out.findings"
		fi
		result "$d builds with -Wall -Wextra -Werror" "$out.findings"
	done
	gate_end werror
}

# ---- i386 -----------------------------------------------------------------------
gate_i386() {
	local dir=$WORK/i386 out=$WORK/i386-build.log cc=$WORK/i386/cc-m32
	gate_start
	copy_sources "$dir" uapi userspace selftests VERSION
	make -s -C "$dir/userspace" clean >/dev/null 2>&1
	# one word for CC: the test scripts run "$CC"
	printf '#!/bin/sh\nexec gcc -m32 "$@"\n' >"$cc" && chmod +x "$cc"
	if CFLAGS="-O2 -g -Werror" make -C "$dir/userspace" CC="$cc" \
		>"$out" 2>&1 &&
		# ELF class 1 (32-bit), machine 3 (i386)
		[ "$(od -An -tx1 -j4 -N1 "$dir/userspace/diskbuffer")" = " 01" ] &&
		[ "$(od -An -tx1 -j18 -N1 "$dir/userspace/diskbuffer")" = " 03" ]; then
		grep -E 'warning:|error:' "$out" >"$out.findings"
	else
		grep -E 'warning:|error:|Error|No rule' "$out" >"$out.findings"
		[ -s "$out.findings" ] || tail -n 20 "$out" >"$out.findings"
	fi
	result "userspace builds as i386 (gcc -m32 -Werror)" "$out.findings"
	out=$WORK/i386-diskbuffer-local.log
	if [ -s "$WORK/i386-build.log.findings" ]; then
		echo "not built" >"$out.findings"
	elif CC=$cc DISKBUFFER_SIZE_MIB=16 "$dir/userspace/tests/diskbuffer-local.sh" \
		"$dir/userspace/diskbuffer" >"$out" 2>&1; then
		: >"$out.findings"
	else
		{ grep -A5 '^not ok' "$out" || tail -n 20 "$out"; } >"$out.findings"
	fi
	result "diskbuffer's local tests pass as i386 ($(grep -c '^ok' "$out" 2>/dev/null || echo 0) ok)" \
		"$out.findings"
	out=$WORK/i386-stablesplice-local.log
	if [ -s "$WORK/i386-build.log.findings" ]; then
		echo "not built" >"$out.findings"
	elif CC=$cc "$dir/userspace/tests/stablesplice-local.sh" >"$out" 2>&1; then
		: >"$out.findings"
	else
		{ grep -B3 -A5 '^not ok' "$out" || tail -n 20 "$out"; } >"$out.findings"
	fi
	result "libstablesplice's local tests pass as i386" "$out.findings"
	gate_end i386
}

# ---- versions -----------------------------------------------------------------
gate_version() {
	local out=$WORK/version.out b v bad=
	gate_start
	make -s -C "$SP_REPO" -f packaging.mk check-version >"$out" 2>&1 &&
		: >"$out"
	result "check-version: VERSION, dkms.conf, Kbuild" "$out"
	# The tools, built by their own Makefile as a user would: --version
	# must print VERSION.
	copy_tree
	: >"$out"
	make -s -C "$WORK/tree/userspace" >/dev/null 2>&1 ||
		echo "userspace does not build" >>"$out"
	for b in $(make -s -C "$WORK/tree/userspace" list-bins 2>/dev/null); do
		v=$("$WORK/tree/userspace/$b" --version 2>&1 | head -n1)
		case " $v " in
		*" $SP_VERSION "*) ;;
		*) echo "$b --version: '$v', not $SP_VERSION" >>"$out"; bad=1 ;;
		esac
	done
	if [ -n "$bad" ]; then
		echo "userspace/Makefile needs: VERSION ?= \$(shell cat ../VERSION)" >>"$out"
		echo "  and: CPPFLAGS += -DVERSION='\"\$(VERSION)\"'" >>"$out"
	fi
	result "the tools' --version prints $SP_VERSION" "$out"
	gate_end version
}

# ---- cppcheck -----------------------------------------------------------------
gate_cppcheck() {
	local out=$WORK/cppcheck.out
	gate_start
	cppcheck --enable=warning,portability --error-exitcode=1 --inline-suppr \
		--std=c11 -q -I uapi -I userspace -I selftests \
		--suppress=missingIncludeSystem -D__linux__ -D__x86_64__ \
		--template='{file}:{line}: {severity}: {message} [{id}]' \
		userspace selftests >"$out" 2>&1 ||
		{ [ -s "$out" ] || echo "cppcheck failed" >"$out"; }
	result "cppcheck userspace selftests" "$out"
	gate_end cppcheck
}

# ---- docutils -----------------------------------------------------------------
gate_docutils() {
	local f out=$WORK/docutils.out
	gate_start
	for f in "${rst_files[@]}"; do
		python3 -m docutils --strict --halt=warning "$f" /dev/null \
			>"$out" 2>&1 || { [ -s "$out" ] || echo "docutils failed" >"$out"; }
		result "docutils $f" "$out"
	done
	gate_end docutils
}

# ---- kernel-doc ---------------------------------------------------------------
gate_kerneldoc() {
	local out=$WORK/kerneldoc.out
	gate_start
	if ! kernel_scripts 6.12 kernel-doc; then
		not_ok "kernel-doc -Wall -none module/*.[ch] # could not extract kernel-doc"
		return
	fi
	# -none exits 0 whatever it finds: any output is a finding.
	perl "$KSCRIPTS/kernel-doc" -Wall -none module/*.c module/*.h \
		>"$out" 2>&1 || echo "kernel-doc exited $?" >>"$out"
	result "kernel-doc -Wall -none module/*.c module/*.h" "$out"
	gate_end kerneldoc
}

# ---- mandoc -------------------------------------------------------------------
gate_mandoc() {
	local f out=$WORK/mandoc.out
	gate_start
	for f in "${man_files[@]}"; do
		mandoc -T lint -W warning "$f" >"$out" 2>&1 ||
			{ [ -s "$out" ] || echo "mandoc failed" >"$out"; }
		result "mandoc -T lint $f" "$out"
		# style hints (not a failure), except the host's man database
		mandoc -T lint -W style "$f" 2>&1 |
			grep -v 'outdated mandoc.db\|referenced manual not found' | diag
	done
	gate_end mandoc
}

# ---- man page against the code -------------------------------------------------
gate_manpage() {
	local out=$WORK/manpage.out man=man/stablepipe.4 f c v prog=$WORK/ioc
	gate_start
	: >"$out"
	sed -n 's/^[[:space:]]*__u64 \([a-z_]*\);.*/\1/p' uapi/linux/stablepipe.h |
	while read -r f; do
		grep -Eq "^\.It Va (.*[ ,])?$f( |\$)" "$man" ||
			echo "$man: stablepipe_stats field $f is not described" >>"$out"
	done
	# every ioctl, with the number the header gives it
	{
		echo '#include <stdio.h>'
		echo '#include <linux/stablepipe.h>'
		echo 'int main(void) {'
		sed -n 's/^#define \(STABLEPIPE_IOC_[A-Z_]*\)[[:space:]]*_IO.*/\1/p' \
			uapi/linux/stablepipe.h |
			sed 's/.*/printf("%s 0x%08lX\\n", "&", (unsigned long)&);/'
		echo 'return 0; }'
	} >"$prog.c"
	if gcc -I uapi -o "$prog" "$prog.c" 2>>"$out"; then
		"$prog" | while read -r c v; do
			grep -Eq "^\.It Dv $c .*No $v\$" "$man" ||
				echo "$man: $c ($v) is not described with its number" >>"$out"
		done
	fi
	sed -n 's/^MODULE_PARM_DESC(\([a-z_]*\),.*/\1/p' module/*.c |
	while read -r f; do
		grep -q "^\.It Cm $f\$" "$man" ||
			echo "$man: module parameter $f is not described" >>"$out"
	done
	result "man/stablepipe.4 matches uapi/linux/stablepipe.h and the parameters" "$out"
	gate_end manpage
}

# ---- shellcheck ---------------------------------------------------------------
# shell_files: every shell script of the tree, one a line: *.sh, and files
# whose #! line runs sh or bash (.ci/run)
shell_files() {
	local f
	{
		git ls-files -c -o --exclude-standard 2>/dev/null ||
			find . -path ./build -prune -o -type f -print | sed 's|^\./||'
	} | while IFS= read -r f; do
		[ -f "$f" ] || continue
		case $f in
		*.sh) echo "$f" ;;
		*) head -n1 "$f" 2>/dev/null |
			grep -Eq '^#!.*[/ ](ba|da)?sh( |$)' && echo "$f" ;;
		esac
	done | LC_ALL=C sort
}

gate_shell() {
	local out=$WORK/shellcheck.out files=()
	gate_start
	mapfile -t files < <(shell_files)
	if [ ${#files[@]} -eq 0 ]; then
		echo "no shell script found" >"$out"
	else
		shellcheck -x -f gcc "${files[@]}" >"$out" 2>&1
	fi
	result "shellcheck on every shell script (${#files[@]})" "$out"
	gate_end shell
}

for g in $GATES; do
	"gate_$g"
done
ktap_end
