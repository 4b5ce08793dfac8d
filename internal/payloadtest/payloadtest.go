// Package payloadtest checks and normalises the output of payload
// templates for golden tests: the time, random numbers and UUIDs change
// from run to run, so their shapes are checked and replaced by names.
package payloadtest

import (
	"regexp"
	"testing"
)

// shapes are the volatile parts of the README's device template.
var shapes = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"ts":1\d{12},`), `"ts":<ms>,`},
	{regexp.MustCompile(`"at":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`), `"at":"<time>"`},
	{regexp.MustCompile(`"temp":([0-9]|[1-3][0-9]),`), `"temp":<0-39>,`},
	{regexp.MustCompile(`"id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`), `"id":"<uuid>"`},
}

// Device is that template: every field and method once.
const Device = `{"seq":{{.Count}},"ts":{{.Time.UnixMilli}},"at":"{{.Time}}","temp":{{.Random 40}},"id":"{{.UUID}}","client":"{{.ClientID}}","topic":"{{.Topic}}"}`

// Normalise checks that s, made by Device, has every volatile part in its
// shape, and replaces them by names.
func Normalise(t testing.TB, s string) string {
	t.Helper()
	for _, sh := range shapes {
		if !sh.re.MatchString(s) {
			t.Errorf("%s does not match %s", s, sh.re)
		}
		s = sh.re.ReplaceAllString(s, sh.with)
	}
	return s
}
