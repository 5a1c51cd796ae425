/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats_hammer NAME SECONDS STOPFILE: snapshots a node's stats segment as
 * fast as it can until STOPFILE exists or SECONDS pass, and checks each:
 * the sequence lock's copy passes its digest and bounds (snapshot code),
 * no (name, labels) appears twice, and each tracked auction shows all four
 * of its entries. Prints one JSON line of counts; exit 0 when every
 * snapshot was whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats_reader.h"

#define AUCTION_ENTRIES 4 /* control/stats_node.c: slot_entries */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_key(const void *a, const void *b)
{
	const struct stats_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->labels, y->labels);
}

/* 0 when the snapshot's directory is whole. */
static int check(struct stats_snapshot *s, struct stats_entry *sorted, uint64_t *auctions)
{
	memcpy(sorted, s->entries, s->count * sizeof(*sorted));
	qsort(sorted, s->count, sizeof(*sorted), cmp_key);
	for (uint32_t i = 1; i < s->count; i++)
		if (cmp_key(&sorted[i - 1], &sorted[i]) == 0)
			return 1; /* duplicate */
	/* Per auction id, count its entries: sorted by name then labels, so
	 * count per label value instead. */
	uint64_t n = 0;
	for (uint32_t i = 0; i < s->count; i++) {
		if (!stats_entry_is_auction(&s->entries[i]))
			continue;
		n++;
		unsigned int same = 0;
		for (uint32_t j = 0; j < s->count; j++)
			same += strcmp(s->entries[j].labels, s->entries[i].labels) == 0;
		if (same != AUCTION_ENTRIES)
			return 1;
	}
	*auctions += n / AUCTION_ENTRIES;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: stats_hammer NAME SECONDS STOPFILE\n");
		return 2;
	}
	char err[512];
	struct stats_reader r;
	double until = now_s() + atof(argv[2]);
	int rc;
	while ((rc = stats_reader_open(&r, argv[1], err, sizeof(err))) == -ENOENT &&
	       now_s() < until)
		usleep(10000);
	if (rc != 0) {
		fprintf(stderr, "stats_hammer: %s\n", err);
		return 1;
	}
	struct stats_snapshot s = {0};
	struct stats_entry *sorted = NULL;
	uint64_t snapshots = 0, retries = 0, busy = 0, broken = 0, versions = 0, auctions = 0;
	uint64_t last_seq = UINT64_MAX;
	while (now_s() < until && access(argv[3], F_OK) != 0) {
		rc = stats_snapshot_take(&r, &s);
		if (rc == -EAGAIN) {
			busy++;
			continue;
		}
		if (rc != 0) {
			broken++;
			continue;
		}
		sorted = realloc(sorted, (s.count ? s.count : 1) * sizeof(*sorted));
		if (!sorted)
			return 1;
		snapshots++;
		retries += s.retries;
		versions += s.info.dir_seq != last_seq;
		last_seq = s.info.dir_seq;
		broken += check(&s, sorted, &auctions) != 0;
	}
	printf("{\"snapshots\": %" PRIu64 ", \"directory_versions\": %" PRIu64
	       ", \"retries\": %" PRIu64 ", \"busy\": %" PRIu64 ", \"broken\": %" PRIu64
	       ", \"auction_sightings\": %" PRIu64 "}\n",
	       snapshots, versions, retries, busy, broken, auctions);
	free(sorted);
	stats_snapshot_free(&s);
	stats_reader_close(&r);
	return broken == 0 ? 0 : 1;
}
