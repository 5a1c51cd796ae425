/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cluster secret from --cluster-key-file (CLUSTER.md): 64 hex digits
 * (32 bytes), optionally followed by one line end. Every peer message is
 * authenticated with it (peer_proto.h).
 *
 * The loader refuses, with a message that names the fix:
 *   - a symlink (opened with O_NOFOLLOW), a FIFO, a device, a directory:
 *     anything but a regular file (O_NONBLOCK, so a FIFO cannot stall it);
 *   - a file with any permission for group or others (mode & 077): the key
 *     must be the node's alone (chmod 600 FILE);
 *   - content that is not exactly 64 hex digits plus an optional "\n" or
 *     "\r\n", and the all-zero key (a placeholder, not a secret).
 * Buffers that held the key are wiped (sodium_memzero).
 *
 * Threads: no global state; call from the control thread at start.
 */
#ifndef BIDPLANE_CLUSTER_KEY_H
#define BIDPLANE_CLUSTER_KEY_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_KEY_BYTES 32

struct cluster_key {
	uint8_t bytes[CLUSTER_KEY_BYTES];
};

/*
 * Loads the key from path. Returns 0, or a negative errno with a message
 * in err (always NUL-terminated): -ELOOP symlink, -EINVAL not a regular
 * file or bad content, -EPERM group/other permissions, -ENOENT and other
 * open/read errors as they come.
 */
int cluster_key_load(const char *path, struct cluster_key *key, char *err, size_t errlen);

/* Parses 64 hex digits (plus an optional line end) from text[0, len).
 * Returns 0 or -EINVAL with a message in err. */
int cluster_key_parse(const char *text, size_t len, struct cluster_key *key, char *err,
		      size_t errlen);

#endif
