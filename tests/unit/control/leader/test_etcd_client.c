/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The etcd client and the settlement txn against a real etcd member, whose
 * URL is in BP_ETCD_URL (tests/integration/test_etcd_client.py starts one).
 * Each test uses its own key prefix, so they do not see one another.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "etcd_client.h"
#include "leader.h"

static const char *url;

static void client(struct etcd_client *c)
{
	char err[512];
	assert_int_equal(etcd_client_init(c, url, 250, 2000, NULL, err, sizeof(err)), 0);
}

static void unique(char *out, size_t cap, const char *what)
{
	static unsigned int n;
	snprintf(out, cap, "/t%d-%u/%s", (int)getpid(), n++, what);
}

static void a_lease_is_granted_kept_alive_and_revoked(void **state)
{
	(void)state;
	struct etcd_client c;
	char err[512];
	client(&c);
	int64_t id = 0, ttl = 0, left = 0;
	assert_int_equal(etcd_lease_grant(&c, 5, &id, &ttl, err, sizeof(err)), 0);
	assert_true(id != 0);
	assert_int_equal(ttl, 5);
	assert_int_equal(etcd_lease_keepalive(&c, id, &left, err, sizeof(err)), 0);
	assert_true(left > 0 && left <= 5);
	assert_int_equal(etcd_lease_revoke(&c, id, err, sizeof(err)), 0);
	assert_int_equal(etcd_lease_keepalive(&c, id, &left, err, sizeof(err)), 0);
	assert_int_equal(left, 0); /* gone: the caller needs a new lease */
	assert_int_equal(etcd_lease_revoke(&c, id, err, sizeof(err)), 0); /* gone is no error */
	assert_true(atomic_load(&c.last_latency_us) > 0);
	etcd_client_fini(&c);
}

/* Waits until the campaign ends (or a bound): its poll result. */
static int campaign_until(struct etcd_client *c, struct etcd_campaign *k, int ms,
			  struct etcd_leader_key *won)
{
	char err[512];
	for (int waited = 0; waited < ms; waited += 50) {
		int rc = etcd_campaign_poll(c, k, 50, won, err, sizeof(err));
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void the_second_candidate_waits_and_gets_a_greater_revision(void **state)
{
	(void)state;
	struct etcd_client a, b;
	char err[512], name[128], value[32];
	client(&a);
	client(&b);
	unique(name, sizeof(name), "leader");
	int64_t la, lb, ttl, rev;
	assert_int_equal(etcd_lease_grant(&a, 10, &la, &ttl, err, sizeof(err)), 0);
	assert_int_equal(etcd_lease_grant(&b, 10, &lb, &ttl, err, sizeof(err)), 0);
	struct etcd_campaign ka, kb;
	struct etcd_leader_key wa, wb;
	assert_int_equal(etcd_campaign_start(&a, &ka, name, la, "1", err, sizeof(err)), 0);
	assert_int_equal(campaign_until(&a, &ka, 5000, &wa), 1);
	assert_int_equal(wa.lease, la);
	assert_true(wa.rev > 0);
	assert_string_equal(wa.name, name);
	assert_int_equal(etcd_campaign_start(&b, &kb, name, lb, "2", err, sizeof(err)), 0);
	assert_int_equal(campaign_until(&b, &kb, 500, &wb), 0); /* waits behind a */
	bool found;
	assert_int_equal(
	    etcd_election_leader(&a, name, value, sizeof(value), &rev, &found, err, sizeof(err)),
	    0);
	assert_true(found);
	assert_string_equal(value, "1");
	assert_int_equal(rev, wa.rev);
	/* a's lease ends: b is elected, with a greater creation revision. */
	assert_int_equal(etcd_lease_revoke(&a, la, err, sizeof(err)), 0);
	assert_int_equal(campaign_until(&b, &kb, 5000, &wb), 1);
	assert_true(wb.rev > wa.rev);
	assert_int_equal(
	    etcd_election_leader(&a, name, value, sizeof(value), &rev, &found, err, sizeof(err)),
	    0);
	assert_string_equal(value, "2");
	assert_int_equal(rev, wb.rev);
	/* A cancelled campaign withdraws: a third candidate that gave up
	 * leaves no key behind once b's lease ends. */
	struct etcd_campaign kc;
	struct etcd_leader_key wc;
	int64_t lc;
	assert_int_equal(etcd_lease_grant(&a, 10, &lc, &ttl, err, sizeof(err)), 0);
	assert_int_equal(etcd_campaign_start(&a, &kc, name, lc, "3", err, sizeof(err)), 0);
	assert_int_equal(campaign_until(&a, &kc, 300, &wc), 0);
	etcd_campaign_cancel(&kc);
	assert_int_equal(etcd_lease_revoke(&b, lb, err, sizeof(err)), 0);
	found = true;
	for (int waited = 0; waited < 3000 && found; waited += 50) {
		assert_int_equal(etcd_election_leader(&a, name, value, sizeof(value), &rev, &found,
						      err, sizeof(err)),
				 0); /* no leader is no error */
		if (found)
			usleep(50000);
	}
	assert_false(found);
	etcd_lease_revoke(&a, lc, err, sizeof(err));
	etcd_client_fini(&a);
	etcd_client_fini(&b);
}

static void the_guarded_put_compares_the_revision_and_absence(void **state)
{
	(void)state;
	struct etcd_client c;
	char err[512], guard[128], key[128], got[64];
	client(&c);
	unique(guard, sizeof(guard), "guard");
	unique(key, sizeof(key), "settled/1");
	struct etcd_campaign k;
	struct etcd_leader_key won;
	int64_t lease, ttl;
	assert_int_equal(etcd_lease_grant(&c, 10, &lease, &ttl, err, sizeof(err)), 0);
	assert_int_equal(etcd_campaign_start(&c, &k, guard, lease, "1", err, sizeof(err)), 0);
	assert_int_equal(campaign_until(&c, &k, 5000, &won), 1);
	struct etcd_guarded g;
	assert_int_equal(
	    etcd_put_if_guarded(&c, won.key, won.rev + 1, key, "r", 1, &g, err, sizeof(err)), 0);
	assert_false(g.succeeded); /* a stale (or future) token */
	assert_false(g.guard_current);
	assert_false(g.key_existed);
	assert_int_equal(
	    etcd_put_if_guarded(&c, won.key, won.rev, key, "rec\0ord", 7, &g, err, sizeof(err)), 0);
	assert_true(g.succeeded);
	assert_int_equal(
	    etcd_put_if_guarded(&c, won.key, won.rev, key, "other", 5, &g, err, sizeof(err)), 0);
	assert_false(g.succeeded); /* settled once */
	assert_true(g.guard_current);
	assert_true(g.key_existed);
	/* Both refused: the same txn says so (no later read to race). */
	assert_int_equal(
	    etcd_put_if_guarded(&c, won.key, won.rev + 1, key, "x", 1, &g, err, sizeof(err)), 0);
	assert_false(g.succeeded);
	assert_false(g.guard_current);
	assert_true(g.key_existed);
	size_t len;
	bool found;
	assert_int_equal(etcd_get(&c, key, got, sizeof(got), &len, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(len, 7);
	assert_memory_equal(got, "rec\0ord", 7);
	etcd_lease_revoke(&c, lease, err, sizeof(err));
	etcd_client_fini(&c);
}

static void logged(enum leader_log_level level, const char *line)
{
	fprintf(stderr, "leader[%d]: %s\n", (int)level, line);
}

static bool wait_leader(struct leader *l, int ms, struct leader_view *v)
{
	for (int waited = 0; waited < ms; waited += 20) {
		leader_read(l, v);
		if (v->leader)
			return true;
		usleep(20000);
	}
	return false;
}

/* Deposes l behind its back: revokes its lease (its election key names
 * it, in hex) through another client. */
static void revoke_its_lease(const struct leader *l, struct etcd_client *other)
{
	char err[512];
	const char *hex = strrchr(l->election_key, '/');
	assert_non_null(hex);
	int64_t lease = (int64_t)strtoull(hex + 1, NULL, 16);
	assert_int_equal(etcd_lease_revoke(other, lease, err, sizeof(err)), 0);
}

/* The zombie: a leader whose election key etcd has dropped (its lease
 * revoked behind its back) still believes it leads, by its clock; its
 * settlement is refused by etcd and counted. */
static void a_deposed_leaders_settlement_is_refused_and_counted(void **state)
{
	(void)state;
	static struct leader l;
	char err[512], cluster[64];
	snprintf(cluster, sizeof(cluster), "z%d", (int)getpid());
	/* A long lease: the thread's next keepalive, which would notice,
	 * is 20 s away. */
	struct leader_options opt = {
	    .etcd = url, .cluster_name = cluster, .lease_ttl_s = 60, .node_id = 9, .log = logged};
	assert_int_equal(leader_start(&l, &opt, err, sizeof(err)), 0);
	struct leader_view v;
	assert_true(wait_leader(&l, 10000, &v));
	assert_true(v.token > 0);
	assert_int_equal(v.leader_node_id, 9);
	bool existing;
	assert_int_equal(leader_settle_txn(&l, 1, "win", 3, &existing, err, sizeof(err)), 1);
	assert_int_equal(leader_settle_txn(&l, 1, "two", 3, &existing, err, sizeof(err)), 0);
	assert_true(existing);
	assert_int_equal(atomic_load(&l.fencing_rejections), 0);

	/* Depose it: revoke its lease from elsewhere (the key names it). */
	struct etcd_client other;
	client(&other);
	revoke_its_lease(&l, &other);
	leader_read(&l, &v);
	assert_true(v.leader); /* by its own clock it still leads */
	assert_int_equal(leader_settle_txn(&l, 2, "zombie", 6, &existing, err, sizeof(err)), 0);
	assert_false(existing);
	assert_non_null(strstr(err, "no longer current"));
	assert_int_equal(atomic_load(&l.fencing_rejections), 1);
	char key[128], got[16];
	size_t len;
	bool found = true;
	snprintf(key, sizeof(key), "/%s/settled/2", cluster);
	assert_int_equal(etcd_get(&other, key, got, sizeof(got), &len, &found, err, sizeof(err)),
			 0);
	assert_false(found); /* nothing written */
	/* Deposed, and the auction settled already: refused for the token
	 * (counted), not taken for "settled already" and adopted. */
	assert_int_equal(leader_settle_txn(&l, 1, "late", 4, &existing, err, sizeof(err)), 0);
	assert_false(existing);
	assert_non_null(strstr(err, "no longer current"));
	assert_int_equal(atomic_load(&l.fencing_rejections), 2);
	leader_stop(&l);
	etcd_client_fini(&other);
}

static enum leader_settle_outcome settle_through_queue(struct leader *l, uint64_t auction,
						       uint64_t amount, struct leader_record *out)
{
	struct leader_settle_job j = {
	    .auction = auction,
	    .rec = {.amount = amount, .bidder = 7, .hlc = 99, .node_id = 2, .settled_at_ms = 5}};
	assert_int_equal(leader_settle_submit(l, &j), 0);
	for (int waited = 0; waited < 10000; waited += 5) {
		if (leader_settle_answer(l, &j)) {
			assert_int_equal(j.auction, auction);
			*out = j.rec;
			return j.outcome;
		}
		usleep(5000);
	}
	fail_msg("no answer from the leader thread");
	return LEADER_ETCD_DOWN;
}

/* Fenced settlement through the leader thread's queue: written with our
 * token; a second one adopts etcd's record; deposed, the job is refused
 * for the token, counted, and the node steps down. */
static void the_queue_settles_adopts_and_steps_down(void **state)
{
	(void)state;
	static struct leader l;
	char err[512], cluster[64];
	snprintf(cluster, sizeof(cluster), "q%d", (int)getpid());
	struct leader_options opt = {
	    .etcd = url, .cluster_name = cluster, .lease_ttl_s = 60, .node_id = 4, .log = logged};
	assert_int_equal(leader_start(&l, &opt, err, sizeof(err)), 0);
	struct leader_view v;
	assert_true(wait_leader(&l, 10000, &v));
	struct leader_record r;
	assert_int_equal(settle_through_queue(&l, 1, 250, &r), LEADER_SETTLED);
	assert_int_equal(r.fencing_token, v.token);
	assert_int_equal(r.amount, 250);
	/* Settled already: etcd's record, not ours. */
	assert_int_equal(settle_through_queue(&l, 1, 999, &r), LEADER_ADOPTED);
	assert_int_equal(r.amount, 250);
	assert_int_equal(r.fencing_token, v.token);
	assert_int_equal(r.bidder, 7);

	struct etcd_client other;
	client(&other);
	revoke_its_lease(&l, &other);
	uint64_t deposed = v.token;
	assert_int_equal(settle_through_queue(&l, 2, 300, &r), LEADER_REFUSED_TOKEN);
	assert_int_equal(atomic_load(&l.fencing_rejections), 1);
	leader_read(&l, &v);
	/* Stepped down at once, not at its deadline (60 s away): it no longer
	 * leads with the refused token. It may already lead again, elected
	 * anew with a new lease: then with a greater token. */
	assert_false(v.leader && v.token == deposed);
	if (v.leader)
		assert_true(v.token > deposed);
	leader_stop(&l);
	etcd_client_fini(&other);
}

/* A node that stops revokes its lease: the next leader need not wait
 * for the TTL. */
static void a_stopping_leader_hands_over_at_once(void **state)
{
	(void)state;
	static struct leader l;
	char err[512], cluster[64], election[96], value[16];
	snprintf(cluster, sizeof(cluster), "s%d", (int)getpid());
	snprintf(election, sizeof(election), "/%s/leader", cluster);
	struct leader_options opt = {
	    .etcd = url, .cluster_name = cluster, .lease_ttl_s = 30, .node_id = 4, .log = logged};
	assert_int_equal(leader_start(&l, &opt, err, sizeof(err)), 0);
	struct leader_view v;
	assert_true(wait_leader(&l, 10000, &v));
	leader_stop(&l);
	struct etcd_client c;
	client(&c);
	int64_t rev;
	bool found = true;
	assert_int_equal(etcd_election_leader(&c, election, value, sizeof(value), &rev, &found, err,
					      sizeof(err)),
			 0);
	assert_false(found);
	etcd_client_fini(&c);
}

/* A listener that never answers: connections wait in its backlog, so a
 * request to it lasts its whole timeout (etcd as slow as it can be). */
static int black_hole(char *url_out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url_out, cap, "http://127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

/* Settlement txns that each last the request timeout (500 ms at TTL 2)
 * never keep the keepalives back: a queue of them leaves the leader
 * leading on its first lease. (Taking 64 in a row, the thread went 32 s
 * without a keepalive and lost its lease.) */
static void slow_settlements_do_not_starve_the_keepalives(void **state)
{
	(void)state;
	static struct leader l;
	char err[512], cluster[64], hole[64];
	snprintf(cluster, sizeof(cluster), "s%d", (int)getpid());
	struct leader_options opt = {
	    .etcd = url, .cluster_name = cluster, .lease_ttl_s = 2, .node_id = 5, .log = logged};
	assert_int_equal(leader_start(&l, &opt, err, sizeof(err)), 0);
	struct leader_view v;
	assert_true(wait_leader(&l, 10000, &v));
	/* The settlement's own client now talks to a server that never
	 * answers (the thread touches it only for jobs: none yet). */
	int fd = black_hole(hole, sizeof(hole));
	pthread_mutex_lock(&l.settle_lock);
	etcd_client_fini(&l.settle_client);
	assert_int_equal(
	    etcd_client_init(&l.settle_client, hole, 250, 500, &l.stop, err, sizeof(err)), 0);
	pthread_mutex_unlock(&l.settle_lock);
	enum { JOBS = 20 };
	for (uint64_t k = 1; k <= JOBS; k++) {
		struct leader_settle_job j = {.auction = k, .rec = {.settled_at_ms = 5}};
		assert_int_equal(leader_settle_submit(&l, &j), 0);
	}
	/* 6 s: three leases' worth, while the txns take 10 s in all. */
	for (int waited = 0; waited < 6000; waited += 50) {
		leader_read(&l, &v);
		if (!v.leader)
			fail_msg("lost the leadership after %d ms of slow settlements", waited);
		usleep(50000);
	}
	assert_int_equal(atomic_load(&l.lease_grants), 1);
	int answered = 0;
	struct leader_settle_job j;
	for (int waited = 0; answered < JOBS && waited < 30000; waited += 20) {
		while (leader_settle_answer(&l, &j)) {
			assert_int_equal(j.outcome, LEADER_ETCD_DOWN);
			answered++;
		}
		usleep(20000);
	}
	assert_int_equal(answered, JOBS);
	leader_stop(&l);
	close(fd);
}

int main(void)
{
	url = getenv("BP_ETCD_URL");
	if (!url) {
		fprintf(stderr, "BP_ETCD_URL is not set: run through test_etcd_client.py\n");
		return 77;
	}
	if (etcd_global_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_lease_is_granted_kept_alive_and_revoked),
	    cmocka_unit_test(the_queue_settles_adopts_and_steps_down),
	    cmocka_unit_test(the_second_candidate_waits_and_gets_a_greater_revision),
	    cmocka_unit_test(the_guarded_put_compares_the_revision_and_absence),
	    cmocka_unit_test(a_deposed_leaders_settlement_is_refused_and_counted),
	    cmocka_unit_test(a_stopping_leader_hands_over_at_once),
	    cmocka_unit_test(slow_settlements_do_not_starve_the_keepalives),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
