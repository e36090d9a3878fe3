package segmentstorage

import (
	"errors"
	"fmt"
	"math"
	"os"

	"go.opentelemetry.io/collector/component"
)

const (
	mib = 1 << 20
	// defaultSegmentSize is the size of a segment file: large enough that a 2 MiB queue item
	// costs one of 8 slots (a new segment is a create, a fallocate and a rename), small enough
	// that what an agent preallocates for its clients (each has a head segment: the queues of
	// logs and traces, podlogs' offsets) and the space held by a segment with little live data
	// stay small.
	defaultSegmentSize = 16 * mib
	// minSegmentSize is the smallest segment_size accepted.
	minSegmentSize = 1 * mib
	// defaultSmallWriteReserve is the end of each segment kept for small writes: hundreds to
	// thousands of queue reads and completions, by the size of the queue's metadata.
	defaultSmallWriteReserve = 1 * mib
	// defaultMinFreeSpace is the free space of the volume that new data may not take: room for
	// eight bookkeeping segments of a 1 MiB reserve each when the clients' heads run out.
	defaultMinFreeSpace = 8 * mib
	// defaultReadCacheSize holds the item or two a queue's consumer has yet to read while it
	// keeps up, and a few more while it does not: under a backlog it holds the oldest items,
	// the next ones read (bench/'s 200 B pod logs, whose queue has ~10 MiB of backlog: 2 MiB
	// served a third of the reads, 4 MiB 43 %, 8 MiB 73 %; peak RssAnon ~8 and ~15 MiB more).
	defaultReadCacheSize = 4 * mib
)

// Config is the configuration of the segment_storage extension.
type Config struct {
	// Directory holds one subdirectory of segment files per client. It must exist unless
	// CreateDirectory is set.
	Directory string `mapstructure:"directory"`
	// CreateDirectory creates Directory (mode 0750) when the extension is created.
	CreateDirectory bool `mapstructure:"create_directory"`
	// SegmentSize is the size in bytes of each segment file, preallocated when it is created
	// (default 16 MiB, at least 1 MiB). A record larger than a segment gets a segment of its own.
	SegmentSize int64 `mapstructure:"segment_size"`
	// FSync makes each write wait for fsync(2). Without it (the default) a write is handed to
	// the kernel with write(2) and survives the process being killed, not a power loss.
	FSync bool `mapstructure:"fsync"`
	// SmallWriteReserve is the number of bytes at the end of each segment that only small
	// writes, the batches that add no key (a queue's reads, completions and metadata, a
	// receiver's offsets), may use, so that they still succeed when the disk is too full for a
	// new segment (default 1 MiB, less than segment_size/2).
	SmallWriteReserve int64 `mapstructure:"small_write_reserve"`
	// MinFreeSpace is the free space in bytes that new data may not take from the volume: a
	// write that needs a new segment is refused when less would remain, while small writes may
	// still use it, for segments of their own once a head's reserve is used up (default 8 MiB, at
	// least 0).
	MinFreeSpace int64 `mapstructure:"min_free_space"`
	// ReadCacheSize is the number of bytes of values (of 4 KiB or more) that each client keeps
	// in memory as well from when they are written until they are read, so that reading what
	// was just written (a queue's consumer taking what its producer put) costs no pread(2)
	// (default 4 MiB, 0 turns it off). Values written while it is full are read from disk.
	ReadCacheSize int64 `mapstructure:"read_cache_size"`
	// MigrateFromFileStorage imports the file_storage file of a client (in
	// FileStorageDirectory) when the client's store is new or empty, then renames the file to
	// <name>.migrated (default true).
	MigrateFromFileStorage bool `mapstructure:"migrate_from_file_storage"`
	// FileStorageDirectory is the directory of the file_storage files to migrate (default:
	// Directory).
	FileStorageDirectory string `mapstructure:"file_storage_directory"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; it changes nothing.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory: must be set"))
	} else if info, err := os.Stat(c.Directory); err != nil {
		if !errors.Is(err, os.ErrNotExist) || !c.CreateDirectory {
			errs = append(errs, fmt.Errorf("directory: %w (set create_directory to create it)", err))
		}
	} else if !info.IsDir() {
		errs = append(errs, fmt.Errorf("directory: %s is not a directory", c.Directory))
	}
	if c.SegmentSize < minSegmentSize {
		errs = append(errs, fmt.Errorf("segment_size: %d is less than the minimum of %d (1 MiB)", c.SegmentSize, minSegmentSize))
	}
	if c.SmallWriteReserve < 0 || c.SmallWriteReserve >= c.SegmentSize/2 {
		errs = append(errs, fmt.Errorf("small_write_reserve: %d must be at least 0 and less than segment_size/2 (%d)", c.SmallWriteReserve, c.SegmentSize/2))
	}
	if c.MinFreeSpace < 0 {
		errs = append(errs, fmt.Errorf("min_free_space: %d must be at least 0", c.MinFreeSpace))
	}
	if c.ReadCacheSize < 0 || c.ReadCacheSize > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("read_cache_size: %d must be at least 0 and less than 2 GiB", c.ReadCacheSize))
	}
	if c.FileStorageDirectory != "" {
		if info, err := os.Stat(c.FileStorageDirectory); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("file_storage_directory: %w", err))
		} else if err == nil && !info.IsDir() {
			errs = append(errs, fmt.Errorf("file_storage_directory: %s is not a directory", c.FileStorageDirectory))
		}
	}
	return errors.Join(errs...)
}
