// Package builtin holds compiled helpers behind the Go builtins that yaegi
// v0.16 lacks; the session's prelude wraps them for cells.
package builtin

import (
	"reflect"

	"github.com/traefik/yaegi/interp"
)

// Clear implements the clear builtin: it deletes every entry of a map and
// zeroes every element of a slice. Other values are left alone.
func Clear(v any) {
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Map, reflect.Slice:
		r.Clear()
	}
}

// Symbols registers the package with yaegi under the import path "esa/builtin".
var Symbols = interp.Exports{
	"esa/builtin/builtin": {"Clear": reflect.ValueOf(Clear)},
}
