package auth

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/errs"
)

// The AWS calls follow the proxy rule MQTT follows: an explicit --proxy
// (here a real microsocks and a real tinyproxy) carries STS too, and
// --no-proxy keeps a dead proxy in HTTPS_PROXY/HTTP_PROXY out of them.
func TestAWSCallsFollowProxy(t *testing.T) {
	writeAWSFiles(t)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	sts := awsfake.NewSTS(t, "123456789012", "arn:aws:iam::123456789012:user/dev")
	u, _ := url.Parse(sts.URL)
	port, _ := strconv.Atoi(u.Port())
	ms := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "u", Pass: "pw-socks"})
	tp := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "u", Pass: "pw-http", ConnectPorts: []int{port}})

	call := func(t *testing.T, flags map[string][]string) error {
		t.Helper()
		flags["auth"] = []string{"sigv4"}
		flags["endpoint"] = []string{"abc-ats.iot.eu-central-1.amazonaws.com"}
		p, err := New(settingsForAWSTest(t, flags))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = p.(CallerIdentifier).CallerIdentity(ctx, sts.URL)
		return err
	}
	t.Run("socks5", func(t *testing.T) {
		if err := call(t, map[string][]string{"proxy": {"socks5://u:pw-socks@" + ms.Addr()}}); err != nil {
			t.Fatal(err)
		}
		if !ms.WaitTunnels(1, 10*time.Second) || !strings.Contains(ms.Log(), "connected to 127.0.0.1:"+u.Port()) {
			t.Errorf("STS did not go through microsocks:\n%s", ms.Log())
		}
	})
	t.Run("http CONNECT", func(t *testing.T) {
		if err := call(t, map[string][]string{"proxy": {"http://u:pw-http@" + tp.Addr()}}); err != nil {
			t.Fatal(err)
		}
		want := "CONNECT 127.0.0.1:" + u.Port() + " "
		for end := time.Now().Add(10 * time.Second); !strings.Contains(tp.Log(), want) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(tp.Log(), want) {
			t.Errorf("STS did not go through tinyproxy:\n%s", tp.Log())
		}
	})
	t.Run("wrong proxy password", func(t *testing.T) {
		err := call(t, map[string][]string{"proxy": {"socks5://u:wrong-pw@" + ms.Addr()}})
		wantKind(t, err, errs.Connect)
		t.Log(err)
		if strings.Contains(err.Error(), "wrong-pw") || !strings.Contains(err.Error(), "refused the user and password") {
			t.Errorf("error: %v", err)
		}
	})
	t.Run("--no-proxy", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
		if err := call(t, map[string][]string{"no-proxy": {"true"}}); err != nil {
			t.Fatal(err)
		}
	})
	if n := len(sts.Calls()); n != 3 {
		t.Errorf("STS got %d calls, want 3", n)
	}
}
