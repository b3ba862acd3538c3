package main

import "strings"

// serverFor is the server connection id talks to: --server may list several
// gateways of one farm, comma separated, and the connections take them in
// turn (contend across gateways: the hand-off then crosses gateways).
func (b *benchRun) serverFor(id int) string {
	list := strings.Split(b.cfg.Server, ",")
	return strings.TrimSpace(list[id%len(list)])
}
