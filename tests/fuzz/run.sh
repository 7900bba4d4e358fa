#!/usr/bin/env bash
# Long fuzz run of every target under atheris (pip install atheris):
#   tests/fuzz/run.sh [RUNS_FILTER RUNS_SEARCH RUNS_LOAD]
# defaults: 1000000 filter expressions, 100000 search calls, 100000 mutated
# files of each kind (dense and sparse files, segmented directories). Each
# target stops at its count, at the first finding, or after FUZZ_SECONDS
# (default: no limit). Per-input limits: 10 s
# (timeout), 2048 MB (rss). Logs and any finding go to FUZZ_OUT (default
# fuzz-out/); FUZZ_TARGETS picks targets (default: all five). Run it
# niced: `nice -n 15 tests/fuzz/run.sh`.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python}
out=${FUZZ_OUT:-fuzz-out}
runs_filter=${1:-1000000}
runs_search=${2:-100000}
runs_load=${3:-100000}
mkdir -p "$out"
status=0
targets=${FUZZ_TARGETS:-filter search load_dense load_sparse load_segmented}
for target in $targets; do
  case "$target" in
    filter) runs=$runs_filter ;;
    search) runs=$runs_search ;;
    load_dense|load_sparse|load_segmented) runs=$runs_load ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  mkdir -p "$out/$target/corpus"
  limit=()
  [ -n "${FUZZ_SECONDS:-}" ] && limit=(-max_total_time="$FUZZ_SECONDS")
  echo "== $target: up to $runs inputs"
  (cd "$out/$target" && "$python" "$here/fuzz.py" "$target" corpus -runs="$runs" -seed=1 -timeout=10 \
      -rss_limit_mb=2048 -max_len=4096 -len_control=0 -print_final_stats=1 "${limit[@]}") > "$out/$target.log" 2>&1
  rc=$?
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs|ERROR|Timeout|out-of-memory|crash-" "$out/$target.log" | tail -5
  echo "   exit status $rc"
  [ $rc -ne 0 ] && status=1
done
exit $status
