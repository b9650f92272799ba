#!/bin/sh
# lint-shell.sh: every shell script of the source tree through shellcheck,
# failing on any finding (style and info included).
#
#	SHELLCHECK=/usr/bin/shellcheck sh lint-shell.sh SOURCE_ROOT
#
# The scripts are found when the test runs, so that a new one is checked
# without reconfiguring: scripts/dev, every *.sh, and every file under
# scripts/, tests/ and .ci/ whose first line runs sh or bash, as POSIX sh
# (-s sh) or as bash (-s bash); scripts/helixctl.bash-completion as bash.
# The build directories at the top (build*/) and .git are left out.  Prints
# one line per script and ends with "N passed, N failed"; fails when the
# linter is missing (scripts/dev setup installs it).

set -u

top=${1:?usage: lint-shell.sh SOURCE_ROOT}
sc=${SHELLCHECK:-}
[ -n "$sc" ] || sc=$(command -v shellcheck) || sc=
if [ -z "$sc" ]; then
	echo "shellcheck is not installed (scripts/dev setup installs it)"
	echo "0 passed, 1 failed"
	exit 1
fi
cd "$top" || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/helix-lint.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The scripts, one "DIALECT PATH" a line.
find . \( -path './build*' -o -path './.git' -o -path './tests/fuzz/corpus-*' \) \
    -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
while IFS= read -r f; do
	case $f in
	scripts/helixctl.bash-completion) echo "bash $f"; continue ;;
	*.sh | scripts/dev) echo "sh $f"; continue ;;
	scripts/* | tests/* | .ci/*) ;;
	*) continue ;;
	esac
	IFS= read -r first <"$f" 2>/dev/null || continue
	case $first in
	'#!'*/bash* | '#!'*' bash'*) echo "bash $f" ;;
	'#!'*/sh | '#!'*/sh' '* | '#!'*' sh' | '#!'*' sh '*) echo "sh $f" ;;
	esac
done >"$tmp/list"

passed=0
failed=0
while read -r dialect f; do
	if "$sc" -s "$dialect" "$f" >"$tmp/out" 2>&1; then
		passed=$((passed + 1))
		echo "ok - shellcheck -s $dialect $f"
	else
		failed=$((failed + 1))
		echo "FAIL - shellcheck -s $dialect $f:"
		sed 's/^/	| /' "$tmp/out"
	fi
done <"$tmp/list"

if [ $((passed + failed)) -lt 5 ]; then
	failed=$((failed + 1))
	echo "FAIL - too few scripts found under $top: $(tr '\n' ' ' <"$tmp/list")"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
