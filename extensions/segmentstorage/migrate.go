package segmentstorage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

const (
	// migratedSuffix is appended to the name of a file_storage file once it is imported.
	migratedSuffix = ".migrated"
	// migrationBatchBytes is the size of keys and values over which an import writes a batch.
	migrationBatchBytes = 8 * mib
	// migrationComplete is the file that marks an import as complete and durable.
	migrationComplete = "migration-complete"
)

// migrationLockTimeout is how long the import waits for the lock of a file_storage file (a
// collector still running file_storage holds it); tests shorten it.
var migrationLockTimeout = 5 * time.Second

// fileStorageBucket is the bbolt bucket file_storage keeps a client's keys in.
var fileStorageBucket = []byte("default")

// migration imports the bbolt file of one file_storage client into the store of the same
// client. The store is built in tmp, next to its final directory; once it is complete and on
// disk, the file is renamed to <file>.migrated and tmp to dir. Each step can be cut short by a
// crash: at the next start, a complete tmp whose file was renamed is put in place, anything
// else in tmp is deleted and the import starts over.
type migration struct {
	file string // of file_storage
	dir  string // of the store
	tmp  string // where the store is built
	e    *segmentStorage
}

func (e *segmentStorage) newMigration(name, dir string) migration {
	fsDir := e.cfg.FileStorageDirectory
	if fsDir == "" {
		fsDir = e.cfg.Directory
	}
	file, _ := clientPath(fsDir, name)
	return migration{file: file, dir: dir, tmp: filepath.Join(e.cfg.Directory, "migrating-"+hashName(name)), e: e}
}

// run migrates the file, if there is one and the store is empty, and finishes a migration cut
// short. Errors name the file.
func (m migration) run(ctx context.Context) error {
	if err := m.resume(); err != nil {
		return fmt.Errorf("segment_storage: migrating file_storage file %s: %w", m.file, err)
	}
	info, err := os.Stat(m.file)
	if errors.Is(err, os.ErrNotExist) || (err == nil && !info.Mode().IsRegular()) {
		return nil // nothing to migrate; a directory is a store of this extension
	}
	if err != nil {
		return fmt.Errorf("segment_storage: migrating file_storage file %s: %w", m.file, err)
	}
	keys, err := m.storeKeys()
	if err != nil {
		return fmt.Errorf("segment_storage: migrating file_storage file %s: %w", m.file, err)
	}
	if keys > 0 {
		m.e.logger.Warn("segment_storage: not migrating a file_storage file: the client's store already holds data (remove or rename the file by hand)",
			zap.String("file", m.file), zap.String("directory", m.dir), zap.Int("keys", keys))
		return nil
	}
	start := time.Now()
	keys, size, err := m.importFile(ctx)
	if err != nil {
		if rerr := os.RemoveAll(m.tmp); rerr != nil {
			m.e.logger.Warn("segment_storage: removing an unfinished migration", zap.String("directory", m.tmp), zap.Error(rerr))
		}
		return fmt.Errorf("segment_storage: migrating file_storage file %s: %w", m.file, err)
	}
	renamed, err := m.finish()
	if err != nil {
		return fmt.Errorf("segment_storage: migrating file_storage file %s: %w", m.file, err)
	}
	m.e.logger.Info("segment_storage: migrated a file_storage file",
		zap.String("file", m.file), zap.String("renamed_to", renamed), zap.String("directory", m.dir),
		zap.Int("keys", keys), zap.Int64("bytes", size), zap.Duration("duration", time.Since(start)))
	return nil
}

// resume puts in place a store whose import was complete when a crash cut the migration short
// after the file was renamed, and deletes anything else left in tmp.
func (m migration) resume() error {
	if _, err := os.Lstat(m.tmp); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_, cerr := os.Stat(filepath.Join(m.tmp, migrationComplete))
	_, ferr := os.Lstat(m.file)
	if cerr == nil && errors.Is(ferr, os.ErrNotExist) {
		if _, err := m.finish(); err != nil {
			return err
		}
		m.e.logger.Info("segment_storage: finished a migration from file_storage cut short", zap.String("directory", m.dir))
		return nil
	}
	// Cut short during the import, or before the file was renamed: import it again.
	if err := os.RemoveAll(m.tmp); err != nil {
		return fmt.Errorf("removing an unfinished migration: %w", err)
	}
	return nil
}

// importFile copies every key and value of the file into a new store in tmp, in batches,
// with fsync, and marks it complete. It returns the number of keys and their bytes.
func (m migration) importFile(ctx context.Context) (keys int, size int64, err error) {
	info, err := os.Stat(m.file)
	if err != nil {
		return 0, 0, err
	}
	var db *bbolt.DB
	// An empty file (file_storage stopped between creating it and writing its first pages)
	// holds no keys: bbolt would try to write to it.
	if info.Size() > 0 {
		db, err = bbolt.Open(m.file, 0, &bbolt.Options{ReadOnly: true, Timeout: migrationLockTimeout})
		if errors.Is(err, berrors.ErrTimeout) {
			return 0, 0, fmt.Errorf("opening it: %w waiting for its lock after %s: is a collector with file_storage still using it?", err, migrationLockTimeout)
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return 0, 0, fmt.Errorf("opening it: %w (the file is corrupt, or not file_storage's)", err)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("opening it: %w", err)
		}
		defer db.Close()
	}
	if err := os.Mkdir(m.tmp, 0o750); err != nil {
		return 0, 0, err
	}
	s, err := openStore(storeOptions{
		dir:         m.tmp,
		segmentSize: m.e.cfg.SegmentSize,
		reserve:     m.e.cfg.SmallWriteReserve,
		minFree:     m.e.cfg.MinFreeSpace,
		fsync:       true, // every batch on disk before the file is renamed
		logger:      m.e.logger.With(zap.String("directory", m.tmp)),
	})
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if s != nil {
			_ = s.Close(ctx)
		}
	}()
	if db != nil {
		if keys, size, err = copyBucket(ctx, db, s); err != nil {
			return 0, 0, err
		}
	}
	err = s.Close(ctx)
	s = nil
	if err != nil {
		return 0, 0, err
	}
	done, err := os.OpenFile(filepath.Join(m.tmp, migrationComplete), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, 0, err
	}
	_, err = fmt.Fprintln(done, m.file)
	if err = errors.Join(err, done.Sync(), done.Close()); err != nil {
		return 0, 0, err
	}
	return keys, size, syncDir(m.tmp)
}

// copyBucket writes the keys and values of file_storage's bucket to s. bbolt panics on some
// corrupt pages, and a bad page reference can fault in its memory map: those are errors here.
func copyBucket(ctx context.Context, db *bbolt.DB, s *store) (keys int, size int64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading it: %v (the file is corrupt)", r)
		}
	}()
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(fileStorageBucket)
		if b == nil {
			return fmt.Errorf("reading it: no bucket %q: not a file_storage file", fileStorageBucket)
		}
		var ops []*storage.Operation
		batchSize := 0
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			// The values point into bbolt's memory map: Batch copies them before it returns.
			if err := s.Batch(ctx, ops...); err != nil {
				return err
			}
			keys += len(ops)
			size += int64(batchSize)
			ops, batchSize = ops[:0], 0
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil && b.Bucket(k) != nil {
				return fmt.Errorf("reading it: key %q is a nested bucket: not a file_storage file", k)
			}
			ops = append(ops, storage.SetOperation(string(k), v))
			batchSize += len(k) + len(v)
			if batchSize >= migrationBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	return keys, size, err
}

// finish renames the file (if it is still there) and puts the store built in tmp in place of
// an empty one. It returns the new name of the file.
func (m migration) finish() (string, error) {
	renamed := m.file + migratedSuffix
	if _, err := os.Lstat(m.file); err == nil {
		if err := os.Rename(m.file, renamed); errors.Is(err, syscall.ENAMETOOLONG) {
			renamed = filepath.Join(filepath.Dir(m.file), hashName(filepath.Base(m.file))+migratedSuffix)
			err = os.Rename(m.file, renamed)
		}
		if err != nil {
			return "", fmt.Errorf("renaming it: %w", err)
		}
		if err := syncDir(filepath.Dir(m.file)); err != nil {
			return "", err
		}
	}
	if info, err := os.Lstat(m.dir); err == nil && info.IsDir() {
		keys, err := m.storeKeys()
		if err != nil {
			return "", err
		}
		if keys > 0 {
			return "", fmt.Errorf("both %s, imported, and %s hold data: remove one by hand", m.tmp, m.dir)
		}
		if err := os.RemoveAll(m.dir); err != nil {
			return "", err
		}
	}
	if err := os.Rename(m.tmp, m.dir); err != nil {
		return "", err
	}
	if err := syncDir(filepath.Dir(m.dir)); err != nil {
		return "", err
	}
	if err := os.Remove(filepath.Join(m.dir, migrationComplete)); err != nil {
		m.e.logger.Warn("segment_storage: removing the mark of a finished migration", zap.Error(err))
	}
	return renamed, nil
}

// storeKeys returns the number of keys in the store in dir, 0 if dir is not a directory.
func (m migration) storeKeys() (int, error) {
	if info, err := os.Stat(m.dir); err != nil || !info.IsDir() {
		return 0, nil
	}
	s, err := openStore(storeOptions{
		dir:         m.dir,
		segmentSize: m.e.cfg.SegmentSize,
		reserve:     m.e.cfg.SmallWriteReserve,
		minFree:     m.e.cfg.MinFreeSpace,
		logger:      m.e.logger.With(zap.String("directory", m.dir)),
	})
	if err != nil {
		return 0, err
	}
	n := len(s.index)
	return n, s.Close(context.Background())
}
