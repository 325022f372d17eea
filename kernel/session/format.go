package session

import (
	"fmt"
	"reflect"

	"esa/stdlib/display"
)

// Bundle turns the value of a trailing expression into a MIME bundle: the
// value's own MIMEBundle when it has one (figures, tables), else text/plain.
func Bundle(v reflect.Value) map[string]any {
	if !v.IsValid() {
		return nil
	}
	for v.Kind() == reflect.Interface {
		if v.IsNil() {
			return map[string]any{"text/plain": "<nil>"}
		}
		v = v.Elem()
	}
	if !v.CanInterface() {
		return map[string]any{"text/plain": fmt.Sprint(v)}
	}
	if v.Kind() == reflect.String {
		return map[string]any{"text/plain": fmt.Sprintf("%q", v.String())}
	}
	return display.BundleOf(v.Interface())
}
