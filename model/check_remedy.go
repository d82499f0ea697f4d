package model

// The remedies a health check names. They are numbered apart from the
// others (remedy.go) so that both lists can grow without clashing.
const (
	// DoImageRepair: qemu-img check -r MODE PATH (Args: PATH, MODE)
	DoImageRepair Action = 100 + iota
	// DoImageInfo: qemu-img info PATH
	DoImageInfo
	// DoRebaseUnsafe: qemu-img rebase -u -F FORMAT -b BACKING PATH
	// (Args: PATH, BACKING, FORMAT), which rewrites only the header.
	DoRebaseUnsafe
	// DoVirshEdit: virsh edit DOMAIN
	DoVirshEdit
	// DoCommitDisk: virtchain commit DOMAIN TARGET --top X --base Y
	DoCommitDisk
	// DoManagedSaveRemove: virtchain managedsave-remove DOMAIN
	DoManagedSaveRemove
	// DoChmodRead: chmod o+rX PATH (a folder QEMU's user must enter, or
	// the image it must read)
	DoChmodRead
)

func checkRemedyCLI(r Remedy, arg func(int, string) string) string {
	switch r.Action {
	case DoImageRepair:
		return "qemu-img check -r " + arg(1, "all") + " " + arg(0, "PATH")
	case DoImageInfo:
		return "qemu-img info " + arg(0, "PATH")
	case DoRebaseUnsafe:
		format := arg(2, "FORMAT")
		if len(r.Args) > 2 && r.Args[2] == "FORMAT" {
			format = "FORMAT"
		}
		backing := arg(1, "BACKING")
		if len(r.Args) > 1 && r.Args[1] == "BACKING" {
			backing = "BACKING"
		}
		return "qemu-img rebase -u -F " + format + " -b " + backing + " " + arg(0, "PATH")
	case DoVirshEdit:
		return "virsh edit " + arg(0, "DOMAIN")
	case DoCommitDisk:
		return "virtchain commit " + arg(0, "DOMAIN") + " " + arg(1, "TARGET") + " --top X --base Y"
	case DoManagedSaveRemove:
		return "virtchain managedsave-remove " + arg(0, "DOMAIN")
	case DoChmodRead:
		return "chmod o+rX " + arg(0, "PATH")
	}
	return ""
}
