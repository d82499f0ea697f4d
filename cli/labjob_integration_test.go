package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx"
	"virtchain/libvirtx/testhost"
)

// TestIntegrationVc12rLabPullVisible measures how long a pull of the demo lab's
// lab-test2 shows its progress: started the way README's "first five
// minutes" says (base test2.qcow2, + pressed once: 1 MiB/s), and
// without a limit. It reports the seconds; it asserts only that the
// limited job was seen in progress at least twice.
func TestIntegrationVc12rLabPullVisible(t *testing.T) {
	testhost.Need(t)
	prefix := "vc12r-labjob-"
	dir := labDir(t, prefix)
	conn, err := libvirtx.Open(labURI, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	name := prefix + "test2"
	for _, bw := range []string{"1", "0"} {
		// The lab is built on the host's socket (labBuild); the pull and
		// the job list go through the connection under test.
		labMain("-c", hostURI, "lab", "down", "--prefix", prefix, "--dir", dir)
		start := time.Now()
		labBuild(t, "lab", "up", "--prefix", prefix, "--dir", dir, "--only", "test2")
		t.Logf("lab up --only test2: %.1f s", time.Since(start).Seconds())

		start = time.Now()
		labCLI(t, "pull", name, "vda", "--base", dir+"/test2.qcow2", "--bandwidth", bw)
		seen, moving, last := 0, 0, int64(-1)
		var first, lastSeen time.Time
		for time.Since(start) < 5*time.Minute {
			js, err := conn.ListJobs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var cur, end int64
			found := false
			for _, j := range js {
				if j.Domain == name {
					found, cur, end = true, j.Cur, j.End
				}
			}
			if !found {
				break
			}
			if cur > 0 && cur < end {
				if seen == 0 {
					first = time.Now()
				}
				lastSeen = time.Now()
				seen++
				if cur != last {
					moving++
				}
			}
			last = cur
			time.Sleep(100 * time.Millisecond)
		}
		secs := time.Since(start).Seconds()
		shown := 0.0
		if seen > 0 {
			shown = lastSeen.Sub(first).Seconds()
		}
		t.Logf("pull at bandwidth %s MiB/s: %.1f s from start to end, %.1f s between 0 < cur < end first and last seen (%d samples, moved in %d)", bw, secs, shown, seen, moving)
		if bw != "0" && moving < 2 {
			t.Errorf("the pull at %s MiB/s was seen moving %d times, want at least 2", bw, moving)
		}
		out := labCLI(t, "chain", name)
		if strings.Contains(out, "test2_nmap") {
			t.Errorf("after the pull the chain still has test2_nmap:\n%s", out)
		}
	}
}
