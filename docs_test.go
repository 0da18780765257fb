package garo_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// mdLink is a Markdown inline link or image: [text](target) or ![alt](target), with an
// optional "title" after the target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// inlineCode is a code span; links inside one are not links.
var inlineCode = regexp.MustCompile("`[^`]*`")

// TestDocLinks: every relative link in the repository's Markdown files (README.md,
// docs/, agent/README.md, the READMEs next to vendored data) points at a file or folder
// inside the repository, and every #fragment at a heading of the page it names, so that a
// page moved or a section renamed cannot leave a dead link behind. Links to other sites
// are not followed: the tests never leave 127.0.0.0/8.
func TestDocLinks(t *testing.T) {
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			pages = append(pages, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 10 {
		t.Fatalf("found only %d Markdown files under %s: %v", len(pages), root, pages)
	}
	anchors := map[string]map[string]bool{} // page → its heading anchors, read on demand
	anchorsOf := func(page string) map[string]bool {
		if a, ok := anchors[page]; ok {
			return a
		}
		_, headings := readPage(t, page)
		a := map[string]bool{}
		seen := map[string]int{}
		for _, h := range headings {
			slug := headingSlug(h)
			if n := seen[slug]; n > 0 {
				a[slug+"-"+strconv.Itoa(n)] = true
			} else {
				a[slug] = true
			}
			seen[slug]++
		}
		anchors[page] = a
		return a
	}
	checked := 0
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		links, _ := readPage(t, page)
		for _, l := range links {
			target := l.target
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, frag, _ := strings.Cut(target, "#")
			dest := page
			if file != "" {
				dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
				if r, err := filepath.Rel(root, dest); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s:%d: %s leaves the repository", rel, l.line, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: %s: no such file or folder", rel, l.line, target)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[frag] {
				destRel, _ := filepath.Rel(root, dest)
				t.Errorf("%s:%d: %s: %s has no heading with the anchor #%s", rel, l.line, target, destRel, frag)
			}
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d relative links in %d pages: is the link pattern still right?", checked, len(pages))
	}
}

type mdLinkRef struct {
	target string
	line   int
}

// readPage returns the links of a Markdown page and its headings, outside fenced code.
func readPage(t *testing.T, path string) (links []mdLinkRef, headings []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	fenced := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if h := strings.TrimLeft(line, "#"); strings.HasPrefix(h, " ") {
				headings = append(headings, strings.TrimSpace(h))
			}
		}
		for _, m := range mdLink.FindAllStringSubmatch(inlineCode.ReplaceAllString(line, ""), -1) {
			links = append(links, mdLinkRef{target: m[1], line: n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return links, headings
}

// headingSlug is GitHub's anchor for a heading: lower case, code and link markup dropped,
// punctuation other than '-' and '_' removed, spaces turned into '-'.
func headingSlug(h string) string {
	h = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
