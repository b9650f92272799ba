#!/bin/sh
# test_helixctl.sh: helixctl end to end, against a real helixd on a private
# socket in a temporary directory.
#
#	HELIXD=... HELIXCTL=... [HELIX_WORKER=...] \
#	    HX_TESTLIB=.../tests/lib/harness.sh sh test_helixctl.sh
#
# Every command, every exit status, --json parsed back with Python, watch
# and events with their signals.  Nothing waits on a bare sleep: each wait
# polls a condition until a deadline.  Prints one line per check and ends
# with "N passed, N failed"; exits 1 if any failed.

set -u

: "${HELIXD:?set HELIXD to the helixd binary}"
: "${HELIXCTL:?set HELIXCTL to the helixctl binary}"
: "${HX_TESTLIB:?set HX_TESTLIB to tests/lib/harness.sh}"
# shellcheck source=/dev/null
. "$HX_TESTLIB"
PY=/usr/bin/python3
unset HELIX_SOCKET

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helixctl-test.XXXXXX") || exit 1
hx_init "$tmp"
sock=$tmp/helixd.sock
nothing=$tmp/nothing.sock	# a path where nothing listens
stopped_pid=			# a worker we SIGSTOPped, to resume at exit

cleanup() {
	[ -n "$stopped_pid" ] && kill -CONT "$stopped_pid" 2>/dev/null
	hx_cleanup
}
trap cleanup EXIT

# ---- helpers ----------------------------------------------------------

hx() {
	"$HELIXCTL" -s "$sock" "$@"
}

# py FILE EXPR [doc|lines]: EXPR on d, the file's one JSON document (which
# must be one line) or, with lines, the list of its JSON lines.
py() {
	"$PY" -c '
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
if sys.argv[3] == "lines":
    d = [json.loads(l) for l in text.splitlines()]
else:
    if text.count("\n") != 1 or not text.endswith("\n"):
        sys.exit("not one line: %r" % text[:200])
    d = json.loads(text)
v = eval("(" + sys.argv[2] + "\n)")
if v is True or v is False:
    sys.exit(0 if v else 1)
print(v)
' "$1" "$2" "${3:-doc}"
}

# json NAME EXPR [doc|lines]: check EXPR on $tmp/out.
json() {
	hx_check "$1" "$2" py "$tmp/out" "$2" "${3:-doc}"
}

# status_is FLOW EXPR: flow.status of FLOW satisfies EXPR (for hx_poll).
status_is() {
	hx --json status "$1" >"$tmp/poll" 2>/dev/null &&
	    py "$tmp/poll" "$2" >/dev/null 2>&1
}

# ---- a daemon of our own ---------------------------------------------

# Short call timeout, so that the server's own 'timeout' comes quickly; a
# long watchdog, so that a stopped worker is not killed under the test.
set -- --socket "$sock" --state-dir "$tmp/state" --config '' \
    --call-timeout-ms 1500 --watchdog-timeout-ms 30000
[ -n "${HELIX_WORKER:-}" ] && set -- "$@" --worker "$HELIX_WORKER"
if ! hx_start_daemon "$sock" helixd "$HELIXD" "$@"; then
	hx_fail "helixd starts" "$(cat "$tmp/helixd.err")"
	hx_done
fi

# ---- help and usage ---------------------------------------------------

hx_run "--help" 0 "$HELIXCTL" --help
for c in ping version get apply status list close delete history inspect \
    kill stats watch events shutdown add-node move-node remove-node \
    add-edge remove-edge; do
	hx_has "--help lists $c" "^  $c"
done
hx_run "COMMAND --help" 0 "$HELIXCTL" apply --help
hx_has "COMMAND --help prints its usage" \
    "^usage: helixctl apply FLOW OPS_JSON|- \[--base N\]"
hx_run "-V" 0 "$HELIXCTL" -V
hx_has "-V prints the version" "^helixctl [0-9]"

# Usage errors are found before connecting: no daemon is needed.
usage() {
	_name=$1
	shift
	hx_run "usage: $_name" 2 "$HELIXCTL" -s "$nothing" "$@"
	hx_has "usage: $_name: a usage line" "^usage: helixctl" "$tmp/err"
}
usage "no command"
usage "unknown command" frobnicate
usage "unknown global option" --frob ping
usage "too few arguments" get
usage "too many arguments" get a b
usage "unknown command option" list --frob
usage "option of another command" get f --base 1
usage "bad --timeout" --timeout soon ping
usage "negative --timeout" --timeout -5 ping
usage "X not a number" add-node f n t abc 1
usage "Y with garbage" add-node f n t 1 2x
usage "X NaN" add-node f n t nan 1
usage "X infinite" move-node f n 1e999 1
usage "empty Y" move-node f n 1 ''
usage "bad --base" apply f '[]' --base -1
usage "bad SINCE" history f v1
usage "bad --since" watch f --since x
usage "ops not JSON" apply f '[{"op":'
usage "ops not an array" apply f '{"op": "set_meta", "title": "x"}'
usage "ops with a repeated key" apply f '[{"op": "set_meta", "op": "x"}]'
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
hx_run "usage: bad JSON on stdin" 2 sh -c \
    'echo "[1," | "$1" -s "$2" apply f -' sh "$HELIXCTL" "$nothing"

# ---- connecting -------------------------------------------------------

hx_run "ping" 0 hx ping
hx_has "ping prints pong" "^pong$"
hx_run "ping --json" 0 hx --json ping
json "ping --json is the JSON string" 'd == "pong"'
hx_run "HELIX_SOCKET" 0 env HELIX_SOCKET="$sock" "$HELIXCTL" ping
hx_run "-s before HELIX_SOCKET" 0 \
    env HELIX_SOCKET="$nothing" "$HELIXCTL" -s "$sock" ping
hx_run "--socket after the command" 0 "$HELIXCTL" ping --socket "$sock"
hx_run "nothing listens: status 3" 3 "$HELIXCTL" -s "$nothing" ping
hx_has "nothing listens: says where" "cannot connect to .*nothing.sock" \
    "$tmp/err"
hx_run "HELIX_SOCKET where nothing listens: status 3" 3 \
    env HELIX_SOCKET="$nothing" "$HELIXCTL" ping

hx_run "version" 0 hx version
hx_has "version: protocol" "^protocol: 1$"
hx_run "version --json" 0 hx version --json
json "version --json" 'd["protocol"] == 1 and isinstance(d["version"], str)'

# ---- editing a flow ---------------------------------------------------

F=cli-flow
hx_run "add-node" 0 hx add-node $F a start 0 0
hx_has "add-node prints the version" "^version 1$"
hx_run "add-node, negative and fractional" 0 hx add-node $F b end -40 12.5
hx_has "add-node: version 2" "^version 2$"
hx_run "add-edge" 0 hx add-edge $F e1 a b
hx_run "move-node" 0 hx move-node $F b 1e2 -0.25
hx_has "move-node: version 4" "^version 4$"
hx_run "get --json" 0 hx --json get $F
json "get --json: the document" '
d["id"] == "cli-flow" and d["version"] == 4 and
[(n["id"], n["type"], n["x"], n["y"]) for n in d["nodes"]] ==
    [("a", "start", 0, 0), ("b", "end", 100, -0.25)] and
[(e["id"], e["source"], e["target"]) for e in d["edges"]] ==
    [("e1", "a", "b")]'
hx_run "get" 0 hx get $F
hx_has "get: key: value" "^version: 4$"
hx_has "get: node table" "^NODE  *TYPE  *X  *Y"
hx_has "get: a node row" "^b  *end  *100  *-0.25 "
hx_has "get: edge row" "^e1  *a  *b "

hx_run "apply" 0 hx apply $F '[{"op": "set_meta", "title": "T\nwo lines"}]'
hx_has "apply prints the version" "^version 5$"
hx_run "apply from stdin" 0 sh -c \
    "echo '[{\"op\": \"add_node\", \"node\": {\"id\": \"c\", \"type\": \"\
caf\\u00e9 \\u2713\", \"x\": 1, \"y\": 2}}]' | \"\$1\" -s \"\$2\" apply $F -" \
    sh "$HELIXCTL" "$sock"
hx_has "apply from stdin: version 6" "^version 6$"
hx_run "get --json, non-ASCII" 0 hx get $F --json
json "get --json: valid UTF-8 and escapes" \
    'd["nodes"][2]["type"] == "caf\u00e9 \u2713" and
    d["title"] == "T\nwo lines"'
hx_run "get, a title with a newline" 0 hx get $F
hx_has "get: control characters escaped" '^title: T\\nwo lines$'

hx_run "apply, invalid op: status 1" 1 hx apply $F \
    '[{"op": "remove_node", "id": "nope"}]'
hx_has "invalid op: code and message" "^helixctl: invalid_op: " "$tmp/err"
hx_run "apply --base, conflict: status 1" 1 hx apply $F '[]' --base 2
hx_has "conflict: code and message" "^helixctl: conflict: " "$tmp/err"
hx_run "apply --base current" 0 hx apply $F --base=6 '[]'
hx_has "apply --base: version 7" "^version 7$"
hx_run "add-node --base, conflict" 1 hx add-node $F x t 1 1 --base 3
hx_run "remove-edge" 0 hx remove-edge $F e1
hx_run "remove-node" 0 hx remove-node $F c
hx_has "remove-node: version 9" "^version 9$"
hx_run "remove-node, missing: status 1" 1 hx remove-node $F c
hx_run "invalid flow id: status 1" 1 hx get '.bad'
hx_has "invalid flow id: code" "^helixctl: invalid_flow_id: " "$tmp/err"
hx_run "a flow id like an option, after --" 0 hx get -- --x
hx_has "after --: an argument" "^id: --x$"
hx_run "delete it" 0 hx delete -- --x

hx_run "history --json" 0 hx --json history $F 0
json "history --json" '[u["version"] for u in d["updates"]] ==
    list(range(1, 10)) and d["complete"] is True and
    d["updates"][0]["ops"][0]["op"] == "add_node"'
hx_run "history" 0 hx history $F 7
hx_has "history: header" "^VERSION  *ORIGIN  *OPS$"
hx_has "history: a row" "^9  *-  *remove_node c$"

# ---- status, list, inspect, kill, stats -------------------------------

hx_run "status --json" 0 hx status $F --json
json "status --json" 'd["flow_id"] == "cli-flow" and d["version"] == 9 and
    d["state"] == "running" and d["active"] is True and
    d["client_count"] == 0'
hx_run "status" 0 hx status $F
hx_has "status: key: value" "^state: running$"
hx_run "list" 0 hx list
hx_has "list: header" "^FLOW  *STATE  *ACTIVE  *CLIENTS  *VERSION  *RESTARTS$"
hx_has "list: the flow" "^cli-flow  *running  *yes  *0  *9  *0$"
hx_run "list --json" 0 hx list --json
json "list --json" '"cli-flow" in [s["flow_id"] for s in d]'

hx_run "inspect --json" 0 hx inspect $F --json
json "inspect --json" 'd["pid"] > 0 and d["clients"] == [] and
    d["version"] == 9'
pid=$(py "$tmp/out" 'd["pid"]')
hx_run "inspect" 0 hx inspect $F
hx_has "inspect: pid" "^pid: $pid$"

hx_run "kill TERM" 0 hx kill $F TERM --json
json "kill: the pid" "d == {'pid': $pid}"
if hx_poll 10 status_is $F 'd["restarts"] == 1 and d["state"] == "running"'
then hx_ok "kill: the worker is restarted"
else hx_fail "kill: the worker is restarted" "$(cat "$tmp/poll")"
fi
hx_run "kill with a number" 0 hx kill $F 15
hx_run "kill, bad signal: status 1" 1 hx kill $F NOSUCHSIG
hx_has "kill, bad signal: code" "^helixctl: invalid_params: " "$tmp/err"

hx_run "stats --json" 0 hx stats --json
json "stats --json" 'd["sessions_live"] >= 1 and
    d["methods"]["flow.apply"]["count"] >= 9 and
    set(d["methods"]["sys.ping"]) >= {"count", "p50_us", "p99_us", "max_us"}'
hx_run "stats" 0 hx stats
hx_has "stats: counters" "^sessions_live: [0-9]"
hx_has "stats: method table" "^METHOD  *COUNT  *P50_US  *P99_US  *MAX_US$"
hx_has "stats: a method row" "^flow.apply  *[0-9]"

# ---- timeouts: a stopped worker ---------------------------------------

hx_poll 10 status_is $F 'd["state"] == "running"'
hx --json inspect $F >"$tmp/out"
stopped_pid=$(py "$tmp/out" 'd["pid"]')
kill -STOP "$stopped_pid"
hx_run "no answer within --timeout: status 4" 4 hx --timeout 300 get $F
hx_has "timeout: says so" "^helixctl: no answer to flow.get within 300 ms$" \
    "$tmp/err"
hx_run "the server's own timeout: status 1" 1 hx --timeout 8000 get $F
hx_has "server timeout: code" "^helixctl: timeout: " "$tmp/err"
kill -CONT "$stopped_pid"
stopped_pid=
hx_run "--timeout 0 waits for ever" 0 hx --timeout 0 get $F

# ---- watch ------------------------------------------------------------

hx_bg watch "$HELIXCTL" -s "$sock" watch $F
if hx_poll 10 status_is $F 'd["client_count"] == 1'
then hx_ok "watch joins the flow"
else hx_fail "watch joins the flow" "$(cat "$tmp/poll")"
fi
hx_run "apply while watched" 0 hx add-node $F w t 5 5
if hx_poll 10 grep -q '"flow.update"' "$tmp/watch.out"
then hx_ok "watch prints the update at once"
else hx_fail "watch prints the update at once" "$(cat "$tmp/watch.out")"
fi
hx_run "close" 0 hx close $F --json
json "close: one client unsubscribed" 'd == {"client_count": 1}'
if hx_ended watch 0; then
	cp "$tmp/watch.out" "$tmp/out"
	json "watch: JSON lines, flow.closed last" '
[l["method"] for l in d] == ["flow.update", "flow.closed"] and
d[0]["params"][0] == "cli-flow" and d[0]["params"][1]["version"] == 10 and
d[0]["params"][1]["ops"][0]["node"]["id"] == "w" and
d[-1]["params"] == ["cli-flow", {"reason": "closed"}]' lines
fi

hx_run "status after close" 0 hx status $F --json
json "status after close: hibernated" \
    'd["state"] == "hibernated" and d["active"] is False'
hx_run "list --all" 0 hx list --all --json
json "list --all: the flow on disk" \
    '[s["flow_id"] for s in d if s["state"] == "hibernated"] == ["cli-flow"]'
hx_run "kill, not running: status 1" 1 hx kill $F
hx_has "kill, not running: code" "^helixctl: not_running: " "$tmp/err"

# --since replays the history, then SIGTERM ends the watch with status 0.
hx_bg watch2 "$HELIXCTL" -s "$sock" watch --since 7 $F
if hx_poll 10 test "$(wc -l <"$tmp/watch2.out")" -ge 3
then hx_ok "watch --since replays"
else hx_fail "watch --since replays" "$(cat "$tmp/watch2.out")"
fi
kill -TERM "$(cat "$tmp/watch2.pid")"
if hx_ended watch2 0; then
	cp "$tmp/watch2.out" "$tmp/out"
	json "watch --since: versions 8 to 10" \
	    '[l["params"][1]["version"] for l in d] == [8, 9, 10]' lines
fi

# ---- events -----------------------------------------------------------

hx stats --json >"$tmp/out"
subs=$(py "$tmp/out" 'd["methods"]["sys.subscribe"]["count"]')
hx_bg events "$HELIXCTL" -s "$sock" events session. client.
# shellcheck disable=SC2016 # $1 to $4 are the inner shell's
if hx_poll 10 sh -c '"$1" -s "$2" stats --json | "$3" -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(d[\"methods\"][\"sys.subscribe\"][\"count\"] <= $4)"' \
    sh "$HELIXCTL" "$sock" "$PY" "$subs"
then hx_ok "events subscribes"
else hx_fail "events subscribes" "$(cat "$tmp/events.err")"
fi
hx_run "get starts a session" 0 hx get ev-flow
if hx_poll 10 grep -q '"session.start".*"ev-flow"' "$tmp/events.out"
then hx_ok "events prints session.start"
else hx_fail "events prints session.start" "$(cat "$tmp/events.out")"
fi
kill -INT "$(cat "$tmp/events.pid")"
if hx_ended events 0; then
	cp "$tmp/events.out" "$tmp/out"
	json "events: sys.event JSON lines" '
all(l["method"] == "sys.event" and len(l["params"]) == 3 and
    l["params"][0].startswith(("session.", "client.")) for l in d) and
any(l["params"][0] == "session.start" and
    l["params"][2]["flow_id"] == "ev-flow" for l in d)' lines
fi

# ---- delete, shutdown -------------------------------------------------

hx_run "delete" 0 hx delete $F --json
json "delete --json" 'd == {"deleted": True}'
hx_run "delete again" 0 hx delete $F
hx_has "delete: nothing left" "^deleted: false$"
hx_run "get after delete" 0 hx get $F --json
json "a deleted flow is at version 0" 'd["version"] == 0 and d["nodes"] == []'

hx_run "shutdown" 0 hx shutdown --json
json "shutdown --json" 'd == {}'
hx_stopped helixd
hx_run "after shutdown: status 3" 3 hx ping

hx_done
