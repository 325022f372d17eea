#!/bin/sh
# Regenerates hf-expected.json: for each tokenizer variant in hf-variants.json,
# the ids and decodes that Hugging Face's own Rust tokenizers library
# (tokenizers 0.22, through the npm package @anush008/tokenizers, a prebuilt
# binding) gives for the texts listed there.
#
# Run from the repository root, after gen_gpt2.sh (it reads
# gpt2-tokenizer.json.gz), with the shared test models present:
#   sh stdlib/tokenizer/testdata/gen_hf_ref.sh [path/to/shared/models]
# Needs node and npm (npm registry access); installs into a temporary folder
# outside the repository.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
models=${1:-${ESA_TEST_MODELS:-$here/../../../../shared/models}}
models=$(cd "$models" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund @anush008/tokenizers@0.6.0 >/dev/null
NODE_PATH="$work/node_modules" node "$here/gen_hf_ref.js" "$here" "$models" "$work"
