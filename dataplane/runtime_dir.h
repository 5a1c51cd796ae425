/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK leaves its runtime directory (/var/run/dpdk/<file-prefix>: config,
 * multi-process socket, memory maps) behind after rte_eal_cleanup. A process
 * that chose its own unique prefix removes it at exit, so repeated runs
 * leave nothing behind. Main thread only, around rte_eal_cleanup.
 */
#ifndef BIDPLANE_RUNTIME_DIR_H
#define BIDPLANE_RUNTIME_DIR_H

#include <limits.h>

struct runtime_dir {
	char path[PATH_MAX];
};

/* Remembers the runtime directory (after rte_eal_init). */
void runtime_dir_note(struct runtime_dir *d);
/* Removes the files in it and the directory (after rte_eal_cleanup). */
void runtime_dir_remove(const struct runtime_dir *d);

#endif
