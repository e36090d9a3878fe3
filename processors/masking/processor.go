package maskingprocessor

import (
	"context"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// finder returns the next match at or after from, [start, end), or start < 0.
type finder func(s string, from int) (int, int)

// rule is a finder and the prescan bit that says it may match.
type rule struct {
	need uint8
	find finder
}

// masker applies the configured rules. It holds no state but its configuration: safe for
// concurrent use.
type masker struct {
	mask       string
	rules      []rule // in the order they apply: emails, bearer tokens, secret pairs, cards
	secretKeys bool
	extra      []*regexp.Regexp
}

func newMasker(c *Config) (*masker, error) {
	m := &masker{mask: c.Mask, secretKeys: c.SecretKeys}
	if c.Emails {
		m.rules = append(m.rules, rule{needEmail, findEmail})
	}
	if c.BearerTokens {
		m.rules = append(m.rules, rule{needBearer, findBearer})
	}
	if c.SecretPairs {
		m.rules = append(m.rules, rule{needPair, findPairValue})
	}
	if c.CardNumbers {
		m.rules = append(m.rules, rule{needCard, findCard})
	}
	for _, p := range c.ExtraPatterns {
		re, err := compilePattern(p)
		if err != nil {
			return nil, err
		}
		m.extra = append(m.extra, re)
	}
	return m, nil
}

func (m *masker) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				m.maskValue(lr.Body())
				m.maskMap(lr.Attributes())
			}
		}
	}
	return ld, nil
}

// maskMap masks a map's values, and whole values whose key names a secret.
func (m *masker) maskMap(attrs pcommon.Map) {
	for k, v := range attrs.All() {
		if m.secretKeys && isSecretKey(k) {
			if v.Type() != pcommon.ValueTypeStr || v.Str() != m.mask {
				v.SetStr(m.mask)
			}
			continue
		}
		m.maskValue(v)
	}
}

// maskValue masks a string, or the strings in a map or slice.
func (m *masker) maskValue(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s, ok := m.maskString(v.Str()); ok {
			v.SetStr(s)
		}
	case pcommon.ValueTypeMap:
		m.maskMap(v.Map())
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			m.maskValue(sl.At(i))
		}
	}
}

// maskString applies the rules in order, each to the previous one's result, and reports whether
// anything was masked. It allocates only when it masks.
func (m *masker) maskString(s string) (string, bool) {
	changed := false
	if len(m.rules) > 0 {
		need := prescan(s)
		for _, r := range m.rules {
			if need&r.need == 0 {
				continue
			}
			if out, ok := replaceAll(s, m.mask, r.find); ok {
				s, changed = out, true
				// What a rule leaves (key=mask...) may be what a later rule looks for.
				need = prescan(s)
			}
		}
	}
	for _, re := range m.extra {
		if re.MatchString(s) {
			s, changed = re.ReplaceAllLiteralString(s, m.mask), true
		}
	}
	return s, changed
}

// replaceAll replaces every match of find in s with mask.
func replaceAll(s, mask string, find finder) (string, bool) {
	st, end := find(s, 0)
	if st < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + len(mask))
	last := 0
	for st >= 0 {
		b.WriteString(s[last:st])
		b.WriteString(mask)
		last = end
		if end >= len(s) {
			break
		}
		st, end = find(s, end)
	}
	b.WriteString(s[last:])
	return b.String(), true
}
