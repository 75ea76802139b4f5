package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The sixth attacker review. Promise 2: nothing un-hides. TOML keys are case-sensitive, so a file
// may say both services = [...] and Services = [...] (say, an old line and a new one pasted in
// another case); both are valid TOML, and the loader (BurntSushi/toml, which matches a key to its
// field in any case) fills the one field from whichever of the two its map iteration reaches
// last: the same file protects one list on one start and the other on the next, and `hypd check`
// may show a third outcome. On a first boot (no saved protection yet) the list left out is open
// to everyone; with public, Public or stealth, Stealth the same coin decides what is public. A
// file must load the same way every time, or be refused.
func TestAttack6KeysDifferingInCaseLoadAtRandom(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hypd.toml")
	text := "interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\nServices = [\"tcp/2222\"]\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for range 200 {
		c, err := Load(p)
		if err != nil {
			outcomes["refused: "+err.Error()]++
			continue
		}
		outcomes[fmt.Sprint("services ", c.Services)]++
	}
	if len(outcomes) != 1 {
		t.Errorf("a file with services and Services loads differently from one start to the next (200 loads): %v", outcomes)
	}
}
