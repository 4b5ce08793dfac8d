package broker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	embedded "github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/errs"
)

const testTemplate = `{"Parameters": {"Serial": {"Type": "String"}},
 "Resources": {
  "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Serial"}}},
  "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
  "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}}}}`

// TestProvisioningFlags: templates, named policies and hooks reach the
// emulator; anything wrong is one usage line naming it, before the broker
// starts.
func TestProvisioningFlags(t *testing.T) {
	got, err := iotFlags(t, "--iot", "--provisioning-template", "Fleet=t.json", "--named-policy", "DevicePolicy=p.json",
		"--provisioning-hook", "Fleet=./hook.sh --x=1")
	if err != nil {
		t.Fatal(err)
	}
	want := provisioningOptions{Templates: []string{"Fleet=t.json"}, NamedPolicies: []string{"DevicePolicy=p.json"}, Hooks: []string{"Fleet=./hook.sh --x=1"}}
	if strings.Join(got.Provisioning.Templates, " ") != strings.Join(want.Templates, " ") ||
		strings.Join(got.Provisioning.NamedPolicies, " ") != strings.Join(want.NamedPolicies, " ") ||
		strings.Join(got.Provisioning.Hooks, " ") != strings.Join(want.Hooks, " ") {
		t.Errorf("options %+v, want %+v", got.Provisioning, want)
	}
	for _, args := range [][]string{{"--provisioning-template", "a=b"}, {"--named-policy", "a=b"}, {"--provisioning-hook", "a=b"}} {
		if _, err := iotFlags(t, args...); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "needs --iot") {
			t.Errorf("%v without --iot: %v, want a usage error", args, err)
		}
	}

	dir := t.TempDir()
	tmpl := writeFile(t, dir, "t.json", testTemplate)
	pol := writeFile(t, dir, "p.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
	badPol := writeFile(t, dir, "bad-p.json", `{"Statement": 5}`)
	notJSON := writeFile(t, dir, "x.json", `nope`)
	base := func(p provisioningOptions) *iotOptions {
		return &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, StateDir: filepath.Join(dir, "state"), Provisioning: p}
	}
	o := base(provisioningOptions{Templates: []string{"Fleet=" + tmpl}, NamedPolicies: []string{"DevicePolicy=" + pol}, Hooks: []string{"Fleet=./hook.sh"}})
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ProvisioningTemplates) != 1 || cfg.ProvisioningTemplates[0].Name != "Fleet" || cfg.ProvisioningTemplates[0].Hook != "./hook.sh" ||
		len(cfg.NamedPolicies) != 1 || cfg.NamedPolicies[0].Name != "DevicePolicy" {
		t.Errorf("config %+v %+v", cfg.ProvisioningTemplates, cfg.NamedPolicies)
	}
	var bo embedded.Options
	if err := applyIoT(context.WithValue(context.Background(), iotKey{}, o), &bo); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "provisioning", "ca.pem")); err != nil {
		t.Errorf("provisioning CA not in the state directory: %v", err)
	}

	for _, tt := range []struct {
		p    provisioningOptions
		want string
	}{
		{provisioningOptions{Templates: []string{"Fleet"}}, `--provisioning-template "Fleet": want NAME=FILE`},
		{provisioningOptions{Templates: []string{"Fleet=" + filepath.Join(dir, "none.json")}}, "--provisioning-template Fleet: open"},
		{provisioningOptions{Templates: []string{"Fleet=" + notJSON}}, "provisioning template Fleet: not a provisioning template"},
		{provisioningOptions{Templates: []string{"Fleet=" + tmpl}}, "provisioning template Fleet: resource policy: no policy named DevicePolicy: give --named-policy DevicePolicy=FILE"},
		{provisioningOptions{Templates: []string{"Fleet=" + tmpl, "Fleet=" + tmpl}, NamedPolicies: []string{"DevicePolicy=" + pol}}, "provisioning template Fleet is given twice"},
		{provisioningOptions{Templates: []string{"Bad.Name=" + tmpl}, NamedPolicies: []string{"DevicePolicy=" + pol}}, `provisioning template "Bad.Name": a name is 1 to 36 characters`},
		{provisioningOptions{NamedPolicies: []string{"DevicePolicy=" + badPol}}, "policy DevicePolicy:"},
		{provisioningOptions{Hooks: []string{"Other=./x"}}, "--provisioning-hook Other: no --provisioning-template Other=FILE"},
		{provisioningOptions{Hooks: []string{"Other=./x", "Other=./y"}}, "--provisioning-hook Other is given twice"},
	} {
		err := applyIoT(context.WithValue(context.Background(), iotKey{}, base(tt.p)), &embedded.Options{})
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want one usage line with %q", tt.p, err, tt.want)
		}
	}
}
