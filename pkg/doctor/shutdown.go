package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	// DefaultGraceSeconds is Kubernetes' default terminationGracePeriodSeconds.
	DefaultGraceSeconds = 30
	// MinGraceSeconds: below this the grace period is not "well above the default".
	MinGraceSeconds = 60
	// AdvisedGraceSeconds is what AxonIQ's examples use.
	AdvisedGraceSeconds = 120
)

// checkShutdown: a grace period well above the default, and above the shutdown
// durations kubectl axon has seen.
func checkShutdown(c *ctx) []Finding {
	var out []Finding
	for _, m := range c.Members {
		obj := stsObject(m)
		grace := int64(DefaultGraceSeconds)
		if g := m.StatefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		want := int64(AdvisedGraceSeconds)
		seen, hasSeen := observedShutdown(m.StatefulSet.Annotations)
		if hasSeen {
			want = max(want, roundUp(2*seen, 30))
		}
		fix := c.patchSTS(m.StatefulSet.Name, "merge", fmt.Sprintf(`{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":%d}}}}`, want))
		why := "Kubernetes sends SIGKILL when the grace period runs out, before Axon Server has flushed its buffers, leaving the control DB, event files or indexes inconsistent"
		switch {
		case grace < MinGraceSeconds:
			def := ""
			if m.StatefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds == nil {
				def = " (the default)"
			}
			out = append(out, finding(Error, "shutdown/grace-period", obj, why, fix,
				"terminationGracePeriodSeconds is %d%s; at least %d is needed, %d advised", grace, def, MinGraceSeconds, AdvisedGraceSeconds))
		case grace < AdvisedGraceSeconds && !hasSeen:
			out = append(out, finding(Info, "shutdown/grace-period", obj, why, fix,
				"terminationGracePeriodSeconds is %d; AxonIQ's examples use %d", grace, AdvisedGraceSeconds))
		}
		if !hasSeen {
			continue
		}
		switch {
		case seen >= grace:
			out = append(out, finding(Error, "shutdown/observed", obj, why, fix,
				"a clean shutdown took %d s, but the grace period is %d s", seen, grace))
		case 2*seen > grace:
			out = append(out, finding(Warning, "shutdown/observed", obj,
				"shutdowns grow with the data and the number of contexts; with less than twice the observed duration a slow shutdown ends in SIGKILL", fix,
				"a clean shutdown took %d s, more than half the %d s grace period", seen, grace))
		}
	}
	return out
}

// observedShutdown reads the shutdown-seconds annotation ("42" or "42.5").
func observedShutdown(ann map[string]string) (int64, bool) {
	v, ok := ann[ShutdownSecondsAnnotation]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "s"), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	n := int64(f)
	if float64(n) < f {
		n++
	}
	return n, true
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }
