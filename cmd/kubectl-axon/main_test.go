package main

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// TestSetupKlog: client-go's log stays off stderr by default and comes through with
// KUBECTL_AXON_KLOG, at its verbosity.
func TestSetupKlog(t *testing.T) {
	var quiet, loud bytes.Buffer
	setupKlog("", &quiet)
	klog.Error("watch of pods failed: connection refused")
	klog.Flush()
	setupKlog("6", &loud)
	klog.Error("watch of pods failed: connection refused")
	klog.V(6).Info("GET /api/v1/pods 200 OK")
	klog.V(7).Info("too verbose")
	klog.Flush()
	if quiet.Len() != 0 {
		t.Errorf("by default klog wrote %q", quiet.String())
	}
	if s := loud.String(); !strings.Contains(s, "connection refused") || !strings.Contains(s, "200 OK") || strings.Contains(s, "too verbose") {
		t.Errorf("with level 6 klog wrote %q", s)
	}
}
