package agent

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// apiBackoff paces the retries of a write the agent must get through (the
// final deletion of a pod it stopped, a volume it provisioned): 200 ms,
// doubling up to 5 s, then every 5 s for as long as the agent runs, as the
// kubelet's status manager does across an API server restart.
var apiBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 10, Cap: 5 * time.Second}

// persist runs write until it returns nil or ctx ends (then ctx's error). A
// write reports an outcome that makes retrying pointless (the object is gone,
// a precondition names another object) as nil. The first failure and every
// tenth are logged, and the success after failures.
func (a *Agent) persist(ctx context.Context, what string, write func(context.Context) error) error {
	failures := 0
	return apiBackoff.DelayFunc().Until(ctx, true, false, func(ctx context.Context) (bool, error) {
		err := write(ctx)
		if err == nil {
			if failures > 0 {
				a.logf("%s: done after %d failed attempts", what, failures)
			}
			return true, nil
		}
		failures++
		if failures == 1 || failures%10 == 0 {
			a.logf("%s: %v (attempt %d; retrying)", what, err, failures)
		}
		return false, nil
	})
}
