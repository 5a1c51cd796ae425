/* SPDX-License-Identifier: BSD-3-Clause */
/* The cluster key file (cluster_key.h). */
#include "cluster_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEX_DIGITS (2 * CLUSTER_KEY_BYTES)
/* Room for the digits, a line end, and one byte more to see a longer file. */
#define READ_MAX (HEX_DIGITS + 3)

static const char GENERATE[] = "make one with: umask 077; head -c 32 /dev/urandom | "
			       "od -An -tx1 | tr -d ' \\n' > FILE";

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_line_end(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '\n') || (n == 2 && s[0] == '\r' && s[1] == '\n');
}

int cluster_key_parse(const char *text, size_t len, struct cluster_key *key, char *err,
		      size_t errlen)
{
	struct cluster_key k;
	size_t digits = 0;
	while (digits < len && hex_value(text[digits]) >= 0)
		digits++;
	if (digits != HEX_DIGITS || !is_line_end(text + digits, len - digits)) {
		snprintf(err, errlen,
			 "must hold exactly %d hex digits (32 bytes) and at most a line end; "
			 "found %zu hex digits in %zu bytes: %s",
			 HEX_DIGITS, digits, len, GENERATE);
		return -EINVAL;
	}
	for (size_t i = 0; i < CLUSTER_KEY_BYTES; i++)
		k.bytes[i] = (uint8_t)(hex_value(text[2 * i]) << 4 | hex_value(text[2 * i + 1]));
	if (sodium_is_zero(k.bytes, sizeof(k.bytes))) {
		snprintf(err, errlen, "is all zeros, a placeholder and not a secret: %s", GENERATE);
		return -EINVAL;
	}
	*key = k;
	sodium_memzero(&k, sizeof(k));
	return 0;
}

/* The file's checks on the open descriptor, so no one can swap the file
 * between the check and the read. */
static int check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "%s: not a regular file (a FIFO, device or directory): "
			 "give the path of a plain key file",
			 path);
		return -EINVAL;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen,
			 "%s: owned by uid %u, not by this user (%u) or root: another user could "
			 "have written this key; chown it to the node's user",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "%s: permissions %03o give group or others access to the cluster key: "
			 "chmod 600 %s",
			 path, (unsigned int)(st.st_mode & 0777), path);
		return -EPERM;
	}
	return 0;
}

static int open_key_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	int e = errno;
	if (e == ELOOP)
		snprintf(err, errlen, "%s: is a symlink: give the path of the key file itself",
			 path);
	else
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
	return -e;
}

static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int cluster_key_load(const char *path, struct cluster_key *key, char *err, size_t errlen)
{
	char text[READ_MAX];
	int fd = open_key_file(path, err, errlen);
	if (fd < 0)
		return fd;
	int rc = check_file(fd, path, err, errlen);
	ssize_t n = 0;
	if (rc == 0) {
		n = read_all(fd, text, sizeof(text));
		if (n < 0) {
			rc = (int)n;
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		}
	}
	close(fd);
	if (rc == 0) {
		char why[256];
		rc = cluster_key_parse(text, (size_t)n, key, why, sizeof(why));
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", path, why);
	}
	sodium_memzero(text, sizeof(text));
	if (rc == 0 && errlen > 0)
		err[0] = '\0';
	return rc;
}
