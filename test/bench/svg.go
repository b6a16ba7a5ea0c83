package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Hand-written SVG: grouped bars, no external tools.

type bar struct {
	value float64
	color string
}

type barGroup struct {
	label string
	bars  []bar
}

func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// barChart draws groups of bars (a bar may be a stack: values drawn on top of
// each other when stacked is true) with a y axis in unit and a legend.
func barChart(title, unit string, groups []barGroup, legend []bar, legendNames []string, stacked bool) string {
	const W, H, left, right, top, bottom = 900, 420, 70, 20, 50, 90
	plotW, plotH := float64(W-left-right), float64(H-top-bottom)
	maxV := 0.0
	for _, g := range groups {
		sum := 0.0
		for _, b := range g.bars {
			if stacked {
				sum += b.value
			} else {
				maxV = math.Max(maxV, b.value)
			}
		}
		maxV = math.Max(maxV, sum)
	}
	maxV = niceMax(maxV)
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&s, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", left, esc(title))
	for i := 0; i <= 5; i++ {
		v := maxV * float64(i) / 5
		y := float64(top) + plotH - plotH*float64(i)/5
		fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, W-right, y, y)
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, esc(fmtNum(v)+" "+unit))
	}
	gw := plotW / float64(len(groups))
	for i, g := range groups {
		x0 := float64(left) + gw*float64(i)
		n := len(g.bars)
		if stacked {
			n = 1
		}
		bw := gw * 0.7 / float64(n)
		base := float64(top) + plotH
		for j, b := range g.bars {
			h := plotH * b.value / maxV
			x := x0 + gw*0.15 + bw*float64(j)
			if stacked {
				x = x0 + gw*0.15
			}
			y := base - h
			fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n", x, y, bw-2, h, b.color, esc(fmtNum(b.value)+" "+unit))
			if stacked {
				base = y
			}
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x0+gw/2, H-bottom+16, esc(g.label))
	}
	fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>`+"\n", left, W-right, top+int(plotH), top+int(plotH))
	lx := left
	for i, l := range legend {
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, H-40, l.color, lx+16, H-30, esc(legendNames[i]))
		lx += 30 + 7*len(legendNames[i])
	}
	s.WriteString("</svg>\n")
	return s.String()
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func writeStatusSVG(path string, rs []statusResult) error {
	var groups []barGroup
	for _, r := range rs {
		groups = append(groups, barGroup{label: fmt.Sprintf("%dn / %dctx", r.Nodes, r.Contexts), bars: []bar{
			{r.AxonMedian.Seconds() * 1000, "#1f77b4"},
			{r.DirectMedian.Seconds() * 1000, "#aec7e8"},
			{r.GetMedian.Seconds() * 1000, "#ff7f0e"},
		}})
	}
	svg := barChart("status: median wall time per call (nodes / contexts)", "ms", groups,
		[]bar{{0, "#1f77b4"}, {0, "#aec7e8"}, {0, "#ff7f0e"}},
		[]string{"kubectl axon status", "kubectl axon status --transport direct", "kubectl get statefulsets,pods"}, false)
	return os.WriteFile(path, []byte(svg), 0o644)
}

func writeRollingSVG(path string, rs []rollingResult) error {
	var groups []barGroup
	for _, r := range rs {
		if r.Nodes > 9 {
			continue // measured for the cost of a step; its bar would dwarf the comparison
		}
		tool := "axon"
		if r.Tool == "runbook" {
			tool = "runbook"
		}
		op := "upgrade"
		if strings.HasPrefix(r.Op, "replace") {
			op = "replace"
		}
		over := r.Total - r.OwnSum
		if over < 0 {
			over = 0
		}
		groups = append(groups, barGroup{label: fmt.Sprintf("%s %d %s", op, r.Nodes, tool), bars: []bar{
			{r.OwnSum.Seconds(), "#2ca02c"},
			{over.Seconds(), "#d62728"},
		}})
	}
	svg := barChart("rolling operations: total time = nodes' own restart time + tool overhead", "s", groups,
		[]bar{{0, "#2ca02c"}, {0, "#d62728"}}, []string{"nodes' own restart-until-healthy (sum)", "overhead (total - own)"}, true)
	_ = time.Second
	return os.WriteFile(path, []byte(svg), 0o644)
}
