#!/bin/sh
# shellcheck source=/dev/null # lib.sh, beside the script (see below)
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
# Needs only sh, awk, sed, realpath and helixctl ($HELIXCTL, else the one
# on PATH), and lib.sh beside the script.
# One apply holds at most max_ops ops (1000 by default; helix.conf(5)): a
# larger flow is refused by helixd as a whole.
set -eu

prog=copy-flow
set -- '[-s SOCKET] [-f] SRC DST' "$@"	# the synopsis, for lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"	# which reads the options by it
src=$1 dst=$2
[ "$src" != "$dst" ] || { echo "$prog: SRC and DST are the same flow" >&2; exit 1; }

# The document to ops, values copied as they are; id, version and keys
# unknown to this script are left.
doc=$(hx --json get "$src")
ops=$(printf '%s\n' "$doc" | to_ops 0)

# Flow ids hold no quotes, so the version is found without a JSON parser.
version=$(hx --json status "$dst" | sed -n 's/.*"version":\([0-9]*\).*/\1/p')
if [ "${version:-0}" != 0 ]; then
	if [ -z "${opt_f:-}" ]; then
		echo "$prog: $dst is not empty (version $version); -f deletes it first" >&2
		exit 1
	fi
	hx delete "$dst" >/dev/null
fi
printf '%s\n' "$ops" | hx apply "$dst" - --base 0
