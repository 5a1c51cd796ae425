/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small state files that must survive a crash whole: a decimal number in
 * <dir>/<name>, replaced by writing <name>.tmp, fsync, rename over <name>,
 * fsync of the directory. A reader sees the old number or the new one,
 * never a torn one. Used for the fencing epoch and the HLC ceiling.
 *
 * Threads: any one thread at a time per file; these block (fsync). Plain C.
 */
#ifndef BIDPLANE_DURABLE_FILE_H
#define BIDPLANE_DURABLE_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Reads the number: 0 and *value, -ENOENT when there is no file,
 * -EBADMSG when the file holds anything but one decimal number (and a
 * newline), or another negative errno. Never follows a symlink. */
int durable_u64_read(const char *dir, const char *name, uint64_t *value);

/* Stores the number durably as above. 0 or a negative errno. */
int durable_u64_write(const char *dir, const char *name, uint64_t value);

#endif
