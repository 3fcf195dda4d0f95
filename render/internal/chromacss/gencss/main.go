// Command gencss writes the style sheet of highlighted code (package
// render's chroma.css) from chroma's styles:
//
//	go run ./internal/chromacss/gencss -light github -dark github-dark -o chroma.css
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spinehq/spine/render/internal/chromacss"
)

func main() {
	light := flag.String("light", "github", "chroma `style` of the light colour scheme")
	dark := flag.String("dark", "github-dark", "chroma `style` of the dark colour scheme")
	out := flag.String("o", "chroma.css", "output `file`")
	flag.Parse()
	css, err := chromacss.CSS(*light, *dark)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencss:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(css), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gencss:", err)
		os.Exit(1)
	}
}
