package iot

import (
	"strings"
	"testing"
)

func TestTemplateEvaluate(t *testing.T) {
	named := map[string]namedPolicy{"DevicePolicy": {text: []byte(devicePolicy)}}
	certID := strings.Repeat("0a", 32)
	cert := `"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}`
	for _, tt := range []struct {
		name     string
		template string
		params   map[string]string
		// want
		thing    string
		attrs    string // k=v,… sorted
		status   string
		policies string // names, or the inline document's text
		config   string
		err      string
	}{
		{name: "fleet", template: fleetTemplate, params: map[string]string{"SerialNumber": "42"},
			thing: "dev-42", attrs: "model=m1,serial=42", status: "ACTIVE", policies: "DevicePolicy",
			config: `{"FallbackUrl":"https://example.com/fallback","Serial":"42"}`},
		{name: "default overridden", template: fleetTemplate, params: map[string]string{"SerialNumber": "1", "Model": "m2"},
			thing: "dev-1", attrs: "model=m2,serial=1", status: "ACTIVE", policies: "DevicePolicy",
			config: `{"FallbackUrl":"https://example.com/fallback","Serial":"1"}`},
		{name: "missing parameter", template: fleetTemplate, err: "Missing value for parameter SerialNumber"},
		{name: "split and select", template: `{"Parameters": {"Id": {"Type": "String"}}, "Resources": {` + cert + `,
			"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::Select": [1, {"Fn::Split": ["-", {"Ref": "Id"}]}]}}}}}`,
			params: map[string]string{"Id": "a-b-c"}, thing: "b", status: "ACTIVE"},
		{name: "select out of range", template: `{"Parameters": {"Id": {"Type": "String"}}, "Resources": {` + cert + `,
			"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::Select": ["5", {"Fn::Split": ["-", {"Ref": "Id"}]}]}}}}}`,
			params: map[string]string{"Id": "a-b-c"}, err: "index 5 is out of a list of 3"},
		{name: "number parameter", template: `{"Parameters": {"N": {"Type": "Number"}}, "Resources": {` + cert + `,
			"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::Join": ["-", ["n", {"Ref": "N"}]]}}}}}`,
			params: map[string]string{"N": "12"}, thing: "n-12", status: "ACTIVE"},
		{name: "number parameter not a number", template: `{"Parameters": {"N": {"Type": "Number"}}, "Resources": {` + cert + `,
			"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "N"}}}}}`,
			params: map[string]string{"N": "twelve"}, err: "Parameter N is not a number"},
		{name: "certificate values", template: `{"Resources": {` + cert + `,
			"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}}}}`,
			params: map[string]string{"AWS::IoT::Certificate::CommonName": "cn1"}, thing: "cn1", status: "ACTIVE"},
		{name: "inactive, no thing", template: `{"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Properties": {
			"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Inactive"}}}}`, status: "INACTIVE"},
		{name: "other certificate", template: `{"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "` + strings.Repeat("ff", 32) + `"}}}}`,
			err: "is not the certificate being provisioned"},
		{name: "inline policy with a parameter", template: `{"Parameters": {"T": {"Type": "String"}}, "Resources": {` + cert + `,
			"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"Fn::Join": ["", [
			"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":\"arn:aws:iot:us-east-1:123456789012:topic/", {"Ref": "T"}, "\"}]}"]]}}}}}`,
			params: map[string]string{"T": "a/b"}, status: "ACTIVE",
			policies: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/b"}]}`},
		{name: "inline policy object", template: `{"Resources": {` + cert + `,
			"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}}}}}`,
			status: "ACTIVE", policies: `{"Statement":[{"Action":"iot:Connect","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}`},
		{name: "inline policy that does not parse", template: `{"Parameters": {"T": {"Type": "String"}}, "Resources": {` + cert + `,
			"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"Ref": "T"}}}}}`,
			params: map[string]string{"T": "nope"}, err: "PolicyDocument"},
		{name: "device configuration not an object", template: `{"Parameters": {"P": {"Type": "String", "Default": "x"}}, "Resources": {` + cert + `}, "DeviceConfiguration": {"Ref": "P"}}`,
			err: "DeviceConfiguration is not an object"},
		{name: "bad thing name", template: fleetTemplate, params: map[string]string{"SerialNumber": "a b"}, err: "is not 1 to 128 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := parseTemplate("T", []byte(tt.template), named)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			vals := values{certParamPrefix + "Id": certID}
			for k, v := range tt.params {
				vals[k] = v
			}
			p, pe := tp.evaluate(vals, named, certID)
			if tt.err != "" {
				if pe == nil || !strings.Contains(pe.message, tt.err) || pe.status != 400 {
					t.Fatalf("got %+v %+v, want a 400 with %q", p, pe, tt.err)
				}
				return
			}
			if pe != nil {
				t.Fatalf("evaluate: %+v", pe)
			}
			thing, attrs := "", ""
			if p.thing != nil {
				thing = p.thing.Name
				var kv []string
				for _, k := range sortedKeys(p.thing.Attributes) {
					kv = append(kv, k+"="+p.thing.Attributes[k])
				}
				attrs = strings.Join(kv, ",")
				if p.thing.Principal != PrefixCert+certID {
					t.Errorf("thing principal %s", p.thing.Principal)
				}
			}
			var pols []string
			for _, pp := range p.policies {
				if pp.name != "" {
					pols = append(pols, pp.name)
				} else {
					pols = append(pols, string(pp.text))
				}
			}
			config := ""
			if p.config != nil {
				config = string(mustJSON(p.config))
			}
			if thing != tt.thing || attrs != tt.attrs || p.certStatus != tt.status || strings.Join(pols, " ") != tt.policies || config != tt.config {
				t.Errorf("got thing %q attrs %q status %s policies %q config %s\nwant thing %q attrs %q status %s policies %q config %s",
					thing, attrs, p.certStatus, strings.Join(pols, " "), config, tt.thing, tt.attrs, tt.status, tt.policies, tt.config)
			}
		})
	}
}

// TestTemplateChecked: what the emulator refuses at start, with the line
// it says.
func TestTemplateChecked(t *testing.T) {
	named := map[string]namedPolicy{"DevicePolicy": {text: []byte(devicePolicy)}}
	cert := `"c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}`
	for _, tt := range []struct{ template, err string }{
		{`not json`, "not a provisioning template"},
		{`{"Resources": {}}`, "want one AWS::IoT::Certificate resource"},
		{`{"Resources": {` + cert + `, "x": {"Type": "AWS::IoT::ThingGroup", "Properties": {}}}}`, `resource x: type "AWS::IoT::ThingGroup"`},
		{`{"Resources": {` + cert + `, "a": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a"}}, "b": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "b"}}}}`, "2 AWS::IoT::Thing resources"},
		{`{"Resources": {` + cert + `, "t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Nope"}}}}}`, "Ref Nope: no such parameter"},
		{`{"Resources": {` + cert + `, "t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::If": ["c", "a", "b"]}}}}}`, "Fn::If: the emulator evaluates Ref"},
		{`{"Resources": {` + cert + `, "t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::Join": ["-"]}}}}}`, "Fn::Join takes a list of two arguments"},
		{`{"Resources": {` + cert + `, "t": {"Type": "AWS::IoT::Thing", "Properties": {}}}}`, "a Thing needs ThingName"},
		{`{"Resources": {` + cert + `, "p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "Other"}}}}`, "no policy named Other: give --named-policy Other=FILE"},
		{`{"Resources": {` + cert + `, "p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy", "PolicyDocument": "{}"}}}}`, "a Policy needs PolicyName or PolicyDocument"},
		{`{"Resources": {` + cert + `, "p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Statement\": 5}"}}}}`, "resource p: PolicyDocument"},
		{`{"Parameters": {"A": {"Type": "List"}}, "Resources": {` + cert + `}}`, `parameter A: Type "List"`},
		{`{"Resources": {` + cert + `}, "DeviceConfiguration": {"x": {"Ref": "Nope"}}}`, "DeviceConfiguration: Ref Nope"},
	} {
		_, err := parseTemplate("T", []byte(tt.template), named)
		if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s:\n got %v\nwant one line with %q", tt.template, err, tt.err)
		}
	}
}
