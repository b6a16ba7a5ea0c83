package doctor

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
)

// ImageTag splits an image reference into its tag and digest ("" when absent).
func ImageTag(image string) (tag, digest string) {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		tag = last[i+1:]
	}
	return tag, digest
}

// runAs is the effective user and runAsNonRoot of the container.
func runAs(m discovery.Member, ct *corev1.Container) (user *int64, nonRoot *bool) {
	if psc := m.StatefulSet.Spec.Template.Spec.SecurityContext; psc != nil {
		user, nonRoot = psc.RunAsUser, psc.RunAsNonRoot
	}
	if sc := ct.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
	}
	return user, nonRoot
}

// checkSecurity: Axon Server runs as a non-root user.
func checkSecurity(c *ctx) []Finding {
	var out []Finding
	for _, m := range c.Members {
		ct, _ := container(m)
		if ct == nil {
			continue
		}
		obj := stsObject(m)
		user, nonRoot := runAs(m, ct)
		tag, _ := ImageTag(ct.Image)
		nonrootImage := strings.Contains(tag, "nonroot")
		fix := c.patchSTS(m.StatefulSet.Name, "merge", `{"spec":{"template":{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1001,"runAsGroup":1001,"fsGroup":1001}}}}}`)
		why := "a root process in a container is one kernel bug away from root on the worker, and clusters with a non-root policy (OpenShift, restricted Pod Security) refuse it"
		switch {
		case user != nil && *user == 0:
			out = append(out, finding(Error, "security/root", obj, why, fix, "runs as root (runAsUser: 0)"))
		case user != nil || (nonRoot != nil && *nonRoot):
			// a non-root user is set or enforced
		case nonrootImage:
			out = append(out, finding(Info, "security/run-as-non-root", obj,
				"only runAsNonRoot makes Kubernetes refuse to start the container as root should the image change",
				fix, "relies on the image's user; runAsNonRoot is not set"))
		default:
			out = append(out, finding(Warning, "security/root", obj, why,
				"use a -nonroot image (e.g. axoniq/axonserver:<version>-nonroot) and "+fix,
				"image %s runs as root unless told otherwise, and no securityContext sets a user", ct.Image))
		}
	}
	return out
}

// checkImages: pinned tags, the same on every node unless an upgrade is running.
func checkImages(c *ctx) []Finding {
	var out []Finding
	images := map[string][]string{}
	upgrading := false
	for _, m := range c.Members {
		ct, idx := container(m)
		if ct == nil {
			continue
		}
		if _, ok := m.StatefulSet.Annotations[OperationAnnotation]; ok {
			upgrading = true
		}
		images[ct.Image] = append(images[ct.Image], m.StatefulSet.Name)
		tag, digest := ImageTag(ct.Image)
		if digest == "" && (tag == "" || tag == "latest") {
			what := "has no tag (so :latest)"
			if tag == "latest" {
				what = "is :latest"
			}
			out = append(out, finding(Error, "image/latest", stsObject(m),
				"a :latest image changes version whenever a pod is recreated, so a node restarted for any reason may upgrade on its own, outside any rolling upgrade",
				c.patchSTS(m.StatefulSet.Name, "json", fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/%d/image","value":"axoniq/axonserver:<version>-nonroot"}]`, idx))+" (better: `kubectl axon upgrade`)",
				"image %s %s", ct.Image, what))
		}
	}
	if len(images) > 1 {
		var parts []string
		for _, img := range sortedKeys(images) {
			sts := images[img]
			sort.Strings(sts)
			parts = append(parts, fmt.Sprintf("%s on %s", img, strings.Join(sts, ", ")))
		}
		if upgrading {
			out = append(out, finding(Info, "image/mixed", "cluster/"+c.Cluster,
				"nodes on different versions are expected while an upgrade runs", "",
				"an operation is under way; images differ: %s", strings.Join(parts, "; ")))
		} else {
			out = append(out, finding(Warning, "image/mixed", "cluster/"+c.Cluster,
				"nodes on different versions are a half-done upgrade: behaviour differs by node, and the next restart of the older ones may change it again",
				"finish the upgrade: `kubectl axon upgrade` to one image",
				"images differ with no operation under way: %s", strings.Join(parts, "; ")))
		}
	}
	return out
}
