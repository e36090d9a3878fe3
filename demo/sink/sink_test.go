package sink

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// What Alertmanager 0.25 sends, trimmed.
const (
	slackFromAlertmanager = `{"channel":"#team-checkout","username":"Alertmanager","attachments":[{"title":"[FIRING:1] ServiceErrorBudgetBurn","text":"storefront burns its budget","color":"danger","mrkdwn_in":["fallback","pretext","text"]}]}`
	pagerDutyTrigger      = `{"routing_key":"0123456789abcdef0123456789abcdef","dedup_key":"6f1c","event_action":"trigger","payload":{"summary":"storefront burns its error budget","source":"prometheus","severity":"critical","custom_details":{"firing":"..."}},"client":"Alertmanager","client_url":"http://127.0.0.1:9093"}`
	pagerDutyResolve      = `{"routing_key":"0123456789abcdef0123456789abcdef","dedup_key":"6f1c","event_action":"resolve","payload":{"summary":"x","source":"prometheus","severity":"critical"}}`
	webhookFromAM         = `{"version":"4","groupKey":"{}:{alertname=\"X\"}","status":"firing","receiver":"r","alerts":[{"status":"firing","labels":{"alertname":"X"}}]}`
)

type fixture struct {
	sink *Sink
	srv  *httptest.Server
	dir  string
}

func start(t *testing.T, dir string) *fixture {
	t.Helper()
	s, err := Open(Options{Dir: dir, Now: func() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); require.NoError(t, s.Close()) })
	return &fixture{sink: s, srv: srv, dir: dir}
}

func (f *fixture) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	res, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func (f *fixture) list(t *testing.T, query string) []Record {
	t.Helper()
	res, err := http.Get(f.srv.URL + "/received" + query)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var out struct{ Records []Record }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return out.Records
}

func TestAcceptsWhatAlertmanagerSends(t *testing.T) {
	f := start(t, t.TempDir())
	tests := []struct {
		path, body string
		status     int
		reply      string
	}{
		{"/slack/team-checkout", slackFromAlertmanager, 200, "ok"},
		{"/pagerduty/v2/enqueue", pagerDutyTrigger, 202, `{"status":"success","message":"Event processed","dedup_key":"6f1c"}`},
		{"/pagerduty/v2/enqueue", pagerDutyResolve, 202, `{"status":"success","message":"Event processed","dedup_key":"6f1c"}`},
		{"/webhook/all", webhookFromAM, 200, ""},
		{"/slack/plain", `{"text":"hello"}`, 200, "ok"},
	}
	for _, tt := range tests {
		status, reply := f.post(t, tt.path, tt.body)
		require.Equal(t, tt.status, status, tt.path)
		if strings.HasPrefix(tt.reply, "{") {
			require.JSONEq(t, tt.reply, reply)
		} else {
			require.Equal(t, tt.reply, reply)
		}
	}
	all := f.list(t, "")
	require.Len(t, all, 5)
	for i, r := range all {
		require.Equal(t, int64(i+1), r.Seq)
		require.Equal(t, tests[i].path, r.Path)
		require.JSONEq(t, tests[i].body, string(r.Body))
	}
	require.Equal(t, []Kind{Slack, PagerDuty, PagerDuty, Webhook, Slack}, kinds(all))
	require.Equal(t, []Kind{PagerDuty, PagerDuty}, kinds(f.list(t, "?kind=pagerduty")))
	require.Equal(t, []Kind{Webhook, Slack}, kinds(f.list(t, "?since=3")))
}

func kinds(rs []Record) []Kind {
	var out []Kind
	for _, r := range rs {
		out = append(out, r.Kind)
	}
	return out
}

func TestRejectsMalformedNotifications(t *testing.T) {
	f := start(t, t.TempDir())
	tests := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"slack not json", "/slack/x", `{"text":`, 400, "invalid_payload: unexpected end of JSON input"},
		{"slack empty", "/slack/x", `{"channel":"#a"}`, 400, "no_text: a Slack message needs text, attachments or blocks"},
		{"slack wrong type", "/slack/x", `{"text":5}`, 400, "invalid_payload"},
		{"pd no routing key", "/pagerduty/v2/enqueue", `{"event_action":"trigger","payload":{"summary":"s","source":"p","severity":"critical"}}`, 400, "'routing_key' is missing or blank"},
		{"pd bad action", "/pagerduty/v2/enqueue", `{"routing_key":"k","event_action":"fire"}`, 400, `'event_action' \"fire\" is not trigger, acknowledge or resolve`},
		{"pd trigger without payload", "/pagerduty/v2/enqueue", `{"routing_key":"k","event_action":"trigger"}`, 400, "'payload' is missing"},
		{"pd bad severity and no summary", "/pagerduty/v2/enqueue", `{"routing_key":"k","event_action":"trigger","payload":{"source":"p","severity":"page"}}`, 400, `'payload.summary' is missing or blank","'payload.severity' \"page\" is not critical, error, warning or info`},
		{"pd resolve without dedup", "/pagerduty/v2/enqueue", `{"routing_key":"k","event_action":"resolve"}`, 400, "'dedup_key' is required to resolve"},
		{"webhook wrong version", "/webhook/x", `{"version":"3","status":"firing","alerts":[{}]}`, 400, `version: "3", want "4"`},
		{"webhook no alerts", "/webhook/x", `{"version":"4","status":"firing","alerts":[]}`, 400, "alerts: empty"},
		{"too big", "/slack/x", `{"text":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "body larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reply := f.post(t, tt.path, tt.body)
			require.Equal(t, tt.status, status, reply)
			require.Contains(t, reply, tt.want)
		})
	}
	require.Empty(t, f.list(t, ""), "nothing malformed is recorded")

	res, err := http.Get(f.srv.URL + "/received?kind=email")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
}

func TestRecordsSurviveRestartAndDamagedLines(t *testing.T) {
	dir := t.TempDir()
	f := start(t, dir)
	status, _ := f.post(t, "/slack/a", `{"text":"one"}`)
	require.Equal(t, 200, status)
	status, _ = f.post(t, "/pagerduty/v2/enqueue", pagerDutyTrigger)
	require.Equal(t, 202, status)
	f.srv.Close()
	require.NoError(t, f.sink.Close())

	// A crash in the middle of a write leaves half a line.
	file, err := os.OpenFile(filepath.Join(dir, FileName), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = file.WriteString(`{"seq":3,"kind":"sla` + "\n")
	require.NoError(t, err)
	require.NoError(t, file.Close())

	g := start(t, dir)
	status, _ = g.post(t, "/slack/b", `{"text":"two"}`)
	require.Equal(t, 200, status)
	all := g.list(t, "")
	require.Equal(t, []Kind{Slack, PagerDuty, Slack}, kinds(all))
	require.Equal(t, []int64{1, 2, 3}, []int64{all[0].Seq, all[1].Seq, all[2].Seq})
	require.JSONEq(t, `{"text":"two"}`, string(all[2].Body))
}

func TestOpenNeedsDir(t *testing.T) {
	_, err := Open(Options{})
	require.ErrorContains(t, err, "no directory")
}
