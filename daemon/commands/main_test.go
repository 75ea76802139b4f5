package commands

import (
	"os"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// The operations tests run the real hypd inside network namespaces (hypd start execs hypd run).
func TestMain(m *testing.M) { os.Exit(testbin.Main(m, "hypd")) }
