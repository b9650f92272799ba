#!/bin/sh
# test_install.sh: "meson install" into a temporary DESTDIR, the layout it
# makes, and the installed helixd running with the installed helix-worker.
#
#	MESON=meson BUILD_ROOT=... SOURCE_ROOT=... PREFIX=/usr/local \
#	BINDIR=bin SBINDIR=sbin LIBEXECDIR=libexec MANDIR=share/man \
#	DATADIR=share HX_TESTLIB=.../tests/lib/harness.sh sh test_install.sh
#
# The directories are meson's options, relative to PREFIX or absolute.  The
# installed helixd is started with --socket and --state-dir in a temporary
# directory and no --worker: it must find helix-worker as ../libexec beside
# itself, and the worker it runs must be the installed one.  Every wait
# polls a condition until a deadline.  Prints one line per check and ends
# with "N passed, N failed"; exits 1 if any failed.

set -u

# meson's own command, the build to install, and meson's directory options.
: "${MESON:?}" "${BUILD_ROOT:?}" "${SOURCE_ROOT:?}" "${PREFIX:?}"
: "${BINDIR:?}" "${SBINDIR:?}" "${LIBEXECDIR:?}" "${MANDIR:?}" "${DATADIR:?}"
unset DESTDIR HELIX_SOCKET HELIX_STATE_DIR
: "${HX_TESTLIB:?set HX_TESTLIB to tests/lib/harness.sh}"
# shellcheck source=/dev/null
. "$HX_TESTLIB"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helix-install.XXXXXX") || exit 1
hx_init "$tmp"
dest=$tmp/dest
sock=$tmp/helixd.sock

# at DIR: where meson's directory option DIR lands under PREFIX.
at() {
	case $1 in
	/*) echo "$1" ;;
	*) echo "$PREFIX/$1" ;;
	esac
}
bindir=$(at "$BINDIR")
sbindir=$(at "$SBINDIR")
libexecdir=$(at "$LIBEXECDIR")
mandir=$(at "$MANDIR")
datadir=$(at "$DATADIR")
unitdir=$PREFIX/lib/systemd/system

# installed NAME PATH [SOURCE] [x]: DESTDIR/PATH is a file (the same as
# SOURCE, when given; executable, with x).
installed() {
	if [ ! -f "$dest$2" ]; then
		hx_fail "$1 installed as $2" "missing"
	elif [ -n "${3:-}" ] && ! cmp -s "$3" "$dest$2"; then
		hx_fail "$1 installed as $2" "differs from $3"
	elif [ "${4:-}" = x ] && [ ! -x "$dest$2" ]; then
		hx_fail "$1 installed as $2" "not executable"
	else
		hx_ok "$1 installed as $2"
	fi
}

# ---- meson install --------------------------------------------------------

hx_run "meson install --destdir" 0 \
    "$MESON" install -C "$BUILD_ROOT" --destdir "$dest" --no-rebuild
if hx_any_failed; then
	hx_done
fi

installed helixd "$sbindir/helixd" "" x
installed helix-worker "$libexecdir/helix-worker" "" x
installed helixctl "$bindir/helixctl" "" x
installed "helixctl(1)" "$mandir/man1/helixctl.1" "$SOURCE_ROOT/man/helixctl.1"
installed "helix.conf(5)" "$mandir/man5/helix.conf.5" "$SOURCE_ROOT/man/helix.conf.5"
installed "helix-protocol(7)" "$mandir/man7/helix-protocol.7" \
    "$SOURCE_ROOT/man/helix-protocol.7"
installed "helixd(8)" "$mandir/man8/helixd.8" "$SOURCE_ROOT/man/helixd.8"
installed "the systemd unit" "$unitdir/helixd.service"
installed "the example configuration" "$datadir/doc/helix/helix.conf.example" \
    "$SOURCE_ROOT/common/helix.conf.example"
installed "the examples' lib.sh" "$datadir/doc/helix/examples/lib.sh" \
    "$SOURCE_ROOT/scripts/examples/lib.sh"
installed "the bash completion" "$datadir/bash-completion/completions/helixctl" \
    "$SOURCE_ROOT/scripts/helixctl.bash-completion"

unit=$dest$unitdir/helixd.service
if grep -q "^ExecStart=$sbindir/helixd .*--worker $libexecdir/helix-worker\( \|$\)" \
    "$unit" 2>/dev/null
then hx_ok "the unit runs the installed helixd and helix-worker"
else hx_fail "the unit runs the installed helixd and helix-worker" \
    "$(grep '^ExecStart=' "$unit" 2>&1)"
fi
if [ -f "$unit" ] && ! grep -q '@[A-Z_]*@' "$unit"
then hx_ok "the unit has no @PLACEHOLDER@ left"
else hx_fail "the unit has no @PLACEHOLDER@ left" "$(grep '@[A-Z_]*@' "$unit" 2>&1)"
fi

# Nothing lands outside the prefix.
(cd "$dest" && find . ! -type d) | sed 's|^\.||' | grep -v "^$PREFIX/" >"$tmp/out"
if [ ! -s "$tmp/out" ]
then hx_ok "every file is under $PREFIX"
else hx_fail "every file is under $PREFIX" "outside:"
fi

hx_run "the installed helixctl runs" 0 "$dest$bindir/helixctl" -V
hx_run "the installed helixd runs" 0 "$dest$sbindir/helixd" --version

# ---- the installed helixd finds the installed helix-worker ---------------

case $sbindir:$libexecdir in
"$PREFIX/sbin:$PREFIX/libexec") ;;
*)
	echo "# sbindir $sbindir and libexecdir $libexecdir are not PREFIX/sbin and"
	echo "# PREFIX/libexec: helixd cannot find the worker as ../libexec; not run"
	hx_done
	;;
esac

HELIXCTL=$dest$bindir/helixctl
hx() {
	"$HELIXCTL" -s "$sock" "$@"
}
if hx_start_daemon "$sock" helixd \
    "$dest$sbindir/helixd" --socket "$sock" --state-dir "$tmp/state" --config ''
then
	hx_ok "the installed helixd starts, without --worker"
else
	hx_fail "the installed helixd starts, without --worker" "$(cat "$tmp/helixd.err")"
	hx_done
fi
hx_run "helixctl -s SOCK get f: a session starts" 0 hx get f
hx --json inspect f >"$tmp/inspect" 2>&1
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$tmp/inspect")
exe=$(readlink "/proc/${pid:-0}/exe" 2>/dev/null)
want=$(cd "$dest$libexecdir" && pwd -P)/helix-worker
if [ -n "$pid" ] && [ "$exe" = "$want" ]
then hx_ok "the worker is the installed helix-worker"
else hx_fail "the worker is the installed helix-worker" \
    "pid ${pid:-none} runs ${exe:-nothing}, want $want"
fi
hx_run "an apply through the installed programs" 0 hx add-node f a t 0 0
hx_run "shutdown" 0 hx shutdown
hx_stopped helixd

hx_done
