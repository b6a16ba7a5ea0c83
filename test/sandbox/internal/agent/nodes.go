package agent

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/utils/clock"
)

const leaseSeconds = 40

func (a *Agent) nodeStatus(name string, now metav1.Time, old *corev1.NodeStatus) corev1.NodeStatus {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		if old != nil {
			for _, o := range old.Conditions {
				if o.Type == t && o.Status == s {
					c.LastTransitionTime = o.LastTransitionTime
				}
			}
		}
		return c
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("32Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return corev1.NodeStatus{
		Capacity:    res,
		Allocatable: res,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "simulated kubelet (axon-sandbox) is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.workerIP[name]},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: name, SystemUUID: name, BootID: a.st.NetNS,
			KernelVersion: "axon-sandbox", OSImage: "axon-sandbox", ContainerRuntimeVersion: "axonsim://1",
			KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64",
		},
	}
}

func (a *Agent) registerNodes(ctx context.Context) error {
	now := metav1.Now()
	for _, name := range sortedNames(a.workers) {
		w := a.workers[name]
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname":           name,
			"kubernetes.io/os":                 "linux",
			"kubernetes.io/arch":               "amd64",
			"topology.kubernetes.io/region":    "sandbox",
			"topology.kubernetes.io/zone":      w.Zone,
			"node.kubernetes.io/instance-type": "axon-sandbox",
		}}}
		if w.Zone == "" {
			delete(node.Labels, "topology.kubernetes.io/zone")
		}
		if _, err := a.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		// Controllers (node lifecycle, ...) write the new Node too: re-read
		// and retry on a conflict.
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			n, err := a.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			n.Status = a.nodeStatus(name, now, &n.Status)
			_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		// The TaintNodesByCondition admission plugin registers new nodes with
		// node.kubernetes.io/not-ready:NoSchedule; the node lifecycle
		// controller lifts it once the node reports Ready. Lift it at once.
		err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			n, err := a.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			var keep []corev1.Taint
			for _, t := range n.Spec.Taints {
				if t.Key != corev1.TaintNodeNotReady {
					keep = append(keep, t)
				}
			}
			if len(keep) == len(n.Spec.Taints) {
				return nil
			}
			n.Spec.Taints = keep
			_, err = a.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// heartbeat starts, for each worker, the kubelet's own node lease controller
// (renews the worker's Lease every 10 s, retrying with backoff and creating it
// again if it is gone) and a loop that posts the Node's status every 30 s (and
// registers a Node someone deleted). Both outlive API errors: a failed round is
// logged and the next one tries again.
func (a *Agent) heartbeat(ctx context.Context) {
	for _, name := range sortedNames(a.workers) {
		go a.leaseController(name).Run(ctx)
	}
	go wait.UntilWithContext(ctx, a.postNodeStatus, nodeStatusInterval)
}

const (
	leaseRenewInterval = 10 * time.Second
	nodeStatusInterval = 30 * time.Second
)

// leaseController is the kubelet's: Lease kube-node-lease/NODE held by the
// node, owned by its Node object (so it goes with the Node).
func (a *Agent) leaseController(node string) lease.Controller {
	return lease.NewController(clock.RealClock{}, a.cs, node, leaseSeconds, nil, leaseRenewInterval,
		node, corev1.NamespaceNodeLease, func(l *coordinationv1.Lease) error {
			if len(l.OwnerReferences) > 0 {
				return nil
			}
			n, err := a.cs.CoreV1().Nodes().Get(context.TODO(), node, metav1.GetOptions{})
			if err != nil {
				return nil // renew without an owner; set it next time
			}
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: n.UID}}
			return nil
		})
}

// postNodeStatus posts every worker's status once (Ready, capacity,
// addresses); a Node that is gone is registered again.
func (a *Agent) postNodeStatus(ctx context.Context) {
	for _, name := range sortedNames(a.workers) {
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			n, err := a.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			n.Status = a.nodeStatus(name, metav1.Now(), &n.Status)
			_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			a.logf("node %s is gone: registering it again", name)
			err = a.registerNodes(ctx)
		}
		if err != nil && ctx.Err() == nil {
			a.logf("node status %s: %v (next try in %s)", name, err, nodeStatusInterval)
		}
	}
}

func ptr[T any](v T) *T { return &v }
