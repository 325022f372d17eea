#!/usr/bin/python3
# Regenerates llama3-splits.json: how Llama-3's pre-tokenizer regex (and
# GPT-2's and Qwen2's) cuts a fixed set of texts, computed with Python's `regex` module (Debian package
# python3-regex), an implementation independent of the Go one.
#
# Run from the repository root:
#   /usr/bin/python3 stdlib/tokenizer/testdata/gen_llama3_split.py
import json
import os

import regex

# Verbatim from Meta-Llama-3-8B's tokenizer.json (pre_tokenizer Split).
PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
           r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Llama-3's with single digits (Qwen2 and later).
QWEN2_PATTERN = PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")
# GPT-2's, for the ByteLevel pre-tokenizer's fast path.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

TEXTS = [
    "Hello world",
    "Hello, world! How are you?",
    "I'm sure it's what they've said: we'll see, I'd think, you're right.",
    "DON'T SHOUT, IT'S LOUD; We'Ll SeE",
    "Numbers 1 12 123 1234 12345 1234567 3.14159 1,000,000",
    "x1y22z333w4444",
    "  leading and trailing  ",
    "many     spaces",
    "a\nb\n\nc\n\n\n",
    "line\r\nwindows\r\n\r\nend",
    "   \n\n   indented after blank\n",
    "tabs\tand\t\ttabs \t mixed",
    "¡Hola! ¿Qué tal? «citation»",
    "(parens) [brackets] {braces} <angles>",
    "...!!!???---",
    " ...\n\n",
    "Café naïve façade Ångström",
    "Привет, мир!",
    "日本語のテキスト。中文字符！",
    "한국어 텍스트",
    "emoji 😀🎉 👍🏽 👨\u200d👩\u200d👧",
    "nbsp\u00a0em\u2003ideographic\u3000space",
    "combining a\u0301 e\u0300",
    "Roman Ⅻ and fractions ½ ¾ and superscript ²³",
    "$100.00 and 50% and #hashtag @mention",
    "def f(x):\n    return x**2  # square\n",
    "'s 't alone ' s",
    "it'\u017f 'S \u017f",  # long s: case-insensitively an "s" for Python regex and Oniguruma
    "",
    " ",
    "\n",
]


def splits(pattern, text):
    return [m.group(0) for m in regex.finditer(pattern, text)]


def main():
    out = {
        "source": "Python regex %s finditer" % regex.__version__,
        "pattern": PATTERN,
        "gpt2_pattern": GPT2_PATTERN,
        "qwen2_pattern": QWEN2_PATTERN,
        "cases": [{"text": t, "splits": splits(PATTERN, t), "gpt2_splits": splits(GPT2_PATTERN, t),
                   "qwen2_splits": splits(QWEN2_PATTERN, t)}
                  for t in TEXTS],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llama3-splits.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
