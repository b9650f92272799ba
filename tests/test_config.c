/*
 * test_config.c: common/config.c and common/log.c.
 *
 * Every test runs in a temporary directory that is also $HOME, with the
 * HELIX_* and XDG_* variables unset, so the user's own files never count.
 * Tests that are not about finding the default file pass --config ''
 * (as root that file is /etc/helix/helix.conf, which may exist).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"

#define KiB	1024UL
#define MiB	(1024UL * KiB)
#define GiB	(1024UL * MiB)

static SRunner	*runner;
static char	 tmp[256];		/* this test's directory */
static char	 err[CONFIG_ERR_MAX];

/* ---- fixture ---------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	if (base == NULL || base[0] != '/' || strlen(base) > 200)
		base = "/tmp";
	snprintf(tmp, sizeof tmp, "%s/test_config.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	unsetenv("HELIX_SOCKET");
	unsetenv("HELIX_STATE_DIR");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", tmp, 1);
	err[0] = '\0';
	log_init("helixd", HLOG_INFO);
}

static void
teardown(void)
{
	if (tmp[0] != '\0')
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmp[0] = '\0';
}

/* Write text to tmp/name (making tmp/dir first if name has one). */
static const char *
write_file(const char *name, const char *text)
{
	static char	 path[PATH_MAX];
	char		*slash;
	FILE		*f;

	ck_assert_int_lt(snprintf(path, sizeof path, "%s/%s", tmp, name),
	    (int)sizeof path);
	for (slash = path + strlen(tmp) + 1; (slash = strchr(slash, '/'));
	    slash++) {
		*slash = '\0';
		if (mkdir(path, 0700) == -1)
			ck_assert_int_eq(errno, EEXIST);
		*slash = '/';
	}
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return (path);
}

/*
 * config_default_file() ignores the environment for root, so tests of the
 * XDG search become nobody.  Only in a forked test: the drop is for good.
 */
static int
become_user(void)
{
	if (geteuid() != 0)
		return (1);
	if (srunner_fork_status(runner) == CK_NOFORK)
		return (0);
	ck_assert_int_eq(chown(tmp, 65534, 65534), 0);
	ck_assert_int_eq(setgid(65534), 0);
	ck_assert_int_eq(setuid(65534), 0);
	return (1);
}

static int
run_argv(struct helix_config *c, char **argv)
{
	int	argc = 0;

	while (argv[argc] != NULL)
		argc++;
	optind = 0;
	err[0] = '\0';
	return (config_from_args(c, argc, argv, err, sizeof err));
}
#define RUN(c, ...)	run_argv(c, (char *[]){ "helixd", ##__VA_ARGS__, NULL })

static const char *
get(const struct helix_config *c, const char *key)
{
	static char	buf[PATH_MAX];

	ck_assert_msg(config_get(c, key, buf, sizeof buf) == 0,
	    "config_get(%s) failed", key);
	return (buf);
}

#define ck_assert_err(want) \
	ck_assert_msg(strstr(err, (want)) != NULL, \
	    "err: got \"%s\", want it to contain \"%s\"", err, (want))

/* ---- the keys ------------------------------------------------------------ */

/* Every key: its default, a good value that differs, how that reads back. */
static const struct {
	const char	*key;
	const char	*def;		/* NULL: computed */
	const char	*value;
	const char	*back;
	int		 reload;
} keys[] = {
	{ "socket", NULL, "/tmp/x.sock", "/tmp/x.sock", 0 },
	{ "socket_mode", "0600", "660", "0660", 0 },
	{ "socket_group", "", "helix", "helix", 0 },
	{ "state_dir", NULL, "/var/lib/helix", "/var/lib/helix", 0 },
	{ "worker", "", "/usr/libexec/helix-worker",
	    "/usr/libexec/helix-worker", 0 },
	{ "pidfile", "", "/run/helixd.pid", "/run/helixd.pid", 0 },
	{ "daemonize", "false", "yes", "true", 0 },
	{ "max_sessions", "1000", "5", "5", 1 },
	{ "max_clients_per_flow", "1000", "7", "7", 1 },
	{ "max_connections", "10000", "100", "100", 1 },
	{ "idle_timeout", "1800", "0", "0", 1 },
	{ "call_timeout_ms", "5000", "250", "250", 1 },
	{ "shutdown_timeout_ms", "5000", "2000", "2000", 1 },
	{ "watchdog_timeout_ms", "0", "9000", "9000", 1 },
	{ "heartbeat_interval_ms", "1000", "500", "500", 1 },
	{ "max_restarts", "10", "0", "0", 1 },
	{ "max_seconds", "60", "30", "30", 1 },
	{ "restart_cooldown", "30", "5", "5", 1 },
	{ "max_restarts_total", "200", "50", "50", 1 },
	{ "max_restarts_total_seconds", "60", "120", "120", 1 },
	{ "escalate", "throttle", "exit", "exit", 1 },
	{ "sync", "full", "batch", "batch", 0 },
	{ "sync_interval_ms", "100", "50", "50", 0 },
	{ "map_size", "1G", "2G", "2G", 0 },
	{ "history_length", "1000", "10", "10", 0 },
	{ "max_message_bytes", "1M", "512k", "512K", 1 },
	{ "max_flow_bytes", "16M", "1048577", "1048577", 0 },
	{ "max_nodes", "10000", "20", "20", 0 },
	{ "max_edges", "50000", "0", "0", 0 },
	{ "max_data_bytes", "64K", "1000", "1000", 0 },
	{ "max_ops", "1000", "3", "3", 0 },
	{ "max_queue", "10000", "4", "4", 1 },
	{ "client_output_limit", "4M", "8M", "8M", 1 },
	{ "slow_client_timeout", "30", "60", "60", 1 },
	{ "log_level", "info", "debug", "debug", 1 },
};
#define NKEYS	(sizeof keys / sizeof keys[0])

START_TEST(test_table_covers_every_key)
{
	const char	*name;
	size_t		 i, j, n = 0;

	for (i = 0; (name = config_key_name(i)) != NULL; i++) {
		for (j = 0; j < NKEYS; j++) {
			if (strcmp(keys[j].key, name) == 0)
				break;
		}
		ck_assert_msg(j < NKEYS, "key %s is not in the test table",
		    name);
		n++;
	}
	ck_assert_uint_eq(n, NKEYS);
}
END_TEST

START_TEST(test_defaults)
{
	struct helix_config	c;
	size_t			i;

	config_defaults(&c);
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].def == NULL)
			continue;
		ck_assert_msg(strcmp(get(&c, keys[i].key), keys[i].def) == 0,
		    "%s: got '%s', want '%s'", keys[i].key,
		    get(&c, keys[i].key), keys[i].def);
	}
	ck_assert_uint_eq(c.socket_mode, 0600);
	ck_assert_int_eq(c.sync, SYNC_FULL);
	ck_assert_int_eq(c.escalate, ESCALATE_THROTTLE);
	ck_assert_int_eq(c.log_level, HLOG_INFO);
	ck_assert(!c.daemonize);
	ck_assert_uint_eq(c.map_size, GiB);
	ck_assert_uint_eq(c.max_message_bytes, MiB);
	ck_assert_uint_eq(c.max_flow_bytes, 16 * MiB);
	ck_assert_uint_eq(c.max_data_bytes, 65536);
	ck_assert_uint_eq(c.client_output_limit, 4 * MiB);
	ck_assert_uint_eq(config_watchdog_ms(&c), 15000);
	ck_assert_str_eq(c.config_file, "");
	ck_assert_int_eq(config_check(&c, err, sizeof err), 0);
}
END_TEST

START_TEST(test_set_every_key)
{
	struct helix_config	c;

	config_defaults(&c);
	ck_assert_msg(config_set(&c, keys[_i].key, keys[_i].value, err,
	    sizeof err) == 0, "%s = %s: %s", keys[_i].key, keys[_i].value,
	    err);
	ck_assert_msg(strcmp(get(&c, keys[_i].key), keys[_i].back) == 0,
	    "%s: got '%s', want '%s'", keys[_i].key, get(&c, keys[_i].key),
	    keys[_i].back);
	ck_assert_msg(config_key_reloadable(keys[_i].key) == keys[_i].reload,
	    "%s: reloadable is %d, want %d", keys[_i].key,
	    config_key_reloadable(keys[_i].key), keys[_i].reload);
}
END_TEST

/* The table reaches the right fields with the right types. */
START_TEST(test_set_fields)
{
	struct helix_config	c;
	size_t			i;

	config_defaults(&c);
	for (i = 0; i < NKEYS; i++)
		ck_assert_int_eq(config_set(&c, keys[i].key, keys[i].value,
		    err, sizeof err), 0);
	ck_assert_str_eq(c.socket, "/tmp/x.sock");
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_str_eq(c.socket_group, "helix");
	ck_assert_str_eq(c.state_dir, "/var/lib/helix");
	ck_assert_str_eq(c.worker, "/usr/libexec/helix-worker");
	ck_assert_str_eq(c.pidfile, "/run/helixd.pid");
	ck_assert(c.daemonize);
	ck_assert_uint_eq(c.max_sessions, 5);
	ck_assert_uint_eq(c.max_clients_per_flow, 7);
	ck_assert_uint_eq(c.max_connections, 100);
	ck_assert_uint_eq(c.idle_timeout, 0);
	ck_assert_uint_eq(c.call_timeout_ms, 250);
	ck_assert_uint_eq(c.shutdown_timeout_ms, 2000);
	ck_assert_uint_eq(c.watchdog_timeout_ms, 9000);
	ck_assert_uint_eq(config_watchdog_ms(&c), 9000);
	ck_assert_uint_eq(c.heartbeat_interval_ms, 500);
	ck_assert_uint_eq(c.max_restarts, 0);
	ck_assert_uint_eq(c.max_seconds, 30);
	ck_assert_uint_eq(c.restart_cooldown, 5);
	ck_assert_uint_eq(c.max_restarts_total, 50);
	ck_assert_uint_eq(c.max_restarts_total_seconds, 120);
	ck_assert_int_eq(c.escalate, ESCALATE_EXIT);
	ck_assert_int_eq(c.sync, SYNC_BATCH);
	ck_assert_uint_eq(c.sync_interval_ms, 50);
	ck_assert_uint_eq(c.map_size, 2 * GiB);
	ck_assert_uint_eq(c.history_length, 10);
	ck_assert_uint_eq(c.max_message_bytes, 512 * KiB);
	ck_assert_uint_eq(c.max_flow_bytes, 1048577);
	ck_assert_uint_eq(c.max_nodes, 20);
	ck_assert_uint_eq(c.max_edges, 0);
	ck_assert_uint_eq(c.max_data_bytes, 1000);
	ck_assert_uint_eq(c.max_ops, 3);
	ck_assert_uint_eq(c.max_queue, 4);
	ck_assert_uint_eq(c.client_output_limit, 8 * MiB);
	ck_assert_uint_eq(c.slow_client_timeout, 60);
	ck_assert_int_eq(c.log_level, HLOG_DEBUG);
}
END_TEST

static const struct {
	const char	*key;
	const char	*value;
	const char	*want;		/* in the message, after the value */
} bad[] = {
	{ "max_restarts", "abc", "expected an integer from 0 to 255" },
	{ "max_sessions", "", "expected an integer from 1 to 100000" },
	{ "max_sessions", "10x", "expected an integer" },
	{ "max_sessions", "-1", "expected an integer" },
	{ "max_sessions", "+5", "expected an integer" },
	{ "max_sessions", " 5", "expected an integer" },
	{ "max_sessions", "5 ", "expected an integer" },
	{ "max_sessions", "0x10", "expected an integer" },
	{ "max_sessions", "1e3", "expected an integer" },
	{ "max_sessions", "0", "expected an integer from 1 to 100000" },
	{ "max_sessions", "100001", "expected an integer from 1 to 100000" },
	{ "max_sessions", "99999999999999999999999", "expected an integer" },
	{ "call_timeout_ms", "9", "expected an integer from 10 to 3600000" },
	{ "call_timeout_ms", "4294967296",
	    "expected an integer from 10 to 3600000" },
	{ "map_size", "", "expected a size from 1M to 1024G" },
	{ "map_size", "1T", "expected a size" },
	{ "map_size", "1KB", "expected a size" },
	{ "map_size", "1.5M", "expected a size" },
	{ "map_size", "-1M", "expected a size" },
	{ "map_size", "M", "expected a size" },
	{ "map_size", "1023K", "expected a size from 1M" },
	{ "map_size", "1025G", "expected a size from 1M to 1024G" },
	{ "map_size", "18446744073709551615G", "expected a size" },
	{ "max_message_bytes", "1m", "expected a size from 1K to 1G (bytes, or "
	    "an integer with suffix K, M or G)" },
	{ "socket_mode", "0800", "expected an octal mode from 0000 to 0777" },
	{ "socket_mode", "rw", "expected an octal mode" },
	{ "socket_mode", "", "expected an octal mode" },
	{ "socket_mode", "01000", "expected an octal mode" },
	{ "socket_mode", "-600", "expected an octal mode" },
	{ "socket_mode", "77777777777777777777777", "expected an octal mode" },
	{ "daemonize", "maybe", "expected true or false" },
	{ "daemonize", "", "expected true or false" },
	{ "daemonize", "TRUE", "expected true or false" },
	{ "sync", "fast", "expected one of full, batch or none" },
	{ "sync", "", "expected one of full, batch or none" },
	{ "sync", "FULL", "expected one of full, batch or none" },
	{ "escalate", "panic", "expected one of throttle or exit" },
	{ "log_level", "trace", "expected one of error, warn, info or debug" },
	{ "socket", "", "expected a non-empty value of at most 107 bytes" },
	{ "state_dir", "", "expected a non-empty value" },
};
#define NBAD	(sizeof bad / sizeof bad[0])

START_TEST(test_set_bad)
{
	struct helix_config	c, before;
	char			want[CONFIG_ERR_MAX];

	config_defaults(&c);
	before = c;
	ck_assert_msg(config_set(&c, bad[_i].key, bad[_i].value, err,
	    sizeof err) == -1, "%s = '%s' was accepted", bad[_i].key,
	    bad[_i].value);
	snprintf(want, sizeof want, "bad value '%s' for %s: %s", bad[_i].value,
	    bad[_i].key, bad[_i].want);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "got \"%s\", want \"%s...\"", err, want);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0,
	    "%s = '%s' changed the struct", bad[_i].key, bad[_i].value);
}
END_TEST

START_TEST(test_set_bad_text)
{
	struct helix_config	 c;
	char			 lng[PATH_MAX + 8];

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "max_restarts", "abc", err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "bad value 'abc' for max_restarts: expected an "
	    "integer from 0 to 255");

	ck_assert_int_eq(config_set(&c, "foo", "1", err, sizeof err), -1);
	ck_assert_str_eq(err, "unknown key 'foo'");
	ck_assert_int_eq(config_set(&c, "", "1", err, sizeof err), -1);
	ck_assert_str_eq(err, "unknown key ''");

	memset(lng, 'a', sizeof lng - 1);
	lng[0] = '/';
	lng[108] = '\0';		/* 108 bytes: too long for sun_path */
	ck_assert_int_eq(config_set(&c, "socket", lng, err, sizeof err), -1);
	ck_assert_err("at most 107 bytes");
	lng[107] = '\0';
	ck_assert_int_eq(config_set(&c, "socket", lng, err, sizeof err), 0);

	memset(lng, 'g', sizeof lng - 1);
	lng[256] = '\0';
	ck_assert_int_eq(config_set(&c, "socket_group", lng, err, sizeof err),
	    -1);
	lng[255] = '\0';
	ck_assert_int_eq(config_set(&c, "socket_group", lng, err, sizeof err),
	    0);

	memset(lng, 'p', sizeof lng - 1);
	lng[PATH_MAX] = '\0';
	ck_assert_int_eq(config_set(&c, "pidfile", lng, err, sizeof err), -1);
	ck_assert_err("at most 4095 bytes");

	/* A short err buffer is cut, still terminated; NULL is allowed. */
	ck_assert_int_eq(config_set(&c, "sync", "x", err, 8), -1);
	ck_assert_str_eq(err, "bad val");
	ck_assert_int_eq(config_set(&c, "sync", "x", NULL, 0), -1);
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char	*value;
		size_t		 want;
		const char	*back;
	} t[] = {
		{ "1024", 1024, "1K" },
		{ "1k", 1024, "1K" },
		{ "1K", 1024, "1K" },
		{ "1536", 1536, "1536" },
		{ "3M", 3 * MiB, "3M" },
		{ "1024M", GiB, "1G" },
		{ "1G", GiB, "1G" },
		{ "65536", 65536, "64K" },
		{ "00012K", 12 * KiB, "12K" },
	};
	struct helix_config	c;
	size_t			i;

	config_defaults(&c);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_msg(config_set(&c, "max_message_bytes", t[i].value,
		    err, sizeof err) == 0, "%s: %s", t[i].value, err);
		ck_assert_msg(c.max_message_bytes == t[i].want,
		    "%s: got %zu, want %zu", t[i].value, c.max_message_bytes,
		    t[i].want);
		ck_assert_str_eq(get(&c, "max_message_bytes"), t[i].back);
	}
	ck_assert_int_eq(config_set(&c, "max_data_bytes", "0", err,
	    sizeof err), 0);
	ck_assert_uint_eq(c.max_data_bytes, 0);
	ck_assert_str_eq(get(&c, "max_data_bytes"), "0");
	ck_assert_int_eq(config_set(&c, "map_size", "1024G", err, sizeof err),
	    0);
	ck_assert_uint_eq(c.map_size, 1024 * GiB);
}
END_TEST

START_TEST(test_dash_underscore)
{
	struct helix_config	c;

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "max-sessions", "11", err, sizeof err),
	    0);
	ck_assert_uint_eq(c.max_sessions, 11);
	ck_assert_int_eq(config_set(&c, "max_clients-per_flow", "12", err,
	    sizeof err), 0);
	ck_assert_uint_eq(c.max_clients_per_flow, 12);
	ck_assert_int_eq(config_set(&c, "log-level", "warn", err, sizeof err),
	    0);
	ck_assert_int_eq(c.log_level, HLOG_WARN);
	ck_assert_str_eq(get(&c, "max-sessions"), "11");
	ck_assert(config_key_reloadable("log-level"));
	ck_assert(!config_key_reloadable("map-size"));
	ck_assert(!config_key_reloadable("no_such_key"));
	ck_assert_int_eq(config_set(&c, "max__sessions", "1", err, sizeof err),
	    -1);
	ck_assert_int_eq(config_set(&c, "max-sessions-", "1", err, sizeof err),
	    -1);
	ck_assert_int_eq(config_set(&c, "MAX_SESSIONS", "1", err, sizeof err),
	    -1);
}
END_TEST

/* ---- files ----------------------------------------------------------- */

START_TEST(test_file)
{
	struct helix_config	 c;
	const char		*path;

	path = write_file("helix.conf",
	    "# helix test\n"
	    "\n"
	    "   \t\n"
	    "max_sessions = 5\n"
	    "  max-queue=6  \n"
	    "\tlog_level\t=\tdebug\t# trailing comment\n"
	    "socket_group = a#b\n"
	    "pidfile =\n"
	    "   # indented comment = not a key\n"
	    "sync = none\r\n"
	    "map_size = 2G\n"
	    "max_sessions = 7\n"
	    "state_dir = /srv/helix state");	/* no final newline */
	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "pidfile", "/x.pid", err, sizeof err),
	    0);
	ck_assert_msg(config_load_file(&c, path, err, sizeof err) == 0, "%s",
	    err);
	ck_assert_uint_eq(c.max_sessions, 7);		/* the last one wins */
	ck_assert_uint_eq(c.max_queue, 6);
	ck_assert_int_eq(c.log_level, HLOG_DEBUG);
	ck_assert_str_eq(c.socket_group, "a#b");
	ck_assert_str_eq(c.pidfile, "");
	ck_assert_int_eq(c.sync, SYNC_NONE);
	ck_assert_uint_eq(c.map_size, 2 * GiB);
	ck_assert_str_eq(c.state_dir, "/srv/helix state");
	ck_assert_uint_eq(c.max_nodes, 10000);		/* untouched */
}
END_TEST

START_TEST(test_file_errors)
{
	static const struct {
		const char	*text;
		const char	*want;		/* after "PATH:" */
	} t[] = {
		{ "max_sessions = 5\nfoo = 1\n", "2: unknown key 'foo'" },
		{ "# c\n\nmax_restarts = 10x\n", "3: bad value '10x' for "
		    "max_restarts: expected an integer from 0 to 255" },
		{ "max_sessions\n", "1: expected 'key = value', got "
		    "'max_sessions'" },
		{ " = 5\n", "1: missing key before '='" },
		{ "max_sessions =\n", "1: bad value '' for max_sessions" },
		{ "max_sessions = 5 # 6\nsync = fast # comment\n",
		    "2: bad value 'fast' for sync: expected one of full, batch "
		    "or none" },
		{ "max_sessions = -5\n", "1: bad value '-5' for max_sessions" },
	};
	struct helix_config	 c, before;
	const char		*path;
	char			 want[CONFIG_ERR_MAX], *big;
	size_t			 i;

	config_defaults(&c);
	before = c;
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		path = write_file("bad.conf", t[i].text);
		ck_assert_int_eq(config_load_file(&c, path, err, sizeof err),
		    -1);
		snprintf(want, sizeof want, "%s:%s", path, t[i].want);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
		    "got \"%s\", want \"%s\"", err, want);
		/* All or nothing: line 1 of a bad file is not applied. */
		ck_assert(memcmp(&c, &before, sizeof c) == 0);
	}

	/* A missing file is an error here. */
	snprintf(want, sizeof want, "%s/none.conf", tmp);
	ck_assert_int_eq(config_load_file(&c, want, err, sizeof err), -1);
	ck_assert_str_eq(err + strlen(want), ": No such file or directory");
	ck_assert_int_eq(config_load_file(&c, tmp, err, sizeof err), -1);
	ck_assert_err("Is a directory");

	/* A line longer than any value may be. */
	ck_assert_ptr_nonnull(big = malloc(3 * PATH_MAX));
	memset(big, 'x', 3 * PATH_MAX - 2);
	memcpy(big, "worker = /", 10);
	big[3 * PATH_MAX - 2] = '\n';
	big[3 * PATH_MAX - 1] = '\0';
	path = write_file("long.conf", big);
	free(big);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	ck_assert_err(":1: line too long");
}
END_TEST

/* ---- the command line --------------------------------------------------- */

START_TEST(test_args_forms)
{
	struct helix_config	c;

	ck_assert_msg(RUN(&c, "--config", "", "--max-sessions", "5",
	    "--call-timeout-ms=2500", "--daemonize", "--log-level=debug",
	    "--socket-group", "", "--map-size", "2G") == CONFIG_OK, "%s", err);
	ck_assert_uint_eq(c.max_sessions, 5);
	ck_assert_uint_eq(c.call_timeout_ms, 2500);
	ck_assert(c.daemonize);
	ck_assert_int_eq(c.log_level, HLOG_DEBUG);
	ck_assert_str_eq(c.socket_group, "");
	ck_assert_uint_eq(c.map_size, 2 * GiB);
	ck_assert_str_eq(c.config_file, "");

	ck_assert_int_eq(RUN(&c, "--config", "", "--daemonize=false"), 0);
	ck_assert(!c.daemonize);
	ck_assert_int_eq(RUN(&c, "--config", "", "--daemonize=yes"), 0);
	ck_assert(c.daemonize);
	ck_assert_int_eq(RUN(&c, "--config", ""), 0);
	ck_assert(!c.daemonize);

	/* The last of a repeated option wins. */
	ck_assert_int_eq(RUN(&c, "--config", "", "--max-ops", "3",
	    "--max-ops=4"), 0);
	ck_assert_uint_eq(c.max_ops, 4);
}
END_TEST

START_TEST(test_args_errors)
{
	static const struct {
		char		*argv[6];
		const char	*want;
	} t[] = {
		{ { "--bogus" }, "unknown, ambiguous or misused option "
		    "'--bogus'" },
		{ { "--max-sessions" }, "option --max-sessions needs a value" },
		{ { "--max-sessions", "0" }, "bad value '0' for max_sessions: "
		    "expected an integer from 1 to 100000" },
		{ { "--max-sessions=10x" },
		    "bad value '10x' for max_sessions" },
		{ { "--daemonize=maybe" }, "bad value 'maybe' for daemonize" },
		{ { "--daemonize", "false" }, "unexpected argument 'false'" },
		{ { "stray" }, "unexpected argument 'stray'" },
		{ { "-x" }, "unknown option -x" },
		{ { "--max_sessions", "5" }, "option '--max_sessions'" },
		{ { "--max", "5" }, "ambiguous" },
		{ { "--help=1" }, "'--help=1'" },
		{ { "--config" }, "option --config needs a value" },
		{ { "--heartbeat-interval-ms", "15000" },
		    "heartbeat_interval_ms (15000) must be less than the "
		    "watchdog timeout (15000 ms)" },
		{ { "--watchdog-timeout-ms", "900", "--heartbeat-interval-ms",
		    "1000" }, "heartbeat_interval_ms (1000) must be less" },
		{ { "--max-data-bytes", "32M" }, "max_data_bytes (33554432) "
		    "must not exceed max_flow_bytes (16777216)" },
	};
	struct helix_config	 c;
	char			*argv[10];
	size_t			 i, j;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		argv[0] = "helixd";
		argv[1] = "--config";
		argv[2] = "";
		for (j = 0; t[i].argv[j] != NULL; j++)
			argv[j + 3] = t[i].argv[j];
		argv[j + 3] = NULL;
		ck_assert_msg(run_argv(&c, argv) == -1, "case %zu accepted", i);
		ck_assert_msg(strstr(err, t[i].want) != NULL,
		    "case %zu: got \"%s\", want \"%s\"", i, err, t[i].want);
	}
}
END_TEST

START_TEST(test_args_help_version)
{
	struct helix_config	c;

	ck_assert_int_eq(RUN(&c, "--help"), CONFIG_HELP);
	ck_assert_int_eq(RUN(&c, "-h"), CONFIG_HELP);
	ck_assert_int_eq(RUN(&c, "--version"), CONFIG_VERSION);
	ck_assert_int_eq(RUN(&c, "-V"), CONFIG_VERSION);
	/* Before any value is looked at, or any file read. */
	ck_assert_int_eq(RUN(&c, "--max-sessions", "0", "--config",
	    "/nonexistent", "-h"), CONFIG_HELP);
	ck_assert_int_eq(RUN(&c, "-hV"), CONFIG_HELP);
}
END_TEST

START_TEST(test_precedence)
{
	struct helix_config	 c;
	const char		*path;
	char			 real[PATH_MAX];

	path = write_file("p.conf",
	    "socket = /file.sock\n"
	    "state_dir = /file-state\n"
	    "max_sessions = 7\n"
	    "log_level = warn\n");
	ck_assert_ptr_nonnull(realpath(path, real));

	/* defaults only */
	ck_assert_int_eq(RUN(&c, "--config", ""), 0);
	ck_assert_uint_eq(c.max_sessions, 1000);
	ck_assert_int_eq(c.log_level, HLOG_INFO);

	/* file over defaults */
	ck_assert_msg(RUN(&c, "--config", (char *)path) == 0, "%s", err);
	ck_assert_str_eq(c.socket, "/file.sock");
	ck_assert_str_eq(c.state_dir, "/file-state");
	ck_assert_uint_eq(c.max_sessions, 7);
	ck_assert_int_eq(c.log_level, HLOG_WARN);
	ck_assert_uint_eq(c.max_queue, 10000);
	ck_assert_str_eq(c.config_file, real);

	/* environment over file */
	setenv("HELIX_SOCKET", "/env.sock", 1);
	setenv("HELIX_STATE_DIR", "/env-state", 1);
	ck_assert_int_eq(RUN(&c, "--config", (char *)path), 0);
	ck_assert_str_eq(c.socket, "/env.sock");
	ck_assert_str_eq(c.state_dir, "/env-state");

	/* command line over environment, wherever --config is */
	ck_assert_int_eq(RUN(&c, "--socket=/cmd.sock", "--max-sessions", "8",
	    "--config", (char *)path, "--state-dir", "/cmd-state"), 0);
	ck_assert_str_eq(c.socket, "/cmd.sock");
	ck_assert_str_eq(c.state_dir, "/cmd-state");
	ck_assert_uint_eq(c.max_sessions, 8);
	ck_assert_int_eq(c.log_level, HLOG_WARN);

	/* An empty variable counts as unset; a bad one is an error. */
	setenv("HELIX_SOCKET", "", 1);
	ck_assert_int_eq(RUN(&c, "--config", (char *)path), 0);
	ck_assert_str_eq(c.socket, "/file.sock");
	setenv("HELIX_STATE_DIR", "/x", 1);
	setenv("HELIX_SOCKET", "/0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789", 1);
	ck_assert_int_eq(RUN(&c, "--config", (char *)path), -1);
	ck_assert_err("HELIX_SOCKET: bad value '/0123");

	/* A --config file that is missing is an error. */
	unsetenv("HELIX_SOCKET");
	ck_assert_int_eq(RUN(&c, "--config", "/nonexistent/helix.conf"), -1);
	ck_assert_str_eq(err, "/nonexistent/helix.conf: No such file or "
	    "directory");
	ck_assert_int_eq(RUN(&c, "--config", (char *)write_file("b.conf",
	    "a = b\n")), -1);
	ck_assert_err("b.conf:1: unknown key 'a'");
}
END_TEST

START_TEST(test_default_file_root)
{
	if (geteuid() != 0)
		return;
	setenv("XDG_CONFIG_HOME", tmp, 1);
	ck_assert_str_eq(config_default_file(), "/etc/helix/helix.conf");
}
END_TEST

START_TEST(test_default_file_xdg)
{
	struct helix_config	 c;
	char			 want[PATH_MAX], real[PATH_MAX];

	if (!become_user())
		return;

	/* Without XDG_CONFIG_HOME: ~/.config; a relative one is ignored. */
	snprintf(want, sizeof want, "%s/.config/helix/helix.conf", tmp);
	ck_assert_str_eq(config_default_file(), want);
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	ck_assert_str_eq(config_default_file(), want);

	setenv("XDG_CONFIG_HOME", tmp, 1);
	snprintf(want, sizeof want, "%s/helix/helix.conf", tmp);
	ck_assert_str_eq(config_default_file(), want);

	/* Absent: fine, and no file is recorded. */
	ck_assert_msg(RUN(&c, "--max-ops", "2") == 0, "%s", err);
	ck_assert_str_eq(c.config_file, "");
	ck_assert_uint_eq(c.max_ops, 2);

	/* Present: read, recorded, and below env and options. */
	write_file("helix/helix.conf", "max_ops = 9\nmax_nodes = 8\n"
	    "socket = /file.sock\n");
	ck_assert_ptr_nonnull(realpath(want, real));
	setenv("HELIX_SOCKET", "/env.sock", 1);
	ck_assert_msg(RUN(&c, "--max-ops", "2") == 0, "%s", err);
	ck_assert_str_eq(c.config_file, real);
	ck_assert_uint_eq(c.max_ops, 2);
	ck_assert_uint_eq(c.max_nodes, 8);
	ck_assert_str_eq(c.socket, "/env.sock");

	/* --config '' skips it; --config FILE replaces it. */
	ck_assert_int_eq(RUN(&c, "--config", ""), 0);
	ck_assert_uint_eq(c.max_nodes, 10000);
	ck_assert_int_eq(RUN(&c, "--config", (char *)write_file("o.conf",
	    "max_edges = 1\n")), 0);
	ck_assert_uint_eq(c.max_nodes, 10000);
	ck_assert_uint_eq(c.max_edges, 1);

	/* Present but broken: an error, not silently skipped. */
	write_file("helix/helix.conf", "max_ops = many\n");
	ck_assert_int_eq(RUN(&c), -1);
	ck_assert_err("helix/helix.conf:1: bad value 'many' for max_ops");
}
END_TEST

/* ---- computed paths ------------------------------------------------------ */

START_TEST(test_default_socket)
{
	char	buf[PATH_MAX], want[64];

	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	ck_assert_int_eq(config_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/run/user/1000/helix/helixd.sock");

	snprintf(want, sizeof want, "/tmp/helix-%lu/helixd.sock",
	    (unsigned long)getuid());
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(config_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);
	setenv("XDG_RUNTIME_DIR", "", 1);
	ck_assert_int_eq(config_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);
	setenv("XDG_RUNTIME_DIR", "run/rel", 1);
	ck_assert_int_eq(config_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);

	errno = 0;
	ck_assert_int_eq(config_default_socket(buf, 10), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);

	/* config_defaults() uses it; config_check() rejects a long one. */
	{
		struct helix_config	c;
		char			dir[200];

		memset(dir, 'd', sizeof dir - 1);
		dir[0] = '/';
		dir[sizeof dir - 1] = '\0';
		setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
		config_defaults(&c);
		ck_assert_str_eq(c.socket, "/run/user/7/helix/helixd.sock");
		setenv("XDG_RUNTIME_DIR", dir, 1);
		config_defaults(&c);
		ck_assert_int_eq(config_check(&c, err, sizeof err), -1);
		ck_assert_err("is longer than 107 bytes");
		ck_assert_int_eq(RUN(&c, "--config", "", "--socket", "/s"), 0);
	}
}
END_TEST

START_TEST(test_default_state_dir)
{
	struct passwd	*pw;
	char		 buf[PATH_MAX], want[PATH_MAX];

	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	ck_assert_int_eq(config_default_state_dir(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/xdg/state/helix");

	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/u", 1);
	ck_assert_int_eq(config_default_state_dir(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/home/u/.local/state/helix");
	setenv("XDG_STATE_HOME", "not/absolute", 1);
	ck_assert_int_eq(config_default_state_dir(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/home/u/.local/state/helix");

	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	pw = getpwuid(getuid());
	if (pw != NULL) {
		snprintf(want, sizeof want, "%s/.local/state/helix",
		    pw->pw_dir);
		ck_assert_int_eq(config_default_state_dir(buf, sizeof buf), 0);
		ck_assert_str_eq(buf, want);
	}
	setenv("HOME", "/home/u", 1);
	errno = 0;
	ck_assert_int_eq(config_default_state_dir(buf, 8), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

/* ---- reload -------------------------------------------------------------- */

START_TEST(test_reloadable_lists)
{
	static const char *const yes[] = {
		"log_level", "idle_timeout", "call_timeout_ms",
		"shutdown_timeout_ms", "watchdog_timeout_ms",
		"heartbeat_interval_ms", "max_restarts", "max_seconds",
		"restart_cooldown", "max_restarts_total",
		"max_restarts_total_seconds", "escalate",
		"max_clients_per_flow", "max_sessions", "max_queue",
		"client_output_limit", "slow_client_timeout",
		"max_message_bytes", "max_connections",
	};
	static const char *const no[] = {
		"socket", "socket_mode", "socket_group", "state_dir", "worker",
		"pidfile", "daemonize", "sync", "sync_interval_ms", "map_size",
		"max_flow_bytes", "max_nodes", "max_edges", "max_data_bytes",
		"max_ops", "history_length",
	};
	size_t	i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
		ck_assert_msg(config_key_reloadable(yes[i]), "%s", yes[i]);
	for (i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!config_key_reloadable(no[i]), "%s", no[i]);
	ck_assert_uint_eq(sizeof yes / sizeof yes[0] + sizeof no / sizeof no[0],
	    NKEYS);
}
END_TEST

START_TEST(test_apply_reloadable)
{
	struct helix_config	live, fresh, orig;
	char			want[PATH_MAX];
	size_t			i;
	int			nreload = 0;

	config_defaults(&live);
	orig = live;
	config_defaults(&fresh);
	for (i = 0; i < NKEYS; i++) {
		ck_assert_int_eq(config_set(&fresh, keys[i].key, keys[i].value,
		    err, sizeof err), 0);
		nreload += keys[i].reload;
	}
	ck_assert_int_eq(config_apply_reloadable(&live, &fresh), nreload);
	for (i = 0; i < NKEYS; i++) {
		snprintf(want, sizeof want, "%s", keys[i].reload ?
		    get(&fresh, keys[i].key) : get(&orig, keys[i].key));
		ck_assert_msg(strcmp(get(&live, keys[i].key), want) == 0,
		    "%s: got '%s', want '%s'", keys[i].key,
		    get(&live, keys[i].key), want);
	}
	ck_assert_int_eq(config_apply_reloadable(&live, &fresh), 0);

	/* One change counts one. */
	fresh = live;
	ck_assert_int_eq(config_set(&fresh, "max_queue", "77", err,
	    sizeof err), 0);
	ck_assert_int_eq(config_set(&fresh, "map_size", "3G", err, sizeof err),
	    0);
	ck_assert_int_eq(config_apply_reloadable(&live, &fresh), 1);
	ck_assert_uint_eq(live.max_queue, 77);
	ck_assert_uint_eq(live.map_size, GiB);
}
END_TEST

START_TEST(test_reload)
{
	struct helix_config	 live, fresh;
	char			 cwd[PATH_MAX];
	char			*argv[] = { "helixd", "--config", "r.conf",
				    "--log-level", "debug", NULL };

	write_file("r.conf", "max_sessions = 7\nlog_level = warn\n");
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(tmp), 0);
	ck_assert_msg(run_argv(&live, argv) == 0, "%s", err);
	/* The daemon may chdir("/"): the recorded path must still work. */
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_uint_eq(live.max_sessions, 7);
	ck_assert_int_eq(live.log_level, HLOG_DEBUG);
	ck_assert_int_eq(live.config_file[0], '/');

	write_file("r.conf", "max_sessions = 9\nlog_level = error\n"
	    "sync = none\n");
	optind = 0;
	ck_assert_msg(config_reload(&fresh, &live, 5, argv, err,
	    sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(fresh.max_sessions, 9);
	ck_assert_int_eq(fresh.log_level, HLOG_DEBUG);	/* option wins */
	ck_assert_int_eq(fresh.sync, SYNC_NONE);
	ck_assert_int_eq(config_apply_reloadable(&live, &fresh), 1);
	ck_assert_uint_eq(live.max_sessions, 9);
	ck_assert_int_eq(live.sync, SYNC_FULL);		/* needs a restart */

	/* A broken file on reload: an error, live untouched by the caller. */
	write_file("r.conf", "max_sessions = lots\n");
	ck_assert_int_eq(config_reload(&fresh, &live, 5, argv, err,
	    sizeof err), -1);
	ck_assert_err("r.conf:1: bad value 'lots' for max_sessions");

	/* fresh and live may be the same struct. */
	write_file("r.conf", "max_sessions = 3\n");
	ck_assert_int_eq(config_reload(&live, &live, 5, argv, err,
	    sizeof err), 0);
	ck_assert_uint_eq(live.max_sessions, 3);
	ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

/* ---- dump, usage, example ------------------------------------------------ */

START_TEST(test_dump_round_trip)
{
	struct helix_config	 c, back;
	char			 path[PATH_MAX], line[PATH_MAX];
	FILE			*f;
	size_t			 i, n = 0;

	config_defaults(&c);
	for (i = 0; i < NKEYS; i++)
		ck_assert_int_eq(config_set(&c, keys[i].key, keys[i].value,
		    err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/dump.conf", tmp);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	config_dump(f, &c);
	ck_assert_int_eq(fclose(f), 0);

	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_str_eq(line, "# config file: none\n");
	while (fgets(line, sizeof line, f) != NULL)
		n++;
	fclose(f);
	ck_assert_uint_eq(n, NKEYS);

	config_defaults(&back);
	ck_assert_msg(config_load_file(&back, path, err, sizeof err) == 0, "%s",
	    err);
	for (i = 0; i < NKEYS; i++)
		ck_assert_str_eq(get(&back, keys[i].key), keys[i].back);
}
END_TEST

START_TEST(test_usage)
{
	char		 path[PATH_MAX], *text;
	FILE		*f;
	long		 len;
	const char	*name;
	char		 opt[128];
	size_t		 i, j;

	snprintf(path, sizeof path, "%s/usage.txt", tmp);
	ck_assert_ptr_nonnull(f = fopen(path, "w+"));
	config_usage(f, "helixd");
	len = ftell(f);
	ck_assert_int_gt(len, 0);
	rewind(f);
	ck_assert_ptr_nonnull(text = calloc(1, (size_t)len + 1));
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);

	ck_assert_ptr_nonnull(strstr(text, "usage: helixd [--config FILE]"));
	ck_assert_ptr_nonnull(strstr(text, "--max-sessions N"));
	ck_assert_ptr_nonnull(strstr(text, "--daemonize[=BOOL]"));
	ck_assert_ptr_nonnull(strstr(text, "--sync full|batch|none"));
	ck_assert_ptr_nonnull(strstr(text, "(default: 1000)"));
	ck_assert_ptr_nonnull(strstr(text, "(default: 0600)"));
	ck_assert_ptr_nonnull(strstr(text, "--help"));
	ck_assert_ptr_nonnull(strstr(text, "--version"));
	for (i = 0; (name = config_key_name(i)) != NULL; i++) {
		snprintf(opt, sizeof opt, "--%s", name);
		for (j = 0; opt[j] != '\0'; j++)
			opt[j] = opt[j] == '_' ? '-' : opt[j];
		ck_assert_msg(strstr(text, opt) != NULL, "%s not in usage",
		    opt);
	}
	free(text);
}
END_TEST

/* common/helix.conf.example, found from this binary and __FILE__. */
static FILE *
open_example(void)
{
	char	exe[PATH_MAX], path[PATH_MAX * 2], *slash;
	ssize_t	n;
	int	i;

	if (__FILE__[0] == '/')
		snprintf(path, sizeof path, "%s", __FILE__);
	else {
		n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		ck_assert_int_gt(n, 0);
		exe[n] = '\0';
		/* builddir/tests/test_config: the compiler ran in builddir. */
		for (i = 0; i < 2; i++) {
			ck_assert_ptr_nonnull(slash = strrchr(exe, '/'));
			*slash = '\0';
		}
		snprintf(path, sizeof path, "%s/%s", exe, __FILE__);
	}
	ck_assert_ptr_nonnull(slash = strrchr(path, '/'));
	snprintf(slash, sizeof path - (size_t)(slash - path),
	    "/../common/helix.conf.example");
	return (fopen(path, "r"));
}

START_TEST(test_example_file)
{
	struct helix_config	 def, c;
	FILE			*f;
	char			 line[1024], want[PATH_MAX], *eq, *key, *value;
	size_t			 i, seen[NKEYS] = { 0 };

	f = open_example();
	ck_assert_msg(f != NULL, "common/helix.conf.example not found");
	config_defaults(&def);
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		/* "#key = value" lines; "# " lines are prose. */
		if (line[0] != '#' || line[1] == ' ' || line[1] == '\0' ||
		    (eq = strstr(line, " =")) == NULL)
			continue;
		*eq = '\0';
		key = line + 1;
		value = eq + 2 + (eq[2] == ' ');
		for (i = 0; i < NKEYS; i++) {
			if (strcmp(keys[i].key, key) == 0)
				break;
		}
		ck_assert_msg(i < NKEYS, "example: unknown key '%s'", key);
		seen[i]++;
		if (keys[i].def == NULL)
			continue;		/* computed: prose */
		c = def;
		ck_assert_msg(config_set(&c, key, value, err, sizeof err) == 0,
		    "example: %s", err);
		snprintf(want, sizeof want, "%s", get(&def, key));
		ck_assert_msg(strcmp(get(&c, key), want) == 0,
		    "example: %s = %s, but the default is %s", key, value,
		    want);
	}
	fclose(f);
	for (i = 0; i < NKEYS; i++)
		ck_assert_msg(seen[i] == 1, "example: %s appears %zu times",
		    keys[i].key, seen[i]);
}
END_TEST

/* ---- log ----------------------------------------------------------------- */

static int	cap_fd = -1, cap_saved = -1;

static void
cap_begin(void)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof path, "%s/stderr.XXXXXX", tmp);
	ck_assert_int_ge(cap_fd = mkstemp(path), 0);
	ck_assert_int_ge(cap_saved = dup(STDERR_FILENO), 0);
	ck_assert_int_eq(dup2(cap_fd, STDERR_FILENO), STDERR_FILENO);
}

/* Stop capturing; what was written, NUL-terminated. */
static char *
cap_end(void)
{
	static char	buf[4 * LOG_LINE_MAX];
	ssize_t		n;

	ck_assert_int_eq(dup2(cap_saved, STDERR_FILENO), STDERR_FILENO);
	close(cap_saved);
	ck_assert_int_eq(lseek(cap_fd, 0, SEEK_SET), 0);
	n = read(cap_fd, buf, sizeof buf - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(cap_fd);
	return (buf);
}

static size_t
count_lines(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return (n);
}

/* "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " */
static void
check_ts(const char *line)
{
	const char	*pat = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t		 i;

	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd')
			ck_assert_msg(line[i] >= '0' && line[i] <= '9',
			    "bad ts in: %s", line);
		else
			ck_assert_msg(line[i] == pat[i], "bad ts in: %s", line);
	}
}

START_TEST(test_log_event)
{
	char	*out, want[256];

	cap_begin();
	log_event(HLOG_INFO, "abc", "session.start", " key=%s n=%d",
	    log_q("value"), 42);
	out = cap_end();
	ck_assert_uint_eq(count_lines(out), 1);
	ck_assert_int_eq(out[strlen(out) - 1], '\n');
	check_ts(out);
	snprintf(want, sizeof want, " level=info prog=helixd pid=%ld "
	    "event=session.start flow=abc key=value n=42\n", (long)getpid());
	ck_assert_str_eq(out + strlen("ts=2026-11-27T08:40:00.123Z"), want);

	/* No flow, no fmt; a flow that needs quoting is quoted. */
	cap_begin();
	log_event(HLOG_WARN, NULL, "sys.start", NULL);
	log_event(HLOG_ERROR, "a b", "x.y", " why=%s", log_q("it broke"));
	out = cap_end();
	ck_assert_uint_eq(count_lines(out), 2);
	ck_assert_ptr_nonnull(strstr(out, " level=warn prog=helixd pid="));
	ck_assert_ptr_nonnull(strstr(out, " event=sys.start\n"));
	ck_assert(strstr(out, " flow=") > strchr(out, '\n'));
	ck_assert_ptr_nonnull(strstr(out,
	    " level=error prog=helixd pid="));
	ck_assert_ptr_nonnull(strstr(out,
	    " event=x.y flow=\"a b\" why=\"it broke\"\n"));

	/* All LOG_Q_NBUF log_q() values survive, even with a quoted flow. */
	cap_begin();
	log_event(HLOG_INFO, "f l", "many", " a=%s b=%s c=%s d=%s e=%s f=%s "
	    "g=%s h=%s", log_q("1 1"), log_q("2 2"), log_q("3 3"),
	    log_q("4 4"), log_q("5 5"), log_q("6 6"), log_q("7 7"),
	    log_q("8 8"));
	out = cap_end();
	ck_assert_ptr_nonnull(strstr(out, " event=many flow=\"f l\" a=\"1 1\" "
	    "b=\"2 2\" c=\"3 3\" d=\"4 4\" e=\"5 5\" f=\"6 6\" g=\"7 7\" "
	    "h=\"8 8\"\n"));

	/* A raw newline from a careless %s does not split the event. */
	cap_begin();
	log_event(HLOG_INFO, NULL, "e", " raw=%s", "a\nb");
	out = cap_end();
	ck_assert_uint_eq(count_lines(out), 1);
	ck_assert_ptr_nonnull(strstr(out, " raw=a?b\n"));
}
END_TEST

START_TEST(test_log_levels)
{
	enum log_level	 l;
	char		*out;

	ck_assert_int_eq(log_level_parse("error", &l), 0);
	ck_assert_int_eq(l, HLOG_ERROR);
	ck_assert_int_eq(log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, HLOG_WARN);
	ck_assert_int_eq(log_level_parse("info", &l), 0);
	ck_assert_int_eq(l, HLOG_INFO);
	ck_assert_int_eq(log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, HLOG_DEBUG);
	ck_assert_int_eq(log_level_parse("trace", &l), -1);
	ck_assert_int_eq(log_level_parse("", &l), -1);
	ck_assert_int_eq(log_level_parse("INFO", &l), -1);
	ck_assert_str_eq(log_level_name(HLOG_WARN), "warn");
	ck_assert_str_eq(log_level_name((enum log_level)99), "unknown");

	log_set_level(HLOG_WARN);
	ck_assert_int_eq(log_get_level(), HLOG_WARN);
	cap_begin();
	log_debug("no");
	log_info("no");
	log_event(HLOG_INFO, NULL, "no", NULL);
	log_warnx("yes %d", 1);
	log_event(HLOG_ERROR, NULL, "yes", NULL);
	out = cap_end();
	ck_assert_uint_eq(count_lines(out), 2);
	ck_assert_ptr_null(strstr(out, "no"));
	ck_assert_ptr_nonnull(strstr(out, " event=log msg=\"yes 1\"\n"));

	log_set_level(HLOG_DEBUG);
	cap_begin();
	log_debug("d");
	log_info("i");
	out = cap_end();
	ck_assert_uint_eq(count_lines(out), 2);
	ck_assert_ptr_nonnull(strstr(out, "level=debug"));
	ck_assert_ptr_nonnull(strstr(out, " event=log msg=\"d\"\n"));
	ck_assert_ptr_nonnull(strstr(out, " event=log msg=\"i\"\n"));
}
END_TEST

START_TEST(test_log_warn)
{
	char	*out;

	cap_begin();
	errno = ENOENT;
	log_warn("open %s", "/x y");
	ck_assert_int_eq(errno, ENOENT);	/* left as it was */
	errno = EACCES;
	log_warnx("plain \"quoted\"");
	ck_assert_int_eq(errno, EACCES);
	out = cap_end();
	ck_assert_uint_eq(count_lines(out), 2);
	ck_assert_ptr_nonnull(strstr(out, " level=warn prog=helixd"));
	ck_assert_ptr_nonnull(strstr(out,
	    " event=log msg=\"open /x y\" err=\"No such file or directory\""
	    "\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    " event=log msg=\"plain \\\"quoted\\\"\"\n"));
}
END_TEST

START_TEST(test_log_truncate)
{
	char	*big, *out;
	size_t	 len;

	ck_assert_ptr_nonnull(big = malloc(3 * LOG_LINE_MAX));
	memset(big, 'v', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	cap_begin();
	log_event(HLOG_INFO, "f", "big", " v=%s", big);
	log_info("%s", big);
	/* A line of exactly LOG_LINE_MAX bytes is not cut. */
	log_event(HLOG_INFO, NULL, "fit", " v=%s", big + 3 * LOG_LINE_MAX - 1 -
	    (LOG_LINE_MAX - 1 - strlen("ts=2026-11-27T08:40:00.123Z "
	    "level=info prog=helixd pid=") - (size_t)snprintf(NULL, 0, "%ld",
	    (long)getpid()) - strlen(" event=fit v=")));
	out = cap_end();
	free(big);
	ck_assert_uint_eq(count_lines(out), 3);

	len = strcspn(out, "\n") + 1;
	ck_assert_uint_eq(len, LOG_LINE_MAX);
	ck_assert(strncmp(out + len - strlen(LOG_TRUNCATED) - 1,
	    LOG_TRUNCATED "\n", strlen(LOG_TRUNCATED) + 1) == 0);

	out += len;
	len = strcspn(out, "\n") + 1;
	ck_assert_uint_le(len, LOG_LINE_MAX);
	ck_assert(strncmp(out + len - strlen(LOG_TRUNCATED) - 1,
	    LOG_TRUNCATED "\n", strlen(LOG_TRUNCATED) + 1) == 0);

	out += len;
	len = strcspn(out, "\n") + 1;
	ck_assert_uint_eq(len, LOG_LINE_MAX);
	ck_assert_ptr_null(strstr(out, LOG_TRUNCATED));
}
END_TEST

/* A cut never leaves half a UTF-8 character. */
START_TEST(test_log_truncate_utf8)
{
	char		*big, *out;
	const char	*q;
	size_t		 i, len;

	ck_assert_ptr_nonnull(big = malloc(2 * LOG_LINE_MAX + 1));
	for (i = 0; i + 2 <= 2 * LOG_LINE_MAX; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);		/* é */
	big[i] = '\0';
	for (i = 0; i < 2; i++) {
		cap_begin();
		log_event(HLOG_INFO, NULL, i == 0 ? "e" : "ee", " v=%s", big);
		out = cap_end();
		len = strlen(out);
		ck_assert_uint_le(len, LOG_LINE_MAX);
		/* the byte before the marker ends a character */
		ck_assert_int_eq((unsigned char)out[len - strlen(LOG_TRUNCATED)
		    - 2], 0xa9);
	}
	/* log_q too; the space makes it need quoting. */
	big[0] = ' ';
	big[1] = ' ';
	q = log_q(big);
	len = strlen(q);
	ck_assert_uint_le(len, LOG_Q_SIZE - 1);
	ck_assert_str_eq(q + len - 4, "...\"");
	ck_assert_int_eq((unsigned char)q[len - 5], 0xa9);
	big[2] = ' ';
	q = log_q(big);
	len = strlen(q);
	ck_assert_str_eq(q + len - 4, "...\"");
	ck_assert_int_eq((unsigned char)q[len - 5], 0xa9);
	free(big);
}
END_TEST

START_TEST(test_log_q)
{
	static const struct {
		const char	*in;
		const char	*want;
	} t[] = {
		{ "abc", "abc" },
		{ "/path/to-file_1.sock", "/path/to-file_1.sock" },
		{ "h\xc3\xa9llo", "h\xc3\xa9llo" },
		{ "", "\"\"" },
		{ "a b", "\"a b\"" },
		{ "a\"b", "\"a\\\"b\"" },
		{ "a=b", "\"a=b\"" },
		{ "a\\b", "\"a\\\\b\"" },
		{ "a\nb", "\"a\\nb\"" },
		{ "a\rb\tc", "\"a\\rb\\tc\"" },
		{ "\x01\x7f", "\"\\x01\\x7f\"" },
		{ "No such file", "\"No such file\"" },
	};
	const char	*r[LOG_Q_NBUF + 1], *plain = "plain";
	char		*big;
	size_t		 i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		ck_assert_msg(strcmp(log_q(t[i].in), t[i].want) == 0,
		    "log_q(%s): got %s, want %s", t[i].in, log_q(t[i].in),
		    t[i].want);
	ck_assert_str_eq(log_q(NULL), "\"\"");
	ck_assert_ptr_eq(log_q(plain), plain);

	/* LOG_Q_NBUF results stay valid at once; the next reuses the first. */
	for (i = 0; i < LOG_Q_NBUF + 1; i++) {
		char	in[16];

		snprintf(in, sizeof in, "v %zu", i);
		r[i] = log_q(in);
	}
	for (i = 1; i < LOG_Q_NBUF + 1; i++) {
		char	want[16];

		snprintf(want, sizeof want, "\"v %zu\"", i);
		ck_assert_str_eq(r[i], want);
	}
	ck_assert_ptr_eq(r[0], r[LOG_Q_NBUF]);

	/* Too long for a buffer: cut, and still closed. */
	ck_assert_ptr_nonnull(big = malloc(2 * LOG_Q_SIZE));
	memset(big, ' ', 2 * LOG_Q_SIZE - 1);
	big[2 * LOG_Q_SIZE - 1] = '\0';
	ck_assert_uint_eq(strlen(log_q(big)), LOG_Q_SIZE - 1);
	ck_assert_str_eq(log_q(big) + LOG_Q_SIZE - 5, "...\"");
	/* Exactly fits: LOG_Q_SIZE - 3 bytes plus two quotes and the NUL. */
	big[LOG_Q_SIZE - 3] = '\0';
	ck_assert_uint_eq(strlen(log_q(big)), LOG_Q_SIZE - 1);
	ck_assert_int_eq(log_q(big)[LOG_Q_SIZE - 3], ' ');
	free(big);
}
END_TEST

START_TEST(test_fatalx)
{
	int	fd;

	if (srunner_fork_status(runner) == CK_NOFORK)
		return;		/* it would end the whole run */
	/* Out of the way of the test output; the exit status is checked. */
	ck_assert_int_ge(fd = open("/dev/null", O_WRONLY), 0);
	dup2(fd, STDERR_FILENO);
	fatalx("giving up on %s", "purpose");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc;

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table_covers_every_key);
	tcase_add_test(tc, test_defaults);
	tcase_add_loop_test(tc, test_set_every_key, 0, NKEYS);
	tcase_add_test(tc, test_set_fields);
	tcase_add_loop_test(tc, test_set_bad, 0, NBAD);
	tcase_add_test(tc, test_set_bad_text);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_dash_underscore);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_dump_round_trip);
	tcase_add_test(tc, test_example_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_args_forms);
	tcase_add_test(tc, test_args_errors);
	tcase_add_test(tc, test_args_help_version);
	tcase_add_test(tc, test_precedence);
	tcase_add_test(tc, test_default_file_root);
	tcase_add_test(tc, test_default_file_xdg);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_default_socket);
	tcase_add_test(tc, test_default_state_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reloadable_lists);
	tcase_add_test(tc, test_apply_reloadable);
	tcase_add_test(tc, test_reload);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_log_event);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_log_warn);
	tcase_add_test(tc, test_log_truncate);
	tcase_add_test(tc, test_log_truncate_utf8);
	tcase_add_test(tc, test_log_q);
	suite_add_tcase(s, tc);

	/* No fixture: the test exits, so a teardown would never run. */
	tc = tcase_create("fatal");
	tcase_add_exit_test(tc, test_fatalx, 1);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	int	failed;

	runner = srunner_create(config_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? 0 : 1);
}
