package loops

import (
	"strconv"
	"time"
)

// HeartbeatKey is the frontmatter key spine sets to the time of its last
// run of a loop (see SetFrontmatter).
const HeartbeatKey = "last_heartbeat_utc"

// Heartbeat is a loop's liveness as its frontmatter records it.
type Heartbeat struct {
	// Last is the last_heartbeat_utc time (zero when absent or unreadable).
	Last time.Time
	// TTL is heartbeat_ttl_minutes (zero when absent).
	TTL time.Duration
}

// Heartbeat reads last_heartbeat_utc and heartbeat_ttl_minutes.
func (d *Document) Heartbeat() Heartbeat {
	var h Heartbeat
	// A string only: a list holding a time is no heartbeat (lint says so).
	if v, _ := d.Meta.Get(HeartbeatKey); v != nil {
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				h.Last = t.UTC()
			}
		}
	}
	if s := d.Meta.String("heartbeat_ttl_minutes"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			h.TTL = time.Duration(n) * time.Minute
		}
	}
	return h
}

// Stale reports whether an active loop's heartbeat is older than its TTL at
// now, or is written but cannot be read (its age is unknown: a monitor
// must hear of it, lint says why). Loops without a TTL, without a
// heartbeat, or not active are never stale.
func (d *Document) Stale(now time.Time) bool {
	if d.Status != "active" {
		return false
	}
	h := d.Heartbeat()
	if h.TTL > 0 && d.HeartbeatUnreadable() {
		return true
	}
	return h.TTL > 0 && !h.Last.IsZero() && now.Sub(h.Last) > h.TTL
}

// HeartbeatUnreadable reports whether last_heartbeat_utc is written (not
// empty, not null) but is not a time spine reads (lint says why): its age
// is unknown, which Stale counts as stale.
func (d *Document) HeartbeatUnreadable() bool {
	v, ok := d.Meta.Get(HeartbeatKey)
	return ok && v != nil && v != "" && d.Heartbeat().Last.IsZero()
}
