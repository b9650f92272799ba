# shellcheck shell=sh
# lib.sh: what build-flow.sh, copy-flow.sh and watch-log.sh share, for
# POSIX sh: the reading of their arguments, helixctl, and a JSON scanner in
# awk.  Each sets prog, its name, puts its synopsis before its arguments,
# and sources this file from beside itself (beside the file that $0 is, or
# is a symbolic link to):
#
#   prog=build-flow
#   set -- '[-s SOCKET] [-n] FLOW FILE.json' "$@"
#   . "$(dirname "$(realpath "$0")")/lib.sh"
#
# The options that follow the synopsis are read as it has them, and "$@"
# is left with the operands: -s SOCKET sets sock, any other [-X] sets
# opt_X to 1; each NAME is an operand and each [NAME] an optional one.
# -h, another option, or a count of operands that the synopsis does not
# allow is a usage error.
#
#   usage             "usage: PROG.sh SYNOPSIS" to standard error; exit 2
#   hx ARGS...        helixctl ($HELIXCTL, else the one on PATH), on the
#                     socket of -s if there was one
#   json_awk RULES [AWK_OPTION...]
#                     awk, in the C locale and with prog set, on the JSON
#                     functions below followed by RULES
#   to_ops STRICT     a flow document to ops (flow_ops below)

HELIXCTL=${HELIXCTL:-helixctl}

synopsis=$1
shift

usage() {
	echo "usage: ${prog:?}.sh $synopsis" >&2
	exit 2
}

hx() {
	if [ -n "$sock" ]; then "$HELIXCTL" -s "$sock" "$@"; else "$HELIXCTL" "$@"; fi
}

# The synopsis in getopts' terms: _letters, the option letters (h, and
# each of the synopsis, followed by : if it takes an argument), and from
# _least to _most operands.
_syntax() {
	_letters=h
	_least=0
	_most=0
	set -f
	# shellcheck disable=SC2086 # its words, without globbing their []
	set -- $synopsis
	set +f
	for _word; do
		case $_word in
		'[-'?']') _letters=$_letters${_word#??}; _letters=${_letters%]} ;;
		'[-'?) _letters=$_letters${_word#??}: ;;
		'['*']') _most=$((_most + 1)) ;;
		*']') ;;	# the argument of an option
		*) _least=$((_least + 1)); _most=$((_most + 1)) ;;
		esac
	done
}
_syntax
sock=
while getopts "$_letters" _opt; do
	case $_opt in
	s) sock=$OPTARG ;;
	h | '?') usage ;;
	*) eval "opt_$_opt=1" ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -lt "$_least" ] || [ $# -gt "$_most" ]; then usage; fi

json_awk() {
	_rules=$1
	shift
	LC_ALL=C awk -v prog="$prog" "$@" "$_json_awk$_rules"
}

# to_ops STRICT: the flow document on standard input to a JSON array of ops
# on standard output (flow_ops; a key it does not know is an error if
# STRICT is 1, left out if it is 0).
to_ops() {
	json_awk '
	{ doc = doc $0 "\n" }
	END { print flow_ops(doc, strict) }' -v strict="$1"
}

# The JSON scanner.  It is no validator: a value is found by where it ends
# and kept as it is written (its raw text: strings in their quotes, escapes
# and all), which leaves the checking to helixctl and helixd.  json_ws
# holds the blanks allowed between tokens; RULES may set it in a BEGIN.
# shellcheck disable=SC2016 # the $ are awk's
_json_awk='
BEGIN { json_ws = " \t\n\r" }

function die(msg) { print prog ": " msg | "cat 1>&2"; exit 1 }

# The index of the first character at or after i that is not a blank.
function skip(s, i,   c) {
	while ((c = substr(s, i, 1)) != "" && index(json_ws, c))
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
	while (i <= n && !index(",:]}" json_ws, substr(s, i, 1))) i++
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

# The flow document doc, one JSON object, as a JSON array of ops, one op a
# line: set_meta (title, description), set_viewport, an add_node for each
# node and an add_edge for each edge, in the order of doc, the values
# copied as they are.  id and version are left out, and so is any other
# key unless strict, which dies on it.
function flow_ops(doc, strict,   i, n, f, m, e, meta, view, nodes, edges, inner, ops) {
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
		} else if (strict && K[f] != "id" && K[f] != "version")
			die("unknown key \"" K[f] "\" (want title, description, viewport, nodes, edges)")
	}
	ops = ""
	if (meta != "") ops = ",\n{\"op\":\"set_meta\"" meta "}"
	if (view != "") ops = ops ",\n" view
	ops = ops nodes edges
	return "[" substr(ops, 2) "\n]"
}
'
