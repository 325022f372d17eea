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
