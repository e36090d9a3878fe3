package podlogsreceiver

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkpointPrefix starts every key this receiver stores; the rest of the key is the file's path.
const checkpointPrefix = "podlogs/"

const checkpointVersion = 1

// checkpoint is what is committed for one tailed path once the data before offset was accepted
// by the next consumer: which file was being read (a rotated file keeps being read under the
// path it had), where, and its leading bytes to recognise it.
type checkpoint struct {
	name     string // the file read: the path itself, or the rotated file it was renamed or copied to
	dev, ino uint64
	offset   int64
	format   format
	fp       []byte
}

func (c checkpoint) marshal() []byte {
	b := make([]byte, 0, 32+len(c.name)+len(c.fp))
	b = append(b, checkpointVersion)
	b = binary.AppendUvarint(b, c.dev)
	b = binary.AppendUvarint(b, c.ino)
	b = binary.AppendUvarint(b, uint64(c.offset))
	b = append(b, byte(c.format))
	b = binary.AppendUvarint(b, uint64(len(c.name)))
	b = append(b, c.name...)
	b = binary.AppendUvarint(b, uint64(len(c.fp)))
	b = append(b, c.fp...)
	return b
}

var errCheckpoint = errors.New("malformed checkpoint")

func unmarshalCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	if len(b) == 0 || b[0] != checkpointVersion {
		return c, fmt.Errorf("%w: unknown version", errCheckpoint)
	}
	b = b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	var ok bool
	var off, n uint64
	if c.dev, ok = next(); !ok {
		return c, errCheckpoint
	}
	if c.ino, ok = next(); !ok {
		return c, errCheckpoint
	}
	if off, ok = next(); !ok || off > 1<<62 {
		return c, errCheckpoint
	}
	c.offset = int64(off)
	if len(b) < 1 {
		return c, errCheckpoint
	}
	c.format = format(b[0])
	b = b[1:]
	if n, ok = next(); !ok || n > uint64(len(b)) {
		return c, errCheckpoint
	}
	c.name = string(b[:n])
	b = b[n:]
	if n, ok = next(); !ok || n != uint64(len(b)) {
		return c, errCheckpoint
	}
	c.fp = append([]byte(nil), b...)
	if c.format > formatDocker {
		return c, fmt.Errorf("%w: unknown format %d", errCheckpoint, c.format)
	}
	return c, nil
}
