#!/bin/sh
# copy-flow.sh: copy one flow into another, in one atomic apply.
#
#   copy-flow.sh [-s SOCKET] [-f] SRC DST
#
# Reads SRC with "helixctl --json get", turns the document into ops
# (set_meta, set_viewport, add_node for each node, add_edge for each edge,
# in SRC's order, every value as SRC has it) and applies them to DST as one
# flow.apply with --base 0: DST ends up equal to SRC apart from its id and
# version (it is at version 1), or unchanged if anything fails.
#
# DST must be empty, that is never written (version 0), else the copy is
# refused; the --base 0 also refuses it if someone writes DST meanwhile.
#
#   -s SOCKET  helixd's socket (else $HELIX_SOCKET, else helixctl's default)
#   -f         delete DST first (its content and history) if it is not empty
#
# Needs only sh, awk, sed and helixctl ($HELIXCTL, else the one on PATH).
# One apply holds at most max_ops ops (1000 by default; helix.conf(5)): a
# larger flow is refused by helixd as a whole.
set -eu

prog=copy-flow
usage() {
	echo "usage: $prog.sh [-s SOCKET] [-f] SRC DST" >&2
	exit 2
}

sock=
force=
while getopts s:fh opt; do
	case $opt in
	s) sock=$OPTARG ;;
	f) force=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
src=$1
dst=$2
[ "$src" != "$dst" ] || { echo "$prog: SRC and DST are the same flow" >&2; exit 1; }

HELIXCTL=${HELIXCTL:-helixctl}
hx() {
	if [ -n "$sock" ]; then "$HELIXCTL" -s "$sock" "$@"; else "$HELIXCTL" "$@"; fi
}

# The flow document on stdin to a JSON array of ops on stdout, values
# copied as they are; id, version and keys unknown to this script are left.
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
			}
		}
		ops = ""
		if (meta != "") ops = ",\n{\"op\":\"set_meta\"" meta "}"
		if (view != "") ops = ops ",\n" view
		ops = ops nodes edges
		print "[" substr(ops, 2) "\n]"
	}'
}

doc=$(hx --json get "$src")
ops=$(printf '%s\n' "$doc" | to_ops)

# Flow ids hold no quotes, so the version is found without a JSON parser.
version=$(hx --json status "$dst" | sed -n 's/.*"version":\([0-9]*\).*/\1/p')
if [ "${version:-0}" != 0 ]; then
	if [ -z "$force" ]; then
		echo "$prog: $dst is not empty (version $version); -f deletes it first" >&2
		exit 1
	fi
	hx delete "$dst" >/dev/null
fi
printf '%s\n' "$ops" | hx apply "$dst" - --base 0
