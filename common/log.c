/*
 * log.c: one key=value line per event on stderr; see log.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static char		 log_prog[64];
static enum log_level	 log_level = HLOG_INFO;

static const char *const log_level_names[] = {
	[HLOG_ERROR] = "error",
	[HLOG_WARN] = "warn",
	[HLOG_INFO] = "info",
	[HLOG_DEBUG] = "debug",
};

static void	log_vevent(enum log_level, const char *, const char *,
		    const char *, va_list)
		    __attribute__((format(printf, 4, 0)));
static void	log_vmsg(enum log_level, const char *, int, const char *,
		    va_list) __attribute__((format(printf, 4, 0)));
static void	log_vappend(char *, size_t *, int *, const char *, va_list)
		    __attribute__((format(printf, 4, 0)));
static void	log_append(char *, size_t *, int *, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

void
log_init(const char *prog, enum log_level level)
{
	if (prog != NULL)
		snprintf(log_prog, sizeof log_prog, "%s", prog);
	log_set_level(level);
}

void
log_set_level(enum log_level level)
{
	if (level > HLOG_DEBUG)
		level = HLOG_DEBUG;
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return (log_level);
}

int
log_level_parse(const char *s, enum log_level *level)
{
	size_t	i;

	for (i = 0; i < sizeof log_level_names / sizeof log_level_names[0];
	    i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return (0);
		}
	}
	return (-1);
}

const char *
log_level_name(enum log_level level)
{
	if (level > HLOG_DEBUG)
		return ("unknown");
	return (log_level_names[level]);
}

static int
log_needs_quote(const char *s)
{
	const unsigned char	*p;

	if (*s == '\0')
		return (1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '=' ||
		    *p == '\\')
			return (1);
	}
	return (0);
}

/*
 * Where to cut buf[0..n) so no UTF-8 sequence is left half: the byte at n is
 * a continuation byte only when the cut falls inside a character.
 */
static size_t
log_utf8_cut(const char *buf, size_t n)
{
	const unsigned char	*p = (const unsigned char *)buf;
	size_t			 start = n;

	if ((p[n] & 0xc0) != 0x80)
		return (n);
	while (n > 0 && (p[n - 1] & 0xc0) == 0x80)
		n--;
	if (n > 0 && p[n - 1] >= 0xc0)
		n--;
	/* Not UTF-8 after all (a lone continuation run): cut where asked. */
	return (n == 0 ? start : n);
}

/* The escape of byte c for a quoted value, in esc; its length. */
static size_t
log_escape(unsigned char c, char *esc, size_t len)
{
	switch (c) {
	case '"':
		return ((size_t)snprintf(esc, len, "\\\""));
	case '\\':
		return ((size_t)snprintf(esc, len, "\\\\"));
	case '\n':
		return ((size_t)snprintf(esc, len, "\\n"));
	case '\r':
		return ((size_t)snprintf(esc, len, "\\r"));
	case '\t':
		return ((size_t)snprintf(esc, len, "\\t"));
	}
	if (c < ' ' || c == 0x7f)
		return ((size_t)snprintf(esc, len, "\\x%02x", c));
	esc[0] = (char)c;
	esc[1] = '\0';
	return (1);
}

/* Write s quoted and escaped into dst; a value that does not fit ends ..." */
static void
log_quote(char *dst, size_t size, const char *s)
{
	const unsigned char	*p;
	char			 esc[8];
	size_t			 n = 0, elen, need = 3;	/* "" and NUL */

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		need += log_escape(*p, esc, sizeof esc);
	dst[n++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		elen = log_escape(*p, esc, sizeof esc);
		/* If it will not all fit, keep room for ..." and the NUL. */
		if (need > size && n + elen + 5 > size) {
			dst[n] = (char)*p;
			n = log_utf8_cut(dst, n);
			memcpy(dst + n, "...\"", 5);
			return;
		}
		memcpy(dst + n, esc, elen);
		n += elen;
	}
	dst[n++] = '"';
	dst[n] = '\0';
}

/* log_q() into buf: the caller's log_q() buffers must survive log_event(). */
static const char *
log_qlocal(char *buf, size_t size, const char *s)
{
	if (!log_needs_quote(s))
		return (s);
	log_quote(buf, size, s);
	return (buf);
}

const char *
log_q(const char *s)
{
	static char		bufs[LOG_Q_NBUF][LOG_Q_SIZE];
	static unsigned int	next;
	char		       *buf;

	if (s == NULL)
		return ("\"\"");
	if (!log_needs_quote(s))
		return (s);
	buf = bufs[next++ % LOG_Q_NBUF];
	log_quote(buf, LOG_Q_SIZE, s);
	return (buf);
}

/* Append to line, which holds *len bytes; note in *cut if it overflowed. */
static void
log_vappend(char *line, size_t *len, int *cut, const char *fmt, va_list ap)
{
	int	n;

	if (*cut)
		return;
	n = vsnprintf(line + *len, LOG_LINE_MAX - *len, fmt, ap);
	if (n < 0)
		return;
	/* Room is kept for the newline. */
	if ((size_t)n > LOG_LINE_MAX - 1 - *len) {
		*len = LOG_LINE_MAX - 1;
		*cut = 1;
	} else
		*len += (size_t)n;
}

static void
log_append(char *line, size_t *len, int *cut, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vappend(line, len, cut, fmt, ap);
	va_end(ap);
}

/*
 * A line of at most PIPE_BUF bytes reaches a pipe in one write(2); the loop
 * only matters for a file or terminal that takes less.
 */
static void
log_write(const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;		/* nowhere left to report it */
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void
log_vevent(enum log_level level, const char *flow, const char *event,
    const char *fmt, va_list ap)
{
	char		 line[LOG_LINE_MAX], tbuf[32];
	char		 qprog[sizeof log_prog * 4 + 3], qevent[256], qflow[512];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 len = 0, i, mlen;
	int		 cut = 0;
	const char	*prog;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);
	prog = log_prog[0] != '\0' ? log_prog : program_invocation_short_name;

	log_append(line, &len, &cut,
	    "ts=%s.%03ldZ level=%s prog=%s pid=%ld event=%s", tbuf,
	    ts.tv_nsec / 1000000, log_level_name(level),
	    log_qlocal(qprog, sizeof qprog, prog), (long)getpid(),
	    log_qlocal(qevent, sizeof qevent, event != NULL ? event : "log"));
	if (flow != NULL)
		log_append(line, &len, &cut, " flow=%s",
		    log_qlocal(qflow, sizeof qflow, flow));
	if (fmt != NULL)
		log_vappend(line, &len, &cut, fmt, ap);

	if (cut) {
		mlen = strlen(LOG_TRUNCATED);
		len = log_utf8_cut(line, LOG_LINE_MAX - 1 - mlen);
		memcpy(line + len, LOG_TRUNCATED, mlen);
		len += mlen;
	}
	/* A raw newline from a careless %s must not split the event. */
	for (i = 0; i < len; i++) {
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	log_write(line, len);
}

void
log_event(enum log_level level, const char *flow, const char *event,
    const char *fmt, ...)
{
	va_list	ap;
	int	saved_errno = errno;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vevent(level, flow, event, fmt, ap);
	va_end(ap);
	errno = saved_errno;
}

static void
log_vmsg(enum log_level level, const char *event, int with_errno,
    const char *fmt, va_list ap)
{
	char	text[LOG_LINE_MAX], msg[LOG_LINE_MAX], err[256];
	int	saved_errno = errno;

	if (level > log_level)
		return;
	vsnprintf(text, sizeof text, fmt, ap);
	/* msg and err are always quoted, so readers can rely on it. */
	log_quote(msg, sizeof msg, text);
	if (with_errno) {
		log_quote(err, sizeof err, strerror(saved_errno));
		log_event(level, NULL, event, " msg=%s err=%s", msg, err);
	} else
		log_event(level, NULL, event, " msg=%s", msg);
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(HLOG_WARN, "log", 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(HLOG_WARN, "log", 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(HLOG_INFO, "log", 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(HLOG_DEBUG, "log", 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(HLOG_ERROR, "fatal", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(HLOG_ERROR, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
