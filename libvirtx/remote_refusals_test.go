package libvirtx

import (
	"context"
	"errors"
	"strings"
	"testing"

	"virtchain/model"
)

// remoteCleanupRefused reports, over a remote connection, that err is the
// refusal of a cleanup that names or deletes files (local-only: see
// TestRemoteRefusalsSayWhy), and fails t when it is another; locally it
// reports false and the caller checks err as the local path answers.
func remoteCleanupRefused(t *testing.T, c *Conn, err error) bool {
	t.Helper()
	if c.Local() {
		return false
	}
	if err == nil || !strings.Contains(err.Error(), "cannot look at the files on") {
		t.Fatalf("a cleanup of files over %s: %v, want the remote refusal", c.uri, err)
	}
	return true
}

// What stays local-only over a remote connection says why in one line and
// names a way that works remotely.
func TestRemoteRefusalsSayWhy(t *testing.T) {
	rc := sshConn(t, false)
	l := newJobLab(t, "vct-job-remote-refuse", false)
	for _, req := range []model.CleanupRequest{
		{Domain: l.name, DeleteFiles: true},
		{Domain: l.name, Files: []string{l.path("s1.qcow2")}},
	} {
		_, err := rc.PlanCleanup(context.Background(), req)
		var r *model.Refusal
		if !errors.As(err, &r) || !strings.Contains(err.Error(), "cannot look at the files on 127.0.0.1") ||
			!strings.Contains(err.Error(), "names by device and inode") ||
			!strings.Contains(r.Instead.String(), "virtchain -c "+model.ShellQuote(rc.uri)+" orphans --delete --dry-run") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("cleanup %+v over %s: %v", req, rc.uri, err)
		}
	}
}
