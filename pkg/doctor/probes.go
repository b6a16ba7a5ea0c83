package doctor

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
)

const (
	// InfoPath is the actuator that answers as soon as the node serves requests.
	InfoPath = "/actuator/info"
	// HealthPath is the cluster-wide health actuator.
	HealthPath = "/actuator/health"
	// MinStartupSeconds is the least startup budget doctor accepts: consistency
	// checks, index rebuilds and many contexts take minutes. AxonIQ's examples give
	// 30 + 5 x 110 = 580 s; kubectl axon generate writes 5 x 120 = 600 s with no
	// initial delay, which only slows every restart.
	MinStartupSeconds = 300
)

// budget is how long a probe lets a container take before it acts.
func budget(p *corev1.Probe) int32 {
	period, failures := p.PeriodSeconds, p.FailureThreshold
	if period == 0 {
		period = 10
	}
	if failures == 0 {
		failures = 3
	}
	return p.InitialDelaySeconds + period*failures
}

// probePath is the HTTP path of p, "" when it is not an HTTP GET.
func probePath(p *corev1.Probe) string {
	if p == nil || p.HTTPGet == nil {
		return ""
	}
	path := p.HTTPGet.Path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = "/"
	}
	return path
}

// onHealth says whether the probe asks the health actuator: the aggregate (the
// cluster-wide status) or one of its groups.
func onHealth(p *corev1.Probe) (aggregate, group bool) {
	path := strings.TrimRight(probePath(p), "/")
	switch {
	case path == HealthPath:
		return true, false
	case strings.HasPrefix(path, HealthPath+"/"):
		return false, true
	}
	return false, false
}

func probeHandler(p *corev1.Probe) string {
	switch {
	case p.HTTPGet != nil:
		return "HTTP GET " + probePath(p)
	case p.TCPSocket != nil:
		return "a TCP connect"
	case p.Exec != nil:
		return "a command"
	case p.GRPC != nil:
		return "a gRPC health check"
	}
	return "no handler"
}

// checkProbes: startup on /actuator/info with minutes of budget; liveness and
// readiness on /actuator/info, never on /actuator/health.
func checkProbes(c *ctx) []Finding {
	var out []Finding
	for _, m := range c.Members {
		ct, idx := container(m)
		if ct == nil {
			continue
		}
		obj := stsObject(m)
		replacePath := func(kind string) string {
			return c.patchSTS(m.StatefulSet.Name, "json", fmt.Sprintf(
				`[{"op":"replace","path":"/spec/template/spec/containers/%d/%sProbe/httpGet/path","value":"%s"}]`, idx, kind, InfoPath))
		}
		for _, p := range []struct {
			kind, field string
			probe       *corev1.Probe
			why         string
		}{
			{"startup", "startup", ct.StartupProbe, "the health actuator is cluster-wide: a problem on any other node keeps this one from ever starting"},
			{"liveness", "liveness", ct.LivenessProbe, "the health actuator is cluster-wide: one sick node makes every node fail its liveness probe, and Kubernetes restarts them all"},
			{"readiness", "readiness", ct.ReadinessProbe, "the health actuator is cluster-wide: one sick node makes every pod unready, which pulls their DNS names and Service endpoints out from under the cluster"},
		} {
			if p.probe == nil {
				continue
			}
			agg, grp := onHealth(p.probe)
			switch {
			case agg:
				out = append(out, finding(Error, "probes/"+p.kind+"-on-health", obj, p.why, replacePath(p.field),
					"%s probe on %s", p.kind, probePath(p.probe)))
			case grp:
				out = append(out, finding(Warning, "probes/"+p.kind+"-on-health", obj,
					"health groups depend on Axon Server's configuration and may include cluster-wide components; /actuator/info only tells whether this node serves requests",
					replacePath(p.field), "%s probe on %s", p.kind, probePath(p.probe)))
			case p.kind != "startup" && probePath(p.probe) != InfoPath:
				out = append(out, finding(Info, "probes/"+p.kind+"-path", obj,
					"/actuator/info answers exactly when the node can serve requests, which is what the probe should tell Kubernetes",
					"", "%s probe is %s, not HTTP GET %s", p.kind, probeHandler(p.probe), InfoPath))
			}
		}
		out = append(out, startupFindings(c, m, ct, idx)...)
		if ct.LivenessProbe == nil {
			out = append(out, finding(Warning, "probes/liveness-missing", obj,
				"without a liveness probe a hung Axon Server is never restarted",
				c.patchSTS(m.StatefulSet.Name, "json", fmt.Sprintf(`[{"op":"add","path":"/spec/template/spec/containers/%d/livenessProbe","value":%s}]`, idx, probeJSON(5, 10, 3))),
				"no liveness probe"))
		}
		if ct.ReadinessProbe == nil {
			out = append(out, finding(Info, "probes/readiness-missing", obj,
				"without a readiness probe the pod counts as Ready (for the disruption budget and kubectl axon) as soon as it has started",
				c.patchSTS(m.StatefulSet.Name, "json", fmt.Sprintf(`[{"op":"add","path":"/spec/template/spec/containers/%d/readinessProbe","value":%s}]`, idx, probeJSON(5, 5, 30))),
				"no readiness probe"))
		}
	}
	return out
}

func startupFindings(c *ctx, m discovery.Member, ct *corev1.Container, idx int) []Finding {
	obj := stsObject(m)
	sp := ct.StartupProbe
	addStartup := c.patchSTS(m.StatefulSet.Name, "json", fmt.Sprintf(
		`[{"op":"add","path":"/spec/template/spec/containers/%d/startupProbe","value":%s}]`, idx, probeJSON(0, 5, 120)))
	if sp == nil {
		why := "a node checking its event store, rebuilding indexes or opening many contexts takes minutes to start, and the liveness probe kills it before it is done"
		if ct.LivenessProbe == nil {
			return []Finding{finding(Warning, "probes/startup-missing", obj, "a startup probe tells Kubernetes when the node has started, however long its consistency checks take", addStartup, "no startup probe")}
		}
		if b := budget(ct.LivenessProbe); b < MinStartupSeconds {
			return []Finding{finding(Error, "probes/startup-missing", obj, why, addStartup,
				"no startup probe: the liveness probe allows only %d s to start", b)}
		}
		return []Finding{finding(Warning, "probes/startup-missing", obj,
			"without a startup probe the liveness probe's long initial delay also delays noticing a hung node", addStartup,
			"no startup probe (the liveness probe waits %d s)", budget(ct.LivenessProbe))}
	}
	if b := budget(sp); b < MinStartupSeconds {
		return []Finding{finding(Warning, "probes/startup-budget", obj,
			"consistency checks, index rebuilds and many contexts can take minutes, and a node killed while it starts starts over",
			c.patchSTS(m.StatefulSet.Name, "json", fmt.Sprintf(
				`[{"op":"replace","path":"/spec/template/spec/containers/%d/startupProbe/failureThreshold","value":%d}]`, idx, failuresFor(sp, 600))),
			"startup probe allows %d s (initial delay + period x failure threshold); at least %d s is advised", b, MinStartupSeconds)}
	}
	return nil
}

// failuresFor is the failure threshold that gives p a budget of at least secs.
func failuresFor(p *corev1.Probe, secs int32) int32 {
	period := p.PeriodSeconds
	if period == 0 {
		period = 10
	}
	n := (secs - p.InitialDelaySeconds + period - 1) / period
	return max(n, 1)
}

func probeJSON(initial, period, failures int) string {
	return fmt.Sprintf(`{"httpGet":{"path":"%s","port":8024},"initialDelaySeconds":%d,"periodSeconds":%d,"failureThreshold":%d}`,
		InfoPath, initial, period, failures)
}
