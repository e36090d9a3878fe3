package segmentstorage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

func newTestExtension(t *testing.T, dir string) storage.Extension {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.SegmentSize = mib
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), nil))
	return ext.(storage.Extension)
}

func TestClientDirectories(t *testing.T) {
	long := strings.Repeat("x", 300)
	hashed := sha256.Sum256([]byte("exporter_otlp_" + long + "_traces"))
	tests := []struct {
		kind component.Kind
		id   component.ID
		name string
		dir  string
	}{
		{component.KindExporter, component.MustNewID("otlp_http"), "logs", "exporter_otlp_http__logs"},
		{component.KindExporter, component.MustNewIDWithName("otlp_http", "loki"), "logs", "exporter_otlp_http_loki_logs"},
		{component.KindReceiver, component.MustNewIDWithName("file_log", "pods"), "", "receiver_file_log_pods"},
		{component.KindProcessor, component.MustNewIDWithName("x", "a b~c"), "", "processor_x_a~0020b~007Ec"},
		{component.KindExporter, component.MustNewIDWithName("otlp", long), "traces", hex.EncodeToString(hashed[:])},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			ext := newTestExtension(t, dir)
			c, err := ext.GetClient(ctx, tt.kind, tt.id, tt.name)
			require.NoError(t, err)
			require.NoError(t, c.Set(ctx, "k", []byte("v")))
			require.FileExists(t, filepath.Join(dir, tt.dir, segmentName(1)))

			_, err = ext.GetClient(ctx, tt.kind, tt.id, tt.name)
			require.ErrorContains(t, err, "is in use by another client or process", "one client per directory")

			require.NoError(t, ext.Shutdown(ctx))
			require.ErrorIs(t, c.Set(ctx, "k", nil), errClosed, "Shutdown closed the client left open")
			require.NoError(t, c.Close(ctx))
		})
	}
}

func TestCreateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory, cfg.CreateDirectory = dir, true
	require.NoError(t, cfg.Validate())
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.DirExists(t, dir)
	require.NoError(t, ext.Shutdown(context.Background()))

	info, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o750), info.Mode().Perm())
}
