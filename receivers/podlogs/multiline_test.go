package podlogsreceiver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// joinLines runs lines through the receiver's multiline stage and returns the records emitted.
func joinLines(t testing.TB, mc MultilineConfig, lines []string) []string {
	cfg := createDefaultConfig().(*Config)
	cfg.Multiline = mc
	if cfg.Multiline.MaxLines == 0 {
		cfg.Multiline.MaxLines = 1000
	}
	r, err := newReceiver(receivertest.NewNopSettings(typeStr), cfg, consumertest.NewNop())
	require.NoError(t, err)
	tl := &tailed{key: "/x/ns_pod_uid/c/0.log", name: "/x/ns_pod_uid/c/0.log"}
	var off int64
	for _, l := range lines {
		r.logical(tl, streamStdout, []byte(l), 1, off)
		off += int64(len(l) + 1)
	}
	r.flushPending(tl)
	r.setBodies()
	return bodies(r.batch)
}

func bodies(ld plog.Logs) []string {
	var out []string
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, lrs.At(k).Body().AsString())
			}
		}
	}
	return out
}

var allPresets = MultilineConfig{Presets: []Preset{PresetJava, PresetGo, PresetPython}}

func TestMultilinePresets(t *testing.T) {
	java := []string{
		`Exception in thread "main" java.lang.IllegalStateException: boom`,
		"\tat com.example.App.run(App.java:10)",
		"\tat com.example.App.main(App.java:5)",
		"Caused by: java.io.IOException: disk",
		"\tat com.example.Disk.read(Disk.java:3)",
		"\t... 2 more",
	}
	goPanic := []string{
		"panic: runtime error: index out of range [3] with length 3",
		"",
		"goroutine 1 [running]:",
		"main.f(...)",
		"\t/app/main.go:8",
		"net/http.(*conn).serve(0xc000118000, {0x6f4b60, 0xc00010e000})",
		"\t/usr/local/go/src/net/http/server.go:1995 +0x612",
		"created by net/http.(*Server).Serve in goroutine 1",
		"\t/usr/local/go/src/net/http/server.go:3089 +0x5cb",
		"exit status 2",
	}
	python := []string{
		"ERROR:root:request failed",
		"Traceback (most recent call last):",
		`  File "/app/x.py", line 3, in <module>`,
		"    f()",
		`  File "/app/x.py", line 2, in f`,
		"    raise ValueError('bad')",
		"ValueError: bad",
	}
	tests := []struct {
		name  string
		mc    MultilineConfig
		lines []string
		want  []string
	}{
		{"java", allPresets, concat([]string{"before"}, java, []string{"after"}),
			[]string{"before", strings.Join(java, "\n"), "after"}},
		{"go panic", allPresets, concat([]string{"starting"}, goPanic, []string{"restarted"}),
			[]string{"starting", strings.Join(goPanic, "\n"), "restarted"}},
		{"python", allPresets, concat(python, []string{"next request"}),
			[]string{strings.Join(python, "\n"), "next request"}},
		{"plain lines stay apart", allPresets, []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{"presets off", MultilineConfig{}, java[:2], java[:2]},
		{"java only leaves python alone", MultilineConfig{Presets: []Preset{PresetJava}}, python[:3], python[:3]},
		{"custom continuation", MultilineConfig{Rules: []MultilineRule{{ContinuationPattern: `^\s+\|`}}},
			[]string{"table:", "  | a", "  | b", "done"}, []string{"table:\n  | a\n  | b", "done"}},
		{"custom start", MultilineConfig{Rules: []MultilineRule{{StartPattern: `^\d{4}-`}}},
			[]string{"2024-01-01 one", "more", "and more", "2024-01-02 two"}, []string{"2024-01-01 one\nmore\nand more", "2024-01-02 two"}},
		{"max lines", MultilineConfig{Presets: []Preset{PresetJava}, MaxLines: 2},
			[]string{"E", "\tat a", "\tat b", "\tat c"}, []string{"E\n\tat a", "\tat b\n\tat c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, joinLines(t, tt.mc, tt.lines))
		})
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// FuzzMultiline checks that joining never loses, reorders or invents a line, and respects
// max_lines.
func FuzzMultiline(f *testing.F) {
	f.Add("E: x\n\tat a.b(C.java:1)\n\t... 3 more\nnext")
	f.Add("panic: x\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1\nexit status 2\nok")
	f.Add("Traceback (most recent call last):\n  File \"a\", line 1\nKeyError: 1\n\nDuring handling of the above exception\nTraceback (most recent call last):\nx")
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		mc := allPresets
		mc.MaxLines = 5
		recs := joinLines(t, mc, lines)
		var got []string
		for _, r := range recs {
			parts := strings.Split(r, "\n")
			require.LessOrEqual(t, len(parts), 5)
			got = append(got, parts...)
		}
		want := make([]string, len(lines))
		for i, l := range lines {
			want[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
		require.Equal(t, want, got)
	})
}
