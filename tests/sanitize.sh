#!/usr/bin/env bash
# Builds fanns with sanitizers into venvs of their own and runs the tests
# under them:
#   tests/sanitize.sh asan [pytest args...]   AddressSanitizer + UBSan
#   tests/sanitize.sh tsan [pytest args...]   ThreadSanitizer
# Default pytest arguments: the whole suite without slow tests for asan, the
# threaded tests for tsan (CPython itself is not instrumented, and NumPy
# allocates through plain malloc there; see tests/README.md).
# Environment: FANNS_SANITIZE_VENV_DIR (default /work/venv-sanitize or
# $HOME/.cache/fanns-sanitize), PYTHON (default python3), CXX.
# Run it niced: it is slow (`nice -n 10 tests/sanitize.sh asan`).
set -euo pipefail

kind=${1:?usage: tests/sanitize.sh asan|tsan [pytest args...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
base=${FANNS_SANITIZE_VENV_DIR:-$( [ -w /work ] && echo /work/venv-sanitize || echo "$HOME/.cache/fanns-sanitize")}
python=${PYTHON:-python3}
cxx=${CXX:-g++}

case "$kind" in
  asan)
    flags="address,undefined"
    runtime="$($cxx -print-file-name=libasan.so)"
    default_tests=(tests -p no:cacheprovider -q -x -m "not slow" --ignore=tests/test_bench.py)
    ;;
  tsan)
    flags="thread"
    runtime="$($cxx -print-file-name=libtsan.so)"
    # The threaded tests: the pool, 8 Python threads searching one index,
    # searches beside a writer, threaded builds and searches.
    default_tests=(tests/test_threads.py tests/test_mutable_threads.py tests/test_hnsw.py
                   tests/test_sparse.py tests/test_range_graph.py -k thread -p no:cacheprovider -q -x)
    ;;
  *) echo "unknown sanitizer kind '$kind' (asan or tsan)" >&2; exit 2 ;;
esac
[ -f "$runtime" ] || { echo "no sanitizer runtime found for $kind ($runtime)" >&2; exit 2; }
# The interpreter does not link libstdc++; without it loaded up front, ASan
# finds no real __cxa_throw to forward to and the first C++ exception aborts.
runtime="$runtime $($cxx -print-file-name=libstdc++.so)"

venv="$base-$kind"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q scikit-build-core pybind11 numpy pyroaring pytest scipy atheris || \
    "$venv/bin/pip" install -q scikit-build-core pybind11 numpy pyroaring pytest scipy
fi
# Its own build directory, so the normal build is left alone.
"$venv/bin/pip" install -q --no-build-isolation --no-deps "$root" \
  -C cmake.define.FANNS_SANITIZE="$flags" -C build-dir="$root/build/sanitize-$kind" \
  -C cmake.build-type=RelWithDebInfo

if [ "$kind" = tsan ]; then
  # NumPy's array data through plain malloc/free, so that TSan sees a block
  # freed by one Python thread's array and reused by another's as two
  # allocations (tests/tsan/plain_numpy_alloc.c; tests/conftest.py installs
  # it when FANNS_TSAN_PLAIN_NUMPY_ALLOC is set).
  shim="$root/build/sanitize-tsan/shim"
  mkdir -p "$shim"
  "${CC:-gcc}" -O1 -g -shared -fPIC -Wall -Wextra \
    -I"$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    -I"$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')" \
    "$root/tests/tsan/plain_numpy_alloc.c" \
    -o "$shim/plain_numpy_alloc$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
  export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
  export FANNS_TSAN_PLAIN_NUMPY_ALLOC=1
fi

# Reports go to files as well: pytest captures the test's stderr, and a
# fatal report ends the process before pytest could show it.
reports="$root/build/sanitize-$kind/reports"
rm -rf "$reports" && mkdir -p "$reports"
export PYTHONMALLOC=malloc  # let ASan see every Python allocation
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan:suppressions=$root/tests/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

if [ $# -eq 0 ]; then set -- "${default_tests[@]}"; fi
cd "$root"
# Run from the tests against the installed package, not python/ in the tree.
status=0
LD_PRELOAD="$runtime" "$venv/bin/python" -m pytest "$@" || status=$?
if [ -n "$(ls -A "$reports")" ]; then
  echo "sanitizer reports ($reports):"
  cat "$reports"/*
  status=1
fi
exit $status
