package tokenizer

import (
	"math/rand"
	"strings"
	"testing"

	"esa/internal/testmodels"
)

// benchText is ~n bytes of English-like prose: sentences drawn with a fixed
// seed from a few hundred common words, with punctuation, numbers,
// contractions, quotes and paragraph breaks.
func benchText(n int) string {
	words := strings.Fields(`the of and to a in is it you that he was for on are with as I his they be at one
	have this from or had by hot word but what some we can out other were all there when up use your how said
	an each she which do their time if will way about many then them write would like so these her long make
	thing see him two has look more day could go come did number sound no most people my over know water than
	call first who may down side been now find any new work part take get place made live where after back
	little only round man year came show every good me give our under name very through just form sentence
	great think say help low line differ turn cause much mean before move right boy old too same tell does set
	three want air well also play small end put home read hand port large spell add even land here must big
	high such follow act why ask men change went light kind off need house picture try us again animal point
	mother world near build self earth father head stand own page should country found answer school grow
	study still learn plant cover food sun four between state keep eye never last let thought city tree cross
	farm hard start might story saw far sea draw left late run don't while press close night real life few
	north open seem together next white children begin got walk example ease paper group always music those
	both mark often letter until mile river car feet care second book carry took science eat room friend
	began idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl
	usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song
	measure door product black short numeral class wind question happen complete ship area half rock order
	fire south problem piece told knew pass since top whole king space heard best hour better true during
	hundred five remember step early hold west ground interest reach fast verb sing listen six table travel
	less morning ten simple several vowel toward war lay against pattern slow center love person money serve
	appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry
	dark machine note wait plan figure star box noun field rest correct able pound done beauty drive stood
	contain front teach week final gave green oh quick develop ocean warm free minute strong special mind
	behind clear tail produce fact street inch multiply nothing course stay wheel full force blue object
	decide surface deep moon island foot system busy test record boat common gold possible plane instead
	it's I'm we'll they've she'd you're`)
	r := rand.New(rand.NewSource(42))
	var b strings.Builder
	for b.Len() < n {
		k := 4 + r.Intn(14)
		for i := 0; i < k; i++ {
			w := words[r.Intn(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(w)
			switch r.Intn(20) {
			case 0:
				b.WriteByte(',')
			case 1:
				b.WriteString(" " + []string{"1", "42", "1999", "3.5", "100,000"}[r.Intn(5)])
			case 2:
				b.WriteString(` "quoted"`)
			}
		}
		b.WriteString([]string{". ", "! ", "? ", ".\n\n", ". "}[r.Intn(5)])
	}
	return b.String()
}

func benchEncode(b *testing.B, tk Tokenizer) {
	text := benchText(100_000)
	b.SetBytes(int64(len(text)))
	n := len(tk.Encode(text)) // also warms the word cache
	b.ResetTimer()
	for b.Loop() {
		tk.Encode(text)
	}
	b.ReportMetric(float64(n), "tokens/op")
}

// BenchmarkEncode tokenizes 100 KB of English: byte-level BPE (GPT-2 with the
// scanner and with regexp2, Llama-3-style Split) with a warm word cache, and
// the SentencePiece family (stories260K tokenizer.json and tok512.bin), where
// the whole text is one word.
func BenchmarkEncode(b *testing.B) {
	b.Run("gpt2", func(b *testing.B) { benchEncode(b, loadGPT2(b)) })
	b.Run("gpt2-regexp2", func(b *testing.B) {
		tk := loadGPT2(b)
		re, err := compileRegex(gpt2Pattern)
		if err != nil {
			b.Fatal(err)
		}
		pb := tk.pre.(preByteLevel)
		pb.split = re
		tk.pre = pb
		benchEncode(b, tk)
	})
	b.Run("llama3-style", func(b *testing.B) {
		tk, err := LoadHF(writeLlama3Style(b), "")
		if err != nil {
			b.Fatal(err)
		}
		benchEncode(b, tk)
	})
	b.Run("stories-hf", func(b *testing.B) {
		tk, err := LoadHF(testmodels.Path(b, "stories260K-hf/tokenizer.json"), "")
		if err != nil {
			b.Fatal(err)
		}
		benchEncode(b, tk)
	})
	b.Run("stories-llama2c", func(b *testing.B) {
		tk, err := LoadLlama2C(testmodels.Path(b, "stories260K/tok512.bin"), 512)
		if err != nil {
			b.Fatal(err)
		}
		benchEncode(b, tk)
	})
}

// writeLlama3Style writes GPT-2's vocabulary with Llama-3's pre-tokenizer.
func writeLlama3Style(b *testing.B) string {
	data := strings.Replace(string(gpt2JSON(b)),
		`"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`,
		`"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":`+jsonString(llama3Pattern)+`},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`, 1)
	if !strings.Contains(data, "Split") {
		b.Fatal("gpt2-tokenizer.json layout changed")
	}
	p := b.TempDir() + "/tokenizer.json"
	if err := writeString(p, data); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkLoadGPT2 parses GPT-2's tokenizer.json (50k tokens, 50k merges).
func BenchmarkLoadGPT2(b *testing.B) {
	data := gpt2JSON(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := parseTokenizerJSON(data, "gpt2"); err != nil {
			b.Fatal(err)
		}
	}
}
