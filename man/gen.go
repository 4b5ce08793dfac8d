// Package man holds iotctl's manual pages (section 1), one per command,
// generated from the command tree and shipped in release archives and the
// deb/rpm packages. Regenerate them with 'go generate ./...' after changing
// commands, flags, help text or examples; CI fails when they are stale.
package man

//go:generate go run ../internal/genman .
