/*
 * config.c: the table of keys, and everything generated from it.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

#ifndef HELIX_LIBEXECDIR
#define HELIX_LIBEXECDIR "/usr/local/libexec"
#endif

enum config_type {
	CT_TEXT,		/* char array: a path or a name */
	CT_BOOL,		/* bool */
	CT_UINT,		/* unsigned int, decimal */
	CT_SIZE,		/* size_t, bytes with an optional K, M or G */
	CT_MODE,		/* mode_t, octal */
	CT_ENUM			/* an enum, by the names in names[] */
};

struct config_key {
	const char		*name;		/* also the field's name */
	enum config_type	 type;
	size_t			 off;
	size_t			 size;
	int			 flags;
#define CK_RELOAD	0x1	/* may change on SIGHUP */
#define CK_FLAG		0x2	/* bool: --key alone means true */
	unsigned long long	 min;		/* CT_TEXT: length */
	unsigned long long	 max;
	const char *const	*names;		/* CT_ENUM */
	const char		*def;		/* NULL: computed */
	const char		*meta;		/* the value in --help */
	const char		*desc;
};

#define KiB	1024ULL
#define MiB	(1024ULL * KiB)
#define GiB	(1024ULL * MiB)
#define TiB	(1024ULL * GiB)
#define SIZE_CAP(n) ((n) < SIZE_MAX ? (n) : (unsigned long long)SIZE_MAX)

#define SUN_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/*
 * The field of a key, checked at compile time: a table row whose type does
 * not match its field is a negative array size, not a silent overwrite.
 */
#define FIELD_OF(f)	(((struct helix_config *)0)->f)
#define FIELD(f, T)							\
	offsetof(struct helix_config, f) +				\
	0 * sizeof(char[_Generic(FIELD_OF(f), T: 1, default: -1)]),	\
	sizeof(FIELD_OF(f))
/* enums are compatible with unsigned int in gcc: check the size instead. */
#define FIELD_ENUM(f)							\
	offsetof(struct helix_config, f) +				\
	0 * sizeof(char[sizeof(FIELD_OF(f)) == sizeof(int) ? 1 : -1]),	\
	sizeof(FIELD_OF(f))

#define K_TEXT(k, fl, lo, hi, d, m, s)					\
	{ #k, CT_TEXT, FIELD(k, char *), fl, lo, hi, NULL, d, m, s }
#define K_BOOL(k, fl, d, s)						\
	{ #k, CT_BOOL, FIELD(k, bool), fl, 0, 1, NULL, d, "BOOL", s }
#define K_UINT(k, fl, lo, hi, d, m, s)					\
	{ #k, CT_UINT, FIELD(k, unsigned int), fl, lo, hi, NULL, d, m, s }
#define K_SIZE(k, fl, lo, hi, d, s)					\
	{ #k, CT_SIZE, FIELD(k, size_t), fl, lo, SIZE_CAP(hi), NULL, d,	\
	    "SIZE", s }
#define K_MODE(k, fl, d, s)						\
	{ #k, CT_MODE, FIELD(k, mode_t), fl, 0, 0777, NULL, d, "MODE", s }
#define K_ENUM(k, fl, n, d, m, s)					\
	{ #k, CT_ENUM, FIELD_ENUM(k), fl, 0,				\
	    sizeof(n) / sizeof(n[0]) - 1, n, d, m, s }

#define R	CK_RELOAD

static const char *const config_escalate_names[] = { "throttle", "exit" };
static const char *const config_sync_names[] = { "full", "batch", "none" };
/* In enum log_level's order. */
static const char *const config_log_names[] = {
	"error", "warn", "info", "debug"
};

static const struct config_key config_keys[] = {
	K_TEXT(socket, 0, 1, SUN_PATH_MAX, NULL, "PATH",
	    "Unix socket the master listens on"),
	K_MODE(socket_mode, 0, "0600",
	    "permissions of the socket, in octal"),
	K_TEXT(socket_group, 0, 0, CONFIG_GROUP_MAX - 1, "", "GROUP",
	    "group to own the socket; empty: the daemon's own"),
	K_TEXT(state_dir, 0, 1, PATH_MAX - 1, NULL, "DIR",
	    "directory of the store and of run-time state"),
	K_TEXT(worker, 0, 0, PATH_MAX - 1, "", "PATH",
	    "helix-worker program; empty: beside helixd, else in "
	    HELIX_LIBEXECDIR),
	K_TEXT(pidfile, 0, 0, PATH_MAX - 1, "", "PATH",
	    "file to write the master's pid to; empty: none"),
	K_BOOL(daemonize, CK_FLAG, "false",
	    "detach from the terminal and run in the background"),

	K_UINT(max_sessions, R, 1, 100000, "1000", "N",
	    "live sessions (worker processes) at once"),
	K_UINT(max_clients_per_flow, R, 1, 100000, "1000", "N",
	    "clients joined to one flow at once"),
	K_UINT(max_connections, R, 1, 1000000, "10000", "N",
	    "client connections at once"),
	K_UINT(idle_timeout, R, 0, 31536000, "1800", "SECONDS",
	    "stop a session with no clients and no requests for this long; "
	    "0: never"),

	K_UINT(call_timeout_ms, R, 10, 3600000, "5000", "MS",
	    "time a worker has to answer a request"),
	K_UINT(shutdown_timeout_ms, R, 10, 3600000, "5000", "MS",
	    "time a stopping worker has before SIGKILL"),
	K_UINT(watchdog_timeout_ms, R, 0, 10800000, "0", "MS",
	    "kill a worker that has answered nothing, not even a heartbeat, "
	    "for this long; 0: 3 x call_timeout_ms"),
	K_UINT(heartbeat_interval_ms, R, 10, 3600000, "1000", "MS",
	    "interval of the liveness pings between master and worker"),

	K_UINT(max_restarts, R, 0, 255, "10", "N",
	    "restarts of one session allowed within max_seconds"),
	K_UINT(max_seconds, R, 1, 86400, "60", "SECONDS",
	    "the window of max_restarts"),
	K_UINT(restart_cooldown, R, 0, 86400, "30", "SECONDS",
	    "how long a session over max_restarts stays parked (failed)"),
	K_UINT(max_restarts_total, R, 0, 1000000, "200", "N",
	    "restarts of all sessions allowed within "
	    "max_restarts_total_seconds"),
	K_UINT(max_restarts_total_seconds, R, 1, 86400, "60", "SECONDS",
	    "the window of max_restarts_total"),
	K_ENUM(escalate, R, config_escalate_names, "throttle", "throttle|exit",
	    "past max_restarts_total: throttle (delay every restart) or exit 3"),

	K_ENUM(sync, 0, config_sync_names, "full", "full|batch|none",
	    "durability: fsync before each reply, every sync_interval_ms, "
	    "or never"),
	K_UINT(sync_interval_ms, 0, 1, 60000, "100", "MS",
	    "fsync interval when sync is batch"),
	K_SIZE(map_size, 0, MiB, TiB, "1G",
	    "initial LMDB map size; it doubles on demand up to max(64G, 16 x this)"),
	K_UINT(history_length, 0, 0, 10000000, "1000", "N",
	    "updates kept per flow for flow.history and catching up"),

	K_SIZE(max_message_bytes, R, KiB, GiB, "1M",
	    "largest message a client may send"),
	K_SIZE(max_flow_bytes, 0, KiB, 4 * GiB, "16M",
	    "largest encoded flow document"),
	K_UINT(max_nodes, 0, 1, 10000000, "10000", "N",
	    "nodes per flow"),
	K_UINT(max_edges, 0, 0, 10000000, "50000", "N",
	    "edges per flow"),
	K_SIZE(max_data_bytes, 0, 0, GiB, "64K",
	    "encoded data per node or edge"),
	K_UINT(max_ops, 0, 1, 1000000, "1000", "N",
	    "ops in one flow.apply"),

	K_UINT(max_queue, R, 1, 10000000, "10000", "N",
	    "requests waiting for one session before 'overloaded'"),
	K_SIZE(client_output_limit, R, KiB, GiB, "4M",
	    "unsent output per client before the master stops reading it"),
	K_UINT(slow_client_timeout, R, 1, 86400, "30", "SECONDS",
	    "disconnect a client whose output has not drained for this long"),

	K_ENUM(log_level, R, config_log_names, "info", "error|warn|info|debug",
	    "log events of this level and above"),
};
#define CONFIG_NKEYS	(sizeof config_keys / sizeof config_keys[0])
#define CONFIG_NAME_MAX	64	/* longest key, with room */

/* getopt_long values of the options that are not keys; keys are 256 + i. */
#define OPT_CONFIG	1
#define OPT_KEY		256

static void	config_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Key names compare with '-' and '_' as the same character. */
static int
config_name_eq(const char *a, const char *b)
{
	char	x, y;

	for (; *a != '\0' && *b != '\0'; a++, b++) {
		x = *a == '-' ? '_' : *a;
		y = *b == '-' ? '_' : *b;
		if (x != y)
			return (0);
	}
	return (*a == *b);
}

static const struct config_key *
config_find(const char *name)
{
	size_t	i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_name_eq(config_keys[i].name, name))
			return (&config_keys[i]);
	}
	return (NULL);
}

/* Decimal digits only: no sign, no space, no 0x; *end at the first other. */
static int
config_parse_ull(const char *s, unsigned long long *v, const char **end)
{
	unsigned long long	n = 0;
	unsigned int		d;
	const char		*p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		d = (unsigned int)(*p - '0');
		if (n > (ULLONG_MAX - d) / 10)
			return (-1);
		n = n * 10 + d;
	}
	if (p == s)
		return (-1);
	*v = n;
	*end = p;
	return (0);
}

/* 1048576 -> "1M"; a size that is no whole K, M or G stays in bytes. */
static void
config_fmt_size(char *buf, size_t len, unsigned long long v)
{
	if (v != 0 && v % GiB == 0)
		snprintf(buf, len, "%lluG", v / GiB);
	else if (v != 0 && v % MiB == 0)
		snprintf(buf, len, "%lluM", v / MiB);
	else if (v != 0 && v % KiB == 0)
		snprintf(buf, len, "%lluK", v / KiB);
	else
		snprintf(buf, len, "%llu", v);
}

/* What a key accepts, for error messages: "an integer from 0 to 100". */
static void
config_expected(const struct config_key *k, char *buf, size_t len)
{
	char	lo[32], hi[32];
	size_t	i, n;

	switch (k->type) {
	case CT_TEXT:
		if (k->min > 0)
			snprintf(buf, len, "a non-empty value of at most %llu "
			    "bytes", k->max);
		else
			snprintf(buf, len, "at most %llu bytes", k->max);
		break;
	case CT_BOOL:
		snprintf(buf, len, "true or false (or yes/no, on/off, 1/0)");
		break;
	case CT_UINT:
		snprintf(buf, len, "an integer from %llu to %llu", k->min,
		    k->max);
		break;
	case CT_SIZE:
		config_fmt_size(lo, sizeof lo, k->min);
		config_fmt_size(hi, sizeof hi, k->max);
		snprintf(buf, len, "a size from %s to %s (bytes, or an integer "
		    "with suffix K, M or G)", lo, hi);
		break;
	case CT_MODE:
		snprintf(buf, len, "an octal mode from 0000 to %04llo", k->max);
		break;
	case CT_ENUM:
		n = (size_t)k->max + 1;
		snprintf(buf, len, "one of ");
		for (i = 0; i < n; i++) {
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    k->names[i], i + 2 < n ? ", " :
			    i + 1 < n ? " or " : "");
		}
		break;
	}
}

static int
config_parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t	i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*b = true;
			return (0);
		}
		if (strcmp(s, no[i]) == 0) {
			*b = false;
			return (0);
		}
	}
	return (-1);
}

static int
config_parse_size(const char *s, unsigned long long *v)
{
	unsigned long long	n, mult;
	const char		*end;

	if (config_parse_ull(s, &n, &end) == -1)
		return (-1);
	switch (*end) {
	case '\0':
		mult = 1;
		break;
	case 'k':
	case 'K':
		mult = KiB;
		break;
	case 'M':
		mult = MiB;
		break;
	case 'G':
		mult = GiB;
		break;
	default:
		return (-1);
	}
	if (*end != '\0' && end[1] != '\0')
		return (-1);
	if (n > ULLONG_MAX / mult)
		return (-1);
	*v = n * mult;
	return (0);
}

static int
config_parse_mode(const char *s, unsigned long long *v)
{
	unsigned long long	n = 0;
	const char		*p;

	if (*s == '\0')
		return (-1);
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return (-1);
		n = n * 8 + (unsigned long long)(*p - '0');
		if (n > 07777)		/* stop long before overflow */
			return (-1);
	}
	*v = n;
	return (0);
}

/* Parse value for k into the field at dst; -1 if it is not acceptable. */
static int
config_parse(const struct config_key *k, const char *value, void *dst)
{
	unsigned long long	 v;
	unsigned int		 u;
	size_t			 sz, i, len;
	mode_t			 m;
	bool			 b;
	int			 e;
	const char		*end;

	switch (k->type) {
	case CT_TEXT:
		len = strlen(value);
		if (len < k->min || len > k->max || len >= k->size)
			return (-1);
		memcpy(dst, value, len + 1);
		return (0);
	case CT_BOOL:
		if (config_parse_bool(value, &b) == -1)
			return (-1);
		memcpy(dst, &b, sizeof b);
		return (0);
	case CT_UINT:
		if (config_parse_ull(value, &v, &end) == -1 || *end != '\0' ||
		    v < k->min || v > k->max)
			return (-1);
		u = (unsigned int)v;
		memcpy(dst, &u, sizeof u);
		return (0);
	case CT_SIZE:
		if (config_parse_size(value, &v) == -1 || v < k->min ||
		    v > k->max)
			return (-1);
		sz = (size_t)v;
		memcpy(dst, &sz, sizeof sz);
		return (0);
	case CT_MODE:
		if (config_parse_mode(value, &v) == -1 || v < k->min ||
		    v > k->max)
			return (-1);
		m = (mode_t)v;
		memcpy(dst, &m, sizeof m);
		return (0);
	case CT_ENUM:
		for (i = 0; i <= k->max; i++) {
			if (strcmp(value, k->names[i]) == 0) {
				e = (int)i;
				memcpy(dst, &e, sizeof e);
				return (0);
			}
		}
		return (-1);
	}
	return (-1);
}

/* The value of k in c as text that config_set() reads back. */
static void
config_format(const struct config_key *k, const struct helix_config *c,
    char *buf, size_t len)
{
	const char	*src = (const char *)c + k->off;
	unsigned int	 u;
	size_t		 sz;
	mode_t		 m;
	bool		 b;
	int		 e;

	switch (k->type) {
	case CT_TEXT:
		snprintf(buf, len, "%s", src);
		break;
	case CT_BOOL:
		memcpy(&b, src, sizeof b);
		snprintf(buf, len, "%s", b ? "true" : "false");
		break;
	case CT_UINT:
		memcpy(&u, src, sizeof u);
		snprintf(buf, len, "%u", u);
		break;
	case CT_SIZE:
		memcpy(&sz, src, sizeof sz);
		config_fmt_size(buf, len, sz);
		break;
	case CT_MODE:
		memcpy(&m, src, sizeof m);
		snprintf(buf, len, "%04o", (unsigned int)m);
		break;
	case CT_ENUM:
		memcpy(&e, src, sizeof e);
		snprintf(buf, len, "%s", e >= 0 && (unsigned long long)e <=
		    k->max ? k->names[e] : "?");
		break;
	}
}

int
config_set(struct helix_config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct config_key	*k;
	char			 expected[256];

	if ((k = config_find(key)) == NULL) {
		config_err(err, errlen, "unknown key '%s'", key);
		return (-1);
	}
	if (value == NULL)
		value = "";
	if (config_parse(k, value, (char *)c + k->off) == -1) {
		config_expected(k, expected, sizeof expected);
		config_err(err, errlen, "bad value '%s' for %s: expected %s",
		    value, k->name, expected);
		return (-1);
	}
	return (0);
}

int
config_get(const struct helix_config *c, const char *key, char *buf,
    size_t len)
{
	const struct config_key	*k;

	if ((k = config_find(key)) == NULL) {
		errno = ENOENT;
		return (-1);
	}
	config_format(k, c, buf, len);
	return (0);
}

const char *
config_key_name(size_t i)
{
	if (i >= CONFIG_NKEYS)
		return (NULL);
	return (config_keys[i].name);
}

int
config_default_socket(char *buf, size_t len)
{
	const char	*dir;
	int		 n;

	dir = getenv("XDG_RUNTIME_DIR");
	if (dir != NULL && dir[0] == '/')
		n = snprintf(buf, len, "%s/helix/helixd.sock", dir);
	else
		n = snprintf(buf, len, "/tmp/helix-%lu/helixd.sock",
		    (unsigned long)getuid());
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* $HOME, or the password file's idea of it when HOME is unset or empty. */
static const char *
config_home(void)
{
	const char	*home;
	struct passwd	*pw;

	home = getenv("HOME");
	if (home != NULL && home[0] != '\0')
		return (home);
	if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL &&
	    pw->pw_dir[0] != '\0')
		return (pw->pw_dir);
	return (NULL);
}

/* "$XDG_<var>/tail" if that is absolute, else "$HOME/<fallback>/tail". */
static int
config_xdg_path(char *buf, size_t len, const char *var, const char *fallback,
    const char *tail)
{
	const char	*dir, *home;
	int		 n;

	dir = getenv(var);
	if (dir != NULL && dir[0] == '/')
		n = snprintf(buf, len, "%s/%s", dir, tail);
	else if ((home = config_home()) != NULL)
		n = snprintf(buf, len, "%s/%s/%s", home, fallback, tail);
	else {
		errno = ENOENT;
		return (-1);
	}
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
config_default_state_dir(char *buf, size_t len)
{
	return (config_xdg_path(buf, len, "XDG_STATE_HOME", ".local/state",
	    "helix"));
}

const char *
config_default_file(void)
{
	static char	path[PATH_MAX];

	/* root must not read a file named by a user's environment. */
	if (geteuid() == 0)
		return ("/etc/helix/helix.conf");
	if (config_xdg_path(path, sizeof path, "XDG_CONFIG_HOME", ".config",
	    "helix/helix.conf") == -1)
		return (NULL);
	return (path);
}

void
config_defaults(struct helix_config *c)
{
	const struct config_key	*k;
	char			 err[CONFIG_ERR_MAX];
	size_t			 i;

	memset(c, 0, sizeof *c);
	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		if (k->def == NULL)
			continue;
		/* A default the table itself rejects is our bug. */
		if (config_set(c, k->name, k->def, err, sizeof err) == -1)
			fatalx("config default: %s", err);
	}
	/* Left empty if they cannot be computed; config_check() says so. */
	if (config_default_socket(c->socket, sizeof c->socket) == -1)
		c->socket[0] = '\0';
	if (config_default_state_dir(c->state_dir, sizeof c->state_dir) == -1)
		c->state_dir[0] = '\0';
}

static char *
config_trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return (s);
}

int
config_load_file(struct helix_config *c, const char *path, char *err,
    size_t errlen)
{
	struct helix_config	 tmp = *c;
	FILE			*f;
	char			 line[PATH_MAX + 256], msg[CONFIG_ERR_MAX];
	char			*p, *eq, *key, *value;
	unsigned int		 lineno = 0;
	size_t			 len;

	if ((f = fopen(path, "re")) == NULL) {
		config_err(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) {
			config_err(err, errlen, "%s:%u: line too long", path,
			    lineno);
			goto fail;
		}
		/* '#' starts a comment where a word could start. */
		for (p = line; *p != '\0'; p++) {
			if (*p == '#' && (p == line ||
			    isspace((unsigned char)p[-1]))) {
				*p = '\0';
				break;
			}
		}
		p = config_trim(line);
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			config_err(err, errlen, "%s:%u: expected "
			    "'key = value', got '%s'", path, lineno, p);
			goto fail;
		}
		*eq = '\0';
		key = config_trim(p);
		value = config_trim(eq + 1);
		if (*key == '\0') {
			config_err(err, errlen, "%s:%u: missing key before '='",
			    path, lineno);
			goto fail;
		}
		if (config_set(&tmp, key, value, msg, sizeof msg) == -1) {
			config_err(err, errlen, "%s:%u: %s", path, lineno, msg);
			goto fail;
		}
	}
	if (ferror(f)) {
		config_err(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	*c = tmp;
	return (0);

fail:
	fclose(f);
	return (-1);
}

int
config_check(const struct helix_config *c, char *err, size_t errlen)
{
	unsigned int	wd = config_watchdog_ms(c);

	if (c->socket[0] == '\0') {
		config_err(err, errlen, "no socket path could be computed: "
		    "set socket, HELIX_SOCKET or --socket");
		return (-1);
	}
	/* A computed default skips config_set()'s length check. */
	if (strlen(c->socket) > SUN_PATH_MAX) {
		config_err(err, errlen, "socket path '%s' is longer than %zu "
		    "bytes: set socket, HELIX_SOCKET or --socket", c->socket,
		    SUN_PATH_MAX);
		return (-1);
	}
	if (c->state_dir[0] == '\0') {
		config_err(err, errlen, "no state_dir could be computed: set "
		    "state_dir, HELIX_STATE_DIR or --state-dir");
		return (-1);
	}
	/* Otherwise every worker would be declared hung between pings. */
	if (c->heartbeat_interval_ms >= wd) {
		config_err(err, errlen, "heartbeat_interval_ms (%u) must be "
		    "less than the watchdog timeout (%u ms)",
		    c->heartbeat_interval_ms, wd);
		return (-1);
	}
	if (c->max_data_bytes > c->max_flow_bytes) {
		config_err(err, errlen, "max_data_bytes (%zu) must not exceed "
		    "max_flow_bytes (%zu)", c->max_data_bytes,
		    c->max_flow_bytes);
		return (-1);
	}
	return (0);
}

unsigned int
config_watchdog_ms(const struct helix_config *c)
{
	if (c->watchdog_timeout_ms != 0)
		return (c->watchdog_timeout_ms);
	return (3 * c->call_timeout_ms);
}

/* The long options, from the table: --config, --help, --version, keys. */
static void
config_options(struct option *opts, char names[][CONFIG_NAME_MAX])
{
	const struct config_key	*k;
	size_t			 i, j;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		for (j = 0; k->name[j] != '\0' && j < CONFIG_NAME_MAX - 1; j++)
			names[i][j] = k->name[j] == '_' ? '-' : k->name[j];
		names[i][j] = '\0';
		opts[i].name = names[i];
		opts[i].has_arg = (k->flags & CK_FLAG) ? optional_argument :
		    required_argument;
		opts[i].flag = NULL;
		opts[i].val = OPT_KEY + (int)i;
	}
	opts[i++] = (struct option){ "config", required_argument, NULL,
	    OPT_CONFIG };
	opts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[i++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[i] = (struct option){ NULL, 0, NULL, 0 };
}

/* getopt_long() failed with ch: say which argument was wrong. */
static void
config_opt_err(int ch, char **argv, char *err, size_t errlen)
{
	const char	*arg = argv[optind - 1];

	if (strncmp(arg, "--", 2) != 0) {
		if (ch == ':')
			config_err(err, errlen, "option -%c needs a value",
			    optopt);
		else
			config_err(err, errlen, "unknown option -%c", optopt);
	} else if (ch == ':')
		config_err(err, errlen, "option %s needs a value", arg);
	else
		config_err(err, errlen, "unknown, ambiguous or misused option "
		    "'%s'", arg);
}

/*
 * Defaults, file, environment, command line.  file: NULL to take --config
 * or search for the default file; otherwise the file to read ("" none).
 */
static int
config_build(struct helix_config *c, int argc, char **argv, const char *file,
    char *err, size_t errlen)
{
	struct option		 opts[CONFIG_NKEYS + 4];
	char			 names[CONFIG_NKEYS][CONFIG_NAME_MAX];
	char			 msg[CONFIG_ERR_MAX];
	const struct config_key	*k;
	const char		*arg = NULL, *value;
	struct stat		 sb;
	int			 ch;

	config_defaults(c);
	config_options(opts, names);

	/* First pass: syntax, and what decides the rest. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return (CONFIG_HELP);
		case 'V':
			return (CONFIG_VERSION);
		case OPT_CONFIG:
			arg = optarg;
			break;
		case ':':
		case '?':
			config_opt_err(ch, argv, err, errlen);
			return (-1);
		default:
			break;
		}
	}
	if (optind < argc) {
		config_err(err, errlen, "unexpected argument '%s'",
		    argv[optind]);
		return (-1);
	}

	if (file == NULL && arg != NULL)
		file = arg;
	else if (file == NULL) {
		file = config_default_file();
		if (file != NULL && stat(file, &sb) == -1) {
			if (errno != ENOENT && errno != ENOTDIR) {
				config_err(err, errlen, "%s: %s", file,
				    strerror(errno));
				return (-1);
			}
			file = NULL;
		}
	}
	if (file != NULL && file[0] != '\0') {
		if (config_load_file(c, file, err, errlen) == -1)
			return (-1);
		/* Absolute, so SIGHUP finds it again after a chdir("/"). */
		if (realpath(file, c->config_file) == NULL) {
			config_err(err, errlen, "%s: %s", file,
			    strerror(errno));
			return (-1);
		}
	}

	if ((value = getenv("HELIX_SOCKET")) != NULL && value[0] != '\0' &&
	    config_set(c, "socket", value, msg, sizeof msg) == -1) {
		config_err(err, errlen, "HELIX_SOCKET: %s", msg);
		return (-1);
	}
	if ((value = getenv("HELIX_STATE_DIR")) != NULL && value[0] != '\0' &&
	    config_set(c, "state_dir", value, msg, sizeof msg) == -1) {
		config_err(err, errlen, "HELIX_STATE_DIR: %s", msg);
		return (-1);
	}

	/* Second pass: the keys, over everything else. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		if (ch < OPT_KEY)
			continue;
		k = &config_keys[ch - OPT_KEY];
		value = optarg;
		if (value == NULL && (k->flags & CK_FLAG))
			value = "true";
		if (config_set(c, k->name, value, err, errlen) == -1)
			return (-1);
	}

	if (config_check(c, err, errlen) == -1)
		return (-1);
	return (CONFIG_OK);
}

int
config_from_args(struct helix_config *c, int argc, char **argv, char *err,
    size_t errlen)
{
	return (config_build(c, argc, argv, NULL, err, errlen));
}

int
config_reload(struct helix_config *fresh, const struct helix_config *live,
    int argc, char **argv, char *err, size_t errlen)
{
	char	file[PATH_MAX];
	int	r;

	/* live may be fresh itself; config_build() clears fresh first. */
	memcpy(file, live->config_file, sizeof file);
	r = config_build(fresh, argc, argv, file, err, errlen);
	if (r == CONFIG_HELP || r == CONFIG_VERSION) {
		config_err(err, errlen, "--help or --version on reload");
		return (-1);
	}
	return (r);
}

bool
config_key_reloadable(const char *key)
{
	const struct config_key	*k;

	if ((k = config_find(key)) == NULL)
		return (false);
	return ((k->flags & CK_RELOAD) != 0);
}

int
config_apply_reloadable(struct helix_config *live,
    const struct helix_config *fresh)
{
	const struct config_key	*k;
	char			*dst;
	const char		*src;
	size_t			 i;
	int			 changed = 0;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		if (!(k->flags & CK_RELOAD))
			continue;
		dst = (char *)live + k->off;
		src = (const char *)fresh + k->off;
		/* Bytes after a string's NUL are noise: compare the text. */
		if (k->type == CT_TEXT) {
			if (strcmp(dst, src) == 0)
				continue;
			memcpy(dst, src, strlen(src) + 1);
		} else {
			if (memcmp(dst, src, k->size) == 0)
				continue;
			memcpy(dst, src, k->size);
		}
		changed++;
	}
	return (changed);
}

/* "--max-sessions N", or "--daemonize[=BOOL]" for a flag. */
static void
config_opt_text(const struct config_key *k, char *buf, size_t len)
{
	size_t	n;

	snprintf(buf, len, "--%s", k->name);
	for (n = 2; buf[n] != '\0'; n++) {
		if (buf[n] == '_')
			buf[n] = '-';
	}
	snprintf(buf + n, len - n, (k->flags & CK_FLAG) ? "[=%s]" : " %s",
	    k->meta);
}

#define USAGE_COL	32	/* where descriptions start */
#define USAGE_WIDTH	79

/* Print word (len bytes) on a line filled to *used; wrap at USAGE_WIDTH. */
static void
config_usage_word(FILE *fp, const char *word, size_t len, size_t *used)
{
	if (*used > USAGE_COL && *used + 1 + len > USAGE_WIDTH) {
		fprintf(fp, "\n%*s", USAGE_COL, "");
		*used = USAGE_COL;
	} else if (*used > USAGE_COL) {
		fputc(' ', fp);
		(*used)++;
	}
	fwrite(word, 1, len, fp);
	*used += len;
}

static void
config_usage_entry(FILE *fp, char mark, const char *opt, const char *desc,
    const char *def)
{
	char		 tail[PATH_MAX + 64];
	const char	*p, *w;
	size_t		 used;

	used = 2 + strlen(opt);
	fprintf(fp, "%c %s", mark, opt);
	if (used < USAGE_COL)
		fprintf(fp, "%*s", (int)(USAGE_COL - used), "");
	else
		fprintf(fp, "\n%*s", USAGE_COL, "");
	used = USAGE_COL;
	for (p = desc; *p != '\0';) {
		while (*p == ' ')
			p++;
		for (w = p; *p != '\0' && *p != ' '; p++)
			;
		if (p > w)
			config_usage_word(fp, w, (size_t)(p - w), &used);
	}
	/* The default stays in one piece, so it can be found by eye. */
	snprintf(tail, sizeof tail, "(default: %s)", def[0] != '\0' ? def :
	    "empty");
	config_usage_word(fp, tail, strlen(tail), &used);
	fputc('\n', fp);
}

void
config_usage(FILE *fp, const char *prog)
{
	const struct config_key	*k;
	const char		*file;
	char			 opt[128], def[PATH_MAX + 32];
	size_t			 i;

	fprintf(fp, "usage: %s [--config FILE] [--KEY VALUE | --KEY=VALUE] "
	    "...\n"
	    "       %s -h | --help | -V | --version\n\n", prog, prog);
	file = config_default_file();
	snprintf(def, sizeof def, "%s, if it exists",
	    file != NULL ? file : "none");
	config_usage_entry(fp, ' ', "--config FILE",
	    "configuration file; '' for none", def);
	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		config_opt_text(k, opt, sizeof opt);
		def[0] = '\0';
		if (k->def != NULL)
			snprintf(def, sizeof def, "%s", k->def);
		else if (strcmp(k->name, "socket") == 0)
			(void)config_default_socket(def, sizeof def);
		else
			(void)config_default_state_dir(def, sizeof def);
		config_usage_entry(fp, (k->flags & CK_RELOAD) ? '*' : ' ', opt,
		    k->desc, def);
	}
	fprintf(fp, "\n* may change at run time: edit the file, send SIGHUP.\n"
	    "HELIX_SOCKET and HELIX_STATE_DIR in the environment override the "
	    "file;\noptions override both.\n");
}

void
config_dump(FILE *fp, const struct helix_config *c)
{
	const struct config_key	*k;
	char			 buf[PATH_MAX];
	size_t			 i;

	fprintf(fp, "# config file: %s\n",
	    c->config_file[0] != '\0' ? c->config_file : "none");
	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		config_format(k, c, buf, sizeof buf);
		fprintf(fp, "%s =%s%s\n", k->name, buf[0] != '\0' ? " " : "",
		    buf);
	}
}
