package startuppages

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseBinaryPages pages out every mapping of the running executable that the process cannot
// write: its code and read-only data (the writable data is the process's own, anonymous once
// written). Pages that another process maps too are left alone by the kernel. It returns how
// many bytes of those mappings were resident before.
func releaseBinaryPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	maps, err := parseSmaps(string(smaps), exe)
	if err != nil {
		return 0, err
	}
	var resident int64
	for _, m := range maps {
		// The raw system call: the range is not Go memory, so there is no []byte to give
		// unix.Madvise. MADV_PAGEOUT is Linux 5.4 or later.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_PAGEOUT); errno != 0 {
			if errno == unix.EINVAL {
				return 0, fmt.Errorf("%w: madvise(MADV_PAGEOUT): %w (Linux before 5.4?)", errUnsupported, errno)
			}
			return 0, fmt.Errorf("madvise(MADV_PAGEOUT) of %s at %#x: %w", exe, m.start, errno)
		}
		resident += m.rss
	}
	return resident, nil
}

// mapping is an address range of the executable, and how much of it is resident.
type mapping struct {
	start, end uintptr
	rss        int64
}

// parseSmaps returns the mappings of /proc/<pid>/smaps content that map file exe and are not
// writable.
func parseSmaps(smaps, exe string) ([]mapping, error) {
	var (
		out  []mapping
		ours bool
	)
	for line := range strings.Lines(smaps) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasSuffix(fields[0], ":") { // a field of the mapping above
			if ours && fields[0] == "Rss:" {
				kb, err := strconv.ParseInt(fields[1], 10, 64)
				if err != nil || len(fields) != 3 || fields[2] != "kB" {
					return nil, fmt.Errorf("smaps: bad Rss line %q", strings.TrimSpace(line))
				}
				out[len(out)-1].rss = kb << 10
			}
			continue
		}
		// A mapping: "start-end perms offset dev inode [path]"; only the path has a '/' (and it
		// may have spaces).
		path := ""
		if i := strings.IndexByte(line, '/'); i >= 0 {
			path = strings.TrimRight(line[i:], "\n")
		}
		ours = path == exe && len(fields) >= 6 && !strings.Contains(fields[1], "w")
		if !ours {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("smaps: bad address range %q", fields[0])
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end)})
	}
	return out, nil
}
