package stepper

import (
	"context"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// SafeToStop is the preflight's question asked once: is the cluster healthy apart
// from node, and does stopping node keep every group's quorum? When not, it says why
// (the unhealthy nodes, then the groups that would block), as the preflight does.
func SafeToStop(c quorum.Cluster, node string) (bool, []string) {
	ok, hs := c.Healthy(node)
	v := c.CanStop(node)
	if ok && v.Safe {
		return true, nil
	}
	return false, blockers(hs, v)
}
