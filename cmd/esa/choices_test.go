package main

import "testing"

func TestChoicesCommand(t *testing.T) {
	c, ok := commands["choices"]
	if !ok {
		t.Fatal("choices not registered")
	}
	if code := c.run([]string{"--markdown"}); code != 0 {
		t.Errorf("--markdown exit %d", code)
	}
	if code := c.run([]string{"extra"}); code != 2 {
		t.Errorf("stray argument exit %d", code)
	}
	if code := c.run([]string{"--bogus"}); code != 2 {
		t.Errorf("unknown flag exit %d", code)
	}
}
