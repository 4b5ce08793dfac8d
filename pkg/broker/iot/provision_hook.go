package iot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ProvisioningHookTimeout bounds one run of a pre-provisioning hook.
const ProvisioningHookTimeout = 10 * time.Second

// ProvisioningHookEvent is what a pre-provisioning hook command reads on
// stdin: the event IoT Core hands to a pre-provisioning hook Lambda.
type ProvisioningHookEvent struct {
	ClaimCertificateID string            `json:"claimCertificateId"`
	CertificateID      string            `json:"certificateId"`
	CertificatePem     string            `json:"certificatePem"`
	TemplateARN        string            `json:"templateArn"`
	ClientID           string            `json:"clientId"`
	Parameters         map[string]string `json:"parameters"`
}

// ProvisioningHookResponse is what the command prints on stdout.
type ProvisioningHookResponse struct {
	AllowProvisioning  bool           `json:"allowProvisioning"`
	ParameterOverrides map[string]any `json:"parameterOverrides"`
}

// runProvisioningHook runs a template's hook; it returns the parameter
// overrides when the hook allows provisioning, and an error (to log) when
// it does not or fails.
// ctx ends with the broker: a hook still running is killed.
func runProvisioningHook(ctx context.Context, command string, ev ProvisioningHookEvent) (map[string]string, error) {
	in, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	out, err := runCommand(ctx, command, in, ProvisioningHookTimeout)
	if err != nil {
		return nil, err
	}
	var resp ProvisioningHookResponse
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("its stdout is not a pre-provisioning hook response (JSON with allowProvisioning and parameterOverrides): %v", err)
	}
	if !resp.AllowProvisioning {
		return nil, fmt.Errorf("the hook answered allowProvisioning false")
	}
	over := map[string]string{}
	for k, v := range resp.ParameterOverrides {
		s, ok := scalar(v)
		if !ok {
			return nil, fmt.Errorf("parameterOverrides %s is not a string", k)
		}
		over[k] = s
	}
	return over, nil
}
