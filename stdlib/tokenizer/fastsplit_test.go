package tokenizer

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// fuzzAlphabet mixes every character class the two patterns distinguish:
// ASCII and non-ASCII letters, decimal/other/letter numbers, the contraction
// letters in both cases, quote, CR/LF, ASCII and Unicode spaces, marks,
// punctuation, symbols, emoji and control characters.
var fuzzAlphabet = []string{
	"a", "Z", "é", "日", "ж", "1", "9", "٣", "½", "Ⅻ", "²",
	"'", "s", "S", "t", "T", "r", "R", "e", "E", "v", "V", "m", "M", "l", "L", "d", "D",
	" ", " ", " ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2003", "\x85", "\v", "\f",
	".", ",", "-", "_", "!", "?", "$", "😀", "\u0301", "\u200d", "\x00", "\x1c", "\ufeff",
}

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(fuzzAlphabet[r.Intn(len(fuzzAlphabet))])
	}
	return b.String()
}

var slowPatterns = map[string]*regex{}

func checkScannerAgainstRegexp2(t *testing.T, s string) {
	for _, p := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		slow := slowPatterns[p]
		if slow == nil {
			var err error
			if slow, err = compileRegex(p); err != nil {
				t.Fatal(err)
			}
			slowPatterns[p] = slow
		}
		want := slow.findAll(s)
		got := fastRegex(p).findAll(s)
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pattern %q on %q:\n  scanner %v\n  regexp2 %v", p, s, got, want)
		}
	}
}

// The scanners are only used because they give exactly regexp2's matches.
func TestScannersMatchRegexp2(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		checkScannerAgainstRegexp2(t, randomText(r, 1+r.Intn(24)))
	}
	checkScannerAgainstRegexp2(t, longStory())
}

func FuzzScanners(f *testing.F) {
	for _, s := range []string{"", "Hello world", "I'M here's 123456 ...\n\n  x", "a\r\n\r\n b", " 'S'll\t\u00a0z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkScannerAgainstRegexp2(t, validUTF8(s))
	})
}
