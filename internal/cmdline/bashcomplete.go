package cmdline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BashComplete runs a bash completion script as bash does on TAB, in dir, for a command line
// whose last word is being completed, and returns the candidates sorted. Tests of the generated
// scripts use it: completion is only right if bash, not a reading of the script, says so.
func BashComplete(dir, script string, words ...string) ([]string, error) {
	f := filepath.Join(dir, ".completion.bash")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(f)
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	src := "source .completion.bash\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
		strconv.Itoa(len(words)-1) + "\n" + fnName(words[0]) + "\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", src)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("bash completion of %q: %w: %s", words, err, out)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got, nil
}
