/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidgen: sends bidplane v1 requests over a DPDK port at a paced rate,
 * receives the replies and checks every one (tracker.c). Arguments, EAL and
 * port here; what to send in workload.c; output in report.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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

#define TRACK_SLOTS  (1u << 20)
#define ACCEPTED_MAX (1u << 22)
#define RX_BURST     64
#define PCAP_FRAMES  1000

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

static void usage(void)
{
	printf(
	    "usage: bidgen [EAL options] -- [options]\n"
	    "Sends bidplane v1 requests over the first DPDK port and checks every reply.\n"
	    "\n"
	    "Load:\n"
	    "  --rate PPS            requests per second, 0 = as fast as possible (default "
	    "100000)\n"
	    "  --duration S          seconds of sending (default 5), or\n"
	    "  --count N             requests to send (overrides --duration)\n"
	    "  --burst N             frames per TX burst (default 32)\n"
	    "  --flows N             source UDP ports to spread over (default 64)\n"
	    "  --timeout MS          wait for late replies after sending (default 500)\n"
	    "  --window N            closed loop: at most N replies outstanding (default 0:\n"
	    "                        open loop at --rate)\n"
	    "Addresses:\n"
	    "  --dst-ip A.B.C.D      the node (default 198.18.0.2)\n"
	    "  --dst-mac MAC|auto    the node's MAC; auto asks by ARP (default auto)\n"
	    "  --src-ip A.B.C.D      ours (default 198.18.0.1)\n"
	    "  --dst-port N          the node's UDP port (default 7600)\n"
	    "Workload:\n"
	    "  --auctions FIRST-LAST the node's open auctions (default 1-1000)\n"
	    "  --bidders N           distinct bidders (default 10000)\n"
	    "  --zipf S              hot auctions with zipf exponent S, 0 = uniform (default 0)\n"
	    "  --dup-ratio R         exact retransmissions, expect REPLAYED (default 0)\n"
	    "  --conflict-ratio R    reused keys with another amount, expect CONFLICT (default 0)\n"
	    "  --bad-ratio R         malformed variants with known outcomes (default 0)\n"
	    "  --query-ratio R       QUERY requests (default 0)\n"
	    "  --watch-ratio R       WATCH requests (default 0)\n"
	    "  --seed N              workload seed (default: time)\n"
	    "Output:\n"
	    "  --strict              exit 1 on any mismatch or lost reply\n"
	    "  --json FILE           every figure as JSON\n"
	    "  --pcap FILE           the first %d frames sent, as a pcap file\n"
	    "  --echo                count any returned frame as a reply (baseline runs)\n"
	    "  --quiet               no progress lines\n"
	    "\n"
	    "Example (a node on a memif server at /tmp/bp.sock):\n"
	    "  bidgen --no-huge -m 512 -l 0-1 --vdev=net_memif0,role=client,socket=/tmp/bp.sock "
	    "\\\n"
	    "      -- --auctions 1-1000 --rate 200000 --duration 5 --dup-ratio 0.02 --strict\n",
	    PCAP_FRAMES);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno)
		return -1;
	*v = x;
	return 0;
}

static int parse_ratio(const char *s, double *v)
{
	char *end;
	double x = strtod(s, &end);
	if (*end || x < 0 || x > 1)
		return -1;
	*v = x;
	return 0;
}

static int parse_args(int argc, char **argv, struct bidgen *g)
{
	static const struct option opts[] = {
	    {"rate", 1, NULL, 'r'},
	    {"duration", 1, NULL, 'd'},
	    {"count", 1, NULL, 'c'},
	    {"burst", 1, NULL, 'b'},
	    {"flows", 1, NULL, 'f'},
	    {"timeout", 1, NULL, 't'},
	    {"dst-ip", 1, NULL, 'I'},
	    {"dst-mac", 1, NULL, 'M'},
	    {"src-ip", 1, NULL, 'S'},
	    {"dst-port", 1, NULL, 'P'},
	    {"auctions", 1, NULL, 'a'},
	    {"bidders", 1, NULL, 'B'},
	    {"zipf", 1, NULL, 'z'},
	    {"dup-ratio", 1, NULL, '1'},
	    {"conflict-ratio", 1, NULL, '2'},
	    {"bad-ratio", 1, NULL, '3'},
	    {"query-ratio", 1, NULL, '4'},
	    {"watch-ratio", 1, NULL, '5'},
	    {"seed", 1, NULL, 's'},
	    {"strict", 0, NULL, 'x'},
	    {"json", 1, NULL, 'j'},
	    {"pcap", 1, NULL, 'p'},
	    {"echo", 0, NULL, 'e'},
	    {"quiet", 0, NULL, 'q'},
	    {"window", 1, NULL, 'w'},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'r':
			bad = parse_u64(optarg, &g->rate);
			break;
		case 'd':
			bad = parse_u64(optarg, &g->duration_s) || g->duration_s == 0;
			break;
		case 'c':
			bad = parse_u64(optarg, &g->count);
			break;
		case 'b':
			bad = parse_u64(optarg, &v) || v == 0 || v > MAX_BURST;
			g->burst = (unsigned)v;
			break;
		case 'f':
			bad = parse_u64(optarg, &v) || v == 0 || v > 60000;
			g->flows = (unsigned)v;
			break;
		case 't':
			bad = parse_u64(optarg, &g->timeout_ms);
			break;
		case 'I':
			bad = inet_pton(AF_INET, optarg, &g->dst_ip) != 1;
			break;
		case 'S':
			bad = inet_pton(AF_INET, optarg, &g->src_ip) != 1;
			break;
		case 'P':
			bad = parse_u64(optarg, &v) || v == 0 || v > 65535;
			g->dst_port = (uint16_t)v;
			break;
		case 'M':
			g->mac_auto = strcmp(optarg, "auto") == 0;
			bad = !g->mac_auto &&
			      sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &g->dst_mac[0],
				     &g->dst_mac[1], &g->dst_mac[2], &g->dst_mac[3], &g->dst_mac[4],
				     &g->dst_mac[5]) != 6;
			break;
		case 'a': {
			uint64_t a, b;
			bad = sscanf(optarg, "%lu-%lu", &a, &b) != 2 || a == 0 || b < a;
			g->wp.first_auction = a;
			g->wp.last_auction = b;
			break;
		}
		case 'B':
			bad = parse_u64(optarg, &g->wp.bidders) || g->wp.bidders == 0;
			break;
		case 'z':
			g->wp.zipf_s = strtod(optarg, NULL);
			bad = g->wp.zipf_s < 0;
			break;
		case '1':
			bad = parse_ratio(optarg, &g->wp.dup_ratio);
			break;
		case '2':
			bad = parse_ratio(optarg, &g->wp.conflict_ratio);
			break;
		case '3':
			bad = parse_ratio(optarg, &g->wp.bad_ratio);
			break;
		case '4':
			bad = parse_ratio(optarg, &g->wp.query_ratio);
			break;
		case '5':
			bad = parse_ratio(optarg, &g->wp.watch_ratio);
			break;
		case 's':
			bad = parse_u64(optarg, &g->wp.seed);
			break;
		case 'x':
			g->strict = true;
			break;
		case 'j':
			g->json_path = optarg;
			break;
		case 'p':
			g->pcap_path = optarg;
			break;
		case 'e':
			g->echo = true;
			break;
		case 'q':
			g->quiet = true;
			break;
		case 'w':
			bad = parse_u64(optarg, &g->window);
			break;
		case 'h':
			usage();
			exit(0);
		default:
			fprintf(stderr, "bidgen: unknown option %s (see bidgen -- --help)\n",
				argv[optind - 1]);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "bidgen: bad value for %s: '%s' (see bidgen -- --help)\n",
				argv[optind - 2 >= 0 ? optind - 2 : 0], optarg ? optarg : "");
			return -1;
		}
	}
	return 0;
}

static void defaults(struct bidgen *g)
{
	memset(g, 0, sizeof(*g));
	g->rate = 100000;
	g->duration_s = 5;
	g->burst = 32;
	g->flows = 64;
	g->timeout_ms = 500;
	g->dst_port = BP_DEFAULT_UDP_PORT;
	g->mac_auto = true;
	inet_pton(AF_INET, "198.18.0.2", &g->dst_ip);
	inet_pton(AF_INET, "198.18.0.1", &g->src_ip);
	g->wp.first_auction = 1;
	g->wp.last_auction = 1000;
	g->wp.bidders = 10000;
	g->wp.seed = (uint64_t)time(NULL);
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
	defaults(&g);
	int sep = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	if (sep == 0 && argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage();
		return 0;
	}
	if (sep) {
		argv[sep] = argv[0];
		if (parse_args(argc - sep, argv + sep, &g) != 0)
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
	if (tracker_init(&g.tr, TRACK_SLOTS, ACCEPTED_MAX) != 0)
		rte_exit(EXIT_FAILURE, "out of memory for the request tracker\n");
	port_setup(&g);
	g.tsc_hz = rte_get_tsc_hz();
	if (g.pcap_path && pcap_open(&g.pcap, g.pcap_path, PCAP_FRAMES) != 0)
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
