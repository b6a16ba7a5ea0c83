package axonsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// autoclusterOf is the autocluster configuration node n runs with. Caller holds c.mu.
func (c *Cluster) autoclusterOf(n *Node) *Autocluster {
	a := c.topo.Autocluster
	if n.cfg.Autocluster != nil {
		a = n.cfg.Autocluster
	}
	if a == nil || a.First == "" {
		return nil
	}
	return a
}

// JSONEnv is GET /actuator/env (Spring Boot's EnvironmentEndpoint.EnvironmentDescriptor).
type JSONEnv struct {
	ActiveProfiles  []string             `json:"activeProfiles"`
	PropertySources []JSONPropertySource `json:"propertySources"`
}

// JSONPropertySource is one property source of /actuator/env.
type JSONPropertySource struct {
	Name       string                       `json:"name"`
	Properties map[string]JSONPropertyValue `json:"properties"`
}

// JSONPropertyValue is one property: its value (sanitized) and where it was set.
type JSONPropertyValue struct {
	Value  any    `json:"value"`
	Origin string `json:"origin,omitempty"`
}

// sensitiveKey is Spring Boot 2's Sanitizer default: keys ending in these words are masked.
func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "secret", "key", "token", "credentials"} {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return strings.Contains(k, "vcap_services") || strings.HasSuffix(k, "sun.java.command")
}

// env lists the node's effective properties the way Spring Boot's env endpoint does: the
// server port, the environment variables the Kubernetes layout sets, and axonserver.properties.
func (c *Cluster) env(n *Node) JSONEnv {
	// The storage paths as configured (or Axon Server's defaults): the container's view.
	l := n.layout
	events, snapshots, logs, controlDB, backups := l.events, l.snapshots, l.log, l.controlDB, l.backup
	props := [][2]string{
		{"axoniq.axonserver.name", n.name},
		{"axoniq.axonserver.hostname", c.hostOf(n)},
		{"axoniq.axonserver.replication.min-active-backups", strconv.Itoa(c.minActiveBackups(n.name))},
		{"axoniq.axonserver.accesscontrol.enabled", strconv.FormatBool(c.topo.AccessToken != "")},
		{"axoniq.axonserver.event.storage", events},
		{"axoniq.axonserver.snapshot.storage", snapshots},
		{"axoniq.axonserver.replication.log-storage-folder", logs},
		{"axoniq.axonserver.controldb-path", controlDB},
		{"axoniq.axonserver.controldb-backup-location", backups},
	}
	if a := c.autoclusterOf(n); a != nil {
		props = append(props, [2]string{"axoniq.axonserver.autocluster.first", a.First},
			[2]string{"axoniq.axonserver.autocluster.contexts", strings.Join(a.Contexts, ",")})
	}
	if c.topo.AccessToken != "" {
		props = append(props, [2]string{"axoniq.axonserver.accesscontrol.internal-token", c.topo.AccessToken},
			[2]string{"axoniq.axonserver.accesscontrol.systemtokenfile", "/axonserver/security/.token"})
	}
	masked := c.topo.ActuatorEnv == "masked"
	value := func(k string, v any) any {
		if masked || sensitiveKey(k) {
			return "******"
		}
		return v
	}
	file := "/axonserver/config/axonserver.properties"
	name := "Config resource 'file [" + file + "]' via location 'optional:file:./config/'" // Spring Boot 2.4+
	if !versionAtLeast(n.version, 4, 5) {
		name = "applicationConfig: [file:./config/axonserver.properties]" // Spring Boot 2.1 (4.4)
	}
	cfg := JSONPropertySource{Name: name, Properties: map[string]JSONPropertyValue{}}
	for i, p := range props {
		cfg.Properties[p[0]] = JSONPropertyValue{Value: value(p[0], p[1]), Origin: fmt.Sprintf("URL [file:%s] - %d:%d", file, i+1, len(p[0])+2)}
	}
	envVar := func(k, v string) JSONPropertyValue {
		return JSONPropertyValue{Value: value(k, v), Origin: "System Environment Property \"" + k + "\""}
	}
	return JSONEnv{ActiveProfiles: []string{}, PropertySources: []JSONPropertySource{
		{Name: "server.ports", Properties: map[string]JSONPropertyValue{"local.server.port": {Value: value("local.server.port", n.port)}}},
		{Name: "systemEnvironment", Properties: map[string]JSONPropertyValue{
			"AXONIQ_AXONSERVER_NAME":     envVar("AXONIQ_AXONSERVER_NAME", n.name),
			"AXONIQ_AXONSERVER_HOSTNAME": envVar("AXONIQ_AXONSERVER_HOSTNAME", c.hostOf(n)),
		}},
		cfg,
	}}
}

func (h *nodeHandler) envEndpoint(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	mode := c.topo.ActuatorEnv
	out := c.env(h.n)
	c.mu.Unlock()
	if mode == "absent" {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Not Found", "path": r.URL.Path})
		return
	}
	w.Header().Set("Content-Type", "application/vnd.spring-boot.actuator.v3+json")
	writeJSON(w, http.StatusOK, out)
}
