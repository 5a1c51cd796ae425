/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's packet path without a port: EAL (no hugepages needed), the
 * auction table, idempotency table and one worker, fed prebuilt BID frames
 * in bursts of 32 through worker_process_burst. Prints ns per bid (printed,
 * not asserted); under `valgrind --tool=callgrind` it gives stable
 * instruction counts per function (perf/README.md).
 *   bench_packet_path [EAL options] -- [AUCTIONS [BIDS]]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "config.h"
#include "runtime_dir.h"
#include "packet_path.h"

#define FRAMES 65536

static struct node node;
static uint8_t frames[FRAMES][128];
static uint16_t frame_len[FRAMES];

static void build_frames(uint64_t auctions)
{
	struct pkt_udp_spec s = {.src_ip = inet_addr("198.18.0.1"),
				 .dst_ip = node.cfg.ip,
				 .src_port = 40000,
				 .dst_port = node.cfg.udp_port};
	memcpy(s.dst_mac, node.filter[0].mac, 6);
	uint64_t *next = calloc(auctions, sizeof(uint64_t));
	uint64_t x = 88172645463325252ull;
	for (unsigned int i = 0; i < FRAMES; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t a = x % auctions;
		next[a] += 1 + (x >> 40) % 8;
		struct bp_request r = {.request_id = i + 1,
				       .auction_id = a + 1,
				       .actor_id = 1 + (x >> 20) % 100000,
				       .amount = next[a]};
		uint8_t msg[BP_LEN_MAX];
		size_t n = bp_write_bid(msg, &r);
		s.src_port = (uint16_t)(40000 + i % 64);
		frame_len[i] =
		    (uint16_t)pkt_build_udp(frames[i], sizeof(frames[i]), &s, msg, (uint16_t)n);
	}
	free(next);
}

int main(int argc, char **argv)
{
	static struct runtime_dir runtime;
	int eal = rte_eal_init(argc, argv);
	if (eal < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: pass e.g. --no-huge -m 512 --no-pci\n");
	runtime_dir_note(&runtime);
	argc -= eal;
	argv += eal;
	uint64_t auctions = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000;
	uint64_t bids = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;

	bp_config_defaults(&node.cfg);
	node.cfg.ip = inet_addr("198.18.0.2");
	node.nworkers = 1;
	node.nports = 1;
	node.port_ids[0] = 0;
	memcpy(node.filter[0].mac, (uint8_t[]){2, 0, 0, 0, 0, 2}, 6);
	node.filter[0].ip = node.cfg.ip;
	node.filter[0].udp_port = node.cfg.udp_port;
	atomic_store(&node.not_serving, 0);
	if (hlc_domain_init(&node.hlc, 2, 500, NULL, NULL) != 0 ||
	    auction_table_create(&node.auctions, "bench", (uint32_t)auctions + 8, 2,
				 worker_retire_capacity(&node.cfg) + 1,
				 (int)rte_socket_id()) != 0 ||
	    !(node.dedup = dedup_create(&(struct dedup_params){
		  .window = (uint64_t)node.cfg.dedup_seconds * rte_get_tsc_hz(),
		  .keys = (uint64_t)node.cfg.dedup_rate * node.cfg.dedup_seconds})))
		rte_exit(EXIT_FAILURE, "setup failed\n");
	uint64_t close_at = hlc_wall_realtime(NULL) + 3600 * 1000;
	for (uint64_t a = 1; a <= auctions; a++)
		auction_open(&node.auctions, a, 1, 1, close_at);
	struct rte_mempool *pool = rte_pktmbuf_pool_create(
	    "bench_mbufs", 4096, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	struct worker *w = worker_create(&node, 0, rte_lcore_id());
	if (!pool || !w)
		rte_exit(EXIT_FAILURE, "worker setup failed\n");
	rte_rcu_qsbr_thread_register(node.auctions.qsbr, 0);
	rte_rcu_qsbr_thread_online(node.auctions.qsbr, 0);
	build_frames(auctions);

	uint64_t done = 0, replies = 0, cycles = 0;
	while (done < bids) {
		struct rte_mbuf *pkts[WORKER_BURST], *out[WORKER_BURST];
		if (rte_pktmbuf_alloc_bulk(pool, pkts, WORKER_BURST) != 0)
			rte_exit(EXIT_FAILURE, "mbufs leaked\n");
		for (unsigned int i = 0; i < WORKER_BURST; i++) {
			unsigned int f = (unsigned int)((done + i) % FRAMES);
			memcpy(rte_pktmbuf_mtod(pkts[i], void *), frames[f], frame_len[f]);
			pkts[i]->data_len = pkts[i]->pkt_len = frame_len[f];
		}
		uint64_t t0 = rte_rdtsc();
		uint16_t n = worker_process_burst(w, 0, pkts, WORKER_BURST, out);
		rte_rcu_qsbr_quiescent(node.auctions.qsbr, 0);
		cycles += rte_rdtsc() - t0;
		rte_pktmbuf_free_bulk(out, n);
		replies += n;
		done += WORKER_BURST;
	}
	double ns = (double)cycles * 1e9 / (double)rte_get_tsc_hz() / (double)done;
	printf(
	    "packet path: %lu auctions, %lu bids: %.1f ns/bid (%.0f cycles), %.2f Mpps per core, "
	    "%lu replies\n",
	    (unsigned long)auctions, (unsigned long)done, ns, (double)cycles / (double)done,
	    1e3 / ns, (unsigned long)replies);
	rte_rcu_qsbr_thread_offline(node.auctions.qsbr, 0);
	worker_destroy(w);
	auction_table_destroy(&node.auctions);
	dedup_destroy(node.dedup);
	rte_eal_cleanup();
	runtime_dir_remove(&runtime);
	return 0;
}
