# Sourced by scripts/demo.sh and scripts/test.sh: dependency install and
# hugepage setup shared by the README's two commands.

# Debian packages the build, the tests and the demo need.
BIDPLANE_PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev llvm scdoc man-db systemd \
libdpdk-dev dpdk dpdk-dev libjemalloc-dev libcmocka-dev libsodium-dev libxxhash-dev liburing-dev python3 iproute2 iputils-ping gnuplot-nox \
tshark nftables python3-yaml spin \
libcurl4-openssl-dev libjansson-dev etcd-server"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs missing packages with apt-get when root; otherwise prints the
# exact command to run and stops.
ensure_packages() {
	local missing=() p
	for p in $BIDPLANE_PKGS "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing packages: ${missing[*]}
run this once, then try again:
  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
	fi
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed; check the package sources"
	# We want tools (promtool from prometheus), not servers: keep packages
	# from starting services, unless the host already has a policy.
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ [ -n "$made_policy" ] && rm -f "$policy"; die "apt-get install ${missing[*]} failed"; }
	[ -n "$made_policy" ] && rm -f "$policy"
	return 0
}

# The group whose members may read a node's stats segment (bidstat without
# root). Created when root; otherwise the command is printed.
ensure_stats_group() {
	getent group bidplane >/dev/null && return 0
	if [ "$(id -u)" -eq 0 ]; then
		say "creating the system group 'bidplane' (its members may run bidstat)"
		groupadd --system bidplane || die "groupadd --system bidplane failed"
	else
		say "no group 'bidplane': only root can read node stats; to change that run"
		say "  sudo groupadd --system bidplane && sudo usermod -aG bidplane $USER"
	fi
}

# Reserves 2 MiB hugepages and mounts hugetlbfs when root. Prints the EAL
# memory options to use: nothing when hugepages are usable, else --no-huge.
hugepage_eal_args() {
	local want=${1:-512}
	local have
	have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
	if [ "$(id -u)" -eq 0 ]; then
		if [ "$have" -lt "$want" ]; then
			echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
			have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
		fi
		if ! grep -qs ' hugetlbfs ' /proc/mounts; then
			mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
		fi
	fi
	if [ "$have" -ge 64 ] && grep -qs ' hugetlbfs ' /proc/mounts && [ "$(id -u)" -eq 0 ]; then
		return 0
	fi
	say "hugepages unavailable (have $have, need root to reserve and mount them): using --no-huge -m 512"
	say "to use hugepages: sudo sh -c 'echo $want > /proc/sys/vm/nr_hugepages' && sudo mount -t hugetlbfs nodev /dev/hugepages"
	echo "--no-huge -m 512"
}

# meson setup once, reconfigure when options change; then compile.
# What DPDK processes started with --file-prefix PREFIX-* leave: their
# runtime directories and hugepage files (for the traps of the scripts).
remove_dpdk_leftovers() { # prefix
	local prefix=$1 _dev dir type _rest
	rm -rf /var/run/dpdk/"$prefix"-* "${XDG_RUNTIME_DIR:-/tmp}"/dpdk/"$prefix"-* 2>/dev/null || true
	while read -r _dev dir type _rest; do
		[ "$type" = hugetlbfs ] && rm -f "$dir/$prefix"-*map_* 2>/dev/null
	done </proc/mounts
	return 0
}

build_dir() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null || die "meson configure $dir failed"
	else
		meson setup "$dir" "$@" >/dev/null || die "meson setup $dir failed (see $dir/meson-logs/meson-log.txt)"
	fi
	if ! ninja -C "$dir" >/dev/null 2>&1; then
		# A build dir made by an older tree (files where folders now are)
		# cannot regenerate itself: make it anew once.
		say "rebuilding $dir from scratch"
		meson setup --wipe "$dir" "$@" >/dev/null || die "meson setup --wipe $dir failed"
		ninja -C "$dir" >/dev/null || { ninja -C "$dir"; die "build in $dir failed"; }
	fi
}

# The programs a benchmark runs: from the build dir given ($1, used as it
# is), or from build/, built now. Prints the dir.
bench_programs() { # [build dir]
	local bin=${1:-build}
	[ -n "${1:-}" ] || build_dir build
	for b in bidplane bidctl bidgen bidstat; do
		[ -x "$bin/$b" ] || die "$bin/$b missing: build it (ninja -C $bin)"
	done
	printf '%s\n' "$bin"
}
