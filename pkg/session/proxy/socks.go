package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	xproxy "golang.org/x/net/proxy"

	"github.com/iotctl/iotctl/pkg/errs"
)

// dialSOCKS opens a connection to target through a SOCKS5 proxy with
// golang.org/x/net/proxy (user and password auth, RFC 1929, when the URL
// has a user). socks5:// resolves the target's name here and sends the
// proxy an address; socks5h:// sends the name, for the proxy to resolve
// (x/net sends any name it is given, so socks5:// resolves first).
func dialSOCKS(ctx context.Context, cfg Config, addr, target string) (net.Conn, error) {
	u := cfg.URL
	var auth *xproxy.Auth
	if u.User != nil {
		pass, _ := u.User.Password()
		auth = &xproxy.Auth{User: u.User.Username(), Password: pass}
	}
	d, err := xproxy.SOCKS5("tcp", addr, auth, &net.Dialer{})
	if err != nil {
		return nil, errs.Usagef("proxy %s: %v", redact(u.String()), err)
	}
	cd, ok := d.(xproxy.ContextDialer)
	if !ok {
		return nil, fmt.Errorf("proxy %s: the SOCKS5 dialer cannot be cancelled", redact(u.String()))
	}
	targets := []string{target}
	if u.Scheme == "socks5" {
		host, port, err := net.SplitHostPort(target)
		if err != nil {
			return nil, errs.Usagef("proxy %s: target %s: %v", redact(u.String()), target, err)
		}
		if net.ParseIP(host) == nil {
			ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil {
				if ctx.Err() != nil {
					return nil, socksCtxErr(ctx, u, target)
				}
				return nil, errs.Connectf("connect to %s: cannot resolve host %s here (socks5:// resolves locally; socks5h:// lets the proxy resolve it): check --endpoint", target, host)
			}
			targets = targets[:0]
			for _, ip := range ips {
				targets = append(targets, net.JoinHostPort(ip.String(), port))
			}
		}
	}
	var firstErr error
	for _, t := range targets {
		c, err := cd.DialContext(ctx, "tcp", t)
		if err == nil {
			return c, nil
		}
		// x/net's deadline from ctx may fire before ctx reports its end.
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, socksCtxErr(ctx, u, target)
		}
		err, next := socksErr(cfg, addr, target, err)
		if firstErr == nil {
			firstErr = err
		}
		// A refused login or an unreachable proxy fails for every address.
		if !next {
			break
		}
	}
	return nil, firstErr
}

// socksCtxErr is the error when ctx ended during the dial: an interrupt
// stays context.Canceled; the connect timeout is a Connect error.
func socksCtxErr(ctx context.Context, u *url.URL, target string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return errs.New(errs.Connect, timedOut(fmt.Sprintf("proxy %s: no tunnel to %s within the connect timeout: check the proxy, or raise --connect-timeout", redact(u.String()), target)))
}

// socksErr turns x/net's SOCKS errors into one-line Connect errors that
// name the proxy (password masked) and say what to check; next is true
// when the proxy could not reach this address of the target, so another
// may be tried.
func socksErr(cfg Config, addr, target string, err error) (_ error, next bool) {
	u := cfg.URL
	var op *net.OpError
	cause := err
	if errors.As(err, &op) && op.Err != nil {
		cause = op.Err
	}
	var inner *net.OpError
	if errors.As(cause, &inner) && inner.Op == "dial" {
		// The proxy itself could not be reached.
		return errs.Connectf("proxy %s: %v: check %s", addr, unwrapOpErr(inner), cfg.setting()), false
	}
	shown := redact(u.String())
	msg := cause.Error()
	switch {
	case strings.Contains(msg, "username/password authentication failed"):
		return errs.Connectf("proxy %s refused the user and password: check the proxy user and password", shown), false
	case strings.Contains(msg, "no acceptable authentication methods"):
		if u.User == nil {
			return errs.Connectf("proxy %s wants a user and password: give them in %s (socks5://user:pass@host:port)", shown, cfg.setting()), false
		}
		return errs.Connectf("proxy %s accepts none of iotctl's SOCKS5 authentication methods (none, user/password)", shown), false
	case strings.HasPrefix(msg, "unknown error "):
		return errs.Connectf("proxy %s could not connect to %s: %s", shown, target, strings.TrimPrefix(msg, "unknown error ")), true
	case strings.Contains(msg, "unexpected protocol version"):
		return errs.Connectf("proxy %s: %s: is %s a SOCKS5 proxy?", shown, msg, addr), false
	}
	return errs.Connectf("proxy %s: SOCKS5 connect to %s: %s", shown, target, printable(msg)), false
}
