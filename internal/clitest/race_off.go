//go:build !race

package clitest

// Race is true when the tests run under the race detector: the binary is
// then built with -race too.
const Race = false
