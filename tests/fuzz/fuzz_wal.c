/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the log's record decoder and file header decoder
 * (control/wal/) on any bytes. A record that decodes must be exactly what
 * the encoder and the seal make of the decoded fields (so decoding accepts
 * one spelling only), and pass wal_record_check; a header that decodes must
 * re-encode to the same 32 bytes. Sanitizers catch any read past the data.
 * Seeds: tests/fuzz/make_wal_corpus.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wal_record.h"
#include "wal_segment.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static void check_header(const uint8_t *data, size_t size, enum wal_file_kind kind)
{
	if (size < WAL_FILE_HEADER_LEN)
		return;
	struct wal_file_header h;
	const char *why = NULL;
	if (wal_file_header_decode(data, kind, &h, &why) != 0) {
		CHECK(why != NULL);
		return;
	}
	uint8_t again[WAL_FILE_HEADER_LEN];
	wal_file_header_encode(again, &h);
	CHECK(memcmp(again, data, WAL_FILE_HEADER_LEN) == 0);
}

/* wal_encode writes the current version and no batch mark; a decoded
 * record of version 1, or with a mark, is rebuilt with its own. */
static void keep_version_and_batch(uint8_t *rec, const struct wal_record *r)
{
	rec[12] = r->version;
	rec[14] = (uint8_t)(r->batch & 0xff);
	rec[15] = (uint8_t)(r->batch >> 8);
}

/* The same bytes with a valid checksum: the fuzzer cannot forge XXH3, so
 * this is how it reaches the version, type, size and field checks. */
static void check_resealed(const uint8_t *data, size_t size)
{
	if (size < WAL_HEADER_LEN)
		return;
	uint32_t len = wal_peek_length(data);
	if (len < WAL_RECORD_MIN || len > WAL_RECORD_MAX || len > size)
		return;
	uint8_t copy[WAL_RECORD_MAX];
	memcpy(copy, data, len);
	uint64_t lsn = 0;
	for (int i = 7; i >= 0; i--)
		lsn = lsn << 8 | copy[16 + i];
	wal_seal(copy, len, lsn);
	struct wal_record r;
	size_t used = 0;
	const char *why = NULL;
	enum wal_error e = wal_decode(copy, len, &r, &used, &why);
	CHECK(e != WAL_ERR_CHECKSUM && e != WAL_ERR_SHORT && e != WAL_ERR_TRUNCATED);
	if (e != WAL_OK) {
		CHECK(why != NULL);
		return;
	}
	CHECK(used == len && wal_record_check(&r, NULL) == WAL_OK);
	uint8_t again[WAL_RECORD_MAX];
	r.lsn = 0;
	CHECK(wal_encode(again, sizeof(again), &r) == len);
	keep_version_and_batch(again, &r);
	wal_seal(again, len, lsn);
	CHECK(memcmp(again, copy, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	/* A run of records, as a segment's body holds them. */
	while (off < size) {
		struct wal_record r;
		size_t used = 0;
		const char *why = NULL;
		enum wal_error e = wal_decode(data + off, size - off, &r, &used, &why);
		if (e != WAL_OK) {
			CHECK(why != NULL && wal_error_name(e) != NULL);
			break;
		}
		CHECK(used >= WAL_RECORD_MIN && used <= WAL_RECORD_MAX && used <= size - off);
		CHECK(wal_record_check(&r, NULL) == WAL_OK && r.lsn != 0);
		uint8_t again[WAL_RECORD_MAX];
		struct wal_record unsealed = r;
		unsealed.lsn = 0;
		size_t len = wal_encode(again, sizeof(again), &unsealed);
		CHECK(len == used);
		keep_version_and_batch(again, &r);
		wal_seal(again, len, r.lsn);
		CHECK(memcmp(again, data + off, len) == 0);
		off += used;
	}
	check_resealed(data, size);
	check_header(data, size, WAL_FILE_SEGMENT);
	check_header(data, size, WAL_FILE_SNAPSHOT);
	return 0;
}
