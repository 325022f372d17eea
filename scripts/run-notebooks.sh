#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless, twice: with `esa run` (the
# project's in-process runner) and with Debian's `jupyter nbconvert --execute`
# driving the esa kernel (installed into a temporary prefix, never into the
# user's Jupyter). Fails when a notebook fails or shows an error output or
# stderr text, and prints the wall time of each notebook under each executor.
#
#   scripts/run-notebooks.sh [--inplace] [--out DIR] [--only NAME] [--no-nbconvert] [--param NAME=VALUE ...]
#
#   --inplace       write the executed notebooks back into notebooks/ (from
#                   nbconvert when it ran, else from esa run) to commit them
#   --out DIR       keep the executed notebooks in DIR/esa-run and DIR/nbconvert
#                   (CI artefacts), also when a notebook fails
#   --only NAME     run only notebooks whose file name contains NAME (repeatable)
#   --no-nbconvert  skip the Jupyter pass (esa run only)
#   --param N=V     override a parameter of every notebook (both executors);
#                   e.g. --param model=/path/to/stories260K-hf
#
# Needs Go, and for the Jupyter pass the Debian packages jupyter-nbconvert and
# python3-nbformat (with /usr/bin/python3). ESA_REQUIRE_JUPYTER=1 makes a
# missing jupyter a failure instead of a skipped pass. ESA_BIN=path uses an
# esa binary built elsewhere instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH=/usr/local/go/bin:$PATH
PY=/usr/bin/python3

inplace=0
out=""
nbconvert=1
only=()
params=()
while [ $# -gt 0 ]; do
  case "$1" in
    --inplace) inplace=1 ;;
    --no-nbconvert) nbconvert=0 ;;
    --out) shift; out="${1:?--out needs a folder}" ;;
    --only) shift; only+=("${1:?--only needs a name}") ;;
    --param) shift; case "${1:-}" in *=*) params+=("$1") ;; *) echo "--param wants NAME=VALUE, got '${1:-}'" >&2; exit 2 ;; esac ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument '$1' (valid: --inplace, --out DIR, --only NAME, --no-nbconvert, --param NAME=VALUE)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$nbconvert" = 1 ] && ! { command -v jupyter-nbconvert >/dev/null && [ -x "$PY" ] && "$PY" -c 'import nbformat, nbclient' 2>/dev/null; }; then
  if [ "${ESA_REQUIRE_JUPYTER:-}" = 1 ]; then
    echo "jupyter-nbconvert (Debian: apt-get install jupyter-nbconvert python3-nbformat) is required (ESA_REQUIRE_JUPYTER=1)" >&2
    exit 1
  fi
  echo "note: jupyter-nbconvert or python3-nbformat missing: skipping the Jupyter pass (apt-get install jupyter-nbconvert)"
  nbconvert=0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/esa-notebooks.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bin"
if [ -n "${ESA_BIN:-}" ]; then
  echo "== esa from ESA_BIN=$ESA_BIN"
  cp "$ESA_BIN" "$work/bin/esa"
else
  echo "== build esa"
  go build -o "$work/bin/esa" ./cmd/esa
fi

if [ "$nbconvert" = 1 ]; then
  "$work/bin/esa" install --prefix "$work/prefix" >/dev/null
  export JUPYTER_PATH="$work/prefix/share/jupyter"
  # Keep Jupyter's runtime and config away from the user's.
  export JUPYTER_RUNTIME_DIR="$work/runtime" JUPYTER_CONFIG_DIR="$work/config" JUPYTER_DATA_DIR="$work/data-dir"
  export JUPYTER_PLATFORM_DIRS=1
fi

# Each executor runs the notebooks in its own folder, with notebooks/data
# linked in, so relative data paths resolve as they do in Jupyter (whose
# kernels start in the notebook's folder).
setup_dir() {
  mkdir -p "$1"
  ln -s "$repo/notebooks/data" "$1/data"
}
setup_dir "$work/esa-run"
setup_dir "$work/nbconvert"

# inject NB OUT: copy NB to OUT with the --param values assigned in a cell
# tagged injected-parameters right after the cell tagged parameters (what
# `esa run --param` does, for the nbconvert pass).
inject() {
  "$PY" - "$1" "$2" "${params[@]}" <<'EOF'
import re, sys, json, nbformat
src, dst, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
nb = nbformat.read(src, as_version=4)
def lit(name, v, declared):
    # A parameter declared as a string literal stays a string ("0" for
    # seeds := "0,1"); otherwise numbers and booleans are Go literals.
    if declared.get(name, '').startswith(('"', '`')):
        return json.dumps(v)
    if re.fullmatch(r'[+-]?(0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]*|0[bB][01_]+|[1-9][0-9_]*|0)', v) or v in ('true', 'false'):
        return v
    try:
        float(v)
        return v
    except ValueError:
        return json.dumps(v)
if pairs:
    at = next((i + 1 for i, c in enumerate(nb.cells) if c.cell_type == 'code' and 'parameters' in c.metadata.get('tags', [])), None)
    if at is None:
        sys.exit(f'{src}: no cell tagged "parameters" to override')
    declared = dict(re.findall(r'(?m)^\s*(\w+)\s*:=\s*(\S.*)$', nb.cells[at - 1].source))
    lines = ['// Parameters injected by scripts/run-notebooks.sh'] + [f'{k} = {lit(k, v, declared)}' for k, v in sorted(p.split('=', 1) for p in pairs)]
    cell = nbformat.v4.new_code_cell('\n'.join(lines) + '\n', metadata={'tags': ['injected-parameters']})
    nb.cells.insert(at, cell)
nbformat.write(nb, dst)
EOF
}

# check NB LABEL: fail on error outputs and stderr text; print what they say.
check() {
  "$PY" - "$1" "$2" <<'EOF'
import sys, json
path, label = sys.argv[1], sys.argv[2]
nb = json.load(open(path))
bad = []
for i, c in enumerate(nb['cells']):
    if c['cell_type'] != 'code':
        continue
    for o in c.get('outputs', []):
        if o['output_type'] == 'error':
            bad.append(f'cell {i}: error {o.get("ename")}: {o.get("evalue")}\n' + '\n'.join(o.get('traceback', [])))
        elif o['output_type'] == 'stream' and o.get('name') == 'stderr':
            bad.append(f'cell {i}: stderr: {o.get("text", "")}')
if bad:
    print(f'{label}: {path}:', *bad, sep='\n  ', file=sys.stderr)
    sys.exit(1)
EOF
}

notebooks=()
for nb in notebooks/*.ipynb; do
  name=$(basename "$nb")
  if [ ${#only[@]} -gt 0 ]; then
    keep=0
    for o in "${only[@]}"; do case "$name" in *"$o"*) keep=1 ;; esac; done
    [ "$keep" = 1 ] || continue
  fi
  notebooks+=("$name")
done
if [ ${#notebooks[@]} -eq 0 ]; then
  echo "no notebooks selected" >&2
  exit 1
fi

# secs_since T0: seconds since T0 (date +%s%N), one decimal.
secs_since() {
  local ms=$(( ($(date +%s%N) - $1) / 1000000 ))
  printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}

param_flags=()
for p in "${params[@]}"; do param_flags+=(--param "$p"); done

failed=0
times=()
for name in "${notebooks[@]}"; do
  echo "== esa run $name ${params[*]}"
  t0=$(date +%s%N)
  if (cd "$work/esa-run" && "$work/bin/esa" run "$repo/notebooks/$name" -o "$work/esa-run/$name" "${param_flags[@]}"); then
    el=$(secs_since "$t0")
    if check "$work/esa-run/$name" "esa run"; then
      times+=("$(printf '%-26s esa run     %7s s' "$name" "$el")")
    else
      failed=1
    fi
  else
    echo "esa run: $name failed" >&2
    failed=1
  fi

  if [ "$nbconvert" = 1 ]; then
    echo "== jupyter nbconvert --execute $name"
    inject "$repo/notebooks/$name" "$work/nbconvert/in-$name"
    t0=$(date +%s%N)
    if jupyter-nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=esa \
        --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.record_timing=False --output-dir "$work/nbconvert" --output "$name" \
        "$work/nbconvert/in-$name" 2> "$work/nbconvert/$name.log"; then
      el=$(secs_since "$t0")
      if check "$work/nbconvert/$name" "nbconvert"; then
        times+=("$(printf '%-26s nbconvert   %7s s' "$name" "$el")")
      else
        failed=1
      fi
    else
      cat "$work/nbconvert/$name.log" >&2
      echo "nbconvert: $name failed" >&2
      failed=1
    fi
  fi
done

if [ -n "$out" ]; then
  mkdir -p "$out/esa-run" "$out/nbconvert"
  for name in "${notebooks[@]}"; do
    [ -f "$work/esa-run/$name" ] && cp "$work/esa-run/$name" "$out/esa-run/"
    [ -f "$work/nbconvert/$name" ] && cp "$work/nbconvert/$name" "$out/nbconvert/"
  done
  echo "executed notebooks kept in $out"
fi

echo "== wall times (${params[*]:-default parameters})"
printf '%s\n' "${times[@]}"

if [ "$failed" = 1 ]; then
  echo "FAIL: at least one notebook failed (see above)" >&2
  exit 1
fi

if [ "$inplace" = 1 ]; then
  if [ ${#params[@]} -gt 0 ]; then
    echo "--inplace with --param would commit notebooks executed on non-default parameters: refused" >&2
    exit 2
  fi
  for name in "${notebooks[@]}"; do
    src="$work/esa-run/$name"
    [ "$nbconvert" = 1 ] && src="$work/nbconvert/$name"
    cp "$src" "notebooks/$name"
    echo "wrote notebooks/$name (from $( [ "$nbconvert" = 1 ] && echo nbconvert || echo 'esa run'))"
  done
fi
echo "OK: ${#notebooks[@]} notebooks"
