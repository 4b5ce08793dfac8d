// Package completions holds iotctl's shell completion scripts, generated from
// the command tree and shipped in release archives. Regenerate them with
// 'go generate ./...' after changing commands or flags; CI fails when they
// are stale.
package completions

//go:generate go run ../internal/gencompletions .
