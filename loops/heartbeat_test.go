package loops

import (
	"strings"
	"testing"
	"time"
)

func TestHeartbeatAndStale(t *testing.T) {
	now := time.Date(2026, 2, 27, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name, meta string
		last       time.Time
		ttl        time.Duration
		stale      bool
	}{
		{"fresh", "status: active\nlast_heartbeat_utc: \"2026-02-27T07:00:00Z\"\nheartbeat_ttl_minutes: 120",
			time.Date(2026, 2, 27, 7, 0, 0, 0, time.UTC), 2 * time.Hour, false},
		{"stale", "status: active\nlast_heartbeat_utc: \"2026-02-27T03:55:03Z\"\nheartbeat_ttl_minutes: 240",
			time.Date(2026, 2, 27, 3, 55, 3, 0, time.UTC), 4 * time.Hour, true},
		{"exactly the ttl is not stale", "status: open\nlast_heartbeat_utc: 2026-02-27T06:00:00Z\nheartbeat_ttl_minutes: 120",
			time.Date(2026, 2, 27, 6, 0, 0, 0, time.UTC), 2 * time.Hour, false},
		{"offset converted to UTC", "status: active\nlast_heartbeat_utc: \"2026-02-27T01:00:00-05:00\"\nheartbeat_ttl_minutes: 60",
			time.Date(2026, 2, 27, 6, 0, 0, 0, time.UTC), time.Hour, true},
		{"fractional seconds", "status: active\nlast_heartbeat_utc: \"2026-02-27T07:59:59.5Z\"\nheartbeat_ttl_minutes: 1",
			time.Date(2026, 2, 27, 7, 59, 59, 5e8, time.UTC), time.Minute, false},
		{"closed loops are never stale", "status: closed\nlast_heartbeat_utc: \"2026-01-01T00:00:00Z\"\nheartbeat_ttl_minutes: 1",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, false},
		{"no ttl", "status: active\nlast_heartbeat_utc: \"2026-01-01T00:00:00Z\"",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, false},
		{"no heartbeat", "status: active\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, false},
		// An unreadable heartbeat's age is unknown: stale, for a
		// monitor to hear of it (lint says why).
		{"unreadable heartbeat", "status: active\nlast_heartbeat_utc: yesterday\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, true},
		{"date only is not a heartbeat", "status: active\nlast_heartbeat_utc: 2026-01-01\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, true},
		{"unreadable heartbeat without a ttl", "status: active\nlast_heartbeat_utc: yesterday", time.Time{}, 0, false},
		{"empty heartbeat", "status: active\nlast_heartbeat_utc: \"\"\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, false},
		{"null heartbeat", "status: active\nlast_heartbeat_utc: null\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, false},
		{"unreadable heartbeat, a list", "status: active\nlast_heartbeat_utc: []\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, true},
		{"unreadable heartbeat, a mapping", "status: active\nlast_heartbeat_utc: {}\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, true},
		{"unreadable heartbeat, a list of a time", "status: active\nlast_heartbeat_utc: [\"2026-02-27T07:00:00Z\"]\nheartbeat_ttl_minutes: 5", time.Time{}, 5 * time.Minute, true},
		{"ttl not a number", "status: active\nlast_heartbeat_utc: \"2026-01-01T00:00:00Z\"\nheartbeat_ttl_minutes: soon",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, false},
		{"negative ttl", "status: active\nlast_heartbeat_utc: \"2026-01-01T00:00:00Z\"\nheartbeat_ttl_minutes: -5",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, false},
		{"quoted ttl", "status: active\nlast_heartbeat_utc: \"2026-01-01T00:00:00Z\"\nheartbeat_ttl_minutes: \"30\"",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 30 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Parse("x.md", []byte("---\nloop_id: LOOP-H-1\n"+tt.meta+"\n---\n"))
			h := d.Heartbeat()
			if !h.Last.Equal(tt.last) || h.TTL != tt.ttl {
				t.Errorf("Heartbeat = %v, %v; want %v, %v", h.Last, h.TTL, tt.last, tt.ttl)
			}
			if !h.Last.IsZero() && h.Last.Location() != time.UTC {
				t.Errorf("Last is not UTC: %v", h.Last)
			}
			if got := d.Stale(now); got != tt.stale {
				t.Errorf("Stale = %v, want %v", got, tt.stale)
			}
			// A heartbeat written and unreadable is a finding on its line.
			warned := false
			for _, p := range d.Problems {
				warned = warned || p.Line == 4 && strings.Contains(p.Message, "last_heartbeat_utc") && strings.Contains(p.Message, "not an RFC 3339 time")
			}
			if want := strings.Contains(tt.name, "unreadable") || strings.Contains(tt.name, "date only"); warned != want {
				t.Errorf("warned of the heartbeat: %v, want %v (%v)", warned, want, d.Problems)
			}
		})
	}
	// Inline metadata has no heartbeat: never stale.
	d := Parse("x.md", []byte("# LOOP-H-2\n\n> **Status:** active\n"))
	if d.Stale(now) || !d.Heartbeat().Last.IsZero() {
		t.Errorf("inline metadata: %+v", d.Heartbeat())
	}
}
