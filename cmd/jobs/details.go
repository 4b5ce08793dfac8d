package jobs

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/errs"
)

// Limits of statusDetails (AWS IoT JobExecutionStatusDetails): keys are 1
// to 128 characters of a-z A-Z 0-9 : _ -, values 1 to 1024 characters
// with no control characters.
const (
	maxDetailKey   = 128
	maxDetailValue = 1024
)

var detailKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`) })

// parseDetails parses --details k=v pairs into statusDetails.
func parseDetails(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return nil, errs.Usagef("--details %q: want KEY=VALUE", p)
		case len(k) > maxDetailKey || !detailKeyRE().MatchString(k):
			return nil, errs.Usagef("--details %q: a key is 1 to %d characters of a-z A-Z 0-9 : _ -", p, maxDetailKey)
		case v == "" || utf8.RuneCountInString(v) > maxDetailValue || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
			return nil, errs.Usagef("--details %q: a value is 1 to %d characters, no control characters", p, maxDetailValue)
		}
		out[k] = v
	}
	return out, nil
}

// Step timeouts are whole minutes, 1 to 10080 (7 days).
const maxStepMinutes = 7 * 24 * 60

// stepMinutes is d in whole minutes, rounded up; flag names the flag.
func stepMinutes(flag string, d time.Duration) (int64, error) {
	m := int64((d + time.Minute - 1) / time.Minute)
	if d <= 0 || m > maxStepMinutes {
		return 0, errs.Usagef("%s %s: give 1m to 168h (whole minutes; AWS IoT counts step timeouts in minutes)", flag, d)
	}
	return m, nil
}

// detailValue makes s a valid statusDetails value: control characters
// escaped (a line break as \n), at most maxDetailValue characters, keeping
// the end (the last lines of stderr matter most).
func detailValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	out := []rune(b.String())
	if len(out) > maxDetailValue {
		out = append([]rune("…"), out[len(out)-maxDetailValue+1:]...)
	}
	return string(out)
}
