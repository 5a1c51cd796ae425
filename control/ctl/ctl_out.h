/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A response buffer that never overflows. When something does not fit, the
 * buffer ends with "...\n" and takes nothing more, so a reader sees at once
 * that the answer was cut (a long `list`), never a silently short one.
 */
#ifndef BIDPLANE_CTL_OUT_H
#define BIDPLANE_CTL_OUT_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_OUT_TRUNCATED_MARK "...\n"

struct ctl_out {
	char *buf;
	size_t cap; /* bytes of buf, the terminating NUL included */
	size_t len;
	bool truncated;
};

/* Starts an empty response in buf (cap may be 0: then nothing is written). */
void ctl_out_init(struct ctl_out *o, char *buf, size_t cap);

/* Drops what was written, e.g. to answer an error after a partial body. */
void ctl_out_reset(struct ctl_out *o);

void ctl_out_printf(struct ctl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal, quotes included. */
void ctl_out_json_string(struct ctl_out *o, const char *s);

#endif
