# SPDX-License-Identifier: GPL-2.0
#
# make                 module for the running kernel, the userspace tools (in
#                      userspace/) and the selftests (in build/selftests/)
# make KDIR=DIR        module for the kernel build directory DIR
# make check           the whole test suite in a QEMU VM, one kernel;
#                      KERNEL=bookworm|bookworm-backports|trixie-backports|sid
#                      (selftests/vm/kernels.conf: each suite's newest kernel)
# make check-all       make check on every kernel of kernels.conf, one summary
# make check-dkms      make check with the module that DKMS built and
#                      installed (make dkms-test first), not the tree's:
#                      lifecycle, semantics_test and stability_test on XFS
# make check-debug     the reliability lane: the module's tests, stress, fault
#                      injection, on a KASAN/lockdep/kmemleak kernel built
#                      once from linux-source-6.1 (selftests/vm/check-debug.sh)
# make check-signing   Secure Boot: on that kernel, which trusts a test key,
#                      the module DKMS signed with the key loads, unsigned
#                      or wrongly signed ones do not (Documentation/
#                      secure-boot.rst)
# make deadline-test   make test's deadline stops a hung VM and still sums up
# make demo            the demonstration, in a QEMU VM (its log and programs
#                      in build/demo/)
# make test            every gate and every test, as CI runs them, two at a
#                      time, under a deadline: lint, dkms-test, check-dkms,
#                      deb-test, check on each kernel, check-debug,
#                      check-signing, deadline-test (scripts/test-all.sh)
# make clean           the module's objects, the tools in userspace/, and
#                      build/ (VM runs and logs, the demo's and the tests'
#                      programs, packages)
#
KDIR ?= /lib/modules/$(shell uname -r)/build
CC ?= cc

all: module userspace selftests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

selftests:
	$(MAKE) -C selftests

check:
	selftests/vm/check.sh

check-all:
	selftests/vm/check.sh --all

# TESTS and FS from the environment or the command line replace these.
check-dkms:
	TESTS="$(or $(TESTS),semantics_test stability_test)" \
	FS="$(or $(FS),xfs)" selftests/vm/check.sh --dkms

check-debug:
	selftests/vm/check-debug.sh

check-signing:
	selftests/vm/check.sh --signing

test:
	scripts/test-all.sh

deadline-test:
	scripts/deadline-test.sh

demo:
	@selftests/vm/check.sh --demo

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C userspace clean
	rm -rf build

.PHONY: all module userspace selftests check check-all check-dkms check-debug \
	check-signing test deadline-test demo clean
include bench.mk
include packaging.mk
