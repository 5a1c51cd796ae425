/* SPDX-License-Identifier: BSD-3-Clause */
/* The command line and the INI file, both read through the option table
 * (config_options.h); the cross-field rules. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_options.h"
#include "defaults.h"

bool bp_config_has_option(const char *name)
{
	return bp_option_by_name(name) != NULL;
}

/* An INI key names an option as the command line does; '_' may stand for
 * '-'. --config and --help are no keys. */
static const struct option_spec *option_by_key(const char *key)
{
	char name[64];
	size_t n = strlen(key);
	if (n >= sizeof(name))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		name[i] = key[i] == '_' ? '-' : key[i];
	const struct option_spec *o = bp_option_by_name(name);
	return o && o->kind != OPTION_HELP && o->kind != OPTION_CONFIG ? o : NULL;
}

/* --check-config and the like do something instead of configuring it. */
static bool command_line_only(const struct option_spec *o)
{
	return o->kind == OPTION_VERSION || o->kind == OPTION_ACTION;
}

/*
 * The INI file, read here rather than with rte_cfgfile, which takes bare
 * lines, repeated keys and repeated sections without a word. The grammar:
 * blank lines; comments, whose first non-blank character is ';' or '#';
 * a "[node]" section of "key = value" lines, each key at most once; a
 * "[peers]" section of "ID = A.B.C.D[:PORT]" lines, each id at most once
 * (CLUSTER.md). Each section at most once, in either order. Every refusal
 * names the file and the line.
 */
#define INI_LINE_MAX 1024
#define NOPTIONS     64 /* at least the entries of bp_options */

enum ini_section { SECTION_NONE, SECTION_NODE, SECTION_PEERS };

struct ini_reader {
	const char *path;
	unsigned int line;
	enum ini_section in;
	unsigned int node_line;		      /* where [node] was, 0: not yet */
	unsigned int peers_line;	      /* where [peers] was, 0: not yet */
	unsigned int seen[NOPTIONS];	      /* by bp_options index: the line that set it */
	unsigned int peer_line[BP_MAX_PEERS]; /* by cfg->peers index: its line */
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3)))
ini_fail(struct ini_reader *r, const char *fmt, ...)
{
	char detail[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "--config %s: line %u: %s", r->path, r->line, detail);
	return -EINVAL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static int ini_section(struct ini_reader *r, char *line)
{
	size_t n = strlen(line);
	if (line[n - 1] != ']')
		return ini_fail(r, "'%.60s': a section line is [node] or [peers]", line);
	line[n - 1] = '\0';
	char *name = trim(line + 1);
	bool node = strcmp(name, "node") == 0;
	if (!node && strcmp(name, "peers") != 0)
		return ini_fail(r, "unknown section [%.60s]; only [node] and [peers] are read",
				name);
	unsigned int *first = node ? &r->node_line : &r->peers_line;
	if (*first)
		return ini_fail(r, "a second [%s] section (the first is on line %u): keep one",
				name, *first);
	*first = r->line;
	r->in = node ? SECTION_NODE : SECTION_PEERS;
	return 0;
}

/* "ID = A.B.C.D[:PORT]" in [peers]: one more peer, its id not yet used. */
static int ini_peer(struct bp_config *cfg, struct ini_reader *r, const char *id,
		    const char *address)
{
	char why[200];
	int rc = bp_peer_append(cfg, id, address, why, sizeof(why));
	if (rc == -E2BIG)
		return ini_fail(r, "[peers] %.20s = %.40s: %s", id, address, why);
	if (rc != 0)
		return ini_fail(r,
				"[peers] %.20s = %.40s: %s; expected ID = A.B.C.D[:PORT], e.g. "
				"2 = 198.18.0.12",
				id, address, why);
	unsigned int last = cfg->npeers - 1;
	r->peer_line[last] = r->line;
	for (unsigned int i = 0; i < last; i++)
		if (cfg->peers[i].id == cfg->peers[last].id)
			return ini_fail(r, "peer %u is listed twice (first on line %u): keep one",
					cfg->peers[i].id, r->peer_line[i]);
	return 0;
}

static int ini_entry(struct bp_config *cfg, struct ini_reader *r, char *line)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return ini_fail(r, "'%.60s' is not key = value, a [section] or a comment", line);
	*eq = '\0';
	char *key = trim(line), *value = trim(eq + 1);
	if (r->in == SECTION_NONE)
		return ini_fail(r, "%.60s = ... before the [node] section", key);
	if (!*key)
		return ini_fail(r, "'= %.60s' has no key", value);
	if (r->in == SECTION_PEERS)
		return ini_peer(cfg, r, key, value);
	const struct option_spec *o = option_by_key(key);
	if (o && command_line_only(o))
		return ini_fail(r, "%s is a command-line action (--%s), not a key", o->name,
				o->name);
	if (!o)
		return ini_fail(r, "unknown key '%.60s' (keys are the long options, e.g. udp-port)",
				key);
	if (o->kind == OPTION_PEER)
		return ini_fail(r,
				"%s is no [node] key: peers are a [peers] section of "
				"ID = A.B.C.D[:PORT] lines, e.g. 2 = 198.18.0.12",
				o->name);
	size_t slot = (size_t)(o - bp_options);
	if (r->seen[slot])
		return ini_fail(r, "%s is set twice (first on line %u): keep one", o->name,
				r->seen[slot]);
	r->seen[slot] = r->line;
	bool flag = true;
	char why[320];
	int rc = 0;
	if (o->kind == OPTION_FLAG || o->kind == OPTION_NOT_FLAG)
		rc = bp_option_parse_bool(o, value, &flag, why, sizeof(why));
	if (rc == 0)
		rc = bp_option_apply(cfg, o, value, flag, why, sizeof(why));
	return rc == 0 ? 0 : ini_fail(r, "%s", why);
}

static int ini_line(struct bp_config *cfg, struct ini_reader *r, char *raw, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)raw[i] < 0x20 && raw[i] != '\t' && raw[i] != '\r' &&
		    raw[i] != '\n')
			return ini_fail(r, "control byte 0x%02x: this is not a text (INI) file",
					(unsigned char)raw[i]);
	if (len == INI_LINE_MAX - 1 && raw[len - 1] != '\n')
		return ini_fail(r, "longer than %d bytes", INI_LINE_MAX - 2);
	char *line = trim(raw);
	if (*line == '\0' || *line == ';' || *line == '#')
		return 0;
	if (*line == '[')
		return ini_section(r, line);
	return ini_entry(cfg, r, line);
}

/* Why fopen failed, in words that say what to fix. */
static int open_error(const char *path, int e, char *err, size_t errlen)
{
	const char *what = e == ENOENT	 ? "does not exist"
			   : e == EACCES ? "cannot be read (permission denied)"
					 : "cannot be opened";
	snprintf(err, errlen, "--config %s: %s: %s (errno %d)", path, what, strerror(e), e);
	return -EINVAL;
}

static int read_config_file(struct bp_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return open_error(path, errno, err, errlen);
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		snprintf(err, errlen,
			 "--config %s: is a directory, not a file (%s, errno %d); give an INI file",
			 path, strerror(EISDIR), EISDIR);
		return -EINVAL;
	}
	struct ini_reader r = {.path = path, .err = err, .errlen = errlen};
	char raw[INI_LINE_MAX];
	int rc = 0;
	/* getline-free: each fgets is one line, or a too long one. */
	while (rc == 0) {
		long at = ftell(f);
		if (!fgets(raw, sizeof(raw), f))
			break;
		r.line++;
		/* fgets stops at NUL bytes silently: measure what it read. */
		size_t len = at >= 0 ? (size_t)(ftell(f) - at) : strlen(raw);
		if (len > sizeof(raw) - 1)
			len = sizeof(raw) - 1;
		rc = ini_line(cfg, &r, raw, len);
	}
	if (rc == 0 && ferror(f)) {
		int e = errno;
		snprintf(err, errlen, "--config %s: read error: %s (errno %d)", path, strerror(e),
			 e);
		rc = -EINVAL;
	}
	fclose(f);
	return rc;
}

/* A peer without :PORT uses this node's --peer-port, known only once every
 * option is read: the order of --peer and --peer-port does not matter. */
static void resolve_peer_ports(struct bp_config *cfg)
{
	for (unsigned int i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].port == 0)
			cfg->peers[i].port = cfg->peer_port;
}

static void derive_paths(struct bp_config *cfg)
{
	if (cfg->control_socket[0] == '\0')
		snprintf(cfg->control_socket, sizeof(cfg->control_socket), BP_RUN_DIR "/%s.sock",
			 cfg->stats_name);
	if (cfg->state_dir[0] == '\0')
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), BP_STATE_ROOT "/%s",
			 cfg->stats_name);
}

int bp_config_parse(int argc, char **argv, struct bp_config *cfg, char *err, size_t errlen)
{
	/* The file first, so that the command line wins. */
	for (int i = 1; i < argc; i++) {
		const char *file = NULL;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
		if (file) {
			int rc = bp_option_apply(cfg, bp_option_by_name("config"), file, true, err,
						 errlen);
			if (rc == 0)
				rc = read_config_file(cfg, file, err, errlen);
			if (rc != 0)
				return rc;
		}
	}
	/* getopt's table, from ours: an entry's index is its value. */
	static struct option long_options[NOPTIONS];
	size_t n = 0;
	for (const struct option_spec *o = bp_options; o->name && n + 1 < NOPTIONS; o++, n++) {
		bool takes = o->kind != OPTION_FLAG && o->kind != OPTION_NOT_FLAG &&
			     o->kind != OPTION_HELP && !command_line_only(o);
		long_options[n] = (struct option){o->name, takes ? required_argument : no_argument,
						  NULL, (int)n + 256};
	}
	long_options[n] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	opterr = 0;
	bool peers_from_command_line = false;
	int id, index;
	while ((id = getopt_long(argc, argv, ":h", long_options, &index)) != -1) {
		const struct option_spec *o = id >= 256 ? &bp_options[id - 256] : NULL;
		if (id == 'h' || (o && o->kind == OPTION_HELP)) {
			bp_config_usage(stdout, "bidplane");
			return 1;
		}
		if (o && o->kind == OPTION_VERSION) {
			bp_config_version(stdout);
			return 1;
		}
		if (id == '?') {
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		if (id == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		if (o->kind == OPTION_CONFIG)
			continue; /* read first, above */
		if (o->kind == OPTION_PEER && !peers_from_command_line) {
			/* The command line wins: its peers replace the file's list
			 * whole, rather than adding to it. */
			cfg->npeers = 0;
			peers_from_command_line = true;
		}
		int rc = bp_option_apply(cfg, o, optarg, true, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (optind < argc) {
		snprintf(err, errlen,
			 "unexpected argument '%s': options take the form --name value; EAL "
			 "options go before --",
			 argv[optind]);
		return -EINVAL;
	}
	resolve_peer_ports(cfg);
	derive_paths(cfg);
	return 0;
}

/* "ID@A.B.C.D:PORT", as --peer takes it. */
static const char *peer_text(const struct bp_peer *p, uint16_t peer_port, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
	snprintf(buf, len, "%u@%s:%u", p->id, ip, p->port ? p->port : peer_port);
	return buf;
}

static int __attribute__((format(printf, 3, 4)))
refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Peer i against this node and the peers before it. */
static int validate_peer(const struct bp_config *cfg, unsigned int i, char *err, size_t errlen)
{
	const struct bp_peer *p = &cfg->peers[i];
	uint16_t port = p->port ? p->port : cfg->peer_port;
	char me[48], other[48];
	peer_text(p, cfg->peer_port, me, sizeof(me));
	if (p->id == 0)
		return refuse(err, errlen, "--peer %s: node ids are 1..65535", me);
	if (p->id == cfg->node_id)
		return refuse(err, errlen,
			      "--peer %s: %u is this node's own --node-id; give every node of the "
			      "cluster its own id",
			      me, p->id);
	const char *why = bp_unicast_problem(p->ip);
	if (why)
		return refuse(err, errlen, "--peer %s: %s; give the peer's own unicast address", me,
			      why);
	if (p->ip == cfg->ip && port == cfg->peer_port)
		return refuse(err, errlen,
			      "--peer %s is this node itself (its --ip and --peer-port): list the "
			      "other nodes only",
			      me);
	for (unsigned int j = 0; j < i; j++) {
		const struct bp_peer *q = &cfg->peers[j];
		peer_text(q, cfg->peer_port, other, sizeof(other));
		if (q->id == p->id)
			return refuse(err, errlen,
				      "--peer %s and --peer %s: two peers with id %u; every node "
				      "has its own id",
				      other, me, p->id);
		if (q->ip == p->ip && (q->port ? q->port : cfg->peer_port) == port)
			return refuse(err, errlen,
				      "--peer %s and --peer %s: two peers at one address and "
				      "port; give each its own",
				      other, me);
	}
	return 0;
}

/* The cluster's rules (CLUSTER.md): peers distinct from each other and from
 * this node, the peer port apart from the clients', a key with any peer. */
static int validate_cluster(const struct bp_config *cfg, char *err, size_t errlen)
{
	/* A lone node listens on no peer port (its classifier has none). */
	if (cfg->npeers && cfg->peer_port == cfg->udp_port)
		return refuse(err, errlen,
			      "--peer-port %u is also the --udp-port: node-to-node messages need "
			      "a port of their own; give another --peer-port (default %u) or "
			      "--udp-port",
			      cfg->peer_port, BP_DEFAULT_PEER_PORT);
	if (cfg->npeers > BP_MAX_PEERS)
		return refuse(err, errlen, "%u peers: at most %d (a cluster is at most %d nodes)",
			      cfg->npeers, BP_MAX_PEERS, BP_MAX_PEERS + 1);
	for (unsigned int i = 0; i < cfg->npeers; i++)
		if (validate_peer(cfg, i, err, errlen) != 0)
			return -EINVAL;
	if (cfg->npeers > 0 && cfg->cluster_key_file[0] == '\0')
		return refuse(err, errlen,
			      "--peer needs --cluster-key-file, the cluster's shared secret (the "
			      "same file on every node); make one with: umask 077; head -c 32 "
			      "/dev/urandom | od -An -tx1 | tr -d ' \\n' > cluster.key");
	return 0;
}

int bp_config_validate(const struct bp_config *cfg, char *err, size_t errlen)
{
	if (cfg->ip == 0) {
		snprintf(err, errlen,
			 "--ip is required: the IPv4 address the node answers on, "
			 "e.g. --ip 198.18.0.2");
		return -EINVAL;
	}
	if (cfg->open_first && cfg->open_last - cfg->open_first >= cfg->max_auctions) {
		snprintf(err, errlen,
			 "--open-range %" PRIu64 "-%" PRIu64 " holds more than --max-auctions %u: "
			 "raise --max-auctions",
			 cfg->open_first, cfg->open_last, cfg->max_auctions);
		return -EINVAL;
	}
	return validate_cluster(cfg, err, errlen);
}

void bp_config_version(FILE *out)
{
	fprintf(out, "bidplane %s\n", BP_NODE_VERSION);
}

/* The nearest existing directory at or above path, into up. */
static void nearest_existing(const char *path, char *up, size_t len)
{
	snprintf(up, len, "%s", path);
	struct stat st;
	while (stat(up, &st) != 0) {
		char *slash = strrchr(up, '/');
		if (!slash) {
			snprintf(up, len, ".");
			return;
		}
		if (slash == up) {
			up[1] = '\0';
			return;
		}
		*slash = '\0';
	}
}

/* dir is a writable directory, or can be made: the nearest existing path
 * above it is a writable directory. */
static int dir_usable(const char *option, const char *dir, const char *what, char *err,
		      size_t errlen)
{
	char up[BP_PATH_MAX];
	struct stat st;
	nearest_existing(dir, up, sizeof(up));
	bool exists = strcmp(up, dir) == 0;
	if (stat(up, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
			 "%s %s: %s%s is not a directory; give a directory path, or move that "
			 "file away",
			 option, dir, exists ? "" : "its parent ", up);
		return -EINVAL;
	}
	if (access(up, W_OK | X_OK) != 0) {
		int e = errno;
		snprintf(err, errlen,
			 "%s %s: %s %s%s is not writable by uid %d (%s); run as root or as "
			 "its owner, or pick another directory",
			 option, dir, what, exists ? "" : "cannot be created: its parent ", up,
			 (int)geteuid(), strerror(e));
		return -EINVAL;
	}
	return 0;
}

int bp_config_check_host(const struct bp_config *cfg, FILE *warn, char *err, size_t errlen)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	size_t len = strlen(cfg->control_socket);
	if (len > max) {
		snprintf(err, errlen,
			 "--control-socket %s: %zu bytes, a unix socket path holds at most %zu; "
			 "pick a shorter path",
			 cfg->control_socket, len, max);
		return -EINVAL;
	}
	int rc = dir_usable("--state-dir", cfg->state_dir, "the directory", err, errlen);
	if (rc != 0)
		return rc;
	char sock_dir[BP_PATH_MAX];
	snprintf(sock_dir, sizeof(sock_dir), "%s", cfg->control_socket);
	char *slash = strrchr(sock_dir, '/');
	if (slash == sock_dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(sock_dir, sizeof(sock_dir), ".");
	rc = dir_usable("--control-socket", sock_dir, "the socket's directory", err, errlen);
	if (rc != 0)
		return rc;
	if (warn && strcmp(cfg->stats_group, "none") != 0 && !getgrnam(cfg->stats_group))
		fprintf(warn,
			"bidplane: warning: --stats-group %s does not exist: the stats segment "
			"will be readable by root only (groupadd --system %s, or "
			"systemd-sysusers)\n",
			cfg->stats_group, cfg->stats_group);
	return 0;
}
