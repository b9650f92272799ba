/*
 * helix-bench: measures helixd from a client's side.  Each scenario starts
 * its own helixd (--spawn HELIXD) in a temporary directory with a given
 * sync mode, runs C client processes for a fixed time, each keeping
 * `window` requests in flight on its own connection, and prints
 * throughput and latency percentiles.  Speed is recorded, never asserted:
 * see docs/benchmarks.md for figures and the machine they came from.
 *
 *   helix-bench --spawn build/supervisor/helixd [--seconds N] [--only NAME]
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/helix-client.h"

#define MAX_SAMPLES	(1 << 20)

struct scenario {
	const char	*name;
	const char	*sync;		/* helixd --sync */
	int		 clients;
	int		 flows;		/* clients spread over this many flows */
	int		 window;	/* requests in flight per connection */
	const char	*method;	/* flow.apply, flow.get, sys.ping */
	int		 preload;	/* nodes added before (flow.get) */
};

static const struct scenario scenarios[] = {
	{ "apply-full-1c",	"full",  1, 1, 1, "flow.apply", 0 },
	{ "apply-full-8c-1f",	"full",  8, 1, 4, "flow.apply", 0 },
	{ "apply-full-8c-8f",	"full",  8, 8, 4, "flow.apply", 0 },
	{ "apply-batch-8c-8f",	"batch", 8, 8, 4, "flow.apply", 0 },
	{ "apply-none-8c-8f",	"none",  8, 8, 4, "flow.apply", 0 },
	{ "get-1000-nodes",	"none",  2, 1, 4, "flow.get", 1000 },
	{ "ping",		"none",  2, 1, 16, "sys.ping", 0 },
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static json_t *
params_for(const struct scenario *sc, int client, long seq)
{
	char flow[32], id[64];

	snprintf(flow, sizeof(flow), "bench%d", client % sc->flows);
	if (strcmp(sc->method, "sys.ping") == 0)
		return json_array();
	if (strcmp(sc->method, "flow.get") == 0)
		return json_pack("[s]", flow);
	snprintf(id, sizeof(id), "c%d-%ld", client, seq);
	return json_pack("[s[{s:s,s:{s:s,s:s,s:f,s:f}}]]", flow, "op",
	    "add_node", "node", "id", id, "type", "task", "x", (double)seq,
	    "y", 1.5);
}

/* One client process: writes its latencies (seconds, doubles) to fd. */
static void
run_client(const struct scenario *sc, const char *sock, int client,
    double seconds, int fd)
{
	struct hc_client	*c;
	struct hc_result	 r;
	char			 err[256];
	uint32_t		*ids;
	double			*sent, *lat, end;
	long			 seq = 0, n = 0, head = 0, tail = 0;
	int			 w = sc->window;

	if ((c = hc_connect(sock, err, sizeof(err))) == NULL) {
		fprintf(stderr, "connect: %s\n", err);
		_exit(1);
	}
	ids = calloc(w, sizeof(*ids));
	sent = calloc(w, sizeof(*sent));
	lat = calloc(MAX_SAMPLES, sizeof(*lat));
	end = now() + seconds;
	/* A ring of w requests in flight: answer the oldest, send one more. */
	for (;;) {
		while (tail - head < w && now() < end) {
			json_t *p = params_for(sc, client, seq++);

			if (hc_send(c, sc->method, p, &ids[tail % w]) != HC_OK)
				_exit(2);
			sent[tail % w] = now();
			tail++;
			json_decref(p);
		}
		if (head == tail)
			break;
		if (hc_wait(c, ids[head % w], 30000, &r) != HC_OK) {
			fprintf(stderr, "%s: %s %s\n", sc->name, r.code,
			    r.message);
			_exit(3);
		}
		hc_result_clear(&r);
		if (n < MAX_SAMPLES)
			lat[n++] = now() - sent[head % w];
		head++;
	}
	if (write(fd, lat, n * sizeof(*lat)) != (ssize_t)(n * sizeof(*lat)))
		_exit(4);
	hc_close(c);
	_exit(0);
}

static pid_t
spawn_daemon(const char *helixd, const char *dir, const char *sync,
    char *sock, size_t socklen)
{
	char	state[512], log[512];
	pid_t	pid;
	int	i, fd;

	snprintf(sock, socklen, "%s/s.sock", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(log, sizeof(log), "%s/helixd.log", dir);
	if ((pid = fork()) == 0) {
		if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1)
			dup2(fd, 2);
		/* Room for a flow that grows for the whole run. */
		execl(helixd, helixd, "--config", "", "--socket", sock,
		    "--state-dir", state, "--sync", sync, "--log-level", "warn",
		    "--max-nodes", "10000000", "--max-flow-bytes", "1G",
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000; i++) {	/* poll until it listens, 10 s */
		struct hc_client *c = hc_connect(sock, NULL, 0);

		if (c != NULL) {
			hc_close(c);
			return pid;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	return -1;
}

static int
preload(const char *sock, int nodes)
{
	struct hc_client	*c = hc_connect(sock, NULL, 0);
	struct hc_result	 r;
	json_t			*ops = json_array(), *p;
	int			 i, rc;

	if (c == NULL)
		return -1;
	for (i = 0; i < nodes; i++) {
		char id[32];

		snprintf(id, sizeof(id), "n%d", i);
		json_array_append_new(ops, json_pack("{s:s,s:{s:s,s:s,s:f,s:f}}",
		    "op", "add_node", "node", "id", id, "type", "task",
		    "x", (double)i, "y", 2.0));
		if (json_array_size(ops) == 500 || i == nodes - 1) {
			p = json_pack("[so]", "bench0", ops);
			rc = hc_call(c, "flow.apply", p, 30000, &r);
			hc_result_clear(&r);
			json_decref(p);
			if (rc != HC_OK)
				return -1;
			ops = json_array();
		}
	}
	json_decref(ops);
	hc_close(c);
	return 0;
}

static void
run(const struct scenario *sc, const char *helixd, double seconds)
{
	char	 dir[] = "/tmp/helix-bench.XXXXXX", sock[600], cmd[700];
	double	*all = NULL, buf[4096];
	size_t	 n = 0, cap = 0, k;
	int	 fds[64], p[2], i, st, failed = 0;
	pid_t	 d, kids[64];
	ssize_t	 got;

	if (mkdtemp(dir) == NULL || (d = spawn_daemon(helixd, dir, sc->sync,
	    sock, sizeof(sock))) == -1) {
		fprintf(stderr, "%s: cannot start helixd\n", sc->name);
		exit(1);
	}
	if (sc->preload > 0 && preload(sock, sc->preload) == -1) {
		fprintf(stderr, "%s: preload failed\n", sc->name);
		exit(1);
	}
	for (i = 0; i < sc->clients; i++) {
		if (pipe(p) == -1)
			exit(1);
		if ((kids[i] = fork()) == 0) {
			close(p[0]);
			run_client(sc, sock, i, seconds, p[1]);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	/* Each client writes its samples once its time is up. */
	for (i = 0; i < sc->clients; i++) {
		while ((got = read(fds[i], buf, sizeof(buf))) > 0) {
			k = got / sizeof(double);
			if (n + k > cap) {
				cap = (n + k) * 2;
				if ((all = realloc(all, cap * sizeof(*all))) == NULL)
					exit(1);
			}
			memcpy(all + n, buf, k * sizeof(double));
			n += k;
		}
		close(fds[i]);
		if (waitpid(kids[i], &st, 0) == -1 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			failed++;
	}
	kill(d, SIGTERM);
	waitpid(d, &st, 0);
	if (failed)
		fprintf(stderr, "%s: %d client(s) failed\n", sc->name, failed);
	qsort(all, n, sizeof(*all), cmp_double);
	printf("%-20s %-5s %3d %3d %3d %9.0f %9.1f %9.1f %9.1f\n", sc->name,
	    sc->sync, sc->clients, sc->flows, sc->window, n / seconds,
	    n ? all[n / 2] * 1e6 : 0, n ? all[(size_t)(n * 0.99)] * 1e6 : 0,
	    n ? all[n - 1] * 1e6 : 0);
	fflush(stdout);
	free(all);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int
main(int argc, char **argv)
{
	const char	*helixd = NULL, *only = NULL;
	double		 seconds = 3;
	size_t		 i;
	int		 ch;
	static const struct option opts[] = {
		{ "spawn", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};

	while ((ch = getopt_long(argc, argv, "s:t:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 's': helixd = optarg; break;
		case 't': seconds = atof(optarg); break;
		case 'o': only = optarg; break;
		default:
			fprintf(stderr, "usage: helix-bench --spawn HELIXD "
			    "[--seconds N] [--only NAME]\n");
			return 2;
		}
	}
	if (helixd == NULL || seconds <= 0) {
		fprintf(stderr, "usage: helix-bench --spawn HELIXD "
		    "[--seconds N] [--only NAME]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("%-20s %-5s %3s %3s %3s %9s %9s %9s %9s\n", "scenario", "sync",
	    "cli", "flw", "win", "req/s", "p50_us", "p99_us", "max_us");
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (only == NULL || strcmp(only, scenarios[i].name) == 0)
			run(&scenarios[i], helixd, seconds);
	}
	return 0;
}
