/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wal_segment.h"

#define SNAP_BUF   (64 * 1024)
#define TMP_SUFFIX ".tmp"

struct wal_snapshot_out {
	int fd;
	int error; /* the first failure, sticky */
	uint64_t records;
	uint64_t bytes;
	size_t used;
	uint8_t buf[SNAP_BUF];
};

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -ENOSPC;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush(struct wal_snapshot_out *s)
{
	if (s->error == 0 && s->used > 0)
		s->error = write_all(s->fd, s->buf, s->used);
	s->used = 0;
	return s->error;
}

static int add_sealed(struct wal_snapshot_out *s, const struct wal_record *r)
{
	if (s->error)
		return s->error;
	if (SNAP_BUF - s->used < WAL_RECORD_MAX && flush(s) != 0)
		return s->error;
	struct wal_record copy = *r;
	copy.lsn = 0;
	size_t len = wal_encode(s->buf + s->used, SNAP_BUF - s->used, &copy);
	if (len == 0)
		return -EINVAL;
	wal_seal(s->buf + s->used, len, s->records + 1);
	s->used += len;
	s->bytes += len;
	s->records++;
	return 0;
}

int wal_snapshot_add(struct wal_snapshot_out *s, const struct wal_record *r)
{
	if (r->type == WAL_SNAPSHOT_END)
		return -EINVAL; /* written by wal_snapshot_write only */
	return add_sealed(s, r);
}

/* Writes the temporary file whole and durable. */
static int write_tmp(int dirfd, const char *shown, const char *tmp, uint64_t lsn,
		     wal_snapshot_fill_fn fill, void *arg, struct wal_snapshot_out *s, char *err,
		     size_t errlen)
{
	unlinkat(dirfd, tmp, 0); /* a crash's leftover, or anything planted there */
	s->fd = wal_file_open(dirfd, shown, tmp, O_WRONLY | O_CREAT | O_EXCL, err, errlen);
	if (s->fd < 0)
		return s->fd;
	uint8_t hdr[WAL_FILE_HEADER_LEN];
	wal_file_header_encode(hdr,
			       &(struct wal_file_header){.kind = WAL_FILE_SNAPSHOT, .lsn = lsn});
	memcpy(s->buf, hdr, sizeof(hdr));
	s->used = sizeof(hdr);
	s->bytes = sizeof(hdr);
	int rc = fill(s, arg);
	uint64_t state_records = s->records;
	if (rc == 0)
		rc = add_sealed(s, &(struct wal_record){.type = WAL_SNAPSHOT_END,
							.u.snapshot_records = state_records});
	if (rc == 0)
		rc = flush(s);
	if (rc == 0 && fsync(s->fd) != 0)
		rc = -errno;
	if (close(s->fd) != 0 && rc == 0)
		rc = -errno;
	s->records = state_records;
	if (rc != 0)
		snprintf(err, errlen, "%s/%s: cannot write the snapshot: %s%s", shown, tmp,
			 strerror(-rc),
			 rc == -ENOSPC || rc == -EIO ? "; free space or fix the disk" : "");
	return rc;
}

int wal_snapshot_write(const char *state_dir, uint64_t lsn, wal_snapshot_fill_fn fill, void *arg,
		       struct wal_snapshot_info *info, char *err, size_t errlen)
{
	char shown[512];
	snprintf(shown, sizeof(shown), "%s/%s", state_dir, WAL_DIR_NAME);
	int dirfd = wal_dir_open(state_dir, true, err, errlen);
	if (dirfd < 0)
		return dirfd;
	struct wal_snapshot_out *s = calloc(1, sizeof(*s));
	if (!s) {
		close(dirfd);
		snprintf(err, errlen, "%s: out of memory for the snapshot", shown);
		return -ENOMEM;
	}
	char name[WAL_NAME_CAP], tmp[WAL_NAME_CAP + sizeof(TMP_SUFFIX)];
	wal_file_name(name, lsn, WAL_FILE_SNAPSHOT);
	snprintf(tmp, sizeof(tmp), "%s%s", name, TMP_SUFFIX);
	int rc = write_tmp(dirfd, shown, tmp, lsn, fill, arg, s, err, errlen);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s/%s: cannot rename the snapshot into place: %s", shown,
			 tmp, strerror(-rc));
	}
	if (rc == 0 && (rc = wal_dir_sync(dirfd)) != 0)
		snprintf(err, errlen, "%s: cannot fsync the directory: %s", shown, strerror(-rc));
	if (rc != 0)
		unlinkat(dirfd, tmp, 0);
	struct wal_snapshot_info done = {.lsn = lsn, .records = s->records, .bytes = s->bytes};
	free(s);
	if (rc == 0 && (rc = wal_log_truncate(dirfd, lsn, &done)) != 0)
		snprintf(err, errlen, "%s: snapshot written, but deleting older files failed: %s",
			 shown, strerror(-rc));
	close(dirfd);
	if (info)
		*info = done;
	return rc;
}

static int remove_tmp_snapshots(int dirfd, uint64_t *removed)
{
	int dup_fd = dup(dirfd);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		int e = errno;
		if (dup_fd >= 0)
			close(dup_fd);
		return -e;
	}
	rewinddir(d);
	struct dirent *de;
	const char *tail = WAL_SNAPSHOT_SUFFIX TMP_SUFFIX;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), t = strlen(tail);
		if (n > t && strcmp(de->d_name + n - t, tail) == 0 &&
		    unlinkat(dirfd, de->d_name, 0) == 0)
			(*removed)++;
	}
	closedir(d);
	return 0;
}

int wal_log_truncate(int dirfd, uint64_t lsn, struct wal_snapshot_info *info)
{
	uint64_t *segs = NULL, *snaps = NULL, tmp_removed = 0;
	size_t ns = 0, nn = 0;
	int rc = wal_list(dirfd, WAL_FILE_SEGMENT, &segs, &ns);
	if (rc == 0)
		rc = wal_list(dirfd, WAL_FILE_SNAPSHOT, &snaps, &nn);
	char name[WAL_NAME_CAP];
	/* Segment i holds LSNs segs[i] .. segs[i+1] - 1. */
	for (size_t i = 0; rc == 0 && i + 1 < ns && segs[i + 1] <= lsn + 1; i++) {
		wal_file_name(name, segs[i], WAL_FILE_SEGMENT);
		if (unlinkat(dirfd, name, 0) != 0)
			rc = -errno;
		else if (info)
			info->removed_segments++;
	}
	for (size_t i = 0; rc == 0 && i < nn && snaps[i] < lsn; i++) {
		wal_file_name(name, snaps[i], WAL_FILE_SNAPSHOT);
		if (unlinkat(dirfd, name, 0) != 0)
			rc = -errno;
		else if (info)
			info->removed_snapshots++;
	}
	if (rc == 0)
		rc = remove_tmp_snapshots(dirfd, &tmp_removed);
	if (rc == 0)
		rc = wal_dir_sync(dirfd);
	free(segs);
	free(snaps);
	return rc;
}

#define FIX_SNAPSHOT                                                                               \
	"a snapshot is renamed into place whole, so this is damage, not a crash: restore the "     \
	"state directory from a backup, or move %s aside to start empty and catch up from the "    \
	"peers"

static int bad_snapshot(char *err, size_t errlen, const char *shown, const char *name, uint64_t off,
			const char *what)
{
	return wal_refuse_damage(err, errlen, shown, name, off, what, FIX_SNAPSHOT);
}

/* Checks the whole file; *end is the offset of the end record. */
static int check_snapshot(const uint8_t *buf, size_t size, uint64_t lsn, const char *shown,
			  const char *name, uint64_t *records, char *err, size_t errlen)
{
	struct wal_file_header h;
	const char *why;
	if (size < WAL_FILE_HEADER_LEN)
		return bad_snapshot(err, errlen, shown, name, size, "shorter than its file header");
	if (wal_file_header_decode(buf, WAL_FILE_SNAPSHOT, &h, &why) != 0)
		return bad_snapshot(err, errlen, shown, name, 0, why);
	if (h.lsn != lsn)
		return bad_snapshot(err, errlen, shown, name, 16,
				    "the file header's LSN is not the one in the file's name");
	size_t off = WAL_FILE_HEADER_LEN;
	for (uint64_t index = 1;; index++) {
		struct wal_record r;
		size_t used;
		char what[160];
		enum wal_error e = wal_decode(buf + off, size - off, &r, &used, &why);
		if (e != WAL_OK) {
			snprintf(what, sizeof(what), "bad record (%s: %s)", wal_error_name(e), why);
			return bad_snapshot(err, errlen, shown, name, off, what);
		}
		if (r.lsn != index) {
			snprintf(what, sizeof(what),
				 "record numbered %" PRIu64 " where %" PRIu64 " must follow", r.lsn,
				 index);
			return bad_snapshot(err, errlen, shown, name, off, what);
		}
		if (r.type == WAL_SNAPSHOT_END) {
			if (r.u.snapshot_records != index - 1)
				return bad_snapshot(err, errlen, shown, name, off,
						    "the end record's count is not the records'");
			if (off + used != size)
				return bad_snapshot(err, errlen, shown, name, off + used,
						    "bytes after the end record");
			*records = index - 1;
			return 0;
		}
		off += used;
		if (off == size)
			return bad_snapshot(err, errlen, shown, name, off,
					    "the snapshot ends without its end record");
	}
}

int wal_snapshot_load(int dirfd, const char *shown, wal_record_fn fn, void *arg, uint64_t *lsn,
		      uint64_t *records, char *err, size_t errlen)
{
	uint64_t *snaps;
	size_t n;
	*lsn = 0;
	*records = 0;
	int rc = wal_list(dirfd, WAL_FILE_SNAPSHOT, &snaps, &n);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot list the snapshots: %s", shown, strerror(-rc));
		return rc;
	}
	if (n == 0) {
		free(snaps);
		return 0;
	}
	uint64_t newest = snaps[n - 1];
	free(snaps);
	char name[WAL_NAME_CAP];
	wal_file_name(name, newest, WAL_FILE_SNAPSHOT);
	uint8_t *buf;
	size_t size;
	rc = wal_file_load(dirfd, shown, name, &buf, &size, err, errlen);
	if (rc != 0)
		return rc;
	uint64_t count = 0;
	rc = check_snapshot(buf, size, newest, shown, name, &count, err, errlen);
	size_t off = WAL_FILE_HEADER_LEN;
	for (uint64_t i = 0; rc == 0 && i < count; i++) {
		struct wal_record r;
		size_t used;
		const char *why;
		wal_decode(buf + off, size - off, &r, &used, &why); /* checked above */
		if (fn && fn(&r, arg) != 0) {
			snprintf(err, errlen, "%s/%s: offset %zu: loading stopped by its consumer",
				 shown, name, off);
			rc = -ECANCELED;
		}
		off += used;
	}
	free(buf);
	if (rc == 0) {
		*lsn = newest;
		*records = count;
	}
	return rc;
}
