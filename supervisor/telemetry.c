/*
 * telemetry.c: an event at every transition goes to the log and to every
 * connection that subscribed with a matching prefix, as
 * [2, "sys.event", [name, measurements, metadata]].
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/helixd.h"

static const char *event_names[] = {
	"session.start", "session.stop", "session.crash", "session.restart",
	"session.failed", "session.changed", "client.joined", "client.left",
};
#define NEVENTS (sizeof(event_names) / sizeof(event_names[0]))

size_t
telemetry_names(const char ***out)
{
	*out = event_names;
	return NEVENTS;
}

static bool
wants(const struct client *c, const char *name)
{
	size_t i;

	if (c->prefixes == NULL)
		return true;
	for (i = 0; i < c->nprefixes; i++) {
		if (strncmp(name, c->prefixes[i], strlen(c->prefixes[i])) == 0)
			return true;
	}
	return false;
}

/*
 * pid 0, reason/client NULL, sig 0 and exit_status < 0 mean "does not
 * apply" and are left out of the metadata and the log line.
 */
void
telemetry_send(const char *name, const char *flow, pid_t pid,
    const char *reason, const char *client, int sig, int exit_status)
{
	char	 line[512];
	size_t	 off = 0;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	struct client	*c;
	size_t		 i;
	uint32_t	 nmeta = 1;
	bool		 any = false;

	for (i = 0; i < NEVENTS; i++) {
		if (strcmp(event_names[i], name) == 0)
			srv->st.events[i]++;
	}
	line[0] = '\0';
	if (pid != 0)
		off += snprintf(line + off, sizeof(line) - off, " pid=%d",
		    (int)pid);
	if (reason != NULL && off < sizeof(line))
		off += snprintf(line + off, sizeof(line) - off, " reason=%s",
		    log_q(reason));
	if (client != NULL && off < sizeof(line))
		off += snprintf(line + off, sizeof(line) - off, " client_id=%s",
		    log_q(client));
	if (sig != 0 && off < sizeof(line))
		off += snprintf(line + off, sizeof(line) - off, " signal=%s",
		    sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	if (exit_status >= 0 && off < sizeof(line))
		snprintf(line + off, sizeof(line) - off, " exit_status=%d",
		    exit_status);
	log_event(strcmp(name, "session.changed") == 0 ? HLOG_DEBUG :
	    HLOG_INFO, flow, name, "%s", line);
	TAILQ_FOREACH(c, &srv->clients, entry) {
		if (c->subscribed && wants(c, name)) {
			any = true;
			break;
		}
	}
	if (!any)
		return;
	nmeta += pid != 0;
	nmeta += reason != NULL;
	nmeta += client != NULL;
	nmeta += sig != 0;
	nmeta += exit_status >= 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_notify_begin(&pk, "sys.event", 3);
	proto_pack_str(&pk, name);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "time");
	msgpack_pack_double(&pk, now_s());
	msgpack_pack_map(&pk, nmeta);
	proto_pack_key(&pk, "flow_id");
	proto_pack_str(&pk, flow);
	if (pid != 0) {
		proto_pack_key(&pk, "pid");
		msgpack_pack_int64(&pk, pid);
	}
	if (reason != NULL) {
		proto_pack_key(&pk, "reason");
		proto_pack_str(&pk, reason);
	}
	if (client != NULL) {
		proto_pack_key(&pk, "client_id");
		proto_pack_str(&pk, client);
	}
	if (sig != 0) {
		proto_pack_key(&pk, "signal");
		proto_pack_str(&pk, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	}
	if (exit_status >= 0) {
		proto_pack_key(&pk, "exit_status");
		msgpack_pack_int(&pk, exit_status);
	}
	TAILQ_FOREACH(c, &srv->clients, entry) {
		if (c->subscribed && wants(c, name))
			client_send_buf(c, sb.data, sb.size);
	}
	msgpack_sbuffer_destroy(&sb);
}
