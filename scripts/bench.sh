#!/usr/bin/env bash
# `make bench`: Kiln's benchmark against `kiln emulator serve` (real loop devices: run as
# root) with emulator/latency-realistic.json scaled down (BENCH_SCALE, default 0.1), writing
# docs/benchmarks.json and docs/benchmarks.md. The work is done by scripts/bench/bench.py
# (Python 3, standard library only); docs/benchmarks.md says what each figure means.
#
#   scripts/bench.sh                          # everything (about 15 minutes on 2 cores)
#   BENCH_SCALE=0.2 scripts/bench.sh          # slower operations, less polling granularity
#   BENCH_ONLY=critical,noop scripts/bench.sh # some of: critical economy resume noop parallel cost emulator fleet packer
#   BENCH_RESUME_LIMIT=5 scripts/bench.sh     # SIGKILL only after the first 5 actions
#   BENCH_CRITICAL_SCALES= scripts/bench.sh   # no second critical-path run (default: also at ×0.5)
#   BENCH_MERGE=1 BENCH_ONLY=resume scripts/bench.sh  # re-measure one section, keep the others
#   BENCH_ONLY=packer scripts/bench.sh        # Kiln beside Packer's azure-chroot (BENCH_PACKER_SCALES,
#                                             # default 0.2,1; BENCH_PACKER_JOBS, default a,b,c,d,e)
#
# Every process, mount and loop device the run creates is removed however it ends (the
# trap below runs the same cleanup as the script's own `finally`).
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-.build/release/kiln}
SWIFT=${SWIFT:-swift}
if [ "$(id -u)" != 0 ]; then echo "scripts/bench.sh: needs root (loop devices, mounts, chroot)"; exit 1; fi
[ -x "$KILN" ] || { echo "scripts/bench.sh: $KILN is missing; run '$SWIFT build -c release' first (make bench does)"; exit 1; }
command -v python3 >/dev/null || { echo "scripts/bench.sh: python3 is missing (apt-get install python3)"; exit 1; }
only=${BENCH_ONLY:-critical,economy,resume,noop,parallel,cost,emulator,fleet,packer}
if [[ ",$only," == *,packer,* ]]; then
    # Debian's packer (1.6.6 on bookworm) for the side-by-side; ip and unshare for its namespaces.
    command -v packer >/dev/null || apt-get install -y packer
    command -v ip >/dev/null || apt-get install -y iproute2
fi
scratch=$(mktemp -d /tmp/kiln-bench.XXXXXX)
cleanup() {
    python3 scripts/bench/bench.py cleanup --scratch "$scratch" || true
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
out=${BENCH_OUT:-docs/benchmarks.json}
# The command as a user would repeat it, with the variables that were set.
command="make bench"
for v in BENCH_MERGE BENCH_CRITICAL_SCALES BENCH_RESUME_LIMIT BENCH_ONLY BENCH_SCALE BENCH_PACKER_SCALES BENCH_PACKER_JOBS; do
    if [ -n "${!v+x}" ]; then command="$v=${!v} $command"; fi
done
python3 scripts/bench/bench.py run --kiln "$KILN" --scratch "$scratch" --scale "${BENCH_SCALE:-0.1}" \
    --only "$only" --packer-scales "${BENCH_PACKER_SCALES:-0.2,1}" --packer-jobs "${BENCH_PACKER_JOBS:-a,b,c,d,e}" \
    ${BENCH_MERGE:+--merge} --critical-scales "${BENCH_CRITICAL_SCALES-0.5}" --resume-limit "${BENCH_RESUME_LIMIT:-0}" --out "$out" --command "$command"
python3 scripts/bench/report.py "$out" "${out%.json}.md" scripts/bench/notes.md
echo "wrote $out and ${out%.json}.md"
