package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
)

// lokiRecorder sits between the agent and the log store: it passes every push on to VictoriaLogs
// unchanged (the store answers the agent) and keeps a decoded copy of the last entries of each
// stream, so that the test sees what the agent sends in Loki's terms — which attributes are
// stream labels and which are structured metadata. VictoriaLogs cannot say: it turns both into
// plain fields, and parses the JSON line into more fields besides.
type lokiRecorder struct {
	target string // the store's base URL, http://host:port
	addr   string
	srv    *http.Server

	mu      sync.Mutex
	streams map[string]*recordedStream // by the stream's label string
	pushes  int
	bad     []string // pushes the recorder could not decode (forwarded all the same)
}

type recordedStream struct {
	labels  map[string]string
	total   int
	entries []recordedEntry // the last keepEntries
}

type recordedEntry struct {
	line     string
	metadata map[string]string
}

const keepEntries = 300

func startLokiRecorder(t *testing.T, target string) *lokiRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &lokiRecorder{target: strings.TrimSuffix(target, "/"), addr: l.Addr().String(), streams: map[string]*recordedStream{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
	})
	return r
}

var forwardClient = &http.Client{Timeout: 30 * time.Second}

func (r *lokiRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.record(req.Header.Get("Content-Type"), req.Header.Get("Content-Encoding"), body)

	fwd, err := http.NewRequestWithContext(req.Context(), req.Method, r.target+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, h := range []string{"Content-Type", "Content-Encoding", "X-Scope-OrgID", "User-Agent"} {
		if v := req.Header.Get(h); v != "" {
			fwd.Header.Set(h, v)
		}
	}
	res, err := forwardClient.Do(fwd)
	if err != nil {
		http.Error(w, "log store: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After"} {
		if v := res.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// record decodes a push (protobuf+snappy or JSON, as the exporter's format setting says).
func (r *lokiRecorder) record(contentType, encoding string, body []byte) {
	var req push.PushRequest
	var err error
	switch {
	case encoding != "":
		err = fmt.Errorf("content encoding %q: the recorder decodes plain bodies only", encoding)
	case strings.HasPrefix(contentType, "application/x-protobuf"):
		var raw []byte
		if raw, err = snappy.Decode(nil, body); err == nil {
			err = req.Unmarshal(raw)
		}
	case strings.HasPrefix(contentType, "application/json"):
		req, err = decodeJSONPush(body)
	default:
		err = fmt.Errorf("content type %q", contentType)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushes++
	if err != nil {
		r.bad = append(r.bad, err.Error())
		return
	}
	for _, st := range req.Streams {
		rs := r.streams[st.Labels]
		if rs == nil {
			rs = &recordedStream{labels: streamLabels(st.Labels)}
			r.streams[st.Labels] = rs
		}
		for _, e := range st.Entries {
			md := make(map[string]string, len(e.StructuredMetadata))
			for _, l := range e.StructuredMetadata {
				md[l.Name] = l.Value
			}
			rs.total++
			rs.entries = append(rs.entries, recordedEntry{line: e.Line, metadata: md})
		}
		if n := len(rs.entries); n > keepEntries {
			rs.entries = slices.Clone(rs.entries[n-keepEntries:])
		}
	}
}

// decodeJSONPush reads Loki's JSON push body: {"streams":[{"stream":{...},"values":[["ns","line",{metadata}]]}]}.
func decodeJSONPush(b []byte) (push.PushRequest, error) {
	var in struct {
		Streams []struct {
			Stream map[string]string   `json:"stream"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return push.PushRequest{}, err
	}
	var out push.PushRequest
	for _, s := range in.Streams {
		keys := make([]string, 0, len(s.Stream))
		for k := range s.Stream {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+strconv.Quote(s.Stream[k]))
		}
		st := push.Stream{Labels: "{" + strings.Join(parts, ", ") + "}"}
		for _, v := range s.Values {
			if len(v) < 2 {
				return push.PushRequest{}, fmt.Errorf("stream %s: a value with %d elements", st.Labels, len(v))
			}
			var e push.Entry
			if err := json.Unmarshal(v[1], &e.Line); err != nil {
				return push.PushRequest{}, fmt.Errorf("stream %s: line: %w", st.Labels, err)
			}
			if len(v) > 2 {
				var md map[string]string
				if err := json.Unmarshal(v[2], &md); err != nil {
					return push.PushRequest{}, fmt.Errorf("stream %s: structured metadata: %w", st.Labels, err)
				}
				for k, val := range md {
					e.StructuredMetadata = append(e.StructuredMetadata, push.LabelAdapter{Name: k, Value: val})
				}
			}
			st.Entries = append(st.Entries, e)
		}
		out.Streams = append(out.Streams, st)
	}
	return out, nil
}

// snapshot returns a copy of what was recorded.
func (r *lokiRecorder) snapshot() (streams []recordedStream, pushes int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.streams {
		streams = append(streams, recordedStream{labels: s.labels, total: s.total, entries: slices.Clone(s.entries)})
	}
	return streams, r.pushes, slices.Clone(r.bad)
}

// logQuery is the part of a LogQL query that the dashboards use: a stream selector, label
// filters (on stream labels or structured metadata; no parser stage) and line_format. It is not a
// LogQL implementation (Loki is AGPL and not run here): just enough to check each query's
// shape against what the agent sends, and to fail, naming the stage, when a dashboard starts
// using something else.
type logQuery struct {
	selector []labelMatcher
	filters  []labelMatcher
	// formatFields are the fields line_format templates read ({{.name}}).
	formatFields []string
}

type labelMatcher struct {
	name, op, value string
}

var (
	matcherRE     = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*$`)
	lineFormatRE  = regexp.MustCompile(`^line_format\s+("(?:[^"\\]|\\.)*"|` + "`[^`]*`" + `)$`)
	templateField = regexp.MustCompile(`\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)
)

func parseLogQuery(q string) (logQuery, error) {
	var out logQuery
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "{") {
		return out, fmt.Errorf("log query %q: does not start with a stream selector", q)
	}
	end := indexUnquoted(q, '}')
	if end < 0 {
		return out, fmt.Errorf("log query %q: the stream selector has no closing }", q)
	}
	sel, rest := q[1:end], strings.TrimSpace(q[end+1:])
	for _, m := range splitUnquoted(sel, ',') {
		lm, err := parseMatcher(m)
		if err != nil {
			return out, fmt.Errorf("log query %q: stream selector: %w", q, err)
		}
		out.selector = append(out.selector, lm)
	}
	if len(out.selector) == 0 {
		return out, fmt.Errorf("log query %q: empty stream selector", q)
	}
	if rest == "" {
		return out, nil
	}
	if !strings.HasPrefix(rest, "|") {
		return out, fmt.Errorf("log query %q: %q after the selector is not a pipeline", q, rest)
	}
	for _, stage := range splitUnquoted(rest[1:], '|') {
		stage = strings.TrimSpace(stage)
		if m := lineFormatRE.FindStringSubmatch(stage); m != nil {
			tmpl, err := unquoteLogQL(m[1])
			if err != nil {
				return out, fmt.Errorf("log query %q: line_format: %w", q, err)
			}
			for _, f := range templateField.FindAllStringSubmatch(tmpl, -1) {
				out.formatFields = append(out.formatFields, f[1])
			}
			continue
		}
		lm, err := parseMatcher(stage)
		if err != nil {
			return out, fmt.Errorf("log query %q: stage %q: the test knows label filters and line_format only (a line filter |= or a parser stage needs teaching it): %w", q, stage, err)
		}
		out.filters = append(out.filters, lm)
	}
	return out, nil
}

func parseMatcher(s string) (labelMatcher, error) {
	m := matcherRE.FindStringSubmatch(s)
	if m == nil {
		return labelMatcher{}, fmt.Errorf("%q is not name op \"value\"", strings.TrimSpace(s))
	}
	v, err := unquoteLogQL(m[3])
	if err != nil {
		return labelMatcher{}, err
	}
	return labelMatcher{name: m[1], op: m[2], value: v}, nil
}

func unquoteLogQL(s string) (string, error) {
	if strings.HasPrefix(s, "`") {
		return strings.Trim(s, "`"), nil
	}
	v, err := strconv.Unquote(s)
	if err != nil {
		return "", fmt.Errorf("bad string %s: %w", s, err)
	}
	return v, nil
}

// splitUnquoted splits s at sep outside double-quoted and backquoted strings; a blank last
// part is left out.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	for {
		i := indexUnquoted(s, sep)
		if i < 0 {
			break
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
	if strings.TrimSpace(s) != "" {
		out = append(out, s)
	}
	return out
}

// indexUnquoted returns the index of the first sep outside double-quoted and backquoted
// strings, or -1.
func indexUnquoted(s string, sep byte) int {
	inQ, inB := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQ && c == '\\':
			i++
		case c == '"' && !inB:
			inQ = !inQ
		case c == '`' && !inQ:
			inB = !inB
		case c == sep && !inQ && !inB:
			return i
		}
	}
	return -1
}

func (m labelMatcher) matches(v string) (bool, error) {
	switch m.op {
	case "=":
		return v == m.value, nil
	case "!=":
		return v != m.value, nil
	}
	re, err := regexp.Compile("^(?:" + m.value + ")$")
	if err != nil {
		return false, fmt.Errorf("%s%s%q: %w", m.name, m.op, m.value, err)
	}
	return re.MatchString(v) == (m.op == "=~"), nil
}

func (m labelMatcher) String() string { return m.name + m.op + strconv.Quote(m.value) }

// logQueryReport is what a log query selects among the recorded entries.
type logQueryReport struct {
	streams, entries int // selected by the stream selector
	selected         int // entries left after the label filters
	// missing are filter and line_format fields that no selected entry has, as stream label
	// or structured metadata.
	missing []string
	// notLabels are selector names that are not stream labels of any recorded stream (e.g.
	// structured metadata: Loki refuses to select streams on those).
	notLabels []string
}

func evalLogQuery(q logQuery, streams []recordedStream) (logQueryReport, error) {
	var rep logQueryReport
	labelNames := map[string]bool{}
	for _, s := range streams {
		for k := range s.labels {
			labelNames[k] = true
		}
	}
	for _, m := range q.selector {
		if !labelNames[m.name] {
			rep.notLabels = append(rep.notLabels, m.name)
		}
	}
	seen := map[string]bool{}
	for _, s := range streams {
		ok := true
		for _, m := range q.selector {
			hit, err := m.matches(s.labels[m.name])
			if err != nil {
				return rep, err
			}
			ok = ok && hit
		}
		if !ok {
			continue
		}
		rep.streams++
		for _, e := range s.entries {
			rep.entries++
			field := func(name string) (string, bool) {
				if v, ok := e.metadata[name]; ok {
					return v, true
				}
				v, ok := s.labels[name]
				return v, ok
			}
			for _, m := range q.filters {
				if v, ok := field(m.name); ok && v != "" {
					seen[m.name] = true
				}
			}
			for _, f := range q.formatFields {
				if v, ok := field(f); ok && v != "" {
					seen[f] = true
				}
			}
			keep := true
			for _, m := range q.filters {
				v, _ := field(m.name)
				hit, err := m.matches(v)
				if err != nil {
					return rep, err
				}
				keep = keep && hit
			}
			if keep {
				rep.selected++
			}
		}
	}
	for _, m := range q.filters {
		if !seen[m.name] && !slices.Contains(rep.missing, m.name) {
			rep.missing = append(rep.missing, m.name)
		}
	}
	for _, f := range q.formatFields {
		if !seen[f] && !slices.Contains(rep.missing, f) {
			rep.missing = append(rep.missing, f)
		}
	}
	return rep, nil
}

// logsQLSelector writes a LogQL stream selector in LogsQL, whose stream filter has the same
// syntax: VictoriaLogs keeps Loki's stream labels as its stream fields.
func logsQLSelector(sel []labelMatcher) string {
	parts := make([]string, len(sel))
	for i, m := range sel {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// metadataOnly reports whether name is structured metadata (and never a stream label) in the
// recorded streams.
func metadataOnly(streams []recordedStream, name string) error {
	inMeta := false
	for _, s := range streams {
		if _, ok := s.labels[name]; ok {
			return fmt.Errorf("%s is a stream label of %v", name, s.labels)
		}
		for _, e := range s.entries {
			if _, ok := e.metadata[name]; ok {
				inMeta = true
				break
			}
		}
	}
	if !inMeta {
		return errors.New(name + " is in no entry's structured metadata")
	}
	return nil
}
