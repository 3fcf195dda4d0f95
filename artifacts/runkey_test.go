package artifacts

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// contractRunKey is the reading pattern from DESIGN.md.
var contractRunKey = regexp.MustCompile(`^(CAP-|S)[0-9]{8}-[0-9]{6}__[A-Za-z0-9._-]+__R[A-Za-z0-9]+$`)

// newKeyPattern is what NewRunKey must produce.
var newKeyPattern = regexp.MustCompile(`^CAP-[0-9]{8}-[0-9]{6}__[A-Za-z0-9._-]+__R[a-z0-9]{10}$`)

func TestNewRunKey(t *testing.T) {
	ts := time.Date(2026, 3, 1, 10, 15, 7, 999_000_000, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		cap     string
		rnd     []byte
		want    string
		wantErr error
	}{
		{
			name: "utc and id from bytes",
			cap:  "zfs.pool-create_v2",
			// 0..9 map to a..j; 252..255 are rejected (modulo bias).
			rnd:  append([]byte{252, 253, 254, 255}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 35, 36}...),
			want: "CAP-20260301-091507__zfs.pool-create_v2__Rabcdefghi9",
		},
		{name: "empty capability", cap: "", rnd: make([]byte, 64), wantErr: ErrInvalidCapability},
		{name: "space", cap: "zfs pool", rnd: make([]byte, 64), wantErr: ErrInvalidCapability},
		{name: "slash", cap: "../etc", rnd: make([]byte, 64), wantErr: ErrInvalidCapability},
		{name: "unicode", cap: "zfs✓", rnd: make([]byte, 64), wantErr: ErrInvalidCapability},
		{name: "too long", cap: strings.Repeat("a", MaxCapabilityLen+1), rnd: make([]byte, 64), wantErr: ErrInvalidCapability},
		{name: "max length", cap: strings.Repeat("a", MaxCapabilityLen), rnd: make([]byte, 64),
			want: "CAP-20260301-091507__" + strings.Repeat("a", MaxCapabilityLen) + "__Raaaaaaaaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd := bytes.NewReader(append(tt.rnd, make([]byte, 64)...))
			got, err := NewRunKey(ts, tt.cap, rnd)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewRunKey(%q) error = %v, want %v", tt.cap, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRunKey(%q): %v", tt.cap, err)
			}
			if got != tt.want {
				t.Errorf("NewRunKey(%q) = %q, want %q", tt.cap, got, tt.want)
			}
			if !newKeyPattern.MatchString(got) || !ValidRunKey(got) {
				t.Errorf("NewRunKey(%q) = %q, not a valid new key", tt.cap, got)
			}
		})
	}
}

func TestNewRunKeyRandomness(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := map[string]bool{}
	for range 1000 {
		k, err := NewRunKey(ts, "step.x", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !newKeyPattern.MatchString(k) {
			t.Fatalf("bad key %q", k)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
	if _, err := NewRunKey(ts, "step.x", bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Error("NewRunKey with a short random source: want error")
	}
	if _, err := NewRunKey(ts, "step.x", rand.Reader); err != nil {
		t.Error(err)
	}
}

func TestParseRunKey(t *testing.T) {
	tests := []struct {
		in      string
		want    RunKey
		wantErr bool
	}{
		{in: "CAP-20260227-231501__zfs.pool.create__Rk3j9x0abcd", want: RunKey{Prefix: "CAP-", Time: time.Date(2026, 2, 27, 23, 15, 1, 0, time.UTC), Capability: "zfs.pool.create", ID: "k3j9x0abcd"}},
		{in: "S20260227-231501__session__R1", want: RunKey{Prefix: "S", Time: time.Date(2026, 2, 27, 23, 15, 1, 0, time.UTC), Capability: "session", ID: "1"}},
		{in: "CAP-20260227-231501__a__b__RXyZ", want: RunKey{Prefix: "CAP-", Time: time.Date(2026, 2, 27, 23, 15, 1, 0, time.UTC), Capability: "a__b", ID: "XyZ"}},
		{in: "CAP-20260227-231501__cap___Rid", want: RunKey{Prefix: "CAP-", Time: time.Date(2026, 2, 27, 23, 15, 1, 0, time.UTC), Capability: "cap_", ID: "id"}},
		{in: "CAP-20260227-231501__x__Rabc__Rdef", want: RunKey{Prefix: "CAP-", Time: time.Date(2026, 2, 27, 23, 15, 1, 0, time.UTC), Capability: "x__Rabc", ID: "def"}},
		{in: "CAP-20240229-000000__leap__R0", want: RunKey{Prefix: "CAP-", Time: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), Capability: "leap", ID: "0"}},
		{in: "", wantErr: true},
		{in: "CAP-", wantErr: true},
		{in: "X20260227-231501__a__R1", wantErr: true},
		{in: "CAP20260227-231501__a__R1", wantErr: true},
		{in: "CAP-2026022-231501__a__R1", wantErr: true},
		{in: "CAP-20260227231501__a__R1", wantErr: true},
		{in: "CAP-20260227-23150a__a__R1", wantErr: true},
		{in: "CAP-20261327-231501__a__R1", wantErr: true}, // month 13
		{in: "CAP-20230229-231501__a__R1", wantErr: true}, // not a leap year
		{in: "CAP-20260227-241501__a__R1", wantErr: true}, // hour 24
		{in: "CAP-20260227-235960__a__R1", wantErr: true}, // second 60
		{in: "CAP-20260227-231501____R1", wantErr: true},  // empty capability
		{in: "CAP-20260227-231501__a__R", wantErr: true},  // empty id
		{in: "CAP-20260227-231501__a__R1_", wantErr: true},
		{in: "CAP-20260227-231501__a b__R1", wantErr: true},
		{in: "CAP-20260227-231501__a/..__R1", wantErr: true},
		{in: "CAP-20260227-231501__a__R1\n", wantErr: true},
		{in: "CAP-20260227-231501__a", wantErr: true},
		{in: "CAP-20260227-231501_a__R1", wantErr: true},
		{in: " CAP-20260227-231501__a__R1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRunKey(tt.in)
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrInvalidRunKey) {
					t.Fatalf("ParseRunKey(%q) = %+v, %v; want ErrInvalidRunKey", tt.in, got, err)
				}
				if ValidRunKey(tt.in) {
					t.Errorf("ValidRunKey(%q) = true", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRunKey(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRunKey(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
			if !ValidRunKey(tt.in) {
				t.Errorf("ValidRunKey(%q) = false", tt.in)
			}
		})
	}
}

func TestSanitizeCapability(t *testing.T) {
	tests := []struct{ in, want string }{
		{"zfs-pool.create_2", "zfs-pool.create_2"},
		{"step.zpool list", "step.zpool-list"},
		{"step.ünïcode", "step.-n-code"},
		{"a/b\\c\x00d", "a-b-c-d"},
		{"bad\xffutf8", "bad-utf8"},
		{"", "-"},
		{strings.Repeat("é", 300), strings.Repeat("-", MaxCapabilityLen)},
	}
	for _, tt := range tests {
		got := SanitizeCapability(tt.in)
		if got != tt.want {
			t.Errorf("SanitizeCapability(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := ValidateCapability(got); err != nil {
			t.Errorf("SanitizeCapability(%q) = %q is not valid: %v", tt.in, got, err)
		}
	}
}

func TestReceiptDir(t *testing.T) {
	root := filepath.FromSlash("/repo/receipts")
	tests := []struct {
		key     string
		want    string
		wantErr bool
	}{
		{key: "CAP-20260301-101500__zfs__Rabc", want: filepath.FromSlash("/repo/receipts/2026/03/01/CAP-20260301-101500__zfs__Rabc")},
		{key: "S20251231-235959__s__R9", want: filepath.FromSlash("/repo/receipts/2025/12/31/S20251231-235959__s__R9")},
		{key: "../../etc", wantErr: true},
		{key: "CAP-20260301-101500__..__R/..", wantErr: true},
		{key: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ReceiptDir(root, tt.key)
		if (err != nil) != tt.wantErr {
			t.Errorf("ReceiptDir(%q) error = %v, wantErr %v", tt.key, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ReceiptDir(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func FuzzParseRunKey(f *testing.F) {
	for _, s := range []string{
		"CAP-20260227-231501__zfs.pool.create__Rk3j9x0abcd",
		"S20260227-231501__session__R1",
		"CAP-20260227-231501__a__b__RXyZ",
		"CAP-20260227-231501__cap___Rid",
		"CAP-20261327-231501__a__R1",
		"CAP-20260227-231501____R1",
		"S20240229-000000__x__R__R1",
		"CAP-20260227-231501__a__R1_",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRunKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRunKey) {
				t.Fatalf("ParseRunKey(%q) error %v does not wrap ErrInvalidRunKey", s, err)
			}
			// The only strings the contract pattern accepts and the
			// parser refuses are impossible dates and times.
			if contractRunKey.MatchString(s) {
				ts := strings.TrimPrefix(strings.TrimPrefix(s, "CAP-"), "S")[:15]
				if _, perr := time.Parse("20060102-150405", ts); perr == nil {
					t.Fatalf("ParseRunKey(%q) refused a key with a valid time: %v", s, err)
				}
			}
			return
		}
		if !contractRunKey.MatchString(s) {
			t.Fatalf("ParseRunKey(%q) accepted a key the contract pattern refuses", s)
		}
		if k.String() != s {
			t.Fatalf("ParseRunKey(%q).String() = %q", s, k.String())
		}
		if dir, err := ReceiptDir("root", s); err != nil || filepath.Base(dir) != s || strings.Contains(dir, "..") && !strings.Contains(s, "..") {
			t.Fatalf("ReceiptDir(root, %q) = %q, %v", s, dir, err)
		}
	})
}
