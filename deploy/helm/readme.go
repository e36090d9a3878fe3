package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// The chart README's values table sits between these markers.
const (
	valuesBegin = "<!-- values table: generated from values.yaml by `go generate ./deploy/helm`; do not edit -->"
	valuesEnd   = "<!-- end of values table -->"
)

// Value is one key of values.yaml with its description (the `# --` comment above it).
type Value struct {
	Key         string // dotted path, e.g. presets.logs.enabled
	Type        string // string, boolean, integer, number, object, list
	Default     string // the default as JSON; empty for objects that have keys of their own
	Description string
}

// Values reads every key of the chart's values.yaml with its description. A key without a
// `# --` comment is an error naming it: every value is documented.
func Values() ([]Value, error) {
	path := filepath.Join(ChartDir(), "values.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	var values []Value
	var errs []error
	walkValues(doc.Content[0], "", &values, &errs)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", path, errs[i])
	}
	return values, errors.Join(errs...)
}

func walkValues(m *yaml.Node, prefix string, values *[]Value, errs *[]error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		desc := description(k.HeadComment)
		if desc == "" {
			*errs = append(*errs, fmt.Errorf("line %d: %s has no `# --` comment describing it", k.Line, key))
		}
		val := Value{Key: key, Description: desc}
		switch {
		case v.Kind == yaml.MappingNode && len(v.Content) > 0:
			val.Type = "object"
			*values = append(*values, val)
			walkValues(v, key, values, errs)
			continue
		case v.Kind == yaml.MappingNode:
			val.Type = "object"
		case v.Kind == yaml.SequenceNode:
			val.Type = "list"
		default:
			switch v.Tag {
			case "!!bool":
				val.Type = "boolean"
			case "!!int":
				val.Type = "integer"
			case "!!float":
				val.Type = "number"
			default:
				val.Type = "string"
			}
		}
		var decoded any
		if err := v.Decode(&decoded); err != nil {
			*errs = append(*errs, fmt.Errorf("line %d: %s: %w", v.Line, key, err))
			continue
		}
		if decoded == nil && val.Type == "object" {
			decoded = map[string]any{}
		}
		js, err := json.Marshal(decoded)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("line %d: %s: %w", v.Line, key, err))
			continue
		}
		val.Default = string(js)
		*values = append(*values, val)
	}
}

// description returns the text of the last `# --` comment block in a head comment.
func description(head string) string {
	lines := strings.Split(head, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "# --") {
			start = i
		}
	}
	if start < 0 {
		return ""
	}
	var words []string
	for i, l := range lines[start:] {
		l = strings.TrimSpace(l)
		if i == 0 {
			l = strings.TrimPrefix(l, "# --")
		} else {
			l = strings.TrimPrefix(l, "#")
		}
		if l = strings.TrimSpace(l); l != "" {
			words = append(words, l)
		}
	}
	return strings.Join(words, " ")
}

// ValuesTable renders the values as a Markdown table.
func ValuesTable(values []Value) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	for _, v := range values {
		def := ""
		if v.Default != "" {
			def = "`" + strings.ReplaceAll(v.Default, "|", `\|`) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Key, v.Type, def, strings.ReplaceAll(v.Description, "|", `\|`))
	}
	return b.String()
}

// Readme returns the chart's README.md with its values table regenerated from values.yaml.
func Readme() ([]byte, error) {
	path := filepath.Join(ChartDir(), "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	begin := bytes.Index(b, []byte(valuesBegin))
	end := bytes.Index(b, []byte(valuesEnd))
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("%s: the values table markers are missing:\n%s\n...\n%s", path, valuesBegin, valuesEnd)
	}
	values, err := Values()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(b[:begin+len(valuesBegin)])
	out.WriteString("\n\n")
	out.WriteString(ValuesTable(values))
	out.WriteString("\n")
	out.Write(b[end:])
	return out.Bytes(), nil
}
