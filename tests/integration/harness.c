/*
 * harness.c: see harness.h.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/integration/harness.h"

#define MAX_DAEMONS	16
#define LOG_TAIL	3000	/* bytes of a daemon's log in a failure */

static char	 base[64];
static struct hd *daemons[MAX_DAEMONS];
static int	 ndaemons;

/* ---- time ---- */

int64_t
h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
h_nap(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

bool
h_poll(bool (*cond)(void *), void *arg, int timeout_ms)
{
	bool ok;

	H_POLL(ok, cond(arg), timeout_ms);
	return ok;
}

static json_t	*json_vtext(const char *, va_list);

/* ---- the base directory ---- */

static const char *
env_path(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] != '/') {
		fprintf(stderr, "%s must be set to an absolute path (meson "
		    "test sets it)\n", name);
		exit(2);
	}
	return v;
}

void
h_base_init(void)
{
	const char	*tmp = getenv("TMPDIR");

	env_path("HELIXD");
	env_path("HELIX_WORKER");
	/* sun_path is 108 bytes: keep the base short. */
	if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s/helix-it.XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", base, strerror(errno));
		exit(2);
	}
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void
h_base_done(bool keep)
{
	if (base[0] == '\0')
		return;
	if (keep) {
		fprintf(stderr, "integration: daemon directories (logs in "
		    "*/helixd.log) kept in %s\n", base);
		return;
	}
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- processes ---- */

int
h_proc_stat(pid_t pid, pid_t *ppid, char *state, char *comm, size_t commlen)
{
	char	 path[64], buf[1024], *lp, *rp;
	ssize_t	 n;
	int	 fd, pp;
	char	 st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
	if ((lp = strchr(buf, '(')) == NULL ||
	    (rp = strrchr(buf, ')')) == NULL || rp < lp)
		return -1;
	if (sscanf(rp + 1, " %c %d", &st, &pp) != 2)
		return -1;
	if (comm != NULL && commlen > 0) {
		size_t len = (size_t)(rp - lp - 1);

		if (len >= commlen)
			len = commlen - 1;
		memcpy(comm, lp + 1, len);
		comm[len] = '\0';
	}
	if (ppid != NULL)
		*ppid = pp;
	if (state != NULL)
		*state = st;
	return 0;
}

bool
h_pid_alive(pid_t pid)
{
	char st;

	if (pid <= 0)
		return false;
	h_reap();
	if (h_proc_stat(pid, NULL, &st, NULL, 0) == -1)
		return false;
	return st != 'Z' && st != 'X' && st != 'x';
}

int
h_workers_of(pid_t ppid, pid_t *pids, int max)
{
	DIR		*d;
	struct dirent	*de;
	char		 comm[64], st, *end;
	pid_t		 pid, pp;
	int		 n = 0;

	h_reap();
	if ((d = opendir("/proc")) == NULL)
		ck_abort_msg("opendir /proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (h_proc_stat(pid, &pp, &st, comm, sizeof(comm)) == -1)
			continue;
		if (strcmp(comm, "helix-worker") != 0 || st == 'Z' ||
		    st == 'X' || (ppid != 0 && pp != ppid))
			continue;
		if (n < max && pids != NULL)
			pids[n] = pid;
		n++;
	}
	closedir(d);
	return n;
}

void
h_reap(void)
{
	pid_t	pid;
	int	st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < ndaemons; i++) {
			if (daemons[i]->pid == pid && !daemons[i]->exited) {
				daemons[i]->exited = true;
				daemons[i]->status = st;
			}
		}
	}
}

/* ---- daemons ---- */

char *
h_log(const struct hd *d)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(d->log, "re")) == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (len < 0)
		len = 0;
	buf = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	len = (long)fread(buf, 1, (size_t)len, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

const char *
h_log_tail(const struct hd *d)
{
	static char	 tail[LOG_TAIL + 1];
	char		*all = h_log(d);
	size_t		 len = strlen(all);

	snprintf(tail, sizeof(tail), "%s", len > LOG_TAIL ?
	    all + len - LOG_TAIL : all);
	free(all);
	return tail;
}

const char *
h_status_text(int st)
{
	static char buf[64];

	if (WIFEXITED(st))
		snprintf(buf, sizeof(buf), "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by signal %d",
		    WTERMSIG(st));
	else
		snprintf(buf, sizeof(buf), "wait status %#x", st);
	return buf;
}

struct hd *
h_spawn(const char *dir, const char *sock, const char *log,
    const char *const *extra)
{
	struct hd	*d;
	const char	*argv[64];
	const char	*helixd = env_path("HELIXD");
	const char	*worker = env_path("HELIX_WORKER");
	pid_t		 parent = getpid(), pid;
	sigset_t	 none;
	int		 n = 0, fd;

	ck_assert_int_lt(ndaemons, MAX_DAEMONS);
	if (strlen(dir) >= sizeof(d->dir) || strlen(sock) >= sizeof(d->sock) ||
	    strlen(log) >= sizeof(d->log))
		ck_abort_msg("daemon paths too long: %s", dir);
	/* Orphaned workers of a killed daemon come to us: we reap them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		ck_abort_msg("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	memcpy(d->dir, dir, strlen(dir) + 1);
	memcpy(d->sock, sock, strlen(sock) + 1);
	memcpy(d->log, log, strlen(log) + 1);
	snprintf(d->state, sizeof(d->state), "%.*s/state", H_DIR_MAX - 1,
	    d->dir);

	argv[n++] = helixd;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--state-dir";
	argv[n++] = d->state;
	argv[n++] = "--config";
	argv[n++] = "";
	argv[n++] = "--worker";
	argv[n++] = worker;
	while (extra != NULL && *extra != NULL && n < 62)
		argv[n++] = *extra++;
	argv[n] = NULL;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		setpgid(0, 0);
		/* Die with the test process, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0600)) == -1)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1)
			dup2(fd, 0);
		unsetenv("HELIX_SOCKET");
		unsetenv("HELIX_STATE_DIR");
		unsetenv("NOTIFY_SOCKET");
		execv(helixd, (char *const *)argv);
		_exit(127);
	}
	setpgid(pid, pid);	/* either side may win the race */
	d->pid = pid;
	daemons[ndaemons++] = d;
	return d;
}

static bool
sock_accepts(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return false;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

struct hd *
h_start_in(const char *dir, const char *const *extra)
{
	char		 fresh[H_DIR_MAX], sock[H_DIR_MAX + 12],
			 log[H_DIR_MAX + 32];
	struct hd	*d;
	bool		 up;

	ck_assert_msg(base[0] != '\0', "h_base_init was not called");
	if (dir == NULL) {
		if ((size_t)snprintf(fresh, sizeof(fresh), "%s/d.XXXXXX",
		    base) >= sizeof(fresh))
			ck_abort_msg("base directory too long: %s", base);
		if (mkdtemp(fresh) == NULL)
			ck_abort_msg("mkdtemp: %s", strerror(errno));
		dir = fresh;
	}
	if (strlen(dir) >= H_DIR_MAX)
		ck_abort_msg("daemon directory too long: %s", dir);
	snprintf(sock, sizeof(sock), "%.*s/s.sock", H_DIR_MAX - 1, dir);
	snprintf(log, sizeof(log), "%.*s/helixd.log", H_DIR_MAX - 1, dir);
	d = h_spawn(dir, sock, log, extra);
	H_POLL(up, (h_reap(), !d->exited && sock_accepts(d->sock)),
	    H_START_MS);
	if (!up) {
		if (!d->exited)
			h_kill9(d);
		ck_abort_msg("helixd did not accept on %s within %d ms (%s); "
		    "log:\n%s", d->sock, H_START_MS, d->exited ?
		    h_status_text(d->status) : "still running",
		    h_log_tail(d));
	}
	return d;
}

struct hd *
h_start(const char *const *extra)
{
	return h_start_in(NULL, extra);
}

bool
h_wait_exit(struct hd *d, int timeout_ms)
{
	bool ok;

	H_POLL(ok, (h_reap(), d->exited), timeout_ms);
	return ok;
}

int
h_stop(struct hd *d)
{
	if (!d->exited)
		kill(d->pid, SIGTERM);
	if (!h_wait_exit(d, H_STOP_MS)) {
		kill(d->pid, SIGKILL);
		h_wait_exit(d, H_STOP_MS);
		ck_abort_msg("helixd %d did not exit within %d ms of SIGTERM; "
		    "log:\n%s", (int)d->pid, H_STOP_MS, h_log_tail(d));
	}
	return d->status;
}

void
h_kill9(struct hd *d)
{
	if (!d->exited)
		kill(d->pid, SIGKILL);
	if (!h_wait_exit(d, H_STOP_MS))
		ck_abort_msg("helixd %d survived SIGKILL for %d ms",
		    (int)d->pid, H_STOP_MS);
}

/* ---- clients ---- */

struct hc_client *
h_connect(const struct hd *d)
{
	struct hc_client	*c;
	char			 err[256];

	c = hc_connect(d->sock, err, sizeof(err));
	if (c == NULL)
		ck_abort_msg("connect %s: got %s, want a connection", d->sock,
		    err);
	return c;
}

void
h_raw_open(const struct hd *d, struct h_raw *r)
{
	struct sockaddr_un	sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, d->sock, strlen(d->sock) + 1);
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(r->fd, -1);
	if (connect(r->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		ck_abort_msg("connect %s: %s", d->sock, strerror(errno));
	ck_assert(msgpack_unpacker_init(&r->up, 64 * 1024));
	msgpack_unpacked_init(&r->msg);
}

void
h_raw_close(struct h_raw *r)
{
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
	msgpack_unpacked_destroy(&r->msg);
	msgpack_unpacker_destroy(&r->up);
}

bool
h_raw_send(struct h_raw *r, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(r->fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

void
h_pack(msgpack_sbuffer *sb, const char *fmt, ...)
{
	msgpack_packer	 pk;
	va_list		 ap;
	json_t		*j;
	char		 err[256];

	va_start(ap, fmt);
	j = json_vtext(fmt, ap);
	va_end(ap);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (hc_json_pack(&pk, j, err, sizeof(err)) == -1)
		ck_abort_msg("cannot pack %s: %s", fmt, err);
	json_decref(j);
}

int
h_raw_next(struct h_raw *r, int timeout_ms, json_t **out)
{
	int64_t		 deadline = h_now_ms() + timeout_ms;
	struct pollfd	 pfd;
	ssize_t		 n;
	char		 err[256];
	int		 left;

	*out = NULL;
	for (;;) {
		switch (msgpack_unpacker_next(&r->up, &r->msg)) {
		case MSGPACK_UNPACK_SUCCESS:
			*out = hc_msgpack_to_json(&r->msg.data, err,
			    sizeof(err));
			if (*out == NULL)
				ck_abort_msg("server sent something that is "
				    "not JSON-able: %s", err);
			return 1;
		case MSGPACK_UNPACK_CONTINUE:
			break;
		default:
			ck_abort_msg("server sent bytes that are not "
			    "MessagePack");
		}
		if (r->fd == -1)
			return -1;
		left = (int)(deadline - h_now_ms());
		if (left < 0)
			left = 0;
		pfd.fd = r->fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			return 0;
		if (!msgpack_unpacker_reserve_buffer(&r->up, 64 * 1024))
			ck_abort_msg("out of memory");
		n = recv(r->fd, msgpack_unpacker_buffer(&r->up),
		    msgpack_unpacker_buffer_capacity(&r->up), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(r->fd);
			r->fd = -1;
			continue;	/* hand out what is buffered first */
		}
		msgpack_unpacker_buffer_consumed(&r->up, (size_t)n);
	}
}

/* ---- JSON ---- */

static json_t *
json_vtext(const char *fmt, va_list ap)
{
	json_error_t	 e;
	json_t		*j;
	char		*text;

	if (vasprintf(&text, fmt, ap) == -1)
		ck_abort_msg("out of memory");
	j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (j == NULL)
		ck_abort_msg("bad JSON in the test: %s: %s", text, e.text);
	free(text);
	return j;
}

json_t *
h_json(const char *fmt, ...)
{
	va_list	 ap;
	json_t	*j;

	va_start(ap, fmt);
	j = json_vtext(fmt, ap);
	va_end(ap);
	return j;
}

char *
h_dump(const json_t *j)
{
	char *s;

	if (j == NULL)
		return strdup("NULL");
	s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	return s != NULL ? s : strdup("?");
}

bool
h_equal(const json_t *a, const json_t *b)
{
	const char	*key;
	json_t		*va;
	size_t		 i;

	if (a == NULL || b == NULL)
		return a == b;
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, va) {
			if (!h_equal(va, json_object_get(b, key)))
				return false;
		}
		return true;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (i = 0; i < json_array_size(a); i++) {
			if (!h_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		}
		return true;
	default:
		return json_equal((json_t *)a, (json_t *)b);
	}
}

void
h_expect(const char *what, const json_t *got, const char *want)
{
	json_t	*w = h_json("%s", want);
	char	*g;

	if (!h_equal(got, w)) {
		g = h_dump(got);
		ck_abort_msg("%s: got %s, want %s", what, g, want);
	}
	json_decref(w);
}

/* ---- calls ---- */

static int
vcall(struct hc_client *c, json_t **out, char *code, size_t codelen,
    char *message, size_t msglen, const char *method, const char *fmt,
    va_list ap)
{
	struct hc_result	 r;
	json_t			*params = NULL;
	int			 rv;

	if (fmt != NULL)
		params = json_vtext(fmt, ap);
	memset(&r, 0, sizeof(r));
	rv = hc_call(c, method, params, H_CALL_MS, &r);
	json_decref(params);
	if (code != NULL && codelen > 0)
		snprintf(code, codelen, "%s", r.code);
	if (message != NULL && msglen > 0)
		snprintf(message, msglen, "%s", r.message);
	if (out != NULL) {
		*out = r.value;
		r.value = NULL;
	}
	hc_result_clear(&r);
	return rv;
}

int
h_call(struct hc_client *c, json_t **out, char *code, size_t codelen,
    const char *method, const char *fmt, ...)
{
	va_list	ap;
	int	rv;

	va_start(ap, fmt);
	rv = vcall(c, out, code, codelen, NULL, 0, method, fmt, ap);
	va_end(ap);
	return rv;
}

json_t *
h_ok(struct hc_client *c, const char *method, const char *fmt, ...)
{
	va_list	 ap;
	json_t	*v = NULL;
	char	 code[64], msg[256];
	int	 rv;

	va_start(ap, fmt);
	rv = vcall(c, &v, code, sizeof(code), msg, sizeof(msg), method, fmt,
	    ap);
	va_end(ap);
	if (rv != HC_OK)
		ck_abort_msg("%s: got %s (status %d: %s), want a result",
		    method, code[0] ? code : "no answer", rv, msg);
	return v;
}

json_t *
h_err(struct hc_client *c, const char *want, const char *method,
    const char *fmt, ...)
{
	va_list	 ap;
	json_t	*v = NULL;
	char	 code[64], msg[256], *d;
	int	 rv;

	va_start(ap, fmt);
	rv = vcall(c, &v, code, sizeof(code), msg, sizeof(msg), method, fmt,
	    ap);
	va_end(ap);
	if (rv != HC_ERROR || strcmp(code, want) != 0) {
		d = h_dump(v);
		ck_abort_msg("%s %s: got %s %s (status %d: %s), want error %s",
		    method, fmt ? fmt : "[]", rv == HC_OK ? "result" : "error",
		    d, rv, msg, want);
	}
	if (!json_is_string(json_object_get(v, "code")) ||
	    !json_is_string(json_object_get(v, "message"))) {
		d = h_dump(v);
		ck_abort_msg("%s: error %s: want string code and message", method,
		    d);
	}
	return v;
}

/* ---- fields ---- */

static const json_t *
field(const json_t *obj, const char *key)
{
	const json_t	*v;
	char		*d;

	if (!json_is_object(obj) || (v = json_object_get(obj, key)) == NULL) {
		d = h_dump(obj);
		ck_abort_msg("%s: missing in %s", key, d);
	}
	return v;
}

json_int_t
h_int(const json_t *obj, const char *key)
{
	const json_t	*v = field(obj, key);
	char		*d;

	if (!json_is_integer(v)) {
		d = h_dump(obj);
		ck_abort_msg("%s: got %s, want an integer", key, d);
	}
	return json_integer_value(v);
}

double
h_num(const json_t *obj, const char *key)
{
	const json_t	*v = field(obj, key);
	char		*d;

	if (!json_is_number(v)) {
		d = h_dump(obj);
		ck_abort_msg("%s: got %s, want a number", key, d);
	}
	return json_number_value(v);
}

const char *
h_str(const json_t *obj, const char *key)
{
	const json_t	*v = field(obj, key);
	char		*d;

	if (!json_is_string(v)) {
		d = h_dump(obj);
		ck_abort_msg("%s: got %s, want a string", key, d);
	}
	return json_string_value(v);
}

bool
h_bool(const json_t *obj, const char *key)
{
	const json_t	*v = field(obj, key);
	char		*d;

	if (!json_is_boolean(v)) {
		d = h_dump(obj);
		ck_abort_msg("%s: got %s, want a bool", key, d);
	}
	return json_is_true(v);
}

/* ---- notifications ---- */

int
h_next_any(struct hc_client *c, int timeout_ms, char **method,
    json_t **params)
{
	return hc_next_notify(c, timeout_ms, method, params);
}

json_t *
h_next(struct hc_client *c, const char *want, int timeout_ms)
{
	int64_t	 deadline = h_now_ms() + timeout_ms;
	char	*method;
	json_t	*params;
	int64_t	 left;

	for (;;) {
		left = deadline - h_now_ms();
		if (left < 0)
			left = 0;
		if (hc_next_notify(c, (int)left, &method, &params) != HC_OK)
			return NULL;
		if (strcmp(method, want) == 0) {
			free(method);
			return params;
		}
		free(method);
		json_decref(params);
	}
}

bool
h_got(struct hc_client *c, const char *want, int timeout_ms)
{
	json_t *p = h_next(c, want, timeout_ms);

	json_decref(p);
	return p != NULL;
}

/* ---- flows ---- */

pid_t
h_worker_pid(struct hc_client *c, const char *flow)
{
	json_t		*r = h_ok(c, "session.inspect", "[\"%s\"]", flow);
	const json_t	*pid = field(r, "pid");
	pid_t		 p = 0;
	char		*d;

	if (json_is_integer(pid))
		p = (pid_t)json_integer_value(pid);
	else if (!json_is_null(pid)) {
		d = h_dump(r);
		ck_abort_msg("session.inspect %s: got %s, want pid int or nil",
		    flow, d);
	}
	json_decref(r);
	return p;
}

pid_t
h_wait_new_pid(struct hc_client *c, const char *flow, pid_t old,
    int timeout_ms)
{
	int64_t	 deadline = h_now_ms() + timeout_ms;
	json_t	*r;
	char	 code[64] = "";
	pid_t	 p;
	bool	 running;

	for (;;) {
		/* An error (timeout from the old worker) means not yet. */
		r = NULL;
		p = 0;
		running = false;
		if (h_call(c, &r, code, sizeof(code), "session.inspect",
		    "[\"%s\"]", flow) == HC_OK) {
			code[0] = '\0';
			p = json_is_integer(json_object_get(r, "pid")) ? (pid_t)
			    json_integer_value(json_object_get(r, "pid")) : 0;
			running = json_is_string(json_object_get(r, "state")) &&
			    strcmp(json_string_value(json_object_get(r,
			    "state")), "running") == 0;
		}
		json_decref(r);
		if (p != 0 && p != old && running && h_pid_alive(p))
			return p;
		if (h_now_ms() >= deadline)
			ck_abort_msg("flow %s: no new running worker within %d "
			    "ms: got pid %d%s%s, want a live pid other than %d",
			    flow, timeout_ms, (int)p, code[0] ? ", error " : "",
			    code, (int)old);
		h_nap();
	}
}

json_int_t
h_version(struct hc_client *c, const char *flow)
{
	json_t		*r = h_ok(c, "flow.get", "[\"%s\"]", flow);
	json_int_t	 v = h_int(r, "version");

	json_decref(r);
	return v;
}

/* ---- additions for the fault tests ---- */

void
h_fresh_dir(char *out, size_t len)
{
	ck_assert_msg(base[0] != '\0', "h_base_init was not called");
	if ((size_t)snprintf(out, len, "%s/d.XXXXXX", base) >= len ||
	    strlen(out) >= H_DIR_MAX)
		ck_abort_msg("base directory too long: %s", base);
	if (mkdtemp(out) == NULL)
		ck_abort_msg("mkdtemp %s: %s", out, strerror(errno));
}

void
h_write_file(const char *path, const char *text, mode_t mode)
{
	size_t	len = strlen(text);
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1)
		ck_abort_msg("open %s: %s", path, strerror(errno));
	n = write(fd, text, len);
	if (n != (ssize_t)len)
		ck_abort_msg("write %s: %s", path, strerror(errno));
	if (fchmod(fd, mode) == -1)
		ck_abort_msg("chmod %s: %s", path, strerror(errno));
	close(fd);
}

double
h_unix_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Whether pid's command line holds "--state-dir state_dir"; its "--flow"
 * argument into flow.
 */
static bool
cmdline_match(pid_t pid, const char *state_dir, char *flow, size_t flowlen)
{
	char	 path[64], buf[8192];
	ssize_t	 n;
	size_t	 off;
	int	 fd;
	bool	 ours = false;
	const char *arg, *prev = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (flow != NULL && flowlen > 0)
		flow[0] = '\0';
	for (off = 0; off < (size_t)n; off += strlen(buf + off) + 1) {
		arg = buf + off;
		if (prev != NULL && strcmp(prev, "--state-dir") == 0 &&
		    strcmp(arg, state_dir) == 0)
			ours = true;
		if (prev != NULL && strcmp(prev, "--flow") == 0 &&
		    flow != NULL && flowlen > 0)
			snprintf(flow, flowlen, "%s", arg);
		prev = arg;
	}
	return ours;
}

int
h_scan_workers(const char *state_dir, struct h_worker *out, int max)
{
	DIR		*d;
	struct dirent	*de;
	char		 st, *end, flow[sizeof(out->flow)];
	pid_t		 pid, pp;
	int		 n = 0;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == getpid())
			continue;
		if (h_proc_stat(pid, &pp, &st, NULL, 0) == -1 || st == 'Z' ||
		    st == 'X' || st == 'x')
			continue;
		if (!cmdline_match(pid, state_dir, flow, sizeof(flow)))
			continue;
		/* the daemon itself has --state-dir too, but no --flow */
		if (flow[0] == '\0')
			continue;
		if (out != NULL && n < max) {
			out[n].pid = pid;
			out[n].ppid = pp;
			out[n].state = st;
			memcpy(out[n].flow, flow, sizeof(flow));
		}
		n++;
	}
	closedir(d);
	return n;
}

#define SCAN_MAX	1024

int
h_flow_duplicates(const char *state_dir, char *why, size_t whylen)
{
	struct h_worker *w = calloc(SCAN_MAX, sizeof(*w));
	char	 st, flow[sizeof(w[0].flow)];
	int	 n, i, j, alive, dups = 0;
	bool	 seen;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (w == NULL)
		return 0;
	n = h_scan_workers(state_dir, w, SCAN_MAX);
	if (n > SCAN_MAX)
		n = SCAN_MAX;
	for (i = 0; i < n; i++) {
		/* the first entry of each flow with a twin */
		seen = false;
		for (j = 0; j < i; j++)
			if (strcmp(w[j].flow, w[i].flow) == 0)
				seen = true;
		if (seen)
			continue;
		alive = 0;
		for (j = i; j < n; j++) {
			if (strcmp(w[j].flow, w[i].flow) != 0)
				continue;
			/* second look: alive still, and the same program */
			if (h_proc_stat(w[j].pid, NULL, &st, NULL, 0) == 0 &&
			    st != 'Z' && st != 'X' && st != 'x' &&
			    cmdline_match(w[j].pid, state_dir, flow,
			    sizeof(flow)) && strcmp(flow, w[i].flow) == 0)
				alive++;
		}
		if (alive < 2)
			continue;
		if (dups == 0 && why != NULL && whylen > 0) {
			size_t off = (size_t)snprintf(why, whylen,
			    "flow %s has %d live workers:", w[i].flow, alive);

			for (j = i; j < n && off < whylen; j++)
				if (strcmp(w[j].flow, w[i].flow) == 0)
					off += (size_t)snprintf(why + off,
					    whylen - off, " pid %d (ppid %d)",
					    (int)w[j].pid, (int)w[j].ppid);
		}
		dups++;
	}
	free(w);
	return dups;
}
