package frontend

import "net/netip"

// SetAllowedNetworks replaces the client allow-list (Config.AllowedNetworks)
// for connections accepted from now on; connections already open stay. The
// gateway calls it when SIGHUP reloads the configuration.
func (s *Server) SetAllowedNetworks(nets []netip.Prefix) {
	nets = append([]netip.Prefix(nil), nets...)
	s.allowedNets.Store(&nets)
}
