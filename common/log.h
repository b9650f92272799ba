/*
 * log.h: structured logging for every helix program.
 *
 * One event is one line on stderr of key=value pairs, in this order:
 *
 *   ts=2026-11-27T08:40:00.123Z level=info prog=helixd pid=123
 *       event=session.start flow=abc key=value ... msg="..."
 *
 * (one line; wrapped here).  ts is UTC with milliseconds; flow appears only
 * when the event concerns one.  Values that need it are quoted and escaped
 * with log_q(), so a line can always be split on spaces outside quotes.
 *
 * A line is written with a single write(2) and is at most LOG_LINE_MAX bytes
 * (PIPE_BUF on Linux), so lines from the master and its workers sharing one
 * stderr pipe never interleave.  A longer line is cut on a character boundary
 * and ends with LOG_TRUNCATED.
 *
 * The OpenBSD-style wrappers (log_warn ... fatalx) log event=log with the
 * text in msg="..."; log_warn and fatal add err="strerror(errno)".  Logging
 * never allocates and leaves errno as it found it.  Not thread-safe: helix
 * programs are single-threaded.
 */
#ifndef HELIX_LOG_H
#define HELIX_LOG_H

#include <stdarg.h>

#define LOG_LINE_MAX	4096		/* bytes per line, newline included */
#define LOG_TRUNCATED	" [truncated]"	/* ends a line that was cut */
#define LOG_Q_NBUF	8		/* log_q results alive at once */
#define LOG_Q_SIZE	LOG_LINE_MAX	/* bytes per log_q buffer */

/* HLOG_, not LOG_: <syslog.h> defines LOG_ERR, LOG_INFO, LOG_DEBUG. */
enum log_level {
	HLOG_ERROR,
	HLOG_WARN,
	HLOG_INFO,
	HLOG_DEBUG
};

/* prog names the program in every line (copied); level: see log_set_level. */
void		 log_init(const char *prog, enum log_level level);
/* Events above the level (less severe) are dropped before formatting. */
void		 log_set_level(enum log_level level);
enum log_level	 log_get_level(void);
/* "error", "warn", "info", "debug"; 0, or -1 for anything else. */
int		 log_level_parse(const char *s, enum log_level *level);
const char	*log_level_name(enum log_level level);

/*
 * event: a dotted name (session.start); flow: the flow id or NULL; fmt (may be
 * NULL): a printf format producing further " key=value" pairs, each starting
 * with a space.  Pass every value that is not a number or a fixed word through
 * log_q().
 */
void		 log_event(enum log_level level, const char *flow,
		    const char *event, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));

void		 log_warn(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_info(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
/* Log at error level (event=fatal) and exit(1). */
void		 fatal(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Quote a value for a key=value line.  Returns s itself when it needs no
 * quoting; otherwise a quoted copy with \" \\ \n \r \t and \xHH escapes,
 * in one of LOG_Q_NBUF static buffers used in turn -- so up to LOG_Q_NBUF
 * calls may appear in one log_event().  Quoted are: the empty string (and
 * NULL, shown as ""), and values containing a space, '"', '=', '\\' or a
 * control character.  Bytes >= 0x80 pass unchanged (UTF-8).  A value too
 * long for a buffer is cut and ends with ..." .
 */
const char	*log_q(const char *s);

#endif /* HELIX_LOG_H */
