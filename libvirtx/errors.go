package libvirtx

import (
	"errors"
	"net/url"
	"strings"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// ConnectCause says why a connection could not be opened.
type ConnectCause int

// Causes of a failed connection, each with its own hint.
const (
	CauseOther     ConnectCause = iota // anything not recognised below
	CauseNoLibrary                     // libvirt.so.0 (or its companions) cannot be loaded
	CauseNoDaemon                      // nothing answers at the URI's socket or host
	CauseBadURI                        // no driver for the URI, or a malformed one
	CauseDenied                        // permission denied or authentication failed
)

// ConnectError is a failed Open. Error() is one line naming the URI, the
// cause (libvirt's own text) and what to run.
type ConnectError struct {
	URI   string
	Cause ConnectCause
	// Detail is libvirt's message, on one line.
	Detail string
	// Fix is what to run or change.
	Fix model.Hint
	Err error
}

func (e *ConnectError) Error() string {
	if e.Fix.Empty() {
		return e.Message()
	}
	return e.Message() + "; " + e.Fix.String()
}

// Message is the error without its hint.
func (e *ConnectError) Message() string { return "cannot connect to " + e.URI + ": " + e.Detail }

// Hint is what to run or change.
func (e *ConnectError) Hint() model.Hint { return e.Fix }

func (e *ConnectError) Unwrap() error { return e.Err }

// classifyConnectError turns whatever libvirt (or the dlopen shim) said into
// a *ConnectError with a hint. Order matters: a socket that exists but
// refuses us is a permission problem, not a missing daemon, and so is
// polkit failing to reach D-Bus ("Unable to get system bus connection: ...
// No such file or directory"), which non-root users get on hosts without
// systemd.
func classifyConnectError(uri string, readonly bool, err error) *ConnectError {
	ce := &ConnectError{URI: uri, Err: err, Detail: errorText(err)}
	var verr libvirt.Error
	isVirt := errors.As(err, &verr)
	msg := strings.ToLower(ce.Detail)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("libvirt.so.0", "libvirt-admin.so.0", "cannot open shared object file"):
		ce.Cause = CauseNoLibrary
		ce.Fix = model.Say("install libvirt's client library: run `make setup` (or `apt-get install libvirt0`)")
	case has("unable to get system bus connection"):
		// polkit authorizes non-root clients over D-Bus; with no D-Bus on
		// the daemon's host the libvirt group and --readonly do not help.
		ce.Cause = CauseDenied
		ce.Fix = model.Say("polkit cannot reach D-Bus there, so only root may connect: run virtchain as root (sudo), or start dbus and polkitd")
	case has("permission denied", "authentication failed", "authentication cancelled",
		"authentication unavailable", "access denied", "not authorized", "polkit",
		"unable to get system bus connection") ||
		(isVirt && (verr.Code == libvirt.ERR_AUTH_FAILED || verr.Code == libvirt.ERR_AUTH_CANCELLED ||
			verr.Code == libvirt.ERR_AUTH_UNAVAILABLE || verr.Code == libvirt.ERR_ACCESS_DENIED ||
			verr.Code == libvirt.ERR_OPERATION_DENIED)):
		ce.Cause = CauseDenied
		ce.Fix = model.Say("run as root, join the libvirt group (`sudo adduser $USER libvirt`, then log in again), or pass --readonly")
		if readonly {
			ce.Fix = model.Say("run as root, or join the libvirt group (`sudo adduser $USER libvirt`, then log in again)")
		}
	case has("no connection driver available", "uri path", "parse uri", "unsupported uri",
		"invalid uri", "uri scheme", "unknown scheme", "unsupported transport", "no valid connection") ||
		(isVirt && verr.Code == libvirt.ERR_NO_CONNECT && !has("socket", "connect")):
		ce.Cause = CauseBadURI
		ce.Fix = model.Say("use a URI such as qemu:///system, qemu:///session or qemu+ssh://user@host/system")
	case has("failed to connect socket", "no such file or directory", "connection refused",
		"cannot recv data", "cannot write data", "could not resolve", "no route to host",
		"timed out", "network is unreachable", "end of file while reading data"):
		ce.Cause = CauseNoDaemon
		if isLocalURI(uri) {
			ce.Fix = model.Say("start libvirt: run `sudo virtlogd -d; sudo libvirtd -d` (or `make setup` in the virtchain source)")
		} else {
			ce.Fix = model.Say("check that `ssh " + uriHost(uri) + "` works and that libvirtd runs there (`virsh -c " + uri + " version`)")
		}
	default:
		ce.Cause = CauseOther
		ce.Fix = model.Say("check `virsh -c " + uri + " version`")
	}
	return ce
}

// errorText is libvirt's own message (without the Go binding's
// "virError(Code=...)" wrapper), collapsed onto one line.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	var verr libvirt.Error
	s := err.Error()
	if errors.As(err, &verr) && verr.Message != "" {
		s = verr.Message
	}
	return model.OneLine(s)
}

// isLocalURI reports whether the URI's daemon sees this host's files: it
// is reached through a local socket (no host part). A URI with a host is
// remote even when the host is a loopback address: ssh or tcp to
// 127.0.0.1:PORT is as often a tunnel to another machine, or a daemon in
// another root (the test hosts), whose paths are not this machine's.
func isLocalURI(uri string) bool {
	return uriHost(uri) == ""
}

// uriHost is the URI's host name without user or port, or "".
func uriHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// LibvirtError is a failed operation after the connection is open: a
// libvirt call, qemu-img, or a file step of one. Its message is one line:
// what was being done, the tool's own full text, then "; hint: " and what
// to do when that is known (the TUI shows the hint on a line of its own,
// through model.Hinted).
type LibvirtError struct {
	Op  string // "list domains", "read XML of lab-test2", ...
	Err error
	Fix model.Hint // what to do, when known
}

func (e *LibvirtError) Error() string {
	if e.Fix.Empty() {
		return e.Message()
	}
	return e.Message() + "; hint: " + e.Fix.String()
}

// Message is the error without its hint.
func (e *LibvirtError) Message() string { return e.Op + ": " + errorText(e.Err) }

// Hint is what to do, when known.
func (e *LibvirtError) Hint() model.Hint { return e.Fix }

// lostConnection reports errors that mean the daemon went away under an
// open connection (restart, keepalive timeout, ssh dropped).
func lostConnection(err error) bool {
	msg := strings.ToLower(errorText(err))
	for _, s := range []string{"client socket is closed", "broken pipe", "end of file while reading data",
		"connection reset by peer", "cannot recv data", "cannot write data", "keepalive"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (e *LibvirtError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, model.ErrConnectionLost) hold for an operation
// that failed because the connection was lost, not on its own.
func (e *LibvirtError) Is(target error) bool {
	return target == model.ErrConnectionLost && lostConnection(e.Err)
}

// virtCode is libvirt's error number, or -1 when err is not a libvirt error.
func virtCode(err error) libvirt.ErrorNumber {
	var verr libvirt.Error
	if errors.As(err, &verr) {
		return verr.Code
	}
	return -1
}
