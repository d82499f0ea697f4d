package libvirtx

// Calls is the number of libvirt calls that reached the daemon through
// discovery on this connection so far (Discover, DiscoverDomain and the
// storage reads of remote chains): every round trip, whatever its answer.
// Reading a handle's name or UUID asks the daemon nothing and is not
// counted. Tests and `make bench` read it to hold discovery to a few bulk
// calls plus a constant per domain, whatever the length of a running
// domain's chains.
func (c *Conn) Calls() int64 { return c.calls.Load() }

// called counts n round trips.
func (c *Conn) called(n int) { c.calls.Add(int64(n)) }
