/* SPDX-License-Identifier: BSD-3-Clause */
/* mkdir -p for the node's state and socket directories. Any thread. */
#ifndef BIDPLANE_MKDIR_P_H
#define BIDPLANE_MKDIR_P_H

/* Creates dir and its missing parents (mode 0755). 0 or a negative errno. */
int mkdir_p(const char *dir);

/* Creates the directory that will hold `path` (its parents). */
int mkdir_parent_of(const char *path);

#endif
