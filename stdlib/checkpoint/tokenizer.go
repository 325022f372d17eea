package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"esa/stdlib/tokenizer"
)

// loadTokenizer sets c.Tokenizer from an explicit path (a tokenizer.json, a
// folder holding one, or a llama2.c tokenizer .bin), or else from the
// tokenizer files beside the checkpoint. A missing tokenizer is not an error
// for loading (info needs none); TokenizerErr records why it is missing. An
// explicit path that fails to load is an error, since the user asked for it.
func (c *Checkpoint) loadTokenizer(dir, explicit string) error {
	if explicit != "" {
		tok, err := loadTokenizerPath(explicit, c.Config.Vocab)
		if err != nil {
			return fmt.Errorf("tokenizer %s: %v", explicit, err)
		}
		c.Tokenizer = tok
		return nil
	}
	var looked []string
	if c.Format == KindHFDir {
		p := filepath.Join(dir, "tokenizer.json")
		looked = append(looked, p)
		if fileExists(p) {
			tok, err := tokenizer.LoadHFDir(dir)
			if err != nil {
				c.TokenizerErr = fmt.Errorf("tokenizer in %s: %v", dir, err)
				return nil
			}
			c.Tokenizer = tok
			return nil
		}
	} else {
		for _, name := range []string{fmt.Sprintf("tok%d.bin", c.Config.Vocab), "tokenizer.bin"} {
			p := filepath.Join(dir, name)
			looked = append(looked, p)
			if fileExists(p) {
				tok, err := tokenizer.LoadLlama2C(p, c.Config.Vocab)
				if err != nil {
					c.TokenizerErr = fmt.Errorf("tokenizer %s: %v", p, err)
					return nil
				}
				c.Tokenizer = tok
				return nil
			}
		}
	}
	c.TokenizerErr = fmt.Errorf("no tokenizer for %s (looked for %s); give one with --tokenizer", c.Path, strings.Join(looked, ", "))
	return nil
}

func loadTokenizerPath(p string, vocab int) (tokenizer.Tokenizer, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return tokenizer.LoadHFDir(p)
	case strings.HasSuffix(p, ".json"):
		if filepath.Base(p) != "tokenizer.json" {
			return nil, fmt.Errorf("a Hugging Face tokenizer must be named tokenizer.json (its tokenizer_config.json beside it)")
		}
		return tokenizer.LoadHFDir(filepath.Dir(p))
	}
	return tokenizer.LoadLlama2C(p, vocab)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
