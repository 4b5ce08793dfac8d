package iotsvc

import (
	"fmt"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// AWS IoT Core's name limits (quotas) of things and shadows.
const (
	MaxThingNameBytes  = 128
	MaxShadowNameBytes = 64
)

// ThingName is the thing of the shadow and jobs commands: the thing-name
// setting (--thing), else the client ID when one was set explicitly; it is
// checked as the services would (a name with / + # would make another
// topic), before connecting.
func ThingName(st *profile.Settings) (string, error) {
	switch {
	case st.ThingName != "":
		return st.ThingName, CheckName(from(st, "thing-name", "--thing"), "thing name", st.ThingName, MaxThingNameBytes)
	case st.IsSet("client-id") && st.ClientID != "":
		return st.ClientID, CheckName(from(st, "client-id", "--client-id"), "thing name", st.ClientID, MaxThingNameBytes)
	}
	return "", errs.Usagef("no thing name: give --thing NAME, or set thing-name in the profile (iotctl profile set NAME thing-name=THING) or IOTCTL_THING_NAME")
}

// from says where a setting came from, as a flag name that Attribute can
// complete with the profile.
func from(st *profile.Settings, setting, flag string) string {
	switch st.Source(setting) {
	case profile.FromEnv:
		d, _ := profile.Lookup(setting)
		return d.Env()
	case profile.FromProfile:
		return "--" + setting
	}
	return flag
}

// CheckName checks a thing or shadow name given by flag: 1 to max
// characters of a-z A-Z 0-9 : _ -.
func CheckName(flag, what, name string, max int) error {
	if name == "" {
		return errs.Usagef("%s: empty %s: give 1 to %d characters of a-z A-Z 0-9 : _ -", flag, what, max)
	}
	if len(name) > max {
		return errs.Usagef("%s: %s of %d bytes: the service allows at most %d", flag, what, len(name), max)
	}
	for _, c := range name {
		if !profile.NameChar(c) {
			return errs.Usagef("%s: %s %q has %s: use only a-z A-Z 0-9 : _ -", flag, what, name, describe(c))
		}
	}
	return nil
}

func describe(c rune) string {
	switch {
	case c == '/':
		return "a / (a topic level separator)"
	case c == '+' || c == '#':
		return fmt.Sprintf("a %c (an MQTT wildcard)", c)
	case c < 0x20 || c == 0x7f:
		return "a control character"
	}
	return fmt.Sprintf("the character %q", c)
}
