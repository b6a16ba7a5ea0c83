// Package cli holds what every kubectl axon command shares at its edge: the documented
// exit codes and the errors that carry them.
package cli

import (
	"errors"
	"fmt"
)

// Exit codes, the same for every command (documented in README.md).
const (
	ExitOK      = 0 // done
	ExitError   = 1 // an error: cluster unreachable, API refused, unexpected answer
	ExitUsage   = 2 // bad flags or arguments, nothing was done
	ExitRefused = 3 // a safety check refused the operation, or status --exit-code found the cluster unhealthy
	ExitTimeout = 4 // timed out waiting
)

// Error is an error with the exit code the process should end with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Usagef is a usage error (exit 2): bad input, nothing was done.
func Usagef(format string, args ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Refusedf is a refusal by a safety check (exit 3).
func Refusedf(format string, args ...any) error {
	return &Error{Code: ExitRefused, Err: fmt.Errorf(format, args...)}
}

// Timeoutf is a time-out while waiting (exit 4).
func Timeoutf(format string, args ...any) error {
	return &Error{Code: ExitTimeout, Err: fmt.Errorf(format, args...)}
}

// WithCode gives err the exit code code, keeping its message.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// ExitCode is the exit code for err: the code it carries, else ExitError; ExitOK for nil.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}
