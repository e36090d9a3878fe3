package alerts

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// TestFile is a promtool unit-test file (promtool test rules).
type TestFile struct {
	// Name is the file name under alerts/generated/tests/.
	Name               string     `yaml:"-"`
	RuleFiles          []string   `yaml:"rule_files"`
	EvaluationInterval string     `yaml:"evaluation_interval"`
	Tests              []TestCase `yaml:"tests"`
}

// TestCase is one promtool test group: input series and what the alerts must do on them.
type TestCase struct {
	Name          string          `yaml:"name"`
	Interval      string          `yaml:"interval"`
	InputSeries   []InputSeries   `yaml:"input_series"`
	AlertRuleTest []AlertRuleTest `yaml:"alert_rule_test"`
}

// InputSeries is a series in promtool's expanding notation.
type InputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertRuleTest says which alerts of a name fire at an evaluation time.
type AlertRuleTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []ExpAlert `yaml:"exp_alerts"`
}

// ExpAlert is an expected firing alert, with exact labels and annotations.
type ExpAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// testMinutes is how many minutes of input every series holds.
const testMinutes = 240

// evalInterval is the rule evaluation interval of the tests.
const evalInterval = time.Minute

// seriesName renders name{labels} with sorted labels.
func seriesName(name string, ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, ls[k]))
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

// counter is a counter growing by perMinute every minute from 0.
func counter(perMinute int) string { return fmt.Sprintf("0+%dx%d", perMinute, testMinutes) }

// constant is a gauge holding v.
func constant(v string) string { return fmt.Sprintf("%sx%d", v, testMinutes) }

// TestFile builds the promtool tests of a rule file: for every alerting rule, one case where the
// alert is still silent one evaluation before `for` elapses and fires right after with its exact
// labels and annotations, and one case whose input keeps it silent.
func (f *RuleFile) TestFile() (*TestFile, error) {
	tf := &TestFile{
		Name:               strings.TrimSuffix(f.Name, ".yaml") + "_test.yaml",
		RuleFiles:          []string{"../rules/" + f.Name},
		EvaluationInterval: dur(evalInterval),
	}
	var maxFor time.Duration
	for _, sp := range f.specs {
		d, err := parseDur(sp.rule.For)
		if err != nil {
			return nil, err
		}
		maxFor = max(maxFor, d)
	}
	for _, sp := range f.specs {
		forDur, _ := parseDur(sp.rule.For)
		if forDur < evalInterval {
			return nil, fmt.Errorf("%s (%s): `for` must be at least %s", sp.rule.Alert, sp.rule.Labels["severity"], dur(evalInterval))
		}
		who := sp.rule.Labels["severity"]
		if s := sp.rule.Labels["slo"]; s != "" {
			who = sp.rule.Labels["service"] + " " + s + " " + who
		}
		fires := sp.fire.activeAt + forDur
		tf.Tests = append(tf.Tests, TestCase{
			Name:        fmt.Sprintf("%s (%s) waits %s, then fires", sp.rule.Alert, who, sp.rule.For),
			Interval:    dur(evalInterval),
			InputSeries: sp.fire.series,
			AlertRuleTest: []AlertRuleTest{
				{EvalTime: dur(fires - evalInterval), Alertname: sp.rule.Alert, ExpAlerts: []ExpAlert{}},
				{EvalTime: dur(fires), Alertname: sp.rule.Alert, ExpAlerts: []ExpAlert{{
					ExpLabels:      labels(sp.fire.labels, sp.rule.Labels),
					ExpAnnotations: sp.fire.annotations,
				}}},
			},
		})
		tf.Tests = append(tf.Tests, TestCase{
			Name:        fmt.Sprintf("%s (%s) stays silent", sp.rule.Alert, who),
			Interval:    dur(evalInterval),
			InputSeries: sp.silent.series,
			AlertRuleTest: []AlertRuleTest{
				{EvalTime: dur(maxFor + 30*time.Minute), Alertname: sp.rule.Alert, ExpAlerts: []ExpAlert{}},
			},
		})
	}
	tf.Tests = append(tf.Tests, f.extra...)
	return tf, nil
}

func parseDur(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: %w", s, err)
	}
	return time.Duration(d), nil
}

func sortSeries(s []InputSeries) {
	sort.Slice(s, func(i, j int) bool { return s[i].Series < s[j].Series })
}

// num prints a sample value in plain decimal notation, which promtool's series notation needs.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
