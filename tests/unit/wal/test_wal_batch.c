/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The torn-batch rule (docs/WAL.md "Torn batches"): logs written with
 * chosen group-commit boundaries (batch marks as the writer seals them),
 * then damaged. Inside the last batch (never acknowledged) any damage is
 * cut, also a bad record with whole ones after it; damage in a batch that
 * a later batch follows refuses with the file and the offset; every
 * truncation of the last batch recovers; a version 1 segment (no marks)
 * keeps the old rule.
 */
#include "wal_test.h"

#include <inttypes.h>

#include <xxhash.h>

#include "wal_recover.h"

WAL_TEST_SCRATCH_DIR("batch")

static struct wal_record numbered(uint64_t i)
{
	return make_bid(1 + i % 5, 1 + i % 3, i + 1, 10 + i, 100 + i, BP_ACCEPTED);
}

#define SEG "00000000000000000001.wal"

/*
 * Segment 1 of records 1..sum(sizes), in batches of sizes[0], sizes[1],
 * ... (version 2: marks as the writer sets them; version 1: the old
 * format, no marks). offs[i]: where record i (0-based) starts; offs[n]:
 * the end. Returns n.
 */
static size_t write_batches(const size_t *sizes, size_t nb, unsigned int version, size_t *offs)
{
	char err[256], path[256];
	int dfd = wal_dir_open(dir, true, err, sizeof(err));
	assert_true(dfd >= 0);
	int fd = wal_segment_create(dfd, dir, 1, 0, NULL, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	close(dfd);
	wal_path(path, sizeof(path), dir, SEG);
	size_t size;
	uint8_t *hdr = read_whole(path, &size);
	assert_int_equal(size, WAL_FILE_HEADER_LEN);
	uint8_t *buf = malloc(WAL_FILE_HEADER_LEN + 4096 * WAL_RECORD_MAX);
	if (version == 1) { /* the old header: version 1, resealed */
		hdr[8] = 1;
		uint64_t h = XXH3_64bits(hdr, 24);
		for (int i = 0; i < 8; i++)
			hdr[24 + i] = (uint8_t)(h >> (8 * i));
	}
	memcpy(buf, hdr, WAL_FILE_HEADER_LEN);
	free(hdr);
	size_t off = WAL_FILE_HEADER_LEN, n = 0;
	for (size_t b = 0; b < nb; b++)
		for (size_t i = 0; i < sizes[b]; i++) {
			struct wal_record r = numbered(n);
			size_t len = wal_encode(buf + off, WAL_RECORD_MAX, &r);
			assert_true(len > 0);
			if (version == 1) {
				buf[off + 12] = 1;
				wal_seal(buf + off, len, n + 1);
			} else {
				wal_seal_batch(buf + off, len, n + 1, (unsigned int)i,
					       i + 1 == sizes[b]);
			}
			offs[n++] = off;
			off += len;
		}
	offs[n] = off;
	write_whole(path, buf, off);
	free(buf);
	return n;
}

static void seg_file(char *path, size_t len)
{
	wal_path(path, len, dir, SEG);
}

static int recover(struct wal_recovery *out, char *err, size_t errlen)
{
	return wal_recover(dir, NULL, NULL, NULL, out, err, errlen);
}

static void expect_cut_at(uint64_t last_lsn, size_t cut_off)
{
	struct wal_recovery out;
	char err[1024] = "", path[256];
	if (recover(&out, err, sizeof(err)) != 0)
		fail_msg("expected a cut at %zu; refused: %s", cut_off, err);
	if (out.last_lsn != last_lsn)
		fail_msg("cut at %zu: last LSN %" PRIu64 ", expected %" PRIu64, cut_off,
			 out.last_lsn, last_lsn);
	seg_file(path, sizeof(path));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, cut_off);
}

static void expect_refusal_at(size_t off)
{
	struct wal_recovery out;
	char err[1024] = "", want[128];
	int rc = recover(&out, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: offset %zu:", SEG, off);
	if (rc == 0 || !strstr(err, want) || !strstr(err, "restore"))
		fail_msg("expected a refusal naming '%s'; got rc %d: %s", want, rc, err);
}

static const size_t three[] = {3, 4, 5}; /* LSNs 1-3, 4-7, 8-12 */

/* A middle record of the last batch damaged, whole records after it (its
 * sectors written out of order): cut there, the rest of the log kept. */
static void a_bad_middle_record_of_the_last_batch_is_cut(void **state)
{
	(void)state;
	size_t offs[16], size;
	char path[256];
	seg_file(path, sizeof(path));
	write_batches(three, 3, 2, offs);		 /* the same offsets every time */
	for (size_t victim = 7; victim < 12; victim++) { /* LSN 8..12 */
		for (size_t j = offs[victim]; j < offs[victim + 1]; j += 5) {
			write_batches(three, 3, 2, offs);
			uint8_t *b = read_whole(path, &size);
			b[j] ^= 0x21;
			write_whole(path, b, size);
			free(b);
			expect_cut_at(victim, offs[victim]);
		}
		/* The record zeroed, as an unwritten sector reads. */
		write_batches(three, 3, 2, offs);
		uint8_t *b = read_whole(path, &size);
		memset(b + offs[victim], 0, offs[victim + 1] - offs[victim]);
		write_whole(path, b, size);
		free(b);
		expect_cut_at(victim, offs[victim]);
	}
}

/* Damage in a batch that a later batch follows (acknowledged): refused
 * with the file and the record's offset, nothing cut. The batch's last
 * record too: the next batch's records do not lead back to its start. */
static void a_bad_record_in_an_earlier_batch_refuses(void **state)
{
	(void)state;
	size_t offs[16], size;
	char path[256];
	seg_file(path, sizeof(path));
	assert_int_equal(write_batches(three, 3, 2, offs), 12);
	for (size_t victim = 0; victim < 7; victim++) { /* LSN 1..7 */
		for (size_t j = offs[victim]; j < offs[victim + 1]; j += 3) {
			write_batches(three, 3, 2, offs);
			uint8_t *b = read_whole(path, &size);
			b[j] ^= 0x40;
			write_whole(path, b, size);
			free(b);
			expect_refusal_at(offs[victim]);
			struct stat st;
			assert_int_equal(stat(path, &st), 0);
			assert_int_equal((size_t)st.st_size, size); /* nothing cut */
		}
	}
	/* The same with the later batch whole but the last one torn. */
	write_batches(three, 3, 2, offs);
	uint8_t *b = read_whole(path, &size);
	b[offs[5] + 30] ^= 1;
	write_whole(path, b, offs[10] + 7);
	free(b);
	expect_refusal_at(offs[5]);
}

/* The last batch cut at every offset (a crash during its pwritev, the
 * file's size at any point): recovers, keeping the whole records. */
static void every_truncation_of_the_last_batch_recovers(void **state)
{
	(void)state;
	size_t offs[16], size;
	char path[256];
	seg_file(path, sizeof(path));
	size_t n = write_batches(three, 3, 2, offs);
	uint8_t *orig = read_whole(path, &size);
	for (size_t cut = offs[7]; cut <= size; cut++) {
		write_whole(path, orig, cut);
		size_t whole = 7;
		while (whole < n && offs[whole + 1] <= cut)
			whole++;
		expect_cut_at(whole, offs[whole]);
	}
	free(orig);
}

/* A version 1 segment (before batch marks) is read with the old rule:
 * only a bad last record is torn; a bad middle one refuses. */
static void a_version_1_segment_keeps_the_old_rule(void **state)
{
	(void)state;
	size_t offs[16], size;
	char path[256];
	seg_file(path, sizeof(path));
	static const size_t one[] = {12};
	write_batches(one, 1, 1, offs);
	struct wal_recovery out;
	char err[1024] = "";
	assert_int_equal(recover(&out, err, sizeof(err)), 0);
	assert_true(out.last_lsn == 12);
	uint8_t *b = read_whole(path, &size);
	b[offs[11] + 30] ^= 1;
	write_whole(path, b, size);
	expect_cut_at(11, offs[11]);
	write_batches(one, 1, 1, offs);
	free(b);
	b = read_whole(path, &size);
	b[offs[9] + 30] ^= 1;
	write_whole(path, b, size);
	expect_refusal_at(offs[9]);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(a_bad_middle_record_of_the_last_batch_is_cut, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(a_bad_record_in_an_earlier_batch_refuses, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(every_truncation_of_the_last_batch_recovers, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(a_version_1_segment_keeps_the_old_rule, make_dir,
					    drop_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
