# Sourced by the standalone bench scripts: `bench_args NAME FULL_RUNS QUICK_RUNS "$@"`
# sets RUNS (and QUICK=1) from --quick, answers -h/--help from the caller's header comment,
# and defaults PYTHON to the CPython 3.11 the benchmarks are written for.
bench_args() {
  local name=$1 full=$2 quick=$3 script=$4
  shift 4
  RUNS=$full QUICK=0
  for a in "$@"; do
    case "$a" in
      --quick) RUNS=$quick QUICK=1 ;;
      -h | --help) sed -n '2,15p' "$script"; exit 0 ;;
      *) echo "$name: unknown option $a" >&2; exit 2 ;;
    esac
  done
  if [ -z "${PYTHON:-}" ]; then
    PYTHON=/root/.pyenv/versions/3.11.7/bin/python3.11
    [ -x "$PYTHON" ] || PYTHON=$(command -v python3.11)
  fi
}
