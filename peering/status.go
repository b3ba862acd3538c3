package peering

import "time"

// Status is what `aspstate peers` shows: the view, each member's link, and
// the node's counters.
type Status struct {
	Self    string `json:"self"`
	Epoch   string `json:"epoch"`
	Serving bool   `json:"serving"`
	// NotServing says why Serving is false, or why operations fail (no lease).
	NotServing string `json:"not_serving,omitempty"`
	// Automatic is true with 3 or more members (votes and leases).
	Automatic bool `json:"automatic_failover"`
	// Lease: whether a majority (LeaseMajority) answered within LeaseFor;
	// LeaseHolders counts them, this gateway included.
	Lease         bool           `json:"lease"`
	LeaseHolders  int            `json:"lease_holders"`
	LeaseMajority int            `json:"lease_majority"`
	LeaseFor      string         `json:"lease_for"`
	DeadAfter     string         `json:"dead_after"`
	Members       []MemberStatus `json:"members"`
	// HandoffIn is false while members may still hold records this gateway
	// owns; HandoffOut while this gateway holds records owned elsewhere.
	HandoffIn  bool `json:"handoff_in_complete"`
	HandoffOut bool `json:"handoff_out_complete"`

	Forwards        uint64 `json:"forwards"`
	ForwardFailures uint64 `json:"forward_failures"`
	Served          uint64 `json:"served_for_peers"`
	NotOwner        uint64 `json:"not_owner_retries"`
	MovedOut        uint64 `json:"moved_out"`
	MovedIn         uint64 `json:"moved_in"`
	Pulls           uint64 `json:"pulls"`
	// HeldForRestart counts requests held while their owner restarted.
	HeldForRestart uint64 `json:"held_for_restart"`
	// RestartGrace is peering.restart_grace.
	RestartGrace string `json:"restart_grace"`
}

// MemberStatus is one member as this gateway sees it.
type MemberStatus struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	// State is the view's state, or "restarting" for an active member stopped
	// for a restart it announced (its range kept, requests for it held).
	State   string `json:"state"`
	Version uint32 `json:"version"`
	Self    bool   `json:"self,omitempty"`
	// VotesDown lists the members that voted this one down at its current
	// version; Suspects the members this one voted down.
	VotesDown []string `json:"voted_down_by,omitempty"`
	Suspects  []string `json:"votes_down,omitempty"`
	// HeardAgo: time since this gateway last heard from the member.
	HeardAgo string `json:"heard_ago,omitempty"`
	// Link state, for other members.
	LinkUp    bool      `json:"link_up"`
	LinkSince time.Time `json:"link_since,omitzero"`
	RTT       string    `json:"rtt,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// Status reports the node's view, links and counters.
func (n *Node) Status() Status {
	vs := n.view.Load()
	st := Status{
		Self: n.Self(), Epoch: vs.epoch.String(), Serving: n.serving.Load(),
		HandoffIn: vs.complete(), HandoffOut: n.selfDone.Load() == vs,
		Forwards: n.stats.Forwards.Load(), ForwardFailures: n.stats.ForwardFailures.Load(),
		Served: n.stats.Served.Load(), NotOwner: n.stats.NotOwner.Load(),
		MovedOut: n.stats.MovedOut.Load(), MovedIn: n.stats.MovedIn.Load(), Pulls: n.stats.Pulls.Load(),
		HeldForRestart: n.stats.Held.Load(), RestartGrace: n.cfg.RestartGrace.String(),
	}
	now := time.Now()
	st.Automatic, st.LeaseMajority = n.fo.auto, n.fo.majority
	st.LeaseFor, st.DeadAfter = n.cfg.Lease.String(), n.cfg.DeadAfter.String()
	st.LeaseHolders = n.leaseHolders(now)
	st.Lease = n.hasLease()
	if err := n.canServe(); err != nil {
		st.NotServing = err.Error()
	}
	n.fo.mu.Lock()
	heard := append([]time.Time(nil), n.fo.heard...)
	n.fo.mu.Unlock()
	links := map[string]int{}
	var ls []linkInfo
	if n.mesh != nil {
		for _, l := range n.mesh.Links() {
			links[l.Peer] = len(ls)
			ls = append(ls, linkInfo{up: l.Up, since: l.Since, rtt: l.RTT, err: l.LastError})
		}
	}
	for i, m := range n.members {
		e := vs.v.Entries[i]
		ms := MemberStatus{ID: m.ID, Addr: m.Addr, State: e.State.String(), Version: e.Version, Self: i == n.self}
		if e.State == Active && vs.v.Restarting(i) {
			ms.State = "restarting"
		}
		for j, o := range n.members {
			if vs.v.VotedDown(j, i) {
				ms.VotesDown = append(ms.VotesDown, o.ID)
			}
			if vs.v.VotedDown(i, j) {
				ms.Suspects = append(ms.Suspects, o.ID)
			}
		}
		if i != n.self {
			ms.HeardAgo = now.Sub(heard[i]).Round(time.Millisecond).String()
		}
		if j, ok := links[m.ID]; ok {
			l := ls[j]
			ms.LinkUp, ms.LinkSince, ms.LastError = l.up, l.since, l.err
			if l.rtt > 0 {
				ms.RTT = l.rtt.String()
			}
		}
		st.Members = append(st.Members, ms)
	}
	return st
}

type linkInfo struct {
	up    bool
	since time.Time
	rtt   time.Duration
	err   string
}
