package startuppages

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSmaps(t *testing.T) {
	const exe = "/usr/bin/look out"
	smaps := `00400000-00402000 r--p 00000000 fd:01 42                                 /usr/bin/look out
Size:                  8 kB
Rss:                   8 kB
VmFlags: rd mr mw me sd
00402000-03744000 r-xp 00002000 fd:01 42                                 /usr/bin/look out
Size:              52488 kB
Rss:               30884 kB
03744000-074ec000 r--p 03344000 fd:01 42                                 /usr/bin/look out
Rss:               34580 kB
074ed000-076c2000 rw-p 070ec000 fd:01 42                                 /usr/bin/look out
Rss:                1040 kB
076c2000-09000000 rw-p 00000000 00:00 0
Rss:                2048 kB
7fed1ca9f000-7fed1cbf5000 r-xp 00026000 fd:01 77                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 900 kB
7ffe7ca9b000-7ffe7cabc000 rw-p 00000000 00:00 0                          [stack]
Rss:                  24 kB
`
	got, err := parseSmaps(smaps, exe)
	require.NoError(t, err)
	require.Equal(t, []mapping{
		{start: 0x400000, end: 0x402000, rss: 8 << 10},
		{start: 0x402000, end: 0x3744000, rss: 30884 << 10},
		{start: 0x3744000, end: 0x74ec000, rss: 34580 << 10},
	}, got)

	for name, bad := range map[string]string{
		"range": "0040zz00-00402000 r--p 00000000 fd:01 42 /usr/bin/look out\n",
		"empty": "00402000-00400000 r--p 00000000 fd:01 42 /usr/bin/look out\n",
		"rss":   "00400000-00402000 r--p 00000000 fd:01 42 /usr/bin/look out\nRss: many kB\n",
		"unit":  "00400000-00402000 r--p 00000000 fd:01 42 /usr/bin/look out\nRss: 8 pages\n",
	} {
		_, err := parseSmaps(bad, exe)
		require.Error(t, err, name)
	}
}

// The test binary pages itself out: what it had resident of its own file goes down.
func TestReleaseBinaryPages(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	resident := func() int64 {
		smaps, err := os.ReadFile("/proc/self/smaps")
		require.NoError(t, err)
		maps, err := parseSmaps(string(smaps), exe)
		require.NoError(t, err)
		require.NotEmpty(t, maps)
		var n int64
		for _, m := range maps {
			n += m.rss
		}
		return n
	}
	before, err := releaseBinaryPages()
	require.NoError(t, err)
	require.Positive(t, before)
	after := resident()
	t.Logf("resident of %s: %d KiB before, %d KiB after", exe, before>>10, after>>10)
	require.Less(t, after, before/2)
}
