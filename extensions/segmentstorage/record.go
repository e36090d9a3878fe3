package segmentstorage

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The file format. A segment file starts with segmentMagic, followed by records; the rest of
// the file is zeros (preallocated). A record is one Batch:
//
//	crc32c uint32 LE | length uint32 LE | body (length bytes)
//
// where the CRC-32C (Castagnoli) covers the length field and the body, and the body is its
// writes in order, each
//
//	type byte (opSet, opDelete) | key length uvarint | key | (opSet only) value length uvarint | value
//
// A record whose length is zero ends the data of a segment (a record is never empty).
const (
	segmentMagic = "LKSEG\x00\x00\x01" // format version 1
	magicSize    = int64(len(segmentMagic))
	headerSize   = 8

	opSet    byte = 1
	opDelete byte = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errMalformed is a record whose checksum matches but whose body does not decode: written by
// another program, or a format this version does not know.
var errMalformed = errors.New("malformed record body")

// appendSet appends a Set to rec and returns it with the offset of the value in rec.
func appendSet(rec []byte, key string, value []byte) ([]byte, int) {
	rec = append(rec, opSet)
	rec = binary.AppendUvarint(rec, uint64(len(key)))
	rec = append(rec, key...)
	rec = binary.AppendUvarint(rec, uint64(len(value)))
	off := len(rec)
	return append(rec, value...), off
}

// maxSetSize is the most bytes appendSet appends for key and value.
func maxSetSize(key string, value []byte) int {
	return 1 + 2*binary.MaxVarintLen64 + len(key) + len(value)
}

// appendDelete appends a Delete to rec.
func appendDelete(rec []byte, key string) []byte {
	rec = append(rec, opDelete)
	rec = binary.AppendUvarint(rec, uint64(len(key)))
	return append(rec, key...)
}

// sealRecord fills in the header of rec, whose first headerSize bytes were reserved for it.
func sealRecord(rec []byte) {
	binary.LittleEndian.PutUint32(rec[4:8], uint32(len(rec)-headerSize))
	binary.LittleEndian.PutUint32(rec[0:4], crc32.Checksum(rec[4:], castagnoli))
}

// recordOp is one write decoded from a record body: value is at valueOff in the body.
type recordOp struct {
	typ      byte
	key      string
	valueOff int
	valueLen int
}

// decodeRecord decodes a record body into ops (reusing its array), or fails without
// returning any of them.
func decodeRecord(body []byte, ops []recordOp) ([]recordOp, error) {
	ops = ops[:0]
	for i := 0; i < len(body); {
		typ := body[i]
		i++
		if typ != opSet && typ != opDelete {
			return nil, errMalformed
		}
		keyLen, n := binary.Uvarint(body[i:])
		if n <= 0 || keyLen > uint64(len(body)-i-n) {
			return nil, errMalformed
		}
		i += n
		op := recordOp{typ: typ, key: string(body[i : i+int(keyLen)])}
		i += int(keyLen)
		if typ == opSet {
			valueLen, n := binary.Uvarint(body[i:])
			if n <= 0 || valueLen > uint64(len(body)-i-n) {
				return nil, errMalformed
			}
			i += n
			op.valueOff, op.valueLen = i, int(valueLen)
			i += int(valueLen)
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil, errMalformed
	}
	return ops, nil
}
