/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A node for the control socket's tests: its handlers record what they were
 * asked and answer with fixed data, or fail on request.
 */
#ifndef BIDPLANE_TEST_FAKE_NODE_H
#define BIDPLANE_TEST_FAKE_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"

/* close_at_ms of fake_auction: 2023-11-14T22:13:20.123Z */
#define FAKE_CLOSE_AT_MS 1700000000123ull

struct fake_node {
	/* What the node was asked. */
	int opens, closes, queries, lists, statuses;
	uint64_t described; /* auctions the list handler described */
	uint64_t last_id;
	uint64_t open_args[4];
	int clock_offsets;	 /* clock-offset requests */
	int64_t clock_offset_ms; /* the injected offset: set by clock-offset */
	int lease_guards;	 /* lease-guard requests */
	bool lease_guard_off;	 /* set by lease-guard */

	/* How it answers. */
	struct ctl_auction auction; /* the one auction query knows */
	struct ctl_status status;
	uint64_t list_count;  /* list emits this many, ids auction.id + i */
	bool list_scrambled;  /* ... in a scrambled order, not by id */
	int fail_rc;	      /* non-zero: every handler fails so */
	const char *fail_why; /* its reason ("" says none) */
	bool query_fails;     /* query fails even for the known auction */
	bool list_fails_late; /* list emits its auctions, then fails */
};

/* 42: open, reserve 100, increment 5, leading 250 by bidder 9. */
extern const struct ctl_auction fake_auction;
/* node 3, version 0.1.0, epoch 7, serving, 2 workers. */
extern const struct ctl_status fake_status;

/* Resets f to the defaults above and points h at it. */
void fake_node_init(struct fake_node *f, struct ctl_handlers *h);

#endif
