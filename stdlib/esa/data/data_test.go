package data

import "testing"

func TestSmokeSet(t *testing.T) {
	texts := Smoke()
	if len(texts) < 100 {
		t.Fatalf("%d texts, want at least 100", len(texts))
	}
	seen := map[string]bool{}
	for i, s := range texts {
		if seen[s] {
			t.Errorf("text %d repeated: %q", i, s)
		}
		seen[s] = true
		if len(s) < 100 {
			t.Errorf("text %d is too short to calibrate on: %q", i, s)
		}
	}
}
