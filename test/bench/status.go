package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// statusResult is one configuration of the status benchmark.
type statusResult struct {
	Nodes, Contexts, Groups int
	UpSeconds               float64
	AxonMedian, GetMedian   time.Duration // wall time, median of reps
	// ColdMedian is status with nothing remembered from an earlier run (an empty
	// --cache-dir each call): a first run.
	ColdMedian          time.Duration
	AxonMin, AxonMax    time.Duration
	AxonRSSKB, GetRSSKB int64 // peak resident memory, max over the reps
	DirectMedian        time.Duration
	// API server requests of one call (through the counting proxy, discovery excluded)
	AxonObjectRequests, AxonProxyRequests, GetRequests int
	// ... and of a cold call
	ColdObjectRequests, ColdProxyRequests int
	AxonRequestKinds                      map[string]int
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func benchStatus(env *harness.Env, nodes, contexts, reps int) (statusResult, error) {
	res := statusResult{Nodes: nodes, Contexts: contexts, Groups: groupsFor(contexts) + 1}
	logf("status: %d nodes, %d contexts: sandbox up", nodes, contexts)
	s, err := env.Up(statusTopologyPath(env.Repo, nodes, contexts), 8*time.Minute)
	if err != nil {
		return res, err
	}
	defer s.Down()
	res.UpSeconds = s.UpTime.Seconds()
	if err := s.WaitHealthy(3 * time.Minute); err != nil {
		return res, err
	}
	ns := s.Namespace
	axon := []string{"kubectl", "axon", "status", "-n", ns}
	direct := []string{"kubectl", "axon", "status", "-n", ns, "--transport", "direct"}
	get := []string{"kubectl", "get", "statefulsets,pods", "-n", ns, "-l", "cluster=" + s.Topo.Name}
	// one warm-up of each (discovery cache, page cache)
	for _, a := range [][]string{axon, direct, get} {
		if r := s.Run(2*time.Minute, a...); r.Code != 0 {
			return res, fmt.Errorf("%s", r)
		}
	}
	coldDirs, err := os.MkdirTemp("", "axon-bench-cold-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(coldDirs)
	cold := func(i int) []string {
		return append(append([]string{}, axon...), "--cache-dir", filepath.Join(coldDirs, strconv.Itoa(i)))
	}
	var ta, tg, td, tc []time.Duration
	for i := 0; i < reps; i++ { // interleaved, so drift hits all alike
		ra := s.Run(2*time.Minute, axon...)
		rg := s.Run(2*time.Minute, get...)
		rd := s.Run(2*time.Minute, direct...)
		rc := s.Run(2*time.Minute, cold(i)...)
		for _, r := range []harness.Result{ra, rg, rd, rc} {
			if r.Code != 0 {
				return res, fmt.Errorf("%s", r)
			}
		}
		if !strings.Contains(ra.Stdout, "HEALTHY") {
			return res, fmt.Errorf("status does not say HEALTHY:\n%s", ra)
		}
		ta, tg, td, tc = append(ta, ra.Wall), append(tg, rg.Wall), append(td, rd.Wall), append(tc, rc.Wall)
		res.AxonRSSKB = max(res.AxonRSSKB, ra.MaxRSSKB)
		res.GetRSSKB = max(res.GetRSSKB, rg.MaxRSSKB)
	}
	res.AxonMedian, res.GetMedian, res.DirectMedian, res.ColdMedian = median(ta), median(tg), median(td), median(tc)
	sort.Slice(ta, func(i, j int) bool { return ta[i] < ta[j] })
	res.AxonMin, res.AxonMax = ta[0], ta[len(ta)-1]

	// Requests per call, through the counting proxy: a warm-up call (discovery
	// cache for the proxy's address), then one counted call each.
	p, err := s.StartCountingProxy()
	if err != nil {
		return res, err
	}
	defer p.Close()
	count := func(args []string, warm bool) (harness.Counts, error) {
		if warm {
			harness.Run(p.Kubeconfig, 2*time.Minute, args...)
		}
		p.Reset()
		r := harness.Run(p.Kubeconfig, 2*time.Minute, args...)
		if r.Code != 0 {
			return nil, fmt.Errorf("through the counting proxy: %s", r)
		}
		return p.Reset(), nil
	}
	ca, err := count(axon, true)
	if err != nil {
		return res, err
	}
	cc, err := count(cold(reps), false)
	if err != nil {
		return res, err
	}
	cg, err := count(get, true)
	if err != nil {
		return res, err
	}
	notDiscovery := func(k string) bool { return !harness.IsDiscovery(k) }
	res.AxonProxyRequests = ca.Total(harness.IsPodProxy)
	res.AxonObjectRequests = ca.Total(func(k string) bool { return notDiscovery(k) && !harness.IsPodProxy(k) })
	res.ColdProxyRequests = cc.Total(harness.IsPodProxy)
	res.ColdObjectRequests = cc.Total(func(k string) bool { return notDiscovery(k) && !harness.IsPodProxy(k) })
	res.GetRequests = cg.Total(notDiscovery)
	res.AxonRequestKinds = ca
	logf("status: %d nodes, %d contexts: cold %s, %d+%d requests", nodes, contexts, res.ColdMedian.Round(time.Millisecond), res.ColdObjectRequests, res.ColdProxyRequests)
	logf("status: %d nodes, %d contexts: axon %s (direct %s), get %s; requests: %d objects + %d pod proxy (%v), get %d; rss %d/%d KiB",
		nodes, contexts, res.AxonMedian.Round(time.Millisecond), res.DirectMedian.Round(time.Millisecond), res.GetMedian.Round(time.Millisecond),
		res.AxonObjectRequests, res.AxonProxyRequests, ca, res.GetRequests, res.AxonRSSKB, res.GetRSSKB)
	return res, nil
}
