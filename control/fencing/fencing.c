/* SPDX-License-Identifier: BSD-3-Clause */
#include "fencing.h"

#include "durable_file.h"
#include "mkdir_p.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define EPOCH_FILE "fencing_epoch"
#define LOCK_FILE  "lock"

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
	rc = durable_u64_read(state_dir, EPOCH_FILE, &stored);
	if (rc == -ENOENT) {
		stored = 0; /* the first life of this state dir */
		rc = 0;
	}
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
	rc = durable_u64_write(state_dir, EPOCH_FILE, stored + 1);
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

/* The pid a lock file names, or 0. */
static int lock_holder(int fd)
{
	char buf[24] = {0};
	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return atoi(buf);
}

/* The state dir exists (made if missing), is a directory and writable. */
static int check_state_dir(const char *state_dir, char *err, size_t errlen)
{
	int rc = mkdir_p(state_dir);
	struct stat st;
	if (rc == 0 && stat(state_dir, &st) != 0)
		rc = -errno;
	if (rc == -ENOTDIR || (rc == 0 && !S_ISDIR(st.st_mode))) {
		snprintf(err, errlen,
			 "--state-dir %s is not a directory (it or a parent is a file): pass a "
			 "directory the node may write, e.g. --state-dir /var/lib/bidplane",
			 state_dir);
		return -ENOTDIR;
	}
	if (rc == 0 && access(state_dir, W_OK | X_OK) != 0)
		rc = -errno;
	if (rc != 0) {
		snprintf(err, errlen,
			 "cannot use --state-dir %s: %s; pass a directory the node may write, "
			 "e.g. --state-dir /var/lib/bidplane",
			 state_dir, strerror(-rc));
		return rc;
	}
	return 0;
}

int fencing_lock(const char *state_dir, int *fd, char *err, size_t errlen)
{
	char path[600];
	*fd = -1;
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, LOCK_FILE) >= (int)sizeof(path)) {
		snprintf(err, errlen, "--state-dir is too long (%zu bytes)", strlen(state_dir));
		return -ENAMETOOLONG;
	}
	int rc = check_state_dir(state_dir, err, errlen);
	if (rc != 0)
		return rc;
	/* Never unlinked: the file is the lock's name for every node of this
	 * dir, so no two of them can ever hold different files. */
	int lock = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (lock < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s; pass a --state-dir the node may write",
			 path, strerror(-rc));
		return rc;
	}
	if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		int pid = lock_holder(lock);
		if (rc == -EBUSY && pid > 0)
			snprintf(err, errlen,
				 "--state-dir %s is in use by the running node pid %d (it holds "
				 "%s): stop that node first, or give this one its own --state-dir",
				 state_dir, pid, path);
		else
			snprintf(
			    err, errlen,
			    "--state-dir %s is in use by another node (%s is locked: %s): stop "
			    "that node first, or give this one its own --state-dir",
			    state_dir, path, strerror(-rc));
		close(lock);
		return rc;
	}
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(lock, 0) != 0 || pwrite(lock, pid, (size_t)len, 0) != len) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s; check disk space of --state-dir", path,
			 strerror(-rc));
		close(lock);
		return rc;
	}
	*fd = lock;
	return 0;
}
