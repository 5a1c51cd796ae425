/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service thread: the node's slow duties, kept off the control thread
 * so that they can neither delay its fast duties nor hold an RCU grace
 * period. It serves control-socket clients (whose reads and writes may
 * take up to the socket's per-client budget) and logs settlements. It is
 * never an RCU reader: each request is executed by the control thread
 * through the mailbox below. It never waits on the disk: the files that
 * must be durable before the node may go on (the HLC ceiling, the fencing
 * epoch) are the durable thread's (bp-durable, below), so that a disk that
 * stops answering leaves bidctl answering, and saying why bids are
 * refused (the chaos campaign of 2026-12-01b: a host whose fsyncs stood
 * still for 27-90 s silenced every node's control socket with it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_log.h>

#include "log.h"
#include "control.h"
#include "ctl.h"

#define FENCING_RETRY_MS 1000
/* How often the durable thread looks at the ceiling: a renewal is due
 * when less than max drift + 500 ms of its lease is left, so 10 ms is
 * far inside that. */
#define DURABLE_NAP_MS 10
/* How long the service thread sleeps in poll() for a client; it also
 * bounds how long a stop takes to be noticed. */
#define SERVICE_WAIT_MS 50
/* While waiting for the control thread's answer. */
#define MAILBOX_NAP_NS 20000

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool stopping(const struct control *c)
{
	return atomic_load_explicit(&c->node->force_quit, memory_order_relaxed);
}

/* The answer of a request that waited for durability: the "ok" one
 * already written, or the reason it is not durable. */
static void mailbox_finish(struct mailbox *mb, int rc, const char *err)
{
	if (rc != 0)
		mb->len = ctl_execute_error(mb->line, err, mb->out, mb->cap);
	mb->durable.waiting = false;
	atomic_store_explicit(&mb->state, MAILBOX_DONE, memory_order_release);
}

static void mailbox_poll_durable(struct control *c)
{
	char err[512] = "";
	int rc = ctl_glue_durable_poll(c, err, sizeof(err));
	if (rc != -EAGAIN)
		mailbox_finish(&c->mailbox, rc, err);
}

void mailbox_serve(struct control *c)
{
	struct mailbox *mb = &c->mailbox;
	if (mb->durable.waiting) {
		mailbox_poll_durable(c);
		return;
	}
	int posted = MAILBOX_POSTED;
	if (!atomic_compare_exchange_strong_explicit(&mb->state, &posted, MAILBOX_TAKEN,
						     memory_order_acquire, memory_order_relaxed))
		return;
	mb->durable.waiting = false;
	mb->len = ctl_execute(c->handlers, mb->line, mb->out, mb->cap);
	/* A request that failed (an open refused, or its read-back) waits
	 * for nothing: its error is the answer. */
	if (mb->durable.waiting && strncmp(mb->out, "ok\n", 3) == 0)
		mailbox_poll_durable(c);
	else
		mailbox_finish(mb, 0, NULL);
}

void mailbox_abandon(struct control *c)
{
	struct mailbox *mb = &c->mailbox;
	if (!mb->durable.waiting)
		return;
	char err[512] = "";
	int rc = ctl_glue_durable_poll(c, err, sizeof(err));
	if (rc == -EAGAIN)
		snprintf(err, sizeof(err),
			 "done in memory, but the node is stopping before its log record is "
			 "durable; a restart may undo it");
	mailbox_finish(mb, rc, err);
}

/* The service thread's executor for the control socket: hands the line to
 * the control thread and waits for its answer. */
static size_t execute_on_control(void *ctx, const char *line, char *out, size_t cap)
{
	struct control *c = ctx;
	struct mailbox *mb = &c->mailbox;
	const struct timespec nap = {0, MAILBOX_NAP_NS};
	mb->line = line;
	mb->out = out;
	mb->cap = cap;
	atomic_store_explicit(&mb->state, MAILBOX_POSTED, memory_order_release);
	for (;;) {
		if (atomic_load_explicit(&mb->state, memory_order_acquire) == MAILBOX_DONE)
			break;
		int posted = MAILBOX_POSTED;
		/* The control thread stops before it takes the request: take it
		 * back. Once taken, it is always finished. */
		if (stopping(c) && atomic_compare_exchange_strong_explicit(
				       &mb->state, &posted, MAILBOX_EMPTY, memory_order_relaxed,
				       memory_order_relaxed))
			return (size_t)snprintf(out, cap, "error the node is stopping\n");
		nanosleep(&nap, NULL);
	}
	size_t len = mb->len;
	atomic_store_explicit(&mb->state, MAILBOX_EMPTY, memory_order_relaxed);
	return len;
}

void renew_ceiling(struct control *c)
{
	struct node *n = c->node;
	int before = c->ceiling.last_error;
	int rc = hlc_ceiling_renew(&c->ceiling, hlc_domain_read(&n->hlc));
	if (rc == 0) {
		uint64_t ceiling = atomic_load(&c->ceiling.published);
		wal_node_service_hlc(c, ceiling); /* the log's high-water mark, as far ahead */
		hlc_domain_set_limit(&n->hlc, ceiling);
	}
	if (rc != 0 && before == 0)
		BP_LOG(ERR, SERVICE,
		       "cannot persist %s/%s: %s; bids stop before the HLC can pass the last "
		       "durable ceiling (check disk space and permissions of --state-dir)\n",
		       n->cfg.state_dir, HLC_CEILING_FILE, strerror(-rc));
	else if (rc == 0 && before != 0)
		BP_LOG(INFO, SERVICE, "%s/%s persisted again\n", n->cfg.state_dir,
		       HLC_CEILING_FILE);
}

static void *service_main(void *arg)
{
	struct control *c = arg;
	while (!stopping(c)) {
		ctl_server_wait(c->ctl, SERVICE_WAIT_MS);
		ctl_server_poll(c->ctl);
		settle_notes_log(c);
		wal_node_tick(c, monotonic_ms());
	}
	settle_notes_log(c); /* the last ones */
	return NULL;
}

/* The durable thread: the fencing epoch until it is persisted, and the HLC
 * ceiling a lease ahead of the clock. Each may wait on an fsync for as
 * long as the disk takes; bids stop at the durable ceiling meanwhile
 * (HLC G8), and bidctl, on the service thread, says so. */
static void *durable_main(void *arg)
{
	struct control *c = arg;
	struct node *n = c->node;
	const struct timespec nap = {0, DURABLE_NAP_MS * 1000000L};
	uint64_t next_fencing_ms = monotonic_ms() + FENCING_RETRY_MS; /* start made one */
	while (!stopping(c)) {
		if ((atomic_load(&n->not_serving) & NOT_SERVING_FENCING) &&
		    monotonic_ms() >= next_fencing_ms) {
			fencing_try(c);
			next_fencing_ms = monotonic_ms() + FENCING_RETRY_MS;
		}
		renew_ceiling(c);
		nanosleep(&nap, NULL);
	}
	return NULL;
}

int service_start(struct control *c, char *err, size_t errlen)
{
	int rc = rte_ctrl_thread_create(&c->durable, "bp-durable", NULL, durable_main, c);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the durable thread: %s", strerror(rc));
		return -rc;
	}
	c->durable_started = true;
	ctl_server_set_executor(c->ctl, execute_on_control, c);
	rc = rte_ctrl_thread_create(&c->service, "bp-service", NULL, service_main, c);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the service thread: %s", strerror(rc));
		return -rc;
	}
	c->service_started = true;
	return 0;
}

void service_stop(struct control *c)
{
	/* force_quit is set: the service thread leaves within SERVICE_WAIT_MS
	 * plus one client's budget, the durable thread within DURABLE_NAP_MS
	 * once its fsync (if any) returns. */
	if (c->service_started)
		pthread_join(c->service, NULL);
	c->service_started = false;
	if (c->durable_started)
		pthread_join(c->durable, NULL);
	c->durable_started = false;
}
