package cmdline

import "runtime/debug"

// VersionString is the version every hyp binary prints (hyp, hypd, hyp-tray): what the release
// build linked in (-X main.version=...), else the module version from the build information
// with the first 12 digits of the commit it was built from, so that two binaries of one build
// say the same.
func VersionString(linked string) string {
	if linked != "" {
		return linked
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
