/* SPDX-License-Identifier: BSD-3-Clause */
#include "preflight.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
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

/*
 * The EAL options of DPDK 22.11 (lib/eal/common/eal_common_options.c,
 * eal_short_options and eal_long_options). EAL answers an unknown one with
 * its 110-line usage and no word on which it was; reading them first with
 * the same getopt_long, abbreviations and all, names it.
 */
static const char eal_short_options[] = "a:b:c:s:d:hl:S:m:n:r:v";
static const struct option eal_long_options[] = {
    {"base-virtaddr", required_argument, NULL, 0},
    {"create-uio-dev", no_argument, NULL, 0},
    {"file-prefix", required_argument, NULL, 0},
    {"help", no_argument, NULL, 0},
    {"huge-dir", required_argument, NULL, 0},
    {"huge-unlink", optional_argument, NULL, 0},
    {"iova-mode", required_argument, NULL, 0},
    {"lcores", required_argument, NULL, 0},
    {"log-level", required_argument, NULL, 0},
    {"trace", required_argument, NULL, 0},
    {"trace-dir", required_argument, NULL, 0},
    {"trace-bufsz", required_argument, NULL, 0},
    {"trace-mode", required_argument, NULL, 0},
    {"main-lcore", required_argument, NULL, 0},
    {"mbuf-pool-ops-name", required_argument, NULL, 0},
    {"no-hpet", no_argument, NULL, 0},
    {"no-huge", no_argument, NULL, 0},
    {"no-pci", no_argument, NULL, 0},
    {"no-shconf", no_argument, NULL, 0},
    {"in-memory", no_argument, NULL, 0},
    {"block", required_argument, NULL, 0},
    {"allow", required_argument, NULL, 0},
    {"proc-type", required_argument, NULL, 0},
    {"socket-mem", required_argument, NULL, 0},
    {"socket-limit", required_argument, NULL, 0},
    {"syslog", optional_argument, NULL, 0},
    {"vdev", required_argument, NULL, 0},
    {"vfio-intr", required_argument, NULL, 0},
    {"vfio-vf-token", required_argument, NULL, 0},
    {"vmware-tsc-map", no_argument, NULL, 0},
    {"legacy-mem", no_argument, NULL, 0},
    {"single-file-segments", no_argument, NULL, 0},
    {"match-allocations", no_argument, NULL, 0},
    {"telemetry", no_argument, NULL, 0},
    {"no-telemetry", no_argument, NULL, 0},
    {"force-max-simd-bitwidth", required_argument, NULL, 0},
    {"huge-worker-stack", optional_argument, NULL, 0},
    {NULL, 0, NULL, 0},
};

static void unknown_eal_option(const char *arg, char *err, size_t errlen)
{
	char name[64];
	snprintf(name, sizeof(name), "%s", arg + strspn(arg, "-"));
	name[strcspn(name, "=")] = '\0';
	if (arg[0] == '-' && arg[1] == '-' && bp_config_has_option(name))
		snprintf(err, errlen,
			 "'%s' is a bidplane option, not an EAL one: put it after --, e.g. "
			 "bidplane -l 0-1 -- %s",
			 arg, arg);
	else
		snprintf(err, errlen,
			 "unknown EAL option '%s': DPDK 22.11 has no such option (EAL options go "
			 "before --, bidplane's after it; DPDK lists its own with -h)",
			 arg);
}

int bp_eal_args_check(int argc, char **argv, char *err, size_t errlen)
{
	char *copy[BP_EAL_ARGS_MAX + 1];
	if (argc > BP_EAL_ARGS_MAX) {
		snprintf(err, errlen, "too many EAL arguments (%d)", argc);
		return -E2BIG;
	}
	/* getopt_long permutes what it reads: read a copy. */
	memcpy(copy, argv, (size_t)argc * sizeof(*copy));
	copy[argc] = NULL;
	int saved_optind = optind, saved_opterr = opterr, c, rc = 0;
	char opts[sizeof(eal_short_options) + 2] = "+:";
	strcat(opts, eal_short_options);
	optind = 0; /* glibc: a full restart */
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, copy, opts, eal_long_options, NULL)) != -1) {
		if (c == '?') {
			unknown_eal_option(copy[optind - 1], err, errlen);
			rc = -EINVAL;
		} else if (c == ':') {
			snprintf(err, errlen, "EAL option '%s' needs a value", copy[optind - 1]);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && optind < argc) {
		snprintf(err, errlen,
			 "unexpected argument '%s' among the EAL options: EAL options take the "
			 "form -x value or --name[=value], bidplane's come after --",
			 copy[optind]);
		rc = -EINVAL;
	}
	optind = saved_optind;
	opterr = saved_opterr;
	return rc;
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
	int rc = bp_eal_args_check(eal_argc, eal_argv, err, errlen);
	if (rc != 0)
		return rc;
	if (!has_arg(eal_argc, eal_argv, "--no-pci")) {
		rc = bp_preflight_pci(root, eal_argc, eal_argv, err, errlen);
		if (rc != 0)
			return rc;
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
