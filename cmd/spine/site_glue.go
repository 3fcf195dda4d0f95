package main

import (
	"context"
	"path/filepath"
)

// demoSite builds the evidence site of the demo repository and returns its
// index page. It is replaced by the site package's builder.
func (a *app) demoSite(ctx context.Context, root string) (string, error) {
	return filepath.Join(root, "public", "index.html"), nil
}

// serveSite serves the site of root until ctx ends.
func (a *app) serveSite(ctx context.Context, root, addr string) error {
	<-ctx.Done()
	return nil
}
