package lokiexporter

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// referenceEncode is the encoder's grouping and ordering written plainly (a map lookup and a
// fresh metadata slice per record, a stable sort of every stream), as the encoder first did
// it: TestEncoderMatchesReference checks the optimised encoder against it on random batches.
func referenceEncode(e *encoder, ld plog.Logs) map[string]push.PushRequest {
	type refStream struct {
		labels  push.LabelsAdapter
		entries []push.Entry
	}
	byTenant := map[string]map[string]*refStream{}
	names := map[string]string{}
	var stats encodeStats
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		tenant := e.tenantID
		if e.tenantAttr != "" {
			if v, ok := res.Get(e.tenantAttr); ok && v.AsString() != "" {
				tenant = v.AsString()
			}
		}
		streams := byTenant[tenant]
		if streams == nil {
			streams = map[string]*refStream{}
			byTenant[tenant] = streams
		}
		resLabels, resKey := e.labelPairs(res, e.resourceLabels, nil)
		var resMeta push.LabelsAdapter
		if e.metadata {
			resMeta = e.metadataPairs(res, resLabels, e.tenantAttr, names, nil)
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				line, keep := e.line(lr.Body(), &stats)
				if !keep {
					continue
				}
				var recLabels push.LabelsAdapter
				if len(e.recordLabels) > 0 {
					recLabels, _ = e.labelPairs(lr.Attributes(), e.recordLabels, nil)
				}
				level := ""
				if e.level || e.metadata {
					level = severityLevel(lr)
				}
				key := append([]byte(nil), resKey...)
				for _, l := range recLabels {
					key = appendKey(key, l.Name, l.Value)
				}
				if e.level {
					key = appendKey(key, levelLabel, level)
				}
				s := streams[string(key)]
				if s == nil {
					s = &refStream{labels: e.streamLabels(resLabels, recLabels, level)}
					streams[string(key)] = s
				}
				entry := push.Entry{Timestamp: time.Unix(0, e.timestamp(lr)).UTC(), Line: line}
				if e.metadata {
					entry.StructuredMetadata = referenceMetadata(e, lr, resMeta, recLabels, level, names)
				}
				s.entries = append(s.entries, entry)
			}
		}
	}
	out := map[string]push.PushRequest{}
	for tenant, streams := range byTenant {
		var req push.PushRequest
		for _, s := range streams {
			slices.SortStableFunc(s.entries, func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) })
			req.Streams = append(req.Streams, push.Stream{Labels: labelsString(s.labels), Entries: s.entries})
		}
		slices.SortFunc(req.Streams, func(a, b push.Stream) int { return strings.Compare(a.Labels, b.Labels) })
		out[tenant] = req
	}
	return out
}

func referenceMetadata(e *encoder, lr plog.LogRecord, resMeta, recLabels push.LabelsAdapter, level string, names map[string]string) push.LabelsAdapter {
	attrs := lr.Attributes()
	out := append(push.LabelsAdapter(nil), resMeta...)
	if attrs.Len() > 0 {
		out = e.metadataPairs(attrs, recLabels, "", names, out)
		out = dedupeLast(out, len(resMeta))
	}
	if !e.level && level != "" && level != "unknown" {
		out = setPair(out, levelLabel, level)
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		out = setPair(out, traceIDKey, hex.EncodeToString(tid[:]))
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		out = setPair(out, spanIDKey, hex.EncodeToString(sid[:]))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// randomLogs builds a batch with what makes grouping hard: resources sharing streams, records
// out of time order and with equal times, severities, record attributes that repeat or
// override resource ones, trace context on some records, tenants, non-string bodies.
func randomLogs(rng *rand.Rand) plog.Logs {
	ld := plog.NewLogs()
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for range 1 + rng.IntN(12) {
		rl := ld.ResourceLogs().AppendEmpty()
		a := rl.Resource().Attributes()
		a.PutStr("service.name", fmt.Sprintf("svc-%d", rng.IntN(3)))
		a.PutStr("k8s.namespace.name", "shop")
		if rng.IntN(4) > 0 {
			a.PutStr("k8s.container.name", "app")
		}
		a.PutStr("k8s.pod.name", fmt.Sprintf("pod-%d", rng.IntN(6)))
		a.PutInt("k8s.container.restart_count", int64(rng.IntN(3)))
		if rng.IntN(3) == 0 {
			a.PutStr("loki.tenant", fmt.Sprintf("team-%d", rng.IntN(2)))
		}
		for range 1 + rng.IntN(2) {
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			t := base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			for range rng.IntN(60) {
				lr := lrs.AppendEmpty()
				switch rng.IntN(10) {
				case 0:
					t = t.Add(-time.Duration(rng.IntN(500)) * time.Millisecond) // out of order
				case 1: // the same time as the record before
				default:
					t = t.Add(time.Duration(rng.IntN(5)) * time.Millisecond)
				}
				if rng.IntN(20) > 0 {
					lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
				} else {
					lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t))
				}
				if rng.IntN(15) == 0 {
					lr.Body().SetEmptyMap().PutInt("n", int64(rng.IntN(9)))
				} else {
					lr.Body().SetStr(fmt.Sprintf("line %d", rng.IntN(1000)))
				}
				lr.SetSeverityNumber([]plog.SeverityNumber{0, plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError}[rng.IntN(4)])
				if rng.IntN(2) == 0 {
					lr.Attributes().PutStr("log.iostream", []string{"stdout", "stderr"}[rng.IntN(2)])
				}
				if rng.IntN(8) == 0 {
					lr.Attributes().PutStr("k8s.pod.name", "overridden")
				}
				if rng.IntN(3) == 0 {
					var tid pcommon.TraceID
					var sid pcommon.SpanID
					for i := range tid {
						tid[i] = byte(rng.IntN(256))
					}
					for i := range sid {
						sid[i] = byte(1 + rng.IntN(255))
					}
					lr.SetTraceID(tid)
					lr.SetSpanID(sid)
				}
			}
		}
	}
	return ld
}

// TestEncoderMatchesReference checks, on random batches and several configurations, that the
// encoder's push requests decode to exactly what the reference builds, and that the buffer it
// sizes without calling Size() is large enough.
func TestEncoderMatchesReference(t *testing.T) {
	configs := map[string]func(*Config){
		"default":        nil,
		"level metadata": func(c *Config) { c.Labels.Level = false },
		"record labels": func(c *Config) {
			c.Labels.RecordAttributes = []AttributeLabel{{Attribute: "log.iostream", Label: "stream"}}
		},
		"tenants":     func(c *Config) { c.Tenant = TenantConfig{FromAttribute: "loki.tenant", ID: "default"} },
		"no metadata": func(c *Config) { c.StructuredMetadata.Enabled = false },
		"pod label": func(c *Config) {
			c.Labels.ResourceAttributes = append(c.Labels.ResourceAttributes, AttributeLabel{Attribute: "k8s.pod.name", Label: "pod"})
		},
	}
	for name, change := range configs {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			enc := defaultEncoder(t, change)
			for i := range 200 {
				ld := randomLogs(rng)
				want := referenceEncode(enc, ld)
				batches, _ := enc.group(ld)
				require.Len(t, batches, len(want), "batch %d", i)
				for _, tb := range batches {
					ref := want[tb.tenant]
					exact, err := ref.Marshal()
					require.NoError(t, err)
					raw := rawRequest(t, tb)
					if !bytes.Equal(exact, raw) {
						// Tell what differs in the decoded requests, then fail on the bytes.
						require.Equal(t, ref, decode(t, tb), "batch %d, tenant %q", i, tb.tenant)
						require.Equal(t, exact, raw, "batch %d, tenant %q: the body is the library's encoding of the reference", i, tb.tenant)
					}
				}
				enc.release(batches) // the next batch reuses their records, as convert's do
			}
		})
	}
}
