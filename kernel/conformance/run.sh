#!/bin/bash
# Conformance checks of the esa Jupyter kernel against Debian's Jupyter stack:
#  1. jupyter_kernel_test (python3-jupyter-kernel-test), every sample set; any
#     failure or skip fails the run;
#  2. jupyter kernelspec list shows the installed kernel;
#  3. jupyter nbconvert --execute of nbconvert_test.ipynb succeeds, and
#     `esa run` of the same notebook produces the same outputs, in a file
#     nbformat's validator accepts;
#  4. esa install --uninstall removes the kernelspec.
# Needs: python3-jupyter-kernel-test python3-jupyter-client python3-ipykernel jupyter-nbconvert python3-nbformat.
# Usage: kernel/conformance/run.sh   (ESA_BIN=/path/to/esa skips the build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -n "${ESA_BIN:-}" ]; then
	cp "$ESA_BIN" "$tmp/esa"
else
	(cd "$root" && go build -o "$tmp/esa" ./cmd/esa)
fi
name=esa-conformance
"$tmp/esa" install --prefix "$tmp/prefix" --name "$name" --display-name "Go (esa, conformance)"
export JUPYTER_PATH="$tmp/prefix/share/jupyter"
export JUPYTER_DATA_DIR="$tmp/data" JUPYTER_RUNTIME_DIR="$tmp/runtime" IPYTHONDIR="$tmp/ipython"
export ESA_KERNEL_NAME="$name"

echo "== kernelspec"
jupyter kernelspec list | tee "$tmp/specs.txt"
grep -q "^ *$name " "$tmp/specs.txt" || { echo "FAIL: $name not listed"; exit 1; }

echo "== jupyter_kernel_test"
cd "$here"
set +e
timeout 300 /usr/bin/python3 -m unittest -v test_esa_kernel >"$tmp/unittest.log" 2>&1
rc=$?
set -e
cat "$tmp/unittest.log"
if [ $rc -ne 0 ]; then echo "FAIL: jupyter_kernel_test exit $rc"; exit 1; fi
if grep -qi "skip" "$tmp/unittest.log"; then echo "FAIL: a conformance test was skipped"; exit 1; fi

echo "== nbconvert --execute vs esa run"
timeout 120 jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name="$name" \
	--output-dir "$tmp" --output nbconvert_out nbconvert_test.ipynb
timeout 120 "$tmp/esa" run nbconvert_test.ipynb -o "$tmp/esarun_out.ipynb" --html "$tmp/esarun_out.html"
/usr/bin/python3 compare_outputs.py "$tmp/nbconvert_out.ipynb" "$tmp/esarun_out.ipynb"
/usr/bin/python3 -c 'import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print("esa run output is valid nbformat 4")' "$tmp/esarun_out.ipynb"

echo "== esa run --param and failure exit status"
timeout 60 "$tmp/esa" run nbconvert_test.ipynb --param n=5 --param name=gopher -o "$tmp/param_out.ipynb"
grep -q 'hello, gopher' "$tmp/param_out.ipynb" || { echo "FAIL: parameter not injected"; exit 1; }
printf '{"cells":[{"cell_type":"code","metadata":{},"outputs":[],"source":"panic(\\"x\\")","execution_count":null}],"metadata":{},"nbformat":4,"nbformat_minor":5}' >"$tmp/bad.ipynb"
if timeout 60 "$tmp/esa" run "$tmp/bad.ipynb" 2>/dev/null; then echo "FAIL: esa run of a failing notebook exited 0"; exit 1; fi

echo "== uninstall"
"$tmp/esa" install --prefix "$tmp/prefix" --name "$name" --uninstall
if jupyter kernelspec list | grep -q "^ *$name "; then echo "FAIL: still listed after --uninstall"; exit 1; fi
echo "conformance: all checks passed"
