// Command amber-vet is amber vet on its own: it reports what breaks
// replay in the program bodies of the packages named (default ./...).
//
//	amber-vet ./...
//	go vet -vettool=$(which amber-vet) ./...
//
// See package github.com/amberrt/amber/vet for the rules.
package main

import (
	"os"

	"github.com/amberrt/amber/vet"
)

func main() {
	if vet.IsVettool(os.Args[1:]) {
		vet.ServeVettool()
	}
	os.Exit(vet.Main(os.Args[1:], os.Stdout, os.Stderr))
}
