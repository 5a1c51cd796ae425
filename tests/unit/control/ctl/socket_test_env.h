/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every test over a real control socket starts from: a fresh fake node
 * and a scratch directory, removed afterwards with all it holds. The socket
 * path lies in a subdirectory the server has to create.
 */
#ifndef BIDPLANE_TEST_SOCKET_TEST_ENV_H
#define BIDPLANE_TEST_SOCKET_TEST_ENV_H

#include "ctl.h"
#include "fake_node.h"

extern struct fake_node test_node;
extern struct ctl_handlers test_handlers; /* test_node's */
extern char test_dir[64];
extern char test_sock_path[96]; /* <test_dir>/run/bidplane/ctl.sock */

/* cmocka setup and teardown. */
int socket_test_setup(void **state);
int socket_test_teardown(void **state);

/* A server for test_node at test_sock_path; fails the test if it cannot. */
struct ctl_server *open_test_server(void);

#endif
