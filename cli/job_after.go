package cli

import (
	"fmt"
	"io"
	"strings"

	"virtchain/libvirtx"
	"virtchain/model"
)

// reconcileAfterJob reads the domain after a commit or pull succeeded:
// which snapshot metadata now names files that left the chain, which
// files left it, and which of those a snapshot that is not stale still
// reads. A domain that cannot be read leaves the report empty.
func reconcileAfterJob(env *Env, conn *libvirtx.Conn, bp *model.BlockPlan, out *blockJobJSON) {
	d, err := conn.DiscoverDomain(env.Ctx, bp.Domain)
	if err != nil {
		return
	}
	out.StaleSnapshots = model.Reconcile(&d)
	disk := d.Disk(bp.Target)
	if disk == nil {
		return
	}
	in := map[string]bool{}
	for _, l := range disk.Layers {
		in[l.Path] = true
	}
	stale := map[string]bool{}
	for _, s := range out.StaleSnapshots {
		stale[s] = true
	}
	// A domain on another host may read a left file through shared storage.
	peers, _, _ := conn.PeerDomains(env.Ctx)
	refs := model.BuildRefs(model.WithPeers([]model.Domain{d}, peers))
	for _, p := range bp.LeavingChain {
		if in[p] {
			continue
		}
		out.LeftFiles = append(out.LeftFiles, p)
		if u := refs.UsersExcept(p, func(r model.Ref) bool { return r.Snapshot != "" && stale[r.Snapshot] }); len(u) > 0 {
			out.KeptFiles = append(out.KeptFiles, p+" (used by "+strings.Join(u, "; ")+")")
		}
	}
}

// writeAfterJob prints what a finished job left: stale metadata and the
// files that left the chain, with the command that deletes them. remoteURI
// is a remote connection's URI ("" for a local one), where they are deleted
// with orphans (PlanCleanup says why).
func writeAfterJob(w io.Writer, domain, remoteURI string, out blockJobJSON) {
	printf(w, "Done: %s on %s %s\n", out.Job.Kind, out.Job.Domain, out.Job.Disk)
	if out.Job.Error != "" { // what happened meanwhile, such as a full filesystem
		printf(w, "Note: %s\n", out.Job.Error)
	}
	if len(out.StaleSnapshots) > 0 {
		printf(w, "Stale snapshot metadata: %s (remove with 'virtchain cleanup %s')\n",
			strings.Join(out.StaleSnapshots, ", "), model.ShellQuote(domain))
	}
	if len(out.LeftFiles) > 0 {
		fmt.Fprintf(w, "Files that left the chain (still on disk):\n")
		var free []string
		for _, f := range out.LeftFiles {
			used := ""
			for _, k := range out.KeptFiles {
				if strings.HasPrefix(k, f+" (used by ") {
					used = strings.TrimPrefix(k, f)
				}
			}
			printf(w, "  %s%s\n", f, used)
			if used == "" {
				free = append(free, f)
			}
		}
		them := "them"
		if len(free) < len(out.LeftFiles) {
			them = "the ones nothing uses"
		}
		switch {
		case len(free) > 0 && remoteURI != "":
			// orphans spares a file changed within --min-age (1 h):
			// these just left the chain.
			printf(w, "Delete %s with '%s'\n", them,
				model.ShellJoin(append([]string{"virtchain", "-c", remoteURI, "orphans", "--delete", "--min-age", "0"}, free...)))
		case len(free) > 0:
			printf(w, "Delete %s with 'virtchain cleanup %s --delete-files %s'\n",
				them, model.ShellQuote(domain), model.ShellJoin(free))
		}
	}
}
