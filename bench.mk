# SPDX-License-Identifier: GPL-2.0
#
# make bench           userspace/stablepipe-bench in the QEMU VM (TCG) on XFS,
#                      ext4 and tmpfs, plus a 1 MiB..1 GiB sweep; table, JSON,
#                      CSV and plots in results/KVER/ (selftests/vm/bench.sh)
# make bench-quick     the same, short (8 MiB, 1 repetition)
# make bench-debate    only the three strategies' workloads (256 MiB, 3
#                      repetitions) and diskbuffer against mbuffer and pv
#                      (1 GiB stream), on XFS and ext4 (BENCH_* settings)
# make bench-local     the benchmark here, on a machine with the module
#                      loaded: BENCH_DIR=/some/fs BENCH_ARGS="--size 1G"
#
# Serialize with other users of the VM: flock /tmp/stablepipe-vm.lock make bench
BENCH_DIR ?= .
BENCH_ARGS ?=

bench:
	selftests/vm/bench.sh

bench-quick:
	BENCH_QUICK=1 selftests/vm/bench.sh

bench-debate:
	BENCH_WORKLOADS="debate buffers" selftests/vm/bench.sh

bench-local:
	$(MAKE) -C userspace stablepipe-bench
	userspace/stablepipe-bench --dir $(BENCH_DIR) $(BENCH_ARGS)

.PHONY: bench bench-quick bench-debate bench-local
