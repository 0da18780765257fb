package garoctl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// readDocs reads the policy documents of path: "-" is standard input, a file holds one
// or more YAML documents (separated by ---), a directory is walked recursively for
// *.yaml, *.yml and *.json files in lexical order. Two documents naming the same policy
// are an error, as are empty inputs.
func readDocs(cmd *cobra.Command, path string) ([]policyDoc, error) {
	var docs []policyDoc
	add := func(src string, b []byte) error {
		ds, err := splitDocs(src, b)
		if err != nil {
			return err
		}
		docs = append(docs, ds...)
		return nil
	}
	switch fi, err := os.Stat(path); {
	case path == "-":
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, configError{fmt.Errorf("read standard input: %w", err)}
		}
		if err := add("<stdin>", b); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, configError{fmt.Errorf("read %s: %w", path, err)}
	case fi.IsDir():
		files, err := policyFiles(path)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, configError{fmt.Errorf("read %s: %w", f, err)}
			}
			if err := add(f, b); err != nil {
				return nil, err
			}
		}
	default:
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, configError{fmt.Errorf("read %s: %w", path, err)}
		}
		if err := add(path, b); err != nil {
			return nil, err
		}
	}
	if len(docs) == 0 {
		return nil, usageError{fmt.Errorf("%s holds no policy document", path)}
	}
	seen := map[string]bool{}
	for _, d := range docs {
		if seen[d.key()] {
			return nil, usageError{fmt.Errorf("policy %s is named twice in %s", d.key(), path)}
		}
		seen[d.key()] = true
	}
	return docs, nil
}

// policyFiles lists the YAML and JSON files under dir, sorted.
func policyFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, configError{fmt.Errorf("walk %s: %w", dir, err)}
	}
	sort.Strings(files)
	return files, nil
}

// splitDocs parses every YAML document of b; empty documents (a trailing ---) are skipped.
func splitDocs(src string, b []byte) ([]policyDoc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []policyDoc
	for i := 1; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: document %d: not YAML: %w", src, i, err)}
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue
		}
		raw, err := yaml.Marshal(&n)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: document %d: %w", src, i, err)}
		}
		d, err := parsePolicyDoc(fmt.Sprintf("%s (document %d)", src, i), raw)
		if err != nil {
			return nil, usageError{err}
		}
		docs = append(docs, d)
	}
}
