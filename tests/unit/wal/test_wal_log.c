/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log on disk: segments, the reader, snapshots and recovery
 * (control/wal/wal_reader.h, wal_snapshot.h, wal_recover.h). A property
 * over seeded random logs (a prefix's replay is extended by the full
 * replay), torn tails cut at every offset of the last record, flipped bytes
 * in older records, segment headers and snapshots refused with the file and
 * offset, LSN gaps, symlinks and FIFOs under log names.
 */
#include "wal_model.h"

#include <dirent.h>
#include <inttypes.h>

#include "wal_reader.h"
#include "wal_recover.h"
#include "wal_writer.h"

WAL_TEST_SCRATCH_DIR("wal-log")

static int no_sync(int fd)
{
	(void)fd;
	return 0; /* the page cache is enough for a reader in the same boot */
}

/* Appends records through the writer (one producer), from LSN first. */
static void append_log(const struct wal_record *recs, size_t n, uint64_t first,
		       uint64_t segment_bytes)
{
	char err[512] = "";
	struct wal_writer_config c = {.state_dir = dir,
				      .first_lsn = first,
				      .producers = 1,
				      .ring_slots = 64,
				      .segment_bytes = segment_bytes,
				      .batch_max = 7,
				      .idle_us = 1,
				      .sync = no_sync};
	struct wal_writer *w = wal_writer_create(&c, err, sizeof(err));
	if (!w)
		fail_msg("%s", err);
	assert_int_equal(wal_writer_start(w), 0);
	struct wal_producer *p = wal_writer_producer(w, 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t buf[WAL_RECORD_MAX];
		size_t len = wal_encode(buf, sizeof(buf), &recs[i]);
		assert_true(len > 0);
		struct wal_receipt rc;
		int e;
		while ((e = wal_submit(p, buf, len, &rc)) == -EAGAIN)
			usleep(10);
		assert_int_equal(e, 0);
	}
	wal_writer_stop(w);
	assert_true(wal_durable_lsn(w) == first + n - 1);
	wal_writer_destroy(w);
}

struct collected {
	struct model m;
	uint64_t lsns[4096];
	size_t n;
};

static int collect(const struct wal_record *r, void *arg)
{
	struct collected *c = arg;
	if (c->n < 4096)
		c->lsns[c->n++] = r->lsn;
	m_apply(&c->m, r);
	return 0;
}

static int recover_into(struct collected *c, struct wal_recovery *out, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	return wal_recover(dir, m_apply_cb, collect, c, out, err, errlen);
}

static uint64_t *segment_lsns(size_t *n)
{
	char err[256];
	int fd = wal_dir_open(dir, false, err, sizeof(err));
	assert_true(fd >= 0);
	uint64_t *lsns;
	assert_int_equal(wal_list(fd, WAL_FILE_SEGMENT, &lsns, n), 0);
	close(fd);
	return lsns;
}

static void seg_path(char *out, size_t len, uint64_t lsn, enum wal_file_kind kind)
{
	char name[WAL_NAME_CAP];
	wal_file_name(name, lsn, kind);
	wal_path(out, len, dir, name);
}

/* Offsets of the records of a segment file (offs[i] start, offs[n] end). */
static size_t record_offsets(const uint8_t *buf, size_t size, size_t *offs, size_t cap)
{
	size_t n = 0, off = WAL_FILE_HEADER_LEN;
	while (off < size && n < cap) {
		struct wal_record r;
		size_t used;
		const char *why;
		if (wal_decode(buf + off, size - off, &r, &used, &why) != WAL_OK)
			break;
		offs[n++] = off;
		off += used;
	}
	offs[n] = off;
	return n;
}

/* Cuts the log after its first k records (at a record boundary). */
static void cut_log_at(uint64_t k)
{
	size_t n;
	uint64_t *lsns = segment_lsns(&n);
	for (size_t i = 0; i < n; i++) {
		char path[256];
		seg_path(path, sizeof(path), lsns[i], WAL_FILE_SEGMENT);
		if (lsns[i] > k + 1) {
			assert_int_equal(unlink(path), 0);
			continue;
		}
		if (i + 1 < n && lsns[i + 1] <= k + 1)
			continue; /* wholly kept */
		size_t size, offs[4097];
		uint8_t *buf = read_whole(path, &size);
		size_t cnt = record_offsets(buf, size, offs, 4096);
		uint64_t keep = k + 1 - lsns[i];
		assert_true(keep <= cnt);
		assert_int_equal(truncate(path, (off_t)offs[keep]), 0);
		free(buf);
	}
	free(lsns);
}

static uint64_t largest_segment(void)
{
	size_t n;
	uint64_t *lsns = segment_lsns(&n), largest = 0;
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		char path[256];
		struct stat st;
		seg_path(path, sizeof(path), lsns[i], WAL_FILE_SEGMENT);
		assert_int_equal(stat(path, &st), 0);
		if ((uint64_t)st.st_size > largest)
			largest = (uint64_t)st.st_size;
	}
	free(lsns);
	return largest;
}

/* Replaying any prefix gives a state the full replay extends, and exactly
 * the model of that prefix; the full replay gives every record once. */
static void any_prefix_is_extended_by_the_full_replay(void **state)
{
	(void)state;
	uint64_t seed = prop_base_seed();
	static struct wal_record recs[400];
	static struct collected full, part;
	static struct model want;
	for (unsigned long round = 0; round < 30; round++) {
		struct prop_rng r;
		prop_seed(&r, seed + round);
		size_t n = 20 + prop_below(&r, 380);
		struct model opened = {0};
		uint64_t hlc = 1;
		for (size_t i = 0; i < n; i++)
			recs[i] = m_random(&r, &opened, &hlc);
		uint64_t segment_bytes = 4096 + prop_below(&r, 4096);
		append_log(recs, n, 1, segment_bytes);
		assert_true(largest_segment() <= segment_bytes); /* rolled over in time */
		char err[512] = "";
		struct wal_recovery out;
		if (recover_into(&full, &out, err, sizeof(err)) != 0) {
			prop_report("full replay", seed, round);
			fail_msg("%s", err);
		}
		assert_true(out.last_lsn == n && full.n == n);
		for (size_t i = 0; i < n; i++)
			assert_true(full.lsns[i] == i + 1);
		/* Prefixes, longest first: each cut removes more. */
		uint64_t k = n;
		for (int step = 0; step < 6 && k > 0; step++) {
			k = prop_below(&r, k);
			cut_log_at(k);
			int rc = recover_into(&part, &out, err, sizeof(err));
			memset(&want, 0, sizeof(want));
			for (size_t i = 0; i < k; i++)
				m_apply(&want, &recs[i]);
			if (rc != 0 || out.last_lsn != k || part.n != k ||
			    !m_extends(&full.m, &part.m) || !m_equal(&want, &part.m)) {
				prop_report("prefix extended by the full replay", seed, round);
				fail_msg("prefix %" PRIu64 " of %zu: rc %d (%s), last %" PRIu64, k,
					 n, rc, err, out.last_lsn);
			}
		}
		remove_tree(dir);
		assert_int_equal(mkdir(dir, 0700), 0);
	}
}

static struct wal_record numbered(uint64_t i)
{
	return make_bid(1 + i % 5, 1 + i % 3, i + 1, 10 + i, 100 + i, BP_ACCEPTED);
}

static void append_numbered(size_t n, uint64_t segment_bytes)
{
	static struct wal_record recs[1024];
	for (size_t i = 0; i < n; i++)
		recs[i] = numbered(i);
	append_log(recs, n, 1, segment_bytes);
}

static void expect_refusal(const char *file, uint64_t offset);

/* The last record cut at every offset: recovery cuts it off, keeps the rest. */
static void a_torn_last_record_is_cut_at_every_offset(void **state)
{
	(void)state;
	append_numbered(10, 1 << 20);
	char path[256];
	seg_path(path, sizeof(path), 1, WAL_FILE_SEGMENT);
	size_t size, offs[16];
	uint8_t *orig = read_whole(path, &size);
	assert_int_equal(record_offsets(orig, size, offs, 15), 10);
	size_t last = offs[9];
	for (size_t cut = last; cut < size; cut++) {
		write_whole(path, orig, cut);
		struct collected c;
		struct wal_recovery out;
		char err[512] = "";
		if (recover_into(&c, &out, err, sizeof(err)) != 0)
			fail_msg("cut at %zu: %s", cut, err);
		assert_true(out.last_lsn == 9 && c.n == 9);
		assert_true(out.cut_bytes == cut - last);
		for (size_t i = 0; i < 9; i++)
			assert_true(c.lsns[i] == i + 1);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, last); /* truncated to the last good record */
		/* What was cut is gone for good: the writer starts at 10. */
		assert_true(out.next_lsn == 10);
	}
	/* The whole last record, a byte of it flipped (a sector never written). */
	orig[last + 30] ^= 0x10;
	write_whole(path, orig, size);
	struct collected c;
	struct wal_recovery out;
	char err[512] = "";
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), 0);
	assert_true(out.last_lsn == 9);
	/* Zeros after the last record (the zeros a running writer writes
	 * ahead of its appends, or a size that grew before the data came):
	 * the segment's end, trimmed, not a torn write. */
	orig[last + 30] ^= 0x10;
	uint8_t *padded = calloc(1, size + 300);
	memcpy(padded, orig, size);
	write_whole(path, padded, size + 300);
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), 0);
	assert_true(out.last_lsn == 10 && out.cut_bytes == 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, size);
	/* A torn last batch before the zeros: cut, zeros and all. */
	padded[last + 30] ^= 0x10;
	write_whole(path, padded, size + 300);
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), 0);
	assert_true(out.last_lsn == 9 && out.cut_bytes == size - last + 300);
	/* Damage to an older batch stays a refusal with zeros after it. */
	size_t offs2[16];
	record_offsets(orig, size, offs2, 15);
	memcpy(padded, orig, size);
	padded[offs2[2] + 30] ^= 0x10;
	write_whole(path, padded, size + 300);
	expect_refusal("00000000000000000001.wal", offs2[2]);
	free(padded);
	free(orig);
}

static void expect_refusal(const char *file, uint64_t offset)
{
	struct collected c;
	struct wal_recovery out;
	char err[1024] = "", want[128];
	int rc = recover_into(&c, &out, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: offset %" PRIu64 ":", file, offset);
	if (rc == 0 || !strstr(err, want) || !strstr(err, "restore"))
		fail_msg("expected a refusal naming '%s' and the fix; got rc %d: %s", want, rc,
			 err);
}

/* Every byte of an older record flipped in turn: refused, naming the file
 * and the record's offset; recovery touches nothing. */
static void a_flipped_byte_in_an_older_record_refuses(void **state)
{
	(void)state;
	append_numbered(10, 1 << 20);
	char path[256];
	seg_path(path, sizeof(path), 1, WAL_FILE_SEGMENT);
	size_t size, offs[16];
	uint8_t *orig = read_whole(path, &size);
	/* Record 3: the writer's batches are at most 7 records (append_log),
	 * so at least one later batch follows it: acknowledged, not torn. */
	record_offsets(orig, size, offs, 15);
	for (size_t j = offs[2]; j < offs[3]; j++) {
		for (int bit = 0; bit < 8; bit += 3) {
			orig[j] ^= (uint8_t)(1 << bit);
			write_whole(path, orig, size);
			expect_refusal("00000000000000000001.wal", offs[2]);
			orig[j] ^= (uint8_t)(1 << bit);
			size_t now;
			uint8_t *after = read_whole(path, &now);
			assert_int_equal(now, size); /* nothing cut */
			free(after);
		}
	}
	/* A whole, sealed record with the wrong LSN (a replayed or misplaced
	 * write): refused at that record, naming both LSNs. */
	wal_seal(orig + offs[2], offs[3] - offs[2], 9);
	write_whole(path, orig, size);
	expect_refusal("00000000000000000001.wal", offs[2]);
	struct collected c;
	struct wal_recovery out;
	char err[1024] = "";
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "LSN 9 where LSN 3 must follow"));
	free(orig);
}

static void a_bad_segment_header_or_gap_refuses(void **state)
{
	(void)state;
	append_numbered(200, 4096);
	size_t n;
	uint64_t *lsns = segment_lsns(&n);
	assert_true(n >= 3);
	char path[256], name[WAL_NAME_CAP];
	seg_path(path, sizeof(path), lsns[1], WAL_FILE_SEGMENT);
	wal_file_name(name, lsns[1], WAL_FILE_SEGMENT);
	size_t size;
	uint8_t *orig = read_whole(path, &size);
	for (size_t j = 0; j < WAL_FILE_HEADER_LEN; j++) {
		orig[j] ^= 0x01;
		write_whole(path, orig, size);
		expect_refusal(name, 0);
		orig[j] ^= 0x01;
	}
	write_whole(path, orig, size);
	/* A middle segment missing: an LSN gap. */
	char name0[WAL_NAME_CAP];
	wal_file_name(name0, lsns[0], WAL_FILE_SEGMENT);
	assert_int_equal(unlink(path), 0);
	struct collected c;
	struct wal_recovery out;
	char err[1024] = "";
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, name0));
	assert_non_null(strstr(err, "next segment starts at"));
	/* The first segment missing, no snapshot: records 1.. are gone. */
	seg_path(path, sizeof(path), lsns[0], WAL_FILE_SEGMENT);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no snapshot: records 1..")); /* ..N are missing */
	free(orig);
	free(lsns);
}

static void symlinks_and_fifos_under_log_names_are_refused(void **state)
{
	(void)state;
	append_numbered(5, 1 << 20);
	char path[256], target[256];
	struct collected c;
	struct wal_recovery out;
	char err[1024] = "";
	seg_path(path, sizeof(path), 6, WAL_FILE_SEGMENT);
	wal_path(target, sizeof(target), dir, "elsewhere");
	write_whole(target, (const uint8_t *)"x", 1);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "00000000000000000006.wal"));
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(unlink(path), 0);

	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10); /* a FIFO opened without O_NONBLOCK would hang the test */
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), -EINVAL);
	alarm(0);
	assert_non_null(strstr(err, "00000000000000000006.wal"));
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlink(path), 0);

	/* A FIFO as the snapshot. */
	seg_path(path, sizeof(path), 3, WAL_FILE_SNAPSHOT);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), -EINVAL);
	alarm(0);
	assert_non_null(strstr(err, "00000000000000000003.snap"));
	assert_int_equal(unlink(path), 0);

	/* The wal directory itself a symlink. */
	char waldir[200], moved[200];
	snprintf(waldir, sizeof(waldir), "%s/%s", dir, WAL_DIR_NAME);
	snprintf(moved, sizeof(moved), "%s/real", dir);
	assert_int_equal(rename(waldir, moved), 0);
	assert_int_equal(symlink(moved, waldir), 0);
	assert_true(recover_into(&c, &out, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not a symlink"));
	assert_int_equal(unlink(waldir), 0);
	assert_int_equal(rename(moved, waldir), 0);
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), 0);
	assert_true(out.last_lsn == 5);
}

static size_t count_files(const char *suffix)
{
	char waldir[200];
	snprintf(waldir, sizeof(waldir), "%s/%s", dir, WAL_DIR_NAME);
	DIR *d = opendir(waldir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), s = strlen(suffix);
		n += l > s && strcmp(de->d_name + l - s, suffix) == 0;
	}
	closedir(d);
	return n;
}

/* A snapshot at K, then the records after it: the same state as the whole
 * log; the segments it covers are deleted, and so is an older snapshot.
 * A snapshot holding effects of records after K (the node's state keeps
 * moving while it is copied) replays to the same state too. */
static void a_snapshot_and_the_log_after_it_recover_the_state(void **state)
{
	(void)state;
	static struct wal_record recs[600];
	static struct model full, at;
	static struct collected c;
	struct prop_rng r;
	uint64_t seed = prop_base_seed();
	prop_seed(&r, seed);
	struct model opened = {0};
	uint64_t hlc = 1;
	size_t n = 600;
	for (size_t i = 0; i < n; i++)
		recs[i] = m_random(&r, &opened, &hlc);
	memset(&full, 0, sizeof(full));
	for (size_t i = 0; i < n; i++)
		m_apply(&full, &recs[i]);
	append_log(recs, n, 1, 4096);
	size_t before = count_files(WAL_SEGMENT_SUFFIX);
	uint64_t marks[] = {200, 450};
	for (int s = 0; s < 2; s++) {
		uint64_t k = marks[s], ahead = s == 1 ? 40 : 0;
		memset(&at, 0, sizeof(at));
		for (size_t i = 0; i < k + ahead; i++)
			m_apply(&at, &recs[i]);
		char err[1024] = "";
		struct wal_snapshot_info info;
		if (wal_snapshot_write(dir, k, m_serialize, &at, &info, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_true(info.removed_segments > 0);
		assert_true(info.removed_snapshots == (uint64_t)s);
		assert_int_equal(count_files(WAL_SNAPSHOT_SUFFIX), 1);
		struct wal_recovery out;
		if (recover_into(&c, &out, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_true(out.snapshot_lsn == k && out.last_lsn == n && c.n == n - k);
		for (size_t i = 0; i < c.n; i++)
			assert_true(c.lsns[i] == k + 1 + i);
		if (!m_equal(&full, &c.m)) {
			prop_report("snapshot + log = whole log", seed, (unsigned long)k);
			fail();
		}
	}
	assert_true(count_files(WAL_SEGMENT_SUFFIX) < before);
	/* Appending after recovery continues the LSNs, and a restart reads it all. */
	append_log(recs, 10, n + 1, 4096);
	struct wal_recovery out;
	char err[1024] = "";
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), 0);
	assert_true(out.last_lsn == n + 10);
}

/* Every byte of a snapshot flipped: refused with the file and the offset of
 * the damaged record (0 for the file header). */
static void a_flipped_byte_in_the_snapshot_refuses(void **state)
{
	(void)state;
	static struct model m;
	memset(&m, 0, sizeof(m));
	for (uint64_t i = 0; i < 20; i++) {
		struct wal_record r = numbered(i);
		m_apply(&m, &r);
	}
	m_apply(&m, &(struct wal_record){.type = WAL_AUCTION_OPEN, .u.open = {2, 5, 1, 0, 0, 0}});
	append_numbered(30, 1 << 20);
	char err[1024] = "";
	assert_int_equal(wal_snapshot_write(dir, 20, m_serialize, &m, NULL, err, sizeof(err)), 0);
	char path[256];
	seg_path(path, sizeof(path), 20, WAL_FILE_SNAPSHOT);
	size_t size, offs[64];
	uint8_t *orig = read_whole(path, &size);
	size_t cnt = record_offsets(orig, size, offs, 63);
	assert_int_equal(offs[cnt], size);
	size_t k = 0;
	for (size_t j = 0; j < size; j++) {
		while (k < cnt && j >= offs[k + 1])
			k++;
		orig[j] ^= 0x04;
		write_whole(path, orig, size);
		expect_refusal("00000000000000000020.snap", j < WAL_FILE_HEADER_LEN ? 0 : offs[k]);
		orig[j] ^= 0x04;
	}
	/* Cut short (the end record missing) or with bytes after it. */
	write_whole(path, orig, offs[cnt - 1]);
	expect_refusal("00000000000000000020.snap", offs[cnt - 1]);
	uint8_t *longer = calloc(1, size + 8);
	memcpy(longer, orig, size);
	write_whole(path, longer, size + 8);
	expect_refusal("00000000000000000020.snap", size);
	write_whole(path, orig, size);
	struct collected c;
	struct wal_recovery out;
	assert_int_equal(recover_into(&c, &out, err, sizeof(err)), 0);
	assert_true(out.snapshot_lsn == 20 && out.last_lsn == 30 && c.n == 10);
	free(longer);
	free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(any_prefix_is_extended_by_the_full_replay, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(a_torn_last_record_is_cut_at_every_offset, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(a_flipped_byte_in_an_older_record_refuses, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(a_bad_segment_header_or_gap_refuses, make_dir,
					    drop_dir),
	    cmocka_unit_test_setup_teardown(symlinks_and_fifos_under_log_names_are_refused,
					    make_dir, drop_dir),
	    cmocka_unit_test_setup_teardown(a_snapshot_and_the_log_after_it_recover_the_state,
					    make_dir, drop_dir),
	    cmocka_unit_test_setup_teardown(a_flipped_byte_in_the_snapshot_refuses, make_dir,
					    drop_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
