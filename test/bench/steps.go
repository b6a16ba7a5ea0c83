package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// stepCost is what one step of a kubectl axon rolling operation cost, on average
// over its steps: requests to the API server, and where the step's time went.
type stepCost struct {
	// Requests per step, through the counting proxy: Kubernetes objects (lists,
	// gets, patches, watches), and Axon Server's REST calls through the pod proxy.
	Objects, PodProxy float64
	// Phases, means over the steps, in order (see phaseNames).
	Phases map[string]time.Duration
	// Plugin is the part of a step that is the plugin's: the preflight and the act,
	// noticing the node healthy, the confirming look, and the time to the next step.
	Plugin time.Duration
	Steps  int
}

// phaseNames are the phases of a step, from the plugin's JSON events and the
// simulator's audit log:
//
//	preflight+act   step-started → acted (the look before the step, the patch), less:
//	controller      the announced wait for the StatefulSet controller to see a new
//	                template (upgrade), until acted: Kubernetes' time
//	shutdown        acted → pod-gone (Kubernetes deletes the pod, Axon Server stops)
//	pod back        pod-gone → pod-ready (Kubernetes recreates, schedules, starts and probes the pod)
//	axon back       pod-ready → the node's last node-ready/caught-up in the audit log
//	noticed         that audit event → node-healthy (the plugin noticing)
//	confirmed       node-healthy → step-finished (the look at the whole cluster, bookkeeping)
//	to next step    step-finished → the next step-started
var phaseNames = []string{"preflight+act", "controller", "shutdown", "pod back", "axon back", "noticed", "confirmed", "to next step"}

// pluginPhases are the phases that are the plugin's own.
var pluginPhases = map[string]bool{"preflight+act": true, "noticed": true, "confirmed": true, "to next step": true}

// measureSteps reads the plugin's JSON events (stdout) and the audit log of the
// run, and the proxy's counts of its requests.
func measureSteps(stdout string, audit []axonsim.Event, counts harness.Counts) stepCost {
	type ev struct {
		Time  time.Time `json:"time"`
		Event string    `json:"event"`
		Node  string    `json:"node"`
		Data  struct {
			WaitingFor string `json:"waitingFor"`
		} `json:"data"`
	}
	var evs []ev
	for _, l := range strings.Split(stdout, "\n") {
		var e ev
		if json.Unmarshal([]byte(l), &e) == nil && e.Event != "" {
			evs = append(evs, e)
		}
	}
	sum := map[string]time.Duration{}
	steps := 0
	var at map[string]time.Time // this step's events by kind (first of each)
	var node string
	var lastFinished time.Time
	for _, e := range evs {
		switch e.Event {
		case "step-started":
			if !lastFinished.IsZero() {
				sum["to next step"] += e.Time.Sub(lastFinished)
			}
			at, node = map[string]time.Time{"step-started": e.Time}, e.Node
			continue
		}
		if at == nil || e.Node != node {
			continue
		}
		kind := e.Event
		if kind == "waiting" && e.Data.WaitingFor == "statefulset-controller" {
			kind = "controller"
		}
		if _, seen := at[kind]; !seen {
			at[kind] = e.Time
		}
		if e.Event != "step-finished" {
			continue
		}
		back := axonBack(audit, node, at["pod-ready"], at["node-healthy"])
		if !back.IsZero() && back.Before(at["pod-ready"]) {
			back = at["pod-ready"] // Axon Server was back before the kubelet's probe said so
		}
		if at["acted"].IsZero() || at["pod-gone"].IsZero() || at["pod-ready"].IsZero() || at["node-healthy"].IsZero() || back.IsZero() {
			at = nil
			continue
		}
		steps++
		acting := at["acted"]
		if c := at["controller"]; !c.IsZero() && c.Before(acting) {
			acting = c
		}
		sum["preflight+act"] += acting.Sub(at["step-started"])
		sum["controller"] += at["acted"].Sub(acting)
		sum["shutdown"] += at["pod-gone"].Sub(at["acted"])
		sum["pod back"] += at["pod-ready"].Sub(at["pod-gone"])
		sum["axon back"] += back.Sub(at["pod-ready"])
		sum["noticed"] += at["node-healthy"].Sub(back)
		sum["confirmed"] += e.Time.Sub(at["node-healthy"])
		lastFinished, at = e.Time, nil
	}
	c := stepCost{Phases: map[string]time.Duration{}, Steps: steps}
	if steps == 0 {
		return c
	}
	for _, p := range phaseNames {
		n := steps
		if p == "to next step" {
			n = max(steps-1, 1)
		}
		c.Phases[p] = sum[p] / time.Duration(n)
		if pluginPhases[p] {
			c.Plugin += c.Phases[p]
		}
	}
	notDiscovery := func(k string) bool { return !harness.IsDiscovery(k) }
	c.PodProxy = float64(counts.Total(harness.IsPodProxy)) / float64(steps)
	c.Objects = float64(counts.Total(func(k string) bool { return notDiscovery(k) && !harness.IsPodProxy(k) })) / float64(steps)
	return c
}

// axonBack is when node was back in Axon Server's own terms: its last node-ready
// or caught-up event after from (the new pod Ready) and before until (the plugin
// saw it healthy); zero when none.
func axonBack(audit []axonsim.Event, node string, from, until time.Time) time.Time {
	var last time.Time
	for _, e := range audit {
		if e.Node != node || (e.Event != axonsim.EvNodeReady && e.Event != axonsim.EvCaughtUp) {
			continue
		}
		if e.Time.Before(from.Add(-5*time.Second)) || e.Time.After(until) {
			continue
		}
		if e.Time.After(last) {
			last = e.Time
		}
	}
	return last
}

// writeStepCosts writes the table of what a step of kubectl axon costs, by size.
func writeStepCosts(b *strings.Builder, rs []rollingResult) {
	b.WriteString("\n### What one step costs\n\n")
	b.WriteString("kubectl axon's runs above, through a counting proxy in front of the API server. Requests per step:\n")
	b.WriteString("Kubernetes objects (lists, gets, watches, patches, Events) and Axon Server's REST calls through the pod\n")
	b.WriteString("proxy. Then where a step's time goes, means over the steps, from the plugin's JSON events and the\n")
	b.WriteString("simulator's audit log: ")
	b.WriteString("**preflight+act** (step-started → acted, less **controller**: the announced wait for the StatefulSet\n")
	b.WriteString("controller to see `upgrade`'s new template, Kubernetes' time), **shutdown** (→ old pod gone), **pod back** (→ new pod Ready\n")
	b.WriteString("on the new revision: Kubernetes recreates, schedules, starts and probes it), **axon back** (→ the node's last\n")
	b.WriteString("`node-ready`/`caught-up` in the audit log), **noticed** (→ the plugin's node-healthy), **confirmed**\n")
	b.WriteString("(→ step-finished: one look at the whole cluster, bookkeeping), **to next step** (→ the next step-started).\n")
	b.WriteString("The plugin's part is preflight+act, noticed, confirmed and to next step.\n\n")
	b.WriteString("| operation | nodes | object requests / step | pod-proxy requests / step |")
	for _, p := range phaseNames {
		b.WriteString(" " + p + " |")
	}
	b.WriteString(" the plugin's part |\n|---|---:|---:|---:|")
	for range phaseNames {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	for _, x := range rs {
		if x.Step == nil || x.Step.Steps == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %.0f | %.0f |", x.Op, x.Nodes, x.Step.Objects, x.Step.PodProxy)
		for _, p := range phaseNames {
			fmt.Fprintf(b, " %.2f s |", x.Step.Phases[p].Seconds())
		}
		fmt.Fprintf(b, " %.2f s |\n", x.Step.Plugin.Seconds())
	}
}
