package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

func TestRedialWait(t *testing.T) {
	var got []time.Duration
	var sum time.Duration
	n := 1
	for ; sum < RedialWithin; n++ {
		d := RedialWait(n)
		got = append(got, d)
		sum += d
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("waits %v, want them to start %v", got, want)
		}
	}
	// About 60 s in all: 7.75 s of doubling, then 5 s steps.
	if n-1 != 16 {
		t.Errorf("%d tries within %s, want 16", n-1, RedialWithin)
	}
}

// A call that failed on a dead connection is a lost connection, for the
// UI (errors.Is) and the CLI (errors.As) alike; a failed operation is not.
func TestLostErrors(t *testing.T) {
	closed := libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: client socket is closed"}
	le := &LibvirtError{Op: "read the block job", Err: closed}
	if !errors.Is(le, model.ErrConnectionLost) || !IsConnectionLost(fmt.Errorf("wrapped: %w", le)) {
		t.Error("a closed client socket is not a lost connection")
	}
	notFound := &LibvirtError{Op: "find domain x", Err: libvirt.Error{Code: libvirt.ERR_NO_DOMAIN, Message: "Domain not found"}}
	if errors.Is(notFound, model.ErrConnectionLost) {
		t.Error("a missing domain counted as a lost connection")
	}
	var lost *LostError
	if err := error(&LostError{URI: "qemu:///system", Err: closed}); !errors.As(err, &lost) || !errors.Is(err, model.ErrConnectionLost) ||
		err.Error() != "connection to qemu:///system lost: internal error: client socket is closed" {
		t.Errorf("LostError: %v", err)
	}
}

// libvirtd killed under an open connection: the close callback closes
// Lost at once (no call is needed to find out), calls fail as lost, and
// Redial gets a working connection once the daemon is back.
func TestIntegrationVc7rLostAndRedial(t *testing.T) {
	if !discIntegration() {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1")
	}
	c := discOpen(t, testhost.URI(), false)
	if c.IsLost() {
		t.Fatal("lost before anything happened")
	}
	lostAt := make(chan time.Time, 1)
	go func() {
		<-c.Lost()
		lostAt <- time.Now()
	}()
	kill := time.Now()
	start := testhost.Stop(t)
	exited := time.Now()
	select {
	case at := <-lostAt:
		t.Logf("Lost closed %s after libvirtd was told to stop; it took %s to exit", at.Sub(kill).Round(time.Millisecond), exited.Sub(kill).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		start()
		t.Fatal("Lost was not closed within 5s of libvirtd exiting")
	}
	if _, err := c.Discover(context.Background()); !IsConnectionLost(err) {
		t.Errorf("Discover on the lost connection: %v, want a lost connection", err)
	}
	// Tries fail while the daemon is down, then one works.
	tries := 0
	ctx, cancel := context.WithTimeout(context.Background(), RedialWithin)
	defer cancel()
	redialed := make(chan *Conn, 1)
	go func() {
		nc, err := c.Redial(ctx, func(int, time.Duration, error) { tries++ })
		if err != nil {
			t.Error(err)
		}
		redialed <- nc
	}()
	time.Sleep(time.Second)
	start()
	up := time.Now()
	nc := <-redialed
	if nc == nil {
		t.FailNow()
	}
	t.Cleanup(func() { _ = nc.Close() })
	t.Logf("reconnected %s after libvirtd answered, after %d failed tries", time.Since(up).Round(time.Millisecond), tries)
	if tries == 0 {
		t.Error("Redial did not report the tries made while the daemon was down")
	}
	if _, err := nc.Discover(context.Background()); err != nil {
		t.Errorf("Discover on the new connection: %v", err)
	}
	if nc.IsLost() {
		t.Error("the new connection is lost")
	}
}
