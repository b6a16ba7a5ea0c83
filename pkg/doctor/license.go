package doctor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
)

// checkLicense: the license is valid and does not expire within WarnDays. Axon Server
// EE's license health component is WARN in the grace period after the expiry date and
// DOWN once the license has expired (4.5+).
func checkLicense(c *ctx) []Finding {
	if c.Axon == nil || c.Axon.License == nil {
		return nil
	}
	l := c.Axon.License
	obj := "cluster/" + c.Cluster
	on := ""
	if l.ExpiryDate != "" {
		on = " on " + l.ExpiryDate
	}
	var nodes []string
	for n, st := range l.Nodes {
		if st == l.State {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	fix := "renew the license with AxonIQ and put the new license file in the license Secret the pods mount (or upload it), then check: kubectl axon license"
	switch l.State {
	case "expired":
		return []Finding{finding(Error, "license/expired", obj,
			"an Axon Server whose license has expired and whose grace period is over stops serving: clients cannot connect and a restarted node does not start",
			fix, "the Axon Server license expired%s and its grace period is over (license health DOWN on %s)", on, strings.Join(nodes, ", "))}
	case "grace":
		return []Finding{finding(Warning, "license/grace", obj,
			"in the grace period Axon Server keeps working, until the license's grace date: then it stops serving",
			fix, "the Axon Server license expired%s and is in its grace period (license health WARN on %s)", on, strings.Join(nodes, ", "))}
	}
	warn := c.WarnDays
	if warn <= 0 {
		warn = 30
	}
	if l.State == "valid" && l.DaysLeft != nil && *l.DaysLeft < warn {
		return []Finding{finding(Warning, "license/expires-soon", obj,
			"after the expiry date only the grace period is left before Axon Server stops serving",
			fix, "the Axon Server license expires%s, in %d days (--warn-days %d)", on, *l.DaysLeft, warn)}
	}
	return nil
}

// configPaths are the paths read from /actuator/env that must be on a persistent
// volume: the control DB backups (written by createControlDbBackup, copied from the
// node's volume) and the replication log (the Raft log every group commits to).
var configPaths = []struct {
	key, what, why string
}{
	{nodeconfig.ControlDBBackup, "the control DB backup location",
		"a control DB backup written outside a persistent volume is lost with the pod, before it was copied off"},
	{nodeconfig.LogStorage, "the replication log",
		"the replication log holds every group's uncommitted and recent entries: on a disk that goes with the pod, a restarted node starts with no log and must be sent a full snapshot, or loses entries it acknowledged"},
	{nodeconfig.EventStorage, "the event store",
		"the event store is the data itself: a pod restart loses it"},
	{nodeconfig.ControlDBPath, "the control DB",
		"the control DB holds the node's cluster membership: without it the node does not know its cluster after a restart"},
}

// checkConfigPaths: the storage paths the nodes actually use (/actuator/env) are on
// persistent volumes of their pods.
func checkConfigPaths(c *ctx) []Finding {
	if c.Axon == nil || c.Axon.Config == nil {
		return nil
	}
	var out []Finding
	for _, m := range c.Members {
		ct, _ := container(m)
		if ct == nil {
			continue
		}
		for _, p := range configPaths {
			dir, ok := c.Axon.Config.Get(m.NodeName, p.key)
			if !ok || dir == "" {
				continue
			}
			dir = nodeconfig.Resolve(dir, nodeconfig.WorkDir)
			vm, kind, what := mountFor(m, ct, dir)
			switch kind {
			case volNone:
				out = append(out, finding(Error, "config/path-not-on-volume", stsObject(m), p.why,
					fmt.Sprintf("point %s at a directory on one of the pod's persistent volumes (e.g. under /axonserver/data), or mount a volumeClaimTemplate there", p.key),
					"%s (%s=%s, /actuator/env of %s) is on no volume: it lives in the container", p.what, p.key, dir, m.NodeName))
			case volEphemeral:
				out = append(out, finding(Error, "config/path-not-on-volume", stsObject(m), p.why,
					fmt.Sprintf("point %s at a directory on one of the pod's persistent volumes", p.key),
					"%s (%s=%s, /actuator/env of %s) is on %s (volume %s)", p.what, p.key, dir, m.NodeName, what, vm.Name))
			}
		}
	}
	return out
}

// checkConfigDiffers: the nodes agree on the properties that must be the same
// everywhere (min-active-backups has its own check, checkConfig).
func checkConfigDiffers(c *ctx) []Finding {
	if c.Axon == nil || c.Axon.Config == nil {
		return nil
	}
	var out []Finding
	for _, r := range c.Axon.Config.Disagreements() {
		if r.Property == nodeconfig.MinActiveBackups {
			continue
		}
		out = append(out, finding(Warning, "config/differs", "cluster/"+c.Cluster,
			"nodes configured differently behave differently: access control, TLS, autocluster or storage that holds on one node and not on another fails in the operation that reaches that node",
			"set "+r.Property+" to the same value for every node (one ConfigMap, or the same environment in each StatefulSet), then restart the nodes one at a time: kubectl axon replace-node --all",
			"the nodes disagree on %s (/actuator/env): %s", r.Property, r.Describe()))
	}
	return out
}
