/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small etcd v3 client for leadership: the JSON gateway of etcd 3.4
 * (POST /v3/...; keys and values base64, int64 fields JSON strings), over
 * libcurl with jansson. Every request has a connect and a total timeout;
 * a transport failure (no connection, timeout, 503) moves to the next of
 * the configured endpoints, and the next request starts there. Every
 * failure leaves a one-line message in err naming the endpoint and what
 * went wrong; an error etcd answered is given in its own words.
 *
 * The election's campaign blocks in etcd until we are elected, so it is
 * not one call: etcd_campaign_start/poll/cancel run it on a handle of its
 * own (curl multi), and the calling thread goes on with its keepalives
 * meanwhile. Cancelling closes the connection: etcd then withdraws the
 * campaign (its key is deleted by the server).
 *
 * Threads: a client (and a campaign) belongs to one thread at a time; it
 * may block for up to the total timeout per endpoint tried. Never an RCU
 * reader, never the control thread or a worker. Plain C (libcurl, jansson,
 * libsodium's base64), no DPDK. etcd_global_init once, on the main
 * thread, before any client exists.
 */
#ifndef BIDPLANE_ETCD_CLIENT_H
#define BIDPLANE_ETCD_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_MAX_URLS 8
#define ETCD_URL_MAX  256
#define ETCD_KEY_MAX  256

struct etcd_client {
	char urls[ETCD_MAX_URLS][ETCD_URL_MAX];
	unsigned int nurls;
	unsigned int current; /* the endpoint the next request tries first */
	long connect_timeout_ms;
	long timeout_ms;
	void *easy; /* CURL * */
	/* Set by another thread to abort a transfer in progress (shutdown). */
	const _Atomic bool *abort_flag;
	/* Written by the owner thread, read by any (relaxed). */
	_Atomic uint64_t requests;
	_Atomic uint64_t failures;	  /* transport errors and etcd errors */
	_Atomic uint64_t last_latency_us; /* of the last request that got an answer */
};

/* The key an election campaign won: its name and key, the creation
 * revision of the key (the fencing token) and its lease. */
struct etcd_leader_key {
	char name[ETCD_KEY_MAX];
	char key[ETCD_KEY_MAX];
	int64_t rev;
	int64_t lease;
};

/* Main thread, once, before any thread uses curl. 0 or -EIO. */
int etcd_global_init(void);

/*
 * list: the --etcd value, comma-separated http://HOST:PORT endpoints.
 * abort_flag (may be NULL): a transfer in progress stops when it turns
 * true. 0, or -EINVAL / -ENOMEM with err set.
 */
int etcd_client_init(struct etcd_client *c, const char *list, long connect_timeout_ms,
		     long timeout_ms, const _Atomic bool *abort_flag, char *err, size_t errlen);
void etcd_client_fini(struct etcd_client *c);

/* A lease of ttl_s seconds: its id, and the TTL etcd granted. */
int etcd_lease_grant(struct etcd_client *c, int64_t ttl_s, int64_t *id, int64_t *granted_s,
		     char *err, size_t errlen);
/* Refreshes the lease once. *ttl_s: what is left after it; 0 when etcd no
 * longer has the lease (expired or revoked: the caller needs a new one). */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl_s, char *err,
			 size_t errlen);
/* Revokes the lease (and deletes its keys). A lease already gone is no
 * error. */
int etcd_lease_revoke(struct etcd_client *c, int64_t id, char *err, size_t errlen);

/* The election's current leader: its value (NUL-terminated, cut to
 * value_cap - 1) and its key's creation revision. *found false when the
 * election has no leader (no error). */
int etcd_election_leader(struct etcd_client *c, const char *name, char *value, size_t value_cap,
			 int64_t *create_rev, bool *found, char *err, size_t errlen);

/* What a guarded put found, read in the same txn (one revision of etcd):
 * which comparison failed is never guessed from a later read. */
struct etcd_guarded {
	bool succeeded;	    /* both comparisons held: the put was made */
	bool guard_current; /* `guard` had creation revision guard_rev */
	bool key_existed;   /* `key` existed already */
};

/*
 * One txn: if key `guard` still has creation revision guard_rev and key
 * `key` does not exist, puts key = value; else reads both keys (in the
 * same txn) to say which comparison failed. A refused txn is no error.
 */
int etcd_put_if_guarded(struct etcd_client *c, const char *guard, int64_t guard_rev,
			const char *key, const void *value, size_t len, struct etcd_guarded *out,
			char *err, size_t errlen);

/* The value of key into value[0..cap) (cut), its length in *len (the
 * whole length), *found false when the key does not exist. */
int etcd_get(struct etcd_client *c, const char *key, void *value, size_t cap, size_t *len,
	     bool *found, char *err, size_t errlen);

/* An answer as it arrives. */
struct etcd_buffer {
	char *data;
	size_t len, cap;
};

/* A campaign in progress (its own curl handles). */
struct etcd_campaign {
	void *multi; /* CURLM * */
	void *easy;  /* CURL * */
	void *headers;
	char *request; /* the JSON body, alive while the transfer runs */
	struct etcd_buffer body;
	char url[ETCD_URL_MAX];
	bool running;
};

/*
 * Starts campaigning for election `name` with value, under lease (whose
 * expiry ends the campaign). Non-blocking. 0 or -errno with err set.
 */
int etcd_campaign_start(struct etcd_client *c, struct etcd_campaign *k, const char *name,
			int64_t lease, const char *value, char *err, size_t errlen);
/*
 * Lets the campaign progress for at most wait_ms. Returns 0 while it goes
 * on, 1 when we are elected (*won filled, the campaign over), or -errno
 * with err set (the campaign over: start another). On a transport failure
 * the client's next request and campaign try the next endpoint.
 */
int etcd_campaign_poll(struct etcd_client *c, struct etcd_campaign *k, int wait_ms,
		       struct etcd_leader_key *won, char *err, size_t errlen);
/* Ends a campaign in progress (closing its connection), or does nothing. */
void etcd_campaign_cancel(struct etcd_campaign *k);

#endif
