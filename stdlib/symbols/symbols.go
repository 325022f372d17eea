// Package symbols holds the yaegi symbol tables of the project's
// notebook-facing packages, so that cells can import them by short paths:
// `import "display"`. To expose another package, add it to both go:generate
// lines below and to Short, then run `go generate ./stdlib/symbols/`.
package symbols

//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name symbols esa/stdlib/display esa/stdlib/esa esa/stdlib/plot
//go:generate go run ./gendoc docs.go esa/stdlib/display=../display esa/stdlib/esa=../esa esa/stdlib/plot=../plot

import (
	"reflect"
	"strings"
)

// Symbols is filled by the generated files (one per package), keyed by full
// import path as yaegi extract writes it; Exports adds the short paths.
var Symbols = map[string]map[string]reflect.Value{}

// Short maps the import path a notebook writes to the package's real path.
// This is the one place that lists the notebook-facing packages.
var Short = map[string]string{
	"display": "esa/stdlib/display",
	"esa":     "esa/stdlib/esa",
	"plot":    "esa/stdlib/plot",
}

// Exports returns the tables keyed both by full and by short import path,
// ready for interp.Use.
func Exports() map[string]map[string]reflect.Value {
	out := make(map[string]map[string]reflect.Value, 2*len(Symbols))
	for k, v := range Symbols {
		out[k] = v
	}
	for short, full := range Short {
		name := full[strings.LastIndex(full, "/")+1:]
		if syms, ok := Symbols[full+"/"+name]; ok {
			out[short+"/"+name] = syms
		}
	}
	return out
}
