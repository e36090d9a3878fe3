// Command lookout-vulndb builds an offline Go vulnerability database for govulncheck -db from
// the golang.org/x/vulndb module (see package vulndb).
//
//	lookout-vulndb -src $(go env GOMODCACHE)/golang.org/x/vulndb@VERSION -version VERSION -out DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/module"

	"github.com/lookoutdev/lookout/internal/vulndb"
)

func main() {
	src := flag.String("src", "", "the golang.org/x/vulndb module's directory (its data/osv is read)")
	version := flag.String("version", "", "that module's pseudo-version; its timestamp dates the database")
	out := flag.String("out", "", "the database directory to create (must not exist or be empty)")
	flag.Parse()
	if err := run(*src, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "lookout-vulndb:", err)
		os.Exit(1)
	}
}

func run(src, version, out string) error {
	if src == "" || version == "" || out == "" {
		return fmt.Errorf("-src, -version and -out are required")
	}
	date, err := module.PseudoVersionTime(version)
	if err != nil {
		return fmt.Errorf("-version %s: %w", version, err)
	}
	st, err := vulndb.Build(filepath.Join(src, "data", "osv"), out, date)
	if err != nil {
		return err
	}
	fmt.Printf("lookout-vulndb: %d entries for %d modules into %s, dated %s\n", st.Entries, st.Modules, out, st.Modified.Format("2006-01-02"))
	return nil
}
