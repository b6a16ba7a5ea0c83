package doctor

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// checkReplicas: one singleton StatefulSet per Axon Server node.
func checkReplicas(c *ctx) []Finding {
	var out []Finding
	for _, m := range c.Members {
		r := replicas(m.StatefulSet)
		switch {
		case r > 1:
			out = append(out, finding(Error, "statefulset/replicas", stsObject(m),
				"scaling down stops the highest ordinals, not the node you choose, and every pod shares one template, so no node can be upgraded, stopped or repaired on its own",
				fmt.Sprintf("give each Axon Server node a singleton StatefulSet of its own (`kubectl axon generate --nodes %d --name %s` lays them out), moving each pod's volumes to its new StatefulSet's claims", r, m.Cluster),
				"%d replicas: one StatefulSet holds %d Axon Server nodes", r, r))
		case r == 0:
			out = append(out, finding(Info, "statefulset/stopped", stsObject(m),
				"a stopped node does not take part in its replication groups",
				c.kubectl("scale", "statefulset", m.StatefulSet.Name, "--replicas=1"),
				"scaled to 0: the node is stopped"))
		}
	}
	return out
}

// checkGoverningService: each StatefulSet's serviceName is an existing headless
// Service, which gives the pod the stable DNS name the other nodes use.
func checkGoverningService(c *ctx) []Finding {
	if c.Services == nil {
		return nil
	}
	byName := map[string]*corev1.Service{}
	for i := range c.Services {
		byName[c.Services[i].Name] = &c.Services[i]
	}
	var out []Finding
	for _, m := range c.Members {
		name := m.StatefulSet.Spec.ServiceName
		svc := byName[name]
		switch {
		case name == "":
			out = append(out, finding(Error, "service/governing", stsObject(m),
				"without a governing headless Service the pod has no stable DNS name for the other nodes to reach it by",
				"set spec.serviceName to a headless Service selecting this pod (`kubectl axon generate --only "+m.StatefulSet.Name+"` writes one)",
				"no serviceName"))
		case svc == nil:
			out = append(out, finding(Error, "service/governing", stsObject(m),
				"without its governing headless Service the pod has no stable DNS name for the other nodes to reach it by",
				"create the headless Service "+name+" (`kubectl axon generate --only "+m.StatefulSet.Name+"` writes one)",
				"governing Service %s does not exist", name))
		case svc.Spec.ClusterIP != corev1.ClusterIPNone:
			out = append(out, finding(Error, "service/governing", "service/"+name,
				"only a headless Service gives each pod of a StatefulSet its own DNS name",
				"recreate "+name+" with clusterIP: None (the field cannot be changed in place)",
				"governing Service of %s is not headless", m.StatefulSet.Name))
		case !svc.Spec.PublishNotReadyAddresses:
			out = append(out, finding(Info, "service/not-ready-dns", "service/"+name,
				"a pod that is not Ready loses its DNS name, so the other Axon Server nodes cannot reach it and Kubernetes, not Axon Server, decides who is in the cluster",
				c.kubectl("patch", "service", name, "-p", `'{"spec":{"publishNotReadyAddresses":true}}'`),
				"headless Service does not publish not-ready addresses"))
		}
	}
	return out
}
