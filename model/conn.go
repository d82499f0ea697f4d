package model

import "errors"

// ErrConnectionLost is what every error caused by a lost connection to the
// host answers to errors.Is: the daemon went away (restart, keepalive
// timeout, ssh dropped). It is not a failed operation: whatever ran in the
// daemon may still be running.
var ErrConnectionLost = errors.New("connection lost")
