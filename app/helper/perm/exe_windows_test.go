package perm

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// TestExecutableDescriptor: the check that keeps `hyp helper install` from
// making a file others can change the SYSTEM service, on security
// descriptors as Windows gives them: Program Files' (TrustedInstaller's,
// users read and execute, CREATOR OWNER only for what is created inside) and
// an administrator-made folder pass; a user's file (Downloads), a folder
// where users or authenticated users may write, and no DACL are refused,
// naming who may write.
func TestExecutableDescriptor(t *testing.T) {
	const ti = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	for _, c := range []struct{ name, sddl, want string }{
		{"Program Files", "O:" + ti + "G:" + ti + "D:P(A;;FA;;;" + ti + ")(A;;0x1301bf;;;SY)(A;;0x1301bf;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GA;;;CO)", ""},
		{"an administrators' folder", "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)", ""},
		{"a user's file", "O:S-1-5-21-1-2-3-1001D:(A;;FA;;;S-1-5-21-1-2-3-1001)(A;;FA;;;SY)", "is owned by S-1-5-21-1-2-3-1001"},
		{"users may add files", "O:BAD:(A;;FA;;;BA)(A;;0x1200af;;;BU)", "lets S-1-5-32-545"},
		{"authenticated users may modify", "O:SYD:(A;;FA;;;SY)(A;;0x1301bf;;;AU)", "lets S-1-5-11"},
		{"users may delete", "O:BAD:(A;;FA;;;BA)(A;;0x1200a9;;;BU)(A;;SD;;;BU)", "lets S-1-5-32-545"},
		{"generic write", "O:BAD:(A;;GW;;;WD)", "lets S-1-1-0"},
		{"no DACL", "O:BA", "has no DACL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd, err := windows.SecurityDescriptorFromString(c.sddl)
			if err != nil {
				t.Fatal(err)
			}
			got := descriptorLetsOthersWrite(sd, exeWriteMask)
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("%s: %q, want %q", c.sddl, got, c.want)
			}
		})
	}
}

// The root of C: lets Authenticated Users create folders (AD) and files (WD, on folders); that
// cannot replace anything in Program Files, so a folder above hyp.exe's own may grant it, while
// hyp.exe's own folder may not (a DLL beside hyp.exe would be loaded by SYSTEM).
func TestAncestorMayLetUsersAddFolders(t *testing.T) {
	const cRoot = "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;;0x4;;;AU)(A;OICIIO;SDGXGWGR;;;AU)"
	sd, err := windows.SecurityDescriptorFromString(cRoot)
	if err != nil {
		t.Fatal(err)
	}
	if got := descriptorLetsOthersWrite(sd, ancestorWriteMask); got != "" {
		t.Errorf("C:\\ as an ancestor: %q, want it accepted", got)
	}
	if got := descriptorLetsOthersWrite(sd, exeWriteMask); !strings.Contains(got, "lets S-1-5-11") {
		t.Errorf("C:\\ as hyp.exe's own folder: %q, want refused", got)
	}
	sd, err = windows.SecurityDescriptorFromString("O:BAD:(A;;FA;;;BA)(A;;SD;;;BU)")
	if err != nil {
		t.Fatal(err)
	}
	if got := descriptorLetsOthersWrite(sd, ancestorWriteMask); !strings.Contains(got, "lets S-1-5-32-545") {
		t.Errorf("an ancestor users may delete: %q, want refused", got)
	}
}
