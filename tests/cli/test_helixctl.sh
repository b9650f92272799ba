#!/bin/sh
# test_helixctl.sh: helixctl end to end, against a real helixd on a private
# socket in a temporary directory.
#
#	HELIXD=... HELIXCTL=... [HELIX_WORKER=...] sh test_helixctl.sh
#
# Every command, every exit status, --json parsed back with Python, watch
# and events with their signals.  Nothing waits on a bare sleep: each wait
# polls a condition until a deadline.  Prints one line per check and ends
# with "N passed, N failed"; exits 1 if any failed.

set -u

: "${HELIXD:?set HELIXD to the helixd binary}"
: "${HELIXCTL:?set HELIXCTL to the helixctl binary}"
PY=/usr/bin/python3
unset HELIX_SOCKET

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helixctl-test.XXXXXX") || exit 1
sock=$tmp/helixd.sock
nothing=$tmp/nothing.sock	# a path where nothing listens
passed=0
failed=0
stopped_pid=			# a worker we SIGSTOPped, to resume at exit

cleanup() {
	[ -n "$stopped_pid" ] && kill -CONT "$stopped_pid" 2>/dev/null
	for f in "$tmp"/*.pid; do
		[ -f "$f" ] || continue
		case $f in
		*/helixd.pid) ;;
		*) kill -TERM "$(cat "$f")" 2>/dev/null ;;
		esac
	done
	if [ -f "$tmp/helixd.pid" ] && [ ! -f "$tmp/helixd.rc" ]; then
		kill -TERM "$(cat "$tmp/helixd.pid")" 2>/dev/null
		if ! poll 10 test -f "$tmp/helixd.rc"; then
			kill -KILL "$(cat "$tmp/helixd.pid")" 2>/dev/null
			poll 5 test -f "$tmp/helixd.rc"
		fi
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# ---- helpers ----------------------------------------------------------

# poll SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds.
poll() {
	_tries=$(($1 * 20))
	shift
	while ! "$@" >/dev/null 2>&1; do
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] || return 1
		sleep 0.05
	done
}

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

not_ok() {
	failed=$((failed + 1))
	echo "FAIL - $1: $2"
	for f in "$tmp/out" "$tmp/err"; do
		[ -s "$f" ] && sed 's/^/	| /' "$f" | head -20
	done
}

check() {
	if [ "$2" = 0 ]; then ok "$1"; else not_ok "$1" "$3"; fi
}

hx() {
	"$HELIXCTL" -s "$sock" "$@"
}

# run NAME WANT_STATUS COMMAND...: stdout to $tmp/out, stderr to $tmp/err.
run() {
	_name=$1
	_want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	_got=$?
	if [ "$_got" = "$_want" ]; then
		ok "$_name"
	else
		not_ok "$_name" "got status $_got, want $_want"
	fi
	return 0
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
	if py "$tmp/out" "$2" "${3:-doc}" >"$tmp/py" 2>&1; then
		ok "$1"
	else
		not_ok "$1" "false: $2 ($(head -c 300 "$tmp/py"))"
	fi
}

# has NAME PATTERN [FILE]: a line of FILE ($tmp/out) matches PATTERN.
has() {
	if grep -q -e "$2" "${3:-$tmp/out}"; then
		ok "$1"
	else
		not_ok "$1" "no line matches '$2' in ${3:-out}"
	fi
}

# status_is FLOW EXPR: flow.status of FLOW satisfies EXPR (for poll).
status_is() {
	hx --json status "$1" >"$tmp/poll" 2>/dev/null &&
	    py "$tmp/poll" "$2" >/dev/null 2>&1
}

# bg NAME COMMAND...: run in the background; NAME.pid, NAME.out, NAME.err,
# and NAME.rc (its exit status) once it has ended.  The shell ignores
# SIGINT in background commands; helixctl must catch it all the same.
bg() {
	_n=$1
	shift
	rm -f "$tmp/$_n.rc"
	( "$@" >"$tmp/$_n.out" 2>"$tmp/$_n.err" </dev/null &
	  echo $! >"$tmp/$_n.pid"
	  wait $!
	  echo $? >"$tmp/$_n.rc" ) &
	poll 10 test -s "$tmp/$_n.pid"
}

# ended NAME WANT: the background command ends, with status WANT.
ended() {
	if ! poll 15 test -s "$tmp/$1.rc"; then
		not_ok "$1 ends" "still running"
		kill -KILL "$(cat "$tmp/$1.pid")" 2>/dev/null
		return 1
	fi
	rm -f "$tmp/$1.pid"
	_got=$(cat "$tmp/$1.rc")
	if [ "$_got" = "$2" ]; then
		ok "$1 ends with status $2"
	else
		not_ok "$1 ends with status $2" "got $_got ($(cat "$tmp/$1.err"))"
	fi
}

# ---- a daemon of our own ---------------------------------------------

# Short call timeout, so that the server's own 'timeout' comes quickly; a
# long watchdog, so that a stopped worker is not killed under the test.
set -- --socket "$sock" --state-dir "$tmp/state" --config '' \
    --call-timeout-ms 1500 --watchdog-timeout-ms 30000
[ -n "${HELIX_WORKER:-}" ] && set -- "$@" --worker "$HELIX_WORKER"
bg helixd "$HELIXD" "$@"
if ! poll 10 hx ping; then
	echo "helixd did not start:"
	cat "$tmp/helixd.err"
	echo "0 passed, 1 failed"
	exit 1
fi

# ---- help and usage ---------------------------------------------------

run "--help" 0 "$HELIXCTL" --help
for c in ping version get apply status list close delete history inspect \
    kill stats watch events shutdown add-node move-node remove-node \
    add-edge remove-edge; do
	has "--help lists $c" "^  $c"
done
run "COMMAND --help" 0 "$HELIXCTL" apply --help
has "COMMAND --help prints its usage" \
    "^usage: helixctl apply FLOW OPS_JSON|- \[--base N\]"
run "-V" 0 "$HELIXCTL" -V
has "-V prints the version" "^helixctl [0-9]"

# Usage errors are found before connecting: no daemon is needed.
usage() {
	_name=$1
	shift
	run "usage: $_name" 2 "$HELIXCTL" -s "$nothing" "$@"
	has "usage: $_name: a usage line" "^usage: helixctl" "$tmp/err"
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
run "usage: bad JSON on stdin" 2 sh -c \
    'echo "[1," | "$1" -s "$2" apply f -' sh "$HELIXCTL" "$nothing"

# ---- connecting -------------------------------------------------------

run "ping" 0 hx ping
has "ping prints pong" "^pong$"
run "ping --json" 0 hx --json ping
json "ping --json is the JSON string" 'd == "pong"'
run "HELIX_SOCKET" 0 env HELIX_SOCKET="$sock" "$HELIXCTL" ping
run "-s before HELIX_SOCKET" 0 \
    env HELIX_SOCKET="$nothing" "$HELIXCTL" -s "$sock" ping
run "--socket after the command" 0 "$HELIXCTL" ping --socket "$sock"
run "nothing listens: status 3" 3 "$HELIXCTL" -s "$nothing" ping
has "nothing listens: says where" "cannot connect to .*nothing.sock" \
    "$tmp/err"
run "HELIX_SOCKET where nothing listens: status 3" 3 \
    env HELIX_SOCKET="$nothing" "$HELIXCTL" ping

run "version" 0 hx version
has "version: protocol" "^protocol: 1$"
run "version --json" 0 hx version --json
json "version --json" 'd["protocol"] == 1 and isinstance(d["version"], str)'

# ---- editing a flow ---------------------------------------------------

F=cli-flow
run "add-node" 0 hx add-node $F a start 0 0
has "add-node prints the version" "^version 1$"
run "add-node, negative and fractional" 0 hx add-node $F b end -40 12.5
has "add-node: version 2" "^version 2$"
run "add-edge" 0 hx add-edge $F e1 a b
run "move-node" 0 hx move-node $F b 1e2 -0.25
has "move-node: version 4" "^version 4$"
run "get --json" 0 hx --json get $F
json "get --json: the document" '
d["id"] == "cli-flow" and d["version"] == 4 and
[(n["id"], n["type"], n["x"], n["y"]) for n in d["nodes"]] ==
    [("a", "start", 0, 0), ("b", "end", 100, -0.25)] and
[(e["id"], e["source"], e["target"]) for e in d["edges"]] ==
    [("e1", "a", "b")]'
run "get" 0 hx get $F
has "get: key: value" "^version: 4$"
has "get: node table" "^NODE  *TYPE  *X  *Y"
has "get: a node row" "^b  *end  *100  *-0.25 "
has "get: edge row" "^e1  *a  *b "

run "apply" 0 hx apply $F '[{"op": "set_meta", "title": "T\nwo lines"}]'
has "apply prints the version" "^version 5$"
run "apply from stdin" 0 sh -c \
    "echo '[{\"op\": \"add_node\", \"node\": {\"id\": \"c\", \"type\": \"\
caf\\u00e9 \\u2713\", \"x\": 1, \"y\": 2}}]' | \"\$1\" -s \"\$2\" apply $F -" \
    sh "$HELIXCTL" "$sock"
has "apply from stdin: version 6" "^version 6$"
run "get --json, non-ASCII" 0 hx get $F --json
json "get --json: valid UTF-8 and escapes" \
    'd["nodes"][2]["type"] == "caf\u00e9 \u2713" and
    d["title"] == "T\nwo lines"'
run "get, a title with a newline" 0 hx get $F
has "get: control characters escaped" '^title: T\\nwo lines$'

run "apply, invalid op: status 1" 1 hx apply $F \
    '[{"op": "remove_node", "id": "nope"}]'
has "invalid op: code and message" "^helixctl: invalid_op: " "$tmp/err"
run "apply --base, conflict: status 1" 1 hx apply $F '[]' --base 2
has "conflict: code and message" "^helixctl: conflict: " "$tmp/err"
run "apply --base current" 0 hx apply $F --base=6 '[]'
has "apply --base: version 7" "^version 7$"
run "add-node --base, conflict" 1 hx add-node $F x t 1 1 --base 3
run "remove-edge" 0 hx remove-edge $F e1
run "remove-node" 0 hx remove-node $F c
has "remove-node: version 9" "^version 9$"
run "remove-node, missing: status 1" 1 hx remove-node $F c
run "invalid flow id: status 1" 1 hx get '.bad'
has "invalid flow id: code" "^helixctl: invalid_flow_id: " "$tmp/err"
run "a flow id like an option, after --" 0 hx get -- --x
has "after --: an argument" "^id: --x$"
run "delete it" 0 hx delete -- --x

run "history --json" 0 hx --json history $F 0
json "history --json" '[u["version"] for u in d["updates"]] ==
    list(range(1, 10)) and d["complete"] is True and
    d["updates"][0]["ops"][0]["op"] == "add_node"'
run "history" 0 hx history $F 7
has "history: header" "^VERSION  *ORIGIN  *OPS$"
has "history: a row" "^9  *-  *remove_node c$"

# ---- status, list, inspect, kill, stats -------------------------------

run "status --json" 0 hx status $F --json
json "status --json" 'd["flow_id"] == "cli-flow" and d["version"] == 9 and
    d["state"] == "running" and d["active"] is True and
    d["client_count"] == 0'
run "status" 0 hx status $F
has "status: key: value" "^state: running$"
run "list" 0 hx list
has "list: header" "^FLOW  *STATE  *ACTIVE  *CLIENTS  *VERSION  *RESTARTS$"
has "list: the flow" "^cli-flow  *running  *yes  *0  *9  *0$"
run "list --json" 0 hx list --json
json "list --json" '"cli-flow" in [s["flow_id"] for s in d]'

run "inspect --json" 0 hx inspect $F --json
json "inspect --json" 'd["pid"] > 0 and d["clients"] == [] and
    d["version"] == 9'
pid=$(py "$tmp/out" 'd["pid"]')
run "inspect" 0 hx inspect $F
has "inspect: pid" "^pid: $pid$"

run "kill TERM" 0 hx kill $F TERM --json
json "kill: the pid" "d == {'pid': $pid}"
if poll 10 status_is $F 'd["restarts"] == 1 and d["state"] == "running"'
then ok "kill: the worker is restarted"
else not_ok "kill: the worker is restarted" "$(cat "$tmp/poll")"
fi
run "kill with a number" 0 hx kill $F 15
run "kill, bad signal: status 1" 1 hx kill $F NOSUCHSIG
has "kill, bad signal: code" "^helixctl: invalid_params: " "$tmp/err"

run "stats --json" 0 hx stats --json
json "stats --json" 'd["sessions_live"] >= 1 and
    d["methods"]["flow.apply"]["count"] >= 9 and
    set(d["methods"]["sys.ping"]) >= {"count", "p50_us", "p99_us", "max_us"}'
run "stats" 0 hx stats
has "stats: counters" "^sessions_live: [0-9]"
has "stats: method table" "^METHOD  *COUNT  *P50_US  *P99_US  *MAX_US$"
has "stats: a method row" "^flow.apply  *[0-9]"

# ---- timeouts: a stopped worker ---------------------------------------

poll 10 status_is $F 'd["state"] == "running"'
hx --json inspect $F >"$tmp/out"
stopped_pid=$(py "$tmp/out" 'd["pid"]')
kill -STOP "$stopped_pid"
run "no answer within --timeout: status 4" 4 hx --timeout 300 get $F
has "timeout: says so" "^helixctl: no answer to flow.get within 300 ms$" \
    "$tmp/err"
run "the server's own timeout: status 1" 1 hx --timeout 8000 get $F
has "server timeout: code" "^helixctl: timeout: " "$tmp/err"
kill -CONT "$stopped_pid"
stopped_pid=
run "--timeout 0 waits for ever" 0 hx --timeout 0 get $F

# ---- watch ------------------------------------------------------------

bg watch "$HELIXCTL" -s "$sock" watch $F
if poll 10 status_is $F 'd["client_count"] == 1'
then ok "watch joins the flow"
else not_ok "watch joins the flow" "$(cat "$tmp/poll")"
fi
run "apply while watched" 0 hx add-node $F w t 5 5
if poll 10 grep -q '"flow.update"' "$tmp/watch.out"
then ok "watch prints the update at once"
else not_ok "watch prints the update at once" "$(cat "$tmp/watch.out")"
fi
run "close" 0 hx close $F --json
json "close: one client unsubscribed" 'd == {"client_count": 1}'
if ended watch 0; then
	cp "$tmp/watch.out" "$tmp/out"
	json "watch: JSON lines, flow.closed last" '
[l["method"] for l in d] == ["flow.update", "flow.closed"] and
d[0]["params"][0] == "cli-flow" and d[0]["params"][1]["version"] == 10 and
d[0]["params"][1]["ops"][0]["node"]["id"] == "w" and
d[-1]["params"] == ["cli-flow", {"reason": "closed"}]' lines
fi

run "status after close" 0 hx status $F --json
json "status after close: hibernated" \
    'd["state"] == "hibernated" and d["active"] is False'
run "list --all" 0 hx list --all --json
json "list --all: the flow on disk" \
    '[s["flow_id"] for s in d if s["state"] == "hibernated"] == ["cli-flow"]'
run "kill, not running: status 1" 1 hx kill $F
has "kill, not running: code" "^helixctl: not_running: " "$tmp/err"

# --since replays the history, then SIGTERM ends the watch with status 0.
bg watch2 "$HELIXCTL" -s "$sock" watch --since 7 $F
if poll 10 test "$(wc -l <"$tmp/watch2.out")" -ge 3
then ok "watch --since replays"
else not_ok "watch --since replays" "$(cat "$tmp/watch2.out")"
fi
kill -TERM "$(cat "$tmp/watch2.pid")"
if ended watch2 0; then
	cp "$tmp/watch2.out" "$tmp/out"
	json "watch --since: versions 8 to 10" \
	    '[l["params"][1]["version"] for l in d] == [8, 9, 10]' lines
fi

# ---- events -----------------------------------------------------------

hx stats --json >"$tmp/out"
subs=$(py "$tmp/out" 'd["methods"]["sys.subscribe"]["count"]')
bg events "$HELIXCTL" -s "$sock" events session. client.
# shellcheck disable=SC2016 # $1 to $4 are the inner shell's
if poll 10 sh -c '"$1" -s "$2" stats --json | "$3" -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(d[\"methods\"][\"sys.subscribe\"][\"count\"] <= $4)"' \
    sh "$HELIXCTL" "$sock" "$PY" "$subs"
then ok "events subscribes"
else not_ok "events subscribes" "$(cat "$tmp/events.err")"
fi
run "get starts a session" 0 hx get ev-flow
if poll 10 grep -q '"session.start".*"ev-flow"' "$tmp/events.out"
then ok "events prints session.start"
else not_ok "events prints session.start" "$(cat "$tmp/events.out")"
fi
kill -INT "$(cat "$tmp/events.pid")"
if ended events 0; then
	cp "$tmp/events.out" "$tmp/out"
	json "events: sys.event JSON lines" '
all(l["method"] == "sys.event" and len(l["params"]) == 3 and
    l["params"][0].startswith(("session.", "client.")) for l in d) and
any(l["params"][0] == "session.start" and
    l["params"][2]["flow_id"] == "ev-flow" for l in d)' lines
fi

# ---- delete, shutdown -------------------------------------------------

run "delete" 0 hx delete $F --json
json "delete --json" 'd == {"deleted": True}'
run "delete again" 0 hx delete $F
has "delete: nothing left" "^deleted: false$"
run "get after delete" 0 hx get $F --json
json "a deleted flow is at version 0" 'd["version"] == 0 and d["nodes"] == []'

run "shutdown" 0 hx shutdown --json
json "shutdown --json" 'd == {}'
if poll 15 test -f "$tmp/helixd.rc"
then ok "helixd stops"
else not_ok "helixd stops" "still running"
fi
run "after shutdown: status 3" 3 hx ping

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
