// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench - what stability costs: move one file to a consumer by
 * every method, on the same data, in one run
 *
 *	stablepipe-bench --dir /mnt/xfs --size 64M --reps 5 --json=out.json
 *
 * Methods (each delivers the file's bytes to a consumer thread that reads
 * the output pipe and throws them away, or checksums them with --verify):
 *
 *	rw               read(2) the file into a buffer, write(2) it to the pipe
 *	splice           splice(2) file -> pipe (zero copy, NOT stable)
 *	auto-sendfile    sendfile(2) file -> device, splice(2) device -> pipe
 *	auto-splice-64k  splice(2) file -> pipe P -> device -> pipe, P 64 KiB
 *	auto-splice-1m   ... P 1 MiB
 *	auto-splice-4m   ... P 4 MiB
 *	copy-*           the same with the instance's policy "copy"
 *	tcp-rw           read(2) the file, send(2) it to a TCP socket (loopback)
 *	tcp-sendfile     sendfile(2) file -> socket (by reference, NOT stable)
 *	tcp-auto-splice  splice(2) file -> 1 MiB pipe -> device -> pipe -> socket
 *	tcp-copy-splice  the same with the policy "copy"
 *	pipe-wr          write(2) + read(2) through a plain pipe (no file)
 *	dev-wr           write(2) + read(2) through the device (no file)
 *	memcpy           memcpy(3) of the same volume (no file, no consumer)
 *
 * Sources: "warm" (in the page cache, re-read before every run: stealing
 * takes pages out of it), "cold" (fsync + POSIX_FADV_DONTNEED before every
 * run), "mapped" (warm, and mapped by another process that touched every
 * page: the device must copy), "hot" (read twice, then sent --sends times:
 * the second and later sends are measured, as a file server sends a hot
 * file), and "mem" for the methods that read no file.
 *
 * For every run: wall time, CPU time of the whole process (producer and
 * consumer threads, getrusage(RUSAGE_SELF)), the page-cache residency of
 * the file before and after (mincore(2)), and for the device the
 * instance's counters (/proc/self/fdinfo, or STABLEPIPE_IOC_GET_STATS).
 * Reports the median of the repetitions and their spread (min, max),
 * ratios against "rw" and "splice" of the same size and source, a table
 * of the three strategies (by reference, copy always, steal or copy) for
 * each workload, and one summary line per target (see the man page).
 * Only ratios within one run mean anything.
 *
 * --buffers compares diskbuffer with mbuffer and pv on one stream, with
 * a fast and a slow consumer (buffers.c).
 *
 * --ktap runs every method once on a few MiB with --verify and prints
 * KTAP: that every method moved the right bytes and that the JSON output
 * is well-formed.  It asserts nothing about time.
 */
#include "bench.h"

const char *prog = "stablepipe-bench";
size_t page_size;
struct cfg cfg;

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options]\n"
		"  -d, --dir DIR        where the source file goes (default $STABLEPIPE_TESTDIR or .)\n"
		"  -s, --size LIST      sizes, comma-separated, K/M/G suffixes (default 64M)\n"
		"  -r, --reps N         repetitions of every method (default 3; median, min, max)\n"
		"  -m, --methods LIST   methods (default all; --list-methods)\n"
		"  -S, --sources LIST   warm,cold,mapped,hot,mem (default all)\n"
		"      --sends N        hot: send the file N times, measure 2..N (default 10)\n"
		"      --chunk SIZE     user buffer of read/write (default 128K)\n"
		"      --out-pipe SIZE  the pipe the consumer reads (default 1M)\n"
		"      --capacity SIZE  device capacity (default max(1M, the method's pipe))\n"
		"      --consumer read|splice  read(2) the output pipe, or splice it to /dev/null\n"
		"      --verify         checksum what the consumer gets against the source\n"
		"      --json[=FILE]    JSON to FILE, or instead of the table on stdout\n"
		"      --csv=FILE       CSV, one line per method, source and size\n"
		"      --label NAME     file system name for the output (default from statfs)\n"
		"      --timeout SECS   give up when one run takes longer (default 600; 0: never)\n"
		"      --ktap           quick self-check (4M, 1 rep, --verify): KTAP output\n"
		"      --buffers LIST   instead: diskbuffer,mbuffer,pv,pipe on one stream\n"
		"      --stream SIZE    --buffers: the stream (default 1G)\n"
		"      --slow-rate SIZE --buffers: the slow consumer's bytes/s (default 64M)\n"
		"      --buffer-mem SIZE --buffers: mbuffer -m, pv -B (default 1G)\n"
		"  -q, --quiet          no progress on stderr\n"
		"      --list-methods   the methods and what they do\n"
		"  -h, --help, -V, --version\n", prog);
}

static void parse_list(const char *arg, bool *use, int n,
		       int (*lookup)(const char *), const char *what)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		die("out of memory");
	memset(use, 0, n * sizeof(*use));
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int i;

		if (!strcmp(tok, "all")) {
			for (i = 0; i < n; i++)
				use[i] = true;
			continue;
		}
		i = lookup(tok);
		if (i < 0) {
			/* a prefix: "auto" = auto-*, "copy" = copy-* */
			bool any = false;
			size_t l = strlen(tok);

			for (int k = 0; lookup == method_index && k < NMETHODS; k++)
				if (!strncmp(methods[k].name, tok, l) &&
				    methods[k].name[l] == '-') {
					use[k] = true;
					any = true;
				}
			if (!any)
				die("unknown %s '%s'", what, tok);
			continue;
		}
		use[i] = true;
	}
	free(copy);
}

static size_t size_opt(const char *s, const char *what)
{
	size_t v = parse_size(s);

	if (!v)
		die("%s: bad size '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	enum { O_CHUNK = 256, O_OUTPIPE, O_CAPACITY, O_CONSUMER, O_VERIFY,
	       O_JSON, O_CSV, O_LABEL, O_TIMEOUT, O_KTAP, O_LIST, O_SENDS,
	       O_BUFFERS, O_STREAM, O_SLOW_RATE, O_BUFFER_MEM };
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "methods", required_argument, NULL, 'm' },
		{ "sources", required_argument, NULL, 'S' },
		{ "chunk", required_argument, NULL, O_CHUNK },
		{ "out-pipe", required_argument, NULL, O_OUTPIPE },
		{ "capacity", required_argument, NULL, O_CAPACITY },
		{ "consumer", required_argument, NULL, O_CONSUMER },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "json", optional_argument, NULL, O_JSON },
		{ "csv", required_argument, NULL, O_CSV },
		{ "label", required_argument, NULL, O_LABEL },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "ktap", no_argument, NULL, O_KTAP },
		{ "sends", required_argument, NULL, O_SENDS },
		{ "buffers", required_argument, NULL, O_BUFFERS },
		{ "stream", required_argument, NULL, O_STREAM },
		{ "slow-rate", required_argument, NULL, O_SLOW_RATE },
		{ "buffer-mem", required_argument, NULL, O_BUFFER_MEM },
		{ "quiet", no_argument, NULL, 'q' },
		{ "list-methods", no_argument, NULL, O_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sizes_arg = NULL, *reps_arg = NULL;
	struct sigaction sa;
	char *end;
	int c;

	page_size = sysconf(_SC_PAGESIZE);
	cfg.dir = getenv("STABLEPIPE_TESTDIR");
	if (!cfg.dir || !*cfg.dir)
		cfg.dir = ".";
	cfg.reps = 3;
	cfg.chunk = 128 * KIB;
	cfg.out_pipe = MIB;
	cfg.timeout = 600;
	cfg.sends = 10;
	cfg.stream_size = GIB;
	cfg.slow_rate = 64 * MIB;
	cfg.buffer_mem = GIB;
	for (int i = 0; i < NMETHODS; i++)
		cfg.use_method[i] = true;
	for (int i = 0; i < NSOURCES; i++)
		cfg.use_source[i] = true;

	while ((c = getopt_long(argc, argv, "d:s:r:m:S:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.dir = optarg;
			break;
		case 's':
			sizes_arg = optarg;
			break;
		case 'r':
			reps_arg = optarg;
			break;
		case 'm':
			parse_list(optarg, cfg.use_method, NMETHODS, method_index,
				   "method");
			break;
		case 'S':
			parse_list(optarg, cfg.use_source, NSOURCES, source_index,
				   "source");
			break;
		case O_CHUNK:
			cfg.chunk = size_opt(optarg, "--chunk");
			break;
		case O_OUTPIPE:
			cfg.out_pipe = size_opt(optarg, "--out-pipe");
			break;
		case O_CAPACITY:
			cfg.capacity = size_opt(optarg, "--capacity");
			break;
		case O_CONSUMER:
			if (!strcmp(optarg, "read"))
				cfg.consumer_splice = false;
			else if (!strcmp(optarg, "splice"))
				cfg.consumer_splice = true;
			else
				die("--consumer: read or splice, not '%s'", optarg);
			break;
		case O_VERIFY:
			cfg.verify = true;
			break;
		case O_JSON:
			if (optarg)
				cfg.json_path = optarg;
			else
				cfg.json_stdout = true;
			break;
		case O_CSV:
			cfg.csv_path = optarg;
			break;
		case O_LABEL:
			cfg.label = optarg;
			break;
		case O_TIMEOUT:
			cfg.timeout = strtoul(optarg, &end, 10);
			if (*end || end == optarg)
				die("--timeout: bad number '%s'", optarg);
			break;
		case O_KTAP:
			cfg.ktap = true;
			break;
		case O_SENDS:
			cfg.sends = strtoul(optarg, &end, 10);
			if (*end || end == optarg || cfg.sends < 2 || cfg.sends > 1000)
				die("--sends: 2 to 1000, not '%s'", optarg);
			break;
		case O_BUFFERS:
			cfg.buffers = optarg;
			break;
		case O_STREAM:
			cfg.stream_size = size_opt(optarg, "--stream");
			break;
		case O_SLOW_RATE:
			cfg.slow_rate = size_opt(optarg, "--slow-rate");
			break;
		case O_BUFFER_MEM:
			cfg.buffer_mem = size_opt(optarg, "--buffer-mem");
			break;
		case 'q':
			cfg.quiet = true;
			break;
		case O_LIST:
			for (int i = 0; i < NMETHODS; i++)
				printf("%-16s %s%s\n", methods[i].name, methods[i].path,
				       reads_file(&methods[i]) ? "" : " (source mem)");
			return 0;
		case 'h':
			print_usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", prog, VERSION);
			return 0;
		default:
			print_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		print_usage(stderr);
		return 2;
	}
	if (cfg.ktap) {
		cfg.verify = true;
		cfg.consumer_splice = false;
		if (!sizes_arg)
			sizes_arg = "4M";
		reps_arg = "1";	/* one KTAP result per method and source */
	}
	if (reps_arg) {
		long v = strtol(reps_arg, &end, 10);

		if (*end || end == reps_arg || v < 1 || v > MAX_REPS)
			die("--reps: 1 to %d, not '%s'", MAX_REPS, reps_arg);
		cfg.reps = v;
	}
	if (!sizes_arg)
		sizes_arg = "64M";
	{
		char *copy = strdup(sizes_arg), *save = NULL, *tok;

		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			size_t v = size_opt(tok, "--size");

			if (cfg.nsizes == MAX_SIZES)
				die("--size: at most %d sizes", MAX_SIZES);
			cfg.sizes[cfg.nsizes++] = (v + page_size - 1) / page_size *
						  page_size;
		}
		free(copy);
		if (!cfg.nsizes)
			die("--size: no size");
	}
	if (cfg.chunk < page_size || cfg.chunk > PATTERN_SIZE ||
	    (cfg.chunk & (cfg.chunk - 1)))
		die("--chunk: a power of two from %zu to %zu", page_size,
		    PATTERN_SIZE);
	if (cfg.verify && cfg.consumer_splice)
		die("--verify needs --consumer read (a splice to /dev/null sees no bytes)");

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	pattern_init();
	counters_init();
	detect_env();

	if (cfg.buffers)
		return buffers_main();
	if (cfg.ktap)
		return ktap_main();

	if (!env.have_dev)
		note("%s: the device's methods are skipped", env.dev_why);
	run_matrix();
	aggregate();
	summarize();
	if (cfg.json_stdout)
		print_json(stdout);
	else
		print_table(stdout);
	if (cfg.json_path) {
		FILE *f = fopen(cfg.json_path, "w");

		if (!f)
			die("%s: %s", cfg.json_path, strerror(errno));
		print_json(f);
		if (fclose(f))
			die("%s: %s", cfg.json_path, strerror(errno));
	}
	if (cfg.csv_path) {
		FILE *f = fopen(cfg.csv_path, "w");

		if (!f)
			die("%s: %s", cfg.csv_path, strerror(errno));
		print_csv(f);
		if (fclose(f))
			die("%s: %s", cfg.csv_path, strerror(errno));
	}
	return failures ? 1 : 0;
}
