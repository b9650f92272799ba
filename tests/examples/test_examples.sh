#!/bin/sh
# test_examples.sh: the scripts of scripts/examples/, each run against a real
# helixd on a private socket in a temporary directory.
#
#	HELIXD=... HELIXCTL=... [HELIX_WORKER=...] EXAMPLES=.../scripts/examples \
#	    HX_TESTLIB=.../tests/lib/harness.sh sh test_examples.sh
#
# build-flow.sh builds what its file says, atomically; watch-log.sh writes
# one line per notification; copy-flow.sh makes an equal flow and refuses a
# non-empty one; chaos.sh passes a 5 s run and fails when an acknowledged
# apply is missing.  Documents are compared with Python.  Every wait polls a
# condition until a deadline.  Prints one line per check and ends with
# "N passed, N failed"; exits 1 if any failed.

set -u

: "${HELIXD:?set HELIXD to the helixd binary}"
: "${HELIXCTL:?set HELIXCTL to the helixctl binary}"
: "${EXAMPLES:?set EXAMPLES to scripts/examples}"
: "${HX_TESTLIB:?set HX_TESTLIB to tests/lib/harness.sh}"
# shellcheck source=/dev/null
. "$HX_TESTLIB"
export HELIXCTL
PY=/usr/bin/python3
unset HELIX_SOCKET

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helix-examples.XXXXXX") || exit 1
hx_init "$tmp"
sock=$tmp/helixd.sock

# ---- helpers ----------------------------------------------------------

hx() {
	"$HELIXCTL" -s "$sock" "$@"
}

# py EXPR FILE...: EXPR on d, the list of the files' contents parsed as
# JSON (d[0] the first file), or on t, the list of their texts.
py() {
	_expr=$1
	shift
	"$PY" -c '
import json, sys
t = [open(f, encoding="utf-8").read() for f in sys.argv[2:]]
d = []
for x in t:
    try:
        d.append(json.loads(x))
    except ValueError:
        d.append(None)
v = eval("(" + sys.argv[1] + "\n)")
if v is True or v is False:
    sys.exit(0 if v else 1)
print(v)
' "$_expr" "$@"
}

# check NAME EXPR FILE...: py EXPR FILE... holds.
check() {
	_name=$1
	shift
	hx_check "$_name" "$1" py "$@"
}

# get FLOW FILE: the flow document, as JSON, to FILE.
get() {
	hx --json get "$1" >"$2" 2>"$tmp/err"
}

# version_is FLOW N: the flow is at version N (for hx_poll).
version_is() {
	hx --json status "$1" 2>/dev/null | grep -q "\"version\":$2,"
}

# clients_are FLOW N: N connections joined the flow (for hx_poll).
clients_are() {
	hx --json status "$1" 2>/dev/null | grep -q "\"client_count\":$2,"
}

# lines_at_least FILE N: FILE has N lines or more (for hx_poll).
lines_at_least() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

ex() {
	_script=$1
	shift
	sh "$EXAMPLES/$_script" "$@"
}

# ---- a daemon of our own ---------------------------------------------

# A short restart cooldown: should chaos.sh get its flow parked, the run
# waits 2 s for it rather than 30.
set -- --socket "$sock" --state-dir "$tmp/state" --config '' \
    --restart-cooldown 2
[ -n "${HELIX_WORKER:-}" ] && set -- "$@" --worker "$HELIX_WORKER"
if ! hx_start_daemon "$sock" helixd "$HELIXD" "$@"; then
	hx_fail "helixd starts" "$(cat "$tmp/helixd.err")"
	hx_done
fi

# ---- build-flow.sh ----------------------------------------------------

cat >"$tmp/order.json" <<'EOF'
{
  "title": "Order \"fulfilment\", v2",
  "description": "From the cart ]}, to the door",
  "viewport": {"x": -10, "y": 20.5, "zoom": 0.75},
  "nodes": [
    {"id": "cart", "type": "start", "x": 0, "y": 0},
    {"id": "pay", "type": "task", "x": 200, "y": -40.25,
     "width": 120, "height": 48,
     "data": {"label": "Pay \u2713", "retries": 3, "tags": ["a,b", {"x": null}],
              "ok": true}},
    {"id": "ship", "type": "end", "x": 400, "y": 0}
  ],
  "edges": [
    {"id": "cart-pay", "source": "cart", "target": "pay"},
    {"id": "pay-ship", "source": "pay", "target": "ship",
     "source_handle": "out", "target_handle": "in", "data": {"w": 1.5}}
  ]
}
EOF
# The document must match the file it was built from.
same_as_file='
d[0]["version"] == 1 and d[0]["title"] == d[1]["title"] and
d[0]["description"] == d[1]["description"] and
d[0]["viewport"] == d[1]["viewport"] and
d[0]["nodes"] == d[1]["nodes"] and d[0]["edges"] == d[1]["edges"]'

hx_run "build-flow" 0 ex build-flow.sh -s "$sock" order "$tmp/order.json"
hx_has -E "build-flow: one apply, version 1" "^version 1$"
get order "$tmp/order.doc"
check "build-flow: the flow is what the file says" "$same_as_file" \
    "$tmp/order.doc" "$tmp/order.json"

# shellcheck disable=SC2016 # $1 to $3 are the inner shell's
hx_run "build-flow, HELIX_SOCKET and stdin" 0 \
    sh -c 'HELIX_SOCKET=$1 sh "$2/build-flow.sh" order2 - <"$3"' \
    sh "$sock" "$EXAMPLES" "$tmp/order.json"
hx_has -E "build-flow from stdin: version 1" "^version 1$"
get order2 "$tmp/order2.doc"
check "build-flow from stdin: the same flow" "$same_as_file" \
    "$tmp/order2.doc" "$tmp/order.json"

hx_run "build-flow -n" 0 ex build-flow.sh -s "$sock" -n dry "$tmp/order.json"
check "build-flow -n: the ops" '[o["op"] for o in d[0]] == ["set_meta",
    "set_viewport", "add_node", "add_node", "add_node", "add_edge",
    "add_edge"] and d[0][2]["node"] == d[1]["nodes"][0]' \
    "$tmp/out" "$tmp/order.json"
if version_is dry 0
then hx_ok "build-flow -n: nothing applied"
else hx_fail "build-flow -n: nothing applied" "dry has a version"
fi

# Run through a chain of symbolic links (the last one relative), from
# another directory: lib.sh is found beside the script itself.
cp "$tmp/out" "$tmp/dry.ops"
mkdir "$tmp/bin"
ln -s "$EXAMPLES/build-flow.sh" "$tmp/bin/build-flow"
ln -s build-flow "$tmp/bin/bf"
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
hx_run "build-flow -n through symbolic links, from /" 0 \
    sh -c 'cd / && sh "$1" -n dry "$2"' sh "$tmp/bin/bf" "$tmp/order.json"
if cmp -s "$tmp/out" "$tmp/dry.ops"
then hx_ok "build-flow -n through symbolic links: the same ops"
else hx_fail "build-flow -n through symbolic links: the same ops" "they differ"
fi

# Saved with get --json, restored with build-flow.sh.
hx_run "build-flow restores get --json" 0 \
    ex build-flow.sh -s "$sock" restored "$tmp/order.doc"
get restored "$tmp/restored.doc"
check "build-flow: the restored flow is the saved one" \
    '{**d[0], "id": 0} == {**d[1], "id": 0}' \
    "$tmp/restored.doc" "$tmp/order.doc"

printf '%s\n' '{"title": "x", "nodes": [{"id": "a", "type": "t", "x": 0, "y": 0},
    {"id": "a", "type": "t", "x": 1, "y": 1}]}' >"$tmp/dup.json"
hx_run "build-flow, a repeated node id: status 1" 1 \
    ex build-flow.sh -s "$sock" bad "$tmp/dup.json"
hx_has -E "build-flow, repeated node id: helixd says why" \
    "^helixctl: invalid_op: .*already exists" "$tmp/err"
if version_is bad 0
then hx_ok "build-flow is atomic: nothing applied"
else hx_fail "build-flow is atomic: nothing applied" "bad has a version"
fi
printf '%s\n' '{"title": "x", "nodes": [' >"$tmp/broken.json"
hx_run "build-flow, not JSON: status 1" 1 \
    ex build-flow.sh -s "$sock" bad "$tmp/broken.json"
hx_has -E "build-flow, not JSON: says so" "^build-flow: not a JSON object" \
    "$tmp/err"
printf '%s\n' '{"title": "x", "node": []}' >"$tmp/typo.json"
hx_run "build-flow, unknown key: status 1" 1 \
    ex build-flow.sh -s "$sock" bad "$tmp/typo.json"
hx_has -E "build-flow, unknown key: names it" '^build-flow: unknown key "node"' \
    "$tmp/err"
hx_run "build-flow, usage: status 2" 2 ex build-flow.sh order
hx_has -E "build-flow, usage line" "^usage: build-flow.sh" "$tmp/err"

# ---- watch-log.sh -----------------------------------------------------

stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4}'
hx_bg wlog sh "$EXAMPLES/watch-log.sh" -s "$sock" wl "$tmp/wl.log"
if hx_poll 10 clients_are wl 1
then hx_ok "watch-log joins the flow"
else hx_fail "watch-log joins the flow" "$(cat "$tmp/wlog.err")"
fi
hx add-node wl a task 0 0 >/dev/null
hx add-node wl b task 10 0 >/dev/null
hx add-edge wl a-b a b >/dev/null
"$PY" -c 'import json; print(json.dumps([{"op": "add_node", "node":
    {"id": "n%d" % i, "type": "t", "x": i, "y": 0, "data": {"op": "x"}}}
    for i in range(12)]))' | hx apply wl - >/dev/null
hx_bg watcher "$HELIXCTL" -s "$sock" watch wl
hx_poll 10 clients_are wl 2
kill -TERM "$(cat "$tmp/watcher.pid")"
hx_ended watcher 0
if hx_poll 10 lines_at_least "$tmp/wl.log" 6
then hx_ok "watch-log writes as it goes"
else hx_fail "watch-log writes as it goes" "$(cat "$tmp/wl.log")"
fi
hx close wl >/dev/null
hx_ended wlog 0
cp "$tmp/wl.log" "$tmp/out"
hx_has -E "watch-log: add_node" "^$stamp wl update version=1 origin=- ops=add_node:a$"
hx_has -E "watch-log: the second" "^$stamp wl update version=2 origin=- ops=add_node:b$"
hx_has -E "watch-log: add_edge" "^$stamp wl update version=3 origin=- ops=add_edge:a-b$"
hx_has -E "watch-log: 12 ops, 10 shown" \
    "^$stamp wl update version=4 origin=- ops=add_node:n0,(add_node:n[0-9],){8}add_node:n9,\+2$"
hx_has -E "watch-log: presence, joined" "^$stamp wl presence clients=2 joined=anon:[a-z0-9]+$"
hx_has -E "watch-log: presence, left" "^$stamp wl presence clients=1 left=anon:[a-z0-9]+$"
hx_has -E "watch-log: closed" "^$stamp wl closed reason=closed$"
if [ "$(wc -l <"$tmp/wl.log")" -eq 7 ] &&
    [ "$(tail -n 1 "$tmp/wl.log" | cut -d ' ' -f 3)" = closed ]
then hx_ok "watch-log: one line per notification, closed last"
else hx_fail "watch-log: one line per notification, closed last" "$(cat "$tmp/wl.log")"
fi

# To standard output, with HELIX_SOCKET; a delete closes the flow too.
hx_bg wlog2 env HELIX_SOCKET="$sock" sh "$EXAMPLES/watch-log.sh" wl
hx_poll 10 clients_are wl 1
hx move-node wl a 5 5 >/dev/null
hx delete wl >/dev/null
hx_ended wlog2 0
cp "$tmp/wlog2.out" "$tmp/out"
hx_has -E "watch-log to stdout: update" "^$stamp wl update version=5 origin=- ops=update_node:a$"
hx_has -E "watch-log to stdout: deleted" "^$stamp wl closed reason=deleted$"
hx_run "watch-log, no daemon: status 3" 3 \
    ex watch-log.sh -s "$tmp/nothing.sock" wl "$tmp/none.log"
hx_has -E "watch-log, no daemon: says so" "lost the connection" "$tmp/err"

# watch-log.sh stopped by SIGTERM leaves no helixctl behind.
hx_bg wlog3 sh "$EXAMPLES/watch-log.sh" -s "$sock" wl3
hx_poll 10 clients_are wl3 1
kill -TERM "$(cat "$tmp/wlog3.pid")"
hx_ended wlog3 143
if hx_poll 10 clients_are wl3 0
then hx_ok "watch-log, SIGTERM: its watch is gone"
else hx_fail "watch-log, SIGTERM: its watch is gone" "still joined"
fi

# ---- copy-flow.sh -----------------------------------------------------

# Equal apart from the id (and the version: a copy is one apply).
same_flow='{**d[0], "id": 0, "version": 0} == {**d[1], "id": 0, "version": 0}'
hx_run "copy-flow" 0 ex copy-flow.sh -s "$sock" order copy
hx_has -E "copy-flow: one apply, version 1" "^version 1$"
get copy "$tmp/copy.doc"
check "copy-flow: the copy equals the source" "$same_flow and d[0]['id'] == 'copy'" \
    "$tmp/copy.doc" "$tmp/order.doc"

hx add-node copy extra t 0 0 >/dev/null
hx_run "copy-flow onto a flow that is not empty: status 1" 1 \
    ex copy-flow.sh -s "$sock" order copy
hx_has -E "copy-flow refuses: says why" "^copy-flow: copy is not empty \(version 2\); -f" \
    "$tmp/err"
if version_is copy 2
then hx_ok "copy-flow refuses: the flow is untouched"
else hx_fail "copy-flow refuses: the flow is untouched" "version changed"
fi
hx_run "copy-flow -f, with HELIX_SOCKET" 0 \
    env HELIX_SOCKET="$sock" sh "$EXAMPLES/copy-flow.sh" -f order copy
hx_has -E "copy-flow -f: version 1" "^version 1$"
get copy "$tmp/copy.doc"
check "copy-flow -f: the copy equals the source again" "$same_flow" \
    "$tmp/copy.doc" "$tmp/order.doc"
hx_run "copy-flow of a flow onto itself: status 1" 1 \
    ex copy-flow.sh -s "$sock" order order
hx_run "copy-flow, usage: status 2" 2 ex copy-flow.sh order
hx_has -E "copy-flow, usage line" "^usage: copy-flow.sh" "$tmp/err"

# ---- chaos.sh ---------------------------------------------------------

hx_run "chaos, 5 s" 0 ex chaos.sh -s "$sock" chaos-flow 5
hx_has -E "chaos: applies were acknowledged" "^chaos: [1-9][0-9]* applies acknowledged"
hx_has -E "chaos: the worker was killed" "; [1-9][0-9]* kills, [1-9][0-9]* restarts$"
hx_has -E "chaos: reports success" "^chaos: ok: every acknowledged node is in chaos-flow"
get chaos-flow "$tmp/chaos.doc"
check "chaos: one node per version, all of chaos.sh" '
len(d[0]["nodes"]) == d[0]["version"] > 0 and
all(n["id"].startswith("chaos-") for n in d[0]["nodes"])' "$tmp/chaos.doc"
if [ "$(hx --json status chaos-flow | sed 's/.*"restarts":\([0-9]*\).*/\1/')" -gt 0 ]
then hx_ok "chaos: helixd restarted the worker"
else hx_fail "chaos: helixd restarted the worker" "no restart"
fi

# A helixctl that acknowledges one apply without sending it: chaos.sh
# must see the node missing and the version short.
cat >"$tmp/liar" <<'EOF'
#!/bin/sh
for a; do
	case $a in
	chaos-*-1-3) echo '{"version":424242}'; exit 0 ;;
	esac
done
exec "$REAL_HELIXCTL" "$@"
EOF
chmod +x "$tmp/liar"
hx_run "chaos, a lost apply: status 1" 1 env HELIXCTL="$tmp/liar" \
    REAL_HELIXCTL="$HELIXCTL" sh "$EXAMPLES/chaos.sh" -s "$sock" -k 0 liar 3
hx_has -E "chaos, a lost apply: names the node" "^  chaos-[0-9]*-1-3$"
hx_has -E "chaos, a lost apply: missing" "^chaos: FAILED: acknowledged nodes missing from liar \(1\)"
hx_has -E "chaos, a lost apply: the version" "^chaos: FAILED: liar is at version [0-9]*, want"
hx_run "chaos, usage: status 2" 2 ex chaos.sh -s "$sock" chaos-flow soon

# ---- the daemon is still well ----------------------------------------

hx_run "shutdown" 0 hx shutdown
hx_stopped helixd

hx_done
