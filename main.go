// Command virtchain is a terminal chain explorer for libvirt/KVM: it draws
// every domain's qcow2 backing chains and snapshot trees and reshapes them.
package main

import (
	"os"

	"virtchain/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
