// Package configlocate points collector configuration errors at the file and line they come
// from. The collector reports a bad config by component and key path ("receivers::otlp",
// "'protocols.grpc' has invalid keys: bogus") but not by place; this package finds that place in
// the YAML sources the config was merged from.
package configlocate

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	goyaml "github.com/goccy/go-yaml"
	"gopkg.in/yaml.v3"
)

// Source is one YAML document that went into the config, named as the user named it.
type Source struct {
	Name string
	Data []byte
}

// Position is a place in a source.
type Position struct {
	Source string
	Line   int
}

func (p Position) String() string { return p.Source + ":" + strconv.Itoa(p.Line) }

// Error is a config error with the place and the component it is about.
type Error struct {
	Pos       Position
	Component string // "receivers::otlp", or the config path the error names
	Err       error
}

func (e *Error) Error() string {
	msg := tidy(e.Err.Error())
	if strings.Contains(msg, e.Component) {
		return fmt.Sprintf("%s: %s", e.Pos, msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Component, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// CheckYAML returns an error naming the source, line and column of the first syntax error in the
// sources, with the lines around it. The collector's YAML library, which decides, reports the
// line where the enclosing block starts; a second parser is asked only for the position.
func CheckYAML(sources []Source) error {
	for _, s := range sources {
		var n yaml.Node
		err := yaml.Unmarshal(s.Data, &n)
		if err == nil {
			continue
		}
		var v any
		if perr := goyaml.Unmarshal(lineFeeds(s.Data), &v); perr != nil {
			if m := goyamlPos.FindStringSubmatch(perr.Error()); m != nil {
				return fmt.Errorf("%s:%s:%s: invalid YAML: %s", s.Name, m[1], m[2], m[3])
			}
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return fmt.Errorf("%s:%d: invalid YAML: %s", s.Name, NewLineMap(s.Data).Line(n), msg[len(m[0]):])
		}
		// Some errors (invalid UTF-8, control characters, an unsupported %YAML version) come
		// without a place: the first line whose prefix of the source fails the same way is it.
		if line := firstFailingLine(s.Data, err.Error()); line > 0 {
			return fmt.Errorf("%s:%d: invalid YAML: %s", s.Name, line, msg)
		}
		return fmt.Errorf("%s: invalid YAML: %s", s.Name, msg)
	}
	return nil
}

// lineFeeds returns data with YAML's other line breaks ("\r\n", "\r") written "\n", which
// keeps every line and column: goccy/go-yaml counts the "\r\n" after a comment as two lines, and
// so named lines past the right one in files with Windows line ends (found by FuzzCheckYAML).
func lineFeeds(data []byte) []byte {
	if bytes.IndexByte(data, '\r') < 0 {
		return data
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
}

// yamlLine matches yaml.v3 messages that name their line.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// LineMap turns yaml.v3's line numbers into the ones editors, grep -n and the collector's own
// messages use. yaml.v3 (YAML 1.1) also ends a line at NEL, LS and PS (U+0085, U+2028,
// U+2029), which those do not, and places some nodes and errors on the line after the last
// ("---" has its empty document on line 2); without the map such a config gets errors that name
// a line past the one meant, or past the end of the file (found by FuzzCheckYAML and FuzzParse).
type LineMap struct {
	// lines[i] is the editor's line of yaml.v3's line i+1.
	lines []int
}

// NewLineMap maps the lines of data.
func NewLineMap(data []byte) LineMap {
	lines := []int{1}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch r {
		case '\r', '\n':
			if r == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				size = 2
			}
			lines = append(lines, lines[len(lines)-1]+1)
		case '\u0085', '\u2028', '\u2029':
			lines = append(lines, lines[len(lines)-1])
		}
		i += size
	}
	return LineMap{lines}
}

// Line returns the editor's line of yaml.v3's line n (a yaml.Node's Line, or one an error
// names); a line past the end is the last.
func (m LineMap) Line(n int) int {
	if n < 1 || len(m.lines) == 0 {
		return n
	}
	return m.lines[min(n, len(m.lines))-1]
}

// firstFailingLine returns the smallest n such that the first n lines of data fail to parse with
// the message msg, or 0 when none does. Lines end as YAML's do: at "\r\n", "\r" or "\n".
func firstFailingLine(data []byte, msg string) int {
	for n, end := 1, 0; end < len(data); n++ {
		if i := bytes.IndexAny(data[end:], "\r\n"); i >= 0 {
			end += i + 1
			if data[end-1] == '\r' && end < len(data) && data[end] == '\n' {
				end++
			}
		} else {
			end = len(data)
		}
		var node yaml.Node
		if err := yaml.Unmarshal(data[:end], &node); err != nil && err.Error() == msg {
			return n
		}
	}
	return 0
}

// goyamlPos reads "[line:column] message\n<excerpt>" errors.
var goyamlPos = regexp.MustCompile(`(?s)^\[(\d+):(\d+)\] (.*)$`)

// Locate wraps err with the place in sources of the component or key it is about. It returns err
// unchanged when the error names nothing that can be found.
func Locate(err error, sources []Source) error {
	if err == nil {
		return nil
	}
	path := errorPath(err.Error())
	if len(path) == 0 {
		return err
	}
	// Later sources override earlier ones: the last that has the deepest node wins.
	var best Position
	bestDepth := -1
	for _, s := range sources {
		var doc yaml.Node
		if yaml.Unmarshal(s.Data, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		// The component (or the first two path elements) must be there, not just its section.
		if line, depth := find(doc.Content[0], path); depth >= min(2, len(path)) && depth >= bestDepth {
			best, bestDepth = Position{s.Name, NewLineMap(s.Data).Line(line)}, depth
		}
	}
	if bestDepth < 0 {
		return err
	}
	return &Error{Pos: best, Component: strings.Join(path[:min(2, len(path))], "::"), Err: err}
}

var (
	// receivers::otlp::protocols::grpc: ... (component Validate errors, service references)
	colonPath = regexp.MustCompile(`\b((?:receivers|processors|exporters|extensions|connectors|service)(?:::[^\s:'"]+)+):`)
	// 'receivers' unknown type: "nosuch" for id: "nosuch/1"
	unknownType = regexp.MustCompile(`'(receivers|processors|exporters|extensions|connectors)' unknown type: "[^"]*" for id: "([^"]+)"`)
	// 'receivers' error reading configuration for "otlp": ... 'protocols.grpc' ... invalid keys: bogus
	readingConfig = regexp.MustCompile(`'(receivers|processors|exporters|extensions|connectors)' error reading configuration for "([^"]+)"`)
	nestedKey     = regexp.MustCompile(`'([a-z0-9_]+(?:\.[a-z0-9_\[\]]+)*)' `)
	invalidKeys   = regexp.MustCompile(`has invalid keys: ([^\s,]+)`)
	// failed to create "otlp_http" exporter for data type "traces": endpoint must be ...
	failedCreate = regexp.MustCompile(`failed to (?:create|build) "([^"]+)" (receiver|processor|exporter|extension|connector)\b[^:]*: (.*)`)
	// service::pipelines::traces: references receiver "nosuch" which is not configured
	references = regexp.MustCompile(`references (?:receiver|processor|exporter|extension) "([^"]+)"`)
	firstWord  = regexp.MustCompile(`^'?([a-z0-9_]+)'?\b`)
)

// errorPath reads, from a collector error message, the config path it is about.
func errorPath(msg string) []string {
	if m := unknownType.FindStringSubmatch(msg); m != nil {
		return []string{m[1], m[2]}
	}
	if m := readingConfig.FindStringSubmatchIndex(msg); m != nil {
		path := []string{msg[m[2]:m[3]], msg[m[4]:m[5]]}
		rest := msg[m[1]:]
		if k := nestedKey.FindStringSubmatch(rest); k != nil {
			path = append(path, strings.Split(k[1], ".")...)
		}
		if k := invalidKeys.FindStringSubmatch(rest); k != nil {
			path = append(path, k[1])
		}
		return path
	}
	if m := failedCreate.FindStringSubmatch(msg); m != nil {
		path := []string{m[2] + "s", m[1]}
		if w := firstWord.FindStringSubmatch(m[3]); w != nil {
			path = append(path, w[1]) // "endpoint must be a valid URL" is about the endpoint key
		}
		return path
	}
	if m := colonPath.FindStringSubmatch(msg); m != nil {
		path := strings.Split(m[1], "::")
		if r := references.FindStringSubmatch(msg); r != nil {
			path = append(path, "="+r[1]) // the list item that names the missing component
		}
		return path
	}
	return nil
}

// find walks path from n as far as it goes and returns the line of the last key (or list item)
// reached, with the number of path elements matched. A path element "=v" matches a list item
// whose value is v, anywhere below the current node.
func find(n *yaml.Node, path []string) (line, depth int) {
	for _, key := range path {
		var at *yaml.Node
		if v, ok := strings.CutPrefix(key, "="); ok {
			at = findItem(n, v)
			n = at
		} else {
			at, n = lookup(n, key)
		}
		if at == nil {
			break
		}
		line, depth = at.Line, depth+1
	}
	return line, depth
}

// lookup returns the key node and the value node of key in mapping n.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// findItem returns the first list item below n whose value is v.
func findItem(n *yaml.Node, v string) *yaml.Node {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind == yaml.ScalarNode && c.Value == v {
				return c
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if f := findItem(n.Content[i], v); f != nil {
				return f
			}
		}
	}
	return nil
}

// tidy folds the collector's nested "decoding failed due to the following error(s):" framing.
func tidy(msg string) string {
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	return strings.Join(strings.Fields(msg), " ")
}
