/* SPDX-License-Identifier: BSD-3-Clause */
/* bidplane's DPDK telemetry commands (telemetry.h). */
#include "telemetry.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_rcu_qsbr.h>
#include <rte_telemetry.h>

#include "control.h"
#include "stats_reader.h"
#include "stats_writer.h"

/* DPDK's telemetry callbacks take no argument: the node they serve. */
static struct {
	pthread_mutex_t lock;
	struct control *c; /* NULL: not serving (not yet, or stopping) */
	struct stats_reader reader;
	struct stats_snapshot snap;
	bool registered;
} tel = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int answer_error(struct rte_tel_data *d, const char *msg)
{
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "error", msg);
	return 0;
}

/* Takes a snapshot under the lock; false (answered) when none is possible. */
static bool snapshot(struct rte_tel_data *d)
{
	if (!tel.c) {
		answer_error(d, "the node is not serving statistics (starting or stopping)");
		return false;
	}
	int rc = stats_snapshot_take(&tel.reader, &tel.snap);
	if (rc != 0) {
		answer_error(d, rc == -EAGAIN ? "statistics busy, try again" : strerror(-rc));
		return false;
	}
	return true;
}

/* Answers from a fresh snapshot, one request at a time. */
static int serve(struct rte_tel_data *d, void (*fill)(struct rte_tel_data *d))
{
	pthread_mutex_lock(&tel.lock);
	if (snapshot(d)) {
		rte_tel_data_start_dict(d);
		fill(d);
	}
	pthread_mutex_unlock(&tel.lock);
	return 0;
}

/* /bidplane/stats: each node-wide value, summed over workers. */
static void fill_stats(struct rte_tel_data *d)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	for (uint32_t i = 0; i < tel.snap.count; i++) {
		const struct stats_entry *e = &tel.snap.entries[i];
		if (!stats_entry_is_auction(e) && stats_entry_key(e, key, sizeof(key)))
			rte_tel_data_add_dict_u64(d, key, stats_snapshot_total(&tel.snap, i));
	}
}

/* /bidplane/workers: {"0": {per-worker values}, "1": {...}}. */
static void fill_workers(struct rte_tel_data *d)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	for (uint32_t w = 0; w < tel.snap.info.nworkers; w++) {
		struct rte_tel_data *one = rte_tel_data_alloc();
		if (!one)
			break;
		rte_tel_data_start_dict(one);
		for (uint32_t i = 0; i < tel.snap.count; i++) {
			const struct stats_entry *e = &tel.snap.entries[i];
			if (e->per_worker && w < e->count && stats_entry_key(e, key, sizeof(key)))
				rte_tel_data_add_dict_u64(one, key,
							  tel.snap.values[tel.snap.first[i] + w]);
		}
		snprintf(key, sizeof(key), "%u", w);
		rte_tel_data_add_dict_container(d, key, one, 0);
	}
}

/* /bidplane/hlc: the clock's values, totals and per worker. */
static void fill_hlc(struct rte_tel_data *d)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	for (uint32_t i = 0; i < tel.snap.count; i++) {
		const struct stats_entry *e = &tel.snap.entries[i];
		if (strstr(e->name, "hlc_") == NULL)
			continue;
		uint64_t v = stats_snapshot_total(&tel.snap, i);
		if (strcmp(e->name, "hlc_now") == 0) {
			rte_tel_data_add_dict_u64(d, "hlc_now", v);
			rte_tel_data_add_dict_u64(d, "hlc_now_ms", hlc_ms(v));
			rte_tel_data_add_dict_u64(d, "hlc_now_logical", hlc_logical(v));
			rte_tel_data_add_dict_u64(d, "max_drift_ms", tel.c->node->hlc.max_drift_ms);
			continue;
		}
		if (stats_entry_key(e, key, sizeof(key)))
			rte_tel_data_add_dict_u64(d, key, v);
		if (!e->per_worker)
			continue;
		struct rte_tel_data *per = rte_tel_data_alloc();
		if (!per)
			continue;
		rte_tel_data_start_array(per, RTE_TEL_U64_VAL);
		for (uint32_t w = 0; w < e->count; w++)
			rte_tel_data_add_array_u64(per, tel.snap.values[tel.snap.first[i] + w]);
		snprintf(key, sizeof(key), "%s_per_worker", e->name);
		rte_tel_data_add_dict_container(d, key, per, 0);
	}
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	return serve(d, fill_stats);
}

static int cmd_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	return serve(d, fill_workers);
}

static int cmd_hlc(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	return serve(d, fill_hlc);
}

/* /bidplane/auction,<id>: looked up as an RCU reader, copied, answered. */
static int cmd_auction(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	char *end;
	if (!params || !*params)
		return answer_error(d, "usage: /bidplane/auction,<id>");
	errno = 0;
	unsigned long long id = strtoull(params, &end, 10);
	if (errno || *end || id == 0 || params[0] == '-')
		return answer_error(d, "the auction id is a decimal number >= 1");
	pthread_mutex_lock(&tel.lock);
	if (!tel.c) {
		pthread_mutex_unlock(&tel.lock);
		return answer_error(d, "the node is stopping");
	}
	struct node *n = tel.c->node;
	unsigned int me = node_telemetry_reader(n);
	rte_rcu_qsbr_thread_online(n->auctions.qsbr, me);
	const struct auction *a = auction_lookup(&n->auctions, id);
	struct auction_view v;
	if (a)
		auction_view(&n->auctions, a, node_now_ms(n), &v);
	rte_rcu_qsbr_thread_offline(n->auctions.qsbr, me);
	pthread_mutex_unlock(&tel.lock);
	if (!a)
		return answer_error(d, "unknown auction");
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "id", v.id);
	rte_tel_data_add_dict_string(d, "phase", bp_phase_name(v.phase));
	rte_tel_data_add_dict_u64(d, "reserve", v.reserve);
	rte_tel_data_add_dict_u64(d, "increment", v.increment);
	rte_tel_data_add_dict_u64(d, "close_at_ms", v.close_at_ms);
	rte_tel_data_add_dict_u64(d, "leading_amount", v.leading.amount);
	rte_tel_data_add_dict_u64(d, "leading_bidder", v.leading.bidder);
	rte_tel_data_add_dict_u64(d, "leading_hlc", v.leading.hlc);
	rte_tel_data_add_dict_u64(d, "bids", v.bid_count);
	rte_tel_data_add_dict_u64(d, "viewers", v.viewers);
	return 0;
}

/*
 * Test hook (only with BIDPLANE_TEST_HOOKS=1 in the node's environment):
 * /bidplane/test/reader_stall,on puts a reader of its own online and
 * leaves it there, without quiescent reports, until ",off": a stalled RCU
 * reader, as a preempted or blocked thread would be. The integration tests
 * use it to show that a stall sheds bids and never leaks records.
 */
static int cmd_reader_stall(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	bool on = params && strcmp(params, "on") == 0;
	if (!on && !(params && strcmp(params, "off") == 0))
		return answer_error(d, "usage: /bidplane/test/reader_stall,on|off");
	pthread_mutex_lock(&tel.lock);
	if (!tel.c) {
		pthread_mutex_unlock(&tel.lock);
		return answer_error(d, "the node is stopping");
	}
	struct node *n = tel.c->node;
	if (on)
		rte_rcu_qsbr_thread_online(n->auctions.qsbr, node_stall_hook_reader(n));
	else
		rte_rcu_qsbr_thread_offline(n->auctions.qsbr, node_stall_hook_reader(n));
	pthread_mutex_unlock(&tel.lock);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "reader_stall", on ? "on" : "off");
	return 0;
}

void telemetry_register(struct control *c)
{
	size_t size;
	const void *map = stats_writer_map(c->segment, &size);
	pthread_mutex_lock(&tel.lock);
	rte_rcu_qsbr_thread_register(c->node->auctions.qsbr, node_telemetry_reader(c->node));
	rte_rcu_qsbr_thread_register(c->node->auctions.qsbr, node_stall_hook_reader(c->node));
	if (stats_reader_attach(&tel.reader, map, size) == 0)
		tel.c = c;
	pthread_mutex_unlock(&tel.lock);
	if (tel.registered)
		return;
	rte_telemetry_register_cmd("/bidplane/stats", cmd_stats,
				   "Node-wide counters and gauges, summed over workers");
	rte_telemetry_register_cmd("/bidplane/workers", cmd_workers,
				   "Per-worker counters. Takes no parameters");
	rte_telemetry_register_cmd("/bidplane/hlc", cmd_hlc,
				   "Hybrid logical clock: now, drift limit, per-worker counters");
	rte_telemetry_register_cmd("/bidplane/auction", cmd_auction,
				   "One auction. Parameters: auction id");
	const char *hooks = getenv("BIDPLANE_TEST_HOOKS");
	if (hooks && strcmp(hooks, "1") == 0)
		rte_telemetry_register_cmd("/bidplane/test/reader_stall", cmd_reader_stall,
					   "Test hook: hold RCU grace periods. Parameters: on|off");
	tel.registered = true;
}

void telemetry_unregister(struct control *c)
{
	pthread_mutex_lock(&tel.lock);
	if (tel.c == c) {
		tel.c = NULL;
		stats_reader_close(&tel.reader);
		stats_snapshot_free(&tel.snap);
		rte_rcu_qsbr_thread_unregister(c->node->auctions.qsbr,
					       node_telemetry_reader(c->node));
		rte_rcu_qsbr_thread_offline(c->node->auctions.qsbr,
					    node_stall_hook_reader(c->node));
		rte_rcu_qsbr_thread_unregister(c->node->auctions.qsbr,
					       node_stall_hook_reader(c->node));
	}
	pthread_mutex_unlock(&tel.lock);
}
