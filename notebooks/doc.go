// Package notebooks holds the ESA runbooks as Jupyter notebooks for the esa
// kernel (00_quickstart … 04_super_weights) and their default data. The Go
// files here are tests: the notebooks are well formed, their data is
// current, and every cell runs under the yaegi interpreter as `esa run`
// executes it. scripts/run-notebooks.sh runs them with esa run and Jupyter.
package notebooks
