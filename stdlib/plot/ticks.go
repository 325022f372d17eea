package plot

import (
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// logTicks marks a log axis: labelled decades (every other decade or sparser when
// the range spans many), unlabelled 2..9 minor ticks, and labelled 2 and 5 multiples
// when the range holds fewer than two decades. gonum's LogTicks panics on ranges
// touching zero and labels "1e+06"; this one degrades to linear ticks instead.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []gplot.Tick {
	if !(min > 0) || !(max > min) || math.IsInf(max, 0) {
		return linearTicks(min, max)
	}
	lo := int(math.Floor(math.Log10(min)))
	hi := int(math.Ceil(math.Log10(max)))
	step := 1
	if hi-lo > 8 {
		step = (hi - lo + 7) / 8
	}
	in := func(v float64) bool { return v >= min*(1-1e-9) && v <= max*(1+1e-9) }
	var ticks []gplot.Tick
	labelled := 0
	for e := lo; e <= hi; e++ {
		v := math.Pow10(e)
		if in(v) {
			t := gplot.Tick{Value: v}
			if ((e%step)+step)%step == 0 {
				t.Label = formatPow10(e)
				labelled++
			}
			ticks = append(ticks, t)
		}
		if step == 1 {
			for m := 2; m <= 9; m++ {
				if w := float64(m) * v; in(w) {
					ticks = append(ticks, gplot.Tick{Value: w})
				}
			}
		}
	}
	if labelled < 2 {
		// Less than two decades visible: label the 2 and 5 multiples too, so the
		// reader still has a scale.
		for i := range ticks {
			m := ticks[i].Value / math.Pow10(int(math.Floor(math.Log10(ticks[i].Value)+1e-9)))
			if math.Abs(m-2) < 1e-6 || math.Abs(m-5) < 1e-6 {
				ticks[i].Label = formatValue(ticks[i].Value)
				labelled++
			}
		}
	}
	if labelled < 2 {
		return linearTicks(min, max)
	}
	return ticks
}

// linearTicks is gonum's DefaultTicks made safe: that labeller panics on an empty
// range and spins (minutes) when max-min overflows, as for data spanning
// ±MaxFloat64, and is unreliable when the span is below float64 resolution. Such
// ranges get five evenly spaced ticks instead.
func linearTicks(min, max float64) []gplot.Tick {
	if !(max > min) || math.IsInf(min, 0) || math.IsInf(max, 0) {
		return nil
	}
	span := max - min
	if !math.IsInf(span, 0) && span > 1e-9*math.Max(math.Abs(min), math.Abs(max)) {
		return gplot.DefaultTicks{}.Ticks(min, max)
	}
	ticks := make([]gplot.Tick, 5)
	for i := range ticks {
		t := float64(i) / 4
		v := min*(1-t) + max*t
		ticks[i] = gplot.Tick{Value: v, Label: formatValue(v)}
	}
	return ticks
}

// safeTicks is the Ticker of every linear axis (see linearTicks).
type safeTicks struct{}

func (safeTicks) Ticks(min, max float64) []gplot.Tick { return linearTicks(min, max) }

// intTicks marks an axis of integers (layer indices) at a round integer step, so
// there is never a "2.5" layer.
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []gplot.Tick {
	lo, hi := math.Ceil(min), math.Floor(max)
	if !(hi >= lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000} {
		step = s
		if (hi-lo)/s <= 10 {
			break
		}
	}
	if (hi-lo)/step > 10 {
		return linearTicks(min, max) // beyond any plausible layer count
	}
	var ticks []gplot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, gplot.Tick{Value: v, Label: formatValue(v)})
	}
	return ticks
}

// nominalLayout places category labels at integer positions 0..n-1 of an axis and
// decides, from the space the axis gets at render time, the font size, whether x
// labels are rotated, and how many labels to skip so none overlap.
type nominalLayout struct {
	labels []string
	// reversed puts label 0 at the far end (the top of a y axis, as in a table).
	reversed bool
	// keep is an index whose label is always shown when labels are thinned (the
	// bar the reader will ask about); -1 for none.
	keep int
}

// apply sets a's ticks for an axis of length avail.
func (n nominalLayout) apply(a *gplot.Axis, avail vg.Length, horizontal bool) {
	count := len(n.labels)
	if count == 0 {
		return
	}
	size := vg.Length(tickSize)
	if count > 12 {
		size = smallSize
	}
	sty := textStyle(size, a.Tick.Label.Color)
	a.Tick.Label.Font = sty.Font
	var maxW vg.Length
	for _, l := range n.labels {
		maxW = max(maxW, sty.Width(l))
	}
	h := sty.FontExtents().Height
	slot := avail / vg.Length(count)
	need := h * 1.15 // spacing between stacked or rotated labels
	if horizontal {
		a.Tick.Label.Rotation = 0
		a.Tick.Label.XAlign = draw.XCenter
		a.Tick.Label.YAlign = draw.YTop
		switch {
		case maxW+vg.Points(4) <= slot:
			need = maxW + vg.Points(4)
		case maxW <= vg.Inch:
			// 45°: neighbours are slot·sin45 apart perpendicular to the text.
			a.Tick.Label.Rotation = math.Pi / 4
			a.Tick.Label.XAlign = draw.XRight
			a.Tick.Label.YAlign = draw.YCenter
			need = h * 1.15 / vg.Length(math.Sin(math.Pi/4))
		default:
			a.Tick.Label.Rotation = math.Pi / 2
			a.Tick.Label.XAlign = draw.XRight
			a.Tick.Label.YAlign = draw.YCenter
		}
	}
	step := 1
	if slot > 0 && need > slot {
		step = int(math.Ceil(float64(need / slot)))
	}
	ticks := make(gplot.ConstantTicks, count)
	for i, l := range n.labels {
		ticks[i] = gplot.Tick{Value: float64(i)}
		if n.reversed {
			ticks[i].Value = float64(count - 1 - i)
		}
		labelled := i%step == 0
		if step > 1 && n.keep >= 0 && n.keep < count {
			// The kept label replaces its neighbours within a step.
			d := i - n.keep
			labelled = d == 0 || (labelled && (d >= step || d <= -step))
		}
		if labelled {
			ticks[i].Label = l
		}
	}
	a.Tick.Marker = ticks
}
