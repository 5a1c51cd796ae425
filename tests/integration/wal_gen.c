/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writes a big write-ahead log for recovery tests and measurements, as a
 * node would have written it (docs/WAL.md), without a node:
 *
 *   wal_gen STATE_DIR AUCTIONS BIDS [AGE_MS [NODE_ID]]
 *
 * <STATE_DIR>/wal gets segments of 64 MiB from LSN 1: one AUCTION_OPEN per
 * auction 1..AUCTIONS (reserve 1, increment 1, open for an hour), then BIDS
 * ACCEPTED bids: bid i (0-based) on auction i % AUCTIONS + 1 by bidder
 * i + 1 (request 1), amount i / AUCTIONS + 1, so that every bid of an
 * auction raises it and the last one leads; stamped AGE_MS (default 0) in
 * the past, 60,000 a millisecond (increasing stamps). Batches of 512
 * records carry the batch marks the node's writer sets. Prints the next LSN. Test and bench tool:
 * one thread, no DPDK.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "wal_record.h"
#include "wal_segment.h"

#define SEGMENT_BYTES (UINT64_C(64) << 20)
#define GEN_BATCH     512
#define GEN_BUF	      (GEN_BATCH * WAL_RECORD_MAX)

/* The HLC's layout (clock/hlc.h): milliseconds above 16 logical bits. */
static uint64_t hlc_make_gen(uint64_t ms, uint16_t logical)
{
	return ms << 16 | logical;
}

struct gen {
	int dirfd;
	const char *shown;
	int fd;
	uint64_t seg_off, next_lsn;
	bool v1; /* WAL_GEN_VERSION=1: the format before batch marks (a before/after bench) */
	uint8_t buf[GEN_BUF];
	size_t used, lens[GEN_BATCH];
	unsigned int n;
};

static void die(const char *what)
{
	fprintf(stderr, "wal_gen: %s\n", what);
	exit(1);
}

static void new_segment(struct gen *g)
{
	char err[512];
	if (g->fd >= 0 && (fdatasync(g->fd) != 0 || close(g->fd) != 0))
		die(strerror(errno));
	g->fd = wal_segment_create(g->dirfd, g->shown, g->next_lsn, 0, NULL, err, sizeof(err));
	if (g->fd < 0)
		die(err);
	g->seg_off = WAL_FILE_HEADER_LEN;
	if (g->v1) {
		uint8_t h[WAL_FILE_HEADER_LEN];
		if (pread(g->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
			die(strerror(errno));
		h[8] = 1;
		uint64_t sum = XXH3_64bits(h, 24);
		for (int i = 0; i < 8; i++)
			h[24 + i] = (uint8_t)(sum >> (8 * i));
		if (pwrite(g->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
			die(strerror(errno));
	}
}

/* One batch as the writer commits it: a new segment first when it would
 * pass the size, LSNs, batch marks, one write. */
static void commit(struct gen *g)
{
	if (g->n == 0)
		return;
	if (g->fd < 0 || g->seg_off + g->used > SEGMENT_BYTES)
		new_segment(g);
	size_t off = 0;
	for (unsigned int i = 0; i < g->n; i++) {
		if (g->v1) {
			g->buf[off + 12] = 1;
			wal_seal(g->buf + off, g->lens[i], g->next_lsn++);
		} else {
			wal_seal_batch(g->buf + off, g->lens[i], g->next_lsn++, i, i + 1 == g->n);
		}
		off += g->lens[i];
	}
	if (pwrite(g->fd, g->buf, g->used, (off_t)g->seg_off) != (ssize_t)g->used)
		die(strerror(errno));
	g->seg_off += g->used;
	g->used = 0;
	g->n = 0;
}

static void add(struct gen *g, const struct wal_record *r)
{
	size_t len = wal_encode(g->buf + g->used, GEN_BUF - g->used, r);
	if (len == 0)
		die("a record that does not encode");
	g->lens[g->n++] = len;
	g->used += len;
	if (g->n == GEN_BATCH)
		commit(g);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 6)
		die("usage: wal_gen STATE_DIR AUCTIONS BIDS [AGE_MS [NODE_ID]]");
	uint64_t auctions = strtoull(argv[2], NULL, 10), bids = strtoull(argv[3], NULL, 10);
	uint64_t age_ms = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
	uint16_t node = argc > 5 ? (uint16_t)strtoul(argv[5], NULL, 10) : 1;
	if (auctions == 0 || node == 0)
		die("AUCTIONS and NODE_ID must be at least 1");
	char err[512];
	if (mkdir(argv[1], 0700) != 0 && errno != EEXIST)
		die(strerror(errno));
	static struct gen g = {.fd = -1, .next_lsn = 1};
	g.shown = argv[1];
	g.v1 = getenv("WAL_GEN_VERSION") && strcmp(getenv("WAL_GEN_VERSION"), "1") == 0;
	g.dirfd = wal_dir_open(argv[1], true, err, sizeof(err));
	if (g.dirfd < 0)
		die(err);
	uint64_t now = now_ms();
	for (uint64_t a = 1; a <= auctions; a++)
		add(&g, &(struct wal_record){.type = WAL_AUCTION_OPEN,
					     .u.open = {.auction_id = a,
							.reserve = 1,
							.increment = 1,
							.close_at_ms = now + 3600 * 1000}});
	uint64_t ms = now - age_ms - bids / 60000 - 1; /* the last stamp not ahead of now */
	for (uint64_t i = 0; i < bids; i++)
		add(&g,
		    &(struct wal_record){
			.type = WAL_BID,
			.u.bid = {.auction_id = i % auctions + 1,
				  .bidder = i + 1,
				  .request_id = 1,
				  .amount = i / auctions + 1,
				  .hlc = hlc_make_gen(ms + i / 60000, (uint16_t)(i % 60000 + 1)),
				  .node = node,
				  .status = 0 /* ACCEPTED */}});
	commit(&g);
	if (g.fd >= 0 && fdatasync(g.fd) != 0)
		die(strerror(errno));
	printf("%" PRIu64 "\n", g.next_lsn);
	return 0;
}
