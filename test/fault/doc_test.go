package fault

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scenarios returns the name of every scenario at a scale: the rows docs/reliability.md has for
// each signal in that scale's section.
func scenarios(sc scale) []string {
	return []string{
		outageScenario(sc.outage),
		killScenario(sc.outage),
		stormScenario(sc.storm),
		queueFullScenario(),
		overloadScenario(sc.overload),
		diskFullScenario(),
		badInputScenario(),
	}
}

// section returns the text of doc between a section's markers.
func section(t *testing.T, doc, name string) string {
	t.Helper()
	i := strings.Index(doc, beginMarker(name))
	j := strings.Index(doc, endMarker(name))
	require.True(t, i >= 0 && j > i, "docs/reliability.md has no %q ... %q section", beginMarker(name), endMarker(name))
	return doc[i:j]
}

// TestReliabilityDoc checks that docs/reliability.md has, in its ci section, a row for every
// scenario and signal of the CI-sized suite (it does not look at when they were written), and
// that no row there is marked failed; and that the full section exists.
func TestReliabilityDoc(t *testing.T) {
	b, err := os.ReadFile(reliabilityDoc())
	require.NoError(t, err)
	doc := string(b)
	ci := section(t, doc, "ci")
	rows := map[string]bool{}
	for _, l := range strings.Split(ci, "\n") {
		if k := rowKey(l); k != "" {
			rows[k] = true
			require.NotContains(t, l, "**(FAILED)**", "docs/reliability.md records a failed run: %s", l)
		}
	}
	for _, name := range scenarios(ciScale()) {
		for _, s := range allSignals {
			require.True(t, rows[name+"|"+string(s)],
				"docs/reliability.md's ci section has no row for %q, %s: run `LOOKOUT_RELIABILITY_WRITE=1 go test ./test/fault` and commit the doc", name, s)
		}
	}
	section(t, doc, "full")
}
