package render

import (
	"embed"
	"io/fs"
)

// source is this package's Go source, which writes the HTML of every
// document: see Source.
//
//go:embed *.go
var source embed.FS

// Source returns this package's Go source files, so that a site whose
// pages an older renderer wrote can tell it was another renderer (its
// pages are made again after an upgrade).
func Source() fs.FS { return source }
