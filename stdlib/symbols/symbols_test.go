package symbols

import (
	"strings"
	"testing"
)

func TestShortPathsResolve(t *testing.T) {
	x := Exports()
	for short, full := range Short {
		name := full[strings.LastIndex(full, "/")+1:]
		if _, ok := x[short+"/"+name]; !ok {
			t.Errorf("%s: no generated symbols for %s (run go generate ./stdlib/symbols/)", short, full)
		}
	}
	if _, ok := x["display/display"]["Show"]; !ok {
		t.Fatal("display.Show missing")
	}
}

// Inspect in the kernel shows these doc comments; every exported function of
// the notebook API must have one.
func TestDocsCoverNotebookAPI(t *testing.T) {
	for short, full := range Short {
		for name, v := range Symbols[full+"/"+full[strings.LastIndex(full, "/")+1:]] {
			if v.Kind().String() == "func" && Docs[full][name] == "" {
				t.Errorf("%s.%s has no doc comment in Docs (document it, then go generate ./stdlib/symbols/)", short, name)
			}
		}
	}
}
