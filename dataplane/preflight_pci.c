/* SPDX-License-Identifier: BSD-3-Clause */
/* Preflight of the PCI devices the EAL options ask for (preflight.h). */
#include "preflight.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Drivers DPDK's PCI poll-mode drivers can use; bifurcated NICs (mlx4/5)
 * stay on their kernel driver. */
static const char *const dpdk_drivers[] = {"vfio-pci", "uio_pci_generic", "igb_uio", "mlx5_core",
					   "mlx4_core"};

/* "0000:01:00.0" or "01:00.0" (then domain 0000), optionally ",devargs". */
static bool pci_address(const char *arg, char *out, size_t outlen)
{
	char addr[32];
	size_t n = strcspn(arg, ",");
	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, arg, n);
	addr[n] = '\0';
	unsigned int dom = 0, bus, dev, fn;
	char tail;
	if (sscanf(addr, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) == 4)
		;
	else if (sscanf(addr, "%x:%x.%x%c", &bus, &dev, &fn, &tail) == 3)
		dom = 0;
	else
		return false;
	snprintf(out, outlen, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return true;
}

static bool iommu_groups_present(const char *root)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/sys/kernel/iommu_groups", root);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool any = false;
	struct dirent *e;
	while (!any && (e = readdir(d)) != NULL)
		any = isdigit((unsigned char)e->d_name[0]);
	closedir(d);
	return any;
}

/* One device: present, bound to a driver DPDK can use, and for vfio-pci an
 * IOMMU (or vfio's no-IOMMU mode). */
static int check_device(const char *root, const char *addr, char *err, size_t errlen)
{
	char path[512], link[512];
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s", root, addr);
	if (access(path, F_OK) != 0) {
		snprintf(err, errlen,
			 "no PCI device %s (-a %s): `lspci -D` lists the devices of this host; "
			 "give one of them",
			 addr, addr);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver", root, addr);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	const char *driver = "none";
	if (n > 0) {
		link[n] = '\0';
		const char *slash = strrchr(link, '/');
		driver = slash ? slash + 1 : link;
	}
	bool usable = false;
	for (size_t i = 0; i < sizeof(dpdk_drivers) / sizeof(dpdk_drivers[0]); i++)
		usable |= strcmp(driver, dpdk_drivers[i]) == 0;
	if (!usable) {
		snprintf(err, errlen,
			 "PCI device %s is bound to %s, not to a driver DPDK can use. As root: "
			 "modprobe vfio-pci && dpdk-devbind.py --bind=vfio-pci %s "
			 "(take the interface down first; docs/DEPLOY.md)",
			 addr, driver, addr);
		return -EPERM;
	}
	if (strcmp(driver, "vfio-pci") == 0 && !iommu_groups_present(root)) {
		char noiommu[512];
		snprintf(noiommu, sizeof(noiommu),
			 "%s/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", root);
		FILE *f = fopen(noiommu, "r");
		int c = f ? fgetc(f) : 'N';
		if (f)
			fclose(f);
		if (c != 'Y' && c != '1') {
			snprintf(
			    err, errlen,
			    "PCI device %s uses vfio-pci but this host has no IOMMU groups: "
			    "enable the IOMMU (kernel command line intel_iommu=on iommu=pt, or "
			    "amd_iommu=on) and reboot, or, on a host you trust, "
			    "echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode "
			    "(docs/DEPLOY.md)",
			    addr);
			return -ENODEV;
		}
	}
	return 0;
}

int bp_preflight_pci(const char *root, int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *val = NULL;
		if ((strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--allow") == 0) && i + 1 < argc)
			val = argv[++i];
		else if (strncmp(argv[i], "-a", 2) == 0 && argv[i][2])
			val = argv[i] + 2;
		else if (strncmp(argv[i], "--allow=", 8) == 0)
			val = argv[i] + 8;
		char addr[32];
		if (!val || !pci_address(val, addr, sizeof(addr)))
			continue;
		int rc = check_device(root, addr, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}
