package alerts

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lookoutdev/lookout/internal/catalog"
)

// burnInfo is what the fast-window test cases need of a burn-rate alert.
type burnInfo struct {
	alert  catalog.BurnAlert
	budget float64
	// series is input: bad of requestsPerMinute requests bad in the minutes isBad says, for
	// minutes in all.
	series func(isBad func(minute int) bool, bad, minutes int) []InputSeries
	// expect is the alert as it fires with a burn rate of value.
	expect func(value float64) ExpAlert
}

// maxFastWindowMinutes bounds the input of a fast-window case (promtool evaluates every minute).
const maxFastWindowMinutes = 12 * 60

// counterSeries is a counter from 0 that grows every minute by after when isBad says so and by
// before otherwise, for minutes minutes, in promtool's expanding notation.
func counterSeries(before, after int, isBad func(minute int) bool, minutes int) string {
	v := make([]int, minutes+1)
	for m := 1; m <= minutes; m++ {
		v[m] = v[m-1] + before
		if isBad(m) {
			v[m] = v[m-1] + after
		}
	}
	var segs []string
	for i := 0; i <= minutes; {
		j := i
		for j+1 <= minutes && (j == i || v[j+1]-v[j] == v[i+1]-v[i]) {
			j++
		}
		if j == i {
			segs = append(segs, fmt.Sprint(v[i]))
		} else {
			segs = append(segs, fmt.Sprintf("%d+%dx%d", v[i], v[i+1]-v[i], j-i))
		}
		i = j + 1
	}
	return strings.Join(segs, " ")
}

// burnModel computes what Prometheus computes on the test input: requests every minute from
// minute 0, a share beta×budget of them bad in the minutes bad says; a window of w minutes at
// minute t covers the increments of minutes t-w+1..t (fewer early on: the input starts at 0).
type burnModel struct {
	beta float64
	bad  func(minute int) bool
}

func healthyThenBad(healthy int, beta float64) burnModel {
	return burnModel{beta: beta, bad: func(m int) bool { return m > healthy }}
}

func badThenHealthy(badUntil int, beta float64) burnModel {
	return burnModel{beta: beta, bad: func(m int) bool { return m <= badUntil }}
}

func (m burnModel) burn(t, w int) float64 {
	n, bad := 0, 0
	for i := max(1, t-w+1); i <= t; i++ {
		n++
		if m.bad(i) {
			bad++
		}
	}
	if n == 0 {
		return 0
	}
	return m.beta * float64(bad) / float64(n)
}

// holds returns whether a burn alert's expression holds at minute t, and its value: the long
// window's burn of the first branch that holds (PromQL's `or` keeps the left side); ambiguous
// is set when a burn is too close to a threshold to trust float rounding.
func (m burnModel) holds(a catalog.BurnAlert, t int) (ok bool, value float64, ambiguous bool) {
	for _, w := range a.Windows {
		long, short := m.burn(t, int(time.Duration(w.Long)/time.Minute)), m.burn(t, int(time.Duration(w.Short)/time.Minute))
		for _, v := range []float64{long, short} {
			if math.Abs(v-w.Factor) < 1e-6*w.Factor {
				ambiguous = true
			}
		}
		if !ok && long > w.Factor && short > w.Factor {
			ok, value = true, long
		}
	}
	return ok, value, ambiguous
}

// firing returns whether the alert fires at minute t (its expression held at every evaluation
// of the last `for`), and its value; ok is false when the model cannot be trusted.
func (m burnModel) firing(a catalog.BurnAlert, t int) (fires bool, value float64, ok bool) {
	forMin := int(time.Duration(a.For) / time.Minute)
	runStart := -1
	for i := 1; i <= t; i++ {
		h, v, amb := m.holds(a, i)
		if amb {
			return false, 0, false
		}
		switch {
		case h && runStart < 0:
			runStart = i
		case !h:
			runStart = -1
		}
		value = v
	}
	return runStart >= 0 && t-runStart >= forMin, value, true
}

// expected lists the alerts of specs that fire at minute t.
func (m burnModel) expected(specs []alertSpec, t int) ([]ExpAlert, bool) {
	exp := []ExpAlert{}
	for _, o := range specs {
		fires, v, ok := m.firing(o.burn.alert, t)
		if !ok {
			return nil, false
		}
		if !fires {
			continue
		}
		if math.Abs(math.Mod(v*10, 1)-0.5) < 1e-3 {
			return nil, false // the value would round either way
		}
		exp = append(exp, o.burn.expect(v))
	}
	return exp, true
}

func firesWith(exp []ExpAlert, severity string) (string, bool) {
	for _, e := range exp {
		if e.ExpLabels["severity"] == severity {
			return e.ExpAnnotations["burn_rate"], true
		}
	}
	return "", false
}

// fastWindowCases adds, for each multi-window burn alert, a case where only its fastest window
// pair can hold: a long healthy history, then a burn that the fastest pair catches while the
// slower pairs (whose long windows still see mostly healthy traffic) do not. It pins the fastest
// pair's threshold and windows, which the constant-ratio cases cannot (every pair holds there).
// The other alerts of the same name are expected as the model says.
func fastWindowCases(specs []alertSpec) []TestCase {
	var out []TestCase
	for _, sp := range specs {
		info := sp.burn
		if info == nil || len(info.alert.Windows) < 2 {
			continue
		}
		fast := 0
		for i, w := range info.alert.Windows {
			if w.Long < info.alert.Windows[fast].Long {
				fast = i
			}
		}
		fw := info.alert.Windows[fast]
		// The healthy history covers the slower pairs' long windows.
		healthy := 0
		for i, w := range info.alert.Windows {
			if i != fast {
				healthy = max(healthy, int(time.Duration(w.Long)/time.Minute))
			}
		}
		check := healthy + int(time.Duration(fw.Long)/time.Minute) + 5
		if check+int(time.Duration(info.alert.For)/time.Minute) > maxFastWindowMinutes {
			continue
		}
		// The highest burn at which no slower pair holds at the check minute.
		hi := math.Inf(1)
		for i, w := range info.alert.Windows {
			if i == fast {
				continue
			}
			g := healthyThenBad(healthy, 1)
			gl := g.burn(check, int(time.Duration(w.Long)/time.Minute))
			gs := g.burn(check, int(time.Duration(w.Short)/time.Minute))
			hi = math.Min(hi, w.Factor/math.Min(gl, gs))
		}
		if hi <= fw.Factor*1.1 {
			continue
		}
		bad := int(math.Round((fw.Factor + hi) / 2 * info.budget * requestsPerMinute))
		for tries := 0; tries < 20; tries, bad = tries+1, bad+1 {
			if tc, ok := fastWindowCase(sp, specs, healthy, bad, check); ok {
				out = append(out, tc)
				break
			}
		}
	}
	return out
}

func fastWindowCase(sp alertSpec, specs []alertSpec, healthy, bad, check int) (TestCase, bool) {
	info := sp.burn
	m := healthyThenBad(healthy, float64(bad)/requestsPerMinute/info.budget)
	if m.beta*info.budget >= 1 {
		return TestCase{}, false
	}
	sev := sp.rule.Labels["severity"]
	// The first minute it fires, before the check minute.
	fires := -1
	for t := healthy + 1; t <= check; t++ {
		f, _, ok := m.firing(info.alert, t)
		if !ok {
			return TestCase{}, false
		}
		if f {
			fires = t
			break
		}
	}
	if fires < 0 {
		return TestCase{}, false
	}
	before, ok1 := m.expected(specs, fires-1)
	at, ok2 := m.expected(specs, fires)
	if !ok1 || !ok2 {
		return TestCase{}, false
	}
	if _, was := firesWith(before, sev); was {
		return TestCase{}, false
	}
	who := sp.rule.Labels["service"] + " " + sp.rule.Labels["slo"] + " " + sev
	return TestCase{
		Name:        fmt.Sprintf("%s (%s) catches a new burn with its fastest windows alone", sp.rule.Alert, who),
		Interval:    dur(evalInterval),
		InputSeries: info.series(func(m int) bool { return m > healthy }, bad, fires+5),
		AlertRuleTest: []AlertRuleTest{
			{EvalTime: dur(time.Duration(fires-1) * time.Minute), Alertname: sp.rule.Alert, ExpAlerts: before},
			{EvalTime: dur(time.Duration(fires) * time.Minute), Alertname: sp.rule.Alert, ExpAlerts: at},
		},
	}, true
}

// recoveryCases adds, for each multi-window burn alert, a case where the service burns long
// enough for the alert to fire and then recovers: once the fastest pair's short window is clean
// the alert fires only through a slower pair (with that pair's burn as its value), and once every
// short window is clean it resolves, even though the long windows still see the burn. It pins
// the short windows, which make an alert stop soon after the problem does.
func recoveryCases(specs []alertSpec) []TestCase {
	var out []TestCase
	for _, sp := range specs {
		info := sp.burn
		if info == nil || len(info.alert.Windows) < 2 {
			continue
		}
		longest, fastShort, slowShort := 0, math.MaxInt, 0
		for _, w := range info.alert.Windows {
			longest = max(longest, int(time.Duration(w.Long)/time.Minute))
			s := int(time.Duration(w.Short) / time.Minute)
			fastShort, slowShort = min(fastShort, s), max(slowShort, s)
		}
		badUntil := longest
		t1, t2 := badUntil+fastShort+1, badUntil+slowShort+1
		if t2 > maxFastWindowMinutes || t1 >= t2 {
			continue
		}
		// As high a burn as the budget allows, so that the long windows stay far above.
		bad := int(math.Min(maxFactor(info.alert)*4*info.budget, 0.9) * requestsPerMinute)
		for tries := 0; tries < 20; tries, bad = tries+1, bad-1 {
			if tc, ok := recoveryCase(sp, specs, badUntil, bad, t1, t2); ok {
				out = append(out, tc)
				break
			}
		}
	}
	return out
}

func recoveryCase(sp alertSpec, specs []alertSpec, badUntil, bad, t1, t2 int) (TestCase, bool) {
	info := sp.burn
	m := badThenHealthy(badUntil, float64(bad)/requestsPerMinute/info.budget)
	sev := sp.rule.Labels["severity"]
	if f, _, ok := m.firing(info.alert, badUntil); !ok || !f {
		return TestCase{}, false
	}
	at1, ok1 := m.expected(specs, t1)
	at2, ok2 := m.expected(specs, t2)
	if !ok1 || !ok2 {
		return TestCase{}, false
	}
	// At t1 it still fires, through a slower pair: its value is not the fastest pair's burn.
	v1, fires1 := firesWith(at1, sev)
	if !fires1 {
		return TestCase{}, false
	}
	fast := info.alert.Windows[0]
	for _, w := range info.alert.Windows {
		if w.Long < fast.Long {
			fast = w
		}
	}
	if v1 == fmt.Sprintf("%.1f", m.burn(t1, int(time.Duration(fast.Long)/time.Minute))) {
		return TestCase{}, false
	}
	if _, fires2 := firesWith(at2, sev); fires2 {
		return TestCase{}, false
	}
	who := sp.rule.Labels["service"] + " " + sp.rule.Labels["slo"] + " " + sev
	return TestCase{
		Name:        fmt.Sprintf("%s (%s) resolves once its short windows are clean", sp.rule.Alert, who),
		Interval:    dur(evalInterval),
		InputSeries: info.series(func(m int) bool { return m <= badUntil }, bad, t2+5),
		AlertRuleTest: []AlertRuleTest{
			{EvalTime: dur(time.Duration(t1) * time.Minute), Alertname: sp.rule.Alert, ExpAlerts: at1},
			{EvalTime: dur(time.Duration(t2) * time.Minute), Alertname: sp.rule.Alert, ExpAlerts: at2},
		},
	}, true
}
