#!/bin/sh
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
# Needs only sh, awk, date, mkfifo and helixctl ($HELIXCTL, else the one on
# PATH).
set -eu

prog=watch-log
usage() {
	echo "usage: $prog.sh [-s SOCKET] FLOW [LOGFILE]" >&2
	exit 2
}

sock=
while getopts s:h opt; do
	case $opt in
	s) sock=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
flow=$1
log=${2:-}
[ -z "$log" ] || : >>"$log"	# fail now, not once the watch is waiting

HELIXCTL=${HELIXCTL:-helixctl}

# A notification, one JSON line, to a log line without its time.
summarise() {
	LC_ALL=C awk '
	function skip(s, i,   c) {
		while ((c = substr(s, i, 1)) == " " || c == "\t")
			i++
		return i
	}
	# The index just past the JSON value that starts at i; 0 if there is none.
	function vend(s, i,   c, d, n) {
		n = length(s)
		c = substr(s, i, 1)
		if (c == "\"") {
			for (i++; i <= n; i++) {
				c = substr(s, i, 1)
				if (c == "\\") i++
				else if (c == "\"") return i + 1
			}
			return 0
		}
		if (c == "{" || c == "[") {
			for (d = 0; i <= n; i++) {
				c = substr(s, i, 1)
				if (c == "\"") {
					if (!(i = vend(s, i))) return 0
					i--
				} else if (c == "{" || c == "[") d++
				else if ((c == "}" || c == "]") && --d == 0) return i + 1
			}
			return 0
		}
		if (i > n || index(",:]}", c)) return 0
		while (i <= n && !index(",:]} \t", substr(s, i, 1))) i++
		return i
	}
	# Split the object or array at i: keys in k[1..n] (objects), raw values
	# in v[1..n].  Returns n, or -1 if it is neither.
	function split_(s, i, k, v,   n, j, open, shut) {
		split("", k); split("", v)
		open = substr(s, i, 1)
		if (open == "{") shut = "}"; else if (open == "[") shut = "]"; else return -1
		i = skip(s, i + 1)
		if (substr(s, i, 1) == shut) return 0
		for (n = 1; ; n++) {
			if (open == "{") {
				if (!(j = vend(s, i)) || substr(s, i, 1) != "\"") return -1
				k[n] = substr(s, i + 1, j - i - 2)
				i = skip(s, j)
				if (substr(s, i, 1) != ":") return -1
				i = skip(s, i + 1)
			}
			if (!(j = vend(s, i))) return -1
			v[n] = substr(s, i, j - i)
			i = skip(s, j)
			if (substr(s, i, 1) == shut) return n
			if (substr(s, i, 1) != ",") return -1
			i = skip(s, i + 1)
		}
	}
	# The value of key in the object s ("" if absent), strings unquoted
	# (their escapes kept, so that a value stays on its line), null as "-".
	function get(s, key,   n, f, k, v) {
		n = split_(s, 1, k, v)
		for (f = 1; f <= n; f++)
			if (k[f] == key) {
				if (v[f] == "null") return "-"
				if (substr(v[f], 1, 1) == "\"")
					return substr(v[f], 2, length(v[f]) - 2)
				return v[f]
			}
		return ""
	}
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
if [ -n "$sock" ]; then set -- -s "$sock"; else set --; fi
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
