package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release's version, stamped at build time with
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/aspstated
//
// Empty in other builds: the module version from the build information is
// used then ("(devel)" for a build from a checkout).
var version string

// buildVersion is the version this binary reports (--version, the start
// line, aspstate_build_info).
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionLine is what --version prints: the version, the toolchain and
// platform, and the commit when the build recorded it.
func versionLine() string {
	var b strings.Builder
	b.WriteString("aspstated " + buildVersion() + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, at, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+modified"
				}
			}
		}
		if rev != "" {
			b.WriteString(" commit " + rev + dirty)
			if at != "" {
				b.WriteString(" " + at)
			}
		}
	}
	return b.String()
}
