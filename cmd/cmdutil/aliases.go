package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// sdkAliases are the AWS IoT Device SDK v2 samples' flag names (their
// CommandLineUtils) that iotctl spells differently, so a sample's command
// line runs unchanged. Names that differ only by _ for - (--ca_file,
// --client_id, --pkcs11_lib, --pkcs12_file, --proxy_host …) need no entry:
// NormalizeFlag accepts underscores for every flag. Aliases are never
// shown in help.
var sdkAliases = map[string]string{
	"signing-region":                   "region",
	"cognito-identity":                 "cognito-identity-id",
	"custom-auth-username":             "authorizer-username",
	"custom-auth-authorizer-name":      "authorizer-name",
	"custom-auth-password":             "authorizer-password",
	"custom-auth-token-key-name":       "token-key-name",
	"custom-auth-token-value":          "token-value",
	"custom-auth-authorizer-signature": "token-signature",
	"pin":                              "pkcs11-pin",
	"token-label":                      "pkcs11-token-label",
	"slot-id":                          "pkcs11-slot",
	"key-label":                        "pkcs11-key-label",
	"port-override":                    "port",
}

// sdkLevels maps the samples' --verbosity (the CRT's log levels) onto
// iotctl's -v and --debug.
var sdkLevels = map[string]string{
	"trace": "debug", "debug": "debug", "info": "verbose",
	"warn": "", "error": "", "fatal": "", "none": "", "nologs": "",
}

// AddSDKAliases adds the samples' flags that are not spellings of one
// iotctl flag, hidden: --verbosity LEVEL (Trace and Debug: --debug; Info:
// -v; Warn, Error, Fatal, None: neither) and --is_ci VALUE (accepted,
// ignored).
func AddSDKAliases(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.Var(&verbosityValue{root: root}, "verbosity", "the AWS IoT SDK samples' log level: Trace, Debug, Info, Warn, Error, Fatal, None")
	_ = fs.MarkHidden("verbosity")
	fs.String("is-ci", "", "the AWS IoT SDK samples' CI switch: ignored")
	_ = fs.MarkHidden("is-ci")
	Choice{Flag: "verbosity", Values: []string{"Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"}}.Register(root)
}

type verbosityValue struct {
	root  *cobra.Command
	level string
}

func (v *verbosityValue) String() string { return v.level }
func (v *verbosityValue) Type() string   { return "level" }
func (v *verbosityValue) Set(s string) error {
	flag, ok := sdkLevels[strings.ToLower(s)]
	if !ok {
		return fmt.Errorf("invalid level %q: use Trace, Debug, Info, Warn, Error, Fatal or None", s)
	}
	v.level = s
	if flag == "" {
		return nil
	}
	return v.root.PersistentFlags().Set(flag, "true")
}
