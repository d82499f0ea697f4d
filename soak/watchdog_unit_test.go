package soak

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A daemon that stays away past the grace ends the command in progress at
// once and says why; one that is back within the grace (a restart) does
// not.
func TestWatchdogEndsTheStepWhenLibvirtdDies(t *testing.T) {
	var down atomic.Bool
	d := watch(func() (bool, string) { return !down.Load(), "no libvirtd process of host test is left" }, 20*time.Millisecond, 300*time.Millisecond)
	defer d.stop()
	quiet := dog
	dog = d
	defer func() { dog = quiet }()

	down.Store(true)
	time.Sleep(100 * time.Millisecond)
	down.Store(false) // a restart: back within the grace
	time.Sleep(400 * time.Millisecond)
	if err := d.dead(); err != nil {
		t.Fatalf("a restart within the grace was taken for a death: %v", err)
	}

	down.Store(true)
	t0 := time.Now()
	r := run(time.Minute, "sleep", "60")
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("the command ran %s after the daemon died", took)
	}
	if r.code != -3 || r.hang || !strings.Contains(r.errs, "libvirtd died: no libvirtd process of host test is left") {
		t.Fatalf("result %+v", r)
	}
	if r := virsh("version"); r.code == 0 {
		t.Fatalf("virsh after the death: %+v", r)
	}
}
