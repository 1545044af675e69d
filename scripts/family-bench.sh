#!/usr/bin/env bash
# family-bench.sh - IPv4 against IPv6 through `tunstack serve`, same run: the
# benchmark harness (../shared/bench) dials IPv4 only, so this measures the
# two families with the kernel's own tools in a private network namespace:
# download (the stack's :19 source read by nc into dd), upload (dd into nc to
# the stack's :9 discard), echo round trips (ping), per family, alternating.
#
#   scripts/family-bench.sh [--mb N] [--rounds R]      (root; bin/tunstack built)
#
# Figures are nc/dd throughput: lower than the harness's (one more copy in
# user space on the kernel side) but the same tools for both families.
set -euo pipefail
MB=4000 ROUNDS=2
while (($#)); do
	case $1 in
	--mb) MB=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	*) echo "usage: $0 [--mb N] [--rounds R]" >&2; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
[[ -x bin/tunstack ]] || { echo "build bin/tunstack first (make build)" >&2; exit 1; }
((EUID == 0)) || { echo "run as root (it creates a network namespace)" >&2; exit 1; }
exec unshare --net bash -s "$MB" "$ROUNDS" <<'INNER'
set -u
MB=$1 ROUNDS=$2
ip link set lo up
./bin/tunstack serve >/tmp/family-bench.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do nc -z -w 1 198.18.0.2 7 2>/dev/null && nc -6 -z -w 1 2001:2::2 7 2>/dev/null && break; sleep 0.1; done
rate() { awk '/copied/ {for (i=1;i<=NF;i++) if ($i ~ /^s,$/) t=$(i-1); print $1/t*8/1e9}'; }
printf '%-6s %-14s %-14s %-12s\n' family 'download Gb/s' 'upload Gb/s' 'ping avg ms'
for r in $(seq "$ROUNDS"); do
	for fam in 4 6; do
		a=198.18.0.2; [[ $fam == 6 ]] && a=2001:2::2
		timeout 60 nc -"$fam" -d "$a" 19 | dd of=/dev/null bs=1M count="$MB" iflag=fullblock 2>/tmp/family-bench.dd
		down=$(rate </tmp/family-bench.dd)
		dd if=/dev/zero bs=1M count="$MB" 2>/tmp/family-bench.dd | timeout 60 nc -"$fam" -N "$a" 9 >/dev/null
		up=$(rate </tmp/family-bench.dd)
		png=$(ping -"$fam" -c 200 -i 0.002 -q "$a" | awk -F/ '/^rtt/ {print $5}')
		printf 'IPv%-3s %-14.2f %-14.2f %-12s\n' "$fam" "$down" "$up" "$png"
	done
done
INNER
