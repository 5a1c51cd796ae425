/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's options, each written once: a table entry gives its name
 * (the long option and the INI key), where it lands in struct bp_config,
 * its range and default, and its help. getopt, the INI reader, --help, the
 * defaults and the configuration dump all read the table.
 *
 * Threads: main thread only, before workers start.
 */
#ifndef BIDPLANE_CONFIG_OPTIONS_H
#define BIDPLANE_CONFIG_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum option_kind {
	OPTION_UNSIGNED,   /* a decimal number in [min, max], a field of `size` bytes */
	OPTION_SIGNED,	   /* a decimal number in [-max, max], int64_t */
	OPTION_POW2,	   /* OPTION_UNSIGNED that must be a power of two */
	OPTION_FLAG,	   /* no value: sets a bool (INI: true/false) */
	OPTION_NOT_FLAG,   /* no value: clears a bool (--no-...) */
	OPTION_PATH,	   /* a path of at most `size` - 1 bytes */
	OPTION_NAME,	   /* an instance name (bp_instance_name_valid) */
	OPTION_UNICAST,	   /* the node's IPv4 unicast address */
	OPTION_ID_RANGE,   /* FIRST-LAST, two uint64_t fields in a row */
	OPTION_CONFIG,	   /* --config FILE: read before everything else */
	OPTION_HELP,	   /* -h, --help */
	OPTION_VERSION,	   /* --version: prints the version, like --help */
	OPTION_ACTION,	   /* no value: sets a bool; what to do instead of running
			    * (--check-config); command line only: no INI key, not dumped */
	OPTION_REPLACED,   /* gone: refused with `help` naming what replaced it */
	OPTION_LOG_LEVEL,  /* error, warning, notice, info or debug */
	OPTION_ETCD_URLS,  /* http://HOST:PORT[,http://HOST:PORT...] (bp_etcd_urls_check) */
	OPTION_KEY_NAME,   /* [A-Za-z0-9_-]{1,64}: a name inside etcd keys */
	OPTION_DURABILITY, /* sync, async or off (enum bp_durability, uint32_t) */
	OPTION_PEER,	   /* ID@A.B.C.D[:PORT], repeatable: appends to cfg->peers (at
			    * most BP_MAX_PEERS); INI: its own [peers] section of
			    * ID = A.B.C.D[:PORT] lines; dumped as that section */
};

struct option_spec {
	const char *name;
	enum option_kind kind;
	size_t offset; /* in struct bp_config */
	size_t size;   /* of that field */
	uint64_t min, max;
	uint64_t def; /* numbers and flags; strings: def_text */
	const char *def_text;
	const char *arg;     /* the value's name in --help ("N", "PATH") */
	const char *help;    /* without range or default: the usage adds those */
	const char *heading; /* starts a group of --help */
};

/* The table, ended by an entry whose name is NULL. */
extern const struct option_spec bp_options[];

const struct option_spec *bp_option_by_name(const char *name);

/* Sets one option from its text. flag is the value of a FLAG/NOT_FLAG
 * option (true on the command line). 0 or -EINVAL with the reason. */
int bp_option_apply(struct bp_config *cfg, const struct option_spec *o, const char *val, bool flag,
		    char *err, size_t errlen);

/*
 * Appends one peer, its id and its A.B.C.D[:PORT] given apart (the INI's
 * "ID = ADDRESS" line; the command line's ID@ADDRESS is split at the '@').
 * A port left out stays 0 here: bp_config_parse gives it --peer-port once
 * every option is read. 0, -E2BIG past BP_MAX_PEERS, or -EINVAL with what
 * is wrong in the value (no option name: the caller says where the value
 * came from).
 */
int bp_peer_append(struct bp_config *cfg, const char *id, const char *address, char *err,
		   size_t errlen);

/* Why a network-order IPv4 address is no host's own (unspecified,
 * broadcast, multicast, reserved, 0.0.0.0/8), or NULL when it is unicast:
 * the rule of --ip and of every peer's address. */
const char *bp_unicast_problem(uint32_t ip);

/*
 * Checks an --etcd list: 1..BP_ETCD_MAX_URLS comma-separated endpoints,
 * each http://HOST:PORT (HOST a name or an IPv4 address, PORT 1..65535,
 * nothing after it but an optional '/'). 0, or -EINVAL with what is wrong
 * and the fix in err (no option name: the caller adds it).
 */
int bp_etcd_urls_check(const char *list, char *err, size_t errlen);

/* Whether name is 1..64 characters of [A-Za-z0-9_-] (--cluster-name). */
bool bp_key_name_valid(const char *name);

/* The value of a flag option in an INI file: true/yes/1 or false/no/0. */
int bp_option_parse_bool(const struct option_spec *o, const char *val, bool *out, char *err,
			 size_t errlen);

#endif
