#!/usr/bin/env bash
# Device check of the CUDA backend (package gpu). Two steps, because the GPU
# machine has no Go toolchain and the machine with Go has no GPU:
#
#   scripts/gpu-check.sh build
#       Here, on any Linux x86-64 machine with Go: installs cuda.h and a
#       link-time stub libcuda.so if needed (scripts/install-cuda-headers.sh),
#       builds bin/gpucheck/esa-gpu (`go build -tags cuda ./cmd/esa`) and
#       bin/gpucheck/gpu.test (`go test -c -tags cuda ./gpu`), stripped so
#       that they travel (about 41 MB), and copies the stories260K test models
#       beside them. The binaries bind to the real libcuda.so.1 at run time.
#
#   scripts/gpu-check.sh run
#       On the GPU machine (the device tool: command "bash scripts/gpu-check.sh
#       run", carry ["bin/gpucheck"], timeout_s 600). Stages, each with its
#       own time limit so one slow stage cannot eat the call:
#         1. esa-gpu doctor;
#         2. gpu.test: every op against the CPU backend (cuBLAS and the
#            built-in GEMM; GEMMs in each ESA_GPU_GEMM mode), stories260K
#            logits ≤ 1e-3 relative, greedy text, loss and gradients (and in
#            bf16 mode on bf16 weights), top-k sets from GPU vs CPU
#            gradients, device top-k == rank.Select, bit flip/restore with
#            checksums;
#        2b. esa.test: whole ESA runs (--device cuda, esa.UseDevice) against
#            the CPU; model.test: gradients accumulated on the device;
#         3. scripts/gpu_check_hf.py: random-init Llama-3.1-8B-config model in
#            bf16 (ESA_HF_LAYERS layers, default 32), PyTorch timings, float32
#            reference on the same weights;
#         4. gpu.test: our forward+backward against that reference, and our
#            timings: fwd+bwd tokens/s in each GEMM mode of ESA_TIMING_GEMM
#            (default bf16,tf32,fp32, one table row each), global top-k on
#            the device;
#         5. one table (stdout and $OUT/table.txt).
#       Details go to $OUT (the device tool's output folder; ./gpucheck-out
#       elsewhere): gpu-check.log, results.jsonl, torch.json, table.txt,
#       doctor.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
B=bin/gpucheck

build() {
  set -e
  export PATH=/usr/local/go/bin:$PATH
  if [ -z "${CGO_CFLAGS:-}" ]; then
    if [ ! -f /opt/esa-cuda/include/cuda.h ]; then bash scripts/install-cuda-headers.sh; fi
    export CGO_CFLAGS="-I/opt/esa-cuda/include" CGO_LDFLAGS="-L/opt/esa-cuda/lib"
  fi
  mkdir -p "$B/models"
  go build -tags cuda -ldflags "-s -w" -o "$B/esa-gpu" ./cmd/esa
  go test -c -tags cuda -ldflags "-s -w" -o "$B/gpu.test" ./gpu
  go test -c -tags cuda -ldflags "-s -w" -o "$B/esa.test" ./stdlib/esa
  go test -c -tags cuda -ldflags "-s -w" -o "$B/model.test" ./stdlib/model
  models=${ESA_TEST_MODELS:-../shared/models}
  for m in stories260K stories260K-hf; do
    rm -rf "$B/models/$m"
    cp -r "$models/$m" "$B/models/$m"
    chmod -R u+w "$B/models/$m"
  done
  du -sh "$B"
  echo "built $B; on the GPU machine run: bash scripts/gpu-check.sh run (carry bin/gpucheck)"
}

run() {
  OUT=${OUT:-$PWD/gpucheck-out}
  mkdir -p "$OUT"
  exec > >(tee "$OUT/gpu-check.log") 2>&1
  local root=$PWD results="$OUT/results.jsonl"
  : >"$results"
  stage() { echo; echo "=== $* ($(date +%T))"; }
  note() { # check ok detail
    printf '{"check": "%s", "ok": %s, "detail": "%s"}\n' "$1" "$2" "$3" >>"$results"
  }
  [ -x "$B/gpu.test" ] && [ -x "$B/esa-gpu" ] || { echo "no $B binaries: run 'scripts/gpu-check.sh build' first and carry bin/gpucheck"; exit 2; }

  stage "machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv || true
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' || true
  # cuBLAS is loaded at run time by soname; make the toolkit's or the pip
  # wheel's folder visible to the loader if ld.so.conf does not list it.
  if ! ldconfig -p | grep -q 'libcublas\.so\.1[123] '; then
    lib=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /opt /usr/local/lib /usr/lib/python3* -name 'libcublas.so.1[123]' 2>/dev/null | head -n1)
    [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && echo "cuBLAS: $lib"
  fi

  stage "1. esa doctor"
  timeout 60 "$B/esa-gpu" doctor | tee "$OUT/doctor.txt"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] && note "esa-gpu doctor" true "" || note "esa-gpu doctor" false "exit $rc"

  stage "2. ops and stories260K against the CPU backend"
  (cd gpu && ESA_TEST_MODELS="$root/$B/models" ESA_REQUIRE_TEST_MODELS=1 ESA_CHECK_OUT="$OUT" \
    timeout 150 "$root/$B/gpu.test" -test.v -test.timeout 140s -test.run 'TestOps|TestStories|TestKernel|TestRadix|TestChecksum|TestOrderKey')
  rc=$?
  [ "$rc" = 0 ] && note "go tests: ops, stories260K, selection" true "" || note "go tests: ops, stories260K, selection" false "exit $rc (see gpu-check.log)"

  stage "2b. ESA runs on the GPU against the CPU (stdlib/esa)"
  (cd stdlib/esa && ESA_TEST_MODELS="$root/$B/models" ESA_REQUIRE_TEST_MODELS=1 \
    timeout 90 "$root/$B/esa.test" -test.v -test.timeout 80s -test.run 'CUDA|InSync')
  rc=$?
  [ "$rc" = 0 ] && note "go tests: ESA runs on the GPU vs CPU" true "" || note "go tests: ESA runs on the GPU vs CPU" false "exit $rc (see gpu-check.log)"

  (cd stdlib/model && timeout 60 "$root/$B/model.test" -test.v -test.timeout 50s -test.run 'CUDA')
  rc=$?
  [ "$rc" = 0 ] && note "go tests: resident gradients on the GPU" true "" || note "go tests: resident gradients on the GPU" false "exit $rc (see gpu-check.log)"

  stage "3. transformers: random Llama-3.1-8B config (${ESA_HF_LAYERS:-32} layers), PyTorch timings, float32 reference"
  local hf=/tmp/esa-hf
  rm -rf "$hf"
  PYTHONUNBUFFERED=1 timeout 240 python3 scripts/gpu_check_hf.py model --out "$hf" --json "$OUT/torch.json" \
    --layers "${ESA_HF_LAYERS:-32}" --tokens-ref 128 --tokens-timing "${ESA_TIMING_TOKENS:-512}" --k "${ESA_TIMING_K:-1000}"
  rc=$?
  [ "$rc" = 0 ] || note "transformers reference and timings" false "exit $rc"

  if [ -f "$hf/reference.safetensors" ]; then
    stage "4. ours against transformers, and timings (GEMM modes ${ESA_TIMING_GEMM:-bf16,tf32,fp32})"
    (cd gpu && ESA_HF_CHECK_DIR="$hf" ESA_TIMING_DIR="$hf/model" ESA_TIMING_TOKENS="${ESA_TIMING_TOKENS:-512}" \
      ESA_TIMING_K="${ESA_TIMING_K:-1000}" ESA_TIMING_GEMM="${ESA_TIMING_GEMM:-bf16,tf32,fp32}" ESA_CHECK_OUT="$OUT" \
      timeout 220 "$root/$B/gpu.test" -test.v -test.timeout 210s -test.run 'TestHFReference|TestTimings')
    rc=$?
    [ "$rc" = 0 ] || note "go tests: HF reference, timings" false "exit $rc (see gpu-check.log)"
  fi
  rm -rf "$hf"

  stage "5. table"
  python3 scripts/gpu_check_hf.py table --results "$results" --torch "$OUT/torch.json"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh build|run (see the comment at the top)" >&2; exit 2 ;;
esac
