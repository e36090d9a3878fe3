package podlogsreceiver

import (
	"bytes"
	"fmt"
	"regexp"
)

// mlMode is what the record being assembled looks like so far; it selects which rules apply to
// the next line.
type mlMode uint8

const (
	modePlain    mlMode = iota // an ordinary line, or a Java exception
	modePython                 // inside "Traceback (most recent call last):"
	modePyEnd                  // after a traceback's final "SomeError: msg" line
	modeGoPanic                // after "panic: " or "fatal error: "
	modeGoFrames               // after "goroutine N [...]:"
)

// joiner decides which lines continue the record before them. The presets are byte scans; custom
// rules are regular expressions and cost more.
type joiner struct {
	java, golang, python bool
	cont                 []*regexp.Regexp // a match continues the record
	start                []*regexp.Regexp // a line matching none of these continues the record
}

func newJoiner(cfg MultilineConfig) (*joiner, error) {
	j := &joiner{}
	for _, p := range cfg.Presets {
		switch p {
		case PresetJava:
			j.java = true
		case PresetGo:
			j.golang = true
		case PresetPython:
			j.python = true
		default:
			return nil, fmt.Errorf("multiline::presets: unknown preset %q", p)
		}
	}
	for i, r := range cfg.Rules {
		if r.ContinuationPattern != "" {
			re, err := regexp.Compile(r.ContinuationPattern)
			if err != nil {
				return nil, fmt.Errorf("multiline::rules[%d]::continuation_pattern: %w", i, err)
			}
			j.cont = append(j.cont, re)
		}
		if r.StartPattern != "" {
			re, err := regexp.Compile(r.StartPattern)
			if err != nil {
				return nil, fmt.Errorf("multiline::rules[%d]::start_pattern: %w", i, err)
			}
			j.start = append(j.start, re)
		}
	}
	return j, nil
}

func (j *joiner) enabled() bool {
	return j != nil && (j.java || j.golang || j.python || len(j.cont) > 0 || len(j.start) > 0)
}

// startMode is the mode of a record that begins with line.
func (j *joiner) startMode(line []byte) mlMode {
	switch {
	case j.python && bytes.HasPrefix(line, pyTraceback):
		return modePython
	case j.golang && (bytes.HasPrefix(line, goPanic) || bytes.HasPrefix(line, goFatal)):
		return modeGoPanic
	}
	return modePlain
}

var (
	pyTraceback = []byte("Traceback (most recent call last):")
	pyDuring    = []byte("During handling of the above exception")
	pyCause     = []byte("The above exception was the direct cause")
	goPanic     = []byte("panic: ")
	goFatal     = []byte("fatal error: ")
	goGoroutine = []byte("goroutine ")
	goCreatedBy = []byte("created by ")
	goSignal    = []byte("[signal ")
	goExit      = []byte("exit status ")
	javaCaused  = []byte("Caused by: ")
	javaSupp    = []byte("Suppressed: ")
	javaAt      = []byte("at ")
	javaMore    = []byte("... ")
	javaCommon  = []byte("...")
)

// continues reports whether line continues a record in mode, and the record's next mode.
func (j *joiner) continues(mode mlMode, line []byte) (bool, mlMode) {
	switch mode {
	case modePython:
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return true, modePython
		}
		// The first line that is not indented names the exception and ends the traceback.
		return true, modePyEnd
	case modePyEnd:
		switch {
		case len(line) == 0, bytes.HasPrefix(line, pyDuring), bytes.HasPrefix(line, pyCause):
			return true, modePyEnd
		case bytes.HasPrefix(line, pyTraceback):
			return true, modePython
		}
	case modeGoPanic, modeGoFrames:
		if isGoPanicLine(line) {
			if bytes.HasPrefix(line, goGoroutine) {
				return true, modeGoFrames
			}
			return true, mode
		}
	}
	if j.python && bytes.HasPrefix(line, pyTraceback) {
		// logging.exception() writes the message, then the traceback: keep them together.
		return true, modePython
	}
	if j.golang && mode == modePlain && bytes.HasPrefix(line, goGoroutine) {
		return false, mode
	}
	if j.java && isJavaContinuation(line) {
		return true, mode
	}
	for _, re := range j.cont {
		if re.Match(line) {
			return true, mode
		}
	}
	if len(j.start) > 0 {
		for _, re := range j.start {
			if re.Match(line) {
				return false, mode
			}
		}
		return true, mode
	}
	return false, mode
}

// isJavaContinuation matches the lines of a Java stack trace after the exception line:
// "\tat pkg.Class.method(File.java:10)", "\t... 12 more", "Caused by: ...", "\tSuppressed: ...".
func isJavaContinuation(line []byte) bool {
	if bytes.HasPrefix(line, javaCaused) {
		return true
	}
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i == 0 {
		return false
	}
	rest := line[i:]
	return bytes.HasPrefix(rest, javaAt) || bytes.HasPrefix(rest, javaMore) || bytes.Equal(rest, javaCommon) ||
		bytes.HasPrefix(rest, javaCaused) || bytes.HasPrefix(rest, javaSupp)
}

// isGoPanicLine matches the lines of a Go panic or fatal error after its first line.
func isGoPanicLine(line []byte) bool {
	if len(line) == 0 || line[0] == '\t' || line[0] == ' ' {
		return true
	}
	if bytes.HasPrefix(line, goGoroutine) || bytes.HasPrefix(line, goCreatedBy) || bytes.HasPrefix(line, goSignal) ||
		bytes.HasPrefix(line, goPanic) || bytes.HasPrefix(line, goExit) || bytes.HasPrefix(line, goFatal) {
		return true
	}
	// A frame's function line: "main.main()", "net/http.(*conn).serve(0xc000, {0x1, 0x2})".
	if open := bytes.IndexByte(line, '('); open > 0 && line[len(line)-1] == ')' && bytes.IndexByte(line[:open], ' ') < 0 {
		return true
	}
	// "...additional frames elided..."
	return bytes.HasPrefix(line, javaCommon)
}
