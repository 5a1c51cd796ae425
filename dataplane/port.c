/* SPDX-License-Identifier: BSD-3-Clause */
#include "port.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_devargs.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "worker.h"

#define MBUF_CACHE 256

static unsigned int pool_size(const struct node *n)
{
	const struct bp_config *c = &n->cfg;
	/* Every RX and TX descriptor can hold an mbuf, plus per-lcore caches
	 * and the bursts and rings in flight. */
	unsigned int per_port = n->nworkers * (c->rx_desc + c->tx_desc + 2 * WORKER_BURST);
	unsigned int total = n->nports * per_port + (n->nworkers + 1) * MBUF_CACHE +
			     n->nworkers * 2 * EXCEPTION_RING_SIZE;
	/* --durability sync: each worker may hold this many replies back. */
	if (c->durability == BP_DURABILITY_SYNC)
		total += n->nworkers * WORKER_PARK_MAX;
	return total < 8191 ? 8191 : total;
}

static int port_configure(struct node *n, unsigned int idx, char *err, size_t errlen)
{
	uint16_t port = n->port_ids[idx];
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf = {0};
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: cannot read device info: %s", port, strerror(-rc));
		return rc;
	}
	if (info.max_rx_queues < n->nworkers || info.max_tx_queues < n->nworkers) {
		snprintf(err, errlen,
			 "port %u (%s) has %u RX / %u TX queues, %u workers need one each: "
			 "use fewer worker lcores (-l)",
			 port, info.driver_name, info.max_rx_queues, info.max_tx_queues,
			 n->nworkers);
		return -EINVAL;
	}
	uint64_t rss = info.flow_type_rss_offloads &
		       (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_UDP);
	if (n->nworkers > 1 && rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
	}
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM)
		conf.rxmode.offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM;

	rc = rte_eth_dev_configure(port, (uint16_t)n->nworkers, (uint16_t)n->nworkers, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): configure failed: %s", port, info.driver_name,
			 strerror(-rc));
		return rc;
	}
	uint16_t rxd = n->cfg.rx_desc, txd = n->cfg.tx_desc;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	int socket = rte_eth_dev_socket_id(port);
	for (uint16_t q = 0; q < n->nworkers; q++) {
		struct rte_eth_rxconf rxc = info.default_rxconf;
		rxc.offloads = conf.rxmode.offloads;
		rc = rte_eth_rx_queue_setup(port, q, rxd, socket, &rxc, n->pktmbuf_pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port, q, txd, socket, &info.default_txconf);
		if (rc != 0) {
			snprintf(err, errlen, "port %u queue %u setup failed: %s", port, q,
				 strerror(-rc));
			return rc;
		}
	}
	struct rte_ether_addr mac;
	rc = rte_eth_macaddr_get(port, &mac);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: no MAC address: %s", port, strerror(-rc));
		return rc;
	}
	memcpy(n->filter[idx].mac, mac.addr_bytes, 6);
	n->filter[idx].ip = n->cfg.ip;
	n->filter[idx].udp_port = n->cfg.udp_port;
	n->filter[idx].peer_port = n->cfg.npeers ? n->cfg.peer_port : 0;
	return 0;
}

/* Whether a process listens on the unix socket at path; abstract: in the
 * abstract namespace (memif's default in DPDK 22.11, no file). */
static bool socket_has_listener(const char *path, bool abstract)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t n = strlen(path), off = abstract ? 1 : 0;
	if (n + off >= sizeof(addr.sun_path))
		return false;
	memcpy(addr.sun_path + off, path, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + off + n);
	/* memif's control channel is SOCK_SEQPACKET; stream for the rest. */
	static const int types[] = {SOCK_SEQPACKET, SOCK_STREAM};
	bool listening = false;
	for (unsigned int i = 0; i < 2 && !listening; i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		listening = connect(fd, (struct sockaddr *)&addr, len) == 0;
		close(fd);
	}
	return listening;
}

/* A memif device's socket=PATH (else "") into path. */
static void memif_socket_of(const struct rte_devargs *da, char *path, size_t cap)
{
	path[0] = '\0';
	const char *at = da->args ? strstr(da->args, "socket=") : NULL;
	if (strncmp(da->name, "net_memif", 9) != 0 || !at)
		return;
	at += strlen("socket=");
	snprintf(path, cap, "%.*s", (int)strcspn(at, ","), at);
}

/*
 * No port although devices were given: a driver refused to probe one. EAL
 * logs why and carries on; say which device, and for memif the usual
 * cause, a socket another process holds.
 */
static void probe_failed_error(const struct rte_devargs *da, char *err, size_t errlen)
{
	char path[108], cause[320] = "";
	memif_socket_of(da, path, sizeof(path));
	bool abstract = !da->args || !strstr(da->args, "socket-abstract=no");
	if (path[0] && socket_has_listener(path, abstract))
		snprintf(cause, sizeof(cause),
			 ": its memif socket %s is in use, another process (a node or bidgen) "
			 "listens on it; stop that process or pick another socket= path",
			 path);
	else if (path[0])
		snprintf(cause, sizeof(cause),
			 "; for memif: is the socket %s in use by another process, or its "
			 "directory missing or not writable?",
			 path);
	snprintf(err, errlen,
		 "no DPDK port: the device %s%s%s failed to probe (the EAL log above says "
		 "why)%s",
		 da->name, da->args && da->args[0] ? "," : "", da->args ? da->args : "", cause);
}

int ports_setup(struct node *n, char *err, size_t errlen)
{
	uint16_t port;
	n->nports = 0;
	RTE_ETH_FOREACH_DEV(port)
	{
		if (n->nports == BP_MAX_PORTS) {
			snprintf(err, errlen, "more than %d ports: pass fewer --vdev/-a devices",
				 BP_MAX_PORTS);
			return -E2BIG;
		}
		n->port_ids[n->nports++] = port;
	}
	const struct rte_devargs *given = rte_devargs_next(NULL, NULL);
	if (n->nports == 0 && given) {
		probe_failed_error(given, err, errlen);
		return -ENODEV;
	}
	if (n->nports == 0) {
		snprintf(err, errlen,
			 "no DPDK ports: add a device, e.g. "
			 "--vdev=net_memif0,role=server,socket=/tmp/bidplane.sock "
			 "or --vdev=net_tap0,iface=bp0 (EAL options, before --)");
		return -ENODEV;
	}
	n->pktmbuf_pool = rte_pktmbuf_pool_create("bp_mbufs", pool_size(n), MBUF_CACHE, 0,
						  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!n->pktmbuf_pool) {
		snprintf(err, errlen,
			 "cannot create the packet pool (%u mbufs): %s; give DPDK more memory "
			 "(more hugepages, or -m 512 with --no-huge)",
			 pool_size(n), rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n->nports; i++) {
		int rc = port_configure(n, i, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ports_start(struct node *n, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < n->nports; i++) {
		int rc = rte_eth_dev_start(n->port_ids[i]);
		if (rc != 0) {
			snprintf(err, errlen, "port %u: start failed: %s", n->port_ids[i],
				 strerror(-rc));
			return rc;
		}
		rte_eth_promiscuous_disable(n->port_ids[i]);
	}
	return 0;
}

void ports_stop(struct node *n)
{
	for (unsigned int i = 0; i < n->nports; i++) {
		rte_eth_dev_stop(n->port_ids[i]);
		rte_eth_dev_close(n->port_ids[i]);
	}
}
