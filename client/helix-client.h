/*
 * helix-client.h: the C client library of helixd (libhelix-client).
 *
 * One struct hc_client is one connection to helixd's Unix socket, speaking
 * the MessagePack-RPC of ../shared/PROTOCOL.md.  Requests can be pipelined:
 * hc_send queues and writes a request and hands back its msgid, hc_wait
 * collects the answer to one msgid; answers to other msgids that arrive
 * meanwhile are kept until asked for, and server notifications are queued
 * (or handed to a callback).  Parameters and results are jansson values;
 * client/json.c bridges JSON and MessagePack.
 *
 * Everything the server sends goes through proto_reader with the limits
 * below, so a hostile server costs at most HC_MAX_MESSAGE per message and
 * HC_STORE_MAX (hc_set_store_max) of unread answers and notifications
 * (counted as encoded bytes; as JSON they take a few times more).  A connection that
 * breaks stays a valid handle: what was received before is still handed
 * out, then every call answers HC_ECONN.
 *
 * Not thread-safe: one client, one thread at a time.
 */
#ifndef HELIX_CLIENT_H
#define HELIX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

#define HC_MAX_MESSAGE		(64u << 20)	/* one message from the server */
#define HC_MAX_DEPTH		32	/* nesting, server messages and JSON */
#define HC_STORE_MAX		(256u << 20)	/* unread answers + notifications */
#define HC_SEND_TIMEOUT_MS	30000	/* hc_send/hc_write_raw blocked writing */

struct hc_client;

/* Values equal helixctl's exit codes. */
enum hc_status {
	HC_OK = 0,
	HC_ERROR = 1,		/* the server answered an error */
	HC_EUSAGE = 2,		/* bad arguments; nothing was sent */
	HC_ECONN = 3,		/* cannot connect / connection lost */
	HC_ETIMEDOUT = 4,	/* no answer in time */
};

/*
 * The socket path a client uses when given none: $HELIX_SOCKET when set
 * and not empty (as is: an explicit choice never falls through to another
 * daemon); otherwise the first that exists of
 * $XDG_RUNTIME_DIR/helix/helixd.sock (when XDG_RUNTIME_DIR is set),
 * /tmp/helix-$UID/helixd.sock and /run/helix/helixd.sock; when none
 * exists, the first candidate, so that the connect error names it.
 * 0, or -1 (ENAMETOOLONG) when buf is too small.
 */
int	 hc_default_socket(char *buf, size_t len);

/* path NULL: hc_default_socket.  NULL with a message in err on failure. */
struct hc_client *hc_connect(const char *path, char *err, size_t errlen);
/* Frees everything, unread answers and notifications included.  NULL ok. */
void	 hc_close(struct hc_client *);
/*
 * The socket, for an outside poll loop (-1 once the connection is lost).
 * hc_wait may stop reading right after the answer it waited for and leave
 * later messages buffered; call hc_poll(c, 0) before sleeping on hc_fd.
 */
int	 hc_fd(const struct hc_client *);

/*
 * Pipelining: encode a request whose params is a JSON array (NULL = [])
 * and write it; its msgid goes to *msgid.  Returns once the whole request
 * is in the kernel; while the socket is full it keeps reading (answers and
 * notifications are stored, no callback runs), so the server can never
 * block us by blocking on us.  HC_OK; HC_EUSAGE (method NULL, params not
 * an array, a value that cannot be encoded: nothing sent); HC_ECONN;
 * HC_ETIMEDOUT when the request is not all written within
 * HC_SEND_TIMEOUT_MS (hc_call: within its timeout); if part of it was, the
 * connection is closed, as the stream cannot be resumed.  On HC_ECONN *msgid is still set (else 0) when the
 * connection broke while this request was being written: the server may
 * have answered before closing (message_too_large), and hc_wait still
 * hands out that answer.
 */
int	 hc_send(struct hc_client *, const char *method, const json_t *params,
	    uint32_t *msgid);
/* The same with params already encoded: exactly one MessagePack array. */
int	 hc_send_raw_params(struct hc_client *, const char *method,
	    const void *params, size_t len, uint32_t *msgid);
/* Raw bytes straight onto the socket (tests send garbage with it). */
int	 hc_write_raw(struct hc_client *, const void *, size_t);

struct hc_result {
	bool	 is_error;
	json_t	*value;		/* the result, or the error map; owned */
	char	 code[64];	/* error code, or "" */
	char	 message[256];	/* error message; on a transport error why */
};
/* json_decref the value and empty r; safe on an emptied or zeroed r. */
void	 hc_result_clear(struct hc_result *);

/*
 * Wait up to timeout_ms (< 0 = forever) for the answer to msgid; r (may be
 * NULL) is overwritten, not cleared first.  HC_OK when the server answered
 * a result, HC_ERROR when it answered an error: r is filled either way.
 * An answer the client cannot turn into JSON (a string that is not UTF-8,
 * bin, ext, a non-str map key) is HC_ERROR with code "invalid_response".
 * HC_ETIMEDOUT (the answer is still kept when it comes), HC_ECONN; then
 * r->message says why.  Notifications that arrived before the answer are
 * queued, or passed to the callback, before this returns.
 */
int	 hc_wait(struct hc_client *, uint32_t msgid, int timeout_ms,
	    struct hc_result *);
/* Drop the answer to msgid, now or when it arrives. */
void	 hc_discard(struct hc_client *, uint32_t msgid);
/* send + wait, one timeout for both; a late answer is discarded. */
int	 hc_call(struct hc_client *, const char *method, const json_t *params,
	    int timeout_ms, struct hc_result *);
/*
 * Params as JSON text (NULL = "[]"), e.g.
 *   hc_call_text(c, "flow.apply", "[\"f1\", [{\"op\": \"add_node\", ...}]]",
 *       5000, &r);
 * Text that is not a JSON array: HC_EUSAGE, the parse error in r->message.
 */
int	 hc_call_text(struct hc_client *, const char *method,
	    const char *params_json, int timeout_ms, struct hc_result *);

/*
 * Notifications.  With a callback set, hc_wait, hc_call and hc_poll pass
 * every notification to it in arrival order (never while the callback
 * itself runs: a callback may call hc_call, but not hc_close).  Params is
 * borrowed; it is JSON null when the server's params could not be turned
 * into JSON (hc_last_error says why).  NULL = queue them.
 */
typedef void (*hc_notify_cb)(void *arg, const char *method,
    const json_t *params);
void	 hc_set_notify(struct hc_client *, hc_notify_cb, void *arg);
/*
 * The oldest queued notification, waiting up to timeout_ms; the caller
 * frees *method with free and *params with json_decref.  Takes from the
 * queue even when a callback is set.  HC_OK, HC_ETIMEDOUT or HC_ECONN (the
 * queue is empty and the connection is lost).
 */
int	 hc_next_notify(struct hc_client *, int timeout_ms, char **method,
	    json_t **params);
size_t	 hc_pending_notifies(const struct hc_client *);
/*
 * Bound on unread answers and notifications, in encoded bytes (default
 * HC_STORE_MAX): passing it closes the connection (HC_ECONN, and
 * hc_last_error says so) rather than growing without end.
 */
void	 hc_set_store_max(struct hc_client *, size_t bytes);

/*
 * Wait up to timeout_ms for at least one message, then dispatch everything
 * already available.  HC_OK when something was dispatched, HC_ETIMEDOUT,
 * HC_ECONN.
 */
int	 hc_poll(struct hc_client *, int timeout_ms);

/* Text of the last error (transport, protocol, or a refused call); "". */
const char *hc_last_error(const struct hc_client *);

/*
 * JSON <-> MessagePack (client/json.c).
 *
 * hc_json_pack: integer -> int (smallest encoding), real -> float64,
 * string -> str, true/false/null, arrays, objects (str keys, in the
 * object's order).  Nesting deeper than HC_MAX_DEPTH is refused.  On -1
 * the packer may hold a partial value: discard its output.
 *
 * hc_msgpack_to_json: nil, bool, ints (a uint64 above INT64_MAX becomes a
 * real, losing precision: JSON integers here are int64), float32/64 (NaN
 * and infinities refused), str (must be UTF-8), arrays, maps with str keys
 * (a repeated key: the last wins).  bin, ext, other keys and nesting
 * deeper than HC_MAX_DEPTH are refused.  NULL with the reason in err,
 * prefixed by where it is ("$[1].nodes[0].data.x: ...").
 */
int	 hc_json_pack(msgpack_packer *, const json_t *, char *err,
	    size_t errlen);
json_t	*hc_msgpack_to_json(const msgpack_object *, char *err, size_t errlen);

#endif /* HELIX_CLIENT_H */
