/* SPDX-License-Identifier: BSD-3-Clause */
#include "fake_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const struct ctl_auction fake_auction = {
    .id = 42,
    .reserve = 100,
    .increment = 5,
    .close_at_ms = FAKE_CLOSE_AT_MS,
    .phase = 1,
    .leading_amount = 250,
    .leading_bidder = 9,
    .leading_hlc = (1700000000000ull << 16) | 3,
    .bid_count = 4,
    .viewers = 2,
};

const struct ctl_status fake_status = {
    .node_id = 3,
    .version = "0.1.0",
    .hlc = (1700000000456ull << 16) | 1,
    .fencing_epoch = 7,
    .serving = true,
    .workers = 2,
    .uptime_s = 11,
    .auctions_open = 1,
    .auctions_closed = 1,
    .auctions_settled = 0,
    .leader = true, /* a lone node without --etcd: its own leader */
    .fencing_token = 7,
};

static int fails(const struct fake_node *f, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", f->fail_why);
	return f->fail_rc;
}

static int fake_open(void *ctx, uint64_t id, uint64_t reserve, uint64_t increment,
		     uint64_t duration_s, char *err, size_t errlen)
{
	struct fake_node *f = ctx;
	f->opens++;
	f->last_id = id;
	f->open_args[0] = id;
	f->open_args[1] = reserve;
	f->open_args[2] = increment;
	f->open_args[3] = duration_s;
	return f->fail_rc ? fails(f, err, errlen) : 0;
}

static int fake_close(void *ctx, uint64_t id, char *err, size_t errlen)
{
	struct fake_node *f = ctx;
	f->closes++;
	f->last_id = id;
	return f->fail_rc ? fails(f, err, errlen) : 0;
}

static int fake_query(void *ctx, uint64_t id, struct ctl_auction *out, char *err, size_t errlen)
{
	struct fake_node *f = ctx;
	f->queries++;
	f->last_id = id;
	if (f->fail_rc)
		return fails(f, err, errlen);
	if (f->query_fails || id != f->auction.id) {
		snprintf(err, errlen, "no auction %" PRIu64, id);
		return -ENOENT;
	}
	*out = f->auction;
	return 0;
}

static int fake_list(void *ctx, ctl_wants_fn wants, ctl_emit_fn emit, void *arg, char *err,
		     size_t errlen)
{
	struct fake_node *f = ctx;
	f->lists++;
	if (f->fail_rc && !f->list_fails_late)
		return fails(f, err, errlen);
	for (uint64_t i = 0; i < f->list_count; i++) {
		struct ctl_auction a = f->auction;
		/* 7919 is prime: i -> i * 7919 mod n is a permutation */
		a.id += f->list_scrambled ? i * 7919 % f->list_count : i;
		a.phase = i % 2 ? 2 : 1;
		if (!wants(arg, a.id)) /* as the node: describe only what is kept */
			continue;
		f->described++;
		emit(arg, &a);
	}
	return f->fail_rc ? fails(f, err, errlen) : 0;
}

static int fake_status_handler(void *ctx, struct ctl_status *out, char *err, size_t errlen)
{
	struct fake_node *f = ctx;
	f->statuses++;
	if (f->fail_rc)
		return fails(f, err, errlen);
	*out = f->status;
	return 0;
}

static int fake_clock_offset(void *ctx, int64_t ms, int64_t *previous, char *err, size_t errlen)
{
	struct fake_node *f = ctx;
	f->clock_offsets++;
	if (f->fail_rc)
		return fails(f, err, errlen);
	*previous = f->clock_offset_ms;
	f->clock_offset_ms = ms;
	return 0;
}

static int fake_lease_guard(void *ctx, bool on, bool *was_on, char *err, size_t errlen)
{
	struct fake_node *f = ctx;
	f->lease_guards++;
	if (f->fail_rc)
		return fails(f, err, errlen);
	*was_on = !f->lease_guard_off;
	f->lease_guard_off = !on;
	return 0;
}

void fake_node_init(struct fake_node *f, struct ctl_handlers *h)
{
	*f = (struct fake_node){
	    .auction = fake_auction,
	    .status = fake_status,
	    .list_count = 2,
	    .fail_why = "",
	};
	*h = (struct ctl_handlers){
	    .open = fake_open,
	    .close = fake_close,
	    .query = fake_query,
	    .list = fake_list,
	    .status = fake_status_handler,
	    .clock_offset = fake_clock_offset,
	    .lease_guard = fake_lease_guard,
	    .ctx = f,
	};
}
