#!/usr/bin/env bash
# Builds pynncore with sanitizers into its own virtual environment and build folder, then runs
# tests under it. Two modes, each with its own build:
#
#   address (default): AddressSanitizer + UndefinedBehaviorSanitizer (PYNNCORE_SANITIZE=ON),
#                      venv build/asan-venv, build folder build/asan;
#   thread:            ThreadSanitizer (PYNNCORE_SANITIZE_THREAD=ON), venv build/tsan-venv,
#                      build folder build/tsan.
#
#   scripts/run_sanitizers.sh                              # ASan+UBSan, whole suite
#   scripts/run_sanitizers.sh tests/reliability -k fuzz    # ASan+UBSan; arguments go to pytest
#   scripts/run_sanitizers.sh --native                     # ASan+UBSan over the native-kernel tests
#   scripts/run_sanitizers.sh --native -x                  # the same; further arguments go to pytest
#   scripts/run_sanitizers.sh --mode thread                # TSan over the thread-team tests
#   scripts/run_sanitizers.sh --mode thread tests/test_rnn.py -k threads2
#
# --native (address mode) runs the test files of the C++ kernels most recently changed:
# Winograd, im2col and shifted-window convolutions, the thread team, GEMM, the output-buffer
# cache, activations, the Dense-chain bindings, pooling, the recurrent layers and cells, FTRL
# and ConvLSTM. In thread mode, without pytest arguments, the script runs tests/test_threading.py
# and the two-thread cases (`threads2`) of tests/test_gemm.py and tests/test_conv_winograd.py.
#
# Environment: PYTHON (interpreter for the venvs, default python3), CXX (the compiler that
# builds the extension and whose runtimes are preloaded, default g++), PYNNCORE_ASAN_VENV /
# PYNNCORE_ASAN_BUILD and PYNNCORE_TSAN_VENV / PYNNCORE_TSAN_BUILD (venv and build folder of
# each mode).
#
# Address mode: the sanitized extension needs libasan loaded before the interpreter's own
# allocations (LD_PRELOAD, with libstdc++ so that operator new/delete interception sees one C++
# runtime), PYTHONMALLOC=malloc so that Python's allocations go through ASan too, and
# detect_leaks=0 because CPython keeps interned objects alive until exit.
#
# Thread mode: libtsan is preloaded the same way (with libstdc++), and PYTHONMALLOC=malloc lets
# TSan see every allocation and free. Kernels run on the native thread team (the default
# backend), whose synchronisation is all C++ atomics, mutexes and condition variables that TSan
# understands. libgomp is not instrumented: TSan cannot see the barriers that end an OpenMP
# region, so work done under PYNNCORE_THREADING=openmp (tests/test_threading.py starts one
# child process with it) is reported as racing (seen: gemm_packed's and rnn_forward's locals
# against a libgomp worker). scripts/tsan_libgomp.supp suppresses the races whose stacks, or
# the creation stacks of whose threads, pass through libgomp.so and nothing else; the native
# team is checked in full.
# numpy's OpenBLAS is not instrumented either: OPENBLAS_NUM_THREADS=1 keeps its worker threads
# (and their invisible hand-offs) out of the run.
# TSan reports make the process exit with status 66 after the run (halt_on_error=0: every
# report is printed).
#
# pytest runs with -s: sanitizer reports go to stderr as they happen. Before the tests, the
# script prints which pynncore the venv imports and stops if it is not the installed build.
set -euo pipefail

MODE=address
NATIVE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) MODE="${2:-}"; shift $(($# < 2 ? 1 : 2)) ;;
    --mode=*) MODE="${1#--mode=}"; shift ;;
    --native) NATIVE=1; shift ;;
    *) break ;;
  esac
done
case "$MODE" in
  address | thread) ;;
  *) echo "run_sanitizers.sh: --mode expects 'address' or 'thread'; got '$MODE'" >&2; exit 2 ;;
esac
if [ "$NATIVE" = 1 ] && [ "$MODE" != address ]; then
  echo "run_sanitizers.sh: --native applies to --mode address only" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
CXX="${CXX:-g++}"
if [ "$MODE" = address ]; then
  VENV="${PYNNCORE_ASAN_VENV:-$ROOT/build/asan-venv}"
  BUILD="${PYNNCORE_ASAN_BUILD:-build/asan}"
  SWITCH=PYNNCORE_SANITIZE
  RUNTIME=libasan.so
else
  VENV="${PYNNCORE_TSAN_VENV:-$ROOT/build/tsan-venv}"
  BUILD="${PYNNCORE_TSAN_BUILD:-build/tsan}"
  SWITCH=PYNNCORE_SANITIZE_THREAD
  RUNTIME=libtsan.so
fi
export CXX

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q numpy pytest hypothesis scikit-build-core pybind11 ninja

cd "$ROOT"
echo "== building the $MODE-sanitized extension into $BUILD"
env "$SWITCH=ON" "$VENV/bin/pip" install -q --no-build-isolation . "-Cbuild-dir=$BUILD"

LIBSAN="$("$CXX" -print-file-name="$RUNTIME")"
LIBSTDCXX="$("$CXX" -print-file-name=libstdc++.so)"
for lib in "$LIBSAN" "$LIBSTDCXX"; do
  # -print-file-name echoes the bare name back when it finds nothing
  if [ "$lib" = "$(basename "$lib")" ] || [ ! -e "$lib" ]; then
    echo "run_sanitizers.sh: $lib not found (is $CXX the compiler that built the extension?)" >&2
    exit 2
  fi
done

export LD_PRELOAD="$LIBSAN $LIBSTDCXX"
export PYTHONMALLOC=malloc
export KERAS_BACKEND="${KERAS_BACKEND:-torch}"
if [ "$MODE" = address ]; then
  # allocator_may_return_null=1: an impossible allocation (a hostile file asking for petabytes)
  # returns NULL as it does without ASan, so numpy raises MemoryError instead of ASan aborting.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
else
  export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4:suppressions=$ROOT/scripts/tsan_libgomp.supp"
  # the native team, whatever the calling environment chose
  unset PYNNCORE_THREADING
  # numpy's OpenBLAS (float64 references in the tests) is not instrumented and its worker
  # threads hand results back through spin-waits TSan cannot see: one BLAS thread, no reports
  # about memory that only numpy touched.
  export OPENBLAS_NUM_THREADS=1
fi

# The tests must import the sanitized build from the venv, not a pynncore next to them.
(cd tests && "$VENV/bin/python" - "$VENV" <<'EOF'
import os, sys
import pynncore
from pynncore import _core
venv = os.path.realpath(sys.argv[1])
where = os.path.realpath(_core.__file__)
print(f"== pynncore under test: {where} (threading: {_core.threading_backend})")
if not where.startswith(venv + os.sep):
    sys.exit(f"run_sanitizers.sh: expected pynncore from {venv}; got {where}")
EOF
)

if [ $# -eq 0 ]; then
  if [ "$MODE" = thread ]; then
    set -- tests/test_threading.py tests/test_gemm.py tests/test_conv_winograd.py \
      -k "test_threading or threads2"
  fi
fi
if [ "$NATIVE" = 1 ]; then
  set -- tests/test_conv_winograd.py tests/test_conv.py tests/test_conv_shifted.py \
    tests/test_threading.py tests/test_gemm.py tests/test_buffers.py tests/test_activation.py \
    tests/test_inference.py tests/test_training_fastpath.py tests/test_models.py tests/test_pool.py \
    tests/test_rnn.py tests/test_rnn_cells.py tests/test_optimizers_ftrl.py tests/test_conv_lstm.py "$@"
fi

echo "== running the tests under $([ "$MODE" = address ] && echo ASan/UBSan || echo TSan)"
# pytest (not python -m pytest) so that the installed, sanitized package is imported
exec "$VENV/bin/pytest" -s -q -p no:cacheprovider "$@"
