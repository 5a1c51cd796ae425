/* SPDX-License-Identifier: BSD-3-Clause */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_rcu_qsbr.h>

#include "ctl.h"
#include "fencing.h"
#include "stat.h"
#include "stats_node.h"
#include "telemetry.h"

#define TICK_MS		 10
#define FENCING_RETRY_MS 1000
#define CONTROL_SLEEP_US 500

static uint64_t wall_ms(const struct node *n)
{
	return n->hlc.wall(n->hlc.wall_arg);
}

static void fencing_try(struct control *c)
{
	char err[512];
	struct node *n = c->node;
	int rc = fencing_advance(n->cfg.state_dir, &n->fencing_epoch, err, sizeof(err));
	if (rc == 0) {
		atomic_store(&n->serving, true);
		RTE_LOG(INFO, USER1, "fencing epoch %" PRIu64 " (%s)\n", n->fencing_epoch,
			n->cfg.state_dir);
		return;
	}
	stat_inc(&c->stats.fencing_failures);
	if (stat_read(&c->stats.fencing_failures) == 1)
		RTE_LOG(ERR, USER1, "%s\n", err);
	c->next_fencing_retry_ms = wall_ms(n) + FENCING_RETRY_MS;
}

static int open_initial_range(struct control *c, char *err, size_t errlen)
{
	const struct bp_config *cfg = &c->node->cfg;
	if (cfg->open_first == 0)
		return 0;
	for (uint64_t id = cfg->open_first; id <= cfg->open_last; id++) {
		int rc = lifecycle_open(c, id, cfg->reserve, cfg->increment, cfg->duration_s, err,
					errlen);
		if (rc != 0)
			return rc;
		if (id == UINT64_MAX)
			break;
	}
	RTE_LOG(INFO, USER1, "opened auctions %" PRIu64 "-%" PRIu64 " for %" PRIu64 " s\n",
		cfg->open_first, cfg->open_last, cfg->duration_s);
	return 0;
}

int control_init(struct control *c, struct node *n, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->node = n;
	c->next_due_ms = UINT64_MAX; /* lowered by every auction opened */
	unsigned int me = node_control_reader(n);
	int rc = hlc_clock_init(&c->clock, &n->hlc, me);
	if (rc != 0) {
		snprintf(err, errlen, "control clock: %s", strerror(-rc));
		return rc;
	}
	rte_rcu_qsbr_thread_register(n->auctions.qsbr, me);
	rte_rcu_qsbr_thread_online(n->auctions.qsbr, me);

	atomic_store(&n->serving, false);
	/* What can fail comes first: a start that fails must not bump the
	 * epoch, nor leave a segment that looks like a crash. The state dir
	 * stays locked (the fd open) until the process exits. */
	static int state_lock = -1;
	if (state_lock < 0 && (rc = fencing_lock(n->cfg.state_dir, &state_lock, err, errlen)) != 0)
		return rc;

	struct ctl_handlers h;
	ctl_glue_handlers(c, &h);
	c->ctl = ctl_server_open(n->cfg.control_socket, &h, err, errlen);
	if (!c->ctl)
		return -EINVAL;
	rc = stats_node_init(c, err, errlen);
	if (rc == 0)
		rc = open_initial_range(c, err, errlen);
	if (rc != 0) {
		control_fini(c);
		return rc;
	}
	fencing_try(c);
	RTE_LOG(INFO, USER1, "control socket %s\n", n->cfg.control_socket);
	telemetry_register(c);
	return 0;
}

void control_run(struct control *c)
{
	struct node *n = c->node;
	unsigned int me = node_control_reader(n);
	while (!atomic_load_explicit(&n->force_quit, memory_order_relaxed)) {
		exceptions_serve(c);
		ctl_server_poll(c->ctl);
		uint64_t now = wall_ms(n);
		if (now >= c->next_tick_ms) {
			lifecycle_tick(c, now);
			c->next_tick_ms = now + TICK_MS;
		}
		if (!atomic_load(&n->serving) && now >= c->next_fencing_retry_ms)
			fencing_try(c);
		stats_node_tick(c, now);
		rte_rcu_qsbr_quiescent(n->auctions.qsbr, me);
		/* Off-line while asleep, so grace periods need not wait for us. */
		rte_rcu_qsbr_thread_offline(n->auctions.qsbr, me);
		rte_delay_us_sleep(CONTROL_SLEEP_US);
		rte_rcu_qsbr_thread_online(n->auctions.qsbr, me);
	}
}

void control_fini(struct control *c)
{
	telemetry_unregister(c);
	stats_node_fini(c);
	if (c->ctl)
		ctl_server_close(c->ctl);
	c->ctl = NULL;
	if (c->node) {
		unsigned int me = node_control_reader(c->node);
		rte_rcu_qsbr_thread_offline(c->node->auctions.qsbr, me);
		rte_rcu_qsbr_thread_unregister(c->node->auctions.qsbr, me);
	}
}
