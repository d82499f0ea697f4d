package libvirtx

// Timings, when set, is told each step of opening a connection and of a
// discovery as the step ends: "libvirt loaded", "event loop", "connected",
// "domains listed", "bulk facts", "domains read". The CLI sets it for
// VIRTCHAIN_TIMINGS. It is called from several goroutines at once, and
// must be set before the first Open.
var Timings func(step string)

func timed(step string) {
	if f := Timings; f != nil {
		f(step)
	}
}
