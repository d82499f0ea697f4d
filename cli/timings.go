package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"virtchain/libvirtx"
)

// timings records when each step of a command ended, for
// VIRTCHAIN_TIMINGS=1: where the time of a slow `list` goes on this host
// (make bench prints the same steps). Steps come from libvirtx (loading
// libvirt, connecting, the parts of a discovery) and from here (output
// written, connection closed), as milliseconds since this package was
// initialized; what comes before (exec, Go's runtime, the other packages'
// initialization) is most of `virtchain version`'s time.
type timings struct {
	mu    sync.Mutex
	start time.Time
	steps []timedStep
}

type timedStep struct {
	name string
	at   time.Duration
}

// processStart is when this package was initialized.
var processStart = time.Now()

func newTimings() *timings {
	if os.Getenv("VIRTCHAIN_TIMINGS") == "" {
		return nil
	}
	t := &timings{start: processStart}
	libvirtx.Timings = t.step
	return t
}

func (t *timings) step(name string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps = append(t.steps, timedStep{name, time.Since(t.start)})
}

// print writes one line per step to w: "virtchain: timing: 8.12 ms libvirt loaded".
func (t *timings) print(w io.Writer) {
	if t == nil {
		return
	}
	libvirtx.Timings = nil
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.steps {
		fmt.Fprintf(w, "virtchain: timing: %.2f ms %s\n", float64(s.at.Microseconds())/1000, s.name)
	}
}
