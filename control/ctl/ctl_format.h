/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * How an answer's body is written, one table per request format ("text" for
 * people, "json" for programs). ctl_execute picks the table from the
 * request's first word, so adding a format is adding a file.
 * docs/CONTROL.md shows both with examples.
 */
#ifndef BIDPLANE_CTL_FORMAT_H
#define BIDPLANE_CTL_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"
#include "ctl_out.h"

struct ctl_format {
	const char *name; /* the request's first word */
	void (*error)(struct ctl_out *o, const char *message);
	void (*opened)(struct ctl_out *o, const struct ctl_auction *a);
	void (*closed)(struct ctl_out *o, const struct ctl_auction *a);
	void (*auction)(struct ctl_out *o, const struct ctl_auction *a);
	void (*list_begin)(struct ctl_out *o);
	/* index counts from 0, in the order the node emits the auctions */
	void (*list_item)(struct ctl_out *o, const struct ctl_auction *a, uint64_t index);
	/* next: the id to list from for the next page; 0: this was the last */
	void (*list_end)(struct ctl_out *o, uint64_t count, uint64_t next);
	void (*status)(struct ctl_out *o, const struct ctl_status *s);
	/* clock-offset's answer: the injected offset now, and before. */
	void (*clock_offset)(struct ctl_out *o, int64_t now_ms, int64_t previous_ms);
	/* lease-guard's answer: whether the guard is on now, and was before. */
	void (*lease_guard)(struct ctl_out *o, bool on, bool was_on);
};

extern const struct ctl_format ctl_format_text;
extern const struct ctl_format ctl_format_json;

/* A peer's address as A.B.C.D:PORT, for both formats. */
struct ctl_address_text {
	char s[24];
};
struct ctl_address_text ctl_peer_address(const struct ctl_peer *p);

#endif
