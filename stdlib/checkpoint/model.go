package checkpoint

import (
	"fmt"

	"esa/stdlib/model"
)

// Model builds a runnable model from the checkpoint's config and tensors and
// attaches its tokenizer (nil when none was found). The model's parameters
// alias the checkpoint's mappings: keep the checkpoint open while the model
// is in use.
func (c *Checkpoint) Model() (*model.Model, error) {
	m, err := model.New(c.Config, c.Tensors)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", c.Path, err)
	}
	m.Tokenizer = c.Tokenizer
	return m, nil
}

// Load opens a checkpoint (folder, .bin or Hub id) and builds its model with
// the tokenizer attached. The file mappings stay open for the life of the
// process — the model's weights live in them; mapped pages that were never
// written cost only page cache. Use Open and Model to close them explicitly.
func Load(path string, opts Options) (*model.Model, error) {
	c, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	m, err := c.Model()
	if err != nil {
		c.Close()
		return nil, err
	}
	return m, nil
}
