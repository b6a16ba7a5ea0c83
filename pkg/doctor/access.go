package doctor

import (
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
)

// AccessControlProperty turns Axon Server's access control on.
const AccessControlProperty = "axoniq.axonserver.accesscontrol.enabled"

// configuredAccessControl reads what the pod template says of access control (the
// environment, else a properties file of a mounted ConfigMap). ok is false when it
// does not say, or sets it where doctor cannot read it.
func (c *ctx) configuredAccessControl(m discovery.Member) (enabled, ok bool) {
	ct, _ := container(m)
	if ct == nil {
		return false, false
	}
	s, set := c.property(m, ct, AccessControlProperty)
	if !set || s.Unreadable {
		return false, false
	}
	return strings.EqualFold(s.Value, "true"), true
}

// checkAccess: access control on, and the plugin's token from a Secret.
func checkAccess(c *ctx) []Finding {
	if len(c.Members) == 0 {
		return nil
	}
	obj := "cluster/" + c.Cluster
	var out []Finding
	enabled, known := false, false
	if c.Axon != nil && c.Axon.Authentication != nil {
		enabled, known = *c.Axon.Authentication, true
	} else if len(c.Members) > 0 {
		enabled, known = c.configuredAccessControl(c.Members[0])
	}
	why := "without access control anyone who reaches port 8024 or 8124 can read every event and delete contexts"
	fix := "set " + AccessControlProperty + "=true with a system token file from a Secret (as `kubectl axon generate` does), then pass the token with --token-secret NAME/KEY"
	switch {
	case known && !enabled:
		out = append(out, finding(Warning, "access/disabled", obj, why, fix, "access control is disabled"))
	case !known:
		out = append(out, finding(Info, "access/unknown", obj, why, fix,
			"could not tell whether access control is enabled (no node answered, and the pod template does not set %s)", AccessControlProperty))
	}
	t := c.Token
	switch t.Source {
	case TokenSecret:
		ref := t.SecretName + "/" + t.SecretKey
		switch {
		case !t.SecretFound:
			out = append(out, finding(Error, "access/token-secret", "secret/"+t.SecretName,
				"kubectl axon cannot authenticate to Axon Server without the token", "create it: "+c.kubectl("create", "secret", "generic", t.SecretName, "--from-file="+t.SecretKey+"=PATH"),
				"--token-secret %s: the Secret does not exist", ref))
		case !t.KeyFound:
			out = append(out, finding(Error, "access/token-secret", "secret/"+t.SecretName,
				"kubectl axon cannot authenticate to Axon Server without the token", "name the key that holds the token: --token-secret "+t.SecretName+"/KEY",
				"--token-secret %s: the Secret has no key %s", ref, t.SecretKey))
		}
	case TokenFile, TokenEnv:
		if known && enabled {
			out = append(out, finding(Warning, "access/token-not-secret", obj,
				"a token copied to a workstation file or environment outlives its rotation and leaks with shell histories and backups; a Secret is rotated in one place and guarded by RBAC",
				"keep the token in a Secret (the one the pods mount as their system token) and pass --token-secret NAME/KEY",
				"the access token comes from a %s, not a Secret", t.Source))
		}
	}
	return out
}

// checkUnavailable: kinds the gatherer could not list, so their checks were skipped.
func checkUnavailable(c *ctx) []Finding {
	var out []Finding
	for _, kind := range sortedKeys(c.Unavailable) {
		out = append(out, finding(Info, "doctor/skipped", kind,
			"the checks that need these objects were skipped",
			"bind the kubectl-axon Role and ClusterRole from docs/rbac.yaml",
			"could not list %s: %s", kind, c.Unavailable[kind]))
	}
	if c.AxonError != "" {
		out = append(out, finding(Info, "doctor/axon-unreachable", "cluster/"+c.Cluster,
			"the checks of access control and of the replication groups' layout were skipped or judged from the configuration only",
			"check `kubectl axon status`; pass the access token with --token-secret NAME/KEY",
			"could not ask Axon Server: %s", c.AxonError))
	}
	return out
}
