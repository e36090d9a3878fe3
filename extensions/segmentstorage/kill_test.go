package segmentstorage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// TestSurvivesKill9 runs a writer in a child process and kills it with SIGKILL in the middle
// of its writes: every batch it was told had succeeded is there, and the batch it was writing
// is there whole or not at all. Each batch sets the metadata, puts item i and deletes item
// i-50, as a queue that keeps 50 items.
func TestSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("SEGMENTSTORAGE_WRITER_DIR"); dir != "" {
		writeUntilKilled(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSurvivesKill9$")
	cmd.Env = append(os.Environ(), "SEGMENTSTORAGE_WRITER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	acked := 0
	for sc := bufio.NewScanner(out); sc.Scan() && acked < 400; {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked, err = strconv.Atoi(n)
			require.NoError(t, err)
		}
	}
	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait())
	require.Equal(t, 400, acked)

	ctx := context.Background()
	s, _ := openTestStore(t, dir, nil)
	meta, err := s.Get(ctx, "meta")
	require.NoError(t, err)
	last, err := strconv.Atoi(string(meta))
	require.NoError(t, err)
	require.GreaterOrEqual(t, last, acked-1, "every acknowledged batch is there")
	for i := range last + 2 {
		got, err := s.Get(ctx, strconv.Itoa(i))
		require.NoError(t, err)
		if i > last || i <= last-50 {
			require.Nil(t, got, "item %d (last batch %d)", i, last)
		} else {
			require.Equal(t, value(strconv.Itoa(i), 20<<10+i%7*1000), got, "item %d (last batch %d)", i, last)
		}
	}
}

// writeUntilKilled writes batches to a store on dir, printing "acked i" after batch i.
func writeUntilKilled(t *testing.T, dir string) {
	s, _ := openTestStore(t, dir, nil)
	for i := 0; ; i++ {
		key := strconv.Itoa(i)
		require.NoError(t, s.Batch(context.Background(),
			storage.SetOperation("meta", []byte(key)),
			storage.SetOperation(key, value(key, 20<<10+i%7*1000)),
			storage.DeleteOperation(strconv.Itoa(i-50))))
		fmt.Printf("acked %d\n", i+1)
	}
}
