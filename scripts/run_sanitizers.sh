#!/usr/bin/env bash
# Builds pynncore with AddressSanitizer and UndefinedBehaviorSanitizer (PYNNCORE_SANITIZE=ON)
# into its own virtual environment and build folder, then runs the test suite under it.
#
#   scripts/run_sanitizers.sh                  # whole suite
#   scripts/run_sanitizers.sh tests/reliability -k fuzz   # arguments go to pytest
#
# Environment: PYTHON (interpreter for the venv, default python3), PYNNCORE_ASAN_VENV (default
# build/asan-venv), PYNNCORE_ASAN_BUILD (default build/asan). The sanitized extension needs
# libasan loaded before the interpreter's own allocations (LD_PRELOAD, with libstdc++ so that
# operator new/delete interception sees one C++ runtime), PYTHONMALLOC=malloc so that Python's
# allocations go through ASan too, and detect_leaks=0 because CPython keeps interned objects
# alive until exit. pytest runs with -s: ASan and UBSan reports go to stderr as they happen.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="${PYNNCORE_ASAN_VENV:-$ROOT/build/asan-venv}"
BUILD="${PYNNCORE_ASAN_BUILD:-build/asan}"
CXX="${CXX:-g++}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q numpy pytest hypothesis scikit-build-core pybind11 ninja

cd "$ROOT"
echo "== building the sanitized extension into $BUILD"
PYNNCORE_SANITIZE=ON "$VENV/bin/pip" install -q --no-build-isolation . "-Cbuild-dir=$BUILD"

LIBASAN="$("$CXX" -print-file-name=libasan.so)"
LIBSTDCXX="$("$CXX" -print-file-name=libstdc++.so)"
for lib in "$LIBASAN" "$LIBSTDCXX"; do
  if [ ! -e "$lib" ]; then
    echo "run_sanitizers.sh: $lib not found (is $CXX the compiler that built the extension?)" >&2
    exit 2
  fi
done

export LD_PRELOAD="$LIBASAN $LIBSTDCXX"
# allocator_may_return_null=1: an impossible allocation (a hostile file asking for petabytes)
# returns NULL as it does without ASan, so numpy raises MemoryError instead of ASan aborting.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONMALLOC=malloc
export KERAS_BACKEND="${KERAS_BACKEND:-torch}"

echo "== running the tests under ASan/UBSan"
# pytest (not python -m pytest) so that the installed, sanitized package is imported
exec "$VENV/bin/pytest" -s -q -p no:cacheprovider "$@"
