package maskingprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
)

// Samples are log lines and what must reach Loki of them, with the default config. They are the
// samples the OTTL preset (transform + redaction processors) that this processor replaced was
// tested on, plus cases for the Luhn check.
var Samples = []struct{ In, Want string }{
	// e-mail addresses
	{"password reset sent to alice.smith+test@example.co.uk", "password reset sent to ****"},
	{`{"user":"bob@corp.example.com","ok":true}`, `{"user":"****","ok":true}`},
	// bearer tokens and Authorization headers
	{"GET /api with Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl done", "GET /api with **** done"},
	{"header Authorization: Basic dXNlcjpwYXNzd29yZA== sent", "header Authorization: **** sent"},
	{"authorization=Bearer abc123", "authorization=****"},
	// card numbers
	{"charged card 4111 1111 1111 1111 for 12.00", "charged card **** for 12.00"},
	{"card=5500-0000-0000-0004 declined", "card=**** declined"},
	{"amex 378282246310005 ok", "amex **** ok"},
	{"discover 6011111111111117", "discover ****"},
	// passwords, secrets, keys, tokens as key=value or key: value
	{"login failed user=alice password=hunter2 retry=3", "login failed user=alice password=**** retry=3"},
	{`db connect DB_PASSWORD="s3cr3t pass" host=db`, `db connect DB_PASSWORD=**** host=db`},
	{`{"password": "hunter2", "user": "alice"}`, `{"password": ****, "user": "alice"}`},
	{"client_secret: abcdef123456", "client_secret: ****"},
	{"api_key=AKIAIOSFODNN7EXAMPLE&x=1", "api_key=****&x=1"},
	{"refresh_token=1//0gAbCdEf", "refresh_token=****"},
	// what must stay as it is
	{"GET /api/v1/orders/12345 200 12.3ms user=alice", "GET /api/v1/orders/12345 200 12.3ms user=alice"},
	{"trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7", "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"},
	{"took 1732531200000000000ns, order 4111, 16 tokens processed", "took 1732531200000000000ns, order 4111, 16 tokens processed"},
	{"image nginx@sha256:0123abcd pulled; user@localhost", "image nginx@sha256:0123abcd pulled; user@localhost"},
	{"basic configuration loaded, password policy strict", "basic configuration loaded, password policy strict"},
	// the Luhn check: card-shaped numbers whose check digit is wrong stay (the preset masked them)
	{"order 4111 1111 1111 1112 shipped", "order 4111 1111 1111 1112 shipped"},
	{"L014-000000000 id=4000000000000001 ok", "L014-000000000 id=4000000000000001 ok"},
	{"amex 378282246310006 ok", "amex 378282246310006 ok"},
	// a second card in a longer run of digits, a card inside a word
	{"cards 4111111111111111,5555555555554444.", "cards ****,****."},
	{"x4111111111111111 4111111111111111y", "x4111111111111111 4111111111111111y"},
}

// SampleAttributes are the attributes of one record and what must reach Loki of them: a JSON
// line's keys become attributes (receivers/podlogs).
var SampleAttributes = []struct {
	Key      string
	In, Want any
}{
	{"password", "hunter2", "****"},
	{"db.password", "x", "****"},
	{"X-Api-Key", "k", "****"},
	{"access_token", "t", "****"},
	{"aws.credentials", int64(7), "****"},
	{"email", "carol@example.org", "****"},
	{"card", "4111111111111111", "****"},
	{"header", "Bearer abc.def", "****"},
	{"query", "user=carol&token=abc", "user=carol&token=****"},
	{"password_policy", "strict", "strict"},
	{"user", "carol", "carol"},
	{"tokens", int64(16), int64(16)},
	{"logtag", "F", "F"},
}

// SampleLogs returns one record per sample body, then one record with SampleAttributes, under a
// resource with a pod name (which stays).
func SampleLogs(t testing.TB) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "payments-7d9f")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, s := range Samples {
		lrs.AppendEmpty().Body().SetStr(s.In)
	}
	attrs := lrs.AppendEmpty()
	attrs.Body().SetStr("attributes")
	for _, a := range SampleAttributes {
		require.NoError(t, attrs.Attributes().PutEmpty(a.Key).FromRaw(a.In))
	}
	return ld
}

// RequireSamplesMasked checks what a processor made of SampleLogs.
func RequireSamplesMasked(t testing.TB, ld plog.Logs) {
	t.Helper()
	rl := ld.ResourceLogs().At(0)
	got := rl.ScopeLogs().At(0).LogRecords()
	require.Equal(t, len(Samples)+1, got.Len())
	for i, s := range Samples {
		require.Equal(t, s.Want, got.At(i).Body().Str(), "sample %d: %q", i, s.In)
	}
	want := map[string]any{}
	for _, a := range SampleAttributes {
		want[a.Key] = a.Want
	}
	require.Equal(t, want, got.At(len(Samples)).Attributes().AsRaw())
	require.Equal(t, "payments-7d9f", rl.Resource().Attributes().AsRaw()["k8s.pod.name"])
}

func newTestProcessor(t testing.TB, cfg *Config) (*consumertest.LogsSink, func(plog.Logs) error) {
	t.Helper()
	sink := &consumertest.LogsSink{}
	f := NewFactory()
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return sink, func(ld plog.Logs) error { return p.ConsumeLogs(context.Background(), ld) }
}

func TestSamples(t *testing.T) {
	sink, consume := newTestProcessor(t, createDefaultConfig().(*Config))
	require.NoError(t, consume(SampleLogs(t)))
	require.Len(t, sink.AllLogs(), 1)
	RequireSamplesMasked(t, sink.AllLogs()[0])
}

func TestMaskString(t *testing.T) {
	all := createDefaultConfig().(*Config)
	only := func(change func(*Config)) *Config {
		c := &Config{Mask: DefaultMask}
		change(c)
		return c
	}
	tests := []struct {
		name    string
		cfg     *Config
		in, out string
	}{
		{"email only", only(func(c *Config) { c.Emails = true }), "a@b.com password=x 4111111111111111", "**** password=x 4111111111111111"},
		{"bearer only", only(func(c *Config) { c.BearerTokens = true }), "auth: bearer  abc== password=x", "auth: **** password=x"},
		{"bearer needs a word boundary", all, "xbearer abc", "xbearer abc"},
		{"pairs only", only(func(c *Config) { c.SecretPairs = true }), "a@b.com password=x Bearer y", "a@b.com password=**** Bearer y"},
		{"cards only", only(func(c *Config) { c.CardNumbers = true }), "a@b.com 4111-1111-1111-1111", "a@b.com ****"},
		{"other mask", func() *Config { c := createDefaultConfig().(*Config); c.Mask = "[masked]"; return c }(), "password=x a@b.io", "password=[masked] [masked]"},
		{"pair with spaces and quote", all, `"Token" :  "a b c", next`, `"Token" :  ****, next`},
		{"pair with scheme, no value after it", all, "password=basic ,", "password=**** ,"},
		{"pair with unclosed quote", all, `password="abc`, `password="abc`},
		{"pair without value", all, "password= ;", "password= ;"},
		{"pair keyword not last", all, "tokens=5 passwords=x", "tokens=5 passwords=x"},
		{"pair keyword inside a longer key", all, "MYSQL_ROOT_PASSWORD=x", "MYSQL_ROOT_PASSWORD=****"},
		{"two pairs", all, "token=a secret=b", "token=**** secret=****"},
		{"email domain ends in digits", all, "x@a.com1", "****1"},
		{"emails back to back", all, "a@b.com.x@c.de", "********"},
		{"amex with separators", all, "3782-822463-10005", "****"},
		{"mastercard 2-series", all, "2221 0000 0000 0009", "****"},
		{"19-digit run: card at its start", all, "4111111111111111111", "4111111111111111111"},
		{"timestamp digits stay", all, "2026-01-02 03:04:05.123456789 1234", "2026-01-02 03:04:05.123456789 1234"},
		{"non-ASCII around", all, "ünïcode pässword=x ✓ a@b.com", "ünïcode pässword=x ✓ ****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newMasker(tt.cfg)
			require.NoError(t, err)
			got, changed := m.maskString(tt.in)
			require.Equal(t, tt.out, got)
			require.Equal(t, tt.in != tt.out, changed)
		})
	}
}

func TestExtraPatterns(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ExtraPatterns = []string{`AKIA[0-9A-Z]{16}`, `(?i)ssn \d{3}-\d{2}-\d{4}`}
	m, err := newMasker(cfg)
	require.NoError(t, err)
	got, changed := m.maskString("key AKIAIOSFODNN7EXAMPLE used, SSN 078-05-1120 given")
	require.True(t, changed)
	require.Equal(t, "key **** used, **** given", got)
}

func TestSecretKeysOff(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SecretKeys = false
	sink, consume := newTestProcessor(t, cfg)
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Attributes().PutStr("password", "hunter2")
	lr.Attributes().PutStr("mail", "a@b.com")
	require.NoError(t, consume(ld))
	require.Equal(t, map[string]any{"password": "hunter2", "mail": "****"},
		sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw())
}

func TestMapBody(t *testing.T) {
	_, consume := newTestProcessor(t, createDefaultConfig().(*Config))
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{
		"msg":  "login by a@b.com",
		"user": map[string]any{"name": "carol", "password": "x", "cards": []any{"4111111111111111", int64(4), "none"}},
		"auth": map[string]any{"token": map[string]any{"value": "abc"}},
		"n":    int64(3),
	}))
	resStr := ld.ResourceLogs().At(0).Resource().Attributes().PutEmpty("password")
	resStr.SetStr("resource attributes are left alone")
	require.NoError(t, consume(ld))
	require.Equal(t, map[string]any{
		"msg":  "login by ****",
		"user": map[string]any{"name": "carol", "password": "****", "cards": []any{"****", int64(4), "none"}},
		"auth": map[string]any{"token": "****"},
		"n":    int64(3),
	}, lr.Body().Map().AsRaw())
	require.Equal(t, pcommon.ValueTypeStr, resStr.Type())
}

// TestCleanValueAllocatesNothing checks the promise of the pre-scans.
func TestCleanValueAllocatesNothing(t *testing.T) {
	m, err := newMasker(createDefaultConfig().(*Config))
	require.NoError(t, err)
	for _, line := range benchLines(64) {
		if line.secret {
			continue
		}
		allocs := testing.AllocsPerRun(10, func() {
			if _, changed := m.maskString(line.text); changed {
				t.Fatalf("masked %q", line.text)
			}
		})
		require.Zero(t, allocs, line.text)
	}
}
