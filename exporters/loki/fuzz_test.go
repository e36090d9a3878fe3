package lokiexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
)

// lokiLabelName is Loki's (Prometheus's) label name syntax; names starting with "__" are
// reserved for internal use.
var lokiLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func requireLokiLabelName(t *testing.T, name, from string) {
	t.Helper()
	require.Regexp(t, lokiLabelName, name, "label name from %q", from)
	require.False(t, strings.HasPrefix(name, "__"), "label name %q from %q is reserved", name, from)
}

// FuzzSanitizeLabelName: any attribute key (OTLP keys are arbitrary strings, not always valid
// UTF-8) gives a valid Loki label name or, for the empty key only, "".
func FuzzSanitizeLabelName(f *testing.F) {
	for _, s := range []string{"", "service.name", "k8s.pod.name", "1st", "__reserved", "___x.y", "_", "__",
		"ünïcode", "\xff\xfe", "a\x00b", "日本語", "name__internal", "9", ".", "-_-", "_\xff", "__9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got := sanitizeLabelName(key)
		if key == "" {
			require.Empty(t, got)
			return
		}
		requireLokiLabelName(t, got, key)
		require.True(t, validLabelName(got), "validLabelName disagrees with Loki's syntax on %q", got)
		// Idempotent, and a valid name is kept as is.
		require.Equal(t, got, sanitizeLabelName(got), "sanitizing %q twice", key)
		if validLabelName(key) {
			require.Equal(t, key, got)
		}
		// validLabelName agrees with Loki's syntax on every input, not just on its own output.
		require.Equal(t, lokiLabelName.MatchString(key) && !strings.HasPrefix(key, "__"), validLabelName(key), "validLabelName(%q)", key)
		// One character per rune, plus at most the "_" before a leading digit.
		require.LessOrEqual(t, len(got), utf8.RuneCountInString(key)+1)
	})
}

// FuzzLabelsConfig: a labels configuration either fails Validate with an error naming the labels
// key, or every stream the exporter then builds, from any attribute values, has label names Loki
// accepts, no name twice, and a label set that parses back (as Loki's stream selector does) to
// the same names and values.
func FuzzLabelsConfig(f *testing.F) {
	f.Add("k8s.namespace.name", "", "http.method", "method", true, "default", "GET")
	f.Add("service.name", "service_name", "service.name", "", false, "checkout", "x")
	f.Add("a", "level", "b", "", true, "v", "w")
	f.Add("", "", "x", "__x", false, "", "")
	f.Add("ünï", "", "日本", "", true, "\xff", "\"quoted\"\n")
	f.Add("1.a", "", "_1_a", "", false, "v", "v")
	f.Add("a", "a b", "b", "", false, "\\", "\x00")
	f.Fuzz(func(t *testing.T, resAttr, resLabel, recAttr, recLabel string, level bool, resValue, recValue string) {
		cfg := createDefaultConfig().(*Config)
		cfg.Client.Endpoint = "http://127.0.0.1:1/loki/api/v1/push"
		cfg.Labels.Level = level
		cfg.Labels.ResourceAttributes = []AttributeLabel{{Attribute: resAttr, Label: resLabel}}
		cfg.Labels.RecordAttributes = []AttributeLabel{{Attribute: recAttr, Label: recLabel}}
		if err := cfg.Validate(); err != nil {
			require.Contains(t, err.Error(), "labels::", "a labels error names its key")
			return
		}
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(resAttr, resValue)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr("line")
		lr.Attributes().PutStr(recAttr, recValue)
		lr.SetSeverityText(recValue)

		batches, _ := newEncoder(cfg).group(ld)
		require.Len(t, batches, 1)
		req := decode(t, batches[0])
		require.Len(t, req.Streams, 1)
		require.Len(t, req.Streams[0].Entries, 1, "the record is not lost")
		s := req.Streams[0]
		ls, err := parser.NewParser(parser.Options{}).ParseMetric(s.Labels)
		require.NoError(t, err, "stream labels %s do not parse", s.Labels)
		seen := map[string]bool{}
		want := map[string]string{}
		for _, l := range batches[0].streams {
			for _, p := range l.labels {
				requireLokiLabelName(t, p.Name, s.Labels)
				require.False(t, seen[p.Name], "label %q twice in %s", p.Name, s.Labels)
				seen[p.Name] = true
				require.True(t, utf8.ValidString(p.Value), "label %s has an invalid UTF-8 value", p.Name)
				require.NotEmpty(t, p.Value, "label %s is empty (Loki drops it)", p.Name)
				want[p.Name] = p.Value
			}
		}
		require.Equal(t, want, ls.Map(), "labels %s parse back differently", s.Labels)
	})
}

// FuzzTenant: a tenant comes from a resource attribute, outside input. Every record lands in the
// batch of its tenant (the attribute, or tenant::id when it is absent or empty), and pushing a
// batch either reaches Loki with that tenant in X-Scope-OrgID or fails permanently, naming the
// tenant: a tenant that cannot be sent can never be sent by retrying either.
func FuzzTenant(f *testing.F) {
	for _, s := range []string{"", "team-a", "a b", " lead", "trail\t", "a\nb", "a\r\nX-Injected: 1", "\x00",
		"\x7f", "ü", "\xff", strings.Repeat("t", 200), "a:b", "../.."} {
		f.Add(s)
	}
	var got struct {
		mu      sync.Mutex
		tenants []string
	}
	received := func() []string {
		got.mu.Lock()
		defer got.mu.Unlock()
		out := got.tenants
		got.tenants = nil
		return out
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.mu.Lock()
		got.tenants = append(got.tenants, r.Header.Get(tenantHeader))
		got.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	f.Cleanup(srv.Close)
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = srv.URL + "/loki/api/v1/push"
	cfg.Tenant.FromAttribute = "tenant"
	cfg.Tenant.ID = "fallback"
	require.NoError(f, cfg.Validate())
	exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(f, err)
	require.NoError(f, exp.start(context.Background(), componenttest.NewNopHost()))
	f.Cleanup(func() { require.NoError(f, exp.shutdown(context.Background())) })

	f.Fuzz(func(t *testing.T, tenant string) {
		ld := plog.NewLogs()
		for _, attr := range []*string{&tenant, nil} {
			rl := ld.ResourceLogs().AppendEmpty()
			if attr != nil {
				rl.Resource().Attributes().PutStr("tenant", *attr)
			}
			lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.Body().SetStr("line")
			lr.SetTimestamp(pcommon.Timestamp(1))
		}
		batches, _ := exp.enc.group(ld)
		want := map[string]int{"fallback": 1}
		if tenant != "" {
			want[tenant]++
		} else {
			want["fallback"]++
		}
		have := map[string]int{}
		for _, tb := range batches {
			have[tb.tenant] += tb.entries
		}
		require.Equal(t, want, have, "records per tenant")

		for _, tb := range batches {
			received()
			part := exp.enc.part(tb, nil)
			err = exp.pushTenant(context.Background(), part)
			sent := received()
			if err != nil {
				require.True(t, consumererror.IsPermanent(err), "tenant %q: a retry cannot fix %v", tb.tenant, err)
				require.Contains(t, err.Error(), "tenant", "the error names the tenant")
				require.Empty(t, sent, "a failed push reached Loki")
				continue
			}
			require.Len(t, sent, 1)
			// HTTP strips a header value's leading and trailing blanks; nothing else may change.
			require.Equal(t, strings.Trim(tb.tenant, " \t"), sent[0], "X-Scope-OrgID sent for tenant %q", tb.tenant)
		}
	})
}
