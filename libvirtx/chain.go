package libvirtx

import "virtchain/model"

// WalkChain reads a backing chain from qcow2 headers on the local
// filesystem, starting at top (whose format is given by the domain XML, or
// "" to probe). Problems become Layer.Problem, never errors.
func WalkChain(top, format string) []model.Layer { panic("TODO(chain)") }
