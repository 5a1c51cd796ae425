/* SPDX-License-Identifier: BSD-3-Clause */
#include "runtime_dir.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

void runtime_dir_note(struct runtime_dir *d)
{
	snprintf(d->path, sizeof(d->path), "%s", rte_eal_get_runtime_dir());
}

void runtime_dir_remove(const struct runtime_dir *d)
{
	if (d->path[0] == '\0')
		return;
	DIR *dir = opendir(d->path);
	if (!dir)
		return;
	struct dirent *e;
	char file[PATH_MAX + 256];
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", d->path, e->d_name);
		unlink(file);
	}
	closedir(dir);
	rmdir(d->path);
}
