#!/bin/sh
# shellcheck source=/dev/null # lib.sh, beside the script (see below)
# watch-log.sh: log every change of a flow as one timestamped line.
#
#   watch-log.sh [-s SOCKET] FLOW [LOGFILE]
#
# Joins FLOW with "helixctl watch" and writes one line per notification,
# to LOGFILE (appended to) or else to standard output, as it arrives:
#
#   2026-11-27T10:15:02+0000 demo update version=4 origin=- ops=add_node:b,add_edge:a-b
#   2026-11-27T10:15:03+0000 demo presence clients=2 joined=anon:5kq2w7x
#   2026-11-27T10:15:09+0000 demo closed reason=closed
#
# ops lists each op with the node or edge it touches (the first 10, then
# "+N").  Exits 0 when the flow is closed (helixctl close or delete, a
# shutdown of helixd, a failed session), 3 if the connection is lost; on
# SIGINT or SIGTERM it stops watching and exits.
#
#   -s SOCKET  helixd's socket (else $HELIX_SOCKET, else helixctl's default)
#
# Needs only sh, awk, date, mkfifo, realpath and helixctl ($HELIXCTL, else
# the one on PATH), and lib.sh beside the script.
set -eu

prog=watch-log
set -- '[-s SOCKET] FLOW [LOGFILE]' "$@"	# the synopsis, for lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"	# which reads the options by it
flow=$1 log=${2:-}
[ -z "$log" ] || : >>"$log"	# fail now, not once the watch is waiting

# A notification, one JSON line, to a log line without its time.
summarise() {
	json_awk '
	BEGIN { json_ws = " \t" }	# one line: tokens apart by spaces and tabs
	{
		method = get($0, "method")
		if (split_(get($0, "params"), 1, PK, P) < 2) {
			print "? " $0
			next
		}
		flow = substr(P[1], 2, length(P[1]) - 2)
		m = P[2]
		if (method == "flow.update") {
			n = split_(get(m, "ops"), 1, OK, O)
			list = ""
			for (j = 1; j <= n && j <= 10; j++) {
				op = get(O[j], "op")
				what = get(O[j], "id")
				if (what == "") what = get(get(O[j], "node"), "id")
				if (what == "") what = get(get(O[j], "edge"), "id")
				list = list "," op (what != "" ? ":" what : "")
			}
			if (n > 10) list = list ",+" (n - 10)
			line = "update version=" get(m, "version") " origin=" get(m, "origin") \
			    " ops=" substr(list, 2)
		} else if (method == "flow.presence") {
			line = "presence clients=" get(m, "client_count")
			if ((who = get(m, "joined")) != "") line = line " joined=" who
			if ((who = get(m, "left")) != "") line = line " left=" who
		} else if (method == "flow.closed")
			line = "closed reason=" get(m, "reason")
		else
			line = method " " m
		print flow " " line
	}'
}

# One line at a time: the shell reads no further than a newline, while
# awk may wait to fill a buffer before it looks at what it has.
reader() {
	while IFS= read -r line; do
		printf '%s %s\n' "$(date +%Y-%m-%dT%H:%M:%S%z)" \
		    "$(printf '%s\n' "$line" | summarise)"
	done
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX")
wpid=
apid=
cleanup() {
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null	# ends the watch, then the reader
	[ -n "$apid" ] && wait "$apid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Both halves in the background, so that a signal interrupts the wait;
# helixctl as a simple command, so that $! is its own pid.
mkfifo "$dir/fifo"
if [ -n "${sock:-}" ]; then set -- -s "$sock"; else set --; fi
"$HELIXCTL" "$@" watch "$flow" >"$dir/fifo" &
wpid=$!
if [ -n "$log" ]; then
	reader <"$dir/fifo" >>"$log" &
else
	reader <"$dir/fifo" &
fi
apid=$!
wait "$apid" || true
apid=
rc=0
wait "$wpid" || rc=$?
wpid=
case $rc in
0) ;;
3) echo "$prog: lost the connection to helixd" >&2; exit 3 ;;
*) echo "$prog: helixctl watch exited with status $rc" >&2; exit "$rc" ;;
esac
