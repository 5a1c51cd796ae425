/* SPDX-License-Identifier: BSD-3-Clause */
/* etcd v3 JSON gateway client (etcd_client.h). */
#include "etcd_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

/* An answer larger than this is no answer of the calls above. */
#define BODY_MAX (1u << 20)

static uint64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int etcd_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct etcd_buffer *b = arg;
	size_t add = size * n;
	if (b->len + add + 1 > BODY_MAX)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	if (b->len + add + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + add + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown)
			return 0;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* A transfer in progress stops once the abort flag is set. */
static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	const _Atomic bool *abort_flag = arg;
	return abort_flag && atomic_load_explicit(abort_flag, memory_order_relaxed);
}

int etcd_client_init(struct etcd_client *c, const char *list, long connect_timeout_ms,
		     long timeout_ms, const _Atomic bool *abort_flag, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->connect_timeout_ms = connect_timeout_ms;
	c->timeout_ms = timeout_ms;
	c->abort_flag = abort_flag;
	for (const char *s = list; *s;) {
		size_t len = strcspn(s, ",");
		if (c->nurls == ETCD_MAX_URLS || len == 0 || len >= ETCD_URL_MAX) {
			snprintf(err, errlen,
				 "--etcd %s: give 1 to %d endpoints, each shorter than %d", list,
				 ETCD_MAX_URLS, ETCD_URL_MAX);
			return -EINVAL;
		}
		/* Stored without a trailing '/': paths are appended. */
		size_t keep = s[len - 1] == '/' ? len - 1 : len;
		snprintf(c->urls[c->nurls++], ETCD_URL_MAX, "%.*s", (int)keep, s);
		s += len + (s[len] == ',');
	}
	if (c->nurls == 0) {
		snprintf(err, errlen, "--etcd: no endpoint given");
		return -EINVAL;
	}
	c->easy = curl_easy_init();
	if (!c->easy) {
		snprintf(err, errlen, "cannot create a curl handle");
		return -ENOMEM;
	}
	return 0;
}

void etcd_client_fini(struct etcd_client *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

/* The options every request of ours has. */
static void set_common(CURL *h, const char *url, const char *request, struct curl_slist *headers,
		       struct etcd_buffer *body, const _Atomic bool *abort_flag)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, request);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* an http_proxy variable must not reroute us */
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)abort_flag);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}

/* etcd's own words for a refused request: {"error": ..., "code": N}. */
static void etcd_error_text(const char *url, const char *path, long status, const char *body,
			    char *err, size_t errlen)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
	if (!msg && j)
		msg = json_string_value(json_object_get(j, "error"));
	snprintf(err, errlen, "etcd %s%s: HTTP %ld: %s", url, path, status,
		 msg ? msg : "no error message");
	json_decref(j);
}

/*
 * POSTs request to path, trying every endpoint once from the current one
 * on transport failures. The parsed answer, or NULL with err set.
 */
static json_t *post(struct etcd_client *c, const char *path, json_t *req, char *err, size_t errlen)
{
	char *request = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!request) {
		snprintf(err, errlen, "out of memory building an etcd request");
		return NULL;
	}
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	json_t *answer = NULL;
	for (unsigned int tried = 0; tried < c->nurls && !answer; tried++) {
		const char *base = c->urls[c->current];
		char url[ETCD_URL_MAX + 64];
		snprintf(url, sizeof(url), "%s%s", base, path);
		struct etcd_buffer body = {0};
		CURL *h = c->easy;
		curl_easy_reset(h);
		set_common(h, url, request, headers, &body, c->abort_flag);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
		atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
		uint64_t t0 = monotonic_us();
		CURLcode rc = curl_easy_perform(h);
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK)
			atomic_store_explicit(&c->last_latency_us, monotonic_us() - t0,
					      memory_order_relaxed);
		if (rc != CURLE_OK || status == 503) {
			atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
			if (rc != CURLE_OK)
				snprintf(err, errlen, "etcd %s unreachable: %s", url,
					 curl_easy_strerror(rc));
			else
				etcd_error_text(base, path, status, body.data, err, errlen);
			c->current = (c->current + 1) % c->nurls;
		} else if (status != 200) {
			atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
			etcd_error_text(base, path, status, body.data, err, errlen);
			free(body.data);
			break; /* etcd answered: another endpoint would say the same */
		} else {
			json_error_t jerr;
			answer = json_loads(body.data ? body.data : "", 0, &jerr);
			if (!answer) {
				atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
				snprintf(err, errlen, "etcd %s: an answer that is not JSON: %s",
					 url, jerr.text);
				free(body.data);
				break;
			}
		}
		free(body.data);
	}
	curl_slist_free_all(headers);
	free(request);
	return answer;
}

/* int64 fields come as JSON strings ("123"); a missing one is 0. */
static int64_t int64_field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	const char *s = json_string_value(v);
	return s ? strtoll(s, NULL, 10) : 0;
}

static json_t *int64_json(int64_t v)
{
	char text[24];
	snprintf(text, sizeof(text), "%" PRId64, v);
	return json_string(text);
}

/* base64 of [data, data+len), as a new JSON string. */
static json_t *b64_json(const void *data, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(cap);
	if (!text)
		return NULL;
	sodium_bin2base64(text, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
	json_t *j = json_string(text);
	free(text);
	return j;
}

/* Decodes a base64 field into out[0..cap) (NUL-terminated when room);
 * the decoded length in *len. -EBADMSG when it is no base64. */
static int b64_field(json_t *obj, const char *name, void *out, size_t cap, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));
	*len = 0;
	if (!s)
		return 0; /* etcd leaves empty values out */
	size_t n = strlen(s);
	unsigned char *bin = malloc(n + 1);
	if (!bin)
		return -ENOMEM;
	size_t got = 0;
	int rc =
	    sodium_base642bin(bin, n + 1, s, n, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL);
	if (rc == 0) {
		memcpy(out, bin, got < cap ? got : cap);
		if (got < cap)
			((char *)out)[got] = '\0';
		*len = got;
	}
	free(bin);
	return rc == 0 ? 0 : -EBADMSG;
}

static json_t *key_json(const char *key)
{
	return b64_json(key, strlen(key));
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl_s, int64_t *id, int64_t *granted_s,
		     char *err, size_t errlen)
{
	json_t *a =
	    post(c, "/v3/lease/grant", json_pack("{s:o}", "TTL", int64_json(ttl_s)), err, errlen);
	if (!a)
		return -EIO;
	*id = int64_field(a, "ID");
	*granted_s = int64_field(a, "TTL");
	const char *e = json_string_value(json_object_get(a, "error"));
	int rc = 0;
	if (*id == 0 || *granted_s <= 0) {
		snprintf(err, errlen, "etcd %s: lease grant refused: %s", c->urls[c->current],
			 e ? e : "no lease id in the answer");
		rc = -EPROTO;
	}
	json_decref(a);
	return rc;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl_s, char *err,
			 size_t errlen)
{
	/* A stream in gRPC; through the gateway, one request gets one
	 * answer, {"result": {...}}. */
	json_t *a =
	    post(c, "/v3/lease/keepalive", json_pack("{s:o}", "ID", int64_json(id)), err, errlen);
	if (!a)
		return -EIO;
	json_t *r = json_object_get(a, "result");
	int rc = 0;
	if (!r) {
		const char *e = json_string_value(json_object_get(a, "error"));
		snprintf(err, errlen, "etcd %s: keepalive: %s", c->urls[c->current],
			 e ? e : "no result in the answer");
		rc = -EPROTO;
	}
	*ttl_s = r ? int64_field(r, "TTL") : 0;
	json_decref(a);
	return rc;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id, char *err, size_t errlen)
{
	json_t *a =
	    post(c, "/v3/lease/revoke", json_pack("{s:o}", "ID", int64_json(id)), err, errlen);
	if (!a)
		return strstr(err, "lease not found") ? 0 : -EIO;
	json_decref(a);
	return 0;
}

int etcd_election_leader(struct etcd_client *c, const char *name, char *value, size_t value_cap,
			 int64_t *create_rev, bool *found, char *err, size_t errlen)
{
	*found = false;
	*create_rev = 0;
	if (value_cap)
		value[0] = '\0';
	json_t *a =
	    post(c, "/v3/election/leader", json_pack("{s:o}", "name", key_json(name)), err, errlen);
	if (!a)
		return strstr(err, "election: no leader") ? 0 : -EIO;
	json_t *kv = json_object_get(a, "kv");
	size_t len = 0;
	int rc = 0;
	if (kv) {
		*found = true;
		*create_rev = int64_field(kv, "create_revision");
		rc = b64_field(kv, "value", value, value_cap ? value_cap - 1 : 0, &len);
		if (value_cap)
			value[len < value_cap - 1 ? len : value_cap - 1] = '\0';
		if (rc != 0)
			snprintf(err, errlen, "etcd %s: the leader's value is not base64",
				 c->urls[c->current]);
	}
	json_decref(a);
	return rc;
}

/* The first kv of a txn failure's response i, or NULL (no such key). */
static json_t *txn_range_kv(json_t *answer, size_t i)
{
	json_t *r = json_object_get(json_array_get(json_object_get(answer, "responses"), i),
				    "response_range");
	return json_array_get(json_object_get(r, "kvs"), 0);
}

int etcd_put_if_guarded(struct etcd_client *c, const char *guard, int64_t guard_rev,
			const char *key, const void *value, size_t len, struct etcd_guarded *out,
			char *err, size_t errlen)
{
	*out = (struct etcd_guarded){0};
	json_t *req = json_pack(
	    "{s:[{s:s,s:s,s:o,s:o},{s:s,s:s,s:o,s:s}],s:[{s:{s:o,s:o}}],"
	    "s:[{s:{s:o}},{s:{s:o}}]}",
	    "compare", "target", "CREATE", "result", "EQUAL", "key", key_json(guard),
	    "create_revision", int64_json(guard_rev), "target", "CREATE", "result", "EQUAL", "key",
	    key_json(key), "create_revision", "0", "success", "request_put", "key", key_json(key),
	    "value", b64_json(value, len), "failure", "request_range", "key", key_json(guard),
	    "request_range", "key", key_json(key));
	json_t *a = post(c, "/v3/kv/txn", req, err, errlen);
	if (!a)
		return -EIO;
	out->succeeded = json_is_true(json_object_get(a, "succeeded"));
	if (out->succeeded) {
		out->guard_current = true;
	} else {
		json_t *g = txn_range_kv(a, 0);
		out->guard_current = g && int64_field(g, "create_revision") == guard_rev;
		out->key_existed = txn_range_kv(a, 1) != NULL;
	}
	json_decref(a);
	return 0;
}

int etcd_get(struct etcd_client *c, const char *key, void *value, size_t cap, size_t *len,
	     bool *found, char *err, size_t errlen)
{
	*found = false;
	*len = 0;
	json_t *a = post(c, "/v3/kv/range", json_pack("{s:o}", "key", key_json(key)), err, errlen);
	if (!a)
		return -EIO;
	json_t *kv = json_array_get(json_object_get(a, "kvs"), 0);
	int rc = 0;
	if (kv) {
		*found = true;
		rc = b64_field(kv, "value", value, cap, len);
		if (rc != 0)
			snprintf(err, errlen, "etcd %s: the value of %s is not base64",
				 c->urls[c->current], key);
	}
	json_decref(a);
	return rc;
}

int etcd_campaign_start(struct etcd_client *c, struct etcd_campaign *k, const char *name,
			int64_t lease, const char *value, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	json_t *req = json_pack("{s:o,s:o,s:o}", "name", key_json(name), "lease", int64_json(lease),
				"value", key_json(value));
	k->request = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	k->multi = curl_multi_init();
	k->easy = curl_easy_init();
	k->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!k->request || !k->multi || !k->easy || !k->headers) {
		etcd_campaign_cancel(k);
		snprintf(err, errlen, "out of memory starting a campaign");
		return -ENOMEM;
	}
	snprintf(k->url, sizeof(k->url), "%s/v3/election/campaign", c->urls[c->current]);
	set_common(k->easy, k->url, k->request, k->headers, &k->body, c->abort_flag);
	curl_easy_setopt(k->easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	/* No total timeout: it waits for the election. A dead server is
	 * found by TCP keepalive; a lost lease makes the caller cancel. */
	curl_easy_setopt(k->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(k->easy, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(k->easy, CURLOPT_TCP_KEEPINTVL, 1L);
	/* A cancelled campaign's connection must close, not wait for reuse:
	 * its close is what withdraws the campaign in etcd. */
	curl_easy_setopt(k->easy, CURLOPT_FORBID_REUSE, 1L);
	atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
	if (curl_multi_add_handle(k->multi, k->easy) != CURLM_OK) {
		etcd_campaign_cancel(k);
		snprintf(err, errlen, "cannot start a campaign transfer");
		return -EIO;
	}
	k->running = true;
	return 0;
}

/* The finished campaign's answer into *won. */
static int campaign_result(struct etcd_client *c, struct etcd_campaign *k, CURLcode result,
			   struct etcd_leader_key *won, char *err, size_t errlen)
{
	long status = 0;
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
	if (result != CURLE_OK) {
		snprintf(err, errlen, "etcd %s: campaign: %s", k->url, curl_easy_strerror(result));
		c->current = (c->current + 1) % c->nurls;
		return -EIO;
	}
	if (status != 200) {
		etcd_error_text(k->url, "", status, k->body.data, err, errlen);
		if (status == 503)
			c->current = (c->current + 1) % c->nurls;
		return -EIO;
	}
	json_t *a = json_loads(k->body.data ? k->body.data : "", 0, NULL);
	json_t *l = json_object_get(a, "leader");
	size_t len;
	int rc = -EPROTO;
	memset(won, 0, sizeof(*won));
	if (l && b64_field(l, "name", won->name, sizeof(won->name) - 1, &len) == 0 &&
	    b64_field(l, "key", won->key, sizeof(won->key) - 1, &len) == 0) {
		won->rev = int64_field(l, "rev");
		won->lease = int64_field(l, "lease");
		rc = won->rev > 0 ? 1 : -EPROTO;
	}
	if (rc < 0)
		snprintf(err, errlen, "etcd %s: a campaign answer without a leader key: %.200s",
			 k->url, k->body.data ? k->body.data : "");
	json_decref(a);
	return rc;
}

int etcd_campaign_poll(struct etcd_client *c, struct etcd_campaign *k, int wait_ms,
		       struct etcd_leader_key *won, char *err, size_t errlen)
{
	if (!k->running) {
		snprintf(err, errlen, "no campaign in progress");
		return -EINVAL;
	}
	int still = 0;
	curl_multi_perform(k->multi, &still);
	if (still)
		curl_multi_poll(k->multi, NULL, 0, wait_ms, NULL);
	curl_multi_perform(k->multi, &still);
	int queued;
	CURLMsg *m;
	while ((m = curl_multi_info_read(k->multi, &queued)))
		if (m->msg == CURLMSG_DONE) {
			int rc = campaign_result(c, k, m->data.result, won, err, errlen);
			if (rc < 0)
				atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
			etcd_campaign_cancel(k);
			return rc;
		}
	return 0;
}

void etcd_campaign_cancel(struct etcd_campaign *k)
{
	if (k->multi && k->easy)
		curl_multi_remove_handle(k->multi, k->easy);
	if (k->easy)
		curl_easy_cleanup(k->easy);
	if (k->multi)
		curl_multi_cleanup(k->multi);
	curl_slist_free_all(k->headers);
	free(k->request);
	free(k->body.data);
	memset(k, 0, sizeof(*k));
}
