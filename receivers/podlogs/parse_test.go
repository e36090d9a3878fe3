package podlogsreceiver

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParseCRI(t *testing.T) {
	ts := time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC).UnixNano()
	tests := []struct {
		name string
		line string
		want entry
		err  error
	}{
		{"full", "2016-10-06T00:17:09.669794202Z stdout F hello world", entry{ts: ts, stream: streamStdout, content: []byte("hello world")}, nil},
		{"partial", "2016-10-06T00:17:09.669794202Z stderr P part", entry{ts: ts, stream: streamStderr, partial: true, content: []byte("part")}, nil},
		{"empty content", "2016-10-06T00:17:09.669794202Z stdout F ", entry{ts: ts, stream: streamStdout, content: []byte{}}, nil},
		{"no content separator", "2016-10-06T00:17:09.669794202Z stdout F", entry{ts: ts, stream: streamStdout, content: []byte{}}, nil},
		{"extra tags", "2016-10-06T00:17:09.669794202Z stdout F:x y", entry{ts: ts, stream: streamStdout, content: []byte("y")}, nil},
		{"spaces kept", "2016-10-06T00:17:09.669794202Z stdout F  two  spaces ", entry{ts: ts, stream: streamStdout, content: []byte(" two  spaces ")}, nil},
		{"offset zone", "2016-10-06T02:17:09.669794202+02:00 stdout F x", entry{ts: ts, stream: streamStdout, content: []byte("x")}, nil},
		{"bad timestamp", "yesterday stdout F x", entry{}, errCRITimestamp},
		{"no space", "garbage", entry{}, errCRITimestamp},
		{"bad stream", "2016-10-06T00:17:09.669794202Z stdin F x", entry{ts: ts}, errCRIStream},
		{"bad tag", "2016-10-06T00:17:09.669794202Z stdout X x", entry{ts: ts, stream: streamStdout}, errCRITag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCRI([]byte(tt.line))
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want.ts, got.ts)
			require.Equal(t, tt.want.stream, got.stream)
			require.Equal(t, tt.want.partial, got.partial)
			require.Equal(t, string(tt.want.content), string(got.content))
		})
	}
}

func TestParseDocker(t *testing.T) {
	ts := time.Date(2019, 1, 1, 11, 11, 11, 111111111, time.UTC).UnixNano()
	tests := []struct {
		name    string
		line    string
		content string
		stream  stream
		partial bool
		err     error
	}{
		{"full", `{"log":"hello\n","stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}`, "hello", streamStdout, false, nil},
		{"escapes", `{"log":"a \"q\" \\ \t \u00e9 \ud83d\ude00\n","stream":"stderr","time":"2019-01-01T11:11:11.111111111Z"}`, "a \"q\" \\ \t é 😀", streamStderr, false, nil},
		{"partial", `{"log":"no newline","stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}`, "no newline", streamStdout, true, nil},
		{"other order and attrs", ` { "time":"2019-01-01T11:11:11.111111111Z", "attrs":{"a":[1,"}"]}, "stream":"stdout", "log":"x\n" } `, "x", streamStdout, false, nil},
		{"no log", `{"stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}`, "", 0, false, errDockerSyntax},
		{"not json", `2019-01-01 hello`, "", 0, false, errDockerSyntax},
		{"truncated", `{"log":"hello\n","stream":"std`, "", 0, false, errDockerSyntax},
		{"bad stream", `{"log":"x\n","stream":"stdin","time":"2019-01-01T11:11:11.111111111Z"}`, "", 0, false, errDockerField},
		{"bad time", `{"log":"x\n","stream":"stdout","time":"never"}`, "", 0, false, errDockerField},
		{"bad escape", `{"log":"\q","stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}`, "", 0, false, errDockerSyntax},
		{"trailing garbage", `{"log":"x\n","stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}x`, "", 0, false, errDockerSyntax},
	}
	var scratch []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDocker([]byte(tt.line), &scratch)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ts, got.ts)
			require.Equal(t, tt.stream, got.stream)
			require.Equal(t, tt.partial, got.partial)
			require.Equal(t, tt.content, string(got.content))
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	for _, s := range []string{
		"2016-10-06T00:17:09.669794202Z", "2016-10-06T00:17:09Z", "2016-10-06T00:17:09.5Z",
		"2024-02-29T23:59:59.999999999+05:30", "1969-12-31T23:59:59.1-01:00", "2000-03-01T00:00:00.123456789012Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err, s)
		got, ok := parseTimestamp([]byte(s))
		require.True(t, ok, s)
		require.Equal(t, want.UnixNano(), got, s)
	}
	for _, s := range []string{"", "2016-10-06", "2016-13-06T00:17:09Z", "2023-02-29T00:00:00Z", "2016-10-06T00:17:09", "2016-10-06T00:17:09.Z", "2016-10-06T00:17:09Zjunk", "2016-10-06T00:17:09+0200"} {
		_, ok := parseTimestamp([]byte(s))
		require.False(t, ok, s)
	}
}

func TestDetectFormat(t *testing.T) {
	require.Equal(t, formatDocker, detectFormat([]byte(`{"log":"x"}`)))
	require.Equal(t, formatCRI, detectFormat([]byte(`2016-10-06T00:17:09Z stdout F x`)))
	require.Equal(t, formatCRI, detectFormat(nil))
}

func FuzzParseCRI(f *testing.F) {
	f.Add("2016-10-06T00:17:09.669794202Z stdout F hello")
	f.Add("2016-10-06T00:17:09.669794202Z stderr P part")
	f.Add("2016-10-06T02:17:09+02:00 stdout F:x y")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := parseCRI([]byte(line))
		if err != nil {
			return
		}
		// The content is the line's tail, and the timestamp agrees with the standard library.
		require.True(t, strings.HasSuffix(line, string(e.content)))
		ts := line[:strings.IndexByte(line, ' ')]
		if want, perr := time.Parse(time.RFC3339Nano, ts); perr == nil && want.Year() >= 0 && want.Year() <= 9999 {
			require.Equal(t, want.UnixNano(), e.ts, ts)
		}
		require.Contains(t, []stream{streamStdout, streamStderr}, e.stream)
	})
}

func FuzzParseDocker(f *testing.F) {
	f.Add(`{"log":"hello\n","stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}`)
	f.Add(`{"log":"a \"q\" \u00e9 \ud83d\ude00","stream":"stderr","time":"2019-01-01T11:11:11Z"}`)
	f.Add(`{"time":"2019-01-01T11:11:11Z","attrs":{"a":[1,2]},"stream":"stdout","log":"x\n"}`)
	f.Fuzz(func(t *testing.T, line string) {
		var scratch []byte
		e, err := parseDocker([]byte(line), &scratch)
		var std struct {
			Log    *string `json:"log"`
			Stream string  `json:"stream"`
		}
		stdErr := json.Unmarshal([]byte(line), &std)
		if err != nil {
			return
		}
		// Whatever we accept, encoding/json accepts too and reads the same log value (but raw
		// control characters in a string, which encoding/json refuses, are let through; a raw
		// tab, newline or carriage return is one too when it is inside a string: "in string
		// literal" up to go1.26, "in string" from go1.27).
		var syntax *json.SyntaxError
		if errors.As(stdErr, &syntax) && syntax.Offset > 0 && line[syntax.Offset-1] < 0x20 && strings.Contains(syntax.Error(), "in string") {
			return
		}
		if stdErr != nil && strings.IndexFunc(line, func(r rune) bool { return r < 0x20 && r != ' ' && r != '\t' && r != '\n' && r != '\r' }) >= 0 {
			return
		}
		require.NoError(t, stdErr, "accepted by parseDocker but not by encoding/json: %q", line)
		require.NotNil(t, std.Log)
		want := *std.Log
		if !e.partial {
			want = strings.TrimSuffix(want, "\n")
		}
		if utf8.Valid(e.content) {
			require.Equal(t, want, string(e.content))
		}
	})
}
