/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What DPDK leaves behind on disk, and its removal:
 * - its runtime directory (/var/run/dpdk/<file-prefix>: config,
 *   multi-process socket, memory maps) stays after rte_eal_cleanup, and
 *   after a failed rte_eal_init too. A process that chose its own unique
 *   prefix removes it at every exit, so repeated runs leave nothing.
 * - hugepage files (<hugetlbfs mount>/<prefix>map_N) of a prefix the user
 *   gave (so without --huge-unlink, secondaries may attach) stay after a
 *   clean exit and keep their hugepages reserved; the primary removes them
 *   once it is done with them.
 * Main thread only, around rte_eal_init and rte_eal_cleanup.
 */
#ifndef BIDPLANE_RUNTIME_DIR_H
#define BIDPLANE_RUNTIME_DIR_H

#include <limits.h>

struct runtime_dir {
	char path[PATH_MAX];
};

/* Remembers the runtime directory (after rte_eal_init). */
void runtime_dir_note(struct runtime_dir *d);
/* The directory rte_eal_init will make for `prefix` (before it: a failed
 * init leaves it too), by DPDK's rule: /var/run/dpdk/<prefix> for root,
 * else $XDG_RUNTIME_DIR/dpdk/<prefix> or /tmp/dpdk/<prefix>. */
void runtime_dir_expect(struct runtime_dir *d, const char *prefix);
/* Removes the files in it and the directory (after rte_eal_cleanup). */
void runtime_dir_remove(const struct runtime_dir *d);

/* The value of --file-prefix in an EAL argument vector, or NULL. */
const char *runtime_file_prefix(int argc, char **argv);
/* Unlinks <mount>/<prefix>map_<digits>[_<digits>] on every hugetlbfs mount
 * (after rte_eal_cleanup of a primary process); returns how many. */
int runtime_hugepage_files_remove(const char *prefix);

#endif
