// Package servetest runs `spine site serve`'s server (site.Serve) for the
// length of a test, for the tests of site and cmd/spine that change a
// repository under a running server and watch what it logs.
package servetest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/spinehq/spine/internal/logtest"
	"github.com/spinehq/spine/site"
)

// Start runs site.Serve with so until the test ends (its error, if any,
// fails the test then), on a free port of 127.0.0.1 and with a logger of
// its own, waits until the first build is served, and returns the
// records Serve logs.
func Start(t testing.TB, so site.ServeOptions) chan slog.Record {
	t.Helper()
	logs := make(chan slog.Record, 256)
	so.Addr = "127.0.0.1:0"
	so.Logger = slog.New(logtest.Sink{Ch: logs})
	ready := make(chan struct{})
	so.Ready = func(string) { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- site.Serve(ctx, so) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		// Cleanup must not wait for a Serve that has returned.
		done <- err
		t.Fatalf("serve: %v", err)
	}
	return logs
}
