package cmdutil

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	"proxy-username":                   "proxy-user-name",
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

// addProxyCredentialFlags adds the samples' --proxy_user_name (also
// --proxy_username) and --proxy_password, hidden: proxyCredentials puts
// them into the proxy URL.
func addProxyCredentialFlags(fs *pflag.FlagSet) {
	fs.String("proxy-user-name", "", "the AWS IoT SDK samples' proxy user: prefer --proxy http://user:pass@host:port")
	fs.String("proxy-password", "", "the AWS IoT SDK samples' proxy password: prefer --proxy http://user:pass@host:port")
	_ = fs.MarkHidden("proxy-user-name")
	_ = fs.MarkHidden("proxy-password")
}

// proxyCredentials composes --proxy_host, --proxy_port, --proxy_user_name
// and --proxy_password (the samples' spellings) into the proxy URL, or adds
// the user to --proxy's.
func proxyCredentials(cmd *cobra.Command, st *profile.Settings) error {
	user, pass := cmd.Flags().Lookup("proxy-user-name"), cmd.Flags().Lookup("proxy-password")
	if user == nil || pass == nil || (!user.Changed && !pass.Changed) {
		return nil
	}
	info := url.UserPassword(user.Value.String(), pass.Value.String())
	switch {
	case st.Proxy != "":
		u, err := url.Parse(st.Proxy)
		if err != nil || u.Host == "" {
			return errs.Usagef("--proxy_user_name: --proxy is not a URL: give --proxy http://user:pass@host:port")
		}
		if u.User != nil {
			return errs.Usagef("--proxy_user_name: --proxy has a user already: give it in one place")
		}
		u.User = info
		st.Proxy = u.String()
	case st.ProxyHost != "" && st.ProxyPort > 0:
		st.Proxy = (&url.URL{Scheme: "http", User: info, Host: net.JoinHostPort(st.ProxyHost, strconv.Itoa(st.ProxyPort))}).String()
		st.ProxyHost, st.ProxyPort = "", 0
	default:
		return errs.Usagef("--proxy_user_name/--proxy_password without a proxy: give --proxy_host and --proxy_port, or --proxy http://USER:PASSWORD@host:port")
	}
	// What whoami and -v report: the one proxy setting, from flags.
	st.Entries = slices.DeleteFunc(st.Entries, func(e profile.Entry) bool {
		return e.Name == "proxy" || e.Name == "proxy-host" || e.Name == "proxy-port"
	})
	st.Entries = append(st.Entries, profile.Entry{Name: "proxy", Value: st.Proxy, Source: profile.FromFlag, URL: true})
	return nil
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
