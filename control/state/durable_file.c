/* SPDX-License-Identifier: BSD-3-Clause */
#include "durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PATH_CAP 640

static int path_of(char *buf, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(buf, PATH_CAP, "%s/%s%s", dir, name, suffix);
	return n < 0 || n >= PATH_CAP ? -ENAMETOOLONG : 0;
}

int durable_u64_read(const char *dir, const char *name, uint64_t *value)
{
	char path[PATH_CAP], buf[32] = {0};
	int rc = path_of(path, dir, name, "");
	if (rc != 0)
		return rc;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int saved = errno;
	close(fd);
	if (n < 0)
		return -saved;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || (*end == '\n' && end[1] != '\0') ||
	    errno != 0 || buf[0] == '-' || buf[0] == ' ')
		return -EBADMSG;
	*value = v;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int rc = fsync(dfd) == 0 ? 0 : -errno;
	close(dfd);
	return rc;
}

int durable_u64_write(const char *dir, const char *name, uint64_t value)
{
	char path[PATH_CAP], tmp[PATH_CAP];
	int rc = path_of(path, dir, name, "");
	if (rc == 0)
		rc = path_of(tmp, dir, name, ".tmp");
	if (rc != 0)
		return rc;
	unlink(tmp); /* a leftover of a crash, or anything planted there */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", value);
	ssize_t wrote = write(fd, buf, (size_t)len);
	if (wrote != len)
		rc = wrote < 0 ? -errno : -ENOSPC; /* a short write: the disk is full */
	else if (fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	return fsync_dir(dir);
}
