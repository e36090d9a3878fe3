package maskingprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/component"
)

// Config is the configuration of the masking processor. Every rule is on by default.
type Config struct {
	// Mask replaces each secret found (default "****").
	Mask string `mapstructure:"mask"`
	// Emails masks e-mail addresses (name@domain.tld).
	Emails bool `mapstructure:"emails"`
	// BearerTokens masks "Bearer <token>".
	BearerTokens bool `mapstructure:"bearer_tokens"`
	// CardNumbers masks payment card numbers (Visa, Mastercard, Amex, Discover; groups of
	// digits may be separated by single spaces or dashes) whose Luhn check digit is right.
	CardNumbers bool `mapstructure:"card_numbers"`
	// SecretPairs masks the value of pairs whose key names a secret (password, passwd, secret,
	// api_key, token, authorization, and keys ending in one of them): key=value, key: value and
	// JSON "key": "value". The key and the separator stay.
	SecretPairs bool `mapstructure:"secret_pairs"`
	// SecretKeys masks, whole, every attribute (and key of a map body) whose key names a secret:
	// password, passwd, secret, token, api_key, authorization, credential(s), alone or after a
	// '.', '_' or '-' (db.password, X-Api-Key, access_token).
	SecretKeys bool `mapstructure:"secret_keys"`
	// ExtraPatterns are regular expressions (Go RE2 syntax) whose every match is masked, in the
	// body and in attribute values, after the rules above. They run on every value: unlike the
	// rules above they have no cheap pre-scan.
	ExtraPatterns []string `mapstructure:"extra_patterns"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; it changes nothing.
func (c *Config) Validate() error {
	var errs []error
	if c.Mask == "" {
		errs = append(errs, errors.New("mask: must not be empty"))
	}
	if strings.ContainsAny(c.Mask, "\n\r") {
		errs = append(errs, fmt.Errorf("mask: %q must be one line", c.Mask))
	}
	for i, p := range c.ExtraPatterns {
		if _, err := compilePattern(p); err != nil {
			errs = append(errs, fmt.Errorf("extra_patterns[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// compilePattern compiles one of extra_patterns and refuses patterns that match the empty
// string: they would insert the mask between every two characters.
func compilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("empty pattern")
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid regular expression: %w", p, err)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("%q matches the empty string", p)
	}
	return re, nil
}
