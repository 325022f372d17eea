package display

import (
	"context"
	"sync"
)

var (
	cellMu  sync.RWMutex
	cellCtx context.Context
)

// Context is the context of the running cell: the kernel, `esa run` and
// `esa exec` cancel it when the user interrupts. Pass it to long esa calls
// (esa.Run, esa.Sensitivity, …) so an interrupt stops them promptly, with the
// model's weights restored; outside a cell it is context.Background().
func Context() context.Context {
	cellMu.RLock()
	defer cellMu.RUnlock()
	if cellCtx == nil {
		return context.Background()
	}
	return cellCtx
}

// SetContext installs the running cell's context (nil: none). Hosts call it
// around each cell; cells do not need to.
func SetContext(ctx context.Context) {
	cellMu.Lock()
	cellCtx = ctx
	cellMu.Unlock()
}
