package fault

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var lookoutBin string

// FullEnv selects the long scenarios (`make fault-full`): 10-minute outages and overload.
const FullEnv = "LOOKOUT_FAULT_FULL"

// WriteEnv makes the suite rewrite its section of docs/reliability.md with what it measured.
const WriteEnv = "LOOKOUT_RELIABILITY_WRITE"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lookout-fault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if lookoutBin, err = lookouttest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := results.report(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if os.Getenv(WriteEnv) != "" {
		if err := results.write(reliabilityDoc(), currentScale().name, time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, "docs/reliability.md:", err)
			return 1
		}
	}
	return code
}

// scale holds a run's durations and rates: CI-sized by default, the full ones with
// LOOKOUT_FAULT_FULL=1.
type scale struct {
	name string // "ci" or "full": the section of docs/reliability.md

	outage       time.Duration // how long a backend is down
	storm        time.Duration // each phase of the 429/503/slow storm
	overload     time.Duration // time at 10× the sustainable rate
	drainTimeout time.Duration // how long delivery may take once the fault is over

	logRate, spanRate, sampleRate int // the sustainable rate, per second
}

func currentScale() scale {
	if os.Getenv(FullEnv) != "" {
		return fullScale()
	}
	return ciScale()
}

func fullScale() scale {
	return scale{
		name: "full", outage: 10 * time.Minute, storm: 3 * time.Minute, overload: 5 * time.Minute,
		drainTimeout: 10 * time.Minute, logRate: 500, spanRate: 500, sampleRate: 20,
	}
}

func ciScale() scale {
	return scale{
		name: "ci", outage: 20 * time.Second, storm: 12 * time.Second, overload: 20 * time.Second,
		drainTimeout: 3 * time.Minute, logRate: 200, spanRate: 200, sampleRate: 10,
	}
}

// skipShort skips the scenarios that run the real binary and backends.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real lookout binary and backends")
	}
}
