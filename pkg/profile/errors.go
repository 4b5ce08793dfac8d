package profile

import "errors"

// Sentinel errors of settings and of the profile store (package
// profilestore), wrapped with the details; cmdutil maps them to exit 2.
var (
	ErrNotFound    = errors.New("profile not found")
	ErrInvalidName = errors.New("invalid profile name")
	ErrUnknownKey  = errors.New("unknown setting")
	ErrMalformed   = errors.New("malformed profile")
	// ErrInvalidValue is a value of the wrong type or outside a setting's enum.
	ErrInvalidValue = errors.New("invalid value")
)
