package peering

import "time"

// Status is what `aspstate peers` shows: the view, each member's link, and
// the node's counters.
type Status struct {
	Self    string         `json:"self"`
	Epoch   string         `json:"epoch"`
	Serving bool           `json:"serving"`
	Members []MemberStatus `json:"members"`
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
}

// MemberStatus is one member as this gateway sees it.
type MemberStatus struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	State   string `json:"state"`
	Version uint32 `json:"version"`
	Self    bool   `json:"self,omitempty"`
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
	}
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
