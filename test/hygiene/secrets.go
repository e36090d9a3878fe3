// Package hygiene holds repository-wide checks: no secret in what Lookout ships or renders (the
// demo, the chart and its rendered manifests, the local scripts, the built-in collector configs,
// the alerting files), and debug endpoints (pprof, zpages) bound to loopback only.
package hygiene

import (
	"bufio"
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Finding is one suspected secret.
type Finding struct {
	File string
	Line int
	Rule string
	// Match is the matched text, shortened so that a report does not spread the secret further.
	Match string
	// text is the whole line, for the allowlist.
	text string
}

func (f Finding) String() string {
	return f.File + ":" + strconv.Itoa(f.Line) + ": " + f.Rule + ": " + f.Match
}

// rule finds one kind of secret in a line. value, when set, picks the submatch that holds the
// secret itself; it is then checked against placeholders (a reference such as ${env:X} is not a
// secret).
type rule struct {
	name  string
	re    *regexp.Regexp
	value int
	// anyFile applies the rule to code too; the others look at configuration, scripts and docs,
	// where `password: x` is a literal, not a Go field set from a variable.
	anyFile bool
}

var rules = []rule{
	{name: "private key", re: regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`), anyFile: true},
	{name: "AWS access key ID", re: regexp.MustCompile(`\b((AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})\b`), value: 1, anyFile: true},
	{name: "AWS secret access key", re: regexp.MustCompile(`(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b`), value: 1, anyFile: true},
	// A Slack incoming webhook: T<team>/B<bot>/<token of 24 characters>; short fakes such as
	// T/B/X are not real-looking.
	{name: "Slack webhook URL", re: regexp.MustCompile(`hooks\.slack\.com/(services|workflows|triggers)/T[A-Z0-9]{6,}/[AB][A-Z0-9]{6,}/([A-Za-z0-9]{16,})`), value: 2, anyFile: true},
	{name: "Slack token", re: regexp.MustCompile(`\b(xox[abposr]-[0-9A-Za-z-]{10,})`), value: 1, anyFile: true},
	// A PagerDuty Events v2 routing (integration) key is 32 characters.
	{name: "PagerDuty routing key", re: regexp.MustCompile(`(?i)(routing|integration|service)_key["']?\s*[:=]\s*["']?([0-9a-z]{32})\b`), value: 2, anyFile: true},
	// user:password@ in a URL.
	{name: "password in URL", re: regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'"]+:([^/\s@'"]+)@[^\s'"]`), value: 1, anyFile: true},
	// key: value or key=value where the key names a secret and the value is a literal.
	{name: "literal secret value", re: regexp.MustCompile(`(?i)(^|[\s{,"'-])"?[a-z0-9_.-]*(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?)"?\s*[:=]\s*(.+)$`), value: 3},
}

// placeholder reports whether a value names a secret instead of holding one: a reference
// (${env:X}, ${file:...}, $VAR, a Helm template), a file path, an obvious placeholder, an empty
// or a boolean value.
func placeholder(v string) bool {
	v = strings.TrimSpace(v)
	// Drop a trailing comment and the surrounding quotes or punctuation.
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimRight(v, ",;)}")
	v = strings.Trim(v, `"'`)
	lower := strings.ToLower(v)
	switch {
	case v == "", lower == "true", lower == "false", lower == "null", lower == "~", v == "|", v == ">":
		return true
	case strings.HasPrefix(v, "${"), strings.HasPrefix(v, "$"), strings.Contains(v, "{{"):
		return true
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "file:"):
		return true
	case strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">"):
		return true
	case strings.Trim(lower, "*x.-_") == "", strings.Contains(lower, "redacted"), strings.Contains(lower, "changeme"),
		strings.Contains(lower, "placeholder"), strings.Contains(lower, "example"):
		return true
	case len(v) < 8:
		// Too short to be a real credential (and too short to be worth a finding: "inline",
		// "secret", "k").
		return true
	case !strings.ContainsAny(v, "0123456789") && !strings.ContainsAny(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.ContainsAny(v, " _-.("):
		// Words, an identifier or an expression ("the token", "api_token_file", "cfg.token()"):
		// prose or code, not a credential.
		return true
	}
	return false
}

// codeFile reports whether name is source code, to which only the unambiguous rules apply.
func codeFile(name string) bool {
	switch filepath.Ext(name) {
	case ".go":
		return true
	}
	return false
}

// Scan returns the suspected secrets in content (named name).
func Scan(name string, content []byte) []Finding {
	var out []Finding
	code := codeFile(name)
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		for _, r := range rules {
			if code && !r.anyFile {
				continue
			}
			for _, m := range r.re.FindAllStringSubmatch(line, -1) {
				if r.value > 0 && placeholder(m[r.value]) {
					continue
				}
				out = append(out, Finding{File: name, Line: n, Rule: r.name, Match: shorten(m[0]), text: line})
			}
		}
	}
	return out
}

// shorten keeps the start of a match and hides the rest.
func shorten(s string) string {
	const keep = 24
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "…"
}
