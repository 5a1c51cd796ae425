/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's HLC as clients see it, through the worker's packet path (EAL,
 * no hugepages, no ports), with a scripted wall clock:
 *  - AUCTION_STATE's node_hlc is never below its leading_hlc, even when
 *    another worker installs a leader while the QUERY is being answered;
 *  - node_hlc covers every stamp the node issued before, by any worker;
 *  - only ACCEPTED bids spend a stamp: TOO_LOW, CLOSED and QUERY do not.
 * The script runs "another worker" from inside the wall clock: the first
 * wall-clock read of the next request places its bid a millisecond later.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "config.h"
#include "runtime_dir.h"
#include "packet_path.h"

#define T0	      UINT64_C(1700000000000)
#define OPEN_AUCTION  1
#define QUIET_AUCTION 2
#define PAST_AUCTION  3

static struct node node;
static struct runtime_dir runtime;
static struct rte_mempool *pool;
static struct worker *me, *rival;

/* The wall clock; when armed, its next read runs the rival's bid first. */
static struct script {
	uint64_t ms;
	bool armed;
	bool running;
	uint64_t rival_amount;
	struct bid_outcome rival_out;
} script = {.ms = T0};

static uint64_t scripted_wall(void *arg)
{
	struct script *s = arg;
	if (s->armed && !s->running) {
		s->armed = false;
		s->running = true;
		s->ms++; /* the rival's bid is a millisecond later ... */
		auction_place_bid(auction_lookup(&node.auctions, OPEN_AUCTION), &rival->bids, 77,
				  s->rival_amount, &s->rival_out);
		s->ms--; /* ... than the time this read returns */
		s->running = false;
	}
	return s->ms;
}

static struct rte_mbuf *frame_of(const uint8_t *msg, size_t n)
{
	struct pkt_udp_spec spec = {.src_ip = inet_addr("198.18.0.1"),
				    .dst_ip = node.cfg.ip,
				    .src_port = 40000,
				    .dst_port = node.cfg.udp_port};
	memcpy(spec.dst_mac, node.filter[0].mac, 6);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	size_t len = pkt_build_udp(rte_pktmbuf_mtod(m, uint8_t *), 256, &spec, msg, (uint16_t)n);
	assert_true(len > 0);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	return m;
}

/* Sends one request through `me` and returns the reply's UDP payload. */
static const uint8_t *ask(const uint8_t *msg, size_t n, struct rte_mbuf **reply)
{
	struct rte_mbuf *in = frame_of(msg, n);
	uint16_t got = worker_process_burst(me, 0, &in, 1, reply);
	assert_int_equal(got, 1);
	return rte_pktmbuf_mtod(*reply, const uint8_t *) + 14 + 20 + 8; /* Ethernet, IPv4, UDP */
}

static struct bp_auction_state query(uint64_t auction)
{
	static uint64_t rid = 1000;
	struct bp_request r = {.request_id = ++rid, .auction_id = auction};
	uint8_t msg[BP_LEN_MAX];
	size_t n = bp_write_query(msg, &r);
	struct rte_mbuf *reply;
	const uint8_t *p = ask(msg, n, &reply);
	struct bp_auction_state st;
	assert_int_equal(bp_parse_auction_state(p, BP_LEN_AUCTION_STATE, &st), 0);
	rte_pktmbuf_free(reply);
	return st;
}

static struct bp_bid_reply bid(uint64_t auction, uint64_t bidder, uint64_t amount)
{
	static uint64_t rid = 1;
	struct bp_request r = {
	    .request_id = ++rid, .auction_id = auction, .actor_id = bidder, .amount = amount};
	uint8_t msg[BP_LEN_MAX];
	size_t n = bp_write_bid(msg, &r);
	struct rte_mbuf *reply;
	const uint8_t *p = ask(msg, n, &reply);
	struct bp_bid_reply br;
	assert_int_equal(bp_parse_bid_reply(p, BP_LEN_BID_REPLY, &br), 0);
	rte_pktmbuf_free(reply);
	return br;
}

static uint64_t issued_by(const struct worker *w)
{
	struct hlc_counters k = {0};
	hlc_counters_add(&w->clock, &k);
	return k.issued;
}

/* 5a: the old order stamped node_hlc, then read the leader, so a leader
 * installed in between showed leading_hlc > node_hlc. */
static void node_hlc_is_not_below_a_leader_installed_meanwhile(void **state)
{
	(void)state;
	assert_int_equal(bid(OPEN_AUCTION, 5, 100).status, BP_ACCEPTED);
	script.rival_amount = 200;
	script.armed = true;
	struct bp_auction_state st = query(OPEN_AUCTION);
	assert_false(script.armed); /* the rival did bid during the QUERY */
	assert_int_equal(script.rival_out.status, BP_ACCEPTED);
	assert_int_equal(st.status, BP_ACCEPTED);
	assert_true(st.leading_hlc != 0);
	assert_true(st.node_hlc >= st.leading_hlc);
	/* Without interference too. */
	st = query(OPEN_AUCTION);
	assert_int_equal(st.leading_amount, 200);
	assert_true(st.node_hlc >= st.leading_hlc);
}

/* node_hlc covers what another worker stamped before, even ahead of the
 * wall clock (G7); the old node_hlc was a fresh stamp of this worker only. */
static void node_hlc_covers_every_earlier_stamp_of_the_node(void **state)
{
	(void)state;
	hlc_t last = 0;
	for (unsigned int i = 0; i < (1u << HLC_LOGICAL_BITS) + 3; i++)
		last = hlc_now(&rival->clock);
	assert_true(hlc_ms(last) > script.ms); /* ran ahead by a carry */
	struct bp_auction_state st = query(QUIET_AUCTION);
	assert_int_equal(st.leading_hlc, 0);
	assert_true(st.node_hlc >= last);
	assert_true(query(424242).node_hlc >= last); /* unknown auction */
}

/* Stamp only what needs a stamp. */
static void only_accepted_bids_spend_a_stamp(void **state)
{
	(void)state;
	uint64_t before = issued_by(me);
	struct bp_bid_reply won = bid(OPEN_AUCTION, 6, 1000);
	assert_int_equal(won.status, BP_ACCEPTED);
	assert_true(won.hlc != 0);
	assert_int_equal(issued_by(me), before + 1);

	struct bp_bid_reply low = bid(OPEN_AUCTION, 7, 1000);
	assert_int_equal(low.status, BP_TOO_LOW);
	assert_int_equal(low.hlc, 0);
	struct bp_bid_reply late = bid(PAST_AUCTION, 7, 1000);
	assert_int_equal(late.status, BP_CLOSED);
	assert_int_equal(late.hlc, 0);
	struct bp_bid_reply nowhere = bid(424242, 7, 1000);
	assert_int_equal(nowhere.status, BP_UNKNOWN_AUCTION);
	assert_int_equal(nowhere.hlc, 0);
	struct bp_auction_state st = query(OPEN_AUCTION);
	assert_true(st.node_hlc >= won.hlc);
	assert_int_equal(issued_by(me), before + 1);

	struct bp_bid_reply next = bid(OPEN_AUCTION, 8, 1001);
	assert_int_equal(next.status, BP_ACCEPTED);
	assert_true(next.hlc > won.hlc);
	assert_int_equal(issued_by(me), before + 2);
}

static int setup(void **state)
{
	(void)state;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=bp-ut-node-hlc-%d", getpid());
	char *argv[] = {"test_node_hlc",
			"--no-huge",
			"-m",
			"256",
			"-l",
			"0",
			"--no-pci",
			prefix,
			"--log-level=lib.*:warning",
			NULL};
	if (rte_eal_init(9, argv) < 0)
		return -1;
	runtime_dir_note(&runtime);
	bp_config_defaults(&node.cfg);
	node.cfg.ip = inet_addr("198.18.0.2");
	node.nworkers = 2;
	node.nports = 1;
	memcpy(node.filter[0].mac, (uint8_t[]){2, 0, 0, 0, 0, 2}, 6);
	node.filter[0].ip = node.cfg.ip;
	node.filter[0].udp_port = node.cfg.udp_port;
	atomic_store(&node.not_serving, 0);
	node.cfg.overload_backlog = 0;
	node.cfg.stall_budget_ms = 1; /* small retirement queues */
	node.cfg.dedup_rate = 1000;   /* and a small idempotency table */
	if (hlc_domain_init(&node.hlc, 3, 500, scripted_wall, &script) != 0 ||
	    auction_table_create(&node.auctions, "ut_node_hlc", 64, 3,
				 2 * (worker_retire_capacity(&node.cfg) + 1), 0,
				 (int)rte_socket_id()) != 0 ||
	    !(node.dedup = dedup_create(&(struct dedup_params){
		  .window = (uint64_t)node.cfg.dedup_seconds * rte_get_tsc_hz(),
		  .keys = (uint64_t)node.cfg.dedup_rate * node.cfg.dedup_seconds})))
		return -1;
	if (auction_open(&node.auctions, OPEN_AUCTION, 1, 1, T0 + 3600 * 1000) != 0 ||
	    auction_open(&node.auctions, QUIET_AUCTION, 1, 1, T0 + 3600 * 1000) != 0 ||
	    auction_open(&node.auctions, PAST_AUCTION, 1, 1, T0 - 1) != 0)
		return -1;
	pool = rte_pktmbuf_pool_create("ut_node_hlc_mbufs", 512, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	me = worker_create(&node, 0, rte_lcore_id());
	rival = worker_create(&node, 1, rte_lcore_id());
	if (!pool || !me || !rival)
		return -1;
	/* No log to recover: the state is ready (worker_main would acquire it). */
	me->state_ready = rival->state_ready = true;
	/* Both "workers" run on this thread. */
	for (unsigned int i = 0; i < 2; i++) {
		rte_rcu_qsbr_thread_register(node.auctions.qsbr, i);
		rte_rcu_qsbr_thread_online(node.auctions.qsbr, i);
	}
	return 0;
}

static uint64_t realtime_ms(void)
{
	return hlc_wall_realtime(NULL);
}

/* The burst's wall clock (from the TSC) stays within 1 ms of
 * CLOCK_REALTIME over many recalibrations and never goes back. */
static void burst_wall_clock_is_within_1ms_and_monotonic(void **state)
{
	(void)state;
	uint64_t prev = 0, end = realtime_ms() + 30 * WALL_CACHE_REFRESH_MS;
	unsigned long n = 0;
	for (uint64_t before = realtime_ms(); before < end; before = realtime_ms(), n++) {
		wall_cache_begin();
		uint64_t got = wall_cache_ms;
		uint64_t after = realtime_ms();
		wall_cache_end();
		if (got + 1 < before || got > after + 1 || got < prev)
			fail_msg("burst %lu: %" PRIu64 " ms, CLOCK_REALTIME %" PRIu64 "-%" PRIu64
				 ", previous %" PRIu64,
				 n, got, before, after, prev);
		prev = got;
		assert_int_equal(wall_cache_ms, 0);
	}
	assert_true(n > 30);
}

/* node_wall_ms, the node's HLC wall clock, keeps --clock-offset-ms inside
 * a burst and out of it, and its stamps stay within 1 ms of the wall clock. */
static void node_wall_clock_keeps_the_offset_and_stamps_follow_it(void **state)
{
	(void)state;
	atomic_store(&node.clock_offset_ms, -1500);
	wall_cache_begin();
	assert_int_equal(node_wall_ms(&node), wall_cache_ms - 1500);
	wall_cache_end();
	uint64_t before = realtime_ms() - 1500, got = node_wall_ms(&node);
	assert_true(got >= before && got <= realtime_ms() - 1500);

	struct hlc_domain d;
	struct hlc_clock c;
	assert_int_equal(hlc_domain_init(&d, 1, 500, node_wall_ms, &node), 0);
	assert_int_equal(hlc_clock_init(&c, &d, 0), 0);
	for (unsigned int i = 0; i < 20000; i++) {
		before = realtime_ms() - 1500;
		wall_cache_begin();
		hlc_t stamp = hlc_now(&c);
		wall_cache_end();
		uint64_t after = realtime_ms() - 1500;
		if (hlc_ms(stamp) + 1 < before || hlc_ms(stamp) > after + 1)
			fail_msg("stamp %" PRIu64 " ms, wall %" PRIu64 "-%" PRIu64, hlc_ms(stamp),
				 before, after);
	}
	atomic_store(&node.clock_offset_ms, 0);
}

/* bidctl clock-offset on a running node (fault injection): a jump forward
 * beyond the durable ceiling meets the limit (the worker answers
 * NOT_SERVING hlc_ceiling) until a ceiling above the new clock is
 * published; a jump back never makes stamps go back (the HLC keeps its
 * maximum); a peer sees the jumped stamps beyond its drift guard. */
static void clock_offset_jumps_meet_the_ceiling_and_never_move_stamps_back(void **state)
{
	(void)state;
	const int64_t jump = 10000;
	const uint64_t lease = 1500; /* max drift 500 + HLC_CEILING_MARGIN_MS */
	struct hlc_domain d, peer;
	struct hlc_clock c, peer_clock;
	atomic_store(&node.clock_offset_ms, 0);
	assert_int_equal(hlc_domain_init(&d, 1, 500, node_wall_ms, &node), 0);
	assert_int_equal(hlc_clock_init(&c, &d, 0), 0);
	assert_int_equal(hlc_domain_init(&peer, 1, 500, hlc_wall_realtime, NULL), 0);
	assert_int_equal(hlc_clock_init(&peer_clock, &peer, 0), 0);
	hlc_domain_set_limit(&d, hlc_make(realtime_ms() + lease, 0));
	hlc_t before = hlc_now(&c);
	assert_true(hlc_within_limit(&c, before));

	atomic_store(&node.clock_offset_ms, jump);
	hlc_t jumped = hlc_candidate_after(&c, before);
	assert_true(hlc_ms(jumped) >= hlc_ms(before) + (uint64_t)jump - 1);
	assert_false(hlc_within_limit(&c, jumped)); /* beyond the ceiling: refused */
	hlc_domain_set_limit(&d, hlc_make(hlc_ms(hlc_domain_read(&d)) + lease, 0)); /* renewed */
	assert_true(hlc_within_limit(&c, jumped));
	hlc_issue(&c, jumped);
	assert_int_equal(hlc_observe(&peer_clock, jumped), -ERANGE); /* the peer's drift guard */
	assert_true(hlc_read(&peer_clock) < jumped);

	atomic_store(&node.clock_offset_ms, -jump); /* 20 s back from the jumped clock */
	hlc_t prev = jumped;
	for (unsigned int i = 0; i < 1000; i++) {
		hlc_t t = hlc_now(&c);
		if (t <= prev)
			fail_msg("stamp %" PRIu64 " after %" PRIu64 ": went back", t, prev);
		prev = t;
	}
	assert_true(hlc_ms(prev) >= hlc_ms(jumped)); /* the maximum kept */
	assert_true(hlc_domain_read(&d) >= prev);
	atomic_store(&node.clock_offset_ms, 0);
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < 2; i++)
		rte_rcu_qsbr_thread_offline(node.auctions.qsbr, i);
	worker_destroy(rival);
	worker_destroy(me);
	auction_table_destroy(&node.auctions);
	dedup_destroy(node.dedup);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	runtime_dir_remove(&runtime);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(node_hlc_is_not_below_a_leader_installed_meanwhile),
	    cmocka_unit_test(node_hlc_covers_every_earlier_stamp_of_the_node),
	    cmocka_unit_test(only_accepted_bids_spend_a_stamp),
	    cmocka_unit_test(burst_wall_clock_is_within_1ms_and_monotonic),
	    cmocka_unit_test(node_wall_clock_keeps_the_offset_and_stamps_follow_it),
	    cmocka_unit_test(clock_offset_jumps_meet_the_ceiling_and_never_move_stamps_back),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
