#!/bin/sh
# test_readme.sh: follow the "First steps" of README.md, line by line.
#
#	HELIXD=... HELIXCTL=... SOURCE_ROOT=... \
#	    HX_TESTLIB=.../tests/lib/harness.sh sh test_readme.sh
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
: "${HX_TESTLIB:?set HX_TESTLIB to tests/lib/harness.sh}"
# shellcheck source=/dev/null
. "$HX_TESTLIB"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helix-readme.XXXXXX") || exit 1
hx_init "$tmp"
tree=$tmp/tree

# ---- helpers ----------------------------------------------------------

# block NAME: the lines of the README's block marked NAME, to $tmp/NAME.
block() {
	awk -v mark="<!-- first-steps: $1 -->" '
	    $0 == mark { state = 1; next }
	    state == 1 && /^```/ { state = 2; next }
	    state == 1 && !/^[ \t]*$/ && !/^<!--/ { exit }
	    state == 2 && /^```/ { exit }
	    state == 2 { print }' "$readme" >"$tmp/$1"
	if [ -s "$tmp/$1" ]; then
		hx_ok "README: the block \"$1\""
	else
		hx_fail "README: the block \"$1\"" "no fenced block after <!-- first-steps: $1 -->"
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
			hx_fail "$_cmd" "status $_got"
		elif [ -n "$_want" ] && [ "$(cat "$tmp/out")" != "$_want" ]; then
			hx_fail "$_cmd" "printed '$(cat "$tmp/out")', the README says '$_want'"
		else
			hx_ok "$_cmd${_want:+ prints $_want}"
		fi
	done <"$tmp/$1"
}

# same NAME FILE: FILE is the README's block NAME, trailing blanks aside.
same() {
	sed 's/[[:space:]]*$//' "$tmp/$1" >"$tmp/want"
	sed 's/[[:space:]]*$//' "$2" >"$tmp/got"
	if cmp -s "$tmp/want" "$tmp/got"; then
		hx_ok "the output is the README's \"$1\""
	else
		hx_fail "the output is the README's \"$1\"" "$(diff "$tmp/want" "$tmp/got" | head -20)"
	fi
}

# clients_are N: N connections joined demo (for hx_poll).
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
then hx_ok "terminal 1 is scripts/dev run"
else hx_fail "terminal 1 is scripts/dev run" "it is: $(cat "$tmp/daemon")"
fi
# What scripts/dev run comes to, once set up and built.
if grep -q '^[[:space:]]*exec build/supervisor/helixd "\$@"$' "$SOURCE_ROOT/scripts/dev"
then hx_ok "scripts/dev run execs build/supervisor/helixd"
else hx_fail "scripts/dev run execs build/supervisor/helixd" "not found in scripts/dev"
fi
# A system-wide configuration could move the socket and the state out of
# the temporary directory: read none.
set --
[ -e /etc/helix/helix.conf ] && set -- --config ''
if hx_start_daemon "$sock" -C "$tree" helixd build/supervisor/helixd "$@"; then
	hx_ok "helixd listens on \$XDG_RUNTIME_DIR/helix/helixd.sock"
else
	hx_fail "helixd starts" "$(cat "$tmp/helixd.err")"
	hx_done
fi

# ---- terminal 2: build a flow -----------------------------------------

steps edit
same get-output "$tmp/out"
if [ -n "$(ls -A "$XDG_STATE_HOME/helix" 2>/dev/null)" ]
then hx_ok "the state is in \$XDG_STATE_HOME/helix"
else hx_fail "the state is in \$XDG_STATE_HOME/helix" "nothing there"
fi

# ---- terminal 3: watch; terminal 2: change ------------------------------

if [ "$(wc -l <"$tmp/watch")" -eq 1 ]; then
	hx_bg -C "$tree" watch sh -c "$(cat "$tmp/watch")"
	if hx_poll 10 clients_are 1
	then hx_ok "terminal 3: the watch joins demo"
	else hx_fail "terminal 3: the watch joins demo" "$(cat "$tmp/watch.err")"
	fi
else
	hx_fail "terminal 3 is one command" "$(cat "$tmp/watch")"
fi
steps change
if hx_poll 10 grep -q '"flow.update"' "$tmp/watch.out"
then hx_ok "terminal 3 sees the change"
else hx_fail "terminal 3 sees the change" "$(cat "$tmp/watch.out")"
fi

# ---- Ctrl-C in terminal 1 ---------------------------------------------

kill -INT "$(cat "$tmp/helixd.pid")"
hx_ended helixd 0
hx_ended watch 0
same watch-output "$tmp/watch.out"

# "Run scripts/dev run again and get demo shows version 4."
if hx_start_daemon "$sock" -C "$tree" helixd2 build/supervisor/helixd "$@"; then
	(cd "$tree" && build/client/helixctl get demo) >"$tmp/out" 2>"$tmp/err"
	if grep -q '^version: 4$' "$tmp/out"
	then hx_ok "after a restart, demo is at version 4"
	else hx_fail "after a restart, demo is at version 4" "see the output"
	fi
	kill -INT "$(cat "$tmp/helixd2.pid")"
	hx_ended helixd2 0
else
	hx_fail "helixd starts again" "$(cat "$tmp/helixd2.err")"
fi

# ---- the manual ---------------------------------------------------------

if [ "$(cat "$tmp/man")" = "man -l man/helixctl.1" ]; then
	hx_ok "the manual: man -l man/helixctl.1"
else
	hx_fail "the manual: man -l man/helixctl.1" "the block is: $(cat "$tmp/man")"
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
then hx_ok "the manual renders with $how, with its NAME section"
else hx_fail "the manual renders with $how, with its NAME section" "status $_rc"
fi

hx_done
