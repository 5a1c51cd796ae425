/* SPDX-License-Identifier: BSD-3-Clause */
#include "hlc_ceiling.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "durable_file.h"
#include "hlc.h"

static uint64_t ms_to_hlc(uint64_t ms)
{
	return hlc_make(ms > HLC_MAX_MS ? HLC_MAX_MS : ms, 0);
}

int hlc_ceiling_load(struct hlc_ceiling *c, const char *state_dir, uint64_t max_drift_ms,
		     uint64_t *previous, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (strlen(state_dir) >= sizeof(c->dir)) {
		snprintf(err, errlen, "--state-dir is too long (%zu bytes)", strlen(state_dir));
		return -ENAMETOOLONG;
	}
	memcpy(c->dir, state_dir, strlen(state_dir) + 1);
	c->max_drift_ms = max_drift_ms;
	c->lease_ms = max_drift_ms + HLC_CEILING_MARGIN_MS;
	int rc = durable_u64_read(state_dir, HLC_CEILING_FILE, previous);
	if (rc == -ENOENT) {
		*previous = 0;
		return 0;
	}
	if (rc == -EBADMSG)
		snprintf(err, errlen,
			 "%s/%s does not hold an HLC stamp; restore it, or remove it only if "
			 "this node's clock is known to be past every stamp it ever issued",
			 state_dir, HLC_CEILING_FILE);
	else if (rc != 0)
		snprintf(err, errlen, "cannot read %s/%s: %s", state_dir, HLC_CEILING_FILE,
			 strerror(-rc));
	return rc;
}

int hlc_ceiling_renew(struct hlc_ceiling *c, uint64_t now_hlc)
{
	/* Renewed while half the margin above the drift bound is left, so that
	 * hlc_ceiling_covers holds throughout (whatever the drift bound). */
	uint64_t have = atomic_load_explicit(&c->published, memory_order_relaxed);
	uint64_t renew_at = ms_to_hlc(c->max_drift_ms + HLC_CEILING_MARGIN_MS / 2);
	if (have > now_hlc && have - now_hlc > renew_at)
		return 0;
	uint64_t want = ms_to_hlc(hlc_ms(now_hlc) + c->lease_ms);
	if (want <= have)
		return 0;
	int rc = durable_u64_write(c->dir, HLC_CEILING_FILE, want);
	c->last_error = rc;
	if (rc != 0) {
		atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
		return rc;
	}
	/* Published only once durable: nothing relies on an unwritten one. */
	atomic_store_explicit(&c->published, want, memory_order_release);
	atomic_fetch_add_explicit(&c->renewals, 1, memory_order_relaxed);
	return 0;
}

bool hlc_ceiling_covers(const struct hlc_ceiling *c, uint64_t now_hlc, uint64_t max_drift_ms)
{
	uint64_t ceiling = atomic_load_explicit(&c->published, memory_order_acquire);
	return ceiling > now_hlc + ms_to_hlc(max_drift_ms);
}
