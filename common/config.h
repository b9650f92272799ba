/*
 * config.h: helixd's configuration, driven by one table of keys (config.c).
 *
 * The table gives every key its type, default, range, one-line description
 * and whether it may change at run time; the file parser, the command line
 * (--key-with-dashes VALUE), --help, the dump and SIGHUP reload are all
 * generated from it.  Precedence, highest first:
 *
 *   command line > environment (HELIX_SOCKET, HELIX_STATE_DIR)
 *                > config file > embedded defaults
 *
 * struct helix_config holds no pointers, so it is copied by value.
 *
 * Reload on SIGHUP: config_reload() rebuilds a fresh struct from the saved
 * argv and the file read at start (so an option given on the command line
 * still wins over the file), then config_apply_reloadable() copies the keys
 * marked reloadable.  The others keep their value until a restart.
 *
 * Return convention: 0 on success, -1 with a one-line message in err
 * (always terminated, cut to errlen; err may be NULL) on failure.
 */
#ifndef HELIX_CONFIG_H
#define HELIX_CONFIG_H

#include <sys/types.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/log.h"

#define CONFIG_OK	0
#define CONFIG_HELP	1	/* caller prints config_usage(), exits 0 */
#define CONFIG_VERSION	2	/* --version: caller prints it, exits 0 */

#define CONFIG_ERR_MAX	(PATH_MAX + 256) /* room for a path and a message */
#define CONFIG_GROUP_MAX 256

enum sync_mode {
	SYNC_FULL,
	SYNC_BATCH,
	SYNC_NONE
};

enum escalate_mode {
	ESCALATE_THROTTLE,	/* park the failing sessions, keep serving */
	ESCALATE_EXIT		/* helixd exits; its supervisor restarts it */
};

/* One field per key; the meaning of each is in config.c's table. */
struct helix_config {
	/* Where and as whom. */
	char			socket[PATH_MAX];
	mode_t			socket_mode;
	char			socket_group[CONFIG_GROUP_MAX];
	char			state_dir[PATH_MAX];
	char			worker[PATH_MAX];
	char			pidfile[PATH_MAX];
	bool			daemonize;

	/* Admission. */
	unsigned int		max_sessions;
	unsigned int		max_clients_per_flow;
	unsigned int		max_connections;
	unsigned int		idle_timeout;			/* s, 0 never */

	/* Timing. */
	unsigned int		call_timeout_ms;
	unsigned int		shutdown_timeout_ms;
	unsigned int		watchdog_timeout_ms;		/* 0: 3 calls */
	unsigned int		heartbeat_interval_ms;

	/* Restart intensity. */
	unsigned int		max_restarts;
	unsigned int		max_seconds;
	unsigned int		restart_cooldown;		/* s */
	unsigned int		max_restarts_total;
	unsigned int		max_restarts_total_seconds;
	enum escalate_mode	escalate;

	/* Storage. */
	enum sync_mode		sync;
	unsigned int		sync_interval_ms;
	size_t			map_size;
	unsigned int		history_length;

	/* Sizes and flow limits. */
	size_t			max_message_bytes;
	size_t			max_flow_bytes;
	unsigned int		max_nodes;
	unsigned int		max_edges;
	size_t			max_data_bytes;
	unsigned int		max_ops;

	/* Back-pressure. */
	unsigned int		max_queue;
	size_t			client_output_limit;
	unsigned int		slow_client_timeout;		/* s */

	enum log_level		log_level;

	/* Not a key: the file config_from_args() read, absolute; "" none. */
	char			config_file[PATH_MAX];
};

/*
 * Embedded defaults, with socket and state_dir computed (empty if they
 * cannot be: config_check() then says so).
 */
void		 config_defaults(struct helix_config *);

/*
 * Set one key from text.  key may spell '_' as '-'.  Errors name the key, the
 * value and what was expected:
 *   bad value 'x' for max_restarts: expected an integer from 0 to 255
 */
int		 config_set(struct helix_config *, const char *key,
		    const char *value, char *err, size_t errlen);

/*
 * Read "key = value" lines; '#' starts a comment at the start of a line or
 * after whitespace; blank lines and surrounding whitespace are ignored; a
 * value is taken literally otherwise (no quotes), and may be empty for text
 * keys.  Errors: "PATH:LINE: unknown key 'foo'", "PATH:LINE: bad value ...",
 * "PATH: No such file or directory" (a missing file is an error here).  On
 * failure the struct is left as it was.
 */
int		 config_load_file(struct helix_config *, const char *path,
		    char *err, size_t errlen);

/*
 * The whole precedence, starting from config_defaults().  Options: every key
 * as --key-with-dashes VALUE or --key-with-dashes=VALUE; flag keys (daemonize)
 * alone mean true and take a value only as --daemonize=false; --config FILE
 * (--config '' reads none); -h/--help; -V/--version.  Without --config,
 * config_default_file() is read if it exists.  Ends with config_check().
 * Returns CONFIG_OK, CONFIG_HELP, CONFIG_VERSION, or -1 with err.
 * Resets getopt (optind = 0) itself.
 */
int		 config_from_args(struct helix_config *, int argc, char **argv,
		    char *err, size_t errlen);

/*
 * SIGHUP: the same precedence, from the argv helixd was started with, but
 * reading live->config_file ("" none) rather than searching again.  Then
 * config_apply_reloadable(live, fresh).  0, or -1 with err.
 */
int		 config_reload(struct helix_config *fresh,
		    const struct helix_config *live, int argc, char **argv,
		    char *err, size_t errlen);

/* Rules between keys, and the computed paths; 0 or -1 with err. */
int		 config_check(const struct helix_config *, char *err,
		    size_t errlen);

/* Every option with its default and a one-line description. */
void		 config_usage(FILE *, const char *prog);

/*
 * Root: /etc/helix/helix.conf (never a path from the environment, which a
 * user could control).  Others: $XDG_CONFIG_HOME/helix/helix.conf, else
 * $HOME/.config/helix/helix.conf.  A static buffer; NULL if no home is known.
 */
const char	*config_default_file(void);

/*
 * PROTOCOL.md: $XDG_RUNTIME_DIR/helix/helixd.sock, else
 * /tmp/helix-$UID/helixd.sock.  HELIX_SOCKET is config_from_args()'s business
 * (and the client's).  Relative XDG_* values are ignored, as the XDG spec
 * says.  0, or -1 (ENAMETOOLONG) if buf is too small.
 */
int		 config_default_socket(char *buf, size_t len);

/*
 * $XDG_STATE_HOME/helix, else $HOME/.local/state/helix (HOME from the
 * password file if unset).  0, or -1 (ENAMETOOLONG, ENOENT).
 */
int		 config_default_state_dir(char *buf, size_t len);

/* May the key change on SIGHUP?  false for unknown keys. */
bool		 config_key_reloadable(const char *key);

/* Copy the reloadable keys that differ from fresh to live; how many did. */
int		 config_apply_reloadable(struct helix_config *live,
		    const struct helix_config *fresh);

/* watchdog_timeout_ms, with its 0 resolved to 3 x call_timeout_ms. */
unsigned int	 config_watchdog_ms(const struct helix_config *);

/* The value of key as config_set() reads it back; -1 (ENOENT) if unknown. */
int		 config_get(const struct helix_config *, const char *key,
		    char *buf, size_t len);
/* The i-th key of the table, from 0; NULL past the last. */
const char	*config_key_name(size_t i);

/*
 * "key = value" for every key, in table order, after a "# config file: ..."
 * line; config_load_file() reads it back.
 */
void		 config_dump(FILE *, const struct helix_config *);

#endif /* HELIX_CONFIG_H */
