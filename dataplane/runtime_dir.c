/* SPDX-License-Identifier: BSD-3-Clause */
#include "runtime_dir.h"

#include <dirent.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

void runtime_dir_note(struct runtime_dir *d)
{
	snprintf(d->path, sizeof(d->path), "%s", rte_eal_get_runtime_dir());
}

void runtime_dir_expect(struct runtime_dir *d, const char *prefix)
{
	const char *base = "/var/run";
	if (getuid() != 0)
		base = getenv("XDG_RUNTIME_DIR") ? getenv("XDG_RUNTIME_DIR") : "/tmp";
	if (snprintf(d->path, sizeof(d->path), "%s/dpdk/%s", base, prefix) >= (int)sizeof(d->path))
		d->path[0] = '\0';
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

const char *runtime_file_prefix(int argc, char **argv)
{
	const char *found = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--file-prefix") == 0 && i + 1 < argc)
			found = argv[++i];
		else if (strncmp(argv[i], "--file-prefix=", 14) == 0)
			found = argv[i] + 14;
	}
	return found; /* the last one wins, as in DPDK */
}

/* "<prefix>map_" then digits and at most one '_' between digits: DPDK's
 * own files of that prefix, never another prefix's that starts alike. */
static bool is_hugepage_file(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0 || strncmp(name + n, "map_", 4) != 0)
		return false;
	const char *p = name + n + 4;
	bool digit = false, underscore = false;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			digit = true;
		} else if (*p == '_' && digit && !underscore) {
			underscore = true;
			digit = false;
		} else {
			return false;
		}
	}
	return digit;
}

static int remove_in(const char *mount, const char *prefix)
{
	DIR *dir = opendir(mount);
	if (!dir)
		return 0;
	int removed = 0;
	char file[PATH_MAX + 256];
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		if (!is_hugepage_file(e->d_name, prefix))
			continue;
		snprintf(file, sizeof(file), "%s/%s", mount, e->d_name);
		removed += unlink(file) == 0;
	}
	closedir(dir);
	return removed;
}

int runtime_hugepage_files_remove(const char *prefix)
{
	if (!prefix || !*prefix || strchr(prefix, '/'))
		return 0;
	FILE *f = setmntent("/proc/mounts", "r");
	if (!f)
		return 0;
	int removed = 0;
	for (struct mntent *m; (m = getmntent(f)) != NULL;)
		if (strcmp(m->mnt_type, "hugetlbfs") == 0)
			removed += remove_in(m->mnt_dir, prefix);
	endmntent(f);
	return removed;
}
