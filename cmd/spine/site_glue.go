package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spinehq/spine/site"
)

// demoSite builds the evidence site of the demo repository and returns its
// index page.
func (a *app) demoSite(ctx context.Context, root string) (string, error) {
	a.repo = root
	opts, err := a.siteOptions("", "", false)
	if err != nil {
		return "", err
	}
	if _, err := site.Build(ctx, opts); err != nil {
		return "", err
	}
	return filepath.Join(site.OutDir(opts), "index.html"), nil
}

// serveSite serves the site of root until ctx ends.
func (a *app) serveSite(ctx context.Context, root, addr string) error {
	a.repo = root
	return a.serve(ctx, &siteLoader{a: a}, addr)
}

// serve serves the site l loads until ctx ends.
func (a *app) serve(ctx context.Context, l *siteLoader, addr string) error {
	defer l.settle()
	return site.Serve(ctx, site.ServeOptions{
		Addr:   addr,
		Load:   l.load,
		Reload: l.reload,
		Logger: a.logger(),
		Ready: func(addr string) {
			fmt.Fprintf(a.stdout, "serving the evidence site on http://%s/ (Ctrl-C to stop)\n", addr)
		},
	})
}
