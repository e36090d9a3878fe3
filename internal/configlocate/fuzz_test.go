package configlocate

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// yamlErrPos reads the place CheckYAML names: "name:line[:column]: invalid YAML: ...".
var yamlErrPos = regexp.MustCompile(`^in\.yaml:(\d+)(?::\d+)?: invalid YAML: `)

// FuzzCheckYAML: CheckYAML fails exactly when the collector's YAML library does, and then names
// the source and a line within it.
func FuzzCheckYAML(f *testing.F) {
	for _, s := range []string{base, overlay, "", "a: b\n\tc: d", "a:\n  b: [1,\n", "version: 1\nteams: *x\n",
		"\xff", "a: \x01", "a: 1\nb: \"x\x7f\"\n", "k: \u0085", "a: \"\xed\xa0\x80\"", "\ufeffa: 1", "? [a]\n: b",
		"a: &x 1\nb: *x\n", "%YAML 1.3\n---\na: 1", "- ]", "a: |\n  x\n y"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var n yaml.Node
		want := yaml.Unmarshal(data, &n)
		err := CheckYAML([]Source{{Name: "in.yaml", Data: data}})
		if want == nil {
			require.NoError(t, err)
			return
		}
		require.Error(t, err)
		m := yamlErrPos.FindStringSubmatch(err.Error())
		require.NotNil(t, m, "the error names the source and a place: %v", err)
		l, convErr := strconv.Atoi(m[1])
		require.NoError(t, convErr)
		require.GreaterOrEqual(t, l, 1, "%v", err)
		require.LessOrEqual(t, l, editorLines(data), "line past the end of the source: %v", err)
	})
}

// componentKey is a key colonPath can name: no blanks, colons or quotes.
var componentKey = regexp.MustCompile(`^[^\s:'"]+$`)

// FuzzLocate: for any YAML source, an error about "<section>::<component>" is located at the
// line of that component's key when the source has it (the first such key, as the collector's
// decoder takes it), and any error Locate returns still wraps the original.
func FuzzLocate(f *testing.F) {
	f.Add([]byte(base), "")
	f.Add([]byte(overlay), "failed to build pipelines: failed to create \"otlp_http/loki\" exporter for data type \"traces\": endpoint must be a valid URL")
	f.Add([]byte("receivers:\n  a: {}\n  a: {}\n"), "receivers::a: x")
	f.Add([]byte("receivers: &r\n  x: 1\nexporters: *r\n"), "exporters::x: y")
	f.Add([]byte("service:\n  pipelines:\n    logs:\n      receivers: [x]\n"), "service::pipelines::logs: references receiver \"x\" which is not configured")
	f.Add([]byte("processors:\n  1: {}\n  <<: {b: 1}\n"), "'processors' error reading configuration for \"1\": 'a.b[0]' has invalid keys: c")
	f.Fuzz(func(t *testing.T, data []byte, msg string) {
		sources := []Source{{Name: "in.yaml", Data: data}}
		orig := errors.New(msg)
		got := Locate(orig, sources)
		require.ErrorIs(t, got, orig, "Locate lost the original error")
		lines := editorLines(data)
		var le *Error
		if errors.As(got, &le) {
			require.Equal(t, "in.yaml", le.Pos.Source)
			require.GreaterOrEqual(t, le.Pos.Line, 1)
			require.LessOrEqual(t, le.Pos.Line, lines)
			require.NotEmpty(t, le.Error())
		}

		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return
		}
		top := doc.Content[0]
		for _, section := range []string{"receivers", "processors", "exporters", "extensions", "connectors"} {
			_, sec := lookup(top, section)
			if sec == nil || sec.Kind != yaml.MappingNode || len(sec.Content) < 2 {
				continue
			}
			key := sec.Content[0]
			if key.Kind != yaml.ScalarNode || !componentKey.MatchString(key.Value) {
				continue
			}
			// The first key with this name is the one lookup (and this test) takes.
			want := NewLineMap(data).Line(key.Line)
			err := Locate(errors.New(section+"::"+key.Value+": invalid"), sources)
			require.ErrorAs(t, err, &le, "%s::%s is in the source (line %d) but was not located", section, key.Value, want)
			require.Equal(t, want, le.Pos.Line, "%s::%s", section, key.Value)
			require.Equal(t, section+"::"+key.Value, le.Component)
		}
	})
}

// TestCheckYAMLPlaceless: errors yaml.v3 reports without a line get the line that causes them.
func TestCheckYAMLPlaceless(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"control character", "a: 1\nb: \"x\x7f\"\nc: 2\n", "in.yaml:2: invalid YAML: control characters are not allowed"},
		{"invalid UTF-8", "a: 1\nb: 2\nc: \xff\n", "in.yaml:3: invalid YAML: invalid leading UTF-8 octet"},
		{"unsupported version", "%YAML 1.3\n---\na: 1\n", "in.yaml:1: invalid YAML: found incompatible YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, CheckYAML([]Source{{Name: "in.yaml", Data: []byte(tt.data)}}), tt.want)
		})
	}
}

// TestLineMap: lines broken by NEL, LS or PS, which yaml.v3 counts and editors do not, are
// named by the editor's line.
func TestLineMap(t *testing.T) {
	data := []byte("a: 1\u2028b: 2\nc: 3\r\nd\u0085e\rf\u2029g")
	m := NewLineMap(data)
	for yamlLine, want := range []int{0, 1, 1, 2, 3, 3, 4, 4, 4} {
		require.Equal(t, want, m.Line(yamlLine), "yaml.v3's line %d", yamlLine)
	}
	require.Equal(t, 2, NewLineMap([]byte("a\nb")).Line(7), "a line past the end is the last")
	require.Equal(t, 2, NewLineMap([]byte("a\nb")).Line(2))

	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("receivers:\n  a: {}\u2028  b: {}\n"), &n))
	require.Equal(t, 3, n.Content[0].Content[1].Content[2].Line, "yaml.v3 counts LS as a line break")
	err := Locate(errors.New("receivers::b: bad"), []Source{{Name: "in.yaml", Data: []byte("receivers:\n  a: {}\u2028  b: {}\n")}})
	require.EqualError(t, err, "in.yaml:2: receivers::b: bad")
	require.EqualError(t, CheckYAML([]Source{{Name: "in.yaml", Data: []byte("a: b\u2028c")}}),
		"in.yaml:1: invalid YAML: could not find expected ':'")
}

// editorLines counts lines as editors do: a line ends at "\r\n", "\r" or "\n".
func editorLines(data []byte) int {
	lf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.Count(lf, []byte("\n")) + bytes.Count(lf, []byte("\r")) + 1
}

func TestFirstFailingLineLineBreaks(t *testing.T) {
	for _, brk := range []string{"\n", "\r\n", "\r"} {
		data := []byte("a: 1" + brk + "b: 2" + brk + "c: \x01" + brk)
		require.Equal(t, 3, editorLines(data)-1, "%q", brk)
		var n yaml.Node
		err := yaml.Unmarshal(data, &n)
		require.Error(t, err)
		require.Equal(t, 3, firstFailingLine(data, err.Error()), "line breaks %q", brk)
	}
}
