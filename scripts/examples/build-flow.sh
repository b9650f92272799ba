#!/bin/sh
# build-flow.sh: build a flow from a JSON description, in one atomic apply.
#
#   build-flow.sh [-s SOCKET] [-n] FLOW FILE.json     (FILE - : standard input)
#
# FILE holds one JSON object:
#
#   {"title": "Order", "description": "optional",
#    "viewport": {"x": 0, "y": 0, "zoom": 1},                  (optional)
#    "nodes": [{"id": "a", "type": "start", "x": 0, "y": 0}, ...],
#    "edges": [{"id": "a-b", "source": "a", "target": "b"}, ...]}
#
# Nodes and edges are written as helix-protocol(7) describes them (width,
# height, data, source_handle, ... included).  "id" and "version" are
# ignored, so the output of "helixctl --json get" is a valid FILE too: it
# restores a saved flow.  The description becomes one flow.apply: set_meta
# and set_viewport, every add_node, then every add_edge.  They apply
# together or not at all, so a typo leaves FLOW as it was; a node id that
# FLOW already has is such an error.  Prints the new version.
#
#   -s SOCKET  helixd's socket (else $HELIX_SOCKET, else helixctl's default)
#   -n         print the ops array instead of applying it
#
# Needs only sh, awk and helixctl ($HELIXCTL, else the one on PATH).  An
# apply holds at most max_ops ops (1000 by default; see helix.conf(5)).
set -eu

prog=build-flow
usage() {
	echo "usage: $prog.sh [-s SOCKET] [-n] FLOW FILE.json" >&2
	exit 2
}

sock=
dry=
while getopts s:nh opt; do
	case $opt in
	s) sock=$OPTARG ;;
	n) dry=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
flow=$1
file=$2
[ "$file" = - ] || [ -r "$file" ] || { echo "$prog: cannot read $file" >&2; exit 1; }

HELIXCTL=${HELIXCTL:-helixctl}
hx() {
	if [ -n "$sock" ]; then "$HELIXCTL" -s "$sock" "$@"; else "$HELIXCTL" "$@"; fi
}

# The JSON object on stdin to a JSON array of ops on stdout.  The values
# are copied as they are written: helixctl checks the JSON, helixd the ops.
to_ops() {
	LC_ALL=C awk -v prog="$prog" '
	function die(msg) { print prog ": " msg | "cat 1>&2"; exit 1 }
	function skip(s, i,   c) {
		while ((c = substr(s, i, 1)) == " " || c == "\t" || c == "\n" || c == "\r")
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
		while (i <= n && !index(",:]} \t\n\r", substr(s, i, 1))) i++
		return i
	}
	# Split the object or array at i: keys in k[1..n] (objects), raw values
	# in v[1..n].  Returns n, or -1 if it is neither; END_ is past its end.
	function split_(s, i, k, v,   n, j, open, shut) {
		split("", k); split("", v)
		open = substr(s, i, 1)
		if (open == "{") shut = "}"; else if (open == "[") shut = "]"; else return -1
		i = skip(s, i + 1)
		if (substr(s, i, 1) == shut) { END_ = i + 1; return 0 }
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
			if (substr(s, i, 1) == shut) { END_ = i + 1; return n }
			if (substr(s, i, 1) != ",") return -1
			i = skip(s, i + 1)
		}
	}
	{ doc = doc $0 "\n" }
	END {
		i = skip(doc, 1)
		if (substr(doc, i, 1) != "{" || (n = split_(doc, i, K, V)) < 0 ||
		    skip(doc, END_) <= length(doc))
			die("not a JSON object")
		meta = view = nodes = edges = ""
		for (f = 1; f <= n; f++) {
			if (K[f] == "title" || K[f] == "description")
				meta = meta ",\"" K[f] "\":" V[f]
			else if (K[f] == "viewport") {
				if (split_(V[f], 1, VK, VV) < 0 || substr(V[f], 1, 1) != "{")
					die("viewport is not an object")
				inner = substr(V[f], 2, length(V[f]) - 2)
				if (skip(inner, 1) <= length(inner))
					view = "{\"op\":\"set_viewport\"," inner "}"
			} else if (K[f] == "nodes" || K[f] == "edges") {
				if (substr(V[f], 1, 1) != "[" || (m = split_(V[f], 1, EK, EV)) < 0)
					die(K[f] " is not an array")
				for (e = 1; e <= m; e++)
					if (K[f] == "nodes")
						nodes = nodes ",\n{\"op\":\"add_node\",\"node\":" EV[e] "}"
					else
						edges = edges ",\n{\"op\":\"add_edge\",\"edge\":" EV[e] "}"
			} else if (K[f] != "id" && K[f] != "version")
				die("unknown key \"" K[f] "\" (want title, description, viewport, nodes, edges)")
		}
		ops = ""
		if (meta != "") ops = ",\n{\"op\":\"set_meta\"" meta "}"
		if (view != "") ops = ops ",\n" view
		ops = ops nodes edges
		print "[" substr(ops, 2) "\n]"
	}'
}

if [ "$file" = - ]; then
	ops=$(to_ops)
else
	ops=$(to_ops <"$file")
fi
if [ -n "$dry" ]; then
	printf '%s\n' "$ops"
else
	printf '%s\n' "$ops" | hx apply "$flow" -
fi
