// Command lookout-vulngate reads `govulncheck -format json` on stdin and decides: it exits 3 when
// the code calls a known-vulnerable function that the accepted list does not excuse (govulncheck's
// own exit code for that), 1 when an accepted entry is no longer needed, 0 otherwise.
//
//	govulncheck -db file://DIR -format json ./... | lookout-vulngate -accepted internal/tools/govulncheck-accepted.txt
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lookoutdev/lookout/internal/vulndb"
)

func main() {
	acceptedFile := flag.String("accepted", "", "the accepted list (ID YYYY-MM-DD reason, one a line)")
	flag.Parse()
	os.Exit(run(*acceptedFile, os.Stdin, os.Stdout, time.Now()))
}

func run(acceptedFile string, in io.Reader, out io.Writer, now time.Time) int {
	var accepted []vulndb.Accepted
	if acceptedFile != "" {
		f, err := os.Open(acceptedFile)
		if err != nil {
			fmt.Fprintln(out, "lookout-vulngate:", err)
			return 1
		}
		accepted, err = vulndb.ParseAccepted(acceptedFile, f)
		_ = f.Close()
		if err != nil {
			fmt.Fprintln(out, "lookout-vulngate:", err)
			return 1
		}
	}
	v, err := vulndb.Judge(in, accepted, now)
	if err != nil {
		fmt.Fprintln(out, "lookout-vulngate:", err)
		return 1
	}
	show := func(c vulndb.Called) string {
		fixed := "no fix known"
		if c.Fixed != "" {
			fixed = "fixed in " + c.Fixed
		}
		return fmt.Sprintf("%s in %s@%s (%s): %s", c.ID, c.Module, c.Found, fixed, c.Example)
	}
	for _, c := range v.Excused {
		reason := ""
		for _, a := range accepted {
			if a.ID == c.ID {
				reason = fmt.Sprintf("%s (until %s)", a.Reason, a.Until.Format(time.DateOnly))
			}
		}
		fmt.Fprintf(out, "accepted: %s\n    because: %s\n", show(c), reason)
	}
	for _, c := range v.Failing {
		fmt.Fprintf(out, "VULNERABLE: %s\n", show(c))
	}
	for _, a := range v.Stale {
		fmt.Fprintf(out, "STALE: %s is accepted in %s but no longer found: remove the entry\n", a.ID, acceptedFile)
	}
	fmt.Fprintf(out, "lookout-vulngate: %d called and not accepted, %d called and accepted, %d in dependencies but not called\n",
		len(v.Failing), len(v.Excused), v.Imported)
	switch {
	case len(v.Failing) > 0:
		return 3
	case len(v.Stale) > 0:
		return 1
	}
	return 0
}
