// Package sysservice runs hypd as a system service: it installs a hardened systemd unit (through
// github.com/kardianos/service, which also covers System V init, OpenRC and the rest with their
// stock scripts), starts, stops and removes it, and runs the gateway under the service manager
// so that a stop cancels it and returns within seconds.
//
// Stopping never exposes anything: the gateway leaves its nftables table in place when it exits
// (fail closed), so the protected services stay hidden until hypd runs again. Only an explicit
// `hypd uninstall --purge` or `hypd cleanup` deletes the table.
package sysservice

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

const (
	// Name is the service's name: the systemd unit is hypd.service.
	Name = "hypd"
	// Description is the unit's one-line description.
	Description = "hyp gateway: hides services until a valid knock opens them"
	// DefaultConfig is the config file a service reads unless `hypd install --config` says otherwise.
	DefaultConfig = "/etc/hyp/hypd.toml"
	// PackagedExecutable is where the .deb and .rpm put hypd.
	PackagedExecutable = "/usr/sbin/hypd"
	// UnitPath is where `hypd install` writes the unit (kardianos' place for system units).
	UnitPath = "/etc/systemd/system/hypd.service"
)

// PackagedUnitPaths are where a distribution package puts the unit; a unit there belongs to the
// package manager, not to `hypd install`/`uninstall`.
func PackagedUnitPaths() []string {
	return []string{"/usr/lib/systemd/system/hypd.service", "/lib/systemd/system/hypd.service"}
}

// unitTemplate is the systemd unit in kardianos' template syntax, with @CAPABILITIES@ filled in
// by this package first. It is only ever read.
//
//go:embed hypd.service.tmpl
var unitTemplate string

// baseCapabilities is what hypd needs on every kernel with CAP_BPF (5.8 and later).
const baseCapabilities = "CAP_BPF CAP_NET_ADMIN CAP_PERFMON"

// Capabilities returns the capability list for a kernel release such as "6.1.0-18-amd64".
// CAP_BPF and CAP_PERFMON split out of CAP_SYS_ADMIN in Linux 5.8; an older kernel checks
// CAP_SYS_ADMIN for every bpf() command, so there hypd also needs it. hypd's BPF ring buffer
// needs 5.8 too, so in practice the extra capability only lets hypd start far enough to say so.
// An empty or unparsable release gets the base set: a unit must not grow capabilities by accident.
func Capabilities(release string) string {
	major, minor, ok := kernelVersion(release)
	if ok && (major < 5 || major == 5 && minor < 8) {
		return baseCapabilities + " CAP_SYS_ADMIN"
	}
	return baseCapabilities
}

// kernelVersion parses the leading "MAJOR.MINOR" of a kernel release string.
func kernelVersion(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	// The minor number may be followed by a suffix: "5.10-rc1", "4.18+".
	m := parts[1]
	if i := strings.IndexFunc(m, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		m = m[:i]
	}
	minor, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// Arguments are the arguments the service runs hypd with.
func Arguments(configPath string) []string {
	return []string{"run", "--config", configPath}
}

// Script returns the unit template handed to kardianos (option SystemdScript) for the given
// capability list.
func Script(caps string) string {
	return strings.ReplaceAll(unitTemplate, "@CAPABILITIES@", caps)
}

// RenderUnit returns the unit exactly as kardianos writes it for Script(caps), for an executable
// and a config file: the packages ship this text, and the systemd test checks that `hypd install`
// wrote the same. It implements just the three template actions the unit uses.
func RenderUnit(executable, configPath, caps string) (string, error) {
	if strings.ContainsAny(executable, "\n\"") || strings.ContainsAny(configPath, "\n\"") {
		return "", fmt.Errorf("unit paths must not contain newlines or quotes: %q, %q", executable, configPath)
	}
	var args strings.Builder
	for _, a := range Arguments(configPath) {
		args.WriteString(" " + cmdQuote(a))
	}
	r := strings.NewReplacer(
		"{{Description}}", Description,
		"{{Path | cmdEscape}}", cmdEscape(executable),
		"{{range Arguments}} {{. | cmd}}{{end}}", args.String(),
	)
	out := r.Replace(Script(caps))
	if strings.Contains(out, "{{") {
		return "", fmt.Errorf("unit template has an action RenderUnit does not know: %q", out[strings.Index(out, "{{"):])
	}
	return out, nil
}

// cmdQuote and cmdEscape mirror kardianos' template functions of the same names.
func cmdQuote(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
func cmdEscape(s string) string { return strings.ReplaceAll(s, " ", `\x20`) }

// ConfigFromUnit returns the --config argument of a unit's ExecStart line, or "" if there is none.
func ConfigFromUnit(unit string) string {
	for _, line := range strings.Split(unit, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart=")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		for i, f := range fields {
			if strings.Trim(f, `"`) == "--config" && i+1 < len(fields) {
				return strings.Trim(fields[i+1], `"`)
			}
			if v, ok := strings.CutPrefix(strings.Trim(f, `"`), "--config="); ok {
				return v
			}
		}
	}
	return ""
}
