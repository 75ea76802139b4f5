package profiles

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// TestReadersBesidesOwner: the key-file check on descriptors built here names who else may read.
func TestReadersBesidesOwner(t *testing.T) {
	for sddl, want := range map[string]string{
		"O:S-1-5-21-1-2-3-1000D:P(A;;FA;;;S-1-5-21-1-2-3-1000)(A;;FA;;;SY)(A;;FA;;;BA)": "",
		"O:S-1-5-21-1-2-3-1000D:P(A;;FA;;;S-1-5-21-1-2-3-1000)(A;;FR;;;BU)":             "Users",
		"O:S-1-5-21-1-2-3-1000D:(A;;GR;;;WD)":                                           "Everyone",
		"O:S-1-5-21-1-2-3-1000D:(A;;FW;;;WD)":                                           "", // may write, not read: not a leak
		"O:S-1-5-21-1-2-3-1000":                                                         "everyone",
	} {
		sd, err := windows.SecurityDescriptorFromString(sddl)
		if err != nil {
			t.Fatalf("%s: %v", sddl, err)
		}
		got, err := readersBesidesOwner(sd)
		if err != nil {
			t.Fatalf("%s: %v", sddl, err)
		}
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: readers %q, want %q", sddl, got, want)
		}
	}
}
