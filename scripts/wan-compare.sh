#!/usr/bin/env bash
# wan-compare.sh - issue 9's WAN figures: upload and download through the
# benchmark's emulated paths (../shared/bench/run.sh --path), for tunstack,
# the kernel over veth and gVisor, one after the other for each path and
# congestion control, and a markdown table of the results.
#
#   scripts/wan-compare.sh [--secs N] [--outdir DIR] [--suts LIST] [--seeds LIST] [--readme FILE] [PATH_CASE ...]
#
# A PATH_CASE is NAME=SPEC/CC: the path spec for run.sh --path and the
# congestion control used on every sender in that case (the kernel client,
# which drives upload; tunstack's --cc and the kernel server's, which drive
# download; gVisor has its own, it takes no setting). Defaults: the paths of
# issue 9. Needs root (run.sh makes network namespaces); takes about a
# minute per SUT per case. bin/tunstack must be built (make build).
# --suts (default tunstack,kernel,gvisor) runs only some of them; results
# already in --outdir for the others are kept and tabled. --readme FILE
# puts the table between FILE's "<!-- wan:begin" and "<!-- wan:end -->" lines.
# --seeds (default 1) runs every SUT once per seed of the emulator's loss
# draws (run.sh --path ...,seed=N) and tables the median of the runs. The
# draws are a fixed sequence per seed, and the check workload before upload
# and download passes a different number of frames for each SUT, so with
# one seed each SUT meets another loss pattern, the same one every time:
# with loss, one seed is one sample (at rtt=40ms,loss=0.1% the first loss
# decides how far the initial slow start overshoots, and that decides most
# of a 10 s run).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${BENCH:-$HERE/../shared/bench}
SECS=10 OUTDIR="" SUTS=tunstack,kernel,gvisor README="" SEEDS=1
CASES=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--secs) SECS="$2"; shift 2 ;;
	--outdir) OUTDIR="$2"; shift 2 ;;
	--suts) SUTS="$2"; shift 2 ;;
	--seeds) SEEDS="$2"; shift 2 ;;
	--readme) README="$2"; shift 2 ;;
	-h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*=*) CASES+=("$1"); shift ;;
	*) echo "wan-compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if ((${#CASES[@]} == 0)); then
	CASES=(
		"rtt40-loss1-bbr=rtt=40ms,loss=1%/bbr"
		"rtt40-loss1-cubic=rtt=40ms,loss=1%/cubic"
		"rtt40-loss0.1-bbr=rtt=40ms,loss=0.1%/bbr"
		"rtt40-loss0.1-cubic=rtt=40ms,loss=0.1%/cubic"
		"bottleneck-cubic=rate=100mbit,queue=50ms,rtt=20ms/cubic"
		"bottleneck-bbr=rate=100mbit,queue=50ms,rtt=20ms/bbr"
	)
fi
[[ -x $HERE/bin/tunstack ]] || { echo "wan-compare.sh: build bin/tunstack first (make build)" >&2; exit 2; }
[[ -x $BENCH/run.sh ]] || { echo "wan-compare.sh: no $BENCH/run.sh (set BENCH)" >&2; exit 2; }
[[ $SEEDS =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "wan-compare.sh: --seeds wants numbers separated by commas" >&2; exit 2; }
IFS=, read -ra seeds <<<"$SEEDS"
OUTDIR=${OUTDIR:-$(mktemp -d /tmp/wan-compare.XXXXXX)}
mkdir -p "$OUTDIR"
echo "results in $OUTDIR"

# result NAME SUT SEED: the JSON file of one run (the name without a seed
# when only seed 1 runs, as before --seeds).
result() {
	if [[ $SEEDS == 1 ]]; then echo "$OUTDIR/$1-$2.json"; else echo "$OUTDIR/$1-$2-s$3.json"; fi
}

# median: the median of the numbers on stdin ("-" if none).
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for c in "${CASES[@]}"; do
	name=${c%%=*} rest=${c#*=}
	spec=${rest%/*} cc=${rest##*/}
	IFS=, read -ra suts <<<"$SUTS"
	for seed in "${seeds[@]}"; do
		for sut in "${suts[@]}"; do
			out=$(result "$name" "$sut" "$seed")
			case $sut in
			tunstack) args=(--sut "$HERE/bin/tunstack serve --tun {tun} --addr {addr} --mtu {mtu} --cc $cc") ;;
			kernel) args=(--kernel) ;;
			gvisor) args=(--sut gvisor) ;;
			*) echo "wan-compare.sh: unknown SUT $sut (tunstack, kernel, gvisor)" >&2; exit 2 ;;
			esac
			pspec=$spec
			[[ $SEEDS == 1 ]] || pspec="$spec,seed=$seed"
			echo "=== $name ($pspec, $cc): $sut"
			bash "$BENCH/run.sh" "${args[@]}" --label "$sut" --path "$pspec" --cc "$cc" \
				--only check,upload,download --secs "$SECS" --out "$out" >"${out%.json}.log" 2>&1 ||
				echo "run failed, see ${out%.json}.log"
			grep -E '^\[.*\] (upload|download) ' "${out%.json}.log" || true
		done
	done
done

# The table: Mbit/s up / down, and the mean wait in the bottleneck queue of
# the download's data (s2c) when the path has a queue.
{
	echo "| path | cc | tunstack up / down | kernel up / down | gVisor up / down | tunstack / kernel | tunstack / gVisor | queue wait down, tunstack / kernel (ms) |"
	echo "|---|---|---|---|---|---|---|---|"
	for c in "${CASES[@]}"; do
		name=${c%%=*} rest=${c#*=}
		spec=${rest%/*} cc=${rest##*/}
		row="| \`$spec\` | $cc"
		declare -A up=() down=() qw=()
		for sut in tunstack kernel gvisor; do
			files=()
			for seed in "${seeds[@]}"; do
				f=$(result "$name" "$sut" "$seed")
				[[ -f $f ]] && files+=("$f")
			done
			if ((${#files[@]} > 0)); then
				up[$sut]=$(for f in "${files[@]}"; do jq -r 'if .details.upload.secs then .details.upload.bytes * 8 / .details.upload.secs / 1e5 | round / 10 else 0 end' "$f"; done | median)
				down[$sut]=$(for f in "${files[@]}"; do jq -r 'if .details.download.secs then .details.download.bytes * 8 / .details.download.secs / 1e5 | round / 10 else 0 end' "$f"; done | median)
				qw[$sut]=$(for f in "${files[@]}"; do jq -r '.details.download.path.s2c_qwait_mean_ms // empty | . * 10 | round / 10' "$f"; done | median)
				row+=" | ${up[$sut]} / ${down[$sut]}"
			else
				up[$sut]=0 down[$sut]=0 qw[$sut]=-
				row+=" | -"
			fi
		done
		[[ -f $(result "$name" tunstack "${seeds[0]}") ]] || up[tunstack]=- down[tunstack]=-
		ratio=$(awk -v a="${up[tunstack]}" -v b="${up[kernel]}" -v c="${down[tunstack]}" -v d="${down[kernel]}" \
			'BEGIN { printf "%s / %s", (a != "-" && b > 0 ? sprintf("%.2f", a / b) : "-"), (c != "-" && d > 0 ? sprintf("%.2f", c / d) : "-") }')
		ratio2=$(awk -v a="${up[tunstack]}" -v b="${up[gvisor]}" -v c="${down[tunstack]}" -v d="${down[gvisor]}" \
			'BEGIN { printf "%s / %s", (a != "-" && b > 0 ? sprintf("%.2f", a / b) : "-"), (c != "-" && d > 0 ? sprintf("%.2f", c / d) : "-") }')
		row+=" | $ratio | $ratio2 | ${qw[tunstack]} / ${qw[kernel]} |"
		echo "$row"
	done
} | tee "$OUTDIR/table.md"

if [[ -n $README ]]; then
	{
		echo "($(date -u +%Y-%m-%d), commit $(git -C "$HERE" rev-parse --short HEAD), \`make wan\`, --secs $SECS, seeds $SEEDS: medians)"
		echo
		cat "$OUTDIR/table.md"
	} >"$OUTDIR/readme-block.md"
	python3 - "$README" "$OUTDIR/readme-block.md" <<'PY'
import sys
path, block = sys.argv[1], open(sys.argv[2]).read()
s = open(path).read()
a = s.index("<!-- wan:begin")
a = s.index("\n", a) + 1
b = s.index("<!-- wan:end -->")
open(path, "w").write(s[:a] + "\n" + block + "\n" + s[b:])
PY
	echo "table written into $README"
fi
