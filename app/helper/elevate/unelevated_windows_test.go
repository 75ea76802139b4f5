package elevate

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestDescriptorGrantsRead: AccessCheck with this process's token grants reading a file whose
// ACL lets its user in, and refuses one whose ACL lets in only an account or a group the token
// lacks, or denies its user first (CheckInvokerMayRead asks the same of the unelevated token
// behind an elevated hyp helper add, with the key file's own ACL).
func TestDescriptorGrantsRead(t *testing.T) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	me := u.User.Sid.String()
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE, &tok); err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	for _, c := range []struct {
		name, sddl string
		want       bool
	}{
		{"the user's own key", "O:" + me + "G:" + me + "D:P(A;;FA;;;" + me + ")", true},
		{"another account's key", "O:SYG:SYD:P(A;;FA;;;S-1-5-21-1-2-3-4242)", false},
		{"a key the user is denied", "O:SYG:SYD:P(D;;FR;;;" + me + ")(A;;FA;;;WD)", false},
		{"read for everyone", "O:SYG:SYD:P(A;;FR;;;WD)", true},
	} {
		sd, err := windows.SecurityDescriptorFromString(c.sddl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := descriptorGrantsRead(tok, sd)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s (%s): may read %v, want %v", c.name, c.sddl, got, c.want)
		}
	}
}
