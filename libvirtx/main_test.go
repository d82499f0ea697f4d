package libvirtx

import (
	"os"
	"testing"

	"virtchain/libvirtx/testhost"
)

func TestMain(m *testing.M) { os.Exit(testhost.RunWithOwnState(m)) }
