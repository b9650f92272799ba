#!/bin/sh
# test_readme.sh: follow the "First steps" of README.md, line by line.
#
#	HELIXD=... HELIXCTL=... SOURCE_ROOT=... sh test_readme.sh
#
# The commands come from the README itself: the fenced blocks that follow a
# "<!-- first-steps: NAME -->" line.  In the blocks that are run, a trailing
# "# text" is what that line must print.  The steps run from a copy of the
# checkout's layout in a temporary directory (build/ holding links to the
# binaries under test, man/ a link to the pages), with XDG_RUNTIME_DIR,
# XDG_STATE_HOME and HOME in it too, so that helixd, started the way
# "scripts/dev run" starts it, never touches the user's socket or state.
# Every wait polls a condition until a deadline.  Prints one line per check
# and ends with "N passed, N failed"; exits 1 if any failed.

set -u

: "${HELIXD:?set HELIXD to the helixd binary}"
: "${HELIXCTL:?set HELIXCTL to the helixctl binary}"
: "${SOURCE_ROOT:?set SOURCE_ROOT to the top of the checkout}"
readme=$SOURCE_ROOT/README.md

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helix-readme.XXXXXX") || exit 1
tree=$tmp/tree
passed=0
failed=0

cleanup() {
	for f in "$tmp"/*.pid; do
		[ -f "$f" ] || continue
		_n=$(basename "$f" .pid)
		[ -f "$tmp/$_n.rc" ] && continue
		kill -TERM "$(cat "$f")" 2>/dev/null
		if ! poll 10 test -f "$tmp/$_n.rc"; then
			kill -KILL "$(cat "$f")" 2>/dev/null
			poll 5 test -f "$tmp/$_n.rc"
		fi
	done
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

# bg NAME COMMAND...: run in the background from the tree; NAME.pid,
# NAME.out, NAME.err, and NAME.rc (its exit status) once it has ended.
bg() {
	_n=$1
	shift
	rm -f "$tmp/$_n.rc"
	( cd "$tree" || exit 1
	  "$@" >"$tmp/$_n.out" 2>"$tmp/$_n.err" </dev/null &
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
	_got=$(cat "$tmp/$1.rc")
	if [ "$_got" = "$2" ]; then
		ok "$1 ends with status $2"
	else
		not_ok "$1 ends with status $2" "got $_got ($(head -c 300 "$tmp/$1.err"))"
	fi
}

# block NAME: the lines of the README's block marked NAME, to $tmp/NAME.
block() {
	awk -v mark="<!-- first-steps: $1 -->" '
	    $0 == mark { state = 1; next }
	    state == 1 && /^```/ { state = 2; next }
	    state == 1 && !/^[ \t]*$/ && !/^<!--/ { exit }
	    state == 2 && /^```/ { exit }
	    state == 2 { print }' "$readme" >"$tmp/$1"
	if [ -s "$tmp/$1" ]; then
		ok "README: the block \"$1\""
	else
		not_ok "README: the block \"$1\"" "no fenced block after <!-- first-steps: $1 -->"
		return 1
	fi
}

# steps NAME: run each line of the block NAME from the tree, one after the
# other; the output of the last one stays in $tmp/out.
steps() {
	while IFS= read -r _line; do
		_cmd=$(printf '%s\n' "$_line" | sed 's/[[:space:]]*#[[:space:]].*$//')
		_want=$(printf '%s\n' "$_line" | sed -n 's/^[^#]*#[[:space:]]*//p')
		[ -n "$_cmd" ] || continue
		(cd "$tree" && sh -c "$_cmd") >"$tmp/out" 2>"$tmp/err" </dev/null
		_got=$?
		if [ "$_got" != 0 ]; then
			not_ok "$_cmd" "status $_got"
		elif [ -n "$_want" ] && [ "$(cat "$tmp/out")" != "$_want" ]; then
			not_ok "$_cmd" "printed '$(cat "$tmp/out")', the README says '$_want'"
		else
			ok "$_cmd${_want:+ prints $_want}"
		fi
	done <"$tmp/$1"
}

# same NAME FILE: FILE is the README's block NAME, trailing blanks aside.
same() {
	sed 's/[[:space:]]*$//' "$tmp/$1" >"$tmp/want"
	sed 's/[[:space:]]*$//' "$2" >"$tmp/got"
	if cmp -s "$tmp/want" "$tmp/got"; then
		ok "the output is the README's \"$1\""
	else
		not_ok "the output is the README's \"$1\"" "$(diff "$tmp/want" "$tmp/got" | head -20)"
	fi
}

# clients_are N: N connections joined demo (for poll).
clients_are() {
	"$HELIXCTL" -s "$sock" --json status demo 2>/dev/null |
	    grep -q "\"client_count\":$1,"
}

# ---- the checkout, private --------------------------------------------

mkdir -p "$tree/build/supervisor" "$tree/build/client" "$tree/build/worker" \
    "$tmp/home"
ln -s "$HELIXD" "$tree/build/supervisor/helixd"
ln -s "$HELIXCTL" "$tree/build/client/helixctl"
[ -n "${HELIX_WORKER:-}" ] && ln -s "$HELIX_WORKER" "$tree/build/worker/helix-worker"
ln -s "$SOURCE_ROOT/man" "$tree/man"
mkdir -m 700 "$tmp/run"
XDG_RUNTIME_DIR=$tmp/run
XDG_STATE_HOME=$tmp/state
HOME=$tmp/home
export XDG_RUNTIME_DIR XDG_STATE_HOME HOME
unset HELIX_SOCKET HELIX_STATE_DIR XDG_CONFIG_HOME
sock=$XDG_RUNTIME_DIR/helix/helixd.sock

for b in daemon edit get-output watch change watch-output man; do
	block "$b"
done

# ---- terminal 1: scripts/dev run ---------------------------------------

if [ "$(cat "$tmp/daemon")" = "scripts/dev run" ]
then ok "terminal 1 is scripts/dev run"
else not_ok "terminal 1 is scripts/dev run" "it is: $(cat "$tmp/daemon")"
fi
# What scripts/dev run comes to, once set up and built.
if grep -q '^[[:space:]]*exec build/supervisor/helixd "\$@"$' "$SOURCE_ROOT/scripts/dev"
then ok "scripts/dev run execs build/supervisor/helixd"
else not_ok "scripts/dev run execs build/supervisor/helixd" "not found in scripts/dev"
fi
# A system-wide configuration could move the socket and the state out of
# the temporary directory: read none.
set --
[ -e /etc/helix/helix.conf ] && set -- --config ''
bg helixd build/supervisor/helixd "$@"
if poll 10 test -S "$sock" && poll 10 "$HELIXCTL" -s "$sock" ping; then
	ok "helixd listens on \$XDG_RUNTIME_DIR/helix/helixd.sock"
else
	not_ok "helixd starts" "$(cat "$tmp/helixd.err")"
	echo "$passed passed, $failed failed"
	exit 1
fi

# ---- terminal 2: build a flow -----------------------------------------

steps edit
same get-output "$tmp/out"
if [ -n "$(ls -A "$XDG_STATE_HOME/helix" 2>/dev/null)" ]
then ok "the state is in \$XDG_STATE_HOME/helix"
else not_ok "the state is in \$XDG_STATE_HOME/helix" "nothing there"
fi

# ---- terminal 3: watch; terminal 2: change ------------------------------

if [ "$(wc -l <"$tmp/watch")" -eq 1 ]; then
	bg watch sh -c "$(cat "$tmp/watch")"
	if poll 10 clients_are 1
	then ok "terminal 3: the watch joins demo"
	else not_ok "terminal 3: the watch joins demo" "$(cat "$tmp/watch.err")"
	fi
else
	not_ok "terminal 3 is one command" "$(cat "$tmp/watch")"
fi
steps change
if poll 10 grep -q '"flow.update"' "$tmp/watch.out"
then ok "terminal 3 sees the change"
else not_ok "terminal 3 sees the change" "$(cat "$tmp/watch.out")"
fi

# ---- Ctrl-C in terminal 1 ---------------------------------------------

kill -INT "$(cat "$tmp/helixd.pid")"
ended helixd 0
ended watch 0
same watch-output "$tmp/watch.out"

# "Run scripts/dev run again and get demo shows version 4."
bg helixd2 build/supervisor/helixd "$@"
if poll 10 test -S "$sock" && poll 10 "$HELIXCTL" -s "$sock" ping; then
	(cd "$tree" && build/client/helixctl get demo) >"$tmp/out" 2>"$tmp/err"
	if grep -q '^version: 4$' "$tmp/out"
	then ok "after a restart, demo is at version 4"
	else not_ok "after a restart, demo is at version 4" "see the output"
	fi
	kill -INT "$(cat "$tmp/helixd2.pid")"
	ended helixd2 0
else
	not_ok "helixd starts again" "$(cat "$tmp/helixd2.err")"
fi

# ---- the manual ---------------------------------------------------------

if [ "$(cat "$tmp/man")" = "man -l man/helixctl.1" ]; then
	ok "the manual: man -l man/helixctl.1"
else
	not_ok "the manual: man -l man/helixctl.1" "the block is: $(cat "$tmp/man")"
fi
if command -v man >/dev/null 2>&1; then
	how="man"
	(cd "$tree" && MANPAGER=cat PAGER=cat MANWIDTH=80 sh -c "$(cat "$tmp/man")") \
	    >"$tmp/page" 2>"$tmp/err"
	_rc=$?
else
	how="mandoc (man is not installed)"
	mandoc "$tree/man/helixctl.1" >"$tmp/page" 2>"$tmp/err"
	_rc=$?
fi
# Plain text: no overstrike (x BS x) nor escape sequences.
bs=$(printf '\b')
esc=$(printf '\033')
sed -e "s/.$bs//g" -e "s/$esc\[[0-9;]*m//g" "$tmp/page" >"$tmp/out"
if [ "$_rc" = 0 ] && grep -q '^NAME$' "$tmp/out" &&
    grep -q '^ *helixctl .* control and edit the flows' "$tmp/out"
then ok "the manual renders with $how, with its NAME section"
else not_ok "the manual renders with $how, with its NAME section" "status $_rc"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
