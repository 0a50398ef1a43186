#!/usr/bin/env bash
# Regenerates docs/sim.png: every policy against the simulated population
# (offerctl simulate --policy all, seeded), learning curves drawn with
# gnuplot. Prints the table that docs/simulation.md shows.
#
#   scripts/plot-sim.sh                 # 20,000 episodes, seed 1
#   EPISODES=50000 SEED=7 scripts/plot-sim.sh
#
# gnuplot comes from Debian's gnuplot-nox; it is installed when missing
# (as root), else the apt-get line to run is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OFFERD_BUILD:-build}
episodes=${EPISODES:-20000}
seed=${SEED:-1}
offerctl=${OFFERCTL:-$build/offerctl}
out=${OUT:-docs/sim.png}

source scripts/apt_lib.sh # apt_install
command -v gnuplot >/dev/null 2>&1 || apt_install plot-sim gnuplot-nox
[[ -n "${OFFERCTL:-}" ]] || make -s build
mkdir -p "$build" "$(dirname "$out")"
csv=$build/sim.csv
every=$(( episodes / 80 > 0 ? episodes / 80 : 1 ))
"$offerctl" simulate --policy all --episodes "$episodes" --seed "$seed" --every "$every" \
  --csv "$csv" --quiet
gnuplot -e "csv='$csv'; out='$out'; drift=$(( episodes / 2 ));
  title='offerctl simulate --policy all --episodes $episodes --seed $seed'" scripts/plot-sim.gp
echo "plot-sim: wrote $out (curves in $csv)" >&2
