package libvirtx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Domains are checked several at a time: each answer stays in the place
// it was asked in, and one domain's faults never land on another's.
func TestIntegrationCheckSeveralInOrder(t *testing.T) {
	testhost.Need(t)
	dir := testhost.SharedDir(t, "vcchkpar")
	c := discOpen(t, testhost.URI(), false)
	var names []string
	bad := map[string]bool{}
	for i := range 2 * checkWorkers {
		base := filepath.Join(dir, fmt.Sprintf("base%d.qcow2", i))
		testhost.QemuImg(t, "create", "-q", "-f", "qcow2", base, "16M")
		name := fmt.Sprintf("vcchkpar-%d-%d", os.Getpid(), i)
		top := testhost.OverlayDomain(t, testhost.DirectURI(), name, base, fmt.Sprintf("top%d.qcow2", i))
		if i%3 == 1 {
			testhost.SetIncompatible(t, top, 2) // the corrupt bit
			bad[name] = true
		}
		names = append(names, name)
	}
	// Asked in reverse, so that the answers' order is not discovery's.
	asked := make([]string, len(names))
	for i, n := range names {
		asked[len(names)-1-i] = n
	}
	hs, err := c.Check(context.Background(), asked)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != len(asked) {
		t.Fatalf("%d answers for %d domains", len(hs), len(asked))
	}
	for i, h := range hs {
		want := model.VerdictOK
		if bad[asked[i]] {
			want = model.VerdictBad
		}
		if h.Domain != asked[i] || h.Verdict != want {
			t.Errorf("answer %d: %s %s, want %s %s", i, h.Domain, h.Verdict, asked[i], want)
		}
	}
}
