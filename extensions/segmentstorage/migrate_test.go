package segmentstorage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// startFileStorage starts a file_storage extension with the given ID on dir.
func startFileStorage(t *testing.T, dir string, id component.ID) storage.Extension {
	t.Helper()
	ctx := context.Background()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	set := extensiontest.NewNopSettings(f.Type())
	set.ID = id
	ext, err := f.Create(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	return ext.(storage.Extension)
}

// startSegmentStorage starts the extension on dir with 1 MiB segments, its logs observed;
// change adjusts the config.
func startSegmentStorage(t *testing.T, dir string, change func(*Config)) (storage.Extension, *observer.ObservedLogs) {
	t.Helper()
	ctx := context.Background()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.SegmentSize = mib
	cfg.SmallWriteReserve = 64 << 10
	if change != nil {
		change(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.InfoLevel)
	set := extensiontest.NewNopSettings(f.Type())
	set.Logger = zap.New(core)
	ext, err := f.Create(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	return ext.(storage.Extension), logs
}

// migrationData is what the tests store in file_storage: the persistent queue's metadata and
// items (binary), a receiver's offsets, an empty value, and values large enough to take several
// batches (8 MiB each) and segments larger than the 1 MiB ones.
func migrationData() map[string][]byte {
	data := map[string][]byte{
		"qmv0":    {0x0a, 0x02, 0x08, 0x07, 0x10, 0x0c, 0x00, 0xff},
		"empty":   {},
		"ключ/✓":  []byte("unicode key"),
		"offset/": []byte("no path"),
	}
	for i := range 300 {
		data[fmt.Sprint(i)] = value(fmt.Sprint(i), i*37%5000)
		data[fmt.Sprintf("offset//var/log/pods/ns_pod-%d/c/0.log", i)] = []byte(fmt.Sprintf(`{"offset":%d}`, i*1000))
	}
	for i := range 4 {
		k := fmt.Sprint("big", i)
		data[k] = value(k, 3*mib+i)
	}
	return data
}

// fill writes data with a file_storage client of (kind, id, name) and shuts file_storage down.
func fill(t *testing.T, dir string, fsID component.ID, kind component.Kind, id component.ID, name string, data map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	fs := startFileStorage(t, dir, fsID)
	c, err := fs.GetClient(ctx, kind, id, name)
	require.NoError(t, err)
	for k, v := range data {
		require.NoError(t, c.Set(ctx, k, v))
	}
	require.NoError(t, c.Delete(ctx, "offset/"), "deleted keys are not migrated")
	delete(data, "offset/")
	require.NoError(t, c.Close(ctx))
	require.NoError(t, fs.Shutdown(ctx))
}

// requireContent checks that c holds exactly data.
func requireContent(t *testing.T, c storage.Client, data map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	require.NoError(t, c.(storage.Walker).Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		require.False(t, seen[key], "key %q seen twice", key)
		seen[key] = true
		want, ok := data[key]
		require.True(t, ok, "unexpected key %q", key)
		require.Equal(t, want, value, "key %q", key)
		return nil, nil
	}))
	require.Len(t, seen, len(data))
	for k, v := range data {
		got, err := c.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, v, got, "key %q", k)
	}
}

func TestDefaultConfigMigrates(t *testing.T) {
	require.True(t, createDefaultConfig().(*Config).MigrateFromFileStorage)
}

func TestMigrateFromFileStorage(t *testing.T) {
	long := strings.Repeat("x", 260)
	tests := []struct {
		name      string
		fsID      component.ID // of the file_storage extension
		kind      component.Kind
		id        component.ID
		storage   string
		elsewhere bool   // file_storage_directory is not directory
		file      string // file_storage's file, in its directory
	}{
		{
			name: "exporter queue", fsID: component.MustNewID("file_storage"),
			kind: component.KindExporter, id: component.MustNewIDWithName("otlp_http", "loki"), storage: "logs",
			file: "exporter_otlp_http_loki_logs",
		},
		{
			name: "receiver offsets, file_storage named x", fsID: component.MustNewIDWithName("file_storage", "x"),
			kind: component.KindReceiver, id: component.MustNewID("podlogs"),
			file: "receiver_podlogs_", // file_storage's own name is not part of its file names
		},
		{
			name: "file_storage_directory elsewhere", fsID: component.MustNewID("file_storage"),
			kind: component.KindExporter, id: component.MustNewID("otlp"), storage: "traces", elsewhere: true,
			file: "exporter_otlp__traces",
		},
		{
			name: "name too long, hashed", fsID: component.MustNewID("file_storage"),
			kind: component.KindExporter, id: component.MustNewIDWithName("otlp", long), storage: "traces",
			file: hashName("exporter_otlp_" + long + "_traces"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			fsDir := dir
			if tt.elsewhere {
				fsDir = t.TempDir()
			}
			data := migrationData()
			fill(t, fsDir, tt.fsID, tt.kind, tt.id, tt.storage, data)
			file := filepath.Join(fsDir, tt.file)
			require.FileExists(t, file)

			start := func() (storage.Extension, storage.Client, *observer.ObservedLogs) {
				ext, logs := startSegmentStorage(t, dir, func(c *Config) {
					if tt.elsewhere {
						c.FileStorageDirectory = fsDir
					}
				})
				c, err := ext.GetClient(ctx, tt.kind, tt.id, tt.storage)
				require.NoError(t, err)
				return ext, c, logs
			}
			ext, c, logs := start()
			requireContent(t, c, data)
			require.NoFileExists(t, file)
			require.FileExists(t, file+migratedSuffix)
			require.DirExists(t, filepath.Join(dir, tt.file), "the store is where the client's directory is")
			leftovers, err := filepath.Glob(filepath.Join(dir, "migrating-*"))
			require.NoError(t, err)
			require.Empty(t, leftovers)
			require.NoFileExists(t, filepath.Join(dir, tt.file, migrationComplete))

			migrated := logs.FilterMessage("segment_storage: migrated a file_storage file").All()
			require.Len(t, migrated, 1)
			fields := migrated[0].ContextMap()
			require.Equal(t, file, fields["file"])
			require.Equal(t, file+migratedSuffix, fields["renamed_to"])
			require.EqualValues(t, len(data), fields["keys"])
			var size int64
			for k, v := range data {
				size += int64(len(k) + len(v))
			}
			require.Equal(t, size, fields["bytes"])

			// The store is used, then the collector restarts: nothing is imported again.
			require.NoError(t, c.Delete(ctx, "qmv0"))
			delete(data, "qmv0")
			require.NoError(t, c.Set(ctx, "new", []byte("after the migration")))
			data["new"] = []byte("after the migration")
			require.NoError(t, c.Close(ctx))
			require.NoError(t, ext.Shutdown(ctx))

			ext, c, logs = start()
			requireContent(t, c, data)
			require.Zero(t, logs.FilterMessageSnippet("migrat").Len())
			require.NoError(t, c.Close(ctx))
			require.NoError(t, ext.Shutdown(ctx))
		})
	}
}

func TestMigrationDisabled(t *testing.T) {
	ctx := context.Background()
	id := component.MustNewIDWithName("otlp_http", "loki")
	off := func(c *Config) { c.MigrateFromFileStorage = false }

	t.Run("same directory: a clear error, the file left alone", func(t *testing.T) {
		dir := t.TempDir()
		fill(t, dir, component.MustNewID("file_storage"), component.KindExporter, id, "logs", map[string][]byte{"k": []byte("v")})
		file := filepath.Join(dir, "exporter_otlp_http_loki_logs")
		before, err := os.ReadFile(file)
		require.NoError(t, err)
		ext, _ := startSegmentStorage(t, dir, off)
		_, err = ext.GetClient(ctx, component.KindExporter, id, "logs")
		require.EqualError(t, err, "segment_storage: "+file+" is a file, not a client directory: a file_storage file? "+
			"set migrate_from_file_storage to true to import it, or move it away")
		after, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, before, after)
		require.NoError(t, ext.Shutdown(ctx))
	})
	t.Run("other directory: an empty store, the file left alone", func(t *testing.T) {
		dir, fsDir := t.TempDir(), t.TempDir()
		fill(t, fsDir, component.MustNewID("file_storage"), component.KindExporter, id, "logs", map[string][]byte{"k": []byte("v")})
		ext, logs := startSegmentStorage(t, dir, func(c *Config) { off(c); c.FileStorageDirectory = fsDir })
		c, err := ext.GetClient(ctx, component.KindExporter, id, "logs")
		require.NoError(t, err)
		requireContent(t, c, map[string][]byte{})
		require.FileExists(t, filepath.Join(fsDir, "exporter_otlp_http_loki_logs"))
		require.NoFileExists(t, filepath.Join(fsDir, "exporter_otlp_http_loki_logs"+migratedSuffix))
		require.Zero(t, logs.FilterMessageSnippet("migrat").Len())
		require.NoError(t, ext.Shutdown(ctx))
	})
}

// TestMigrationIntoEmptyStoresOnly checks that a store of the client that holds data is left
// as it is (with a warning), and that an empty one is replaced by the import.
func TestMigrationIntoEmptyStoresOnly(t *testing.T) {
	ctx := context.Background()
	id := component.MustNewID("podlogs")
	for _, held := range []bool{true, false} {
		t.Run(fmt.Sprintf("store holds data: %v", held), func(t *testing.T) {
			dir, fsDir := t.TempDir(), t.TempDir()
			fill(t, fsDir, component.MustNewID("file_storage"), component.KindReceiver, id, "", map[string][]byte{"offset/a": []byte("1")})
			// A start without the migration makes the store.
			ext, _ := startSegmentStorage(t, dir, func(c *Config) { c.MigrateFromFileStorage = false })
			c, err := ext.GetClient(ctx, component.KindReceiver, id, "")
			require.NoError(t, err)
			require.NoError(t, c.Set(ctx, "offset/b", []byte("2")))
			if !held {
				require.NoError(t, c.Delete(ctx, "offset/b"))
			}
			require.NoError(t, c.Close(ctx))
			require.NoError(t, ext.Shutdown(ctx))

			ext, logs := startSegmentStorage(t, dir, func(c *Config) { c.FileStorageDirectory = fsDir })
			c, err = ext.GetClient(ctx, component.KindReceiver, id, "")
			require.NoError(t, err)
			file := filepath.Join(fsDir, "receiver_podlogs_")
			if held {
				requireContent(t, c, map[string][]byte{"offset/b": []byte("2")})
				require.FileExists(t, file)
				warned := logs.FilterMessageSnippet("not migrating a file_storage file").All()
				require.Len(t, warned, 1)
				require.Equal(t, file, warned[0].ContextMap()["file"])
			} else {
				requireContent(t, c, map[string][]byte{"offset/a": []byte("1")})
				require.FileExists(t, file+migratedSuffix)
			}
			require.NoError(t, ext.Shutdown(ctx))
		})
	}
}

func TestMigrationErrors(t *testing.T) {
	ctx := context.Background()
	id := component.MustNewIDWithName("otlp_http", "loki")
	const name = "exporter_otlp_http_loki_logs"
	tests := []struct {
		name    string
		prepare func(t *testing.T, file string) (cleanup func())
		errs    []string
	}{
		{
			name: "not a bbolt file",
			prepare: func(t *testing.T, file string) func() {
				require.NoError(t, os.WriteFile(file, []byte(strings.Repeat("not bbolt ", 1000)), 0o600))
				return nil
			},
			errs: []string{"opening it: invalid database (the file is corrupt, or not file_storage's)"},
		},
		{
			name: "cut short",
			prepare: func(t *testing.T, file string) func() {
				require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
				return nil
			},
			errs: []string{"opening it: invalid database (the file is corrupt, or not file_storage's)"},
		},
		{
			name: "corrupt pages",
			prepare: func(t *testing.T, file string) func() {
				fill(t, filepath.Dir(file), component.MustNewID("file_storage"), component.KindExporter, id, "logs", migrationData())
				f, err := os.OpenFile(file, os.O_RDWR, 0)
				require.NoError(t, err)
				// Garbage over every page but the two meta pages.
				info, err := f.Stat()
				require.NoError(t, err)
				junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
				for off := int64(2 * 4096); off < info.Size(); off += int64(len(junk)) {
					_, err := f.WriteAt(junk, off)
					require.NoError(t, err)
				}
				require.NoError(t, f.Close())
				return nil
			},
			errs: []string{"(the file is corrupt)"},
		},
		{
			name: "still used by file_storage",
			prepare: func(t *testing.T, file string) func() {
				migrationLockTimeout = 100 * time.Millisecond
				fs := startFileStorage(t, filepath.Dir(file), component.MustNewID("file_storage"))
				c, err := fs.GetClient(ctx, component.KindExporter, id, "logs")
				require.NoError(t, err)
				require.NoError(t, c.Set(ctx, "k", []byte("v")))
				return func() {
					migrationLockTimeout = 5 * time.Second
					require.NoError(t, c.Close(ctx))
					require.NoError(t, fs.Shutdown(ctx))
				}
			},
			errs: []string{"opening it: timeout waiting for its lock after 100ms: is a collector with file_storage still using it?"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, name)
			if cleanup := tt.prepare(t, file); cleanup != nil {
				defer cleanup()
			}
			before, err := os.ReadFile(file)
			require.NoError(t, err)
			ext, _ := startSegmentStorage(t, dir, nil)
			_, err = ext.GetClient(ctx, component.KindExporter, id, "logs")
			require.ErrorContains(t, err, "segment_storage: migrating file_storage file "+file+": ")
			for _, e := range tt.errs {
				require.ErrorContains(t, err, e)
			}
			after, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Equal(t, before, after, "the file is left as it was")
			des, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, des, 1, "nothing renamed, nothing left behind")
			require.NoError(t, ext.Shutdown(ctx))
		})
	}
}

// TestMigrateEmptyFile migrates an empty file_storage file (file_storage stopped before it
// wrote its first pages) as no keys.
func TestMigrateEmptyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "receiver_podlogs_")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	ext, logs := startSegmentStorage(t, dir, nil)
	c, err := ext.GetClient(ctx, component.KindReceiver, component.MustNewID("podlogs"), "")
	require.NoError(t, err)
	requireContent(t, c, map[string][]byte{})
	require.FileExists(t, file+migratedSuffix)
	require.Equal(t, 1, logs.FilterMessage("segment_storage: migrated a file_storage file").Len())
	require.NoError(t, ext.Shutdown(ctx))
}

// TestMigrationCutShort starts again after a crash at each step of a migration.
func TestMigrationCutShort(t *testing.T) {
	ctx := context.Background()
	id := component.MustNewID("podlogs")
	const name = "receiver_podlogs_"
	tests := []struct {
		name string
		// crash leaves the state a crash would: m's import has run
		crash func(t *testing.T, m migration)
	}{
		{"during the import", func(t *testing.T, m migration) {
			require.NoError(t, os.Remove(filepath.Join(m.tmp, migrationComplete)))
			segs, err := filepath.Glob(filepath.Join(m.tmp, "*.seg"))
			require.NoError(t, err)
			require.NoError(t, os.Truncate(segs[len(segs)-1], 4096)) // half written
		}},
		{"after the import, before the file was renamed", func(*testing.T, migration) {}},
		{"after the file was renamed", func(t *testing.T, m migration) {
			require.NoError(t, os.Rename(m.file, m.file+migratedSuffix))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := migrationData()
			fill(t, dir, component.MustNewID("file_storage"), component.KindReceiver, id, "", data)
			ext, _ := startSegmentStorage(t, dir, nil)
			m := ext.(*segmentStorage).newMigration(name, filepath.Join(dir, name))
			_, _, err := m.importFile(ctx)
			require.NoError(t, err)
			tt.crash(t, m)

			c, err := ext.GetClient(ctx, component.KindReceiver, id, "")
			require.NoError(t, err)
			requireContent(t, c, data)
			require.FileExists(t, filepath.Join(dir, name+migratedSuffix))
			require.NoDirExists(t, m.tmp)
			require.NoError(t, ext.Shutdown(ctx))
		})
	}
}

// TestMigratePersistentQueue fills exporterhelper's persistent queue on file_storage while the
// backend is down, then runs the same exporter on segment_storage in the same directory: every
// record arrives, once.
func TestMigratePersistentQueue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	be := &backend{bodies: map[string]int{}}
	be.down.Store(true)

	fs := startFileStorage(t, dir, component.MustNewID("file_storage"))
	exp, stop := startQueuedExporter(t, fs, component.MustNewID("file_storage"), be, zap.NewNop())
	sent := sendLogs(t, exp, 0, 120)
	require.Eventually(t, func() bool { return be.attempts.Load() >= 10 }, 10*time.Second, time.Millisecond)
	stop()
	require.NoError(t, fs.Shutdown(ctx))
	require.Zero(t, be.received())

	be.down.Store(false)
	ss, logs := startSegmentStorage(t, dir, nil)
	exp, stop = startQueuedExporter(t, ss, component.NewID(NewFactory().Type()), be, zap.NewNop())
	more := sendLogs(t, exp, 120, 130)
	for k := range more {
		sent[k] = true
	}
	require.Eventually(t, func() bool { return be.received() >= len(sent) }, 10*time.Second, 5*time.Millisecond,
		"received %d of %d", be.received(), len(sent))
	stop()
	require.NoError(t, ss.Shutdown(ctx))
	require.Len(t, logs.FilterMessage("segment_storage: migrated a file_storage file").All(), 1)

	be.mu.Lock()
	defer be.mu.Unlock()
	require.Len(t, be.bodies, len(sent))
	for body, n := range be.bodies {
		require.True(t, sent[body], "unexpected record %.40q", body)
		require.Equal(t, 1, n, "record %.40q", body)
	}
}
