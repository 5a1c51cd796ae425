/* SPDX-License-Identifier: BSD-3-Clause */
#include "fencing.h"
#include "mkdir_p.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EPOCH_FILE "fencing_epoch"

static int read_epoch(const char *path, uint64_t *epoch)
{
	char buf[32] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*epoch = 0;
		return 0;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int saved = errno;
	close(fd);
	if (n < 0)
		return -saved;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || errno != 0 || buf[0] == '-')
		return -EBADMSG;
	*epoch = v;
	return 0;
}

static int write_durably(const char *dir, const char *path, uint64_t epoch)
{
	char tmp[640];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", epoch);
	int rc = 0;
	if (write(fd, buf, (size_t)len) != len || fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return -errno;
	rc = fsync(dfd) == 0 ? 0 : -errno;
	close(dfd);
	return rc;
}

int fencing_advance(const char *state_dir, uint64_t *epoch, char *err, size_t errlen)
{
	char path[600];
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, EPOCH_FILE) >= (int)sizeof(path)) {
		snprintf(err, errlen, "--state-dir is too long (%zu bytes)", strlen(state_dir));
		return -ENAMETOOLONG;
	}
	int rc = mkdir_p(state_dir);
	if (rc != 0) {
		snprintf(err, errlen,
			 "cannot create state directory %s: %s; pass a writable --state-dir",
			 state_dir, strerror(-rc));
		return rc;
	}
	uint64_t stored = 0;
	rc = read_epoch(path, &stored);
	if (rc == -EBADMSG) {
		snprintf(err, errlen,
			 "%s does not hold an epoch number; restore it, or remove it only if "
			 "no other node ever used this --state-dir",
			 path);
		return rc;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	if (stored == UINT64_MAX) {
		snprintf(err, errlen, "%s: epoch exhausted", path);
		return -EOVERFLOW;
	}
	rc = write_durably(state_dir, path, stored + 1);
	if (rc != 0) {
		snprintf(err, errlen,
			 "cannot persist %s: %s; the node will answer NOT_SERVING "
			 "until it can (check disk space and permissions of --state-dir)",
			 path, strerror(-rc));
		return rc;
	}
	*epoch = stored + 1;
	return 0;
}
