package awsfake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestCognitoWithSDK(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fake := NewCognito(t, Identities(map[string]Identity{
		"us-east-1:1111": {
			Logins:      map[string]string{"accounts.example.com": "tok"},
			Credentials: func() CognitoCredentials { return CognitoCredentials{"AKIDCOG", "secret", "session", exp} },
		},
	}))
	client := cognitoidentity.New(cognitoidentity.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(fake.URL),
		Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
	})
	ctx := context.Background()

	out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{
		IdentityId: aws.String("us-east-1:1111"),
		Logins:     map[string]string{"accounts.example.com": "tok"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if aws.ToString(c.AccessKeyId) != "AKIDCOG" || aws.ToString(c.SecretKey) != "secret" || aws.ToString(c.SessionToken) != "session" || !c.Expiration.Equal(exp) {
		t.Errorf("credentials = %+v", c)
	}
	if aws.ToString(out.IdentityId) != "us-east-1:1111" {
		t.Errorf("IdentityId = %q", aws.ToString(out.IdentityId))
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Signed || calls[0].Logins["accounts.example.com"] != "tok" {
		t.Errorf("calls = %+v", calls)
	}

	for _, tc := range []struct {
		id     string
		logins map[string]string
		code   string
	}{
		{"us-east-1:2222", nil, "ResourceNotFoundException"},
		{"us-east-1:1111", map[string]string{"accounts.example.com": "bad"}, "NotAuthorizedException"},
		{"us-east-1:1111", nil, "NotAuthorizedException"},
	} {
		_, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(tc.id), Logins: tc.logins})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
			t.Errorf("%s %v: err = %v, want %s", tc.id, tc.logins, err, tc.code)
		}
	}
}

func TestSTSWithSDK(t *testing.T) {
	fake := NewSTS(t, "123456789012", "arn:aws:sts::123456789012:assumed-role/dev/alice")
	client := sts.New(sts.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(fake.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTS", "secret", "tok"),
		Retryer:     aws.NopRetryer{},
	})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != "123456789012" || aws.ToString(out.Arn) != "arn:aws:sts::123456789012:assumed-role/dev/alice" || aws.ToString(out.UserId) != "AROAIOTCTLFAKEROLE:alice" {
		t.Errorf("identity = %s %s %s", aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId))
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0] != (STSCall{AccessKeyID: "AKIDSTS", Region: "eu-west-1", Service: "sts", HasSessionToken: true}) {
		t.Errorf("calls = %+v", calls)
	}

	anon := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(fake.URL), Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
	_, err = anon.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "MissingAuthenticationToken" {
		t.Errorf("unsigned call: err = %v", err)
	}
}
