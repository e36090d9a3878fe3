package catalog_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// syntaxErr is how Parse reports YAML it cannot read: "file:line[:column]: invalid YAML: ...".
var syntaxErr = regexp.MustCompile(`^in\.yaml:(\d+)(?::\d+)?: invalid YAML: `)

var catalogID = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// FuzzParse: no catalog file makes Parse panic; a refused one gets errors that each name the
// file, a line within it and the field, and an accepted one holds only well-formed IDs and
// services whose teams exist.
func FuzzParse(f *testing.F) {
	demo, err := os.ReadFile(filepath.Join(lookouttest.RepoRoot(), "demo", "catalog.yaml"))
	require.NoError(f, err)
	for _, s := range []string{string(demo), validHead, "", "version: 1", "[", "\xff", "a: \x01",
		"version: 2\nteams: {}\n", "version: 1\u2028teams: x\u2028y", "&a [*a]", "teams: &t {ops: *t}\n",
		validHead + "  api2:\n    team: nobody\n",
		validHead + "    latency: {threshold: 7ms, objective: 99}\n",
		validHead + "    panels: [{title: t, query: 'rate(x[5m]'}]\n",
		"version: 1\nsettings: {slo: {alerts: [{severity: critical, for: 1m, windows: [{long: 1m, short: 1h, factor: -1}]}]}}\n"} {
		f.Add([]byte(s))
	}
	metrics, err := emitted.Default()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.Parse("in.yaml", data, metrics)
		lines := editorLines(data)
		if err != nil {
			require.Nil(t, c)
			var leaves []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				leaves = j.Unwrap()
			} else {
				leaves = []error{err}
			}
			for _, e := range leaves {
				var fe *catalog.FieldError
				if !errors.As(e, &fe) {
					m := syntaxErr.FindStringSubmatch(e.Error())
					require.NotNil(t, m, "neither a field error nor a YAML error with a line: %v", e)
					l, _ := strconv.Atoi(m[1])
					require.True(t, l >= 1 && l <= lines, "line %d outside the file: %v", l, e)
					continue
				}
				require.Equal(t, "in.yaml", fe.File)
				require.True(t, fe.Line >= 1 && fe.Line <= lines, "line %d outside the file: %v", fe.Line, e)
				require.GreaterOrEqual(t, fe.Column, 1, "%v", e)
				require.NotEmpty(t, fe.Field, "%v", e)
				require.NotEmpty(t, fe.Message, "%v", e)
			}
			return
		}
		require.NotNil(t, c)
		require.NotEmpty(t, c.Teams)
		for _, tm := range c.Teams {
			require.Regexp(t, catalogID, tm.ID)
		}
		for _, s := range c.Services {
			require.Regexp(t, catalogID, s.ID)
			require.NotNil(t, c.TeamByID(s.Team), "service %s: team %q not in the catalog", s.ID, s.Team)
		}
		require.NotNil(t, c.TeamByID(c.Settings.Collector.Team))
		require.NotNil(t, c.TeamByID(c.Settings.Alertmanager.DefaultTeam))
		// Parsing is deterministic.
		again, err := catalog.Parse("in.yaml", data, metrics)
		require.NoError(t, err)
		require.Equal(t, c, again)
	})
}

// editorLines counts lines as editors do: a line ends at "\r\n", "\r" or "\n".
func editorLines(data []byte) int {
	lf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.Count(lf, []byte("\n")) + bytes.Count(lf, []byte("\r")) + 1
}
