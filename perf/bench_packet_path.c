/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's packet path without a port: EAL (no hugepages needed), the
 * auction table, idempotency table and one worker, fed BID and QUERY frames
 * in bursts of 32 through worker_process_burst. Every burst holds requests
 * of one outcome only, and every new request has a key never used before,
 * so each outcome is timed by itself (printed, not asserted):
 *   accepted  new BID, amount above the auction's leading bid
 *   too_low   new BID, amount below the leading bid
 *   replayed  an exact retransmission of an answered BID (idempotency hit)
 *   query     QUERY of an auction
 * Before the timed kinds, one untimed BID per auction makes every auction
 * have a leading bid (amount 2) and gives the replays their keys.
 * The outcome of every reply is read from the reply and the count printed:
 * a kind with more than 1 in 1000 replies of another outcome fails the run
 * (exit 1).
 *
 *   bench_packet_path [EAL options] -- [AUCTIONS [COUNT [KIND]]]
 * AUCTIONS (default 10000) open auctions, COUNT (default 200000) requests of
 * each kind, KIND one of accepted, too_low, replayed, query or all (default).
 * Instructions per request: run one kind under callgrind, counting only the
 * packet path (perf/README.md):
 *   valgrind --tool=callgrind --toggle-collect=worker_process_burst \
 *     build-valgrind/perf/bench_packet_path --no-huge -m 1024 --no-pci -l 0 \
 *     -- 10000 200000 accepted
 * and divide the Ir total by COUNT. Single-threaded (the main lcore only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "config.h"
#include "packet_path.h"
#include "runtime_dir.h"

enum kind { KIND_ACCEPTED, KIND_TOO_LOW, KIND_REPLAYED, KIND_QUERY, KINDS };
static const char *const kind_names[KINDS] = {"accepted", "too_low", "replayed", "query"};

/* The warm-up bid of every auction: ids below it are never used again. */
#define WARMUP_AMOUNT 2
#define FIRST_NEW_ID  (1ull << 40)

static struct node node;
static struct rte_mempool *pool;
static struct worker *worker;
static uint64_t auctions;
static uint64_t *next_amount; /* per auction: the next accepted amount */
static uint64_t next_id = FIRST_NEW_ID;
static uint64_t rng = 88172645463325252ull;

static uint64_t xorshift(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

/* The source port of a request: replays must repeat it exactly. */
static uint16_t src_port_of(uint64_t request_id)
{
	return (uint16_t)(40000 + request_id % 64);
}

static void write_frame(struct rte_mbuf *m, const struct bp_request *r, bool query)
{
	struct pkt_udp_spec s = {.src_ip = inet_addr("198.18.0.1"),
				 .dst_ip = node.cfg.ip,
				 .src_port = src_port_of(r->request_id),
				 .dst_port = node.cfg.udp_port};
	memcpy(s.dst_mac, node.filter[0].mac, 6);
	uint8_t msg[BP_LEN_MAX];
	size_t n = query ? bp_write_query(msg, r) : bp_write_bid(msg, r);
	size_t len = pkt_build_udp(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), &s, msg,
				   (uint16_t)n);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
}

/* The warm-up bid of auction a (1-based), rebuilt identically for replays. */
static struct bp_request warmup_bid(uint64_t a)
{
	return (struct bp_request){
	    .request_id = a, .auction_id = a, .actor_id = 1 + a % 100000, .amount = WARMUP_AMOUNT};
}

static void build_request(enum kind k, struct rte_mbuf *m)
{
	uint64_t a = 1 + xorshift() % auctions;
	struct bp_request r = {
	    .request_id = next_id, .auction_id = a, .actor_id = 1 + (rng >> 20) % 100000};
	switch (k) {
	case KIND_ACCEPTED:
		r.amount = next_amount[a - 1]++;
		next_id++;
		break;
	case KIND_TOO_LOW:
		r.amount = 1; /* below every leading bid (WARMUP_AMOUNT or more) */
		next_id++;
		break;
	case KIND_REPLAYED:
		r = warmup_bid(a);
		break;
	case KIND_QUERY:
	default:
		next_id++;
		break;
	}
	write_frame(m, &r, k == KIND_QUERY);
}

/* Whether reply m is the outcome kind k is for: read from the reply itself,
 * so that builds without the worker's counters check it too. */
static bool has_outcome(enum kind k, const struct rte_mbuf *m)
{
	const size_t off = PKT_ETH_LEN + PKT_IPV4_LEN + PKT_UDP_LEN;
	const uint8_t *p = rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
	size_t len = m->data_len > off ? m->data_len - off : 0;
	if (k == KIND_QUERY) {
		struct bp_auction_state st;
		return bp_parse_auction_state(p, len, &st) == 0 && st.status == BP_ACCEPTED &&
		       st.phase == BP_PHASE_OPEN;
	}
	struct bp_bid_reply r;
	if (bp_parse_bid_reply(p, len, &r) != 0)
		return false;
	bool replayed = r.flags & BP_FLAG_REPLAYED;
	if (k == KIND_REPLAYED)
		return replayed && r.status == BP_ACCEPTED;
	return !replayed && r.status == (k == KIND_ACCEPTED ? BP_ACCEPTED : BP_TOO_LOW);
}

struct result {
	uint64_t requests, replies, cycles, expected_outcomes;
};

/* Sends `count` requests of kind k (the warm-up bids when build_warmup)
 * through the packet path, timing worker_process_burst and the quiescent
 * report after it; frames are built outside the timed part. */
static struct result run_kind(enum kind k, uint64_t count, bool build_warmup)
{
	struct result res = {0};
	uint64_t warm = 1;
	while (res.requests < count) {
		struct rte_mbuf *pkts[WORKER_BURST], *out[WORKER_BURST];
		uint16_t nb = (uint16_t)(count - res.requests < WORKER_BURST ? count - res.requests
									     : WORKER_BURST);
		if (rte_pktmbuf_alloc_bulk(pool, pkts, nb) != 0)
			rte_exit(EXIT_FAILURE, "mbufs leaked\n");
		for (unsigned int i = 0; i < nb; i++) {
			if (build_warmup) {
				struct bp_request r = warmup_bid(warm++);
				write_frame(pkts[i], &r, false);
			} else {
				build_request(k, pkts[i]);
			}
		}
		uint64_t t0 = rte_rdtsc();
		uint16_t n = worker_process_burst(worker, 0, pkts, nb, out);
		rte_rcu_qsbr_quiescent(node.auctions.qsbr, 0);
		res.cycles += rte_rdtsc() - t0;
		for (uint16_t i = 0; i < n; i++)
			res.expected_outcomes += has_outcome(k, out[i]);
		rte_pktmbuf_free_bulk(out, n);
		res.replies += n;
		res.requests += nb;
	}
	return res;
}

static void *dpdk_alloc(size_t bytes, size_t align)
{
	return rte_zmalloc("bench_dedup", bytes, (unsigned int)align);
}

static int parse_kind(const char *s)
{
	if (strcmp(s, "all") == 0)
		return KINDS;
	for (int k = 0; k < KINDS; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return -1;
}

static uint64_t parse_number(const char *what, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		rte_exit(EXIT_FAILURE, "%s '%s': expected a decimal number %llu..%llu\n", what, s,
			 (unsigned long long)min, (unsigned long long)max);
	return v;
}

static void setup(uint64_t new_keys)
{
	bp_config_defaults(&node.cfg);
	node.cfg.ip = inet_addr("198.18.0.2");
	/* No log here: with the default (sync) a replay would look for the
	 * workers' parked stamps (park_replay_durable) of a log never opened. */
	node.cfg.durability = BP_DURABILITY_OFF;
	node.nworkers = 1;
	node.nports = 1;
	node.port_ids[0] = 0;
	memcpy(node.filter[0].mac, (uint8_t[]){2, 0, 0, 0, 0, 2}, 6);
	node.filter[0].ip = node.cfg.ip;
	node.filter[0].udp_port = node.cfg.udp_port;
	atomic_store(&node.not_serving, 0);
	/* The idempotency table is the node's default one (--dedup-rate x
	 * --dedup-seconds keys), in DPDK memory as in the node, unless the run
	 * brings more new keys (warm-up bids, new ACCEPTED and TOO_LOW bids;
	 * QUERY has none): then twice those, because a bucket overflows
	 * (answering OVERLOADED) before the whole table is full. Answers are
	 * kept for an hour: a replay always hits. */
	uint64_t keys = (uint64_t)node.cfg.dedup_rate * node.cfg.dedup_seconds;
	if (keys < 2 * (auctions + new_keys))
		keys = 2 * (auctions + new_keys);
	if (hlc_domain_init(&node.hlc, 2, 500, node_wall_ms, &node) != 0 ||
	    auction_table_create(&node.auctions, "bench", (uint32_t)auctions + 8, 2,
				 worker_retire_capacity(&node.cfg) + 1, 0,
				 (int)rte_socket_id()) != 0 ||
	    !(node.dedup = dedup_create_with(
		  &(struct dedup_params){.window = 3600 * rte_get_tsc_hz(), .keys = keys},
		  &(struct dedup_allocator){.alloc = dpdk_alloc, .release = rte_free})))
		rte_exit(EXIT_FAILURE,
			 "setup failed: %lu auctions and the idempotency table need more EAL "
			 "memory (hugepages, or e.g. --no-huge -m 2048)\n",
			 (unsigned long)auctions);
	uint64_t close_at = hlc_wall_realtime(NULL) + 3600 * 1000;
	for (uint64_t a = 1; a <= auctions; a++)
		if (auction_open(&node.auctions, a, 1, 1, close_at) != 0)
			rte_exit(EXIT_FAILURE, "auction %lu did not open: more EAL memory (-m)\n",
				 (unsigned long)a);
	pool = rte_pktmbuf_pool_create("bench_mbufs", 4096, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	worker = worker_create(&node, 0, rte_lcore_id());
	node.workers[0] = worker;
	next_amount = malloc(auctions * sizeof(*next_amount));
	if (!pool || !worker || !next_amount)
		rte_exit(EXIT_FAILURE, "worker setup failed\n");
	worker->state_ready = true; /* no log to recover (worker_main would acquire it) */
	for (uint64_t a = 0; a < auctions; a++)
		next_amount[a] = WARMUP_AMOUNT + 1;
	rte_rcu_qsbr_thread_register(node.auctions.qsbr, 0);
	rte_rcu_qsbr_thread_online(node.auctions.qsbr, 0);
}

int main(int argc, char **argv)
{
	static struct runtime_dir runtime;
	int eal = rte_eal_init(argc, argv);
	if (eal < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: pass e.g. --no-huge -m 1024 --no-pci\n");
	runtime_dir_note(&runtime);
	argc -= eal;
	argv += eal;
	auctions = argc > 1 ? parse_number("AUCTIONS", argv[1], 1, 1u << 24) : 10000;
	uint64_t count = argc > 2 ? parse_number("COUNT", argv[2], 1, 1ull << 32) : 200000;
	int only = argc > 3 ? parse_kind(argv[3]) : KINDS;
	if (only < 0)
		rte_exit(EXIT_FAILURE,
			 "KIND '%s': expected accepted, too_low, replayed, query or all\n",
			 argv[3]);
	/* Bids of the kinds accepted and too_low each bring `count` new keys. */
	setup(count * (only == KINDS ? 2 : only == KIND_ACCEPTED || only == KIND_TOO_LOW));

	struct result warm = run_kind(KIND_ACCEPTED, auctions, true);
	int failed = warm.expected_outcomes != auctions;
	if (failed)
		fprintf(stderr, "warm-up: %lu of %lu bids accepted\n",
			(unsigned long)warm.expected_outcomes, (unsigned long)auctions);
	printf("packet path, %lu auctions, %lu requests per kind, bursts of %d of one kind:\n",
	       (unsigned long)auctions, (unsigned long)count, WORKER_BURST);
	printf("%-9s %9s %9s %9s %10s\n", "kind", "ns/req", "cycles", "Mpps/core", "as-expected");
	for (int k = 0; k < KINDS; k++) {
		if (only != KINDS && only != k)
			continue;
		struct result r = run_kind((enum kind)k, count, false);
		double cyc = (double)r.cycles / (double)r.requests;
		double ns = cyc * 1e9 / (double)rte_get_tsc_hz();
		printf("%-9s %9.1f %9.0f %9.2f %5lu/%lu\n", kind_names[k], ns, cyc, 1e3 / ns,
		       (unsigned long)r.expected_outcomes, (unsigned long)r.requests);
		/* A few new keys in a million find their 8-way bucket full and are
		 * answered OVERLOADED (dedup.h); more than 1 in 1000 otherwise
		 * answered means the figure is of another outcome. */
		uint64_t other = r.requests - r.expected_outcomes;
		if (r.replies != r.requests || other > r.requests / 1000) {
			fprintf(stderr,
				"%s: %lu of %lu requests had that outcome, %lu replies: the "
				"measurement is of something else\n",
				kind_names[k], (unsigned long)r.expected_outcomes,
				(unsigned long)r.requests, (unsigned long)r.replies);
			failed = 1;
		}
	}
	rte_rcu_qsbr_thread_offline(node.auctions.qsbr, 0);
	worker_destroy(worker);
	auction_table_destroy(&node.auctions);
	dedup_destroy(node.dedup);
	free(next_amount);
	rte_eal_cleanup();
	runtime_dir_remove(&runtime);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
