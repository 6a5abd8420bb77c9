/* SPDX-License-Identifier: MIT */
/*
 * Tests of control/config.c: the INI syntax, every key's good and bad
 * values, the defaults, the rules across keys, the error messages (exact
 * text and line numbers), path resolution, and the example configurations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "err.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the source root"
#endif

static struct config cfg;
static struct config_errors errs;
static char dump_buf[CFG_MAX_ERRORS * 330];

/* Every kept message, one per line, for assertion messages. */
static const char *dump(void)
{
	size_t n = 0;
	unsigned kept = errs.n < CFG_MAX_ERRORS ? errs.n : CFG_MAX_ERRORS;

	dump_buf[0] = '\0';
	for (unsigned i = 0; i < kept && n < sizeof(dump_buf); i++)
		n += (size_t)snprintf(dump_buf + n, sizeof(dump_buf) - n, "\n  %s", errs.msg[i]);
	return dump_buf;
}

static int load(const char *text)
{
	return config_load_text("t.conf", "/etc/tandem", text, &cfg, &errs);
}

static bool has_msg(const char *exact)
{
	for (unsigned i = 0; i < errs.n && i < CFG_MAX_ERRORS; i++)
		if (strcmp(errs.msg[i], exact) == 0)
			return true;
	return false;
}

static bool has_part(const char *part)
{
	for (unsigned i = 0; i < errs.n && i < CFG_MAX_ERRORS; i++)
		if (strstr(errs.msg[i], part))
			return true;
	return false;
}

#define assert_ok(text)                                                        \
	cr_assert_eq(load(text), 0, "expected no error for:\n%s\ngot:%s", (text), dump())

#define assert_error(text, exact)                                              \
	do {                                                                   \
		cr_assert_eq(load(text), TDM_ECONFIG, "expected an error for:\n%s", (text)); \
		cr_assert(has_msg(exact), "expected\n  %s\ngot:%s", (exact), dump()); \
	} while (0)

#define assert_error_part(text, part)                                          \
	do {                                                                   \
		cr_assert_eq(load(text), TDM_ECONFIG, "expected an error for:\n%s", (text)); \
		cr_assert(has_part(part), "expected a message with\n  %s\ngot:%s", (part), dump()); \
	} while (0)

static const char *fmt_addr(const union tdm_addr *a)
{
	static char buf[TDM_ADDR_STRLEN];

	return addr_format(a, buf, sizeof(buf));
}

/* ---- defaults ----------------------------------------------------------- */

Test(config, defaults_match_the_documented_values)
{
	char host[256] = "";

	config_defaults(&cfg);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	cr_assert(cfg.node.name[0] != '\0');
	if (strlen(host) > 0 && strlen(host) < CFG_NAME_MAX)
		cr_assert_str_eq(cfg.node.name, host);
	cr_assert_eq(cfg.node.mode, NODE_MASTER);
	cr_assert_str_eq(cfg.node.password, "");
	cr_assert_str_eq(cfg.node.data_dir, "/var/lib/tandem");
	cr_assert_eq(cfg.node.log_level, LOG_INFO);
	cr_assert_eq(cfg.sip.nlisten, 1);
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[0]), "0.0.0.0:5060");
	cr_assert_str_eq(cfg.sip.domain, "");
	cr_assert_eq(cfg.sip.auth, AUTH_NONE);
	cr_assert_eq(cfg.sip.default_expires, 3600);
	cr_assert_eq(cfg.sip.min_expires, 60);
	cr_assert_eq(cfg.sip.max_expires, 7200);
	cr_assert_eq(cfg.sip.max_contacts, 10);
	cr_assert_eq(cfg.sip.nonce_lifetime, 300);
	cr_assert_str_eq(cfg.sip.users, "");
	cr_assert(!cfg.pair.master_set);
	cr_assert(!cfg.pair.listen_set);
	cr_assert_eq(cfg.pair.failover_timeout_ms, 3000);
	cr_assert_eq(cfg.pair.failback_hold_ms, 10000);
	cr_assert_eq(cfg.pair.heartbeat_interval_ms, 200);
	cr_assert_eq(cfg.pair.active_max_expires, 120);
	cr_assert_eq(cfg.pair.divert, DIVERT_REDIRECT);
	cr_assert_str_eq(cfg.pair.tls_cert, "");
	cr_assert_str_eq(cfg.pair.tls_key, "");
	cr_assert_str_eq(cfg.stats.socket, "/run/tandem/tandem.sock");
	cr_assert_eq(cfg.io.mode, IO_SOCKET);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = online - 1 < 1 ? 1 : online - 1 > 128 ? 128 : (unsigned)(online - 1);
	cr_assert_eq(cfg.io.workers, want);
	cr_assert_eq(cfg.io.ncpus, 0);
	cr_assert_str_eq(cfg.io.dpdk_args, "");
}

Test(config, empty_text_is_valid_and_gives_the_defaults)
{
	struct config def;

	assert_ok("");
	config_defaults(&def);
	cr_assert_eq(cfg.sip.default_expires, def.sip.default_expires);
	cr_assert_str_eq(cfg.node.name, def.node.name);
	cr_assert_str_eq(cfg.path, "t.conf");
	cr_assert_eq(errs.n, 0);
}

Test(config, null_errors_pointer_is_accepted)
{
	cr_assert_eq(config_load_text("t.conf", "/", "[sip]\nbogus = 1\n", &cfg, NULL), TDM_ECONFIG);
	cr_assert_eq(config_load_text("t.conf", "/", "[sip]\nmax_contacts = 3\n", &cfg, NULL), 0);
	cr_assert_eq(cfg.sip.max_contacts, 3);
}

Test(config, mode_names_round_trip)
{
	cr_assert_str_eq(node_mode_name(NODE_MASTER), "master");
	cr_assert_str_eq(node_mode_name(NODE_STANDBY), "standby");
	cr_assert_str_eq(auth_mode_name(AUTH_NONE), "none");
	cr_assert_str_eq(auth_mode_name(AUTH_DIGEST), "digest");
	cr_assert_str_eq(io_mode_name(IO_SOCKET), "socket");
	cr_assert_str_eq(io_mode_name(IO_DPDK), "dpdk");
	cr_assert_str_eq(divert_mode_name(DIVERT_REDIRECT), "redirect");
	cr_assert_str_eq(divert_mode_name(DIVERT_REJECT), "reject");
	cr_assert_str_eq(node_mode_name((enum node_mode)42), "?");
}

/* ---- every key ---------------------------------------------------------- */

Test(config, every_key_with_a_good_value_is_stored)
{
	assert_ok("[node]\n"
		  "name = edge-1.fra\n"
		  "mode = standby\n"
		  "password = s3cret\n"
		  "data_dir = /srv/tandem\n"
		  "log_level = debug\n"
		  "[sip]\n"
		  "listen = 192.0.2.1:5060\n"
		  "listen = [2001:db8::1]:5080\n"
		  "domain = Voice.Example.NET\n"
		  "auth = digest\n"
		  "default_expires = 30m\n"
		  "min_expires = 30\n"
		  "max_expires = 1h\n"
		  "max_contacts = 5\n"
		  "nonce_lifetime = 2m\n"
		  "users = /etc/tandem/users.csv\n"
		  "[pair]\n"
		  "master = 192.0.2.10:5070\n"
		  "failover_timeout = 2500ms\n"
		  "failback_hold = 1m\n"
		  "heartbeat_interval = 100ms\n"
		  "active_max_expires = 90\n"
		  "divert = reject\n"
		  "tls_cert = /etc/tandem/link.crt\n"
		  "tls_key = /etc/tandem/link.key\n"
		  "[stats]\n"
		  "socket = /run/t.sock\n"
		  "[io]\n"
		  "mode = dpdk\n"
		  "workers = 3\n"
		  "cpus = 1,2,4-5\n"
		  "dpdk_args = -l 0-3 -a 0000:01:00.0\n");
	cr_assert_str_eq(cfg.node.name, "edge-1.fra");
	cr_assert_eq(cfg.node.mode, NODE_STANDBY);
	cr_assert_str_eq(cfg.node.password, "s3cret");
	cr_assert_str_eq(cfg.node.data_dir, "/srv/tandem");
	cr_assert_eq(cfg.node.log_level, LOG_DEBUG);
	cr_assert_eq(cfg.sip.nlisten, 2);
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[0]), "192.0.2.1:5060");
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[1]), "[2001:db8::1]:5080");
	cr_assert_str_eq(cfg.sip.domain, "voice.example.net");
	cr_assert_eq(cfg.sip.auth, AUTH_DIGEST);
	cr_assert_eq(cfg.sip.default_expires, 1800);
	cr_assert_eq(cfg.sip.min_expires, 30);
	cr_assert_eq(cfg.sip.max_expires, 3600);
	cr_assert_eq(cfg.sip.max_contacts, 5);
	cr_assert_eq(cfg.sip.nonce_lifetime, 120);
	cr_assert_str_eq(cfg.sip.users, "/etc/tandem/users.csv");
	cr_assert(cfg.pair.master_set);
	cr_assert_str_eq(fmt_addr(&cfg.pair.master), "192.0.2.10:5070");
	cr_assert_eq(cfg.pair.failover_timeout_ms, 2500);
	cr_assert_eq(cfg.pair.failback_hold_ms, 60000);
	cr_assert_eq(cfg.pair.heartbeat_interval_ms, 100);
	cr_assert_eq(cfg.pair.active_max_expires, 90);
	cr_assert_eq(cfg.pair.divert, DIVERT_REJECT);
	cr_assert_str_eq(cfg.pair.tls_cert, "/etc/tandem/link.crt");
	cr_assert_str_eq(cfg.pair.tls_key, "/etc/tandem/link.key");
	cr_assert_str_eq(cfg.stats.socket, "/run/t.sock");
	cr_assert_eq(cfg.io.mode, IO_DPDK);
	cr_assert_eq(cfg.io.workers, 3);
	cr_assert_eq(cfg.io.ncpus, 4);
	cr_assert_eq(cfg.io.cpus[0], 1);
	cr_assert_eq(cfg.io.cpus[1], 2);
	cr_assert_eq(cfg.io.cpus[2], 4);
	cr_assert_eq(cfg.io.cpus[3], 5);
	cr_assert_str_eq(cfg.io.dpdk_args, "-l 0-3 -a 0000:01:00.0");
}

Test(config, enum_keys_accept_each_value_and_list_them_when_wrong)
{
	assert_ok("[node]\nmode = master\nlog_level = error\n[sip]\nauth = none\n"
		  "[pair]\ndivert = redirect\n[io]\nmode = socket\n");
	cr_assert_eq(cfg.node.log_level, LOG_ERR);
	assert_ok("[node]\nlog_level = warning\n");
	cr_assert_eq(cfg.node.log_level, LOG_WARN);
	assert_ok("[node]\nlog_level = info\n");
	cr_assert_eq(cfg.node.log_level, LOG_INFO);

	assert_error("[node]\nmode = slave\n",
		     "t.conf:2: [node] mode: 'slave' is not one of: master, standby");
	assert_error("[node]\nlog_level = warn\n",
		     "t.conf:2: [node] log_level: 'warn' is not one of: error, warning, info, debug");
	assert_error("[sip]\nauth = basic\n", "t.conf:2: [sip] auth: 'basic' is not one of: none, digest");
	assert_error("[pair]\ndivert = drop\n",
		     "t.conf:2: [pair] divert: 'drop' is not one of: redirect, reject");
	assert_error("[io]\nmode = xdp\n", "t.conf:2: [io] mode: 'xdp' is not one of: socket, dpdk");
	/* Values are case-sensitive, like keys. */
	assert_error_part("[node]\nmode = Master\n", "'Master' is not one of");
}

Test(config, name_rules)
{
	assert_ok("[node]\nname = a_b-c.d9\n");
	cr_assert_str_eq(cfg.node.name, "a_b-c.d9");
	assert_error("[node]\nname =\n", "t.conf:2: [node] name: must not be empty");
	assert_error("[node]\nname = node one\n",
		     "t.conf:2: [node] name: 'node one' may only contain letters, digits, '-', '_' and '.'");
	assert_error_part("[node]\nname = _STANDBY_\n",
			  "t.conf:2: [node] name: '_STANDBY_' starts with '_'");
	assert_error_part("[node]\nname = _x\n", "reserved");

	char text[256], name[80];
	memset(name, 'n', 63);
	name[63] = '\0';
	snprintf(text, sizeof(text), "[node]\nname = %s\n", name);
	assert_ok(text);
	cr_assert_str_eq(cfg.node.name, name);
	snprintf(text, sizeof(text), "[node]\nname = %sn\n", name);
	assert_error(text, "t.conf:2: [node] name: too long (64 bytes, at most 63)");
}

Test(config, password_may_be_empty_is_kept_verbatim_and_never_echoed)
{
	char text[600], pw[300];

	assert_ok("[node]\npassword =\n");
	cr_assert_str_eq(cfg.node.password, "");
	assert_ok("[node]\npassword = \"  spaces and # hash \"\n");
	cr_assert_str_eq(cfg.node.password, "  spaces and # hash ");
	assert_ok("[node]\npassword = a#b;c\n");
	cr_assert_str_eq(cfg.node.password, "a#b;c");

	memset(pw, 'Q', 256);
	pw[256] = '\0';
	snprintf(text, sizeof(text), "[node]\npassword = %s\n", pw);
	assert_error(text, "t.conf:2: [node] password: too long (256 bytes, at most 255)");
	cr_assert(!has_part("QQQQ"), "the password leaked into a message:%s", dump());
	pw[255] = '\0';
	snprintf(text, sizeof(text), "[node]\npassword = %s\n", pw);
	assert_ok(text);
}

Test(config, data_dir_must_not_be_empty_and_resolves_relative_paths)
{
	assert_error("[node]\ndata_dir =\n", "t.conf:2: [node] data_dir: must not be empty");
	assert_ok("[node]\ndata_dir = state\n");
	cr_assert_str_eq(cfg.node.data_dir, "/etc/tandem/state");
	assert_ok("[node]\ndata_dir = /var/tmp/x\n");
	cr_assert_str_eq(cfg.node.data_dir, "/var/tmp/x");
	assert_ok("[node]\ndata_dir = ../lib/tandem\n");
	cr_assert_str_eq(cfg.node.data_dir, "/etc/tandem/../lib/tandem");
}

Test(config, relative_paths_resolve_against_base_dir_with_or_without_trailing_slash)
{
	const char *text = "[sip]\nusers = u.csv\n[pair]\ntls_cert = c/l.crt\ntls_key = l.key\n"
			   "[stats]\nsocket = run/t.sock\n";

	cr_assert_eq(config_load_text("x.conf", "/opt/t/", text, &cfg, &errs), 0, "%s", dump());
	cr_assert_str_eq(cfg.sip.users, "/opt/t/u.csv");
	cr_assert_str_eq(cfg.pair.tls_cert, "/opt/t/c/l.crt");
	cr_assert_str_eq(cfg.pair.tls_key, "/opt/t/l.key");
	cr_assert_str_eq(cfg.stats.socket, "/opt/t/run/t.sock");
	cr_assert_eq(config_load_text("x.conf", "/", text, &cfg, &errs), 0, "%s", dump());
	cr_assert_str_eq(cfg.sip.users, "/u.csv");
	/* No base directory: paths stay as written. */
	cr_assert_eq(config_load_text("x.conf", NULL, text, &cfg, &errs), 0, "%s", dump());
	cr_assert_str_eq(cfg.sip.users, "u.csv");
}

Test(config, a_path_too_long_once_resolved_is_refused)
{
	char *text = malloc(PATH_MAX + 64);
	char *base = malloc(PATH_MAX);

	memset(base, 'd', PATH_MAX - 10);
	base[0] = '/';
	base[PATH_MAX - 10] = '\0';
	snprintf(text, PATH_MAX + 64, "[sip]\nusers = users-file.csv\n");
	cr_assert_eq(config_load_text("t.conf", base, text, &cfg, &errs), TDM_ECONFIG);
	cr_assert(has_part("t.conf:2: [sip] users: 'users-file.csv' is too long"), "%s", dump());
	cr_assert(has_part("once made absolute, at most 4095)"), "%s", dump());
	free(text);
	free(base);
}

Test(config, stats_socket_must_fit_sun_path)
{
	char text[400], path[200];

	memset(path, 's', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(text, sizeof(text), "[stats]\nsocket = %s\n", path);
	assert_ok(text);
	cr_assert_eq(strlen(cfg.stats.socket), 107);
	path[107] = 's';
	path[108] = '\0';
	snprintf(text, sizeof(text), "[stats]\nsocket = %s\n", path);
	assert_error_part(text, "is too long for a unix socket path (108 bytes, at most 107)");
	assert_error("[stats]\nsocket =\n", "t.conf:2: [stats] socket: must not be empty");

	/* Short as written, too long once resolved. */
	char base[120];
	memset(base, 'b', sizeof(base));
	base[0] = '/';
	base[100] = '\0';
	cr_assert_eq(config_load_text("t.conf", base, "[stats]\nsocket = abcdefghij.sock\n", &cfg,
				      &errs),
		     TDM_ECONFIG);
	cr_assert(has_part("once made absolute"), "%s", dump());
}

Test(config, domain_is_a_lower_case_host_or_ip_literal)
{
	assert_ok("[sip]\ndomain = SIP.Example.COM\n");
	cr_assert_str_eq(cfg.sip.domain, "sip.example.com");
	assert_ok("[sip]\ndomain = 192.0.2.7\n");
	cr_assert_str_eq(cfg.sip.domain, "192.0.2.7");
	assert_ok("[sip]\ndomain = 2001:DB8:0:0::1\n");
	cr_assert_str_eq(cfg.sip.domain, "[2001:db8::1]");
	assert_ok("[sip]\ndomain = [::1]\n");
	cr_assert_str_eq(cfg.sip.domain, "[::1]");
	assert_ok("[sip]\ndomain = localhost\n");
	assert_ok("[sip]\ndomain = x-1.y2\n");
	assert_ok("[sip]\ndomain =\n");
	cr_assert_str_eq(cfg.sip.domain, "");

	assert_error("[sip]\ndomain = exa mple.com\n",
		     "t.conf:2: [sip] domain: 'exa mple.com' is not a host name or IP address");
	assert_error("[sip]\ndomain = example.com:5060\n",
		     "t.conf:2: [sip] domain: 'example.com:5060' must not include a port "
		     "(the domain is a host name or IP address)");
	assert_error_part("[sip]\ndomain = [2001:db8::1]:5060\n", "must not include a port");
	assert_error_part("[sip]\ndomain = -bad.example\n", "is not a host name");
	assert_error_part("[sip]\ndomain = bad-.example\n", "is not a host name");
	assert_error_part("[sip]\ndomain = a..b\n", "is not a host name");
	assert_error_part("[sip]\ndomain = example.com.\n", "is not a host name");
	assert_error_part("[sip]\ndomain = under_score.com\n", "is not a host name");
	assert_error_part("[sip]\ndomain = 1.2.3\n", "is not a host name");
	assert_error_part("[sip]\ndomain = 256.1.1.1\n", "is not a host name");
	assert_error_part("[sip]\ndomain = [1.2.3.4]\n", "is not a host name");

	char text[400], label[70];
	memset(label, 'l', 64);
	label[64] = '\0';
	snprintf(text, sizeof(text), "[sip]\ndomain = %s.com\n", label);
	assert_error_part(text, "is not a host name");
	label[63] = '\0';
	snprintf(text, sizeof(text), "[sip]\ndomain = %s.com\n", label);
	assert_ok(text);
}

Test(config, host_normalize_checks_the_output_capacity)
{
	char out[8];

	cr_assert_eq(config_host_normalize("abc.de", 6, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "abc.de");
	cr_assert_eq(config_host_normalize("abcdefgh.de", 11, out, sizeof(out)), TDM_ENOSPACE);
	cr_assert_eq(config_host_normalize("::1", 3, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "[::1]");
	cr_assert_eq(config_host_normalize("2001:db8::1", 11, out, sizeof(out)), TDM_ENOSPACE);
	cr_assert_eq(config_host_normalize("", 0, out, sizeof(out)), TDM_EMALFORMED);
	/* Only len bytes are read. */
	cr_assert_eq(config_host_normalize("ab.cd!!!", 5, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "ab.cd");
}

Test(config, suggest_finds_close_words_only)
{
	static const char *const words[] = { "default_expires", "max_expires", "name", NULL };

	cr_assert_str_eq(config_suggest("defualt_expires", 15, words), "default_expires");
	cr_assert_str_eq(config_suggest("max_expire", 10, words), "max_expires");
	cr_assert_str_eq(config_suggest("NAME", 4, words), "name");
	cr_assert_str_eq(config_suggest("nme", 3, words), "name");
	cr_assert_null(config_suggest("nm", 2, words));
	cr_assert_null(config_suggest("password", 8, words));
	cr_assert_null(config_suggest("", 0, words));
}

/* ---- listen ------------------------------------------------------------- */

Test(config, listen_is_repeatable_and_replaces_the_default)
{
	assert_ok("[sip]\nlisten = 127.0.0.1:5060\nlisten = [::1]:5062\n"
		  "[node]\nname = x\n[sip]\nlisten = 10.0.0.1\n");
	cr_assert_eq(cfg.sip.nlisten, 3);
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[0]), "127.0.0.1:5060");
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[1]), "[::1]:5062");
	/* A bare IP gets the SIP port. */
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[2]), "10.0.0.1:5060");
	assert_ok("[sip]\nlisten = ::1\n");
	cr_assert_eq(cfg.sip.nlisten, 1);
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[0]), "[::1]:5060");
	assert_ok("[sip]\nlisten = 0.0.0.0:5060\n");
	cr_assert_eq(cfg.sip.nlisten, 1);
}

Test(config, listen_refuses_host_names_with_an_explicit_message)
{
	assert_error("[sip]\nlisten = sip.example.com:5060\n",
		     "t.conf:2: [sip] listen: 'sip.example.com:5060' is a host name: only IP "
		     "addresses are accepted (e.g. 192.0.2.10:5060 or [2001:db8::10]:5060)");
	assert_error_part("[sip]\nlisten = localhost\n", "only IP addresses are accepted");
}

Test(config, listen_refuses_bad_addresses_duplicates_and_too_many)
{
	assert_error("[sip]\nlisten = 1.2.3.4:0\n",
		     "t.conf:2: [sip] listen: '1.2.3.4:0' has a bad port (1 to 65535)");
	assert_error_part("[sip]\nlisten = 1.2.3.4:65536\n", "has a bad port");
	assert_error_part("[sip]\nlisten = 1.2.3.4:\n", "has a bad port");
	assert_error_part("[sip]\nlisten = 1.2.3.4:50x\n", "has a bad port");
	assert_error_part("[sip]\nlisten = [::1\n", "the ']' after the IPv6 address is missing");
	assert_error_part("[sip]\nlisten = [::1]x\n", "is not an IP address and port");
	assert_error_part("[sip]\nlisten = 1.2.3.4.5:5060\n", "is not an IP address");
	assert_error_part("[sip]\nlisten = *:5060\n", "is not an IP address");
	assert_error("[sip]\nlisten = 127.0.0.1:5060\nlisten = 127.0.0.1:5060\n",
		     "t.conf:3: [sip] listen: '127.0.0.1:5060' is listed twice (first on line 2)");

	char text[2048];
	size_t n = (size_t)snprintf(text, sizeof(text), "[sip]\n");
	for (int i = 0; i < CFG_MAX_LISTEN; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "listen = 127.0.0.%d:5060\n", i + 1);
	assert_ok(text);
	cr_assert_eq(cfg.sip.nlisten, CFG_MAX_LISTEN);
	snprintf(text + n, sizeof(text) - n, "listen = 127.0.1.1:5060\n");
	assert_error(text, "t.conf:18: [sip] listen: too many addresses (at most 16)");
}

/* ---- durations ---------------------------------------------------------- */

Test(config, durations_accept_every_unit_and_bare_seconds)
{
	assert_ok("[sip]\ndefault_expires = 2h\nmax_expires = 1d\nmin_expires = 120\n"
		  "nonce_lifetime = 10000ms\n"
		  "[pair]\nfailover_timeout = 2s\nfailback_hold = 3m\nheartbeat_interval = 10ms\n"
		  "active_max_expires = 3m\n");
	cr_assert_eq(cfg.sip.default_expires, 7200);
	cr_assert_eq(cfg.sip.max_expires, 86400);
	cr_assert_eq(cfg.sip.min_expires, 120);
	cr_assert_eq(cfg.sip.nonce_lifetime, 10);
	cr_assert_eq(cfg.pair.failover_timeout_ms, 2000);
	cr_assert_eq(cfg.pair.failback_hold_ms, 180000);
	cr_assert_eq(cfg.pair.heartbeat_interval_ms, 10);
	cr_assert_eq(cfg.pair.active_max_expires, 180);
	assert_ok("[pair]\nfailover_timeout = 5\nfailback_hold = 0\n");
	cr_assert_eq(cfg.pair.failover_timeout_ms, 5000);
	cr_assert_eq(cfg.pair.failback_hold_ms, 0);
	assert_ok("[sip]\nmin_expires = 1\ndefault_expires = 2000ms\n");
	cr_assert_eq(cfg.sip.default_expires, 2);
}

Test(config, seconds_keys_refuse_fractions_of_a_second)
{
	assert_error("[sip]\ndefault_expires = 1500ms\n",
		     "t.conf:2: [sip] default_expires: '1500ms' is not a whole number of seconds");
	assert_error_part("[sip]\nnonce_lifetime = 10001ms\n", "is not a whole number of seconds");
	assert_error_part("[pair]\nactive_max_expires = 999ms\n", "is not a whole number of seconds");
}

Test(config, durations_refuse_values_beyond_uint32)
{
	assert_ok("[sip]\nmax_expires = 4294967295\n");
	cr_assert_eq(cfg.sip.max_expires, UINT32_MAX);
	assert_error("[sip]\nmax_expires = 4294967296\n",
		     "t.conf:2: [sip] max_expires: '4294967296' is too large (at most 4294967295s)");
	assert_error_part("[sip]\nmax_expires = 49711d\n", "is too large (at most 4294967295s)");
	assert_error_part("[sip]\nmax_expires = 99999999999999999999999999s\n", "is too large");
	assert_error_part("[sip]\nmax_expires = 999999999999999999d\n", "is too large");
	/* 49 days fit in a uint32 of milliseconds, 50 do not. */
	assert_ok("[pair]\nfailback_hold = 49d\n");
	cr_assert_eq(cfg.pair.failback_hold_ms, 49u * 86400000u);
	assert_error("[pair]\nfailback_hold = 50d\n",
		     "t.conf:2: [pair] failback_hold: '50d' is too large (at most 4294967295ms)");
	assert_error_part("[pair]\nfailover_timeout = 4294968s\n", "is too large");
}

Test(config, durations_refuse_everything_but_digits_and_a_unit)
{
	static const char *const bad[] = { "abc", "-5", "1.5s", "5 s", "5S", "5sec", "s", "",
					   "+5", "0x10", "5ms5", "\"\"" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128], want[256];

		snprintf(text, sizeof(text), "[sip]\nmax_expires = %s\n", bad[i]);
		snprintf(want, sizeof(want),
			 "t.conf:2: [sip] max_expires: '%s' is not a duration (a whole number with "
			 "an optional unit: ms, s, m, h, d; a bare number is seconds)",
			 strcmp(bad[i], "\"\"") == 0 ? "" : bad[i]);
		assert_error(text, want);
	}
}

Test(config, durations_have_minimums)
{
	assert_error("[sip]\nnonce_lifetime = 9\n",
		     "t.conf:2: [sip] nonce_lifetime: '9' is below the minimum of 10s");
	assert_ok("[sip]\nnonce_lifetime = 10s\n");
	assert_error("[pair]\nheartbeat_interval = 9ms\n",
		     "t.conf:2: [pair] heartbeat_interval: '9ms' is below the minimum of 10ms");
	assert_error_part("[sip]\nmin_expires = 0\n", "'0' is below the minimum of 1s");
	assert_error_part("[sip]\ndefault_expires = 0\n", "below the minimum");
	assert_error_part("[pair]\nfailover_timeout = 0\n", "below the minimum");
	assert_error_part("[pair]\nactive_max_expires = 0\n", "below the minimum");
}

/* ---- counts and CPUs ---------------------------------------------------- */

Test(config, max_contacts_is_bounded)
{
	assert_ok("[sip]\nmax_contacts = 0\n");
	cr_assert_eq(cfg.sip.max_contacts, 0);
	assert_ok("[sip]\nmax_contacts = 64\n");
	cr_assert_eq(cfg.sip.max_contacts, 64);
	assert_error("[sip]\nmax_contacts = 65\n",
		     "t.conf:2: [sip] max_contacts: '65' is not a whole number from 0 to 64");
	assert_error_part("[sip]\nmax_contacts = -1\n", "is not a whole number from 0 to 64");
	assert_error_part("[sip]\nmax_contacts = 3s\n", "is not a whole number");
	assert_error_part("[sip]\nmax_contacts =\n", "is not a whole number");
	assert_error_part("[sip]\nmax_contacts = 99999999999999999999999\n", "is not a whole number");
}

Test(config, workers_is_auto_or_1_to_128)
{
	struct config def;

	config_defaults(&def);
	cr_assert(def.io.workers_auto, "auto by default");
	assert_ok("[io]\nworkers = 1\n");
	cr_assert_eq(cfg.io.workers, 1);
	cr_assert(!cfg.io.workers_auto);
	assert_ok("[io]\nworkers = 128\n");
	cr_assert_eq(cfg.io.workers, 128);
	assert_ok("[io]\nworkers = auto\n");
	cr_assert_eq(cfg.io.workers, def.io.workers);
	/* With dpdk, the node resolves auto from the EAL's lcores (io_prepare). */
	cr_assert(cfg.io.workers_auto);
	assert_error("[io]\nworkers = 0\n",
		     "t.conf:2: [io] workers: '0' is not a whole number from 1 to 128");
	assert_error_part("[io]\nworkers = 129\n", "from 1 to 128");
	assert_error_part("[io]\nworkers = many\n", "from 1 to 128");
}

Test(config, cpus_take_numbers_and_ranges)
{
	assert_ok("[io]\ncpus = 1,2,4-7\n");
	cr_assert_eq(cfg.io.ncpus, 6);
	unsigned want[] = { 1, 2, 4, 5, 6, 7 };
	for (unsigned i = 0; i < 6; i++)
		cr_assert_eq(cfg.io.cpus[i], want[i]);
	assert_ok("[io]\ncpus =  3 , 0 ,\t10-11 \n");
	cr_assert_eq(cfg.io.ncpus, 4);
	cr_assert_eq(cfg.io.cpus[0], 3);
	cr_assert_eq(cfg.io.cpus[1], 0);
	cr_assert_eq(cfg.io.cpus[3], 11);
	assert_ok("[io]\ncpus =\n");
	cr_assert_eq(cfg.io.ncpus, 0);
	assert_ok("[io]\ncpus = 0-255\n");
	cr_assert_eq(cfg.io.ncpus, 256);
	cr_assert_eq(cfg.io.cpus[255], 255);
	assert_ok("[io]\ncpus = 1023\n");
}

Test(config, cpus_refuse_bad_lists)
{
	assert_error("[io]\ncpus = 7-4\n", "t.conf:2: [io] cpus: range '7-4' is reversed (write 4-7)");
	assert_error("[io]\ncpus = 1,,2\n",
		     "t.conf:2: [io] cpus: '1,,2' has an empty entry (write e.g. 1,2,4-7)");
	assert_error_part("[io]\ncpus = 1,\n", "has an empty entry");
	assert_error("[io]\ncpus = 1,2,1\n", "t.conf:2: [io] cpus: CPU 1 is listed twice");
	assert_error_part("[io]\ncpus = 1-4,3\n", "CPU 3 is listed twice");
	assert_error("[io]\ncpus = x\n",
		     "t.conf:2: [io] cpus: 'x' is not a CPU number or range (0 to 1023, e.g. 4-7)");
	assert_error_part("[io]\ncpus = 1024\n", "is not a CPU number");
	assert_error_part("[io]\ncpus = 1-\n", "is not a CPU number");
	assert_error_part("[io]\ncpus = -1\n", "is not a CPU number");
	assert_error_part("[io]\ncpus = 1-2-3\n", "is not a CPU number");
	assert_error("[io]\ncpus = 0-256\n", "t.conf:2: [io] cpus: more than 256 CPUs listed");
	cr_assert_eq(cfg.io.ncpus, 0, "a refused list must leave the default");
}

/* ---- INI syntax --------------------------------------------------------- */

Test(config, comments_and_blank_lines_are_skipped)
{
	assert_ok("# a comment\n"
		  "; another\n"
		  "   # indented\n"
		  "\n"
		  "\t\n"
		  "[sip] # trailing comment on a section\n"
		  "max_contacts = 7 # trailing comment\n"
		  "domain = example.org\t# tab before it\n"
		  "[node]\n"
		  "password = pa#ss\n"
		  "data_dir = /d ; not a comment\n");
	cr_assert_eq(cfg.sip.max_contacts, 7);
	cr_assert_str_eq(cfg.sip.domain, "example.org");
	cr_assert_str_eq(cfg.node.password, "pa#ss");
	cr_assert_str_eq(cfg.node.data_dir, "/d ; not a comment");
	/* A '#' right after "= " starts a comment: the value is empty. */
	assert_ok("[node]\npassword = # none\n");
	cr_assert_str_eq(cfg.node.password, "");
}

Test(config, quoted_values_keep_whitespace_and_allow_two_escapes)
{
	assert_ok("[node]\npassword = \"  a \\\"b\\\" \\\\ # c  \"   # comment\n"
		  "data_dir = \"/with space/dir\"\n"
		  "[io]\ndpdk_args = \"\"\n");
	cr_assert_str_eq(cfg.node.password, "  a \"b\" \\ # c  ");
	cr_assert_str_eq(cfg.node.data_dir, "/with space/dir");
	cr_assert_str_eq(cfg.io.dpdk_args, "");
	assert_ok("[node]\npassword = \"x\";comment\n");
	cr_assert_str_eq(cfg.node.password, "x");

	assert_error("[node]\npassword = \"abc\n",
		     "t.conf:2: [node] password: unterminated quoted value (the closing '\"' is missing)");
	assert_error_part("[node]\npassword = \"abc\\\n", "unterminated quoted value");
	assert_error("[node]\npassword = \"a\\nb\"\n",
		     "t.conf:2: [node] password: unknown escape in quoted value (only \\\" and "
		     "\\\\ are allowed)");
	assert_error("[node]\npassword = \"a\" b\n",
		     "t.conf:2: [node] password: unexpected text after the closing quote");
	/* Unquoted, a quote is an ordinary character. */
	assert_ok("[node]\npassword = a\"b\n");
	cr_assert_str_eq(cfg.node.password, "a\"b");
}

Test(config, control_characters_in_values_are_refused)
{
	assert_error("[node]\npassword = a\x01z\n",
		     "t.conf:2: [node] password: the value contains a control character");
	assert_error_part("[node]\npassword = \"a\x7fz\"\n", "control character");
	assert_error_part("[node]\nname = a\rb\n", "control character");
	/* A tab inside a value is kept. */
	assert_ok("[node]\npassword = a\tb\n");
	cr_assert_str_eq(cfg.node.password, "a\tb");
}

Test(config, crlf_line_ends_and_a_byte_order_mark_are_accepted)
{
	assert_ok("\xef\xbb\xbf[sip]\r\nmax_contacts = 4\r\ndomain = a.example\r\n[node]\r\nname = n1");
	cr_assert_eq(cfg.sip.max_contacts, 4);
	cr_assert_str_eq(cfg.sip.domain, "a.example");
	cr_assert_str_eq(cfg.node.name, "n1");
}

Test(config, whitespace_around_keys_sections_and_equals_is_optional)
{
	assert_ok("  [ sip ]  \n\tmax_contacts=2\ndomain   =a.b\n");
	cr_assert_eq(cfg.sip.max_contacts, 2);
	cr_assert_str_eq(cfg.sip.domain, "a.b");
}

Test(config, a_key_outside_any_section_is_an_error)
{
	assert_error("name = x\n[node]\n",
		     "t.conf:1: name: key outside any section (it belongs in [node])");
	assert_error("bogus = x\n",
		     "t.conf:1: bogus: key outside any section (start one with a line like [sip])");
}

Test(config, an_unknown_section_is_reported_once_and_its_keys_skipped)
{
	assert_error("[sipp]\nlisten = x\nfoo = bar\n[sip]\nmax_contacts = 3\n",
		     "t.conf:1: [sipp]: unknown section (did you mean [sip]?)");
	cr_assert_eq(errs.n, 1, "%s", dump());
	assert_error("[SIP]\n", "t.conf:1: [SIP]: unknown section (did you mean [sip]?)");
	assert_error("[general]\n",
		     "t.conf:1: [general]: unknown section (the sections are [node], [sip], "
		     "[pair], [stats] and [io])");
}

Test(config, malformed_section_headers_are_errors)
{
	assert_error("[sip\nmax_contacts = 1\n", "t.conf:1: '[sip' is not a section header (write [name])");
	cr_assert_eq(errs.n, 1, "keys after a bad header are skipped:%s", dump());
	assert_error("[sip] x\n", "t.conf:1: unexpected text after the section header '[sip] x'");
	assert_error_part("[]\n", "unknown section");
}

Test(config, unknown_key_suggests_the_closest_known_key)
{
	assert_error("[sip]\ndefualt_expires = 30\n",
		     "t.conf:2: [sip] defualt_expires: unknown key 'defualt_expires' (did you mean "
		     "'default_expires'?)");
	assert_error("[node]\nNAME = x\n",
		     "t.conf:2: [node] NAME: unknown key 'NAME' (did you mean 'name'?)");
	assert_error("[sip]\nmax_expire = 30\n",
		     "t.conf:2: [sip] max_expire: unknown key 'max_expire' (did you mean 'max_expires'?)");
	assert_error("[sip]\ncolour = blue\n", "t.conf:2: [sip] colour: unknown key 'colour'");
	assert_error("[node]\nlisten = 1.2.3.4:5\n",
		     "t.conf:2: [node] listen: unknown key 'listen' (it belongs in [sip] or [pair])");
	assert_error("[io]\nname = x\n", "t.conf:2: [io] name: unknown key 'name' (it belongs in [node])");
	assert_error_part("[sip]\ndefault expires = 30\n", "(did you mean 'default_expires'?)");
}

Test(config, missing_equals_and_missing_key_are_errors)
{
	assert_error("[sip]\nlisten 127.0.0.1:5060\n",
		     "t.conf:2: [sip] listen: missing '=' (write key = value)");
	assert_error("just words\n", "t.conf:1: just: missing '=' (write key = value)");
	assert_error("[sip]\n= 5\n", "t.conf:2: [sip]: missing key before '='");
}

Test(config, a_repeated_key_is_an_error_naming_the_first_line)
{
	assert_error("[sip]\nmax_contacts = 1\n[node]\nname = a\n[sip]\nmax_contacts = 2\n",
		     "t.conf:6: [sip] max_contacts: set twice (first on line 2)");
	cr_assert_eq(cfg.sip.max_contacts, 1);
	/* Reopening a section is fine. */
	assert_ok("[sip]\nmax_contacts = 1\n[node]\nname = a\n[sip]\nmin_expires = 2\n");
}

Test(config, a_value_longer_than_path_max_is_refused)
{
	size_t n = PATH_MAX + 100;
	char *text = malloc(n + 64);

	memcpy(text, "[node]\ndata_dir = /", 19);
	memset(text + 19, 'x', n);
	memcpy(text + 19 + n, "\n", 2);
	cr_assert_eq(load(text), TDM_ECONFIG);
	cr_assert(has_msg("t.conf:2: [node] data_dir: the value is too long (at most 4095 bytes)"),
		  "%s", dump());
	free(text);
}

Test(config, values_in_messages_are_bounded_and_printable)
{
	char text[512];

	snprintf(text, sizeof(text), "[sip]\nmax_expires = %0200d\x1b\n", 7);
	cr_assert_eq(load(text), TDM_ECONFIG);
	cr_assert(has_part("control character"), "%s", dump());
	snprintf(text, sizeof(text), "[sip]\nauth = %0200d\n", 7);
	cr_assert_eq(load(text), TDM_ECONFIG);
	cr_assert(has_part("'000000000000000000000000000000000000000000000000...' is not one of"),
		  "%s", dump());
}

/* ---- collecting errors ------------------------------------------------- */

Test(config, three_problems_are_three_messages_with_their_lines)
{
	cr_assert_eq(load("[node]\n"
			  "mode = primary\n"
			  "[sip]\n"
			  "\n"
			  "max_contacts = lots\n"
			  "listen = example.net:5060\n"),
		     TDM_ECONFIG);
	cr_assert_eq(errs.n, 3, "%s", dump());
	cr_assert_str_eq(errs.msg[0], "t.conf:2: [node] mode: 'primary' is not one of: master, standby");
	cr_assert_str_eq(errs.msg[1],
			 "t.conf:5: [sip] max_contacts: 'lots' is not a whole number from 0 to 64");
	cr_assert(strncmp(errs.msg[2], "t.conf:6: [sip] listen: 'example.net:5060' is a host name", 57) == 0,
		  "%s", dump());
}

Test(config, more_errors_than_kept_are_still_counted)
{
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "[sip]\n");

	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "nokey%d = 1\n", i);
	cr_assert_eq(load(text), TDM_ECONFIG);
	cr_assert_eq(errs.n, 40);
	cr_assert_str_eq(errs.msg[CFG_MAX_ERRORS - 1],
			 "t.conf:33: [sip] nokey31: unknown key 'nokey31'");
}

/* ---- rules across keys -------------------------------------------------- */

Test(config, expiry_limits_must_be_ordered)
{
	assert_error("[sip]\nmin_expires = 60\ndefault_expires = 30\n",
		     "t.conf: [sip] min_expires: must not exceed default_expires (60 > 30)");
	assert_error("[sip]\ndefault_expires = 7200\nmax_expires = 3600\n",
		     "t.conf: [sip] default_expires: must not exceed max_expires (7200 > 3600)");
	assert_ok("[sip]\nmin_expires = 5\ndefault_expires = 5\nmax_expires = 5\n"
		  "[pair]\nactive_max_expires = 5\n");
	assert_error("[sip]\nmin_expires = 300\n",
		     "t.conf: [pair] active_max_expires: must not be below [sip] min_expires (120 < 300)");
}

Test(config, a_rule_is_not_checked_against_a_refused_value)
{
	/* default_expires is refused; min_expires is not compared with the
	 * default 3600 it fell back to. */
	cr_assert_eq(load("[sip]\ndefault_expires = soon\nmin_expires = 5000\nmax_expires = 9000\n"
			  "[pair]\nactive_max_expires = 5000\n"),
		     TDM_ECONFIG);
	cr_assert_eq(errs.n, 1, "%s", dump());
}

Test(config, digest_needs_no_users_file_since_users_live_in_the_object_store)
{
	assert_ok("[sip]\nauth = digest\n");
	assert_ok("[sip]\nauth = digest\nusers = users.csv\n");
	cr_assert_str_eq(cfg.sip.users, "/etc/tandem/users.csv");
}

Test(config, a_standby_needs_the_master_address_and_the_password)
{
	cr_assert_eq(load("[node]\nmode = standby\n"), TDM_ECONFIG);
	cr_assert_eq(errs.n, 2, "%s", dump());
	cr_assert(has_msg("t.conf: [pair] master: required when [node] mode = standby (the master's "
			  "link address, IP:port)"),
		  "%s", dump());
	cr_assert(has_msg("t.conf: [node] password: required when mode = standby (the PBX password "
			  "shared with the master)"),
		  "%s", dump());
	assert_ok("[node]\nmode = standby\npassword = pw\n[pair]\nmaster = [2001:db8::5]:5070\n");
	cr_assert_eq(cfg.node.mode, NODE_STANDBY);
	cr_assert(cfg.pair.master_set);
	cr_assert_str_eq(fmt_addr(&cfg.pair.master), "[2001:db8::5]:5070");
	/* A standby may carry the same [pair] listen as its master: unused. */
	assert_ok("[node]\nmode = standby\npassword = pw\n[pair]\nmaster = 192.0.2.1:5070\n"
		  "listen = 0.0.0.0:5070\n");
}

Test(config, pair_master_on_a_master_is_an_error_on_its_line)
{
	assert_error("[pair]\nmaster = 192.0.2.1:5070\n",
		     "t.conf:2: [pair] master: only a standby connects to a master (set [node] mode "
		     "= standby, or remove this key)");
}

Test(config, pair_master_must_be_an_ip_literal_with_a_port)
{
	const char *pre = "[node]\nmode = standby\npassword = x\n[pair]\n";
	char text[256];

	snprintf(text, sizeof(text), "%smaster = master.example.com:5070\n", pre);
	assert_error(text, "t.conf:5: [pair] master: 'master.example.com:5070' is a DNS name: a DNS "
			   "name is not accepted, use the master's IP address (e.g. 192.0.2.10:5070)");
	snprintf(text, sizeof(text), "%smaster = tandem-a\n", pre);
	assert_error_part(text, "a DNS name is not accepted, use the master's IP address");
	snprintf(text, sizeof(text), "%smaster = 192.0.2.1\n", pre);
	assert_error(text, "t.conf:5: [pair] master: '192.0.2.1' needs a port (IP:port)");
	snprintf(text, sizeof(text), "%smaster = 2001:db8::1\n", pre);
	assert_error_part(text, "needs a port: write an IPv6 address in brackets");
	snprintf(text, sizeof(text), "%smaster = 0.0.0.0:5070\n", pre);
	assert_error_part(text, "is a wildcard address");
	/* A refused master is not reported again as missing. */
	snprintf(text, sizeof(text), "%smaster = 300.1.1.1:5070\n", pre);
	assert_error(text, "t.conf:5: [pair] master: '300.1.1.1:5070' is not an IP address");
	cr_assert_eq(errs.n, 1, "%s", dump());
}

Test(config, pair_listen_is_an_ip_and_port_and_needs_the_password)
{
	assert_ok("[node]\npassword = pw\n[pair]\nlisten = [::]:5070\n");
	cr_assert(cfg.pair.listen_set);
	cr_assert_str_eq(fmt_addr(&cfg.pair.listen), "[::]:5070");
	assert_error("[pair]\nlisten = 0.0.0.0:5070\n",
		     "t.conf: [node] password: required when [pair] listen is set (the standby logs in "
		     "with it)");
	assert_error_part("[node]\npassword = pw\n[pair]\nlisten = link.local:5070\n",
			  "is a host name: only IP addresses are accepted");
	assert_error_part("[node]\npassword = pw\n[pair]\nlisten = 0.0.0.0\n", "needs a port");
}

Test(config, heartbeat_must_be_shorter_than_failover_timeout)
{
	assert_error("[pair]\nheartbeat_interval = 3s\n",
		     "t.conf: [pair] heartbeat_interval: must be shorter than failover_timeout "
		     "(3000ms >= 3000ms)");
	assert_ok("[pair]\nheartbeat_interval = 2999ms\n");
	assert_error_part("[pair]\nfailover_timeout = 100ms\n", "(200ms >= 100ms)");
}

Test(config, tls_cert_and_key_come_together)
{
	assert_error("[pair]\ntls_cert = a.crt\n", "t.conf: [pair] tls_key: required when tls_cert is set");
	assert_error("[pair]\ntls_key = a.key\n", "t.conf: [pair] tls_cert: required when tls_key is set");
	assert_ok("[pair]\ntls_cert = a.crt\ntls_key = a.key\n");
	assert_ok("[pair]\ntls_cert =\ntls_key =\n");
}

Test(config, dpdk_needs_its_arguments)
{
	assert_error("[io]\nmode = dpdk\n",
		     "t.conf: [io] dpdk_args: required when mode = dpdk (the DPDK EAL arguments, e.g. "
		     "\"-l 0-3 -a 0000:01:00.0\")");
	assert_ok("[io]\nmode = socket\ndpdk_args = -l 1\n");
}

/* ---- files -------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tandem-config-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void remove_tmp(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
}

Test(config, load_resolves_relative_paths_against_the_files_directory)
{
	char path[512], want[512], sub[256];
	const char *text = "[sip]\nauth = digest\nusers = users.csv\n[node]\ndata_dir = state\n";

	make_tmpdir();
	snprintf(sub, sizeof(sub), "%s/etc", tmpdir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/tandem.conf", sub);
	write_file(path, text, strlen(text));

	cr_assert_eq(config_load(path, &cfg, &errs), 0, "%s", dump());
	snprintf(want, sizeof(want), "%s/users.csv", sub);
	cr_assert_str_eq(cfg.sip.users, want);
	snprintf(want, sizeof(want), "%s/state", sub);
	cr_assert_str_eq(cfg.node.data_dir, want);
	cr_assert_str_eq(cfg.path, path);

	/* Named relative to the working directory: still made absolute. */
	cr_assert_eq(chdir(tmpdir), 0);
	cr_assert_eq(config_load("etc/tandem.conf", &cfg, &errs), 0, "%s", dump());
	snprintf(want, sizeof(want), "%s/users.csv", sub);
	cr_assert_str_eq(cfg.sip.users, want);
	cr_assert_str_eq(cfg.path, path);
	cr_assert_eq(chdir("/"), 0);

	unlink(path);
	rmdir(sub);
	rmdir(tmpdir);
}

Test(config, load_messages_name_the_file_as_given)
{
	char path[256], want[400];
	const char *text = "[sip]\n\nmax_contacts = x\n";

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	write_file(path, text, strlen(text));
	cr_assert_eq(config_load(path, &cfg, &errs), TDM_ECONFIG);
	snprintf(want, sizeof(want), "%s:3: [sip] max_contacts: 'x' is not a whole number from 0 to 64",
		 path);
	cr_assert_eq(errs.n, 1);
	cr_assert_str_eq(errs.msg[0], want);
	remove_tmp("bad.conf");
	rmdir(tmpdir);
}

Test(config, load_reports_an_unreadable_file)
{
	char path[256], want[400];

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	cr_assert_eq(config_load(path, &cfg, &errs), -ENOENT);
	cr_assert_eq(errs.n, 1);
	snprintf(want, sizeof(want), "%s: cannot read: %s", path, tdm_strerror(-ENOENT));
	cr_assert_str_eq(errs.msg[0], want);
	cr_assert_eq(cfg.sip.default_expires, 3600, "cfg holds the defaults");

	cr_assert_eq(config_load(tmpdir, &cfg, &errs), -EISDIR);
	cr_assert(has_part("cannot read"), "%s", dump());
	rmdir(tmpdir);
}

Test(config, load_refuses_a_nul_byte_and_a_huge_file)
{
	char path[256];
	static const char text[] = "[sip]\nmax_contacts = 1\nx\0y\n";

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
	write_file(path, text, sizeof(text) - 1);
	cr_assert_eq(config_load(path, &cfg, &errs), TDM_ECONFIG);
	cr_assert(has_part("nul.conf:3: contains a NUL byte"), "%s", dump());

	size_t big = (1u << 20) + 1;
	char *data = malloc(big);
	memset(data, '#', big);
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	write_file(path, data, big);
	free(data);
	cr_assert_eq(config_load(path, &cfg, &errs), TDM_ECONFIG);
	cr_assert(has_part("big.conf: larger than 1048576 bytes"), "%s", dump());

	remove_tmp("nul.conf");
	remove_tmp("big.conf");
	rmdir(tmpdir);
}

Test(config, example_configs_load_without_error)
{
	cr_assert_eq(config_load(SOURCE_DIR "/examples/tandem.conf", &cfg, &errs), 0, "%s", dump());
	cr_assert_eq(cfg.node.mode, NODE_MASTER);
	cr_assert_eq(cfg.sip.auth, AUTH_NONE);
	cr_assert_eq(cfg.sip.nlisten, 1);
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[0]), "127.0.0.1:5060");
	cr_assert_str_eq(cfg.node.data_dir, "/var/lib/tandem");
	cr_assert_str_eq(cfg.stats.socket, "/run/tandem/tandem.sock");
	cr_assert(!cfg.pair.master_set);
	cr_assert(!cfg.pair.listen_set);

	/* Every key of the example has its default (but listen). */
	struct config def;
	config_defaults(&def);
	cr_assert_eq(cfg.sip.default_expires, def.sip.default_expires);
	cr_assert_eq(cfg.sip.min_expires, def.sip.min_expires);
	cr_assert_eq(cfg.sip.max_expires, def.sip.max_expires);
	cr_assert_eq(cfg.sip.max_contacts, def.sip.max_contacts);
	cr_assert_eq(cfg.sip.nonce_lifetime, def.sip.nonce_lifetime);
	cr_assert_eq(cfg.io.workers, def.io.workers);
	cr_assert_eq(cfg.node.log_level, def.node.log_level);

	cr_assert_eq(config_load(SOURCE_DIR "/examples/tandem-digest.conf", &cfg, &errs), 0, "%s",
		     dump());
	cr_assert_eq(cfg.sip.auth, AUTH_DIGEST);
	cr_assert_str_eq(fmt_addr(&cfg.sip.listen[0]), "127.0.0.1:5060");
	char *want = realpath(SOURCE_DIR "/examples/users.csv", NULL);
	cr_assert_not_null(want);
	cr_assert_str_eq(cfg.sip.users, want);
	free(want);
}

/* ---- hostile input ------------------------------------------------------ */

Test(config, random_text_never_crashes_and_always_reports_consistently)
{
	static const char *const tokens[] = {
		"[", "]", "sip", "node", "pair", "io", "stats", "=", " ", "\t", "\n", "\r\n", "\"",
		"\\", "#", ";", "listen", "master", "mode", "1", "65536", "ms", "d", "-", ",",
		"[::1]", ":", "standby", "digest", "\x01", "\xff", "cpus", "0-300", "name", "_",
		"4294967295", "max_expires", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char text[1024];
	unsigned seed = 12345;

	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 0;
		int r;

		while (n < sizeof(text) - 64) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 97 == 0)
				break;
			const char *t = tokens[(seed >> 8) % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t l = strlen(t);
			memcpy(text + n, t, l);
			n += l;
		}
		text[n] = '\0';
		r = load(text);
		cr_assert(r == 0 || r == TDM_ECONFIG);
		cr_assert_eq(r == 0, errs.n == 0);
		for (unsigned i = 0; i < errs.n && i < CFG_MAX_ERRORS; i++)
			cr_assert(strncmp(errs.msg[i], "t.conf", 6) == 0, "%s", errs.msg[i]);
	}
}

Test(config, the_default_example_shows_every_key)
{
	static const char *const keys[] = {
		"name", "mode", "password", "data_dir", "log_level", "listen", "domain", "auth",
		"default_expires", "min_expires", "max_expires", "max_contacts", "nonce_lifetime",
		"users", "master", "failover_timeout", "failback_hold", "heartbeat_interval",
		"active_max_expires", "divert", "tls_cert", "tls_key", "socket", "workers", "cpus",
		"dpdk_args",
	};
	static char text[65536];
	FILE *f = fopen(SOURCE_DIR "/examples/tandem.conf", "r");
	size_t n;

	cr_assert_not_null(f);
	text[0] = '\n';
	n = fread(text + 1, 1, sizeof(text) - 2, f);
	fclose(f);
	text[n + 1] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char set[64], commented[64];

		snprintf(set, sizeof(set), "\n%s =", keys[i]);
		snprintf(commented, sizeof(commented), "\n#%s =", keys[i]);
		cr_assert(strstr(text, set) || strstr(text, commented),
			  "examples/tandem.conf does not show '%s'", keys[i]);
	}
	/* The pair keys are there, commented out, for a single master. */
	cr_assert_not_null(strstr(text, "\n#master = "));
	cr_assert_not_null(strstr(text, "\n#listen = "));
}
