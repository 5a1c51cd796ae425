/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writes the seeds of fuzz_wal into the directory given: one sealed record
 * of every type, a run of records, and the two file headers. Built with the
 * fuzz targets; run by hand when the format changes:
 *   build-fuzz/tests/fuzz/make_wal_corpus tests/fuzz/corpus_wal
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "wal_record.h"
#include "wal_segment.h"

static int put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n) {
		perror(path);
		return 1;
	}
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	const struct wal_record recs[] = {
	    {.type = WAL_BID, .u.bid = {1, 2, 3, 100, 5, 1, BP_ACCEPTED}},
	    {.type = WAL_VIEW, .u.view = {1, 9, 4, 0, 1, BP_WATCH, BP_ACCEPTED}},
	    {.type = WAL_AUCTION_OPEN, .u.open = {1, 10, 1, 60000, 7, 2}},
	    {.type = WAL_AUCTION_CLOSE, .u.close = {1, 60000}},
	    {.type = WAL_SETTLEMENT, .u.settlement = {1, 100, 2, 5, 3, 60001, 1}},
	    {.type = WAL_FENCING_EPOCH, .u.fencing_epoch = 3},
	    {.type = WAL_HLC_HIGH, .u.hlc_high = 1234567},
	    {.type = WAL_SNAPSHOT_END, .u.snapshot_records = 7},
	    {.type = WAL_AUCTION_STATE, .u.state = {1, 3, 2, 1, 100, 5, 2, 1}},
	    {.type = WAL_DUP, .u.dup = {1, 2, 3, 100, 9, 5, 2}},
	    {.type = WAL_AUCTION_DUPS, .u.dups = {1, 2}},
	};
	uint8_t run[16 * WAL_RECORD_MAX];
	size_t used = 0;
	int rc = 0;
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		uint8_t b[WAL_RECORD_MAX];
		size_t n = wal_encode(b, sizeof(b), &recs[i]);
		wal_seal(b, n, i + 1);
		char name[32];
		snprintf(name, sizeof(name), "record_%zu", i + 1);
		rc |= put(argv[1], name, b, n);
		memcpy(run + used, b, n);
		used += n;
	}
	rc |= put(argv[1], "run", run, used);
	uint8_t h[WAL_FILE_HEADER_LEN];
	wal_file_header_encode(h, &(struct wal_file_header){.kind = WAL_FILE_SEGMENT, .lsn = 1});
	rc |= put(argv[1], "segment_header", h, sizeof(h));
	wal_file_header_encode(h, &(struct wal_file_header){.kind = WAL_FILE_SNAPSHOT, .lsn = 8});
	rc |= put(argv[1], "snapshot_header", h, sizeof(h));
	return rc;
}
