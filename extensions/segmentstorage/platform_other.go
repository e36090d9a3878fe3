//go:build !linux

package segmentstorage

import "os"

// preallocate does nothing outside Linux: the file grows as it is written.
func preallocate(*os.File, int64) error { return nil }

// lockFile does nothing outside Linux.
func lockFile(*os.File) error { return nil }
