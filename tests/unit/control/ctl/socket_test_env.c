/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "socket_test_env.h"

struct fake_node test_node;
struct ctl_handlers test_handlers;
char test_dir[64];
char test_sock_path[96];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int socket_test_setup(void **state)
{
	(void)state;
	fake_node_init(&test_node, &test_handlers);
	snprintf(test_dir, sizeof(test_dir), "/tmp/bp-ctl-test-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	snprintf(test_sock_path, sizeof(test_sock_path), "%s/run/bidplane/ctl.sock", test_dir);
	return 0;
}

int socket_test_teardown(void **state)
{
	(void)state;
	return nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

struct ctl_server *open_test_server(void)
{
	char err[256] = "";
	struct ctl_server *s = ctl_server_open(test_sock_path, &test_handlers, err, sizeof(err));
	if (!s)
		fail_msg("ctl_server_open: %s", err);
	return s;
}
