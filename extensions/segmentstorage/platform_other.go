//go:build !linux

package segmentstorage

import (
	"math"
	"os"
)

// preallocate does nothing outside Linux: the file grows as it is written.
func preallocate(*os.File, int64) error { return nil }

// lockFile does nothing outside Linux.
func lockFile(*os.File) error { return nil }

// freeSpace is not known outside Linux: min_free_space is not enforced there.
func freeSpace(string) (int64, error) { return math.MaxInt64, nil }
