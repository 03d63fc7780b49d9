package hosts

import (
	"strings"
	"testing"
)

func TestRewriteControl(t *testing.T) {
	set := map[string]Rebuilt{
		"libvirt0":                   {Original: "9.0.0-4+deb12u2", Version: "9.0.0-4+deb12u2+esc1"},
		"libvirt-daemon":             {Original: "9.0.0-4+deb12u2", Version: "9.0.0-4+deb12u2+esc1"},
		"libvirt-daemon-driver-qemu": {Original: "9.0.0-4+deb12u2", Version: "9.0.0-4+deb12u2+esc1"},
	}
	in := `Package: libvirt-daemon
Source: libvirt
Version: 9.0.0-4+deb12u2
Architecture: amd64
Depends: libvirt-daemon-driver-qemu (= 9.0.0-4+deb12u2), libvirt0 (= 9.0.0-4+deb12u2), libacl1 (>= 2.2.23),
 libvirt-clients (= 9.0.0-4+deb12u2), libxml2 (>= 2.7.4)
Breaks: libvirt-daemon-system (<< 9.0.0-4+deb12u2), libvirt0:amd64 (= 9.0.0-4+deb12u2)
Description: Virtualization daemon
 libvirt0 (= 9.0.0-4+deb12u2) in a description stays.
`
	want := `Package: libvirt-daemon
Source: libvirt
Version: 9.0.0-4+deb12u2+esc1
Architecture: amd64
Depends: libvirt-daemon-driver-qemu (= 9.0.0-4+deb12u2+esc1), libvirt0 (= 9.0.0-4+deb12u2+esc1), libacl1 (>= 2.2.23),
 libvirt-clients (= 9.0.0-4+deb12u2), libxml2 (>= 2.7.4)
Breaks: libvirt-daemon-system (<< 9.0.0-4+deb12u2), libvirt0:amd64 (= 9.0.0-4+deb12u2+esc1)
Description: Virtualization daemon
 libvirt0 (= 9.0.0-4+deb12u2) in a description stays.
`
	got, err := rewriteControl(in, set)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := rewriteControl(strings.Replace(in, "Version: 9.0.0-4+deb12u2", "Version: 9.0.0-5", 1), set); err == nil {
		t.Error("a version other than the one named was rebuilt")
	}
	if _, err := rewriteControl(strings.Replace(in, "Package: libvirt-daemon", "Package: other", 1), set); err == nil {
		t.Error("a package outside the set was rebuilt")
	}
}
