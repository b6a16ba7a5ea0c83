package cmd

import (
	"context"

	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
)

// clusterCommand is what a command that talks to a cluster does, in kubectl's order.
type clusterCommand interface {
	// Validate checks the flags and arguments alone; nothing is contacted yet.
	Validate() error
	// Complete opens the clients.
	Complete() error
	Run(ctx context.Context) error
	// Close releases the clients (port-forwards, connections).
	Close() error
}

// runCluster is the body of every such command's RunE.
func runCluster(ctx context.Context, o clusterCommand) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if err := o.Complete(); err != nil {
		return err
	}
	defer o.Close()
	return o.Run(ctx)
}

// clients holds a command's open session; Options embed it.
type clients struct {
	session *connect.Session
}

// Close releases the session, if one was opened.
func (c *clients) Close() error {
	if c.session == nil {
		return nil
	}
	return c.session.Close()
}
