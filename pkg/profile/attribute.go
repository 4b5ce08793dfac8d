package profile

import (
	"errors"
	"strings"
)

// Attributed is an error that names the profile a failing setting came
// from: "… check --cert (from profile dev, ~/.iotctl/profiles/dev.yaml)".
type Attributed struct {
	Err error
	msg string
}

func (e *Attributed) Error() string { return e.msg }
func (e *Attributed) Unwrap() error { return e.Err }

// Attribute names the profile and its file in err when err names a
// setting (--cert, --ca-file, …) whose value came from the profile, so a
// command that never mentions --cert does not send the user looking for
// one. Errors name settings as flags ("check --cert"); the note goes right
// after the first such flag, else after the first file a file setting of
// the profile names. Other errors, and errors attributed already,
// are returned as they are. The error's kind is kept.
func (s *Settings) Attribute(err error) error {
	if err == nil || s == nil || s.Profile == "" {
		return err
	}
	var done *Attributed
	if errors.As(err, &done) {
		return err
	}
	msg := err.Error()
	at := -1
	for _, e := range s.Entries {
		if e.Source != FromProfile {
			continue
		}
		if i := flagIndex(msg, "--"+e.Name); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at >= 0 {
		return &Attributed{Err: err, msg: msg[:at] + " (from " + ProfileNote(s.Profile, s.ProfilePath) + ")" + msg[at:]}
	}
	// Some messages name the file and not the flag ("CA file /x.pem: no
	// such file"): a file setting's value names it then.
	for _, e := range s.Entries {
		d, ok := Lookup(e.Name)
		if e.Source != FromProfile || !ok || !d.FileValue || e.Value == "" {
			continue
		}
		if i := strings.Index(msg, e.Value); i >= 0 {
			end := i + len(e.Value)
			return &Attributed{Err: err, msg: msg[:end] + " (" + e.Name + " from " + ProfileNote(s.Profile, s.ProfilePath) + ")" + msg[end:]}
		}
	}
	return err
}

// flagIndex is the index just past the first whole flag in msg (--key,
// not the start of --key-password), or -1.
func flagIndex(msg, flag string) int {
	for from := 0; ; {
		i := strings.Index(msg[from:], flag)
		if i < 0 {
			return -1
		}
		end := from + i + len(flag)
		if end == len(msg) || !isFlagChar(msg[end]) {
			if start := from + i; start == 0 || !isFlagChar(msg[start-1]) {
				return end
			}
		}
		from = end
	}
}

func isFlagChar(c byte) bool {
	return c == '-' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
