// Package progress reports what a long kubectl axon command is doing, through one
// interface with three sinks: a spinner on a terminal, plain timestamped lines when
// stderr is not a terminal, and JSON lines (one event per line, on stdout) for
// runbook scripts with -o json. Data goes to stdout, progress to stderr.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/briandowns/spinner"
)

// Level says how loud an event is.
type Level string

const (
	Info  Level = "info"
	Warn  Level = "warning"
	Error Level = "error"
)

// Event is one thing that happened, or (Transient) what the command waits for now.
type Event struct {
	Time time.Time `json:"time"`
	// Kind names the event for scripts: plan, step-started, preflight, acted,
	// pod-terminating, pod-gone, pod-ready, node-healthy, cluster-healthy,
	// step-finished, waiting, warning, stopped, summary.
	Kind  string `json:"event"`
	Level Level  `json:"level"`
	Node  string `json:"node,omitempty"`
	// Step is the 1-based step number and Steps their count, when the event belongs to a step.
	Step    int    `json:"step,omitempty"`
	Steps   int    `json:"steps,omitempty"`
	Message string `json:"message"`
	// Transient events describe a wait in progress: the spinner shows them in place,
	// the line sink prints one only when it differs from the previous one.
	Transient bool `json:"-"`
	// Data carries the event's details as data (the plan, a step's timings, the summary).
	Data any `json:"data,omitempty"`
}

// Sink receives events. Implementations are safe for concurrent use.
type Sink interface {
	Emit(e Event)
	// Close stops the spinner, if any; later events are dropped.
	Close()
}

// Format selects a sink.
type Format string

const (
	FormatAuto    Format = ""        // spinner on a terminal, lines otherwise
	FormatSpinner Format = "spinner" // always the spinner
	FormatLines   Format = "lines"   // timestamped lines
	FormatJSON    Format = "json"    // JSON lines
	FormatNone    Format = "none"    // nothing
)

// New returns the sink for format: JSON lines go to out, the others to errOut.
func New(format Format, out, errOut io.Writer) Sink {
	switch format {
	case FormatJSON:
		return &jsonSink{w: out}
	case FormatNone:
		return Discard
	case FormatSpinner:
		return newSpinner(errOut)
	case FormatLines:
		return &lineSink{w: errOut}
	}
	if IsTerminal(errOut) {
		return newSpinner(errOut)
	}
	return &lineSink{w: errOut}
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	// A character device is not enough: /dev/null is one too.
	return ok && term.IsTerminal(int(f.Fd()))
}

// Discard drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) {}
func (discard) Close()     {}

// Func adapts a function to a Sink (tests, fan-out).
type Func func(Event)

func (f Func) Emit(e Event) { f(e) }
func (Func) Close()         {}

// Tee sends every event to each sink.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

func (t tee) Emit(e Event) {
	for _, s := range t {
		s.Emit(e)
	}
}
func (t tee) Close() {
	for _, s := range t {
		s.Close()
	}
}

// Line renders an event as one human line without the time stamp, e.g.
// "[2/5] axonserver-2: pod Ready on the new revision" or "WARNING: ...".
func Line(e Event) string {
	var b strings.Builder
	switch e.Level {
	case Warn:
		b.WriteString("WARNING: ")
	case Error:
		b.WriteString("ERROR: ")
	}
	if e.Step > 0 {
		fmt.Fprintf(&b, "[%d/%d] ", e.Step, e.Steps)
	}
	if e.Node != "" {
		b.WriteString(e.Node + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func stamp(e *Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Level == "" {
		e.Level = Info
	}
}

// lineSink prints "15:04:05.000 message" lines.
type lineSink struct {
	mu     sync.Mutex
	w      io.Writer
	last   string
	closed bool
}

func (s *lineSink) Emit(e Event) {
	stamp(&e)
	s.mu.Lock()
	defer s.mu.Unlock()
	line := Line(e)
	if s.closed || (e.Transient && line == s.last) {
		return
	}
	s.last = line
	fmt.Fprintf(s.w, "%s %s\n", e.Time.Format("15:04:05.000"), line)
}

func (s *lineSink) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// jsonSink writes one JSON object per event; transient events only when they change.
type jsonSink struct {
	mu     sync.Mutex
	w      io.Writer
	last   string
	closed bool
}

func (s *jsonSink) Emit(e Event) {
	stamp(&e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if e.Transient {
		key := e.Kind + "\x00" + e.Node + "\x00" + e.Message
		if key == s.last {
			return
		}
		s.last = key
		e.Kind = "waiting"
	}
	b, err := json.Marshal(e)
	if err != nil {
		b, _ = json.Marshal(Event{Time: e.Time, Kind: e.Kind, Level: e.Level, Node: e.Node, Message: e.Message})
	}
	s.w.Write(append(b, '\n'))
}

func (s *jsonSink) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// spinnerSink keeps one spinning line with the current wait and prints lasting
// events above it.
type spinnerSink struct {
	mu     sync.Mutex
	w      io.Writer
	sp     *spinner.Spinner
	closed bool
}

func newSpinner(w io.Writer) *spinnerSink {
	opts := []spinner.Option{spinner.WithWriter(w)}
	if f, ok := w.(*os.File); ok {
		opts = append(opts, spinner.WithWriterFile(f))
	}
	sp := spinner.New(spinner.CharSets[14], 100*time.Millisecond, opts...)
	return &spinnerSink{w: w, sp: sp}
}

func (s *spinnerSink) Emit(e Event) {
	stamp(&e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if e.Transient {
		s.sp.Lock()
		s.sp.Suffix = " " + Line(e)
		s.sp.Unlock()
		s.sp.Start() // no-op when running
		return
	}
	active := s.sp.Active()
	if active {
		s.sp.Stop()
	}
	fmt.Fprintf(s.w, "%s %s\n", e.Time.Format("15:04:05"), Line(e))
	if active {
		s.sp.Start()
	}
}

func (s *spinnerSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.sp.Stop()
	}
}
