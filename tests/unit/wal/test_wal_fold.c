/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fold of the node's snapshots (control/wal/wal_fold.h): a chain of
 * snapshots, each the previous one plus the log after it, written to disk
 * and loaded back, gives the state of the whole log (counts, leading bid,
 * definition, close, settlement, keys, epoch, HLC), so nothing is counted
 * twice or lost at a snapshot; records replayed over a snapshot that
 * already has them change nothing; keys leave with their window and their
 * counts stay.
 */
#include "wal_model.h"

#include "hlc.h"
#include "wal_fold.h"

#define NO_EXPIRY (UINT64_C(1) << 60)

WAL_TEST_SCRATCH_DIR("fold")

/* An empty state directory: snapshots of an earlier round would be newer. */
static void fresh_dir(void)
{
	remove_tree(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
}

static struct wal_fold *fold_log(const struct wal_record *recs, size_t from, size_t to,
				 struct wal_fold *f)
{
	for (size_t i = from; i < to; i++)
		assert_int_equal(wal_fold_log_record(&recs[i], f), 0);
	return f;
}

/* Writes f as the snapshot of lsn and loads it back into a new fold. */
static struct wal_fold *through_disk(struct wal_fold *f, uint64_t lsn, uint64_t now_ms,
				     uint64_t window_ms, struct wal_snapshot_info *info)
{
	char err[1024] = "";
	if (wal_snapshot_write(dir, lsn, wal_fold_emit, f, info, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	wal_fold_destroy(f);
	struct wal_fold *g = wal_fold_create(1u << 20, now_ms, window_ms);
	assert_non_null(g);
	int dirfd = wal_dir_open(dir, false, err, sizeof(err));
	assert_true(dirfd >= 0);
	uint64_t got, records;
	if (wal_snapshot_load(dirfd, dir, wal_fold_snapshot_record, g, &got, &records, err,
			      sizeof(err)) != 0)
		fail_msg("%s", err);
	close(dirfd);
	assert_true(got == lsn);
	return g;
}

static bool same_auctions(const struct wal_fold *a, const struct wal_fold *b)
{
	struct wal_fold_totals ta, tb;
	wal_fold_totals(a, &ta);
	wal_fold_totals(b, &tb);
	if (ta.auctions != tb.auctions || ta.keys_in_window != tb.keys_in_window ||
	    ta.epoch != tb.epoch || ta.hlc_high != tb.hlc_high)
		return false;
	for (uint64_t id = 1; id <= M_AUCTIONS; id++) {
		struct wal_fold_auction x, y;
		bool hx = wal_fold_auction(a, id, &x), hy = wal_fold_auction(b, id, &y);
		if (hx != hy)
			return false;
		if (!hx)
			continue;
		if (x.defined != y.defined || x.closed != y.closed || x.settled != y.settled ||
		    memcmp(&x.state, &y.state, offsetof(struct wal_auction_state, lead_node) + 2) ||
		    (x.defined && x.def.reserve != y.def.reserve) ||
		    (x.settled && x.settlement.amount != y.settlement.amount))
			return false;
	}
	return true;
}

/* The model's counts (first answer of a key wins) are the fold's. */
static void counts_match_the_model(const struct wal_fold *f, const struct model *m)
{
	for (uint64_t id = 1; id <= M_AUCTIONS; id++) {
		struct wal_fold_auction x = {0};
		wal_fold_auction(f, id, &x);
		assert_true(x.state.bids == m->a[id].bids);
		assert_true(x.state.viewers_up == m->a[id].up);
		assert_true(x.state.viewers_down == m->a[id].down);
		assert_true(x.state.lead_amount == m->a[id].lead);
	}
}

static void a_chain_of_snapshots_gives_the_whole_log(void **state)
{
	(void)state;
	static struct wal_record recs[800];
	static struct model model;
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed);
	for (unsigned long round = 0; round < 60; round++) {
		struct model opened = {0};
		uint64_t hlc = 1;
		size_t n = 200 + prop_below(&r, 600);
		fresh_dir();
		memset(&model, 0, sizeof(model));
		for (size_t i = 0; i < n; i++) {
			recs[i] = m_random(&r, &opened, &hlc);
			m_apply(&model, &recs[i]);
		}
		struct wal_fold *full = fold_log(recs, 0, n, wal_fold_create(64, 0, NO_EXPIRY));
		counts_match_the_model(full, &model);
		/* Snapshots at random LSNs, each from the last one and the log. */
		struct wal_fold *chain = wal_fold_create(64, 0, NO_EXPIRY);
		size_t at = 0;
		while (at < n) {
			size_t next = at + 1 + prop_below(&r, n - at);
			fold_log(recs, at, next, chain);
			chain = through_disk(chain, next, 0, NO_EXPIRY, NULL);
			at = next;
		}
		if (!same_auctions(full, chain)) {
			prop_report("snapshot chain = whole log", seed, round);
			fail();
		}
		counts_match_the_model(chain, &model);
		wal_fold_destroy(full);
		wal_fold_destroy(chain);
	}
}

/* The node may replay records a snapshot already holds (a log read again
 * from an earlier LSN): keyed bids and views are skipped, the rest are
 * registers and maxima. Nothing is counted twice. */
static void replaying_over_a_snapshot_counts_nothing_twice(void **state)
{
	(void)state;
	static struct wal_record recs[600];
	static struct model model;
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed);
	for (unsigned long round = 0; round < 40; round++) {
		struct model opened = {0};
		uint64_t hlc = 1;
		size_t n = 600, k = 100 + prop_below(&r, 400);
		fresh_dir();
		memset(&model, 0, sizeof(model));
		for (size_t i = 0; i < n; i++) {
			recs[i] = m_random(&r, &opened, &hlc);
			m_apply(&model, &recs[i]);
		}
		struct wal_fold *f = fold_log(recs, 0, k, wal_fold_create(64, 0, NO_EXPIRY));
		f = through_disk(f, k, 0, NO_EXPIRY, NULL);
		fold_log(recs, k - 60, n, f); /* 60 records it already has */
		counts_match_the_model(f, &model);
		struct wal_fold *full = fold_log(recs, 0, n, wal_fold_create(64, 0, NO_EXPIRY));
		if (!same_auctions(full, f)) {
			prop_report("replay over a snapshot", seed, round);
			fail();
		}
		wal_fold_destroy(f);
		wal_fold_destroy(full);
	}
}

static struct wal_record view(uint64_t auction, uint64_t viewer, uint64_t request, uint64_t hlc)
{
	return (struct wal_record){
	    .type = WAL_VIEW, .u.view = {auction, viewer, request, hlc, 1, BP_WATCH, BP_ACCEPTED}};
}

/* Keys leave the snapshot with their window (a stampless one at most one
 * snapshot later); the counts they made stay; a key answered anew after
 * its window counts again, as the node counted it. */
static void keys_leave_with_their_window_and_counts_stay(void **state)
{
	(void)state;
	const uint64_t t0 = 1700000000000, w = 10000;
	fresh_dir();
	struct wal_record recs[] = {
	    {.type = WAL_AUCTION_OPEN, .u.open = {1, 10, 1, t0 + 999999, 0, 0}},
	    make_bid(1, 7, 1, 100, hlc_make(t0, 0), BP_ACCEPTED),
	    make_bid(1, 8, 1, 50, 0, BP_TOO_LOW), /* stampless */
	    view(1, 9, 1, hlc_make(t0, 1)),
	    make_bid(1, 7, 2, 200, hlc_make(t0 + 5000, 0), BP_ACCEPTED),
	};
	struct wal_fold *f = fold_log(recs, 0, 5, wal_fold_create(64, t0 + 6000, w));
	struct wal_fold_totals t;
	wal_fold_totals(f, &t);
	assert_true(t.keys == 4 && t.keys_in_window == 4);
	/* 12 s later: the keys of t0 are out, the one of t0+5 s in; the
	 * stampless one counts from the snapshot's time (t0+6 s) on. */
	f = through_disk(f, 5, t0 + 12000, w, NULL);
	wal_fold_totals(f, &t);
	assert_true(t.keys == 4 && t.keys_in_window == 2);
	struct wal_fold_auction a;
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.state.bids == 2 && a.state.viewers_up == 1 && a.state.lead_amount == 200);
	/* 17 s: the stampless key's time stayed t0+6 s through the snapshot
	 * of t0+12 s, so it is out now, with the other of t0+5 s. */
	f = through_disk(f, 6, t0 + 17000, w, NULL);
	wal_fold_totals(f, &t);
	assert_true(t.keys == 2 && t.keys_in_window == 0);
	/* The first bid's key answered anew after its window: counted again;
	 * a retransmission of the latest one inside its window: not. */
	struct wal_record again[] = {
	    make_bid(1, 7, 2, 200, hlc_make(t0 + 6000, 0), BP_ACCEPTED),
	    make_bid(1, 7, 2, 300, hlc_make(t0 + 15000, 0), BP_ACCEPTED),
	};
	fold_log(again, 0, 2, f);
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.state.bids == 3 && a.state.lead_amount == 300);
	wal_fold_destroy(f);
}

static struct wal_record dup_of(uint64_t auction, uint64_t bidder, uint64_t request, uint64_t hlc)
{
	return (struct wal_record){.type = WAL_DUP,
				   .u.dup = {auction, bidder, request, 100, hlc, hlc - 1, 3}};
}

/* A node's duplicates (WAL_DUP, docs/WAL.md "Duplicates across nodes")
 * count once per key, through snapshots (WAL_AUCTION_DUPS), and their
 * records stay in a snapshot while their window lasts (the key table's
 * "counted" after a restart), then leave while the count stays. */
static void dups_count_once_and_stay_through_snapshots(void **state)
{
	(void)state;
	const uint64_t t0 = 1700000000000, w = 10000;
	fresh_dir();
	struct wal_record recs[] = {
	    {.type = WAL_AUCTION_OPEN, .u.open = {1, 10, 1, t0 + 999999, 0, 0}},
	    make_bid(1, 7, 1, 100, hlc_make(t0, 5), BP_ACCEPTED),
	    dup_of(1, 7, 1, hlc_make(t0, 5)),
	    dup_of(1, 7, 1, hlc_make(t0, 5)), /* the same key: once */
	    make_bid(1, 8, 1, 200, hlc_make(t0 + 5000, 0), BP_ACCEPTED),
	    dup_of(1, 8, 1, hlc_make(t0 + 5000, 0)),
	};
	struct wal_fold *f = fold_log(recs, 0, 6, wal_fold_create(64, t0 + 6000, w));
	struct wal_fold_auction a;
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.dups == 2 && a.state.bids == 2);
	struct wal_fold_totals t;
	wal_fold_totals(f, &t);
	assert_true(t.keys == 4 && t.keys_in_window == 4); /* two bids, two dups */
	struct wal_snapshot_info info;
	f = through_disk(f, 6, t0 + 6000, w, &info);
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.dups == 2);
	wal_fold_totals(f, &t);
	assert_true(t.keys == 4 && t.keys_in_window == 4);
	/* At 12 s the keys of t0 are out of the window (a snapshot written
	 * then leaves them out), the count stays. */
	f = through_disk(f, 7, t0 + 12000, w, NULL);
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.dups == 2 && a.state.bids == 2);
	wal_fold_totals(f, &t);
	assert_true(t.keys == 4 && t.keys_in_window == 2);
	f = through_disk(f, 8, t0 + 30000, w, NULL);
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.dups == 2 && a.state.bids == 2);
	wal_fold_totals(f, &t);
	assert_true(t.keys == 2 && t.keys_in_window == 0);
	f = through_disk(f, 9, t0 + 30000, w, NULL);
	assert_true(wal_fold_auction(f, 1, &a));
	assert_true(a.dups == 2);
	wal_fold_totals(f, &t);
	assert_true(t.keys == 0);
	wal_fold_destroy(f);
}

static void more_auctions_than_the_limit_stop_the_fold(void **state)
{
	(void)state;
	struct wal_fold *f = wal_fold_create(2, 0, NO_EXPIRY);
	for (uint64_t id = 1; id <= 2; id++) {
		struct wal_record o = {.type = WAL_AUCTION_OPEN, .u.open = {id, 1, 1, 0, 0, 0}};
		assert_int_equal(wal_fold_log_record(&o, f), 0);
	}
	struct wal_record o = {.type = WAL_AUCTION_OPEN, .u.open = {3, 1, 1, 0, 0, 0}};
	assert_true(wal_fold_log_record(&o, f) != 0);
	assert_non_null(strstr(wal_fold_error(f), "--max-auctions"));
	wal_fold_destroy(f);
}

/* Many auctions and keys: the tables grow; every one comes back. */
static void the_tables_grow(void **state)
{
	(void)state;
	const uint64_t n = 20000;
	fresh_dir();
	struct wal_fold *f = wal_fold_create(n, 0, NO_EXPIRY);
	for (uint64_t id = 1; id <= n; id++) {
		struct wal_record o = {.type = WAL_AUCTION_OPEN, .u.open = {id, 1, 1, 0, 0, 0}};
		struct wal_record b = make_bid(id, id, 1, id, id, BP_ACCEPTED);
		assert_int_equal(wal_fold_log_record(&o, f), 0);
		assert_int_equal(wal_fold_log_record(&b, f), 0);
	}
	struct wal_snapshot_info info;
	f = through_disk(f, 2 * n, 0, NO_EXPIRY, &info);
	assert_true(info.records == 3 * n + 1); /* open, state, key; the HLC mark */
	struct wal_fold_totals t;
	wal_fold_totals(f, &t);
	assert_true(t.auctions == n && t.keys == n);
	for (uint64_t id = 1; id <= n; id += 997) {
		struct wal_fold_auction a;
		assert_true(wal_fold_auction(f, id, &a));
		assert_true(a.defined && a.state.bids == 1 && a.state.lead_amount == id);
	}
	wal_fold_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_chain_of_snapshots_gives_the_whole_log),
	    cmocka_unit_test(replaying_over_a_snapshot_counts_nothing_twice),
	    cmocka_unit_test(keys_leave_with_their_window_and_counts_stay),
	    cmocka_unit_test(dups_count_once_and_stay_through_snapshots),
	    cmocka_unit_test(more_auctions_than_the_limit_stop_the_fold),
	    cmocka_unit_test(the_tables_grow),
	};
	return cmocka_run_group_tests(tests, make_dir, drop_dir);
}
