package vulndb

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLatestFix(t *testing.T) {
	semverRange := func(events ...Event) Range { return Range{Type: "SEMVER", Events: events} }
	intro := func(v string) Event { return Event{Introduced: v} }
	fixed := func(v string) Event { return Event{Fixed: v} }
	tests := []struct {
		name   string
		ranges []Range
		want   string
	}{
		{"one fix", []Range{semverRange(intro("0"), fixed("1.2.3"))}, "1.2.3"},
		{"two branches: the highest fix", []Range{semverRange(intro("0"), fixed("1.20.5"), intro("1.21.0-0"), fixed("1.21.2"))}, "1.21.2"},
		{"compared as semver, not as text", []Range{semverRange(intro("0"), fixed("1.9.0"), intro("1.10.0"), fixed("1.10.1"))}, "1.10.1"},
		{"still open", []Range{semverRange(intro("0"))}, ""},
		{"reopened after the fix", []Range{semverRange(intro("0"), fixed("1.2.0"), intro("1.3.0"))}, ""},
		{"another range introduced above the fix", []Range{semverRange(intro("0"), fixed("1.2.0")), semverRange(intro("2.0.0"))}, ""},
		{"pseudo-versions", []Range{semverRange(intro("0.0.0-20250721152936-fe86ceb2c3fa"), fixed("0.0.0-20260626085133-7cb96ac80a6d"))}, "0.0.0-20260626085133-7cb96ac80a6d"},
		{"not semver: no fix claimed", []Range{semverRange(intro("0"), fixed("not-a-version"))}, ""},
		{"only non-SEMVER ranges", []Range{{Type: "GIT", Events: []Event{fixed("abc")}}}, ""},
		{"no ranges", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, LatestFix(tt.ranges))
		})
	}
}

const entryA = `{"schema_version":"1.3.1","id":"GO-2026-0001","modified":"0001-01-01T00:00:00Z","aliases":["CVE-2026-1"],
"affected":[{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]},
{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.0.1"}]}]},
{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`

const entryB = `{"schema_version":"1.3.1","id":"GO-2026-0002","modified":"2026-10-01T12:00:00Z",
"affected":[{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]}]}`

func TestBuild(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "db")
	require.NoError(t, os.WriteFile(filepath.Join(src, "GO-2026-0001.json"), []byte(entryA), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "GO-2026-0002.json"), []byte(entryB), 0o644))
	date := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)

	st, err := Build(src, dst, date)
	require.NoError(t, err)
	require.Equal(t, Stats{Entries: 2, Modules: 2, Modified: date}, st)

	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dst, p))
		require.NoError(t, err)
		return string(b)
	}
	require.JSONEq(t, `{"modified":"2026-11-05T23:49:57Z"}`, read("index/db.json"))
	// One row per module and entry (entry A lists example.com/a twice), sorted; an unset modified
	// time is the source's date.
	require.JSONEq(t, `[
		{"path":"example.com/a","vulns":[
			{"id":"GO-2026-0001","modified":"2026-11-05T23:49:57Z","fixed":"2.0.1"},
			{"id":"GO-2026-0002","modified":"2026-10-01T12:00:00Z","fixed":"1.1.0"}]},
		{"path":"stdlib","vulns":[{"id":"GO-2026-0001","modified":"2026-11-05T23:49:57Z"}]}]`, read("index/modules.json"))
	require.JSONEq(t, `[
		{"id":"GO-2026-0001","modified":"2026-11-05T23:49:57Z","aliases":["CVE-2026-1"]},
		{"id":"GO-2026-0002","modified":"2026-10-01T12:00:00Z"}]`, read("index/vulns.json"))
	// Entries are copied byte for byte.
	require.Equal(t, entryA, read("ID/GO-2026-0001.json"))
	require.Equal(t, entryB, read("ID/GO-2026-0002.json"))

	// Written whole, never merged into an existing database.
	_, err = Build(src, dst, date)
	require.ErrorContains(t, err, "not empty")
}

func TestBuildRefusesBadEntries(t *testing.T) {
	tests := []struct {
		name, file, content, wantErr string
	}{
		{"not JSON", "GO-2026-0001.json", "{", "GO-2026-0001.json"},
		{"id and file name differ", "GO-2026-0001.json", `{"id":"GO-2026-0009"}`, `entry id "GO-2026-0009" does not match the file name`},
		{"affected without a module", "GO-2026-0001.json", `{"id":"GO-2026-0001","affected":[{"package":{}}]}`, "affected package without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(src, tt.file), []byte(tt.content), 0o644))
			_, err := Build(src, filepath.Join(t.TempDir(), "db"), time.Now())
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err := Build(t.TempDir(), filepath.Join(t.TempDir(), "db"), time.Now())
	require.ErrorContains(t, err, "no OSV entries")
}

// The index's JSON field names are the ones govulncheck reads (golang.org/x/vuln/internal/client).
func TestIndexFieldNames(t *testing.T) {
	b, err := json.Marshal(moduleMeta{Path: "p", Vulns: []moduleVuln{{ID: "i", Fixed: "1"}}})
	require.NoError(t, err)
	require.JSONEq(t, `{"path":"p","vulns":[{"id":"i","modified":"0001-01-01T00:00:00Z","fixed":"1"}]}`, string(b))
}
