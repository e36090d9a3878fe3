package vulndb

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Accepted is a vulnerability the project knows its code calls and has decided to live with for
// a while: why, and until when. An entry past its date no longer excuses anything.
type Accepted struct {
	ID     string
	Until  time.Time
	Reason string
}

// ParseAccepted reads an accepted list: one entry a line, "ID YYYY-MM-DD reason...", blank lines
// and #-comments ignored. name names the list in errors.
func ParseAccepted(name string, r io.Reader) ([]Accepted, error) {
	var out []Accepted
	var errs error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			errs = errors.Join(errs, fmt.Errorf("%s:%d: want \"ID YYYY-MM-DD reason\", got %q", name, n, line))
			continue
		}
		until, err := time.Parse(time.DateOnly, f[1])
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s:%d: date %q: want YYYY-MM-DD", name, n, f[1]))
			continue
		}
		out = append(out, Accepted{ID: f[0], Until: until, Reason: strings.Join(f[2:], " ")})
	}
	if err := sc.Err(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("read %s: %w", name, err))
	}
	return out, errs
}

// Called is a vulnerability whose vulnerable function the scanned code calls.
type Called struct {
	ID string
	// Module is the vulnerable module ("stdlib" for the standard library), Found its version and
	// Fixed the first version without the vulnerability ("" when none is known).
	Module, Found, Fixed string
	// Example is one call, outermost first.
	Example string
}

// Verdict is the outcome of a scan.
type Verdict struct {
	// Failing are called vulnerabilities that no accepted entry excuses.
	Failing []Called
	// Excused are called vulnerabilities that an accepted entry excuses, with its reason.
	Excused []Called
	// Stale are accepted entries that no finding needs any more: remove them.
	Stale []Accepted
	// Imported counts vulnerabilities in imported packages or required modules whose vulnerable
	// code is not called (not failing).
	Imported int
}

// message is the part of govulncheck's -format json stream the gate reads.
type message struct {
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

// Judge reads govulncheck's -format json output and sorts its findings: a vulnerability is
// called when a finding's trace reaches a function (govulncheck's symbol level).
func Judge(r io.Reader, accepted []Accepted, now time.Time) (Verdict, error) {
	called := map[string]*Called{}
	imported := map[string]bool{}
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("read govulncheck's JSON output: %w", err)
		}
		f := m.Finding
		if f == nil || f.OSV == "" {
			continue
		}
		if len(f.Trace) == 0 || f.Trace[0].Function == "" {
			imported[f.OSV] = true
			continue
		}
		if called[f.OSV] != nil {
			continue
		}
		vuln := f.Trace[0]
		c := &Called{ID: f.OSV, Module: vuln.Module, Found: vuln.Version, Fixed: f.FixedVersion}
		var calls []string
		for i := len(f.Trace) - 1; i >= 0; i-- {
			fr := f.Trace[i]
			name := fr.Function
			if fr.Receiver != "" {
				name = fr.Receiver + "." + name
			}
			calls = append(calls, fr.Package+"."+name)
		}
		c.Example = strings.Join(calls, " → ")
		called[f.OSV] = c
	}
	var v Verdict
	for id := range imported {
		if called[id] == nil {
			v.Imported++
		}
	}
	ids := make([]string, 0, len(called))
	for id := range called {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	used := map[string]bool{}
	for _, id := range ids {
		c := *called[id]
		excused := false
		for _, a := range accepted {
			if a.ID == id && !now.After(a.Until.Add(24*time.Hour)) {
				excused, used[id] = true, true
			}
		}
		if excused {
			v.Excused = append(v.Excused, c)
		} else {
			v.Failing = append(v.Failing, c)
		}
	}
	for _, a := range accepted {
		if !used[a.ID] && called[a.ID] == nil {
			v.Stale = append(v.Stale, a)
		}
	}
	return v, nil
}
