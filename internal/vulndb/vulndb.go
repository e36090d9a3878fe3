// Package vulndb builds an offline Go vulnerability database, in the layout govulncheck reads
// with -db file:///dir (the "v1" schema of https://go.dev/security/vuln/database), from the OSV
// entries that the golang.org/x/vulndb module carries in data/osv. The module proxy serves that
// module, so a machine without access to vuln.go.dev can still check for known vulnerabilities;
// the database is as old as the module version it is built from.
//
// Layout written:
//
//	index/db.json       {"modified": <newest entry, or the source's own date>}
//	index/modules.json  [{"path", "vulns": [{"id", "modified", "fixed"}]}], sorted by path and ID
//	index/vulns.json    [{"id", "modified", "aliases"}], sorted by ID
//	ID/<id>.json        the OSV entry, byte for byte
package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// entry holds the fields of an OSV entry the indexes need.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []Range `json:"ranges"`
	} `json:"affected"`
}

// Range is an OSV affected range.
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced string `json:"introduced,omitempty"`
	Fixed      string `json:"fixed,omitempty"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// Stats says what Build wrote.
type Stats struct {
	Entries, Modules int
	// Modified is the database's date (index/db.json).
	Modified time.Time
}

// Build reads every GO-*.json OSV entry in src and writes the database into dst, which must not
// exist yet or be empty (it is written whole, never merged). sourceDate is the date of the
// source (the vulndb module version's timestamp); it stands for entries whose modified time is
// unset (data/osv leaves it to the server) and dates the database when it is newer than every
// entry.
func Build(src, dst string, sourceDate time.Time) (Stats, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return Stats{}, fmt.Errorf("list %s: %w", src, err)
	}
	if len(files) == 0 {
		return Stats{}, fmt.Errorf("%s: no OSV entries (*.json)", src)
	}
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 {
		return Stats{}, fmt.Errorf("%s: not empty; build into a new directory", dst)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			return Stats{}, fmt.Errorf("create %s: %w", d, err)
		}
	}
	db := dbMeta{Modified: sourceDate.UTC()}
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	var errs error
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("read %s: %w", f, err))
			continue
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			errs = errors.Join(errs, fmt.Errorf("%s: entry id %q does not match the file name", f, e.ID))
			continue
		}
		modified := e.Modified.UTC()
		if modified.IsZero() || modified.Year() < 2000 {
			modified = sourceDate.UTC()
		}
		if modified.After(db.Modified) {
			db.Modified = modified
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: modified, Aliases: e.Aliases})
		// One index row per module and entry: an entry may list a module more than once.
		var order []string
		ranges := map[string][]Range{}
		for _, a := range e.Affected {
			path := a.Package.Name
			if path == "" {
				errs = errors.Join(errs, fmt.Errorf("%s: affected package without a name", f))
				continue
			}
			if _, ok := ranges[path]; !ok {
				order = append(order, path)
			}
			ranges[path] = append(ranges[path], a.Ranges...)
		}
		for _, path := range order {
			m := modules[path]
			if m == nil {
				m = &moduleMeta{Path: path}
				modules[path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: modified, Fixed: LatestFix(ranges[path])})
		}
		if err := os.WriteFile(filepath.Join(dst, "ID", e.ID+".json"), raw, 0o644); err != nil {
			errs = errors.Join(errs, fmt.Errorf("write %s: %w", e.ID, err))
		}
	}
	if errs != nil {
		return Stats{}, errs
	}
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	for name, v := range map[string]any{"db.json": db, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return Stats{}, fmt.Errorf("encode index/%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dst, "index", name), b, 0o644); err != nil {
			return Stats{}, fmt.Errorf("write index/%s: %w", name, err)
		}
	}
	return Stats{Entries: len(vulns), Modules: len(mods), Modified: db.Modified}, nil
}

// LatestFix returns the version (without "v") past which no SEMVER range of an affected module
// is vulnerable: the highest "fixed" event, or "" when some range stays open (introduced with no
// later fix) or there is no fix at all. govulncheck skips an entry for a module whose version is
// at or above it without reading the entry, so a value too low would hide a vulnerability: when
// unsure, "" (read every entry) is the safe answer.
func LatestFix(ranges []Range) string {
	latest := ""
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		// Events in order: the range is open when an introduced event has no fixed after it.
		open := false
		for _, ev := range r.Events {
			switch {
			case ev.Introduced != "":
				open = true
			case ev.Fixed != "":
				open = false
				if !semver.IsValid("v" + ev.Fixed) {
					return ""
				}
				if latest == "" || semver.Compare("v"+ev.Fixed, "v"+latest) > 0 {
					latest = ev.Fixed
				}
			}
		}
		if open {
			return ""
		}
	}
	// A range introduced after the highest fix anywhere reopens it.
	for _, r := range ranges {
		for _, ev := range r.Events {
			if r.Type == "SEMVER" && ev.Introduced != "" && ev.Introduced != "0" && latest != "" &&
				semver.Compare("v"+ev.Introduced, "v"+latest) > 0 {
				return ""
			}
		}
	}
	return strings.TrimPrefix(latest, "v")
}
