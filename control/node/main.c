/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidplane: arguments, preflight, EAL, ports, workers, then the control
 * thread on the main lcore until SIGINT, SIGTERM or SIGHUP; then drain,
 * summary, release. SIGPIPE is ignored: a closed stdout (bidplane | head)
 * costs the output, never the drain. The packet path lives in
 * packet_path.c, the loop in worker.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pdump.h>

#include "log.h"
#include "cluster_key.h"
#include "config.h"
#include "control.h"
#include "fencing.h"
#include "port.h"
#include "preflight.h"
#include "runtime_dir.h"
#include "stats_segment.h"
#include "worker.h"

static struct node node;
static struct runtime_dir runtime;

/* At every exit, rte_exit's too: our own prefix leaves no directory. */
static void remove_runtime_dir(void)
{
	runtime_dir_remove(&runtime);
}

/* Whose runtime directory this is, for bidstat --clean once the node is
 * gone (stats_segment.h): a prefix the user gave (--file-prefix) stays
 * after the exit. Without it the directory is only left for a later
 * bidplane-<pid> rule, so a failure is a warning. */
static void mark_runtime_dir(void)
{
	char path[PATH_MAX], line[STATS_NAME_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", rte_eal_get_runtime_dir(), STATS_RUNTIME_MARKER);
	int len =
	    snprintf(line, sizeof(line), STATS_RUNTIME_MARKER_KEY "%s\n", node.cfg.stats_name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	bool written = fd >= 0 && write(fd, line, (size_t)len) == len;
	int why = errno;
	if (fd >= 0)
		close(fd);
	if (!written)
		fprintf(stderr,
			"bidplane: cannot write %s: %s; bidstat --clean will not know this runtime "
			"directory is the node's\n",
			path, strerror(why));
}

static void *dpdk_zalloc(size_t bytes, size_t align)
{
	return rte_zmalloc_socket("dedup", bytes, (unsigned int)align, (int)rte_socket_id());
}

/* The idempotency table in DPDK memory: hugepages spare its random
 * accesses the TLB misses. */
static const struct dedup_allocator dpdk_allocator = {dpdk_zalloc, rte_free};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
	atomic_store(&node.force_quit, true);
}

/* From the start, so a signal during EAL init or setup also ends in the
 * drain (the control loop sees force_quit at once). No SA_RESTART: a
 * blocking call returns EINTR instead of swallowing the signal. */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void report_stop_signal(void)
{
	if (stop_signal)
		printf("bidplane: SIG%s received: drained\n", sigabbrev_np(stop_signal));
}

/* Splits argv at the first "--": EAL arguments before, ours after. */
static int find_separator(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return -1;
}

static void parse_app_args(int argc, char **argv)
{
	char err[512];
	bp_config_defaults(&node.cfg);
	int rc = bp_config_parse(argc, argv, &node.cfg, err, sizeof(err));
	if (rc == 1)
		exit(EXIT_SUCCESS);
	if (rc == 0)
		rc = bp_config_validate(&node.cfg, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bidplane: %s\n(see bidplane -- --help)\n", err);
		exit(2);
	}
}

/* --check-config reads the key as the start will (type, owner, mode,
 * content), then forgets it. */
static int check_cluster_key(const struct bp_config *cfg, char *err, size_t errlen)
{
	if (cfg->cluster_key_file[0] == '\0')
		return 0;
	struct cluster_key key;
	char why[400];
	int rc = cluster_key_load(cfg->cluster_key_file, &key, why, sizeof(why));
	explicit_bzero(&key, sizeof(key));
	if (rc != 0)
		snprintf(err, errlen, "--cluster-key-file %s", why);
	return rc;
}

/*
 * --check-config and --print-config: everything that can be checked
 * without EAL, then the exit (0, or 2 naming the problem); nothing starts.
 */
static int run_config_actions(int eal_argc, char **eal_argv)
{
	char err[512];
	const struct bp_config *cfg = &node.cfg;
	if (cfg->check_config && (bp_eal_args_check(eal_argc, eal_argv, err, sizeof(err)) != 0 ||
				  bp_config_check_host(cfg, stderr, err, sizeof(err)) != 0 ||
				  check_cluster_key(cfg, err, sizeof(err)) != 0)) {
		fprintf(stderr, "bidplane: %s\n", err);
		return 2;
	}
	if (cfg->print_config)
		bp_config_dump(stdout, cfg);
	if (cfg->check_config)
		fprintf(stderr, "bidplane: configuration OK%s%s\n", cfg->config_file[0] ? ": " : "",
			cfg->config_file);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * One node per --state-dir (fencing.h), judged before EAL starts: another
 * node there is a configuration error (exit 2, which the systemd unit does
 * not restart), said in one plain line naming that node and the fix, not
 * as an EAL exit. The lock stays open for the node's life.
 */
static void lock_state_dir(void)
{
	static int lock = -1;
	char err[1024];
	int rc = fencing_lock(node.cfg.state_dir, &lock, err, sizeof(err));
	if (rc == 0)
		return;
	fprintf(stderr, "bidplane: %s\n", err);
	exit(rc == -EIO || rc == -ENOSPC || rc == -EDQUOT ? EXIT_FAILURE : 2);
}

static void setup_node(void)
{
	char err[512];
	unsigned int lcore;
	const struct bp_config *cfg = &node.cfg;

	node.nworkers = rte_lcore_count() - 1;
	if (node.nworkers == 0)
		rte_exit(EXIT_FAILURE,
			 "no worker lcore: the main lcore runs the control thread and each other "
			 "lcore a worker; pass at least two, e.g. -l 0-1\n");
	if (node.nworkers > BP_MAX_WORKERS || node.nworkers >= HLC_MAX_SOURCES)
		rte_exit(EXIT_FAILURE, "%u workers: at most %d are supported; pass fewer lcores\n",
			 node.nworkers, BP_MAX_WORKERS);

	node.tsc_hz = rte_get_tsc_hz();
	node.start_tsc = rte_rdtsc();
	atomic_store(&node.clock_offset_ms, cfg->clock_offset_ms);
	int rc =
	    hlc_domain_init(&node.hlc, node.nworkers + 1, cfg->max_drift_ms, node_wall_ms, &node);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "HLC init: %s\n", strerror(-rc));
	node.start_ms = node_now_ms(&node);

	/* Each worker's retirement queue full, plus its spare record, and
	 * the control thread's for the peers' leading bids it merges. */
	uint64_t in_flight = (uint64_t)node.nworkers * (worker_retire_capacity(cfg) + 1) +
			     node_merge_retire_capacity(cfg) + 1;
	rc = auction_table_create(&node.auctions, "bp_auctions", cfg->max_auctions,
				  node_auction_readers(&node), in_flight, node_counter_slots(cfg),
				  (int)rte_socket_id());
	if (rc != 0)
		rte_exit(EXIT_FAILURE,
			 "cannot create the auction table (%u auctions): %s; lower --max-auctions "
			 "or give DPDK more memory\n",
			 cfg->max_auctions, strerror(-rc));
	/* The window in TSC ticks: the packet path passes rte_rdtsc() as now. */
	struct dedup_params dp = {.window = (uint64_t)cfg->dedup_seconds * node.tsc_hz,
				  .keys = (uint64_t)cfg->dedup_rate * cfg->dedup_seconds};
	node.dedup = dedup_create_with(&dp, &dpdk_allocator);
	if (!node.dedup)
		rte_exit(EXIT_FAILURE,
			 "cannot allocate the idempotency table (--dedup-rate %u x --dedup-seconds "
			 "%u x %d bytes = %.0f MB): lower them, or give DPDK more memory (-m)\n",
			 cfg->dedup_rate, cfg->dedup_seconds, DEDUP_HEADROOM * DEDUP_ENTRY_BYTES,
			 (double)dp.keys * DEDUP_HEADROOM * DEDUP_ENTRY_BYTES / 1e6);

	if (ports_setup(&node, err, sizeof(err)) != 0)
		rte_exit(EXIT_FAILURE, "%s\n", err);

	unsigned int i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		node.workers[i] = worker_create(&node, i, lcore);
		if (!node.workers[i])
			rte_exit(EXIT_FAILURE, "worker %u on lcore %u: %s\n", i, lcore,
				 strerror(errno));
		i++;
	}
}

static void print_banner(void)
{
	char ip[16];
	uint32_t a = rte_be_to_cpu_32(node.cfg.ip);
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	printf("bidplane %s: node %u on %s:%u, %u worker(s), %u port(s)\n", BP_NODE_VERSION,
	       node.cfg.node_id, ip, node.cfg.udp_port, node.nworkers, node.nports);
	for (unsigned int p = 0; p < node.nports; p++) {
		const uint8_t *m = node.filter[p].mac;
		char name[RTE_ETH_NAME_MAX_LEN] = "?";
		rte_eth_dev_get_name_by_port(node.port_ids[p], name);
		printf("  port %u %s mac %02x:%02x:%02x:%02x:%02x:%02x\n", node.port_ids[p], name,
		       m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char err[1024];
	int sep = find_separator(argc, argv);
	int eal_argc = sep < 0 ? argc : sep;

	if (sep < 0 && argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		bp_config_usage(stdout, argv[0]);
		return EXIT_SUCCESS;
	}
	if (sep < 0 && argc > 1 && strcmp(argv[1], "--version") == 0) {
		bp_config_version(stdout);
		return EXIT_SUCCESS;
	}
	install_signals();
	/* Our options come after "--"; argv[sep] stands in as program name. */
	if (sep >= 0) {
		argv[sep] = argv[0];
		parse_app_args(argc - sep, argv + sep);
	} else {
		parse_app_args(1, argv);
	}
	if (node.cfg.check_config || node.cfg.print_config)
		return run_config_actions(eal_argc, argv);

	static struct bp_eal_args eal;
	/* Before EAL: its own lines take the node's format too. */
	if (log_init((int)node.cfg.log_level) != 0) {
		fprintf(stderr, "bidplane: cannot set up logging: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (bp_preflight(eal_argc, argv, &node.cfg, &eal, err, sizeof(err)) != 0) {
		fprintf(stderr, "bidplane: %s\n", err);
		return EXIT_FAILURE;
	}
	lock_state_dir();
	bp_eal_args_print(stdout, &eal);
	fflush(stdout);
	/* A prefix preflight chose is ours alone: remove its directory at
	 * every exit, a failed rte_eal_init's included (it makes the
	 * directory before it can fail). */
	bool own_prefix = eal.argc > eal_argc;
	const char *prefix = runtime_file_prefix(eal.argc, eal.argv);
	if (own_prefix && prefix) {
		runtime_dir_expect(&runtime, prefix);
		atexit(remove_runtime_dir);
	}
	if (rte_eal_init(eal.argc, eal.argv) < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: %s (see the EAL messages above)\n",
			 rte_strerror(rte_errno));
	if (own_prefix)
		runtime_dir_note(&runtime);
	if (rte_eal_process_type() == RTE_PROC_PRIMARY)
		mark_runtime_dir();
	/* dpdk-dumpcap and dpdk-pdump (secondary processes on our
	 * --file-prefix) ask this to mirror a port's packets (docs/CAPTURE.md).
	 * Without it capture is refused; the node still runs. */
	if (rte_pdump_init() != 0)
		fprintf(stderr, "bidplane: packet capture unavailable: rte_pdump_init: %s\n",
			rte_strerror(rte_errno));
	setup_node();

	/* Ports first: every step that can fail comes before the control
	 * thread bumps the fencing epoch and publishes the stats segment. */
	if (ports_start(&node, err, sizeof(err)) != 0)
		rte_exit(EXIT_FAILURE, "%s\n", err);
	static struct control control;
	if (control_init(&control, &node, err, sizeof(err)) != 0) {
		ports_stop(&node);
		rte_exit(EXIT_FAILURE, "%s\n", err);
	}
	print_banner();

	/* The workers answer NOT_SERVING `recovering` while the log is
	 * replayed (control_start), instead of leaving clients in silence. */
	for (unsigned int i = 0; i < node.nworkers; i++)
		rte_eal_remote_launch(worker_main, node.workers[i], node.workers[i]->lcore);
	if (control_start(&control, err, sizeof(err)) != 0) {
		atomic_store(&node.force_quit, true);
		rte_eal_mp_wait_lcore();
		control_fini(&control);
		ports_stop(&node);
		rte_exit(EXIT_FAILURE, "%s\n", err);
	}
	printf("bidplane: started\n");
	fflush(stdout);
	control_run(&control);

	rte_eal_mp_wait_lcore();
	report_stop_signal();
	control_print_summary(&control, stdout);
	control_fini(&control);
	ports_stop(&node);
	for (unsigned int i = 0; i < node.nworkers; i++)
		worker_destroy(node.workers[i]);
	auction_table_destroy(&node.auctions);
	dedup_destroy(node.dedup);
	rte_pdump_uninit();
	bool hugepage_files = rte_eal_has_hugepages() && rte_eal_process_type() == RTE_PROC_PRIMARY;
	rte_eal_cleanup();
	/* A prefix the user gave has hugepage files (no --huge-unlink, so
	 * secondaries could attach): nobody can use them after the primary. */
	if (hugepage_files && !own_prefix)
		runtime_hugepage_files_remove(prefix);
	printf("bidplane: stopped cleanly\n");
	return EXIT_SUCCESS;
}
