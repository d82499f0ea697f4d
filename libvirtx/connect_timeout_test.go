package libvirtx

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A host that accepts the connection and then says nothing (a hung
// daemon, or an ssh that never gets through) must not hold Open forever.
func TestOpenGivesUpOnAHostThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn // kept open, never answered
	)
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()

	old := ConnectTimeout
	ConnectTimeout = 2 * time.Second
	defer func() { ConnectTimeout = old }()

	uri := "qemu+tcp://" + ln.Addr().String() + "/system"
	start := time.Now()
	c, err := Open(uri, true)
	if err == nil {
		c.Close()
		t.Fatalf("Open(%s) connected to a listener that never answers", uri)
	}
	if strings.Contains(err.Error(), "libvirt.so.0") {
		t.Skip("libvirt's client library is not installed")
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Cause != CauseNoDaemon {
		t.Fatalf("error = %v, want a CauseNoDaemon *ConnectError", err)
	}
	if !strings.Contains(err.Error(), "no answer within 2s") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q: want one line saying the host gave no answer within 2s", err)
	}
	// Not a timing assertion on the machine's speed: the deadline is what
	// ended the wait, not libvirt (which would wait without end).
	if time.Since(start) > time.Minute {
		t.Fatalf("Open took %s", time.Since(start))
	}
}
