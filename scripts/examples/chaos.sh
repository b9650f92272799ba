#!/bin/sh
# chaos.sh: write to a flow while its worker is killed, then check that
# nothing acknowledged was lost.
#
#   chaos.sh [-s SOCKET] [-j APPLIERS] [-k MAX_MS] FLOW [SECONDS]
#
# For SECONDS (10), APPLIERS (4) background loops add nodes to FLOW, one
# "helixctl add-node" each, and record the version and node id of every
# apply that helixd acknowledged; meanwhile the flow's worker is killed
# ("helixctl kill FLOW", SIGKILL) after random pauses of MAX_MS/5 to MAX_MS
# milliseconds (1000).  An apply that fails with session_crashed, timeout,
# overloaded or session_failed may or may not have been committed: it is
# retried under the same node id until helixd acknowledges it or answers
# that the node already exists (it was committed; its reply was lost).
# An applier stops early when the flow is full (max_nodes, 10,000 by
# default: a 5 s run adds some thousands).
#
# Then it reads the flow and checks that every acknowledged node is there,
# that no two applies were acknowledged with the same version, that no
# node appeared that was not accounted for, and that the version grew by
# exactly the number of applies (acknowledged, plus those whose reply was
# lost).  Prints what it found; exits 0 when all holds, 1 otherwise and
# says what is missing, 2 on a usage error.
#
# Run it on a flow nobody else edits (its node ids are chaos-RUN-N-M; the
# flow may hold other nodes).  helixd parks a flow restarted more than
# max_restarts times in max_seconds (10 in 60 by default; helix.conf(5))
# for restart_cooldown seconds: the appliers wait that out, so a long run
# with the defaults takes longer than SECONDS.  helixctl kill needs the
# user of helixd, or root.
#
#   -s SOCKET    helixd's socket (else $HELIX_SOCKET, else helixctl's default)
#   -j APPLIERS  writers running at once (4)
#   -k MAX_MS    longest pause between two kills, in ms (1000); 0: no kills
#
# Needs sh, od, sed, sort, comm, date, sleep with fractions of a second,
# /dev/urandom and helixctl ($HELIXCTL, else the one on PATH).
set -eu
LC_ALL=C
export LC_ALL

prog=chaos
usage() {
	echo "usage: $prog.sh [-s SOCKET] [-j APPLIERS] [-k MAX_MS] FLOW [SECONDS]" >&2
	exit 2
}
number() {
	case $1 in '' | *[!0-9]*) usage ;; esac
}

sock=
appliers=4
maxms=1000
while getopts s:j:k:h opt; do
	case $opt in
	s) sock=$OPTARG ;;
	j) number "$OPTARG"; appliers=$OPTARG ;;
	k) number "$OPTARG"; maxms=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
flow=$1
secs=${2:-10}
number "$secs"
[ "$appliers" -ge 1 ] || usage

HELIXCTL=${HELIXCTL:-helixctl}
hx() {
	if [ -n "$sock" ]; then "$HELIXCTL" -s "$sock" "$@"; else "$HELIXCTL" "$@"; fi
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s: %s\n' "$prog" "$*"; }
now() { date +%s; }
# nap MS: sleep MS milliseconds.
nap() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }
# random LO HI: a number from LO to HI.
random() {
	_r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
	echo $(($1 + _r % ($2 - $1 + 1)))
}
# code FILE: the error code of helixctl's "helixctl: CODE: message" line.
code() { sed -n 's/^helixctl: \([a-z_]*\): .*/\1/p' "$1" | head -n 1; }
# field NAME: the value of the integer field NAME in the JSON on stdin
# (status maps are flat, so no JSON parser is needed).
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# Start the session, and note where the flow stands.
hx get "$flow" >/dev/null
status=$(hx --json status "$flow")
v0=$(printf '%s\n' "$status" | field version)
restarts0=$(printf '%s\n' "$status" | field restarts)
run=$(date +%s)$$
end=$(($(now) + secs))
grace=$((end + 120))	# to resolve an apply whose fate is unknown
say "$appliers appliers on $flow for $secs s from version $v0, killing its worker every $((maxms / 5))-$maxms ms"

# applier I: add nodes chaos-RUN-I-1, -2, ... until the end; "VERSION ID"
# of each acknowledged apply to acked.I, the ids found committed after a
# lost reply to lost.I.
applier() {
	i=$1 n=0 id='' pending=''
	: >"$dir/acked.$i"
	: >"$dir/lost.$i"
	while :; do
		if [ -z "$pending" ]; then
			[ "$(now)" -lt "$end" ] || return 0
			n=$((n + 1))
			id=chaos-$run-$i-$n
		fi
		rc=0
		out=$(hx --json add-node "$flow" "$id" chaos "$i" "$n" 2>"$dir/err.$i") || rc=$?
		if [ "$rc" = 0 ]; then
			out=${out#*:}
			echo "${out%\}} $id" >>"$dir/acked.$i"
			pending=
			continue
		fi
		c=$(code "$dir/err.$i")
		if [ -n "$pending" ] && [ "$c" = invalid_op ] &&
		    grep -q 'already exists' "$dir/err.$i"; then
			echo "$id" >>"$dir/lost.$i"
			pending=
			continue
		fi
		if [ "$c" = invalid_op ] && grep -q 'maximum of' "$dir/err.$i"; then
			echo "applier $i: $(cat "$dir/err.$i")" >>"$dir/full"
			return 0
		fi
		case $rc:$c in
		1:session_crashed | 1:timeout | 1:overloaded | 1:session_failed | 4:*)
			pending=$id
			echo "$id" >>"$dir/retried"
			if [ "$(now)" -ge "$grace" ]; then
				echo "$id" >>"$dir/unresolved"
				return 0
			fi
			if [ "$c" = session_failed ]; then nap 500; else nap 50; fi
			;;
		*)
			echo "applier $i, $id: status $rc: $(cat "$dir/err.$i")" >>"$dir/fatal"
			return 0
			;;
		esac
	done
}

# killer: kill the flow's worker at random intervals until the end.
killer() {
	k=0
	while [ "$(now)" -lt "$end" ]; do
		nap "$(random $((maxms / 5)) "$maxms")"
		if hx kill "$flow" KILL >/dev/null 2>"$dir/err.kill"; then
			k=$((k + 1))
			echo "$k" >"$dir/kills"
		elif [ "$(code "$dir/err.kill")" != not_running ]; then
			echo "killer: $(cat "$dir/err.kill")" >>"$dir/fatal"
			return 0
		fi
	done
}

i=0
while [ "$i" -lt "$appliers" ]; do
	i=$((i + 1))
	applier "$i" &
	pids="$pids $!"
done
if [ "$maxms" -gt 0 ]; then
	killer &
	pids="$pids $!"
fi
for p in $pids; do
	wait "$p" || :
done
pids=

if [ -s "$dir/fatal" ]; then
	say "FAILED: an unexpected error:"
	cat "$dir/fatal"
	exit 1
fi

if [ -s "$dir/full" ]; then
	say "$flow is full: writing stopped early ($(head -n 1 "$dir/full"))"
fi

# Read the flow once it answers again (it may be parked for a while).
until doc=$(hx --json get "$flow" 2>"$dir/err.get"); do
	if [ "$(now)" -ge "$grace" ]; then
		say "FAILED: $flow does not answer: $(cat "$dir/err.get")"
		exit 1
	fi
	nap 500
done
version=$(printf '%s\n' "$doc" | sed -n 's/^{"id":"[^"]*","version":\([0-9]*\),.*/\1/p')
restarts=$(hx --json status "$flow" | field restarts)

# Node ids hold no "{" or ",": split the document there, keep our ids.
printf '%s\n' "$doc" | tr '{' ',' | tr ',' '\n' |
    sed -n "s/^\"id\":\"\(chaos-$run-[0-9]*-[0-9]*\)\"\$/\1/p" | sort >"$dir/present"
cat "$dir"/acked.* | cut -d ' ' -f 2 | sort >"$dir/acked"
cat "$dir"/acked.* | cut -d ' ' -f 1 | sort -n >"$dir/versions"
cat "$dir"/lost.* | sort >"$dir/lost"
sort "$dir/acked" "$dir/lost" >"$dir/known"
nacked=$(wc -l <"$dir/acked")
nacked=$((nacked))
nlost=$(wc -l <"$dir/lost")
nlost=$((nlost))
nretried=0
[ -f "$dir/retried" ] && nretried=$(($(wc -l <"$dir/retried")))
kills=0
[ -f "$dir/kills" ] && kills=$(cat "$dir/kills")
say "$nacked applies acknowledged, $nlost committed with their reply lost ($nretried retries); $kills kills, $((restarts - restarts0)) restarts"

bad=0
# problem TITLE FILE: report the ids in FILE, if any, under TITLE.
problem() {
	[ -s "$2" ] || return 0
	bad=1
	say "FAILED: $1 ($(($(wc -l <"$2")))):"
	head -n 20 "$2" | sed 's/^/  /'
}
comm -23 "$dir/acked" "$dir/present" >"$dir/missing"
problem "acknowledged nodes missing from $flow" "$dir/missing"
comm -23 "$dir/lost" "$dir/present" >"$dir/missing-lost"
problem "nodes found committed, now missing from $flow" "$dir/missing-lost"
comm -13 "$dir/known" "$dir/present" >"$dir/extra"
problem "nodes in $flow that no apply accounts for" "$dir/extra"
uniq -d "$dir/versions" >"$dir/twice"
problem "versions acknowledged twice" "$dir/twice"
[ -f "$dir/unresolved" ] &&
    problem "applies whose fate could not be learnt in time" "$dir/unresolved"
if [ -z "$version" ]; then
	bad=1
	say "FAILED: no version in the document of $flow"
elif [ "$version" -ne $((v0 + nacked + nlost)) ]; then
	bad=1
	say "FAILED: $flow is at version $version, want $v0 + $nacked + $nlost = $((v0 + nacked + nlost))"
fi
if [ "$bad" = 0 ]; then
	say "ok: every acknowledged node is in $flow, at version $version = $v0 + $nacked + $nlost"
else
	exit 1
fi
