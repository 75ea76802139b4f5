package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/daemon/protected"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// BenchmarkLoadKeys is LoadKeys of a keys directory of 100,000 plain key files, with every trust
// check a start makes: the start of a gateway with that many keys spends this before anything
// else.
func BenchmarkLoadKeys(b *testing.B) {
	needs.Root(b, "key files and their directory must be root's")
	dir := filepath.Join(b.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	const n = 100000
	for i := range n {
		k, err := psk.Generate()
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("k%06d.key", i)), []byte(k.Encode()+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg := Default()
	cfg.Services = []protected.Service{{Proto: "tcp", Port: 22}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		keys, problems := LoadKeys(dir, cfg)
		if len(problems) > 0 || len(keys) != n {
			b.Fatalf("%d keys, %d problems (first: %v)", len(keys), len(problems), problems)
		}
	}
}
