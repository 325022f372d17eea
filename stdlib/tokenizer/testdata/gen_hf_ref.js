// Called by gen_hf_ref.sh (see there): node gen_hf_ref.js <testdata dir> <models dir> <work dir>
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer } = require('@anush008/tokenizers');

const [here, models, work] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(path.join(here, 'hf-variants.json'), 'utf-8'));
const bases = {
  stories: () => JSON.parse(fs.readFileSync(path.join(models, 'stories260K-hf', 'tokenizer.json'), 'utf-8')),
  gpt2: () => JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(here, 'gpt2-tokenizer.json.gz'))).toString('utf-8')),
};

// Must stay the same as applyVariant in hfref_test.go.
function build(v) {
  const t = bases[v.base]();
  Object.assign(t, v.set || {});
  Object.assign(t.model, v.model_set || {});
  t.added_tokens = (t.added_tokens || []).concat(v.added || []);
  return t;
}

(async () => {
  const out = { source: 'tokenizers 0.22.2 (npm @anush008/tokenizers@0.6.0)', variants: [] };
  for (const v of spec.variants) {
    const file = path.join(work, v.name + '.json');
    fs.writeFileSync(file, JSON.stringify(build(v)));
    const tok = Tokenizer.fromFile(file);
    const cases = [];
    for (const text of spec.texts[v.base]) {
      const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      const withSpecials = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      cases.push({
        text, ids, with_specials: withSpecials,
        decode: await tok.decode(ids, false),
        decode_skip: await tok.decode(ids, true),
      });
    }
    out.variants.push({ name: v.name, cases });
  }
  fs.writeFileSync(path.join(here, 'hf-expected.json'), JSON.stringify(out) + '\n');
  await checkSplits();
})().catch((e) => { console.error(e); process.exit(1); });

// Cross-checks llama3-splits.json (made with Python's regex module) against
// the Oniguruma regexes inside tokenizers: a Split pre-tokenizer in front of a
// one-word WordLevel model gives one token per pre-token, with its offsets.
async function checkSplits() {
  const sp = JSON.parse(fs.readFileSync(path.join(here, 'llama3-splits.json'), 'utf-8'));
  for (const [key, pattern] of [['splits', sp.pattern], ['gpt2_splits', sp.gpt2_pattern], ['qwen2_splits', sp.qwen2_pattern]]) {
    const file = path.join(work, 'split.json');
    fs.writeFileSync(file, JSON.stringify({
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
      post_processor: null, decoder: null,
      model: { type: 'WordLevel', vocab: { '[UNK]': 0 }, unk_token: '[UNK]' },
    }));
    const tok = Tokenizer.fromFile(file);
    for (const c of sp.cases) {
      const cps = Array.from(c.text); // offsets count code points
      const enc = await tok.encode(c.text, null, { addSpecialTokens: false });
      const parts = enc.getOffsets().map(([a, b]) => cps.slice(a, b).join(''));
      if (JSON.stringify(parts) !== JSON.stringify(c[key])) {
        throw new Error(`tokenizers and Python regex split ${JSON.stringify(c.text)} differently:\n${JSON.stringify(parts)}\n${JSON.stringify(c[key])}`);
      }
    }
  }
}
