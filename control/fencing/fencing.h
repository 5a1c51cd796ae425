/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Embedded fencing epoch: a counter kept in <state_dir>/fencing_epoch,
 * incremented and made durable (write temp file, fsync, rename, fsync the
 * directory) at every start, once the node is sure to serve. The state
 * dir is locked (flock) for the node's life: one node per state dir. A node whose epoch is not
 * durable must not serve: a restarted node could otherwise reuse the epoch of its previous life.
 * Without --etcd this epoch is also the lone node's fencing token; with
 * --etcd the token is the etcd election key's revision (control/leader/).
 *
 * Threads: control thread only. Plain C, no DPDK.
 */
#ifndef BIDPLANE_FENCING_H
#define BIDPLANE_FENCING_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads the stored epoch (0 when the file does not exist), stores epoch+1
 * durably and returns it in *epoch. Creates state_dir if missing. Returns 0,
 * or a negative errno with a message naming the path and the fix; a file
 * that exists but does not hold a number is an error (-EBADMSG), never
 * silently reset.
 */
int fencing_advance(const char *state_dir, uint64_t *epoch, char *err, size_t errlen);

/*
 * Locks state_dir for this process: an flock on <state_dir>/lock, which
 * then names our pid. Call once at start, before fencing_advance, and keep
 * *fd open for the node's life (exit releases it). Creates state_dir if
 * missing. Returns 0, or with err naming the fix: -ENOTDIR (not a
 * directory), -EBUSY (another node holds it: its pid is named), another
 * -errno (not writable).
 */
int fencing_lock(const char *state_dir, int *fd, char *err, size_t errlen);

#endif
