#!/usr/bin/env bash
# Fuzz ferrosock's parsers and decoders under AddressSanitizer (cargo-fuzz, libFuzzer).
#
#   fuzz/run.sh smoke [TARGET...]          about 20 s a target (FUZZ_SMOKE_SECONDS), for CI
#   fuzz/run.sh long [SECONDS] [TARGET...] SECONDS a target (default 3600), for `make fuzz`
#   fuzz/run.sh build                      only build the targets
# FUZZ_RUNS=N stops a target after N executions (libFuzzer's -runs) if that comes first.
# FUZZ_TIMEOUT=S is libFuzzer's per-input -timeout (default 10 s). It is wall-clock time: a
# run paused (SIGSTOP) for longer reports the input it was on as a timeout, so give runs
# that may be paused for benchmarks a larger one.
#
# Installs cargo-fuzz if it is missing, builds every target with ASan, debug assertions and
# overflow checks, then runs each with `nice -n 19` under `timeout`, from its working corpus
# fuzz/corpus/TARGET (kept, not committed) and the committed seeds fuzz/seeds/TARGET. Crash
# inputs go to fuzz/artifacts/TARGET/, logs to fuzz/logs/. Prints one line a target with
# libFuzzer's executions and the corpus size, and exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-smoke}
[ $# -gt 0 ] && shift
case "$mode" in
  smoke) secs=${FUZZ_SMOKE_SECONDS:-20} ;;
  long)
    secs=3600
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then secs=$1; shift; fi
    ;;
  build) secs=0 ;;
  *) echo "usage: $0 smoke|long [SECONDS]|build [TARGET...]" >&2; exit 2 ;;
esac

SECONDS=0
if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
# cargo-fuzz needs nightly flags (-Zsanitizer). Use the nightly toolchain where rustup has
# one; otherwise let the stable compiler accept them (its rustlib ships the ASan runtime).
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=+nightly
else
  toolchain=
  export RUSTC_BOOTSTRAP=1
fi
# struct_pack embeds CPython: pyo3 links the libpython of PYO3_PYTHON (default python3), and
# the binary must load that same library (not a system one of the same soname).
export PYO3_PYTHON=${PYO3_PYTHON:-$(command -v python3)}
libdir=$("$PYO3_PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "== building (cargo $toolchain fuzz build -O --debug-assertions)"
cargo $toolchain fuzz build -O --debug-assertions
echo "== built in ${SECONDS}s"
[ "$mode" = build ] && exit 0

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo $toolchain fuzz list)
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
  # The targets that embed CPython (struct_pack, *_py) keep its objects to the end, and
  # CPython does not free them at exit: no leak check there.
  asan=detect_odr_violation=0
  case "$t" in struct_pack | *_py) asan+=:detect_leaks=0 ;; esac
  # ipaddress does real work per 16 input bytes (networks to collapse): short inputs keep
  # it fast, and no text it parses is longer than 45 bytes.
  extra=()
  [ "$t" = ipaddress ] && extra=(-max_len=512)
  [ -n "${FUZZ_RUNS:-}" ] && extra+=(-runs="$FUZZ_RUNS")
  start=$SECONDS
  rc=0
  ASAN_OPTIONS=$asan timeout -k 10 $((secs + 120)) nice -n 19 "$bin/$t" \
    -max_total_time="$secs" -print_final_stats=1 -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb=2048 "${extra[@]}" \
    -artifact_prefix="artifacts/$t/" "corpus/$t" "seeds/$t" >"logs/$mode-$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$mode-$t.log" | tail -1)
  printf '%-14s rc=%-3s %4ss  executions=%-10s corpus=%s\n' "$t" "$rc" $((SECONDS - start)) \
    "${execs:-?}" "$(ls "corpus/$t" | wc -l)"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E -A12 'panicked|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)' "logs/$mode-$t.log" | head -40 >&2
    ls "artifacts/$t/" >&2
  fi
done
echo "== ${#targets[@]} targets in ${SECONDS}s; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
