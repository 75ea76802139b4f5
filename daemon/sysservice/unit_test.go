package sysservice

import (
	"strings"
	"testing"
)

func TestCapabilities(t *testing.T) {
	for release, want := range map[string]string{
		"6.1.0-18-amd64":           baseCapabilities,
		"6.18.44-fc-v769":          baseCapabilities,
		"5.8.0":                    baseCapabilities,
		"5.10-rc1":                 baseCapabilities,
		"5.7.19":                   baseCapabilities + " CAP_SYS_ADMIN",
		"4.18.0-553.el8_10.x86_64": baseCapabilities + " CAP_SYS_ADMIN",
		"3.10.0":                   baseCapabilities + " CAP_SYS_ADMIN",
		"":                         baseCapabilities,
		"not-a-kernel":             baseCapabilities,
	} {
		if got := Capabilities(release); got != want {
			t.Errorf("Capabilities(%q) = %q, want %q", release, got, want)
		}
	}
}

func TestRenderUnit(t *testing.T) {
	unit, err := RenderUnit("/opt/my hyp/hypd", "/etc/hyp/hypd.toml", baseCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(unit, "{{") || strings.Contains(unit, "@CAPABILITIES@") {
		t.Fatalf("unit has unexpanded template actions:\n%s", unit)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(unit, "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		`ExecStart=/opt/my\x20hyp/hypd "run" "--config" "/etc/hyp/hypd.toml"`,
		"Description=" + Description,
		"CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON",
		"AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"StateDirectory=hyp",
		"RuntimeDirectory=hyp",
		"RuntimeDirectoryMode=0750",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"Restart=on-failure",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"LimitMEMLOCK=infinity",
		"WantedBy=multi-user.target",
	} {
		if !lines[want] {
			t.Errorf("unit lacks the line %q", want)
		}
	}
	for l := range lines {
		if strings.HasPrefix(l, "RestartPreventExitStatus") {
			t.Errorf("unit stops retrying on some exit status (%q): a typo at boot would keep the gateway down", l)
		}
		if strings.Contains(l, "CAP_SYS_ADMIN") && !strings.HasPrefix(l, "#") {
			t.Errorf("unit for a 5.8+ kernel grants CAP_SYS_ADMIN: %q", l)
		}
	}
	if got := ConfigFromUnit(unit); got != "/etc/hyp/hypd.toml" {
		t.Errorf("ConfigFromUnit = %q, want /etc/hyp/hypd.toml", got)
	}

	old, err := RenderUnit(PackagedExecutable, DefaultConfig, Capabilities("4.19.0"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(old, "\nCapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN\n") {
		t.Errorf("unit for kernel 4.19 lacks CAP_SYS_ADMIN in the bounding set")
	}

	if _, err := RenderUnit("/usr/sbin/hypd", "/etc/hyp/x\".toml", baseCapabilities); err == nil {
		t.Error("RenderUnit accepted a quote in the config path")
	}
}

func TestConfigFromUnit(t *testing.T) {
	for unit, want := range map[string]string{
		"[Service]\nExecStart=/usr/sbin/hypd \"run\" \"--config\" \"/srv/hyp.toml\"\n": "/srv/hyp.toml",
		"ExecStart=/usr/sbin/hypd run --config=/etc/x.toml":                            "/etc/x.toml",
		"ExecStart=/usr/sbin/hypd run --interface eth0":                                "",
		"# ExecStart=/usr/sbin/hypd run --config /nope\n":                              "",
	} {
		if got := ConfigFromUnit(unit); got != want {
			t.Errorf("ConfigFromUnit(%q) = %q, want %q", unit, got, want)
		}
	}
}
