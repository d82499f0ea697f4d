package libvirtx

import (
	"context"
	"fmt"
	"testing"

	"virtchain/libvirtx/testhost"
)

// callsLab starts a running domain whose one disk has depth layers.
func callsLab(t *testing.T, name string, depth int) *discLab {
	t.Helper()
	l := newDiscLab(t, name)
	top := l.qcow2("l0.qcow2", "")
	for i := 1; i < depth; i++ {
		top = l.qcow2(fmt.Sprintf("l%d.qcow2", i), top)
	}
	dom := l.define(discFileDisk("vda", top, "qcow2"))
	if err := dom.Create(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return l
}

// callsOf counts the libvirt calls f makes on c.
func callsOf(c *Conn, f func()) int64 {
	before := c.Calls()
	f()
	return c.Calls() - before
}

// Discovery makes a few bulk calls plus a constant per domain: a running
// domain with a 16-layer chain costs what a running domain with one layer
// does, for DiscoverDomain and for the whole host's Discover, locally and
// over a read-only qemu+ssh connection (where the sizes of live layers
// come from one bulk stats call instead of the images). Over a read-write
// remote connection each qcow2 layer of a running chain also has its
// header read through its folder's pool, for its bitmaps, at most 6 calls
// a layer (as a shut-off chain's layers) plus the folder's pool (look up,
// create, destroy). Checkpoints count like snapshots: their list, then one
// XML each, for the domains that have some.
func TestIntegrationDiscoveryCallsBound(t *testing.T) {
	flat := callsLab(t, "vc12s-calls-flat", 1)
	deep := callsLab(t, "vc12s-calls-deep", 16)
	// The lab's connection is the one under test (ssh in a pass over ssh);
	// the direct pass adds the ssh URI beside it.
	conns := map[string]*Conn{testhost.Via(): flat.c}
	if testhost.SSHURI() != "" && !testhost.OverSSH() {
		conns["ssh"] = sshConn(t, true)
	}
	ctx := context.Background()
	for kind, c := range conns {
		one := map[string]int64{}
		for _, l := range []*discLab{flat, deep} {
			var layers int
			one[l.name] = callsOf(c, func() {
				d, err := c.DiscoverDomain(ctx, l.name)
				if err != nil {
					t.Fatalf("%s: DiscoverDomain %s: %v", kind, l.name, err)
				}
				layers = len(d.Disks[0].Layers)
			})
			t.Logf("%s: DiscoverDomain %s (%d layers, running): %d libvirt calls", kind, l.name, layers, one[l.name])
		}
		// Lookup, five facts, the XML, the snapshot and checkpoint lists;
		// the block stats over a remote connection.
		limit := int64(10)
		if !c.local && !c.readonly {
			if per := float64(one[deep.name]-one[flat.name]) / 15; per > 6 {
				t.Errorf("%s: DiscoverDomain made %d calls for 1 layer and %d for 16: %.1f a layer, want at most 6", kind, one[flat.name], one[deep.name], per)
			}
			limit += 3 + 6*16
		} else if one[flat.name] != one[deep.name] {
			t.Errorf("%s: DiscoverDomain made %d calls for 1 layer and %d for 16: the calls depend on the chain", kind, one[flat.name], one[deep.name])
		}
		if one[deep.name] > limit {
			t.Errorf("%s: DiscoverDomain made %d calls, want at most %d", kind, one[deep.name], limit)
		}

		var n, snapCalls, layers, offline, liveQcow2 int
		calls := callsOf(c, func() {
			doms, err := c.Discover(ctx)
			if err != nil {
				t.Fatalf("%s: Discover: %v", kind, err)
			}
			n = len(doms)
			for _, d := range doms {
				if len(d.Snapshots) > 0 {
					snapCalls += 2 + len(d.Snapshots) // the list, each XML, the current one
				}
				if len(d.Checkpoints) > 0 {
					snapCalls += 1 + 2*len(d.Checkpoints) // the list, each XML (with sizes, else without)
				}
				for _, k := range d.Disks {
					layers += len(k.Layers)
					if !d.State.Active() {
						offline += len(k.Layers)
						continue
					}
					for _, l := range k.Layers {
						if l.Format == "qcow2" {
							liveQcow2++
						}
					}
				}
			}
		})
		// Nine lists (all, then eight filters), one stats call when
		// remote, one XML per domain (and a state for the rare states the
		// filters do not tell apart), the snapshots where there are some;
		// over a remote connection a shut-off chain that a storage pool
		// covers is read through it, at most 6 calls a layer
		// (TestRemoteChainEqualsLocal holds that), and over a read-write
		// one so is each qcow2 layer's header of a running chain.
		limit = int64(10 + 2*n + snapCalls)
		if !c.local {
			limit += int64(6 * offline)
		}
		if !c.local && !c.readonly {
			limit += int64(6 * liveQcow2)
		}
		t.Logf("%s: Discover of %d domains (%d layers): %d libvirt calls, bound %d", kind, n, layers, calls, limit)
		if calls > limit {
			t.Errorf("%s: Discover made %d calls for %d domains, want at most %d", kind, calls, n, limit)
		}
	}
}
