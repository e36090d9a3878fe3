//go:build unix

package podlogsreceiver

import (
	"os"
	"syscall"
)

// fileID returns the device and inode of a file, which identify it across renames.
func fileID(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // int32 on some platforms
	}
	return 0, 0
}
