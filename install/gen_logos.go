//go:build ignore

// gen_logos draws the kernel logos (a Go-blue rounded square with a white
// "esa" bar chart: one tall bar among short ones, the super weight).
// Regenerate: go run install/gen_logos.go install
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
)

func draw(n int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	blue := color.NRGBA{0x00, 0x7d, 0x9c, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	r := n / 6
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			// rounded corners
			cx, cy := x, y
			if cx < r {
				cx = r
			} else if cx > n-1-r {
				cx = n - 1 - r
			}
			if cy < r {
				cy = r
			} else if cy > n-1-r {
				cy = n - 1 - r
			}
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
				img.Set(x, y, blue)
			}
		}
	}
	heights := []int{2, 3, 2, 9, 2, 3}
	bw := n / 10
	gap := (n - 2*n/8 - len(heights)*bw) / (len(heights) - 1)
	for i, h := range heights {
		x0 := n/8 + i*(bw+gap)
		top := n - n/8 - h*n/12
		for y := top; y < n-n/8; y++ {
			for x := x0; x < x0+bw; x++ {
				img.Set(x, y, white)
			}
		}
	}
	return img
}

func main() {
	dir := os.Args[1]
	for _, n := range []int{32, 64} {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("logo-%dx%d.png", n, n)))
		if err != nil {
			panic(err)
		}
		if err := png.Encode(f, draw(n)); err != nil {
			panic(err)
		}
		f.Close()
	}
}
