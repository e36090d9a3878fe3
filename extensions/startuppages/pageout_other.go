//go:build !linux

package startuppages

func releaseBinaryPages() (int64, error) { return 0, errUnsupported }
