/* SPDX-License-Identifier: BSD-3-Clause */
#include "log.h"
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_rcu_qsbr.h>

#include "ctl.h"
#include "fencing.h"
#include "mkdir_p.h"
#include "stat.h"
#include "stats_node.h"
#include "telemetry.h"

#define TICK_MS		 10
#define CONTROL_SLEEP_US 500

void control_online(struct control *c)
{
	rcu_section_enter(&c->rcu);
}

void control_offline(struct control *c)
{
	rcu_section_leave(&c->rcu);
}

void fencing_try(struct control *c)
{
	char err[512];
	struct node *n = c->node;
	uint64_t epoch = 0;
	int rc = fencing_advance(n->cfg.state_dir, &epoch, err, sizeof(err));
	if (rc == 0) {
		atomic_store(&n->fencing_epoch, epoch);
		wal_node_service_epoch(c, epoch);
		node_not_serving(n, NOT_SERVING_FENCING, false);
		BP_LOG(INFO, CONTROL, "fencing epoch %" PRIu64 " (%s)\n", epoch, n->cfg.state_dir);
		return;
	}
	stat_inc(&c->stats->fencing_failures);
	if (stat_read(&c->stats->fencing_failures) == 1)
		BP_LOG(ERR, CONTROL, "%s\n", err);
}

/*
 * Stamps of this life must be above every stamp of the previous one: the
 * HLC starts above the previous life's ceiling, and the node waits for its
 * wall clock to pass that ceiling before it takes bids (a clock that
 * stepped back would otherwise make its stamps run ahead of real time).
 */
static int clock_init(struct control *c, char *err, size_t errlen)
{
	struct node *n = c->node;
	int rc = mkdir_p(n->cfg.state_dir);
	if (rc != 0) {
		snprintf(err, errlen, "cannot create --state-dir %s: %s", n->cfg.state_dir,
			 strerror(-rc));
		return rc;
	}
	rc = hlc_ceiling_load(&c->ceiling, n->cfg.state_dir, n->cfg.max_drift_ms,
			      &c->previous_ceiling, err, errlen);
	if (rc != 0)
		return rc;
	hlc_domain_raise_floor(&n->hlc, c->previous_ceiling);
	node_not_serving(n, NOT_SERVING_HLC_CEILING, true);
	/* The previous ceiling is up to a lease ahead of the last stamp: only
	 * a clock behind it by more than that has stepped back. */
	uint64_t wall = node_now_ms(n);
	if (hlc_ms(c->previous_ceiling) > wall + c->ceiling.lease_ms) {
		c->behind_previous = true;
		node_not_serving(n, NOT_SERVING_CLOCK, true);
		BP_LOG(WARNING, CONTROL,
		       "the wall clock is behind the stamps of the previous run by up to %" PRIu64
		       " ms (%s/%s): not taking bids until it has passed them\n",
		       hlc_ms(c->previous_ceiling) - wall, n->cfg.state_dir, HLC_CEILING_FILE);
	}
	renew_ceiling(c);
	return 0;
}

/*
 * Whether the HLC is ahead of the wall clock by more than the drift bound
 * (CLUSTER.md promise 4, chaos I8): after the wall clock jumped back the HLC
 * keeps its maximum, and every stamp would run that far ahead of real time.
 * Not the floor a restart raised to the previous life's ceiling: that one
 * is up to a lease ahead of a sane clock by design, and clock_init judges
 * it (behind_previous).
 */
static bool hlc_runs_ahead(const struct control *c, uint64_t wall_ms)
{
	const struct node *n = c->node;
	uint64_t hlc = hlc_ms(hlc_domain_read(&n->hlc));
	if (hlc <= hlc_ms(c->previous_ceiling))
		return false;
	return hlc > wall_ms + n->cfg.max_drift_ms;
}

static void judge_hlc_ahead(struct control *c, uint64_t wall_ms)
{
	bool ahead = hlc_runs_ahead(c, wall_ms);
	if (ahead == c->hlc_ahead)
		return;
	c->hlc_ahead = ahead;
	if (ahead)
		BP_LOG(WARNING, CONTROL,
		       "the HLC is %" PRIu64 " ms ahead of the wall clock (a step back?), more "
		       "than --max-drift-ms %" PRIu64
		       ": not taking bids until the wall clock is within that of it\n",
		       hlc_ms(hlc_domain_read(&c->node->hlc)) - wall_ms, c->node->cfg.max_drift_ms);
	else
		BP_LOG(NOTICE, CONTROL,
		       "the wall clock caught up with the HLC: taking bids again\n");
}

/* Control thread, every loop: bids stop while the wall clock is behind the
 * previous life's stamps or the HLC, and unless the durable ceiling is
 * ahead of anything the node may stamp until the next check. */
static void clock_guard(struct control *c)
{
	struct node *n = c->node;
	uint32_t why = atomic_load_explicit(&n->not_serving, memory_order_relaxed);
	uint64_t wall = node_now_ms(n);
	if (c->behind_previous && hlc_make(wall, 0) > c->previous_ceiling)
		c->behind_previous = false;
	judge_hlc_ahead(c, wall);
	bool clock = c->behind_previous || c->hlc_ahead;
	if (!!(why & NOT_SERVING_CLOCK) != clock)
		node_not_serving(n, NOT_SERVING_CLOCK, clock);
	bool covers =
	    hlc_ceiling_covers(&c->ceiling, hlc_domain_read(&n->hlc), n->cfg.max_drift_ms);
	if (!!(why & NOT_SERVING_HLC_CEILING) == covers)
		node_not_serving(n, NOT_SERVING_HLC_CEILING, !covers);
}

/* Members of the stats group may use bidctl too: the socket (mode 0660)
 * gets that group. Without the group, only root; the stats segment logs
 * how to create it. */
static void share_control_socket(const struct node *n)
{
	if (strcmp(n->cfg.stats_group, "none") == 0)
		return;
	struct group *g = getgrnam(n->cfg.stats_group);
	/* Not through a link planted at the path between bind and here. */
	if (g && fchownat(AT_FDCWD, n->cfg.control_socket, (uid_t)-1, g->gr_gid,
			  AT_SYMLINK_NOFOLLOW) != 0)
		BP_LOG(WARNING, CONTROL, "cannot give %s to group %s: %s\n", n->cfg.control_socket,
		       n->cfg.stats_group, strerror(errno));
}

/* In a cluster, auctions a peer defined already are left as they are
 * (opened before this node restarted, or by a node that started first):
 * only the missing ones open. */
static int open_initial_range(struct control *c, char *err, size_t errlen)
{
	const struct bp_config *cfg = &c->node->cfg;
	uint64_t opened = 0;
	if (cfg->open_first == 0)
		return 0;
	for (uint64_t id = cfg->open_first; id <= cfg->open_last; id++) {
		int rc = lifecycle_open(c, id, cfg->reserve, cfg->increment, cfg->duration_s, err,
					errlen);
		/* Existing: from a peer, or recovered from the log. */
		if (rc != 0 && !(rc == -EEXIST && (c->repl.enabled || c->wal.writer)))
			return rc;
		opened += rc == 0;
		if (id == UINT64_MAX)
			break;
	}
	uint64_t range = cfg->open_last - cfg->open_first + 1; /* 0: the whole id space */
	if (opened == range)
		BP_LOG(INFO, CONTROL, "opened auctions %" PRIu64 "-%" PRIu64 " for %" PRIu64 " s\n",
		       cfg->open_first, cfg->open_last, cfg->duration_s);
	else
		BP_LOG(INFO, CONTROL,
		       "opened auctions %" PRIu64 "-%" PRIu64 " for %" PRIu64 " s: %" PRIu64
		       " of them here, the others existed already (recovered from the log or "
		       "defined by a peer)\n",
		       cfg->open_first, cfg->open_last, cfg->duration_s, opened);
	return 0;
}

/* A cluster node opens --open-range once its start has ended (its peers'
 * auctions are in by then); a failure now cannot stop the start. */
static void open_range_when_started(struct control *c)
{
	char err[512];
	if (!c->range_pending || !replicate_started(c))
		return;
	c->range_pending = false;
	if (open_initial_range(c, err, sizeof(err)) != 0)
		BP_LOG(ERR, CONTROL, "--open-range: %s\n", err);
}

static void leader_log(enum leader_log_level level, const char *line)
{
	if (level == LEADER_LOG_ERR)
		BP_LOG(ERR, LEADER, "%s\n", line);
	else if (level == LEADER_LOG_WARNING)
		BP_LOG(WARNING, LEADER, "%s\n", line);
	else
		BP_LOG(INFO, LEADER, "%s\n", line);
}

/* With --etcd, the leader thread; started last, so that a start that
 * fails never campaigns. */
static int leadership_start(struct control *c, char *err, size_t errlen)
{
	const struct bp_config *cfg = &c->node->cfg;
	if (cfg->etcd[0] == '\0')
		return 0;
	struct leader_options opt = {
	    .etcd = cfg->etcd,
	    .cluster_name = cfg->cluster_name,
	    .lease_ttl_s = cfg->lease_ttl_s,
	    .node_id = cfg->node_id,
	    .log = leader_log,
	};
	int rc = leader_start(&c->leader, &opt, err, errlen);
	if (rc == 0) {
		c->etcd = true;
		BP_LOG(INFO, LEADER, "campaigning for /%s/leader through etcd %s (lease %u s)\n",
		       cfg->cluster_name, cfg->etcd, cfg->lease_ttl_s);
	}
	return rc;
}

/* While the log is replayed, bidctl gets `status` (not_serving_reason
 * recovering); every command that reads or changes the auctions is
 * refused: the table is partial, and the main thread its only writer. */
static int refuse_recovering(char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "the node is recovering its write-ahead log (bidctl status: recovering); "
		 "retry once it serves");
	return -EAGAIN;
}

static int recovering_open(void *ctx, uint64_t id, uint64_t reserve, uint64_t increment,
			   uint64_t duration_s, char *err, size_t errlen)
{
	(void)ctx, (void)id, (void)reserve, (void)increment, (void)duration_s;
	return refuse_recovering(err, errlen);
}

static int recovering_close(void *ctx, uint64_t id, char *err, size_t errlen)
{
	(void)ctx, (void)id;
	return refuse_recovering(err, errlen);
}

static int recovering_query(void *ctx, uint64_t id, struct ctl_auction *out, char *err,
			    size_t errlen)
{
	(void)ctx, (void)id, (void)out;
	return refuse_recovering(err, errlen);
}

static int recovering_list(void *ctx, ctl_wants_fn wants, ctl_emit_fn emit, void *arg, char *err,
			   size_t errlen)
{
	(void)ctx, (void)wants, (void)emit, (void)arg;
	return refuse_recovering(err, errlen);
}

/* Runs on the main thread, inside recovery (control_recovery_poll). */
static size_t execute_recovering(void *ctx, const char *line, char *out, size_t cap)
{
	struct control *c = ctx;
	struct ctl_handlers h = *c->handlers;
	h.open = recovering_open;
	h.close = recovering_close;
	h.query = recovering_query;
	h.list = recovering_list;
	h.clock_offset = NULL;
	return ctl_execute(&h, line, out, cap);
}

void control_leadership(struct control *c, struct leader_view *v)
{
	if (c->etcd) {
		leader_read(&c->leader, v);
		return;
	}
	struct node *n = c->node;
	bool durable = !(atomic_load(&n->not_serving) & NOT_SERVING_FENCING);
	*v = (struct leader_view){
	    .leader = durable,
	    .token = durable ? atomic_load(&n->fencing_epoch) : 0,
	    .reachable = false,
	    .leader_node_id = n->cfg.node_id,
	};
}

int control_init(struct control *c, struct node *n, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->stats = &c->own_stats;
	c->settle_notes.log_limit = (struct log_limit){.per_second = 100, .burst = 200};
	c->node = n;
	c->next_due_ms = UINT64_MAX; /* lowered by every auction opened */
	unsigned int me = node_control_reader(n);
	int rc = hlc_clock_init(&c->clock, &n->hlc, me);
	if (rc != 0) {
		snprintf(err, errlen, "control clock: %s", strerror(-rc));
		return rc;
	}
	/* Registered, and offline but for short read-side sections. */
	rte_rcu_qsbr_thread_register(n->auctions.qsbr, me);
	c->rcu = (struct rcu_section){.qs = n->auctions.qsbr, .reader = me};
	node_not_serving(n, NOT_SERVING_FENCING, true);
	/* Until control_start has replayed the log (workers may run by then):
	 * node_state_ready stays false until publish_state. */
	if (n->cfg.durability != BP_DURABILITY_OFF)
		node_not_serving(n, NOT_SERVING_WAL_REPLAY, true);

	/* What can fail comes first: a start that fails must not bump the
	 * epoch, nor leave a segment that looks like a crash. The state dir
	 * is locked already (main.c, before EAL), until the process exits. */
	rc = clock_init(c, err, errlen);
	if (rc != 0)
		return rc;
	rc = lifecycle_init(c);
	if (rc != 0) {
		snprintf(err, errlen, "lifecycle: %s", strerror(-rc));
		return rc;
	}
	static struct ctl_handlers handlers;
	ctl_glue_handlers(c, &handlers);
	c->handlers = &handlers;
	c->ctl = ctl_server_open(n->cfg.control_socket, &handlers, err, errlen);
	if (!c->ctl)
		return -EINVAL;
	share_control_socket(n);
	/* Until the service thread takes over: status only (recovering). */
	ctl_server_set_executor(c->ctl, execute_recovering, c);
	rc = stats_node_init(c, err, errlen);
	if (rc == 0)
		rc = replicate_init(c, err, errlen); /* before the auctions it ships */
	if (rc != 0) {
		control_fini(c);
		return rc;
	}
	return 0;
}

/* The end of recovery: everything it wrote (auction records, counter
 * slots, idempotency keys) and the workers' log producers are published
 * with one release store the workers acquire (node_state_ready). */
static void publish_state(struct control *c)
{
	struct node *n = c->node;
	atomic_store_explicit(&n->state_ready, true, memory_order_release);
	node_not_serving(n, NOT_SERVING_WAL_REPLAY, false);
}

int control_start(struct control *c, char *err, size_t errlen)
{
	struct node *n = c->node;
	int rc = wal_node_start(c, err, errlen); /* before the auctions opened here */
	c->range_pending = c->repl.enabled;
	if (rc == 0 && !c->range_pending)
		rc = open_initial_range(c, err, errlen);
	if (rc != 0)
		return rc;
	publish_state(c);
	/* Only now the next epoch: a start that failed above bumped none. If
	 * it cannot be persisted, the durable thread retries. */
	fencing_try(c);
	rc = service_start(c, err, errlen);
	if (rc == 0)
		rc = leadership_start(c, err, errlen);
	if (rc != 0)
		return rc;
	BP_LOG(INFO, CONTROL, "control socket %s\n", n->cfg.control_socket);
	telemetry_register(c);
	return 0;
}

void control_recovery_poll(struct control *c)
{
	exceptions_serve(c); /* ARP and ping; peer frames are dropped (exception.c) */
	ctl_server_poll(c->ctl);
}

void control_run(struct control *c)
{
	struct node *n = c->node;
	while (!atomic_load_explicit(&n->force_quit, memory_order_relaxed)) {
		exceptions_serve(c);
		mailbox_serve(c);
		/* After the mailbox (bidctl clock-offset is served there) and
		 * before the replication tick: a step back of the wall clock
		 * restarts the peers' clock estimates there, which lifts the
		 * peer-clock quarantine at once; the HLC-ahead judgement must
		 * already stand, or bids are taken for a loop, stamped up to
		 * the step ahead of real time (clock_jump seed 16). */
		clock_guard(c);
		uint64_t now = node_now_ms(n);
		if (now >= c->next_tick_ms) {
			lifecycle_tick(c, now);
			c->next_tick_ms = now + TICK_MS;
		}
		/* Replication times itself on the monotonic clock: a step of
		 * the wall clock must not move its timers (docs/CHAOS.md). */
		replicate_tick(c, node_mono_ms());
		wal_node_control_flush(c); /* the backlog to the writer, in order (no wait) */
		open_range_when_started(c);
		stats_node_tick(c, now);
		/* Offline already: a sleeping control thread delays no grace
		 * period. */
		rte_delay_us_sleep(CONTROL_SLEEP_US);
	}
	mailbox_abandon(c); /* the service thread waits for its answer */
}

void control_fini(struct control *c)
{
	if (c->etcd)
		leader_stop(&c->leader);
	c->etcd = false;
	service_stop(c);
	settle_notes_log(c); /* both threads have stopped: the last notes */
	telemetry_unregister(c);
	stats_node_fini(c);
	if (c->ctl)
		ctl_server_close(c->ctl);
	c->ctl = NULL;
	lifecycle_fini(c);
	replicate_fini(c);
	wal_node_stop(c); /* the workers have stopped: every record is in */
	if (c->node)
		rte_rcu_qsbr_thread_unregister(c->node->auctions.qsbr,
					       node_control_reader(c->node));
}
