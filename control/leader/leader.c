/* SPDX-License-Identifier: BSD-3-Clause */
/* Leadership through etcd: the bp-leader thread (leader.h). */
#include "leader.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* Pause of the loop when there is nothing to wait on. */
#define LOOP_WAIT_MS 50
/* After a failed keepalive, the next try; after a failed grant or
 * campaign, the next one. */
#define KEEPALIVE_RETRY_MS 200
#define GRANT_RETRY_MS	   500
#define CAMPAIGN_RETRY_MS  500

uint64_t leader_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The thread's own state (never shared: published through the seqlock). */
struct run {
	struct leader *l;
	uint64_t ttl_ms;
	int64_t lease;	       /* 0: none */
	uint64_t refreshed_ms; /* when the last successful grant/keepalive was sent */
	uint64_t next_keepalive_ms;
	int64_t revoke_pending; /* a lease we dropped while etcd was away */
	struct etcd_campaign campaign;
	uint64_t campaign_retry_ms;
	bool elected;
	int64_t token;
	bool reachable;
	uint64_t leader_node_id;
	bool zombie_said; /* the lease guard is off and etcd deposed us: said once */
	char last_error[512];
};

static void say(struct run *r, enum leader_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct run *r, enum leader_log_level level, const char *fmt, ...)
{
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (r->l->opt.log)
		r->l->opt.log(level, line);
}

static uint64_t deadline_ms(const struct run *r)
{
	return r->lease ? r->refreshed_ms + r->ttl_ms - LEADER_MARGIN_MS : 0;
}

bool leader_lease_guard_off(const struct leader *l)
{
	return atomic_load_explicit(&l->lease_guard_off, memory_order_relaxed);
}

bool leader_set_lease_guard(struct leader *l, bool on)
{
	return !atomic_exchange(&l->lease_guard_off, !on);
}

/* Fault injection: an elected leader with the guard off keeps leading
 * whatever its clock or etcd's lease says (leader.h). Said once. */
static bool zombie(struct run *r, const char *what)
{
	if (!r->elected || !leader_lease_guard_off(r->l))
		return false;
	if (!r->zombie_said)
		say(r, LEADER_LOG_WARNING,
		    "%s, but the lease guard is off (fault injection: bidctl lease-guard): "
		    "acting as leader with fencing token %" PRId64 " until etcd refuses a write",
		    what, r->token);
	r->zombie_said = true;
	return true;
}

static void publish(struct run *r)
{
	struct leader *l = r->l;
	uint64_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);
	atomic_store_explicit(&l->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&l->pub_elected, r->elected, memory_order_relaxed);
	atomic_store_explicit(&l->pub_token, r->elected ? (uint64_t)r->token : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&l->pub_deadline_ms, deadline_ms(r), memory_order_relaxed);
	atomic_store_explicit(&l->pub_reachable, r->reachable, memory_order_relaxed);
	atomic_store_explicit(
	    &l->pub_latency_us,
	    atomic_load_explicit(&l->client.last_latency_us, memory_order_relaxed),
	    memory_order_relaxed);
	atomic_store_explicit(&l->pub_leader_node_id, r->leader_node_id, memory_order_relaxed);
	atomic_store_explicit(&l->seq, s + 2, memory_order_release);
}

void leader_read(struct leader *l, struct leader_view *v)
{
	uint64_t s1, s2, deadline;
	bool elected;
	do {
		s1 = atomic_load_explicit(&l->seq, memory_order_acquire);
		elected = atomic_load_explicit(&l->pub_elected, memory_order_relaxed);
		v->token = atomic_load_explicit(&l->pub_token, memory_order_relaxed);
		deadline = atomic_load_explicit(&l->pub_deadline_ms, memory_order_relaxed);
		v->reachable = atomic_load_explicit(&l->pub_reachable, memory_order_relaxed);
		v->latency_us = atomic_load_explicit(&l->pub_latency_us, memory_order_relaxed);
		v->leader_node_id =
		    (uint16_t)atomic_load_explicit(&l->pub_leader_node_id, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&l->seq, memory_order_relaxed);
	} while ((s1 & 1) || s1 != s2);
	uint64_t now = leader_clock_ms();
	v->lease_left_ms = deadline > now ? deadline - now : 0;
	/* Judged now, not when published: a thread that has not run since
	 * (stopped, starved) cannot keep us leader past the deadline (unless
	 * the guard is off: fault injection, leader.h). */
	v->leader = elected && (now < deadline || leader_lease_guard_off(l));
	if (!v->leader)
		v->token = 0;
	v->requests = atomic_load(&l->client.requests) + atomic_load(&l->settle_client.requests);
	v->failures = atomic_load(&l->client.failures) + atomic_load(&l->settle_client.failures);
	v->changes = atomic_load(&l->changes);
	v->lease_grants = atomic_load(&l->lease_grants);
	v->fencing_rejections = atomic_load(&l->fencing_rejections);
}

/* What etcd's answers (or their absence) say about reachability: said
 * once when lost, once when back. */
static void reached(struct run *r, bool ok, const char *err)
{
	if (ok && !r->reachable)
		say(r, LEADER_LOG_INFO, "etcd reachable (%s)",
		    r->l->client.urls[r->l->client.current]);
	else if (!ok && r->reachable)
		say(r, LEADER_LOG_ERR,
		    "%s; leadership waits for etcd (check --etcd and that the member runs)", err);
	r->reachable = ok;
}

static void set_elected(struct run *r, bool elected, int64_t token, const char *why)
{
	if (r->elected == elected)
		return;
	struct leader *l = r->l;
	pthread_mutex_lock(&l->key_lock);
	if (!elected) {
		l->election_key[0] = '\0';
		l->election_token = 0;
	}
	pthread_mutex_unlock(&l->key_lock);
	r->elected = elected;
	r->token = elected ? token : 0;
	r->zombie_said = false;
	atomic_fetch_add(&l->changes, 1);
	if (elected)
		say(r, LEADER_LOG_INFO, "elected leader of %s, fencing token %" PRId64, l->election,
		    token);
	else
		say(r, LEADER_LOG_WARNING, "no longer leader of %s: %s", l->election, why);
}

/* Gives up the lease: a new one and a new campaign follow (a new token).
 * The old lease is revoked now or once etcd answers again. */
static void drop_lease(struct run *r, const char *why)
{
	set_elected(r, false, 0, why);
	etcd_campaign_cancel(&r->campaign);
	if (r->lease)
		r->revoke_pending = r->lease;
	r->lease = 0;
	r->campaign_retry_ms = 0;
	r->next_keepalive_ms = 0; /* a new lease at once */
}

static void grant(struct run *r, uint64_t now)
{
	struct leader *l = r->l;
	char err[512];
	int64_t id, granted;
	int rc = etcd_lease_grant(&l->client, l->opt.lease_ttl_s, &id, &granted, err, sizeof(err));
	reached(r, rc != -EIO, err);
	if (rc != 0) {
		r->next_keepalive_ms = now + GRANT_RETRY_MS;
		return;
	}
	atomic_fetch_add(&l->lease_grants, 1);
	r->lease = id;
	r->ttl_ms = (uint64_t)granted * 1000;
	r->refreshed_ms = now;
	r->next_keepalive_ms = now + r->ttl_ms / 3;
}

static void keepalive(struct run *r, uint64_t now)
{
	struct leader *l = r->l;
	char err[512];
	int64_t ttl = 0;
	int rc = etcd_lease_keepalive(&l->client, r->lease, &ttl, err, sizeof(err));
	reached(r, rc != -EIO, err);
	if (rc != 0) {
		r->next_keepalive_ms = now + KEEPALIVE_RETRY_MS;
		return;
	}
	if (ttl <= 0 && zombie(r, "etcd no longer has our lease")) {
		r->next_keepalive_ms = now + r->ttl_ms / 3;
		return;
	}
	if (ttl <= 0) {
		say(r, LEADER_LOG_WARNING, "etcd no longer has lease %" PRIx64 ": taking a new one",
		    (uint64_t)r->lease);
		r->lease = 0; /* gone already: nothing to revoke */
		drop_lease(r, "the lease expired in etcd");
		return;
	}
	r->refreshed_ms = now;
	r->next_keepalive_ms = now + r->ttl_ms / 3;
}

/* Who leads, as etcd says; a leader that finds another key leading (or
 * none) has been deposed. */
static void check_leader(struct run *r)
{
	struct leader *l = r->l;
	char err[512], value[32];
	int64_t rev = 0;
	bool found = false;
	int rc = etcd_election_leader(&l->client, l->election, value, sizeof(value), &rev, &found,
				      err, sizeof(err));
	reached(r, rc != -EIO, err);
	if (rc != 0)
		return;
	r->leader_node_id = found ? strtoull(value, NULL, 10) : 0;
	if (r->elected && (!found || rev != r->token) &&
	    !zombie(r, found ? "another key leads the election" : "our election key is gone"))
		drop_lease(r,
			   found ? "another key leads the election" : "our election key is gone");
}

static void campaign(struct run *r, uint64_t now, int wait_ms)
{
	struct leader *l = r->l;
	char err[512], value[8];
	if (!r->campaign.running) {
		if (now < r->campaign_retry_ms)
			return;
		snprintf(value, sizeof(value), "%u", l->opt.node_id);
		if (etcd_campaign_start(&l->client, &r->campaign, l->election, r->lease, value, err,
					sizeof(err)) != 0) {
			say(r, LEADER_LOG_ERR, "%s", err);
			r->campaign_retry_ms = now + CAMPAIGN_RETRY_MS;
			return;
		}
	}
	struct etcd_leader_key won;
	int rc = etcd_campaign_poll(&l->client, &r->campaign, wait_ms, &won, err, sizeof(err));
	if (rc < 0) {
		if (!atomic_load(&l->stop))
			reached(r, !strstr(err, "campaign: "), err);
		r->campaign_retry_ms = leader_clock_ms() + CAMPAIGN_RETRY_MS;
		return;
	}
	if (rc == 0)
		return;
	/* Elected on a lease we still hold, and still within our deadline:
	 * an answer that comes late may not make us leader after it. */
	if (won.lease != r->lease || leader_clock_ms() >= deadline_ms(r)) {
		drop_lease(r, "elected too late, on a lease past its deadline");
		return;
	}
	pthread_mutex_lock(&l->key_lock);
	snprintf(l->election_key, sizeof(l->election_key), "%s", won.key);
	l->election_token = (uint64_t)won.rev;
	pthread_mutex_unlock(&l->key_lock);
	r->leader_node_id = l->opt.node_id;
	set_elected(r, true, won.rev, NULL);
}

static bool ring_push(struct leader_settle_ring *q, const struct leader_settle_job *j)
{
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	if (head - atomic_load_explicit(&q->tail, memory_order_acquire) >= LEADER_SETTLE_QUEUE)
		return false;
	q->job[head % LEADER_SETTLE_QUEUE] = *j;
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return true;
}

static bool ring_pop(struct leader_settle_ring *q, struct leader_settle_job *out)
{
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	if (tail == atomic_load_explicit(&q->head, memory_order_acquire))
		return false;
	*out = q->job[tail % LEADER_SETTLE_QUEUE];
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return true;
}

int leader_settle_submit(struct leader *l, const struct leader_settle_job *job)
{
	return ring_push(&l->jobs, job) ? 0 : -ENOSPC;
}

bool leader_settle_answer(struct leader *l, struct leader_settle_job *out)
{
	return ring_pop(&l->answers, out);
}

int leader_record_format(const struct leader_record *r, char *buf, size_t cap)
{
	int n =
	    snprintf(buf, cap,
		     "{\"amount\":%" PRIu64 ",\"bidder\":%" PRIu64 ",\"hlc\":%" PRIu64
		     ",\"node_id\":%u,\"fencing_token\":%" PRIu64 ",\"settled_at_ms\":%" PRIu64 "}",
		     r->amount, r->bidder, r->hlc, r->node_id, r->fencing_token, r->settled_at_ms);
	return n > 0 && (size_t)n < cap ? n : -ENOSPC;
}

static bool field_u64(json_t *o, const char *name, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

int leader_record_parse(const char *json, size_t len, struct leader_record *out)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	uint64_t node = 0;
	bool ok = json_is_object(o) && field_u64(o, "amount", INT64_MAX, &out->amount) &&
		  field_u64(o, "bidder", INT64_MAX, &out->bidder) &&
		  field_u64(o, "hlc", INT64_MAX, &out->hlc) &&
		  field_u64(o, "node_id", UINT16_MAX, &node) &&
		  field_u64(o, "fencing_token", INT64_MAX, &out->fencing_token) &&
		  field_u64(o, "settled_at_ms", INT64_MAX, &out->settled_at_ms) &&
		  out->fencing_token != 0 && out->settled_at_ms != 0;
	out->node_id = (uint16_t)node;
	json_decref(o);
	return ok ? 0 : -EINVAL;
}

/* A settlement key found there already: etcd's record is the one. */
static enum leader_settle_outcome read_back(struct leader *l, struct leader_settle_job *j)
{
	char key[ETCD_KEY_MAX + 24], value[512], err[512];
	size_t got = 0;
	bool found = false;
	snprintf(key, sizeof(key), "%s%" PRIu64, l->settled_prefix, j->auction);
	pthread_mutex_lock(&l->settle_lock);
	int rc =
	    etcd_get(&l->settle_client, key, value, sizeof(value), &got, &found, err, sizeof(err));
	pthread_mutex_unlock(&l->settle_lock);
	if (rc != 0 || !found || got >= sizeof(value) ||
	    leader_record_parse(value, got, &j->rec) != 0)
		return LEADER_ETCD_DOWN; /* asked again on the next try */
	return LEADER_ADOPTED;
}

/* The key we lead with and its token, read together (one lock): a guard
 * and a token from two different leaderships would make a txn that fails
 * for no deposition. false while not elected. */
static bool current_key(struct leader *l, char *key, size_t cap, uint64_t *token)
{
	pthread_mutex_lock(&l->key_lock);
	snprintf(key, cap, "%s", l->election_key);
	*token = l->election_token;
	pthread_mutex_unlock(&l->key_lock);
	return key[0] != '\0' && *token != 0;
}

static int settle_txn(struct leader *l, const char *guard, uint64_t token, uint64_t auction,
		      const void *record, size_t len, bool *existing, char *err, size_t errlen);

static enum leader_settle_outcome settle_one(struct run *r, struct leader_settle_job *j)
{
	struct leader *l = r->l;
	struct leader_view v;
	char record[256], err[512], guard[ETCD_KEY_MAX];
	uint64_t token = 0;
	leader_read(l, &v);
	if (!v.leader || !current_key(l, guard, sizeof(guard), &token) || token != v.token)
		return v.reachable ? LEADER_NOT_LEADER : LEADER_ETCD_DOWN;
	/* The record carries the token the txn is guarded by: the guard
	 * compares the same value (read once, here). */
	j->rec.fencing_token = token;
	int len = leader_record_format(&j->rec, record, sizeof(record));
	bool existing = false;
	int rc = settle_txn(l, guard, token, j->auction, record, (size_t)len, &existing, err,
			    sizeof(err));
	if (rc == 1)
		return LEADER_SETTLED;
	if (rc < 0) {
		reached(r, rc != -EIO, err);
		return LEADER_ETCD_DOWN;
	}
	if (existing)
		return read_back(l, j);
	say(r, LEADER_LOG_WARNING, "%s: stepping down", err);
	drop_lease(r, "a settlement txn was refused for our fencing token");
	return LEADER_REFUSED_TOKEN;
}

/* The settlements the control thread handed over, a few per turn, and
 * none once a keepalive is due: with etcd slow (each txn up to the
 * request timeout) 64 txns in a row would outlast the lease. Whether any
 * was answered. */
static bool settle_jobs(struct run *r)
{
	struct leader *l = r->l;
	struct leader_settle_job j;
	bool any = false;
	for (int i = 0; i < 64 && !atomic_load(&l->stop); i++) {
		/* Only with room for the answer: a job is never lost. */
		if (atomic_load(&l->answers.head) - atomic_load(&l->answers.tail) >=
		    LEADER_SETTLE_QUEUE)
			break;
		if (r->lease && leader_clock_ms() >= r->next_keepalive_ms)
			break;
		if (!ring_pop(&l->jobs, &j))
			break;
		j.outcome = settle_one(r, &j);
		ring_push(&l->answers, &j);
		any = true;
	}
	return any;
}

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* One turn of the loop: lease, keepalive, who leads, campaign. */
static void step(struct run *r)
{
	struct leader *l = r->l;
	char err[512];
	uint64_t now = leader_clock_ms();
	if (r->lease && now >= deadline_ms(r) && !zombie(r, "our lease deadline passed"))
		drop_lease(r, "the lease could not be refreshed in time (etcd unreachable?)");
	if (settle_jobs(r))
		publish(r);
	/* Best effort, once etcd answers: a lease not revoked expires. */
	if (r->revoke_pending && r->reachable) {
		etcd_lease_revoke(&l->client, r->revoke_pending, err, sizeof(err));
		r->revoke_pending = 0;
	}
	if (!r->lease) {
		if (now >= r->next_keepalive_ms)
			grant(r, now);
	} else if (now >= r->next_keepalive_ms) {
		keepalive(r, now);
		if (r->lease)
			check_leader(r);
	}
	publish(r);
	now = leader_clock_ms();
	int wait = r->next_keepalive_ms > now ? (int)(r->next_keepalive_ms - now) : 0;
	if (wait > LOOP_WAIT_MS)
		wait = LOOP_WAIT_MS;
	if (r->lease && !r->elected) {
		uint64_t was = r->leader_node_id;
		campaign(r, now, wait);
		if (r->elected || was != r->leader_node_id)
			publish(r);
		if (!r->campaign.running && !r->elected)
			nap(wait);
	} else {
		nap(wait);
	}
}

static void *leader_main(void *arg)
{
	struct leader *l = arg;
	struct run r = {.l = l, .reachable = true};
	/* The process's signals (SIGINT, SIGTERM) go to the other threads:
	 * none interrupts a request half-way. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&l->stop))
		step(&r);
	/* Leaving: a revoked lease lets another node lead at once rather
	 * than after the TTL. The stop flag aborts transfers, so the revoke
	 * gets a client of its own. */
	etcd_campaign_cancel(&r.campaign);
	bool was = r.elected;
	set_elected(&r, false, 0, "the node stops");
	publish(&r);
	if (r.lease) {
		char err[512];
		struct etcd_client last;
		if (etcd_client_init(&last, l->opt.etcd, LEADER_CONNECT_TIMEOUT_MS, 500, NULL, err,
				     sizeof(err)) == 0) {
			last.current = l->client.current;
			if (etcd_lease_revoke(&last, r.lease, err, sizeof(err)) != 0 && was)
				say(&r, LEADER_LOG_WARNING,
				    "%s: the next leader waits for the lease to expire", err);
			etcd_client_fini(&last);
		}
	}
	return NULL;
}

static long request_timeout_ms(unsigned int ttl_s)
{
	long t = (long)ttl_s * 1000 / 4;
	return t < LEADER_TIMEOUT_MAX_MS ? t : LEADER_TIMEOUT_MAX_MS;
}

int leader_start(struct leader *l, const struct leader_options *opt, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->opt = *opt;
	if (opt->lease_ttl_s * 1000 <= 2 * LEADER_MARGIN_MS) {
		snprintf(err, errlen, "--lease-ttl %u: too short for the %d ms margin; give 2..60",
			 opt->lease_ttl_s, LEADER_MARGIN_MS);
		return -EINVAL;
	}
	snprintf(l->election, sizeof(l->election), "/%s/leader", opt->cluster_name);
	snprintf(l->settled_prefix, sizeof(l->settled_prefix), "/%s/settled/", opt->cluster_name);
	if (etcd_global_init() != 0) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -EIO;
	}
	long timeout = request_timeout_ms(opt->lease_ttl_s);
	int rc = etcd_client_init(&l->client, opt->etcd, LEADER_CONNECT_TIMEOUT_MS, timeout,
				  &l->stop, err, errlen);
	if (rc == 0)
		rc = etcd_client_init(&l->settle_client, opt->etcd, LEADER_CONNECT_TIMEOUT_MS,
				      timeout, &l->stop, err, errlen);
	if (rc != 0) {
		etcd_client_fini(&l->client);
		return rc;
	}
	pthread_mutex_init(&l->settle_lock, NULL);
	pthread_mutex_init(&l->key_lock, NULL);
	rc = pthread_create(&l->thread, NULL, leader_main, l);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the leader thread: %s", strerror(rc));
		etcd_client_fini(&l->client);
		etcd_client_fini(&l->settle_client);
		return -rc;
	}
	pthread_setname_np(l->thread, "bp-leader");
	l->started = true;
	return 0;
}

void leader_stop(struct leader *l)
{
	if (!l->started)
		return;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	etcd_client_fini(&l->client);
	etcd_client_fini(&l->settle_client);
	pthread_mutex_destroy(&l->settle_lock);
	pthread_mutex_destroy(&l->key_lock);
	l->started = false;
}

int leader_settle_txn(struct leader *l, uint64_t auction, const void *record, size_t len,
		      bool *existing, char *err, size_t errlen)
{
	struct leader_view v;
	char guard[ETCD_KEY_MAX];
	uint64_t token = 0;
	*existing = false;
	leader_read(l, &v);
	if (!v.leader || !current_key(l, guard, sizeof(guard), &token) || token != v.token) {
		snprintf(err, errlen, "not the leader");
		return 0;
	}
	return settle_txn(l, guard, token, auction, record, len, existing, err, errlen);
}

/* The txn of leader_settle_txn, guarded by (guard, token). */
static int settle_txn(struct leader *l, const char *guard, uint64_t token, uint64_t auction,
		      const void *record, size_t len, bool *existing, char *err, size_t errlen)
{
	char key[ETCD_KEY_MAX + 24];
	*existing = false;
	snprintf(key, sizeof(key), "%s%" PRIu64, l->settled_prefix, auction);
	struct etcd_guarded g;
	pthread_mutex_lock(&l->settle_lock);
	int rc = etcd_put_if_guarded(&l->settle_client, guard, (int64_t)token, key, record, len, &g,
				     err, errlen);
	pthread_mutex_unlock(&l->settle_lock);
	if (rc != 0)
		return rc;
	if (g.succeeded)
		return 1;
	/* Refused. A stale token is counted even when the auction is settled
	 * already: we were deposed, whoever wrote first. */
	if (!g.guard_current) {
		atomic_fetch_add(&l->fencing_rejections, 1);
		snprintf(err, errlen,
			 "settlement of auction %" PRIu64 " refused: fencing token %" PRIu64
			 " is no longer current",
			 auction, token);
	} else if (g.key_existed) {
		*existing = true;
		snprintf(err, errlen, "auction %" PRIu64 " is settled already", auction);
	} else {
		snprintf(err, errlen,
			 "etcd refused the settlement txn of auction %" PRIu64
			 " although both its comparisons held",
			 auction);
		return -EPROTO; /* asked again later */
	}
	return 0;
}
