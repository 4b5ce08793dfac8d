package session

import (
	"crypto/rand"
	"encoding/hex"
)

// NewClientID returns prefix followed by 12 random hex digits: unique
// enough for a client ID, short enough for AWS IoT's 128 bytes.
func NewClientID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
