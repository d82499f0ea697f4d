package model

import "testing"

// withStates answers hostFacts, except for the paths given their own state.
func withStates(states map[string]FileState) SnapshotFacts {
	f := hostFacts
	base := f.Stat
	f.Stat = func(p string) FileState {
		if st, ok := states[p]; ok {
			return st
		}
		return base(p)
	}
	return f
}

// Every operation that makes libvirt open a chain refuses one with a FIFO
// or a loop in it, in one wording, before libvirt is asked.
func TestHangingChainRefusedByEveryOperation(t *testing.T) {
	for _, problem := range []string{ProblemNotRegular + ": a FIFO", ProblemLoop + ": same file as /img/ov2.qcow2"} {
		broken := func(state DomainState) []Domain {
			doms := snapFixture()
			doms[0].State = state
			doms[0].Disks[0].Layers[2].Problem = problem
			return doms
		}
		want := []string{"layer /img/base.qcow2 of vda: " + problem, "repair the chain first"}
		ops := map[string]func() error{
			"create internal": func() error {
				_, err := PlanSnapshotCreate(broken(StateRunning), SnapshotCreateRequest{Domain: "vm", Name: "n"}, hostFacts)
				return err
			},
			"create external": func() error {
				_, err := PlanSnapshotCreate(broken(StateRunning), SnapshotCreateRequest{Domain: "vm", Name: "n", External: true, DiskOnly: true}, hostFacts)
				return err
			},
			"revert": func() error {
				_, err := PlanSnapshotRevert(broken(StateRunning), SnapshotRevertRequest{Domain: "vm", Name: "s1"}, []PointDisk{{Target: "vda", Path: "/img/base.qcow2"}}, hostFacts)
				return err
			},
			"delete": func() error {
				_, err := PlanSnapshotDelete(broken(StateRunning), SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, hostFacts)
				return err
			},
			"save": func() error {
				_, err := PlanSave(broken(StateRunning), SaveRequest{Domain: "vm", File: "/img/vm.save"}, hostFacts)
				return err
			},
			"restore": func() error {
				_, err := PlanRestore(broken(StateShutoff), RestoreRequest{File: "/img/s2.mem"}, "vm", hostFacts)
				return err
			},
			"managed save": func() error {
				_, err := PlanManagedSave(broken(StateRunning), "vm", hostFacts)
				return err
			},
			"start": func() error {
				_, err := PlanStart(broken(StateShutoff), "vm")
				return err
			},
		}
		for name, op := range ops {
			t.Run(name, func(t *testing.T) { wantRefusal(t, op(), want...) })
		}
		// The same wording as commit and pull.
		_, err := PlanCommit(broken(StateRunning), CommitRequest{Domain: "vm", Target: "vda", Top: "/img/ov1.qcow2", Base: "/img/base.qcow2"}, nil)
		wantRefusal(t, err, want...)
	}
	// A metadata-only delete and managedsave-remove open no file: they stay.
	doms := snapFixture()
	doms[0].Disks[0].Layers[2].Problem = ProblemNotRegular + ": a FIFO"
	if _, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2", MetadataOnly: true}, nil, hostFacts); err != nil {
		t.Errorf("metadata-only delete: %v", err)
	}
	// A problem libvirtd does not hang on (a missing base) is libvirt's to report.
	doms[0].Disks[0].Layers[2].Problem = ProblemMissing
	if _, err := PlanSave(doms, SaveRequest{Domain: "vm", File: "/img/vm.save"}, hostFacts); err != nil {
		t.Errorf("save with a missing base: %v", err)
	}
}

// Every file virtchain is handed must be a regular file, or missing for one
// it creates; FIFOs, devices and folders are refused.
func TestHandedFilesMustBeRegular(t *testing.T) {
	for _, st := range []FileState{FileNotRegular, FileBlockDevice, FileRemoteDevice} {
		f := withStates(map[string]FileState{"/img/x": st})
		_, err := PlanSave(snapFixture(), SaveRequest{Domain: "vm", File: "/img/x"}, f)
		wantRefusal(t, err, "save file /img/x is not a regular file")
		_, err = PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "n", External: true, DiskOnly: true, Files: map[string]string{"vda": "/img/x"}}, f)
		wantRefusal(t, err, "overlay for vda /img/x is not a regular file")
		_, err = PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "n", External: true, MemoryFile: "/img/x"}, f)
		wantRefusal(t, err, "memory file /img/x is not a regular file")
		_, err = PlanRestore(snapFixture(), RestoreRequest{File: "/img/x"}, "", f)
		wantRefusal(t, err, "save file /img/x is not a regular file")
		if err := CheckRestoreFile("/img/x", f); err == nil {
			t.Errorf("state %d: CheckRestoreFile took it", st)
		}
	}
	// The overlay a revert picks skips a path where anything already is.
	f := withStates(map[string]FileState{"/img/vm_s1-revert1.vda.qcow2": FileNotRegular})
	p, err := PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1"}, []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Overlays[0].Overlay != "/img/vm_s1-revert2.vda.qcow2" {
		t.Errorf("revert overlay %s", p.Overlays[0].Overlay)
	}
}

// A revert refuses a point image, a file in its backing chain, or a
// checkpoint's memory file that libvirtd would block on, and a point chain
// that loops. A block device is a fine point.
func TestRevertPointsMustBeRegular(t *testing.T) {
	revert := func(doms []Domain, name string, points []PointDisk, f SnapshotFacts) error {
		_, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: name}, points, f)
		return err
	}
	pts := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}
	wantRefusal(t, revert(snapFixture(), "s1", pts, withStates(map[string]FileState{"/img/base.qcow2": FileNotRegular})),
		"vda image of snapshot s1 /img/base.qcow2 is not a regular file")
	if err := revert(snapFixture(), "s1", pts, withStates(map[string]FileState{"/img/base.qcow2": FileBlockDevice})); err != nil {
		t.Errorf("block device point: %v", err)
	}
	if err := revert(snapFixture(), "s1", pts, withStates(map[string]FileState{"/img/base.qcow2": FileRemoteDevice})); err != nil {
		t.Errorf("a remote host's device node as a point: %v", err)
	}

	doms := snapFixture()
	doms[0].Snapshots[1].Disks[0].PointBacking = []string{"/img/old.qcow2"}
	pts = []PointDisk{{Target: "vda", Path: "/img/ov1.qcow2", Format: "qcow2"}}
	wantRefusal(t, revert(doms, "s2", pts, withStates(map[string]FileState{"/img/old.qcow2": FileNotRegular})),
		"vda image of snapshot s2 /img/old.qcow2 is not a regular file")
	doms[0].Snapshots[1].Disks[0].PointBacking = []string{"/img/base.qcow2", "/img/ov1.qcow2"}
	wantRefusal(t, revert(doms, "s2", pts, hostFacts), "layer /img/ov1.qcow2 of vda: "+ProblemLoop)

	doms = snapFixture()
	wantRefusal(t, revert(doms, "s2", pts, withStates(map[string]FileState{"/img/s2.mem": FileNotRegular})),
		"memory file of checkpoint s2 /img/s2.mem is not a regular file")
}
