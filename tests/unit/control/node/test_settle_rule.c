/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "ready to settle" rule (control/node/settle_rule.h): the leader
 * settles only once it is past its own grace period and every configured
 * peer's final leading bid is merged; a non-leader never settles; etcd
 * down or a peer missing says which.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "settle_rule.h"

static struct settle_facts ready(void)
{
	return (struct settle_facts){.final_here = true,
				     .peers_all = 0x3,
				     .peers_final = 0x3,
				     .leader = true,
				     .etcd_reachable = true};
}

static void test_ready_when_all_final_and_leader(void **state)
{
	(void)state;
	struct settle_facts f = ready();
	assert_int_equal(settle_rule(&f), SETTLE_READY);
}

static void test_one_peer_missing_waits_for_peer(void **state)
{
	(void)state;
	struct settle_facts f = ready();
	f.peers_final = 0x1;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_PEER);
	f.peers_final = 0x2;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_PEER);
	/* A report from a node that is not configured does not count. */
	f.peers_final = 0x2 | 0x8;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_PEER);
}

static void test_own_grace_period_first(void **state)
{
	(void)state;
	struct settle_facts f = ready();
	f.final_here = false;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_HERE);
}

static void test_non_leader_never_settles(void **state)
{
	(void)state;
	struct settle_facts f = ready();
	f.leader = false;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_LEADER);
}

static void test_etcd_down_waits_for_etcd(void **state)
{
	(void)state;
	struct settle_facts f = ready();
	f.etcd_reachable = false;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_ETCD);
	f.leader = false; /* a leader that stepped down for it: still etcd */
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_ETCD);
	/* A peer missing is said before etcd. */
	f.peers_final = 0;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_PEER);
}

static void test_in_flight_is_not_sent_twice(void **state)
{
	(void)state;
	struct settle_facts f = ready();
	f.in_flight = true;
	assert_int_equal(settle_rule(&f), SETTLE_WAIT_TXN);
}

static void test_settled_is_done(void **state)
{
	(void)state;
	struct settle_facts f = {.settled = true};
	assert_int_equal(settle_rule(&f), SETTLE_DONE);
}

static void test_lone_leader_without_peers(void **state)
{
	(void)state;
	struct settle_facts f = {.final_here = true, .leader = true, .etcd_reachable = true};
	assert_int_equal(settle_rule(&f), SETTLE_READY);
}

/* A peer's FINAL and SETTLEMENT parts across --etcd modes (LEADERSHIP.md
 * "Mixed clusters"): only fenced to fenced is merged; either crossing is
 * refused (and counted by the caller), never adopted. */
static void test_peer_parts_only_between_fenced_nodes(void **state)
{
	(void)state;
	assert_int_equal(settle_peer_rule(true, true), SETTLE_PART_HONOUR);
	assert_int_equal(settle_peer_rule(true, false), SETTLE_PART_REFUSE);
	assert_int_equal(settle_peer_rule(false, true), SETTLE_PART_REFUSE);
	assert_int_equal(settle_peer_rule(false, false), SETTLE_PART_IGNORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ready_when_all_final_and_leader),
	    cmocka_unit_test(test_one_peer_missing_waits_for_peer),
	    cmocka_unit_test(test_own_grace_period_first),
	    cmocka_unit_test(test_non_leader_never_settles),
	    cmocka_unit_test(test_etcd_down_waits_for_etcd),
	    cmocka_unit_test(test_in_flight_is_not_sent_twice),
	    cmocka_unit_test(test_settled_is_done),
	    cmocka_unit_test(test_lone_leader_without_peers),
	    cmocka_unit_test(test_peer_parts_only_between_fenced_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
