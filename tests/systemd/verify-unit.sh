#!/bin/sh
# systemd-analyze verify on a copy of the unit whose paths point into the
# build (it fails on an ExecStart= that does not exist and reads every
# Documentation= man page).
set -eu
unit_in=$1 helixd=$2 worker=$3 mansrc=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/man/man5" "$tmp/man/man7" "$tmp/man/man8"
for p in "$mansrc"/*.[1-8]; do
	sec=${p##*.}
	mkdir -p "$tmp/man/man$sec"
	cp "$p" "$tmp/man/man$sec/"
done
sed -e "s|@SBINDIR@/helixd|$helixd|" -e "s|@LIBEXECDIR@/helix-worker|$worker|" \
    "$unit_in" >"$tmp/helixd.service"
out=$(MANPATH="$tmp/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
    "$tmp/helixd.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some complaints: any output about our unit is a failure.
if printf '%s\n' "$out" | grep -q 'helixd.service'; then
	printf '%s\n' "$out"
	exit 1
fi
echo "systemd-analyze verify: ok"
