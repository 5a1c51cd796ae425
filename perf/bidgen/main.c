/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidgen: sends bidplane v1 requests over a DPDK port at a paced rate,
 * receives the replies and checks every one (tracker.c). Arguments, EAL and
 * port here; what to send in workload.c; output in report.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "bidgen.h"
#include "netpkt.h"
#include "proto.h"
#include "runtime_dir.h"

#define ACCEPTED_MAX (1u << 22)
#define RX_BURST     64
/* The one hint every option error ends with. */
#define HELP_HINT "(see bidgen -- --help)"

static volatile sig_atomic_t stop;
static struct runtime_dir runtime;

/* At every exit, rte_exit's too: our own prefix leaves no directory. */
static void remove_runtime_dir(void)
{
	runtime_dir_remove(&runtime);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* EAL arguments plus "--file-prefix bidgen-<pid>" when none was given;
 * *own_prefix tells whether we chose it. */
static int eal_init(int argc, char **argv, int *own_prefix)
{
	static char *args[256];
	static char prefix[64];
	int n = 0, have_prefix = 0, no_huge = 0;
	for (int i = 0; i < argc && n < 250; i++) {
		args[n++] = argv[i];
		if (strncmp(argv[i], "--file-prefix", 13) == 0)
			have_prefix = 1;
		if (strcmp(argv[i], "--no-huge") == 0)
			no_huge = 1;
	}
	*own_prefix = !have_prefix;
	if (!have_prefix) {
		snprintf(prefix, sizeof(prefix), "--file-prefix=bidgen-%d", (int)getpid());
		args[n++] = prefix;
		/* Nobody else can use our prefix: leave no hugepage files. */
		if (!no_huge)
			args[n++] = "--huge-unlink";
	}
	fprintf(stderr, "EAL arguments:");
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %s", args[i]);
	fprintf(stderr, "\n");
	return rte_eal_init(n, args);
}

static void port_setup(struct bidgen *g)
{
	if (rte_eth_dev_count_avail() == 0)
		rte_exit(EXIT_FAILURE, "no DPDK port: add e.g. "
				       "--vdev=net_memif0,role=client,socket=/tmp/bidplane.sock\n");
	g->port = 0;
	while (!rte_eth_dev_is_valid_port(g->port))
		g->port++;
	g->pool = rte_pktmbuf_pool_create("bidgen_mbufs", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!g->pool)
		rte_exit(EXIT_FAILURE, "cannot create the mbuf pool: give DPDK more memory "
				       "(-m 512 with --no-huge)\n");
	struct rte_eth_conf conf = {0};
	if (rte_eth_dev_configure(g->port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(g->port, 0, 1024, rte_eth_dev_socket_id(g->port), NULL,
				   g->pool) != 0 ||
	    rte_eth_tx_queue_setup(g->port, 0, 1024, rte_eth_dev_socket_id(g->port), NULL) != 0)
		rte_exit(EXIT_FAILURE, "port %u setup failed\n", g->port);
	if (rte_eth_dev_start(g->port) != 0)
		rte_exit(EXIT_FAILURE,
			 "port %u does not start: for memif, is the server (the node) "
			 "running on the same socket= path?\n",
			 g->port);
	struct rte_ether_addr mac;
	rte_eth_macaddr_get(g->port, &mac);
	memcpy(g->src_mac, mac.addr_bytes, 6);
}

int main(int argc, char **argv)
{
	static struct bidgen g;
	char err[512];
	bidgen_defaults(&g);
	int sep = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	/* --help and --version work without "--" too. */
	if (sep == 0 && argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "--version")))
		return bidgen_parse_args(2, argv, &g, err, sizeof(err)) == 1 ? 0 : 2;
	if (sep) {
		argv[sep] = argv[0];
		int rc = bidgen_parse_args(argc - sep, argv + sep, &g, err, sizeof(err));
		if (rc == 1)
			return 0;
		if (rc != 0) {
			fprintf(stderr, "bidgen: %s " HELP_HINT "\n", err);
			return 2;
		}
	}
	/* Before the run, so that a path it cannot write costs no run. */
	if (bidgen_open_json(&g, err, sizeof(err)) != 0) {
		fprintf(stderr, "bidgen: %s\n", err);
		return 2;
	}
	int own_prefix;
	if (eal_init(sep ? sep : argc, argv, &own_prefix) < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed (see the messages above)\n");
	if (own_prefix) {
		runtime_dir_note(&runtime);
		atexit(remove_runtime_dir);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!g.echo && workload_init(&g.wl, &g.wp) != 0)
		rte_exit(EXIT_FAILURE, "bad workload: ratios must add up to at most 1, "
				       "--auctions FIRST-LAST at most 16M auctions\n");
	if (tracker_init(&g.tr, BIDGEN_TRACK_SLOTS, ACCEPTED_MAX) != 0)
		rte_exit(EXIT_FAILURE, "out of memory for the request tracker\n");
	port_setup(&g);
	g.tsc_hz = rte_get_tsc_hz();
	if (g.pcap_path && pcap_open(&g.pcap, g.pcap_path, BIDGEN_PCAP_FRAMES) != 0)
		rte_exit(EXIT_FAILURE, "cannot write --pcap %s: %s\n", g.pcap_path,
			 strerror(errno));
	if (g.mac_auto && resolve_mac(&g, &stop) != 0)
		rte_exit(EXIT_FAILURE, "no ARP answer from the node: is it running, on this link, "
				       "with --ip matching --dst-ip? (or pass --dst-mac)\n");
	run(&g, &stop);
	int rc = report(&g);
	pcap_close(&g.pcap);
	rte_eth_dev_stop(g.port);
	rte_eth_dev_close(g.port);
	tracker_fini(&g.tr);
	workload_fini(&g.wl);
	rte_eal_cleanup();
	return rc;
}
