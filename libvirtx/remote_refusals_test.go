package libvirtx

import (
	"context"
	"errors"
	"strings"
	"testing"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// What stays local-only over a remote connection says why in one line and
// names a way that works remotely.
func TestRemoteRefusalsSayWhy(t *testing.T) {
	uri := testhost.NeedSSH(t)
	l := newJobLab(t, "vct-job-remote-refuse", false)
	rc := discOpen(t, uri, false)
	rc.local = false // see newRemoteLab
	for _, req := range []model.CleanupRequest{
		{Domain: l.name, DeleteFiles: true},
		{Domain: l.name, Files: []string{l.path("s1.qcow2")}},
	} {
		_, err := rc.PlanCleanup(context.Background(), req)
		var r *model.Refusal
		if !errors.As(err, &r) || !strings.Contains(err.Error(), "cannot look at the files on 127.0.0.1") ||
			!strings.Contains(r.Instead.String(), "virsh vol-delete") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("cleanup %+v over %s: %v", req, uri, err)
		}
	}
}
