package broker

import (
	"os"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/pflag"
)

// provisioningOptions are the fleet provisioning flags of --iot.
type provisioningOptions struct {
	Templates     []string
	NamedPolicies []string
	Hooks         []string
}

const provisioningLong = `

Fleet provisioning (every --iot broker): IoT Core's device provisioning
MQTT API, in JSON (…/json topics, as below) and CBOR (…/cbor).
$aws/certificates/create/json (CreateKeysAndCertificate)
and $aws/certificates/create-from-csr/json (CreateCertificateFromCsr, the
CSR's signature checked) issue a certificate of the emulator's provisioning
CA, which the mutual TLS listener trusts beside --client-ca; the
certificate is PENDING_ACTIVATION and refused at the TLS handshake until
$aws/provisioning-templates/NAME/provision/json (RegisterThing) checks the
certificate ownership token (issued by this broker, for that certificate,
within the hour), runs the template's pre-provisioning hook and evaluates
--provisioning-template NAME=FILE: Parameters (Type String or Number,
Default), Ref (AWS::IoT::Certificate::Id and the certificate's subject
too), Fn::Join, Fn::Split, Fn::Select; one AWS::IoT::Certificate
(CertificateId, Status), at most one AWS::IoT::Thing (ThingName,
AttributePayload) and AWS::IoT::Policy resources by PolicyName (a
--named-policy NAME=FILE) or PolicyDocument. The thing is attached to the
new certificate (cert:<ID>) and the policies too: a connection with that
certificate and the thing's name as client ID is authorised by them and
gets ${iot:Connection.Thing.*}. Answers go on …/accepted and …/rejected
({statusCode, errorCode, errorMessage}) to the requesting connection only.
--provisioning-hook NAME=COMMAND runs COMMAND (sh -c) before template NAME
is applied, with IoT Core's hook event as JSON on stdin (claimCertificateId,
certificateId, certificatePem, templateArn, clientId, parameters); it
prints {"allowProvisioning": true|false, "parameterOverrides": {…}} within
10 s, or provisioning is refused (403 AccessDenied). With --state-dir the
CA, certificates, things and attachments persist in DIR/provisioning.`

const provisioningExample = `

  # fleet provisioning by claim: the claim certificate may only provision
  iotctl broker --iot --tls-listen 127.0.0.1:8883 --client-ca claim-ca.pem --state-dir state \
    --policy "cert:$CLAIM_ID=claim-policy.json" --named-policy DevicePolicy=device-policy.json \
    --provisioning-template FleetTemplate=template.json --provisioning-hook 'FleetTemplate=./check-serial.sh'`

func (p *provisioningOptions) addFlags(fl *pflag.FlagSet) {
	cmdutil.StringArrayVar(fl, &p.Templates, "provisioning-template", "NAME=FILE: a fleet provisioning template for RegisterThing on $aws/provisioning-templates/NAME/provision/json (repeatable)")
	cmdutil.StringArrayVar(fl, &p.NamedPolicies, "named-policy", "NAME=FILE: an IoT policy that provisioning templates attach by PolicyName (repeatable)")
	cmdutil.StringArrayVar(fl, &p.Hooks, "provisioning-hook", "NAME=COMMAND: pre-provisioning hook of template NAME: event JSON on stdin, {\"allowProvisioning\": …} on stdout (repeatable)")
}

// config adds the templates, named policies and hooks to cfg.
func (p *provisioningOptions) config(cfg *iot.Config) error {
	for _, v := range p.NamedPolicies {
		name, file, err := splitAssign("--named-policy", v, "NAME=FILE")
		if err != nil {
			return err
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return errs.Usagef("--named-policy %s: %v", name, err)
		}
		cfg.NamedPolicies = append(cfg.NamedPolicies, iot.NamedPolicy{Name: name, Document: data})
	}
	hooks := map[string]string{}
	for _, v := range p.Hooks {
		name, command, err := splitAssign("--provisioning-hook", v, "NAME=COMMAND")
		if err != nil {
			return err
		}
		if _, dup := hooks[name]; dup {
			return errs.Usagef("--provisioning-hook %s is given twice", name)
		}
		hooks[name] = command
	}
	for _, v := range p.Templates {
		name, file, err := splitAssign("--provisioning-template", v, "NAME=FILE")
		if err != nil {
			return err
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return errs.Usagef("--provisioning-template %s: %v", name, err)
		}
		cfg.ProvisioningTemplates = append(cfg.ProvisioningTemplates, iot.ProvisioningTemplate{Name: name, Body: data, Hook: hooks[name]})
		delete(hooks, name)
	}
	for name := range hooks {
		return errs.Usagef("--provisioning-hook %s: no --provisioning-template %s=FILE", name, name)
	}
	return nil
}
