package corpus

import (
	"strings"
	"testing"
)

func TestStoriesDeterministicAndVaried(t *testing.T) {
	a, b := Stories(7, 200), Stories(7, 200)
	seen := map[string]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("story %d differs between runs with the same seed", i)
		}
		if !strings.HasSuffix(a[i], ".") {
			t.Fatalf("story %d does not end a sentence: %q", i, a[i])
		}
		seen[a[i]] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct stories of 200", len(seen))
	}
	if Stories(8, 1)[0] == a[0] && Stories(9, 1)[0] == a[0] {
		t.Fatal("different seeds give the same story")
	}
}
