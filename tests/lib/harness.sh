# shellcheck shell=sh
# harness.sh: what the shell tests of tests/ share, for POSIX sh.  A test
# sources it from the path meson passes in HX_TESTLIB (tests/*/meson.build):
#
#	: "${HX_TESTLIB:?set HX_TESTLIB to tests/lib/harness.sh}"
#	# shellcheck source=/dev/null
#	. "$HX_TESTLIB"
#	tmp=$(mktemp -d "${TMPDIR:-/tmp}/helix-NAME.XXXXXX") || exit 1
#	hx_init "$tmp"
#	...
#	hx_done
#
# The test's files go in its temporary directory: hx_run leaves a command's
# output in out and err there, hx_bg a background command's NAME.pid,
# NAME.out, NAME.err and NAME.rc.  At exit, what still runs in the
# background is stopped and the directory removed.  Each check prints one
# line, "ok - NAME" or "FAIL - NAME: WHY"; hx_done prints "N passed, N
# failed" and exits, 1 if any failed.  Nothing waits on a bare sleep: each
# wait polls a condition until a deadline.  Every name here starts with hx_
# (_hx_ for the helpers' scratch variables).

# hx_init DIR: DIR, an empty directory, holds the test's files; no check
# counted yet; hx_cleanup at exit (a test with more to undo at exit sets
# its own EXIT trap, which ends with hx_cleanup).
hx_init() {
	hx_tmp=$1
	hx_passed=0
	hx_failed=0
	trap hx_cleanup EXIT
	trap 'exit 1' HUP INT TERM
}

# hx_cleanup: every background command that has not ended is stopped
# (hx_stop), then the directory is removed.
hx_cleanup() {
	for _hx_f in "$hx_tmp"/*.pid; do
		[ -f "$_hx_f" ] || continue
		hx_stop "$(basename "$_hx_f" .pid)"
	done
	rm -rf "$hx_tmp"
}

# hx_poll SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds;
# status 1 if it has not within SECONDS.
hx_poll() {
	_hx_tries=$(($1 * 20))
	shift
	while ! "$@" >/dev/null 2>&1; do
		_hx_tries=$((_hx_tries - 1))
		[ "$_hx_tries" -gt 0 ] || return 1
		sleep 0.05
	done
}

# hx_ok NAME: the check NAME passed.
hx_ok() {
	hx_passed=$((hx_passed + 1))
	echo "ok - $1"
}

# hx_fail NAME WHY: the check NAME failed, for WHY; the output of the last
# hx_run (its first 20 lines) follows.
hx_fail() {
	hx_failed=$((hx_failed + 1))
	echo "FAIL - $1: $2"
	for _hx_f in "$hx_tmp/out" "$hx_tmp/err"; do
		[ -s "$_hx_f" ] && sed 's/^/	| /' "$_hx_f" | head -20
	done
}

# hx_any_failed: a check has failed so far.
hx_any_failed() {
	[ "$hx_failed" != 0 ]
}

# hx_done: print "N passed, N failed" and exit: 0 if no check failed, else 1.
hx_done() {
	echo "$hx_passed passed, $hx_failed failed"
	if hx_any_failed; then
		exit 1
	fi
	exit 0
}

# hx_run NAME WANT_STATUS COMMAND...: COMMAND exits with WANT_STATUS; its
# stdout in out, its stderr in err (stdin empty).  Status 0 either way.
hx_run() {
	_hx_name=$1
	_hx_want=$2
	shift 2
	"$@" >"$hx_tmp/out" 2>"$hx_tmp/err" </dev/null
	_hx_got=$?
	if [ "$_hx_got" = "$_hx_want" ]; then
		hx_ok "$_hx_name"
	else
		hx_fail "$_hx_name" "got status $_hx_got, want $_hx_want"
	fi
	return 0
}

# hx_check NAME WHAT COMMAND...: the check NAME passes if COMMAND succeeds;
# else it fails, "false: WHAT", with the start of what COMMAND printed.
hx_check() {
	_hx_name=$1
	_hx_what=$2
	shift 2
	if "$@" >"$hx_tmp/check" 2>&1; then
		hx_ok "$_hx_name"
	else
		hx_fail "$_hx_name" "false: $_hx_what ($(head -c 300 "$hx_tmp/check"))"
	fi
}

# hx_has [-E] NAME PATTERN [FILE]: a line of FILE (out) matches PATTERN, a
# basic regular expression (with -E, an extended one).
hx_has() {
	_hx_grep=-q
	if [ "$1" = -E ]; then
		_hx_grep=-Eq
		shift
	fi
	if grep "$_hx_grep" -e "$2" "${3:-$hx_tmp/out}"; then
		hx_ok "$1"
	else
		hx_fail "$1" "no line matches '$2' in ${3:-out}"
	fi
}

# hx_bg [-C DIR] NAME COMMAND...: run COMMAND in the background (in DIR);
# NAME.pid, NAME.out, NAME.err, and NAME.rc (its exit status) once it has
# ended.  The shell ignores SIGINT in background commands; helixctl and
# helixd must catch it all the same.
hx_bg() {
	_hx_dir=
	if [ "$1" = -C ]; then
		_hx_dir=$2
		shift 2
	fi
	_hx_n=$1
	shift
	rm -f "$hx_tmp/$_hx_n.rc"
	( if [ -n "$_hx_dir" ]; then cd "$_hx_dir" || exit 1; fi
	  "$@" >"$hx_tmp/$_hx_n.out" 2>"$hx_tmp/$_hx_n.err" </dev/null &
	  echo $! >"$hx_tmp/$_hx_n.pid"
	  wait $!
	  echo $? >"$hx_tmp/$_hx_n.rc" ) &
	hx_poll 10 test -s "$hx_tmp/$_hx_n.pid"
}

# hx_ended NAME WANT [SECONDS]: the background command NAME ends within
# SECONDS (15), with status WANT.  Status 1 if it does not end (it is
# killed).
hx_ended() {
	if ! hx_poll "${3:-15}" test -s "$hx_tmp/$1.rc"; then
		hx_fail "$1 ends" "still running"
		kill -KILL "$(cat "$hx_tmp/$1.pid")" 2>/dev/null
		return 1
	fi
	rm -f "$hx_tmp/$1.pid"
	_hx_got=$(cat "$hx_tmp/$1.rc")
	if [ "$_hx_got" = "$2" ]; then
		hx_ok "$1 ends with status $2"
	else
		hx_fail "$1 ends with status $2" \
		    "got $_hx_got ($(head -c 300 "$hx_tmp/$1.err"))"
	fi
}

# hx_stopped NAME: the background command NAME (a helixd told to shut
# down) ends within 15 s.
hx_stopped() {
	if hx_poll 15 test -f "$hx_tmp/$1.rc"; then
		hx_ok "$1 stops"
	else
		hx_fail "$1 stops" "still running"
	fi
}

# hx_stop NAME: end the background command NAME unless it has ended:
# SIGTERM, and SIGKILL if it still runs 10 s later.
hx_stop() {
	if [ ! -f "$hx_tmp/$1.pid" ] || [ -f "$hx_tmp/$1.rc" ]; then
		return 0
	fi
	kill -TERM "$(cat "$hx_tmp/$1.pid")" 2>/dev/null
	if ! hx_poll 10 test -f "$hx_tmp/$1.rc"; then
		kill -KILL "$(cat "$hx_tmp/$1.pid")" 2>/dev/null
		hx_poll 5 test -f "$hx_tmp/$1.rc"
	fi
}

# hx_wait_socket SOCKET: a helixd listens on SOCKET: the socket is there,
# and "$HELIXCTL -s SOCKET ping" answers, within 10 s each.
hx_wait_socket() {
	hx_poll 10 test -S "$1" && hx_poll 10 "$HELIXCTL" -s "$1" ping
}

# hx_start_daemon SOCKET [-C DIR] NAME COMMAND...: start a helixd, COMMAND,
# as hx_bg does, and wait until it listens on SOCKET (hx_wait_socket):
# status 1 if it does not.
hx_start_daemon() {
	_hx_sock=$1
	shift
	hx_bg "$@"
	hx_wait_socket "$_hx_sock"
}
