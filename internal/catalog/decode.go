package catalog

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/configlocate"
)

// FieldError is a problem at one place of the catalog file.
type FieldError struct {
	File         string
	Line, Column int
	// Field is the dotted path of the field, e.g. services.orders.slos.availability.
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Field, e.Message)
}

// decoder walks yaml.v3 nodes, so that every error carries the node's position.
type decoder struct {
	file string
	// root is the top mapping: errors about fields of absent sections are reported there.
	root *yaml.Node
	// lines turns yaml.v3's line numbers into the file's.
	lines configlocate.LineMap
	errs  []error
	refs  []teamRef
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	if field == "" {
		field = "catalog"
	}
	e := &FieldError{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n == nil || n.Line == 0 {
		n = d.root
	}
	if n != nil {
		e.Line, e.Column = d.lines.Line(n.Line), n.Column
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) err() error {
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i].(*FieldError), d.errs[j].(*FieldError)
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return errors.Join(d.errs...)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// resolve follows YAML aliases (*name) to their anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// entry is one key of a mapping, in file order.
type entry struct {
	key      string
	keyNode  *yaml.Node
	value    *yaml.Node
	fullPath string
}

// entries returns the keys of a mapping in file order, reporting a non-mapping and duplicate keys.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	n = resolve(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping, got %s", kindName(n))
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain strings")
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, join(path, k.Value), "defined twice (first on line %d)", d.lines.Line(prev.Line))
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{key: k.Value, keyNode: k, value: v, fullPath: join(path, k.Value)})
	}
	return out
}

// fields is a mapping with a fixed set of keys.
type fields struct {
	d    *decoder
	node *yaml.Node
	path string
	m    map[string]entry
}

// fields reads a mapping whose keys must be among known.
func (d *decoder) fields(n *yaml.Node, path string, known ...string) *fields {
	f := &fields{d: d, node: n, path: path, m: map[string]entry{}}
	for _, e := range d.entries(n, path) {
		if !contains(known, e.key) {
			d.fail(e.keyNode, e.fullPath, "unknown field (want one of: %s)", strings.Join(known, ", "))
			continue
		}
		f.m[e.key] = e
	}
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *fields) has(key string) bool {
	e, ok := f.m[key]
	return ok && !(e.value.Kind == yaml.ScalarNode && e.value.Tag == "!!null")
}

func (f *fields) get(key string) (entry, bool) {
	e, ok := f.m[key]
	if !ok || (e.value.Kind == yaml.ScalarNode && e.value.Tag == "!!null") {
		return entry{}, false
	}
	return e, true
}

// where returns the node to report a missing field at: the mapping itself.
func (f *fields) missing(key string) {
	f.d.fail(f.node, join(f.path, key), "is required")
}

func (f *fields) scalar(key string, required bool) (entry, bool) {
	e, ok := f.get(key)
	if !ok {
		if required {
			f.missing(key)
		}
		return entry{}, false
	}
	if e.value.Kind != yaml.ScalarNode {
		f.d.fail(e.value, e.fullPath, "must be a single value, got %s", kindName(e.value))
		return entry{}, false
	}
	return e, true
}

// str reads a string field; def is returned when the field is absent.
func (f *fields) str(key string, required bool, def string) (string, entry) {
	e, ok := f.scalar(key, required)
	if !ok {
		return def, e
	}
	return e.value.Value, e
}

// number reads a float field.
func (f *fields) number(key string, required bool, def float64) (float64, entry, bool) {
	e, ok := f.scalar(key, required)
	if !ok {
		return def, e, false
	}
	v, err := strconv.ParseFloat(e.value.Value, 64)
	if err != nil || e.value.Tag == "!!str" {
		f.d.fail(e.value, e.fullPath, "must be a number, got %q", e.value.Value)
		return def, e, false
	}
	return v, e, true
}

// duration reads a Prometheus duration (5m, 1h, 30d).
func (f *fields) duration(key string, required bool, def model.Duration) (model.Duration, entry, bool) {
	e, ok := f.scalar(key, required)
	if !ok {
		return def, e, false
	}
	d, err := model.ParseDuration(e.value.Value)
	if err != nil || d <= 0 {
		f.d.fail(e.value, e.fullPath, "must be a positive duration such as 5m, 1h or 30d, got %q", e.value.Value)
		return def, e, false
	}
	return d, e, true
}

// ratio reads a number within (0, 1).
func (f *fields) ratio(key string, def float64) float64 {
	v, e, ok := f.number(key, false, def)
	if ok && (v <= 0 || v >= 1) {
		f.d.fail(e.value, e.fullPath, "must be a ratio above 0 and below 1, got %s", e.value.Value)
		return def
	}
	return v
}
