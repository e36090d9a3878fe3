package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQuick runs the quick scenarios through every collector (lookout and upstream in all,
// upstream-matched in all but idle; under two minutes): every generated item must
// arrive, and every figure the table shows must have been measured. It checks that the harness
// and the pipelines work; it does not judge speed (make bench does, on a quiet machine).
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three collectors for about two minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var log strings.Builder
	rep, err := Run(ctx, Options{
		Lookout:   lookoutBin,
		Upstream:  upstreamBin,
		Work:      t.TempDir(),
		Scenarios: QuickScenarios(),
		Log:       &log,
	})
	t.Log("\n" + log.String())
	require.NoError(t, err)
	rep.Quick = true
	md := rep.Markdown()
	t.Log("\n" + md)
	for _, f := range rep.Failed() {
		t.Errorf("%s, %s: %v", f.Scenario, f.Collector, f.Err)
	}
	for _, sc := range QuickScenarios() {
		for _, c := range Collectors {
			r, ok := rep.find(sc.Name, c)
			if !runsIn(c, sc.Kind) {
				require.False(t, ok, "%s: %s ran where its config is upstream's", sc.Name, c)
				continue
			}
			require.True(t, ok, "%s, %s: no result", sc.Name, c)
			require.Positive(t, r.PeakRSS, "%s, %s: peak RSS", sc.Name, c)
			require.Positive(t, r.SteadyRSS, "%s, %s: steady RSS", sc.Name, c)
			require.Positive(t, r.Window, "%s, %s: window", sc.Name, c)
			if sc.Kind == KindIdle {
				continue
			}
			require.Positive(t, r.Items, "%s, %s: items", sc.Name, c)
			require.Positive(t, r.CPU, "%s, %s: CPU time", sc.Name, c)
			require.Positive(t, r.WireBytes, "%s, %s: bytes sent", sc.Name, c)
		}
		require.Contains(t, md, "| "+sc.Name+" | lookout")
	}
	r, ok := rep.find(QuickScenarios()[0].Name, "cat")
	require.True(t, ok, "no cat floor")
	require.NoError(t, r.Err)
}
