/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Preflight: what the node checks before rte_eal_init, so the usual DPDK
 * first-run failures (no hugepages, hugetlbfs not mounted, two processes on
 * one --file-prefix) end in a message that says how to fix them instead of
 * "Cannot create mbuf pool".
 *
 * Threads: main thread, before EAL init. Never exits; returns errors.
 */
#ifndef BIDPLANE_PREFLIGHT_H
#define BIDPLANE_PREFLIGHT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define BP_EAL_ARGS_MAX 128

struct bp_eal_args {
	int argc;
	char *argv[BP_EAL_ARGS_MAX + 1]; /* argv[argc] == NULL */
	char storage[4096];		 /* the strings preflight added */
};

/*
 * Builds the final EAL argument vector from the user's EAL arguments
 * (argv[0] included): adds "--file-prefix bidplane-<pid>" unless one is
 * given (then also --huge-unlink, as no other process can share it); unless
 * --no-huge is given, checks that 2 MiB or 1 GiB hugepages are
 * free and hugetlbfs is mounted, and if not either adds "--no-huge -m 512"
 * (cfg->fallback_no_huge) or fails with -ENOMEM and a message giving the
 * exact commands to fix it. Returns 0 or a negative errno with err set.
 */
int bp_preflight(int eal_argc, char **eal_argv, const struct bp_config *cfg,
		 struct bp_eal_args *out, char *err, size_t errlen);

/* The PCI devices the EAL options allow (-a / --allow ADDR): each must
 * exist, be bound to a driver DPDK can use (vfio-pci, uio_pci_generic,
 * igb_uio, or a bifurcated mlx driver) and, for vfio-pci, have an IOMMU (or
 * vfio's no-IOMMU mode). Reads <root>/sys. 0, or a negative errno with a
 * message that names the device and the fix. */
int bp_preflight_pci(const char *root, int argc, char **argv, char *err, size_t errlen);

/* bp_preflight reading /sys and /proc under `root` ("" for the real ones;
 * tests pass a fake tree). */
int bp_preflight_at(const char *root, int eal_argc, char **eal_argv, const struct bp_config *cfg,
		    struct bp_eal_args *out, char *err, size_t errlen);

/* Checks the user's EAL arguments (argv[0] included) against DPDK 22.11's
 * EAL options before EAL sees them: 0, or -EINVAL with a one-line message
 * naming the unknown option (or a bidplane option given before --), the
 * option without its value, or a stray word. bp_preflight calls it first. */
int bp_eal_args_check(int argc, char **argv, char *err, size_t errlen);

/* Prints "EAL arguments: ..." on one line. */
void bp_eal_args_print(FILE *out, const struct bp_eal_args *a);

#endif
