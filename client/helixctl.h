/*
 * helixctl.h: what helixctl's files share.
 *
 * helixctl.c parses the global options, finds the command in the table of
 * helixctl-cmd.c, parses the command's own arguments once for every command
 * (arity, options, numbers) and runs its handler.  Handlers return an
 * enum hc_status, which is also the exit status.  helixctl-print.c renders
 * results for people; helixctl-stream.c runs watch and events.
 */
#ifndef HELIXCTL_H
#define HELIXCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "client/helix-client.h"

#define HELIXCTL_TIMEOUT_MS	10000	/* --timeout default */

/* One invocation: the global options and, once made, the connection. */
struct helixctl {
	const char		*socket;	/* -s; NULL: the default */
	bool			 json;		/* --json */
	int			 timeout_ms;	/* per call; -1 = forever */
	struct hc_client	*client;
};

/* A command's arguments after the common parse. */
struct cmd_args {
	int		 argc;		/* positional arguments */
	char		**argv;
	int		 flags;		/* the options given, CMD_OPT_* */
	int64_t		 base;		/* --base N */
	int64_t		 since;		/* --since N */
};

struct cmd_entry;
typedef int (*cmd_exec_fn)(struct helixctl *, const struct cmd_entry *,
    struct cmd_args *);

struct cmd_entry {
	const char	*name;
	int		 lower;		/* positional arguments, at least */
	int		 upper;		/* at most; -1 = any number */
	int		 options;	/* the options the command takes */
#define CMD_OPT_BASE	0x1		/* --base N */
#define CMD_OPT_ALL	0x2		/* --all */
#define CMD_OPT_SINCE	0x4		/* --since N */
	const char	*usage;		/* the arguments, after the name */
	const char	*summary;	/* for --help: a few words */
	const char	*help;		/* for COMMAND --help: sentences */
	cmd_exec_fn	 exec;
};

extern const struct cmd_entry	cmd_table[];

/* helixctl.c */
void	 helixctl_warn(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
int	 helixctl_usage(const struct cmd_entry *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 helixctl_connect(struct helixctl *);
int	 helixctl_call(struct helixctl *, const char *, json_t *, json_t **);
int	 helixctl_parse_uint(const char *, int64_t *);
int	 helixctl_parse_coord(const char *, double *);
json_t	*helixctl_string(const struct cmd_entry *, const char *, const char *,
	    int *);
int	 helixctl_output(int);

/* helixctl-print.c */
int	 print_json_line(const json_t *);
void	 print_scalar(const json_t *);
void	 print_map(const json_t *);
void	 print_list(const json_t *);
void	 print_stats(const json_t *);
void	 print_flow(const json_t *);
void	 print_history(const json_t *);

/* helixctl-stream.c */
int	 stream_watch(struct helixctl *, const char *, json_t *);
int	 stream_events(struct helixctl *, json_t *);

#endif /* HELIXCTL_H */
