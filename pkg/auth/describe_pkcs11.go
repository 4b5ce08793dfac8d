//go:build cgo

package auth

import (
	"context"
	"encoding/hex"
	"strings"
)

// Describe adds the token and key to the certificate: the slot is read back
// from the provider's session, the token's details from the module.
func (p *pkcs11Provider) Describe(ctx context.Context, o DescribeOptions) (*Identity, error) {
	id, err := p.certProvider.Describe(ctx, o)
	if err != nil {
		return nil, err
	}
	k := p.key
	info := &PKCS11Identity{Module: k.mod.path, KeyLabel: k.label, KeyID: hex.EncodeToString(k.id)}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		if si, err := k.mod.ctx.GetSessionInfo(k.session); err == nil {
			info.Slot, info.HasSlot = si.SlotID, true
			if ti, err := k.mod.ctx.GetTokenInfo(si.SlotID); err == nil {
				trim := func(s string) string { return strings.TrimRight(s, " \x00") }
				info.TokenLabel, info.TokenSerial = trim(ti.Label), trim(ti.SerialNumber)
				info.Manufacturer, info.Model = trim(ti.ManufacturerID), trim(ti.Model)
			}
		}
	}
	id.PKCS11 = info
	return id, nil
}
