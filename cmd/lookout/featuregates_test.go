package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/featuregate"
)

func gateEnabled(t *testing.T, id string) bool {
	t.Helper()
	found, on := false, false
	featuregate.GlobalRegistry().VisitAll(func(g *featuregate.Gate) {
		if g.ID() == id {
			found, on = true, g.IsEnabled()
		}
	})
	require.True(t, found, "gate %s is not registered", id)
	return on
}

func TestDefaultGatesAreOnAndCanBeTurnedOff(t *testing.T) {
	for _, id := range defaultGates {
		t.Cleanup(func() { _ = featuregate.GlobalRegistry().Set(id, false) })
		cmd := newCommand()
		require.True(t, gateEnabled(t, id), "%s is on by default", id)
		require.NoError(t, cmd.ParseFlags([]string{"--feature-gates=-" + id}))
		require.False(t, gateEnabled(t, id), "--feature-gates=-%s turns it off", id)
	}
}
