#!/usr/bin/env bash
# Checks tests/model/settlement.pml with spin (docs/MODEL.md): the model as
# written must pass a complete search (0 errors, no "max search depth too
# small"), and each mutation must fail (errors >= 1), or the model could not
# tell the bug from the fix. Prints, per run, the states explored and the
# time. Exit 77 (meson's skip) only when spin is missing and cannot be
# installed here.
#
# usage: tests/model/check.sh [--trail]   (--trail: print the token
#                                          mutation's shortest counterexample)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$here/settlement.pml
trail=${1:-}

if ! command -v spin >/dev/null; then
	# The README's test command installs spin (scripts/common.sh); a
	# meson test run on its own gets the same chance when root.
	if [ "$(id -u)" -eq 0 ]; then
		(. "$here/../../scripts/common.sh" && ensure_packages spin) ||
			true
	fi
	if ! command -v spin >/dev/null; then
		echo "SKIP: spin is not installed and cannot be installed here (not root);" \
			"run: sudo apt-get install -y spin" >&2
		exit 77
	fi
fi
cc=${CC:-cc}
command -v "$cc" >/dev/null || { echo "error: no C compiler ($cc) to build pan" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bidplane-model.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run NAME EXPECT [spin -D flags...]: EXPECT is "pass", or "fail:TEXT"
# where TEXT is part of the assertion that must be the one violated.
status=0
run() {
	local name=$1 expect=$2 want=
	shift 2
	case $expect in fail:*) want=${expect#fail:}; expect=fail ;; esac
	local dir=$work/$name
	mkdir -p "$dir"
	cp "$model" "$dir/"
	local t0 t1 out
	t0=$(date +%s.%N)
	(cd "$dir" && spin "$@" -a settlement.pml >spin.log 2>&1) ||
		{ echo "FAIL $name: spin -a failed:"; cat "$dir/spin.log"; status=1; return; }
	# -DSAFETY: safety properties only (asserts); COLLAPSE: compressed
	# states, still an exhaustive search; MEMLIM (MB) bounds the memory.
	(cd "$dir" && "$cc" -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=1024 -o pan pan.c) ||
		{ echo "FAIL $name: cannot build pan"; status=1; return; }
	(cd "$dir" && ./pan -m100000 >pan.log 2>&1) || true
	t1=$(date +%s.%N)
	out=$dir/pan.log
	local errors states secs
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | tail -1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | tail -1)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ -z "$errors" ]; then
		echo "FAIL $name: pan did not finish:"
		tail -5 "$out"
		status=1
		return
	fi
	printf '%-16s errors %s, states %s, %s s (spin %s)\n' "$name" "$errors" "$states" "$secs" "$*"
	case $expect in
	pass)
		if [ "$errors" -ne 0 ]; then
			echo "FAIL $name: the model violates an invariant:"
			grep -a 'assertion violated' "$out" || true
			(cd "$dir" && spin "$@" -t settlement.pml | grep -a -E 'assert|Error' | head -5)
			status=1
		elif grep -aq 'max search depth too small' "$out"; then
			echo "FAIL $name: the search was cut at its depth bound (raise -m)"
			status=1
		elif grep -aqi 'out of memory\|memory limit' "$out"; then
			echo "FAIL $name: the search ran out of memory (incomplete)"
			status=1
		else
			echo "  complete search: every reachable state checked"
		fi
		;;
	fail)
		if [ "$errors" -lt 1 ]; then
			echo "FAIL $name: the mutation went unnoticed: the model cannot tell the bug"
			status=1
		elif ! grep -a 'assertion violated' "$out" | grep -qF "$want"; then
			echo "FAIL $name: an assertion other than the expected one ($want) failed:"
			grep -a 'assertion violated' "$out"
			status=1
		else
			echo "  found, as it must: $(grep -a -o 'assertion violated.*' "$out" | head -1 | cut -c1-160)"
		fi
		;;
	esac
}

run correct pass
run correct-t0-t1 pass -DDISTINCT_CLOSE # the auctions close at T0 < T1
# Invariant 3 (fencing) names the token, invariant 2 (winner) the ghost max.
run no-token-check fail:"key[me]==(pend_rec&15)" -DNO_TOKEN_CHECK
run no-peer-wait fail:"==amax[" -DNO_PEER_WAIT

if [ "$trail" = --trail ]; then
	# Breadth-first: the shortest counterexample, for docs/MODEL.md.
	dir=$work/trail
	mkdir -p "$dir" && cp "$model" "$dir/"
	cd "$dir"
	spin -DNO_TOKEN_CHECK -a settlement.pml >/dev/null
	"$cc" -O2 -w -DSAFETY -DBFS -o pan pan.c
	./pan >/dev/null 2>&1 || true # it stops at the error, with the trail
	spin -DNO_TOKEN_CHECK -t -p -g settlement.pml
fi
exit $status
