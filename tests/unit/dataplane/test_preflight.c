/* SPDX-License-Identifier: BSD-3-Clause */
/* Preflight against fake /sys and /proc trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preflight.h"

static char root[48];

static void fake_tree(unsigned int free_pages, int mounted)
{
	char cmd[320], path[320];
	snprintf(root, sizeof(root), "/tmp/bp-preflight-%d", getpid());
	snprintf(cmd, sizeof(cmd),
		 "rm -rf %s && mkdir -p %s/sys/kernel/mm/hugepages/"
		 "hugepages-2048kB %s/proc",
		 root, root, root);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
		 root);
	FILE *f = fopen(path, "w");
	fprintf(f, "%u\n", free_pages);
	fclose(f);
	snprintf(path, sizeof(path), "%s/proc/mounts", root);
	f = fopen(path, "w");
	fputs("proc /proc proc rw 0 0\n", f);
	if (mounted)
		fputs("nodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n", f);
	fclose(f);
}

static int has(const struct bp_eal_args *a, const char *arg)
{
	for (int i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], arg) == 0)
			return 1;
	return 0;
}

static void adds_a_file_prefix_only_when_absent(void **s)
{
	(void)s;
	struct bp_config c;
	struct bp_eal_args a;
	char err[1024];
	bp_config_defaults(&c);
	fake_tree(100, 1);
	char *plain[] = {"bidplane", "-l", "0-1"};
	assert_int_equal(bp_preflight_at(root, 3, plain, &c, &a, err, sizeof(err)), 0);
	assert_true(has(&a, "--file-prefix"));
	assert_true(has(&a, "--huge-unlink")); /* our own prefix: no files left */
	assert_null(a.argv[a.argc]);
	char *given[] = {"bidplane", "--file-prefix", "mine"};
	assert_int_equal(bp_preflight_at(root, 3, given, &c, &a, err, sizeof(err)), 0);
	assert_int_equal(a.argc, 3);
	char *given_eq[] = {"bidplane", "--file-prefix=mine"};
	assert_int_equal(bp_preflight_at(root, 2, given_eq, &c, &a, err, sizeof(err)), 0);
	assert_int_equal(a.argc, 2);
}

static void no_huge_passes_through(void **s)
{
	(void)s;
	struct bp_config c;
	struct bp_eal_args a;
	char err[1024];
	bp_config_defaults(&c);
	fake_tree(0, 0);
	char *argv[] = {"bidplane", "--no-huge", "-m", "512", "--file-prefix", "x"};
	assert_int_equal(bp_preflight_at(root, 6, argv, &c, &a, err, sizeof(err)), 0);
	assert_int_equal(a.argc, 6);
}

static void missing_hugepages_fail_with_the_fix(void **s)
{
	(void)s;
	struct bp_config c;
	struct bp_eal_args a;
	char err[1024];
	bp_config_defaults(&c);
	char *argv[] = {"bidplane", "--file-prefix", "x"};
	fake_tree(0, 1);
	assert_int_equal(bp_preflight_at(root, 3, argv, &c, &a, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "nr_hugepages"));
	assert_non_null(strstr(err, "--no-huge"));
	fake_tree(64, 0); /* pages but no mount */
	assert_int_equal(bp_preflight_at(root, 3, argv, &c, &a, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "mount -t hugetlbfs"));
}

static void fallback_adds_no_huge(void **s)
{
	(void)s;
	struct bp_config c;
	struct bp_eal_args a;
	char err[1024];
	bp_config_defaults(&c);
	c.fallback_no_huge = true;
	fake_tree(0, 0);
	char *argv[] = {"bidplane", "--file-prefix", "x"};
	assert_int_equal(bp_preflight_at(root, 3, argv, &c, &a, err, sizeof(err)), 0);
	assert_true(has(&a, "--no-huge"));
	assert_true(has(&a, "512"));
}

/* EAL printed its 110-line usage and never named the option it refused. */
static void eal_options_are_checked_and_named(void **s)
{
	(void)s;
	char err[1024];
	static struct {
		char *args[6];
		const char *want;
	} cases[] = {
	    {{"bidplane", "-l", "0-1", "--frobnicate"},
	     "unknown EAL option '--frobnicate': DPDK 22.11 has no such option"},
	    {{"bidplane", "-Q"}, "unknown EAL option '-Q'"},
	    {{"bidplane", "--no-huge", "--ip", "1.2.3.4"},
	     "'--ip' is a bidplane option, not an EAL one: put it after --"},
	    {{"bidplane", "--open-range=1-5"}, "'--open-range=1-5' is a bidplane option"},
	    {{"bidplane", "-l"}, "EAL option '-l' needs a value"},
	    {{"bidplane", "--vdev"}, "EAL option '--vdev' needs a value"},
	    {{"bidplane", "--no-huge", "512"}, "unexpected argument '512' among the EAL options"},
	    {{"bidplane", "--no-huge=1"}, "unknown EAL option '--no-huge=1'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int argc = 0;
		while (cases[i].args[argc])
			argc++;
		err[0] = '\0';
		assert_int_equal(bp_eal_args_check(argc, cases[i].args, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
	}
	/* What the tests and the docs pass, abbreviations and =value forms. */
	char *good[] = {"bidplane",
			"--no-huge",
			"-m",
			"512",
			"-l",
			"0-1",
			"--lcores=0@1,1@2",
			"--vdev=net_memif0,role=server,socket=/tmp/x.sock",
			"--vdev",
			"net_tap0,iface=bp0",
			"--no-pci",
			"--file-prefix",
			"bp-1",
			"--huge-unlink",
			"--in-memory",
			"--log-level=lib.eal:debug",
			"--socket-mem=512",
			"--no-telemetry",
			"-a",
			"0000:01:00.0",
			"--iova-mode=va",
			"--syslog",
			"--proc-type=primary",
			"--no-shc",
			NULL};
	assert_int_equal(bp_eal_args_check(24, good, err, sizeof(err)), 0);
	assert_string_equal(good[1], "--no-huge"); /* argv left as it was */
	struct bp_config c;
	struct bp_eal_args a;
	bp_config_defaults(&c);
	fake_tree(100, 1);
	char *bad[] = {"bidplane", "--frob"};
	assert_int_equal(bp_preflight_at(root, 2, bad, &c, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'--frob'"));
}

/* A fake PCI device at addr, bound to driver (NULL: none). */
static void fake_pci(const char *addr, const char *driver, int iommu_groups)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/sys/bus/pci/devices/%s %s/sys/bus/pci/drivers/%s",
		 root, addr, root, driver ? driver : "x");
	assert_int_equal(system(cmd), 0);
	if (driver) {
		snprintf(cmd, sizeof(cmd),
			 "ln -sfn ../../../bus/pci/drivers/%s %s/sys/bus/pci/devices/%s/driver",
			 driver, root, addr);
		assert_int_equal(system(cmd), 0);
	}
	if (iommu_groups) {
		snprintf(cmd, sizeof(cmd), "mkdir -p %s/sys/kernel/iommu_groups/7", root);
		assert_int_equal(system(cmd), 0);
	}
}

static int pci_check(const char *allow, char *err)
{
	char *argv[] = {"bidplane", "-a", (char *)allow, NULL};
	return bp_preflight_pci(root, 3, argv, err, 512);
}

static void pci_devices_are_checked_and_named(void **s)
{
	(void)s;
	char err[512];
	fake_tree(100, 1);
	assert_int_equal(pci_check("0000:03:00.0", err), -ENODEV);
	assert_non_null(strstr(err, "no PCI device 0000:03:00.0"));
	assert_non_null(strstr(err, "lspci -D"));

	fake_pci("0000:03:00.0", "ixgbe", 1);
	assert_int_equal(pci_check("03:00.0", err), -EPERM); /* short form, domain 0 */
	assert_non_null(strstr(err, "bound to ixgbe"));
	assert_non_null(strstr(err, "dpdk-devbind.py --bind=vfio-pci 0000:03:00.0"));

	fake_tree(100, 1);
	fake_pci("0000:03:00.0", "vfio-pci", 0);
	assert_int_equal(pci_check("0000:03:00.0,rxq_pkt_split=1", err), -ENODEV);
	assert_non_null(strstr(err, "no IOMMU groups"));
	assert_non_null(strstr(err, "intel_iommu=on"));

	fake_pci("0000:03:00.0", "vfio-pci", 1);
	assert_int_equal(pci_check("0000:03:00.0", err), 0);
	/* Not a PCI address (a vdev's name): nothing to check. */
	assert_int_equal(pci_check("net_memif0", err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(adds_a_file_prefix_only_when_absent),
	    cmocka_unit_test(no_huge_passes_through),
	    cmocka_unit_test(missing_hugepages_fail_with_the_fix),
	    cmocka_unit_test(fallback_adds_no_huge),
	    cmocka_unit_test(eal_options_are_checked_and_named),
	    cmocka_unit_test(pci_devices_are_checked_and_named),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
