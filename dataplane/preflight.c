/* SPDX-License-Identifier: BSD-3-Clause */
#include "preflight.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has_arg(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0 ||
		    (strncmp(argv[i], name, n) == 0 && argv[i][n] == '='))
			return true;
	return false;
}

/* Free hugepages of any size, from <root>/sys/kernel/mm/hugepages. */
static unsigned long free_hugepages(const char *root)
{
	char dir[512], path[1024];
	snprintf(dir, sizeof(dir), "%s/sys/kernel/mm/hugepages", root);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	unsigned long total = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "hugepages-", 10) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", dir, e->d_name);
		FILE *f = fopen(path, "r");
		unsigned long n = 0;
		if (f && fscanf(f, "%lu", &n) == 1)
			total += n;
		if (f)
			fclose(f);
	}
	closedir(d);
	return total;
}

static bool hugetlbfs_mounted(const char *root)
{
	char path[512], line[1024];
	snprintf(path, sizeof(path), "%s/proc/mounts", root);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " hugetlbfs ") != NULL;
	fclose(f);
	return found;
}

static int add_arg(struct bp_eal_args *out, size_t *used, const char *s)
{
	size_t n = strlen(s) + 1;
	if (out->argc >= BP_EAL_ARGS_MAX || *used + n > sizeof(out->storage))
		return -E2BIG;
	char *dst = out->storage + *used;
	memcpy(dst, s, n);
	*used += n;
	out->argv[out->argc++] = dst;
	out->argv[out->argc] = NULL;
	return 0;
}

/* bp_preflight with the /sys and /proc trees under `root` (tests use a
 * fake tree; the node passes ""). */
int bp_preflight_at(const char *root, int eal_argc, char **eal_argv, const struct bp_config *cfg,
		    struct bp_eal_args *out, char *err, size_t errlen)
{
	size_t used = 0;
	memset(out, 0, sizeof(*out));
	if (eal_argc > BP_EAL_ARGS_MAX - 6) {
		snprintf(err, errlen, "too many EAL arguments (%d)", eal_argc);
		return -E2BIG;
	}
	for (int i = 0; i < eal_argc; i++)
		out->argv[out->argc++] = eal_argv[i];

	bool own_prefix = !has_arg(eal_argc, eal_argv, "--file-prefix");
	if (own_prefix) {
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "bidplane-%d", (int)getpid());
		add_arg(out, &used, "--file-prefix");
		add_arg(out, &used, prefix);
	}
	if (has_arg(eal_argc, eal_argv, "--no-huge"))
		return 0;
	/* No secondary process can join a prefix only we know: unlink the
	 * hugepage files at once so none is left behind, even after kill -9. */
	if (own_prefix && !has_arg(eal_argc, eal_argv, "--huge-unlink"))
		add_arg(out, &used, "--huge-unlink");
	unsigned long free_pages = free_hugepages(root);
	bool mounted = hugetlbfs_mounted(root);
	if (free_pages > 0 && mounted)
		return 0;
	if (cfg->fallback_no_huge) {
		add_arg(out, &used, "--no-huge");
		if (!has_arg(eal_argc, eal_argv, "-m") &&
		    !has_arg(eal_argc, eal_argv, "--socket-mem")) {
			add_arg(out, &used, "-m");
			add_arg(out, &used, "512");
		}
		fprintf(stderr,
			"bidplane: no usable hugepages (%lu free, hugetlbfs %s): "
			"running with --no-huge (--fallback-no-huge)\n",
			free_pages, mounted ? "mounted" : "not mounted");
		return 0;
	}
	snprintf(err, errlen,
		 "no usable hugepages (%lu free, hugetlbfs %s). Fix it as root:\n"
		 "  echo 512 > /proc/sys/vm/nr_hugepages\n"
		 "  mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages\n"
		 "or run without them: add the EAL options --no-huge -m 512 (before --), "
		 "or the option --fallback-no-huge (after --)%s",
		 free_pages, mounted ? "mounted" : "not mounted",
		 geteuid() != 0 ? ".\nNote: DPDK needs root (or hugepage and device permissions) "
				  "to use hugepages"
				: "");
	return -ENOMEM;
}

int bp_preflight(int eal_argc, char **eal_argv, const struct bp_config *cfg,
		 struct bp_eal_args *out, char *err, size_t errlen)
{
	return bp_preflight_at("", eal_argc, eal_argv, cfg, out, err, errlen);
}

void bp_eal_args_print(FILE *out, const struct bp_eal_args *a)
{
	fputs("EAL arguments:", out);
	for (int i = 0; i < a->argc; i++)
		fprintf(out, " %s", a->argv[i]);
	fputc('\n', out);
}
