// Package build holds the version stamped by the linker:
//
//	-X github.com/iotctl/iotctl/internal/build.Version=v1.2.3
//
// with a fallback to the module build info for `go install` builds.
package build

import "runtime/debug"

var (
	Version = ""
	Commit  = ""
	Date    = ""
)

func init() {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if Version == "" {
		Version = info.Main.Version
		if Version == "" || Version == "(devel)" {
			Version = "dev"
		}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if Commit == "" {
				Commit = s.Value
			}
		case "vcs.time":
			if Date == "" {
				Date = s.Value
			}
		}
	}
}
