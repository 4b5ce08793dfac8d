package iot

import (
	"net/http"

	"github.com/iotctl/iotctl/pkg/auth"
)

// sigv4Identity is what a verified SigV4 upgrade hands to the hook.
type sigv4Identity struct {
	principal string
}

// customUpgrade marks an upgrade without SigV4 parameters: the connection
// authenticates with a custom authorizer at CONNECT.
type customUpgrade struct{}

// authorizeUpgrade checks a websocket upgrade before it happens, as IoT
// Core does: with X-Amz-Algorithm in the query the URL must be presigned
// (SigV4, service iotdevicegateway, this region) by a known access key,
// else 403; without it the upgrade passes and the CONNECT username carries
// the custom authorizer's parameters.
func (e *Emulator) authorizeUpgrade(r *http.Request) (any, int) {
	if !r.URL.Query().Has("X-Amz-Algorithm") {
		return customUpgrade{}, http.StatusOK
	}
	p, err := auth.VerifyPresignedURL(r, e.lookupKey, e.cfg.Now())
	if err != nil {
		e.log.Warn("IoT: websocket upgrade refused", "remote", r.RemoteAddr, "status", http.StatusForbidden, "reason", err.Error())
		return nil, http.StatusForbidden
	}
	if p.Region != e.cfg.Region {
		e.log.Warn("IoT: websocket upgrade refused", "remote", r.RemoteAddr, "status", http.StatusForbidden,
			"reason", "SigV4 URL signed for region "+p.Region+", the emulated endpoint is in "+e.cfg.Region+": sign with --region "+e.cfg.Region)
		return nil, http.StatusForbidden
	}
	c := e.keys[p.AccessKeyID]
	return sigv4Identity{principal: c.Principal()}, http.StatusOK
}

func (e *Emulator) lookupKey(akid string) (secret, token string, ok bool) {
	c, ok := e.keys[akid]
	return c.SecretAccessKey, c.SessionToken, ok
}
