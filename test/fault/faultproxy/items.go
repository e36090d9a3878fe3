package faultproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/prometheus/prompb"
)

// Tokens returns the numbered tokens ("<<id>>") in a log line: the IDs of the load generators'
// lines.
func Tokens(line string) []string {
	var out []string
	for {
		i := strings.Index(line, "<<")
		if i < 0 {
			return out
		}
		j := strings.Index(line[i+2:], ">>")
		if j < 0 {
			return out
		}
		out = append(out, line[i+2:i+2+j])
		line = line[i+2+j+2:]
	}
}

// LokiPushTokens reads a Loki push request (protobuf+snappy, or JSON) and returns the numbered
// tokens of its lines.
func LokiPushTokens(r *http.Request, body []byte) ([]string, error) {
	var lines []string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var req struct {
			Streams []struct {
				Values [][]any `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, fmt.Errorf("loki push (json): %w", err)
		}
		for _, s := range req.Streams {
			for _, v := range s.Values {
				if len(v) >= 2 {
					if l, ok := v[1].(string); ok {
						lines = append(lines, l)
					}
				}
			}
		}
	} else {
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("loki push: snappy: %w", err)
		}
		var req push.PushRequest
		if err := req.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("loki push: protobuf: %w", err)
		}
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				lines = append(lines, e.Line)
			}
		}
	}
	var out []string
	for _, l := range lines {
		out = append(out, Tokens(l)...)
	}
	return out, nil
}

// RemoteWriteSamples returns an Items function that reads a Prometheus remote-write request and
// returns one ID per sample of the series named metric (see SampleID).
func RemoteWriteSamples(metric string) func(*http.Request, []byte) ([]string, error) {
	return func(_ *http.Request, body []byte) ([]string, error) {
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("remote write: snappy: %w", err)
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("remote write: protobuf: %w", err)
		}
		var out []string
		for _, ts := range req.Timeseries {
			var name, run string
			for _, l := range ts.Labels {
				switch l.Name {
				case "__name__":
					name = l.Value
				case "run":
					run = l.Value
				}
			}
			if name != metric {
				continue
			}
			for _, s := range ts.Samples {
				out = append(out, SampleID(run, s.Value))
			}
		}
		return out, nil
	}
}

// SampleID is the ID of a numbered metric sample: "<run label>-m-<value>", with the value (the
// load generator's sequence number) in seven digits at least.
func SampleID(run string, value float64) string {
	return fmt.Sprintf("%s-m-%07d", run, int64(value))
}
