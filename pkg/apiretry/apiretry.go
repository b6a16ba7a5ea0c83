// Package apiretry asks the Kubernetes API server again while it does not answer
// (restarting, overloaded), for a bounded time: a control plane that blinks during a
// rolling operation is no reason to stop it.
package apiretry

import (
	"context"
	"errors"
	"math"
	"net"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
)

// DefaultPatience is how long Do goes on by default: an API server restart takes
// seconds to tens of seconds.
const DefaultPatience = 2 * time.Minute

// Transient: the API server did not answer, or answered that it could not now;
// asking again later may succeed.
func Transient(err error) bool {
	var ne net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.As(err, &ne) && ne.Timeout() ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}

// Do calls f until it returns nil or an error that is not Transient, with backoff
// (0.2 s doubling to 5 s), for at most patience (0: DefaultPatience). When the API
// server stays away that long it returns an exit-4 error naming what was being
// done and the last answer.
func Do(ctx context.Context, patience time.Duration, what string, f func(ctx context.Context) error) error {
	if patience <= 0 {
		patience = DefaultPatience
	}
	var final, last error
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Cap: 5 * time.Second, Steps: math.MaxInt32}
	pctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	err := wait.ExponentialBackoffWithContext(pctx, backoff, func(context.Context) (bool, error) {
		final = f(ctx)
		if final != nil && Transient(final) {
			last, final = final, nil
			return false, nil
		}
		return true, nil
	})
	switch {
	case final != nil:
		return final
	case err != nil && last != nil && ctx.Err() == nil:
		return cli.Timeoutf("%s: the API server did not answer for %s: %w", what, patience, last)
	case err != nil:
		return err
	}
	return nil
}
