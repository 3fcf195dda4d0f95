// Command bare is the practical limit for rendering loop documents: it
// reads every loops/*.md of a repository, drops the frontmatter, renders
// the Markdown with goldmark (the GFM extensions spine's render package
// uses: tables, task lists, strikethrough, linkify) into one html/template
// page per document, and writes an index page listing them. Nothing else:
// no receipts, no cross-links, no highlighting, no search index or feed.
// Documents are rendered in parallel on GOMAXPROCS workers, as spine and
// Hugo do.
//
//	go run ./bench/bare -repo DIR -out DIR
package main

import (
	"bytes"
	"flag"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><main><h1>{{.Title}}</h1>
{{.Body}}
</main></body></html>
`))

var list = template.Must(template.New("list").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Loops</title></head>
<body><main><h1>Loops</h1><ul>
{{range .}}<li><a href="loops/{{.Slug}}/index.html">{{.Title}}</a></li>
{{end}}</ul></main></body></html>
`))

type doc struct {
	Slug, Title string
	Body        template.HTML
}

func main() {
	repo := flag.String("repo", ".", "repository `DIR` holding loops/*.md")
	out := flag.String("out", "bare-public", "output `DIR`")
	hugo := flag.String("hugo-content", "", "instead of rendering, write the documents as Hugo content under `DIR` (frontmatter replaced by a title: generated documents include YAML Hugo rejects)")
	flag.Parse()
	if *hugo != "" {
		if err := hugoContent(*repo, *hugo); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	start := time.Now()
	n, err := build(*repo, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	el := time.Since(start)
	fmt.Printf("bare: %d pages in %s (%.0f pages/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
}

// stripFrontmatter drops a leading ---/--- YAML block.
func stripFrontmatter(src []byte) []byte {
	if !bytes.HasPrefix(src, []byte("---\n")) {
		return src
	}
	if i := bytes.Index(src[4:], []byte("\n---\n")); i >= 0 {
		return src[4+i+5:]
	}
	return src
}

func build(repo, out string) (int, error) {
	paths, err := filepath.Glob(filepath.Join(repo, "loops", "*.md"))
	if err != nil {
		return 0, err
	}
	sort.Strings(paths)
	md := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.TaskList, extension.Strikethrough, extension.Linkify),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	)
	docs := make([]doc, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body, html bytes.Buffer
			for i := range next {
				src, err := os.ReadFile(paths[i])
				if err != nil {
					errs[i] = err
					continue
				}
				slug := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(paths[i]), ".md"), ".scope")
				body.Reset()
				if err := md.Convert(stripFrontmatter(src), &body); err != nil {
					errs[i] = err
					continue
				}
				d := doc{Slug: slug, Title: slug, Body: template.HTML(body.String())}
				html.Reset()
				if err := page.Execute(&html, d); err != nil {
					errs[i] = err
					continue
				}
				dir := filepath.Join(out, "loops", slug)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = os.WriteFile(filepath.Join(dir, "index.html"), html.Bytes(), 0o644)
				d.Body = ""
				docs[i] = d
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	var idx bytes.Buffer
	if err := list.Execute(&idx, docs); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(out, "index.html"), idx.Bytes(), 0o644); err != nil {
		return 0, err
	}
	return len(docs) + 1, nil
}

// hugoContent writes loops/*.md of repo to dir/loops/<slug>.md with a
// title-only frontmatter, and a section index.
func hugoContent(repo, dir string) error {
	paths, err := filepath.Glob(filepath.Join(repo, "loops", "*.md"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "loops"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "loops", "_index.md"), []byte("---\ntitle: Loops\n---\n"), 0o644); err != nil {
		return err
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		slug := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".md"), ".scope")
		b := append([]byte(fmt.Sprintf("---\ntitle: %q\n---\n", slug)), stripFrontmatter(src)...)
		if err := os.WriteFile(filepath.Join(dir, "loops", slug+".md"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
