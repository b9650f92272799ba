#!/bin/sh
# shellcheck source=/dev/null # lib.sh, beside the script (see below)
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
# Needs only sh, awk, realpath and helixctl ($HELIXCTL, else the one on
# PATH), and lib.sh beside the script.  An apply holds at most max_ops ops
# (1000 by default; see helix.conf(5)).
set -eu

prog=build-flow
set -- '[-s SOCKET] [-n] FLOW FILE.json' "$@"	# the synopsis, for lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"	# which reads the options by it
flow=$1 file=$2
[ "$file" = - ] || [ -r "$file" ] || { echo "$prog: cannot read $file" >&2; exit 1; }

# The JSON object to a JSON array of ops.  The values are copied as they
# are written: helixctl checks the JSON, helixd the ops.
if [ "$file" = - ]; then
	ops=$(to_ops 1)
else
	ops=$(to_ops 1 <"$file")
fi
if [ -n "${opt_n:-}" ]; then
	printf '%s\n' "$ops"
else
	printf '%s\n' "$ops" | hx apply "$flow" -
fi
