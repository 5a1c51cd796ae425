/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * leader_read judges leadership on our own clock at the time of the read:
 * a published "elected" whose deadline has passed is no leadership, even
 * though the leader thread has not run since (a stopped process, SIGCONT,
 * a read before the thread's first turn). And the client's endpoint list.
 * No etcd, no thread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "leader.h"

static void publish(struct leader *l, bool elected, uint64_t token, uint64_t deadline_ms)
{
	atomic_store(&l->pub_elected, elected);
	atomic_store(&l->pub_token, token);
	atomic_store(&l->pub_deadline_ms, deadline_ms);
	atomic_store(&l->pub_leader_node_id, 3);
}

static void elected_within_the_deadline_leads(void **state)
{
	(void)state;
	static struct leader l;
	publish(&l, true, 42, leader_clock_ms() + 1500);
	struct leader_view v;
	leader_read(&l, &v);
	assert_true(v.leader);
	assert_int_equal(v.token, 42);
	assert_true(v.lease_left_ms > 1000 && v.lease_left_ms <= 1500);
	assert_int_equal(v.leader_node_id, 3);
}

static void elected_past_the_deadline_does_not(void **state)
{
	(void)state;
	static struct leader l;
	publish(&l, true, 42, leader_clock_ms() - 1);
	struct leader_view v;
	leader_read(&l, &v);
	assert_false(v.leader);
	assert_int_equal(v.token, 0); /* no token unless leader */
	assert_int_equal(v.lease_left_ms, 0);
}

/* Fault injection: with the lease guard off a leader past its deadline
 * still reads as leader, with its token; back on, the deadline rules. */
static void with_the_lease_guard_off_a_deadline_past_still_leads(void **state)
{
	(void)state;
	static struct leader l;
	publish(&l, true, 42, leader_clock_ms() - 1);
	assert_false(leader_lease_guard_off(&l));
	assert_true(leader_set_lease_guard(&l, false)); /* it was on */
	assert_true(leader_lease_guard_off(&l));
	struct leader_view v;
	leader_read(&l, &v);
	assert_true(v.leader);
	assert_int_equal(v.token, 42);
	assert_int_equal(v.lease_left_ms, 0);
	assert_false(leader_set_lease_guard(&l, true)); /* it was off */
	leader_read(&l, &v);
	assert_false(v.leader);
	assert_int_equal(v.token, 0);
	/* Off never makes a follower a leader. */
	publish(&l, false, 0, leader_clock_ms() - 1);
	leader_set_lease_guard(&l, false);
	leader_read(&l, &v);
	assert_false(v.leader);
}

static void a_follower_has_no_token(void **state)
{
	(void)state;
	static struct leader l;
	publish(&l, false, 0, leader_clock_ms() + 1500);
	struct leader_view v;
	leader_read(&l, &v);
	assert_false(v.leader);
	assert_int_equal(v.token, 0);
	assert_true(v.lease_left_ms > 0);
}

static void not_leader_refuses_to_settle_without_asking_etcd(void **state)
{
	(void)state;
	static struct leader l;
	pthread_mutex_init(&l.settle_lock, NULL);
	pthread_mutex_init(&l.key_lock, NULL);
	publish(&l, true, 42, leader_clock_ms() - 1);
	char err[256];
	bool existing = true;
	assert_int_equal(leader_settle_txn(&l, 7, "x", 1, &existing, err, sizeof(err)), 0);
	assert_false(existing);
	assert_string_equal(err, "not the leader");
	assert_int_equal(atomic_load(&l.client.requests) + atomic_load(&l.settle_client.requests),
			 0);
}

/* The settlement record: etcd's value, read back by any node alike. */
static void a_record_round_trips_through_its_json(void **state)
{
	(void)state;
	struct leader_record r = {.amount = 250,
				  .bidder = 9,
				  .hlc = 111411200000000003ull,
				  .node_id = 2,
				  .fencing_token = 15,
				  .settled_at_ms = 1700000060000ull},
			     back;
	char buf[256];
	int n = leader_record_format(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(buf,
			    "{\"amount\":250,\"bidder\":9,\"hlc\":111411200000000003,"
			    "\"node_id\":2,\"fencing_token\":15,\"settled_at_ms\":1700000060000}");
	assert_int_equal(leader_record_parse(buf, (size_t)n, &back), 0);
	assert_true(back.amount == r.amount && back.bidder == r.bidder && back.hlc == r.hlc &&
		    back.node_id == r.node_id && back.fencing_token == r.fencing_token &&
		    back.settled_at_ms == r.settled_at_ms);
	const char *bad[] = {"{}",
			     "[1]",
			     "not json",
			     "{\"amount\":1,\"bidder\":1,\"hlc\":1,\"node_id\":70000,"
			     "\"fencing_token\":1,\"settled_at_ms\":1}",
			     "{\"amount\":1,\"bidder\":1,\"hlc\":1,\"node_id\":1,"
			     "\"fencing_token\":0,\"settled_at_ms\":1}",
			     "{\"amount\":-1,\"bidder\":1,\"hlc\":1,\"node_id\":1,"
			     "\"fencing_token\":1,\"settled_at_ms\":1}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(leader_record_parse(bad[i], strlen(bad[i]), &back), -EINVAL);
	assert_int_equal(leader_record_format(&r, buf, 10), -ENOSPC);
}

static void endpoints_are_split_and_trimmed(void **state)
{
	(void)state;
	struct etcd_client c;
	char err[256];
	assert_int_equal(
	    etcd_client_init(&c, "http://a:1/,http://b:2", 100, 200, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.nurls, 2);
	assert_string_equal(c.urls[0], "http://a:1");
	assert_string_equal(c.urls[1], "http://b:2");
	etcd_client_fini(&c);
	assert_int_equal(etcd_client_init(&c, "", 100, 200, NULL, err, sizeof(err)), -EINVAL);
}

/* Nothing listens: the error names the endpoint, and both are tried. */
static void unreachable_endpoints_fail_with_a_message(void **state)
{
	(void)state;
	struct etcd_client c;
	char err[256];
	assert_int_equal(etcd_global_init(), 0);
	assert_int_equal(etcd_client_init(&c, "http://127.0.0.1:1,http://127.0.0.1:2", 100, 200,
					  NULL, err, sizeof(err)),
			 0);
	int64_t id, ttl;
	assert_int_equal(etcd_lease_grant(&c, 5, &id, &ttl, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "unreachable"));
	assert_int_equal(atomic_load(&c.requests), 2);
	assert_int_equal(atomic_load(&c.failures), 2);
	assert_int_equal(c.current, 0); /* around both, back to the first */
	etcd_client_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(elected_within_the_deadline_leads),
	    cmocka_unit_test(elected_past_the_deadline_does_not),
	    cmocka_unit_test(with_the_lease_guard_off_a_deadline_past_still_leads),
	    cmocka_unit_test(a_follower_has_no_token),
	    cmocka_unit_test(not_leader_refuses_to_settle_without_asking_etcd),
	    cmocka_unit_test(a_record_round_trips_through_its_json),
	    cmocka_unit_test(endpoints_are_split_and_trimmed),
	    cmocka_unit_test(unreachable_endpoints_fail_with_a_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
