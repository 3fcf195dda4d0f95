package artifacts

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Run key prefixes. spine writes CAP- keys; S keys are session keys found in
// real repositories and are accepted when reading.
const (
	PrefixCapability = "CAP-"
	PrefixSession    = "S"
)

// MaxCapabilityLen bounds the capability part of run keys spine creates, so
// that a run key always fits in one file name (255 bytes on common file
// systems). Keys read from a repository are not subject to it.
const MaxCapabilityLen = 200

// runKeyIDLen is the length of the random <id> part of a new run key.
const runKeyIDLen = 10

// runKeyIDAlphabet is what the random <id> part is drawn from.
const runKeyIDAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// runKeyTimeLayout is the time part of a run key (UTC).
const runKeyTimeLayout = "20060102-150405"

// RunKey is a parsed run key:
// <Prefix><YYYYMMDD-HHMMSS>__<Capability>__R<ID>.
type RunKey struct {
	// Prefix is PrefixCapability ("CAP-") or PrefixSession ("S").
	Prefix string
	// Time is the key's timestamp, UTC, whole seconds.
	Time time.Time
	// Capability is the capability name between the two "__" separators.
	Capability string
	// ID is the part after "__R".
	ID string
}

// String formats k back into its run key form.
func (k RunKey) String() string {
	return k.Prefix + k.Time.UTC().Format(runKeyTimeLayout) + "__" + k.Capability + "__R" + k.ID
}

// NewRunKey returns a fresh run key CAP-YYYYMMDD-HHMMSS__<capability>__R<id>
// for a run started at t (formatted in UTC). The 10-character id is drawn
// uniformly from lower-case letters and digits using rnd; a nil rnd means
// crypto/rand.Reader. capability must be a valid capability name (see
// ValidateCapability); use SanitizeCapability to derive one from free text.
func NewRunKey(t time.Time, capability string, rnd io.Reader) (string, error) {
	if err := ValidateCapability(capability); err != nil {
		return "", fmt.Errorf("new run key: %w", err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	id, err := randomID(rnd, runKeyIDLen)
	if err != nil {
		return "", fmt.Errorf("new run key: %w", err)
	}
	return PrefixCapability + t.UTC().Format(runKeyTimeLayout) + "__" + capability + "__R" + id, nil
}

// randomID draws n characters uniformly from runKeyIDAlphabet, using
// rejection sampling so that no character is more likely than another.
func randomID(rnd io.Reader, n int) (string, error) {
	const alphabetLen = len(runKeyIDAlphabet)
	const maxByte = 256 - 256%alphabetLen // 252: bytes >= this are rejected
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return "", fmt.Errorf("read random id: %w", err)
		}
		for _, b := range buf {
			if int(b) >= maxByte {
				continue
			}
			out = append(out, runKeyIDAlphabet[int(b)%alphabetLen])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// isCapByte reports whether c may appear in a capability name.
func isCapByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ErrInvalidCapability is wrapped by the errors ValidateCapability returns.
var ErrInvalidCapability = errors.New("invalid capability name")

// ValidateCapability reports whether name can be used as the capability of a
// new run key: 1 to MaxCapabilityLen characters from [A-Za-z0-9._-].
func ValidateCapability(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidCapability)
	}
	if len(name) > MaxCapabilityLen {
		return fmt.Errorf("%w: %d bytes long, at most %d allowed", ErrInvalidCapability, len(name), MaxCapabilityLen)
	}
	for i := 0; i < len(name); i++ {
		if !isCapByte(name[i]) {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return fmt.Errorf("%w: %q contains %q at byte %d (allowed: A-Z a-z 0-9 . _ -)", ErrInvalidCapability, name, r, i)
		}
	}
	return nil
}

// SanitizeCapability derives a valid capability name from free text such as
// a step name: every rune outside [A-Za-z0-9._-] (and every invalid UTF-8
// byte) becomes '-', and the result is cut to MaxCapabilityLen bytes. An
// empty name gives "-". The mapping is deterministic but not reversible, so
// callers must not use the result as an identity.
func SanitizeCapability(name string) string {
	if name == "" {
		return "-"
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name) && b.Len() < MaxCapabilityLen; {
		c := name[i]
		if isCapByte(c) {
			b.WriteByte(c)
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(name[i:])
		b.WriteByte('-')
		i += size
	}
	return b.String()
}

// ErrInvalidRunKey is wrapped by the errors ParseRunKey returns.
var ErrInvalidRunKey = errors.New("invalid run key")

// ParseRunKey parses a run key of the form
// ^(CAP-|S)[0-9]{8}-[0-9]{6}__[A-Za-z0-9._-]+__R[A-Za-z0-9]+$ whose date and
// time also form a valid UTC timestamp (no month 13, no 25 o'clock). The
// capability may itself contain "__"; the id is what follows the last "__R".
func ParseRunKey(s string) (RunKey, error) {
	var k RunKey
	rest := s
	switch {
	case strings.HasPrefix(rest, PrefixCapability):
		k.Prefix = PrefixCapability
	case strings.HasPrefix(rest, PrefixSession):
		k.Prefix = PrefixSession
	default:
		return RunKey{}, fmt.Errorf("%w %q: must start with %q or %q", ErrInvalidRunKey, s, PrefixCapability, PrefixSession)
	}
	rest = rest[len(k.Prefix):]
	const tsLen = len(runKeyTimeLayout)
	if len(rest) < tsLen+2 || rest[8] != '-' || rest[tsLen:tsLen+2] != "__" {
		return RunKey{}, fmt.Errorf("%w %q: want YYYYMMDD-HHMMSS__ after %q", ErrInvalidRunKey, s, k.Prefix)
	}
	t, err := parseKeyTime(rest[:tsLen])
	if err != nil {
		return RunKey{}, fmt.Errorf("%w %q: %w", ErrInvalidRunKey, s, err)
	}
	k.Time = t
	rest = rest[tsLen+2:]
	i := strings.LastIndex(rest, "__R")
	if i < 0 {
		return RunKey{}, fmt.Errorf("%w %q: missing __R<id>", ErrInvalidRunKey, s)
	}
	k.Capability, k.ID = rest[:i], rest[i+3:]
	if k.Capability == "" {
		return RunKey{}, fmt.Errorf("%w %q: empty capability", ErrInvalidRunKey, s)
	}
	for j := 0; j < len(k.Capability); j++ {
		if !isCapByte(k.Capability[j]) {
			return RunKey{}, fmt.Errorf("%w %q: capability contains %q", ErrInvalidRunKey, s, k.Capability[j])
		}
	}
	if k.ID == "" {
		return RunKey{}, fmt.Errorf("%w %q: empty id after __R", ErrInvalidRunKey, s)
	}
	for j := 0; j < len(k.ID); j++ {
		if !isAlnum(k.ID[j]) {
			return RunKey{}, fmt.Errorf("%w %q: id contains %q", ErrInvalidRunKey, s, k.ID[j])
		}
	}
	return k, nil
}

// parseKeyTime parses YYYYMMDD-HHMMSS (already known to have a '-' at
// index 8) strictly: digits only and a real calendar date and time.
func parseKeyTime(s string) (time.Time, error) {
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(4, 6)
	day, ok3 := num(6, 8)
	hour, ok4 := num(9, 11)
	minute, ok5 := num(11, 13)
	sec, ok6 := num(13, 15)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, fmt.Errorf("timestamp %q is not YYYYMMDD-HHMMSS", s)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	// time.Date normalises out-of-range values (Feb 30 -> Mar 2); refuse them.
	if t.Year() != year || int(t.Month()) != month || t.Day() != day ||
		t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return time.Time{}, fmt.Errorf("timestamp %q is not a valid date and time", s)
	}
	return t, nil
}

// ValidRunKey reports whether ParseRunKey accepts s.
func ValidRunKey(s string) bool {
	_, err := ParseRunKey(s)
	return err == nil
}

// datePath returns "YYYY/MM/DD" (slash-separated) for a parsed key.
func (k RunKey) datePath() string {
	return k.Time.Format("2006/01/02")
}

// ReceiptDir returns the folder of run runKey under receiptsRoot:
// <receiptsRoot>/YYYY/MM/DD/<runKey>, dated by the key's UTC date. Invalid
// keys are refused, so the result never leaves receiptsRoot.
func ReceiptDir(receiptsRoot, runKey string) (string, error) {
	k, err := ParseRunKey(runKey)
	if err != nil {
		return "", fmt.Errorf("receipt dir: %w", err)
	}
	return filepath.Join(receiptsRoot, filepath.FromSlash(k.datePath()), runKey), nil
}
