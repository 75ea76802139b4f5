package layering

import (
	"strings"
	"testing"
)

// helperRoomRules maps each room of the client helper to the module packages its product code
// must not import: the checks (perm) and the hand-over across rights (elevate) depend on nothing
// of the client, the store knows nothing of the loops or the channel, and the channel (the
// package the user's tray and CLI link) knows nothing of the service behind it.
func helperRoomRules() map[string][]string {
	return map[string][]string{
		"app/helper/perm":    {"app/"},
		"app/helper/elevate": {"app/"},
		"app/helper/store":   {"app/helper/keepalive", "app/helper/elevate", "app/helperipc", "app/helper="},
		"app/helperipc":      {"app/helper"},
	}
}

// helperPrivate are the helper's rooms that hold or act on its keys, and who besides the helper
// itself may link them: the CLI (hyp helper add, list, run). The tray reaches the helper only
// over app/helperipc.
var helperPrivate = []string{"app/helper/store", "app/helper/keepalive", "app/helper/elevate", "app/helper/perm"}

var helperPrivateUsers = []string{"app/helper", "app/cli"}

// matches is inLayer, with "X=" meaning the package X alone.
func matches(rel, rule string) bool {
	if exact, ok := strings.CutSuffix(rule, "="); ok {
		return rel == exact
	}
	return inLayer(rel, rule)
}

func helperRoomViolations(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := layerOf(p.ImportPath)
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := layerOf(imp)
			if !ok {
				continue
			}
			for room, forbidden := range helperRoomRules() {
				if !inLayer(from, room) {
					continue
				}
				for _, f := range forbidden {
					if matches(to, f) {
						bad = append(bad, p.ImportPath+" imports "+imp+" ("+room+" must not import "+f+")")
					}
				}
			}
			for _, priv := range helperPrivate {
				if !inLayer(to, priv) {
					continue
				}
				allowed := false
				for _, u := range helperPrivateUsers {
					allowed = allowed || inLayer(from, u)
				}
				if !allowed {
					bad = append(bad, p.ImportPath+" imports "+imp+" (only the helper and the CLI may; others use app/helperipc)")
				}
			}
		}
	}
	return bad
}

// TestHelperRooms: the helper's rooms keep to what their package docs say they hold.
func TestHelperRooms(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		for _, v := range helperRoomViolations(list(t, goos)) {
			t.Errorf("GOOS=%s: %s", goos, v)
		}
	}
}

func TestHelperRoomRulesCatchAWrongImport(t *testing.T) {
	bad := helperRoomViolations([]pkg{
		{ImportPath: module + "/app/helperipc", Imports: []string{module + "/app/helper/keepalive"}},
		{ImportPath: module + "/app/helper/store", Imports: []string{module + "/app/helper/perm", module + "/app/helper"}},
		{ImportPath: module + "/app/ui/helperbackend", Imports: []string{module + "/app/helperipc", module + "/app/helper/store"}},
		{ImportPath: module + "/app/cli", Imports: []string{module + "/app/helper/store", module + "/app/helper/elevate"}},
	})
	all := strings.Join(bad, "\n")
	for _, want := range []string{
		"app/helperipc imports " + module + "/app/helper/keepalive (app/helperipc must not import app/helper)",
		"app/helperipc imports " + module + "/app/helper/keepalive (only the helper and the CLI may",
		"app/helper/store imports " + module + "/app/helper (app/helper/store must not import app/helper=)",
		"app/ui/helperbackend imports " + module + "/app/helper/store (only the helper and the CLI may",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("violations miss %q:\n%s", want, all)
		}
	}
	if len(bad) != 4 {
		t.Fatalf("%d violations, want 4 (the CLI's imports are allowed):\n%s", len(bad), all)
	}
}
