// Command benchfleet builds and removes the synthetic fleet that
// scripts/bench.sh times discovery on: domains defined from the demo lab's
// template, each with disks of deep qcow2 chains, a few of them running.
//
//	go run -tags libvirt_dlopen ./scripts/benchfleet up   [-prefix bench-] [-dir DIR] [-domains 40] [-disks 2] [-depth 16] [-running 4]
//	go run -tags libvirt_dlopen ./scripts/benchfleet down [-prefix bench-] [-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"virtchain/libvirtx"
	"virtchain/libvirtx/lab"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: benchfleet up|down [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("benchfleet "+os.Args[1], flag.ExitOnError)
	uri := fs.String("connect", "qemu:///system", "libvirt URI (must be this host's)")
	prefix := fs.String("prefix", "bench-", "name prefix of the fleet's domains and images")
	dir := fs.String("dir", "/var/tmp/virtchain-bench", "folder for the fleet's images")
	var f lab.Fleet
	fs.IntVar(&f.Domains, "domains", 40, "number of defined domains")
	fs.IntVar(&f.Disks, "disks", 2, "disks per domain")
	fs.IntVar(&f.Depth, "depth", 16, "layers per disk chain")
	fs.IntVar(&f.Running, "running", 4, "how many of the domains run")
	_ = fs.Parse(os.Args[2:])

	c, err := libvirtx.Open(*uri, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfleet:", err)
		os.Exit(1)
	}
	defer c.Close()
	opts := lab.Options{Prefix: *prefix, Dir: *dir, Log: os.Stdout}
	if os.Args[1] == "up" {
		err = lab.FleetUp(context.Background(), c, opts, f)
	} else {
		err = lab.Down(context.Background(), c, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfleet:", err)
		os.Exit(1)
	}
}
