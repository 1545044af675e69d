#!/usr/bin/env bash
# container.sh - run the privileged tests (integration/ and tun/) inside a
# podman (or docker) container built FROM scratch, no registry needed.
#
#   integration/container.sh [--engine podman|docker] [--keep] [-- TEST FLAGS]
#
# --keep keeps the work directory (the rootfs) and the image.
#
# Steps: build static binaries (CGO_ENABLED=0: tunstack, `go test -c` of
# ./integration and ./tun); copy the host's curl, nc, ip, nft, ping, unshare,
# bash and their shared libraries (ldd) into a rootfs; build the image from
# integration/Containerfile; run it --privileged --network none (the tests
# create their own network namespaces inside the container's, which needs
# CAP_SYS_ADMIN as well as CAP_NET_ADMIN and /dev/net/tun). Test flags after
# `--` go to both test binaries (default: -test.v -test.count=1
# -test.timeout=15m). Nothing is pulled from a registry (--pull never).
# Exit status: that of the tests. When the container cannot run here (not
# root, no usable podman or docker) it says why and exits 0 (skipped), or 1
# under CI=true: in CI the container test fails, never skips.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENGINE=""
KEEP=0
TESTFLAGS=()
while (($#)); do
	case $1 in
	--engine) ENGINE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--) shift; TESTFLAGS=("$@"); break ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) echo "container.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
# TestServerCloseNoKernelRetransmissions runs in `make test-integration`
# only: in this container (everything about 10x slower to poll) it saw one
# kernel retransmission in 1 of 3 runs, outside the close it checks (no
# socket lingered in LAST-ACK), which the native runs never showed; until
# that is explained it would make the container step flaky (CONTAINER.md).
# The browser tests (TestUIPage*) run in `make test-integration` only too:
# Chromium (some 300 MB with its libraries, fonts and data files) is not
# copied into the FROM-scratch rootfs, and the page they load is served from
# the source tree, which the image does not have.
((${#TESTFLAGS[@]})) || TESTFLAGS=(-test.v -test.count=1 -test.timeout=15m
	'-test.skip=^(TestServerCloseNoKernelRetransmissions|TestUIPage.*)$')

# cannot_run REASON: the container test cannot run on this machine. Under
# CI=true that is a failure; elsewhere a skip, as for the privileged Go tests
# (tun/tuntest).
cannot_run() {
	if [[ ${CI:-} == true ]]; then
		echo "container.sh: FAIL: CI=true and the container test cannot run: $*" >&2
		exit 1
	fi
	echo "container.sh: SKIP: the container test cannot run: $* (under CI=true this fails)" >&2
	exit 0
}

# A privileged container needs root (rootless podman cannot give the tests
# CAP_SYS_ADMIN over the host's /dev/net/tun).
[[ $(id -u) == 0 ]] || cannot_run "it needs root for a --privileged container: sudo make test-container"
if [[ -z $ENGINE ]]; then
	why=""
	for e in podman docker; do
		if ! command -v "$e" >/dev/null; then why+="$e: not installed; "; continue; fi
		if out=$("$e" info 2>&1); then ENGINE=$e; break; fi
		why+="$e info: $(tail -n 1 <<<"$out"); "
	done
	[[ -n $ENGINE ]] || cannot_run "no usable podman or docker (${why%; }); apt-get install podman runc"
fi

WORK=$(mktemp -d /tmp/tunstack-container.XXXXXX)
# A tag of this run's own, so that two runs on one machine never run or
# remove each other's image.
IMAGE=localhost/tunstack-integration:${WORK##*.}
# Without --keep, the work directory and the image go when the script ends
# (each build would otherwise leave a 56 MB image behind).
((KEEP)) || trap 'rm -rf "$WORK"; "$ENGINE" rmi -f "$IMAGE" >/dev/null 2>&1 || true' EXIT
RFS=$WORK/rootfs
mkdir -p "$RFS/opt/tunstack" "$RFS/tmp" "$RFS/etc" "$RFS/dev" "$RFS/proc" "$RFS/sys" "$RFS/run"
chmod 1777 "$RFS/tmp"
# Mirror a merged-/usr host (/bin -> usr/bin, ...) so copied paths resolve.
for d in bin sbin lib lib32 lib64 libx32; do
	if [[ -L /$d ]]; then
		ln -s "$(readlink "/$d")" "$RFS/$d"
		mkdir -p "$RFS/$(readlink -f "/$d" | sed 's|^/||')"
	fi
done

echo "== building static binaries"
cd "$ROOT"
export CGO_ENABLED=0
go build -trimpath -o "$RFS/opt/tunstack/tunstack" ./cmd/tunstack
go test -c -trimpath -o "$RFS/opt/tunstack/integration.test" ./integration
go test -c -trimpath -o "$RFS/opt/tunstack/tun.test" ./tun
for b in tunstack integration.test tun.test; do
	# ldd fails ("not a dynamic executable") on a static binary.
	if ldd "$RFS/opt/tunstack/$b" >/dev/null 2>&1; then
		echo "container.sh: $b is not static" >&2; exit 1
	fi
done

echo "== copying host tools and their libraries"
# copy_with_libs PATH: the file, the libraries ldd lists, and the loader,
# at the same paths as on the host. Symlinked paths are copied as files.
copy_with_libs() {
	local f=$1 lib
	install -D -m 0755 "$(readlink -f "$f")" "$RFS$f"
	while read -r lib; do
		[[ -n $lib && -e $lib ]] || continue
		[[ -e $RFS$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$RFS$lib"
	done < <(ldd "$f" 2>/dev/null | awk '/=>/ {print $3} !/=>/ && $1 ~ /^\// {print $1}')
}
missing=()
for tool in bash true curl nc ip nft ping unshare nsenter sleep setpriv env; do
	p=$(type -P "$tool" || true)
	if [[ -z $p ]]; then missing+=("$tool"); continue; fi
	copy_with_libs "$p"
	# Tools are looked up on PATH: make sure the directory is on it.
done
((${#missing[@]} == 0)) || echo "container.sh: WARNING: not on this host: ${missing[*]} (the tests needing them will fail)" >&2
# nc is an alternatives symlink on Debian: copy_with_libs resolved it.
# Name service files so that uid 65534 ("nobody") has a name.
printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$RFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$RFS/etc/group"
printf 'hosts: files\n' >"$RFS/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$RFS/etc/hosts"

cat >"$RFS/opt/tunstack/run-tests.sh" <<'EOF'
#!/bin/bash
# Runs inside the container. Each test binary re-executes itself in a new
# network namespace (tuntest.RunInNetns) within the container's.
rc=0
for t in tun integration; do
	echo "== $t.test $*"
	/opt/tunstack/$t.test "$@" || rc=1
done
exit $rc
EOF
chmod 0755 "$RFS/opt/tunstack/run-tests.sh"
cp "$ROOT/integration/Containerfile" "$WORK/Containerfile"

echo "== building image $IMAGE with $ENGINE"
# FROM scratch: there is nothing to pull, and --pull never makes sure of it.
BUILD=("$ENGINE" build -q -t "$IMAGE" -f "$WORK/Containerfile")
[[ $ENGINE == podman ]] && BUILD+=(--pull=never)
"${BUILD[@]}" "$WORK"

echo "== running the tests in a privileged container"
# --network none: the container's namespace has only lo, the tests add
# their own below it. (--ulimit host did not help crun here, see
# CONTAINER.md; the podman options below are what works.)
RUN=("$ENGINE" run --rm --privileged --network none --pull never)
if [[ $ENGINE == podman ]]; then
	# Seen on this machine (cgroup v1 hybrid, no CAP_SYS_RESOURCE): crun
	# refuses the hybrid cgroup layout, and the OCI default rlimits cannot
	# be set. runc copes with the layout; rlimits no higher than ours can
	# always be set. CONTAINER_RUN_OPTS adds options of your own.
	command -v runc >/dev/null && RUN+=(--runtime runc)
	RUN+=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
fi
# shellcheck disable=SC2206
RUN+=(${CONTAINER_RUN_OPTS:-})
set +e
"${RUN[@]}" "$IMAGE" "${TESTFLAGS[@]}"
rc=$?
set -e
echo "== container exit status $rc"
exit $rc
