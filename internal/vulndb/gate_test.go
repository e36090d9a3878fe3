package vulndb

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scan is govulncheck -format json output, shortened: a called stdlib vulnerability, the same one
// found again, one only imported, and one called in a module.
const scan = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck"}}
{"progress":{"message":"Scanning your code..."}}
{"finding":{"osv":"GO-2026-6603","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http"}]}}
{"finding":{"osv":"GO-2026-6603","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Serve","receiver":"*Server"},{"module":"example.com/m","package":"example.com/m/cmd","function":"main"}]}}
{"finding":{"osv":"GO-2026-6603","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Get"}]}}
{"finding":{"osv":"GO-2022-0635","trace":[{"module":"github.com/aws/aws-sdk-go","version":"v1.55.0","package":"github.com/aws/aws-sdk-go/service/s3/s3crypto"}]}}
{"finding":{"osv":"GO-2026-5932","fixed_version":"v0.45.0","trace":[{"module":"golang.org/x/crypto","version":"v0.44.0","package":"golang.org/x/crypto/ssh","function":"Dial"},{"module":"example.com/m","package":"example.com/m/x","function":"connect"}]}}
`

func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	tests := []struct {
		name                       string
		accepted                   []Accepted
		failing, excused, staleIDs []string
	}{
		{name: "nothing accepted", failing: []string{"GO-2026-5932", "GO-2026-6603"}},
		{name: "stdlib accepted", accepted: []Accepted{{ID: "GO-2026-6603", Until: day("2026-12-31"), Reason: "toolchain"}},
			failing: []string{"GO-2026-5932"}, excused: []string{"GO-2026-6603"}},
		{name: "accepted through its last day", accepted: []Accepted{{ID: "GO-2026-6603", Until: day("2026-11-25")}, {ID: "GO-2026-5932", Until: day("2026-11-25")}},
			excused: []string{"GO-2026-5932", "GO-2026-6603"}},
		{name: "expired", accepted: []Accepted{{ID: "GO-2026-6603", Until: day("2026-11-24")}},
			failing: []string{"GO-2026-5932", "GO-2026-6603"}},
		{name: "stale entry", accepted: []Accepted{{ID: "GO-2026-0001", Until: day("2026-12-31")}, {ID: "GO-2022-0635", Until: day("2026-12-31")}},
			failing: []string{"GO-2026-5932", "GO-2026-6603"}, staleIDs: []string{"GO-2026-0001", "GO-2022-0635"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Judge(strings.NewReader(scan), tt.accepted, now)
			require.NoError(t, err)
			ids := func(cs []Called) []string {
				var out []string
				for _, c := range cs {
					out = append(out, c.ID)
				}
				return out
			}
			require.Equal(t, tt.failing, ids(v.Failing))
			require.Equal(t, tt.excused, ids(v.Excused))
			var stale []string
			for _, a := range v.Stale {
				stale = append(stale, a.ID)
			}
			require.Equal(t, tt.staleIDs, stale)
			require.Equal(t, 1, v.Imported, "GO-2022-0635 is imported, not called")
		})
	}
	v, err := Judge(strings.NewReader(scan), nil, now)
	require.NoError(t, err)
	require.Equal(t, Called{ID: "GO-2026-5932", Module: "golang.org/x/crypto", Found: "v0.44.0", Fixed: "v0.45.0",
		Example: "example.com/m/x.connect → golang.org/x/crypto/ssh.Dial"}, v.Failing[0])
	require.Equal(t, "example.com/m/cmd.main → net/http.*Server.Serve", v.Failing[1].Example, "the first called trace is kept")

	_, err = Judge(strings.NewReader(`{"finding":`), nil, now)
	require.ErrorContains(t, err, "govulncheck's JSON output")
}

func TestParseAccepted(t *testing.T) {
	got, err := ParseAccepted("a.txt", strings.NewReader("# comment\n\nGO-2026-6603 2026-12-31 stdlib: needs go1.27.3\n"))
	require.NoError(t, err)
	require.Equal(t, []Accepted{{ID: "GO-2026-6603", Until: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), Reason: "stdlib: needs go1.27.3"}}, got)

	_, err = ParseAccepted("a.txt", strings.NewReader("GO-1 2026-12-31\nGO-2 31.12.2026 why\n"))
	require.ErrorContains(t, err, `a.txt:1: want "ID YYYY-MM-DD reason"`)
	require.ErrorContains(t, err, `a.txt:2: date "31.12.2026"`)
}
