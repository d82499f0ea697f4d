package libvirtx

import (
	"errors"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

func TestResolveURI(t *testing.T) {
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	if got := ResolveURI(""); got != DefaultURI {
		t.Errorf("no flag, no env: got %q, want %q", got, DefaultURI)
	}
	t.Setenv("LIBVIRT_DEFAULT_URI", "qemu+ssh://root@hv1/system")
	if got := ResolveURI(""); got != "qemu+ssh://root@hv1/system" {
		t.Errorf("env: got %q", got)
	}
	if got := ResolveURI("test:///default"); got != "test:///default" {
		t.Errorf("flag beats env: got %q", got)
	}
}

func TestIsLocalURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"qemu:///system":                    true,
		"qemu:///session":                   true,
		"test:///default":                   true,
		"qemu+ssh://localhost/system":       false,
		"qemu+ssh://root@hv1/system":        false,
		"qemu+tcp://10.0.0.5:16509/system":  false,
		"qemu+ssh://user@[::1]:2222/system": false,
	} {
		if got := isLocalURI(uri); got != want {
			t.Errorf("isLocalURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

func TestClassifyConnectError(t *testing.T) {
	cases := []struct {
		uri  string
		err  error
		want ConnectCause
		hint string
	}{
		{"qemu:///system", libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "Failed to open libvirt.so.0"}, CauseNoLibrary, "apt-get install libvirt0"},
		{"qemu:///system", libvirt.Error{Message: "libvirt.so.0: cannot open shared object file: No such file or directory"}, CauseNoLibrary, "make setup"},
		{"qemu:///system?socket=/nonexistent/sock", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "Failed to connect socket to '/nonexistent/sock': No such file or directory"}, CauseNoDaemon, "sudo libvirtd -d"},
		{"qemu:///system", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused"}, CauseNoDaemon, "libvirtd -d"},
		{"qemu+ssh://hv1/system", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "Cannot recv data: ssh: Could not resolve hostname hv1: Name or service not known: Connection reset by peer"}, CauseNoDaemon, "ssh hv1"},
		{"bogus:///x", libvirt.Error{Code: libvirt.ERR_NO_CONNECT, Message: "no connection driver available for bogus:///x"}, CauseBadURI, "qemu+ssh://"},
		{"qemu:///foo", libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: unexpected qemu URI path '/foo', try qemu:///system"}, CauseBadURI, "qemu:///system"},
		{"qemu:///system", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied"}, CauseDenied, "--readonly"},
		{"qemu:///system", libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: Unable to get system bus connection: Could not connect: No such file or directory"}, CauseDenied, "run virtchain as root"},
		{"qemu:///system", libvirt.Error{Code: libvirt.ERR_AUTH_FAILED, Message: "authentication failed: access denied by policy"}, CauseDenied, "root"},
		{"qemu:///system", errors.New("something odd\nhappened"), CauseOther, "virsh -c qemu:///system version"},
	}
	for _, tc := range cases {
		ce := classifyConnectError(tc.uri, false, tc.err)
		if ce.Cause != tc.want {
			t.Errorf("%v: cause %d, want %d", tc.err, ce.Cause, tc.want)
		}
		msg := ce.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("message is not one line: %q", msg)
		}
		if !strings.Contains(msg, tc.uri) || !strings.Contains(msg, tc.hint) {
			t.Errorf("message %q lacks the URI %q or the hint %q", msg, tc.uri, tc.hint)
		}
		if strings.Contains(msg, "virError(") {
			t.Errorf("message shows the binding's wrapper: %q", msg)
		}
		if !errors.Is(ce, tc.err) && !errors.As(ce, new(libvirt.Error)) {
			t.Errorf("cause not unwrappable from %q", msg)
		}
	}
}

// A hint never offers what cannot help: --readonly to a read-only
// connection, or the libvirt group when polkit has no D-Bus to ask.
func TestDeniedHintFitsTheCase(t *testing.T) {
	sock := libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro': Permission denied"}
	if h := classifyConnectError("qemu:///system", true, sock).Fix.String(); strings.Contains(h, "--readonly") || !strings.Contains(h, "libvirt group") {
		t.Errorf("read-only, socket denied: hint %q", h)
	}
	noBus := libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: Unable to get system bus connection: Could not connect: No such file or directory"}
	for _, ro := range []bool{false, true} {
		ce := classifyConnectError("qemu:///system", ro, noBus)
		if ce.Cause != CauseDenied || strings.Contains(ce.Fix.String(), "--readonly") || strings.Contains(ce.Fix.String(), "adduser") ||
			!strings.Contains(ce.Fix.String(), "D-Bus") || !strings.Contains(ce.Fix.String(), "as root") {
			t.Errorf("read-only %v, no D-Bus: cause %d hint %q", ro, ce.Cause, ce.Fix.String())
		}
	}
}

func TestLibvirtErrorIsOneLine(t *testing.T) {
	err := &LibvirtError{Op: "list domains on qemu:///system", Err: libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "Cannot write data:\nBroken pipe"}}
	if got, want := err.Error(), "list domains on qemu:///system: Cannot write data: Broken pipe"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !lostConnection(err) || lostConnection(libvirt.Error{Message: "Domain not found"}) {
		t.Error("lostConnection misjudged")
	}
	err.Fix = model.Say("reconnect")
	if !strings.HasSuffix(err.Error(), "Broken pipe; hint: reconnect") {
		t.Errorf("hint: %q", err.Error())
	}
	if virtCode(err) != libvirt.ERR_SYSTEM_ERROR {
		t.Errorf("virtCode = %d", virtCode(err))
	}
}
