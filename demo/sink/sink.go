// Package sink is a local stand-in for Slack and PagerDuty: it takes the notifications
// Alertmanager sends to a Slack incoming webhook, to the PagerDuty Events API v2 and to a plain
// webhook, checks that each has the shape the real service requires, answers the way the real
// service does, and records what it accepted as JSON lines that survive a restart. GET /received
// lists them.
package sink

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Kind is where a notification was sent.
type Kind string

// The kinds of notification the sink takes.
const (
	Slack     Kind = "slack"
	PagerDuty Kind = "pagerduty"
	Webhook   Kind = "webhook"
)

// MaxBody bounds a notification's size.
const MaxBody = 1 << 20

// Record is one accepted notification.
type Record struct {
	Seq        int64           `json:"seq"`
	ReceivedAt time.Time       `json:"received_at"`
	Kind       Kind            `json:"kind"`
	Path       string          `json:"path"`
	Body       json.RawMessage `json:"body"`
}

// Options configure a Sink.
type Options struct {
	// Dir holds received.jsonl; created if needed.
	Dir    string
	Logger *zap.Logger
	// Now stamps records; time.Now when nil.
	Now func() time.Time
}

// Sink records notifications.
type Sink struct {
	opts Options

	mu      sync.Mutex
	f       *os.File
	records []Record
}

// FileName is the record file inside Options.Dir.
const FileName = "received.jsonl"

// Open loads the records already in dir and opens the file for more. A line that does not
// decode (a crash mid-write) is skipped with a warning; the rest are kept.
func Open(opts Options) (*Sink, error) {
	if opts.Dir == "" {
		return nil, errors.New("sink: no directory")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	path := filepath.Join(opts.Dir, FileName)
	s := &Sink{opts: opts}
	if err := s.load(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.f = f
	return s, nil
}

func (s *Sink) load(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*MaxBody)
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			s.opts.Logger.Warn("skipping a damaged record", zap.String("file", path), zap.Int("line", n), zap.Error(err))
			continue
		}
		s.records = append(s.records, r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("sink: read %s: %w", path, err)
	}
	return nil
}

// Close closes the record file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Records returns the records of kind (all kinds when "") with a sequence number above since.
func (s *Sink) Records(kind Kind, since int64) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Record{}
	for _, r := range s.records {
		if (kind == "" || r.Kind == kind) && r.Seq > since {
			out = append(out, r)
		}
	}
	return out
}

func (s *Sink) add(kind Kind, path string, body []byte) (Record, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return Record{}, errors.New("sink closed")
	}
	var seq int64 = 1
	if n := len(s.records); n > 0 {
		seq = s.records[n-1].Seq + 1
	}
	r := Record{Seq: seq, ReceivedAt: s.opts.Now().UTC(), Kind: kind, Path: path, Body: compact.Bytes()}
	line, err := json.Marshal(r)
	if err != nil {
		return Record{}, err
	}
	if _, err := s.f.Write(append(line, '\n')); err != nil {
		return Record{}, fmt.Errorf("write record: %w", err)
	}
	s.records = append(s.records, r)
	return r, nil
}

// Handler serves:
//
//	POST /slack/...                a Slack incoming webhook   → 200 "ok"
//	POST /pagerduty/v2/enqueue     PagerDuty Events API v2     → 202 {"status":"success",...}
//	POST /webhook/...              an Alertmanager webhook     → 200
//	GET  /received[?kind=&since=]  the records, oldest first
//	GET  /healthz
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/", s.slack)
	mux.HandleFunc("POST /pagerduty/v2/enqueue", s.pagerduty)
	mux.HandleFunc("POST /webhook/", s.webhook)
	mux.HandleFunc("GET /received", s.list)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", MaxBody)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	return b, 0, nil
}

// slackMessage is the part of a Slack message the sink checks.
type slackMessage struct {
	Text        string            `json:"text"`
	Channel     string            `json:"channel"`
	Attachments []json.RawMessage `json:"attachments"`
	Blocks      []json.RawMessage `json:"blocks"`
}

func (s *Sink) slack(w http.ResponseWriter, r *http.Request) {
	body, status, err := readBody(w, r)
	if err != nil {
		s.reject(w, r, Slack, status, err.Error())
		return
	}
	var m slackMessage
	if err := json.Unmarshal(body, &m); err != nil {
		s.reject(w, r, Slack, http.StatusBadRequest, "invalid_payload: "+err.Error())
		return
	}
	if m.Text == "" && len(m.Attachments) == 0 && len(m.Blocks) == 0 {
		s.reject(w, r, Slack, http.StatusBadRequest, "no_text: a Slack message needs text, attachments or blocks")
		return
	}
	rec, err := s.add(Slack, r.URL.Path, body)
	if err != nil {
		s.reject(w, r, Slack, http.StatusInternalServerError, "record: "+err.Error())
		return
	}
	s.opts.Logger.Info("slack message", zap.Int64("seq", rec.Seq), zap.String("path", r.URL.Path), zap.String("channel", m.Channel))
	_, _ = io.WriteString(w, "ok")
}

// pagerDutyEvent is the part of a PagerDuty Events API v2 event the sink checks.
type pagerDutyEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary  string `json:"summary"`
		Source   string `json:"source"`
		Severity string `json:"severity"`
	} `json:"payload"`
}

func (e pagerDutyEvent) validate() []string {
	var errs []string
	if e.RoutingKey == "" {
		errs = append(errs, "'routing_key' is missing or blank")
	}
	switch e.EventAction {
	case "trigger":
		if e.Payload == nil {
			errs = append(errs, "'payload' is missing")
			break
		}
		if e.Payload.Summary == "" {
			errs = append(errs, "'payload.summary' is missing or blank")
		}
		if e.Payload.Source == "" {
			errs = append(errs, "'payload.source' is missing or blank")
		}
		switch e.Payload.Severity {
		case "critical", "error", "warning", "info":
		default:
			errs = append(errs, fmt.Sprintf("'payload.severity' %q is not critical, error, warning or info", e.Payload.Severity))
		}
	case "acknowledge", "resolve":
		if e.DedupKey == "" {
			errs = append(errs, "'dedup_key' is required to "+e.EventAction)
		}
	default:
		errs = append(errs, fmt.Sprintf("'event_action' %q is not trigger, acknowledge or resolve", e.EventAction))
	}
	return errs
}

type pagerDutyReply struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

func (s *Sink) pagerduty(w http.ResponseWriter, r *http.Request) {
	body, status, err := readBody(w, r)
	if err != nil {
		s.replyPD(w, r, status, pagerDutyReply{Status: "invalid event", Message: err.Error()})
		return
	}
	var e pagerDutyEvent
	if err := json.Unmarshal(body, &e); err != nil {
		s.replyPD(w, r, http.StatusBadRequest, pagerDutyReply{Status: "invalid event", Message: "Event object is invalid", Errors: []string{err.Error()}})
		return
	}
	if errs := e.validate(); len(errs) > 0 {
		s.replyPD(w, r, http.StatusBadRequest, pagerDutyReply{Status: "invalid event", Message: "Event object is invalid", Errors: errs})
		return
	}
	rec, err := s.add(PagerDuty, r.URL.Path, body)
	if err != nil {
		s.replyPD(w, r, http.StatusInternalServerError, pagerDutyReply{Status: "error", Message: "record: " + err.Error()})
		return
	}
	if e.DedupKey == "" {
		e.DedupKey = "sink-" + strconv.FormatInt(rec.Seq, 10)
	}
	s.opts.Logger.Info("pagerduty event", zap.Int64("seq", rec.Seq), zap.String("event_action", e.EventAction), zap.String("dedup_key", e.DedupKey))
	s.replyPD(w, r, http.StatusAccepted, pagerDutyReply{Status: "success", Message: "Event processed", DedupKey: e.DedupKey})
}

func (s *Sink) replyPD(w http.ResponseWriter, r *http.Request, status int, reply pagerDutyReply) {
	if status >= 400 {
		s.opts.Logger.Warn("rejected notification", zap.String("kind", string(PagerDuty)), zap.String("path", r.URL.Path),
			zap.Int("status", status), zap.String("message", reply.Message), zap.Strings("errors", reply.Errors))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(reply)
}

// alertmanagerWebhook is the part of Alertmanager's webhook payload (version 4) the sink checks.
type alertmanagerWebhook struct {
	Version string            `json:"version"`
	Status  string            `json:"status"`
	Alerts  []json.RawMessage `json:"alerts"`
}

func (s *Sink) webhook(w http.ResponseWriter, r *http.Request) {
	body, status, err := readBody(w, r)
	if err != nil {
		s.reject(w, r, Webhook, status, err.Error())
		return
	}
	var m alertmanagerWebhook
	if err := json.Unmarshal(body, &m); err != nil {
		s.reject(w, r, Webhook, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	var errs []error
	if m.Version != "4" {
		errs = append(errs, fmt.Errorf("version: %q, want \"4\"", m.Version))
	}
	if m.Status != "firing" && m.Status != "resolved" {
		errs = append(errs, fmt.Errorf("status: %q, want firing or resolved", m.Status))
	}
	if len(m.Alerts) == 0 {
		errs = append(errs, errors.New("alerts: empty"))
	}
	if err := errors.Join(errs...); err != nil {
		s.reject(w, r, Webhook, http.StatusBadRequest, "not an Alertmanager webhook payload: "+err.Error())
		return
	}
	rec, err := s.add(Webhook, r.URL.Path, body)
	if err != nil {
		s.reject(w, r, Webhook, http.StatusInternalServerError, "record: "+err.Error())
		return
	}
	s.opts.Logger.Info("webhook", zap.Int64("seq", rec.Seq), zap.String("path", r.URL.Path), zap.String("status", m.Status))
	w.WriteHeader(http.StatusOK)
}

func (s *Sink) reject(w http.ResponseWriter, r *http.Request, kind Kind, status int, msg string) {
	s.opts.Logger.Warn("rejected notification", zap.String("kind", string(kind)), zap.String("path", r.URL.Path),
		zap.Int("status", status), zap.String("message", msg))
	http.Error(w, msg, status)
}

func (s *Sink) list(w http.ResponseWriter, r *http.Request) {
	kind := Kind(r.URL.Query().Get("kind"))
	switch kind {
	case "", Slack, PagerDuty, Webhook:
	default:
		http.Error(w, fmt.Sprintf("kind: %q is not slack, pagerduty or webhook", kind), http.StatusBadRequest)
		return
	}
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("since: %q is not a sequence number", v), http.StatusBadRequest)
			return
		}
		since = n
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Records []Record `json:"records"`
	}{s.Records(kind, since)})
}
