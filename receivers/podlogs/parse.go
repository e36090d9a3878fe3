package podlogsreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// format is the on-disk format of one container log file, detected from its first line.
type format uint8

const (
	formatUnknown format = iota
	formatCRI            // "<RFC3339Nano> <stdout|stderr> <P|F> <content>"
	formatDocker         // {"log":"...","stream":"stdout","time":"..."}
)

func (f format) String() string {
	switch f {
	case formatCRI:
		return "cri"
	case formatDocker:
		return "docker"
	default:
		return "unknown"
	}
}

// detectFormat tells the format of a file from one of its lines: docker's json-file driver writes
// JSON objects, CRI runtimes write a timestamp first.
func detectFormat(line []byte) format {
	line = bytes.TrimLeft(line, " \t")
	if len(line) > 0 && line[0] == '{' {
		return formatDocker
	}
	return formatCRI
}

// stream is the output stream a line was written to.
type stream uint8

const (
	streamUnknown stream = iota
	streamStdout
	streamStderr
)

func (s stream) String() string {
	switch s {
	case streamStdout:
		return "stdout"
	case streamStderr:
		return "stderr"
	default:
		return ""
	}
}

// entry is one parsed physical line.
type entry struct {
	ts      int64 // Unix nanoseconds; 0 when the line had none
	stream  stream
	partial bool   // the runtime split a longer line here; the next entry continues it
	content []byte // the payload, without the trailing newline; aliases the input or a scratch buffer
}

// Errors for lines that do not follow the file's format. They are counted and the raw line is kept.
var (
	errCRITimestamp = errors.New("cri: bad timestamp")
	errCRIStream    = errors.New("cri: bad stream (want stdout or stderr)")
	errCRITag       = errors.New("cri: bad tag (want P or F)")
	errDockerSyntax = errors.New("docker: not a json-file log object")
	errDockerField  = errors.New("docker: bad log, stream or time field")
)

// parseCRI parses one line of the CRI logging format (without its newline):
// "2016-10-06T00:17:09.669794202Z stdout F the message". The content aliases line.
func parseCRI(line []byte) (entry, error) {
	var e entry
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return e, errCRITimestamp
	}
	ts, ok := parseTimestamp(line[:sp])
	if !ok {
		return e, errCRITimestamp
	}
	e.ts = ts
	rest := line[sp+1:]
	switch {
	case len(rest) >= 7 && string(rest[:7]) == "stdout ":
		e.stream = streamStdout
	case len(rest) >= 7 && string(rest[:7]) == "stderr ":
		e.stream = streamStderr
	default:
		return e, errCRIStream
	}
	rest = rest[7:]
	// The tag is "P" or "F", possibly followed by more ':'-separated tags.
	end := bytes.IndexByte(rest, ' ')
	tag := rest
	if end >= 0 {
		tag = rest[:end]
		rest = rest[end+1:]
	} else {
		rest = rest[len(rest):]
	}
	if len(tag) == 0 {
		return e, errCRITag
	}
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i]
	}
	switch string(tag) {
	case "F":
	case "P":
		e.partial = true
	default:
		return e, errCRITag
	}
	e.content = rest
	return e, nil
}

// parseDocker parses one line of docker's json-file format. The unescaped "log" value is written
// into *scratch (reused between calls), and content aliases it. A "log" value that does not end in
// a newline is a partial line (docker splits lines at 16 KiB).
func parseDocker(line []byte, scratch *[]byte) (entry, error) {
	var e entry
	p := skipSpace(line, 0)
	if p >= len(line) || line[p] != '{' {
		return e, errDockerSyntax
	}
	p++
	var haveLog, other bool
	for {
		p = skipSpace(line, p)
		key, np, err := scanString(line, p, nil)
		if err != nil {
			return e, err
		}
		p = skipSpace(line, np)
		if p >= len(line) || line[p] != ':' {
			return e, errDockerSyntax
		}
		p = skipSpace(line, p+1)
		switch string(key) {
		case "log":
			buf := (*scratch)[:0]
			var val []byte
			val, np, err = scanString(line, p, &buf)
			if err != nil {
				return e, err
			}
			*scratch = buf
			e.content = val
			haveLog = true
		case "stream":
			var val []byte
			val, np, err = scanString(line, p, nil)
			if err != nil {
				return e, err
			}
			switch string(val) {
			case "stdout":
				e.stream = streamStdout
			case "stderr":
				e.stream = streamStderr
			default:
				return e, errDockerField
			}
		case "time":
			var val []byte
			val, np, err = scanString(line, p, nil)
			if err != nil {
				return e, err
			}
			ts, ok := parseTimestamp(val)
			if !ok {
				return e, errDockerField
			}
			e.ts = ts
		default:
			other = true
			np, err = skipValue(line, p)
			if err != nil {
				return e, err
			}
		}
		p = skipSpace(line, np)
		if p < len(line) && line[p] == ',' {
			p++
			continue
		}
		if p < len(line) && line[p] == '}' {
			p++
			break
		}
		return e, errDockerSyntax
	}
	if skipSpace(line, p) != len(line) || !haveLog {
		return e, errDockerSyntax
	}
	// Keys other than log, stream and time (docker's "attrs") are skipped loosely above; such
	// lines are rare, so check them properly here.
	if other && !json.Valid(line) {
		return e, errDockerSyntax
	}
	if n := len(e.content); n > 0 && e.content[n-1] == '\n' {
		e.content = e.content[:n-1]
	} else {
		e.partial = true
	}
	return e, nil
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\r' || b[p] == '\n') {
		p++
	}
	return p
}

// scanString reads the JSON string starting at b[p] (which must be '"'). Without an escape it
// returns a sub-slice of b; with one, it unescapes into *buf (which must then be non-nil; with a
// nil buf an escaped string is an error, which is fine for keys and enum values). Raw control
// characters, which docker never writes, are let through rather than refused.
func scanString(b []byte, p int, buf *[]byte) ([]byte, int, error) {
	if p >= len(b) || b[p] != '"' {
		return nil, p, errDockerSyntax
	}
	p++
	q := bytes.IndexByte(b[p:], '"')
	if q < 0 {
		return nil, p, errDockerSyntax
	}
	if bytes.IndexByte(b[p:p+q], '\\') < 0 {
		return b[p : p+q], p + q + 1, nil
	}
	if buf == nil {
		return nil, p, errDockerSyntax
	}
	return unescape(b, p, buf)
}

// unescape decodes the JSON string whose contents start at b[p], into *buf.
func unescape(b []byte, p int, buf *[]byte) ([]byte, int, error) {
	out := (*buf)[:0]
	quote := -1 // position of the next '"' at or after p, once known
	for {
		if quote < p {
			q := bytes.IndexByte(b[p:], '"')
			if q < 0 {
				return nil, p, errDockerSyntax
			}
			quote = p + q
		}
		i := quote - p
		if bs := bytes.IndexByte(b[p:quote], '\\'); bs >= 0 {
			i = bs
		}
		out = append(out, b[p:p+i]...)
		p += i
		if b[p] == '"' {
			*buf = out
			return out, p + 1, nil
		}
		if p+1 >= len(b) {
			return nil, p, errDockerSyntax
		}
		switch b[p+1] {
		case '"', '\\', '/':
			out = append(out, b[p+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, p+2)
			if !ok {
				return nil, p, errDockerSyntax
			}
			p += 6
			if utf16.IsSurrogate(r) {
				if r2, ok2 := hex4(b, p+2); ok2 && p+1 < len(b) && b[p] == '\\' && b[p+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						p += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, p, errDockerSyntax
		}
		p += 2
	}
}

func hex4(b []byte, p int) (rune, bool) {
	if p+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// skipValue skips any JSON value (docker may add "attrs" objects) and returns the position after it.
func skipValue(b []byte, p int) (int, error) {
	if p >= len(b) {
		return p, errDockerSyntax
	}
	switch c := b[p]; {
	case c == '"':
		var scratch []byte
		_, np, err := scanString(b, p, &scratch)
		return np, err
	case c == '{' || c == '[':
		depth := 0
		for p < len(b) {
			switch b[p] {
			case '{', '[':
				depth++
				p++
			case '}', ']':
				depth--
				p++
				if depth == 0 {
					return p, nil
				}
			case '"':
				var scratch []byte
				_, np, err := scanString(b, p, &scratch)
				if err != nil {
					return np, err
				}
				p = np
			default:
				p++
			}
		}
		return p, errDockerSyntax
	default:
		// number, true, false, null
		q := p
		for q < len(b) && b[q] != ',' && b[q] != '}' && b[q] != ']' && b[q] != ' ' {
			q++
		}
		if q == p {
			return p, errDockerSyntax
		}
		return q, nil
	}
}

// parseTimestamp parses an RFC 3339 timestamp with optional fractional seconds and a "Z" or
// "±hh:mm" zone, as container runtimes write them, into Unix nanoseconds, without allocating.
func parseTimestamp(b []byte) (int64, bool) {
	// 2006-01-02T15:04:05[.fffffffff](Z|+07:00)
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') ||
		b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	p := 19
	var nanos int64
	if p < len(b) && b[p] == '.' {
		p++
		start := p
		var scale int64 = 100_000_000
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			if p-start < 9 {
				nanos += int64(b[p]-'0') * scale
				scale /= 10
			}
			p++
		}
		if p == start {
			return 0, false
		}
	}
	if p >= len(b) {
		return 0, false
	}
	var offset int64
	switch b[p] {
	case 'Z', 'z':
		p++
	case '+', '-':
		if p+6 != len(b) || b[p+3] != ':' {
			return 0, false
		}
		oh, okh := digits(b[p+1 : p+3])
		om, okm := digits(b[p+4 : p+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if b[p] == '-' {
			offset = -offset
		}
		p += 6
	default:
		return 0, false
	}
	if p != len(b) {
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - offset
	return secs*1_000_000_000 + nanos, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// lineError describes a line that did not parse, for the log.
func lineError(err error, name string, offset int64) error {
	return fmt.Errorf("%s at byte %d: %w", name, offset, err)
}
