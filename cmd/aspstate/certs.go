package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/peering/pki"
)

// runCerts creates a farm CA and one certificate per peering member, for
// shops without a PKI of their own.
func runCerts(_ context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate certs", pflag.ContinueOnError)
	dir := fs.String("dir", "", "directory for ca.pem, ca-key.pem and ID.pem / ID-key.pem (created if missing)")
	members := fs.StringSlice("members", nil, "member IDs, comma separated (each becomes its certificate's DNS name)")
	hosts := fs.StringSlice("hosts", nil, "extra names or IPs per member: ID=HOST, repeatable or comma separated")
	force := fs.Bool("force", false, "overwrite existing files")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: aspstate certs --dir DIR --members gw1,gw2,gw3 [--hosts gw1=10.0.0.1,...] [--force]\n\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if *dir == "" || len(*members) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	extra := map[string][]string{}
	for _, h := range *hosts {
		id, host, ok := strings.Cut(h, "=")
		if !ok || id == "" || host == "" {
			fmt.Fprintf(s.stderr, "aspstate certs: --hosts %q: want ID=HOST\n", h)
			return exitUsage
		}
		extra[id] = append(extra[id], host)
	}
	if err := pki.WriteFarm(*dir, *members, extra, *force); err != nil {
		fmt.Fprintf(s.stderr, "aspstate certs: %v\n", err)
		return exitFail
	}
	for _, f := range pki.FarmFiles(*dir, *members) {
		fmt.Fprintln(s.stdout, "wrote", f)
	}
	fmt.Fprintf(s.stdout, "copy %s, ID.pem and ID-key.pem to each member; keep %s offline\n",
		filepath.Join(*dir, "ca.pem"), filepath.Join(*dir, "ca-key.pem"))
	return exitOK
}
