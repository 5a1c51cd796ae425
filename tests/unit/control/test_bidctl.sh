#!/usr/bin/env bash
# bidctl's exit codes and messages when there is no node, or bad usage.
set -u
bidctl=$1
fail() { echo "FAIL: $*"; exit 1; }
out=$("$bidctl" --socket /tmp/bp-no-such-node.sock status 2>&1); rc=$?
[ $rc -eq 3 ] || fail "no node: exit $rc, want 3"
echo "$out" | grep -q "is the node running" || fail "no node: message '$out'"
"$bidctl" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no command: exit $rc, want 2"
out=$("$bidctl" open --auction 1 2>&1); rc=$?
[ $rc -eq 2 ] || fail "open without options: exit $rc, want 2"
echo "$out" | grep -q -- "--reserve" || fail "open usage: '$out'"
"$bidctl" --help | grep -q "Commands:" || fail "--help"
echo "bidctl: 4 checks passed"
