/* SPDX-License-Identifier: MIT */
/*
 * The configuration loader: an INI file into struct config.
 *
 * One table of keys (section, name, parser, field) drives it all: the line
 * parser finds the key, the key's parser checks the value and stores it, and
 * a last pass checks the rules that span several keys. Every problem is
 * reported with file, line, section and key, and parsing goes on after it,
 * so that one run shows all of them. The syntax and every rule are written
 * down in docs/configuration.md; keep the two in step.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "pipeline.h"
#include "str.h"

#define CFG_FILE_MAX (1u << 20)     /* a configuration file is small */
#define CFG_SHOW_MAX 48             /* bytes of a value quoted in a message */
#define CFG_SIP_PORT 5060           /* [sip] listen without a port */
#define CFG_CPU_LIMIT CPU_SETSIZE   /* CPU numbers are below this */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."

_Static_assert(CFG_MAX_CONTACTS_LIMIT + SIP_MAX_CONTACTS <= DP_SCRATCH_BINDINGS,
	       "a worker's scratch must hold an AOR's bindings plus one REGISTER's");
_Static_assert(sizeof(enum node_mode) == sizeof(int) && sizeof(enum auth_mode) == sizeof(int) &&
		       sizeof(enum io_mode) == sizeof(int) &&
		       sizeof(enum divert_mode) == sizeof(int) &&
		       sizeof(enum log_level) == sizeof(int),
	       "enum fields are stored through an int");

/* ---- the key table ---------------------------------------------------- */

struct cfg_choice {
	const char *name;
	int value;
};

static const struct cfg_choice node_modes[] = {
	{ "master", NODE_MASTER }, { "standby", NODE_STANDBY }, { NULL, 0 },
};
static const struct cfg_choice auth_modes[] = {
	{ "none", AUTH_NONE }, { "digest", AUTH_DIGEST }, { NULL, 0 },
};
static const struct cfg_choice io_modes[] = {
	{ "socket", IO_SOCKET }, { "dpdk", IO_DPDK }, { NULL, 0 },
};
static const struct cfg_choice divert_modes[] = {
	{ "redirect", DIVERT_REDIRECT }, { "reject", DIVERT_REJECT }, { NULL, 0 },
};
static const struct cfg_choice log_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARN }, { "info", LOG_INFO },
	{ "debug", LOG_DEBUG }, { NULL, 0 },
};

struct cfg_ctx;
struct cfg_key;

/* Check value (NUL-terminated, len bytes) and store it. Returns 0, or -1
 * after reporting the problem. */
typedef int (*cfg_parse_fn)(struct cfg_ctx *c, const struct cfg_key *k, const char *v,
			    size_t len);

struct cfg_key {
	const char *section;
	const char *name;
	cfg_parse_fn parse;
	size_t off;                     /* the field in struct config */
	size_t size;                    /* its size (strings) */
	uint64_t min, max;              /* numbers, durations (field's unit) */
	const struct cfg_choice *choices;
	unsigned flags;
};

#define KF_REPEAT 1u                    /* each occurrence adds a value */
#define KF_EMPTY_OK 2u                  /* an empty value means "none" */

enum cfg_key_id {
	K_NODE_NAME,
	K_NODE_MODE,
	K_NODE_PASSWORD,
	K_NODE_DATA_DIR,
	K_NODE_LOG_LEVEL,
	K_SIP_LISTEN,
	K_SIP_DOMAIN,
	K_SIP_AUTH,
	K_SIP_DEFAULT_EXPIRES,
	K_SIP_MIN_EXPIRES,
	K_SIP_MAX_EXPIRES,
	K_SIP_MAX_CONTACTS,
	K_SIP_NONCE_LIFETIME,
	K_SIP_AUTH_ALGORITHMS,
	K_SIP_USERS,
	K_PAIR_MASTER,
	K_PAIR_LISTEN,
	K_PAIR_FAILOVER_TIMEOUT,
	K_PAIR_FAILBACK_HOLD,
	K_PAIR_HEARTBEAT_INTERVAL,
	K_PAIR_ACTIVE_MAX_EXPIRES,
	K_PAIR_DIVERT,
	K_PAIR_TLS_CERT,
	K_PAIR_TLS_KEY,
	K_STATS_SOCKET,
	K_IO_MODE,
	K_IO_WORKERS,
	K_IO_CPUS,
	K_IO_DPDK_ARGS,
	K_COUNT
};

static int parse_string(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_name(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_path(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_choice(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_domain(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_seconds(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_millis(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_count(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_workers(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_listen(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_pair_addr(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_cpus(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);
static int parse_auth_algs(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len);

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const struct cfg_key keys[K_COUNT] = {
	[K_NODE_NAME] = { "node", "name", parse_name, FIELD(node.name) },
	[K_NODE_MODE] = { "node", "mode", parse_choice, FIELD(node.mode),
			  .choices = node_modes },
	[K_NODE_PASSWORD] = { "node", "password", parse_string, FIELD(node.password),
			      .flags = KF_EMPTY_OK },
	[K_NODE_DATA_DIR] = { "node", "data_dir", parse_path, FIELD(node.data_dir) },
	[K_NODE_LOG_LEVEL] = { "node", "log_level", parse_choice, FIELD(node.log_level),
			       .choices = log_levels },

	[K_SIP_LISTEN] = { "sip", "listen", parse_listen, FIELD(sip.listen),
			   .flags = KF_REPEAT },
	[K_SIP_DOMAIN] = { "sip", "domain", parse_domain, FIELD(sip.domain),
			   .flags = KF_EMPTY_OK },
	[K_SIP_AUTH] = { "sip", "auth", parse_choice, FIELD(sip.auth), .choices = auth_modes },
	[K_SIP_DEFAULT_EXPIRES] = { "sip", "default_expires", parse_seconds,
				    FIELD(sip.default_expires), 1, UINT32_MAX },
	[K_SIP_MIN_EXPIRES] = { "sip", "min_expires", parse_seconds, FIELD(sip.min_expires),
				1, UINT32_MAX },
	[K_SIP_MAX_EXPIRES] = { "sip", "max_expires", parse_seconds, FIELD(sip.max_expires),
				1, UINT32_MAX },
	[K_SIP_MAX_CONTACTS] = { "sip", "max_contacts", parse_count, FIELD(sip.max_contacts),
				 0, CFG_MAX_CONTACTS_LIMIT },
	[K_SIP_NONCE_LIFETIME] = { "sip", "nonce_lifetime", parse_seconds,
				   FIELD(sip.nonce_lifetime), 10, UINT32_MAX },
	[K_SIP_AUTH_ALGORITHMS] = { "sip", "auth_algorithms", parse_auth_algs,
				    FIELD(sip.auth_algorithms) },
	[K_SIP_USERS] = { "sip", "users", parse_path, FIELD(sip.users), .flags = KF_EMPTY_OK },

	[K_PAIR_MASTER] = { "pair", "master", parse_pair_addr, FIELD(pair.master) },
	[K_PAIR_LISTEN] = { "pair", "listen", parse_pair_addr, FIELD(pair.listen) },
	[K_PAIR_FAILOVER_TIMEOUT] = { "pair", "failover_timeout", parse_millis,
				      FIELD(pair.failover_timeout_ms), 1, UINT32_MAX },
	[K_PAIR_FAILBACK_HOLD] = { "pair", "failback_hold", parse_millis,
				   FIELD(pair.failback_hold_ms), 0, UINT32_MAX },
	[K_PAIR_HEARTBEAT_INTERVAL] = { "pair", "heartbeat_interval", parse_millis,
					FIELD(pair.heartbeat_interval_ms), 10, UINT32_MAX },
	[K_PAIR_ACTIVE_MAX_EXPIRES] = { "pair", "active_max_expires", parse_seconds,
					FIELD(pair.active_max_expires), 1, UINT32_MAX },
	[K_PAIR_DIVERT] = { "pair", "divert", parse_choice, FIELD(pair.divert),
			    .choices = divert_modes },
	[K_PAIR_TLS_CERT] = { "pair", "tls_cert", parse_path, FIELD(pair.tls_cert),
			      .flags = KF_EMPTY_OK },
	[K_PAIR_TLS_KEY] = { "pair", "tls_key", parse_path, FIELD(pair.tls_key),
			     .flags = KF_EMPTY_OK },

	[K_STATS_SOCKET] = { "stats", "socket", parse_path, FIELD(stats.socket) },

	[K_IO_MODE] = { "io", "mode", parse_choice, FIELD(io.mode), .choices = io_modes },
	[K_IO_WORKERS] = { "io", "workers", parse_workers, FIELD(io.workers), 1,
			   CFG_WORKERS_MAX },
	[K_IO_CPUS] = { "io", "cpus", parse_cpus, FIELD(io.cpus) },
	[K_IO_DPDK_ARGS] = { "io", "dpdk_args", parse_string, FIELD(io.dpdk_args),
			     .flags = KF_EMPTY_OK },
};

static const char *const sections[] = { "node", "sip", "pair", "stats", "io", NULL };

/* ---- parsing context and messages -------------------------------------- */

struct cfg_ctx {
	const char *name;               /* the file, as named in messages */
	const char *base_dir;           /* relative paths resolve against it */
	struct config *cfg;
	struct config_errors *errs;
	unsigned line;
	const char *section;            /* the current known section, or NULL */
	bool section_bad;               /* in an unknown section: skip its keys */
	bool listen_seen;               /* [sip] listen replaced the default */
	unsigned listen_line[CFG_MAX_LISTEN];
	unsigned set_line[K_COUNT];     /* where each key was set; 0: default */
	bool bad[K_COUNT];              /* a value was given and refused */
	char value[PATH_MAX];           /* the current value, unquoted */
};

static void cfg_err(struct cfg_ctx *c, unsigned line, const char *section, const char *key,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void cfg_err(struct cfg_ctx *c, unsigned line, const char *section, const char *key,
		    const char *fmt, ...)
{
	struct config_errors *e = c->errs;
	size_t cap = sizeof(e->msg[0]);
	size_t n = 0;
	char *m;
	va_list ap;
	int r;

	if (e->n++ >= CFG_MAX_ERRORS)
		return;
	m = e->msg[e->n - 1];
	if (line)
		r = snprintf(m, cap, "%s:%u: ", c->name, line);
	else
		r = snprintf(m, cap, "%s: ", c->name);
	n = r > 0 ? (size_t)r : 0;
	if (n < cap && section && key)
		r = snprintf(m + n, cap - n, "[%s] %s: ", section, key);
	else if (n < cap && section)
		r = snprintf(m + n, cap - n, "[%s]: ", section);
	else if (n < cap && key)
		r = snprintf(m + n, cap - n, "%s: ", key);
	else
		r = 0;
	n += r > 0 ? (size_t)r : 0;
	if (n >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(m + n, cap - n, fmt, ap);
	va_end(ap);
}

/* Report a problem with the key being parsed, on the current line. */
#define key_err(c, k, ...) cfg_err((c), (c)->line, (k)->section, (k)->name, __VA_ARGS__)

struct shown {
	char s[CFG_SHOW_MAX + 4];
};

/* A printable, bounded copy of outside text for a message. */
static const char *show(struct shown *out, const char *v, size_t len)
{
	size_t n = len < CFG_SHOW_MAX ? len : CFG_SHOW_MAX;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		out->s[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (len > n) {
		memcpy(out->s + i, "...", 3);
		i += 3;
	}
	out->s[i] = '\0';
	return out->s;
}

static void *field_of(struct cfg_ctx *c, const struct cfg_key *k)
{
	return (char *)c->cfg + k->off;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_ctl(char ch)
{
	unsigned char u = (unsigned char)ch;

	return (u < 0x20 && u != '\t') || u == 0x7f;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alnum(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* ---- suggestions -------------------------------------------------------- */

#define SUGGEST_LEN_MAX 64

/*
 * Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), ignoring case: "defualt_expires" is 1 from
 * "default_expires", "Name" is 0 from "name".
 */
static unsigned edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned rows[3][SUGGEST_LEN_MAX + 1];
	unsigned *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = ascii_lower(a[i - 1]) != ascii_lower(b[j - 1]);
			unsigned d = prev[j] + 1;

			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (prev[j - 1] + cost < d)
				d = prev[j - 1] + cost;
			if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) &&
			    ascii_lower(a[i - 2]) == ascii_lower(b[j - 1]) && prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
		unsigned *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

/* Is candidate close enough to word to be suggested? Sets *best. */
static bool closer(const char *word, size_t len, const char *candidate, unsigned *best)
{
	size_t cl = strlen(candidate);
	unsigned limit = len <= 4 ? 1 : 2;
	unsigned d;

	if (len > SUGGEST_LEN_MAX || cl > SUGGEST_LEN_MAX)
		return false;
	d = edit_distance(word, len, candidate, cl);
	if (d > limit || d >= *best)
		return false;
	*best = d;
	return true;
}

const char *config_suggest(const char *word, size_t len, const char *const *candidates)
{
	const char *guess = NULL;
	unsigned best = UINT32_MAX;

	for (unsigned i = 0; candidates[i]; i++)
		if (closer(word, len, candidates[i], &best))
			guess = candidates[i];
	return guess;
}

/* ---- values ------------------------------------------------------------- */

static int parse_string(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	if (len == 0 && !(k->flags & KF_EMPTY_OK)) {
		key_err(c, k, "must not be empty");
		return -1;
	}
	if (len >= k->size) {
		key_err(c, k, "too long (%zu bytes, at most %zu)", len, k->size - 1);
		return -1;
	}
	memcpy(field_of(c, k), v, len + 1);
	return 0;
}

static int check_name(struct cfg_ctx *c);

static int parse_name(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	if (parse_string(c, k, v, len) < 0)
		return -1;
	return check_name(c);
}

static int parse_path(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	char *out = field_of(c, k);
	const char *base = c->base_dir;
	size_t blen = base ? strlen(base) : 0;
	size_t need, sep;
	struct shown sv;

	if (len == 0) {
		if (!(k->flags & KF_EMPTY_OK)) {
			key_err(c, k, "must not be empty");
			return -1;
		}
		out[0] = '\0';
		return 0;
	}
	if (v[0] == '/')
		blen = 0;
	sep = blen && base[blen - 1] != '/';
	need = blen + sep + len;
	if (need >= k->size) {
		if (k == &keys[K_STATS_SOCKET])
			key_err(c, k,
				"'%s' is too long for a unix socket path (%zu bytes%s, at most %zu)",
				show(&sv, v, len), need, blen ? " once made absolute" : "",
				k->size - 1);
		else
			key_err(c, k, "'%s' is too long (%zu bytes%s, at most %zu)",
				show(&sv, v, len), need, blen ? " once made absolute" : "",
				k->size - 1);
		return -1;
	}
	memcpy(out, base, blen);
	if (sep)
		out[blen] = '/';
	memcpy(out + blen + sep, v, len + 1);
	return 0;
}

static void choice_list(const struct cfg_choice *ch, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; ch[i].name && n < cap; i++) {
		int r = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", ch[i].name);
		if (r < 0)
			break;
		n += (size_t)r;
	}
}

static int parse_choice(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	char list[96];
	struct shown sv;

	for (unsigned i = 0; k->choices[i].name; i++) {
		if (strcmp(v, k->choices[i].name) == 0) {
			int val = k->choices[i].value;
			memcpy(field_of(c, k), &val, sizeof(val));
			return 0;
		}
	}
	choice_list(k->choices, list, sizeof(list));
	key_err(c, k, "'%s' is not one of: %s", show(&sv, v, len), list);
	return -1;
}

int config_host_normalize(const char *in, size_t len, char *out, size_t cap)
{
	union tdm_addr a;
	char ip[INET6_ADDRSTRLEN];
	size_t label = 0;
	bool numeric = true;
	int r;

	if (len == 0 || cap == 0)
		return TDM_EMALFORMED;
	if (in[0] == '[' || memchr(in, ':', len)) {
		if (addr_parse_ip(in, len, &a) < 0 || a.sa.sa_family != AF_INET6)
			return TDM_EMALFORMED;
		addr_format_ip(&a, ip, sizeof(ip));
		r = snprintf(out, cap, "[%s]", ip);
		return r > 0 && (size_t)r < cap ? 0 : TDM_ENOSPACE;
	}
	if (addr_parse_ip(in, len, &a) == 0) {
		addr_format_ip(&a, ip, sizeof(ip));
		r = snprintf(out, cap, "%s", ip);
		return r > 0 && (size_t)r < cap ? 0 : TDM_ENOSPACE;
	}
	if (len > 253)
		return TDM_EMALFORMED;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? in[i] : '.';

		if (ch == '.') {
			if (label == 0 || label > 63 || in[i - 1] == '-')
				return TDM_EMALFORMED;
			if (i == len && numeric)
				return TDM_EMALFORMED;   /* "1.2.3": a numeric top label */
			label = 0;
			numeric = true;
			continue;
		}
		if (!is_alnum(ch) && !(ch == '-' && label > 0))
			return TDM_EMALFORMED;
		if (!is_digit(ch))
			numeric = false;
		label++;
	}
	if (len >= cap)
		return TDM_ENOSPACE;
	for (size_t i = 0; i < len; i++)
		out[i] = ascii_lower(in[i]);
	out[len] = '\0';
	return 0;
}

static int parse_domain(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	char *out = field_of(c, k);
	const char *colon = strrchr(v, ':');
	char tmp[CFG_DOMAIN_MAX];
	struct shown sv;
	int r;

	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	r = config_host_normalize(v, len, out, k->size);
	if (r == 0)
		return 0;
	if (r == TDM_ENOSPACE) {
		key_err(c, k, "too long (%zu bytes, at most %zu)", len, k->size - 1);
		return -1;
	}
	/* "example.com:5060" or "[2001:db8::1]:5060": say what is wrong. */
	if (colon && colon > v && colon[1] &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	    config_host_normalize(v, (size_t)(colon - v), tmp, sizeof(tmp)) == 0 &&
	    (v[0] == '[' || !memchr(v, ':', (size_t)(colon - v)))) {
		key_err(c, k, "'%s' must not include a port (the domain is a host name or IP address)",
			show(&sv, v, len));
		return -1;
	}
	key_err(c, k, "'%s' is not a host name or IP address", show(&sv, v, len));
	return -1;
}

enum dur_result { DUR_OK, DUR_BAD, DUR_HUGE };

/* "<digits>[ms|s|m|h|d]" in milliseconds; a bare number is seconds. */
static enum dur_result duration_ms(const char *v, size_t len, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	size_t digits = 0;
	uint64_t n;

	while (digits < len && is_digit(v[digits]))
		digits++;
	if (digits == 0)
		return DUR_BAD;
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(v + digits, units[i].unit) != 0)
			continue;
		if (!tstr_to_u64(tstr_make(v, digits), UINT64_MAX / units[i].ms, &n))
			return DUR_HUGE;
		*ms = n * units[i].ms;
		return DUR_OK;
	}
	return DUR_BAD;
}

static int duration_field(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len,
			  bool in_seconds)
{
	const char *unit = in_seconds ? "s" : "ms";
	uint64_t ms, val;
	uint32_t out;
	struct shown sv;

	switch (duration_ms(v, len, &ms)) {
	case DUR_BAD:
		key_err(c, k, "'%s' is not a duration (a whole number with an optional unit: "
			      "ms, s, m, h, d; a bare number is seconds)",
			show(&sv, v, len));
		return -1;
	case DUR_HUGE:
		goto huge;
	case DUR_OK:
		break;
	}
	if (in_seconds && ms % 1000 != 0) {
		key_err(c, k, "'%s' is not a whole number of seconds", show(&sv, v, len));
		return -1;
	}
	val = in_seconds ? ms / 1000 : ms;
	if (val > k->max)
		goto huge;
	if (val < k->min) {
		key_err(c, k, "'%s' is below the minimum of %llu%s", show(&sv, v, len),
			(unsigned long long)k->min, unit);
		return -1;
	}
	out = (uint32_t)val;
	memcpy(field_of(c, k), &out, sizeof(out));
	return 0;
huge:
	key_err(c, k, "'%s' is too large (at most %llu%s)", show(&sv, v, len),
		(unsigned long long)k->max, unit);
	return -1;
}

static int parse_seconds(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	return duration_field(c, k, v, len, true);
}

static int parse_millis(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	return duration_field(c, k, v, len, false);
}

static int count_value(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len,
		       uint64_t *out)
{
	struct shown sv;

	if (len > 0 && strspn(v, "0123456789") == len &&
	    tstr_to_u64(tstr_make(v, len), k->max, out) && *out >= k->min)
		return 0;
	key_err(c, k, "'%s' is not a whole number from %llu to %llu", show(&sv, v, len),
		(unsigned long long)k->min, (unsigned long long)k->max);
	return -1;
}

static int parse_count(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	uint64_t n;
	uint32_t out;

	if (count_value(c, k, v, len, &n) < 0)
		return -1;
	out = (uint32_t)n;
	memcpy(field_of(c, k), &out, sizeof(out));
	return 0;
}

static unsigned default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;

	if (n < 1)
		return 1;
	return n > CFG_WORKERS_MAX ? CFG_WORKERS_MAX : (unsigned)n;
}

static int parse_workers(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	uint64_t n;

	if (strcmp(v, "auto") == 0) {
		c->cfg->io.workers = default_workers();
		c->cfg->io.workers_auto = true;
		return 0;
	}
	if (count_value(c, k, v, len, &n) < 0)
		return -1;
	c->cfg->io.workers = (unsigned)n;
	c->cfg->io.workers_auto = false;
	return 0;
}

/* Why v is not "IP:port"; *is_name tells that its host is a DNS name. */
static const char *addr_problem(const char *v, bool *is_name)
{
	const char *host = v, *port = NULL;
	size_t hlen = strlen(v);
	bool bare_v6 = false;
	union tdm_addr a;
	char tmp[CFG_DOMAIN_MAX];

	*is_name = false;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close)
			return "is not an IP address (the ']' after the IPv6 address is missing)";
		host = v + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return "is not an IP address and port ([IPv6]:port)";
	} else {
		const char *colon = strchr(v, ':');
		if (colon && !strchr(colon + 1, ':')) {
			hlen = (size_t)(colon - v);
			port = colon + 1;
		} else if (colon) {
			bare_v6 = true;
		}
	}
	if (addr_parse_ip(host, hlen, &a) < 0) {
		if (config_host_normalize(host, hlen, tmp, sizeof(tmp)) == 0) {
			*is_name = true;
			return "is a host name";
		}
		return "is not an IP address";
	}
	if (!port && bare_v6)
		return "needs a port: write an IPv6 address in brackets, e.g. [2001:db8::1]:5060";
	if (!port)
		return "needs a port (IP:port)";
	return "has a bad port (1 to 65535)";
}

static int parse_listen(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	struct config *cfg = c->cfg;
	union tdm_addr a;
	struct shown sv;
	bool is_name;
	const char *why;

	if (!c->listen_seen) {
		/* The first listen line replaces the default address. */
		c->listen_seen = true;
		cfg->sip.nlisten = 0;
	}
	if (addr_parse(v, CFG_SIP_PORT, &a) < 0) {
		why = addr_problem(v, &is_name);
		if (is_name)
			key_err(c, k, "'%s' is a host name: only IP addresses are accepted "
				      "(e.g. 192.0.2.10:5060 or [2001:db8::10]:5060)",
				show(&sv, v, len));
		else
			key_err(c, k, "'%s' %s", show(&sv, v, len), why);
		return -1;
	}
	for (unsigned i = 0; i < cfg->sip.nlisten; i++) {
		if (addr_equal(&cfg->sip.listen[i], &a)) {
			key_err(c, k, "'%s' is listed twice (first on line %u)", show(&sv, v, len),
				c->listen_line[i]);
			return -1;
		}
	}
	if (cfg->sip.nlisten >= CFG_MAX_LISTEN) {
		key_err(c, k, "too many addresses (at most %d)", CFG_MAX_LISTEN);
		return -1;
	}
	c->listen_line[cfg->sip.nlisten] = c->line;
	cfg->sip.listen[cfg->sip.nlisten++] = a;
	return 0;
}

static int parse_pair_addr(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	bool master = k == &keys[K_PAIR_MASTER];
	union tdm_addr a;
	struct shown sv;
	bool is_name;
	const char *why;

	if (addr_parse(v, 0, &a) < 0) {
		why = addr_problem(v, &is_name);
		if (is_name && master)
			key_err(c, k, "'%s' is a DNS name: a DNS name is not accepted, use the "
				      "master's IP address (e.g. 192.0.2.10:5070)",
				show(&sv, v, len));
		else if (is_name)
			key_err(c, k, "'%s' is a host name: only IP addresses are accepted "
				      "(e.g. 192.0.2.10:5070 or [::]:5070)",
				show(&sv, v, len));
		else
			key_err(c, k, "'%s' %s", show(&sv, v, len), why);
		return -1;
	}
	if (master) {
		if (addr_is_any(&a)) {
			key_err(c, k, "'%s' is a wildcard address: give the master's own IP address",
				show(&sv, v, len));
			return -1;
		}
		c->cfg->pair.master = a;
		c->cfg->pair.master_set = true;
	} else {
		c->cfg->pair.listen = a;
		c->cfg->pair.listen_set = true;
	}
	return 0;
}

/* "1,2,4-7": CPU numbers and ranges, each CPU once. Empty: the default. */
static int parse_cpus(struct cfg_ctx *c, const struct cfg_key *k, const char *v, size_t len)
{
	uint64_t seen[CFG_CPU_LIMIT / 64] = { 0 };
	unsigned cpus[CFG_MAX_CPUS];
	unsigned n = 0;
	const char *p = v, *end = v + len;
	struct shown sv;

	if (len == 0) {
		c->cfg->io.ncpus = 0;
		return 0;
	}
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *s = p, *dash;
		uint64_t lo, hi;

		while (s < e && is_ws(*s))
			s++;
		while (e > s && is_ws(e[-1]))
			e--;
		if (s == e) {
			key_err(c, k, "'%s' has an empty entry (write e.g. 1,2,4-7)", show(&sv, v, len));
			return -1;
		}
		dash = memchr(s, '-', (size_t)(e - s));
		if (!tstr_to_u64(tstr_make(s, (size_t)((dash ? dash : e) - s)), CFG_CPU_LIMIT - 1,
				 &lo) ||
		    (dash && !tstr_to_u64(tstr_make(dash + 1, (size_t)(e - dash - 1)),
					  CFG_CPU_LIMIT - 1, &hi))) {
			key_err(c, k, "'%s' is not a CPU number or range (0 to %d, e.g. 4-7)",
				show(&sv, s, (size_t)(e - s)), CFG_CPU_LIMIT - 1);
			return -1;
		}
		if (!dash)
			hi = lo;
		if (lo > hi) {
			key_err(c, k, "range '%s' is reversed (write %llu-%llu)",
				show(&sv, s, (size_t)(e - s)), (unsigned long long)hi,
				(unsigned long long)lo);
			return -1;
		}
		for (uint64_t cpu = lo; cpu <= hi; cpu++) {
			if (seen[cpu / 64] & (1ull << (cpu % 64))) {
				key_err(c, k, "CPU %llu is listed twice", (unsigned long long)cpu);
				return -1;
			}
			if (n >= CFG_MAX_CPUS) {
				key_err(c, k, "more than %d CPUs listed", CFG_MAX_CPUS);
				return -1;
			}
			seen[cpu / 64] |= 1ull << (cpu % 64);
			cpus[n++] = (unsigned)cpu;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(c->cfg->io.cpus, cpus, n * sizeof(cpus[0]));
	c->cfg->io.ncpus = n;
	return 0;
}

/* "SHA-256, MD5": the digest challenges, in order of preference. */
static int parse_auth_algs(struct cfg_ctx *c, const struct cfg_key *k, const char *v,
			   size_t len)
{
	static const struct {
		const char *name;
		enum auth_alg alg;
	} names[] = { { "MD5", AUTH_ALG_MD5 }, { "SHA-256", AUTH_ALG_SHA256 } };
	enum auth_alg algs[CFG_MAX_AUTH_ALGS];
	unsigned n = 0;
	const char *p = v, *end = v + len;
	struct shown sv;

	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *s = p;
		unsigned i;

		while (s < e && is_ws(*s))
			s++;
		while (e > s && is_ws(e[-1]))
			e--;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (tstr_caseeq_lit(tstr_make(s, (size_t)(e - s)), names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			key_err(c, k, "'%s' is not a digest algorithm (MD5, SHA-256)",
				show(&sv, s, (size_t)(e - s)));
			return -1;
		}
		for (unsigned j = 0; j < n; j++) {
			if (algs[j] == names[i].alg) {
				key_err(c, k, "%s is listed twice", names[i].name);
				return -1;
			}
		}
		algs[n++] = names[i].alg;
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(c->cfg->sip.auth_algorithms, algs, n * sizeof(algs[0]));
	c->cfg->sip.nauth_algorithms = n;
	return 0;
}

/* ---- lines -------------------------------------------------------------- */

/* Unquote the value after '=' into c->value. Returns its length or -1. */
static long parse_value(struct cfg_ctx *c, const struct cfg_key *k, const char *s, size_t len)
{
	size_t i = 0, o = 0, end;

	while (i < len && is_ws(s[i]))
		i++;
	if (i < len && s[i] == '"') {
		for (i++;; i++) {
			char ch;

			if (i >= len) {
				key_err(c, k, "unterminated quoted value (the closing '\"' is missing)");
				return -1;
			}
			ch = s[i];
			if (ch == '"')
				break;
			if (ch == '\\') {
				if (++i >= len) {
					key_err(c, k, "unterminated quoted value (the closing '\"' is missing)");
					return -1;
				}
				ch = s[i];
				if (ch != '"' && ch != '\\') {
					key_err(c, k, "unknown escape in quoted value (only \\\" and \\\\ are allowed)");
					return -1;
				}
			} else if (is_ctl(ch)) {
				goto control;
			}
			if (o + 1 >= sizeof(c->value))
				goto too_long;
			c->value[o++] = ch;
		}
		for (i++; i < len && is_ws(s[i]); i++)
			;
		if (i < len && s[i] != '#' && s[i] != ';') {
			key_err(c, k, "unexpected text after the closing quote");
			return -1;
		}
	} else {
		/* A '#' after whitespace starts a comment. */
		for (end = i; end < len; end++)
			if (s[end] == '#' && end > 0 && is_ws(s[end - 1]))
				break;
		while (end > i && is_ws(s[end - 1]))
			end--;
		if (end - i >= sizeof(c->value))
			goto too_long;
		for (; i < end; i++) {
			if (is_ctl(s[i]))
				goto control;
			c->value[o++] = s[i];
		}
	}
	c->value[o] = '\0';
	return (long)o;
control:
	key_err(c, k, "the value contains a control character");
	return -1;
too_long:
	key_err(c, k, "the value is too long (at most %zu bytes)", sizeof(c->value) - 1);
	return -1;
}

static void unknown_key(struct cfg_ctx *c, const char *key, size_t klen)
{
	const char *guess = NULL, *home[2] = { NULL, NULL };
	unsigned best = UINT32_MAX;
	struct shown sk;

	show(&sk, key, klen);
	for (unsigned i = 0; i < K_COUNT; i++) {
		if (strcmp(keys[i].section, c->section) == 0) {
			if (closer(key, klen, keys[i].name, &best))
				guess = keys[i].name;
		} else if (strlen(keys[i].name) == klen && memcmp(keys[i].name, key, klen) == 0) {
			home[home[0] ? 1 : 0] = keys[i].section;
		}
	}
	if (home[1])
		cfg_err(c, c->line, c->section, sk.s, "unknown key '%s' (it belongs in [%s] or [%s])",
			sk.s, home[0], home[1]);
	else if (home[0])
		cfg_err(c, c->line, c->section, sk.s, "unknown key '%s' (it belongs in [%s])", sk.s,
			home[0]);
	else if (guess)
		cfg_err(c, c->line, c->section, sk.s, "unknown key '%s' (did you mean '%s'?)", sk.s,
			guess);
	else
		cfg_err(c, c->line, c->section, sk.s, "unknown key '%s'", sk.s);
}

static void parse_section(struct cfg_ctx *c, const char *s, size_t len)
{
	const char *close = memchr(s, ']', len);
	const char *name, *guess, *rest;
	size_t nlen;
	struct shown sv;

	c->section = NULL;
	c->section_bad = true;
	if (!close) {
		cfg_err(c, c->line, NULL, NULL, "'%s' is not a section header (write [name])",
			show(&sv, s, len));
		return;
	}
	for (rest = close + 1; rest < s + len && is_ws(*rest); rest++)
		;
	if (rest < s + len && *rest != '#' && *rest != ';') {
		cfg_err(c, c->line, NULL, NULL, "unexpected text after the section header '%s'",
			show(&sv, s, len));
		return;
	}
	name = s + 1;
	nlen = (size_t)(close - name);
	while (nlen && is_ws(*name)) {
		name++;
		nlen--;
	}
	while (nlen && is_ws(name[nlen - 1]))
		nlen--;
	for (unsigned i = 0; sections[i]; i++) {
		if (strlen(sections[i]) == nlen && memcmp(sections[i], name, nlen) == 0) {
			c->section = sections[i];
			c->section_bad = false;
			return;
		}
	}
	guess = config_suggest(name, nlen, sections);
	show(&sv, name, nlen);
	if (guess)
		cfg_err(c, c->line, sv.s, NULL, "unknown section (did you mean [%s]?)", guess);
	else
		cfg_err(c, c->line, sv.s, NULL,
			"unknown section (the sections are [node], [sip], [pair], [stats] and [io])");
}

static void parse_line(struct cfg_ctx *c, const char *s, size_t len)
{
	const char *eq;
	size_t klen;
	const struct cfg_key *k = NULL;
	struct shown sk;
	long vlen;
	unsigned id;

	if (len && s[len - 1] == '\r')
		len--;
	while (len && is_ws(*s)) {
		s++;
		len--;
	}
	while (len && is_ws(s[len - 1]))
		len--;
	if (len == 0 || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		parse_section(c, s, len);
		return;
	}
	eq = memchr(s, '=', len);
	if (!eq) {
		for (klen = 0; klen < len && !is_ws(s[klen]); klen++)
			;
		cfg_err(c, c->line, c->section, show(&sk, s, klen),
			"missing '=' (write key = value)");
		return;
	}
	for (klen = (size_t)(eq - s); klen && is_ws(s[klen - 1]); klen--)
		;
	if (klen == 0) {
		cfg_err(c, c->line, c->section, NULL, "missing key before '='");
		return;
	}
	if (c->section_bad)
		return;                 /* its section was reported */
	if (!c->section) {
		for (id = 0; id < K_COUNT; id++)
			if (strlen(keys[id].name) == klen && memcmp(keys[id].name, s, klen) == 0)
				break;
		if (id < K_COUNT)
			cfg_err(c, c->line, NULL, show(&sk, s, klen),
				"key outside any section (it belongs in [%s])", keys[id].section);
		else
			cfg_err(c, c->line, NULL, show(&sk, s, klen),
				"key outside any section (start one with a line like [sip])");
		return;
	}
	for (id = 0; id < K_COUNT; id++) {
		if (strcmp(keys[id].section, c->section) == 0 && strlen(keys[id].name) == klen &&
		    memcmp(keys[id].name, s, klen) == 0) {
			k = &keys[id];
			break;
		}
	}
	if (!k) {
		unknown_key(c, s, klen);
		return;
	}
	if (c->set_line[id] && !(k->flags & KF_REPEAT)) {
		key_err(c, k, "set twice (first on line %u)", c->set_line[id]);
		return;
	}
	c->set_line[id] = c->line;
	vlen = parse_value(c, k, eq + 1, (size_t)(s + len - (eq + 1)));
	if (vlen < 0 || k->parse(c, k, c->value, (size_t)vlen) < 0)
		c->bad[id] = true;
}

static void parse_text(struct cfg_ctx *c, const char *text)
{
	const char *p = text;

	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;                 /* a UTF-8 byte order mark */
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		c->line++;
		parse_line(c, p, len);
		if (!nl)
			break;
		p = nl + 1;
	}
}

/* ---- rules across keys -------------------------------------------------- */

/* [node] name, from the file or the host name. Returns 0 or -1. */
static int check_name(struct cfg_ctx *c)
{
	const char *name = c->cfg->node.name;
	unsigned line = c->set_line[K_NODE_NAME];
	const char *what = line ? "" : "the host name ";
	const char *fix = line ? "" : "; set [node] name";
	struct shown sv;
	size_t len = strlen(name);

	show(&sv, name, len);
	if (len == 0) {
		cfg_err(c, line, "node", "name", "must not be empty%s", fix);
		return -1;
	}
	if (strspn(name, NAME_CHARS) != len) {
		cfg_err(c, line, "node", "name",
			"%s'%s' may only contain letters, digits, '-', '_' and '.'%s", what, sv.s,
			fix);
		return -1;
	}
	if (name[0] == '_') {
		cfg_err(c, line, "node", "name",
			"%s'%s' starts with '_': such names are reserved (the registrations "
			"list shows the peers as _STANDBY_ and _ACTIVE_)%s",
			what, sv.s, fix);
		return -1;
	}
	return 0;
}

static void validate(struct cfg_ctx *c)
{
	struct config *cfg = c->cfg;
	const bool *bad = c->bad;

	if (!c->set_line[K_NODE_NAME])
		check_name(c);          /* the host name */

	if (!bad[K_SIP_MIN_EXPIRES] && !bad[K_SIP_DEFAULT_EXPIRES] &&
	    cfg->sip.min_expires > cfg->sip.default_expires)
		cfg_err(c, 0, "sip", "min_expires", "must not exceed default_expires (%u > %u)",
			cfg->sip.min_expires, cfg->sip.default_expires);
	if (!bad[K_SIP_DEFAULT_EXPIRES] && !bad[K_SIP_MAX_EXPIRES] &&
	    cfg->sip.default_expires > cfg->sip.max_expires)
		cfg_err(c, 0, "sip", "default_expires", "must not exceed max_expires (%u > %u)",
			cfg->sip.default_expires, cfg->sip.max_expires);
	if (!bad[K_PAIR_ACTIVE_MAX_EXPIRES] && !bad[K_SIP_MIN_EXPIRES] &&
	    cfg->pair.active_max_expires < cfg->sip.min_expires)
		cfg_err(c, 0, "pair", "active_max_expires",
			"must not be below [sip] min_expires (%u < %u)",
			cfg->pair.active_max_expires, cfg->sip.min_expires);

	if (!bad[K_NODE_MODE] && cfg->node.mode == NODE_STANDBY) {
		if (!cfg->pair.master_set && !bad[K_PAIR_MASTER])
			cfg_err(c, 0, "pair", "master",
				"required when [node] mode = standby (the master's link address, IP:port)");
		if (cfg->node.password[0] == '\0' && !bad[K_NODE_PASSWORD])
			cfg_err(c, 0, "node", "password",
				"required when mode = standby (the PBX password shared with the master)");
	} else if (!bad[K_NODE_MODE]) {
		if (cfg->pair.master_set)
			cfg_err(c, c->set_line[K_PAIR_MASTER], "pair", "master",
				"only a standby connects to a master (set [node] mode = standby, "
				"or remove this key)");
		if (cfg->pair.listen_set && cfg->node.password[0] == '\0' && !bad[K_NODE_PASSWORD])
			cfg_err(c, 0, "node", "password",
				"required when [pair] listen is set (the standby logs in with it)");
	}
	if (!bad[K_PAIR_HEARTBEAT_INTERVAL] && !bad[K_PAIR_FAILOVER_TIMEOUT] &&
	    cfg->pair.heartbeat_interval_ms >= cfg->pair.failover_timeout_ms)
		cfg_err(c, 0, "pair", "heartbeat_interval",
			"must be shorter than failover_timeout (%ums >= %ums)",
			cfg->pair.heartbeat_interval_ms, cfg->pair.failover_timeout_ms);
	if (!bad[K_PAIR_TLS_CERT] && !bad[K_PAIR_TLS_KEY]) {
		if (cfg->pair.tls_cert[0] && !cfg->pair.tls_key[0])
			cfg_err(c, 0, "pair", "tls_key", "required when tls_cert is set");
		else if (!cfg->pair.tls_cert[0] && cfg->pair.tls_key[0])
			cfg_err(c, 0, "pair", "tls_cert", "required when tls_key is set");
	}

	if (!bad[K_IO_MODE] && !bad[K_IO_DPDK_ARGS] && cfg->io.mode == IO_DPDK &&
	    cfg->io.dpdk_args[0] == '\0')
		cfg_err(c, 0, "io", "dpdk_args",
			"required when mode = dpdk (the DPDK EAL arguments, e.g. \"-l 0-3 -a 0000:01:00.0\")");
}

/* ---- public ------------------------------------------------------------- */

static void default_name(char *out, size_t cap)
{
	char host[256];
	char *dot;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "tandem");
	host[sizeof(host) - 1] = '\0';
	dot = strchr(host, '.');
	if (strlen(host) >= cap && dot)
		*dot = '\0';            /* a long FQDN: its first label */
	snprintf(out, cap, "%.*s", (int)(cap - 1), host);
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));

	default_name(cfg->node.name, sizeof(cfg->node.name));
	cfg->node.mode = NODE_MASTER;
	snprintf(cfg->node.data_dir, sizeof(cfg->node.data_dir), "/var/lib/tandem");
	cfg->node.log_level = LOG_INFO;

	addr_parse("0.0.0.0:5060", 0, &cfg->sip.listen[0]);
	cfg->sip.nlisten = 1;
	cfg->sip.auth = AUTH_NONE;
	cfg->sip.default_expires = 3600;
	cfg->sip.min_expires = 60;
	cfg->sip.max_expires = 7200;
	cfg->sip.max_contacts = 10;
	cfg->sip.nonce_lifetime = 300;
	cfg->sip.auth_algorithms[0] = AUTH_ALG_SHA256;
	cfg->sip.auth_algorithms[1] = AUTH_ALG_MD5;
	cfg->sip.nauth_algorithms = 2;

	cfg->pair.failover_timeout_ms = 3000;
	cfg->pair.failback_hold_ms = 10000;
	cfg->pair.heartbeat_interval_ms = 200;
	cfg->pair.active_max_expires = 120;
	cfg->pair.divert = DIVERT_REDIRECT;

	snprintf(cfg->stats.socket, sizeof(cfg->stats.socket), "/run/tandem/tandem.sock");

	cfg->io.mode = IO_SOCKET;
	cfg->io.workers = default_workers();
	cfg->io.workers_auto = true;
}

int config_load_text(const char *name, const char *base_dir, const char *text,
		     struct config *cfg, struct config_errors *errs)
{
	struct config_errors local;
	struct cfg_ctx *c;

	if (!errs)
		errs = &local;
	errs->n = 0;
	config_defaults(cfg);
	if (!name)
		name = "(config)";
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);

	c = calloc(1, sizeof(*c));
	if (!c) {
		errs->n = 1;
		snprintf(errs->msg[0], sizeof(errs->msg[0]), "%s: out of memory", name);
		return -ENOMEM;
	}
	c->name = name;
	c->base_dir = base_dir ? base_dir : "";
	c->cfg = cfg;
	c->errs = errs;
	parse_text(c, text ? text : "");
	validate(c);
	free(c);
	return errs->n ? TDM_ECONFIG : 0;
}

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, cap, ".");
	else if (slash == path)
		snprintf(out, cap, "/");
	else
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static int read_file(const char *path, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_size > CFG_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	if (S_ISREG(st.st_mode))
		cap = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap || !buf) {
			char *nb;

			if (buf)
				cap *= 2;
			if (cap > CFG_FILE_MAX + 2)
				cap = CFG_FILE_MAX + 2;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CFG_FILE_MAX) {
			r = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

int config_load(const char *path, struct config *cfg, struct config_errors *errs)
{
	struct config_errors local;
	char *abs = NULL, *text = NULL;
	char *dir;
	const char *nul;
	size_t len = 0;
	int r;

	if (!errs)
		errs = &local;
	dir = malloc(PATH_MAX);
	if (!dir) {
		config_defaults(cfg);
		errs->n = 1;
		snprintf(errs->msg[0], sizeof(errs->msg[0]), "%s: out of memory", path);
		return -ENOMEM;
	}
	r = read_file(path, &text, &len);
	if (r < 0) {
		config_defaults(cfg);
		errs->n = 1;
		if (r == -EFBIG)
			snprintf(errs->msg[0], sizeof(errs->msg[0]),
				 "%s: larger than %u bytes: not a configuration file", path,
				 CFG_FILE_MAX);
		else
			snprintf(errs->msg[0], sizeof(errs->msg[0]), "%s: cannot read: %s", path,
				 tdm_strerror(r));
		r = r == -EFBIG ? TDM_ECONFIG : r;
		goto out;
	}
	nul = memchr(text, '\0', len);
	if (nul) {
		unsigned line = 1;

		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		config_defaults(cfg);
		errs->n = 1;
		snprintf(errs->msg[0], sizeof(errs->msg[0]),
			 "%s:%u: contains a NUL byte: not a text file", path, line);
		r = TDM_ECONFIG;
		goto out;
	}
	abs = realpath(path, NULL);
	dir_of(abs ? abs : path, dir, PATH_MAX);
	r = config_load_text(path, dir, text, cfg, errs);
	if (abs)
		snprintf(cfg->path, sizeof(cfg->path), "%s", abs);
out:
	free(abs);
	free(text);
	free(dir);
	return r;
}

static const char *choice_name(const struct cfg_choice *ch, int value)
{
	for (unsigned i = 0; ch[i].name; i++)
		if (ch[i].value == value)
			return ch[i].name;
	return "?";
}

const char *node_mode_name(enum node_mode m)
{
	return choice_name(node_modes, (int)m);
}

const char *auth_mode_name(enum auth_mode m)
{
	return choice_name(auth_modes, (int)m);
}

const char *io_mode_name(enum io_mode m)
{
	return choice_name(io_modes, (int)m);
}

const char *divert_mode_name(enum divert_mode m)
{
	return choice_name(divert_modes, (int)m);
}
