package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTexts(t *testing.T) {
	long := strings.Repeat("x", 200000) // longer than bufio.Scanner's default limit
	cases := []struct {
		name, content string
		want          []string
	}{
		{"plain.txt", "\ufeffOne line.\r\n\n  \nTwo: {not json}\n" + long, []string{"One line.", "Two: {not json}", long}},
		{"a.jsonl", "{\"text\": \"a\\nb\", \"id\": 3}\n\n{\"text\":\"ü 🙂\"}", []string{"a\nb", "ü 🙂"}},
		{"sniffed.txt", "  {\"text\": \"x\"}\n", []string{"x"}},
	}
	for _, c := range cases {
		got, err := ReadTexts(write(t, c.name, c.content))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q", c.name, got)
		}
	}
}

func TestReadTextsErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.txt")
	cases := []struct {
		path string
		want []string
	}{
		{missing, []string{"nope.txt", "no such file"}},
		{write(t, "empty.txt", "\n \n"), []string{"empty.txt", "no texts"}},
		{write(t, "b.jsonl", "{\"text\":\"ok\"}\n{\"txt\":\"x\"}\n"), []string{"b.jsonl:2", `no "text" field`}},
		{write(t, "c.jsonl", "{\"text\":\"ok\"}\nplain\n"), []string{"c.jsonl:2", "not a JSON object"}},
		{write(t, "d.jsonl", "{\"text\":5}\n"), []string{"d.jsonl:1", "must be a string"}},
		{write(t, "e.json", "[\"a\"]\n"), []string{"e.json", "JSON array is not supported"}},
	}
	for _, c := range cases {
		_, err := ReadTexts(c.path)
		if err == nil {
			t.Errorf("%s: no error", c.path)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
}
