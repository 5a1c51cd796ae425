/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "wal_le.h"

static const char *const magic[] = {
    [WAL_FILE_SEGMENT] = "BPWALSEG", [WAL_FILE_SNAPSHOT] = "BPWALSNP"};
static const char *const suffix[] = {
    [WAL_FILE_SEGMENT] = WAL_SEGMENT_SUFFIX, [WAL_FILE_SNAPSHOT] = WAL_SNAPSHOT_SUFFIX};

void wal_file_name(char out[WAL_NAME_CAP], uint64_t lsn, enum wal_file_kind kind)
{
	snprintf(out, WAL_NAME_CAP, "%020" PRIu64 "%s", lsn, suffix[kind]);
}

int wal_dir_open(const char *state_dir, bool create, char *err, size_t errlen)
{
	int sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) {
		int e = errno;
		snprintf(err, errlen,
			 "%s: cannot open the state directory: %s; create it or fix --state-dir",
			 state_dir, strerror(e));
		return -e;
	}
	if (create && mkdirat(sfd, WAL_DIR_NAME, 0750) != 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "%s/%s: cannot create the log directory: %s", state_dir,
			 WAL_DIR_NAME, strerror(e));
		close(sfd);
		return -e;
	}
	int fd = openat(sfd, WAL_DIR_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	if (fd >= 0 && create)
		fsync(sfd); /* the new directory's entry */
	close(sfd);
	if (fd < 0) {
		snprintf(err, errlen,
			 "%s/%s: cannot open the log directory: %s; it must be a directory, "
			 "not a symlink: remove or rename it",
			 state_dir, WAL_DIR_NAME, strerror(e));
		return -e;
	}
	return fd;
}

int wal_file_open(int dirfd, const char *shown, const char *name, int flags, char *err,
		  size_t errlen)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s/%s: cannot open: %s%s", shown, name, strerror(e),
			 e == ELOOP ? "; it is a symlink: the log's files must be regular files, "
				      "remove it"
				    : "");
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "%s/%s: not a regular file (a FIFO, device or directory); the log's "
			 "files must be regular files: remove it",
			 shown, name);
		close(fd);
		return -EINVAL;
	}
	/* Regular files never block; reads and writes of the log should. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int wal_refuse_damage(char *err, size_t errlen, const char *shown, const char *name, uint64_t off,
		      const char *what, const char *fix)
{
	int n = snprintf(err, errlen, "%s/%s: offset %" PRIu64 ": %s; ", shown, name, off, what);
	if (n >= 0 && (size_t)n < errlen) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(err + n, errlen - (size_t)n, fix, shown);
#pragma GCC diagnostic pop
	}
	return -EBADMSG;
}

void wal_file_header_encode(uint8_t out[WAL_FILE_HEADER_LEN], const struct wal_file_header *h)
{
	memcpy(out, magic[h->kind], 8);
	wal_put32(out + 8, h->version ? h->version : WAL_FILE_VERSION);
	wal_put32(out + 12, h->flags);
	wal_put64(out + 16, h->lsn);
	wal_put64(out + 24, XXH3_64bits(out, 24));
}

int wal_file_header_decode(const uint8_t in[WAL_FILE_HEADER_LEN], enum wal_file_kind kind,
			   struct wal_file_header *h, const char **why)
{
	if (memcmp(in, magic[kind], 8) != 0)
		*why = kind == WAL_FILE_SEGMENT ? "no segment magic BPWALSEG"
						: "no snapshot magic BPWALSNP";
	else if (wal_get64(in + 24) != XXH3_64bits(in, 24))
		*why = "file header checksum mismatch";
	else if (wal_get32(in + 8) != 1 && wal_get32(in + 8) != 2)
		*why = "file version is not 1 or 2";
	else if ((wal_get32(in + 12) & ~(uint64_t)WAL_SEG_AFTER_FAILURE) != 0 ||
		 (kind == WAL_FILE_SNAPSHOT && wal_get32(in + 12) != 0))
		*why = "unknown file header flags";
	else {
		h->kind = kind;
		h->version = wal_get32(in + 8);
		h->flags = wal_get32(in + 12);
		h->lsn = wal_get64(in + 16);
		return 0;
	}
	return -EBADMSG;
}

int wal_dir_sync(int dirfd)
{
	return fsync(dirfd) == 0 ? 0 : -errno;
}

int wal_segment_create(int dirfd, const char *shown, uint64_t first_lsn, uint32_t flags,
		       int (*sync)(int fd), char *err, size_t errlen)
{
	char name[WAL_NAME_CAP];
	wal_file_name(name, first_lsn, WAL_FILE_SEGMENT);
	unlinkat(dirfd, name, 0); /* holds no record the log needs (see the header) */
	int fd = wal_file_open(dirfd, shown, name, O_RDWR | O_CREAT | O_EXCL, err, errlen);
	if (fd < 0)
		return fd;
	uint8_t hdr[WAL_FILE_HEADER_LEN];
	wal_file_header_encode(
	    hdr,
	    &(struct wal_file_header){.kind = WAL_FILE_SEGMENT, .flags = flags, .lsn = first_lsn});
	ssize_t n = pwrite(fd, hdr, sizeof(hdr), 0);
	int rc = n == (ssize_t)sizeof(hdr) ? 0 : n < 0 ? -errno : -ENOSPC;
	if (rc == 0 && (sync ? sync(fd) : fdatasync(fd)) != 0)
		rc = -errno;
	if (rc == 0)
		rc = wal_dir_sync(dirfd);
	if (rc != 0) {
		snprintf(err, errlen,
			 "%s/%s: cannot create the segment: %s; free space or fix the disk", shown,
			 name, strerror(-rc));
		close(fd);
		unlinkat(dirfd, name, 0);
		return rc;
	}
	return fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The LSN a name stands for, or -1 when it is not 20 digits and the suffix. */
static int parse_name(const char *name, enum wal_file_kind kind, uint64_t *lsn)
{
	size_t sl = strlen(suffix[kind]);
	if (strlen(name) != WAL_NAME_DIGITS + sl ||
	    strcmp(name + WAL_NAME_DIGITS, suffix[kind]) != 0)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < WAL_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*lsn = v;
	return 0;
}

int wal_list(int dirfd, enum wal_file_kind kind, uint64_t **lsns, size_t *n)
{
	int dup_fd = dup(dirfd);
	if (dup_fd < 0)
		return -errno;
	DIR *d = fdopendir(dup_fd);
	if (!d) {
		int e = errno;
		close(dup_fd);
		return -e;
	}
	rewinddir(d);
	size_t cap = 16, count = 0;
	uint64_t *v = malloc(cap * sizeof(*v));
	int rc = v ? 0 : -ENOMEM;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		uint64_t lsn;
		if (parse_name(de->d_name, kind, &lsn) != 0)
			continue;
		if (count == cap) {
			uint64_t *bigger = realloc(v, 2 * cap * sizeof(*v));
			if (!bigger) {
				rc = -ENOMEM;
				break;
			}
			v = bigger;
			cap *= 2;
		}
		v[count++] = lsn;
	}
	closedir(d);
	if (rc != 0) {
		free(v);
		return rc;
	}
	qsort(v, count, sizeof(*v), cmp_u64);
	*lsns = v;
	*n = count;
	return 0;
}
