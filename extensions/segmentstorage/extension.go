package segmentstorage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// segmentStorage is the extension: it opens one store per client, each in its own
// subdirectory of the configured directory.
type segmentStorage struct {
	cfg    *Config
	logger *zap.Logger

	mu     sync.Mutex
	stores map[*store]struct{} // open stores, closed at Shutdown if their owner did not

	migrating sync.Mutex // one migration at a time
}

var _ storage.Extension = (*segmentStorage)(nil)

func newExtension(logger *zap.Logger, cfg *Config) (*segmentStorage, error) {
	if cfg.CreateDirectory {
		if err := os.MkdirAll(cfg.Directory, 0o750); err != nil {
			return nil, fmt.Errorf("segment_storage: creating directory: %w", err)
		}
	}
	return &segmentStorage{cfg: cfg, logger: logger, stores: map[*store]struct{}{}}, nil
}

// Start does nothing: stores are opened by GetClient.
func (*segmentStorage) Start(context.Context, component.Host) error { return nil }

// Shutdown closes the stores whose clients were not closed.
func (e *segmentStorage) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	open := make([]*store, 0, len(e.stores))
	for s := range e.stores {
		open = append(open, s)
	}
	e.mu.Unlock()
	var errs []error
	for _, s := range open {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// GetClient opens the store of one component's storage, in a subdirectory named as
// file_storage names its files: kind_type_name[_storageName], with unsafe characters escaped,
// or the SHA-256 of that name where it is too long for the file system. With
// migrate_from_file_storage, a file_storage file of the same client is imported first into a
// new or empty store.
func (e *segmentStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, storageName string) (storage.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s_%s_%s", kindString(kind), id.Type(), id.Name())
	if storageName != "" {
		name += "_" + storageName
	}
	name = sanitize(name)
	dir, hashed := clientPath(e.cfg.Directory, name)
	if hashed {
		e.logger.Warn("directory name too long, using its hash instead",
			zap.String("directory", filepath.Join(e.cfg.Directory, name)), zap.String("hashed_directory", dir))
	}
	if e.cfg.MigrateFromFileStorage {
		e.migrating.Lock()
		err := e.newMigration(name, dir).run(ctx)
		e.migrating.Unlock()
		if err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("segment_storage: creating the client directory: %w", err)
	}
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		return nil, fmt.Errorf("segment_storage: %s is a file, not a client directory: a file_storage file? "+
			"set migrate_from_file_storage to true to import it, or move it away", dir)
	}
	s, err := openStore(storeOptions{
		dir:         dir,
		segmentSize: e.cfg.SegmentSize,
		reserve:     e.cfg.SmallWriteReserve,
		minFree:     e.cfg.MinFreeSpace,
		fsync:       e.cfg.FSync,
		cacheSize:   int(e.cfg.ReadCacheSize),
		logger:      e.logger.With(zap.String("directory", dir)),
		onClose:     e.forget,
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.stores[s] = struct{}{}
	e.mu.Unlock()
	return s, nil
}

// clientPath returns dir/name, or dir/<SHA-256 of name> where name is too long for the file
// system, as file_storage names its files.
func clientPath(dir, name string) (path string, hashed bool) {
	path = filepath.Join(dir, name)
	if _, err := os.Lstat(path); errors.Is(err, syscall.ENAMETOOLONG) {
		return filepath.Join(dir, hashName(name)), true
	}
	return path, false
}

func hashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func (e *segmentStorage) forget(s *store) {
	e.mu.Lock()
	delete(e.stores, s)
	e.mu.Unlock()
}

func kindString(k component.Kind) string {
	switch k {
	case component.KindReceiver:
		return "receiver"
	case component.KindProcessor:
		return "processor"
	case component.KindExporter:
		return "exporter"
	case component.KindExtension:
		return "extension"
	case component.KindConnector:
		return "connector"
	default:
		return "other"
	}
}

// sanitize escapes every character but letters, digits, '.', '-' and '_' as ~XXXX (its code
// point in hex), the tilde included, as file_storage does.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "~%04X", r)
		}
	}
	return b.String()
}
