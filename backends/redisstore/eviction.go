package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis configured to evict keys under memory pressure (any maxmemory-policy
// but noeviction: every session has a TTL, so volatile-* policies evict them
// too) loses sessions without a word: the web server then gets a 404 and
// starts an empty session (issue 17). The store cannot prevent it, so it
// reads the policy with INFO memory (CONFIG GET is often disabled on managed
// Redis) on every new connection (at start, after a reconnect or a
// failover), logs loudly when keys can be evicted, and reports it through
// Warnings, for a readiness check.

// policyState is what the store last learned of Redis's eviction policy.
type policyState struct {
	mu       sync.Mutex        // guards the fields below
	byNode   map[string]string // node address -> the warning about it, if any
	lastSeen map[string]string // node address -> policy last logged
}

// Warnings returns the conditions that put sessions at risk although
// requests succeed, one sentence each, naming the setting to change: today,
// a Redis node whose maxmemory-policy may evict sessions. Empty when none.
// It is cheap (no I/O) and safe for concurrent use: a readiness endpoint
// (/readyz) may call it on every probe and report not-ready, or ready with
// a warning, when it is not empty.
func (s *Store) Warnings() []string {
	p := &s.policy
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, w := range p.byNode {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// checkPolicy reads INFO memory from every master (standalone: the one
// server; Sentinel: the current master; Cluster: each master) and records
// and logs the outcome. Errors are ignored: INFO may be renamed or disabled,
// and an unreachable Redis is reported by the requests that fail.
func (s *Store) checkPolicy(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	if s.nodes.cluster != nil {
		s.nodes.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			if info, err := c.Info(ctx, "memory").Result(); err == nil {
				s.notePolicy(c.Options().Addr, info)
			}
			return nil
		})
		return
	}
	if info, err := s.client.Info(ctx, "memory").Result(); err == nil {
		s.notePolicy(strings.Join(s.cfg.Addrs, ","), info)
	}
}

// policyLoop checks the policy each time markUp asks (Redis answers again
// after being down: it may have restarted with another configuration, or a
// replica may have been promoted).
func (s *Store) policyLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.recheck:
			s.checkPolicy(ctx)
		}
	}
}

// notePolicy records what INFO memory of node addr says.
func (s *Store) notePolicy(addr, info string) {
	policy, maxmem := parseMemoryInfo(info)
	if policy == "" {
		return
	}
	warning := ""
	if policy != "noeviction" {
		limit := "maxmemory is 0 (no limit) for now"
		if maxmem != "" && maxmem != "0" {
			limit = "maxmemory is " + maxmem + " bytes"
		}
		warning = fmt.Sprintf("redis at %s has maxmemory-policy %s (%s): when it fills up it evicts sessions, "+
			"and their users silently get new, empty ones; set maxmemory-policy noeviction "+
			"(writes then fail visibly instead)", addr, policy, limit)
	}
	p := &s.policy
	p.mu.Lock()
	if p.byNode == nil {
		p.byNode, p.lastSeen = map[string]string{}, map[string]string{}
	}
	p.byNode[addr] = warning
	changed := p.lastSeen[addr] != policy
	p.lastSeen[addr] = policy
	p.mu.Unlock()
	switch {
	case changed && warning != "":
		s.log.Error("redisstore: REDIS MAY EVICT SESSIONS: "+warning, "addr", addr,
			"maxmemory_policy", policy, "maxmemory", maxmem)
	case changed:
		s.log.Info("redisstore: redis will not evict sessions", "addr", addr, "maxmemory_policy", policy)
	}
}

// parseMemoryInfo returns maxmemory_policy and maxmemory from INFO memory.
func parseMemoryInfo(info string) (policy, maxmem string) {
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "maxmemory_policy":
			policy = v
		case "maxmemory":
			maxmem = v
		}
	}
	return policy, maxmem
}
