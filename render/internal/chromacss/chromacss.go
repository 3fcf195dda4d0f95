// Package chromacss makes the style sheet of highlighted code from chroma's
// styles. Only the generator (go generate in package render) and the tests
// import it, so chroma is not linked into spine: its package initialisation
// (every lexer and style registered) took half of spine's process start.
package chromacss

import (
	"fmt"
	"strings"

	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/styles"
)

// CSS returns the style sheet for code highlighted with chroma's CSS
// classes: the style light, and the style dark inside a
// prefers-color-scheme: dark media query.
func CSS(light, dark string) (string, error) {
	f := chromahtml.New(chromahtml.WithClasses(true))
	var b strings.Builder
	if err := f.WriteCSS(&b, styles.Get(light)); err != nil {
		return "", fmt.Errorf("chroma css %s: %w", light, err)
	}
	b.WriteString("@media (prefers-color-scheme: dark) {\n")
	if err := f.WriteCSS(&b, styles.Get(dark)); err != nil {
		return "", fmt.Errorf("chroma css %s: %w", dark, err)
	}
	b.WriteString("}\n")
	return b.String(), nil
}
