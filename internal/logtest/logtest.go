// Package logtest helps tests watch what a component logs: a slog handler
// that passes records on to a channel, and attribute lookup on a record.
package logtest

import (
	"context"
	"log/slog"
)

// Sink is a slog.Handler that passes every record on to Ch, dropping a
// record when Ch is full (a logger must never block the code under test).
type Sink struct{ Ch chan slog.Record }

// NewSink returns a Sink with a channel of n records.
func NewSink(n int) Sink { return Sink{Ch: make(chan slog.Record, n)} }

// Enabled reports that every level is passed on.
func (h Sink) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs returns h: the records carry their own attributes only.
func (h Sink) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup returns h.
func (h Sink) WithGroup(string) slog.Handler { return h }

// Handle passes a copy of r on, unless the channel is full.
func (h Sink) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.Ch <- r.Clone():
	default:
	}
	return nil
}

// Attr returns the value of r's attribute key, or the zero Value.
func Attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}
