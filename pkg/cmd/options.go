package cmd

import (
	"context"
	"io"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
)

// clusterCommand is what a command that talks to a cluster does, in kubectl's order:
// Complete, Validate, then Run on the opened clients.
type clusterCommand interface {
	// Complete takes in the arguments; nothing is contacted.
	Complete(args []string) error
	// Validate checks the options alone and changes nothing.
	Validate() error
	// Open opens the clients (the command's session).
	Open() error
	Run(ctx context.Context) error
	// Close releases the clients (port-forwards, connections, watches).
	Close() error
}

// runCluster is the body of every such command's RunE. Bad input is refused
// before any client is opened.
func runCluster(ctx context.Context, o clusterCommand, args []string) error {
	if err := o.Complete(args); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if err := o.Open(); err != nil {
		return err
	}
	defer o.Close()
	return o.Run(ctx)
}

// clients opens and holds a command's session; Options embed it.
type clients struct {
	open    connect.Opener
	flags   *connect.Flags
	notices io.Writer // where the session's notices go (the command's stderr)
	session *connect.Session
}

// newClients is the clients of a command with flags, opened with open.
func newClients(open connect.Opener, flags *connect.Flags, notices io.Writer) clients {
	return clients{open: open, flags: flags, notices: notices}
}

// Open opens the session with the flags.
func (c *clients) Open() error {
	s, err := c.open(c.flags)
	if err != nil {
		return err
	}
	s.Notices = c.notices
	c.session = s
	return nil
}

// Close releases the session, if one was opened.
func (c *clients) Close() error {
	if c.session == nil {
		return nil
	}
	return c.session.Close()
}

// checkDataOutput accepts the output formats of the commands that print one document:
// text (""), json and yaml.
func checkDataOutput(out string) error {
	switch out {
	case "", "json", "yaml":
		return nil
	}
	return cli.Usagef("--output must be json or yaml, not %q", out)
}
