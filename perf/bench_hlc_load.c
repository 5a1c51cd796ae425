/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HLC under the node's load. Printed, never asserted.
 *
 * Part 1, virtual time (an injected wall clock, deterministic): 16 workers
 * + the control thread, each worker answering R requests per virtual ms,
 * interleaved one request per source per turn. A request is an accepted
 * bid (a stamp after its auction's leading stamp, HLC G3), a bid that
 * loses (TOO_LOW/CLOSED) or a QUERY, on uniform or zipf auctions. Rows:
 *   before   what the node did: whole source bits (2,048 stamps/ms per
 *            source with 17 sources) and a stamp for every bid and QUERY;
 *   after    what it does: 65,536 / 17 = 3,855 per source, stamps for
 *            accepted bids only, readings for the rest;
 *   blocks   a model of the design not taken: blocks of 64 stamps leased
 *            from one node-wide allocator (any source may use the whole
 *            budget), abandoned when a stamp must follow a later one.
 * Columns: requests and stamps per second (node), the largest lead of a
 * stamp over the wall clock, and logical_overflows (carries).
 *
 * Part 2, real time: ns per stamp and per reading on 1 and 2 threads.
 *
 *   bench_hlc_load [VIRTUAL_MS]
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hlc.h"

#define WORKERS	 16
#define SOURCES	 (WORKERS + 1)
#define AUCTIONS 10000
#define T0	 UINT64_C(1700000000000)
#define LEASE	 64
#define REAL_OPS 2000000u

enum design { BEFORE, AFTER, BLOCKS };
static const char *const design_name[] = {"before", "after", "blocks"};

struct mix {
	unsigned int per_ms; /* requests per worker per virtual ms */
	unsigned int accept; /* percent accepted bids */
	unsigned int lose;   /* percent TOO_LOW / CLOSED */
	double zipf;	     /* 0: uniform auctions */
};

struct result {
	double requests_mps, stamps_mps, accepted_mps;
	uint64_t lead_ms, overflows;
	double abandoned; /* blocks: leased stamps never issued, per stamp */
};

/* --- a model of leased blocks (not the node's code) ------------------ */

struct block_node {
	uint64_t next;
	uint64_t overflows, abandoned;
};

struct block_clock {
	hlc_t cursor, end, last;
};

static hlc_t block_stamp(struct block_node *n, struct block_clock *c, hlc_t after, uint64_t wall)
{
	hlc_t bound = after > c->last ? after : c->last;
	bool current = c->cursor < c->end && hlc_ms(c->cursor) >= wall;
	if (!current || c->cursor <= bound) {
		hlc_t want = hlc_make(wall, 0) > bound + 1 ? hlc_make(wall, 0) : bound + 1;
		if (current && want < c->end) {
			n->abandoned += want - c->cursor;
			c->cursor = want;
		} else {
			n->abandoned += c->end - c->cursor;
			hlc_t base = n->next > want ? n->next : want;
			if (base == n->next && hlc_logical(base) == 0 && hlc_ms(base) > wall)
				n->overflows++;
			hlc_t ms_end = hlc_make(hlc_ms(base) + 1, 0);
			c->cursor = base;
			c->end = base + LEASE < ms_end ? base + LEASE : ms_end;
			n->next = c->end;
		}
	}
	c->last = c->cursor++;
	return c->last;
}

/* --- the virtual-time run ---------------------------------------------- */

static uint64_t virtual_wall(void *arg)
{
	return *(const uint64_t *)arg;
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static double zipf_cdf[AUCTIONS];

static void zipf_init(double s)
{
	double sum = 0;
	for (unsigned int i = 0; i < AUCTIONS; i++) {
		sum += s > 0 ? 1.0 / pow(i + 1, s) : 1.0;
		zipf_cdf[i] = sum;
	}
	for (unsigned int i = 0; i < AUCTIONS; i++)
		zipf_cdf[i] /= sum;
}

static unsigned int pick_auction(uint64_t *x)
{
	double u = (double)(rng_next(x) >> 11) / 9007199254740992.0;
	unsigned int lo = 0, hi = AUCTIONS - 1;
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static hlc_t leads[AUCTIONS];

static void run(enum design d, const struct mix *m, unsigned int ms, struct result *r)
{
	uint64_t wall = T0, x = 88172645463325252ull, stamps = 0, accepted = 0;
	struct hlc_domain dom;
	static struct hlc_clock clk[SOURCES];
	static struct block_clock blk[SOURCES];
	struct block_node bn = {0};
	/* Whole bits: 17 sources took 5 bits, as if there were 32 of them. */
	hlc_domain_init(&dom, d == BEFORE ? 32 : SOURCES, 1000, virtual_wall, &wall);
	for (unsigned int s = 0; s < SOURCES; s++)
		hlc_clock_init(&clk[s], &dom, s);
	memset(blk, 0, sizeof(blk));
	memset(leads, 0, sizeof(leads));
	zipf_init(m->zipf);
	r->lead_ms = 0;
	hlc_t sink = 0;
	for (unsigned int t = 0; t < ms; t++, wall++) {
		for (unsigned int i = 0; i < m->per_ms; i++) {
			for (unsigned int s = 0; s < WORKERS; s++) {
				unsigned int kind = (unsigned int)(rng_next(&x) % 100);
				hlc_t *lead = &leads[pick_auction(&x)];
				hlc_t st = 0;
				if (kind < m->accept) {
					if (d == BLOCKS)
						st = block_stamp(&bn, &blk[s], *lead, wall);
					else
						st = hlc_now_after(&clk[s], *lead);
					*lead = st;
					accepted++;
				} else if (kind < m->accept + m->lose) {
					if (d == BEFORE)
						st = hlc_now_after(&clk[s], *lead);
					else
						sink ^= hlc_read(&clk[s]);
				} else { /* QUERY */
					if (d == BEFORE)
						st = hlc_now(&clk[s]);
					else
						sink ^= hlc_domain_read(&dom);
				}
				if (st) {
					stamps++;
					if (hlc_ms(st) > wall && hlc_ms(st) - wall > r->lead_ms)
						r->lead_ms = hlc_ms(st) - wall;
				}
			}
		}
		/* The control thread: one stamp per virtual ms (status, stats). */
		if (d == BLOCKS)
			block_stamp(&bn, &blk[WORKERS], 0, wall);
		else
			hlc_now(&clk[WORKERS]);
		stamps++;
	}
	bench_sink(sink);
	struct hlc_counters k = {0};
	for (unsigned int s = 0; s < SOURCES; s++)
		hlc_counters_add(&clk[s], &k);
	double secs = ms / 1000.0;
	r->requests_mps = (double)m->per_ms * WORKERS * ms / secs / 1e6;
	r->stamps_mps = (double)stamps / secs / 1e6;
	r->accepted_mps = (double)accepted / secs / 1e6;
	r->overflows = d == BLOCKS ? bn.overflows : k.logical_overflows;
	r->abandoned = d == BLOCKS ? (double)bn.abandoned / (double)stamps : 0;
}

static void row(enum design d, struct mix m, unsigned int ms)
{
	struct result r;
	run(d, &m, ms, &r);
	printf("%-7s %5.1f %3u%% %3u%% %3u%% %-8s %8.1f %8.1f %8.1f %7llu %9llu", design_name[d],
	       m.per_ms / 1000.0, m.accept, m.lose, 100 - m.accept - m.lose,
	       m.zipf > 0 ? "zipf.99" : "uniform", r.requests_mps, r.accepted_mps, r.stamps_mps,
	       (unsigned long long)r.lead_ms, (unsigned long long)r.overflows);
	if (d == BLOCKS)
		printf("  abandoned %.0f%%", 100 * r.abandoned);
	printf("\n");
}

static void virtual_time(unsigned int ms)
{
	printf("virtual time: %u workers + control, %u auctions, %u virtual ms per row\n", WORKERS,
	       AUCTIONS, ms);
	printf("%-7s %5s %4s %4s %4s %-8s %8s %8s %8s %7s %9s\n", "design", "M/s/w", "acc", "lose",
	       "qry", "auctions", "req M/s", "acc M/s", "stmp M/s", "lead ms", "overflows");
	const struct mix full = {6000, 75, 15, 0};
	for (int z = 0; z < 2; z++) {
		struct mix m = full;
		m.zipf = z ? 0.99 : 0;
		row(BEFORE, m, ms);
		row(AFTER, m, ms);
		row(BLOCKS, m, ms);
	}
	printf("at 6 M requests/s per worker, the accepted share the budget allows:\n");
	static const unsigned int uniform[] = {56, 58, 60, 62}, zipf[] = {30, 40, 45, 50, 55};
	for (unsigned int i = 0; i < sizeof(uniform) / sizeof(uniform[0]); i++)
		row(AFTER, (struct mix){6000, uniform[i], 90 - uniform[i], 0}, ms);
	for (unsigned int i = 0; i < sizeof(zipf) / sizeof(zipf[0]); i++)
		row(AFTER, (struct mix){6000, zipf[i], 90 - zipf[i], 0.99}, ms);
	row(BEFORE, (struct mix){6000, 60, 30, 0}, ms);
	row(BLOCKS, (struct mix){6000, 60, 30, 0}, ms);
	row(BLOCKS, (struct mix){6000, 30, 60, 0.99}, ms);
}

/* --- real time ------------------------------------------------------------ */

enum op { OP_NOW, OP_CANDIDATE_ISSUE, OP_READ, OP_DOMAIN_READ };
static const char *const op_name[] = {"hlc_now", "hlc_candidate_after + hlc_issue", "hlc_read",
				      "hlc_domain_read"};

static uint64_t frozen_ms = T0;

struct thread_arg {
	struct hlc_clock *clock;
	enum op op;
	double ns;
};

static void *stamp_thread(void *p)
{
	struct thread_arg *a = p;
	hlc_t sink = 0;
	uint64_t t0 = bench_ns();
	for (unsigned int i = 0; i < REAL_OPS; i++) {
		switch (a->op) {
		case OP_NOW:
			sink ^= hlc_now(a->clock);
			break;
		case OP_CANDIDATE_ISSUE: {
			hlc_t t = hlc_candidate_after(a->clock, sink & 0xff);
			hlc_issue(a->clock, t);
			sink ^= t;
			break;
		}
		case OP_READ:
			sink ^= hlc_read(a->clock);
			break;
		case OP_DOMAIN_READ:
			sink ^= hlc_domain_read(a->clock->domain);
			break;
		}
	}
	a->ns = (double)(bench_ns() - t0) / REAL_OPS;
	bench_sink(sink);
	return NULL;
}

/* Median over runs of the mean ns per operation of each thread. */
static double real_ns(enum op op, unsigned int threads, bool injected)
{
	double runs[BENCH_RUNS];
	for (int r = 0; r < BENCH_RUNS; r++) {
		struct hlc_domain d;
		static struct hlc_clock c[2];
		struct thread_arg a[2];
		pthread_t th[2];
		/* Frozen: a source may carry; the cost is the same. */
		hlc_domain_init(&d, SOURCES, 500, injected ? virtual_wall : NULL,
				injected ? &frozen_ms : NULL);
		double sum = 0;
		for (unsigned int i = 0; i < threads; i++) {
			hlc_clock_init(&c[i], &d, i);
			a[i] = (struct thread_arg){.clock = &c[i], .op = op};
			pthread_create(&th[i], NULL, stamp_thread, &a[i]);
		}
		for (unsigned int i = 0; i < threads; i++) {
			pthread_join(th[i], NULL);
			sum += a[i].ns;
		}
		runs[r] = sum / threads;
	}
	qsort(runs, BENCH_RUNS, sizeof(runs[0]), bench_cmp_double);
	return runs[BENCH_RUNS / 2];
}

static void real_time(void)
{
	printf("\nreal time, ns per operation per thread, median of %d runs x %u\n", BENCH_RUNS,
	       REAL_OPS);
	printf("%-34s %10s %10s %10s %10s\n", "operation", "1 thread", "2 threads", "1 (inj.)",
	       "2 (inj.)");
	for (enum op op = OP_NOW; op <= OP_DOMAIN_READ; op++)
		printf("%-34s %10.2f %10.2f %10.2f %10.2f\n", op_name[op], real_ns(op, 1, false),
		       real_ns(op, 2, false), real_ns(op, 1, true), real_ns(op, 2, true));
	printf("(CLOCK_REALTIME, or inj.: an injected frozen wall clock, the HLC's own cost)\n");
}

int main(int argc, char **argv)
{
	unsigned int ms = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : 200;
	if (ms == 0 || ms > 100000) {
		fprintf(stderr, "bench_hlc_load: VIRTUAL_MS must be 1..100000 (got %s)\n", argv[1]);
		return 2;
	}
	printf("bench_hlc_load\n");
	virtual_time(ms);
	real_time();
	return 0;
}
